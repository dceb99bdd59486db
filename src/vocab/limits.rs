//! Every bound in PROTUS, named with its unit last, in one place.

#![allow(non_upper_case_globals)] // STYLE.md: limits read as names, units last

/// Largest JSON request body, in bytes (DESIGN §5).
pub const request_body_bytes_max: usize = 64 * 1024;
/// Largest partner `payload` object, in bytes of canonical JSON.
pub const partner_payload_bytes_max: usize = 4 * 1024;
/// Largest amount a single request may carry (DESIGN §2), in whole currency units.
pub const request_amount_units_max: i64 = 1_000_000_000;
/// Largest page of a list.
pub const page_len_max: usize = 200;
/// Page length when `limit` is not given.
pub const page_len_default: usize = 50;
/// Queue of write requests waiting for the writer thread.
pub const write_queue_len_max: usize = 4096;
/// Write requests folded into one group commit.
pub const write_batch_len_max: usize = 1024;
/// With a redo log, one batch in this many commits durably to redb; the others are made
/// durable by their redo record, and a restart after a crash applies at most this many again.
pub const redo_batches_per_sync: u32 = 50;
/// Length bounds of an `Idempotency-Key` header value.
pub const idempotency_key_len_max: usize = 255;
/// Email addresses longer than this are refused (RFC 5321 path limit).
pub const email_len_max: usize = 254;
pub const username_len_min: usize = 3;
pub const username_len_max: usize = 32;
pub const password_len_min: usize = 8;
pub const password_len_max: usize = 128;
pub const company_name_len_max: usize = 100;
pub const service_name_len_max: usize = 100;
pub const description_len_max: usize = 500;
pub const url_len_max: usize = 2048;
pub const redirect_uris_len_max: usize = 20;
/// Lifetime of a sign-in session.
pub const session_ttl_s: i64 = 12 * 3600;
/// How long a rotated secret keeps working (DESIGN §5.1).
pub const secret_overlap_s: i64 = 24 * 3600;
/// Whole-request deadline on every listener.
pub const request_timeout_s: u64 = 30;
/// `Retry-After` of a 503 `storage_unavailable`: about the time a supervisor takes to restart
/// central after it stopped on a storage failure.
pub const storage_retry_after_s: u64 = 5;
/// Requests served at once per listener; more wait.
pub const listener_concurrency_max: usize = 1024;
/// Seconds a connection may take to send a request head, the first or the next on a kept-alive
/// connection; then it is closed (slow, silent and half-open clients hold no socket for ever).
pub const header_read_timeout_s: u64 = 10;
/// Seconds the sidecar keeps an idle connection to central: less than central's
/// `header_read_timeout_s`, so the sidecar, not central, closes it, and no request races the close.
pub const sync_pool_idle_s: u64 = 5;
/// Longest command line accepted on the admin socket.
pub const admin_line_bytes_max: usize = 4096;
/// How far a provider callback's timestamp may be from central's clock.
pub const provider_callback_skew_s: i64 = 300;
/// Attempts of the test provider to deliver its callback.
pub const provider_callback_attempts_max: u32 = 5;
/// Argon2id cost: memory in KiB, iterations, lanes (OWASP 2023 minimum profile).
pub const argon2_memory_kib: u32 = 19 * 1024;
pub const argon2_iterations: u32 = 2;
pub const argon2_lanes: u32 = 1;
/// Password hashings running at once; more wait, so sign-in floods cannot exhaust memory.
pub const password_hashing_concurrency_max: usize = 4;

const _: () = assert!(page_len_default <= page_len_max);
const _: () = assert!(0 < header_read_timeout_s && header_read_timeout_s < request_timeout_s);
const _: () = assert!(sync_pool_idle_s < header_read_timeout_s);
const _: () = assert!(write_batch_len_max <= write_queue_len_max);
const _: () = assert!(partner_payload_bytes_max < request_body_bytes_max);
const _: () = assert!(username_len_min <= username_len_max);
const _: () = assert!(password_len_min <= password_len_max);

/// Longest access token accepted for verification, in bytes; ours are about 600 (DESIGN §4).
pub const token_len_max: usize = 4096;
/// Clock skew tolerated on a token's `exp` and `nbf`, in seconds (DESIGN §4).
pub const token_clock_skew_s: i64 = 60;
/// Longest access-token lifetime that may be issued or is accepted, in seconds (DESIGN §4).
pub const token_ttl_s_max: i64 = 24 * 3600;
/// Verified tokens kept by one token cache; each entry holds the token and its claims (~1 KiB).
pub const token_cache_len_max: usize = 100_000;
/// Verifying keys one key set may hold (published keys overlap only during rotations).
pub const token_verifying_keys_len_max: usize = 16;

const _: () = assert!(0 < token_clock_skew_s && token_clock_skew_s < token_ttl_s_max);
const _: () = assert!(token_cache_len_max > 0 && token_verifying_keys_len_max > 0);
const _: () = assert!(1024 <= token_len_max && token_len_max < request_body_bytes_max);

/// Default access-token lifetime (DESIGN §4: 1 h, configurable up to `token_ttl_s_max`).
pub const access_token_ttl_s_default: i64 = 3600;
/// Refresh tokens live 30 days, renewed by every rotation.
pub const refresh_token_ttl_s: i64 = 30 * 24 * 3600;
/// An authorization request waits this long for sign-in and consent.
pub const auth_request_ttl_s: i64 = 10 * 60;
/// An authorization code is good for 60 s (issue 3).
pub const auth_code_ttl_s: i64 = 60;
/// Default pre-publication delay of a rotated key before it signs.
pub const key_prepublish_s_default: i64 = 300;
/// A claim link by mail is good for one day.
pub const claim_link_ttl_s: i64 = 24 * 3600;
/// `state` and `redirect_uri` lengths accepted at the authorization endpoint.
pub const oauth_state_len_max: usize = 512;
/// Sign-in attempts per email and per client address, refilled over the window.
pub const sign_in_per_email_burst: u32 = 10;
pub const sign_in_per_address_burst: u32 = 60;
pub const sign_in_window_s: u32 = 15 * 60;
/// Token-endpoint and direct-user calls per client, refilled every minute.
pub const token_requests_per_client_burst: u32 = 600;
pub const direct_users_per_client_burst: u32 = 120;
pub const client_window_s: u32 = 60;
/// Keys each rate limiter tracks at once.
pub const rate_limit_keys_max: usize = 100_000;

const _: () = assert!(0 < access_token_ttl_s_default && access_token_ttl_s_default <= token_ttl_s_max);
const _: () = assert!(auth_code_ttl_s < auth_request_ttl_s);
const _: () = assert!(sign_in_per_email_burst <= sign_in_per_address_burst);

/// Default and longest hold lifetime (DESIGN §5.1: default 900 s, max 7 days).
pub const hold_ttl_s_default: i64 = 900;
pub const hold_ttl_s_max: i64 = 7 * 24 * 3600;
/// The spending cap's rolling window (DESIGN §5.1).
pub const spending_window_s: i64 = 30 * 24 * 3600;
/// Holds expired per sweep transaction.
pub const hold_expiry_batch_len_max: usize = 256;
/// How often the hold sweeper looks at the clock, in milliseconds of real time.
pub const hold_sweep_interval_ms: u64 = 500;

const _: () = assert!(hold_ttl_s_default <= hold_ttl_s_max);

/// Webhook retry schedule (DESIGN §6): the delay before each scheduled attempt, in seconds, the
/// first being immediate; after the last fails, the delivery is exhausted.
pub const webhook_retry_delays_s: [i64; 8] = [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];
/// Deadline of one webhook attempt (DESIGN §6), in seconds.
pub const webhook_timeout_s: u64 = 15;
/// Webhook attempts in flight at once to one company, and in all.
pub const webhook_company_in_flight_max: usize = 4;
pub const webhook_in_flight_max: usize = 256;
/// How often the webhook dispatcher looks for new events and due deliveries, in ms of real time.
pub const webhook_poll_ms: u64 = 200;
/// Outbox events turned into deliveries per commit.
pub const webhook_take_in_batch_len_max: usize = 256;
/// Companies with due deliveries looked at per dispatcher pass.
pub const webhook_due_companies_max: usize = 4096;
/// Attempts kept in one delivery's log (the oldest go first), and the length of each error text.
pub const webhook_attempts_kept_max: usize = 32;
pub const webhook_error_len_max: usize = 300;

const _: () = assert!(webhook_retry_delays_s[0] == 0);
const _: () = assert!(webhook_company_in_flight_max <= webhook_in_flight_max);
const _: () = assert!(webhook_retry_delays_s.len() <= webhook_attempts_kept_max);

/// How long closing a store waits for cancelled tasks to let go of the database file.
pub const close_wait_s_max: u64 = 5;

/// The sync feed (DESIGN §7): changes answered per page, changes examined per read (other
/// companies' changes are skipped but count), the longest long-poll, how often a waiting poll
/// looks for new changes, and how long the change log is kept at least.
pub const feed_page_len_max: usize = 500;
pub const feed_scan_len_max: usize = 5000;
pub const feed_wait_s_max: u64 = 25;
pub const feed_poll_ms: u64 = 100;
pub const feed_retention_s: i64 = 7 * 24 * 3600;
/// Changes dropped per housekeeping transaction once older than `feed_retention_s`.
pub const change_prune_batch_len_max: usize = 10_000;

const _: () = assert!(feed_page_len_max <= feed_scan_len_max);
const _: () = assert!(feed_poll_ms < feed_wait_s_max * 1000);

// Sidecar sync (DESIGN §7).
/// Seconds a feed long-poll asks central to wait for news.
pub const sync_feed_wait_s: u64 = 25;
/// Deadline of one call to central other than the long-poll, and the long-poll's margin over its wait.
pub const sync_request_timeout_s: u64 = 10;
/// Reconnect backoff after a failed call to central: doubles from the first value up to the cap.
pub const sync_backoff_ms_min: u64 = 100;
pub const sync_backoff_ms_max: u64 = 5_000;
/// Bytes of one answer from central that a sidecar reads at most (a snapshot of a big company).
pub const sync_answer_bytes_max: usize = 64 * 1024 * 1024;
/// How often the sidecar drops revocations of tokens that have expired.
pub const sync_prune_interval_s: u64 = 600;

/// A token issued less than this many seconds ago whose grant the sidecar does not know yet
/// waits for the feed to bring it, up to `grant_arrival_wait_ms`, looking every
/// `grant_arrival_poll_ms`.
pub const grant_arrival_window_s: i64 = 30;
pub const grant_arrival_wait_ms: u64 = 1_000;
pub const grant_arrival_poll_ms: u64 = 20;

// Leases and usage (DESIGN §7).
/// Seconds a lease lives after the call that opened or renewed it (central's default `ttl_s`),
/// and the bounds of `--lease-ttl-s`: a lease must outlive the sidecar's renew-ahead window and
/// safety margin, and an hour bounds what a vanished sidecar keeps locked before the grace.
pub const lease_ttl_s: u64 = 300;
pub const lease_ttl_s_min: u64 = lease_safety_margin_s + lease_renew_ahead_s + 1;
pub const lease_ttl_s_max: u64 = 3600;
/// Seconds after a lease's deadline before central returns its unused remainder on its own.
pub const lease_grace_s: i64 = 3600;
/// Seconds before its deadline a sidecar stops using a lease (on its monotonic clock).
pub const lease_safety_margin_s: u64 = 30;
/// Seconds before that point a sidecar renews a lease that still backs live holds.
pub const lease_renew_ahead_s: u64 = 60;
/// Tries of a hold or charge that fell short of its lease, each after a lease call to central.
pub const lease_attempts_max: usize = 3;
/// A lease in use grows by a chunk once its unused part is below chunk / this, if it was used in
/// the last `lease_low_water_recent_s` seconds: a hot account rarely waits for a lease call.
pub const lease_low_water_parts: u32 = 4;
pub const lease_low_water_recent_s: u64 = 10;
/// How often the sidecar's keeper tends its leases and holds (it also runs when woken). A hot
/// account can spend a chunk in half a second (10 000 pairs of 0.01 a second with the default
/// 50.00): at one second, its lease ran dry between two looks and requests waited for a lease
/// call on their own path (BENCHMARKS.md, the sidecar's twelfth run). A look reads every lease
/// once (twice when it expires holds): cheap for a few leases, not for thousands (design.md, open
/// questions).
pub const lease_keeper_interval_ms: u64 = 100;
/// Seconds a lease may go unused, with no live holds, before the sidecar closes it.
pub const lease_idle_close_s: u64 = 120;
/// Milliseconds central waits for recalled leases to come back before answering 402.
pub const lease_recall_wait_ms: u64 = 2_000;
/// Usage records in one batch, and how long the flusher lingers after a charge wakes it so that
/// the charges of that time travel together. Central's cost per batch (its commit, the branch
/// pages of a dozen tables) is shared by the batch's records: 2 000 and 150 ms gave 7.5 % more
/// pairs than 500 and 50 ms (BENCHMARKS.md, the sidecar's twelfth run), for about 0.1 s more
/// before central sees a charge.
pub const usage_batch_len_max: usize = 2_000;
pub const usage_flush_idle_ms: u64 = 150;
/// The batch length a central that does not say its own takes: the bound before it was raised.
pub const usage_batch_len_max_unstated: usize = 500;
/// Largest body of a usage batch, in bytes: 2 000 records with a 4 KiB payload each fit.
pub const usage_body_bytes_max: usize = 16 * 1024 * 1024;
/// Leases whose deadline and grace have passed, returned per sweep transaction.
pub const lease_expiry_batch_len_max: usize = 256;
/// Milliseconds central sleeps between tries while recalled leases come back.
pub const lease_recall_poll_ms: u64 = 50;
/// Length bound of a sidecar's `invoice_number`.
pub const invoice_number_len_max: usize = 64;
/// Seconds a sidecar's last flush may take at shutdown.
pub const usage_final_flush_s: u64 = 5;

const _: () = assert!(lease_safety_margin_s + lease_renew_ahead_s < lease_ttl_s_min);
const _: () = assert!(lease_ttl_s_min <= lease_ttl_s && lease_ttl_s <= lease_ttl_s_max);
const _: () = assert!(usage_batch_len_max * (partner_payload_bytes_max + 2048) <= usage_body_bytes_max);
const _: () = assert!(request_body_bytes_max <= usage_body_bytes_max);
const _: () = assert!(usage_batch_len_max_unstated <= usage_batch_len_max);
const _: () = assert!(lease_recall_poll_ms < lease_recall_wait_ms);

const _: () = assert!(sync_backoff_ms_min > 0 && sync_backoff_ms_min <= sync_backoff_ms_max);
const _: () = assert!(sync_feed_wait_s <= feed_wait_s_max);

/// redb's page cache per database (its default is 1 GiB): bounds the resident size of a node.
pub const db_cache_bytes_max: usize = 32 * 1024 * 1024;
/// The sidecar's page cache: its hot data (leases, open holds, the outbox head) is small, and its
/// memory budget goes to the token cache.
pub const sidecar_db_cache_bytes_max: usize = 8 * 1024 * 1024;
/// Stored answers the sidecar's answer log holds before they are written, sorted, as one run
/// (`storage::sidecar::answers`): the log's in-memory index is at most this long, and a run's
/// writing (~4 MiB at this length) joins the commit of the request that filled the log.
pub const sidecar_answer_log_len_max: usize = 8_192;
/// Bits of a run's Bloom filter per answer, and the bit positions each answer sets: with 16 and
/// 11 about one lookup of a fresh key in two thousand reads a run it is not in. (With 10 and 7,
/// one in a hundred did, and with the ~25 runs of a benchmark's ten seconds a fifth of all fresh
/// keys read a run: 4 % of the sidecar writer's time. Runs written before keep their own.)
pub const answer_filter_bits_per_key: usize = 16;
pub const answer_filter_hashes: u32 = 11;

/// `protus demo`'s partner app: sign-ins in progress and signed-in browsers it keeps in memory;
/// the oldest is dropped beyond these.
pub const demo_pending_logins_max: usize = 1000;
pub const demo_sessions_max: usize = 1000;
/// Entries kept per signed-in browser in the demo partner's lists (customers, campaigns, events).
pub const demo_list_len_max: usize = 50;
/// How long the demo partner waits for its sidecar to learn a new grant after sign-in.
pub const demo_grant_wait_ms: u64 = 5000;

/// Days shown by the web interface's charts (spending, revenue, active accounts per day).
pub const chart_days: i64 = 30;
/// Charges read at most to draw one chart; older ones beyond it are left out of the picture.
pub const chart_charges_scanned_max: usize = 20_000;
/// Accounts of one customer read at most for the spending chart.
pub const chart_accounts_max: usize = 200;
/// Services stacked separately in the spending chart; the rest are drawn as one "other" band.
pub const chart_series_max: usize = 6;
/// Rows of one page of a list in the web interface.
pub const web_page_len: usize = 25;
/// Seconds a browser remembers the chosen language (one year).
pub const lang_cookie_max_age_s: i64 = 365 * 24 * 3600;

const _: () = assert!(web_page_len <= page_len_max);
const _: () = assert!(chart_series_max >= 1 && chart_days >= 1);

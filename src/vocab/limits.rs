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
/// Requests served at once per listener; more wait.
pub const listener_concurrency_max: usize = 1024;
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
const _: () = assert!(write_batch_len_max <= write_queue_len_max);
const _: () = assert!(partner_payload_bytes_max < request_body_bytes_max);
const _: () = assert!(username_len_min <= username_len_max);
const _: () = assert!(password_len_min <= password_len_max);

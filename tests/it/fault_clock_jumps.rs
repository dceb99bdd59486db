//! Fault injection (issue 8): the sidecar's wall clock jumps forward and backward by hours
//! (libfaketime, Debian's `faketime`, preloaded into a real sidecar process) while central is
//! partitioned away; the sidecar's lease still ends when its monotonic deadline says, not earlier
//! and not later.
//!
//! Why the jumps are chosen as they are: access tokens are JWTs whose `nbf`/`exp` the sidecar
//! rightly checks against its wall clock (60 s skew, DESIGN §4), so every wall time the sidecar
//! sees must lie inside the token's life, or it would answer 401 and the test would be about
//! tokens, not leases. Central issues the token at real time R with a 24 h lifetime (the longest
//! allowed), valid on [R − 60 s, R + 24 h + 60 s]. The sidecar starts 2 h ahead (it opens its
//! lease at wall time W = R + 2 h), jumps to R + 8 h (6 h past W: a lease timed by the wall clock
//! would be long over, so a 201 there proves it is not), then back to R (2 h before W: a lease
//! timed by the wall clock would live two more hours, so the 503 at the monotonic deadline proves
//! it is not). All three stay inside the token's life.
//!
//! libfaketime only fakes `CLOCK_REALTIME` here (`FAKETIME_DONT_FAKE_MONOTONIC=1`), as a real
//! wall-clock step (NTP, `date -s`) leaves the monotonic clocks alone; the sidecar reads
//! `CLOCK_BOOTTIME` through rustix, which calls the vDSO directly and never goes through the
//! preloaded libc symbols anyway.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sidecar_billing::{World, money, ready};
use crate::sidecar_support::ChildSidecar;
use crate::support::TestCentral;

/// Where Debian's `libfaketime` package puts the library (multiarch, then the older layout).
const LIBFAKETIME: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
];
/// The shortest lease central may give (`--lease-ttl-s`): usable for `LEASE_TTL_S - 30` s.
const LEASE_TTL_S: u64 = 91;
/// The sidecar stops using a lease this long before its deadline (DESIGN §7).
const SAFETY_MARGIN_S: u64 = 30;

/// Sets the sidecar's wall-clock offset from real time (libfaketime re-reads the file on every
/// clock read with `FAKETIME_NO_CACHE=1`).
fn set_offset(file: &Path, offset: &str) {
    std::fs::write(file, format!("{offset}\n")).expect("faketime file written");
}

/// Seconds from real now to the charge's `created_at`, which the sidecar stamps with its wall clock.
fn wall_offset_s(charge: &Value) -> i64 {
    let created = charge["created_at"].as_str().unwrap_or_else(|| panic!("no created_at: {charge}"));
    let created = time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{created}: {e}"));
    (created - time::OffsetDateTime::now_utc()).whole_seconds()
}

/// Asserts the sidecar's wall clock is `hours` ahead of real time (give or take a minute).
#[track_caller]
fn assert_wall_offset(charge: &Value, hours: i64) {
    let offset = wall_offset_s(charge);
    assert!((offset - hours * 3600).abs() < 60, "the sidecar's wall clock is {offset} s off, not {hours} h: {charge}");
}

async fn charge(sidecar: &ChildSidecar, token: &str, key: &str) -> (u16, Value) {
    sidecar
        .post("/api/v1/billing/charges", Some(token), Some(key), json!({"amount": "0.10", "description": "tick"}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_wall_clock_jumps_on_a_partitioned_sidecar_neither_shorten_nor_stretch_its_lease() {
    // Proves that with central down, a sidecar whose wall clock jumps 6 h forward keeps serving inside its lease, and after a jump 8 h back stops at the lease's monotonic deadline with 503 central_unavailable; everything it accepted settles once central is back.
    let libfaketime = LIBFAKETIME
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or_else(|| panic!("libfaketime is missing (none of {LIBFAKETIME:?}): apt-get install faketime"));
    let central = TestCentral::start_with(|config| {
        config.lease_ttl_s = LEASE_TTL_S;
        config.access_token_ttl_s = 24 * 3600;
    })
    .await;
    let mut world = World::on(central, "100.00", &["check", "hold", "charge"], "").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let clock_file = dir.path().join("faketime");
    set_offset(&clock_file, "+2h");
    let env: [(&str, &std::ffi::OsStr); 4] = [
        ("LD_PRELOAD", libfaketime.as_ref()),
        ("FAKETIME_TIMESTAMP_FILE", clock_file.as_os_str()),
        ("FAKETIME_NO_CACHE", "1".as_ref()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".as_ref()),
    ];
    let data = dir.path().join("sidecar");
    let client = (world.client.0.as_str(), world.client.1.as_str());
    let sidecar = ChildSidecar::start_with_env(&world.central.base, client, &data, &[], &env);
    ready(&sidecar).await;
    let token = world.token.clone();

    // The first charge opens a lease (deadline: the sidecar's monotonic time when it asked, plus
    // the TTL); then central goes away, so the lease can be neither renewed nor replaced.
    let opened_before = Instant::now();
    let (status, first) = charge(&sidecar, &token, "t-0").await;
    assert_eq!(status, 201, "{first}");
    assert_wall_offset(&first, 2);
    world.central.stop().await;
    // A renewal the sidecar sent before central stopped may have moved the deadline up to here.
    let stopped = Instant::now();
    let mut accepted = vec![first];

    set_offset(&clock_file, "+8h");
    let (status, ahead) = charge(&sidecar, &token, "t-ahead").await;
    assert_eq!(status, 201, "6 h past the lease's wall-clock end, still inside its monotonic life: {ahead}");
    assert_wall_offset(&ahead, 8);
    accepted.push(ahead);

    set_offset(&clock_file, "+0");
    let (status, back) = charge(&sidecar, &token, "t-back").await;
    assert_eq!(status, 201, "{back}");
    assert_wall_offset(&back, 0);
    accepted.push(back);

    // Charge until the sidecar refuses. Its lease is usable until its deadline less the margin,
    // a moment between `earliest_end` and `latest_end` on this (monotonic) clock; tolerance for
    // the millisecond rounding of the two processes' readings.
    let usable = Duration::from_secs(LEASE_TTL_S - SAFETY_MARGIN_S);
    let rounding = Duration::from_millis(50);
    let (earliest_end, latest_end) = (opened_before + usable - rounding, stopped + usable + rounding);
    let refused = loop {
        let sent = Instant::now();
        let key = format!("t-{}", accepted.len());
        let (status, answer) = charge(&sidecar, &token, &key).await;
        let answered = Instant::now();
        match status {
            201 => {
                assert!(sent < latest_end, "served {:?} past the lease's monotonic end: {answer}", sent - latest_end);
                accepted.push(answer);
            }
            503 => {
                assert_eq!(answer["code"], "central_unavailable", "{answer}");
                assert!(
                    answered >= earliest_end,
                    "the lease ended {:?} before its monotonic end: {answer}",
                    earliest_end - answered
                );
                break key;
            }
            other => panic!("unexpected {other}: {answer}"),
        }
        assert!(sent < latest_end + Duration::from_secs(30), "the sidecar never stopped serving the lease");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "lease served {} charges; refused {:?} after the opening charge",
        accepted.len(),
        opened_before.elapsed()
    );
    let (status, again) = charge(&sidecar, &token, &refused).await;
    assert_eq!((status, again["code"].as_str()), (503, Some("central_unavailable")), "{again}");

    // Central back: the refused charge goes through on a new lease, and everything settles once.
    world.central.restart_on_same_port().await;
    let (status, after) = charge(&sidecar, &token, &refused).await;
    assert_eq!(status, 201, "{after}");
    accepted.push(after);
    let ids = accepted.iter().map(|c| c["id"].as_str().unwrap_or_default());
    let settled = world.all_settled_within(ids, Duration::from_secs(15)).await;
    let at_central = world.central_charges().await;
    assert!(settled, "{} accepted, {} settled", accepted.len(), at_central.len());
    assert_eq!(at_central.len(), accepted.len());
    let total: rust_decimal::Decimal = accepted.iter().map(|c| money(&c["amount"])).sum();
    assert_eq!(at_central.values().map(|c| money(&c["amount"])).sum::<rust_decimal::Decimal>(), total);
    assert!(sidecar.terminate().success());
}

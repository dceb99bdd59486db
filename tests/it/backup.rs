//! `protus central backup`: a consistent copy, taken through the admin socket while central keeps
//! committing writes, that `protus central verify` accepts; and the direct path when central is
//! stopped.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::child::{PROTUS, verify};
use crate::support::TestCentral;

/// Runs `protus central backup --data-dir D --to FILE`; returns (exit code, output).
fn backup(data_dir: &Path, to: &Path) -> (i32, String) {
    let output = Command::new(PROTUS)
        .args(["central", "backup", "--data-dir"])
        .arg(data_dir)
        .arg("--to")
        .arg(to)
        .output()
        .expect("backup runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

/// The transfer count that `verify` printed.
fn transfers(verify_output: &str) -> u64 {
    let rest = verify_output.split("checked ").nth(1).expect("verify prints its counts");
    rest.split(' ').next().and_then(|n| n.parse().ok()).expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_taken_while_central_commits_writes_verify_clean() {
    // Proves copies written through the admin socket during a stream of top-ups are consistent ledgers that verify accepts.
    let central = Arc::new(TestCentral::start().await);
    let (_, token) = central.customer("ann@x.io").await;
    central.top_up(&token, "1.00", "first").await;
    let (stop, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let writer = {
        let (central, token, stop, done) = (central.clone(), token.clone(), stop.clone(), done.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                central.top_up(&token, "1.00", &format!("k{n}")).await;
                done.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let copies = tempfile::tempdir().expect("temp dir");
    let mut seen = Vec::new();
    for i in 0..3 {
        let before = done.load(Ordering::SeqCst);
        while done.load(Ordering::SeqCst) < before + 2 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let (source, dir) = (central.dir.path().to_owned(), copies.path().join(format!("copy{i}")));
        std::fs::create_dir(&dir).expect("copy dir");
        let (code, output) =
            tokio::task::spawn_blocking(move || backup(&source, &dir.join("central.redb"))).await.expect("join");
        assert_eq!(code, 0, "{output}");
        assert!(output.contains("backup written to"), "{output}");
        seen.push(copies.path().join(format!("copy{i}")));
    }
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer");
    let mut counts = Vec::new();
    for dir in seen {
        let (code, output) = tokio::task::spawn_blocking(move || verify(&dir)).await.expect("join");
        assert_eq!(code, 0, "{output}");
        assert!(output.contains("ledger OK"), "{output}");
        counts.push(transfers(&output));
    }
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "each copy holds the later writes: {counts:?}");
    assert!(counts[0] >= 3, "{counts:?}");
    // The source kept its own writes: it is still a clean ledger with more than any copy.
    let source = central.dir.path().to_owned();
    let (code, output) = tokio::task::spawn_blocking(move || verify(&source)).await.expect("join");
    assert_eq!(code, 0, "{output}");
    assert!(transfers(&output) >= counts[2], "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_opens_the_file_when_central_is_stopped_and_never_overwrites() {
    // Proves the direct path copies a stopped central's file, and an existing target is refused untouched.
    let mut central = TestCentral::start().await;
    let (_, token) = central.customer("ann@x.io").await;
    central.top_up(&token, "12.00", "k").await;
    central.stop().await;
    let copy = tempfile::tempdir().expect("temp dir");
    let to = copy.path().join("central.redb");
    let (code, output) = backup(central.dir.path(), &to);
    assert_eq!(code, 0, "{output}");
    let (code, output) = verify(copy.path());
    assert_eq!((code, transfers(&output)), (0, 1), "{output}");
    let size = std::fs::metadata(&to).expect("copy").len();
    let (code, output) = backup(central.dir.path(), &to);
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("already exists"), "{output}");
    assert_eq!(std::fs::metadata(&to).expect("copy").len(), size);
    assert!(!copy.path().join("central.redb.partial").exists());
}

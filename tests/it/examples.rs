//! `examples/issue_token.rs` runs the OAuth code flow with PKCE end to end against a central
//! started by the test.

use std::path::PathBuf;
use std::process::Command;

use crate::support::TestCentral;

/// The example's binary beside this test binary (`target/<profile>/examples/`), built first when
/// only the integration tests were built.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().expect("test binary path");
    let profile_dir = deps.parent().and_then(|d| d.parent()).expect("target/<profile>");
    let binary = profile_dir.join("examples").join(name);
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let built = Command::new(cargo)
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(built.success(), "cargo build --example {name}");
    }
    binary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_token_example_gets_a_token_that_central_accepts() {
    // Proves the example's code flow (consent form, PKCE exchange, permission check) works against a real central.
    let central = TestCentral::start().await;
    let binary = example("issue_token");
    let base = central.base.clone();
    let output = tokio::task::spawn_blocking(move || Command::new(binary).arg(base).output().expect("example runs"))
        .await
        .expect("join");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("access token for account acct_"), "{stdout}");
    assert!(stdout.contains("with scope \"check charge\", expires in 3600 s"), "{stdout}");
}

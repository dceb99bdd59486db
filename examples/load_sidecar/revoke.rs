//! `revoke`: for each of `count` tokens (from the end of `hot_tokens.txt`, so not the ones the
//! other parts use), makes sure the sidecar allows it, revokes it at central with
//! `POST /oauth/revoke` (client credentials), and polls the sidecar's permission check until the
//! first refusal; the delay is from sending the revocation to reading that refusal.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::{self, micros};
use crate::stats::Latencies;

/// Pause between two polls of the sidecar while waiting for the refusal.
const poll_pause_us: u64 = 500;
/// A revocation not seen by then counts as not propagated.
const propagation_wait_s_max: u64 = 10;

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// Central's base URL.
    #[arg(long)]
    pub central: String,
    /// The sidecar's base URL.
    #[arg(long)]
    pub sidecar: String,
    #[arg(long)]
    pub seed_dir: PathBuf,
    #[arg(long, default_value_t = 50)]
    pub count: usize,
}

pub async fn run(args: &RevokeArgs) -> anyhow::Result<()> {
    let tokens = client::lines(&args.seed_dir, "hot_tokens.txt")?;
    anyhow::ensure!(tokens.len() > args.count, "hot_tokens.txt has only {} tokens", tokens.len());
    let client_id = client::seed_field(&args.seed_dir, "client_id")?;
    let secret = client::seed_field(&args.seed_dir, "client_secret")?;
    let (central, sidecar) = (client::http_client()?, client::http_client()?);
    let check = format!("{}/api/v1/authorize?scope=charge", args.sidecar.trim_end_matches('/'));
    let revoke = format!("{}/oauth/revoke", args.central.trim_end_matches('/'));
    let (mut delays_us, mut revoke_us, mut missed) = (Vec::new(), Vec::new(), 0u64);
    for token in tokens.iter().rev().take(args.count) {
        let status = sidecar.get(&check).bearer_auth(token).send().await?.status().as_u16();
        anyhow::ensure!(status == 200, "the sidecar answered {status} before the revocation");
        let sent = Instant::now();
        let revoking = central
            .post(&revoke)
            .basic_auth(&client_id, Some(&secret))
            .form(&[("token", token.as_str()), ("token_type_hint", "access_token")])
            .send();
        let polling = async {
            let deadline = sent + Duration::from_secs(propagation_wait_s_max);
            while Instant::now() < deadline {
                let status = sidecar.get(&check).bearer_auth(token).send().await.map(|a| a.status().as_u16());
                if let Ok(401) = status {
                    return Some(micros(sent.elapsed()));
                }
                tokio::time::sleep(Duration::from_micros(poll_pause_us)).await;
            }
            None
        };
        let revoked = async {
            let answer = revoking.await?;
            Ok::<_, reqwest::Error>((answer.status().as_u16(), micros(sent.elapsed())))
        };
        let (refused, revoked) = tokio::join!(polling, revoked);
        let (status, took_us) = revoked?;
        anyhow::ensure!(status == 200, "central answered {status} to the revocation");
        revoke_us.push(took_us);
        match refused {
            Some(us) => delays_us.push(us),
            None => missed += 1,
        }
    }
    let delays = Latencies::from_unsorted(&mut delays_us);
    let revoke = Latencies::from_unsorted(&mut revoke_us);
    eprintln!(
        "revocation → first refusal at the sidecar: {delays}; not seen within {propagation_wait_s_max} s: {missed}"
    );
    eprintln!("POST /oauth/revoke itself: {revoke}");
    println!("revocations={} {} missed={missed} revoke_p50_us={}", args.count, delays.fields(), revoke.p50_us);
    Ok(())
}

//! `holds`: drives hold + capture pairs (`POST /api/v1/billing/holds`, then
//! `POST /api/v1/billing/holds/{id}/capture`, each with its own `Idempotency-Key`) closed-loop
//! with one bearer token, against the sidecar or central (directly or through the delay proxy),
//! and counts the sidecar's calls to central in the measured window from its `/metrics`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::body::Bytes;
use hyper::header::HeaderName;
use tokio::sync::Barrier;
use tokio::time::Instant;

use crate::client::{self, Tally, in_window, micros};
use crate::conn::Conn;

/// Every hold is 0.01 and captured in full.
const hold_body: &str = r#"{"amount":"0.01","description":"load"}"#;
/// The sidecar's counters of its calls to central: usage batches sent, lease calls on the
/// request path (DESIGN "Metrics" of the sidecar).
const sync_counters: [&str; 2] = ["protus_sidecar_usage_batches_total", "protus_sidecar_lease_calls_total"];

#[derive(Debug, clap::Args)]
pub struct HoldsArgs {
    /// Base URL of the sidecar, of central, or of a proxy in front of either.
    #[arg(long)]
    pub url: String,
    /// The seed dir; the first line of `hot_tokens.txt` is the bearer token (the hot wallet).
    #[arg(long)]
    pub seed_dir: PathBuf,
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup_s: u64,
    #[arg(long, default_value_t = 10)]
    pub duration_s: u64,
    /// The sidecar's `/metrics` URL, read at the start and the end of the measured window.
    #[arg(long)]
    pub metrics_url: Option<String>,
    /// The server's pid, for its CPU time in the window.
    #[arg(long)]
    pub pid: Option<u32>,
    #[arg(long, default_value = "holds")]
    pub label: String,
}

pub async fn run(args: &HoldsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients > 0 && args.duration_s > 0, "need at least one client and one second");
    let token = client::lines(&args.seed_dir, "hot_tokens.txt")?.swap_remove(0);
    let base = args.url.trim_end_matches('/').to_owned();
    let tag = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis());
    let barrier = Arc::new(Barrier::new(args.clients + 1));
    let mut workers = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let pair = Pair { conn: Conn::new(&base, Some(&token))?, key_prefix: format!("{}-{tag}-{i}-", args.label) };
        let barrier = barrier.clone();
        let (warmup, duration) = (Duration::from_secs(args.warmup_s), Duration::from_secs(args.duration_s));
        workers.push(tokio::spawn(async move {
            barrier.wait().await;
            let start = Instant::now();
            pair.drive(start + warmup, start + warmup + duration).await
        }));
    }
    barrier.wait().await;
    tokio::time::sleep(Duration::from_secs(args.warmup_s)).await;
    // A client of its own for each read: a connection kept idle through the window would be
    // closed by the sidecar's header-read timeout just as a 10 s window ends, and the second
    // read would race that close.
    let before = sync_calls(&client::http_client()?, args.metrics_url.as_deref()).await?;
    let cpu = client::window_cpu(args.pid, Duration::ZERO, Duration::from_secs(args.duration_s)).await;
    let after = sync_calls(&client::http_client()?, args.metrics_url.as_deref()).await?;
    let mut total = Tally::default();
    for worker in workers {
        total.merge(worker.await.context("a load client panicked")?);
    }
    let pairs = total.ok_us.len() as u64;
    let fields = total.finish(&args.label, args.duration_s);
    let mut line = format!("clients={} {fields} {cpu}", args.clients);
    if let (Some(before), Some(after)) = (before, after) {
        let (batches, leases) = (after[0] - before[0], after[1] - before[1]);
        eprintln!("{}: sidecar → central in the window: {batches} usage batches, {leases} lease calls", args.label);
        line.push_str(&format!(" usage_batches={batches} lease_calls={leases} charges={pairs}"));
    }
    println!("{line}");
    Ok(())
}

async fn sync_calls(http: &reqwest::Client, metrics_url: Option<&str>) -> anyhow::Result<Option<[i64; 2]>> {
    let Some(url) = metrics_url else { return Ok(None) };
    Ok(Some([client::metric(http, url, sync_counters[0]).await?, client::metric(http, url, sync_counters[1]).await?]))
}

struct Pair {
    conn: Conn,
    key_prefix: String,
}

impl Pair {
    /// Hold + capture until `end`; a pair counts (from the hold sent to the capture read) when
    /// its capture answer arrives inside `[measure_from, end)`.
    async fn drive(mut self, measure_from: Instant, end: Instant) -> Tally {
        let mut tally = Tally::default();
        let mut seq: u64 = 0;
        while Instant::now() < end {
            seq += 1;
            let sent = Instant::now();
            let held = self.post("/api/v1/billing/holds", &format!("{}h{seq}", self.key_prefix), hold_body).await;
            let outcome = match held {
                Ok((201, body)) => match hold_id(&body) {
                    Some(id) => {
                        let path = format!("/api/v1/billing/holds/{id}/capture");
                        self.post(&path, &format!("{}c{seq}", self.key_prefix), "{}").await
                    }
                    None => Ok((0, body)),
                },
                other => other,
            };
            let done = Instant::now();
            if !in_window(done, measure_from, end) {
                continue;
            }
            match outcome {
                Ok((201, _)) => tally.ok_us.push(micros(done - sent)),
                Ok((status, body)) => tally.unexpected(status, &body),
                Err(error) => tally.transport(&error),
            }
        }
        tally
    }

    async fn post(&mut self, path: &str, key: &str, body: &'static str) -> anyhow::Result<(u16, Bytes)> {
        self.conn.post(path, (HeaderName::from_static("idempotency-key"), key), body).await
    }
}

fn hold_id(body: &[u8]) -> Option<String> {
    let hold: serde_json::Value = serde_json::from_slice(body).ok()?;
    hold["id"].as_str().map(str::to_owned)
}

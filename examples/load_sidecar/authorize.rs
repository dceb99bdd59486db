//! `authorize`: drives `GET /api/v1/authorize?scope=charge` with one bearer token over
//! keep-alive connections, either closed-loop (throughput) or at a fixed total rate (latency
//! measured from each request's scheduled time, so a stall is not hidden by sending less).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Barrier;
use tokio::time::Instant;

use crate::client::{self, Tally, in_window, micros};

const authorize_path: &str = "/api/v1/authorize?scope=charge";

#[derive(Debug, clap::Args)]
pub struct AuthorizeArgs {
    /// Base URL of the sidecar (or of the bare server).
    #[arg(long)]
    pub url: String,
    /// The seed dir; the first line of `hot_tokens.txt` is the bearer token.
    #[arg(long)]
    pub seed_dir: PathBuf,
    /// Connections, each driven by its own client.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup_s: u64,
    #[arg(long, default_value_t = 10)]
    pub duration_s: u64,
    /// Requests a second over all connections; 0 = closed loop (as fast as answers come).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// The server's pid, for its CPU time in the window.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Name of the run in the human line.
    #[arg(long, default_value = "authorize")]
    pub label: String,
}

pub async fn run(args: &AuthorizeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients > 0 && args.duration_s > 0, "need at least one client and one second");
    let token = Arc::new(client::lines(&args.seed_dir, "hot_tokens.txt")?.swap_remove(0));
    let url = Arc::new(format!("{}{authorize_path}", args.url.trim_end_matches('/')));
    // Each connection sends every `period`; connection i starts i/clients of a period late.
    let clients = u32::try_from(args.clients).context("too many clients")?;
    let period = (args.rate > 0).then(|| Duration::from_nanos(1_000_000_000 * u64::from(clients) / args.rate));
    let barrier = Arc::new(Barrier::new(args.clients + 1));
    let mut workers = Vec::with_capacity(args.clients);
    for i in 0..clients {
        let (http, url, token, barrier) = (client::http_client()?, url.clone(), token.clone(), barrier.clone());
        let (warmup, duration) = (Duration::from_secs(args.warmup_s), Duration::from_secs(args.duration_s));
        let offset = period.map(|p| p * i / clients);
        workers.push(tokio::spawn(async move {
            barrier.wait().await;
            let start = Instant::now();
            let (measure_from, end) = (start + warmup, start + warmup + duration);
            let mut tally = Tally::default();
            let mut due = offset.map(|o| start + o);
            while Instant::now() < end {
                if let Some(at) = due {
                    tokio::time::sleep_until(at).await;
                }
                let sent = due.unwrap_or_else(Instant::now);
                let outcome = match http.get(url.as_str()).bearer_auth(token.as_str()).send().await {
                    Ok(answer) => {
                        let status = answer.status().as_u16();
                        answer.bytes().await.map(|body| (status, body))
                    }
                    Err(error) => Err(error),
                };
                let done = Instant::now();
                if let (Some(at), Some(period)) = (due.as_mut(), period) {
                    *at += period;
                }
                if !in_window(done, measure_from, end) {
                    continue;
                }
                match outcome {
                    Ok((200, _)) => tally.ok_us.push(micros(done - sent)),
                    Ok((status, body)) => tally.unexpected(status, &body),
                    Err(error) => tally.transport(&error),
                }
            }
            tally
        }));
    }
    barrier.wait().await;
    let window = Duration::from_secs(args.duration_s);
    let cpu = client::window_cpu(args.pid, Duration::from_secs(args.warmup_s), window).await;
    let mut total = Tally::default();
    for worker in workers {
        total.merge(worker.await.context("a load client panicked")?);
    }
    let fields = total.finish(&args.label, args.duration_s);
    println!("clients={} rate={} {fields} {cpu}", args.clients, args.rate);
    Ok(())
}

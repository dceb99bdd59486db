//! `run`: drives `POST /api/v1/billing/charges` on a running central with concurrent
//! keep-alive clients for a warm-up and then a measured window, and reports what it saw.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Barrier;
use tokio::time::Instant;

use crate::stats::{self, Latencies};

/// The charge every request makes (DESIGN §5.1, by amount and description).
const charge_body: &str = r#"{"amount":"0.01","description":"load"}"#;
/// Longest a single request may take before it counts as a transport failure.
const request_timeout_s: u64 = 30;
/// Name of central's storage writer thread (`storage::writer`), whose CPU time is reported.
const writer_thread_name: &str = "protus-writer";
/// Bodies of unexpected answers kept for the report.
const unexpected_samples_len_max: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// Every client charges the same wallet.
    Hot,
    /// Each request charges a wallet drawn at random from the seeded spread wallets.
    Spread,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Central's base URL, e.g. http://127.0.0.1:41234.
    #[arg(long)]
    pub url: String,
    /// The directory `seed` wrote (seed.txt, tokens.txt).
    #[arg(long)]
    pub seed_dir: PathBuf,
    #[arg(long, value_enum)]
    pub shape: Shape,
    /// Concurrent clients, each with its own keep-alive connection.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds of load before the measured window (connections, caches).
    #[arg(long, default_value_t = 2)]
    pub warmup_s: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 20)]
    pub duration_s: u64,
    /// Central's pid, to report the CPU time it used during the measured window.
    #[arg(long)]
    pub pid: Option<u32>,
}

/// What one client saw in the measured window.
#[derive(Debug, Default)]
struct ClientTally {
    created_us: Vec<u64>,
    other: BTreeMap<u16, u64>,
    transport_errors: u64,
    samples: Vec<String>,
}

pub async fn run(args: &RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients > 0 && args.duration_s > 0, "need at least one client and one second");
    let url = format!("{}/api/v1/billing/charges", args.url.trim_end_matches('/'));
    let tokens: Arc<Vec<String>> = Arc::new(match args.shape {
        Shape::Hot => vec![hot_token(args).await?],
        Shape::Spread => spread_tokens(args)?,
    });
    let run_tag = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis());
    let barrier = Arc::new(Barrier::new(args.clients + 1));
    let mut workers = Vec::with_capacity(args.clients);
    for client in 0..args.clients {
        let worker = Worker {
            http: http_client()?,
            url: url.clone(),
            tokens: tokens.clone(),
            key_prefix: format!("load-{run_tag}-{client}-"),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
        };
        let barrier = barrier.clone();
        let (warmup, duration) = (Duration::from_secs(args.warmup_s), Duration::from_secs(args.duration_s));
        workers.push(tokio::spawn(async move {
            barrier.wait().await;
            let start = Instant::now();
            worker.drive(start + warmup, start + warmup + duration).await
        }));
    }
    barrier.wait().await;
    tokio::time::sleep(Duration::from_secs(args.warmup_s)).await;
    let cpu_before = cpu_snapshot(args.pid);
    tokio::time::sleep(Duration::from_secs(args.duration_s)).await;
    let cpu_after = cpu_snapshot(args.pid);
    let mut total = ClientTally::default();
    for worker in workers {
        let tally = worker.await.context("a load client panicked")?;
        total.created_us.extend(tally.created_us);
        for (status, n) in tally.other {
            *total.other.entry(status).or_default() += n;
        }
        total.transport_errors += tally.transport_errors;
        total.samples.extend(tally.samples.into_iter().take(unexpected_samples_len_max));
    }
    report(args, total, cpu_before.used_until(&cpu_after));
    Ok(())
}

/// CPU time, in clock ticks, of the load generator, of central and of central's writer thread,
/// and the bytes central wrote to disk.
#[derive(Debug, Clone, Copy, Default)]
struct CpuTicks {
    loadgen: Option<u64>,
    central: Option<u64>,
    writer: Option<u64>,
    central_disk_bytes: Option<u64>,
}

fn cpu_snapshot(central: Option<u32>) -> CpuTicks {
    CpuTicks {
        loadgen: stats::cpu_ticks("self"),
        central: central.and_then(|pid| stats::cpu_ticks(&pid.to_string())),
        writer: central.and_then(|pid| stats::thread_ticks(pid, writer_thread_name)),
        central_disk_bytes: central.and_then(|pid| stats::disk_written(&pid.to_string())),
    }
}

impl CpuTicks {
    /// What was used between `self` and `later`.
    fn used_until(&self, later: &CpuTicks) -> CpuTicks {
        let used = |before: Option<u64>, after: Option<u64>| before.zip(after).map(|(b, a)| a.saturating_sub(b));
        CpuTicks {
            loadgen: used(self.loadgen, later.loadgen),
            central: used(self.central, later.central),
            writer: used(self.writer, later.writer),
            central_disk_bytes: used(self.central_disk_bytes, later.central_disk_bytes),
        }
    }
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(request_timeout_s))
        .build()?)
}

/// The hot wallet's token, minted by central itself through `POST /api/v1/direct-users` with
/// the seeded company's client credentials: this also proves central accepts the seeded data.
async fn hot_token(args: &RunArgs) -> anyhow::Result<String> {
    let seed = std::fs::read_to_string(args.seed_dir.join("seed.txt")).context("reading seed.txt")?;
    let field = |name: &str| {
        seed.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
            .map(str::to_owned)
            .with_context(|| format!("seed.txt has no {name}"))
    };
    let (client_id, secret, email) = (field("client_id")?, field("client_secret")?, field("hot_email")?);
    let answer = http_client()?
        .post(format!("{}/api/v1/direct-users", args.url.trim_end_matches('/')))
        .basic_auth(client_id, Some(secret))
        .header("Idempotency-Key", format!("load-hot-token-{}", std::process::id()))
        .json(&serde_json::json!({"email": email, "username": "hot"}))
        .send()
        .await?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await?;
    anyhow::ensure!(status.as_u16() == 201, "direct-users answered {status}: {body}");
    body["access_token"].as_str().map(str::to_owned).context("direct-users answered no access_token")
}

fn spread_tokens(args: &RunArgs) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(args.seed_dir.join("tokens.txt")).context("reading tokens.txt")?;
    let tokens: Vec<String> = text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    anyhow::ensure!(!tokens.is_empty(), "tokens.txt is empty");
    Ok(tokens)
}

struct Worker {
    http: reqwest::Client,
    url: String,
    tokens: Arc<Vec<String>>,
    key_prefix: String,
    /// xorshift64 state: which wallet the next spread request charges.
    rng: u64,
}

impl Worker {
    /// Charges until `end`; answers finishing inside `[measure_from, end)` are counted.
    async fn drive(mut self, measure_from: Instant, end: Instant) -> ClientTally {
        let mut tally = ClientTally::default();
        let mut seq: u64 = 0;
        while Instant::now() < end {
            seq += 1;
            let index = self.next_index();
            let token = &self.tokens[index];
            let sent = Instant::now();
            let answer = self
                .http
                .post(&self.url)
                .bearer_auth(token)
                .header("Idempotency-Key", format!("{}{seq}", self.key_prefix))
                .header("content-type", "application/json")
                .body(charge_body)
                .send()
                .await;
            let outcome = match answer {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    answer.bytes().await.map(|body| (status, body))
                }
                Err(error) => Err(error),
            };
            let done = Instant::now();
            if done < measure_from || done >= end {
                continue;
            }
            match outcome {
                Ok((201, _)) => tally.created_us.push(micros(done - sent)),
                Ok((status, body)) => {
                    *tally.other.entry(status).or_default() += 1;
                    if tally.samples.len() < unexpected_samples_len_max {
                        tally.samples.push(format!("{status}: {}", String::from_utf8_lossy(&body)));
                    }
                }
                Err(error) => {
                    tally.transport_errors += 1;
                    if tally.samples.len() < unexpected_samples_len_max {
                        tally.samples.push(format!("transport: {error}"));
                    }
                }
            }
        }
        tally
    }

    fn next_index(&mut self) -> usize {
        if self.tokens.len() == 1 {
            return 0;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % self.tokens.len() as u64) as usize
    }
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// One human line per fact on stderr, and one `key=value` line on stdout for the driver script.
fn report(args: &RunArgs, mut total: ClientTally, cpu: CpuTicks) {
    let shape = match args.shape {
        Shape::Hot => "hot",
        Shape::Spread => "spread",
    };
    let created = total.created_us.len() as u64;
    let latencies = Latencies::from_unsorted(&mut total.created_us);
    let per_s = created / args.duration_s;
    let other: u64 = total.other.values().sum();
    eprintln!(
        "central {shape}: {created} charges created in {} s = {per_s}/s; {latencies}; \
         non-201 answers {other} {:?}, transport errors {}",
        args.duration_s, total.other, total.transport_errors
    );
    for sample in &total.samples {
        eprintln!("  unexpected answer: {sample}");
    }
    let ticks = |t: Option<u64>| t.map_or_else(|| "na".to_owned(), |t| t.to_string());
    println!(
        "shape={shape} clients={} duration_s={} created={created} per_s={per_s} {} non_201={other} \
         transport_errors={} loadgen_cpu_ticks={} central_cpu_ticks={} writer_cpu_ticks={} \
         central_disk_bytes={}",
        args.clients,
        args.duration_s,
        latencies.fields(),
        total.transport_errors,
        ticks(cpu.loadgen),
        ticks(cpu.central),
        ticks(cpu.writer),
        ticks(cpu.central_disk_bytes)
    );
}

//! What every load part shares: the HTTP client, reading the seed files, the window a request
//! counts in, a tally of answers, and the sidecar's `/metrics`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::stats::Latencies;

/// Longest a single request may take before it counts as a transport failure.
const request_timeout_s: u64 = 30;
/// Bodies of unexpected answers kept for the report.
const unexpected_samples_len_max: usize = 3;

/// One keep-alive connection per client, as in `load_charges`.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(request_timeout_s))
        .build()?)
}

/// The non-empty lines of `file` in the seed dir.
pub fn lines(seed_dir: &Path, file: &str) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(seed_dir.join(file)).with_context(|| format!("reading {file}"))?;
    let lines: Vec<String> = text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    anyhow::ensure!(!lines.is_empty(), "{file} is empty");
    Ok(lines)
}

/// `name=value` from the seed dir's `seed.txt`.
pub fn seed_field(seed_dir: &Path, name: &str) -> anyhow::Result<String> {
    lines(seed_dir, "seed.txt")?
        .iter()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
        .map(str::to_owned)
        .with_context(|| format!("seed.txt has no {name}"))
}

/// What one client saw in the measured window.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok_us: Vec<u64>,
    pub other: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub samples: Vec<String>,
}

impl Tally {
    pub fn unexpected(&mut self, status: u16, body: &[u8]) {
        *self.other.entry(status).or_default() += 1;
        if self.samples.len() < unexpected_samples_len_max {
            self.samples.push(format!("{status}: {}", String::from_utf8_lossy(body)));
        }
    }

    pub fn transport(&mut self, error: &dyn std::fmt::Display) {
        self.transport_errors += 1;
        if self.samples.len() < unexpected_samples_len_max {
            self.samples.push(format!("transport: {error}"));
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.ok_us.extend(other.ok_us);
        for (status, n) in other.other {
            *self.other.entry(status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        let room = unexpected_samples_len_max.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
    }

    /// Prints the human line and returns the `key=value` fields of the result.
    pub fn finish(mut self, label: &str, duration_s: u64) -> String {
        let ok = self.ok_us.len() as u64;
        let latencies = Latencies::from_unsorted(&mut self.ok_us);
        let per_s = ok / duration_s.max(1);
        let other: u64 = self.other.values().sum();
        eprintln!(
            "{label}: {ok} in {duration_s} s = {per_s}/s; {latencies}; unexpected answers {other} {:?}, \
             transport errors {}",
            self.other, self.transport_errors
        );
        for sample in &self.samples {
            eprintln!("  unexpected answer: {sample}");
        }
        format!(
            "ok={ok} per_s={per_s} {} unexpected={other} transport_errors={}",
            latencies.fields(),
            self.transport_errors
        )
    }
}

/// Whether an answer that arrived at `done` counts.
pub fn in_window(done: Instant, measure_from: Instant, end: Instant) -> bool {
    measure_from <= done && done < end
}

pub fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// The value of a sample without labels in Prometheus text, 0 when absent.
pub async fn metric(http: &reqwest::Client, metrics_url: &str, name: &str) -> anyhow::Result<i64> {
    let text = http.get(metrics_url).send().await?.error_for_status()?.text().await?;
    let value = text
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok());
    Ok(value.unwrap_or(0))
}

/// Name of the storage writer thread (`storage::writer`) in central and the sidecar.
const writer_thread_name: &str = "protus-writer";

/// Sleeps through the warm-up and the measured window and returns, as `key=value` fields, the
/// CPU time (clock ticks) used in the window by this load generator, by process `pid` and by
/// its writer thread, and the bytes `pid` wrote to disk in it.
pub async fn window_cpu(pid: Option<u32>, warmup: Duration, duration: Duration) -> String {
    let snapshot = || {
        [
            crate::stats::cpu_ticks("self"),
            pid.and_then(|p| crate::stats::cpu_ticks(&p.to_string())),
            pid.and_then(|p| crate::stats::thread_ticks(p, writer_thread_name)),
            pid.and_then(|p| crate::stats::disk_written(&p.to_string())),
        ]
    };
    tokio::time::sleep(warmup).await;
    let before = snapshot();
    tokio::time::sleep(duration).await;
    let after = snapshot();
    let used = |i: usize| match (before[i], after[i]) {
        (Some(b), Some(a)) => a.saturating_sub(b).to_string(),
        _ => "na".to_owned(),
    };
    format!(
        "loadgen_cpu_ticks={} server_cpu_ticks={} writer_cpu_ticks={} server_disk_bytes={}",
        used(0),
        used(1),
        used(2),
        used(3)
    )
}

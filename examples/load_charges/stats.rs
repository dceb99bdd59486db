//! Latency percentiles in integer microseconds (nearest rank), the same code for central's
//! answers and for pgbench's per-transaction log, and CPU time and disk writes read from /proc.

use std::path::PathBuf;

use anyhow::Context;

/// Count, p50, p99 and maximum of a set of latencies, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latencies {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Latencies {
    /// Sorts `values` and reads the nearest-rank percentiles.
    pub fn from_unsorted(values: &mut [u64]) -> Latencies {
        values.sort_unstable();
        let count = values.len() as u64;
        Latencies {
            count,
            p50_us: nearest_rank(values, 50),
            p99_us: nearest_rank(values, 99),
            max_us: values.last().copied().unwrap_or(0),
        }
    }

    /// `key=value` fields for the driver script.
    pub fn fields(&self) -> String {
        format!("p50_us={} p99_us={} max_us={}", self.p50_us, self.p99_us, self.max_us)
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p50 {} µs, p99 {} µs, max {} µs over {} answers", self.p50_us, self.p99_us, self.max_us, self.count)
    }
}

/// The smallest value with at least `percent` % of the values at or below it.
fn nearest_rank(sorted: &[u64], percent: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() as u64 * percent).div_ceil(100).max(1);
    sorted[usize::try_from(rank - 1).unwrap_or(0).min(sorted.len() - 1)]
}

/// User plus system CPU time of a process (`self` or a pid) in clock ticks, from /proc.
pub fn cpu_ticks(process: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
    // Fields after the parenthesised command name start at field 3 (state); utime is field 14.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Bytes a process (`self` or a pid) caused to be sent to the storage layer so far
/// (`write_bytes` of /proc/PID/io): its page writes, whenever they reach the disk.
pub fn disk_written(process: &str) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{process}/io")).ok()?;
    io.lines().find_map(|line| line.strip_prefix("write_bytes:")).and_then(|value| value.trim().parse().ok())
}

/// CPU time, in clock ticks, of the threads of `pid` named `name` (e.g. central's writer).
pub fn thread_ticks(pid: u32, name: &str) -> Option<u64> {
    let mut total = None;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let tid = task.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).ok();
        if comm.as_deref().map(str::trim_end) == Some(name) {
            let ticks = cpu_ticks(&format!("{pid}/task/{tid}"))?;
            total = Some(total.unwrap_or(0) + ticks);
        }
    }
    total
}

#[derive(Debug, clap::Args)]
pub struct PgbenchLogArgs {
    /// pgbench `--log` files (`client transaction latency_us script epoch_s epoch_us ...`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Prints the percentiles of the transactions pgbench logged as done.
pub fn pgbench_log(args: &PgbenchLogArgs) -> anyhow::Result<()> {
    let mut latencies = Vec::new();
    let mut not_done: u64 = 0;
    for file in &args.files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for line in text.lines() {
            match line.split_whitespace().nth(2).map(str::parse::<u64>) {
                Some(Ok(us)) => latencies.push(us),
                // "failed" or "skipped" in the latency column.
                Some(Err(_)) => not_done += 1,
                None => {}
            }
        }
    }
    let stats = Latencies::from_unsorted(&mut latencies);
    eprintln!("pgbench log: {stats}; not done {not_done}");
    println!("logged={} {} not_done={not_done}", stats.count, stats.fields());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        // Proves the percentile is the nearest rank: 1..=100 has p50 = 50 and p99 = 99.
        let mut values: Vec<u64> = (1..=100).rev().collect();
        let stats = Latencies::from_unsorted(&mut values);
        assert_eq!((stats.count, stats.p50_us, stats.p99_us, stats.max_us), (100, 50, 99, 100));
        assert_eq!(Latencies::from_unsorted(&mut [7]).p99_us, 7);
        assert_eq!(Latencies::from_unsorted(&mut []).p50_us, 0);
    }
}

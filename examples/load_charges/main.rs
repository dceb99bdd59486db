//! Load generator for central's durable charges, run by `benches/load.sh` against the release
//! binary (STYLE.md: performance is measured in benches, reported as same-run ratios, never
//! asserted by a test). `seed` fills a data dir before central starts; `run` drives
//! `POST /api/v1/billing/charges` with concurrent keep-alive clients; `pgbench-log` reads
//! pgbench's per-transaction log with the same percentile code. Results: BENCHMARKS.md.

#![allow(non_upper_case_globals)] // STYLE.md: bounds read as names, units last

mod drive;
mod seed;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Load generator for central's charges (driven by benches/load.sh)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill a fresh data dir with a company, funded wallets and access tokens (central stopped).
    Seed(seed::SeedArgs),
    /// Drive charges against a running central and print the results.
    Run(drive::RunArgs),
    /// Percentiles of pgbench `--log` files.
    PgbenchLog(stats::PgbenchLogArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Seed(args) => seed::seed(&args),
        Command::Run(args) => {
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(drive::run(&args))
        }
        Command::PgbenchLog(args) => stats::pgbench_log(&args),
    }
}

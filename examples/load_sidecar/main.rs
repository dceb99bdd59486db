//! Load generator for the sidecar, run by `benches/load_sidecar.sh` against the release binaries
//! (STYLE.md: performance is measured in benches, reported as same-run ratios, never asserted by
//! a test). Each subcommand is one part of the run; each prints human lines on stderr and one
//! `key=value` line on stdout for the script. What it measures and what it showed: BENCHMARKS.md,
//! "The sidecar". `seed` and `pgbench-log` are `load_charges`'s own code, shared by path.

#![allow(non_upper_case_globals)] // STYLE.md: bounds read as names, units last

mod authorize;
mod bare;
mod client;
mod conn;
mod holds;
mod proxy;
mod revoke;
#[path = "../load_charges/seed.rs"]
mod seed;
#[path = "../load_charges/stats.rs"]
mod stats;
mod tokens;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Load generator for the sidecar (driven by benches/load_sidecar.sh)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill a fresh central data dir (central stopped): `load_charges seed`.
    Seed(seed::SeedArgs),
    /// Percentiles of pgbench `--log` files: `load_charges pgbench-log`.
    PgbenchLog(stats::PgbenchLogArgs),
    /// Serve a fixed 200 with bare hyper, the baseline of the permission check.
    Bare(bare::BareArgs),
    /// A TCP proxy that delays every byte by a fixed time in each direction.
    Proxy(proxy::ProxyArgs),
    /// Drive `GET /api/v1/authorize` closed-loop or at a fixed rate.
    Authorize(authorize::AuthorizeArgs),
    /// Drive hold + capture pairs, closed-loop.
    Holds(holds::HoldsArgs),
    /// Check every token of a file once (the token cache's memory).
    Tokens(tokens::TokensArgs),
    /// Revoke tokens at central and time the first refusal at the sidecar.
    Revoke(revoke::RevokeArgs),
}

fn main() -> anyhow::Result<()> {
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match Cli::parse().command {
        Command::Seed(args) => seed::seed(&args),
        Command::PgbenchLog(args) => stats::pgbench_log(&args),
        Command::Bare(args) => runtime()?.block_on(bare::serve(&args)),
        Command::Proxy(args) => runtime()?.block_on(proxy::serve(&args)),
        Command::Authorize(args) => runtime()?.block_on(authorize::run(&args)),
        Command::Holds(args) => runtime()?.block_on(holds::run(&args)),
        Command::Tokens(args) => runtime()?.block_on(tokens::run(&args)),
        Command::Revoke(args) => runtime()?.block_on(revoke::run(&args)),
    }
}

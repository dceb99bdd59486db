//! The `protus` binary: parses the command line and runs one role.

mod cli;
mod demo;
mod shutdown;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: the writer thread spent ~18 % of its samples in glibc's
/// malloc and free (BENCHMARKS.md, load run 11). Its v2 line (Cargo.toml's `v2` feature): the
/// sidecar's pairs were 1.9 % faster and its peak smaller than with v3 (docs/design.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    telemetry::init(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("protus: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "protus stopped");
            eprintln!("protus: {error:#}");
            ExitCode::FAILURE
        }
    }
}

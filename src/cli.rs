//! Command line: `protus central [run flags]`, `protus central verify|rotate-key|backup`,
//! `protus sidecar [flags]`, `protus demo [flags]` and `protus demo partner [flags]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use protus::central::config::CentralConfig;
use protus::central::{admin, keyring, server};
use protus::sidecar::config::SidecarConfig;
use protus::sidecar::server as sidecar_server;
use protus::storage::StoreOptions;
use protus::storage::central::backup::{self, BackupReport};
use protus::storage::central::open::{CENTRAL_DB_FILE, open_central};
use protus::storage::central::verify::{VerifyReport, verify};
use protus::vocab::limits::{
    access_token_ttl_s_default, hold_sweep_interval_ms, key_prepublish_s_default, token_ttl_s_max, webhook_poll_ms,
    webhook_timeout_s,
};
use protus::vocab::money::{Amount, Currency};
use protus::vocab::secret::Secret;
use protus::vocab::time::SystemClock;

use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "protus", version, about = "PROTUS: one wallet for many internet services")]
pub struct Cli {
    /// Log as human-readable text or as JSON lines.
    #[arg(long, global = true, env = "PROTUS_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub role: Role,
}

#[derive(Debug, Subcommand)]
pub enum Role {
    /// Run the central node: authorization server, wallet ledger, partner API.
    Central(CentralCli),
    /// Run a sidecar next to a partner service: local token checks, synced with central.
    Sidecar(SidecarArgs),
    /// Run central, a sidecar and a demo partner app on localhost with seeded data.
    Demo(DemoCli),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DemoCli {
    #[command(subcommand)]
    pub command: Option<DemoCommand>,
    #[command(flatten)]
    pub run: DemoArgs,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Run only the demo partner app, against a central and a sidecar running as their own
    /// processes (deploy/docker-compose.yml); it seeds central on its first run and writes the
    /// sidecar's credentials to <data-dir>/sidecar.env.
    Partner(DemoPartnerArgs),
}

#[derive(Debug, Args)]
pub struct DemoPartnerArgs {
    /// Central's base URL as this process reaches it (browsers are sent to central's issuer URL).
    #[arg(long, env = "PROTUS_CENTRAL")]
    pub central: String,
    /// The sidecar's base URL.
    #[arg(long, env = "PROTUS_SIDECAR", default_value = "http://127.0.0.1:7070")]
    pub sidecar: String,
    /// Address to listen on.
    #[arg(long, env = "PROTUS_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// The partner's URL as browsers reach it; default http://<listen address>.
    #[arg(long, env = "PROTUS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The partner's URL as central reaches it, for webhooks; default the public URL.
    #[arg(long, env = "PROTUS_INTERNAL_URL")]
    pub internal_url: Option<String>,
    /// Where it keeps what it seeded (demo.json) and the sidecar's credentials (sidecar.env).
    #[arg(long, env = "PROTUS_DEMO_DATA_DIR", default_value = "./protus-demo-partner-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo keeps its data between runs.
    #[arg(long, env = "PROTUS_DEMO_DATA_DIR", default_value = "./protus-demo-data")]
    pub data_dir: PathBuf,
    /// Delete the demo's data first and seed it again.
    #[arg(long)]
    pub reset: bool,
    /// Address of central (the PROTUS node).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub central_listen: SocketAddr,
    /// Address of the partner's sidecar.
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub sidecar_listen: SocketAddr,
    /// Address of the demo partner web app ("Messages").
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub partner_listen: SocketAddr,
}

#[derive(Debug, Args)]
pub struct SidecarArgs {
    /// Central's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "PROTUS_CENTRAL")]
    pub central: String,
    /// The company's OAuth client id (used to enrol at first start).
    #[arg(long, env = "PROTUS_CLIENT_ID")]
    pub client_id: String,
    /// The company's OAuth client secret (prefer the environment variable to the flag).
    #[arg(long, env = "PROTUS_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// Address to listen on for HTTP; keep it on loopback, as anything reaching it acts for the company.
    #[arg(long, env = "PROTUS_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    /// Also serve on this unix socket (mode 0660), for partner apps on the same host.
    #[arg(long, env = "PROTUS_UNIX_SOCKET")]
    pub unix_socket: Option<PathBuf>,
    /// Where the sidecar's database lives.
    #[arg(long, env = "PROTUS_DATA_DIR", default_value = "./protus-sidecar-data")]
    pub data_dir: PathBuf,
    /// How much more than a hold or charge needs a new or renewed lease reserves at central.
    #[arg(long, env = "PROTUS_LEASE_CHUNK", default_value = "50.00")]
    pub lease_chunk: String,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CentralCli {
    #[command(subcommand)]
    pub command: Option<CentralCommand>,
    #[command(flatten)]
    pub run: CentralRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum CentralCommand {
    /// Check every ledger invariant over the whole database; exits 1 on any violation.
    /// Talks to the running central through its admin socket, or opens the file when none runs.
    Verify {
        /// Central's data directory.
        #[arg(long, env = "PROTUS_DATA_DIR", default_value = "./protus-data")]
        data_dir: PathBuf,
    },
    /// Publish a new signing key; it signs after the running central's pre-publication delay,
    /// and the old key stays published until its last token expires.
    RotateKey {
        /// Central's data directory.
        #[arg(long, env = "PROTUS_DATA_DIR", default_value = "./protus-data")]
        data_dir: PathBuf,
        /// Pre-publication delay when central is not running (a running central uses its own).
        #[arg(long, env = "PROTUS_KEY_PREPUBLISH_S", default_value_t = key_prepublish_s_default)]
        key_prepublish_s: i64,
    },
    /// Write a consistent copy of the database to a new file, while central keeps serving
    /// (through its admin socket), or directly from the file when central is not running.
    Backup {
        /// Central's data directory.
        #[arg(long, env = "PROTUS_DATA_DIR", default_value = "./protus-data")]
        data_dir: PathBuf,
        /// The file to write; it must not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct CentralRunArgs {
    /// Address to listen on for HTTP.
    #[arg(long, env = "PROTUS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Public base URL (the token issuer and the base of links); default http://<listen address>.
    #[arg(long, env = "PROTUS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Where the database and the admin socket live.
    #[arg(long, env = "PROTUS_DATA_DIR", default_value = "./protus-data")]
    pub data_dir: PathBuf,
    /// The wallets' currency (ISO 4217: RUB, USD, EUR, GBP, JPY).
    #[arg(long, env = "PROTUS_CURRENCY", default_value = "RUB")]
    pub currency: String,
    /// Enable the built-in `test` payment provider, which completes every top-up. It mints money:
    /// for demos and tests only.
    #[arg(long, env = "PROTUS_ENABLE_TEST_PROVIDER")]
    pub enable_test_provider: bool,
    /// Lifetime of issued access tokens in seconds (at most 86400).
    #[arg(long, env = "PROTUS_ACCESS_TOKEN_TTL_S", default_value_t = access_token_ttl_s_default)]
    pub access_token_ttl_s: i64,
    /// Seconds a rotated signing key is published before it signs (sidecars learn it meanwhile).
    #[arg(long, env = "PROTUS_KEY_PREPUBLISH_S", default_value_t = key_prepublish_s_default)]
    pub key_prepublish_s: i64,
    /// SMTP relay for outgoing mail, e.g. smtps://user:pass@mail.example:465; without it mail is
    /// written to <data-dir>/mail.log.
    #[arg(long, env = "PROTUS_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender of outgoing mail.
    #[arg(long, env = "PROTUS_MAIL_FROM", default_value = "PROTUS <no-reply@protus.localhost>")]
    pub mail_from: String,
    /// Deliver webhooks to loopback and private addresses too (refused by default against SSRF):
    /// for demos and tests on one machine.
    #[arg(long, env = "PROTUS_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// Seconds a lease lives after the sidecar's call that opened or renewed it (91 to 3600).
    #[arg(long, env = "PROTUS_LEASE_TTL_S", default_value_t = protus::vocab::limits::lease_ttl_s)]
    pub lease_ttl_s: u64,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.role {
        Role::Central(CentralCli { command: Some(CentralCommand::Verify { data_dir }), .. }) => {
            run_verify(&data_dir).await
        }
        Role::Central(CentralCli {
            command: Some(CentralCommand::RotateKey { data_dir, key_prepublish_s }), ..
        }) => run_rotate_key(&data_dir, key_prepublish_s).await,
        Role::Central(CentralCli { command: Some(CentralCommand::Backup { data_dir, to }), .. }) => {
            run_backup(&data_dir, &to).await
        }
        Role::Central(CentralCli { command: None, run }) => run_central(run).await,
        Role::Sidecar(args) => run_sidecar(args).await,
        Role::Demo(DemoCli { command: Some(DemoCommand::Partner(args)), .. }) => {
            let settings = crate::demo::standalone::StandaloneSettings {
                central: args.central,
                sidecar: args.sidecar,
                listen: args.listen,
                public_url: args.public_url,
                internal_url: args.internal_url,
                data_dir: args.data_dir,
            };
            crate::demo::standalone::run(settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        Role::Demo(DemoCli { command: None, run: args }) => {
            let settings = crate::demo::run::DemoSettings {
                data_dir: args.data_dir,
                reset: args.reset,
                central_listen: args.central_listen,
                sidecar_listen: args.sidecar_listen,
                partner_listen: args.partner_listen,
            };
            crate::demo::run::run(settings).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_central(args: CentralRunArgs) -> anyhow::Result<ExitCode> {
    let currency =
        Currency::parse(&args.currency).map_err(|_| anyhow::anyhow!("unknown currency {:?}", args.currency))?;
    let config = CentralConfig {
        listen: args.listen,
        public_url: args.public_url,
        data_dir: args.data_dir,
        currency,
        enable_test_provider: args.enable_test_provider,
        access_token_ttl_s: args.access_token_ttl_s,
        key_prepublish_s: args.key_prepublish_s,
        smtp_url: args.smtp_url,
        mail_from: args.mail_from,
        allow_private_webhooks: args.allow_private_webhooks,
        webhook_timeout_ms: webhook_timeout_s * 1000,
        webhook_poll_ms,
        hold_sweep_interval_ms,
        lease_ttl_s: args.lease_ttl_s,
    };
    let data_dir = config.data_dir.display().to_string();
    let central = server::start(config, Arc::new(SystemClock)).await?;
    tracing::info!(address = %central.addr, public_url = %central.public_url, data_dir = %data_dir, "central listening");
    let storage_failed = tokio::select! {
        () = crate::shutdown::signal() => false,
        () = central.storage_failed() => true,
    };
    if storage_failed {
        tracing::error!(
            "central is stopping because its storage failed; restart it to reopen and recover the database"
        );
    }
    central.shutdown().await?;
    if storage_failed {
        // Fail-stop (docs/design.md, "Storage failures"): the supervisor restarts central, and
        // reopening the database recovers it to its last durable commit.
        return Ok(ExitCode::from(STORAGE_FAILED_EXIT_CODE));
    }
    tracing::info!("central stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// Exit status of central after a storage failure: `EX_TEMPFAIL` of sysexits.h, "try again later".
const STORAGE_FAILED_EXIT_CODE: u8 = 75;

async fn run_sidecar(args: SidecarArgs) -> anyhow::Result<ExitCode> {
    let config = SidecarConfig {
        central: args.central,
        client_id: args.client_id,
        client_secret: Secret::new(args.client_secret),
        listen: args.listen,
        unix_socket: args.unix_socket,
        data_dir: args.data_dir,
        lease_chunk: parse_lease_chunk(&args.lease_chunk)?,
    };
    let data_dir = config.data_dir.display().to_string();
    let sidecar = sidecar_server::start(config, Arc::new(SystemClock)).await?;
    tracing::info!(address = %sidecar.addr, data_dir = %data_dir, "sidecar listening");
    crate::shutdown::signal().await;
    sidecar.shutdown().await?;
    tracing::info!("sidecar stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// `--lease-chunk`: a positive amount; its precision is checked against the currency when used.
fn parse_lease_chunk(text: &str) -> anyhow::Result<Amount> {
    let chunk = Amount::parse_stored(text).map_err(|e| anyhow::anyhow!("--lease-chunk {text:?}: {e}"))?;
    anyhow::ensure!(!chunk.is_zero(), "--lease-chunk must be more than zero");
    Ok(chunk)
}

async fn run_verify(data_dir: &Path) -> anyhow::Result<ExitCode> {
    let report = match admin::request_verify(data_dir).await.context("asking the running central")? {
        Some(answer) => answer.map_err(|e| anyhow::anyhow!(e))?,
        None => {
            let file = data_dir.join(CENTRAL_DB_FILE);
            anyhow::ensure!(file.exists(), "no central database at {} (wrong --data-dir?)", file.display());
            let dir = data_dir.to_owned();
            tokio::task::spawn_blocking(move || -> anyhow::Result<VerifyReport> {
                let store = open_central(&dir, &StoreOptions::default())?;
                let report = store.read_blocking(verify)?;
                store.close();
                Ok(report)
            })
            .await??
        }
    };
    println!(
        "checked {} transfers, {} ledger accounts, {} wallets, {} accounts, {} charges",
        report.transfers, report.ledger_accounts, report.wallets, report.accounts, report.charges
    );
    if report.violations.is_empty() {
        println!("ledger OK: every invariant holds");
        return Ok(ExitCode::SUCCESS);
    }
    for violation in &report.violations {
        println!("VIOLATION: {violation}");
    }
    Ok(ExitCode::from(1))
}

async fn run_rotate_key(data_dir: &Path, key_prepublish_s: i64) -> anyhow::Result<ExitCode> {
    let answer = match admin::request_rotate_key(data_dir).await.context("asking the running central")? {
        Some(answer) => answer.map_err(|e| anyhow::anyhow!(e))?,
        None => {
            let file = data_dir.join(CENTRAL_DB_FILE);
            anyhow::ensure!(file.exists(), "no central database at {} (wrong --data-dir?)", file.display());
            let dir = data_dir.to_owned();
            let store = tokio::task::spawn_blocking(move || open_central(&dir, &StoreOptions::default())).await??;
            let now = protus::vocab::time::Clock::now(&SystemClock);
            let rotated = keyring::rotate(&store, now, key_prepublish_s, token_ttl_s_max).await;
            tokio::task::spawn_blocking(move || store.close()).await?;
            let record = rotated?;
            serde_json::json!({ "kid": record.kid, "signs_from": record.signs_from.to_rfc3339() })
        }
    };
    println!(
        "new signing key {} published; it signs from {}",
        answer["kid"].as_str().unwrap_or_default(),
        answer["signs_from"].as_str().unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

async fn run_backup(data_dir: &Path, to: &Path) -> anyhow::Result<ExitCode> {
    // Central may run in another working directory: it is handed an absolute path.
    let to = std::path::absolute(to).with_context(|| format!("resolving {}", to.display()))?;
    let report = match admin::request_backup(data_dir, &to).await.context("asking the running central")? {
        Some(answer) => answer.map_err(|e| anyhow::anyhow!(e))?,
        None => {
            let file = data_dir.join(CENTRAL_DB_FILE);
            anyhow::ensure!(file.exists(), "no central database at {} (wrong --data-dir?)", file.display());
            let dir = data_dir.to_owned();
            tokio::task::spawn_blocking(move || -> anyhow::Result<BackupReport> {
                let store = open_central(&dir, &StoreOptions::default())?;
                let report = store.read_blocking(|reader| Ok(backup::write_copy(reader, &to)));
                store.close();
                Ok(report??)
            })
            .await??
        }
    };
    println!(
        "backup written to {}: {} tables, {} rows, {} bytes",
        report.path, report.tables, report.rows, report.bytes
    );
    Ok(ExitCode::SUCCESS)
}

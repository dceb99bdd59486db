//! `protus demo partner`: the demo partner "Messages" on its own, against a central and a sidecar
//! that run as their own processes (as in deploy/docker-compose.yml). On its first run it seeds
//! central as `protus demo` does, and it writes the company's credentials for the sidecar to
//! `<data-dir>/sidecar.env`, which the sidecar's start reads.

use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::sync::watch;

use crate::demo::partner::{self, PartnerSettings, PartnerUrls};
use crate::demo::run::create_private_dir;
use crate::demo::seed::{self, Seeded};

/// What `protus demo partner` is told on its command line.
#[derive(Debug, Clone)]
pub struct StandaloneSettings {
    /// Central's base URL as this process reaches it.
    pub central: String,
    /// The sidecar's base URL.
    pub sidecar: String,
    pub listen: SocketAddr,
    /// The partner's URL as browsers reach it; default `http://<listen address>`.
    pub public_url: Option<String>,
    /// The partner's URL as central reaches it (for webhooks); default the public URL.
    pub internal_url: Option<String>,
    pub data_dir: PathBuf,
}

/// The sidecar's credentials, as `KEY=value` lines a shell can source.
pub const SIDECAR_ENV_FILE: &str = "sidecar.env";

/// How long the partner waits for central to answer at start (compose starts them together).
const CENTRAL_WAIT: Duration = Duration::from_secs(60);

pub async fn run(settings: StandaloneSettings) -> anyhow::Result<()> {
    let dir = &settings.data_dir;
    create_private_dir(dir)?;
    let central_api = settings.central.trim_end_matches('/').to_owned();
    // Browsers go to central's public URL, which is its issuer (RFC 8414 metadata); this
    // process talks to `--central`, which may be an internal address.
    let issuer = issuer_of(&central_api).await?;
    let seeded = match seed::load(dir)? {
        Some(seeded) => seeded,
        None => seed::seed(&central_api, dir).await.context(
            "seeding central (if it already holds the demo company from an earlier run, restore this \
             data directory or start central with empty data)",
        )?,
    };
    let sidecar_env = write_sidecar_env(dir, &seeded)?;
    let listener =
        tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let base = match &settings.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", listener.local_addr()?),
    };
    let webhook_base = settings.internal_url.as_deref().map_or(base.as_str(), |u| u.trim_end_matches('/'));
    seed::point_at_partner(&central_api, &base, webhook_base).await.context("registering the partner's URLs")?;
    let sidecar = settings.sidecar.trim_end_matches('/').to_owned();
    let urls = PartnerUrls { base: base.clone(), central: issuer.clone(), central_api, sidecar: sidecar.clone() };
    let (stop, stopped) = watch::channel(false);
    let served = tokio::spawn(partner::serve(listener, PartnerSettings::new(&seeded, urls), stopped));
    tracing::info!(
        partner = %base, central = %issuer, sidecar = %sidecar, sidecar_env = %sidecar_env.display(),
        "demo partner ready"
    );

    crate::shutdown::signal().await;
    let _ = stop.send(true);
    served.await??;
    tracing::info!("demo partner stopped cleanly");
    Ok(())
}

/// Central's issuer from its authorization server metadata, asked until central answers.
async fn issuer_of(central_api: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let url = format!("{central_api}/.well-known/oauth-authorization-server");
    let deadline = tokio::time::Instant::now() + CENTRAL_WAIT;
    loop {
        let answered = match http.get(&url).send().await {
            Ok(response) if response.status().is_success() => response.json::<Value>().await.ok(),
            _ => None,
        };
        if let Some(issuer) = answered.as_ref().and_then(|m| m["issuer"].as_str()) {
            return Ok(issuer.to_owned());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "central did not answer at {url} within 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Writes `sidecar.env` (owner-only: it holds the client secret) by replacing it whole.
fn write_sidecar_env(dir: &Path, seeded: &Seeded) -> anyhow::Result<PathBuf> {
    let path = dir.join(SIDECAR_ENV_FILE);
    let partial = dir.join(format!("{SIDECAR_ENV_FILE}.partial"));
    let text = format!(
        "# Written by `protus demo partner`: the demo company's credentials for its sidecar.\n\
         PROTUS_CLIENT_ID={}\nPROTUS_CLIENT_SECRET={}\n",
        seeded.client_id, seeded.client_secret
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

//! Running the demo: start central, seed it on the first run, start the sidecar and the partner
//! app, print the walkthrough, and on Ctrl-C stop all three cleanly, partner first.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use protus::central::config::CentralConfig;
use protus::central::server as central_server;
use protus::sidecar::config::SidecarConfig;
use protus::sidecar::server as sidecar_server;
use protus::vocab::limits::{
    access_token_ttl_s_default, hold_sweep_interval_ms, key_prepublish_s_default, lease_ttl_s, webhook_poll_ms,
    webhook_timeout_s,
};
use protus::vocab::money::{Amount, Currency};
use protus::vocab::secret::Secret;
use protus::vocab::time::SystemClock;
use tokio::sync::watch;

use crate::demo::partner::{self, PartnerSettings, PartnerUrls};
use crate::demo::seed::{self, ADD_CUSTOMER, COMPANY_EMAIL, CUSTOMERS, DEMO_PASSWORD, LAUNCH_CAMPAIGN};

/// What `protus demo` is told on its command line.
#[derive(Debug, Clone)]
pub struct DemoSettings {
    pub data_dir: PathBuf,
    pub reset: bool,
    pub central_listen: SocketAddr,
    pub sidecar_listen: SocketAddr,
    pub partner_listen: SocketAddr,
}

/// Which central the sidecar's data dir is enrolled with, so a demo started on another central
/// address enrols a fresh sidecar instead of talking to the old address for ever.
const SIDECAR_CENTRAL_FILE: &str = "sidecar-central.txt";

pub async fn run(settings: DemoSettings) -> anyhow::Result<()> {
    let dir = &settings.data_dir;
    if settings.reset && dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    create_private_dir(dir)?;
    let seeded = seed::load(dir)?;
    anyhow::ensure!(
        seeded.is_some() || !dir.join("central").exists(),
        "{} holds a demo whose seeding did not finish; start over with --reset",
        dir.display()
    );
    let central = central_server::start(central_config(&settings), Arc::new(SystemClock)).await?;
    let central_url = central.public_url.clone();
    let seeded = match seeded {
        Some(seeded) => seeded,
        None => seed::seed(&central_url, dir).await.context("seeding the demo")?,
    };
    let partner_listener = tokio::net::TcpListener::bind(settings.partner_listen)
        .await
        .with_context(|| format!("binding {}", settings.partner_listen))?;
    let partner_base = format!("http://{}", partner_listener.local_addr()?);
    seed::point_at_partner(&central_url, &partner_base, &partner_base)
        .await
        .context("registering the partner's URLs")?;

    forget_sidecar_of_another_central(dir, &central_url)?;
    let sidecar_config = SidecarConfig {
        central: central_url.clone(),
        client_id: seeded.client_id.clone(),
        client_secret: Secret::new(seeded.client_secret.clone()),
        listen: settings.sidecar_listen,
        unix_socket: None,
        data_dir: dir.join("sidecar"),
        lease_chunk: Amount::parse_stored("50.00").map_err(|e| anyhow::anyhow!("lease chunk: {e}"))?,
    };
    let sidecar = sidecar_server::start(sidecar_config, Arc::new(SystemClock)).await?;
    let sidecar_url = format!("http://{}", sidecar.addr);
    wait_ready(&sidecar_url).await?;

    let partner_settings = PartnerSettings::new(
        &seeded,
        PartnerUrls {
            base: partner_base.clone(),
            central: central_url.clone(),
            central_api: central_url.clone(),
            sidecar: sidecar_url.clone(),
        },
    );
    let (stop, stopped) = watch::channel(false);
    let served = tokio::spawn(partner::serve(partner_listener, partner_settings, stopped));
    println!("{}", walkthrough(&central_url, &sidecar_url, &partner_base, dir));
    tracing::info!(central = %central_url, sidecar = %sidecar_url, partner = %partner_base, "demo ready");

    crate::shutdown::signal().await;
    let _ = stop.send(true);
    served.await??;
    sidecar.shutdown().await?;
    central.shutdown().await?;
    tracing::info!("demo stopped cleanly");
    Ok(())
}

fn central_config(settings: &DemoSettings) -> CentralConfig {
    CentralConfig {
        listen: settings.central_listen,
        public_url: None,
        data_dir: settings.data_dir.join("central"),
        currency: Currency::parse("RUB").expect("RUB is a known currency"),
        enable_test_provider: true,
        access_token_ttl_s: access_token_ttl_s_default,
        key_prepublish_s: key_prepublish_s_default,
        smtp_url: None,
        mail_from: "PROTUS demo <no-reply@protus.localhost>".to_owned(),
        allow_private_webhooks: true,
        webhook_timeout_ms: webhook_timeout_s * 1000,
        webhook_poll_ms,
        hold_sweep_interval_ms,
        lease_ttl_s,
    }
}

pub(crate) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

fn forget_sidecar_of_another_central(dir: &Path, central_url: &str) -> anyhow::Result<()> {
    let marker = dir.join(SIDECAR_CENTRAL_FILE);
    let enrolled_with = std::fs::read_to_string(&marker).ok();
    if enrolled_with.as_deref() != Some(central_url) {
        let sidecar_dir = dir.join("sidecar");
        if sidecar_dir.exists() {
            tracing::info!(central = %central_url, "central moved; the demo sidecar enrols again");
            std::fs::remove_dir_all(&sidecar_dir).with_context(|| format!("removing {}", sidecar_dir.display()))?;
        }
        std::fs::write(&marker, central_url).with_context(|| format!("writing {}", marker.display()))?;
    }
    Ok(())
}

async fn wait_ready(sidecar_url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(response) = http.get(format!("{sidecar_url}/readyz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the demo sidecar did not become ready within 30 s")
}

fn walkthrough(central: &str, sidecar: &str, partner: &str, dir: &Path) -> String {
    let [(ann, _, ann_money), (bob, _, bob_money)] = CUSTOMERS;
    let sign_in = format!(r#"{{"kind":"customer","email":"{ann}","password":"{DEMO_PASSWORD}"}}"#);
    let lines = [
        String::new(),
        format!("PROTUS demo is running (data in {}; Ctrl-C stops it, --reset starts over).", dir.display()),
        String::new(),
        format!("  Messages, the partner app   {partner}"),
        format!("  PROTUS central              {central}"),
        format!("  its sidecar (partner side)  {sidecar}"),
        String::new(),
        format!("Every account's password is {DEMO_PASSWORD}."),
        format!("  customers: {ann} has {ann_money} in the wallet, {bob} has {bob_money}"),
        format!(
            "  company:   {COMPANY_EMAIL} (Messages) sells \"{}\" at {} and \"{}\" at {}",
            ADD_CUSTOMER.0, ADD_CUSTOMER.1, LAUNCH_CAMPAIGN.0, LAUNCH_CAMPAIGN.1
        ),
        String::new(),
        "Walkthrough:".to_owned(),
        format!("  1. Open {partner} and click \"Sign in with PROTUS\"; sign in as {ann} and allow all."),
        "  2. Add a customer (2.00) and launch a campaign (10.00): each is charged through the sidecar,".to_owned(),
        "     and the charge.settled webhooks appear once central has booked them.".to_owned(),
        format!("  3. Revoke Messages' access as {ann} at PROTUS; the next action at Messages shows"),
        "     \"Access revoked\". With curl and jq:".to_owned(),
        format!("       T=$(curl -s {central}/api/v1/sessions -H 'content-type: application/json' \\"),
        format!("         -d '{sign_in}' | jq -r .token)"),
        format!(
            "       G=$(curl -s {central}/api/v1/me/grants -H \"Authorization: Bearer $T\" | jq -r '.items[0].id')"
        ),
        format!("       curl -s -X DELETE {central}/api/v1/me/grants/$G -H \"Authorization: Bearer $T\""),
        "  4. Sign in again and untick \"charge\": actions show \"Charges not allowed\" (the original 426).".to_owned(),
        format!("  5. Sign in as {bob} and launch a campaign: \"Insufficient funds\"."),
    ];
    lines.join("\n")
}

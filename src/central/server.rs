//! Starting and stopping central: open the store, bind the listener and the admin socket,
//! wire providers and routes, serve until told to stop, then close the database cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::routing::get;
use tokio::sync::watch;

use crate::central::config::CentralConfig;
use crate::central::providers::test_provider::TestProvider;
use crate::central::providers::{Providers, TopUpProvider};
use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Semaphore;

use crate::central::keyring::Keyring;
use crate::central::mail::Mailer;
use crate::central::mail::log_file::LogFileMailer;
use crate::central::mail::smtp::SmtpMailer;
use crate::central::state::{AppState, Limiters, OAuthSettings, SharedState};
use crate::central::webhooks::dispatcher::{self, DispatcherSettings};
use crate::central::{admin, hold_sweeper, openapi};
use crate::http::limits::with_listener_limits;
use crate::http::serve::serve;
use crate::http::trace::RequestLog;
use crate::storage::central::open::open_central;
use crate::storage::central::{oauth, sessions, settings, sidecars, top_ups};
use crate::storage::{Store, StoreOptions};
use crate::vocab::limits::{
    change_prune_batch_len_max, feed_retention_s, hold_ttl_s_max, lease_ttl_s_max, lease_ttl_s_min,
    password_hashing_concurrency_max, token_ttl_s_max,
};
use crate::vocab::money::Currency;
use crate::vocab::secret::Secret;
use crate::vocab::time::ClockHandle;

/// A central node serving on `addr` until `shutdown`.
#[derive(Debug)]
pub struct RunningCentral {
    pub addr: SocketAddr,
    pub public_url: String,
    pub state: SharedState,
    stop: watch::Sender<bool>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// Opens everything and starts serving.
pub async fn start(config: CentralConfig, clock: ClockHandle) -> anyhow::Result<RunningCentral> {
    create_private_dir(&config.data_dir)?;
    let data_dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || open_central(&data_dir, &StoreOptions::default())).await??;
    start_on_store(config, clock, store).await
}

/// `start` on a store the caller opened (fault-injection tests open one on a failing backend).
/// The data dir still holds the admin socket.
pub async fn start_on_store(config: CentralConfig, clock: ClockHandle, store: Store) -> anyhow::Result<RunningCentral> {
    create_private_dir(&config.data_dir)?;
    match serve_on(config, clock, store.clone()).await {
        Ok(running) => Ok(running),
        Err(error) => {
            // Release the database so a corrected start can open it at once.
            tokio::task::spawn_blocking(move || store.close()).await?;
            Err(error)
        }
    }
}

async fn serve_on(config: CentralConfig, clock: ClockHandle, store: Store) -> anyhow::Result<RunningCentral> {
    check_currency(&store, config.currency).await?;
    let admin_listener = admin::bind(&config.data_dir).context("binding the admin socket")?;
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let public_url =
        config.public_url.clone().unwrap_or_else(|| format!("http://{addr}")).trim_end_matches('/').to_owned();
    let providers = providers(&config, &store, addr, clock.clone()).await?;
    anyhow::ensure!(
        (1..=token_ttl_s_max).contains(&config.access_token_ttl_s),
        "--access-token-ttl-s must be between 1 and {token_ttl_s_max}"
    );
    anyhow::ensure!(
        (0..=hold_ttl_s_max).contains(&config.key_prepublish_s),
        "--key-prepublish-s must be between 0 and {hold_ttl_s_max} seconds"
    );
    anyhow::ensure!(
        (lease_ttl_s_min..=lease_ttl_s_max).contains(&config.lease_ttl_s),
        "--lease-ttl-s must be between {lease_ttl_s_min} and {lease_ttl_s_max}"
    );
    let keyring = Keyring::load(&store, clock.now()).await?;
    let csrf_key = store
        .write(|tx| settings::get_or_create(tx, "csrf_key", || Secret::generate("csrf_").expose().to_owned()))
        .await?;
    let mailer: Arc<dyn Mailer> = match &config.smtp_url {
        Some(url) => Arc::new(SmtpMailer::new(url, &config.mail_from)?),
        None => Arc::new(LogFileMailer::new(config.data_dir.join("mail.log"))),
    };
    let state: SharedState = Arc::new(AppState {
        store: store.clone(),
        clock: clock.clone(),
        currency: config.currency,
        https: public_url.starts_with("https://"),
        public_url: public_url.clone(),
        providers,
        in_flight: Mutex::new(HashSet::new()),
        hashing: Semaphore::new(password_hashing_concurrency_max),
        keyring,
        oauth: OAuthSettings {
            access_token_ttl_s: config.access_token_ttl_s,
            key_prepublish_s: config.key_prepublish_s,
        },
        limiters: Limiters::default(),
        mailer,
        csrf_key: Secret::new(csrf_key),
        allow_private_webhooks: config.allow_private_webhooks,
        lease_ttl_s: config.lease_ttl_s,
    });

    let (routes, document) = openapi::routes_with_document();
    let document = Arc::new(document);
    let app = routes
        .route("/openapi.json", get(move || async move { Json(document.as_ref().clone()) }))
        .route("/healthz", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .merge(crate::central::web::site::router())
        .with_state(state.clone());
    let app = with_listener_limits(app, RequestLog::Info)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::central::web::site::html_not_found));

    let (stop, _) = watch::channel(false);
    let served = tokio::spawn(serve(listener, app, stop.subscribe()));
    resume_pending_top_ups(&state).await?;
    let mut background = vec![
        tokio::spawn(admin::serve(admin_listener, state.clone())),
        tokio::spawn(hold_sweeper::run(
            store.clone(),
            clock.clone(),
            config.currency,
            Duration::from_millis(config.hold_sweep_interval_ms),
        )),
        tokio::spawn(housekeeping(store, clock)),
    ];
    let webhooks = DispatcherSettings {
        timeout: Duration::from_millis(config.webhook_timeout_ms),
        allow_private: config.allow_private_webhooks,
        poll: Duration::from_millis(config.webhook_poll_ms),
    };
    background.push(tokio::spawn(dispatcher::run(state.store.clone(), state.clock.clone(), webhooks)));
    Ok(RunningCentral { addr, public_url, state, stop, served, background })
}

/// The data dir holds the database and the admin socket: owner-only when central creates it.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating data dir {}", dir.display()))?;
    }
    Ok(())
}

/// The currency is fixed at the first start: every stored amount is in it.
async fn check_currency(store: &Store, currency: Currency) -> anyhow::Result<()> {
    let code = currency.code();
    let stored = store.write(move |tx| settings::get_or_create(tx, "currency", || code.to_owned())).await?;
    anyhow::ensure!(
        stored == code,
        "this data dir keeps amounts in {stored}; it cannot be started with --currency {code}"
    );
    Ok(())
}

/// An address a local client can connect to: loopback instead of the unspecified address.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

async fn providers(
    config: &CentralConfig,
    store: &Store,
    addr: SocketAddr,
    clock: ClockHandle,
) -> anyhow::Result<Providers> {
    let mut enabled: Vec<Arc<dyn TopUpProvider>> = Vec::new();
    if config.enable_test_provider {
        let key = store
            .write(|tx| {
                settings::get_or_create(tx, "provider_key:test", || Secret::generate("tpk_").expose().to_owned())
            })
            .await?;
        // The test provider calls central where it listens (loopback when it listens everywhere).
        let callback_base = format!("http://{}", reachable(addr));
        enabled.push(Arc::new(TestProvider::new(Secret::new(key), &callback_base, config.currency, clock)));
        tracing::warn!("the test payment provider is enabled: it mints money on request");
    }
    Ok(Providers::new(enabled))
}

/// A provider that lives in this process lost its in-flight callbacks if central stopped;
/// asking it again is safe because completing a top-up is idempotent.
async fn resume_pending_top_ups(state: &SharedState) -> anyhow::Result<()> {
    let Some(provider) = state.providers.by_name("test").cloned() else { return Ok(()) };
    let pending = state.store.read(|r| top_ups::pending(r, "test")).await?;
    if !pending.is_empty() {
        tracing::info!(count = pending.len(), "resuming pending test top-ups");
    }
    for top_up in &pending {
        provider.start(top_up);
    }
    Ok(())
}

/// Hourly housekeeping: expired sessions, revoked token ids past their expiry, stale
/// authorization requests and codes, and the change log older than the feed keeps (a sidecar
/// whose cursor is older gets 410 and takes a new snapshot).
async fn housekeeping(store: Store, clock: ClockHandle) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        let now = clock.now();
        let pruned =
            store.write(move |tx| Ok(sessions::prune_expired(tx, now)? + oauth::prune_expired(tx, now)?)).await;
        match pruned {
            Ok(pruned) => tracing::debug!(pruned, "expired records pruned"),
            Err(error) => tracing::warn!(error = %error, "housekeeping failed"),
        }
        let before = now.minus_s(feed_retention_s);
        loop {
            let pruned = store.write(move |tx| sidecars::prune_changes(tx, before, change_prune_batch_len_max)).await;
            match pruned {
                Ok(pruned) if pruned == change_prune_batch_len_max => continue,
                Ok(pruned) => {
                    tracing::debug!(pruned, "old changes pruned from the feed");
                    break;
                }
                Err(error) => {
                    tracing::warn!(error = %error, "pruning the change log failed");
                    break;
                }
            }
        }
    }
}

impl RunningCentral {
    /// Resolves once the store failed a write so that only reopening the database repairs it
    /// (see "Storage failures" in docs/design.md); `protus central` then stops with an error.
    pub async fn storage_failed(&self) {
        self.state.store.failed().await
    }

    /// Stops accepting, drains in-flight requests, stops background work and closes the database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.served.await??;
        for task in &self.background {
            task.abort();
        }
        for task in self.background {
            let _ = task.await;
        }
        let store = self.state.store.clone();
        drop(self.state);
        tokio::task::spawn_blocking(move || store.close()).await?;
        Ok(())
    }
}

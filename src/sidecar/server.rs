//! Starting and stopping a sidecar: open its database, load what it knew, listen, start the sync
//! task, serve until told to stop, then close the database cleanly.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::routing::get;
use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::http::limits::with_listener_limits;
use crate::http::serve::serve;
use crate::http::trace::RequestLog;
use crate::sidecar::client::{CentralClient, ClientCredentials};
use crate::sidecar::config::SidecarConfig;
use crate::sidecar::local::Local;
use crate::sidecar::state::{Clocks, SharedState, SidecarState};
use crate::sidecar::{leases, openapi, sync, usage, verified_tokens};
use crate::storage::sidecar::answers::Answers;
use crate::storage::sidecar::open::open_sidecar;
use crate::storage::sidecar::{money, sync_state, tokens};
use crate::storage::{Store, StoreOptions};
use crate::vocab::ids::CompanyId;
use crate::vocab::limits::{sidecar_db_cache_bytes_max, token_cache_len_max, usage_final_flush_s};
use crate::vocab::mono::{MonoHandle, SystemMono, boot_id};
use crate::vocab::time::ClockHandle;

/// A sidecar serving on `addr`.
#[derive(Debug)]
pub struct RunningSidecar {
    pub addr: SocketAddr,
    pub state: SharedState,
    stop: watch::Sender<bool>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    served_unix: Option<(PathBuf, tokio::task::JoinHandle<std::io::Result<()>>)>,
    sync: tokio::task::JoinHandle<()>,
    keeper: tokio::task::JoinHandle<()>,
    flusher: tokio::task::JoinHandle<()>,
    recorder: tokio::task::JoinHandle<()>,
}

/// Opens the data dir, loads the stored state and starts serving and syncing, with deadlines
/// on the machine's monotonic clock.
pub async fn start(config: SidecarConfig, clock: ClockHandle) -> anyhow::Result<RunningSidecar> {
    start_with_mono(config, clock, Arc::new(SystemMono)).await
}

/// [`start`] with a chosen monotonic clock (tests move a manual one).
pub async fn start_with_mono(
    config: SidecarConfig,
    clock: ClockHandle,
    mono: MonoHandle,
) -> anyhow::Result<RunningSidecar> {
    // Owner-only: the database holds the sidecar's secret.
    if !config.data_dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    }
    let dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || {
        open_sidecar(&dir, &StoreOptions { cache_bytes: sidecar_db_cache_bytes_max, ..StoreOptions::default() })
    })
    .await??;
    match serve_on(config, clock, mono, store.clone()).await {
        Ok(running) => Ok(running),
        Err(error) => {
            tokio::task::spawn_blocking(move || store.close()).await?;
            Err(error)
        }
    }
}

async fn serve_on(
    config: SidecarConfig,
    clock: ClockHandle,
    mono: MonoHandle,
    store: Store,
) -> anyhow::Result<RunningSidecar> {
    let client = CentralClient::new(&config.central)?;
    let loaded = store.read(sync_state::load).await.context("loading the sidecar's state")?;
    let boot = boot_id();
    if store.write(move |tx| money::adopt_boot(tx, &boot)).await.context("adopting this boot")? {
        tracing::warn!("the machine rebooted since the last run: every lease counts as past its deadline");
    }
    let company = match &loaded.enrolment {
        Some(me) => Some(CompanyId::parse(&me.company_id).map_err(|_| anyhow::anyhow!("stored enrolment is corrupt"))?),
        None => None,
    };
    let credentials = ClientCredentials { id: config.client_id, secret: config.client_secret };
    let local = Local::from_loaded(&loaded);
    let reading = store.clone();
    let answers =
        tokio::task::spawn_blocking(move || Answers::load(&reading)).await?.context("loading the stored answers")?;
    let clocks = Clocks { wall: clock, mono };
    let state =
        Arc::new(SidecarState::new(store, answers, clocks, client.clone(), credentials, local, config.lease_chunk));
    if let Some(company) = company {
        let _ = state.company.set(company);
    }
    if let Some(me) = &loaded.enrolment {
        let _ = state.enrolment.set(me.clone());
    }
    let now_s = state.now().unix_s();
    let verified = state.store.read(move |r| tokens::load(r, now_s, token_cache_len_max)).await?;
    let warmed = verified.len();
    for (digest, claims) in verified {
        state.cache.warm(digest, claims);
    }
    if let Some(cursor) = loaded.cursor {
        state.metrics.cursor.store(cursor, Ordering::Relaxed);
    }
    tracing::info!(
        enrolled = loaded.enrolment.is_some(),
        cursor = loaded.cursor,
        ready = state.is_ready(),
        warm_tokens = warmed,
        "sidecar state loaded"
    );

    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let unix_listener = match &config.unix_socket {
        Some(path) => Some((path.clone(), bind_unix(path).await?)),
        None => None,
    };
    let (routes, document) = openapi::routes_with_document();
    let document = Arc::new(document);
    let app = routes
        .route("/openapi.json", get(move || async move { Json(document.as_ref().clone()) }))
        .with_state(state.clone());
    let app = with_listener_limits(app, RequestLog::Debug);

    let (stop, _) = watch::channel(false);
    let served_unix =
        unix_listener.map(|(path, listener)| (path, tokio::spawn(serve(listener, app.clone(), stop.subscribe()))));
    let start = sync::Start { enrolment: loaded.enrolment, cursor: loaded.cursor };
    let sync = tokio::spawn(sync::run(state.clone(), client, start, stop.subscribe()));
    let keeper = tokio::spawn(leases::keep(state.clone(), stop.subscribe()));
    let flusher = tokio::spawn(usage::flush(state.clone(), stop.subscribe()));
    let recorder = tokio::spawn(verified_tokens::record(state.clone(), stop.subscribe()));
    let served = tokio::spawn(serve(listener, app, stop.subscribe()));
    Ok(RunningSidecar { addr, state, stop, served, served_unix, sync, keeper, flusher, recorder })
}

/// Binds the unix socket at `path` (mode 0660). A socket file left by a sidecar that died is
/// replaced; one that still answers belongs to a running process and is an error.
async fn bind_unix(path: &Path) -> anyhow::Result<UnixListener> {
    if tokio::net::UnixStream::connect(path).await.is_ok() {
        anyhow::bail!("{} is in use by another process", path.display());
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => anyhow::bail!("{} exists and is not a socket", path.display()),
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

impl RunningSidecar {
    /// Stops accepting requests, finishes those in flight, stops syncing, reports what usage it
    /// can within `usage_final_flush_s`, and closes the database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.served.await??;
        if let Some((path, served)) = self.served_unix {
            served.await??;
            let _ = std::fs::remove_file(path);
        }
        let _ = self.sync.await;
        let _ = self.keeper.await;
        let _ = self.flusher.await;
        let _ = self.recorder.await;
        usage::final_flush(&self.state, Duration::from_secs(usage_final_flush_s)).await;
        let store = self.state.store.clone();
        drop(self.state);
        tokio::task::spawn_blocking(move || store.close()).await?;
        Ok(())
    }
}

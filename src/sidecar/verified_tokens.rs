//! Records the tokens the cache newly verified (digests and claims) off the request path, once
//! a second and at shutdown, and drops expired ones now and then; `server` loads them at start
//! to warm the cache.

use std::time::Duration;

use tokio::sync::watch;

use crate::sidecar::state::SharedState;
use crate::storage::sidecar::tokens;
use crate::vocab::limits::sync_prune_interval_s;

/// Runs until `stop` turns true, then records what is left.
pub async fn record(state: SharedState, mut stop: watch::Receiver<bool>) {
    let mut next_prune = tokio::time::Instant::now();
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        let fresh: Vec<_> =
            state.cache.take_fresh().into_iter().map(|(digest, claims)| (digest, (*claims).clone())).collect();
        if !fresh.is_empty() {
            if let Err(error) = state.store.write(move |tx| tokens::record(tx, &fresh)).await {
                tracing::warn!(error = %error, "recording verified tokens failed; they will be verified again after a restart");
            }
        }
        if tokio::time::Instant::now() >= next_prune {
            next_prune = tokio::time::Instant::now() + Duration::from_secs(sync_prune_interval_s);
            let now_s = state.now().unix_s();
            if let Err(error) = state.store.write(move |tx| tokens::prune(tx, now_s)).await {
                tracing::warn!(error = %error, "pruning expired verified tokens failed");
            }
        }
        if stopping {
            return;
        }
    }
}

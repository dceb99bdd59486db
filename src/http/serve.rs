//! Serving a role's router on a listener, one HTTP/1 connection per task, with the per-connection
//! limit `axum::serve` cannot set: a request head must arrive within `header_read_timeout_s`, so
//! silent, slow (slowloris) and half-open clients are let go instead of holding a socket for ever.

use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::vocab::limits::header_read_timeout_s;

/// Serves `router` on `listener` until `stop` turns true (or its sender is gone), then stops
/// accepting, lets each connection finish the request it is serving, and returns once all are
/// closed. Every request carries `ConnectInfo` of its peer's address.
pub async fn serve<L>(mut listener: L, router: Router, stop: watch::Receiver<bool>) -> std::io::Result<()>
where
    L: Listener,
    L::Addr: Clone + Send + Sync + 'static,
{
    // Each connection task holds a receiver; `closed` resolves once the last one is dropped.
    let (all_closed, open) = watch::channel(());
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(stop.clone()) => break,
        };
        let (router, stop, open) = (router.clone(), stop.clone(), open.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer.clone()));
                router.clone().oneshot(request.map(axum::body::Body::new))
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(header_read_timeout_s))
                .serve_connection(TokioIo::new(io), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stopped(stop) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(open);
        });
    }
    drop(open);
    all_closed.closed().await;
    Ok(())
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

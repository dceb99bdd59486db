//! Fault injection (issue 8): a slowloris client holds hundreds of connections to a real central
//! and a real sidecar process — silent ones, ones that dribble a request head byte by byte, and
//! half-closed ones — while ordinary requests keep being answered, and the servers close the
//! slow connections themselves (their header read timeout, docs/design.md "Listeners").

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::child::ChildCentral;
use crate::sidecar_support::ChildSidecar;

/// Slow connections opened to each server.
const SLOW_PER_SERVER: usize = 300;
/// How long the test waits for a server to close its slow connections: a correctness bound
/// (without a header read timeout they stay open for ever), not a performance figure.
const CLOSED_WITHIN: Duration = Duration::from_secs(90);
/// The deadline of one ordinary request: it must be answered, however slowly.
const ANSWERED_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
enum Slow {
    /// Connects and sends nothing.
    Silent,
    /// Sends a request head one byte a second, never finishing it.
    Dribble,
    /// Sends half a request head and shuts its writing side down.
    HalfClosed,
}

/// Reads until the server closes the connection (end of stream or reset).
async fn until_closed(reader: &mut (impl AsyncReadExt + Unpin)) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

/// Opens one slow connection and returns once the server has closed it.
async fn slow_connection(addr: SocketAddr, kind: Slow) {
    let stream = TcpStream::connect(addr).await.expect("the listener accepts a connection");
    // A connection the server never took from its accept queue, or has forgotten, looks open for
    // ever to a client that sends nothing. Keepalive probes get a reset from such a server, while
    // a connection the server holds answers them, so still only the server's close ends it.
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(5))
        .with_interval(Duration::from_secs(1))
        .with_retries(3);
    socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive).expect("keepalive");
    let (mut reader, mut writer) = stream.into_split();
    match kind {
        Slow::Silent => until_closed(&mut reader).await,
        Slow::HalfClosed => {
            writer.write_all(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n").await.expect("write");
            writer.shutdown().await.expect("half-close");
            until_closed(&mut reader).await;
        }
        Slow::Dribble => {
            let head = b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: ";
            let dribble = async {
                for n in 0.. {
                    let byte = head.get(n).copied().unwrap_or(b'a');
                    if writer.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            };
            tokio::select! {
                () = dribble => {}
                () = until_closed(&mut reader) => {}
            }
        }
    }
}

/// Opens `SLOW_PER_SERVER` slow connections of every kind to `addr`, counting those still open
/// in `open`; the task ends when the server has closed them all.
fn slowloris(addr: SocketAddr, open: Arc<[AtomicUsize; 3]>) -> tokio::task::JoinHandle<()> {
    for kind in open.iter() {
        kind.fetch_add(SLOW_PER_SERVER / 3, Ordering::SeqCst);
    }
    tokio::spawn(async move {
        let kinds = [Slow::Silent, Slow::Dribble, Slow::HalfClosed];
        let mut connections = Vec::with_capacity(SLOW_PER_SERVER);
        for n in 0..SLOW_PER_SERVER {
            let open = open.clone();
            connections.push(tokio::spawn(async move {
                slow_connection(addr, kinds[n % kinds.len()]).await;
                open[n % kinds.len()].fetch_sub(1, Ordering::SeqCst);
            }));
            // Opened over about 1.5 s rather than in one burst, as slow clients arrive.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for connection in connections {
            connection.await.expect("slow connection task");
        }
    })
}

fn socket_addr(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().expect("a socket address")
}

/// A company at central; its client id and secret.
async fn company(http: &reqwest::Client, central: &str) -> (String, String) {
    let registered: Value = http
        .post(format!("{central}/api/v1/companies"))
        .json(&json!({"name": "Slow Co", "email": "ops@slow.io", "password": "company pass"}))
        .send()
        .await
        .expect("central answers")
        .json()
        .await
        .expect("json");
    let field = |name: &str| registered[name].as_str().unwrap_or_else(|| panic!("no {name}: {registered}")).to_owned();
    (field("client_id"), field("client_secret"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_slow_and_half_open_connections_neither_starve_the_listeners_nor_stay_open() {
    // Proves that with 300 slow connections each held against a central and a sidecar process, fresh requests to both are still answered, and both servers close every slow connection on their own.
    let (central_dir, sidecar_dir) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let central = ChildCentral::start(central_dir.path());
    // A fresh connection per request, so every ordinary request goes through the listener.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).timeout(ANSWERED_WITHIN).build().expect("client");
    let client = company(&http, &central.base).await;
    let sidecar = ChildSidecar::start(&central.base, (&client.0, &client.1), sidecar_dir.path());
    let (status, body) = sidecar.wait_for("/readyz", None, 200, Duration::from_secs(10)).await;
    assert_eq!(status, 200, "{body}");

    let started = Instant::now();
    let (at_central, at_sidecar): (Arc<[AtomicUsize; 3]>, Arc<[AtomicUsize; 3]>) = (Arc::default(), Arc::default());
    let slow = [
        slowloris(socket_addr(&central.base), at_central.clone()),
        slowloris(socket_addr(&sidecar.base), at_sidecar.clone()),
    ];
    let ordinary = [
        format!("{}/healthz", central.base),
        format!("{}/.well-known/jwks.json", central.base),
        format!("{}/readyz", sidecar.base),
        format!("{}/healthz", sidecar.base),
    ];
    let mut answered = 0;
    while !slow.iter().all(tokio::task::JoinHandle::is_finished) {
        assert!(
            started.elapsed() < CLOSED_WITHIN,
            "after {CLOSED_WITHIN:?} central still holds {:?} and the sidecar {:?} (silent, dribbling, half-closed) of {SLOW_PER_SERVER} slow connections each",
            at_central.iter().map(|n| n.load(Ordering::SeqCst)).collect::<Vec<_>>(),
            at_sidecar.iter().map(|n| n.load(Ordering::SeqCst)).collect::<Vec<_>>(),
        );
        for url in &ordinary {
            let response =
                http.get(url).send().await.unwrap_or_else(|e| panic!("{url} unanswered under slowloris: {e}"));
            assert_eq!(response.status(), 200, "{url}");
            answered += 1;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for task in slow {
        task.await.expect("slowloris task");
    }
    eprintln!("{answered} ordinary requests answered; slow connections closed after {:?}", started.elapsed());
    assert!(answered >= ordinary.len(), "no ordinary request was made while the slow connections were open");
    // Both servers still serve and stop cleanly afterwards.
    for url in &ordinary {
        assert_eq!(http.get(url).send().await.expect("answered").status(), 200, "{url}");
    }
    assert!(sidecar.terminate().success());
    assert!(central.terminate().success());
}

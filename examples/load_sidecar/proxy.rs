//! `proxy`: a TCP proxy that holds every chunk for a fixed delay in each direction before
//! passing it on, in order — the distance between a partner and central (or a sidecar and
//! central) in the delayed part of the run.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Chunks in flight per direction of one connection; a full queue stops reading (backpressure).
const chunks_in_flight_max: usize = 1024;
/// Bytes read per chunk.
const chunk_bytes_max: usize = 16 * 1024;

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// Where to listen; the bound address is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Where every connection goes, e.g. 127.0.0.1:41234.
    #[arg(long)]
    pub upstream: String,
    /// Delay added to every chunk, in each direction, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub delay_ms: u64,
}

pub async fn serve(args: &ProxyArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&args.listen).await?;
    println!("{}", listener.local_addr()?);
    eprintln!("proxy on {} to {}, {} ms each way", listener.local_addr()?, args.upstream, args.delay_ms);
    let delay = Duration::from_millis(args.delay_ms);
    loop {
        let (downstream, _) = listener.accept().await?;
        let upstream = args.upstream.clone();
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(&upstream).await else { return };
            let _ = (downstream.set_nodelay(true), upstream.set_nodelay(true));
            let (down_read, down_write) = downstream.into_split();
            let (up_read, up_write) = upstream.into_split();
            tokio::join!(pipe(down_read, up_write, delay), pipe(up_read, down_write, delay));
        });
    }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read; the delays of chunks
/// overlap (a deadline per chunk), so the delay adds latency, not a bandwidth limit.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (sender, mut receiver) = mpsc::channel::<(Instant, Vec<u8>)>(chunks_in_flight_max);
    let reader = async move {
        let mut buf = vec![0u8; chunk_bytes_max];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 || sender.send((Instant::now() + delay, buf[..n].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

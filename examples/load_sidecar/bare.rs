//! `bare`: a bare hyper HTTP/1.1 server answering every request with a fixed 200 and a JSON body
//! the size of the sidecar's permission answer — the ceiling the permission check is compared
//! with (same machine, same client, same run).

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::Full;
use hyper::body::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// About the size of the sidecar's `200 {account_id, scope, exp}`.
const fixed_body: &[u8] =
    br#"{"account_id":"acc_00000000000000000000000000","scope":"check hold charge","exp":1800000000}"#;
/// Bytes read from the socket per poll.
const read_chunk_bytes: usize = 8 * 1024;

#[derive(Debug, clap::Args)]
pub struct BareArgs {
    /// Where to listen; the bound address is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
}

pub async fn serve(args: &BareArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&args.listen).await?;
    println!("{}", listener.local_addr()?);
    eprintln!("bare hyper server listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_request| async {
                let mut answer = hyper::Response::new(Full::new(Bytes::from_static(fixed_body)));
                answer
                    .headers_mut()
                    .insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
                Ok::<_, std::convert::Infallible>(answer)
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(Io(stream), service).await;
        });
    }
}

/// tokio's socket as hyper's IO (what `hyper_util::rt::TokioIo` does, without its `unsafe`:
/// reads go through a stack buffer and `put_slice`).
struct Io(TcpStream);

impl hyper::rt::Read for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let mut local = [0u8; read_chunk_bytes];
        let len = buf.remaining().min(read_chunk_bytes);
        let mut read = ReadBuf::new(&mut local[..len]);
        match Pin::new(&mut self.0).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(read.filled());
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl hyper::rt::Write for Io {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

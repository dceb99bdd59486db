//! One keep-alive HTTP/1.1 connection on hyper's client, for a load loop. It spends less of the
//! machine's two cores than a pooled client does per request (no pool, no URL parsing, no
//! redirect policy), so the run measures the server more and itself less. It reconnects on the
//! next request after an error.

use std::time::Duration;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest a single request may take before it counts as a transport failure.
const request_timeout_s: u64 = 30;

#[derive(Debug)]
pub struct Conn {
    /// `host:port` of the server.
    authority: String,
    host: HeaderValue,
    bearer: Option<HeaderValue>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// A connection to `base_url` (`http://host:port`, no path), opened at the first request;
    /// every request carries `bearer` when given.
    pub fn new(base_url: &str, bearer: Option<&str>) -> anyhow::Result<Conn> {
        let authority = base_url
            .strip_prefix("http://")
            .with_context(|| format!("{base_url}: only http:// URLs are driven"))?
            .trim_end_matches('/')
            .to_owned();
        anyhow::ensure!(!authority.contains('/'), "{base_url}: give the server's base URL, without a path");
        let bearer = bearer.map(|token| HeaderValue::try_from(format!("Bearer {token}"))).transpose()?;
        Ok(Conn { host: HeaderValue::try_from(authority.as_str())?, authority, bearer, sender: None })
    }

    /// POSTs a JSON `body` to `path` with one extra header; returns the status and the body.
    pub async fn post(
        &mut self,
        path: &str,
        header: (HeaderName, &str),
        body: &'static str,
    ) -> anyhow::Result<(u16, Bytes)> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(header.0, header.1);
        if let Some(bearer) = &self.bearer {
            request = request.header(AUTHORIZATION, bearer.clone());
        }
        let request = request.body(Full::new(Bytes::from_static(body.as_bytes())))?;
        let answer = tokio::time::timeout(Duration::from_secs(request_timeout_s), self.send(request)).await;
        let answer = answer.map_err(|_| anyhow::anyhow!("no answer within {request_timeout_s} s")).and_then(|a| a);
        if answer.is_err() {
            // The connection's state is unknown after a failure: the next request opens another.
            self.sender = None;
        }
        answer
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<(u16, Bytes)> {
        let sender = match &mut self.sender {
            Some(sender) => sender,
            None => self.sender.insert(self.connect().await?),
        };
        sender.ready().await?;
        let answer = sender.send_request(request).await?;
        let status = answer.status().as_u16();
        Ok((status, answer.into_body().collect().await?.to_bytes()))
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the server closes the connection or the sender is dropped.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

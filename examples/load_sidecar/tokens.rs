//! `tokens`: checks each token of `hot_tokens.txt` once at the sidecar
//! (`GET /api/v1/authorize?scope=charge`), so its token cache holds that many distinct live
//! tokens; the script reads the sidecar's resident size before and after.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::time::Instant;

use crate::client::{self, Tally, micros};

#[derive(Debug, clap::Args)]
pub struct TokensArgs {
    /// Base URL of the sidecar.
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub seed_dir: PathBuf,
    /// Tokens checked (the first of the file); all when 0.
    #[arg(long, default_value_t = 0)]
    pub count: usize,
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
}

pub async fn run(args: &TokensArgs) -> anyhow::Result<()> {
    let mut tokens = client::lines(&args.seed_dir, "hot_tokens.txt")?;
    if args.count > 0 {
        tokens.truncate(args.count);
    }
    let tokens = Arc::new(tokens);
    let url = Arc::new(format!("{}/api/v1/authorize?scope=charge", args.url.trim_end_matches('/')));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(args.clients);
    for first in 0..args.clients {
        let (http, url, tokens) = (client::http_client()?, url.clone(), tokens.clone());
        let stride = args.clients;
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            for token in tokens.iter().skip(first).step_by(stride) {
                let sent = Instant::now();
                match http.get(url.as_str()).bearer_auth(token).send().await {
                    Ok(answer) => {
                        let status = answer.status().as_u16();
                        match answer.bytes().await {
                            Ok(_) if status == 200 => tally.ok_us.push(micros(sent.elapsed())),
                            Ok(body) => tally.unexpected(status, &body),
                            Err(error) => tally.transport(&error),
                        }
                    }
                    Err(error) => tally.transport(&error),
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for worker in workers {
        total.merge(worker.await.context("a token client panicked")?);
    }
    let elapsed_ms = started.elapsed().as_millis();
    let elapsed_s = u64::try_from(elapsed_ms.div_ceil(1000)).unwrap_or(u64::MAX);
    let fields = total.finish("distinct tokens checked once each", elapsed_s);
    println!("tokens={} elapsed_ms={elapsed_ms} {fields}", tokens.len());
    Ok(())
}

//! `seed`: fills a fresh data dir, before central starts, with one company, funded direct-user
//! wallets and their access tokens, so the load run never waits on 10 000 registrations.
//!
//! Everything goes through the store functions central itself uses for a direct user
//! (`claims::get_or_create_unclaimed`, `grants::consent`), and the signing key is made by
//! central's own `Keyring::load`, so central later starts with that key and verifies the tokens
//! minted here exactly as it verifies its own.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use protus::central::keyring::Keyring;
use protus::domain::token::claims::{AccessClaims, Issuance};
use protus::domain::token::jwt;
use protus::domain::token::scope::ScopeSet;
use protus::storage::Store;
use protus::storage::StoreOptions;
use protus::storage::central::oauth_records::{GrantOrigin, GrantRecord};
use protus::storage::central::open::open_central;
use protus::storage::central::records::{CompanyRecord, TopUpRecord, TopUpStatus};
use protus::storage::central::{claims, companies, grants, top_ups};
use protus::vocab::ids::{CompanyId, TopUpId};
use protus::vocab::money::{Amount, Currency};
use protus::vocab::names::{DisplayName, Email, Username};
use protus::vocab::secret::Secret;
use protus::vocab::time::{Clock, SystemClock, Timestamp};

/// Wallets created per write transaction while seeding.
const seed_batch_len: usize = 500;
/// Lifetime of the tokens minted here: 1 h, central's default, far longer than a run.
const token_ttl_s: i64 = 3600;

/// What `seed` is asked to build.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// Central's data dir (created; must not hold a database yet).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The `--public-url` central will be started with: the `iss` of the tokens.
    #[arg(long)]
    pub public_url: String,
    /// Wallets of the spread shape (the hot wallet comes on top).
    #[arg(long, default_value_t = 10_000)]
    pub wallets: usize,
    /// Top-up of the hot wallet, in RUB.
    #[arg(long, default_value = "10000000")]
    pub hot_funding: String,
    /// Top-up of each spread wallet, in RUB.
    #[arg(long, default_value = "1000")]
    pub wallet_funding: String,
    /// Extra distinct access tokens (each its own `jti`) minted for the hot wallet's grant into
    /// `hot_tokens.txt`, for runs that need many live tokens of one customer (the sidecar's).
    #[arg(long, default_value_t = 0)]
    pub hot_tokens: usize,
    /// Where `seed.txt` (client credentials, hot email), `tokens.txt` and `hot_tokens.txt` are
    /// written.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn seed(args: &SeedArgs) -> anyhow::Result<()> {
    let currency = Currency::parse("RUB").map_err(|e| anyhow::anyhow!("{e}"))?;
    let hot_funding = Amount::parse_request(&args.hot_funding, currency).map_err(|e| anyhow::anyhow!("{e}"))?;
    let funding = Amount::parse_request(&args.wallet_funding, currency).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(&args.data_dir).context("creating the data dir")?;
    let store = open_central(&args.data_dir, &StoreOptions::default())?;
    let clock = SystemClock;
    let secret = Secret::generate("cs_");
    let company = company_record(&secret, clock.now())?;
    let company_id = company.id.clone();
    store
        .write_blocking(move |tx| companies::register(tx, company))?
        .map_err(|e| anyhow::anyhow!("registering the company: {e}"))?;
    let hot_email = "hot@load.example.com".to_owned();
    let mut grants = wallets(&store, &company_id, vec![(hot_email.clone(), "hot".to_owned())], hot_funding)?;
    let names: Vec<(String, String)> =
        (0..args.wallets).map(|i| (format!("wallet-{i}@load.example.com"), format!("wallet-{i}"))).collect();
    for chunk in names.chunks(seed_batch_len) {
        grants.extend(wallets(&store, &company_id, chunk.to_vec(), funding)?);
    }
    let spread = grants.len() - 1;
    let hot_grant = grants[0].clone();
    grants.extend(std::iter::repeat_n(hot_grant, args.hot_tokens));
    let mut tokens = mint(&store, &args.public_url, &grants[1..], clock.now())?;
    let hot_tokens = tokens.split_off(spread);
    store.close();
    write_seed(&args.out, &company_id, &secret, &hot_email, &tokens)?;
    write_tokens(&args.out.join("hot_tokens.txt"), &hot_tokens)?;
    eprintln!(
        "seeded 1 hot wallet and {} spread wallets with {} tokens, and {} tokens of the hot wallet",
        args.wallets,
        tokens.len(),
        hot_tokens.len()
    );
    Ok(())
}

fn company_record(secret: &Secret, now: Timestamp) -> anyhow::Result<CompanyRecord> {
    let parse = |e: protus::vocab::names::NameError| anyhow::anyhow!("{e}");
    Ok(CompanyRecord {
        id: CompanyId::generate(),
        name: DisplayName::parse_company("Load Company").map_err(parse)?,
        email: Email::parse("billing@load.example.com").map_err(parse)?,
        password_hash: "not-a-hash: the load benchmark never signs in".to_owned(),
        client_secret: secret.digest(),
        client_secret_previous: Vec::new(),
        webhook_secret: Secret::generate_webhook().expose().to_owned(),
        webhook_secret_previous: Vec::new(),
        webhook_url: None,
        redirect_uris: Vec::new(),
        created_at: now,
    })
}

/// Creates one unclaimed direct user per `(email, username)` with its account, full-scope
/// grant and a completed top-up of `funding`, all in one commit; returns the grants in order.
fn wallets(
    store: &Store,
    company: &CompanyId,
    names: Vec<(String, String)>,
    funding: Amount,
) -> anyhow::Result<Vec<GrantRecord>> {
    let company = company.clone();
    let now = SystemClock.now();
    let made = store.write_blocking(move |tx| {
        let mut made = Vec::with_capacity(names.len());
        for (email, username) in names {
            let (Ok(email), Ok(username)) = (Email::parse(&email), Username::parse(&username)) else {
                return Ok(Err(format!("{email} or {username} is not a valid name")));
            };
            let customer = match claims::get_or_create_unclaimed(tx, &email, &username, now)? {
                Ok((customer, true)) => customer,
                Ok((_, false)) => {
                    return Ok(Err(format!("{} already exists: the data dir is not fresh", email.as_str())));
                }
                Err(refused) => return Ok(Err(refused.to_string())),
            };
            let consented =
                grants::consent(tx, &company, &customer.id, ScopeSet::ALL, None, GrantOrigin::DirectUser, now)?;
            let top_up = TopUpRecord {
                id: TopUpId::generate(),
                customer_id: customer.id.clone(),
                amount: funding,
                status: TopUpStatus::Pending,
                provider: "test".to_owned(),
                created_at: now,
                completed_at: None,
            };
            top_ups::create(tx, &top_up)?;
            if let Err(refused) = top_ups::complete(tx, &top_up.id, "test", funding, true, now)? {
                return Ok(Err(refused.to_string()));
            }
            made.push(consented.grant);
        }
        Ok(Ok(made))
    })?;
    made.map_err(|e| anyhow::anyhow!("seeding wallets: {e}"))
}

/// Makes central's first signing key with central's own code, then signs one access token per
/// grant exactly as `central::tokens::mint_access` does.
fn mint(store: &Store, issuer: &str, grants: &[GrantRecord], now: Timestamp) -> anyhow::Result<Vec<String>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let keyring = runtime.block_on(Keyring::load(store, now))?;
    let snapshot = keyring.snapshot(now);
    let signer = snapshot.signer(now).context("a freshly created key signs at once")?;
    let tokens = grants
        .iter()
        .map(|grant| {
            let issuance = Issuance {
                issuer,
                account: grant.account_id.clone(),
                company: grant.company_id.clone(),
                scope: grant.scope,
                grant: grant.id.clone(),
            };
            jwt::issue(signer, &AccessClaims::issued(issuance, now, token_ttl_s))
        })
        .collect();
    Ok(tokens)
}

fn write_seed(
    out: &Path,
    company: &CompanyId,
    secret: &Secret,
    hot_email: &str,
    tokens: &[String],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut seed = std::fs::File::create(out.join("seed.txt"))?;
    writeln!(seed, "client_id={company}")?;
    writeln!(seed, "client_secret={}", secret.expose())?;
    writeln!(seed, "hot_email={hot_email}")?;
    write_tokens(&out.join("tokens.txt"), tokens)
}

/// One token a line.
fn write_tokens(path: &Path, tokens: &[String]) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for token in tokens {
        writeln!(file, "{token}")?;
    }
    file.flush()?;
    Ok(())
}

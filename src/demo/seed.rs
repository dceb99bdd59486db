//! Seeding the demo through central's public API: the company "Messages" with its two priced
//! services and two customers with topped-up wallets. What it made is kept in
//! `<data-dir>/demo.json`, so a later run reuses it.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Every demo account shares this password, printed in the walkthrough.
pub const DEMO_PASSWORD: &str = "demo-password";
pub const COMPANY_EMAIL: &str = "team@messages.example";
/// (email, username, top-up): one customer who can pay, one who cannot launch a campaign.
pub const CUSTOMERS: [(&str, &str, &str); 2] =
    [("ann@example.com", "ann", "100.00"), ("bob@example.com", "bob", "5.00")];
pub const ADD_CUSTOMER: (&str, &str) = ("Add a customer", "2.00");
pub const LAUNCH_CAMPAIGN: (&str, &str) = ("Launch a campaign", "10.00");

/// What the seeding made, as `demo.json` keeps it (owner-only: it holds the client secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seeded {
    pub client_id: String,
    pub client_secret: String,
    pub webhook_secret: String,
    pub add_customer_service: String,
    pub launch_campaign_service: String,
}

pub const SEED_FILE: &str = "demo.json";

/// Reads `demo.json`, if seeding finished on an earlier run.
pub fn load(data_dir: &Path) -> anyhow::Result<Option<Seeded>> {
    let path = data_dir.join(SEED_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn save(data_dir: &Path, seeded: &Seeded) -> anyhow::Result<()> {
    let path = data_dir.join(SEED_FILE);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, &serde_json::to_vec_pretty(seeded)?)?;
    file.sync_all()?;
    Ok(())
}

/// Central's API as the seeding uses it.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(&self, path: &str, token: Option<&str>, key: Option<&str>, body: Value) -> anyhow::Result<Value> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        answer(request.send().await?, path).await
    }

    async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        answer(self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await?, path).await
    }

    async fn sign_in(&self, kind: &str, email: &str) -> anyhow::Result<String> {
        let body = json!({"kind": kind, "email": email, "password": DEMO_PASSWORD});
        let session = self.post("/api/v1/sessions", None, None, body).await?;
        Ok(session["token"].as_str().context("a session token")?.to_owned())
    }
}

async fn answer(response: reqwest::Response, path: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "central answered {status} to {path}: {body}");
    Ok(body)
}

/// Seeds a fresh central at `base` and records it in `data_dir`.
pub async fn seed(base: &str, data_dir: &Path) -> anyhow::Result<Seeded> {
    let api = Api { http: reqwest::Client::new(), base: base.to_owned() };
    let company = json!({"name": "Messages", "email": COMPANY_EMAIL, "password": DEMO_PASSWORD});
    let registered = api.post("/api/v1/companies", None, None, company).await?;
    let text = |v: &Value, f: &str| v[f].as_str().map(str::to_owned).with_context(|| format!("no {f} in {v}"));
    let token = api.sign_in("company", COMPANY_EMAIL).await?;
    let mut services = Vec::new();
    for (name, price) in [ADD_CUSTOMER, LAUNCH_CAMPAIGN] {
        let service =
            api.post("/api/v1/company/services", Some(&token), None, json!({"name": name, "price": price})).await?;
        services.push(text(&service, "id")?);
    }
    for (email, username, amount) in CUSTOMERS {
        let body = json!({"email": email, "username": username, "password": DEMO_PASSWORD});
        api.post("/api/v1/customers", None, None, body).await?;
        let session = api.sign_in("customer", email).await?;
        let key = format!("demo-seed-{username}");
        let top_up = api.post("/api/v1/me/top-ups", Some(&session), Some(&key), json!({"amount": amount})).await?;
        wait_top_up(&api, &session, &text(&top_up, "id")?).await?;
    }
    let seeded = Seeded {
        client_id: text(&registered, "client_id")?,
        client_secret: text(&registered, "client_secret")?,
        webhook_secret: text(&registered, "webhook_secret")?,
        add_customer_service: services[0].clone(),
        launch_campaign_service: services[1].clone(),
    };
    save(data_dir, &seeded)?;
    Ok(seeded)
}

async fn wait_top_up(api: &Api, session: &str, id: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        let top_up = api.get(&format!("/api/v1/me/top-ups/{id}"), session).await?;
        match top_up["status"].as_str() {
            Some("succeeded") => return Ok(()),
            Some("pending") => tokio::time::sleep(Duration::from_millis(25)).await,
            _ => anyhow::bail!("the demo top-up did not succeed: {top_up}"),
        }
    }
    anyhow::bail!("the demo top-up {id} stayed pending")
}

/// Points the company's redirect URI (`partner_base`, as browsers reach the partner) and webhook
/// URL (`webhook_base`, as central reaches it) at the partner app where it listens now.
pub async fn point_at_partner(base: &str, partner_base: &str, webhook_base: &str) -> anyhow::Result<()> {
    let api = Api { http: reqwest::Client::new(), base: base.to_owned() };
    let token = api.sign_in("company", COMPANY_EMAIL).await?;
    let body = json!({
        "redirect_uris": [format!("{partner_base}/callback")],
        "webhook_url": format!("{webhook_base}/webhooks"),
    });
    let response = api.http.patch(format!("{base}/api/v1/company")).bearer_auth(&token).json(&body).send().await?;
    answer(response, "/api/v1/company").await?;
    Ok(())
}

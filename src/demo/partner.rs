//! The demo partner, "Messages": a small web app that signs people in with PROTUS (the code flow
//! with PKCE, through the browser) and bills each action through its sidecar. It holds no
//! database; who is signed in lives in memory, bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use protus::domain::pkce::s256;
use protus::domain::webhook_signature::{self, SignedHeaders};
use protus::http::limits::with_listener_limits;
use protus::http::trace::RequestLog;
use protus::vocab::limits::{demo_grant_wait_ms, demo_list_len_max, demo_pending_logins_max, demo_sessions_max};
use protus::vocab::rng::random_bytes;
use protus::vocab::secret::Secret;
use protus::vocab::time::{Clock, SystemClock};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::demo::pages::{self, Dashboard};
use crate::demo::seed::Seeded;

const SESSION_COOKIE: &str = "messages_session";
const LOGIN_COOKIE: &str = "messages_login";

/// Where the partner and its peers are, and its credentials.
#[derive(Debug, Clone)]
pub struct PartnerSettings {
    /// The partner's own base URL (its redirect URI is `<base>/callback`).
    pub base: String,
    /// Central's public URL: the browser goes there to sign in, and it is the `iss` answered.
    pub central: String,
    /// Where this app reaches central's API (the code exchange): the public URL, or an internal
    /// address when central and the partner share a private network.
    pub central_api: String,
    /// The sidecar's base URL: every permission check and charge goes there.
    pub sidecar: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub webhook_secret: Secret,
    pub add_customer_service: String,
    pub launch_campaign_service: String,
}

/// Where the partner and its peers are reached (see `PartnerSettings`).
#[derive(Debug, Clone)]
pub struct PartnerUrls {
    pub base: String,
    pub central: String,
    pub central_api: String,
    pub sidecar: String,
}

impl PartnerSettings {
    /// The settings of the partner the seeding made, at these addresses.
    pub fn new(seeded: &Seeded, urls: PartnerUrls) -> Self {
        PartnerSettings {
            base: urls.base,
            central: urls.central,
            central_api: urls.central_api,
            sidecar: urls.sidecar,
            client_id: seeded.client_id.clone(),
            client_secret: Secret::new(seeded.client_secret.clone()),
            webhook_secret: Secret::new(seeded.webhook_secret.clone()),
            add_customer_service: seeded.add_customer_service.clone(),
            launch_campaign_service: seeded.launch_campaign_service.clone(),
        }
    }
}

/// A browser signed in with PROTUS.
#[derive(Debug, Clone)]
struct Session {
    access_token: Secret,
    account_id: String,
    scope: String,
    customers: Vec<String>,
    campaigns: Vec<String>,
    notice: Option<String>,
}

/// A map that forgets its oldest entry beyond `max`.
#[derive(Debug)]
struct Bounded<T> {
    entries: HashMap<String, T>,
    order: VecDeque<String>,
    max: usize,
}

impl<T> Bounded<T> {
    fn new(max: usize) -> Self {
        Bounded { entries: HashMap::new(), order: VecDeque::new(), max }
    }

    fn insert(&mut self, key: String, value: T) {
        while self.entries.len() >= self.max {
            let Some(oldest) = self.order.pop_front() else { break };
            self.entries.remove(&oldest);
        }
        self.order.push_back(key.clone());
        self.entries.insert(key, value);
    }

    fn remove(&mut self, key: &str) -> Option<T> {
        self.order.retain(|k| k != key);
        self.entries.remove(key)
    }
}

#[derive(Debug)]
pub struct Partner {
    settings: PartnerSettings,
    http: reqwest::Client,
    /// PKCE verifiers of sign-ins in progress, by `state`.
    logins: Mutex<Bounded<String>>,
    sessions: Mutex<Bounded<Session>>,
    /// Verified webhook events, newest last: (account id, line shown).
    events: Mutex<VecDeque<(String, String)>>,
}

type Shared = Arc<Partner>;

/// Serves the partner on `listener` until `stop` turns true, with the listeners' header read
/// timeout like central and the sidecar.
pub async fn serve(
    listener: tokio::net::TcpListener,
    settings: PartnerSettings,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    protus::http::serve::serve(listener, with_listener_limits(router(settings), RequestLog::Info), stop).await
}

pub fn router(settings: PartnerSettings) -> Router {
    let partner = Arc::new(Partner {
        settings,
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default(),
        logins: Mutex::new(Bounded::new(demo_pending_logins_max)),
        sessions: Mutex::new(Bounded::new(demo_sessions_max)),
        events: Mutex::new(VecDeque::new()),
    });
    Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", post(logout))
        .route("/customers", post(add_customer))
        .route("/campaigns", post(launch_campaign))
        .route("/webhooks", post(webhook))
        .route("/healthz", get(|| async { axum::Json(json!({"status": "ok"})) }))
        .with_state(partner)
}

fn random_hex() -> String {
    hex::encode(random_bytes::<32>())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn with_cookie(mut response: Response, name: &str, value: &str, max_age_s: i64) -> Response {
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}");
    if let Ok(value) = HeaderValue::from_str(&text) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

impl Partner {
    fn session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let sessions = self.sessions.lock().ok()?;
        sessions.entries.get(id).map(|s| (id.to_owned(), s.clone()))
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut Session)) {
        if let Ok(mut sessions) = self.sessions.lock()
            && let Some(session) = sessions.entries.get_mut(id)
        {
            change(session);
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(id);
        }
    }

    async fn sidecar_get(&self, path: &str, token: &Secret) -> Result<(StatusCode, Value), reqwest::Error> {
        let response =
            self.http.get(format!("{}{path}", self.settings.sidecar)).bearer_auth(token.expose()).send().await?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }
}

async fn home(State(partner): State<Shared>, headers: HeaderMap) -> Response {
    let Some((id, session)) = partner.session(&headers) else { return pages::signed_out() };
    let balance = match partner.sidecar_get("/api/v1/billing/balance", &session.access_token).await {
        Ok((StatusCode::OK, body)) => {
            Some(format!("{} {}", body["available"].as_str().unwrap_or("?"), body["currency"].as_str().unwrap_or("")))
        }
        Ok((StatusCode::UNAUTHORIZED, _)) => {
            partner.forget(&id);
            return pages::revoked();
        }
        _ => None,
    };
    partner.update(&id, |s| s.notice = None);
    let events: Vec<String> = partner
        .events
        .lock()
        .map(|e| e.iter().filter(|(a, _)| *a == session.account_id).map(|(_, line)| line.clone()).collect())
        .unwrap_or_default();
    pages::dashboard(&Dashboard {
        account_id: &session.account_id,
        scope: &session.scope,
        balance,
        customers: &session.customers,
        campaigns: &session.campaigns,
        events: &events,
        notice: session.notice.as_deref(),
        form_key: &random_hex(),
    })
}

/// Starts "Sign in with PROTUS": a fresh PKCE verifier and state, then to central's consent page.
async fn login(State(partner): State<Shared>) -> Response {
    let (verifier, state) = (random_hex(), random_hex());
    let challenge = s256(&verifier);
    if let Ok(mut logins) = partner.logins.lock() {
        logins.insert(state.clone(), verifier);
    }
    let settings = &partner.settings;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair("redirect_uri", &format!("{}/callback", settings.base))
        .append_pair("scope", "check hold charge")
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let to = format!("{}/oauth/authorize?{query}", settings.central);
    with_cookie(Redirect::to(&to).into_response(), LOGIN_COOKIE, &state, 600)
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// The redirect back from central: check `state` and `iss`, exchange the code with the PKCE
/// verifier, and wait until the sidecar knows the new grant.
async fn callback(State(partner): State<Shared>, headers: HeaderMap, Query(query): Query<CallbackQuery>) -> Response {
    let state = query.state.unwrap_or_default();
    let verifier = match cookie(&headers, LOGIN_COOKIE) {
        // `state` guards against a forged callback: compared in constant time, like every secret.
        Some(mine) if bool::from(subtle::ConstantTimeEq::ct_eq(mine.as_bytes(), state.as_bytes())) => {
            partner.logins.lock().ok().and_then(|mut l| l.remove(&state))
        }
        _ => None,
    };
    let Some(verifier) = verifier else {
        return pages::error(StatusCode::BAD_REQUEST, "This sign-in was not started here or has expired; start again.");
    };
    if query.error.as_deref() == Some("access_denied") {
        return pages::declined();
    }
    let settings = &partner.settings;
    if query.iss.as_deref() != Some(settings.central.as_str()) {
        return pages::error(StatusCode::BAD_REQUEST, "The sign-in answer did not come from our PROTUS node.");
    }
    let Some(code) = query.code else { return pages::error(StatusCode::BAD_REQUEST, "No authorization code.") };
    let redirect_uri = format!("{}/callback", settings.base);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let exchanged = partner
        .http
        .post(format!("{}/oauth/token", settings.central_api))
        .basic_auth(&settings.client_id, Some(settings.client_secret.expose()))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    let token = match exchanged {
        Ok(response) if response.status() == StatusCode::OK => {
            response.json::<Value>().await.ok().and_then(|v| v["access_token"].as_str().map(str::to_owned))
        }
        _ => None,
    };
    let Some(token) = token.map(Secret::new) else {
        return pages::error(StatusCode::BAD_GATEWAY, "PROTUS did not accept the sign-in; start again.");
    };
    let Some(permission) = wait_for_grant(&partner, &token).await else { return pages::unavailable() };
    let session = Session {
        access_token: token,
        account_id: permission["account_id"].as_str().unwrap_or_default().to_owned(),
        scope: permission["scope"].as_str().unwrap_or_default().to_owned(),
        customers: Vec::new(),
        campaigns: Vec::new(),
        notice: Some("Signed in with PROTUS.".to_owned()),
    };
    let id = random_hex();
    if let Ok(mut sessions) = partner.sessions.lock() {
        sessions.insert(id.clone(), session);
    }
    let response = with_cookie(Redirect::to("/").into_response(), SESSION_COOKIE, &id, 12 * 3600);
    with_cookie(response, LOGIN_COOKIE, "", 0)
}

/// The sidecar learns a new grant from central's feed a moment after the consent; until then it
/// refuses the token. Asks its permission check until it answers, for a bounded while.
async fn wait_for_grant(partner: &Partner, token: &Secret) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(demo_grant_wait_ms);
    loop {
        if let Ok((StatusCode::OK, permission)) = partner.sidecar_get("/api/v1/authorize", token).await {
            return Some(permission);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn logout(State(partner): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        partner.forget(id);
    }
    with_cookie(Redirect::to("/").into_response(), SESSION_COOKIE, "", 0)
}

#[derive(Debug, Deserialize)]
struct CustomerForm {
    key: String,
    phone: String,
}

#[derive(Debug, Deserialize)]
struct CampaignForm {
    key: String,
    text: String,
}

async fn add_customer(State(partner): State<Shared>, headers: HeaderMap, Form(form): Form<CustomerForm>) -> Response {
    let service = partner.settings.add_customer_service.clone();
    let payload = json!({"customer": {"phone": form.phone}});
    let line = format!("customer {}", form.phone);
    billed(&partner, &headers, &form.key, &service, ("Add a customer", "2.00"), payload, |s| &mut s.customers, line)
        .await
}

async fn launch_campaign(
    State(partner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CampaignForm>,
) -> Response {
    let service = partner.settings.launch_campaign_service.clone();
    let text: String = form.text.chars().take(20).collect();
    let payload = json!({"campaign": {"text": text}});
    let line = format!("campaign “{}”", form.text);
    billed(&partner, &headers, &form.key, &service, ("Launch a campaign", "10.00"), payload, |s| &mut s.campaigns, line)
        .await
}

/// Charges the service through the sidecar, and does the action only once it is paid. The form's
/// key is the `Idempotency-Key`, so a double submit is charged once and done once.
#[allow(clippy::too_many_arguments)]
async fn billed(
    partner: &Partner,
    headers: &HeaderMap,
    key: &str,
    service: &str,
    (what, price): (&str, &str),
    payload: Value,
    list: fn(&mut Session) -> &mut Vec<String>,
    line: String,
) -> Response {
    let Some((id, session)) = partner.session(headers) else { return Redirect::to("/").into_response() };
    let charged = partner
        .http
        .post(format!("{}/api/v1/billing/charges", partner.settings.sidecar))
        .bearer_auth(session.access_token.expose())
        .header("idempotency-key", key)
        .json(&json!({"service_id": service, "payload": payload}))
        .send()
        .await;
    let Ok(response) = charged else { return pages::unavailable() };
    let (status, replayed) = (response.status(), response.headers().contains_key("idempotent-replayed"));
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match (status, body["code"].as_str()) {
        (StatusCode::CREATED, _) => {
            let invoice = body["invoice_number"].as_str().unwrap_or("?").to_owned();
            partner.update(&id, |s| {
                if !replayed {
                    let items = list(s);
                    items.push(format!("{line} — {price}, invoice {invoice}"));
                    if items.len() > demo_list_len_max {
                        items.remove(0);
                    }
                }
                s.notice = Some(format!("{what}: charged {price}, invoice {invoice}."));
            });
            Redirect::to("/").into_response()
        }
        (StatusCode::PAYMENT_REQUIRED, _) => pages::insufficient_funds(what, price),
        (StatusCode::FORBIDDEN, Some("insufficient_scope")) => pages::not_allowed(),
        (StatusCode::UNAUTHORIZED, _) => {
            partner.forget(&id);
            pages::revoked()
        }
        (StatusCode::SERVICE_UNAVAILABLE, _) => pages::unavailable(),
        (status, _) => {
            tracing::warn!(status = %status, code = ?body["code"], "the sidecar refused a demo charge");
            pages::error(StatusCode::BAD_GATEWAY, "PROTUS refused this charge.")
        }
    }
}

/// Standard Webhooks from central: verified against the webhook secret, then shown to the account.
async fn webhook(State(partner): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let signed = SignedHeaders {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
    };
    let secret = partner.settings.webhook_secret.expose();
    if webhook_signature::verify(secret, signed, &body, SystemClock.now()).is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let data = &event["data"];
    let line = match event["type"].as_str() {
        Some(kind @ ("charge.settled" | "charge.reversed")) => format!(
            "{kind}: {} {} ({})",
            data["invoice_number"].as_str().unwrap_or("?"),
            data["amount"].as_str().unwrap_or("?"),
            data["service_name"].as_str().unwrap_or("-")
        ),
        Some(kind) => kind.to_owned(),
        None => return StatusCode::BAD_REQUEST.into_response(),
    };
    let account = data["account_id"].as_str().or_else(|| data["id"].as_str()).unwrap_or_default().to_owned();
    if let Ok(mut events) = partner.events.lock() {
        events.push_back((account, line));
        while events.len() > demo_list_len_max * 10 {
            events.pop_front();
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

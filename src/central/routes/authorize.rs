//! `GET` and `POST /oauth/authorize`: the code flow with PKCE S256 (RFC 6749 §4.1, RFC 7636,
//! RFC 9207), the sign-in and consent page, and the redirect back to the company.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::central::error::{OrInternal, blocking};
use crate::central::events;
use crate::central::state::SharedState;
use crate::central::tokens::lookup_hash;
use crate::central::web::browser::Browser;
use crate::central::web::cookies;
use crate::central::web::html::page;
use crate::central::web::i18n::{Lang, Text};
use crate::central::web::layout::render;
use crate::central::web::pages::{ConsentPage, ConsentView, ErrorPage};
use crate::domain::passwords;
use crate::domain::pkce;
use crate::domain::token::scope::{Scope, ScopeSet};
use crate::storage::central::oauth_records::{AuthRequestRecord, CodeRecord, GrantOrigin};
use crate::storage::central::records::{CustomerRecord, SessionKind, SessionRecord};
use crate::storage::central::{companies, customers, grants, oauth, sessions};
use crate::vocab::ids::CompanyId;
use crate::vocab::limits::{auth_code_ttl_s, auth_request_ttl_s, oauth_state_len_max, session_ttl_s};
use crate::vocab::money::Amount;
use crate::vocab::names::Email;
use crate::vocab::secret::Secret;

/// Purpose of the consent form's CSRF token; its object is the authorization request id, and
/// `Browser` binds it to the browser's session or, before sign-in, its `protus_browser` cookie.
const CONSENT: &str = "consent";

fn error_page(lang: Lang, message: Text) -> Response {
    page(StatusCode::BAD_REQUEST, ErrorPage::new(lang, message).render())
}

/// `redirect_uri` with `params` added to its query.
fn redirect_to(base: &str, params: &[(&str, &str)]) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    let location = format!("{base}{separator}{}", query.finish());
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error sent back to the company's (verified) redirect URI, RFC 6749 §4.1.2.1 with `iss`.
fn redirect_error(
    state: &SharedState,
    redirect_uri: &str,
    error: &str,
    description: &str,
    client_state: Option<&str>,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(value) = client_state {
        params.push(("state", value));
    }
    params.push(("iss", &state.public_url));
    redirect_to(redirect_uri, &params)
}

/// Query or form parameters where a repeated single-valued parameter is an error.
fn single_params(text: &str) -> Option<Vec<(String, String)>> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(text.as_bytes()) {
        if name != "granted_scope" && pairs.iter().any(|(n, _)| *n == name) {
            return None;
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Some(pairs)
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, v)| n == name && !v.is_empty()).map(|(_, v)| v.as_str())
}

/// Show the sign-in and consent page for a company's authorization request.
#[utoipa::path(get, path = "/oauth/authorize", tag = "oauth",
    params(("response_type" = String, Query, description = "`code`"), ("client_id" = String, Query), ("redirect_uri" = String, Query, description = "exactly one of the company's registered URIs"),
        ("scope" = Option<String>, Query, description = "space-separated subset of `check hold charge`; all three when absent"), ("state" = Option<String>, Query),
        ("code_challenge" = String, Query, description = "base64url SHA-256 of the PKCE verifier"), ("code_challenge_method" = String, Query, description = "`S256`")),
    responses((status = 200, description = "the sign-in and consent page; sets the `protus_browser` cookie its form's CSRF token is bound to when the browser has none", content_type = "text/html"),
        (status = 302, description = "an error redirected to the company"), (status = 400, description = "unknown client or redirect URI: an error page, never a redirect", content_type = "text/html")))]
pub async fn show(State(state): State<SharedState>, browser: Browser, RawQuery(query): RawQuery) -> Response {
    let lang = browser.lang;
    let Some(params) = single_params(query.as_deref().unwrap_or_default()) else {
        return error_page(lang, Text::BadForm);
    };
    let company = match param(&params, "client_id").map(CompanyId::parse) {
        Some(Ok(id)) => state.store.read(move |r| companies::get(r, &id)).await.ok().flatten(),
        _ => None,
    };
    let Some(company) = company else { return error_page(lang, Text::UnknownClient) };
    let Some(redirect_uri) =
        param(&params, "redirect_uri").filter(|uri| company.redirect_uris.iter().any(|r| r.as_str() == *uri))
    else {
        return error_page(lang, Text::BadRedirect);
    };
    let client_state = param(&params, "state");
    let refuse =
        |error: &str, description: &str| redirect_error(&state, redirect_uri, error, description, client_state);
    if client_state.is_some_and(|s| s.len() > oauth_state_len_max) {
        return refuse("invalid_request", "state is too long");
    }
    if param(&params, "response_type") != Some("code") {
        return refuse("unsupported_response_type", "only response_type=code is supported");
    }
    let challenge = param(&params, "code_challenge");
    if param(&params, "code_challenge_method") != Some("S256") || !challenge.is_some_and(pkce::challenge_is_well_formed)
    {
        return refuse("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256");
    }
    let scope = match param(&params, "scope").map(ScopeSet::parse) {
        None => ScopeSet::ALL,
        Some(Ok(scope)) if !scope.is_empty() => scope,
        Some(_) => return refuse("invalid_scope", "scope must be a subset of: check hold charge"),
    };
    let now = state.now();
    let request = AuthRequestRecord {
        id: Secret::generate("areq_").expose().to_owned(),
        company_id: company.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state: client_state.map(str::to_owned),
        code_challenge: challenge.unwrap_or_default().to_owned(),
        created_at: now,
        expires_at: now.plus_s(auth_request_ttl_s),
    };
    let view = ConsentView {
        company_name: company.name.as_str().to_owned(),
        request_id: request.id.clone(),
        csrf_token: browser.csrf_for(CONSENT, &request.id),
        signed_in_email: browser.customer().map(|c| c.email.as_str().to_owned()).unwrap_or_default(),
        requested: scope,
        checked: scope,
        ..ConsentView::default()
    };
    if state.store.write(move |tx| oauth::save_request(tx, &request)).await.or_internal().is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    // Sets the `protus_browser` cookie the token is bound to when the browser had none.
    render(&browser, StatusCode::OK, &ConsentPage::new(lang, view))
}

/// What the consent form posted.
struct ConsentForm {
    request_id: String,
    csrf_token: String,
    email: String,
    password: String,
    granted: Result<ScopeSet, ()>,
    spending_cap: String,
    allow: bool,
}

fn read_form(body: &str) -> Option<ConsentForm> {
    let pairs = single_params(body)?;
    let granted = pairs
        .iter()
        .filter(|(n, _)| n == "granted_scope")
        .try_fold(ScopeSet::EMPTY, |set, (_, value)| Scope::parse(value).map(|s| set.with(s)))
        .map_err(|_| ());
    Some(ConsentForm {
        request_id: param(&pairs, "request_id")?.to_owned(),
        csrf_token: param(&pairs, "csrf_token").unwrap_or_default().to_owned(),
        email: param(&pairs, "email").unwrap_or_default().to_owned(),
        password: param(&pairs, "password").unwrap_or_default().to_owned(),
        granted,
        spending_cap: param(&pairs, "spending_cap").unwrap_or_default().trim().to_owned(),
        allow: match param(&pairs, "decision")? {
            "allow" => true,
            "deny" => false,
            _ => return None,
        },
    })
}

/// Answer the consent page: sign in if needed, then allow (a code) or deny (`access_denied`).
#[utoipa::path(post, path = "/oauth/authorize", tag = "oauth",
    request_body(content = crate::wire::oauth_forms::ConsentForm, content_type = "application/x-www-form-urlencoded",
        description = "request_id, csrf_token, email and password (when not signed in), granted_scope (one per checked scope), spending_cap (blank = none), decision (allow|deny); the CSRF token verifies only with the browser's session or `protus_browser` cookie"),
    responses((status = 302, description = "back to the company with code, state and iss (or error=access_denied)"),
        (status = 200, description = "the page again, with the error and what was typed", content_type = "text/html"),
        (status = 400, description = "expired request, bad form, or a CSRF token that is not this browser's: an error page", content_type = "text/html")))]
pub async fn answer(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut browser: Browser,
    body: String,
) -> Response {
    let lang = browser.lang;
    let Some(form) = read_form(&body) else { return error_page(lang, Text::BadForm) };
    let now = state.now();
    let request_id = form.request_id.clone();
    let request = state.store.read(move |r| oauth::get_request(r, &request_id, now)).await.ok().flatten();
    let Some(request) = request else { return error_page(lang, Text::ExpiredRequest) };
    // Bound to this browser: a post without its cookie, or with a token shown to another
    // browser (login CSRF with someone else's request and credentials), changes nothing.
    if !browser.csrf_ok_for(CONSENT, &request.id, &form.csrf_token) {
        return error_page(lang, Text::BadForm);
    }
    if !form.allow {
        let id = request.id.clone();
        let _ = state.store.write(move |tx| oauth::take_request(tx, &id, now)).await;
        return redirect_error(
            &state,
            &request.redirect_uri,
            "access_denied",
            "the customer denied access",
            request.state.as_deref(),
        );
    }
    let company_id = request.company_id.clone();
    let company_name = state
        .store
        .read(move |r| companies::get(r, &company_id))
        .await
        .ok()
        .flatten()
        .map(|c| c.name.as_str().to_owned())
        .unwrap_or_default();
    // The page again; its token is the browser's, bound to a session this post may have made.
    let again = |browser: &Browser, error: Text, checked: ScopeSet, signed_in_email: String| {
        let view = ConsentView {
            company_name: company_name.clone(),
            request_id: request.id.clone(),
            csrf_token: browser.csrf_for(CONSENT, &request.id),
            signed_in_email,
            email: form.email.clone(),
            requested: request.scope,
            checked,
            spending_cap: form.spending_cap.clone(),
            error: lang.t(error).to_owned(),
        };
        render(browser, StatusCode::OK, &ConsentPage::new(lang, view))
    };
    let checked = form.granted.unwrap_or(ScopeSet::EMPTY).intersection(request.scope);
    // Who is consenting: the signed-in customer, or the one whose credentials the form carries.
    let (customer, new_session) = match browser.customer().cloned() {
        Some(customer) => (customer, None),
        None => match sign_in(&state, &form.email, &form.password, peer).await {
            Ok(customer) => (customer, Some(Secret::generate("pts_"))),
            Err(error) => return again(&browser, error, checked, String::new()),
        },
    };
    if let Some(token) = &new_session {
        browser.signed_in_with(token);
    }
    let signed_email = customer.email.as_str().to_owned();
    if checked.is_empty() || form.granted.is_err() {
        let page = again(&browser, Text::NoScope, checked, signed_email);
        return with_session(page, &state, new_session, &customer).await;
    }
    let cap = if form.spending_cap.is_empty() {
        None
    } else {
        match Amount::parse_request(&form.spending_cap, state.currency) {
            Ok(cap) => Some(cap),
            Err(_) => {
                let page = again(&browser, Text::BadCap, checked, signed_email);
                return with_session(page, &state, new_session, &customer).await;
            }
        }
    };
    let redirect = consent(&state, lang, &request, &customer, checked, cap).await;
    with_session(redirect, &state, new_session, &customer).await
}

/// Stores a new session for the customer who just signed in and sets its cookie on `response`.
async fn with_session(
    mut response: Response,
    state: &SharedState,
    token: Option<Secret>,
    customer: &CustomerRecord,
) -> Response {
    let Some(token) = token else { return response };
    let now = state.now();
    let session = SessionRecord {
        kind: SessionKind::Customer,
        subject: customer.id.to_string(),
        created_at: now,
        expires_at: now.plus_s(session_ttl_s),
    };
    let stored = token.clone();
    if state.store.write(move |tx| sessions::create(tx, &stored, &session)).await.is_ok() {
        response.headers_mut().append(header::SET_COOKIE, cookies::session(token.expose(), session_ttl_s, state.https));
    }
    response
}

/// Checks email and password, rate-limited per email and per client address.
async fn sign_in(state: &SharedState, email: &str, password: &str, peer: SocketAddr) -> Result<CustomerRecord, Text> {
    let now = state.now();
    let email = Email::parse(email).map_err(|_| Text::WrongPassword)?;
    let limited = state.limiters.sign_in(&email, peer.ip(), now);
    if limited.is_err() {
        return Err(Text::TooManyAttempts);
    }
    let found = state.store.read(move |r| customers::by_email(r, &email)).await.map_err(|_| Text::WrongPassword)?;
    let hash = found.as_ref().and_then(|c| c.password_hash.clone());
    let password = Secret::new(password.to_owned());
    let _permit = state.hashing.acquire().await.map_err(|_| Text::WrongPassword)?;
    let matches = blocking(move || {
        passwords::verify(&password, hash.as_deref().unwrap_or(passwords::dummy_hash())) && hash.is_some()
    })
    .await
    .unwrap_or(false);
    found.filter(|_| matches).ok_or(Text::WrongPassword)
}

/// Records the consent (grant, account, events, code) and redirects with the code.
async fn consent(
    state: &SharedState,
    lang: Lang,
    request: &AuthRequestRecord,
    customer: &CustomerRecord,
    scope: ScopeSet,
    cap: Option<Amount>,
) -> Response {
    let now = state.now();
    let code = Secret::generate("pac_");
    let code_hash = lookup_hash(code.expose());
    let (request_id, company, customer_id, currency) =
        (request.id.clone(), request.company_id.clone(), customer.id.clone(), state.currency);
    let consented = state
        .store
        .write(move |tx| {
            let Some(request) = oauth::take_request(tx, &request_id, now)? else { return Ok(None) };
            let done = grants::consent(tx, &company, &customer_id, scope, cap, GrantOrigin::Consent, now)?;
            if done.account_created {
                events::account_created(tx, &done.account, currency, now)?;
            }
            if done.grant_created {
                events::grant(tx, "grant.created", &done.grant, currency, now)?;
            }
            let record = CodeRecord {
                company_id: company.clone(),
                redirect_uri: request.redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                grant_id: done.grant.id.clone(),
                scope,
                expires_at: now.plus_s(auth_code_ttl_s),
                issued: None,
            };
            oauth::save_code(tx, &code_hash, &record)?;
            Ok(Some(done.grant))
        })
        .await;
    match consented {
        Ok(Some(grant)) => {
            tracing::info!(grant_id = %grant.id, company_id = %grant.company_id, "consent given");
            let mut params = vec![("code", code.expose())];
            if let Some(value) = request.state.as_deref() {
                params.push(("state", value));
            }
            params.push(("iss", &state.public_url));
            redirect_to(&request.redirect_uri, &params)
        }
        Ok(None) => error_page(lang, Text::ExpiredRequest),
        Err(error) => {
            tracing::error!(error = %error, "storage failure recording a consent");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

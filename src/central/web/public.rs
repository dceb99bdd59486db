//! The public pages: home, register (person or company), sign in, sign out, the language switch,
//! and the error pages. Registering and signing in go through the JSON API's own handlers.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use crate::central::routes::{registration, sessions as session_routes};
use crate::central::state::SharedState;
use crate::central::web::browser::Browser;
use crate::central::web::cookies;
use crate::central::web::forms::{FormData, FormErrors, api_json};
use crate::central::web::layout::{Chrome, SIGN_OUT, local_path, render, see_other};
use crate::storage::central::sessions;
use crate::vocab::limits::session_ttl_s;
use crate::vocab::secret::Secret;

#[derive(Debug, Template)]
#[template(path = "site/home.html")]
struct HomePage {
    chrome: Chrome,
}

/// `GET /`: what PROTUS is, for people and for companies.
pub async fn home(browser: Browser) -> Response {
    let chrome = Chrome::new(&browser, browser.t().home_title, "/");
    render(&browser, StatusCode::OK, &HomePage { chrome })
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct KindQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    next: String,
}

#[derive(Debug, Template)]
#[template(path = "site/register.html")]
struct RegisterPage {
    chrome: Chrome,
    company: bool,
    csrf: String,
    name: String,
    email: String,
    username: String,
    errors: FormErrors,
    notice: String,
}

const REGISTER: &str = "/register";

fn register_page(
    browser: &Browser,
    status: StatusCode,
    company: bool,
    form: &FormData,
    errors: FormErrors,
) -> Response {
    let page = RegisterPage {
        chrome: Chrome::new(browser, browser.t().register_title, "/register"),
        company,
        csrf: browser.csrf(REGISTER),
        name: form.get("name").to_owned(),
        email: form.get("email").to_owned(),
        username: form.get("username").to_owned(),
        errors,
        notice: String::new(),
    };
    render(browser, status, &page)
}

/// `GET /register`: the form, for a person or (`?kind=company`) a company.
pub async fn register_form(browser: Browser, Query(query): Query<KindQuery>) -> Response {
    register_page(&browser, StatusCode::OK, query.kind == "company", &FormData::default(), FormErrors::default())
}

/// `POST /register`: registers through `POST /api/v1/customers` or `/api/v1/companies`, then signs in.
pub async fn register(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    browser: Browser,
    body: String,
) -> Response {
    let form = FormData::parse(&body);
    let company = form.get("kind") == "company";
    let t = browser.t();
    let refuse = |status, errors| register_page(&browser, status, company, &form, errors);
    if !browser.csrf_ok(REGISTER, form.get("csrf_token")) {
        return refuse(StatusCode::FORBIDDEN, FormErrors::general(t.form_expired));
    }
    let (email, password) = (form.get("email").trim(), form.get("password"));
    if company {
        let raw = json!({"name": form.get("name").trim(), "email": email, "password": password});
        let registered = match api_json(raw) {
            Ok(body) => registration::register_company(State(state.clone()), body).await,
            Err(problem) => Err(problem),
        };
        let registered = match registered {
            Ok((_, axum::Json(registered))) => registered,
            Err(problem) => return refuse(StatusCode::OK, FormErrors::from_problem(&problem, t, browser.lang)),
        };
        let Ok(token) = sign_in(&state, peer, "company", email, password).await else {
            return see_other("/signin?kind=company");
        };
        let page = WelcomeCompany {
            chrome: Chrome::new(&browser, t.welcome_company, ""),
            client_id: registered.company.id.clone(),
            client_secret: registered.client_secret.0.clone(),
            webhook_secret: registered.webhook_secret.0.clone(),
        };
        return with_session(render(&browser, StatusCode::CREATED, &page), &state, &token);
    }
    let raw = json!({"email": email, "username": form.get("username").trim(), "password": password});
    let registered = match api_json(raw) {
        Ok(body) => registration::register_customer(State(state.clone()), body).await,
        Err(problem) => Err(problem),
    };
    match registered {
        Ok(answer) if answer.status() == StatusCode::ACCEPTED => {
            let mut page = RegisterPage {
                chrome: Chrome::new(&browser, t.register_title, "/register"),
                company: false,
                csrf: browser.csrf(REGISTER),
                name: String::new(),
                email: String::new(),
                username: String::new(),
                errors: FormErrors::default(),
                notice: String::new(),
            };
            page.notice = t.claim_sent.to_owned();
            render(&browser, StatusCode::ACCEPTED, &page)
        }
        Ok(_) => match sign_in(&state, peer, "customer", email, password).await {
            Ok(token) => with_session(see_other("/wallet"), &state, &token),
            Err(_) => see_other("/signin"),
        },
        Err(problem) => refuse(StatusCode::OK, FormErrors::from_problem(&problem, t, browser.lang)),
    }
}

#[derive(Debug, Template)]
#[template(path = "site/welcome_company.html")]
struct WelcomeCompany {
    chrome: Chrome,
    client_id: String,
    client_secret: String,
    webhook_secret: String,
}

/// Signs in through `POST /api/v1/sessions`; the session token, or the API's refusal.
async fn sign_in(
    state: &SharedState,
    peer: SocketAddr,
    kind: &str,
    email: &str,
    password: &str,
) -> Result<Secret, crate::http::problem::Problem> {
    let body = api_json(json!({"kind": kind, "email": email, "password": password}))?;
    let (_, axum::Json(session)) =
        session_routes::create_session(State(state.clone()), ConnectInfo(peer), body).await?;
    Ok(Secret::new(session.token.0))
}

/// Sets the session cookie on `response`.
fn with_session(mut response: Response, state: &SharedState, token: &Secret) -> Response {
    response.headers_mut().append(header::SET_COOKIE, cookies::session(token.expose(), session_ttl_s, state.https));
    response
}

#[derive(Debug, Template)]
#[template(path = "site/signin.html")]
struct SignInPage {
    chrome: Chrome,
    company: bool,
    csrf: String,
    next: String,
    email: String,
    errors: FormErrors,
}

const SIGN_IN: &str = "/signin";

/// `GET /signin`: the form, for a person or (`?kind=company`) a company.
pub async fn sign_in_form(browser: Browser, Query(query): Query<KindQuery>) -> Response {
    let page = SignInPage {
        chrome: Chrome::new(&browser, browser.t().sign_in_title, "/signin"),
        company: query.kind == "company",
        csrf: browser.csrf(SIGN_IN),
        next: local_path(&query.next, "").to_owned(),
        email: String::new(),
        errors: FormErrors::default(),
    };
    render(&browser, StatusCode::OK, &page)
}

/// `POST /signin`: a session cookie and off to the wallet (or the company, or `next`).
pub async fn sign_in_submit(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    browser: Browser,
    body: String,
) -> Response {
    let form = FormData::parse(&body);
    let company = form.get("kind") == "company";
    let t = browser.t();
    let again = |status, errors| {
        let page = SignInPage {
            chrome: Chrome::new(&browser, t.sign_in_title, "/signin"),
            company,
            csrf: browser.csrf(SIGN_IN),
            next: local_path(form.get("next"), "").to_owned(),
            email: form.get("email").to_owned(),
            errors,
        };
        render(&browser, status, &page)
    };
    if !browser.csrf_ok(SIGN_IN, form.get("csrf_token")) {
        return again(StatusCode::FORBIDDEN, FormErrors::general(t.form_expired));
    }
    let kind = if company { "company" } else { "customer" };
    match sign_in(&state, peer, kind, form.get("email").trim(), form.get("password")).await {
        Ok(token) => {
            let home = if company { "/company" } else { "/wallet" };
            let next = local_path(form.get("next"), home);
            let next = if next.is_empty() { home } else { next };
            with_session(see_other(next), &state, &token)
        }
        Err(problem) if problem.status == 429 => {
            // The API's `Retry-After` goes with the page too (DESIGN §5: 429 carries it).
            let mut page = again(StatusCode::TOO_MANY_REQUESTS, FormErrors::general(t.too_many));
            if let Some(seconds) = problem.retry_after_s {
                page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            page
        }
        Err(_) => again(StatusCode::OK, FormErrors::general(t.wrong_password)),
    }
}

/// `POST /signout`: ends the session at central and in the browser.
pub async fn sign_out(State(state): State<SharedState>, browser: Browser, body: String) -> Response {
    let form = FormData::parse(&body);
    if let Some(session) = &browser.session {
        if !browser.csrf_ok(SIGN_OUT, form.get("csrf_token")) {
            return error_page(&browser, StatusCode::FORBIDDEN);
        }
        let token = session.token.clone();
        if state.store.write(move |tx| sessions::revoke(tx, &token)).await.is_err() {
            return error_page(&browser, StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
    let mut response = see_other("/");
    response.headers_mut().append(header::SET_COOKIE, cookies::clear_session(state.https));
    response
}

#[derive(Debug, serde::Deserialize)]
pub struct LangQuery {
    #[serde(default)]
    to: String,
    #[serde(default)]
    back: String,
}

/// `GET /lang?to=ru&back=/wallet`: remembers the language in a cookie and goes back.
pub async fn switch_lang(State(state): State<SharedState>, Query(query): Query<LangQuery>) -> Response {
    let mut response = see_other(local_path(&query.back, "/"));
    if matches!(query.to.as_str(), "en" | "ru") {
        response.headers_mut().append(header::SET_COOKIE, cookies::lang(&query.to, state.https));
    }
    response
}

#[derive(Debug, Template)]
#[template(path = "site/error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: &'static str,
    lead: &'static str,
}

/// The 404 or 500 page (any other status shows the 500 text) in the layout.
pub fn error_page(browser: &Browser, status: StatusCode) -> Response {
    let t = browser.t();
    let (heading, lead) = match status {
        StatusCode::NOT_FOUND => (t.not_found_title, t.not_found_lead),
        StatusCode::FORBIDDEN => (t.form_expired, t.go_home),
        _ => (t.error_title, t.error_lead),
    };
    let page = ErrorPage { chrome: Chrome::new(browser, heading, ""), heading, lead };
    render(browser, status, &page)
}

/// `GET /static/protus.css`: the one stylesheet, cached by browsers for a day.
pub async fn stylesheet() -> Response {
    let mut response = axum::response::IntoResponse::into_response(include_str!("../../../static/protus.css"));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

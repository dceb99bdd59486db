//! The company's overview (profile with its edit form, revenue and active-account charts) and
//! its secrets (rotation, the new one shown once). Changes go through the JSON API's handlers.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::central::auth::CompanyAuth;
use crate::central::routes::company as company_routes;
use crate::central::state::SharedState;
use crate::central::web::browser::Browser;
use crate::central::web::chart::{self, ChartTexts, Series, Unit};
use crate::central::web::forms::{FormData, FormErrors, api_json};
use crate::central::web::layout::{Chrome, render, see_other};
use crate::central::web::public::error_page;
use crate::storage::central::billing::{self, ChargeOwner};
use crate::vocab::limits::{chart_charges_scanned_max, chart_days};

/// The signed-in company, or where to send a browser that is not one.
pub fn company_or_redirect(browser: &Browser) -> Result<CompanyAuth, Response> {
    if let Some(company) = browser.company() {
        return Ok(CompanyAuth { company: company.clone() });
    }
    if browser.customer().is_some() {
        return Err(see_other("/wallet"));
    }
    let next = form_urlencoded::byte_serialize(browser.here.as_bytes()).collect::<String>();
    Err(see_other(&format!("/signin?kind=company&next={next}")))
}

#[derive(Debug, Template)]
#[template(path = "site/company.html")]
struct OverviewPage {
    chrome: Chrome,
    name: String,
    email: String,
    client_id: String,
    webhook_url: String,
    redirect_uris: Vec<String>,
    form_webhook_url: String,
    form_redirect_uris: String,
    csrf: String,
    errors: FormErrors,
    revenue: String,
    active: String,
}

const PROFILE: &str = "/company/profile";

async fn overview_page(
    state: &SharedState,
    browser: &Browser,
    auth: CompanyAuth,
    typed: Option<&FormData>,
    errors: FormErrors,
    notice: &str,
) -> Response {
    let t = browser.t();
    let company_id = auth.company.id.clone();
    let axum::Json(company) = company_routes::get_company(auth).await;
    let Ok((revenue, active)) = charts(state, browser, company_id).await else {
        return error_page(browser, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = OverviewPage {
        chrome: Chrome::new(browser, &company.name, "/company").with_notice(notice),
        form_webhook_url: typed
            .map(|f| f.get("webhook_url").to_owned())
            .unwrap_or_else(|| company.webhook_url.clone().unwrap_or_default()),
        form_redirect_uris: typed
            .map(|f| f.get("redirect_uris").to_owned())
            .unwrap_or_else(|| company.redirect_uris.join("\n")),
        name: company.name,
        email: company.email,
        client_id: company.client_id,
        webhook_url: company.webhook_url.unwrap_or_else(|| t.not_set.to_owned()),
        redirect_uris: company.redirect_uris,
        csrf: browser.csrf(PROFILE),
        errors,
        revenue: revenue.render().unwrap_or_default(),
        active: active.render().unwrap_or_default(),
    };
    render(browser, status, &page)
}

/// Revenue per day and accounts charged per day over the last 30 days.
async fn charts(
    state: &SharedState,
    browser: &Browser,
    company: crate::vocab::ids::CompanyId,
) -> Result<(chart::Chart, chart::Chart), crate::storage::StoreError> {
    let (t, lang, currency) = (browser.t(), browser.lang, state.currency);
    let days = chart::last_days(state.now(), chart_days);
    let since = days.first().copied().unwrap_or(state.now());
    let charges = state
        .store
        .read(move |r| billing::charges_since(r, ChargeOwner::Company(&company), since, chart_charges_scanned_max))
        .await?;
    let mut revenue = vec![0i64; days.len()];
    let mut accounts: Vec<Vec<String>> = vec![Vec::new(); days.len()];
    for charge in &charges {
        let Some(day) = chart::day_index(&days, charge.created_at) else { continue };
        revenue[day] += chart::minor_units(charge.amount, currency);
        let id = charge.account_id.to_string();
        if !accounts[day].contains(&id) {
            accounts[day].push(id);
        }
    }
    let active: Vec<i64> = accounts.iter().map(|a| a.len() as i64).collect();
    let texts = |id, title: &str, column: &str| ChartTexts {
        id,
        title: title.to_owned(),
        table_caption: t.chart_table.to_owned(),
        day_header: t.col_day.to_owned(),
        total_header: column.to_owned(),
        empty_text: t.no_revenue.to_owned(),
    };
    let revenue_series = [Series { name: t.col_revenue.to_owned(), values: revenue }];
    let active_series = [Series { name: t.col_active.to_owned(), values: active }];
    Ok((
        chart::draw(
            texts("revenue", t.chart_revenue, t.col_revenue),
            &days,
            &revenue_series,
            Unit::Money(currency),
            lang,
        ),
        chart::draw(texts("active", t.chart_active, t.col_active), &days, &active_series, Unit::Count, lang),
    ))
}

/// `GET /company`: the profile with its edit form, and the charts.
pub async fn overview(State(state): State<SharedState>, browser: Browser) -> Response {
    match company_or_redirect(&browser) {
        Ok(auth) => overview_page(&state, &browser, auth, None, FormErrors::default(), "").await,
        Err(redirect) => redirect,
    }
}

/// `POST /company/profile`: the webhook URL and redirect URIs, through `PATCH /api/v1/company`.
pub async fn update_profile(State(state): State<SharedState>, browser: Browser, body: String) -> Response {
    let auth = match company_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let form = FormData::parse(&body);
    let t = browser.t();
    if !browser.csrf_ok(PROFILE, form.get("csrf_token")) {
        return overview_page(&state, &browser, auth, Some(&form), FormErrors::general(t.form_expired), "").await;
    }
    let url = form.get("webhook_url").trim();
    let webhook_url = if url.is_empty() { Value::Null } else { Value::String(url.to_owned()) };
    let uris: Vec<&str> = form.get("redirect_uris").lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let again = CompanyAuth { company: auth.company.clone() };
    let answer = match api_json(json!({"webhook_url": webhook_url, "redirect_uris": uris})) {
        Ok(body) => company_routes::update_company(State(state.clone()), again, body).await,
        Err(problem) => Err(problem),
    };
    match answer {
        Ok(axum::Json(_)) => {
            // Read the company again so the page shows what was stored.
            let id = auth.company.id.clone();
            match state.store.read(move |r| crate::storage::central::companies::get(r, &id)).await {
                Ok(Some(company)) => {
                    overview_page(&state, &browser, CompanyAuth { company }, None, FormErrors::default(), t.saved).await
                }
                _ => error_page(&browser, StatusCode::INTERNAL_SERVER_ERROR),
            }
        }
        Err(problem) => {
            let errors = FormErrors::from_problem(&problem, t, browser.lang);
            overview_page(&state, &browser, auth, Some(&form), errors, "").await
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "site/secrets.html")]
struct SecretsPage {
    chrome: Chrome,
    client_id: String,
    csrf: String,
    /// The secret just made, shown this once, its label and until when the old one works.
    new_secret: String,
    new_label: &'static str,
    old_until: String,
}

const SECRETS: &str = "/company/secrets";

/// `GET /company/secrets`: what can be rotated.
pub async fn secrets(browser: Browser) -> Response {
    let auth = match company_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let page = SecretsPage {
        chrome: Chrome::new(&browser, browser.t().secrets_title, SECRETS),
        client_id: auth.company.id.to_string(),
        csrf: browser.csrf(SECRETS),
        new_secret: String::new(),
        new_label: "",
        old_until: String::new(),
    };
    render(&browser, StatusCode::OK, &page)
}

/// `POST /company/secrets`: rotates one secret (`POST /api/v1/company/secrets/rotate`) and shows it once.
pub async fn rotate(State(state): State<SharedState>, browser: Browser, body: String) -> Response {
    let auth = match company_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let form = FormData::parse(&body);
    let t = browser.t();
    if !browser.csrf_ok(SECRETS, form.get("csrf_token")) {
        return error_page(&browser, StatusCode::FORBIDDEN);
    }
    let (kind, label) = match form.get("kind") {
        "webhook_secret" => ("webhook_secret", t.webhook_secret),
        _ => ("client_secret", t.client_secret),
    };
    let client_id = auth.company.id.to_string();
    let answer = match api_json(json!({"kind": kind})) {
        Ok(body) => company_routes::rotate_secret(State(state.clone()), auth, body).await,
        Err(problem) => Err(problem),
    };
    let Ok(axum::Json(rotated)) = answer else { return error_page(&browser, StatusCode::INTERNAL_SERVER_ERROR) };
    let page = SecretsPage {
        chrome: Chrome::new(&browser, t.secrets_title, SECRETS),
        client_id,
        csrf: browser.csrf(SECRETS),
        new_secret: rotated.secret.0.clone(),
        new_label: label,
        old_until: crate::central::web::format::when_text(&rotated.previous_valid_until, browser.lang),
    };
    render(&browser, StatusCode::OK, &page)
}

//! The company's lists: services (add, edit, deactivate), its users' accounts (with details),
//! invoices (filtered by service) and webhook deliveries (with retry) — through the API handlers.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::central::auth::CompanyAuth;
use crate::central::routes::company::{self as company_routes, ChargeFilter};
use crate::central::routes::services;
use crate::central::routes::webhooks::{self, DeliveryStatusWire};
use crate::central::state::SharedState;
use crate::central::web::browser::Browser;
use crate::central::web::company::company_or_redirect;
use crate::central::web::customer::{AccountViewer, ChargeRow, PageQuery, account_details, page_params};
use crate::central::web::format::{amount_from_input, money_text, when_text};
use crate::central::web::forms::{FormData, FormErrors, api_json};
use crate::central::web::i18n::Lang;
use crate::central::web::layout::{Chrome, render, see_other};
use crate::central::web::public::error_page;
use crate::http::query::ApiQuery;
use crate::vocab::limits::{page_len_max, web_page_len};

#[derive(Debug)]
struct ServiceRow {
    id: String,
    name: String,
    price: String,
    price_input: String,
    active: bool,
    csrf_edit: String,
    csrf_active: String,
    errors: FormErrors,
}

#[derive(Debug, Template)]
#[template(path = "site/services.html")]
struct ServicesPage {
    chrome: Chrome,
    rows: Vec<ServiceRow>,
    csrf_add: String,
    name: String,
    price: String,
    errors: FormErrors,
}

const SERVICES: &str = "/company/services";

fn edit_path(id: &str) -> String {
    format!("/company/services/{id}")
}

fn active_path(id: &str) -> String {
    format!("/company/services/{id}/active")
}

/// What a failed service form re-shows: on the add form (`None`) or on one row.
type Failed<'a> = Option<(Option<String>, &'a FormData, FormErrors)>;

async fn services_page(
    state: &SharedState,
    browser: &Browser,
    auth: CompanyAuth,
    notice: &str,
    failed: Failed<'_>,
) -> Response {
    let (t, lang, currency) = (browser.t(), browser.lang, state.currency);
    let query = ApiQuery(crate::http::query::PageParams { cursor: None, limit: Some(page_len_max.to_string()) });
    let Ok(axum::Json(list)) = services::list_services(State(state.clone()), auth, query).await else {
        return error_page(browser, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let status = if failed.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let rows = list
        .items
        .into_iter()
        .map(|s| {
            let retry = failed.as_ref().filter(|(id, _, _)| id.as_deref() == Some(s.id.as_str()));
            ServiceRow {
                csrf_edit: browser.csrf(&edit_path(&s.id)),
                csrf_active: browser.csrf(&active_path(&s.id)),
                price: money_text(&s.price, currency, lang),
                price_input: match retry {
                    Some((_, form, _)) => form.get("price").to_owned(),
                    None if lang == Lang::Ru => s.price.replace('.', ","),
                    None => s.price.clone(),
                },
                name: retry.map(|(_, form, _)| form.get("name").to_owned()).unwrap_or(s.name),
                errors: retry.map(|(_, _, e)| e.clone()).unwrap_or_default(),
                active: s.active,
                id: s.id,
            }
        })
        .collect();
    let add = failed.as_ref().filter(|(id, _, _)| id.is_none());
    let page = ServicesPage {
        chrome: Chrome::new(browser, t.services_title, SERVICES).with_notice(notice),
        rows,
        csrf_add: browser.csrf(SERVICES),
        name: add.map(|(_, f, _)| f.get("name").to_owned()).unwrap_or_default(),
        price: add.map(|(_, f, _)| f.get("price").to_owned()).unwrap_or_default(),
        errors: add.map(|(_, _, e)| e.clone()).unwrap_or_default(),
    };
    render(browser, status, &page)
}

/// `GET /company/services`.
pub async fn services_list(State(state): State<SharedState>, browser: Browser) -> Response {
    match company_or_redirect(&browser) {
        Ok(auth) => services_page(&state, &browser, auth, "", None).await,
        Err(redirect) => redirect,
    }
}

/// `POST /company/services`: adds a service (`POST /api/v1/company/services`).
pub async fn add_service(State(state): State<SharedState>, browser: Browser, body: String) -> Response {
    let auth = match company_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let form = FormData::parse(&body);
    let t = browser.t();
    if !browser.csrf_ok(SERVICES, form.get("csrf_token")) {
        return services_page(&state, &browser, auth, "", Some((None, &form, FormErrors::general(t.form_expired))))
            .await;
    }
    let raw = json!({"name": form.get("name").trim(), "price": amount_from_input(form.get("price"))});
    let again = CompanyAuth { company: auth.company.clone() };
    let answer = match api_json(raw) {
        Ok(body) => services::create_service(State(state.clone()), again, body).await.map(|_| ()),
        Err(problem) => Err(problem),
    };
    match answer {
        Ok(()) => services_page(&state, &browser, auth, t.saved, None).await,
        Err(problem) => {
            let errors = FormErrors::from_problem(&problem, t, browser.lang);
            services_page(&state, &browser, auth, "", Some((None, &form, errors))).await
        }
    }
}

/// `POST /company/services/{id}`: renames and reprices (`PATCH /api/v1/company/services/{id}`).
pub async fn edit_service(
    State(state): State<SharedState>,
    browser: Browser,
    Path(id): Path<String>,
    body: String,
) -> Response {
    change_service(state, browser, id, body, false).await
}

/// `POST /company/services/{id}/active`: deactivates or reactivates a service.
pub async fn toggle_service(
    State(state): State<SharedState>,
    browser: Browser,
    Path(id): Path<String>,
    body: String,
) -> Response {
    change_service(state, browser, id, body, true).await
}

async fn change_service(state: SharedState, browser: Browser, id: String, body: String, toggle: bool) -> Response {
    let auth = match company_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let form = FormData::parse(&body);
    let t = browser.t();
    let action = if toggle { active_path(&id) } else { edit_path(&id) };
    if !browser.csrf_ok(&action, form.get("csrf_token")) {
        let errors = FormErrors::general(t.form_expired);
        return services_page(&state, &browser, auth, "", Some((Some(id), &form, errors))).await;
    }
    let raw = if toggle {
        json!({"active": form.get("active") == "true"})
    } else {
        json!({"name": form.get("name").trim(), "price": amount_from_input(form.get("price"))})
    };
    let again = CompanyAuth { company: auth.company.clone() };
    let answer = match api_json(raw) {
        Ok(body) => services::update_service(State(state.clone()), again, Path(id.clone()), body).await.map(|_| ()),
        Err(problem) => Err(problem),
    };
    match answer {
        Ok(()) => services_page(&state, &browser, auth, t.saved, None).await,
        Err(problem) if problem.status == 404 => error_page(&browser, StatusCode::NOT_FOUND),
        Err(problem) => {
            let errors = FormErrors::from_problem(&problem, t, browser.lang);
            services_page(&state, &browser, auth, "", Some((Some(id), &form, errors))).await
        }
    }
}

#[derive(Debug)]
struct UserRow {
    id: String,
    email: String,
    username: String,
    since: String,
    paid: String,
}

#[derive(Debug, Template)]
#[template(path = "site/users.html")]
struct UsersPage {
    chrome: Chrome,
    rows: Vec<UserRow>,
    next: String,
}

/// `GET /company/accounts`: the users' accounts with what each paid.
pub async fn users(State(state): State<SharedState>, browser: Browser, Query(query): Query<PageQuery>) -> Response {
    let auth = match company_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let (t, lang, currency) = (browser.t(), browser.lang, state.currency);
    let Ok(axum::Json(list)) =
        company_routes::list_accounts(State(state.clone()), auth, page_params(&query.cursor)).await
    else {
        return error_page(&browser, StatusCode::NOT_FOUND);
    };
    let rows = list
        .items
        .into_iter()
        .map(|a| UserRow {
            since: when_text(&a.created_at, lang),
            paid: money_text(&a.paid_total, currency, lang),
            email: a.customer_email,
            username: a.customer_username,
            id: a.id,
        })
        .collect();
    let page = UsersPage {
        chrome: Chrome::new(&browser, t.users_title, "/company/accounts"),
        rows,
        next: list.next_cursor.unwrap_or_default(),
    };
    render(&browser, StatusCode::OK, &page)
}

/// `GET /company/accounts/{id}`: one user's account with its charges.
pub async fn user_account(
    State(state): State<SharedState>,
    browser: Browser,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let auth = match company_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    account_details(&state, &browser, &id, AccountViewer::Company(auth.company.id), &query.cursor).await
}

#[derive(Debug)]
struct ServiceChoice {
    id: String,
    name: String,
    selected: bool,
}

#[derive(Debug, Template)]
#[template(path = "site/invoices.html")]
struct InvoicesPage {
    chrome: Chrome,
    rows: Vec<ChargeRow>,
    services: Vec<ServiceChoice>,
    service_id: String,
    next: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct InvoiceQuery {
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    service_id: String,
}

/// `GET /company/invoices?service_id=`: the charges, newest first, optionally of one service.
pub async fn invoices(
    State(state): State<SharedState>,
    browser: Browser,
    Query(query): Query<InvoiceQuery>,
) -> Response {
    let auth = match company_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let (t, lang, currency) = (browser.t(), browser.lang, state.currency);
    let again = CompanyAuth { company: auth.company.clone() };
    let all = ApiQuery(crate::http::query::PageParams { cursor: None, limit: Some(page_len_max.to_string()) });
    let Ok(axum::Json(service_list)) = services::list_services(State(state.clone()), again, all).await else {
        return error_page(&browser, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let filter = ChargeFilter {
        cursor: (!query.cursor.is_empty()).then(|| query.cursor.clone()),
        limit: Some(web_page_len.to_string()),
        service_id: (!query.service_id.is_empty()).then(|| query.service_id.clone()),
    };
    let Ok(axum::Json(list)) = company_routes::list_charges(State(state.clone()), auth, ApiQuery(filter)).await else {
        return error_page(&browser, StatusCode::NOT_FOUND);
    };
    let rows = list
        .items
        .into_iter()
        .map(|c| ChargeRow {
            date: when_text(&c.created_at, lang),
            invoice: c.invoice_number,
            service: c.service_name.or(c.description).unwrap_or_default(),
            user: c.account_id,
            amount: money_text(&c.amount, currency, lang),
            status: match c.status.as_str() {
                "settled" => t.status_settled,
                "accepted" => t.status_accepted,
                _ => t.status_reversed,
            },
        })
        .collect();
    let services = service_list
        .items
        .into_iter()
        .map(|s| ServiceChoice { selected: s.id == query.service_id, id: s.id, name: s.name })
        .collect();
    let page = InvoicesPage {
        chrome: Chrome::new(&browser, t.invoices_title, "/company/invoices"),
        rows,
        services,
        next: list.next_cursor.unwrap_or_default(),
        service_id: query.service_id,
    };
    render(&browser, StatusCode::OK, &page)
}

#[derive(Debug)]
struct DeliveryRow {
    id: String,
    event: String,
    status: &'static str,
    ok: bool,
    attempts: usize,
    response: String,
    next: String,
    created: String,
    csrf: String,
}

#[derive(Debug, Template)]
#[template(path = "site/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    rows: Vec<DeliveryRow>,
    next: String,
    error: String,
}

fn retry_path(id: &str) -> String {
    format!("/company/webhooks/{id}/retry")
}

async fn webhooks_page(
    state: &SharedState,
    browser: &Browser,
    auth: CompanyAuth,
    cursor: &str,
    notice: &str,
    error: &str,
) -> Response {
    let (t, lang) = (browser.t(), browser.lang);
    let Ok(axum::Json(list)) = webhooks::list_deliveries(State(state.clone()), auth, page_params(cursor)).await else {
        return error_page(browser, StatusCode::NOT_FOUND);
    };
    let rows = list
        .items
        .into_iter()
        .map(|d| {
            let last = d.attempts.last();
            let response = match last {
                Some(a) => a.status_code.map(|c| c.to_string()).or_else(|| a.error.clone()).unwrap_or_default(),
                None => String::new(),
            };
            let (status, ok) = match d.status {
                DeliveryStatusWire::Pending => (t.delivery_pending, true),
                DeliveryStatusWire::Failed => (t.delivery_failed, false),
                DeliveryStatusWire::Succeeded => (t.delivery_succeeded, true),
                DeliveryStatusWire::Exhausted => (t.delivery_exhausted, false),
            };
            DeliveryRow {
                csrf: browser.csrf(&retry_path(&d.id)),
                event: d.event_type,
                status,
                ok,
                attempts: d.attempts.len(),
                response,
                next: d.next_attempt_at.map(|n| when_text(&n, lang)).unwrap_or_default(),
                created: when_text(&d.created_at, lang),
                id: d.id,
            }
        })
        .collect();
    let page = WebhooksPage {
        chrome: Chrome::new(browser, t.webhooks_title, "/company/webhooks").with_notice(notice),
        rows,
        next: list.next_cursor.unwrap_or_default(),
        error: error.to_owned(),
    };
    render(browser, if error.is_empty() { StatusCode::OK } else { StatusCode::CONFLICT }, &page)
}

/// `GET /company/webhooks`: deliveries with status, attempts and the last answer.
pub async fn deliveries(
    State(state): State<SharedState>,
    browser: Browser,
    Query(query): Query<PageQuery>,
) -> Response {
    match company_or_redirect(&browser) {
        Ok(auth) => {
            let notice = if query.retried.is_empty() { "" } else { browser.t().retried };
            webhooks_page(&state, &browser, auth, &query.cursor, notice, "").await
        }
        Err(redirect) => redirect,
    }
}

/// `POST /company/webhooks/{id}/retry`: sends a delivery again now.
pub async fn retry(
    State(state): State<SharedState>,
    browser: Browser,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let auth = match company_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let form = FormData::parse(&body);
    let t = browser.t();
    if !browser.csrf_ok(&retry_path(&id), form.get("csrf_token")) {
        let mut page = webhooks_page(&state, &browser, auth, "", "", t.form_expired).await;
        // An expired form is 422 like on every signed-in form (docs/design.md, "Web interface"),
        // not the 409 of a retry that cannot be sent.
        if page.status() == StatusCode::CONFLICT {
            *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        }
        return page;
    }
    let again = CompanyAuth { company: auth.company.clone() };
    match webhooks::retry_delivery(State(state.clone()), again, Path(id)).await {
        Ok(_) => see_other("/company/webhooks?retried=1"),
        Err(problem) if problem.status == 404 => error_page(&browser, StatusCode::NOT_FOUND),
        Err(_) => webhooks_page(&state, &browser, auth, "", "", t.set_webhook_first).await,
    }
}

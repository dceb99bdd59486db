//! The customer's connected services (grants): narrow the permissions, change the spending cap,
//! confirm a suspended grant, and revoke after a confirmation page — all through the JSON API's
//! grant handlers.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::central::auth::CustomerAuth;
use crate::central::routes::grants;
use crate::central::state::SharedState;
use crate::central::web::browser::Browser;
use crate::central::web::customer::{customer_or_redirect, page_params};
use crate::central::web::format::{amount_from_input, money_text, when_text};
use crate::central::web::forms::{FormData, FormErrors, api_json};
use crate::central::web::layout::{Chrome, render, see_other};
use crate::central::web::public::error_page;
use crate::central::web::ui::Ui;
use crate::wire::oauth::Grant;

#[derive(Debug)]
struct ScopeBox {
    name: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Debug)]
struct GrantRow {
    id: String,
    company: String,
    since: String,
    status: &'static str,
    suspended: bool,
    scopes: Vec<ScopeBox>,
    cap: String,
    cap_text: String,
    csrf_update: String,
    csrf_confirm: String,
    errors: FormErrors,
}

#[derive(Debug, Template)]
#[template(path = "site/connected.html")]
struct ConnectedPage {
    chrome: Chrome,
    rows: Vec<GrantRow>,
}

fn scope_label(t: &Ui, scope: &str) -> &'static str {
    match scope {
        "check" => t.scope_check,
        "hold" => t.scope_hold,
        _ => t.scope_charge,
    }
}

fn update_path(id: &str) -> String {
    format!("/connected/{id}")
}

fn confirm_path(id: &str) -> String {
    format!("/connected/{id}/confirm")
}

fn revoke_path(id: &str) -> String {
    format!("/connected/{id}/revoke")
}

/// The page, with `failed` = (grant id, what was typed, errors) re-shown on its row.
async fn connected_page(
    state: &SharedState,
    browser: &Browser,
    auth: CustomerAuth,
    notice: &str,
    failed: Option<(String, FormData, FormErrors)>,
) -> Response {
    let (t, lang, currency) = (browser.t(), browser.lang, state.currency);
    let Ok(axum::Json(list)) = grants::list(State(state.clone()), auth, page_params("")).await else {
        return error_page(browser, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let status = if failed.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let rows = list
        .items
        .into_iter()
        .filter(|g| g.status != "revoked")
        .map(|g: Grant| {
            let retry = failed.as_ref().filter(|(id, _, _)| *id == g.id);
            let scopes = ["check", "hold", "charge"]
                .into_iter()
                .filter(|s| g.scope.split(' ').any(|x| x == *s))
                .map(|s| ScopeBox {
                    name: s,
                    label: scope_label(t, s),
                    checked: retry.map(|(_, form, _)| form.all("scope").contains(&s)).unwrap_or(true),
                })
                .collect();
            let cap_wire = g.spending_cap.clone().unwrap_or_default();
            let cap = match retry {
                Some((_, form, _)) => form.get("spending_cap").to_owned(),
                None if cap_wire.is_empty() => String::new(),
                None => match lang {
                    crate::central::web::i18n::Lang::Ru => cap_wire.replace('.', ","),
                    crate::central::web::i18n::Lang::En => cap_wire.clone(),
                },
            };
            GrantRow {
                csrf_update: browser.csrf(&update_path(&g.id)),
                csrf_confirm: browser.csrf(&confirm_path(&g.id)),
                since: when_text(&g.created_at, lang),
                status: match g.status.as_str() {
                    "active" => t.grant_active,
                    "suspended" => t.grant_suspended,
                    _ => t.grant_revoked,
                },
                suspended: g.status == "suspended",
                scopes,
                cap_text: if cap_wire.is_empty() { t.no_cap.to_owned() } else { money_text(&cap_wire, currency, lang) },
                cap,
                errors: retry.map(|(_, _, e)| e.clone()).unwrap_or_default(),
                company: g.company_name,
                id: g.id,
            }
        })
        .collect();
    let page =
        ConnectedPage { chrome: Chrome::new(browser, t.connected_title, "/connected").with_notice(notice), rows };
    render(browser, status, &page)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    revoked: String,
}

/// `GET /connected`: every live grant with its permissions, cap and forms.
pub async fn list(State(state): State<SharedState>, browser: Browser, Query(query): Query<DoneQuery>) -> Response {
    let notice = if query.revoked.is_empty() { "" } else { browser.t().revoked_done };
    match customer_or_redirect(&browser) {
        Ok(auth) => connected_page(&state, &browser, auth, notice, None).await,
        Err(redirect) => redirect,
    }
}

/// `POST /connected/{id}`: narrows the scope and sets or clears the cap (`PATCH /api/v1/me/grants/{id}`).
pub async fn update(
    State(state): State<SharedState>,
    browser: Browser,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let auth = match customer_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let form = FormData::parse(&body);
    let t = browser.t();
    if !browser.csrf_ok(&update_path(&id), form.get("csrf_token")) {
        let errors = FormErrors::general(t.form_expired);
        return connected_page(&state, &browser, auth, "", Some((id, form, errors))).await;
    }
    let typed_cap = form.get("spending_cap").trim();
    let cap = if typed_cap.is_empty() { Value::Null } else { Value::String(amount_from_input(typed_cap)) };
    let raw = json!({"scope": form.all("scope").join(" "), "spending_cap": cap});
    let again = CustomerAuth { customer: auth.customer.clone() };
    let answer = match api_json(raw) {
        Ok(body) => grants::update(State(state.clone()), again, Path(id.clone()), body).await,
        Err(problem) => Err(problem),
    };
    match answer {
        Ok(_) => connected_page(&state, &browser, auth, t.saved, None).await,
        Err(problem) if problem.status == 404 => error_page(&browser, StatusCode::NOT_FOUND),
        Err(problem) => {
            let mut errors = FormErrors::from_problem(&problem, t, browser.lang);
            if !errors.of("scope").is_empty() {
                errors = FormErrors::field("scope", t.narrow_hint);
            }
            connected_page(&state, &browser, auth, "", Some((id, form, errors))).await
        }
    }
}

/// `POST /connected/{id}/confirm`: confirms a grant suspended at claiming.
pub async fn confirm(
    State(state): State<SharedState>,
    browser: Browser,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let auth = match customer_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let form = FormData::parse(&body);
    if !browser.csrf_ok(&confirm_path(&id), form.get("csrf_token")) {
        let errors = FormErrors::general(browser.t().form_expired);
        return connected_page(&state, &browser, auth, "", Some((id, form, errors))).await;
    }
    let again = CustomerAuth { customer: auth.customer.clone() };
    let answer = match api_json(json!({"status": "active"})) {
        Ok(body) => grants::update(State(state.clone()), again, Path(id.clone()), body).await,
        Err(problem) => Err(problem),
    };
    match answer {
        Ok(_) => connected_page(&state, &browser, auth, browser.t().saved, None).await,
        Err(problem) if problem.status == 404 => error_page(&browser, StatusCode::NOT_FOUND),
        Err(problem) => {
            let errors = FormErrors::from_problem(&problem, browser.t(), browser.lang);
            connected_page(&state, &browser, auth, "", Some((id, form, errors))).await
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "site/revoke.html")]
struct RevokePage {
    chrome: Chrome,
    id: String,
    company: String,
    csrf: String,
}

/// `GET /connected/{id}/revoke`: the confirmation step before revoking.
pub async fn revoke_confirm(State(state): State<SharedState>, browser: Browser, Path(id): Path<String>) -> Response {
    let auth = match customer_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let Ok(axum::Json(list)) = grants::list(State(state.clone()), auth, page_params("")).await else {
        return error_page(&browser, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let Some(grant) = list.items.into_iter().find(|g| g.id == id && g.status != "revoked") else {
        return error_page(&browser, StatusCode::NOT_FOUND);
    };
    let t = browser.t();
    let page = RevokePage {
        chrome: Chrome::new(&browser, t.revoke, "/connected"),
        csrf: browser.csrf(&revoke_path(&grant.id)),
        company: grant.company_name,
        id: grant.id,
    };
    render(&browser, StatusCode::OK, &page)
}

/// `POST /connected/{id}/revoke`: revokes through `DELETE /api/v1/me/grants/{id}`.
pub async fn revoke(
    State(state): State<SharedState>,
    browser: Browser,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let auth = match customer_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let form = FormData::parse(&body);
    if !browser.csrf_ok(&revoke_path(&id), form.get("csrf_token")) {
        return error_page(&browser, StatusCode::FORBIDDEN);
    }
    match grants::revoke(State(state.clone()), auth, Path(id)).await {
        Ok(_) => see_other("/connected?revoked=1"),
        Err(problem) if problem.status == 404 => error_page(&browser, StatusCode::NOT_FOUND),
        Err(_) => see_other("/connected"),
    }
}

//! The customer's pages: wallet with top-up, accounts at services with the spending chart, one
//! account's charges, and the statement. Reads and the top-up go through the JSON API's handlers.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::central::auth::CustomerAuth;
use crate::central::routes::me;
use crate::central::state::SharedState;
use crate::central::web::browser::Browser;
use crate::central::web::chart::{self, Chart, ChartTexts, Series, Unit};
use crate::central::web::format::{self, amount_from_input, money_text, when_text};
use crate::central::web::forms::{FormData, FormErrors, api_json};
use crate::central::web::layout::{Chrome, render, see_other};
use crate::central::web::public::error_page;
use crate::http::query::{ApiQuery, PageParams};
use crate::storage::central::billing::{self, ChargeOwner};
use crate::storage::central::{accounts, companies};
use crate::vocab::ids::AccountId;
use crate::vocab::limits::{chart_accounts_max, chart_charges_scanned_max, chart_days, chart_series_max, web_page_len};
use crate::vocab::secret::Secret;

/// The signed-in customer, or where to send a browser that is not one.
pub fn customer_or_redirect(browser: &Browser) -> Result<CustomerAuth, Response> {
    if let Some(customer) = browser.customer() {
        return Ok(CustomerAuth { customer: customer.clone() });
    }
    if browser.company().is_some() {
        return Err(see_other("/company"));
    }
    let next = form_urlencoded::byte_serialize(browser.here.as_bytes()).collect::<String>();
    Err(see_other(&format!("/signin?next={next}")))
}

/// `?cursor=` of a paginated page.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    pub cursor: String,
    #[serde(default)]
    pub top_up: String,
    #[serde(default)]
    pub retried: String,
}

pub fn page_params(cursor: &str) -> ApiQuery<PageParams> {
    let cursor = (!cursor.is_empty()).then(|| cursor.to_owned());
    ApiQuery(PageParams { cursor, limit: Some(web_page_len.to_string()) })
}

#[derive(Debug, Template)]
#[template(path = "site/wallet.html")]
struct WalletPage {
    chrome: Chrome,
    available: String,
    held: String,
    leased: String,
    debt: String,
    has_debt: bool,
    provider: String,
    csrf: String,
    idempotency_key: String,
    amount: String,
    errors: FormErrors,
    top_up: Option<TopUpLine>,
}

#[derive(Debug)]
struct TopUpLine {
    id: String,
    amount: String,
    status: &'static str,
    done: bool,
}

const TOP_UP: &str = "/wallet/top-ups";

async fn wallet_page(
    state: &SharedState,
    browser: &Browser,
    auth: CustomerAuth,
    top_up_id: &str,
    amount: String,
    errors: FormErrors,
) -> Response {
    let (t, lang, currency) = (browser.t(), browser.lang, state.currency);
    let top_up = if top_up_id.is_empty() {
        None
    } else {
        let auth = CustomerAuth { customer: auth.customer.clone() };
        me::get_top_up(State(state.clone()), auth, Path(top_up_id.to_owned())).await.ok().map(|axum::Json(top_up)| {
            let (status, done) = match top_up.status.as_str() {
                "succeeded" => (t.status_succeeded, true),
                "failed" => (t.status_failed, true),
                _ => (t.status_pending, false),
            };
            TopUpLine { id: top_up.id, amount: money_text(&top_up.amount, currency, lang), status, done }
        })
    };
    let Ok(axum::Json(me)) = me::get_me(State(state.clone()), auth).await else {
        return error_page(browser, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = WalletPage {
        chrome: Chrome::new(browser, t.wallet_title, "/wallet"),
        available: money_text(&me.wallet.available, currency, lang),
        held: money_text(&me.wallet.held, currency, lang),
        leased: money_text(&me.wallet.leased, currency, lang),
        has_debt: me.wallet.debt != "0.00" && me.wallet.debt != "0",
        debt: money_text(&me.wallet.debt, currency, lang),
        provider: state.providers.default_provider().map(|p| p.name().to_owned()).unwrap_or_default(),
        csrf: browser.csrf(TOP_UP),
        idempotency_key: Secret::generate("web_").expose().to_owned(),
        amount,
        errors,
        top_up,
    };
    render(browser, status, &page)
}

/// `GET /wallet`: balances, the top-up form and (`?top_up=`) how the last top-up went.
pub async fn wallet(State(state): State<SharedState>, browser: Browser, Query(query): Query<PageQuery>) -> Response {
    let auth = match customer_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    wallet_page(&state, &browser, auth, &query.top_up, String::new(), FormErrors::default()).await
}

/// `POST /wallet/top-ups`: starts a top-up through `POST /api/v1/me/top-ups`. The form carries its
/// own idempotency key, so posting it twice tops up once.
pub async fn top_up(State(state): State<SharedState>, browser: Browser, body: String) -> Response {
    let auth = match customer_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let form = FormData::parse(&body);
    let typed = form.get("amount").to_owned();
    let t = browser.t();
    if !browser.csrf_ok(TOP_UP, form.get("csrf_token")) {
        return wallet_page(&state, &browser, auth, "", typed, FormErrors::general(t.form_expired)).await;
    }
    let mut headers = HeaderMap::new();
    if let Ok(key) = HeaderValue::from_str(form.get("idempotency_key")) {
        headers.insert("idempotency-key", key);
    }
    let again = CustomerAuth { customer: auth.customer.clone() };
    let answer = match api_json(json!({"amount": amount_from_input(&typed)})) {
        Ok(body) => me::create_top_up(State(state.clone()), again, headers, body).await,
        Err(problem) => Err(problem),
    };
    let problem = match answer {
        Ok(response) if response.status().is_success() => {
            let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
            let id = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return see_other(&format!("/wallet?top_up={id}"));
        }
        Ok(response) => {
            let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
            serde_json::from_slice(&bytes).unwrap_or_else(|_| crate::http::problem::Problem::internal())
        }
        Err(problem) => problem,
    };
    let errors = if problem.code == "provider_unavailable" {
        FormErrors::general(t.no_provider)
    } else {
        FormErrors::from_problem(&problem, t, browser.lang)
    };
    wallet_page(&state, &browser, auth, "", typed, errors).await
}

#[derive(Debug)]
struct AccountRow {
    id: String,
    company: String,
    since: String,
    paid: String,
}

#[derive(Debug, Template)]
#[template(path = "site/accounts.html")]
struct AccountsPage {
    chrome: Chrome,
    rows: Vec<AccountRow>,
    chart: String,
    next: String,
}

/// `GET /accounts`: the customer's account at each company and 30 days of spending by service.
pub async fn accounts_list(
    State(state): State<SharedState>,
    browser: Browser,
    Query(query): Query<PageQuery>,
) -> Response {
    let auth = match customer_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let (t, lang, currency) = (browser.t(), browser.lang, state.currency);
    let customer_id = auth.customer.id.clone();
    let Ok(axum::Json(list)) = me::list_accounts(State(state.clone()), auth, page_params(&query.cursor)).await else {
        return error_page(&browser, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let rows = list
        .items
        .into_iter()
        .map(|a| AccountRow {
            id: a.id,
            company: a.company_name,
            since: when_text(&a.created_at, lang).split(' ').next().unwrap_or_default().to_owned(),
            paid: money_text(&a.paid_total, currency, lang),
        })
        .collect();
    let Ok(chart) = spending_chart(&state, &browser, customer_id).await else {
        return error_page(&browser, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let page = AccountsPage {
        chrome: Chrome::new(&browser, t.accounts_title, "/accounts"),
        rows,
        chart: chart.render().unwrap_or_default(),
        next: list.next_cursor.unwrap_or_default(),
    };
    render(&browser, StatusCode::OK, &page)
}

/// Spending per day over the last 30 days, stacked by (company, service).
async fn spending_chart(
    state: &SharedState,
    browser: &Browser,
    customer: crate::vocab::ids::CustomerId,
) -> Result<Chart, crate::storage::StoreError> {
    let (t, lang, currency) = (browser.t(), browser.lang, state.currency);
    let days = chart::last_days(state.now(), chart_days);
    let since = days.first().copied().unwrap_or(state.now());
    let charges = state
        .store
        .read(move |r| {
            let mut out = Vec::new();
            for account in accounts::list_for_customer(r, &customer, None, chart_accounts_max)?.items {
                let company =
                    companies::get(r, &account.company_id)?.map(|c| c.name.as_str().to_owned()).unwrap_or_default();
                let left = chart_charges_scanned_max.saturating_sub(out.len());
                for charge in billing::charges_since(r, ChargeOwner::Account(&account.id), since, left)? {
                    out.push((company.clone(), charge));
                }
            }
            Ok(out)
        })
        .await?;
    let mut totals: Vec<(String, Vec<i64>)> = Vec::new();
    for (company, charge) in &charges {
        let Some(day) = chart::day_index(&days, charge.created_at) else { continue };
        let what = charge.service_name.clone().or_else(|| charge.description.clone()).unwrap_or_default();
        let name = if what.is_empty() { company.clone() } else { format!("{company} — {what}") };
        let index = match totals.iter().position(|(n, _)| *n == name) {
            Some(index) => index,
            None => {
                totals.push((name, vec![0; days.len()]));
                totals.len() - 1
            }
        };
        totals[index].1[day] += chart::minor_units(charge.amount, currency);
    }
    totals.sort_by_key(|(_, values)| std::cmp::Reverse(values.iter().sum::<i64>()));
    let mut series: Vec<Series> = Vec::new();
    for (i, (name, values)) in totals.into_iter().enumerate() {
        if i < chart_series_max {
            series.push(Series { name, values });
        } else if let Some(other) = series.get_mut(chart_series_max) {
            other.values.iter_mut().zip(values).for_each(|(a, b)| *a += b);
        } else {
            series.push(Series { name: t.other_services.to_owned(), values });
        }
    }
    let texts = ChartTexts {
        id: "spending",
        title: t.chart_spending.to_owned(),
        table_caption: t.chart_table.to_owned(),
        day_header: t.col_day.to_owned(),
        total_header: t.col_total.to_owned(),
        empty_text: t.chart_empty.to_owned(),
    };
    Ok(chart::draw(texts, &days, &series, Unit::Money(currency), lang))
}

#[derive(Debug)]
pub struct ChargeRow {
    pub date: String,
    pub invoice: String,
    pub service: String,
    pub user: String,
    pub amount: String,
    pub status: &'static str,
}

#[derive(Debug, Template)]
#[template(path = "site/account.html")]
struct AccountPage {
    chrome: Chrome,
    company: String,
    account_id: String,
    since: String,
    paid: String,
    rows: Vec<ChargeRow>,
    next: String,
    back: &'static str,
}

/// The text of a charge's status.
pub fn charge_status(
    t: &crate::central::web::ui::Ui,
    status: crate::storage::central::records::ChargeStatus,
) -> &'static str {
    use crate::storage::central::records::ChargeStatus;
    match status {
        ChargeStatus::Accepted => t.status_accepted,
        ChargeStatus::Settled => t.status_settled,
        ChargeStatus::Reversed => t.status_reversed,
    }
}

/// One account's charges, for its customer (`customer`) or its company: 404 for anyone else.
pub async fn account_details(
    state: &SharedState,
    browser: &Browser,
    id: &str,
    owner: AccountViewer,
    cursor: &str,
) -> Response {
    let (t, lang, currency) = (browser.t(), browser.lang, state.currency);
    let Ok(id) = AccountId::parse(id) else { return error_page(browser, StatusCode::NOT_FOUND) };
    let cursor_n = cursor.parse::<u64>().ok();
    let read = state
        .store
        .read(move |r| {
            let Some(account) = accounts::get(r, &id)? else { return Ok(None) };
            let mine = match &owner {
                AccountViewer::Customer(c) => account.customer_id == *c,
                AccountViewer::Company(c) => account.company_id == *c,
            };
            if !mine {
                return Ok(None);
            }
            let company =
                companies::get(r, &account.company_id)?.map(|c| c.name.as_str().to_owned()).unwrap_or_default();
            let Some(page) = billing::charges_for_account(r, &account.id, cursor_n, web_page_len)? else {
                return Ok(None);
            };
            Ok(Some((account, company, page)))
        })
        .await;
    let (account, company, page) = match read {
        Ok(Some(found)) => found,
        Ok(None) => return error_page(browser, StatusCode::NOT_FOUND),
        Err(_) => return error_page(browser, StatusCode::INTERNAL_SERVER_ERROR),
    };
    let rows = page
        .items
        .iter()
        .map(|c| ChargeRow {
            date: format::when(c.created_at, lang),
            invoice: c.invoice_number.clone(),
            service: c.service_name.clone().or_else(|| c.description.clone()).unwrap_or_default(),
            user: String::new(),
            amount: format::money(c.amount, currency, lang),
            status: charge_status(t, c.status),
        })
        .collect();
    let back = if browser.company().is_some() { "/company/accounts" } else { "/accounts" };
    let title = format!("{} {company}", t.account_at);
    let page = AccountPage {
        chrome: Chrome::new(browser, &title, back),
        company,
        account_id: account.id.to_string(),
        since: format::day(account.created_at, lang),
        paid: format::money(account.paid_total, currency, lang),
        rows,
        next: page.next_cursor.map(|c| c.to_string()).unwrap_or_default(),
        back,
    };
    render(browser, StatusCode::OK, &page)
}

/// Who may see an account's details.
#[derive(Debug, Clone)]
pub enum AccountViewer {
    Customer(crate::vocab::ids::CustomerId),
    Company(crate::vocab::ids::CompanyId),
}

/// `GET /accounts/{id}`: one of the customer's accounts with its charges.
pub async fn account(
    State(state): State<SharedState>,
    browser: Browser,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let auth = match customer_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    account_details(&state, &browser, &id, AccountViewer::Customer(auth.customer.id), &query.cursor).await
}

#[derive(Debug)]
struct OperationRow {
    date: String,
    kind: &'static str,
    company: String,
    service: String,
    invoice: String,
    amount: String,
    debit: bool,
    balance: String,
}

#[derive(Debug, Template)]
#[template(path = "site/statement.html")]
struct StatementPage {
    chrome: Chrome,
    rows: Vec<OperationRow>,
    next: String,
    paged: bool,
}

/// `GET /statement`: every operation with the balance after it, newest first, paginated.
pub async fn statement(State(state): State<SharedState>, browser: Browser, Query(query): Query<PageQuery>) -> Response {
    let auth = match customer_or_redirect(&browser) {
        Ok(auth) => auth,
        Err(redirect) => return redirect,
    };
    let (t, lang, currency) = (browser.t(), browser.lang, state.currency);
    let Ok(axum::Json(list)) = me::list_operations(State(state.clone()), auth, page_params(&query.cursor)).await else {
        return error_page(&browser, StatusCode::NOT_FOUND);
    };
    let rows = list
        .items
        .into_iter()
        .map(|o| {
            let (kind, debit) = match o.kind.as_str() {
                "top_up" => (t.kind_top_up, false),
                "reversal" => (t.kind_reversal, false),
                _ => (t.kind_charge, true),
            };
            OperationRow {
                date: when_text(&o.at, lang),
                kind,
                company: o.company_name.unwrap_or_default(),
                service: o.service_name.unwrap_or_default(),
                invoice: o.invoice_number.unwrap_or_default(),
                amount: money_text(&o.amount, currency, lang),
                debit,
                balance: money_text(&o.balance_after, currency, lang),
            }
        })
        .collect();
    let page = StatementPage {
        chrome: Chrome::new(&browser, t.statement_title, "/statement"),
        rows,
        next: list.next_cursor.unwrap_or_default(),
        paged: !query.cursor.is_empty(),
    };
    render(&browser, StatusCode::OK, &page)
}

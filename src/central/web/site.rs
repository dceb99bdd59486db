//! The site's routes, and the HTML 404 page for browsers that ask for a page that is not there.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};

use crate::central::state::SharedState;
use crate::central::web::browser::Browser;
use crate::central::web::{company, company_lists, connected, customer, public};

/// Every page of the site (the OAuth and claim pages are routed with the API).
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/", get(public::home))
        .route("/register", get(public::register_form).post(public::register))
        .route("/signin", get(public::sign_in_form).post(public::sign_in_submit))
        .route("/signout", post(public::sign_out))
        .route("/lang", get(public::switch_lang))
        .route("/static/protus.css", get(public::stylesheet))
        .route("/wallet", get(customer::wallet))
        .route("/wallet/top-ups", post(customer::top_up))
        .route("/accounts", get(customer::accounts_list))
        .route("/accounts/{id}", get(customer::account))
        .route("/statement", get(customer::statement))
        .route("/connected", get(connected::list))
        .route("/connected/{id}", post(connected::update))
        .route("/connected/{id}/confirm", post(connected::confirm))
        .route("/connected/{id}/revoke", get(connected::revoke_confirm).post(connected::revoke))
        .route("/company", get(company::overview))
        .route("/company/profile", post(company::update_profile))
        .route("/company/secrets", get(company::secrets).post(company::rotate))
        .route("/company/services", get(company_lists::services_list).post(company_lists::add_service))
        .route("/company/services/{id}", post(company_lists::edit_service))
        .route("/company/services/{id}/active", post(company_lists::toggle_service))
        .route("/company/accounts", get(company_lists::users))
        .route("/company/accounts/{id}", get(company_lists::user_account))
        .route("/company/invoices", get(company_lists::invoices))
        .route("/company/webhooks", get(company_lists::deliveries))
        .route("/company/webhooks/{id}/retry", post(company_lists::retry))
}

/// Paths a browser never navigates to: their 404 stays the API's problem+json.
fn is_api_path(path: &str) -> bool {
    ["/api/", "/sync/", "/oauth/", "/.well-known/", "/openapi.json", "/healthz"].iter().any(|p| path.starts_with(p))
}

/// Turns the listener's problem+json 404 into the site's 404 page for a browser's page request.
pub async fn html_not_found(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let wants_page = matches!(*request.method(), Method::GET | Method::HEAD)
        && !is_api_path(request.uri().path())
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if !wants_page {
        return next.run(request).await;
    }
    let headers = request.headers().clone();
    let here = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if response.status() != StatusCode::NOT_FOUND || !is_problem {
        return response;
    }
    let browser = Browser::from_headers(&state, &headers, here).await;
    public::error_page(&browser, StatusCode::NOT_FOUND)
}

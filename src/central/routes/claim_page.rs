//! `GET` and `POST /claim`: the page a claim link opens, where the person sets a password.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::central::error::blocking;
use crate::central::state::SharedState;
use crate::central::web::csrf;
use crate::central::web::html::page;
use crate::central::web::i18n::{Lang, Text};
use crate::central::web::pages::{ClaimPage, ErrorPage};
use crate::domain::passwords;
use crate::storage::central::claims;
use crate::vocab::names::Password;
use crate::vocab::secret::Secret;

const CLAIM: &str = "claim";

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ClaimQuery {
    /// The token from the mailed link.
    pub token: String,
}

/// A link or form that is not one of ours (no token, a body that is no form): an error page, as
/// a browser shows it, rather than the extractor's plain-text rejection.
fn bad_link(lang: Lang) -> Response {
    page(StatusCode::BAD_REQUEST, ErrorPage::new(lang, Text::BadForm).render())
}

/// The claim page of a mailed link.
#[utoipa::path(get, path = "/claim", tag = "customers", params(ClaimQuery),
    responses((status = 200, description = "the set-a-password page", content_type = "text/html"),
        (status = 400, description = "no token in the link: an error page", content_type = "text/html")))]
pub async fn show(
    State(state): State<SharedState>,
    headers: HeaderMap,
    query: Result<Query<ClaimQuery>, QueryRejection>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let Ok(Query(query)) = query else { return bad_link(lang) };
    let csrf_token = csrf::token(&state.csrf_key, CLAIM, &query.token, None);
    page(StatusCode::OK, ClaimPage::new(lang, query.token, csrf_token, String::new(), false).render())
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ClaimForm {
    pub token: String,
    pub csrf_token: String,
    pub password: String,
}

/// Sets the password and claims the wallet.
#[utoipa::path(post, path = "/claim", tag = "customers",
    request_body(content = ClaimForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "claimed, or the page again with the error", content_type = "text/html"),
        (status = 400, description = "not the page's form: an error page", content_type = "text/html")))]
pub async fn submit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    form: Result<axum::Form<ClaimForm>, FormRejection>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let Ok(axum::Form(form)) = form else { return bad_link(lang) };
    let again = |error: String| {
        let csrf_token = csrf::token(&state.csrf_key, CLAIM, &form.token, None);
        page(StatusCode::OK, ClaimPage::new(lang, form.token.clone(), csrf_token, error, false).render())
    };
    if !csrf::verify(&state.csrf_key, CLAIM, &form.token, None, &form.csrf_token) {
        return again(lang.t(Text::BadForm).to_owned());
    }
    let password = match Password::parse(&form.password) {
        Ok(password) => password,
        Err(error) => return again(error.to_string()),
    };
    let Ok(_permit) = state.hashing.acquire().await else { return again(lang.t(Text::BadForm).to_owned()) };
    let Ok(hash) = blocking(move || passwords::hash(password.secret())).await else {
        return again(lang.t(Text::BadForm).to_owned());
    };
    let token_hash = hex::encode(Secret::new(form.token.clone()).digest().0);
    let now = state.now();
    match state.store.write(move |tx| claims::claim(tx, &token_hash, hash, now)).await {
        Ok(Ok((customer, suspended))) => {
            tracing::info!(customer_id = %customer.id, suspended = suspended.len(), "customer claimed through the page");
            page(StatusCode::OK, ClaimPage::new(lang, String::new(), String::new(), String::new(), true).render())
        }
        Ok(Err(error)) => again(error.to_string()),
        Err(error) => {
            tracing::error!(error = %error, "storage failure claiming a customer");
            again(lang.t(Text::BadForm).to_owned())
        }
    }
}

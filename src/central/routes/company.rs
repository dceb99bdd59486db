//! The signed-in company: profile, secret rotation, its users' accounts and its invoices.

use axum::Json;
use axum::extract::State;

use crate::central::auth::CompanyAuth;
use crate::central::error::{ApiResult, OrInternal};
use crate::central::state::SharedState;
use crate::central::webhooks::check_webhook_target;
use crate::http::json::ApiJson;
use crate::http::problem::{FieldErrors, Problem};
use crate::http::query::{ApiQuery, PageParams};
use crate::storage::central::companies::{self, ProfileChange, SecretKind};
use crate::storage::central::{accounts, billing, customers};
use crate::vocab::ids::ServiceId;
use crate::vocab::limits::{redirect_uris_len_max, secret_overlap_s};
use crate::vocab::names::HttpUrl;
use crate::vocab::secret::Secret;
use crate::wire::company::{Company, RotateSecret, RotatedSecret, SecretKindWire, UpdateCompany};
use crate::wire::list::List;
use crate::wire::money::Charge;
use crate::wire::people::Account;
use crate::wire::secret_text::SecretText;

/// The signed-in company's profile.
#[utoipa::path(get, path = "/api/v1/company", tag = "companies", security(("session" = [])),
    responses((status = 200, body = Company), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn get_company(auth: CompanyAuth) -> Json<Company> {
    Json(Company::from_record(&auth.company))
}

/// Change the webhook URL (`null` clears it) and the OAuth redirect URIs.
#[utoipa::path(patch, path = "/api/v1/company", tag = "companies", security(("session" = [])), request_body = UpdateCompany,
    responses((status = 200, body = Company), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update_company(
    State(state): State<SharedState>,
    auth: CompanyAuth,
    body: ApiJson<UpdateCompany>,
) -> ApiResult<Json<Company>> {
    let input = body.value;
    let mut errors = FieldErrors::default();
    let webhook_url = match input.webhook_url {
        Some(Some(url)) => errors.check("webhook_url", HttpUrl::parse(&url)).map(|u| Some(Some(u))).unwrap_or(None),
        Some(None) => Some(None),
        None => None,
    };
    let redirect_uris = match input.redirect_uris {
        Some(uris) if uris.len() > redirect_uris_len_max => {
            errors.check::<(), _>("redirect_uris", Err("at most 20 redirect URIs"));
            None
        }
        Some(uris) => {
            let parsed: Vec<Option<HttpUrl>> = uris
                .iter()
                .enumerate()
                .map(|(i, u)| errors.check(&format!("redirect_uris[{i}]"), HttpUrl::parse(u)))
                .collect();
            parsed.into_iter().collect::<Option<Vec<_>>>()
        }
        None => None,
    };
    errors.finish()?;
    if let Some(Some(url)) = &webhook_url {
        check_webhook_target(url, state.allow_private_webhooks)
            .await
            .map_err(|reason| Problem::field("webhook_url", reason))?;
    }
    let id = auth.company.id.clone();
    let change = ProfileChange { webhook_url, redirect_uris };
    let updated = state.store.write(move |tx| companies::update_profile(tx, &id, change)).await.or_internal()?;
    let company = updated.ok_or_else(|| Problem::unauthorized("the session's company no longer exists"))?;
    Ok(Json(Company::from_record(&company)))
}

/// Replace the client or webhook secret. The new one is shown once; the old one keeps working for 24 h.
#[utoipa::path(post, path = "/api/v1/company/secrets/rotate", tag = "companies", security(("session" = [])), request_body = RotateSecret,
    responses((status = 200, body = RotatedSecret), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn rotate_secret(
    State(state): State<SharedState>,
    auth: CompanyAuth,
    body: ApiJson<RotateSecret>,
) -> ApiResult<Json<RotatedSecret>> {
    let wire_kind = body.value.kind;
    let (kind, secret) = match wire_kind {
        SecretKindWire::ClientSecret => (SecretKind::Client, Secret::generate("cs_")),
        SecretKindWire::WebhookSecret => (SecretKind::Webhook, Secret::generate_webhook()),
    };
    let now = state.now();
    let id = auth.company.id.clone();
    let stored = secret.clone();
    let rotated =
        state.store.write(move |tx| companies::rotate_secret(tx, &id, kind, &stored, now)).await.or_internal()?;
    rotated.ok_or_else(|| Problem::unauthorized("the session's company no longer exists"))?;
    tracing::info!(company_id = %auth.company.id, kind = ?kind, "secret rotated");
    Ok(Json(RotatedSecret {
        kind: wire_kind,
        secret: SecretText(secret.expose().to_owned()),
        previous_valid_until: now.plus_s(secret_overlap_s).to_rfc3339(),
    }))
}

/// The company's users' accounts with what each paid.
#[utoipa::path(get, path = "/api/v1/company/accounts", tag = "companies", security(("session" = [])), params(PageParams),
    responses((status = 200, body = List<Account>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_accounts(
    State(state): State<SharedState>,
    auth: CompanyAuth,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<List<Account>>> {
    let (cursor, limit) = page.parse()?;
    let company = auth.company;
    let currency = state.currency;
    let list = state
        .store
        .read(move |r| {
            let page = accounts::list_for_company(r, &company.id, cursor, limit)?;
            let mut items = Vec::with_capacity(page.items.len());
            for account in &page.items {
                if let Some(customer) = customers::get(r, &account.customer_id)? {
                    items.push(Account::from_record(account, company.name.as_str(), &customer, currency));
                }
            }
            Ok(List { items, next_cursor: page.next_cursor.map(|c| c.to_string()) })
        })
        .await
        .or_internal()?;
    Ok(Json(list))
}

/// `?service_id=` filter of the invoices list, besides paging.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ChargeFilter {
    pub cursor: Option<String>,
    pub limit: Option<String>,
    /// Only charges of this service.
    pub service_id: Option<String>,
}

/// The company's charges (invoices), newest first.
#[utoipa::path(get, path = "/api/v1/company/charges", tag = "companies", security(("session" = [])), params(ChargeFilter),
    responses((status = 200, body = List<Charge>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_charges(
    State(state): State<SharedState>,
    auth: CompanyAuth,
    ApiQuery(filter): ApiQuery<ChargeFilter>,
) -> ApiResult<Json<List<Charge>>> {
    let (cursor, limit) = PageParams { cursor: filter.cursor, limit: filter.limit }.parse()?;
    let service = match filter.service_id.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(ServiceId::parse(text).map_err(|e| Problem::field("service_id", e.to_string()))?),
        None => None,
    };
    let company = auth.company.id;
    let page = state
        .store
        .read(move |r| billing::charges_for_company(r, &company, service.as_ref(), cursor, limit))
        .await
        .or_internal()?;
    Ok(Json(List::from_page(page, |c| Charge::from_record(&c, state.currency))))
}

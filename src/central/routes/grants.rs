//! The signed-in customer's connected services: list, narrow, change the cap, confirm, revoke.

use axum::Json;
use axum::extract::{Path, State};

use crate::central::auth::CustomerAuth;
use crate::central::error::{ApiResult, OrInternal};
use crate::central::events;
use crate::central::state::SharedState;
use crate::domain::token::scope::ScopeSet;
use crate::http::json::ApiJson;
use crate::http::problem::{FieldErrors, Problem};
use crate::http::query::{ApiQuery, PageParams};
use crate::storage::Reader;
use crate::storage::central::companies;
use crate::storage::central::grants::{self, GrantChange, GrantError};
use crate::storage::central::oauth_records::GrantRecord;
use crate::storage::{StoreError, Tx};
use crate::vocab::ids::GrantId;
use crate::vocab::money::Currency;
use crate::wire::list::List;
use crate::wire::oauth::{Grant, UpdateGrant};

fn refusal(error: GrantError) -> Problem {
    match error {
        GrantError::NotFound => Problem::not_found("no such grant"),
        GrantError::Revoked => Problem::conflict(
            "conflict",
            "the grant is revoked; sign in through the company again to grant access anew",
        ),
        GrantError::Widening | GrantError::EmptyScope => Problem::field("scope", error.to_string()),
    }
}

fn wire(reader: &Reader, grant: &GrantRecord, currency: Currency) -> Result<Grant, StoreError> {
    let name = companies::get(reader, &grant.company_id)?.map(|c| c.name.as_str().to_owned()).unwrap_or_default();
    Ok(Grant::from_record(grant, &name, currency))
}

fn wire_in_tx(tx: &Tx<'_>, grant: &GrantRecord, currency: Currency) -> Result<Grant, StoreError> {
    let name = companies::get_in_tx(tx, &grant.company_id)?.map(|c| c.name.as_str().to_owned()).unwrap_or_default();
    Ok(Grant::from_record(grant, &name, currency))
}

/// The services the customer connected, newest first.
#[utoipa::path(get, path = "/api/v1/me/grants", tag = "grants", security(("session" = [])), params(PageParams),
    responses((status = 200, body = List<Grant>), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<SharedState>,
    auth: CustomerAuth,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<List<Grant>>> {
    let (cursor, limit) = page.parse()?;
    let (customer, currency) = (auth.customer.id, state.currency);
    let list = state
        .store
        .read(move |r| {
            let page = grants::list_for_customer(r, &customer, cursor, limit)?;
            let items = page.items.iter().map(|g| wire(r, g, currency)).collect::<Result<Vec<_>, _>>()?;
            Ok(List { items, next_cursor: page.next_cursor.map(|c| c.to_string()) })
        })
        .await
        .or_internal()?;
    Ok(Json(list))
}

/// Narrow the scope, change or remove (`null`) the spending cap, or confirm a suspended grant
/// with `"status": "active"`. Takes effect at once, also for tokens already issued.
#[utoipa::path(patch, path = "/api/v1/me/grants/{id}", tag = "grants", security(("session" = [])), request_body = UpdateGrant,
    params(("id" = String, Path, description = "grant id")),
    responses((status = 200, body = Grant), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<SharedState>,
    auth: CustomerAuth,
    Path(id): Path<String>,
    body: ApiJson<UpdateGrant>,
) -> ApiResult<Json<Grant>> {
    let id = GrantId::parse(&id).map_err(|_| Problem::not_found("no such grant"))?;
    let input = body.value;
    let mut errors = FieldErrors::default();
    let scope = input.scope.as_deref().map(|s| {
        errors.check("scope", ScopeSet::parse(s).map_err(|_| "unknown scope; PROTUS has check, hold and charge"))
    });
    let cap = match input.spending_cap {
        Some(Some(amount)) => {
            errors.check("spending_cap", amount.parse(state.currency)).map(|a| Some(Some(a))).unwrap_or(None)
        }
        Some(None) => Some(None),
        None => None,
    };
    let confirm = match input.status.as_deref() {
        None => false,
        Some("active") => true,
        Some(_) => errors
            .check::<bool, _>("status", Err("only \"active\" (to confirm a suspended grant) can be set"))
            .unwrap_or(false),
    };
    errors.finish()?;
    let change = GrantChange { scope: scope.flatten(), spending_cap: cap, confirm };
    let (customer, currency, now) = (auth.customer.id, state.currency, state.now());
    let updated = state
        .store
        .write(move |tx| match grants::update(tx, &customer, &id, change, now)? {
            Ok(grant) => Ok(Ok(wire_in_tx(tx, &grant, currency)?)),
            Err(refused) => Ok(Err(refused)),
        })
        .await
        .or_internal()?;
    Ok(Json(updated.map_err(refusal)?))
}

/// Revoke a grant: the company's tokens stop working at once. Consenting again creates a new grant.
#[utoipa::path(delete, path = "/api/v1/me/grants/{id}", tag = "grants", security(("session" = [])),
    params(("id" = String, Path, description = "grant id")),
    responses((status = 200, body = Grant), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    State(state): State<SharedState>,
    auth: CustomerAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Grant>> {
    let id = GrantId::parse(&id).map_err(|_| Problem::not_found("no such grant"))?;
    let (customer, currency, now) = (auth.customer.id, state.currency, state.now());
    let revoked = state
        .store
        .write(move |tx| match grants::revoke(tx, Some(&customer), &id, now)? {
            Ok(grant) => {
                events::grant(tx, "grant.revoked", &grant, currency, now)?;
                Ok(Ok(wire_in_tx(tx, &grant, currency)?))
            }
            Err(refused) => Ok(Err(refused)),
        })
        .await
        .or_internal()?;
    let grant = revoked.map_err(refusal)?;
    tracing::info!(grant_id = %grant.id, "grant revoked by its customer");
    Ok(Json(grant))
}

//! The signed-in customer: profile and wallet, top-ups, accounts, statement.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::central::auth::CustomerAuth;
use crate::central::error::{ApiResult, OrInternal};
use crate::central::idempotency::{self, IdempotentRequest};
use crate::central::state::SharedState;
use crate::http::json::ApiJson;
use crate::http::problem::Problem;
use crate::http::query::{ApiQuery, PageParams, foreign_cursor};
use crate::storage::central::records::{TopUpRecord, TopUpStatus};
use crate::storage::central::{accounts, companies, customers, ledger, top_ups};
use crate::vocab::ids::TopUpId;
use crate::wire::list::List;
use crate::wire::money::{CreateTopUp, Operation, TopUp};
use crate::wire::people::{Account, Customer};

/// The signed-in customer with their wallet.
#[utoipa::path(get, path = "/api/v1/me", tag = "customers", security(("session" = [])),
    responses((status = 200, body = Customer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn get_me(State(state): State<SharedState>, auth: CustomerAuth) -> ApiResult<Json<Customer>> {
    let id = auth.customer.id.clone();
    let wallet = state.store.read(move |r| ledger::wallet(r, &id)).await.or_internal()?;
    Ok(Json(Customer::from_record(&auth.customer, &wallet, state.currency)))
}

/// Start a top-up with the configured provider. Requires `Idempotency-Key`. The top-up is
/// `pending` until the provider's signed callback completes it.
#[utoipa::path(post, path = "/api/v1/me/top-ups", tag = "customers", security(("session" = [])), request_body = CreateTopUp,
    params(("Idempotency-Key" = String, Header, description = "1–255 printable characters; retries with the same key are answered once")),
    responses((status = 201, body = TopUp), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn create_top_up(
    State(state): State<SharedState>,
    auth: CustomerAuth,
    headers: HeaderMap,
    body: ApiJson<CreateTopUp>,
) -> ApiResult<Response> {
    let request = IdempotentRequest::new(
        &headers,
        format!("customer:{}", auth.customer.id),
        "POST",
        "/api/v1/me/top-ups",
        &body.raw,
    )?;
    let Some(provider) = state.providers.default_provider().cloned() else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_unavailable",
            "no payment provider is enabled on this node",
        )
        .with_retry_after(60));
    };
    let amount = body.value.amount.parse(state.currency).map_err(|e| Problem::field("amount", e.to_string()))?;
    let now = state.now();
    let top_up = TopUpRecord {
        id: TopUpId::generate_at(now),
        customer_id: auth.customer.id.clone(),
        amount,
        status: TopUpStatus::Pending,
        provider: provider.name().to_owned(),
        created_at: now,
        completed_at: None,
    };
    let currency = state.currency;
    let (response, started) = idempotency::run(&state, request, move |tx| {
        top_ups::create(tx, &top_up)?;
        let body = serde_json::to_value(TopUp::from_record(&top_up, currency)).unwrap_or_default();
        Ok(Ok((StatusCode::CREATED, body, top_up)))
    })
    .await?;
    if let Some(top_up) = started {
        tracing::info!(top_up_id = %top_up.id, customer_id = %top_up.customer_id, amount = %top_up.amount, "top-up started");
        provider.start(&top_up);
    }
    Ok(response)
}

/// One of the customer's top-ups.
#[utoipa::path(get, path = "/api/v1/me/top-ups/{id}", tag = "customers", security(("session" = [])),
    params(("id" = String, Path, description = "top-up id")),
    responses((status = 200, body = TopUp), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_top_up(
    State(state): State<SharedState>,
    auth: CustomerAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<TopUp>> {
    let not_found = || Problem::not_found("no such top-up");
    let id = TopUpId::parse(&id).map_err(|_| not_found())?;
    let top_up = state.store.read(move |r| top_ups::get(r, &id)).await.or_internal()?;
    let top_up = top_up.filter(|t| t.customer_id == auth.customer.id).ok_or_else(not_found)?;
    Ok(Json(TopUp::from_record(&top_up, state.currency)))
}

/// The customer's account at each company, with what they paid there.
#[utoipa::path(get, path = "/api/v1/me/accounts", tag = "customers", security(("session" = [])), params(PageParams),
    responses((status = 200, body = List<Account>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_accounts(
    State(state): State<SharedState>,
    auth: CustomerAuth,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<List<Account>>> {
    let (cursor, limit) = page.parse()?;
    let customer = auth.customer;
    let currency = state.currency;
    let list = state
        .store
        .read(move |r| {
            let page = accounts::list_for_customer(r, &customer.id, cursor, limit)?;
            let mut items = Vec::with_capacity(page.items.len());
            for account in &page.items {
                let company_name =
                    companies::get(r, &account.company_id)?.map(|c| c.name.as_str().to_owned()).unwrap_or_default();
                items.push(Account::from_record(account, &company_name, &customer, currency));
            }
            Ok(List { items, next_cursor: page.next_cursor.map(|c| c.to_string()) })
        })
        .await
        .or_internal()?;
    Ok(Json(list))
}

/// The statement: every top-up and charge with the balance after it, newest first.
#[utoipa::path(get, path = "/api/v1/me/operations", tag = "customers", security(("session" = [])), params(PageParams),
    responses((status = 200, body = List<Operation>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_operations(
    State(state): State<SharedState>,
    auth: CustomerAuth,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<List<Operation>>> {
    let (cursor, limit) = page.parse()?;
    let id = auth.customer.id;
    let page = state.store.read(move |r| customers::operations(r, &id, cursor, limit)).await.or_internal()?;
    let page = page.ok_or_else(foreign_cursor)?;
    Ok(Json(List::from_page(page, |o| Operation::from_record(&o, state.currency))))
}

//! `POST /api/v1/direct-users`: a company onboards its own user. Get-or-create an unclaimed
//! customer, wallet, account and full-scope grant, and answer an access token.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::central::client_auth::{self, ClientAuthError};
use crate::central::error::ApiResult;
use crate::central::events;
use crate::central::idempotency::{self, IdempotentRequest};
use crate::central::state::SharedState;
use crate::central::tokens::mint_access;
use crate::domain::token::scope::ScopeSet;
use crate::http::json::ApiJson;
use crate::http::problem::{FieldErrors, Problem};
use crate::storage::central::claims::{self, DirectUserError};
use crate::storage::central::grants;
use crate::storage::central::oauth_records::{GrantOrigin, GrantStatus};
use crate::storage::idempotency::company_scope;
use crate::vocab::names::{Email, Username};
use crate::wire::oauth::{CreateDirectUser, DirectUser};
use crate::wire::secret_text::SecretText;

pub fn client_problem(error: ClientAuthError) -> Problem {
    match error {
        ClientAuthError::Store(e) => crate::central::error::store_problem(e),
        other => Problem::unauthorized(other.to_string()).with_www_authenticate("Basic realm=\"protus\""),
    }
}

/// Onboard a direct user (client credentials by HTTP Basic; `Idempotency-Key` required).
/// 409 `customer_exists` when the email belongs to a registered customer, who must use
/// "Sign in with PROTUS". The user's wallet can be topped up only after they claim it.
#[utoipa::path(post, path = "/api/v1/direct-users", tag = "direct users", request_body = CreateDirectUser, security(("client" = [])),
    params(("Idempotency-Key" = String, Header, description = "1–255 printable characters")),
    responses((status = 201, body = DirectUser), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: ApiJson<CreateDirectUser>,
) -> ApiResult<Response> {
    let company = client_auth::authenticate(&state, &headers, None).await.map_err(client_problem)?;
    state.limiters.direct_users_client.check(company.id.as_str(), state.now()).map_err(|retry| {
        Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many direct-user requests; retry later")
            .with_retry_after(retry)
    })?;
    let request =
        IdempotentRequest::new(&headers, company_scope(&company.id), "POST", "/api/v1/direct-users", &body.raw)?;
    let mut errors = FieldErrors::default();
    let email = errors.check("email", Email::parse(&body.value.email));
    let username = errors.check("username", Username::parse(&body.value.username));
    errors.finish()?;
    let (Some(email), Some(username)) = (email, username) else { return Err(Problem::internal()) };
    let (now, currency, minting) = (state.now(), state.currency, state.clone());
    let (response, created) = idempotency::run(&state, request, move |tx| {
        let (customer, _) = match claims::get_or_create_unclaimed(tx, &email, &username, now)? {
            Ok(found) => found,
            Err(DirectUserError::CustomerExists) => {
                return Ok(Err(Problem::conflict("customer_exists", DirectUserError::CustomerExists.to_string())));
            }
        };
        let existing = grants::current_in_tx(tx, &company.id, &customer.id)?;
        let consented = match existing {
            // A grant the person suspended or narrowed stays as they left it.
            Some(grant) if grant.status != GrantStatus::Active => {
                return Ok(Err(Problem::conflict(
                    "conflict",
                    "this user's grant is suspended until they confirm it on PROTUS",
                )));
            }
            Some(grant) => grants::Consented {
                account: crate::storage::central::accounts::get_in_tx(tx, &grant.account_id)?.ok_or(
                    crate::storage::StoreError::Corrupt { table: "grants", detail: "grant without account".into() },
                )?,
                grant,
                account_created: false,
                grant_created: false,
            },
            None => grants::consent(tx, &company.id, &customer.id, ScopeSet::ALL, None, GrantOrigin::DirectUser, now)?,
        };
        if consented.account_created {
            events::account_created(tx, &consented.account, currency, now)?;
        }
        if consented.grant_created {
            events::grant(tx, "grant.created", &consented.grant, currency, now)?;
        }
        let scope = consented.grant.scope;
        let Some(access) = mint_access(&minting, &consented.grant, scope, now) else {
            return Ok(Err(Problem::internal()));
        };
        let answer = DirectUser {
            account_id: consented.account.id.to_string(),
            grant_id: consented.grant.id.to_string(),
            access_token: SecretText(access.token.expose().to_owned()),
            token_type: "Bearer".to_owned(),
            expires_in: access.ttl_s,
            scope: scope.to_string(),
        };
        let body = serde_json::to_value(&answer).unwrap_or_default();
        Ok(Ok((StatusCode::CREATED, body, consented.account.id)))
    })
    .await?;
    if let Some(account) = created {
        tracing::info!(account_id = %account, "direct user onboarded");
    }
    Ok(response)
}

//! Registering customers and companies.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::central::error::{ApiResult, OrInternal, blocking};
use crate::central::state::SharedState;
use crate::domain::ledger::WalletBalances;
use crate::domain::passwords;
use crate::http::json::ApiJson;
use crate::http::problem::{FieldErrors, Problem};
use crate::storage::central::companies::{self, CompanyRegisterError};
use crate::storage::central::customers::{self, RegisterError};
use crate::storage::central::records::{CompanyRecord, CustomerRecord};
use crate::vocab::ids::{CompanyId, CustomerId};
use crate::vocab::names::{DisplayName, Email, Password, Username};
use crate::vocab::secret::Secret;
use crate::wire::company::{Company, RegisterCompany, RegisteredCompany};
use crate::wire::people::{Customer, RegisterCustomer};
use crate::wire::secret_text::SecretText;

/// Hashes a password on the blocking pool, at most `password_hashing_concurrency_max` at once.
pub async fn hash_password(state: &SharedState, password: Password) -> ApiResult<String> {
    let _permit = state.hashing.acquire().await.map_err(|_| Problem::internal())?;
    blocking(move || passwords::hash(password.secret())).await
}

/// Register a customer (a person) with an empty wallet.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = RegisterCustomer,
    responses((status = 201, body = Customer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn register_customer(
    State(state): State<SharedState>,
    body: ApiJson<RegisterCustomer>,
) -> ApiResult<(StatusCode, Json<Customer>)> {
    let input = body.value;
    let mut errors = FieldErrors::default();
    let email = errors.check("email", Email::parse(&input.email));
    let username = errors.check("username", Username::parse(&input.username));
    let password = errors.check("password", Password::parse(input.password.expose()));
    errors.finish()?;
    let (Some(email), Some(username), Some(password)) = (email, username, password) else {
        return Err(Problem::internal());
    };
    let password_hash = hash_password(&state, password).await?;
    let record = CustomerRecord {
        id: CustomerId::generate(),
        email,
        username,
        password_hash: Some(password_hash),
        created_at: state.now(),
    };
    let registered = state.store.write(move |tx| customers::register(tx, record)).await.or_internal()?;
    match registered {
        Ok(customer) => {
            tracing::info!(customer_id = %customer.id, "customer registered");
            Ok((
                StatusCode::CREATED,
                Json(Customer::from_record(&customer, &WalletBalances::default(), state.currency)),
            ))
        }
        Err(RegisterError::EmailTaken) => {
            Err(Problem::conflict("conflict", "a customer with this email already exists; sign in instead"))
        }
    }
}

/// Register a company. The response carries `client_secret` and `webhook_secret`, shown this once.
#[utoipa::path(post, path = "/api/v1/companies", tag = "companies", request_body = RegisterCompany,
    responses((status = 201, body = RegisteredCompany), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn register_company(
    State(state): State<SharedState>,
    body: ApiJson<RegisterCompany>,
) -> ApiResult<(StatusCode, Json<RegisteredCompany>)> {
    let input = body.value;
    let mut errors = FieldErrors::default();
    let name = errors.check("name", DisplayName::parse_company(&input.name));
    let email = errors.check("email", Email::parse(&input.email));
    let password = errors.check("password", Password::parse(input.password.expose()));
    errors.finish()?;
    let (Some(name), Some(email), Some(password)) = (name, email, password) else { return Err(Problem::internal()) };
    let password_hash = hash_password(&state, password).await?;
    let client_secret = Secret::generate("cs_");
    let webhook_secret = Secret::generate_webhook();
    let record = CompanyRecord {
        id: CompanyId::generate(),
        name,
        email,
        password_hash,
        client_secret: client_secret.digest(),
        client_secret_previous: Vec::new(),
        webhook_secret: webhook_secret.expose().to_owned(),
        webhook_secret_previous: Vec::new(),
        webhook_url: None,
        redirect_uris: Vec::new(),
        created_at: state.now(),
    };
    let registered = state.store.write(move |tx| companies::register(tx, record)).await.or_internal()?;
    match registered {
        Ok(company) => {
            tracing::info!(company_id = %company.id, "company registered");
            Ok((
                StatusCode::CREATED,
                Json(RegisteredCompany {
                    company: Company::from_record(&company),
                    client_secret: SecretText(client_secret.expose().to_owned()),
                    webhook_secret: SecretText(webhook_secret.expose().to_owned()),
                }),
            ))
        }
        Err(CompanyRegisterError::EmailTaken) => {
            Err(Problem::conflict("conflict", "a company with this email already exists"))
        }
        Err(CompanyRegisterError::NameTaken) => {
            Err(Problem::conflict("conflict", "a company with this name already exists; choose another name"))
        }
    }
}

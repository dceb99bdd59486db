//! Registering customers and companies.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::central::error::{ApiResult, OrInternal, blocking};
use crate::central::mail::Mail;
use crate::central::state::SharedState;
use crate::domain::ledger::WalletBalances;
use crate::domain::passwords;
use crate::http::json::ApiJson;
use crate::http::problem::{FieldErrors, Problem};
use crate::storage::central::claims;
use crate::storage::central::companies::{self, CompanyRegisterError};
use crate::storage::central::customers::{self, RegisterError};
use crate::storage::central::oauth_records::ClaimRecord;
use crate::storage::central::records::{CompanyRecord, CustomerRecord};
use crate::vocab::ids::{CompanyId, CustomerId};
use crate::vocab::limits::claim_link_ttl_s;
use crate::vocab::names::{DisplayName, Email, Password, Username};
use crate::vocab::secret::Secret;
use crate::wire::company::{Company, RegisterCompany, RegisteredCompany};
use crate::wire::oauth::{ClaimCustomer, VerificationSent};
use crate::wire::people::{Customer, RegisterCustomer};
use crate::wire::secret_text::SecretText;

/// Hashes a password on the blocking pool, at most `password_hashing_concurrency_max` at once.
pub async fn hash_password(state: &SharedState, password: Password) -> ApiResult<String> {
    let _permit = state.hashing.acquire().await.map_err(|_| Problem::internal())?;
    blocking(move || passwords::hash(password.secret())).await
}

/// What registering a customer's email led to.
enum Registration {
    Registered(CustomerRecord),
    /// The email belongs to a customer a company created: a claim link was stored.
    ClaimLinkStored(CustomerRecord, Secret),
    EmailTaken,
}

/// Register a customer (a person) with an empty wallet. The email of a customer a company
/// created (a direct user) cannot be taken this way: PROTUS mails a claim link instead (202).
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = RegisterCustomer,
    responses((status = 201, body = Customer), (status = 202, body = VerificationSent), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn register_customer(
    State(state): State<SharedState>,
    body: ApiJson<RegisterCustomer>,
) -> ApiResult<Response> {
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
    let now = state.now();
    let record = CustomerRecord {
        id: CustomerId::generate(),
        email: email.clone(),
        username: username.clone(),
        password_hash: Some(password_hash),
        created_at: now,
    };
    let registered = state
        .store
        .write(move |tx| match customers::register(tx, record)? {
            Ok(customer) => Ok(Registration::Registered(customer)),
            Err(RegisterError::EmailTaken) => match claims::unclaimed_by_email(tx, &email)? {
                Some(customer) => {
                    let link = Secret::generate("clm_");
                    let claim = ClaimRecord {
                        customer_id: customer.id.clone(),
                        username: username.as_str().to_owned(),
                        expires_at: now.plus_s(claim_link_ttl_s),
                    };
                    claims::save_claim(tx, &hex::encode(link.digest().0), &claim)?;
                    Ok(Registration::ClaimLinkStored(customer, link))
                }
                None => Ok(Registration::EmailTaken),
            },
        })
        .await
        .or_internal()?;
    match registered {
        Registration::Registered(customer) => {
            tracing::info!(customer_id = %customer.id, "customer registered");
            Ok((
                StatusCode::CREATED,
                Json(Customer::from_record(&customer, &WalletBalances::default(), state.currency)),
            )
                .into_response())
        }
        Registration::ClaimLinkStored(customer, link) => {
            let mail = Mail {
                to: customer.email.clone(),
                subject: "Claim your PROTUS wallet".to_owned(),
                body: format!(
                    "A company you use opened a PROTUS wallet for {}.\n\nTo claim it and choose your password, open:\n{}/claim?token={}\n\nThe link works once, for 24 hours. If you did not ask for this, ignore this message.",
                    customer.email.as_str(),
                    state.public_url,
                    link.expose()
                ),
            };
            if let Err(error) = state.mailer.send(mail).await {
                tracing::error!(customer_id = %customer.id, error = %error, "claim link could not be mailed");
            } else {
                tracing::info!(customer_id = %customer.id, "claim link mailed");
            }
            let answer = VerificationSent {
                status: "verification_sent".to_owned(),
                detail: "this email already has a wallet opened by a company; we sent a link to it to claim the wallet and set your password".to_owned(),
            };
            Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
        }
        Registration::EmailTaken => {
            Err(Problem::conflict("conflict", "a customer with this email already exists; sign in instead"))
        }
    }
}

/// Claim a partner-created customer with the mailed link's token and a new password. Grants
/// that companies created for this person are suspended until they confirm them.
#[utoipa::path(post, path = "/api/v1/customers/claim", tag = "customers", request_body = ClaimCustomer,
    responses((status = 200, body = Customer), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn claim_customer(
    State(state): State<SharedState>,
    body: ApiJson<ClaimCustomer>,
) -> ApiResult<Json<Customer>> {
    let password =
        Password::parse(body.value.password.expose()).map_err(|e| Problem::field("password", e.to_string()))?;
    let token_hash = hex::encode(Secret::new(body.value.token.expose().to_owned()).digest().0);
    let password_hash = hash_password(&state, password).await?;
    let now = state.now();
    let claimed =
        state.store.write(move |tx| claims::claim(tx, &token_hash, password_hash, now)).await.or_internal()?;
    let (customer, suspended) = claimed.map_err(|e| Problem::not_found(e.to_string()))?;
    tracing::info!(customer_id = %customer.id, suspended = suspended.len(), "customer claimed");
    let id = customer.id.clone();
    let wallet = state.store.read(move |r| crate::storage::central::ledger::wallet(r, &id)).await.or_internal()?;
    Ok(Json(Customer::from_record(&customer, &wallet, state.currency)))
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

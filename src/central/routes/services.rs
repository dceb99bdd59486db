//! A company's priced services.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::central::auth::CompanyAuth;
use crate::central::error::{ApiResult, OrInternal};
use crate::central::state::SharedState;
use crate::http::json::ApiJson;
use crate::http::problem::{FieldErrors, Problem};
use crate::http::query::{ApiQuery, PageParams};
use crate::storage::central::records::ServiceRecord;
use crate::storage::central::services::{self, ServiceChange, ServiceError};
use crate::vocab::ids::ServiceId;
use crate::vocab::names::DisplayName;
use crate::wire::company::{CreateService, Service, UpdateService};
use crate::wire::list::List;

fn refusal(error: ServiceError) -> Problem {
    match error {
        ServiceError::NotFound => Problem::not_found("no such service"),
        ServiceError::NameTaken => Problem::conflict("conflict", "a service with this name already exists"),
    }
}

/// Register a priced service.
#[utoipa::path(post, path = "/api/v1/company/services", tag = "services", security(("session" = [])), request_body = CreateService,
    responses((status = 201, body = Service), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_service(
    State(state): State<SharedState>,
    auth: CompanyAuth,
    body: ApiJson<CreateService>,
) -> ApiResult<(StatusCode, Json<Service>)> {
    let input = body.value;
    let mut errors = FieldErrors::default();
    let name = errors.check("name", DisplayName::parse_service(&input.name));
    let price = errors.check("price", input.price.parse(state.currency));
    errors.finish()?;
    let (Some(name), Some(price)) = (name, price) else { return Err(Problem::internal()) };
    let record = ServiceRecord {
        id: ServiceId::generate(),
        company_id: auth.company.id,
        name,
        price,
        active: true,
        created_at: state.now(),
    };
    let created = state.store.write(move |tx| services::create(tx, record)).await.or_internal()?;
    let service = created.map_err(refusal)?;
    Ok((StatusCode::CREATED, Json(Service::from_record(&service, state.currency))))
}

/// The company's services, newest first.
#[utoipa::path(get, path = "/api/v1/company/services", tag = "services", security(("session" = [])), params(PageParams),
    responses((status = 200, body = List<Service>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list_services(
    State(state): State<SharedState>,
    auth: CompanyAuth,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<List<Service>>> {
    let (cursor, limit) = page.parse()?;
    let company = auth.company.id;
    let page = state.store.read(move |r| services::list(r, &company, cursor, limit)).await.or_internal()?;
    Ok(Json(List::from_page(page, |s| Service::from_record(&s, state.currency))))
}

/// Rename, reprice, deactivate or reactivate a service.
#[utoipa::path(patch, path = "/api/v1/company/services/{id}", tag = "services", security(("session" = [])), request_body = UpdateService,
    params(("id" = String, Path, description = "service id")),
    responses((status = 200, body = Service), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update_service(
    State(state): State<SharedState>,
    auth: CompanyAuth,
    Path(id): Path<String>,
    body: ApiJson<UpdateService>,
) -> ApiResult<Json<Service>> {
    let id = ServiceId::parse(&id).map_err(|_| Problem::not_found("no such service"))?;
    let input = body.value;
    let mut errors = FieldErrors::default();
    let name = input.name.as_deref().map(|n| errors.check("name", DisplayName::parse_service(n)));
    let price = input.price.as_ref().map(|p| errors.check("price", p.parse(state.currency)));
    errors.finish()?;
    let change = ServiceChange { name: name.flatten(), price: price.flatten(), active: input.active };
    let (company, now) = (auth.company.id, state.now());
    let updated = state.store.write(move |tx| services::update(tx, &company, &id, change, now)).await.or_internal()?;
    let service = updated.map_err(refusal)?;
    Ok(Json(Service::from_record(&service, state.currency)))
}

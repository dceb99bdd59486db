//! The OpenAPI 3.1 document of the sidecar, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::http::problem::{FieldError, Problem};
use crate::http::server_errors_doc::document_server_errors;
use crate::sidecar::routes;
use crate::sidecar::state::SharedState;

struct AccessTokenAuth;

impl Modify for AccessTokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut access = Http::new(HttpAuthScheme::Bearer);
        access.bearer_format = Some("JWT".to_owned());
        components.add_security_scheme("access_token", SecurityScheme::Http(access));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PROTUS sidecar",
        description = "The company's agent next to its service: the billing API answered locally, and company \
                       calls forwarded to central with the sidecar's credentials, so the partner app holds no secret."
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&AccessTokenAuth)
)]
struct SidecarApi;

/// The routes and the document describing them.
pub fn routes_with_document() -> (axum::Router<SharedState>, utoipa::openapi::OpenApi) {
    let (router, mut document) =
        OpenApiRouter::with_openapi(SidecarApi::openapi()).merge(routes::router()).split_for_parts();
    document_server_errors(&mut document);
    (router, document)
}

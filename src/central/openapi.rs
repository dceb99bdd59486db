//! The OpenAPI 3.1 document of central, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::central::routes;
use crate::central::state::SharedState;
use crate::http::oauth_error::OAuthError;
use crate::http::problem::{FieldError, Problem};
use crate::http::server_errors_doc::document_server_errors;

struct SessionAuth;

impl Modify for SessionAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("session", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        let mut access = Http::new(HttpAuthScheme::Bearer);
        access.bearer_format = Some("JWT".to_owned());
        components.add_security_scheme("access_token", SecurityScheme::Http(access));
        components.add_security_scheme("client", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        components.add_security_scheme("sidecar", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "PROTUS central", description = "Wallet ledger, partner API and authorization server of PROTUS."),
    components(schemas(Problem, FieldError, OAuthError)),
    modifiers(&SessionAuth)
)]
struct CentralApi;

/// The routes and the document describing them.
pub fn routes_with_document() -> (axum::Router<SharedState>, utoipa::openapi::OpenApi) {
    let (router, mut document) =
        OpenApiRouter::with_openapi(CentralApi::openapi()).merge(routes::router()).split_for_parts();
    document_server_errors(&mut document);
    (router, document)
}

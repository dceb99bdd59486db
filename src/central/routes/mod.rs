//! Central's HTTP routes, one file per resource, collected with their OpenAPI descriptions.

pub mod company;
pub mod me;
pub mod providers;
pub mod well_known;
pub mod oauth_token;
pub mod oauth_introspection;
pub mod permission;
pub mod grants;
pub mod direct_users;
pub mod authorize;
pub mod claim_page;
pub mod billing;
pub mod charges;
pub mod registration;
pub mod services;
pub mod webhooks;
pub mod sessions;
pub mod sync;
pub mod leases;
pub mod usage;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::central::state::SharedState;

/// Every route with its OpenAPI operation.
pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(registration::register_customer))
        .routes(routes!(registration::claim_customer))
        .routes(routes!(registration::register_company))
        .routes(routes!(sessions::create_session))
        .routes(routes!(sessions::delete_current_session))
        .routes(routes!(me::get_me))
        .routes(routes!(me::create_top_up))
        .routes(routes!(me::get_top_up))
        .routes(routes!(me::list_accounts))
        .routes(routes!(me::list_operations))
        .routes(routes!(company::get_company, company::update_company))
        .routes(routes!(company::rotate_secret))
        .routes(routes!(company::list_accounts))
        .routes(routes!(company::list_charges))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::retry_delivery))
        .routes(routes!(services::create_service, services::list_services))
        .routes(routes!(services::update_service))
        .routes(routes!(providers::provider_callback))
        .routes(routes!(well_known::metadata))
        .routes(routes!(well_known::jwks))
        .routes(routes!(oauth_token::token))
        .routes(routes!(oauth_introspection::revoke))
        .routes(routes!(oauth_introspection::introspect))
        .routes(routes!(permission::check))
        .routes(routes!(grants::list))
        .routes(routes!(grants::update, grants::revoke))
        .routes(routes!(direct_users::create))
        .routes(routes!(authorize::show, authorize::answer))
        .routes(routes!(claim_page::show, claim_page::submit))
        .routes(routes!(billing::balance))
        .routes(routes!(billing::create_hold))
        .routes(routes!(billing::get_hold))
        .routes(routes!(billing::capture))
        .routes(routes!(billing::release))
        .routes(routes!(charges::create))
        .routes(routes!(charges::get))
        .routes(routes!(sync::enrol))
        .routes(routes!(sync::snapshot))
        .routes(routes!(sync::events))
        .routes(routes!(leases::open))
        .routes(routes!(leases::renew))
        .routes(routes!(leases::close))
        .routes(routes!(usage::ingest))
        .routes(routes!(usage::quarantine))
}

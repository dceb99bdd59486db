//! Who is calling: customer and company sessions (Bearer session tokens).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::central::error::OrInternal;
use crate::central::state::SharedState;
use crate::http::bearer::bearer;
use crate::http::problem::Problem;
use crate::storage::central::records::{CompanyRecord, CustomerRecord, SessionKind, SessionRecord};
use crate::storage::central::{companies, customers, sessions};
use crate::vocab::ids::{CompanyId, CustomerId};
use crate::vocab::secret::Secret;

/// Any live session, with its token (for signing out).
#[derive(Debug)]
pub struct AnySession {
    pub token: Secret,
    pub session: SessionRecord,
}

impl FromRequestParts<SharedState> for AnySession {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Problem> {
        let token = bearer(&parts.headers)
            .ok_or_else(|| Problem::unauthorized("sign in first: send Authorization: Bearer <session token>"))?;
        let now = state.now();
        let lookup = token.clone();
        let session = state.store.read(move |r| sessions::lookup(r, &lookup, now)).await.or_internal()?;
        let session =
            session.ok_or_else(|| Problem::unauthorized("the session token is unknown, expired or signed out"))?;
        Ok(AnySession { token, session })
    }
}

/// A signed-in customer.
#[derive(Debug)]
pub struct CustomerAuth {
    pub customer: CustomerRecord,
}

impl FromRequestParts<SharedState> for CustomerAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Problem> {
        let AnySession { session, .. } = AnySession::from_request_parts(parts, state).await?;
        if session.kind != SessionKind::Customer {
            return Err(Problem::forbidden("this endpoint is for customers; a company session cannot use it"));
        }
        let id = CustomerId::parse(&session.subject).map_err(|_| Problem::internal())?;
        let customer = state.store.read(move |r| customers::get(r, &id)).await.or_internal()?;
        let customer = customer.ok_or_else(|| Problem::unauthorized("the session's customer no longer exists"))?;
        Ok(CustomerAuth { customer })
    }
}

/// A signed-in company.
#[derive(Debug)]
pub struct CompanyAuth {
    pub company: CompanyRecord,
}

impl FromRequestParts<SharedState> for CompanyAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Problem> {
        let AnySession { session, .. } = AnySession::from_request_parts(parts, state).await?;
        if session.kind != SessionKind::Company {
            return Err(Problem::forbidden("this endpoint is for companies; a customer session cannot use it"));
        }
        let id = CompanyId::parse(&session.subject).map_err(|_| Problem::internal())?;
        let company = state.store.read(move |r| companies::get(r, &id)).await.or_internal()?;
        let company = company.ok_or_else(|| Problem::unauthorized("the session's company no longer exists"))?;
        Ok(CompanyAuth { company })
    }
}

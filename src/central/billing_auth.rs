//! Who may call a billing endpoint: a customer's access token (acting for its company on its
//! account), or the company's client credentials (capture, release and reads, DESIGN §5.1).

use axum::http::HeaderMap;

use crate::central::access::{self, Access};
use crate::central::client_auth::{self, basic_credentials};
use crate::central::error::ApiResult;
use crate::central::routes::direct_users::client_problem;
use crate::central::state::SharedState;
use crate::http::problem::Problem;
use crate::vocab::ids::{AccountId, CompanyId};

#[derive(Debug)]
pub enum Caller {
    Company(CompanyId),
    Token(Box<Access>),
}

impl Caller {
    pub fn company_id(&self) -> &CompanyId {
        match self {
            Caller::Company(id) => id,
            Caller::Token(access) => &access.grant.company_id,
        }
    }

    /// A token sees only its own account; the company sees all of its accounts.
    pub fn may_see(&self, account: &AccountId) -> bool {
        match self {
            Caller::Company(_) => true,
            Caller::Token(access) => &access.claims.sub == account,
        }
    }
}

/// Client credentials (HTTP Basic) or a bearer access token.
pub async fn caller(state: &SharedState, headers: &HeaderMap) -> ApiResult<Caller> {
    match basic_credentials(headers) {
        Ok(Some(_)) => {
            let company = client_auth::authenticate(state, headers, None).await.map_err(client_problem)?;
            Ok(Caller::Company(company.id))
        }
        Ok(None) => Ok(Caller::Token(Box::new(access::authenticate(state, headers, None).await?))),
        Err(error) => Err(Problem::unauthorized(error.to_string())),
    }
}

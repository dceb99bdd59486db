//! Sidecar authentication for every `/sync/v1` call but enrolment: HTTP Basic
//! `sc_…:<sidecar secret>`, checked in constant time against the stored SHA-256 (DESIGN §7).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::central::client_auth::basic_credentials;
use crate::central::error::OrInternal;
use crate::central::state::SharedState;
use crate::http::problem::Problem;
use crate::storage::central::sidecars;
use crate::vocab::ids::{CompanyId, SidecarId};
use crate::vocab::secret::{Secret, SecretDigest};

/// An authenticated sidecar and the one company whose data it may see.
#[derive(Debug, Clone)]
pub struct SidecarAuth {
    pub sidecar_id: SidecarId,
    pub company_id: CompanyId,
}

fn refused(detail: &str) -> Problem {
    Problem::unauthorized(detail).with_www_authenticate("Basic realm=\"protus-sync\"")
}

impl FromRequestParts<SharedState> for SidecarAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Problem> {
        let credentials = basic_credentials(&parts.headers)
            .map_err(|_| refused("the Authorization header is not valid HTTP Basic"))?;
        let Some((id, secret)) = credentials else {
            return Err(refused("sidecar authentication is required (HTTP Basic with the sidecar id and secret)"));
        };
        let Ok(id) = SidecarId::parse(&id) else { return Err(refused("unknown sidecar or wrong sidecar secret")) };
        let lookup = id.clone();
        let record = state.store.read(move |r| sidecars::get(r, &lookup)).await.or_internal()?;
        // An unknown id is compared too, so timing does not tell which ids exist.
        let (digest, company) = match record {
            Some(record) => (record.secret, Some(record.company_id)),
            None => (SecretDigest([0; 32]), None),
        };
        match (digest.matches(&secret), company) {
            (true, Some(company_id)) => Ok(SidecarAuth { sidecar_id: id, company_id }),
            _ => Err(refused("unknown sidecar or wrong sidecar secret")),
        }
    }
}

/// A fresh sidecar secret.
pub fn new_secret() -> Secret {
    Secret::generate("scs_")
}

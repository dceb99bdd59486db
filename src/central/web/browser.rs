//! Who is at the browser: its language, its session (a customer or a company, from the
//! `protus_session` cookie) and what its forms' CSRF tokens are bound to.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};

use crate::central::state::SharedState;
use crate::central::web::cookies::{self, SESSION_COOKIE};
use crate::central::web::csrf;
use crate::central::web::i18n::Lang;
use crate::central::web::ui::{Ui, ui};
use crate::storage::central::records::{CompanyRecord, CustomerRecord, SessionKind};
use crate::storage::central::{companies, customers, sessions};
use crate::vocab::ids::{CompanyId, CustomerId};
use crate::vocab::secret::Secret;

/// The cookie that identifies a browser without a session, so sign-in and registration forms
/// are bound to it (no login CSRF).
pub const BROWSER_COOKIE: &str = "protus_browser";
/// Purpose of every web form's CSRF token; the object is the form's action path.
const SITE: &str = "site";

/// The signed-in party of a session cookie.
#[derive(Debug, Clone)]
pub enum Signed {
    Customer(CustomerRecord),
    Company(CompanyRecord),
}

/// A live session cookie.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub token: Secret,
    pub who: Signed,
}

/// What every page handler knows about the browser.
#[derive(Debug)]
pub struct Browser {
    pub lang: Lang,
    pub session: Option<WebSession>,
    /// What CSRF tokens are bound to: the session's hex digest, or the browser cookie.
    binding: String,
    /// A browser cookie to set with the answer, when the browser had none.
    pub new_cookie: Option<HeaderValue>,
    /// The path and query of this request (for the language switch to come back to).
    pub here: String,
    /// The node's CSRF key.
    key: Secret,
}

impl Browser {
    pub fn t(&self) -> &'static Ui {
        ui(self.lang)
    }

    pub fn customer(&self) -> Option<&CustomerRecord> {
        match &self.session {
            Some(WebSession { who: Signed::Customer(c), .. }) => Some(c),
            _ => None,
        }
    }

    pub fn company(&self) -> Option<&CompanyRecord> {
        match &self.session {
            Some(WebSession { who: Signed::Company(c), .. }) => Some(c),
            _ => None,
        }
    }

    /// The CSRF token of the form that posts to `action`.
    pub fn csrf(&self, action: &str) -> String {
        self.csrf_for(SITE, action)
    }

    /// Whether `submitted` is this browser's token for the form posting to `action`.
    pub fn csrf_ok(&self, action: &str, submitted: &str) -> bool {
        self.csrf_ok_for(SITE, action, submitted)
    }

    /// This browser's CSRF token for a form of another `purpose` about `object` (the consent
    /// form: `consent` and its authorization request id).
    pub fn csrf_for(&self, purpose: &str, object: &str) -> String {
        csrf::token(&self.key, purpose, object, Some(&self.binding))
    }

    /// Whether `submitted` is this browser's token for `purpose` and `object`.
    pub fn csrf_ok_for(&self, purpose: &str, object: &str, submitted: &str) -> bool {
        // A browser without a binding cookie cannot have been shown the form.
        self.new_cookie.is_none() && csrf::verify(&self.key, purpose, object, Some(&self.binding), submitted)
    }

    /// This request signed the browser in with the session `token`: the tokens of the page it
    /// answers with are bound to that session, as the next request's will be.
    pub fn signed_in_with(&mut self, token: &Secret) {
        self.binding = hex::encode(token.digest().0);
    }

    pub async fn from_headers(state: &SharedState, headers: &HeaderMap, here: String) -> Browser {
        let lang = Lang::from_headers(headers);
        let session = session_of(state, headers).await;
        let (binding, new_cookie) = match (&session, cookies::get(headers, BROWSER_COOKIE)) {
            (Some(s), _) => (hex::encode(s.token.digest().0), None),
            (None, Some(id)) if id.len() >= 16 => (id, None),
            (None, _) => {
                let id = Secret::generate("pbr_").expose().to_owned();
                let cookie = cookies::browser(&id, state.https);
                (id, Some(cookie))
            }
        };
        Browser { lang, session, binding, new_cookie, here, key: state.csrf_key.clone() }
    }
}

impl FromRequestParts<SharedState> for Browser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        let here = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".to_owned());
        Ok(Browser::from_headers(state, &parts.headers, here).await)
    }
}

/// The live session of the request's cookie, customer or company.
async fn session_of(state: &SharedState, headers: &HeaderMap) -> Option<WebSession> {
    let token = Secret::new(cookies::get(headers, SESSION_COOKIE)?);
    let now = state.now();
    let lookup = token.clone();
    let session = state.store.read(move |r| sessions::lookup(r, &lookup, now)).await.ok().flatten()?;
    let who = match session.kind {
        SessionKind::Customer => {
            let id = CustomerId::parse(&session.subject).ok()?;
            Signed::Customer(state.store.read(move |r| customers::get(r, &id)).await.ok().flatten()?)
        }
        SessionKind::Company => {
            let id = CompanyId::parse(&session.subject).ok()?;
            Signed::Company(state.store.read(move |r| companies::get(r, &id)).await.ok().flatten()?)
        }
    };
    Some(WebSession { token, who })
}

//! `ApiQuery<T>`: query-string extraction with problem+json errors, and list paging parameters.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::http::problem::Problem;
use crate::vocab::limits::{page_len_default, page_len_max};

#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded_from(query).map(ApiQuery)
    }
}

fn serde_urlencoded_from<T: DeserializeOwned>(query: &str) -> Result<T, Problem> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}").parse().map_err(|_| Problem::invalid_request("malformed query string"))?,
    )
    .map(|q| q.0)
    .map_err(|e| {
        let text = e.body_text();
        if text.contains("unknown field") { Problem::invalid_request(text) } else { Problem::field("query", text) }
    })
}

/// The 422 for a cursor that is not a number, or not one the list it is used with gave out.
pub fn foreign_cursor() -> Problem {
    Problem::field("cursor", "is not a cursor this API gave out")
}

/// `?cursor=&limit=` of every list (DESIGN §2).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<String>,
}

impl PageParams {
    /// The validated (cursor, limit).
    pub fn parse(&self) -> Result<(Option<u64>, usize), Problem> {
        let cursor = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(text) => Some(text.parse::<u64>().map_err(|_| foreign_cursor())?),
            None => None,
        };
        let limit = match self.limit.as_deref().filter(|l| !l.is_empty()) {
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=page_len_max).contains(l))
                .ok_or_else(|| Problem::field("limit", "must be a whole number from 1 to 200"))?,
            None => page_len_default,
        };
        Ok((cursor, limit))
    }
}

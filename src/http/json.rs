//! `ApiJson<T>`: a strict JSON body extractor whose every failure is a problem+json answer:
//! wrong content type and malformed JSON or unknown fields are 400, bad values are 422, an
//! oversize body is 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::http::problem::{FieldError, Problem};

/// The parsed body plus its JSON value (canonicalised for idempotency fingerprints).
#[derive(Debug)]
pub struct ApiJson<T> {
    pub value: T,
    pub raw: serde_json::Value,
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses `bytes` as `T` with the classification above.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<ApiJson<T>, Problem> {
    let raw: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Problem::invalid_request(format!("malformed JSON: {e}")))?;
    if !raw.is_object() {
        return Err(Problem::invalid_request("the body must be a JSON object"));
    }
    let value = serde_path_to_error::deserialize(&raw).map_err(|error| {
        let field = error.path().to_string();
        let message = error.inner().to_string();
        if message.starts_with("unknown field") {
            return Problem::invalid_request(message);
        }
        let (field, message) = match message.strip_prefix("missing field `") {
            Some(rest) => (rest.trim_end_matches('`').to_owned(), "is required".to_owned()),
            None => (field, message),
        };
        Problem::fields(vec![FieldError { field, message }])
    })?;
    Ok(ApiJson { value, raw })
}

/// The raw body (for endpoints that verify a signature over the exact bytes), with the same
/// 413 and 400 answers as `ApiJson`.
#[derive(Debug)]
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_bytes(request, state).await.map(ApiBytes)
    }
}

async fn read_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, Problem> {
    Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the body exceeds 64 KiB")
        } else {
            Problem::invalid_request(format!("could not read the body: {rejection}"))
        }
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !is_json(content_type) {
            return Err(Problem::invalid_request("the body must be JSON with Content-Type: application/json"));
        }
        parse_body(&read_bytes(request, state).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // fields exist to be deserialised
    struct Body {
        name: String,
        count: u32,
    }

    #[test]
    fn body_errors_are_classified() {
        // Proves malformed JSON and unknown fields are 400 while missing or mistyped values are 422 naming the field.
        assert_eq!(parse_body::<Body>(b"{").map(|_| ()).expect_err("malformed").status, 400);
        assert_eq!(
            parse_body::<Body>(br#"{"name":"a","count":1,"x":2}"#).map(|_| ()).expect_err("unknown").status,
            400
        );
        let missing = parse_body::<Body>(br#"{"name":"a"}"#).map(|_| ()).expect_err("missing");
        assert_eq!((missing.status, missing.errors[0].field.as_str()), (422, "count"));
        let mistyped = parse_body::<Body>(br#"{"name":"a","count":"x"}"#).map(|_| ()).expect_err("mistyped");
        assert_eq!((mistyped.status, mistyped.errors[0].field.as_str()), (422, "count"));
        assert!(parse_body::<Body>(br#"{"name":"a","count":1}"#).is_ok());
        assert!(is_json("application/json; charset=utf-8") && !is_json("text/plain"));
    }
}

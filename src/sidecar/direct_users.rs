//! `POST /api/v1/direct-users` at the sidecar: the partner onboards its own user without holding
//! a secret (DESIGN §5.2). The call goes to central with the company's client credentials, the
//! body and `Idempotency-Key` unchanged, and central's answer comes back as it came: status, body
//! (problem+json included) and `Idempotent-Replayed`. Central dedupes by the company's key, so a
//! retry through this or another sidecar, or to central itself, onboards the user once.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::json::ApiBytes;
use crate::http::problem::Problem;
use crate::sidecar::client::{Forwarded, Relayed};
use crate::sidecar::state::SharedState;
use crate::wire::oauth::{CreateDirectUser, DirectUser};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Onboard a direct user through the sidecar; central answers, the sidecar relays. 409
/// `customer_exists` when the email belongs to a registered customer, who must use "Sign in with
/// PROTUS"; 503 `central_unavailable` when central cannot be reached.
#[utoipa::path(post, path = "/api/v1/direct-users", tag = "direct users", request_body = CreateDirectUser,
    params(("Idempotency-Key" = String, Header, description = "1–255 printable characters; passed to central unchanged")),
    responses((status = 201, body = DirectUser,
            headers(("Idempotent-Replayed" = String, description = "`true` when central replayed the answer to an earlier request with this key"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn create(State(state): State<SharedState>, headers: HeaderMap, ApiBytes(body): ApiBytes) -> Response {
    let forwarded =
        Forwarded { content_type: headers.get(header::CONTENT_TYPE), idempotency_key: headers.get(IDEMPOTENCY_KEY) };
    match state.central.create_direct_user(&state.credentials, forwarded, body).await {
        Ok(answer) => relay(answer),
        Err(error) => {
            tracing::warn!(error = %error, "forwarding a direct user to central failed");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "central_unavailable", "the sidecar cannot reach central")
                .with_retry_after(1)
                .into_response()
        }
    }
}

/// Central's answer as the partner's. Its `WWW-Authenticate` is not relayed: a challenge would
/// be for the sidecar's credentials, which the partner does not hold.
fn relay(answer: Relayed) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    match status.as_u16() {
        401 => tracing::error!(status = answer.status, "central refused the sidecar's client credentials"),
        500.. => tracing::warn!(status = answer.status, "central failed a forwarded direct user"),
        _ => {}
    }
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    let relayed = [
        (header::CONTENT_TYPE, answer.content_type),
        (IDEMPOTENT_REPLAYED, answer.idempotent_replayed),
        (header::RETRY_AFTER, answer.retry_after),
    ];
    for (name, value) in relayed {
        if let Some(value) = value {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_answers_are_relayed_with_their_status_type_and_replay_header() {
        // Proves the relayed answer keeps central's status, body, content type, `Idempotent-Replayed` and `Retry-After`, and adds nothing.
        let value = |v: &'static str| Some(axum::http::HeaderValue::from_static(v));
        let answer = Relayed {
            status: 409,
            content_type: value("application/problem+json"),
            idempotent_replayed: value("true"),
            retry_after: None,
            body: br#"{"code":"customer_exists"}"#.to_vec(),
        };
        let response = relay(answer);
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(headers[IDEMPOTENT_REPLAYED], "true");
        assert!(!headers.contains_key(header::RETRY_AFTER));
        assert_eq!(headers.len(), 2, "{headers:?}");
        let limited = relay(Relayed {
            status: 429,
            content_type: None,
            idempotent_replayed: None,
            retry_after: value("7"),
            body: Vec::new(),
        });
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "7");
        assert!(!limited.headers().contains_key(header::CONTENT_TYPE));
    }
}

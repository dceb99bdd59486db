//! `/openapi.json` documents every endpoint central serves, with problem+json error answers.

use crate::support::TestCentral;

const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/api/v1/customers"),
    ("post", "/api/v1/companies"),
    ("post", "/api/v1/sessions"),
    ("delete", "/api/v1/sessions/current"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/me/top-ups"),
    ("get", "/api/v1/me/top-ups/{id}"),
    ("get", "/api/v1/me/accounts"),
    ("get", "/api/v1/me/operations"),
    ("get", "/api/v1/company"),
    ("patch", "/api/v1/company"),
    ("post", "/api/v1/company/secrets/rotate"),
    ("get", "/api/v1/company/accounts"),
    ("get", "/api/v1/company/charges"),
    ("get", "/api/v1/company/webhooks/deliveries"),
    ("post", "/api/v1/company/webhooks/deliveries/{id}/retry"),
    ("post", "/api/v1/company/services"),
    ("get", "/api/v1/company/services"),
    ("patch", "/api/v1/company/services/{id}"),
    ("post", "/api/v1/providers/{provider}/callback"),
    ("post", "/api/v1/customers/claim"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/.well-known/jwks.json"),
    ("post", "/oauth/token"),
    ("post", "/oauth/revoke"),
    ("post", "/oauth/introspect"),
    ("get", "/api/v1/authorize"),
    ("get", "/api/v1/me/grants"),
    ("patch", "/api/v1/me/grants/{id}"),
    ("delete", "/api/v1/me/grants/{id}"),
    ("post", "/api/v1/direct-users"),
    ("get", "/api/v1/billing/balance"),
    ("post", "/api/v1/billing/holds"),
    ("get", "/api/v1/billing/holds/{id}"),
    ("post", "/api/v1/billing/holds/{id}/capture"),
    ("post", "/api/v1/billing/holds/{id}/release"),
    ("post", "/api/v1/billing/charges"),
    ("get", "/api/v1/billing/charges/{id}"),
    ("post", "/sync/v1/sidecars"),
    ("get", "/sync/v1/snapshot"),
    ("get", "/sync/v1/events"),
    ("post", "/sync/v1/leases"),
    ("post", "/sync/v1/leases/{id}/renew"),
    ("post", "/sync/v1/leases/{id}/close"),
    ("post", "/sync/v1/usage"),
    ("get", "/api/v1/company/usage/quarantine"),
];

/// Server-rendered pages: documented too, answering HTML.
const PAGES: &[(&str, &str)] =
    &[("get", "/oauth/authorize"), ("post", "/oauth/authorize"), ("get", "/claim"), ("post", "/claim")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_is_documented_with_its_errors() {
    // Proves the OpenAPI 3.1 document lists each endpoint built so far, that its error answers use the Problem schema, and that server-side failures (500, 503) are documented.
    let central = TestCentral::start().await;
    let document = central.get("/openapi.json", None).await;
    assert_eq!(document.status, 200);
    let doc = &document.body;
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    let documented: usize = paths.values().map(|item| item.as_object().map_or(0, |ops| ops.len())).sum();
    assert_eq!(
        documented,
        ENDPOINTS.len() + PAGES.len(),
        "documented operations: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in PAGES {
        assert!(doc["paths"][path][method].is_object(), "page {method} {path} is documented");
    }
    for (method, path) in ENDPOINTS {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is documented");
        let responses = operation["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|status| status.starts_with('2')), "{method} {path} has a success answer");
        // Failures of the server itself (storage_unavailable, request_timeout, internal) are
        // documented on every operation that answers errors.
        let errors = responses.keys().any(|status| status.starts_with('4'));
        let server_side: &[&str] = if path.starts_with("/oauth/") { &["500"] } else { &["500", "503"] };
        for status in server_side.iter().filter(|_| errors) {
            assert!(responses.contains_key(*status), "{method} {path} documents {status}");
        }
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                // OAuth endpoints answer RFC 6749 errors; everything else RFC 9457 problems.
                let (content_type, schema) = if path.starts_with("/oauth/") {
                    ("application/json", "/OAuthError")
                } else {
                    ("application/problem+json", "/Problem")
                };
                let found = response["content"][content_type]["schema"]["$ref"].as_str().unwrap_or_default();
                assert!(found.ends_with(schema), "{method} {path} {status} answers {schema}, not {response}");
            }
        }
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["session"].is_object());
}

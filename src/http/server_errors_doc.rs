//! Documents the answers any operation can give when the server, not the request, fails: 500
//! (`internal`), and 503 (`storage_unavailable` after a storage failure, `request_timeout` past
//! the request deadline). Added to every JSON operation of a document after its routes are merged,
//! so no handler's annotation has to repeat them and none can forget them.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

const PROBLEM: &str = "application/problem+json";
const OAUTH: &str = "application/json";

const INTERNAL: &str = "internal: an unexpected failure. The outcome is unknown; retry with the same \
                        Idempotency-Key where the operation takes one.";
const UNAVAILABLE: &str = "storage_unavailable (the store failed a write; the node restarts) or request_timeout \
                           (past the request deadline). The outcome is unknown; retry after Retry-After with the \
                           same Idempotency-Key where the operation takes one.";
const OAUTH_INTERNAL: &str = "server_error: an unexpected failure, or the store failed a write.";

/// Adds the 500 and 503 answers to every operation answering problem+json errors, and the 500
/// answer to every OAuth endpoint answering RFC 6749 errors, where the handler did not list them.
pub fn document_server_errors(document: &mut OpenApi) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.options,
            &mut item.head,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            add_to(operation);
        }
    }
}

fn add_to(operation: &mut Operation) {
    let answers = &mut operation.responses.responses;
    let uses = |media: &str, schema: &str| {
        answers.values().any(|answer| match answer {
            RefOr::T(response) => response.content.get(media).is_some_and(
                |content| matches!(&content.schema, Some(RefOr::Ref(found)) if found.ref_location.ends_with(schema)),
            ),
            RefOr::Ref(_) => false,
        })
    };
    if uses(PROBLEM, "/Problem") {
        answers.entry("500".to_owned()).or_insert_with(|| answer(INTERNAL, PROBLEM, "Problem"));
        answers.entry("503".to_owned()).or_insert_with(|| answer(UNAVAILABLE, PROBLEM, "Problem"));
    } else if uses(OAUTH, "/OAuthError") {
        answers.entry("500".to_owned()).or_insert_with(|| answer(OAUTH_INTERNAL, OAUTH, "OAuthError"));
    }
}

fn answer(description: &str, media: &str, schema: &str) -> RefOr<Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build();
    RefOr::T(ResponseBuilder::new().description(description).content(media, content).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::{OpenApiBuilder, PathsBuilder};

    fn document(media: &str, schema: &str) -> OpenApi {
        let error = answer("bad", media, schema);
        let operation = OperationBuilder::new().response("400", error).response("503", answer("mine", media, schema));
        let paths = PathsBuilder::new().path("/x", PathItem::new(HttpMethod::Post, operation.build())).build();
        OpenApiBuilder::new().paths(paths).build()
    }

    fn descriptions(document: &OpenApi) -> Vec<(String, String)> {
        let operation = document.paths.paths["/x"].post.as_ref().expect("post");
        operation
            .responses
            .responses
            .iter()
            .map(|(status, answer)| match answer {
                RefOr::T(response) => (status.clone(), response.description.clone()),
                RefOr::Ref(_) => (status.clone(), "ref".to_owned()),
            })
            .collect()
    }

    #[test]
    fn problem_operations_gain_500_and_keep_their_own_503() {
        let mut doc = document(PROBLEM, "Problem");
        document_server_errors(&mut doc);
        let found = descriptions(&doc);
        let statuses: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(statuses, ["400", "500", "503"]);
        assert_eq!(found[1].1, INTERNAL);
        assert_eq!(found[2].1, "mine", "a handler's own 503 is kept");
    }

    #[test]
    fn oauth_operations_gain_500_only_and_others_nothing() {
        let mut doc = document(OAUTH, "OAuthError");
        document_server_errors(&mut doc);
        assert_eq!(descriptions(&doc)[1], ("500".to_owned(), OAUTH_INTERNAL.to_owned()));
        let mut html = document("text/html", "Page");
        document_server_errors(&mut html);
        assert_eq!(descriptions(&html).len(), 2, "pages are left as they are");
    }
}

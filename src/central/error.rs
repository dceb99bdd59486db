//! Central's one mapping from failures to answers: storage errors are logged once with their
//! cause and answered with a generic 500, or a 503 `storage_unavailable` when the storage
//! itself failed (disk full, failed write or fsync).

use axum::http::StatusCode;

use crate::http::problem::Problem;
use crate::storage::StoreError;
use crate::vocab::limits::storage_retry_after_s;

pub type ApiResult<T> = Result<T, Problem>;

pub trait OrInternal<T> {
    fn or_internal(self) -> ApiResult<T>;
}

impl<T> OrInternal<T> for Result<T, StoreError> {
    fn or_internal(self) -> ApiResult<T> {
        self.map_err(store_problem)
    }
}

/// A storage error, logged once with its cause, as the answer the client gets.
pub fn store_problem(error: StoreError) -> Problem {
    tracing::error!(error = %error, "storage failure");
    match error {
        StoreError::WriterStopped => Problem::internal().with_retry_after(1),
        StoreError::Unavailable(_) => storage_unavailable(),
        _ => Problem::internal(),
    }
}

/// The answer while storage fails. A write that was being committed when it failed may still
/// turn out durable (a failed fsync says nothing about what reached the disk), so the client
/// is told to retry with the same `Idempotency-Key`, which settles it exactly once.
pub fn storage_unavailable() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "central's storage failed; retry later, with the same Idempotency-Key",
    )
    .with_retry_after(storage_retry_after_s)
}

/// Runs CPU-heavy work (argon2id) on the blocking pool.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(error = %error, "blocking task failed");
        Problem::internal()
    })
}

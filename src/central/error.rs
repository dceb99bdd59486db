//! Central's one mapping from failures to answers: storage errors are logged once with their
//! cause and answered with a generic 500.

use crate::http::problem::Problem;
use crate::storage::StoreError;

pub type ApiResult<T> = Result<T, Problem>;

pub trait OrInternal<T> {
    fn or_internal(self) -> ApiResult<T>;
}

impl<T> OrInternal<T> for Result<T, StoreError> {
    fn or_internal(self) -> ApiResult<T> {
        self.map_err(|error| {
            tracing::error!(error = %error, "storage failure");
            match error {
                StoreError::WriterStopped => Problem::internal().with_retry_after(1),
                _ => Problem::internal(),
            }
        })
    }
}

/// Runs CPU-heavy work (argon2id) on the blocking pool.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(error = %error, "blocking task failed");
        Problem::internal()
    })
}

//! Storage errors: what failed underneath, never a business refusal.

/// A failure of the storage engine or of the data in it. Cloneable so one failed group commit
/// can answer every request in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Engine(String),
    #[error("database {path} was written by schema version {found}; this build reads version {supported}")]
    UnknownSchemaVersion { path: String, found: String, supported: u64 },
    #[error("database {path} belongs to a {found}, not a {expected}")]
    WrongRole { path: String, found: String, expected: String },
    #[error("database {0} is in use by another process (is protus already running on this data dir?)")]
    AlreadyOpen(String),
    #[error("corrupt record in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("the storage writer has stopped")]
    WriterStopped,
}

impl StoreError {
    pub(crate) fn engine(error: impl std::fmt::Display) -> Self {
        StoreError::Engine(error.to_string())
    }
}

macro_rules! engine_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(error: $t) -> Self {
                StoreError::engine(error)
            }
        }
    )*};
}

engine_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

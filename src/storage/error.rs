//! Storage errors: what failed underneath, never a business refusal.

/// A failure of the storage engine or of the data in it. Cloneable so one failed group commit
/// can answer every request in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Engine(String),
    #[error(
        "database {path} was written by schema version {found}; this build reads version {supported} and upgrades older ones"
    )]
    UnknownSchemaVersion { path: String, found: String, supported: u64 },
    #[error("database {path} belongs to a {found}, not a {expected}")]
    WrongRole { path: String, found: String, expected: String },
    #[error("database {0} is in use by another process (is protus already running on this data dir?)")]
    AlreadyOpen(String),
    #[error("corrupt record in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("the storage writer has stopped")]
    WriterStopped,
    /// The storage underneath failed (an I/O error: disk full, failed write or fsync). Once a
    /// write failed, redb refuses every later write until the database is reopened.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    pub(crate) fn engine(error: impl std::fmt::Display) -> Self {
        StoreError::Engine(error.to_string())
    }
}

/// An I/O failure of the storage itself, as opposed to a fault in the data or in our use of redb.
fn is_io(error: &redb::StorageError) -> bool {
    match error {
        // redb reports a file that is not a database as InvalidData: a wrong file, not a failure.
        redb::StorageError::Io(io) => io.kind() != std::io::ErrorKind::InvalidData,
        redb::StorageError::PreviousIo | redb::StorageError::Backend(_) => true,
        _ => false,
    }
}

/// `Unavailable` for an I/O failure, `Engine` for anything else.
fn classify(io: bool, error: impl std::fmt::Display) -> StoreError {
    if io { StoreError::Unavailable(error.to_string()) } else { StoreError::engine(error) }
}

macro_rules! storage_errors {
    ($($t:ident),*) => {$(
        impl From<redb::$t> for StoreError {
            fn from(error: redb::$t) -> Self {
                classify(matches!(&error, redb::$t::Storage(e) if is_io(e)), error)
            }
        }
    )*};
}

storage_errors!(DatabaseError, TransactionError, TableError, CommitError);

impl From<redb::StorageError> for StoreError {
    fn from(error: redb::StorageError) -> Self {
        classify(is_io(&error), error)
    }
}

impl From<redb::Error> for StoreError {
    fn from(error: redb::Error) -> Self {
        classify(matches!(error, redb::Error::Io(_) | redb::Error::PreviousIo), error)
    }
}

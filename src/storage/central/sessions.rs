//! Sign-in sessions: opaque tokens stored only as their SHA-256, with an expiry.

use redb::ReadableTable;

use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::SessionRecord;
use crate::storage::schema::SESSIONS;
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::secret::Secret;
use crate::vocab::time::Timestamp;

fn key(token: &Secret) -> String {
    hex::encode(token.digest().0)
}

pub fn create(tx: &mut Tx<'_>, token: &Secret, session: &SessionRecord) -> Result<(), StoreError> {
    put_record(&mut tx.txn().open_table(SESSIONS)?, &key(token), session)
}

/// The live session of `token`, or `None` when unknown, revoked or expired at `now`.
pub fn lookup(reader: &Reader, token: &Secret, now: Timestamp) -> Result<Option<SessionRecord>, StoreError> {
    let session: Option<SessionRecord> = get_record(&reader.txn.open_table(SESSIONS)?, "sessions", &key(token))?;
    Ok(session.filter(|s| s.expires_at > now))
}

/// Ends the session of `token`; `false` if there was none.
pub fn revoke(tx: &mut Tx<'_>, token: &Secret) -> Result<bool, StoreError> {
    Ok(tx.txn().open_table(SESSIONS)?.remove(key(token).as_str())?.is_some())
}

/// Drops sessions that expired before `now`; returns how many.
pub fn prune_expired(tx: &mut Tx<'_>, now: Timestamp) -> Result<usize, StoreError> {
    let mut table = tx.txn().open_table(SESSIONS)?;
    let mut expired = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        let session: SessionRecord = crate::storage::codec::decode("sessions", v.value())?;
        if session.expires_at <= now {
            expired.push(k.value().to_owned());
        }
    }
    for k in &expired {
        table.remove(k.as_str())?;
    }
    Ok(expired.len())
}

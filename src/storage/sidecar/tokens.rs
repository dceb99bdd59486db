//! The access tokens this sidecar verified, kept as SHA-256 digests with their claims (never
//! the tokens), so a restart warms the token cache without keeping credentials at rest.
//! Entries go once their token has expired.

use redb::ReadableTable;

use crate::domain::token::claims::AccessClaims;
use crate::storage::codec::{decode, encode};
use crate::storage::schema::SIDECAR_TOKENS;
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::limits::token_clock_skew_s;

fn live(claims: &AccessClaims, now_s: i64) -> bool {
    claims.exp.saturating_add(token_clock_skew_s) > now_s
}

/// Records verified tokens by digest.
pub fn record(tx: &mut Tx<'_>, verified: &[([u8; 32], AccessClaims)]) -> Result<(), StoreError> {
    let mut table = tx.txn().open_table(SIDECAR_TOKENS)?;
    for (digest, claims) in verified {
        table.insert(hex::encode(digest).as_str(), encode(claims).as_slice())?;
    }
    Ok(())
}

/// The recorded tokens still live at `now_s`, at most `limit`.
pub fn load(reader: &Reader, now_s: i64, limit: usize) -> Result<Vec<([u8; 32], AccessClaims)>, StoreError> {
    let mut out = Vec::new();
    for entry in reader.txn.open_table(SIDECAR_TOKENS)?.iter()? {
        let (digest, bytes) = entry?;
        let claims: AccessClaims = decode("sidecar_tokens", bytes.value())?;
        let digest: Option<[u8; 32]> = hex::decode(digest.value()).ok().and_then(|d| d.try_into().ok());
        if let Some(digest) = digest.filter(|_| live(&claims, now_s)) {
            out.push((digest, claims));
            if out.len() == limit {
                break;
            }
        }
    }
    Ok(out)
}

/// Forgets tokens that have expired.
pub fn prune(tx: &mut Tx<'_>, now_s: i64) -> Result<(), StoreError> {
    let mut table = tx.txn().open_table(SIDECAR_TOKENS)?;
    let mut gone = Vec::new();
    for entry in table.iter()? {
        let (digest, bytes) = entry?;
        let claims: AccessClaims = decode("sidecar_tokens", bytes.value())?;
        if !live(&claims, now_s) {
            gone.push(digest.value().to_owned());
        }
    }
    for digest in gone {
        table.remove(digest.as_str())?;
    }
    Ok(())
}

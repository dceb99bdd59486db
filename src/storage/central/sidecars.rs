//! Central's side of sync (DESIGN §7) at rest: enrolled sidecars, the snapshot a sidecar starts
//! from and the pages of the change log it follows, each read in one transaction.

use std::collections::BTreeMap;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::storage::central::oauth_records::{Change, ChangeRecord, GrantRecord, GrantStatus, SigningKeyRecord};
use crate::storage::central::open::{get_record, put_record};
use crate::storage::central::records::ServiceRecord;
use crate::storage::codec::decode;
use crate::storage::schema::{
    CHANGES, COUNTERS, GRANTS, GRANTS_BY_COMPANY, REVOKED_TOKENS, SERVICES, SERVICES_BY_COMPANY, SIDECARS, SIGNING_KEYS,
};
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::ids::{CompanyId, SidecarId};
use crate::vocab::limits::{feed_page_len_max, feed_scan_len_max, token_clock_skew_s, token_ttl_s_max};
use crate::vocab::secret::SecretDigest;
use crate::vocab::time::Timestamp;

/// An enrolled sidecar: the company it serves and the SHA-256 of its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SidecarRecord {
    pub id: SidecarId,
    pub company_id: CompanyId,
    pub secret: SecretDigest,
    pub created_at: Timestamp,
}

pub fn enrol(tx: &mut Tx<'_>, sidecar: &SidecarRecord) -> Result<(), StoreError> {
    put_record(&mut tx.txn().open_table(SIDECARS)?, sidecar.id.as_str(), sidecar)
}

pub fn get(reader: &Reader, id: &SidecarId) -> Result<Option<SidecarRecord>, StoreError> {
    get_record(&reader.txn.open_table(SIDECARS)?, "sidecars", id.as_str())
}

/// The seq of the newest change ever logged (0 before the first): what a read is current to.
fn latest_change(reader: &Reader) -> Result<u64, StoreError> {
    Ok(reader.txn.open_table(COUNTERS)?.get("change")?.map_or(0, |v| v.value()))
}

/// What a company's sidecar starts from, all read in one transaction.
#[derive(Debug)]
pub struct SnapshotRead {
    pub cursor: u64,
    /// Keys still published at `now`, oldest first.
    pub keys: Vec<SigningKeyRecord>,
    /// (jti, exp) of revoked tokens not yet expired.
    pub revoked: Vec<(String, i64)>,
    pub grants: Vec<GrantRecord>,
    pub services: Vec<ServiceRecord>,
}

/// The snapshot for `company` at `now`. Revoked grants are left out once every token issued
/// under them has expired: a sidecar refuses a grant it does not know.
pub fn snapshot(reader: &Reader, company: &CompanyId, now: Timestamp) -> Result<SnapshotRead, StoreError> {
    let cursor = latest_change(reader)?;
    let mut keys = Vec::new();
    for entry in reader.txn.open_table(SIGNING_KEYS)?.iter()? {
        let (_, bytes) = entry?;
        let key: SigningKeyRecord = decode("signing_keys", bytes.value())?;
        if key.published_until.is_none_or(|until| until > now) {
            keys.push(key);
        }
    }
    keys.sort_by_key(|k| k.created_at);
    let mut revoked = Vec::new();
    for entry in reader.txn.open_table(REVOKED_TOKENS)?.iter()? {
        let (jti, exp) = entry?;
        // Kept through the verification skew: a token is accepted until exp + skew.
        if exp.value() + token_clock_skew_s > now.unix_s() {
            revoked.push((jti.value().to_owned(), exp.value()));
        }
    }
    let relevant_since = now.minus_s(token_ttl_s_max + token_clock_skew_s);
    let grant_table = reader.txn.open_table(GRANTS)?;
    let mut grants = Vec::new();
    for entry in
        reader.txn.open_table(GRANTS_BY_COMPANY)?.range((company.as_str(), 0)..=(company.as_str(), u64::MAX))?
    {
        let (_, id) = entry?;
        let grant: GrantRecord =
            get_record(&grant_table, "grants", id.value())?.ok_or_else(|| dangling("grants_by_company", id.value()))?;
        if grant.status != GrantStatus::Revoked || grant.revoked_at.is_some_and(|at| at > relevant_since) {
            grants.push(grant);
        }
    }
    let service_table = reader.txn.open_table(SERVICES)?;
    let mut services = Vec::new();
    for entry in
        reader.txn.open_table(SERVICES_BY_COMPANY)?.range((company.as_str(), 0)..=(company.as_str(), u64::MAX))?
    {
        let (_, id) = entry?;
        let service = get_record(&service_table, "services", id.value())?
            .ok_or_else(|| dangling("services_by_company", id.value()))?;
        services.push(service);
    }
    Ok(SnapshotRead { cursor, keys, revoked, grants, services })
}

fn dangling(table: &'static str, id: &str) -> StoreError {
    StoreError::Corrupt { table, detail: format!("dangling id {id}") }
}

/// One page of the feed for a company's sidecar.
#[derive(Debug)]
pub enum FeedRead {
    /// Changes after the cursor were pruned (or the cursor is from another log): take a snapshot.
    Gone,
    Page {
        /// The company's and everyone's changes after the cursor, oldest first.
        changes: Vec<(u64, ChangeRecord)>,
        /// The keys `KeyAdded` changes of this page name.
        keys: BTreeMap<String, SigningKeyRecord>,
        /// The seq of the last change examined, whoever it concerned: where to ask from next.
        cursor: u64,
    },
}

/// Changes after `after` that concern `company` or everyone: at most `feed_page_len_max`, out of
/// at most `feed_scan_len_max` examined.
pub fn feed(reader: &Reader, company: &CompanyId, after: u64) -> Result<FeedRead, StoreError> {
    let latest = latest_change(reader)?;
    let table = reader.txn.open_table(CHANGES)?;
    // Seqs are dense from 1, so the kept log starts at its first key; with nothing kept, after
    // the newest seq.
    let first_kept = match table.first()? {
        Some((seq, _)) => seq.value(),
        None => latest.saturating_add(1),
    };
    if after > latest || after.saturating_add(1) < first_kept {
        return Ok(FeedRead::Gone);
    }
    let mut changes = Vec::new();
    let mut cursor = after;
    for entry in table.range(after.saturating_add(1)..)?.take(feed_scan_len_max) {
        let (seq, bytes) = entry?;
        let record: ChangeRecord = decode("changes", bytes.value())?;
        cursor = seq.value();
        if record.company_id.as_ref().is_none_or(|c| c == company) {
            changes.push((cursor, record));
            if changes.len() == feed_page_len_max {
                break;
            }
        }
    }
    let key_table = reader.txn.open_table(SIGNING_KEYS)?;
    let mut keys = BTreeMap::new();
    for (_, record) in &changes {
        if let Change::KeyAdded { kid } = &record.change
            && let Some(key) = get_record::<SigningKeyRecord>(&key_table, "signing_keys", kid)?
        {
            keys.insert(kid.clone(), key);
        }
    }
    Ok(FeedRead::Page { changes, keys, cursor })
}

/// Drops changes logged before `before`, oldest first, at most `limit`; returns how many went.
/// The feed keeps at least `feed_retention_s`, so callers pass `now - feed_retention_s` or older.
pub fn prune_changes(tx: &mut Tx<'_>, before: Timestamp, limit: usize) -> Result<usize, StoreError> {
    let mut table = tx.changes_table()?;
    let mut old = Vec::new();
    for entry in table.iter()?.take(limit) {
        let (seq, bytes) = entry?;
        let record: ChangeRecord = decode("changes", bytes.value())?;
        if record.at >= before {
            break;
        }
        old.push(seq.value());
    }
    for seq in &old {
        table.remove(*seq)?;
    }
    Ok(old.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;
    use crate::storage::central::changes::record_change;
    use crate::storage::central::open::open_central;

    fn log(store: &crate::storage::Store, company: Option<&CompanyId>, count: usize, at: Timestamp) {
        let company = company.cloned();
        store
            .write_blocking(move |tx| {
                for n in 0..count {
                    let change = Change::TokenRevoked { jti: format!("jti-{n}"), exp: 0 };
                    record_change(tx, company.as_ref(), change, at)?;
                }
                Ok(())
            })
            .expect("logged");
    }

    fn page(store: &crate::storage::Store, company: &CompanyId, after: u64) -> (Vec<u64>, u64) {
        match store.read_blocking(|r| feed(r, company, after)).expect("read") {
            FeedRead::Page { changes, cursor, .. } => (changes.into_iter().map(|(seq, _)| seq).collect(), cursor),
            FeedRead::Gone => panic!("the feed is gone after {after}"),
        }
    }

    #[test]
    fn feed_pages_are_bounded_skip_other_companies_and_pruning_makes_old_cursors_gone() {
        // Proves the page and scan bounds, that skipped changes still advance the cursor, and 410 after pruning.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_central(dir.path(), &StoreOptions::default()).expect("open");
        let (a, b) = (CompanyId::generate(), CompanyId::generate());
        let (old, new) = (Timestamp::from_unix_ms(1_000_000), Timestamp::from_unix_ms(9_000_000));
        log(&store, Some(&a), feed_page_len_max + 10, old);
        let (seqs, cursor) = page(&store, &a, 0);
        assert_eq!(seqs.len(), feed_page_len_max);
        assert_eq!(cursor, *seqs.last().expect("a page"));
        let (rest, end) = page(&store, &a, cursor);
        assert_eq!(rest.len(), 10);

        log(&store, Some(&b), feed_scan_len_max, new);
        log(&store, None, 1, new);
        let (seen, scanned) = page(&store, &a, end);
        assert!(seen.is_empty(), "only the other company's changes were examined");
        assert_eq!(scanned, end + u64::try_from(feed_scan_len_max).expect("small"));
        let (everyone, latest) = page(&store, &a, scanned);
        assert_eq!((everyone, latest), (vec![scanned + 1], scanned + 1));
        assert!(matches!(store.read_blocking(|r| feed(r, &a, latest + 1)).expect("read"), FeedRead::Gone));

        let pruned = store.write_blocking(move |tx| prune_changes(tx, new, usize::MAX)).expect("pruned");
        assert_eq!(pruned, feed_page_len_max + 10, "only changes before the cut went");
        assert!(matches!(store.read_blocking(|r| feed(r, &a, 0)).expect("read"), FeedRead::Gone));
        assert!(matches!(store.read_blocking(|r| feed(r, &a, end - 1)).expect("read"), FeedRead::Gone));
        assert_eq!(page(&store, &a, end).1, scanned, "the first kept change follows the cursor");
    }
}

//! What the sidecar learned from central, kept so a restart needs neither a new enrolment nor a
//! new snapshot: the enrolment, the view (issuer, currency, company), the feed cursor, and the
//! keys, revocations, grants and services. A snapshot replaces them all; a feed page applies its
//! events and moves the cursor in the same commit, so a crash never skips or repeats an event.

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::domain::token::keys::Jwk;
use crate::storage::codec::{decode, encode};
use crate::storage::schema::{SIDECAR_GRANTS, SIDECAR_KEYS, SIDECAR_REVOKED, SIDECAR_SERVICES, SIDECAR_STATE};
use crate::storage::sidecar::money;
use crate::storage::{Reader, StoreError, Tx};
use crate::vocab::limits::token_clock_skew_s;
use crate::wire::sync::{FeedEntry, FeedEvent, RevokedToken, Snapshot, SyncGrant, SyncService};

const ENROLMENT: &str = "enrolment";
const VIEW: &str = "view";
const CURSOR: &str = "cursor";

/// The sidecar's own credentials at central. The secret is needed in clear to authenticate.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub sidecar_id: String,
    pub sidecar_secret: String,
    pub company_id: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("sidecar_id", &self.sidecar_id)
            .field("company_id", &self.company_id)
            .finish_non_exhaustive()
    }
}

/// What the snapshot says about central itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub issuer: String,
    pub currency: String,
    /// The most usage records central takes in one batch, if it said (views stored before it
    /// did read as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_batch_len_max: Option<usize>,
}

/// Everything stored, as loaded at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub enrolment: Option<Enrolment>,
    pub view: Option<View>,
    /// `None` until the first snapshot is applied.
    pub cursor: Option<u64>,
    pub keys: Vec<Jwk>,
    pub revoked: Vec<RevokedToken>,
    pub grants: Vec<SyncGrant>,
    pub services: Vec<SyncService>,
}

pub fn load(r: &Reader) -> Result<Loaded, StoreError> {
    let state = r.txn.open_table(SIDECAR_STATE)?;
    let get = |key: &str| -> Result<Option<Vec<u8>>, StoreError> { Ok(state.get(key)?.map(|v| v.value().to_vec())) };
    let enrolment = get(ENROLMENT)?.map(|b| decode("sidecar_state", &b)).transpose()?;
    let view = get(VIEW)?.map(|b| decode("sidecar_state", &b)).transpose()?;
    let cursor = get(CURSOR)?.map(|b| decode("sidecar_state", &b)).transpose()?;
    let mut revoked = Vec::new();
    for entry in r.txn.open_table(SIDECAR_REVOKED)?.iter()? {
        let (jti, exp) = entry?;
        revoked.push(RevokedToken { jti: jti.value().to_owned(), exp: exp.value() });
    }
    Ok(Loaded {
        enrolment,
        view,
        cursor,
        keys: values(r, SIDECAR_KEYS, "sidecar_keys")?,
        revoked,
        grants: values(r, SIDECAR_GRANTS, "sidecar_grants")?,
        services: values(r, SIDECAR_SERVICES, "sidecar_services")?,
    })
}

fn values<T: serde::de::DeserializeOwned>(
    r: &Reader,
    table: TableDefinition<&'static str, &'static [u8]>,
    name: &'static str,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for entry in r.txn.open_table(table)?.iter()? {
        out.push(decode(name, entry?.1.value())?);
    }
    Ok(out)
}

pub fn put_enrolment(tx: &mut Tx<'_>, enrolment: &Enrolment) -> Result<(), StoreError> {
    tx.txn().open_table(SIDECAR_STATE)?.insert(ENROLMENT, encode(enrolment).as_slice())?;
    Ok(())
}

/// Replaces everything the sidecar knew with `snapshot`; revocations already past `now_s` are left out.
pub fn apply_snapshot(tx: &mut Tx<'_>, snapshot: &Snapshot, now_s: i64) -> Result<(), StoreError> {
    for table in [SIDECAR_KEYS, SIDECAR_GRANTS, SIDECAR_SERVICES] {
        tx.txn().delete_table(table)?;
        tx.txn().open_table(table)?;
    }
    tx.txn().delete_table(SIDECAR_REVOKED)?;
    tx.txn().open_table(SIDECAR_REVOKED)?;
    let view = View {
        issuer: snapshot.issuer.clone(),
        currency: snapshot.currency.clone(),
        usage_batch_len_max: snapshot.usage_batch_len_max,
    };
    tx.txn().open_table(SIDECAR_STATE)?.insert(VIEW, encode(&view).as_slice())?;
    for jwk in &snapshot.keys {
        apply_event(tx, &FeedEvent::KeyAdded { jwk: jwk.clone() }, now_s)?;
    }
    for revoked in &snapshot.revoked {
        apply_event(tx, &FeedEvent::TokenRevoked(revoked.clone()), now_s)?;
    }
    for grant in &snapshot.grants {
        apply_event(tx, &FeedEvent::Grant(grant.clone()), now_s)?;
    }
    for service in &snapshot.services {
        apply_event(tx, &FeedEvent::Service(service.clone()), now_s)?;
    }
    put_cursor(tx, snapshot.cursor)
}

/// Applies a feed page's events in order and stores `cursor`, in the caller's one commit. A
/// lease recall is applied to the lease in the same commit (`now_ms`: the monotonic clock), so a
/// crash can never move the cursor past a recall that was not applied.
pub fn apply_page(
    tx: &mut Tx<'_>,
    entries: &[FeedEntry],
    cursor: u64,
    now_s: i64,
    now_ms: u64,
) -> Result<(), StoreError> {
    for entry in entries {
        if let FeedEvent::LeaseRecalled { lease_id, account_id } = &entry.event {
            money::recall_lease(tx, account_id, lease_id, now_ms)?;
        }
        apply_event(tx, &entry.event, now_s)?;
    }
    put_cursor(tx, cursor)
}

/// Drops revocations whose token has expired: an expired token fails verification anyway.
pub fn prune_revoked(tx: &mut Tx<'_>, now_s: i64) -> Result<(), StoreError> {
    // Kept through the verification skew: a token is accepted until exp + skew.
    tx.txn().open_table(SIDECAR_REVOKED)?.retain(|_, exp| exp + token_clock_skew_s >= now_s)?;
    Ok(())
}

fn put_cursor(tx: &mut Tx<'_>, cursor: u64) -> Result<(), StoreError> {
    tx.txn().open_table(SIDECAR_STATE)?.insert(CURSOR, encode(&cursor).as_slice())?;
    Ok(())
}

fn apply_event(tx: &mut Tx<'_>, event: &FeedEvent, now_s: i64) -> Result<(), StoreError> {
    match event {
        FeedEvent::KeyAdded { jwk } => {
            tx.txn().open_table(SIDECAR_KEYS)?.insert(jwk.kid.as_str(), encode(jwk).as_slice())?;
        }
        // Kept: a retired key still verifies its tokens until they expire (see sidecar::local).
        FeedEvent::KeyRetired { .. } => {}
        FeedEvent::TokenRevoked(revoked) => {
            if revoked.exp + token_clock_skew_s >= now_s {
                tx.txn().open_table(SIDECAR_REVOKED)?.insert(revoked.jti.as_str(), revoked.exp)?;
            }
        }
        FeedEvent::Grant(grant) => {
            tx.txn().open_table(SIDECAR_GRANTS)?.insert(grant.grant_id.as_str(), encode(grant).as_slice())?;
        }
        FeedEvent::Service(service) => {
            tx.txn().open_table(SIDECAR_SERVICES)?.insert(service.id.as_str(), encode(service).as_slice())?;
        }
        // A recall is applied to its lease by `apply_page`; wallet figures live in memory.
        FeedEvent::LeaseRecalled { .. } | FeedEvent::WalletAvailable { .. } => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token::keys::SigningKeyPair;
    use crate::storage::StoreOptions;
    use crate::storage::sidecar::open::open_sidecar;

    fn grant(id: &str, scope: &str, status: &str) -> SyncGrant {
        SyncGrant {
            grant_id: id.into(),
            account_id: "acct_1".into(),
            scope: scope.into(),
            spending_cap: None,
            status: status.into(),
        }
    }

    fn entry(seq: u64, event: FeedEvent) -> FeedEntry {
        FeedEntry { seq, at: "2026-01-01T00:00:00Z".into(), event }
    }

    #[test]
    fn snapshot_and_feed_pages_survive_a_reopen() {
        // Proves the enrolment, a snapshot and a feed page (with its cursor) are all there after reopening, and a new snapshot replaces the old state.
        let dir = tempfile::tempdir().expect("temp dir");
        let (old_key, new_key) = (SigningKeyPair::generate().public_jwk(), SigningKeyPair::generate().public_jwk());
        let enrolment =
            Enrolment { sidecar_id: "sc_1".into(), sidecar_secret: "s3cret".into(), company_id: "co_1".into() };
        let snapshot = Snapshot {
            cursor: 7,
            issuer: "http://central".into(),
            currency: "RUB".into(),
            keys: vec![old_key.clone()],
            revoked: vec![RevokedToken { jti: "gone".into(), exp: 10 }, RevokedToken { jti: "live".into(), exp: 500 }],
            grants: vec![grant("grt_1", "check hold", "active")],
            services: vec![],
            usage_batch_len_max: Some(1_000),
        };
        let page = vec![
            entry(8, FeedEvent::KeyAdded { jwk: new_key.clone() }),
            entry(9, FeedEvent::KeyRetired { kid: old_key.kid.clone() }),
            entry(10, FeedEvent::TokenRevoked(RevokedToken { jti: "late".into(), exp: 600 })),
            entry(11, FeedEvent::Grant(grant("grt_1", "check", "revoked"))),
        ];
        {
            let store = open_sidecar(dir.path(), &StoreOptions::default()).expect("open");
            let fresh = store.read_blocking(load).expect("load");
            assert!(fresh.enrolment.is_none() && fresh.cursor.is_none());
            let stored = enrolment.clone();
            store.write_blocking(move |tx| put_enrolment(tx, &stored)).expect("enrol");
            store.write_blocking(move |tx| apply_snapshot(tx, &snapshot, 100)).expect("snapshot");
            store.write_blocking(move |tx| apply_page(tx, &page, 11, 100, 0)).expect("page");
            store.close();
        }
        let store = open_sidecar(dir.path(), &StoreOptions::default()).expect("reopen");
        let loaded = store.read_blocking(load).expect("load");
        assert_eq!(loaded.enrolment, Some(enrolment));
        assert_eq!(loaded.cursor, Some(11));
        assert_eq!(loaded.view.as_ref().map(|v| v.issuer.as_str()), Some("http://central"));
        assert_eq!(loaded.view.as_ref().and_then(|v| v.usage_batch_len_max), Some(1_000));
        // The retired key is kept: it still verifies its tokens until they expire.
        assert!(loaded.keys.contains(&new_key) && loaded.keys.len() == 2, "{:?}", loaded.keys);
        let mut jtis: Vec<_> = loaded.revoked.iter().map(|r| r.jti.as_str()).collect();
        jtis.sort_unstable();
        assert_eq!(jtis, ["late", "live"], "a revocation already expired is not kept");
        assert_eq!(loaded.grants, vec![grant("grt_1", "check", "revoked")]);

        store.write_blocking(|tx| prune_revoked(tx, 561)).expect("prune");
        let empty = Snapshot {
            cursor: 20,
            issuer: "http://central".into(),
            currency: "RUB".into(),
            keys: vec![],
            revoked: vec![],
            grants: vec![],
            services: vec![],
            usage_batch_len_max: None,
        };
        let pruned = store.read_blocking(load).expect("load");
        assert_eq!(pruned.revoked, vec![RevokedToken { jti: "late".into(), exp: 600 }]);
        store.write_blocking(move |tx| apply_snapshot(tx, &empty, 550)).expect("snapshot");
        let replaced = store.read_blocking(load).expect("load");
        assert!(replaced.keys.is_empty() && replaced.revoked.is_empty() && replaced.grants.is_empty());
        assert_eq!((replaced.cursor, replaced.enrolment.is_some()), (Some(20), true));
        // A central that states no batch bound (an earlier build) leaves none stored.
        assert_eq!(replaced.view.and_then(|v| v.usage_batch_len_max), None);
        store.close();
    }
}

//! The keyring: which key signs now, which keys are published, and the verifier with its cache.
//! Rebuilt from the store at start and after a rotation; reads are lock-free snapshots.

use std::sync::{Arc, RwLock};

use crate::domain::token::cache::TokenCache;
use crate::domain::token::keys::{Jwk, Jwks, SigningKeyPair, VerifyingKeys};
use crate::storage::central::keys;
use crate::storage::central::oauth_records::SigningKeyRecord;
use crate::storage::{Store, StoreError};
use crate::vocab::limits::{token_cache_len_max, token_clock_skew_s, token_verifying_keys_len_max};
use crate::vocab::time::Timestamp;

/// One consistent view of the keys.
#[derive(Debug)]
pub struct KeySnapshot {
    /// Every key with its record, oldest first.
    pairs: Vec<(SigningKeyRecord, SigningKeyPair)>,
    pub verifying: VerifyingKeys,
    /// When the verifying set next changes (a retired key's publication ends); rebuilt then.
    changes_at: Option<Timestamp>,
}

impl KeySnapshot {
    fn build(records: Vec<SigningKeyRecord>, now: Timestamp) -> Result<Self, StoreError> {
        let mut pairs = Vec::with_capacity(records.len());
        for record in records {
            let bytes: [u8; 32] =
                hex::decode(&record.secret).ok().and_then(|b| b.try_into().ok()).ok_or(StoreError::Corrupt {
                    table: "signing_keys",
                    detail: format!("key {} is not 32 hex bytes", record.kid),
                })?;
            pairs.push((record, SigningKeyPair::from_secret_bytes(bytes)));
        }
        let changes_at =
            pairs.iter().filter_map(|(record, _)| record.published_until).filter(|until| *until > now).min();
        Ok(KeySnapshot { verifying: verifying_set(&pairs, now)?, pairs, changes_at })
    }

    /// The newest key allowed to sign at `now`.
    pub fn signer(&self, now: Timestamp) -> Option<&SigningKeyPair> {
        // By when each key may sign, not by list order: two keys created in the same
        // millisecond must not let the older one keep signing.
        self.pairs
            .iter()
            .filter(|(record, _)| record.signs_from <= now)
            .max_by_key(|(record, _)| (record.signs_from, record.created_at))
            .map(|(_, pair)| pair)
    }

    /// Keys a verifier must know at `now`: every key not yet past its publication.
    pub fn published(&self, now: Timestamp) -> Jwks {
        let keys: Vec<Jwk> = self
            .pairs
            .iter()
            .filter(|(record, _)| record.published_until.is_none_or(|until| until > now))
            .map(|(_, pair)| pair.public_jwk())
            .collect();
        Jwks { keys }
    }
}

/// The keys a token may be signed with: those still published, newest first up to the bound.
fn verifying_set(pairs: &[(SigningKeyRecord, SigningKeyPair)], now: Timestamp) -> Result<VerifyingKeys, StoreError> {
    let published = pairs
        .iter()
        .rev()
        .filter(|(record, _)| record.published_until.is_none_or(|until| until > now))
        .take(token_verifying_keys_len_max)
        .map(|(_, pair)| pair);
    VerifyingKeys::from_key_pairs(published)
        .map_err(|e| StoreError::Corrupt { table: "signing_keys", detail: e.to_string() })
}

/// Shared by every handler.
#[derive(Debug)]
pub struct Keyring {
    snapshot: RwLock<Arc<KeySnapshot>>,
    pub cache: TokenCache,
}

impl Keyring {
    /// Loads the keys, creating the first one (signing at once) on a new database.
    pub async fn load(store: &Store, now: Timestamp) -> Result<Keyring, StoreError> {
        store
            .write(move |tx| {
                if keys::all_in_tx(tx)?.is_empty() {
                    let pair = SigningKeyPair::generate();
                    keys::add(tx, &record_for(&pair, now, now), now)?;
                }
                Ok(())
            })
            .await?;
        let records = store.read(keys::all).await?;
        Ok(Keyring {
            snapshot: RwLock::new(Arc::new(KeySnapshot::build(records, now)?)),
            cache: TokenCache::with_capacity(token_cache_len_max),
        })
    }

    /// The keys as of `now`. A retired key stops verifying the moment its publication ends,
    /// without waiting for a restart or another rotation.
    pub fn snapshot(&self, now: Timestamp) -> Arc<KeySnapshot> {
        let current = self.snapshot.read().map(|s| s.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone());
        if current.changes_at.is_none_or(|at| at > now) {
            return current;
        }
        let records = current.pairs.iter().map(|(record, _)| record.clone()).collect();
        match KeySnapshot::build(records, now) {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                match self.snapshot.write() {
                    Ok(mut slot) => *slot = fresh.clone(),
                    Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
                }
                fresh
            }
            Err(error) => {
                tracing::error!(error = %error, "rebuilding the key set failed; keeping the previous one");
                current
            }
        }
    }

    /// Re-reads the keys after a rotation.
    pub async fn reload(&self, store: &Store, now: Timestamp) -> Result<(), StoreError> {
        let fresh = Arc::new(KeySnapshot::build(store.read(keys::all).await?, now)?);
        match self.snapshot.write() {
            Ok(mut slot) => *slot = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }
}

fn record_for(pair: &SigningKeyPair, now: Timestamp, signs_from: Timestamp) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: pair.kid().to_owned(),
        secret: hex::encode(pair.secret_bytes()),
        created_at: now,
        signs_from,
        retired_at: None,
        published_until: None,
    }
}

/// Publishes a new key that signs from `now + prepublish_s`; the keys it replaces stay
/// published until their last token can expire. Returns the new key's record.
pub async fn rotate(
    store: &Store,
    now: Timestamp,
    prepublish_s: i64,
    token_ttl_max_s: i64,
) -> Result<SigningKeyRecord, StoreError> {
    store
        .write(move |tx| {
            let pair = SigningKeyPair::generate();
            let record = record_for(&pair, now, now.plus_s(prepublish_s));
            let takes_over = record.signs_from;
            for mut older in keys::all_in_tx(tx)? {
                if older.retired_at.is_none() {
                    older.retired_at = Some(takes_over);
                    older.published_until = Some(takes_over.plus_s(token_ttl_max_s + token_clock_skew_s));
                    keys::update(tx, &older, now)?;
                }
            }
            keys::add(tx, &record, now)?;
            Ok(record)
        })
        .await
}

//! The sidecar's in-memory picture of central, loaded from redb at start and kept current by the
//! feed: verifying keys, issuer, revocations and grants. Token checks read it under a short read
//! lock; the feed changes it only after the same change is durable in redb.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::domain::token::keys::{Jwk, VerifyingKeys};
use crate::domain::token::scope::ScopeSet;
use crate::storage::sidecar::sync_state::Loaded;
use crate::vocab::limits::{token_clock_skew_s, usage_batch_len_max, usage_batch_len_max_unstated};
use crate::vocab::money::Currency;
use crate::wire::sync::{FeedEvent, RevokedToken, Snapshot, SyncGrant, SyncService};

/// A grant's current state, as the token check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantView {
    pub account_id: String,
    pub scope: ScopeSet,
    pub status: GrantStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    Active,
    Suspended,
    Revoked,
}

impl GrantView {
    /// A grant from the wire; unknown scopes or states count as nothing granted and revoked, so a
    /// newer central can never widen what an older sidecar allows.
    pub fn from_wire(grant: &SyncGrant) -> GrantView {
        let status = match grant.status.as_str() {
            "active" => GrantStatus::Active,
            "suspended" => GrantStatus::Suspended,
            _ => GrantStatus::Revoked,
        };
        let scope = ScopeSet::parse(&grant.scope).unwrap_or(ScopeSet::EMPTY);
        GrantView { account_id: grant.account_id.clone(), scope, status }
    }
}

/// Everything a token check consults.
pub struct Local {
    pub issuer: String,
    /// The deployment's currency; `None` if central named one this build does not know.
    pub currency: Option<Currency>,
    /// Usage records per batch: this build's bound, or central's if lower.
    pub usage_batch_len: usize,
    pub keys: Arc<VerifyingKeys>,
    jwks: BTreeMap<String, Jwk>,
    revoked: HashMap<String, i64>,
    grants: HashMap<String, GrantView>,
    services: HashMap<String, SyncService>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("issuer", &self.issuer)
            .field("kids", &self.jwks.keys().collect::<Vec<_>>())
            .field("revoked", &self.revoked.len())
            .field("grants", &self.grants.len())
            .finish()
    }
}

/// Usage records per batch for a central that takes `stated` (`None`: it did not say, so it
/// is of a build that takes `usage_batch_len_max_unstated`).
fn usage_batch_len(stated: Option<usize>) -> usize {
    stated.unwrap_or(usage_batch_len_max_unstated).clamp(1, usage_batch_len_max)
}

impl Local {
    /// The stored state, or `None` before the first snapshot.
    pub fn from_loaded(loaded: &Loaded) -> Option<Local> {
        let view = loaded.view.as_ref()?;
        loaded.cursor?;
        let mut local = Local {
            issuer: view.issuer.clone(),
            currency: Currency::parse(&view.currency).ok(),
            usage_batch_len: usage_batch_len(view.usage_batch_len_max),
            keys: Arc::new(VerifyingKeys::from_jwks(&[]).expect("an empty key set is always valid")),
            jwks: loaded.keys.iter().map(|k| (k.kid.clone(), k.clone())).collect(),
            revoked: HashMap::new(),
            grants: HashMap::new(),
            services: loaded.services.iter().map(|s| (s.id.clone(), s.clone())).collect(),
        };
        local.revoked.extend(loaded.revoked.iter().map(|r| (r.jti.clone(), r.exp)));
        local.grants.extend(loaded.grants.iter().map(|g| (g.grant_id.clone(), GrantView::from_wire(g))));
        local.rebuild_keys();
        Some(local)
    }

    pub fn from_snapshot(snapshot: &Snapshot) -> Local {
        let mut local = Local {
            issuer: snapshot.issuer.clone(),
            currency: Currency::parse(&snapshot.currency).ok(),
            usage_batch_len: usage_batch_len(snapshot.usage_batch_len_max),
            keys: Arc::new(VerifyingKeys::from_jwks(&[]).expect("an empty key set is always valid")),
            jwks: snapshot.keys.iter().map(|k| (k.kid.clone(), k.clone())).collect(),
            revoked: snapshot.revoked.iter().map(|r| (r.jti.clone(), r.exp)).collect(),
            grants: snapshot.grants.iter().map(|g| (g.grant_id.clone(), GrantView::from_wire(g))).collect(),
            services: snapshot.services.iter().map(|s| (s.id.clone(), s.clone())).collect(),
        };
        local.rebuild_keys();
        local
    }

    /// Applies one feed event (already durable).
    pub fn apply(&mut self, event: &FeedEvent) {
        match event {
            FeedEvent::KeyAdded { jwk } => {
                self.jwks.insert(jwk.kid.clone(), jwk.clone());
                self.rebuild_keys();
            }
            // A retired key stops signing but stays valid until its last token expires (about
            // 24 h later), so it is kept; the next snapshot drops keys central no longer publishes.
            FeedEvent::KeyRetired { .. } => {}
            FeedEvent::TokenRevoked(RevokedToken { jti, exp }) => {
                self.revoked.insert(jti.clone(), *exp);
            }
            FeedEvent::Grant(grant) => {
                self.grants.insert(grant.grant_id.clone(), GrantView::from_wire(grant));
            }
            FeedEvent::Service(service) => {
                self.services.insert(service.id.clone(), service.clone());
            }
            // Recalls and wallet figures are money matters, handled by `sidecar::leases`.
            FeedEvent::LeaseRecalled { .. } | FeedEvent::WalletAvailable { .. } => {}
        }
    }

    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked.contains_key(jti)
    }

    pub fn grant(&self, grant_id: &str) -> Option<&GrantView> {
        self.grants.get(grant_id)
    }

    /// A service of the company, as the feed last described it.
    pub fn service(&self, id: &str) -> Option<&SyncService> {
        self.services.get(id)
    }

    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Forgets revocations of tokens expired before `now_s`.
    pub fn prune_revoked(&mut self, now_s: i64) {
        // Kept through the verification skew: a token is accepted until exp + skew.
        self.revoked.retain(|_, exp| *exp + token_clock_skew_s >= now_s);
    }

    /// Keys that fail to parse are logged and left out: a token signed by one is refused.
    fn rebuild_keys(&mut self) {
        let mut usable = Vec::new();
        for jwk in self.jwks.values() {
            match VerifyingKeys::from_jwks(std::slice::from_ref(jwk)) {
                Ok(_) => usable.push(jwk.clone()),
                Err(error) => tracing::warn!(kid = %jwk.kid, error = %error, "central published an unusable key"),
            }
        }
        match VerifyingKeys::from_jwks(&usable) {
            Ok(keys) => self.keys = Arc::new(keys),
            Err(error) => tracing::warn!(error = %error, "central's keys cannot be used together"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token::keys::SigningKeyPair;

    fn grant(scope: &str, status: &str) -> SyncGrant {
        SyncGrant {
            grant_id: "grt_1".into(),
            account_id: "acct_1".into(),
            scope: scope.into(),
            spending_cap: None,
            status: status.into(),
        }
    }

    #[test]
    fn unknown_grant_states_and_scopes_allow_nothing() {
        // Proves a grant state or scope this build does not know counts as revoked or empty, never as more.
        assert_eq!(GrantView::from_wire(&grant("check hold", "active")).status, GrantStatus::Active);
        assert_eq!(GrantView::from_wire(&grant("check", "suspended")).status, GrantStatus::Suspended);
        assert_eq!(GrantView::from_wire(&grant("check", "paused")).status, GrantStatus::Revoked);
        assert_eq!(GrantView::from_wire(&grant("check teleport", "active")).scope, ScopeSet::EMPTY);
    }

    #[test]
    fn usage_batches_keep_to_the_bound_central_states_or_to_500_when_it_states_none() {
        // A central of an earlier build takes at most 500 records; one that says more than this
        // build sends still gets this build's bound.
        assert_eq!(usage_batch_len(None), 500);
        assert_eq!(usage_batch_len(Some(1_000)), 1_000);
        assert_eq!(usage_batch_len(Some(100_000)), usage_batch_len_max);
        assert_eq!(usage_batch_len(Some(0)), 1);
    }

    #[test]
    fn feed_events_change_keys_revocations_and_grants() {
        // Proves each feed event lands in the in-memory view a token check reads.
        let (first, second) = (SigningKeyPair::generate(), SigningKeyPair::generate());
        let snapshot = Snapshot {
            cursor: 1,
            issuer: "http://central".into(),
            currency: "RUB".into(),
            keys: vec![first.public_jwk()],
            revoked: vec![],
            grants: vec![grant("check", "active")],
            services: vec![],
            usage_batch_len_max: None,
        };
        let mut local = Local::from_snapshot(&snapshot);
        assert_eq!(local.keys.kids().collect::<Vec<_>>(), [first.kid()]);
        local.apply(&FeedEvent::KeyAdded { jwk: second.public_jwk() });
        local.apply(&FeedEvent::KeyRetired { kid: first.kid().to_owned() });
        // A retired key keeps verifying the tokens it signed until they expire.
        let mut kids = local.keys.kids().collect::<Vec<_>>();
        kids.sort_unstable();
        let mut expected = vec![first.kid(), second.kid()];
        expected.sort_unstable();
        assert_eq!(kids, expected);
        local.apply(&FeedEvent::TokenRevoked(RevokedToken { jti: "j1".into(), exp: 100 }));
        assert!(local.is_revoked("j1"));
        local.prune_revoked(101);
        assert!(local.is_revoked("j1"), "kept through the 60 s verification skew");
        local.prune_revoked(161);
        assert!(!local.is_revoked("j1"));
        local.apply(&FeedEvent::Grant(grant("check", "revoked")));
        assert_eq!(local.grant("grt_1").map(|g| g.status), Some(GrantStatus::Revoked));
    }
}

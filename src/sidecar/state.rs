//! What every sidecar request and background task shares.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::Notify;

use crate::domain::token::cache::TokenCache;
use crate::sidecar::client::{CentralClient, ClientCredentials};
use crate::sidecar::local::Local;
use crate::sidecar::metrics::Metrics;
use crate::storage::Store;
use crate::storage::sidecar::answers::Answers;
use crate::storage::sidecar::sync_state::Enrolment;
use crate::vocab::ids::CompanyId;
use crate::vocab::money::Amount;
use crate::vocab::mono::MonoHandle;
use crate::vocab::time::{ClockHandle, Timestamp};
use crate::wire::leases::OpenLease;

pub type SharedState = Arc<SidecarState>;

#[derive(Debug)]
pub struct SidecarState {
    pub store: Store,
    /// The stored idempotent answers' index (`storage::sidecar::answers`).
    pub answers: Arc<Answers>,
    pub clock: ClockHandle,
    /// Central, and the company's client credentials the sidecar acts with there.
    pub central: CentralClient,
    pub credentials: ClientCredentials,
    /// The company this sidecar acts for: every token's required audience. Set at enrolment.
    pub company: OnceLock<CompanyId>,
    /// `None` until the first snapshot is applied (or loaded from redb).
    local: RwLock<Option<Local>>,
    pub cache: TokenCache,
    pub metrics: Metrics,
    /// Lease and hold deadlines run on this clock (DESIGN §7), never on `clock`.
    pub mono: MonoHandle,
    /// The sidecar's own credentials at central. Set at enrolment (or loaded).
    pub enrolment: OnceLock<Enrolment>,
    /// How much more than a request needs a new or renewed lease asks for.
    pub lease_chunk: Amount,
    /// One lease request to central per account at a time.
    lease_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Per account, a lease open whose answer never came (central may have committed it), with
    /// the monotonic ms it was sent at: sent again, same `request_id`, before anything else.
    pub pending_opens: Mutex<HashMap<String, (OpenLease, u64)>>,
    /// Central's `available` per account, and when central said so.
    wallets: Mutex<HashMap<String, (Amount, Timestamp)>>,
    /// (idempotency key) of billing calls being answered now.
    pub in_flight: Mutex<HashSet<String>>,
    /// Woken when a charge is committed (the usage flusher) or a lease needs attention (the keeper).
    pub usage_wake: Notify,
    pub keeper_wake: Notify,
}

/// The two clocks of a sidecar: wall time for timestamps, monotonic time for deadlines.
#[derive(Debug, Clone)]
pub struct Clocks {
    pub wall: ClockHandle,
    pub mono: MonoHandle,
}

impl SidecarState {
    pub fn new(
        store: Store,
        answers: Arc<Answers>,
        clocks: Clocks,
        central: CentralClient,
        credentials: ClientCredentials,
        local: Option<Local>,
        lease_chunk: Amount,
    ) -> SidecarState {
        let Clocks { wall: clock, mono } = clocks;
        SidecarState {
            store,
            answers,
            clock,
            central,
            credentials,
            company: OnceLock::new(),
            local: RwLock::new(local),
            cache: TokenCache::with_recording(),
            metrics: Metrics::default(),
            mono,
            enrolment: OnceLock::new(),
            lease_chunk,
            lease_locks: Mutex::new(HashMap::new()),
            pending_opens: Mutex::new(HashMap::new()),
            wallets: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
            usage_wake: Notify::new(),
            keeper_wake: Notify::new(),
        }
    }

    /// The lock that serialises lease requests for `account`.
    pub fn lease_lock(&self, account: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.lease_locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(account.to_owned()).or_default().clone()
    }

    /// Remembers central's `available` for `account` as of `at` (newer news wins).
    pub fn note_wallet(&self, account: &str, available: Amount, at: Timestamp) {
        let mut wallets = self.wallets.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = wallets.entry(account.to_owned()).or_insert((available, at));
        if at >= entry.1 {
            *entry = (available, at);
        }
    }

    /// Central's last known `available` for `account`, with when it was known.
    pub fn wallet(&self, account: &str) -> Option<(Amount, Timestamp)> {
        self.wallets.lock().unwrap_or_else(PoisonError::into_inner).get(account).copied()
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Critical sections are map lookups and inserts, so a poisoned lock holds consistent data.
    pub fn local(&self) -> RwLockReadGuard<'_, Option<Local>> {
        self.local.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn local_mut(&self) -> RwLockWriteGuard<'_, Option<Local>> {
        self.local.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enrolled, keys loaded and a snapshot applied (DESIGN §5.2).
    pub fn is_ready(&self) -> bool {
        self.company.get().is_some() && self.local().as_ref().is_some_and(Local::has_keys)
    }
}

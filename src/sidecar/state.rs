//! What every sidecar request and background task shares.

use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::domain::token::cache::TokenCache;
use crate::sidecar::client::{CentralClient, ClientCredentials};
use crate::sidecar::local::Local;
use crate::sidecar::metrics::Metrics;
use crate::storage::Store;
use crate::vocab::ids::CompanyId;
use crate::vocab::time::{ClockHandle, Timestamp};

pub type SharedState = Arc<SidecarState>;

#[derive(Debug)]
pub struct SidecarState {
    pub store: Store,
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
}

impl SidecarState {
    pub fn new(
        store: Store,
        clock: ClockHandle,
        central: CentralClient,
        credentials: ClientCredentials,
        local: Option<Local>,
    ) -> SidecarState {
        SidecarState {
            store,
            clock,
            central,
            credentials,
            company: OnceLock::new(),
            local: RwLock::new(local),
            cache: TokenCache::new(),
            metrics: Metrics::default(),
        }
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

//! What every central handler shares: the store, the clock, the providers, the settings.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::central::providers::Providers;
use crate::storage::Store;
use crate::vocab::limits::password_hashing_concurrency_max;
use crate::vocab::money::Currency;
use crate::vocab::time::{ClockHandle, Timestamp};

#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub clock: ClockHandle,
    pub currency: Currency,
    pub public_url: String,
    pub providers: Providers,
    /// (scope, key) of idempotent requests running now.
    pub in_flight: Mutex<HashSet<(String, String)>>,
    /// Bounds concurrent argon2id work.
    pub hashing: Semaphore,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(store: Store, clock: ClockHandle, currency: Currency, public_url: String, providers: Providers) -> Self {
        AppState {
            store,
            clock,
            currency,
            public_url,
            providers,
            in_flight: Mutex::new(HashSet::new()),
            hashing: Semaphore::new(password_hashing_concurrency_max),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

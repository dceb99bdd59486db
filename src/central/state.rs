//! What every central handler shares: the store, the clock, the providers, the settings.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::central::keyring::Keyring;
use crate::central::mail::Mailer;
use crate::central::providers::Providers;
use crate::http::rate_limit::RateLimiter;
use crate::storage::Store;
use crate::vocab::limits::*;
use crate::vocab::money::Currency;
use crate::vocab::time::{ClockHandle, Timestamp};

/// OAuth settings fixed at start.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub access_token_ttl_s: i64,
    pub key_prepublish_s: i64,
}

/// The rate limits of the sign-in, token and direct-user endpoints.
#[derive(Debug)]
pub struct Limiters {
    pub sign_in_email: RateLimiter,
    pub sign_in_address: RateLimiter,
    pub token_client: RateLimiter,
    pub direct_users_client: RateLimiter,
}

impl Default for Limiters {
    fn default() -> Self {
        Limiters {
            sign_in_email: RateLimiter::new(sign_in_per_email_burst, sign_in_window_s, rate_limit_keys_max),
            sign_in_address: RateLimiter::new(sign_in_per_address_burst, sign_in_window_s, rate_limit_keys_max),
            token_client: RateLimiter::new(token_requests_per_client_burst, client_window_s, rate_limit_keys_max),
            direct_users_client: RateLimiter::new(direct_users_per_client_burst, client_window_s, rate_limit_keys_max),
        }
    }
}

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
    pub keyring: Keyring,
    pub oauth: OAuthSettings,
    pub limiters: Limiters,
    pub mailer: Arc<dyn Mailer>,
    /// Whether central is served over https (cookies get `Secure`).
    pub https: bool,
    /// Whether webhook URLs may point at loopback or private addresses (demo and tests).
    pub allow_private_webhooks: bool,
    /// Key of the forms' CSRF tokens, kept in the database so pages survive a restart.
    pub csrf_key: crate::vocab::secret::Secret,
    /// Lifetime of a lease after each open or renew (`--lease-ttl-s`).
    pub lease_ttl_s: u64,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

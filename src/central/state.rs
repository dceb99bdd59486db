//! What every central handler shares: the store, the clock, the providers, the settings.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::central::keyring::Keyring;
use crate::central::mail::Mailer;
use crate::central::providers::Providers;
use crate::http::rate_limit::RateLimiter;
use crate::storage::Store;
use crate::vocab::limits::*;
use crate::vocab::money::Currency;
use crate::vocab::names::Email;
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

impl Limiters {
    /// One sign-in attempt for `email` from `peer`: the client's address is charged first, so
    /// attempts it is already refused for use up no one's per-email allowance. An IPv6 client
    /// is counted by its /64, the block one host usually holds.
    pub fn sign_in(&self, email: &Email, peer: IpAddr, now: Timestamp) -> Result<(), u64> {
        let address = match peer {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
            other => other.to_canonical().to_string(),
        };
        self.sign_in_address.check(&address, now)?;
        self.sign_in_email.check(email.as_str(), now)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_limits_charge_the_address_first_and_ipv6_by_its_64() {
        // Proves attempts refused for their address spend no email's allowance, and every address of one IPv6 /64 shares one allowance.
        let limiters = Limiters::default();
        let now = Timestamp::from_unix_ms(1_800_000_000_000);
        let email = |name: &str| Email::parse(&format!("{name}@x.io")).expect("a valid email");
        let flooder: IpAddr = "203.0.113.7".parse().expect("an address");
        let allowed = (0..200).filter(|i| limiters.sign_in(&email(&format!("u{i}")), flooder, now).is_ok()).count();
        assert_eq!(allowed, sign_in_per_address_burst as usize);
        for _ in 0..30 {
            assert!(limiters.sign_in(&email("victim"), flooder, now).is_err());
        }
        let owner: IpAddr = "198.51.100.1".parse().expect("an address");
        let victim = (0..30).filter(|_| limiters.sign_in(&email("victim"), owner, now).is_ok()).count();
        assert_eq!(victim, sign_in_per_email_burst as usize, "the flood spent none of the victim's attempts");

        let first: IpAddr = "2001:db8:1:2::1".parse().expect("an address");
        let same_block: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("an address");
        let spread = (0..200)
            .filter(|i| {
                let peer = if i % 2 == 0 { first } else { same_block };
                limiters.sign_in(&email(&format!("v{i}")), peer, now).is_ok()
            })
            .count();
        assert_eq!(spread, sign_in_per_address_burst as usize, "one /64 is one client");
        let other_block: IpAddr = "2001:db8:1:3::1".parse().expect("an address");
        assert!(limiters.sign_in(&email("w"), other_block, now).is_ok());
    }
}

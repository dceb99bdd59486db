//! Central's settings, as the process layer hands them over.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::vocab::limits::{
    access_token_ttl_s_default, hold_sweep_interval_ms, key_prepublish_s_default, lease_ttl_s, webhook_poll_ms,
    webhook_timeout_s,
};
use crate::vocab::money::Currency;

#[derive(Debug, Clone)]
pub struct CentralConfig {
    pub listen: SocketAddr,
    /// The issuer and base of every URL central gives out; `http://<listen>` when not set.
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub currency: Currency,
    /// The `test` provider mints money; it is off unless asked for.
    pub enable_test_provider: bool,
    /// Lifetime of issued access tokens, 1 s to 24 h.
    pub access_token_ttl_s: i64,
    /// How long a rotated key is published before it signs.
    pub key_prepublish_s: i64,
    /// `smtp://` or `smtps://` URL of a mail relay; `None` writes mail to `<data-dir>/mail.log`.
    pub smtp_url: Option<String>,
    /// Sender address of outgoing mail.
    pub mail_from: String,
    /// Send webhooks to loopback and private addresses too (for the demo and tests).
    pub allow_private_webhooks: bool,
    /// Deadline of one webhook attempt, in milliseconds (DESIGN §6: 15 s).
    pub webhook_timeout_ms: u64,
    /// Real time between the webhook dispatcher's polls of the outbox, in milliseconds.
    pub webhook_poll_ms: u64,
    /// Real time between the sweeper's looks for expired holds and leases, in milliseconds.
    pub hold_sweep_interval_ms: u64,
    /// Lifetime of a lease after the call that opened or renewed it (DESIGN §7: 5 min).
    pub lease_ttl_s: u64,
}

impl CentralConfig {
    /// Defaults for a data dir: loopback on an OS-chosen port, RUB, test provider on, private
    /// webhook targets allowed (for tests).
    pub fn for_tests(data_dir: PathBuf) -> Self {
        CentralConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            data_dir,
            currency: Currency::parse("RUB").expect("RUB is a known currency"),
            enable_test_provider: true,
            access_token_ttl_s: access_token_ttl_s_default,
            key_prepublish_s: key_prepublish_s_default,
            smtp_url: None,
            mail_from: "PROTUS <no-reply@protus.localhost>".to_owned(),
            allow_private_webhooks: true,
            webhook_timeout_ms: webhook_timeout_s * 1000,
            webhook_poll_ms,
            hold_sweep_interval_ms,
            lease_ttl_s,
        }
    }
}

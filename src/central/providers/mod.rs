//! Top-up providers: a trait with one file per provider, and the set a deployment enabled.

pub mod test_provider;

use std::sync::Arc;

use axum::http::HeaderMap;

use crate::storage::central::records::TopUpRecord;
use crate::vocab::time::Timestamp;

/// Why a callback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("missing or malformed signature header")]
    MissingSignature,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the signature timestamp is too far from now")]
    Stale,
}

/// A payment provider: it is asked to collect a top-up and later calls central back, signed.
pub trait TopUpProvider: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;
    /// Starts collecting the money; the outcome arrives through the callback endpoint.
    fn start(&self, top_up: &TopUpRecord);
    /// Checks that a callback body really comes from this provider.
    fn verify_callback(&self, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Result<(), CallbackError>;
}

/// The providers this deployment enabled; the first is the default for new top-ups.
#[derive(Debug, Clone, Default)]
pub struct Providers(Vec<Arc<dyn TopUpProvider>>);

impl Providers {
    pub fn new(providers: Vec<Arc<dyn TopUpProvider>>) -> Self {
        Providers(providers)
    }

    pub fn default_provider(&self) -> Option<&Arc<dyn TopUpProvider>> {
        self.0.first()
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn TopUpProvider>> {
        self.0.iter().find(|p| p.name() == name)
    }
}

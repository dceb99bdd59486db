//! Central's settings, as the process layer hands them over.

use std::net::SocketAddr;
use std::path::PathBuf;

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
}

impl CentralConfig {
    /// Defaults for a data dir: loopback on an OS-chosen port, RUB, test provider on (for tests).
    pub fn for_tests(data_dir: PathBuf) -> Self {
        CentralConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            data_dir,
            currency: Currency::parse("RUB").expect("RUB is a known currency"),
            enable_test_provider: true,
        }
    }
}

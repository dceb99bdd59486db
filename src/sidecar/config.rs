//! What `protus sidecar` is told on its command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::vocab::money::Amount;
use crate::vocab::secret::Secret;

#[derive(Debug, Clone)]
pub struct SidecarConfig {
    /// Central's base URL, e.g. `http://127.0.0.1:8080`.
    pub central: String,
    /// The company's OAuth client id and secret: to enrol, and for the company calls the sidecar
    /// forwards to central on the partner app's behalf (direct users), so the app holds no secret.
    pub client_id: String,
    pub client_secret: Secret,
    pub listen: SocketAddr,
    /// Also serve on this unix socket (mode 0660), for partner apps on the same host.
    pub unix_socket: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// How much more than a request needs a new or renewed lease asks for (DESIGN §7).
    pub lease_chunk: Amount,
}

//! Why a request to an upstream failed.

use std::time::Duration;

use crate::protocol::RawJson;

/// Why a request to an upstream failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The call was never sent: the upstream is not connected and no reconnect came in time.
    #[error("upstream \"{0}\" is not connected; retry the call")]
    Unavailable(String),
    /// The connection closed while the call was in flight: it may or may not have run.
    #[error("upstream \"{0}\": the connection closed during the request, which may have run")]
    Lost(String),
    /// The gateway dropped the connection while the call was in flight, because the upstream
    /// sent a message over the size limit: the call may have run, and is not sent again, since
    /// it may be the one whose answer was too large.
    #[error(
        "upstream \"{0}\" sent a message over 64 MiB, so its connection was dropped during the request, which may have run"
    )]
    Dropped(String),
    /// Nothing answered at the upstream's address.
    #[error("upstream \"{0}\": {1}")]
    Unreachable(String, String),
    #[error("upstream \"{0}\" did not answer within {1:?}")]
    Timeout(String, Duration),
    /// The upstream answered with a JSON-RPC error object, forwarded as is.
    #[error("upstream answered with an error")]
    Rpc(RawJson),
    #[error("upstream \"{0}\": {1}")]
    Transport(String, String),
    /// The caller's credentials could not be turned into what the upstream takes (a token
    /// exchange refused, no token to exchange).
    #[error("upstream \"{0}\": {1}")]
    Credentials(String, String),
}

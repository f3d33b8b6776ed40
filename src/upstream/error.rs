//! Why a request to an upstream failed.

use std::time::Duration;

use crate::protocol::RawJson;

/// Why a request to an upstream failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("upstream \"{0}\" is not connected")]
    Unavailable(String),
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

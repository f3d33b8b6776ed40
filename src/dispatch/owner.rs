//! Sending a request to the upstream that owns its item, and that upstream's failure as the
//! error the client gets.

use super::Request;
use crate::error::{GatewayError, Kind, Source};
use crate::live::Snapshot;
use crate::protocol::RawJson;
use crate::routing::Published;
use crate::upstream::UpstreamError;

/// Sends `method` to the upstream that owns `item`.
pub(super) async fn to_owner(
    snapshot: &Snapshot,
    request: &Request,
    item: &Published,
    method: &str,
    params: Option<&serde_json::value::RawValue>,
) -> Result<RawJson, GatewayError> {
    let upstream = &item.route.upstream;
    let Some(handle) = snapshot.upstream(upstream) else {
        return Err(GatewayError::new(
            Kind::Unavailable,
            Source::Gateway,
            format!("upstream \"{upstream}\" is not configured"),
        ));
    };
    handle.request(method, params, Some(&request.link)).await.map_err(|e| upstream_failure(upstream, method, e))
}

/// An upstream's failure as the error the client gets: its own error object, or the gateway's.
pub(super) fn upstream_failure(upstream: &str, method: &str, e: UpstreamError) -> GatewayError {
    match e {
        UpstreamError::Rpc(error) => GatewayError::upstream_object(error),
        // Never sent: the same call may be sent again. Lost: it may have run upstream.
        UpstreamError::Unavailable(_) | UpstreamError::Unreachable(..) | UpstreamError::Lost(_) => {
            let retryable = !matches!(e, UpstreamError::Lost(_));
            GatewayError::new(Kind::Unavailable, Source::Upstream, e.to_string())
                .with_data(serde_json::json!({ "upstream": upstream, "retryable": retryable }))
        }
        UpstreamError::Timeout(..) => GatewayError::new(Kind::Timeout, Source::Upstream, e.to_string()),
        UpstreamError::Credentials(..) => GatewayError::new(Kind::Forbidden, Source::Upstream, e.to_string()),
        UpstreamError::Transport(..) => {
            tracing::warn!(%upstream, %method, error = %e, "request to upstream failed");
            GatewayError::new(Kind::Internal, Source::Upstream, e.to_string())
        }
    }
}

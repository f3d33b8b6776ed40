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
    let link = Some(&request.link);
    match handle.request(method, params, link).await {
        // A stateless call's round starts over with it: the upstream asks its questions again,
        // and they take the answers its request state carries from the first.
        Err(UpstreamError::Lost(_))
            if resendable(snapshot, item, method) && request.link.rounds.as_ref().is_none_or(|r| r.restart()) =>
        {
            // It may have run, and running it again is harmless: the caller need not know.
            tracing::info!(%upstream, %method, item = %item.public_key,
                "the connection was lost during the request; sending it once more");
            handle.request(method, params, link).await
        }
        outcome => outcome,
    }
    .map_err(|e| upstream_failure(upstream, method, e))
}

/// Whether a request lost with its connection may be sent again (`reconnect.resend_lost`): a
/// read, or a call to a tool whose published annotations (the upstream's, or the file's shape)
/// say it is read-only or idempotent.
fn resendable(snapshot: &Snapshot, item: &Published, method: &str) -> bool {
    let allowed = snapshot.model.upstream(&item.route.upstream).is_some_and(|u| u.reconnect.resend_idempotent);
    allowed
        && match method {
            "resources/read" | "prompts/get" | "completion/complete" => true,
            "tools/call" => harmless_twice(&item.json),
            _ => false,
        }
}

/// Whether a tool's definition declares it read-only or idempotent.
fn harmless_twice(tool: &RawJson) -> bool {
    #[derive(serde::Deserialize)]
    struct Tool {
        #[serde(default)]
        annotations: Annotations,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Annotations {
        #[serde(default)]
        read_only_hint: Option<bool>,
        #[serde(default)]
        idempotent_hint: Option<bool>,
    }
    serde_json::from_str::<Tool>(tool.get())
        .is_ok_and(|t| t.annotations.read_only_hint == Some(true) || t.annotations.idempotent_hint == Some(true))
}

/// An upstream's failure as the error the client gets: its own error object, or the gateway's.
pub(super) fn upstream_failure(upstream: &str, method: &str, e: UpstreamError) -> GatewayError {
    match e {
        UpstreamError::Rpc(error) => GatewayError::upstream_object(error),
        // Never sent: the same call may be sent again. Lost or dropped: it may have run upstream.
        UpstreamError::Unavailable(_)
        | UpstreamError::Unreachable(..)
        | UpstreamError::Lost(_)
        | UpstreamError::Dropped(_) => {
            let retryable = !matches!(e, UpstreamError::Lost(_) | UpstreamError::Dropped(_));
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

#[cfg(test)]
mod tests {
    use super::harmless_twice;
    use crate::protocol::jsonrpc;
    use serde_json::json;

    #[test]
    fn only_tools_declared_read_only_or_idempotent_are_harmless_twice() {
        let tool = |annotations| jsonrpc::raw(&json!({"name": "t", "inputSchema": {}, "annotations": annotations}));
        assert!(harmless_twice(&tool(json!({"readOnlyHint": true}))));
        assert!(harmless_twice(&tool(json!({"readOnlyHint": false, "idempotentHint": true}))));
        assert!(!harmless_twice(&tool(json!({"idempotentHint": false, "destructiveHint": false}))));
        assert!(!harmless_twice(&tool(json!({}))));
        assert!(!harmless_twice(&tool(json!(null))), "null annotations declare nothing");
        assert!(!harmless_twice(&jsonrpc::raw(&json!({"name": "t"}))));
        assert!(!harmless_twice(&tool(json!({"readOnlyHint": "yes"}))), "only a JSON true counts");
    }
}

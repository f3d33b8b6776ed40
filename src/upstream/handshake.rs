//! The MCP handshake with an upstream and the listing of its items (following pagination).

use serde::Deserialize;
use serde_json::Value;

use super::wire::Established;
use super::{Connection, UpstreamError};
use crate::model;
use crate::protocol::jsonrpc::raw;
use crate::protocol::{Item, ItemKind, ItemSet, mcp};

/// Upper bound on pages followed for one list, so a looping cursor cannot hang a refresh.
const MAX_PAGES: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeResult {
    protocol_version: String,
    #[serde(default)]
    capabilities: serde_json::Map<String, Value>,
    server_info: Option<Value>,
}

pub(super) async fn initialize(conn: &dyn Connection, spec: &model::Upstream) -> Result<Established, UpstreamError> {
    let params = raw(&serde_json::json!({
        "protocolVersion": mcp::LATEST_VERSION,
        "capabilities": client_capabilities(spec),
        "clientInfo": mcp::implementation(),
    }));
    let result = conn.request("initialize", Some(&params), spec.timeout, None).await?;
    let init: InitializeResult = serde_json::from_str(result.get())
        .map_err(|e| UpstreamError::Transport(spec.name.clone(), format!("unreadable initialize result: {e}")))?;
    if !mcp::is_supported(&init.protocol_version) {
        return Err(UpstreamError::Transport(
            spec.name.clone(),
            format!("speaks protocol version {} which mcpgw does not", init.protocol_version),
        ));
    }
    Ok(Established {
        protocol_version: init.protocol_version,
        capabilities: init.capabilities,
        server_info: init.server_info,
    })
}

/// What a REST API "declares": tools only, in no MCP version.
pub(super) fn rest_established(spec: &model::Upstream) -> Established {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("tools".into(), serde_json::json!({}));
    Established {
        protocol_version: "rest".into(),
        capabilities,
        server_info: Some(serde_json::json!({ "name": spec.name, "kind": "rest" })),
    }
}

/// Lists every kind of item the upstream declared a capability for.
pub(super) async fn fetch_items(
    conn: &dyn Connection,
    established: &Established,
    spec: &model::Upstream,
) -> Result<ItemSet, UpstreamError> {
    let mut set = ItemSet::default();
    for kind in ItemKind::ALL {
        if established.capabilities.contains_key(kind.capability()) {
            *set.of_mut(kind) = list_all(conn, kind, spec).await?;
        }
    }
    Ok(set)
}

async fn list_all(conn: &dyn Connection, kind: ItemKind, spec: &model::Upstream) -> Result<Vec<Item>, UpstreamError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor.as_ref().map(|c| raw(&serde_json::json!({ "cursor": c })));
        let result = conn.request(kind.list_method(), params.as_deref(), spec.timeout, None).await?;
        let mut page: serde_json::Map<String, Value> = serde_json::from_str(result.get()).map_err(|e| {
            UpstreamError::Transport(spec.name.clone(), format!("unreadable {} result: {e}", kind.list_method()))
        })?;
        if let Some(Value::Array(list)) = page.remove(kind.list_field()) {
            items.extend(list.into_iter().filter_map(|v| Item::from_json(kind, v)));
        }
        match page.remove("nextCursor") {
            Some(Value::String(next)) if !next.is_empty() => cursor = Some(next),
            _ => return Ok(items),
        }
    }
    tracing::warn!(upstream = %spec.name, method = kind.list_method(), "stopped following pagination after {MAX_PAGES} pages");
    Ok(items)
}

/// What the gateway offers an upstream as a client. Sampling, elicitation and roots can be passed
/// on to the right client when the upstream session belongs to one client (`per_client`), or over
/// streamable HTTP, where such a request arrives on the response stream of the call it serves.
/// Elsewhere (`sessions: shared` over stdio, SSE or WebSocket) none is offered.
pub(super) fn client_capabilities(spec: &model::Upstream) -> serde_json::Value {
    let routable =
        spec.sessions != model::Sessions::Shared || matches!(spec.transport, model::Transport::StreamableHttp { .. });
    if routable {
        serde_json::json!({ "sampling": {}, "elicitation": { "form": {}, "url": {} }, "roots": {} })
    } else {
        serde_json::json!({})
    }
}

/// Why an `era: stateless` upstream that did not answer `server/discover` is down.
pub(super) fn not_stateless(spec: &model::Upstream) -> UpstreamError {
    UpstreamError::Transport(
        spec.name.clone(),
        "no answer to server/discover, and `era: stateless` allows no fallback to initialize".into(),
    )
}

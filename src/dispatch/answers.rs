//! The answers the gateway gives itself: `initialize` (session-based clients), `server/discover`
//! (stateless clients), and the empty result.

use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::Request;
use crate::protocol::{RawJson, jsonrpc, mcp, stateless};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Init {
    protocol_version: Option<String>,
    #[serde(default)]
    capabilities: serde_json::Value,
}

fn read_init(params: Option<&RawValue>) -> Init {
    params.and_then(|p| serde_json::from_str::<Init>(p.get()).ok()).unwrap_or_default()
}

/// The protocol version to answer an `initialize` with (and to open its session at).
pub(crate) fn negotiated_version(params: Option<&RawValue>) -> &'static str {
    mcp::negotiate(read_init(params).protocol_version.as_deref())
}

/// `initialize`: records what the client declared on its session, and describes the virtual server.
pub(super) fn initialize(request: &Request) -> RawJson {
    let init = read_init(request.params.as_deref());
    request.session().declare(init.capabilities);
    let version = mcp::negotiate(init.protocol_version.as_deref());
    jsonrpc::raw(&json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": { "listChanged": true },
            "resources": { "listChanged": true, "subscribe": true },
            "prompts": { "listChanged": true },
            "completions": {},
            "logging": {},
            // Task-augmented calls go to the tool's upstream (tools say so in `execution.taskSupport`).
            "tasks": { "list": {}, "cancel": {}, "requests": { "tools": { "call": {} } } },
        },
        "serverInfo": mcp::implementation(),
        "instructions": instructions(request.virtual_server()),
    }))
}

/// `server/discover`: the versions (stateless first) and capabilities of the virtual server.
pub(super) fn discover(virtual_server: &str) -> RawJson {
    jsonrpc::raw(&json!({
        "supportedVersions": stateless::all_versions(),
        "capabilities": {
            "tools": { "listChanged": true },
            "resources": { "listChanged": true, "subscribe": true },
            "prompts": { "listChanged": true },
            "completions": {},
            // The tasks extension: an upstream that supports it decides which calls become tasks,
            // and the gateway routes the task's requests back to it.
            "extensions": { crate::protocol::tasks::EXTENSION: {} },
        },
        "instructions": instructions(virtual_server),
    }))
}

pub(super) fn empty() -> RawJson {
    RawValue::from_string("{}".into()).expect("{} is JSON")
}

fn instructions(virtual_server: &str) -> String {
    format!(
        "mcpgw virtual server \"{virtual_server}\": tools, resources and prompts of several MCP servers behind one endpoint."
    )
}

//! The first step of every request: its virtual server's catalog, its row of the method table,
//! and the item it names (a tool or prompt by name, a resource by URI or template, a completion's
//! `ref`), with the params read as far as routing needs them.

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::Request;
use crate::error::{GatewayError, Kind};
use crate::live::Snapshot;
use crate::protocol::methods::{self, Method, Target};
use crate::protocol::{ItemKind, RawJson};
use crate::routing::{Catalog, Published};

/// A request resolved against the snapshot it runs on.
pub(super) struct Resolved<'s> {
    pub(super) method: &'static Method,
    pub(super) catalog: &'s Arc<Catalog>,
    /// The item the request names, when it names one the catalog publishes.
    pub(super) item: Option<&'s Arc<Published>>,
    /// The URI a resource request (or a completion's `ref/resource`) names.
    pub(super) uri: Option<String>,
    pub(super) params: Params,
}

/// The params, read as far as resolving needed.
pub(super) enum Params {
    /// Not read (forwarded as the client sent them, or read by the method's own step).
    Unread,
    /// An object whose members stay unparsed (`tools/call`, `prompts/get`: only `name` and, for
    /// shaped tools, `arguments` are read or rewritten).
    Members(IndexMap<String, RawJson>),
    /// A parsed object (`completion/complete`).
    Object(Map<String, Value>),
}

pub(super) fn resolve<'s>(snapshot: &'s Snapshot, request: &Request) -> Result<Resolved<'s>, GatewayError> {
    let Some(catalog) = snapshot.table.catalog(request.virtual_server()) else {
        return Err(GatewayError::invalid_request(format!(
            "virtual server \"{}\" is not configured",
            request.virtual_server()
        )));
    };
    // What the parser let through but an upstream may choke on is refused here, at once.
    if let Some(params) = request.params() {
        crate::protocol::jsonrpc::check_sound(params.get()).map_err(GatewayError::invalid_params)?;
    }
    let stateless = request.session().is_stateless();
    let method = methods::find(&request.method)
        .filter(|m| if stateless { m.stateless() } else { m.session() })
        .ok_or_else(|| GatewayError::method_not_found(&request.method))?;
    let mut named_uri = None;
    let (item, params) = match method.target {
        Target::Name => {
            let members = members(request)?;
            let name: String = match members.get("name").map(|n| serde_json::from_str(n.get())) {
                Some(Ok(n)) => n,
                _ => return Err(GatewayError::invalid_params("`name` is required")),
            };
            let kind = if method.name == "tools/call" { ItemKind::Tool } else { ItemKind::Prompt };
            let Some(item) = catalog.find(kind, &name) else {
                let what = if kind == ItemKind::Tool { "tool" } else { "prompt" };
                return Err(GatewayError::invalid_params(format!("unknown {what}: {name}")));
            };
            (Some(item), Params::Members(members))
        }
        Target::Uri => {
            let uri = uri(request)?;
            let item = catalog.resolve_uri(&uri);
            // A subscription outlives a reload that stopped publishing its URI; it can still be dropped.
            if item.is_none() && method.name != "resources/unsubscribe" {
                return Err(GatewayError::resource_not_found(&uri));
            }
            named_uri = Some(uri);
            (item, Params::Unread)
        }
        Target::Ref => {
            let fields = object(request)?;
            named_uri = fields.get("ref").and_then(|r| r.get("uri")).and_then(Value::as_str).map(str::to_string);
            (Some(by_ref(catalog, &fields)?), Params::Object(fields))
        }
        Target::TaskId | Target::None => (None, Params::Unread),
    };
    Ok(Resolved { method, catalog, item, uri: named_uri, params })
}

/// The answer to a request for an item the caller may not know of: exactly the one an item
/// that does not exist gets, so that a refusal tells nothing.
pub(super) fn absent(resolved: &Resolved<'_>) -> GatewayError {
    match (resolved.method.target, resolved.item, &resolved.uri) {
        (Target::Name, Some(item), _) => {
            let what = if item.kind == ItemKind::Tool { "tool" } else { "prompt" };
            GatewayError::invalid_params(format!("unknown {what}: {}", item.public_key))
        }
        (Target::Uri, _, Some(uri)) => GatewayError::resource_not_found(uri),
        (Target::Ref, _, _) => GatewayError::invalid_params(REF_NAMES_NOTHING),
        _ => GatewayError::forbidden(format!("{} is not allowed", resolved.method.name)),
    }
}

const REF_NAMES_NOTHING: &str = "`ref` names nothing this server offers";

/// A stateless request's mirrored `Mcp-Param-*` headers against the tool's arguments (checked
/// once the caller may know the tool).
pub(super) fn param_headers(request: &Request, resolved: &Resolved<'_>) -> Result<(), GatewayError> {
    match (&request.param_headers, resolved.item) {
        (Some(headers), Some(item)) => check_param_headers(item, &resolved.params, headers),
        _ => Ok(()),
    }
}

/// The prompt, resource template or resource a completion's `ref` names.
fn by_ref<'s>(catalog: &'s Catalog, fields: &Map<String, Value>) -> Result<&'s Arc<Published>, GatewayError> {
    let Some(Value::Object(reference)) = fields.get("ref") else {
        return Err(GatewayError::invalid_params("`ref` is required"));
    };
    let item = match (reference.get("type").and_then(Value::as_str), reference.get("name"), reference.get("uri")) {
        (Some("ref/prompt"), Some(Value::String(name)), _) => catalog.find(ItemKind::Prompt, name),
        (Some("ref/resource"), _, Some(Value::String(uri))) => {
            catalog.find(ItemKind::ResourceTemplate, uri).or_else(|| catalog.resolve_uri(uri))
        }
        _ => {
            return Err(GatewayError::invalid_params(
                "`ref` must be a ref/prompt with a name or a ref/resource with a uri",
            ));
        }
    };
    item.ok_or_else(|| GatewayError::invalid_params(REF_NAMES_NOTHING))
}

/// The tool's arguments marked `x-mcp-header` must match the `Mcp-Param-*` headers the stateless
/// request carried.
fn check_param_headers(item: &Published, params: &Params, headers: &[(String, String)]) -> Result<(), GatewayError> {
    if item.kind != ItemKind::Tool || !item.json.get().contains("x-mcp-header") {
        return Ok(());
    }
    let definition: Value = serde_json::from_str(item.json.get()).unwrap_or_default();
    let mirrored = crate::protocol::param_headers::mirrored(&definition["inputSchema"]);
    let arguments = match params {
        Params::Members(members) => {
            members.get("arguments").and_then(|a| serde_json::from_str(a.get()).ok()).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    };
    crate::protocol::param_headers::check(&mirrored, &arguments, |name| {
        headers.iter().find(|(header, _)| header.eq_ignore_ascii_case(name)).map(|(_, value)| value.clone())
    })
    .map_err(|why| GatewayError::client(Kind::HeaderMismatch, why))
}

/// The params' `uri`.
pub(super) fn uri(request: &Request) -> Result<String, GatewayError> {
    #[derive(serde::Deserialize)]
    struct Uri {
        uri: Option<String>,
    }
    let read: Option<Uri> = match request.params() {
        None => None,
        Some(p) => Some(serde_json::from_str(p.get()).map_err(|_| must_be_object())?),
    };
    read.and_then(|r| r.uri).ok_or_else(|| GatewayError::invalid_params("`uri` is required"))
}

/// Params as an object whose members stay unparsed; absent params read as `{}`.
pub(super) fn members(request: &Request) -> Result<IndexMap<String, RawJson>, GatewayError> {
    match request.params() {
        None => Ok(IndexMap::new()),
        Some(p) => serde_json::from_str(p.get()).map_err(|_| must_be_object()),
    }
}

/// Params as a JSON object; absent params read as `{}`.
pub(super) fn object(request: &Request) -> Result<Map<String, Value>, GatewayError> {
    match request.params() {
        None => Ok(Map::new()),
        Some(p) => serde_json::from_str(p.get()).map_err(|_| must_be_object()),
    }
}

fn must_be_object() -> GatewayError {
    GatewayError::invalid_params("params must be an object")
}

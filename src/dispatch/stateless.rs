//! Stateless requests (MCP 2026-07-28), on every binding that carries them (streamable HTTP,
//! WebSocket and `mcpgw stdio` before any `initialize`). Every request stands alone: its version,
//! capabilities and log level come from `_meta`; it runs on a detached session that ends with it;
//! its result says its `resultType` (and, for lists and reads, how long it may be cached).
//!
//! When a session-based upstream asks the client something mid-call, the round ends: the call is
//! dropped (which cancels it upstream) and the client gets `input_required` with the question and
//! signed state holding the answers so far. Its retry replays the call, answering the upstream's
//! questions from that state (`session::InputRounds`).

use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::round_state;
use super::{Request, handle};
use crate::error::{GatewayError, Kind};
use crate::live::{Live, Snapshot};
use crate::policy::Subject;
use crate::protocol::methods::{self, Method};
use crate::protocol::stateless::meta;
use crate::protocol::stateless::{COMPLETE, INPUT_REQUIRED, all_versions, is_version};
use crate::protocol::{RawJson, jsonrpc, mcp};
use crate::routing::Published;
use crate::session::{Caller, InputRounds, Link, Outbound, RoundEnd, Session};

/// How long clients may keep a list or a read (ms). The gateway's catalog changes only on reloads
/// and upstream list changes, which `subscriptions/listen` announces.
const TTL_MS: u64 = 60_000;

/// A stateless request with its `_meta` read.
pub(crate) struct Call {
    pub id: RawJson,
    pub method: String,
    fields: Map<String, Value>,
    /// The protocol version `_meta` names.
    pub version: String,
    capabilities: Value,
    log_level: Option<mcp::LogLevel>,
}

/// Whether a request speaks the stateless protocol: its params' `_meta` names a version.
pub(crate) fn names_version(params: Option<&RawValue>) -> bool {
    params.is_some_and(|p| p.get().contains(meta::PROTOCOL_VERSION))
}

impl Call {
    /// Reads a stateless request: refused (HTTP 400) when its params are not an object or `_meta`
    /// lacks the version or the client's capabilities.
    pub(crate) fn read(
        id: RawJson,
        method: String,
        params: Option<&RawValue>,
    ) -> Result<Call, (RawJson, GatewayError)> {
        let refuse = |id, message: String| Err((id, GatewayError::invalid_params(message).with_status(400)));
        let mut fields: Map<String, Value> = match params.map(|p| serde_json::from_str(p.get())) {
            None => Map::new(),
            Some(Ok(Value::Object(map))) => map,
            Some(_) => return refuse(id, "params must be an object".into()),
        };
        let meta = fields.get_mut("_meta").and_then(Value::as_object_mut);
        let version = meta.as_ref().and_then(|m| m.get(meta::PROTOCOL_VERSION)).and_then(Value::as_str);
        let capabilities = meta.as_ref().and_then(|m| m.get(meta::CLIENT_CAPABILITIES)).filter(|c| c.is_object());
        let (Some(version), Some(capabilities)) = (version.map(str::to_string), capabilities.cloned()) else {
            return refuse(
                id,
                format!(
                    "a stateless request needs {} and {} in params._meta (or send initialize for a session)",
                    meta::PROTOCOL_VERSION,
                    meta::CLIENT_CAPABILITIES
                ),
            );
        };
        let log_level =
            meta.and_then(|m| m.get(meta::LOG_LEVEL)).and_then(Value::as_str).and_then(mcp::LogLevel::parse);
        Ok(Call { id, method, fields, version, capabilities, log_level })
    }

    /// The checks every binding makes once the message is read: a version this gateway speaks, a
    /// method the revision has, and the tasks extension declared for its methods.
    pub(crate) fn check(&self) -> Result<&'static Method, GatewayError> {
        if !is_version(&self.version) {
            return Err(GatewayError::client(Kind::UnsupportedVersion, "Unsupported protocol version")
                .with_data(json!({ "supported": all_versions(), "requested": self.version })));
        }
        let method = methods::find(&self.method)
            .filter(|m| m.stateless())
            .ok_or_else(|| GatewayError::method_not_found(&self.method))?;
        let extension = crate::protocol::tasks::EXTENSION;
        let declared_tasks = self.capabilities.get("extensions").and_then(|e| e.get(extension)).is_some();
        if self.method.starts_with("tasks/") && !declared_tasks {
            return Err(GatewayError::client(
                Kind::MissingCapability,
                format!("{} belongs to the {extension} extension, which the request does not declare", self.method),
            )
            .with_data(json!({ "requiredCapabilities": { "extensions": { extension: {} } } })));
        }
        Ok(method)
    }

    /// The value of `field` in the params (what `Mcp-Name` must match).
    pub(crate) fn field(&self, field: &str) -> &str {
        self.fields.get(field).and_then(Value::as_str).unwrap_or("")
    }

    /// Whether messages may come before the answer: progress the request asked for, or log
    /// messages at the level it names. A plain JSON answer carries neither.
    pub(crate) fn wants_stream(&self) -> bool {
        methods::find(&self.method).is_some_and(|m| m.answer == methods::Answer::Stream)
            || self.log_level.is_some()
            || self.fields.get("_meta").is_some_and(|m| m.get("progressToken").is_some())
    }

    /// The policy's scope challenge for this request, if it meets one. Asked before an answer is
    /// streamed: once a stream's 200 is sent, the 403 and `WWW-Authenticate` a challenge needs
    /// can no longer be.
    pub(crate) fn challenged(&self, live: &Live, virtual_server: &str, caller: &Caller) -> Option<GatewayError> {
        if live.snapshot().policy.is_empty() {
            return None;
        }
        let session = Session::detached(virtual_server, &self.version, caller.clone());
        let _end = EndOnDrop(session.clone());
        super::challenged(live, &session, &self.id, &self.method, Some(&jsonrpc::raw(&self.fields)))
    }

    /// Runs the request for `caller` on `virtual_server`; messages before the answer go to `out`.
    /// The answer is the result the stateless protocol prescribes: `input_required` when the
    /// upstream asked the client something, `resultType` and cache hints added.
    pub(crate) async fn run(
        mut self,
        live: &Arc<Live>,
        virtual_server: &str,
        caller: Caller,
        out: Outbound,
        param_headers: Option<Vec<(String, String)>>,
    ) -> Result<RawJson, GatewayError> {
        // Session-based upstreams know nothing of these fields; stateless ones get them again,
        // from the calling client's link, when the request is forwarded.
        if let Some(Value::Object(meta)) = self.fields.get_mut("_meta") {
            // The log level stays: a stateless upstream needs it to log for this request.
            for key in [meta::PROTOCOL_VERSION, meta::CLIENT_CAPABILITIES, meta::CLIENT_INFO] {
                meta.remove(key);
            }
            if meta.is_empty() {
                self.fields.remove("_meta");
            }
        }
        // A retry carrying mcpgw's own request state resumes a call to a session-based upstream.
        let snapshot = live.snapshot();
        let key = round_state::key(snapshot.model.serving.request_state_key.as_ref().map(|k| k.expose()));
        let binding = round_state::binding(&self.method, &self.fields, caller.identity.owner_key().as_deref());
        let answers = self.answers(&key, &binding)?;
        // One request, one detached session: ended with the request, which closes any upstream
        // session opened for it (`sessions: per_client`) and releases its subscriptions.
        let session = Session::detached(virtual_server, &self.version, caller);
        let _end = EndOnDrop(session.clone());
        // Passed on to stateless upstreams with each request this client makes.
        session.declare(self.capabilities);
        // Log messages reach a stateless client only for a request that asked for a level.
        if let Some(level) = self.log_level {
            session.log_level.set(level);
        }
        let rounds = InputRounds::new(answers.clone());
        let link = Link { out, session, rounds: Some(rounds.clone()) };
        let mut request = Request::new(self.id, link, self.method, Some(jsonrpc::raw(&self.fields)));
        request.param_headers = param_headers;
        let ended = tokio::select! {
            answer = handle(live, &request) => return finish(&request.method, answer),
            end = rounds.ended() => end,
        };
        match ended {
            RoundEnd::NeedsInput(asked) => {
                let requests: Map<String, Value> = asked.into_iter().collect();
                let state = round_state::sign(&key, &binding, &answers);
                let result = json!({ "inputRequests": requests, "requestState": state, "resultType": INPUT_REQUIRED });
                finish(&request.method, Ok(jsonrpc::raw(&result)))
            }
            RoundEnd::LacksCapability(capability) => Err(GatewayError::client(
                Kind::MissingCapability,
                format!("this request needs the client capability {capability:?}"),
            )
            .with_data(json!({ "requiredCapabilities": { capability: {} } }))),
            RoundEnd::Running => unreachable!("a round ends only once something stopped it"),
        }
    }

    /// The answers of earlier rounds, from mcpgw's own request state if the client sent it back
    /// (state of an upstream's own passes through untouched).
    fn answers(&mut self, key: &[u8], binding: &str) -> Result<Vec<Value>, GatewayError> {
        let Some(state) = self.fields.get("requestState").and_then(Value::as_str) else { return Ok(Vec::new()) };
        if !state.starts_with(round_state::PREFIX) {
            return Ok(Vec::new());
        }
        let mut answers =
            round_state::open(key, binding, state).map_err(|why| GatewayError::invalid_params(why).with_status(400))?;
        let given = self.fields.get("inputResponses").and_then(Value::as_object).cloned().unwrap_or_default();
        while let Some(answer) = given.get(&format!("input-{}", answers.len() + 1)) {
            answers.push(answer.clone());
        }
        self.fields.remove("requestState");
        self.fields.remove("inputResponses");
        Ok(answers)
    }
}

/// What the stateless protocol adds to an answer: `resultType`, cache hints on lists and reads,
/// the gateway's identity in `_meta`; and its code for a missing resource.
fn finish(method: &str, answer: Result<RawJson, GatewayError>) -> Result<RawJson, GatewayError> {
    let result = match answer {
        Ok(result) => result,
        Err(mut e) if e.kind == Kind::ResourceNotFound => {
            e.kind = Kind::InvalidParams;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let Ok(mut fields) = serde_json::from_str::<Map<String, Value>>(result.get()) else { return Ok(result) };
    fields.entry("resultType").or_insert_with(|| Value::String(COMPLETE.into()));
    if methods::find(method).is_some_and(|m| m.cacheable) {
        fields.entry("ttlMs").or_insert_with(|| json!(TTL_MS));
        fields.entry("cacheScope").or_insert_with(|| Value::String("private".into()));
    }
    if let Value::Object(meta) = fields.entry("_meta").or_insert_with(|| Value::Object(Map::new())) {
        meta.entry(meta::SERVER_INFO).or_insert_with(mcp::implementation);
    }
    Ok(jsonrpc::raw(&fields))
}

/// `subscriptions/listen`: subscribes to the resources the client named (those its virtual server
/// publishes and it may use), acknowledges what it will deliver, then sends exactly the list
/// changes and resource updates the client opted in to, each tagged with the subscription's id,
/// until the client goes (the stream closed, or the request cancelled), which ends the request's
/// session and with it the upstream subscriptions. A listen granted nothing ends at once.
pub(super) async fn listen(live: &Arc<Live>, snapshot: &Snapshot, request: &Request) -> Result<RawJson, GatewayError> {
    let fields = super::resolve::object(request)?;
    let wanted = fields.get("notifications").and_then(Value::as_object).cloned().unwrap_or_default();
    let flag = |key: &str| wanted.get(key).and_then(Value::as_bool).unwrap_or(false);
    let kinds = Kinds {
        tools: flag("toolsListChanged"),
        prompts: flag("promptsListChanged"),
        resources: flag("resourcesListChanged"),
    };
    let asked: Vec<&str> = wanted
        .get("resourceSubscriptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // Only resources the virtual server publishes and the caller may use are delivered.
    let subscribed: Vec<(&str, &Arc<Published>)> =
        asked.into_iter().filter_map(|uri| Some((uri, allowed(snapshot, request, uri)?))).collect();
    let mut honored = Map::new();
    for (key, on) in [
        ("toolsListChanged", kinds.tools),
        ("promptsListChanged", kinds.prompts),
        ("resourcesListChanged", kinds.resources),
    ] {
        if on {
            honored.insert(key.into(), Value::Bool(true));
        }
    }
    if !subscribed.is_empty() {
        honored
            .insert("resourceSubscriptions".into(), json!(subscribed.iter().map(|(uri, _)| uri).collect::<Vec<_>>()));
    }
    // Acknowledged before anything waits, so a client always hears what it will get.
    let subscription: Value = serde_json::from_str(request.id.get()).unwrap_or(Value::Null);
    let ack = json!({ "notifications": honored, "_meta": { meta::SUBSCRIPTION_ID: subscription } });
    let out = &request.link.out;
    let acknowledged =
        jsonrpc::encode_notification("notifications/subscriptions/acknowledged", Some(&jsonrpc::raw(&ack)));
    // A listen that was granted nothing would hold its stream (and a connection slot) forever:
    // it ends at once, after the acknowledgement that says so.
    if out.try_send(acknowledged).is_err() || honored.is_empty() {
        return Ok(super::answers::empty());
    }
    // Listening starts before the subscriptions are made, so an update that follows a
    // subscription at once is heard.
    let mut events = live.events();
    for (uri, item) in subscribed {
        let subscribing = Request::new(
            request.id.clone(),
            request.link.clone(),
            "resources/subscribe",
            Some(jsonrpc::raw(&json!({ "uri": uri }))),
        );
        if let Err(e) = super::subscriptions::subscribe(snapshot, &subscribing, item).await {
            tracing::warn!(%uri, error = %e, "a listen's resource subscription failed");
        }
    }
    while let Some(note) = events.next(request.session()).await {
        if let Some(tagged) = tag(&note, &subscription, &kinds)
            && out.send(tagged).await.is_err()
        {
            break;
        }
    }
    Ok(super::answers::empty())
}

/// The resource a listen names, when the virtual server publishes it and the caller may
/// subscribe to it (the checks `resources/subscribe` makes).
fn allowed<'s>(snapshot: &'s Snapshot, request: &Request, uri: &str) -> Option<&'s Arc<Published>> {
    let item = snapshot.table.catalog(request.virtual_server())?.resolve_uri(uri)?;
    let may = |method| {
        let subject = Subject {
            caller: request.caller(),
            virtual_server: request.virtual_server(),
            method,
            item: Some(&**item),
            uri: Some(uri),
            listing: false,
        };
        snapshot.policy.check(&subject).is_ok()
    };
    (may("resources/subscribe") && may("resources/read")).then_some(item)
}

/// Which list changes a listen delivers.
struct Kinds {
    tools: bool,
    prompts: bool,
    resources: bool,
}

/// A session event as a listen-stream notification: only kinds the client opted in to, with the
/// subscription id in `_meta`. Log messages never travel on a listen stream.
fn tag(note: &[u8], subscription: &Value, kinds: &Kinds) -> Option<Vec<u8>> {
    let mut message: Map<String, Value> = serde_json::from_slice(note).ok()?;
    let wanted = match message.get("method")?.as_str()? {
        "notifications/tools/list_changed" => kinds.tools,
        "notifications/prompts/list_changed" => kinds.prompts,
        "notifications/resources/list_changed" => kinds.resources,
        // Delivered only for URIs this subscription named (the session holds exactly those).
        "notifications/resources/updated" => true,
        _ => false,
    };
    if !wanted {
        return None;
    }
    let params = message.entry("params").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(params) = params {
        let meta = params.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert(meta::SUBSCRIPTION_ID.into(), subscription.clone());
        }
    }
    serde_json::to_vec(&message).ok()
}

/// Ends a stateless request's detached session however the request stops.
struct EndOnDrop(Arc<Session>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_gain_result_type_cache_hints_and_stateless_codes() {
        let out = finish("tools/list", Ok(jsonrpc::raw(&json!({"tools": []})))).unwrap();
        let v: Value = serde_json::from_str(out.get()).unwrap();
        assert_eq!(v["resultType"], "complete");
        assert_eq!(v["ttlMs"], TTL_MS);
        assert_eq!(v["cacheScope"], "private");
        assert_eq!(v["_meta"][meta::SERVER_INFO]["name"], "mcpgw");
        let e = finish("resources/read", Err(GatewayError::resource_not_found("x://y"))).unwrap_err();
        assert_eq!(e.code(), jsonrpc::INVALID_PARAMS);
        let out = finish("tools/call", Ok(jsonrpc::raw(&json!({"content": []})))).unwrap();
        assert!(serde_json::from_str::<Value>(out.get()).unwrap().get("ttlMs").is_none());
    }
}

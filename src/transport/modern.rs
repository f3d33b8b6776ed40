//! Stateless MCP (2026-07-28) on the streamable HTTP endpoint, beside the session-based versions:
//! a POST without a session whose request names a modern version in `_meta` (or in the
//! `MCP-Protocol-Version` header) is served here. Every request stands alone: its version and
//! capabilities come from `_meta`, its headers must match its body, and each result says its
//! `resultType` (and, for lists and reads, how long it may be cached).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::http::{json, status};
use super::round_state;
use super::{Body, ServeContext, exchange};
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::{RawJson, mcp, sse};
use crate::session::Session;
use crate::session::{Binding, Caller, InputRounds, RoundEnd};

use crate::protocol::methods;
use crate::protocol::stateless::meta::{
    CLIENT_CAPABILITIES as META_CAPABILITIES, CLIENT_INFO as META_CLIENT_INFO, LOG_LEVEL as META_LOG_LEVEL,
    PROTOCOL_VERSION as META_VERSION, SERVER_INFO as META_SERVER_INFO, SUBSCRIPTION_ID as META_SUBSCRIPTION,
};
use crate::protocol::stateless::{
    HEADER_MISMATCH, METHOD_HEADER, MISSING_CLIENT_CAPABILITY, NAME_HEADER, UNSUPPORTED_VERSION, VERSION, all_versions,
    is_version,
};
/// How long clients may keep a list or a read (ms). The gateway's catalog changes only on reloads
/// and upstream list changes, which `subscriptions/listen` announces.
const TTL_MS: u64 = 60_000;
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// The tasks extension, offered to stateless clients; an upstream that supports it decides which
/// calls become tasks, and the gateway routes the task's requests back to it.
const TASKS_EXTENSION: &str = crate::protocol::tasks::EXTENSION;

/// Whether a POST without a session speaks the stateless protocol: its `_meta` names a version,
/// or its header names one that no session-based version is (so errors can carry the request id).
pub fn applies(headers: &HeaderMap, params: Option<&RawValue>) -> bool {
    let header = headers.get(mcp::VERSION_HEADER).and_then(|v| v.to_str().ok());
    header.is_some_and(|h| !mcp::is_supported(h)) || params.is_some_and(|p| p.get().contains(META_VERSION))
}

fn refuse(code: StatusCode, id: &RawValue, error: RpcError) -> Response<Body> {
    json(code, jsonrpc::encode_error(Some(id), &error.to_json()))
}

fn mismatch(id: &RawValue, message: String) -> Response<Body> {
    refuse(StatusCode::BAD_REQUEST, id, RpcError::new(HEADER_MISMATCH, message))
}

/// `=?base64?...?=` header values carry names that are not plain ASCII.
fn decode_header(value: &HeaderValue) -> Option<String> {
    crate::protocol::stateless::header_text(value.to_str().ok()?)
}

/// A stateless request with its `_meta` read: what every binding needs to answer it.
pub struct Stateless {
    id: RawJson,
    method: String,
    fields: Map<String, Value>,
    version: String,
    capabilities: Value,
    log_level: Option<String>,
}

/// A request refused before it runs: the HTTP status the protocol prescribes, its id, the error.
type Refused = Box<(StatusCode, RawJson, RpcError)>;

/// Reads a stateless request: `Err` when params are not an object or `_meta` lacks the version or
/// the client's capabilities.
pub fn read(id: RawJson, method: String, params: Option<&RawValue>) -> Result<Stateless, Refused> {
    let mut fields: Map<String, Value> = match params.map(|p| serde_json::from_str(p.get())) {
        None => Map::new(),
        Some(Ok(Value::Object(map))) => map,
        Some(_) => {
            return Err(Box::new((StatusCode::BAD_REQUEST, id, RpcError::invalid_params("params must be an object"))));
        }
    };
    let meta = fields.get_mut("_meta").and_then(Value::as_object_mut);
    let version = meta.as_ref().and_then(|m| m.get(META_VERSION)).and_then(Value::as_str).map(str::to_string);
    let capabilities = meta.as_ref().and_then(|m| m.get(META_CAPABILITIES)).filter(|c| c.is_object()).cloned();
    let (Some(version), Some(capabilities)) = (version, capabilities) else {
        let e = RpcError::invalid_params(format!(
            "a stateless request needs {META_VERSION} and {META_CAPABILITIES} in params._meta (or send initialize for a session)"
        ));
        return Err(Box::new((StatusCode::BAD_REQUEST, id, e)));
    };
    let log_level = fields.get("_meta").and_then(|m| m.get(META_LOG_LEVEL)).and_then(Value::as_str).map(str::to_string);
    Ok(Stateless { id, method, fields, version, capabilities, log_level })
}

impl Stateless {
    /// The checks after the binding's own: a version this gateway speaks, a method the protocol has.
    fn check(&self) -> Result<(), (StatusCode, RpcError)> {
        if !is_version(&self.version) {
            let mut e = RpcError::new(UNSUPPORTED_VERSION, "Unsupported protocol version");
            e.data = Some(json!({ "supported": all_versions(), "requested": self.version }));
            return Err((StatusCode::BAD_REQUEST, e));
        }
        if !methods::find(&self.method).is_some_and(|m| m.stateless()) {
            return Err((StatusCode::NOT_FOUND, RpcError::method_not_found(&self.method)));
        }
        let declared_tasks = self.capabilities.get("extensions").and_then(|e| e.get(TASKS_EXTENSION)).is_some();
        if self.method.starts_with("tasks/") && !declared_tasks {
            let mut e = RpcError::new(
                MISSING_CLIENT_CAPABILITY,
                format!(
                    "{} belongs to the {TASKS_EXTENSION} extension, which the request does not declare",
                    self.method
                ),
            );
            e.data = Some(json!({ "requiredCapabilities": { "extensions": { TASKS_EXTENSION: {} } } }));
            return Err((StatusCode::BAD_REQUEST, e));
        }
        Ok(())
    }

    /// A call (anything but discover and listen) ready to run: the stateless `_meta` fields
    /// taken out, and mcpgw's own request state (if the client sent it back) opened.
    fn into_round(
        mut self,
        ctx: Arc<ServeContext>,
        virtual_server: &str,
        caller: &Caller,
    ) -> Result<Round, (RawJson, RpcError)> {
        // Session-based upstreams know nothing of these fields; stateless ones get them again,
        // from the calling client's link, when the request is forwarded.
        if let Some(Value::Object(meta)) = self.fields.get_mut("_meta") {
            // The log level stays: a stateless upstream needs it to log for this request.
            for key in [META_VERSION, META_CAPABILITIES, META_CLIENT_INFO] {
                meta.remove(key);
            }
            if meta.is_empty() {
                self.fields.remove("_meta");
            }
        }
        // A retry carrying mcpgw's own request state resumes a call to a session-based upstream.
        let snapshot = ctx.live.snapshot();
        let key = round_state::key(snapshot.model.serving.request_state_key.as_ref().map(|k| k.expose()));
        let binding = round_state::binding(&self.method, &self.fields);
        let answers = match self.fields.get("requestState").and_then(Value::as_str) {
            Some(state) if state.starts_with(round_state::PREFIX) => match round_state::open(&key, &binding, state) {
                Ok(mut answers) => {
                    let given =
                        self.fields.get("inputResponses").and_then(Value::as_object).cloned().unwrap_or_default();
                    while let Some(answer) = given.get(&format!("input-{}", answers.len() + 1)) {
                        answers.push(answer.clone());
                    }
                    self.fields.remove("requestState");
                    self.fields.remove("inputResponses");
                    answers
                }
                Err(why) => return Err((self.id, RpcError::invalid_params(why))),
            },
            _ => Vec::new(),
        };
        // One request, one detached session: ended with the request, which closes any upstream
        // session opened for it (`sessions: per_client`).
        let session = Session::detached(virtual_server, &self.version, caller.clone());
        // Passed on to stateless upstreams with each request this client makes.
        session.declare(self.capabilities);
        // Log messages reach a stateless client only for a request that asked for a level.
        if let Some(level) = self.log_level.as_deref().and_then(mcp::LogLevel::parse) {
            session.log_level.set(level);
        }
        let params = jsonrpc::raw(&self.fields);
        Ok(Round { ctx, session, id: self.id, method: self.method, params, answers, key, binding })
    }
}

/// Serves one stateless request over streamable HTTP.
pub async fn request(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    headers: &HeaderMap,
    accepts_stream: bool,
    id: RawJson,
    method: String,
    params: Option<RawJson>,
) -> Response<Body> {
    let request = match read(id, method, params.as_deref()) {
        Ok(r) => r,
        Err(refused) => {
            let (status, id, e) = *refused;
            return refuse(status, &id, e);
        }
    };
    let (id, method, version, fields) = (&request.id, &request.method, &request.version, &request.fields);
    // Headers mirror the body so intermediaries can route on them; they must agree.
    match headers.get(mcp::VERSION_HEADER).and_then(|v| v.to_str().ok()) {
        Some(h) if h == version => {}
        Some(h) => {
            return mismatch(id, format!("MCP-Protocol-Version header {h:?} does not match the body's {version:?}"));
        }
        None => return mismatch(id, "the MCP-Protocol-Version header is required".into()),
    }
    match headers.get(METHOD_HEADER).and_then(|v| v.to_str().ok()) {
        Some(h) if h == method => {}
        Some(h) => {
            return mismatch(id, format!("Mcp-Method header {h:?} does not match the body's method {method:?}"));
        }
        None => return mismatch(id, "the Mcp-Method header is required".into()),
    }
    if let Err((status, e)) = request.check() {
        return refuse(status, id, e);
    }
    if let Some(field) = methods::find(method).and_then(|m| m.target.name_field()) {
        let body_value = fields.get(field).and_then(Value::as_str).unwrap_or("");
        match headers.get(NAME_HEADER).map(decode_header) {
            Some(Some(h)) if h == body_value => {}
            Some(Some(h)) => {
                return mismatch(id, format!("Mcp-Name header {h:?} does not match the body's {field} {body_value:?}"));
            }
            Some(None) => return mismatch(id, "the Mcp-Name header is malformed".into()),
            None => return mismatch(id, "the Mcp-Name header is required".into()),
        }
    }
    if method == "tools/call"
        && let Err(why) = check_param_headers(&ctx, virtual_server, fields, headers)
    {
        return mismatch(id, why);
    }

    match method.as_str() {
        "server/discover" => json(StatusCode::OK, finish(method, discover(id, virtual_server))),
        "subscriptions/listen" => {
            let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
            let task = listen(ctx, virtual_server, &http_caller(), request, tx, true);
            listen_response(rx, task)
        }
        _ => {
            let round = match request.into_round(ctx, virtual_server, &http_caller()) {
                Ok(r) => r,
                Err((id, e)) => return refuse(StatusCode::BAD_REQUEST, &id, e),
            };
            // Progress and log messages need a stream; a plain JSON answer carries neither.
            let wants_stream =
                round.params.get().contains("\"progressToken\"") || round.session.log_level.get().is_some();
            if accepts_stream && wants_stream {
                return super::streamable_http::event_stream_of(move |tx| round.run(tx));
            }
            // Nothing travels on this link but the answer: progress needs a stream, and a
            // stateless client is never sent a request.
            let (tx, _nowhere) = mpsc::channel(1);
            let answer = round.run(tx).await;
            json(status_of(&answer), answer)
        }
    }
}

/// A stateless request's caller over HTTP.
fn http_caller() -> Caller {
    Caller::anonymous(Binding::StreamableHttp, None)
}

/// The tool's arguments marked `x-mcp-header` must match their `Mcp-Param-*` headers.
fn check_param_headers(
    ctx: &ServeContext,
    virtual_server: &str,
    fields: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<(), String> {
    let snapshot = ctx.live.snapshot();
    let name = fields.get("name").and_then(Value::as_str).unwrap_or("");
    let Some(tool) = snapshot.table.catalog(virtual_server).and_then(|c| c.find(crate::protocol::ItemKind::Tool, name))
    else {
        return Ok(()); // an unknown tool is answered as such later
    };
    if !tool.json.get().contains("x-mcp-header") {
        return Ok(());
    }
    let definition: Value = serde_json::from_str(tool.json.get()).unwrap_or_default();
    let mirrored = crate::protocol::param_headers::mirrored(&definition["inputSchema"]);
    let arguments = fields.get("arguments").cloned().unwrap_or(Value::Null);
    crate::protocol::param_headers::check(&mirrored, &arguments, |header| {
        headers.get(header).and_then(|v| v.to_str().ok()).map(str::to_string)
    })
}

/// What a conversation (stdio, WebSocket) does with a stateless request: its answer, sent on `out`
/// by the returned task (which, for `subscriptions/listen`, keeps sending until aborted).
pub fn converse(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    caller: &Caller,
    id: RawJson,
    method: String,
    params: Option<&RawValue>,
    out: mpsc::Sender<Vec<u8>>,
) -> tokio::task::JoinHandle<()> {
    let fail = |out: mpsc::Sender<Vec<u8>>, id: RawJson, e: RpcError| {
        tokio::spawn(async move {
            let _ = out.send(jsonrpc::encode_error(Some(&id), &e.to_json())).await;
        })
    };
    let request = match read(id, method, params) {
        Ok(r) => r,
        Err(refused) => {
            let (_, id, e) = *refused;
            return fail(out, id, e);
        }
    };
    if let Err((_, e)) = request.check() {
        return fail(out, request.id, e);
    }
    match request.method.as_str() {
        "server/discover" => {
            let answer = finish("server/discover", discover(&request.id, virtual_server));
            tokio::spawn(async move {
                let _ = out.send(answer).await;
            })
        }
        "subscriptions/listen" => listen(ctx, virtual_server, caller, request, out, false),
        _ => match request.into_round(ctx, virtual_server, caller) {
            Ok(round) => tokio::spawn(async move {
                let answer = round.run(out.clone()).await;
                let _ = out.send(answer).await;
            }),
            Err((id, e)) => fail(out, id, e),
        },
    }
}

/// One stateless request through the gateway. When a session-based upstream asks the client
/// something mid-call, the round ends: the call is dropped (which cancels it upstream) and the
/// client gets `input_required` with the question and signed state holding the answers so far.
/// Its retry replays the call, answering the upstream's questions from that state.
struct Round {
    ctx: Arc<ServeContext>,
    session: Arc<Session>,
    id: RawJson,
    method: String,
    params: RawJson,
    answers: Vec<Value>,
    key: Vec<u8>,
    binding: String,
}

impl Round {
    async fn run(self, out: mpsc::Sender<Vec<u8>>) -> Vec<u8> {
        let _end = EndOnDrop(self.session.clone());
        let rounds = InputRounds::new(self.answers.clone());
        let mut link = exchange::client_link(&self.session, out);
        link.rounds = Some(rounds.clone());
        let answer =
            exchange::answer(&self.ctx, &self.session, &self.id, &self.method, Some(&self.params), Some(&link));
        let outcome = tokio::select! {
            answer = answer => return finish(&self.method, answer),
            end = rounds.ended() => end,
        };
        match outcome {
            RoundEnd::NeedsInput(asked) => {
                let requests: Map<String, Value> = asked.into_iter().collect();
                let state = round_state::sign(&self.key, &self.binding, &self.answers);
                let result =
                    json!({ "inputRequests": requests, "requestState": state, "resultType": "input_required" });
                finish(&self.method, jsonrpc::encode_result(&self.id, &jsonrpc::raw(&result)))
            }
            RoundEnd::LacksCapability(capability) => {
                let mut e = RpcError::new(
                    MISSING_CLIENT_CAPABILITY,
                    format!("this request needs the client capability {capability:?}"),
                );
                e.data = Some(json!({ "requiredCapabilities": { capability: {} } }));
                jsonrpc::encode_error(Some(&self.id), &e.to_json())
            }
            RoundEnd::Running => unreachable!("a round ends only once something stopped it"),
        }
    }
}

/// The HTTP status the stateless protocol prescribes for an answer: 400 for a capability the
/// request lacked (an upstream's `-32021`), 200 otherwise.
fn status_of(answer: &[u8]) -> StatusCode {
    let lacks_capability = answer.len() < 4096
        && serde_json::from_slice::<Value>(answer)
            .is_ok_and(|v| v["error"]["code"].as_i64() == Some(MISSING_CLIENT_CAPABILITY));
    if lacks_capability { StatusCode::BAD_REQUEST } else { StatusCode::OK }
}

/// What the modern protocol adds to an answer: `resultType`, cache hints on lists and reads, the
/// gateway's identity in `_meta`; and the modern code for a missing resource.
fn finish(method: &str, answer: Vec<u8>) -> Vec<u8> {
    let Ok(mut message) = serde_json::from_slice::<Map<String, Value>>(&answer) else { return answer };
    if let Some(Value::Object(result)) = message.get_mut("result") {
        result.entry("resultType").or_insert_with(|| Value::String("complete".into()));
        if methods::find(method).is_some_and(|m| m.cacheable) {
            result.entry("ttlMs").or_insert_with(|| json!(TTL_MS));
            result.entry("cacheScope").or_insert_with(|| Value::String("private".into()));
        }
        let meta = result.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.entry(META_SERVER_INFO).or_insert_with(mcp::implementation);
        }
    } else if let Some(Value::Object(error)) = message.get_mut("error")
        && error.get("code").and_then(Value::as_i64) == Some(jsonrpc::RESOURCE_NOT_FOUND)
    {
        error.insert("code".into(), json!(jsonrpc::INVALID_PARAMS));
    }
    serde_json::to_vec(&message).unwrap_or(answer)
}

fn discover(id: &RawValue, virtual_server: &str) -> Vec<u8> {
    let result = json!({
        "supportedVersions": all_versions(),
        "capabilities": {
            "tools": { "listChanged": true },
            "resources": { "listChanged": true, "subscribe": true },
            "prompts": { "listChanged": true },
            "completions": {},
            "extensions": { TASKS_EXTENSION: {} },
        },
        "instructions": format!("mcpgw virtual server \"{virtual_server}\": tools, resources and prompts of several MCP servers behind one endpoint."),
    });
    jsonrpc::encode_result(id, &jsonrpc::raw(&result))
}

/// `subscriptions/listen`: acknowledges what it will deliver, then sends exactly the list changes
/// and resource updates the client opted in to, each tagged with the subscription's id, until the
/// task is aborted (the stream closed, or the client cancelled it), which ends the subscription
/// and its upstream subscriptions. `keep_alive` sends an empty message when idle (HTTP comments).
fn listen(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    caller: &Caller,
    request: Stateless,
    tx: mpsc::Sender<Vec<u8>>,
    keep_alive: bool,
) -> tokio::task::JoinHandle<()> {
    let wanted = request.fields.get("notifications").and_then(Value::as_object).cloned().unwrap_or_default();
    let flag = |key: &str| wanted.get(key).and_then(Value::as_bool).unwrap_or(false);
    let (tools, prompts, resources) =
        (flag("toolsListChanged"), flag("promptsListChanged"), flag("resourcesListChanged"));
    let uris: Vec<String> = wanted
        .get("resourceSubscriptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect();
    let mut honored = Map::new();
    for (key, on) in [("toolsListChanged", tools), ("promptsListChanged", prompts), ("resourcesListChanged", resources)]
    {
        if on {
            honored.insert(key.into(), Value::Bool(true));
        }
    }
    if !uris.is_empty() {
        honored.insert("resourceSubscriptions".into(), json!(uris));
    }
    let id = request.id;
    let subscription: Value = serde_json::from_str(id.get()).unwrap_or(Value::Null);
    let session = Session::detached(virtual_server, VERSION, caller.clone());
    session.declare(request.capabilities);
    let ack = json!({ "notifications": honored, "_meta": { META_SUBSCRIPTION: subscription } });
    let _ = tx
        .try_send(jsonrpc::encode_notification("notifications/subscriptions/acknowledged", Some(&jsonrpc::raw(&ack))));
    tokio::spawn(async move {
        // Ends the detached session (releasing upstream subscriptions) however the stream stops.
        let _end = EndOnDrop(session.clone());
        for uri in &uris {
            let params = jsonrpc::raw(&json!({ "uri": uri }));
            let _ = exchange::answer(&ctx, &session, &id, "resources/subscribe", Some(&params), None).await;
        }
        let mut events = ctx.live.events();
        let mut shutting_down = ctx.shutting_down.clone();
        let idle = if keep_alive { KEEP_ALIVE } else { Duration::MAX };
        loop {
            let note = tokio::select! {
                note = events.next(&session) => match note { Some(n) => n, None => return },
                _ = tokio::time::sleep(idle) => Vec::new(),
                _ = async { let _ = shutting_down.wait_for(|s| *s).await; } => return,
            };
            let out = if note.is_empty() {
                note
            } else {
                match tag(&note, &subscription, tools, prompts, resources) {
                    Some(tagged) => tagged,
                    None => continue,
                }
            };
            if tx.send(out).await.is_err() {
                return;
            }
        }
    })
}

/// A listen task's messages as an event stream; closing it aborts the task.
fn listen_response(rx: mpsc::Receiver<Vec<u8>>, task: tokio::task::JoinHandle<()>) -> Response<Body> {
    let stream =
        futures_util::stream::unfold((rx, super::streamable_http::AbortOnDrop(task)), |(mut rx, task)| async move {
            let message = rx.recv().await?;
            let data = if message.is_empty() {
                Bytes::from_static(b": keep-alive\n\n")
            } else {
                Bytes::from(sse::encode(&message, None))
            };
            let frame: Result<Frame<Bytes>, Infallible> = Ok(Frame::data(data));
            Some((frame, (rx, task)))
        });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A session event as a listen-stream notification: only kinds the client opted in to, with the
/// subscription id in `_meta`. Log messages never travel on a listen stream.
fn tag(note: &[u8], subscription: &Value, tools: bool, prompts: bool, resources: bool) -> Option<Vec<u8>> {
    let mut message: Map<String, Value> = serde_json::from_slice(note).ok()?;
    let method = message.get("method")?.as_str()?.to_string();
    let wanted = match method.as_str() {
        "notifications/tools/list_changed" => tools,
        "notifications/prompts/list_changed" => prompts,
        "notifications/resources/list_changed" => resources,
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
            meta.insert(META_SUBSCRIPTION.into(), subscription.clone());
        }
    }
    serde_json::to_vec(&message).ok()
}

struct EndOnDrop(Arc<Session>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A modern-looking request that cannot be served statelessly (a batch, a response).
pub fn refuse_message(message: &str) -> Response<Body> {
    let mut r = status(StatusCode::BAD_REQUEST);
    *r.body_mut() =
        super::full(jsonrpc::encode_error(None, &RpcError::new(jsonrpc::INVALID_REQUEST, message).to_json()));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_names_are_decoded() {
        let h = HeaderValue::from_static("=?base64?SGVsbG8sIOS4lueVjA==?=");
        assert_eq!(decode_header(&h).as_deref(), Some("Hello, 世界"));
        assert_eq!(decode_header(&HeaderValue::from_static("get_weather")).as_deref(), Some("get_weather"));
    }

    #[test]
    fn answers_gain_result_type_cache_hints_and_modern_codes() {
        let out = finish("tools/list", br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#.to_vec());
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["result"]["resultType"], "complete");
        assert_eq!(v["result"]["ttlMs"], TTL_MS);
        assert_eq!(v["result"]["cacheScope"], "private");
        assert_eq!(v["result"]["_meta"][META_SERVER_INFO]["name"], "mcpgw");
        let out =
            finish("resources/read", br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32002,"message":"x"}}"#.to_vec());
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"]["code"], -32602);
        let out = finish("tools/call", br#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#.to_vec());
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert!(v["result"].get("ttlMs").is_none());
    }
}

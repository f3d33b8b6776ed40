//! Stateless requests (MCP 2026-07-28) as the bindings carry them. On the streamable HTTP
//! endpoint, beside sessions: a POST without a session whose `_meta` names a version (or whose
//! `MCP-Protocol-Version` header names one no session uses) is served here, and its headers must
//! mirror its body. On a conversation (WebSocket, `mcpgw stdio`) before any `initialize`, each
//! such request runs as a task of its own. The request itself runs in `dispatch::stateless`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::http::{json, refused_at, status};
use super::{Body, ServeContext, exchange};
use crate::dispatch::stateless::{Call, names_version};
use crate::error::{GatewayError, Kind};
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::stateless::{METHOD_HEADER, NAME_HEADER, header_text};
use crate::protocol::{RawJson, mcp, sse};
use crate::session::Caller;

/// An idle `subscriptions/listen` stream sends a comment this often so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// Whether a POST without a session speaks the stateless protocol: its `_meta` names a version,
/// or its header names one that no session-based version is (so errors can carry the request id).
pub(super) fn applies(headers: &HeaderMap, params: Option<&RawValue>) -> bool {
    let header = headers.get(mcp::VERSION_HEADER).and_then(|v| v.to_str().ok());
    header.is_some_and(|h| !mcp::is_supported(h)) || names_version(params)
}

/// Serves one stateless request over streamable HTTP.
#[allow(clippy::too_many_arguments)] // the HTTP request's parts, each read once
pub(super) async fn request(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    caller: Caller,
    path: &str,
    headers: &HeaderMap,
    accepts_stream: bool,
    id: RawJson,
    method: String,
    params: Option<RawJson>,
) -> Response<Body> {
    let call = match Call::read(id, method, params.as_deref()) {
        Ok(call) => call,
        Err((id, e)) => return refuse(&id, &e),
    };
    if let Err(e) = check_headers(&call, headers) {
        return refuse(&call.id, &e);
    }
    let row = match call.check() {
        Ok(row) => row,
        Err(e) => return refuse(&call.id, &e),
    };
    if let Some(field) = row.target.name_field() {
        let body = call.field(field);
        let mismatch = match headers.get(NAME_HEADER).map(|v| v.to_str().ok().and_then(header_text)) {
            Some(Some(h)) if h == body => None,
            Some(Some(h)) => Some(format!("Mcp-Name header {h:?} does not match the body's {field} {body:?}")),
            Some(None) => Some("the Mcp-Name header is malformed".into()),
            None => Some("the Mcp-Name header is required".into()),
        };
        if let Some(why) = mismatch {
            return refuse(&call.id, &GatewayError::client(Kind::HeaderMismatch, why));
        }
    }
    // Arguments a tool's schema mirrors into headers are checked against them where the tool is known.
    let param_headers = (call.method == "tools/call").then(|| {
        headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("mcp-param-"))
            .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
            .collect()
    });
    if call.method == "subscriptions/listen" {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
        let (vs, live, shutting_down) = (virtual_server.to_string(), ctx.live.clone(), ctx.shutting_down.clone());
        let task = tokio::spawn(async move {
            // A listen the gateway ends (one granted nothing) closes its stream with its result.
            let id = call.id.clone();
            let answer = exchange::encode(&id, call.run(&live, &vs, caller, tx.clone(), None).await);
            let _ = tx.send(answer).await;
        });
        return listen_response(rx, task, shutting_down);
    }
    let id = call.id.clone();
    let vs = virtual_server.to_string();
    if accepts_stream && call.wants_stream() {
        if let Some(e) = call.challenged(&ctx.live, &vs, &caller) {
            return refused_at(&ctx, path, &e, Some(&id), true);
        }
        return super::event_stream::of(move |tx| async move {
            exchange::encode(&id, call.run(&ctx.live, &vs, caller, tx, param_headers).await)
        });
    }
    // Nothing travels before the answer: progress and log messages need a stream, and a
    // stateless client is never sent a request.
    match call.run(&ctx.live, &vs, caller, crate::session::link::nowhere(), param_headers).await {
        Ok(result) => json(StatusCode::OK, jsonrpc::encode_result(&id, &result)),
        // A policy's scope challenge is framed with `WWW-Authenticate`.
        Err(e) => refused_at(&ctx, path, &e, Some(&id), true),
    }
}

/// The version and method headers mirror the body so intermediaries can route on them; they must agree.
fn check_headers(call: &Call, headers: &HeaderMap) -> Result<(), GatewayError> {
    let mismatch = |why: String| Err(GatewayError::client(Kind::HeaderMismatch, why));
    match headers.get(mcp::VERSION_HEADER).and_then(|v| v.to_str().ok()) {
        Some(h) if h == call.version => {}
        Some(h) => {
            return mismatch(format!("MCP-Protocol-Version header {h:?} does not match the body's {:?}", call.version));
        }
        None => return mismatch("the MCP-Protocol-Version header is required".into()),
    }
    match headers.get(METHOD_HEADER).and_then(|v| v.to_str().ok()) {
        Some(h) if h == call.method => Ok(()),
        Some(h) => mismatch(format!("Mcp-Method header {h:?} does not match the body's method {:?}", call.method)),
        None => mismatch("the Mcp-Method header is required".into()),
    }
}

fn refuse(id: &RawValue, e: &GatewayError) -> Response<Body> {
    json(StatusCode::from_u16(e.http_status(true)).unwrap_or(StatusCode::BAD_REQUEST), e.encode(Some(id)))
}

/// What a conversation (stdio, WebSocket) does with a stateless request: its answer, sent on `out`
/// by the returned task (which, for `subscriptions/listen`, keeps sending until aborted).
#[allow(clippy::too_many_arguments)] // the request's parts, and the connection's slot it holds
pub(super) fn converse(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    caller: &Caller,
    id: RawJson,
    method: String,
    params: Option<&RawValue>,
    out: mpsc::Sender<Vec<u8>>,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> tokio::task::JoinHandle<()> {
    let read = Call::read(id, method, params).and_then(|call| match call.check() {
        Ok(_) => Ok(call),
        Err(e) => Err((call.id, e)),
    });
    let (vs, caller) = (virtual_server.to_string(), caller.clone());
    let mut work = Box::pin(async move {
        // Held until the request ends: a connection's stateless requests share its slots.
        let _slot = slot;
        let answer = match read {
            Ok(call) => {
                let id = call.id.clone();
                exchange::encode(&id, call.run(&ctx.live, &vs, caller, out.clone(), None).await)
            }
            Err((id, e)) => e.encode(Some(&id)),
        };
        let _ = out.send(answer).await;
    });
    // Started here, up to its first wait, before the next message is read: a request is under way
    // (a listen acknowledged) before a cancellation behind it can stop it.
    let mut started = std::task::Context::from_waker(std::task::Waker::noop());
    if work.as_mut().poll(&mut started).is_ready() {
        return tokio::spawn(async {});
    }
    tokio::spawn(work)
}

/// A listen task's messages as an event stream, with a comment when idle so proxies keep it
/// open; closing it aborts the task, and it ends when the gateway stops.
fn listen_response(
    rx: mpsc::Receiver<Vec<u8>>,
    task: tokio::task::JoinHandle<()>,
    shutting_down: tokio::sync::watch::Receiver<bool>,
) -> Response<Body> {
    let state = (rx, super::event_stream::AbortOnDrop(task), shutting_down);
    let stream = futures_util::stream::unfold(state, |(mut rx, task, mut shutting_down)| async move {
        let data = tokio::select! {
            message = rx.recv() => Bytes::from(sse::encode(&message?, None)),
            _ = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b": keep-alive\n\n"),
            _ = async { let _ = shutting_down.wait_for(|s| *s).await; } => return None,
        };
        let frame: Result<Frame<Bytes>, Infallible> = Ok(Frame::data(data));
        Some((frame, (rx, task, shutting_down)))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A stateless-looking message that cannot be served statelessly (a batch, a response).
pub(super) fn refuse_message(message: &str) -> Response<Body> {
    let mut r = status(StatusCode::BAD_REQUEST);
    *r.body_mut() =
        super::full(jsonrpc::encode_error(None, &RpcError::new(jsonrpc::INVALID_REQUEST, message).to_json()));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

//! Streamable HTTP (MCP 2025-11-25 transport): POST carries one message and is answered with
//! JSON; GET opens a server-to-client event stream; DELETE ends the session. Origin and Host are
//! checked against DNS rebinding.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_TYPE, HOST, HeaderValue, ORIGIN};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{broadcast, mpsc};

use super::{Body, ServeContext, empty, exchange, full};
use crate::model::Serving;
use crate::protocol::jsonrpc::{self, Message, RpcError};
use crate::protocol::{RawJson, mcp, sse};
use crate::session::Session;

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const VERSION_HEADER: &str = "mcp-protocol-version";
/// An idle event stream sends a comment this often so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// Serves one HTTP request to the MCP endpoint of `virtual_server`.
pub async fn handle(ctx: Arc<ServeContext>, virtual_server: &str, request: Request<Incoming>) -> Response<Body> {
    let snapshot = ctx.live.snapshot();
    if let Err(refusal) = check_origin_and_host(&request, &snapshot.model.serving, &ctx.local_addr) {
        return refusal.into_response();
    }
    if snapshot.table.catalog(virtual_server).is_none() {
        return rpc_error(
            StatusCode::NOT_FOUND,
            None,
            RpcError::new(jsonrpc::INVALID_REQUEST, format!("no virtual server \"{virtual_server}\"")),
        );
    }
    match *request.method() {
        Method::POST => post(ctx, virtual_server, request).await,
        Method::GET => get(ctx, virtual_server, request),
        Method::DELETE => delete(&ctx, request),
        _ => {
            let mut r = status(StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            r
        }
    }
}

async fn post(ctx: Arc<ServeContext>, virtual_server: &str, request: Request<Incoming>) -> Response<Body> {
    let headers = request.headers();
    if !header_has(headers.get(CONTENT_TYPE), "application/json") {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            RpcError::new(jsonrpc::INVALID_REQUEST, "Content-Type must be application/json"),
        );
    }
    if let Some(accept) = headers.get(ACCEPT)
        && !(header_has(Some(accept), "application/json") || header_has(Some(accept), "*/*"))
    {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            RpcError::new(jsonrpc::INVALID_REQUEST, "Accept must include application/json and text/event-stream"),
        );
    }
    if let Some(version) = headers.get(VERSION_HEADER)
        && !version.to_str().is_ok_and(mcp::is_supported)
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            RpcError::new(
                jsonrpc::INVALID_REQUEST,
                format!(
                    "unsupported MCP-Protocol-Version {version:?}; supported: {}",
                    mcp::SUPPORTED_VERSIONS.join(", ")
                ),
            ),
        );
    }
    let session_id = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let accepts_stream = header_has(headers.get(ACCEPT), "text/event-stream");
    let limit = ctx.live.snapshot().model.serving.max_body_bytes;
    let body = match Limited::new(request.into_body(), limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                RpcError::new(jsonrpc::INVALID_REQUEST, format!("the request body is larger than {limit} bytes")),
            );
        }
    };
    if Message::is_batch(&body) {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            RpcError::new(jsonrpc::INVALID_REQUEST, "JSON-RPC batches are not supported; send one message per request"),
        );
    }
    let message = match Message::parse(&body) {
        Ok(m) => m,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, None, e),
    };
    match message {
        Message::Request { id, method, params } if method == "initialize" => {
            match exchange::open_session(&ctx, virtual_server, &id, params.as_deref()) {
                Ok((session, body)) => {
                    let mut response = json(StatusCode::OK, body);
                    let value = HeaderValue::from_str(&session.id).expect("hex ids are valid header values");
                    response.headers_mut().insert(SESSION_HEADER, value);
                    response
                }
                Err(body) => json(StatusCode::SERVICE_UNAVAILABLE, body),
            }
        }
        Message::Request { id, method, params } => {
            let session = match find_session(&ctx, session_id.as_deref(), virtual_server) {
                Ok(s) => s,
                Err(refusal) => return refusal.into_response(),
            };
            // A request asking for progress is answered as an event stream, so progress can precede the result.
            let wants_progress = params.as_ref().is_some_and(|p| p.get().contains("\"progressToken\""));
            if accepts_stream && wants_progress {
                return stream_answer(ctx, session, id, method, params);
            }
            json(StatusCode::OK, exchange::answer(&ctx, &session, &id, &method, params.as_deref(), None).await)
        }
        Message::Notification { method, params } => {
            let session = match find_session(&ctx, session_id.as_deref(), virtual_server) {
                Ok(s) => s,
                Err(refusal) => return refusal.into_response(),
            };
            exchange::notification(&session, &method, params.as_deref());
            status(StatusCode::ACCEPTED)
        }
        Message::Response { .. } => match find_session(&ctx, session_id.as_deref(), virtual_server) {
            Ok(_) => status(StatusCode::ACCEPTED),
            Err(refusal) => refusal.into_response(),
        },
    }
}

/// Answers one request as an event stream: messages the upstream sends about it (progress) first,
/// then the result. If the client goes away, the request is dropped, which cancels it upstream.
fn stream_answer(
    ctx: Arc<ServeContext>,
    session: Arc<Session>,
    id: RawJson,
    method: String,
    params: Option<RawJson>,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
    let (cancelled, in_flight) = session.begin(&id);
    let task = tokio::spawn(async move {
        let answer = exchange::answer_registered(
            &ctx,
            &session,
            &id,
            &method,
            params.as_deref(),
            Some(&tx),
            cancelled,
            in_flight,
        )
        .await;
        let _ = tx.send(answer).await;
    });
    let stream = futures_util::stream::unfold((rx, AbortOnDrop(task)), |(mut rx, task)| async move {
        let message = rx.recv().await?;
        let frame: Result<Frame<Bytes>, Infallible> = Ok(Frame::data(Bytes::from(sse::encode(&message, None))));
        Some((frame, (rx, task)))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Aborts the request task when the response stream is dropped (the client disconnected).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The server-to-client stream: list changes of this session's virtual server.
fn get(ctx: Arc<ServeContext>, virtual_server: &str, request: Request<Incoming>) -> Response<Body> {
    if !header_has(request.headers().get(ACCEPT), "text/event-stream") {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            RpcError::new(jsonrpc::INVALID_REQUEST, "Accept must include text/event-stream"),
        );
    }
    let session_id = request.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok());
    let session = match find_session(&ctx, session_id, virtual_server) {
        Ok(s) => s,
        Err(refusal) => return refusal.into_response(),
    };
    let changes = ctx.live.subscribe();
    let stream = futures_util::stream::unfold((ctx, session, changes), |(ctx, session, mut changes)| async move {
        let mut shutting_down = ctx.shutting_down.clone();
        loop {
            let next = tokio::select! {
                change = changes.recv() => change,
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    ctx.sessions.get(&session.id)?;
                    let frame: Result<Frame<Bytes>, Infallible> = Ok(Frame::data(Bytes::from_static(b": keep-alive\n\n")));
                    return Some((frame, (ctx, session, changes)));
                }
                _ = async { let _ = shutting_down.wait_for(|s| *s).await; } => return None,
            };
            match next {
                Ok(change) if change.virtual_server == session.virtual_server => {
                    let note = jsonrpc::encode_notification(change.kind.list_changed(), None);
                    let frame = Ok(Frame::data(Bytes::from(sse::encode(&note, None))));
                    return Some((frame, (ctx, session, changes)));
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn delete(ctx: &ServeContext, request: Request<Incoming>) -> Response<Body> {
    let Some(id) = request.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            RpcError::new(jsonrpc::INVALID_REQUEST, "Mcp-Session-Id header is required"),
        );
    };
    if ctx.sessions.remove(id) {
        tracing::info!(session = %id, "client session ended");
        status(StatusCode::NO_CONTENT)
    } else {
        status(StatusCode::NOT_FOUND)
    }
}

/// A request refused before dispatch: its HTTP status and the JSON-RPC error to send.
pub(super) struct Refusal(StatusCode, RpcError);

impl Refusal {
    pub(super) fn into_response(self) -> Response<Body> {
        rpc_error(self.0, None, self.1)
    }
}

fn find_session(ctx: &ServeContext, id: Option<&str>, virtual_server: &str) -> Result<Arc<Session>, Refusal> {
    let Some(id) = id else {
        let e = RpcError::new(jsonrpc::INVALID_REQUEST, "Mcp-Session-Id header is required; send initialize first");
        return Err(Refusal(StatusCode::BAD_REQUEST, e));
    };
    match ctx.sessions.get(id) {
        Some(s) if s.virtual_server == virtual_server => Ok(s),
        _ => {
            let e = RpcError::new(jsonrpc::INVALID_REQUEST, "unknown or expired session; send initialize again");
            Err(Refusal(StatusCode::NOT_FOUND, e))
        }
    }
}

/// DNS-rebinding defence: a browser page must not reach a local gateway through a name it controls.
/// Host names accepted on a loopback listener when the file lists none.
const LOOPBACK_HOSTS: [&str; 4] = ["localhost", "127.0.0.1", "[::1]", "::1"];

pub(super) fn check_origin_and_host(
    request: &Request<Incoming>,
    serving: &Serving,
    bound: &SocketAddr,
) -> Result<(), Refusal> {
    if let Some(origin) = request.headers().get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let allowed = if serving.allowed_origins.is_empty() {
            url::Url::parse(origin).ok().and_then(|u| u.host_str().map(is_loopback_name)).unwrap_or(false)
        } else {
            serving.allowed_origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
        };
        if !allowed {
            return Err(Refusal(
                StatusCode::FORBIDDEN,
                RpcError::new(
                    jsonrpc::INVALID_REQUEST,
                    format!("origin {origin:?} is not allowed; list it under serving.allowed_origins"),
                ),
            ));
        }
    }
    let loopback: Vec<String>;
    let hosts = match &serving.allowed_hosts {
        Some(listed) => Some(listed),
        None if bound.ip().is_loopback() => {
            loopback = LOOPBACK_HOSTS.iter().map(|h| h.to_string()).collect();
            Some(&loopback)
        }
        None => None,
    };
    if let Some(hosts) = hosts {
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        let name = host.map(strip_port).unwrap_or("");
        if !hosts.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            return Err(Refusal(
                StatusCode::FORBIDDEN,
                RpcError::new(
                    jsonrpc::INVALID_REQUEST,
                    format!("host {name:?} is not allowed; list it under serving.allowed_hosts"),
                ),
            ));
        }
    }
    Ok(())
}

fn is_loopback_name(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn header_has(value: Option<&HeaderValue>, wanted: &str) -> bool {
    value.and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|part| part.trim().starts_with(wanted)))
}

fn json(code: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = code;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn rpc_error(code: StatusCode, id: Option<&serde_json::value::RawValue>, error: RpcError) -> Response<Body> {
    json(code, jsonrpc::encode_error(id, &error.to_json()))
}

fn status(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = code;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(strip_port("localhost:4444"), "localhost");
        assert_eq!(strip_port("[::1]:4444"), "[::1]");
        assert_eq!(strip_port("example.com"), "example.com");
    }
}

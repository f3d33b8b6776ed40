//! `Connection`: one live MCP session with an upstream, over whichever transport it uses.

use std::time::Duration;

use serde_json::value::RawValue;

use super::relay::Inbox;
use super::session::{self, Established};
use super::{UpstreamError, sse, stdio, streamable_http, websocket};
use crate::model::{self, Transport};
use crate::protocol::RawJson;
use crate::protocol::jsonrpc::{self, Message, RpcError};

/// Something an upstream sent on its own initiative.
#[derive(Debug)]
pub enum Event {
    Notification { method: String, params: Option<RawJson> },
}

pub enum Connection {
    Stdio(stdio::StdioConnection),
    StreamableHttp(streamable_http::HttpConnection),
    Sse(sse::SseConnection),
    WebSocket(websocket::WebSocketConnection),
}

impl Connection {
    /// Connects and completes the `initialize` handshake.
    pub(super) async fn open(spec: &model::Upstream, inbox: Inbox) -> Result<(Connection, Established), UpstreamError> {
        let conn = match &spec.transport {
            Transport::Stdio(cmd) => Connection::Stdio(stdio::StdioConnection::spawn(&spec.name, cmd, inbox)?),
            Transport::StreamableHttp { url, headers } => {
                Connection::StreamableHttp(streamable_http::HttpConnection::new(&spec.name, url, headers, inbox)?)
            }
            Transport::Sse { url, headers } => {
                Connection::Sse(sse::SseConnection::connect(&spec.name, url, headers, inbox).await?)
            }
            Transport::WebSocket { url, headers } => {
                Connection::WebSocket(websocket::WebSocketConnection::connect(&spec.name, url, headers, inbox).await?)
            }
        };
        let established = match session::initialize(&conn, spec).await {
            Ok(e) => e,
            Err(e) => {
                conn.shutdown().await;
                return Err(e);
            }
        };
        if let Connection::StreamableHttp(http) = &conn {
            http.established(&established.protocol_version);
        }
        conn.notify("notifications/initialized", None).await;
        Ok((conn, established))
    }

    pub async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
        timeout: Duration,
    ) -> Result<RawJson, UpstreamError> {
        match self {
            Connection::Stdio(c) => c.request(method, params, timeout).await,
            Connection::StreamableHttp(c) => c.request(method, params, timeout).await,
            Connection::Sse(c) => c.peer.request(method, params, timeout).await,
            Connection::WebSocket(c) => c.peer.request(method, params, timeout).await,
        }
    }

    pub async fn notify(&self, method: &str, params: Option<&RawValue>) {
        match self {
            Connection::Stdio(c) => c.peer.notify(method, params).await,
            Connection::StreamableHttp(c) => c.notify(method, params).await,
            Connection::Sse(c) => c.peer.notify(method, params).await,
            Connection::WebSocket(c) => c.peer.notify(method, params).await,
        }
    }

    /// Resolves when the connection has died.
    pub async fn closed(&self) {
        match self {
            Connection::Stdio(c) => c.peer.closed().await,
            Connection::StreamableHttp(c) => c.closed().await,
            Connection::Sse(c) => c.peer.closed().await,
            Connection::WebSocket(c) => c.peer.closed().await,
        }
    }

    /// Ends the session politely: stdio children get their stdin closed, then a kill;
    /// HTTP sessions get a DELETE.
    pub async fn shutdown(&self) {
        match self {
            Connection::Stdio(c) => c.shutdown().await,
            Connection::StreamableHttp(c) => c.shutdown().await,
            Connection::Sse(c) => c.shutdown().await,
            Connection::WebSocket(c) => c.shutdown().await,
        }
    }
}

/// What to answer a request an upstream sends us. Requests that need a client (sampling,
/// elicitation, roots) are refused until they can be routed to one.
pub(super) fn answer_upstream_request(method: &str) -> Result<RawJson, RpcError> {
    match method {
        "ping" => Ok(jsonrpc::raw(&serde_json::json!({}))),
        other => Err(RpcError::method_not_found(other)),
    }
}

/// Encodes the reply to an upstream's request.
pub(super) fn reply_to_upstream(id: &RawValue, method: &str) -> Vec<u8> {
    match answer_upstream_request(method) {
        Ok(result) => jsonrpc::encode_result(id, &result),
        Err(e) => jsonrpc::encode_error(Some(id), &e.to_json()),
    }
}

/// Routes one message read from an upstream: responses to `on_response`, notifications to the
/// inbox, requests answered through `reply`.
pub(super) async fn route_incoming(
    upstream: &str,
    bytes: &[u8],
    inbox: &Inbox,
    on_response: impl FnOnce(RawJson, Result<RawJson, RawJson>),
    reply: impl AsyncFnOnce(Vec<u8>),
) {
    match Message::parse(bytes) {
        Ok(Message::Response { id, outcome }) => on_response(id, outcome),
        Ok(Message::Notification { method, params }) => inbox.notification(method, params),
        Ok(Message::Request { id, method, .. }) => reply(reply_to_upstream(&id, &method)).await,
        Err(e) => {
            tracing::warn!(upstream = %upstream, error = %e, "unreadable message from upstream")
        }
    }
}

//! `Connection`: one live MCP session with an upstream, over whichever transport it uses.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;

use super::asked::Asked;
use super::peer::Linked;
use super::relay::Inbox;
use super::session::{self, Established};
use super::{UpstreamError, sse, stdio, streamable_http, websocket};
use crate::model::{self, Transport};
use crate::protocol::RawJson;
use crate::protocol::jsonrpc::{self, Message, RpcError};
use crate::session::Link;

/// Something an upstream sent on its own initiative.
#[derive(Debug)]
pub(crate) enum Event {
    Notification { method: String, params: Option<RawJson> },
}

pub(crate) enum Connection {
    Stdio(stdio::StdioConnection),
    StreamableHttp(streamable_http::HttpConnection),
    /// Legacy HTTP+SSE.
    Sse(Linked),
    WebSocket(Linked),
    /// A REST API: no MCP session; `tools/list` and `tools/call` are answered by `rest::Api`.
    /// The inbox is held (never written) so the supervisor's event loop sees a live connection.
    Rest {
        api: Arc<crate::rest::Api>,
        _events: Box<dyn std::any::Any + Send + Sync>,
    },
}

impl Connection {
    /// Connects and completes the `initialize` handshake.
    pub(super) async fn open(spec: &model::Upstream, inbox: Inbox) -> Result<(Connection, Established), UpstreamError> {
        let conn = match &spec.transport {
            Transport::Stdio(cmd) => {
                let stdio = stdio::StdioConnection::spawn(&spec.name, cmd, inbox)?;
                // A stateless (2026-07-28) child answers discovery and needs no handshake.
                if spec.era != model::Era::Session {
                    match stdio.discover(spec.timeout).await {
                        Some(established) => return Ok((Connection::Stdio(stdio), established)),
                        None if spec.era == model::Era::Stateless => {
                            stdio.shutdown().await;
                            return Err(not_stateless(spec));
                        }
                        None => {}
                    }
                }
                Connection::Stdio(stdio)
            }
            Transport::StreamableHttp { url, headers } => {
                let http = streamable_http::HttpConnection::new(&spec.name, url, headers, inbox)?;
                // A stateless (2026-07-28) upstream answers discovery and needs no handshake.
                if spec.era != model::Era::Session {
                    match http.discover(spec.timeout).await {
                        Some(established) => return Ok((Connection::StreamableHttp(http), established)),
                        None if spec.era == model::Era::Stateless => return Err(not_stateless(spec)),
                        None => {}
                    }
                }
                Connection::StreamableHttp(http)
            }
            Transport::Sse { url, headers } => Connection::Sse(sse::connect(&spec.name, url, headers, inbox).await?),
            Transport::WebSocket { url, headers } => {
                Connection::WebSocket(websocket::connect(&spec.name, url, headers, inbox).await?)
            }
            Transport::Rest(api) => {
                let api = crate::rest::Api::new(&spec.name, api)
                    .map_err(|e| UpstreamError::Transport(spec.name.clone(), e))?;
                return Ok((
                    Connection::Rest { api: Arc::new(api), _events: Box::new(inbox) },
                    session::rest_established(spec),
                ));
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

    pub(crate) async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
        timeout: Duration,
        client: Option<&Link>,
    ) -> Result<RawJson, UpstreamError> {
        match self {
            Connection::Stdio(c) => c.request(method, params, timeout, client).await,
            Connection::StreamableHttp(c) => c.request(method, params, timeout, client).await,
            Connection::Sse(c) | Connection::WebSocket(c) => c.peer.request(method, params, timeout).await,
            // Boxed: a REST call's state (templates, schema checks, retries) is several times
            // larger than the other transports', and every caller's future would carry it.
            Connection::Rest { api, .. } => Box::pin(rest_request(api, method, params)).await,
        }
    }

    /// Ties a per-client upstream session to its client's latest call, for requests the upstream
    /// sends on its own stream (streamable HTTP gets the link with each request instead).
    pub(super) fn set_client(&self, link: &Link, timeout: Duration) {
        match self {
            Connection::Stdio(c) => c.peer.set_client(link.clone(), timeout),
            Connection::Sse(c) | Connection::WebSocket(c) => c.peer.set_client(link.clone(), timeout),
            Connection::StreamableHttp(_) | Connection::Rest { .. } => {}
        }
    }

    pub(crate) async fn notify(&self, method: &str, params: Option<&RawValue>) {
        match self {
            Connection::Stdio(c) => c.peer.notify(method, params).await,
            Connection::StreamableHttp(c) => c.notify(method, params).await,
            Connection::Sse(c) | Connection::WebSocket(c) => c.peer.notify(method, params).await,
            Connection::Rest { .. } => {}
        }
    }

    /// Resolves when the connection has died.
    pub(crate) async fn closed(&self) {
        match self {
            Connection::Stdio(c) => c.peer.closed().await,
            Connection::StreamableHttp(c) => c.closed().await,
            Connection::Sse(c) | Connection::WebSocket(c) => c.peer.closed().await,
            // Each call stands alone; there is no connection to lose.
            Connection::Rest { .. } => std::future::pending().await,
        }
    }

    /// Ends the session politely: stdio children get their stdin closed, then a kill;
    /// HTTP sessions get a DELETE.
    pub(crate) async fn shutdown(&self) {
        match self {
            Connection::Stdio(c) => c.shutdown().await,
            Connection::StreamableHttp(c) => c.shutdown().await,
            Connection::Sse(c) | Connection::WebSocket(c) => c.shutdown(),
            Connection::Rest { .. } => {}
        }
    }
}

fn not_stateless(spec: &model::Upstream) -> UpstreamError {
    UpstreamError::Transport(
        spec.name.clone(),
        "no answer to server/discover, and `era: stateless` allows no fallback to initialize".into(),
    )
}

/// The MCP methods a REST API answers: listing its tools and calling one.
async fn rest_request(
    api: &Arc<crate::rest::Api>,
    method: &str,
    params: Option<&RawValue>,
) -> Result<RawJson, UpstreamError> {
    let refuse = |code, message: String| {
        UpstreamError::Rpc(RawValue::from_string(RpcError::new(code, message).to_json()).expect("errors are JSON"))
    };
    match method {
        "tools/list" => Ok(jsonrpc::raw(&api.list())),
        "tools/call" => {
            let params: serde_json::Value = params
                .map(|p| serde_json::from_str(p.get()))
                .transpose()
                .map_err(|e| refuse(jsonrpc::INVALID_PARAMS, format!("unreadable params: {e}")))?
                .unwrap_or_default();
            match api.call(&params).await {
                Ok(result) => Ok(jsonrpc::raw(&result)),
                Err(e) => Err(refuse(jsonrpc::INVALID_PARAMS, e)),
            }
        }
        "ping" => Ok(jsonrpc::raw(&serde_json::json!({}))),
        other => Err(refuse(jsonrpc::METHOD_NOT_FOUND, format!("method not found: {other}"))),
    }
}

/// Routes one message read from an upstream: responses to `on_response`, notifications to the
/// inbox, requests to `on_request` (which answers them).
pub(super) async fn route_incoming(
    upstream: &str,
    bytes: &[u8],
    inbox: &Inbox,
    asked: &Asked,
    on_response: impl FnOnce(RawJson, Result<RawJson, RawJson>),
    on_request: impl AsyncFnOnce(RawJson, String, Option<RawJson>),
) {
    match Message::parse(bytes) {
        Ok(Message::Response { id, outcome }) => on_response(id, outcome),
        Ok(Message::Notification { method, params })
            if method == "notifications/cancelled" && asked.cancelled(params.as_deref()) => {}
        Ok(Message::Notification { method, params }) => inbox.notification(method, params),
        Ok(Message::Request { id, method, params }) => on_request(id, method, params).await,
        Err(e) => {
            tracing::warn!(upstream = %upstream, error = %e, "unreadable message from upstream")
        }
    }
}

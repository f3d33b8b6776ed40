//! `Connection`: one live MCP session with an upstream, over whichever transport it uses.

use std::time::Duration;

use serde_json::value::RawValue;

use super::peer::Linked;
use super::relay::{ClientLink, Inbox, capability_for};
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
    /// Legacy HTTP+SSE.
    Sse(Linked),
    WebSocket(Linked),
}

impl Connection {
    /// Connects and completes the `initialize` handshake.
    pub(super) async fn open(spec: &model::Upstream, inbox: Inbox) -> Result<(Connection, Established), UpstreamError> {
        let conn = match &spec.transport {
            Transport::Stdio(cmd) => Connection::Stdio(stdio::StdioConnection::spawn(&spec.name, cmd, inbox)?),
            Transport::StreamableHttp { url, headers } => {
                Connection::StreamableHttp(streamable_http::HttpConnection::new(&spec.name, url, headers, inbox)?)
            }
            Transport::Sse { url, headers } => Connection::Sse(sse::connect(&spec.name, url, headers, inbox).await?),
            Transport::WebSocket { url, headers } => {
                Connection::WebSocket(websocket::connect(&spec.name, url, headers, inbox).await?)
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
        client: Option<&ClientLink>,
    ) -> Result<RawJson, UpstreamError> {
        match self {
            Connection::Stdio(c) => c.request(method, params, timeout).await,
            Connection::StreamableHttp(c) => c.request(method, params, timeout, client).await,
            Connection::Sse(c) | Connection::WebSocket(c) => c.peer.request(method, params, timeout).await,
        }
    }

    /// Ties a per-client upstream session to its client's latest call, for requests the upstream
    /// sends on its own stream (streamable HTTP gets the link with each request instead).
    pub(super) fn set_client(&self, link: &ClientLink, timeout: Duration) {
        match self {
            Connection::Stdio(c) => c.peer.set_client(link.clone(), timeout),
            Connection::Sse(c) | Connection::WebSocket(c) => c.peer.set_client(link.clone(), timeout),
            Connection::StreamableHttp(_) => {}
        }
    }

    pub async fn notify(&self, method: &str, params: Option<&RawValue>) {
        match self {
            Connection::Stdio(c) => c.peer.notify(method, params).await,
            Connection::StreamableHttp(c) => c.notify(method, params).await,
            Connection::Sse(c) | Connection::WebSocket(c) => c.peer.notify(method, params).await,
        }
    }

    /// Resolves when the connection has died.
    pub async fn closed(&self) {
        match self {
            Connection::Stdio(c) => c.peer.closed().await,
            Connection::StreamableHttp(c) => c.closed().await,
            Connection::Sse(c) | Connection::WebSocket(c) => c.peer.closed().await,
        }
    }

    /// Ends the session politely: stdio children get their stdin closed, then a kill;
    /// HTTP sessions get a DELETE.
    pub async fn shutdown(&self) {
        match self {
            Connection::Stdio(c) => c.shutdown().await,
            Connection::StreamableHttp(c) => c.shutdown().await,
            Connection::Sse(c) | Connection::WebSocket(c) => c.shutdown(),
        }
    }
}

/// The answer to a request an upstream sends us. `ping` is answered here; sampling, elicitation
/// and roots go to `client` (the client whose request the upstream is serving) when it declared
/// the capability; anything else, or a request we cannot tie to a client, is refused.
pub(super) async fn answer_upstream_request(
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    client: Option<&ClientLink>,
    timeout: Duration,
) -> Vec<u8> {
    let refuse = |code, message: String| jsonrpc::encode_error(Some(id), &RpcError::new(code, message).to_json());
    if method == "ping" {
        return jsonrpc::encode_result(id, &jsonrpc::raw(&serde_json::json!({})));
    }
    let Some(capability) = capability_for(method) else {
        return refuse(jsonrpc::METHOD_NOT_FOUND, format!("method not found: {method}"));
    };
    let Some(link) = client else {
        // Either the request arrived where nothing ties it to one client's call (a shared stdio,
        // SSE or WebSocket stream), or the call came from a client that cannot receive requests.
        return refuse(
            jsonrpc::METHOD_NOT_FOUND,
            format!("{method} cannot be passed to a client: no client call that can answer it is tied to this request"),
        );
    };
    if !link.session.supports(capability) {
        return refuse(jsonrpc::METHOD_NOT_FOUND, format!("the client does not support {capability}"));
    }
    let (client_id, answer) = link.session.ask();
    // However this ends (timeout, the caller's future dropped), the client's session stops waiting.
    let _forget = ForgetOnDrop { link, id: client_id };
    if link.out.send(jsonrpc::encode_request(client_id, method, params)).await.is_err() {
        return refuse(jsonrpc::INTERNAL_ERROR, "the client went away".into());
    }
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(Ok(result))) => jsonrpc::encode_result(id, &result),
        Ok(Ok(Err(error))) => jsonrpc::encode_error(Some(id), error.get()),
        Ok(Err(_)) => refuse(jsonrpc::INTERNAL_ERROR, "the client went away".into()),
        Err(_) => refuse(jsonrpc::INTERNAL_ERROR, format!("the client did not answer {method} within {timeout:?}")),
    }
}

/// Removes a request asked of a client from its session (a no-op once the answer was delivered).
struct ForgetOnDrop<'a> {
    link: &'a ClientLink,
    id: u64,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        self.link.session.forget(self.id);
    }
}

/// Routes one message read from an upstream: responses to `on_response`, notifications to the
/// inbox, requests to `on_request` (which answers them).
pub(super) async fn route_incoming(
    upstream: &str,
    bytes: &[u8],
    inbox: &Inbox,
    on_response: impl FnOnce(RawJson, Result<RawJson, RawJson>),
    on_request: impl AsyncFnOnce(RawJson, String, Option<RawJson>),
) {
    match Message::parse(bytes) {
        Ok(Message::Response { id, outcome }) => on_response(id, outcome),
        Ok(Message::Notification { method, params }) => inbox.notification(method, params),
        Ok(Message::Request { id, method, params }) => on_request(id, method, params).await,
        Err(e) => {
            tracing::warn!(upstream = %upstream, error = %e, "unreadable message from upstream")
        }
    }
}

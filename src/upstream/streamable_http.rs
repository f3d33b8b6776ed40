//! Streamable HTTP upstreams: each request is a POST answered with JSON or an SSE stream; the
//! session id and protocol version ride in headers; an expired session (404) is re-initialized.
//! An upstream that answers `server/discover` is spoken to statelessly (2026-07-28) instead: no
//! session, the version and the calling client's capabilities in every request's `_meta`, list
//! changes on a `subscriptions/listen` stream, and `input_required` results either passed to a
//! stateless client or turned into requests to a session-based one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::value::RawValue;
use tokio::sync::watch;

use super::UpstreamError;
use super::asked::{self, Asked};
use super::connection::route_incoming;
use super::http_client::{HttpClient, Response, SendError};
use super::relay::Inbox;
use crate::model::Secret;
use crate::protocol::jsonrpc::{self, Message, encode_notification, encode_request};
use crate::protocol::{RawJson, mcp, sse, stateless};
use crate::session::Link;

const SESSION_HEADER: HeaderName = HeaderName::from_static(mcp::SESSION_HEADER);
const VERSION_HEADER: HeaderName = HeaderName::from_static(mcp::VERSION_HEADER);
const METHOD_HEADER: HeaderName = HeaderName::from_static(stateless::METHOD_HEADER);
const NAME_HEADER: HeaderName = HeaderName::from_static(stateless::NAME_HEADER);
const LAST_EVENT_ID: HeaderName = HeaderName::from_static(mcp::LAST_EVENT_ID);
const STATELESS_VERSION: HeaderValue = HeaderValue::from_static(stateless::VERSION);
/// What a streamable HTTP client accepts on every POST.
const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// Times a request's event stream is reopened with `Last-Event-ID` before the request fails.
const MAX_RESUMES: usize = 5;
/// The reconnection delay when the server names none, and the longest we wait whatever it says.
const DEFAULT_RETRY_MS: u64 = 200;
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// Longest excerpt of an error body quoted in an error message.
const EXCERPT: usize = 200;

pub(crate) struct HttpConnection {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    client: HttpClient,
    /// The endpoint, for messages.
    url: url::Url,
    /// The endpoint, as requests address it.
    uri: hyper::Uri,
    session: RwLock<Option<HeaderValue>>,
    protocol_version: RwLock<Option<HeaderValue>>,
    next_id: AtomicU64,
    inbox: Inbox,
    /// The upstream's requests that wait on a client's answer.
    asked: Arc<Asked>,
    closed: watch::Sender<bool>,
    listening: AtomicBool,
    /// The upstream answered `server/discover`: requests are stateless.
    stateless: AtomicBool,
    /// Resources session-based clients subscribed to, carried by the `subscriptions/listen`.
    subscribed: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Reopens the listen stream with the current subscriptions.
    resubscribe: tokio::sync::Notify,
    /// Per tool, the arguments its schema mirrors into `Mcp-Param-*` headers (from `tools/list`).
    mirrored: std::sync::Mutex<std::collections::HashMap<String, Vec<crate::protocol::param_headers::Mirrored>>>,
}

impl HttpConnection {
    pub(super) fn new(
        name: &str,
        url: &url::Url,
        headers: &[(String, Secret)],
        inbox: Inbox,
    ) -> Result<Self, UpstreamError> {
        let client = HttpClient::new(name, headers)?;
        let uri = super::http_client::uri(name, url)?;
        let (closed, _) = watch::channel(false);
        Ok(HttpConnection {
            inner: Arc::new(Inner {
                name: name.into(),
                client,
                url: url.clone(),
                uri,
                session: RwLock::new(None),
                protocol_version: RwLock::new(None),
                next_id: AtomicU64::new(1),
                inbox,
                asked: Arc::default(),
                closed,
                listening: AtomicBool::new(false),
                stateless: AtomicBool::new(false),
                subscribed: Default::default(),
                resubscribe: Default::default(),
                mirrored: Default::default(),
            }),
        })
    }

    /// Called once `initialize` succeeded: later requests carry the version, and the GET stream opens.
    pub(super) fn established(&self, version: &str) {
        *self.inner.protocol_version.write().unwrap() = HeaderValue::from_str(version).ok();
        if !self.inner.listening.swap(true, Ordering::AcqRel) {
            tokio::spawn(listen(Arc::downgrade(&self.inner)));
        }
    }

    /// Asks whether the upstream speaks the stateless protocol. When it answers `server/discover`,
    /// the connection becomes stateless (no `initialize`) and returns what it learned; otherwise
    /// `None`, and the caller opens a session as before.
    pub(super) async fn discover(&self, timeout: Duration) -> Option<super::session::Established> {
        let inner = &self.inner;
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let params = super::stateless::params(None, None);
        let body = encode_request(id, "server/discover", Some(&params));
        let probe = async {
            let response = inner.post_stateless(body, "server/discover", None, &[]).await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            inner.read_response(response, id, None, timeout).await.ok()
        };
        let result = tokio::time::timeout(timeout, probe).await.ok().flatten()?;
        let established = super::stateless::discovered(&result)?;
        inner.stateless.store(true, Ordering::Release);
        if !inner.listening.swap(true, Ordering::AcqRel) {
            tokio::spawn(listen(Arc::downgrade(inner)));
        }
        Some(established)
    }

    /// Sends one request. Requests the upstream makes on this request's response stream are asked
    /// of `client`.
    pub(super) async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
        timeout: Duration,
        client: Option<&Link>,
    ) -> Result<RawJson, UpstreamError> {
        let inner = &self.inner;
        if inner.stateless.load(Ordering::Acquire) {
            if let Some(changed) = super::stateless::subscription(method, params, &inner.subscribed) {
                if changed {
                    inner.resubscribe.notify_one();
                }
                return Ok(jsonrpc::raw(&serde_json::json!({})));
            }
            // Boxed, like the other paths seldom taken, so that the common one stays small.
            let work = Box::pin(inner.stateless_request(method, params, client, timeout));
            return match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(UpstreamError::Timeout(inner.name.clone(), timeout)),
            };
        }
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        // `initialize` is never cancelled (the specification forbids it).
        let mut guard =
            CancelOnDrop { inner: inner.clone(), id, reason: "the client went away", armed: method != "initialize" };
        let work = async {
            let body = Bytes::from(encode_request(id, method, params));
            let had_session = inner.session.read().unwrap().is_some();
            let response = inner.post(body.clone(), method == "initialize").await?;
            if response.status() == StatusCode::NOT_FOUND && had_session && method != "initialize" {
                // The server forgot our session: start a new one and send the request again.
                tracing::info!(upstream = %inner.name, "upstream session expired; initializing again");
                Box::pin(inner.reinitialize(timeout)).await?;
                let response = inner.post(body, false).await?;
                return inner.read_response(response, id, client, timeout).await;
            }
            inner.read_response(response, id, client, timeout).await
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => {
                guard.armed = false;
                r
            }
            Err(_) => {
                guard.reason = "timeout";
                Err(UpstreamError::Timeout(inner.name.clone(), timeout))
            }
        }
    }

    pub(super) async fn notify(&self, method: &str, params: Option<&RawValue>) {
        // The stateless protocol defines no notifications to a server over HTTP.
        if self.inner.stateless.load(Ordering::Acquire) {
            return;
        }
        if let Err(e) = self.inner.post(encode_notification(method, params), false).await {
            tracing::debug!(upstream = %self.inner.name, error = %e, %method, "sending a notification failed");
        }
    }

    pub(super) async fn closed(&self) {
        let mut closed = self.inner.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
    }

    pub(super) async fn shutdown(&self) {
        self.inner.closed.send_replace(true);
        let session = self.inner.session.write().unwrap().take();
        if let Some(session) = session {
            let delete = self.inner.client.delete(&self.inner.uri).header(SESSION_HEADER, session);
            let _ = tokio::time::timeout(Duration::from_secs(1), delete.send()).await;
        }
    }
}

/// Sends `notifications/cancelled` for a request abandoned before its answer came.
struct CancelOnDrop {
    inner: Arc<Inner>,
    id: u64,
    reason: &'static str,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let inner = self.inner.clone();
        let params = jsonrpc::raw(&serde_json::json!({ "requestId": self.id, "reason": self.reason }));
        tokio::spawn(async move {
            let _ = inner.post(encode_notification("notifications/cancelled", Some(&params)), false).await;
        });
    }
}

/// A header value for `Mcp-Name`: as is when it is plain visible ASCII, else the base64 sentinel.
fn name_header(name: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&stateless::header_value(name)).ok()
}

impl Inner {
    /// A stateless POST: the version and method (and target name) mirrored into headers.
    async fn post_stateless(
        &self,
        body: Vec<u8>,
        method: &str,
        name: Option<&str>,
        mirrored: &[(String, String)],
    ) -> Result<Response, UpstreamError> {
        let mut request = self
            .client
            .post(&self.uri)
            .header(ACCEPT, ACCEPT_BOTH)
            .header(CONTENT_TYPE, JSON)
            .header(VERSION_HEADER, STATELESS_VERSION)
            .header(METHOD_HEADER, method);
        if let Some(value) = name.and_then(name_header) {
            request = request.header(NAME_HEADER, value);
        }
        for (header, value) in mirrored {
            request = request.header(header.as_str(), value.as_str());
        }
        request.body(body).send().await.map_err(|e| self.post_failed(&e))
    }

    /// One stateless request: a POST per round (see `stateless::request`).
    async fn stateless_request(
        self: &Arc<Self>,
        method: &str,
        params: Option<&RawValue>,
        client: Option<&Link>,
        timeout: Duration,
    ) -> Result<RawJson, UpstreamError> {
        let base: serde_json::Value = params.and_then(|p| serde_json::from_str(p.get()).ok()).unwrap_or_default();
        let name =
            base.get("name").or(base.get("uri")).or(base.get("taskId")).and_then(|n| n.as_str()).map(str::to_string);
        // Arguments the tool's schema marks `x-mcp-header` travel as headers too.
        let mirrored = match (method, &name) {
            ("tools/call", Some(tool)) => self.mirrored.lock().unwrap().get(tool).map(|m| {
                crate::protocol::param_headers::headers(m, base.get("arguments").unwrap_or(&serde_json::Value::Null))
            }),
            _ => None,
        };
        let result =
            super::stateless::request(&self.name, method, params, client, timeout, |method, params: RawJson| {
                let (name, mirrored) = (name.clone(), mirrored.clone().unwrap_or_default());
                async move {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let body = encode_request(id, method, Some(&params));
                    let response = self.post_stateless(body, method, name.as_deref(), &mirrored).await?;
                    self.read_response(response, id, client, timeout).await
                }
            })
            .await?;
        if method == "tools/list" && result.get().contains("x-mcp-header") {
            self.remember_mirrored(&result);
        }
        Ok(result)
    }

    /// Records which arguments each listed tool mirrors into headers.
    fn remember_mirrored(&self, result: &RawValue) {
        let Ok(page) = serde_json::from_str::<serde_json::Value>(result.get()) else { return };
        let mut known = self.mirrored.lock().unwrap();
        for tool in page["tools"].as_array().into_iter().flatten() {
            let mirrored = crate::protocol::param_headers::mirrored(&tool["inputSchema"]);
            if let (Some(name), false) = (tool["name"].as_str(), mirrored.is_empty()) {
                known.insert(name.to_string(), mirrored);
            }
        }
    }

    async fn post(&self, body: impl Into<Bytes>, initializing: bool) -> Result<Response, UpstreamError> {
        let mut request = self.client.post(&self.uri).header(ACCEPT, ACCEPT_BOTH).header(CONTENT_TYPE, JSON);
        if !initializing {
            if let Some(s) = self.session.read().unwrap().clone() {
                request = request.header(SESSION_HEADER, s);
            }
            if let Some(v) = self.protocol_version.read().unwrap().clone() {
                request = request.header(VERSION_HEADER, v);
            }
        }
        request.body(body.into()).send().await.map_err(|e| self.post_failed(&e))
    }

    fn post_failed(&self, e: &SendError) -> UpstreamError {
        let detail = format!("POST {}: {e}", self.url);
        if e.is_connect() {
            // Nobody is listening: let the supervisor mark the upstream down and reconnect.
            self.closed.send_replace(true);
            UpstreamError::Unreachable(self.name.clone(), detail)
        } else {
            UpstreamError::Transport(self.name.clone(), detail)
        }
    }

    async fn reinitialize(self: &Arc<Self>, timeout: Duration) -> Result<(), UpstreamError> {
        *self.session.write().unwrap() = None;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let version = self.protocol_version.read().unwrap().clone();
        let params = jsonrpc::raw(&serde_json::json!({
            "protocolVersion": version.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(mcp::LATEST_VERSION),
            "capabilities": {},
            "clientInfo": mcp::implementation(),
        }));
        let response = tokio::time::timeout(timeout, self.post(encode_request(id, "initialize", Some(&params)), true))
            .await
            .map_err(|_| UpstreamError::Timeout(self.name.clone(), timeout))??;
        self.read_response(response, id, None, timeout).await?;
        let _ = self.post(encode_notification("notifications/initialized", None), false).await;
        Ok(())
    }

    /// Reads the answer to request `id` from a POST response, JSON or SSE.
    async fn read_response(
        self: &Arc<Self>,
        mut response: Response,
        id: u64,
        client: Option<&Link>,
        timeout: Duration,
    ) -> Result<RawJson, UpstreamError> {
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await;
            // Stateless servers answer protocol errors with a 4xx and a JSON-RPC error body.
            if let Ok(Message::Response { outcome: Err(error), .. }) = Message::parse(body.as_bytes()) {
                return Err(UpstreamError::Rpc(error));
            }
            let excerpt: String = body.chars().take(EXCERPT).collect();
            return Err(UpstreamError::Transport(self.name.clone(), format!("HTTP {status}: {excerpt}")));
        }
        if let Some(session) = response.headers().get(&SESSION_HEADER)
            && self.session.read().unwrap().as_ref() != Some(session)
        {
            *self.session.write().unwrap() = Some(session.clone());
        }
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut answer: Option<Result<RawJson, RawJson>> = None;
        if is_sse {
            // A stream that ends (or breaks) before the answer is resumed with GET and
            // `Last-Event-ID` when it gave event ids (session upstreams, 2025-03-26 on).
            let mut decoder = sse::Decoder::default();
            let mut resumed = 0;
            loop {
                let broke = self.read_events(&mut response, &mut decoder, id, &mut answer, client, timeout).await;
                if answer.is_some() {
                    break;
                }
                if decoder.too_large {
                    return Err(too_large(&self.name));
                }
                let last = decoder.last_event_id.clone().filter(|_| !self.stateless.load(Ordering::Acquire));
                let Some(last) = last.filter(|_| resumed < MAX_RESUMES) else {
                    return Err(broke.err().unwrap_or_else(|| {
                        UpstreamError::Transport(self.name.clone(), "the event stream ended before the answer".into())
                    }));
                };
                resumed += 1;
                let delay = Duration::from_millis(decoder.retry.unwrap_or(DEFAULT_RETRY_MS)).min(MAX_RETRY_DELAY);
                tokio::time::sleep(delay).await;
                response = self.resume(&last).await?;
                decoder.reconnected();
            }
        } else {
            let body = response
                .bytes(sse::MAX_EVENT_BYTES)
                .await
                .map_err(|e| UpstreamError::Transport(self.name.clone(), format!("reading the response: {e}")))?;
            if Message::is_batch(&body) {
                let list: Vec<RawJson> = serde_json::from_slice(&body).unwrap_or_default();
                for one in list {
                    self.route(one.get().as_bytes(), id, &mut answer, client, timeout).await;
                }
            } else {
                self.route(&body, id, &mut answer, client, timeout).await;
            }
        }
        match answer {
            Some(Ok(result)) => Ok(result),
            Some(Err(error)) => Err(UpstreamError::Rpc(error)),
            None => Err(UpstreamError::Transport(self.name.clone(), "the response did not answer the request".into())),
        }
    }

    /// Reads events until the answer to `id` arrives or the stream ends; `Err` when it broke.
    async fn read_events(
        self: &Arc<Self>,
        response: &mut Response,
        decoder: &mut sse::Decoder,
        id: u64,
        answer: &mut Option<Result<RawJson, RawJson>>,
        client: Option<&Link>,
        timeout: Duration,
    ) -> Result<(), UpstreamError> {
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| UpstreamError::Transport(self.name.clone(), format!("reading the event stream: {e}")))?;
            let Some(chunk) = chunk else { return Ok(()) };
            for event in decoder.feed(&chunk) {
                // A priming event (an id and no message) only marks where to resume from.
                if event.data.trim().is_empty() {
                    continue;
                }
                self.route(event.data.as_bytes(), id, answer, client, timeout).await;
                if answer.is_some() {
                    return Ok(());
                }
            }
        }
    }

    /// Reopens a request's event stream after the event `last_event_id`.
    async fn resume(&self, last_event_id: &str) -> Result<Response, UpstreamError> {
        let mut request = self.client.get(&self.uri).header(ACCEPT, EVENT_STREAM).header(LAST_EVENT_ID, last_event_id);
        if let Some(s) = self.session.read().unwrap().clone() {
            request = request.header(SESSION_HEADER, s);
        }
        if let Some(v) = self.protocol_version.read().unwrap().clone() {
            request = request.header(VERSION_HEADER, v);
        }
        let response = request.send().await.map_err(|e| self.post_failed(&e))?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(UpstreamError::Transport(
                self.name.clone(),
                format!("resuming the event stream after {last_event_id:?}: HTTP {status}"),
            ));
        }
        Ok(response)
    }

    async fn route(
        self: &Arc<Self>,
        bytes: &[u8],
        id: u64,
        answer: &mut Option<Result<RawJson, RawJson>>,
        client: Option<&Link>,
        timeout: Duration,
    ) {
        // A stateless upstream's log messages on a request's stream belong to that request: they
        // go to its client, at the level the request asked for (none unless it asked).
        if let Some(link) = client
            && self.stateless.load(Ordering::Acquire)
            && bytes.windows(21).any(|w| w == b"notifications/message")
            && let Ok(Message::Notification { method, params: Some(params) }) = Message::parse(bytes)
            && method == "notifications/message"
        {
            if let Ok(params) = serde_json::from_str(params.get()) {
                link.log(&self.name, &params);
            }
            return;
        }
        route_incoming(
            &self.name,
            bytes,
            &self.inbox,
            &self.asked,
            |rid, outcome| {
                if rid.get().parse::<u64>().ok() == Some(id) {
                    *answer = Some(outcome);
                }
            },
            async |request_id, method, params| {
                let inner = self.clone();
                let reply = async move |reply| {
                    let _ = inner.post(reply, false).await;
                };
                Box::pin(asked::answer(&self.asked, request_id, method, params, client.cloned(), timeout, reply)).await;
            },
        )
        .await;
    }
}

/// The GET stream: the server's own notifications (list changes). Servers that do not offer one
/// answer 405, and we stop asking.
async fn listen(inner: std::sync::Weak<Inner>) {
    let mut delay = Duration::from_millis(500);
    loop {
        let Some(conn) = inner.upgrade() else { return };
        if *conn.closed.borrow() {
            return;
        }
        let request = if conn.stateless.load(Ordering::Acquire) {
            // A stateless upstream announces list changes and resource updates on a
            // `subscriptions/listen` stream.
            let params = super::stateless::listen_params(&conn.subscribed.lock().unwrap());
            let id = conn.next_id.fetch_add(1, Ordering::Relaxed);
            conn.client
                .post(&conn.uri)
                .header(CONTENT_TYPE, JSON)
                .header(ACCEPT, ACCEPT_BOTH)
                .header(VERSION_HEADER, STATELESS_VERSION)
                .header(METHOD_HEADER, HeaderValue::from_static("subscriptions/listen"))
                .body(encode_request(id, "subscriptions/listen", Some(&params)))
        } else {
            let mut request = conn.client.get(&conn.uri).header(ACCEPT, EVENT_STREAM);
            if let Some(s) = conn.session.read().unwrap().clone() {
                request = request.header(SESSION_HEADER, s);
            }
            if let Some(v) = conn.protocol_version.read().unwrap().clone() {
                request = request.header(VERSION_HEADER, v);
            }
            request
        };
        let mut closed = conn.closed.subscribe();
        let response = tokio::select! {
            r = request.send() => r,
            _ = async { let _ = closed.wait_for(|c| *c).await; } => return,
        };
        match response {
            Ok(mut r) if r.status().is_success() => {
                delay = Duration::from_millis(500);
                let mut decoder = sse::Decoder::default();
                let mut reopen = false;
                loop {
                    let chunk = tokio::select! {
                        c = r.chunk() => c,
                        _ = async { let _ = closed.wait_for(|c| *c).await; } => return,
                        _ = conn.resubscribe.notified() => { reopen = true; break }
                    };
                    let Ok(Some(chunk)) = chunk else { break };
                    for event in decoder.feed(&chunk) {
                        let mut none = None;
                        conn.route(event.data.as_bytes(), 0, &mut none, None, Duration::ZERO).await;
                    }
                    if decoder.too_large {
                        tracing::warn!(upstream = %conn.name, error = %too_large(&conn.name), "dropping the stream");
                        break;
                    }
                }
                if reopen {
                    continue; // at once, with the new subscriptions
                }
            }
            Ok(r) if r.status() == StatusCode::METHOD_NOT_ALLOWED => return,
            Ok(r) => {
                tracing::debug!(upstream = %conn.name, status = %r.status(), "GET stream refused")
            }
            Err(e) => tracing::debug!(upstream = %conn.name, error = %e, "GET stream failed"),
        }
        drop(conn);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

fn too_large(upstream: &str) -> UpstreamError {
    UpstreamError::Transport(
        upstream.to_string(),
        format!("a message over {} MiB; the stream was dropped", sse::MAX_EVENT_BYTES >> 20),
    )
}

//! The session half of a streamable HTTP upstream (2024-11-05 to 2025-11-25): the session id and
//! protocol version ride in headers; an expired session (404) is initialized again and the
//! request sent once more; a request's event stream that ends before its answer is resumed with
//! `Last-Event-ID`; the server's own notifications come on a GET stream; a request abandoned
//! before its answer is cancelled with `notifications/cancelled`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::value::RawValue;

use super::endpoint::{self, ACCEPT_BOTH, EVENT_STREAM, Endpoint, JSON, Mode};
use crate::protocol::jsonrpc::{self, encode_notification, encode_request};
use crate::protocol::{RawJson, mcp};
use crate::session::Link;
use crate::upstream::UpstreamError;
use crate::upstream::connection::{BoxFuture, Connection};
use crate::upstream::http_client::{Outgoing, Response};

const SESSION_HEADER: HeaderName = HeaderName::from_static(mcp::SESSION_HEADER);
const VERSION_HEADER: HeaderName = HeaderName::from_static(mcp::VERSION_HEADER);
const LAST_EVENT_ID: HeaderName = HeaderName::from_static(mcp::LAST_EVENT_ID);

pub(in crate::upstream) struct SessionHttp {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    session: RwLock<Option<HeaderValue>>,
    protocol_version: RwLock<Option<HeaderValue>>,
    listening: AtomicBool,
}

impl SessionHttp {
    pub(super) fn new(endpoint: Endpoint) -> SessionHttp {
        let inner = Inner {
            endpoint,
            session: RwLock::new(None),
            protocol_version: RwLock::new(None),
            listening: AtomicBool::new(false),
        };
        SessionHttp { inner: Arc::new(inner) }
    }

    /// Called once `initialize` succeeded: later requests carry the version, and the GET stream opens.
    pub(in crate::upstream) fn established(&self, version: &str) {
        *self.inner.protocol_version.write().unwrap() = HeaderValue::from_str(version).ok();
        if !self.inner.listening.swap(true, Ordering::AcqRel) {
            tokio::spawn(endpoint::listen(Arc::downgrade(&self.inner)));
        }
    }

    async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
        timeout: Duration,
        client: Option<&Link>,
    ) -> Result<RawJson, UpstreamError> {
        let inner = &self.inner;
        let id = inner.endpoint.next_id();
        // `initialize` is never cancelled (the specification forbids it).
        let mut guard =
            CancelOnDrop { inner: inner.clone(), id, reason: "the client went away", armed: method != "initialize" };
        let work = async {
            let body = Bytes::from(encode_request(id, method, params));
            let had_session = inner.session.read().unwrap().is_some();
            let response = inner.post(body.clone(), method == "initialize", client).await?;
            if response.status() == StatusCode::NOT_FOUND && had_session && method != "initialize" {
                // The server forgot our session: start a new one and send the request again.
                tracing::info!(upstream = %inner.endpoint.name, "upstream session expired; initializing again");
                Box::pin(inner.reinitialize(timeout)).await?;
                let response = inner.post(body, false, client).await?;
                return inner.read(response, id, client, timeout).await;
            }
            inner.read(response, id, client, timeout).await
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => {
                guard.armed = false;
                r
            }
            Err(_) => {
                guard.reason = "timeout";
                Err(UpstreamError::Timeout(inner.endpoint.name.clone(), timeout))
            }
        }
    }

    async fn notify(&self, method: &str, params: Option<&RawValue>) {
        if let Err(e) = self.inner.post(encode_notification(method, params), false, None).await {
            tracing::debug!(upstream = %self.inner.endpoint.name, error = %e, %method, "sending a notification failed");
        }
    }

    async fn shutdown(&self) {
        let endpoint = &self.inner.endpoint;
        endpoint.closed.send_replace(true);
        let session = self.inner.session.write().unwrap().take();
        if let Some(session) = session {
            let delete = endpoint.client.delete(&endpoint.uri).header(SESSION_HEADER, session);
            let _ = tokio::time::timeout(Duration::from_secs(1), delete.send()).await;
        }
    }
}

impl Inner {
    /// A POST, for `client` (its forwarded headers) or for the connection itself.
    async fn post(
        &self,
        body: impl Into<Bytes>,
        initializing: bool,
        client: Option<&Link>,
    ) -> Result<Response, UpstreamError> {
        let endpoint = &self.endpoint;
        let extra = endpoint.behind.headers(client).await?;
        let mut request = endpoint.client.post(&endpoint.uri).header(ACCEPT, ACCEPT_BOTH).header(CONTENT_TYPE, JSON);
        for (name, value) in extra {
            request.set(name, value);
        }
        if !initializing {
            self.add_session(&mut request);
        }
        request.body(body.into()).send().await.map_err(|e| endpoint.post_failed(&e))
    }

    /// Adds the session's id and version headers to `request`.
    fn add_session(&self, request: &mut Outgoing<'_>) {
        if let Some(s) = self.session.read().unwrap().clone() {
            request.set(SESSION_HEADER, s);
        }
        if let Some(v) = self.protocol_version.read().unwrap().clone() {
            request.set(VERSION_HEADER, v);
        }
    }

    /// Reads the answer to `id`, keeping the session id the server hands out.
    async fn read(
        self: &Arc<Self>,
        response: Response,
        id: u64,
        client: Option<&Link>,
        timeout: Duration,
    ) -> Result<RawJson, UpstreamError> {
        if response.status().is_success()
            && let Some(session) = response.headers().get(&SESSION_HEADER)
            && self.session.read().unwrap().as_ref() != Some(session)
        {
            *self.session.write().unwrap() = Some(session.clone());
        }
        endpoint::read_response(self, response, id, client, timeout).await
    }

    async fn reinitialize(self: &Arc<Self>, timeout: Duration) -> Result<(), UpstreamError> {
        *self.session.write().unwrap() = None;
        let id = self.endpoint.next_id();
        let version = self.protocol_version.read().unwrap().clone();
        let params = jsonrpc::raw(&serde_json::json!({
            "protocolVersion": version.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(mcp::LATEST_VERSION),
            "capabilities": {},
            "clientInfo": mcp::implementation(),
        }));
        let name = &self.endpoint.name;
        let response =
            tokio::time::timeout(timeout, self.post(encode_request(id, "initialize", Some(&params)), true, None))
                .await
                .map_err(|_| UpstreamError::Timeout(name.clone(), timeout))??;
        self.read(response, id, None, timeout).await?;
        let _ = self.post(encode_notification("notifications/initialized", None), false, None).await;
        Ok(())
    }
}

impl Mode for Inner {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn post_reply(self: Arc<Self>, reply: Vec<u8>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.post(reply, false, None).await;
        })
    }

    /// Reopens a request's event stream after the event `last_event_id`.
    fn resume<'a>(&'a self, last_event_id: &'a str) -> Option<BoxFuture<'a, Result<Response, UpstreamError>>> {
        Some(Box::pin(async move {
            let endpoint = &self.endpoint;
            let mut request =
                endpoint.client.get(&endpoint.uri).header(ACCEPT, EVENT_STREAM).header(LAST_EVENT_ID, last_event_id);
            self.add_session(&mut request);
            let response = request.send().await.map_err(|e| endpoint.post_failed(&e))?;
            if !response.status().is_success() {
                let status = response.status();
                return Err(UpstreamError::Transport(
                    endpoint.name.clone(),
                    format!("resuming the event stream after {last_event_id:?}: HTTP {status}"),
                ));
            }
            Ok(response)
        }))
    }

    fn request_logs(&self) -> bool {
        false
    }

    /// The GET stream of the session.
    fn listen_request(&self) -> Outgoing<'_> {
        let mut request = self.endpoint.client.get(&self.endpoint.uri).header(ACCEPT, EVENT_STREAM);
        self.add_session(&mut request);
        request
    }

    fn reopen(&self) -> Option<&tokio::sync::Notify> {
        None
    }
}

impl Connection for SessionHttp {
    fn request<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a RawValue>,
        timeout: Duration,
        client: Option<&'a Link>,
    ) -> BoxFuture<'a, Result<RawJson, UpstreamError>> {
        Box::pin(SessionHttp::request(self, method, params, timeout, client))
    }

    fn notify<'a>(&'a self, method: &'a str, params: Option<&'a RawValue>) -> BoxFuture<'a, ()> {
        Box::pin(SessionHttp::notify(self, method, params))
    }

    fn closed(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.inner.endpoint.closed())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(SessionHttp::shutdown(self))
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
            let _ = inner.post(encode_notification("notifications/cancelled", Some(&params)), false, None).await;
        });
    }
}

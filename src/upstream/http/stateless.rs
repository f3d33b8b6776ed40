//! The stateless half of a streamable HTTP upstream (2026-07-28), for an upstream that answered
//! `server/discover`: no session; every request carries the version and the calling client's
//! capabilities in `_meta`, its method and target mirrored into headers (and arguments a tool's
//! schema marks `x-mcp-header`); list changes and resource updates come on a
//! `subscriptions/listen` stream; `input_required` results are answered in rounds
//! (`upstream::stateless`).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::value::RawValue;
use tokio::sync::Notify;

use super::endpoint::{self, ACCEPT_BOTH, Endpoint, JSON, Mode};
use crate::protocol::jsonrpc::{self, encode_request};
use crate::protocol::param_headers::{self, Mirrored};
use crate::protocol::{RawJson, mcp, stateless};
use crate::session::Link;
use crate::upstream::UpstreamError;
use crate::upstream::connection::{BoxFuture, Connection};
use crate::upstream::http_client::{Outgoing, Response};
use crate::upstream::wire::Established;

const VERSION_HEADER: HeaderName = HeaderName::from_static(mcp::VERSION_HEADER);
const METHOD_HEADER: HeaderName = HeaderName::from_static(stateless::METHOD_HEADER);
const NAME_HEADER: HeaderName = HeaderName::from_static(stateless::NAME_HEADER);
const VERSION: HeaderValue = HeaderValue::from_static(stateless::VERSION);

pub(in crate::upstream) struct StatelessHttp {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    /// Resources session-based clients subscribed to, carried by the `subscriptions/listen`.
    subscribed: Mutex<BTreeSet<String>>,
    /// Reopens the listen stream with the current subscriptions.
    resubscribe: Notify,
    /// Per tool, the arguments its schema mirrors into `Mcp-Param-*` headers (from `tools/list`).
    mirrored: Mutex<HashMap<String, Vec<Mirrored>>>,
}

impl StatelessHttp {
    /// Asks whether the upstream speaks the stateless protocol. When it answers `server/discover`,
    /// the connection is stateless (no `initialize`), its listen stream opens, and what it said is
    /// returned; otherwise the endpoint comes back for a session.
    pub(super) async fn discover(
        endpoint: Endpoint,
        timeout: Duration,
    ) -> Result<(StatelessHttp, Established), Endpoint> {
        let inner = Arc::new(Inner {
            endpoint,
            subscribed: Mutex::default(),
            resubscribe: Notify::new(),
            mirrored: Mutex::default(),
        });
        let id = inner.endpoint.next_id();
        let params = crate::upstream::stateless::params(None, None);
        let body = encode_request(id, "server/discover", Some(&params));
        let probe = async {
            let response = inner.post(body, "server/discover", None, &[], None).await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            endpoint::read_response(&inner, response, id, None, timeout).await.ok()
        };
        let established = tokio::time::timeout(timeout, probe)
            .await
            .ok()
            .flatten()
            .and_then(|result| crate::upstream::stateless::discovered(&result));
        match established {
            Some(established) => {
                tokio::spawn(endpoint::listen(Arc::downgrade(&inner)));
                Ok((StatelessHttp { inner }, established))
            }
            None => match Arc::try_unwrap(inner) {
                Ok(inner) => Err(inner.endpoint),
                Err(_) => unreachable!("nothing else holds the probe's connection"),
            },
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
        if let Some(changed) = crate::upstream::stateless::subscription(method, params, &inner.subscribed) {
            if changed {
                inner.resubscribe.notify_one();
            }
            return Ok(jsonrpc::raw(&serde_json::json!({})));
        }
        match tokio::time::timeout(timeout, inner.request(method, params, client, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout(inner.endpoint.name.clone(), timeout)),
        }
    }
}

impl Inner {
    /// A stateless POST: the version and method (and target name) mirrored into headers.
    async fn post(
        &self,
        body: Vec<u8>,
        method: &str,
        name: Option<&str>,
        mirrored: &[(String, String)],
        client: Option<&Link>,
    ) -> Result<Response, UpstreamError> {
        let endpoint = &self.endpoint;
        let extra = endpoint.behind.headers(client).await?;
        let mut request = endpoint
            .client
            .post(&endpoint.uri)
            .header(ACCEPT, ACCEPT_BOTH)
            .header(CONTENT_TYPE, JSON)
            .header(VERSION_HEADER, VERSION)
            .header(METHOD_HEADER, method);
        if let Some(value) = name.and_then(|n| HeaderValue::from_str(&stateless::header_value(n)).ok()) {
            request = request.header(NAME_HEADER, value);
        }
        for (header, value) in mirrored {
            request = request.header(header.as_str(), value.as_str());
        }
        for (name, value) in extra {
            request.set(name, value);
        }
        request.body(body).send().await.map_err(|e| endpoint.post_failed(&e))
    }

    /// One stateless request: a POST per round (see `upstream::stateless::request`).
    async fn request(
        self: &Arc<Self>,
        method: &str,
        params: Option<&RawValue>,
        client: Option<&Link>,
        timeout: Duration,
    ) -> Result<RawJson, UpstreamError> {
        let base: serde_json::Value = params.and_then(|p| serde_json::from_str(p.get()).ok()).unwrap_or_default();
        let target =
            base.get("name").or(base.get("uri")).or(base.get("taskId")).and_then(|n| n.as_str()).map(str::to_string);
        // Arguments the tool's schema marks `x-mcp-header` travel as headers too.
        let mirrored = match (method, &target) {
            ("tools/call", Some(tool)) => self
                .mirrored
                .lock()
                .unwrap()
                .get(tool)
                .map(|m| param_headers::headers(m, base.get("arguments").unwrap_or(&serde_json::Value::Null))),
            _ => None,
        }
        .unwrap_or_default();
        let upstream = &self.endpoint.name;
        let send = |method, params: RawJson| {
            let (target, mirrored) = (target.clone(), mirrored.clone());
            async move {
                let id = self.endpoint.next_id();
                let body = encode_request(id, method, Some(&params));
                let response = self.post(body, method, target.as_deref(), &mirrored, client).await?;
                endpoint::read_response(self, response, id, client, timeout).await
            }
        };
        let result = crate::upstream::stateless::request(upstream, method, params, client, timeout, send).await?;
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
            let mirrored = param_headers::mirrored(&tool["inputSchema"]);
            if let (Some(name), false) = (tool["name"].as_str(), mirrored.is_empty()) {
                known.insert(name.to_string(), mirrored);
            }
        }
    }
}

impl Mode for Inner {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn post_reply(self: Arc<Self>, reply: Vec<u8>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let endpoint = &self.endpoint;
            let request = endpoint.client.post(&endpoint.uri).header(ACCEPT, ACCEPT_BOTH).header(CONTENT_TYPE, JSON);
            let _ = request.header(VERSION_HEADER, VERSION).body(reply).send().await;
        })
    }

    /// A stateless request's stream is not resumed: the request is sent again by its caller.
    fn resume<'a>(&'a self, _last_event_id: &'a str) -> Option<BoxFuture<'a, Result<Response, UpstreamError>>> {
        None
    }

    fn request_logs(&self) -> bool {
        true
    }

    /// A stateless upstream announces list changes and resource updates on a
    /// `subscriptions/listen` stream.
    fn listen_request(&self) -> Outgoing<'_> {
        let params = crate::upstream::stateless::listen_params(&self.subscribed.lock().unwrap());
        let id = self.endpoint.next_id();
        self.endpoint
            .client
            .post(&self.endpoint.uri)
            .header(CONTENT_TYPE, JSON)
            .header(ACCEPT, ACCEPT_BOTH)
            .header(VERSION_HEADER, VERSION)
            .header(METHOD_HEADER, HeaderValue::from_static("subscriptions/listen"))
            .body(encode_request(id, "subscriptions/listen", Some(&params)))
    }

    fn reopen(&self) -> Option<&Notify> {
        Some(&self.resubscribe)
    }
}

impl Connection for StatelessHttp {
    fn request<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a RawValue>,
        timeout: Duration,
        client: Option<&'a Link>,
    ) -> BoxFuture<'a, Result<RawJson, UpstreamError>> {
        Box::pin(StatelessHttp::request(self, method, params, timeout, client))
    }

    /// The stateless protocol defines no notifications to a server over HTTP.
    fn notify<'a>(&'a self, _method: &'a str, _params: Option<&'a RawValue>) -> BoxFuture<'a, ()> {
        Box::pin(std::future::ready(()))
    }

    fn closed(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.inner.endpoint.closed())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.inner.endpoint.closed.send_replace(true);
        Box::pin(std::future::ready(()))
    }
}

//! An in-process upstream for unit tests, behind the same `Connection` trait the real ones
//! implement: it answers each request with a function of the method and params, and records what
//! it was sent (requests and notifications, in order).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;

use super::connection::{BoxFuture, Connection};
use super::wire::Established;
use super::{Outlets, UpstreamError, UpstreamHandle, UpstreamState};
use crate::model;
use crate::protocol::{ItemSet, RawJson, jsonrpc};
use crate::session::Link;

type Answer = dyn Fn(&str, &Value) -> Result<Value, UpstreamError> + Send + Sync;

/// What the fake upstream heard: the method and its params, for each request and notification.
pub(crate) type Heard = Arc<Mutex<Vec<(String, Value)>>>;

pub(crate) struct FakeUpstream {
    answer: Box<Answer>,
    heard: Heard,
}

impl FakeUpstream {
    /// An upstream answering with `answer(method, params)`; `heard` fills with what it was sent.
    pub(crate) fn new(
        answer: impl Fn(&str, &Value) -> Result<Value, UpstreamError> + Send + Sync + 'static,
    ) -> (Self, Heard) {
        let heard = Heard::default();
        (FakeUpstream { answer: Box::new(answer), heard: heard.clone() }, heard)
    }

    fn hear(&self, method: &str, params: Option<&RawValue>) -> Value {
        let params: Value = params.and_then(|p| serde_json::from_str(p.get()).ok()).unwrap_or(Value::Null);
        self.heard.lock().unwrap().push((method.to_string(), params.clone()));
        params
    }
}

impl Connection for FakeUpstream {
    fn request<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a RawValue>,
        _timeout: Duration,
        _client: Option<&'a Link>,
    ) -> BoxFuture<'a, Result<RawJson, UpstreamError>> {
        let params = self.hear(method, params);
        let answer = (self.answer)(method, &params).map(|v| jsonrpc::raw(&v));
        Box::pin(std::future::ready(answer))
    }

    fn notify<'a>(&'a self, method: &'a str, params: Option<&'a RawValue>) -> BoxFuture<'a, ()> {
        self.hear(method, params);
        Box::pin(std::future::ready(()))
    }

    fn closed(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

impl UpstreamHandle {
    /// A handle already connected through `conn`, offering `items`, with no supervisor.
    pub(crate) fn connected(
        spec: model::Upstream,
        conn: Box<dyn Connection>,
        items: ItemSet,
        outlets: Outlets,
    ) -> Arc<UpstreamHandle> {
        let handle = UpstreamHandle::new(spec, outlets, Arc::default());
        handle.connection.store(Some(Arc::new(conn)));
        let established = Established {
            protocol_version: crate::protocol::mcp::LATEST_VERSION.into(),
            capabilities: Default::default(),
            server_info: None,
        };
        handle.set_status(UpstreamState::Up, None, 0, Some(&established));
        handle.items.store(Arc::new(items));
        handle.attempt_ended();
        handle.outlets.subscribers.register(&handle);
        handle
    }
}

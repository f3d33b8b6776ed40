//! The serving side: bytes on a wire binding ⇄ JSON-RPC messages, one file per binding.

pub mod conversation;
pub mod exchange;
mod http;
pub mod jsonrpc_http;
pub mod modern;
mod round_state;
pub mod sse;
pub mod stdio;
pub mod streamable_http;
pub mod websocket;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use tokio::sync::watch;

use crate::live::Live;
use crate::session::Sessions;

pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into()).boxed()
}

pub fn empty() -> Body {
    http_body_util::Empty::new().boxed()
}

/// What every transport serves from.
pub struct ServeContext {
    pub live: Arc<Live>,
    /// The address the listener is bound to (after `--listen` overrides the file).
    pub local_addr: std::net::SocketAddr,
    pub sessions: Sessions,
    /// Client subscriptions per resource URI, so the owning upstream is subscribed once and
    /// unsubscribed when the last client leaves.
    pub subscribers: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// Becomes true when the gateway stops; long-lived streams end on it.
    pub shutting_down: watch::Receiver<bool>,
}

impl ServeContext {
    pub fn new(live: Arc<Live>, local_addr: std::net::SocketAddr, shutting_down: watch::Receiver<bool>) -> Self {
        ServeContext { live, local_addr, sessions: Sessions::default(), subscribers: Default::default(), shutting_down }
    }
}

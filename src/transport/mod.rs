//! The serving side: bytes on a wire binding ⇄ JSON-RPC messages, one file per binding.

pub(crate) mod connections;
pub(crate) mod conversation;
mod event_stream;
pub(crate) mod exchange;
pub(crate) mod first_request;
mod http;
pub(crate) mod idle;
pub(crate) mod jsonrpc_http;
pub(crate) mod metadata;
pub(crate) mod sse;
mod stateless;
pub(crate) mod stdio;
pub(crate) mod streamable_http;
pub(crate) use http::{PeerCertificate, screen};
pub(crate) mod websocket;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use tokio::sync::watch;

use crate::live::Live;
use crate::session::Sessions;

pub(crate) type Body = BoxBody<Bytes, Infallible>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into()).boxed()
}

pub(crate) fn empty() -> Body {
    http_body_util::Empty::new().boxed()
}

/// What every transport serves from.
pub(crate) struct ServeContext {
    pub live: Arc<Live>,
    /// The address the listener is bound to (after `--listen` overrides the file).
    pub local_addr: std::net::SocketAddr,
    pub sessions: Sessions,
    /// Becomes true when the gateway stops; long-lived streams end on it.
    pub shutting_down: watch::Receiver<bool>,
    /// Client connections open now.
    pub connections: Arc<connections::Connections>,
}

impl ServeContext {
    pub(crate) fn new(live: Arc<Live>, local_addr: std::net::SocketAddr, shutting_down: watch::Receiver<bool>) -> Self {
        ServeContext { live, local_addr, sessions: Sessions::default(), shutting_down, connections: Arc::default() }
    }
}

//! The serving side: bytes on a wire binding ⇄ JSON-RPC messages, one file per binding.

pub mod conversation;
pub mod exchange;
mod http;
pub mod jsonrpc_http;
pub mod sse;
mod stateless;
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
    /// Becomes true when the gateway stops; long-lived streams end on it.
    pub shutting_down: watch::Receiver<bool>,
}

impl ServeContext {
    pub fn new(live: Arc<Live>, local_addr: std::net::SocketAddr, shutting_down: watch::Receiver<bool>) -> Self {
        ServeContext { live, local_addr, sessions: Sessions::default(), shutting_down }
    }
}

/// The client's address, put on each HTTP request by the listener.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

//! `Connection`: what every kind of upstream link does, whatever carries it (a stdio child,
//! streamable HTTP in either era, legacy HTTP+SSE, WebSocket, a REST API, or an in-process
//! stand-in in tests). The supervisor and per-client sessions hold one behind this trait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;

use super::UpstreamError;
use crate::protocol::RawJson;
use crate::session::Link;

/// A future a connection returns, boxed so that connections of every kind sit behind one trait.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A live connection, shared by the calls that use it.
pub(crate) type Shared = Arc<Box<dyn Connection>>;

pub(crate) trait Connection: Send + Sync {
    /// Sends one request and returns the upstream's `result` (an error object as `UpstreamError::Rpc`).
    /// Requests the upstream makes while serving it are asked of `client`. Dropping the future
    /// cancels the request upstream.
    fn request<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a RawValue>,
        timeout: Duration,
        client: Option<&'a Link>,
    ) -> BoxFuture<'a, Result<RawJson, UpstreamError>>;

    fn notify<'a>(&'a self, method: &'a str, params: Option<&'a RawValue>) -> BoxFuture<'a, ()>;

    /// Ties a per-client upstream session to its client's latest call, for requests the upstream
    /// sends on its own stream (streamable HTTP gets the link with each request instead).
    fn set_client(&self, _link: &Link, _timeout: Duration) {}

    /// Resolves when the connection has died.
    fn closed(&self) -> BoxFuture<'_, ()>;

    /// Ends the connection politely: stdio children get their stdin closed, then a kill; HTTP
    /// sessions get a DELETE.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

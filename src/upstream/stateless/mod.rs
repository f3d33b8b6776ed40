//! Speaking the stateless protocol (2026-07-28) to an upstream, whatever carries the messages
//! (stdio, streamable HTTP): the `_meta` of each request (`meta.rs`), the rounds that turn an
//! `input_required` result into requests to a session-based client (`rounds.rs`), and a
//! session-based client's 2025-11-25 tasks carried by the tasks extension (`tasks.rs`).

mod meta;
mod rounds;
mod tasks;

use std::time::Duration;

use serde_json::value::RawValue;

use super::UpstreamError;
use crate::protocol::RawJson;
use crate::session::Link;

pub(super) use meta::{discovered, listen_params, params, subscription};

/// Sends one stateless request `method` with `send(method, params)` (which adds nothing but
/// framing). An `input_required` result goes back to a stateless client as is (it retries with
/// the answers itself); for a session-based client each input request is asked of it, and the
/// request retried with the answers and the upstream's request state. A session-based client's
/// tasks (2025-11-25) go through the tasks extension (`task_bridge`).
pub(super) async fn request<'m, F, Fut>(
    upstream: &str,
    method: &'m str,
    params: Option<&RawValue>,
    client: Option<&Link>,
    timeout: Duration,
    send: F,
) -> Result<RawJson, UpstreamError>
where
    F: Fn(&'m str, RawJson) -> Fut,
    Fut: std::future::Future<Output = Result<RawJson, UpstreamError>>,
{
    if let Some(bridged) = tasks::request(upstream, method, params, client, timeout, &send).await {
        return bridged;
    }
    rounds::rounds(upstream, method, params, client, timeout, false, &send).await
}

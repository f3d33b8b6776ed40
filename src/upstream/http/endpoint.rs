//! What both halves of a streamable HTTP upstream share: the endpoint and its client, reading a
//! POST's answer (JSON or an event stream), routing every message read, and following a
//! long-lived event stream. How a half posts, resumes and routes log messages is its `Mode`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::header::{CONTENT_TYPE, HeaderValue};
use tokio::sync::watch;

use super::super::UpstreamError;
use super::super::asked::{self, Asked};
use super::super::connection::BoxFuture;
use super::super::forwarding::Behind;
use super::super::http_client::{HttpClient, Outgoing, Response, SendError};
use super::super::wire::{Inbox, route_incoming};
use crate::model::Secret;
use crate::protocol::jsonrpc::Message;
use crate::protocol::{RawJson, sse};
use crate::session::Link;

/// What a streamable HTTP client accepts on every POST.
pub(super) const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
pub(super) const JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(super) const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
/// Times a request's event stream is reopened with `Last-Event-ID` before the request fails.
const MAX_RESUMES: usize = 5;
/// The reconnection delay when the server names none, and the longest we wait whatever it says.
const DEFAULT_RETRY_MS: u64 = 200;
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// Longest excerpt of an error body quoted in an error message.
const EXCERPT: usize = 200;

/// How one half of the connection takes part in reading and routing.
pub(super) trait Mode: Send + Sync + 'static {
    fn endpoint(&self) -> &Endpoint;
    /// Posts a reply to a request the upstream sent.
    fn post_reply(self: Arc<Self>, reply: Vec<u8>) -> BoxFuture<'static, ()>;
    /// Reopens a request's event stream after `last_event_id`, in a mode that can.
    fn resume<'a>(&'a self, last_event_id: &'a str) -> Option<BoxFuture<'a, Result<Response, UpstreamError>>>;
    /// Whether log messages on a request's stream belong to that request (and go to its client).
    fn request_logs(&self) -> bool;
    /// The request that opens the long-lived stream of the server's own notifications.
    fn listen_request(&self) -> Outgoing<'_>;
    /// Fires when that stream should be opened again at once (its subscriptions changed).
    fn reopen(&self) -> Option<&tokio::sync::Notify>;
}

/// The upstream's endpoint and what every request to it shares.
pub(super) struct Endpoint {
    pub(super) name: String,
    pub(super) client: HttpClient,
    /// The endpoint, for messages.
    url: url::Url,
    /// The endpoint, as requests address it.
    pub(super) uri: hyper::Uri,
    next_id: AtomicU64,
    inbox: Inbox,
    /// The upstream's requests that wait on a client's answer.
    asked: Arc<Asked>,
    pub(super) closed: watch::Sender<bool>,
    /// What requests carry of the callers behind them.
    pub(super) behind: Behind,
}

impl Endpoint {
    pub(super) fn new(
        name: &str,
        url: &url::Url,
        headers: &[(String, Secret)],
        inbox: Inbox,
        behind: Behind,
    ) -> Result<Endpoint, UpstreamError> {
        Ok(Endpoint {
            name: name.into(),
            client: HttpClient::new(name, headers)?,
            url: url.clone(),
            uri: super::super::http_client::uri(name, url)?,
            next_id: AtomicU64::new(1),
            inbox,
            asked: Arc::default(),
            closed: watch::channel(false).0,
            behind,
        })
    }

    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn post_failed(&self, e: &SendError) -> UpstreamError {
        let detail = format!("POST {}: {e}", self.url);
        if e.is_connect() {
            // Nobody is listening: let the supervisor mark the upstream down and reconnect.
            self.closed.send_replace(true);
            UpstreamError::Unreachable(self.name.clone(), detail)
        } else {
            UpstreamError::Transport(self.name.clone(), detail)
        }
    }

    pub(super) fn too_large(&self) -> UpstreamError {
        UpstreamError::Transport(
            self.name.clone(),
            format!("a message over {} MiB; the stream was dropped", sse::MAX_EVENT_BYTES >> 20),
        )
    }

    pub(super) async fn closed(&self) {
        let mut closed = self.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
    }
}

/// Reads the answer to request `id` from a POST response, JSON or an event stream. A stream that
/// ends (or breaks) before the answer is resumed with `Last-Event-ID` when the mode can and the
/// stream gave event ids (session upstreams, 2025-03-26 on).
pub(super) async fn read_response<M: Mode>(
    mode: &Arc<M>,
    mut response: Response,
    id: u64,
    client: Option<&Link>,
    timeout: Duration,
) -> Result<RawJson, UpstreamError> {
    let endpoint = mode.endpoint();
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await;
        // Stateless servers answer protocol errors with a 4xx and a JSON-RPC error body.
        if let Ok(Message::Response { outcome: Err(error), .. }) = Message::parse(body.as_bytes()) {
            return Err(UpstreamError::Rpc(error));
        }
        let excerpt: String = body.chars().take(EXCERPT).collect();
        return Err(UpstreamError::Transport(endpoint.name.clone(), format!("HTTP {status}: {excerpt}")));
    }
    let is_sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut answer: Option<Result<RawJson, RawJson>> = None;
    if is_sse {
        let mut decoder = sse::Decoder::default();
        let mut resumed = 0;
        loop {
            let broke = read_events(mode, &mut response, &mut decoder, id, &mut answer, client, timeout).await;
            if answer.is_some() {
                break;
            }
            if decoder.too_large {
                return Err(endpoint.too_large());
            }
            let ended = || {
                broke.err().unwrap_or_else(|| {
                    UpstreamError::Transport(endpoint.name.clone(), "the event stream ended before the answer".into())
                })
            };
            let Some(last) = decoder.last_event_id.clone().filter(|_| resumed < MAX_RESUMES) else {
                return Err(ended());
            };
            let delay = Duration::from_millis(decoder.retry.unwrap_or(DEFAULT_RETRY_MS)).min(MAX_RETRY_DELAY);
            let Some(reopening) = mode.resume(&last) else { return Err(ended()) };
            resumed += 1;
            tokio::time::sleep(delay).await;
            response = reopening.await?;
            decoder.reconnected();
        }
    } else {
        let body = response
            .bytes(sse::MAX_EVENT_BYTES)
            .await
            .map_err(|e| UpstreamError::Transport(endpoint.name.clone(), format!("reading the response: {e}")))?;
        if Message::is_batch(&body) {
            let list: Vec<RawJson> = serde_json::from_slice(&body).unwrap_or_default();
            for one in list {
                route(mode, one.get().as_bytes(), id, &mut answer, client, timeout).await;
            }
        } else {
            route(mode, &body, id, &mut answer, client, timeout).await;
        }
    }
    match answer {
        Some(Ok(result)) => Ok(result),
        Some(Err(error)) => Err(UpstreamError::Rpc(error)),
        None => Err(UpstreamError::Transport(endpoint.name.clone(), "the response did not answer the request".into())),
    }
}

/// Reads events until the answer to `id` arrives or the stream ends; `Err` when it broke.
async fn read_events<M: Mode>(
    mode: &Arc<M>,
    response: &mut Response,
    decoder: &mut sse::Decoder,
    id: u64,
    answer: &mut Option<Result<RawJson, RawJson>>,
    client: Option<&Link>,
    timeout: Duration,
) -> Result<(), UpstreamError> {
    let name = &mode.endpoint().name;
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| UpstreamError::Transport(name.clone(), format!("reading the event stream: {e}")))?;
        let Some(chunk) = chunk else { return Ok(()) };
        for event in decoder.feed(&chunk) {
            // A priming event (an id and no message) only marks where to resume from.
            if event.data.trim().is_empty() {
                continue;
            }
            route(mode, event.data.as_bytes(), id, answer, client, timeout).await;
            if answer.is_some() {
                return Ok(());
            }
        }
    }
}

/// Routes one message read from the upstream: the answer to `id` into `answer`, requests to the
/// client of the call whose stream they came on, notifications to the inbox.
async fn route<M: Mode>(
    mode: &Arc<M>,
    bytes: &[u8],
    id: u64,
    answer: &mut Option<Result<RawJson, RawJson>>,
    client: Option<&Link>,
    timeout: Duration,
) {
    let endpoint = mode.endpoint();
    // A stateless upstream's log messages on a request's stream belong to that request: they
    // go to its client, at the level the request asked for (none unless it asked).
    if let Some(link) = client
        && mode.request_logs()
        && bytes.windows(21).any(|w| w == b"notifications/message")
        && let Ok(Message::Notification { method, params: Some(params) }) = Message::parse(bytes)
        && method == "notifications/message"
    {
        if let Ok(params) = serde_json::from_str(params.get()) {
            link.log(&endpoint.name, &params);
        }
        return;
    }
    route_incoming(
        &endpoint.name,
        bytes,
        &endpoint.inbox,
        &endpoint.asked,
        |rid, outcome| {
            if rid.get().parse::<u64>().ok() == Some(id) {
                *answer = Some(outcome);
            }
        },
        async |request_id, method, params| {
            let mode = mode.clone();
            let reply = async move |reply| mode.post_reply(reply).await;
            Box::pin(asked::answer(&endpoint.asked, request_id, method, params, client.cloned(), timeout, reply)).await;
        },
    )
    .await;
}

/// Keeps the long-lived stream of the server's own notifications open while the connection
/// lives, reopening it with backoff. A server that does not offer one answers 405, and we stop.
pub(super) async fn listen<M: Mode>(mode: std::sync::Weak<M>) {
    let mut delay = Duration::from_millis(500);
    loop {
        let Some(mode) = mode.upgrade() else { return };
        let endpoint = mode.endpoint();
        if *endpoint.closed.borrow() {
            return;
        }
        let mut closed = endpoint.closed.subscribe();
        // A connection that serves one client listens with that client's credentials.
        let Ok(extra) = endpoint.behind.headers(None).await else { return };
        let mut request = mode.listen_request();
        for (name, value) in extra {
            request.set(name, value);
        }
        let response = tokio::select! {
            r = request.send() => r,
            _ = async { let _ = closed.wait_for(|c| *c).await; } => return,
        };
        match response {
            Ok(r) if r.status().is_success() => {
                delay = Duration::from_millis(500);
                match follow(&mode, r, mode.reopen()).await {
                    Followed::Closed => return,
                    Followed::Reopen => continue, // at once, with the new subscriptions
                    Followed::Ended => {}
                }
            }
            Ok(r) if r.status() == hyper::StatusCode::METHOD_NOT_ALLOWED => return,
            Ok(r) => tracing::debug!(upstream = %endpoint.name, status = %r.status(), "notification stream refused"),
            Err(e) => tracing::debug!(upstream = %endpoint.name, error = %e, "notification stream failed"),
        }
        drop(mode);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// How a long-lived event stream ended.
enum Followed {
    /// The connection is closing.
    Closed,
    /// The stream ended or broke; open it again.
    Ended,
    /// The mode asked for it to be reopened at once (with new subscriptions).
    Reopen,
}

/// Routes every event of a long-lived stream (list changes, resource updates, log messages)
/// until it ends, the connection closes, or `reopen` fires.
async fn follow<M: Mode>(mode: &Arc<M>, mut response: Response, reopen: Option<&tokio::sync::Notify>) -> Followed {
    let endpoint = mode.endpoint();
    let mut closed = endpoint.closed.subscribe();
    let mut decoder = sse::Decoder::default();
    loop {
        let chunk = tokio::select! {
            c = response.chunk() => c,
            _ = async { let _ = closed.wait_for(|c| *c).await; } => return Followed::Closed,
            _ = async { match reopen { Some(n) => n.notified().await, None => std::future::pending().await } } => {
                return Followed::Reopen;
            }
        };
        let Ok(Some(chunk)) = chunk else { return Followed::Ended };
        for event in decoder.feed(&chunk) {
            let mut none = None;
            route(mode, event.data.as_bytes(), 0, &mut none, None, Duration::ZERO).await;
        }
        if decoder.too_large {
            tracing::warn!(upstream = %endpoint.name, error = %endpoint.too_large(), "dropping the stream");
            return Followed::Ended;
        }
    }
}

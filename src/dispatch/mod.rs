//! One request from start to finish, whatever binding it came on. Every binding turns a message
//! into one `Request` and calls `handle`, whose steps are always the same, in this order:
//!
//!   resolve (virtual server, method, the item it names) → policy (the snapshot's chain)
//!     → forward (answer locally, or route to the owning upstream) → record (one event per call)
//!
//! and whose failures are one typed `GatewayError`. Notifications from the client go through
//! `notify`. Nothing answers a method on the side.

mod answers;
mod forward;
mod lists;
mod owner;
mod resolve;
mod round_state;
pub(crate) mod stateless;
mod subscriptions;
mod tasks;

use std::sync::Arc;
use std::time::Instant;

use serde_json::value::RawValue;

use crate::error::GatewayError;
use crate::live::{Live, Snapshot};
use crate::policy::{Denial, Subject};
use crate::protocol::RawJson;
use crate::session::{Caller, Link, Session};

pub(crate) use answers::negotiated_version;
use resolve::Resolved;

/// One client request on its way through the gateway.
pub(crate) struct Request {
    /// The JSON-RPC id the client gave it.
    pub id: RawJson,
    pub method: String,
    pub params: Option<RawJson>,
    /// The way back to the client; its session names the virtual server and the caller.
    pub link: Link,
    /// A stateless HTTP request's `Mcp-Param-*` headers, checked against the tool's arguments
    /// (`None` where the binding mirrors nothing into headers).
    pub param_headers: Option<Vec<(String, String)>>,
}

impl Request {
    pub(crate) fn new(id: RawJson, link: Link, method: impl Into<String>, params: Option<RawJson>) -> Request {
        Request { id, method: method.into(), params, link, param_headers: None }
    }

    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.link.session
    }

    pub(crate) fn caller(&self) -> &Caller {
        &self.link.session.caller
    }

    pub(crate) fn virtual_server(&self) -> &str {
        &self.link.session.virtual_server
    }

    fn params(&self) -> Option<&RawValue> {
        self.params.as_deref()
    }
}

/// Answers one request: its result, or the error the client gets.
pub(crate) async fn handle(live: &Arc<Live>, request: &Request) -> Result<RawJson, GatewayError> {
    let started = Instant::now();
    // One snapshot for the whole request: a reload never changes the table under it.
    let snapshot = live.snapshot();
    let (resolved, outcome) = match resolve::resolve(&snapshot, request) {
        Ok(mut resolved) => {
            let outcome = match decide(&snapshot, request, &resolved) {
                Ok(()) => match resolve::param_headers(request, &resolved) {
                    Ok(()) => forward::forward(live, &snapshot, request, &mut resolved).await,
                    Err(e) => Err(e),
                },
                Err(Denial::Hidden) => Err(resolve::absent(&resolved)),
                Err(Denial::Refused(e)) => Err(e),
            };
            (Some(resolved), outcome)
        }
        Err(e) => (None, Err(e)),
    };
    record(request, resolved.as_ref(), &outcome, started);
    outcome
}

/// The refusal, if the policy makes one that challenges the caller's credentials (a missing
/// scope), to the request `id`, `method`, `params` of `session`, found before a binding commits
/// to an answer whose status is already 200 (a stream, a batch's shared response).
pub(crate) fn challenged(
    live: &Live,
    session: &Arc<Session>,
    id: &RawJson,
    method: &str,
    params: Option<&RawJson>,
) -> Option<GatewayError> {
    let snapshot = live.snapshot();
    if snapshot.policy.is_empty() {
        return None;
    }
    let request = Request::new(id.clone(), Link::unreachable(session), method, params.cloned());
    let resolved = resolve::resolve(&snapshot, &request).ok()?;
    match decide(&snapshot, &request, &resolved) {
        Err(Denial::Refused(e)) if e.challenge.is_some() => Some(e),
        _ => None,
    }
}

/// The policy's decision. Subscribing to or completing an item is also decided as the item's
/// use, so what a caller may not read or get it can neither watch nor complete.
fn decide(snapshot: &Snapshot, request: &Request, resolved: &Resolved<'_>) -> Result<(), Denial> {
    let mut subject = subject(request, resolved);
    snapshot.policy.check(&subject)?;
    if let Some(item) = resolved.item
        && matches!(request.method.as_str(), "resources/subscribe" | "completion/complete")
    {
        subject.method = crate::policy::use_method(item.kind);
        snapshot.policy.check(&subject)?;
    }
    Ok(())
}

/// What the policy chain decides on.
fn subject<'a>(request: &'a Request, resolved: &'a Resolved<'_>) -> Subject<'a> {
    Subject {
        caller: request.caller(),
        virtual_server: request.virtual_server(),
        method: &request.method,
        item: resolved.item.map(|i| &**i),
        uri: resolved.uri.as_deref(),
        listing: false,
    }
}

/// One event per request, at DEBUG: what was asked, of which item and upstream, how it ended
/// (`ok`, or whose doing the error was: `client`, `upstream`, `gateway`, `policy`).
fn record(
    request: &Request,
    resolved: Option<&Resolved<'_>>,
    outcome: &Result<RawJson, GatewayError>,
    started: Instant,
) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let item = resolved.and_then(|r| r.item);
    let (result, code) = match outcome {
        Ok(_) => ("ok", 0),
        Err(e) => (e.source.as_str(), e.code()),
    };
    tracing::debug!(
        method = %request.method,
        virtual_server = %request.virtual_server(),
        binding = request.caller().binding.as_str(),
        item = item.map_or("", |i| i.public_key.as_str()),
        upstream = item.map_or("", |i| i.route.upstream.as_str()),
        result,
        code,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
}

/// Takes a client notification: `initialized` marks the session, `cancelled` stops a request,
/// `roots/list_changed` goes to the upstream sessions that serve the client.
pub(crate) fn notify(live: &Live, session: &Session, method: &str, params: Option<&RawValue>) {
    match method {
        "notifications/roots/list_changed" => {
            let snapshot = live.snapshot();
            let Some(catalog) = snapshot.table.catalog(&session.virtual_server) else { return };
            for (name, upstream) in &snapshot.upstreams {
                if catalog.includes_upstream(name) {
                    upstream.roots_changed(&session.id);
                }
            }
        }
        "notifications/initialized" => session.initialized.store(true, std::sync::atomic::Ordering::Relaxed),
        "notifications/cancelled" => {
            let request = params
                .and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok())
                .and_then(|mut v| v.get_mut("requestId").map(serde_json::Value::take));
            if let Some(request) = request
                && session.cancel(&request)
            {
                tracing::debug!(session = %session.id, request = %request, "client cancelled a request");
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;

/// The page size lists are cut into.
fn page_size(snapshot: &Snapshot) -> usize {
    snapshot.model.serving.page_size
}

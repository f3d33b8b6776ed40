//! What every transport does once it holds a message: open a session on `initialize`, answer a
//! request (cancellable by the client), take a notification. Transports add only framing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::ServeContext;
use crate::dispatch;
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::{RawJson, mcp};
use crate::session::{Binding, Caller, Cancelled, InFlight, Link, Outbound, Session};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Init {
    protocol_version: Option<String>,
    #[serde(default)]
    capabilities: serde_json::Value,
}

fn read_init(params: Option<&RawValue>) -> Init {
    params.and_then(|p| serde_json::from_str::<Init>(p.get()).ok()).unwrap_or_default()
}

/// The protocol version to answer an `initialize` with.
pub fn negotiated_version(params: Option<&RawValue>) -> &'static str {
    mcp::negotiate(read_init(params).protocol_version.as_deref())
}

/// Takes a client's `initialize` for an existing session: records its capabilities and returns
/// the encoded answer.
pub fn initialize(session: &Session, id: &RawValue, params: Option<&RawValue>) -> Vec<u8> {
    let init = read_init(params);
    session.declare(init.capabilities);
    initialize_response(id, mcp::negotiate(init.protocol_version.as_deref()), &session.virtual_server)
}

/// Takes a client's answer to a request the gateway sent it on an upstream's behalf.
pub fn response(session: &Session, id: &RawValue, outcome: Result<RawJson, RawJson>) {
    if !session.answered(id, outcome) {
        tracing::debug!(session = %session.id, id = id.get(), "a response to no request of ours");
    }
}

/// The client of `session` as upstreams reach it: messages to `out`, requests through the session.
pub fn client_link(session: &Arc<Session>, out: Outbound) -> Link {
    Link::new(session, out)
}

/// Opens a registered session for an `initialize`; `Err` carries the encoded error response when
/// the session limit is reached.
pub fn open_session(
    ctx: &ServeContext,
    virtual_server: &str,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Result<(Arc<Session>, Vec<u8>), Vec<u8>> {
    let version = negotiated_version(params);
    let limit = ctx.live.snapshot().model.serving.max_sessions;
    if ctx.sessions.len() >= limit {
        tracing::warn!(limit, "refused a new client session: the session limit is reached");
        let e = RpcError::new(jsonrpc::INTERNAL_ERROR, "too many client sessions; try again later");
        return Err(jsonrpc::encode_error(Some(id), &e.to_json()));
    }
    let session = ctx.sessions.create(virtual_server, version, Caller::anonymous(Binding::StreamableHttp, None));
    tracing::info!(session = %session.id, %virtual_server, version, "client session started");
    let answer = initialize(&session, id, params);
    Ok((session, answer))
}

/// The encoded answer to an `initialize`.
pub fn initialize_response(id: &RawValue, version: &str, virtual_server: &str) -> Vec<u8> {
    jsonrpc::encode_result(id, &dispatch::initialize_result(version, virtual_server))
}

/// Answers one request of `session`: dispatches it, unless the client cancels it first.
/// Progress and other messages about it go to `client` when given.
pub async fn answer(
    ctx: &ServeContext,
    session: &Arc<Session>,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    client: Option<&Link>,
) -> Vec<u8> {
    let (cancelled, in_flight) = session.begin(id);
    // Without a way back to the client (a plain JSON answer), the call still belongs to its
    // session: what it creates (tasks) is the session's, and a `per_client` upstream uses the
    // session's own upstream session. Nothing sent on this link arrives.
    let unreachable = client.is_none().then(|| Link::unreachable(session));
    let client = client.or(unreachable.as_ref());
    answer_registered(ctx, session, id, method, params, client, cancelled, in_flight).await
}

/// For transports whose answers travel on a session-wide channel (SSE, WebSocket, stdio): waits
/// for one of the session's request slots, registers the request as in flight (so a cancellation
/// right behind it finds it), and returns the work that answers it onto `out`, for the caller to
/// spawn. `None` when the session's slots are closed.
pub async fn queued_answer(
    ctx: Arc<ServeContext>,
    session: Arc<Session>,
    id: RawJson,
    method: String,
    params: Option<RawJson>,
    out: Outbound,
) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
    let slot = session.slots.clone().acquire_owned().await.ok()?;
    let (cancelled, in_flight) = session.begin(&id);
    Some(async move {
        let _slot = slot;
        let link = client_link(&session, out.clone());
        let params = params.as_deref();
        let answer = answer_registered(&ctx, &session, &id, &method, params, Some(&link), cancelled, in_flight).await;
        let _ = out.send(answer).await;
    })
}

/// `answer` for a request already registered as in flight.
#[allow(clippy::too_many_arguments)] // each is a distinct piece of one request; a struct would only rename them
pub async fn answer_registered(
    ctx: &ServeContext,
    session: &Session,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    client: Option<&Link>,
    cancelled: Cancelled,
    in_flight: InFlight,
) -> Vec<u8> {
    let snapshot = ctx.live.snapshot();
    // The work is written inside `select!` so that its (large) future is built where it is
    // polled rather than built and then copied there.
    let outcome = tokio::select! {
        r = async {
            match method {
                "resources/subscribe" | "resources/unsubscribe" => {
                    subscription(ctx, session, &snapshot, method, params, client).await
                }
                "logging/setLevel" => set_log_level(session, &snapshot, params),
                _ => dispatch::handle(&snapshot, &session.virtual_server, method, params, client).await,
            }
        } => r,
        _ = cancelled.wait() => Err(cancelled_error()),
    };
    drop(in_flight);
    match outcome {
        Ok(result) => jsonrpc::encode_result(id, &result),
        Err(error) => jsonrpc::encode_error(Some(id), error.get()),
    }
}

/// `resources/subscribe` and `unsubscribe`: recorded on the session; the owning upstream hears of
/// the first subscriber of a URI and of the last one leaving.
async fn subscription(
    ctx: &ServeContext,
    session: &Session,
    snapshot: &crate::live::Snapshot,
    method: &str,
    params: Option<&RawValue>,
    client: Option<&Link>,
) -> Result<RawJson, RawJson> {
    let uri = params
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok())
        .and_then(|v| v.get("uri").and_then(|u| u.as_str()).map(str::to_string));
    let Some(uri) = uri else {
        return Err(RawValue::from_string(RpcError::invalid_params("`uri` is required").to_json()).expect("valid JSON"));
    };
    let subscribing = method == "resources/subscribe";
    let owner = snapshot
        .table
        .catalog(&session.virtual_server)
        .and_then(|c| c.resolve_uri(&uri))
        .map(|item| item.route.upstream.clone())
        .unwrap_or_default();
    let changed = if subscribing { session.subscribe(&uri, &owner) } else { session.unsubscribe(&uri).is_some() };
    let tell_upstream = changed && {
        let mut counts = ctx.subscribers.lock().unwrap();
        let count = counts.entry(uri.clone()).or_default();
        if subscribing {
            *count += 1;
            *count == 1
        } else {
            *count = count.saturating_sub(1);
            *count == 0
        }
    };
    if !tell_upstream {
        return Ok(jsonrpc::raw(&serde_json::json!({})));
    }
    let outcome = dispatch::handle(snapshot, &session.virtual_server, method, params, client).await;
    if outcome.is_err() && subscribing {
        // The upstream refused: the client holds no subscription.
        session.unsubscribe(&uri);
        if let Some(count) = ctx.subscribers.lock().unwrap().get_mut(&uri) {
            *count = count.saturating_sub(1);
        }
    }
    if outcome.is_ok() && subscribing && !session.releases_subscriptions.swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        release_subscriptions_at_end(ctx, session);
    }
    outcome
}

/// When the session ends, its subscriptions are dropped as if it had unsubscribed: a URI's owner
/// is told once no other client holds it.
fn release_subscriptions_at_end(ctx: &ServeContext, session: &Session) {
    let (held, counts, live) = (session.subscriptions(), ctx.subscribers.clone(), ctx.live.clone());
    let virtual_server = session.virtual_server.clone();
    session.on_end(Box::new(move || {
        let released: Vec<String> = {
            let mut counts = counts.lock().unwrap();
            held.lock()
                .unwrap()
                .drain()
                .map(|(uri, _)| uri)
                .filter(|uri| {
                    let count = counts.entry(uri.clone()).or_default();
                    *count = count.saturating_sub(1);
                    *count == 0
                })
                .collect()
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if released.is_empty() {
            return;
        }
        runtime.spawn(async move {
            let snapshot = live.snapshot();
            for uri in released {
                let params = jsonrpc::raw(&serde_json::json!({ "uri": uri }));
                let _ =
                    dispatch::handle(&snapshot, &virtual_server, "resources/unsubscribe", Some(&params), None).await;
            }
        });
    }));
}

/// `logging/setLevel`: the session's level filters what it receives; the upstreams behind its
/// virtual server are asked for that level (or keep a more verbose one another client asked for).
fn set_log_level(
    session: &Session,
    snapshot: &crate::live::Snapshot,
    params: Option<&RawValue>,
) -> Result<RawJson, RawJson> {
    let level = params
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok())
        .and_then(|v| v.get("level").and_then(|l| l.as_str()).map(str::to_string));
    let Some(level) = level.as_deref().and_then(mcp::LogLevel::parse) else {
        let e = RpcError::invalid_params(format!("`level` must be one of {}", mcp::LogLevel::names()));
        return Err(RawValue::from_string(e.to_json()).expect("valid JSON"));
    };
    session.log_level.set(level);
    if let Some(catalog) = snapshot.table.catalog(&session.virtual_server) {
        for (name, upstream) in &snapshot.upstreams {
            if catalog.includes_upstream(name) {
                upstream.request_log_level(level);
            }
        }
    }
    Ok(jsonrpc::raw(&serde_json::json!({})))
}

/// Takes a client notification: `initialized` marks the session, `cancelled` stops a request,
/// `roots/list_changed` goes to the upstream sessions behind the client's virtual server.
pub fn notification(ctx: &ServeContext, session: &Session, method: &str, params: Option<&RawValue>) {
    match method {
        "notifications/roots/list_changed" => {
            let snapshot = ctx.live.snapshot();
            if let Some(catalog) = snapshot.table.catalog(&session.virtual_server) {
                for (name, upstream) in &snapshot.upstreams {
                    if catalog.includes_upstream(name) {
                        upstream.roots_changed(&session.id);
                    }
                }
            }
        }
        "notifications/initialized" => session.initialized.store(true, Ordering::Relaxed),
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

fn cancelled_error() -> RawJson {
    let e = RpcError::new(jsonrpc::REQUEST_CANCELLED, "request cancelled by the client");
    RawValue::from_string(e.to_json()).expect("error objects are valid JSON")
}

//! What every binding does once it holds a message: open a session on `initialize`, hand a
//! request to dispatch (cancellable by the client) and encode its answer, pass on a notification
//! or a response. Bindings add only framing.

use std::sync::Arc;

use serde_json::value::RawValue;

use super::ServeContext;
use crate::dispatch::{self, Request};
use crate::error::{GatewayError, Kind, Source};
use crate::protocol::RawJson;
use crate::protocol::jsonrpc;
use crate::session::{Caller, Cancelled, InFlight, Link, Outbound, Session};

/// A request answered with an error. Conversations send it encoded; the HTTP bindings frame it
/// with its status and, when it challenges the caller's credentials, `WWW-Authenticate`.
pub(crate) struct Refused {
    pub id: RawJson,
    pub error: GatewayError,
}

impl Refused {
    pub(crate) fn encode(&self) -> Vec<u8> {
        self.error.encode(Some(&self.id))
    }
}

/// Opens a registered session for an `initialize` and answers it: the session and the encoded
/// answer, or the refusal (the session limit, a policy).
pub(crate) async fn open_session(
    ctx: &ServeContext,
    virtual_server: &str,
    caller: Caller,
    id: RawJson,
    params: Option<RawJson>,
) -> Result<(Arc<Session>, Vec<u8>), Refused> {
    let limit = ctx.live.snapshot().model.serving.max_sessions;
    if ctx.sessions.len() >= limit {
        tracing::warn!(limit, "refused a new client session: the session limit is reached");
        let error =
            GatewayError::new(Kind::TooManySessions, Source::Gateway, "too many client sessions; try again later");
        return Err(Refused { id, error });
    }
    let version = dispatch::negotiated_version(params.as_deref());
    let session = ctx.sessions.create(virtual_server, version, caller);
    match initialize(ctx, &session, id, params).await {
        Ok(answer) => {
            tracing::info!(session = %session.id, %virtual_server, version, "client session started");
            Ok((session, answer))
        }
        Err(refused) => {
            ctx.sessions.remove(&session.id);
            Err(refused)
        }
    }
}

/// Answers a client's `initialize` on `session` (it records what the client declared): the
/// encoded answer, or the refusal.
pub(crate) async fn initialize(
    ctx: &ServeContext,
    session: &Arc<Session>,
    id: RawJson,
    params: Option<RawJson>,
) -> Result<Vec<u8>, Refused> {
    let request = Request::new(id, Link::unreachable(session), "initialize", params);
    match dispatch::handle(&ctx.live, &request).await {
        Ok(result) => Ok(jsonrpc::encode_result(&request.id, &result)),
        Err(error) => Err(Refused { id: request.id, error }),
    }
}

/// Takes a client's answer to a request the gateway sent it on an upstream's behalf.
pub(crate) fn response(session: &Session, id: &RawValue, outcome: Result<RawJson, RawJson>) {
    if !session.answered(id, outcome) {
        tracing::debug!(session = %session.id, id = id.get(), "a response to no request of ours");
    }
}

/// Passes a client notification to dispatch.
pub(crate) fn notification(ctx: &ServeContext, session: &Session, method: &str, params: Option<&RawValue>) {
    dispatch::notify(&ctx.live, session, method, params);
}

/// Answers one request of `session` at once with a plain JSON answer: registers it as in flight
/// (so the client can cancel it), dispatches it, and encodes its result, or returns the refusal.
pub(crate) async fn answer(
    ctx: &ServeContext,
    session: &Arc<Session>,
    id: RawJson,
    method: String,
    params: Option<RawJson>,
) -> Result<Vec<u8>, Refused> {
    let registered = session.begin(&id);
    // Without a way back to the client, the call still belongs to its session.
    let request = Request::new(id, Link::unreachable(session), method, params);
    match outcome(ctx, &request, registered).await {
        Ok(result) => Ok(jsonrpc::encode_result(&request.id, &result)),
        Err(error) => Err(Refused { id: request.id, error }),
    }
}

/// For transports whose answers travel on a session-wide channel (SSE, WebSocket, stdio): waits
/// for one of the session's request slots, registers the request as in flight (so a cancellation
/// right behind it finds it), and returns the work that answers it onto `out`, for the caller to
/// spawn. `None` when the session's slots are closed.
pub(crate) async fn queued_answer(
    ctx: Arc<ServeContext>,
    session: Arc<Session>,
    id: RawJson,
    method: String,
    params: Option<RawJson>,
    out: Outbound,
) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
    let slot = session.slots.clone().acquire_owned().await.ok()?;
    let registered = session.begin(&id);
    Some(async move {
        let _slot = slot;
        let request = Request::new(id, Link::new(&session, out.clone()), method, params);
        let answer = answer_registered(&ctx, request, registered).await;
        let _ = out.send(answer).await;
    })
}

/// Dispatches a request already registered as in flight, unless the client cancels it first,
/// and encodes its answer.
pub(crate) async fn answer_registered(
    ctx: &ServeContext,
    request: Request,
    registered: (Cancelled, InFlight),
) -> Vec<u8> {
    encode(&request.id, outcome(ctx, &request, registered).await)
}

/// The outcome of a request registered as in flight: dispatched, or cancelled by the client.
async fn outcome(
    ctx: &ServeContext,
    request: &Request,
    registered: (Cancelled, InFlight),
) -> Result<RawJson, GatewayError> {
    let (cancelled, in_flight) = registered;
    // The work is written inside `select!` so that its (large) future is built where it is
    // polled rather than built and then copied there.
    let outcome = tokio::select! {
        r = dispatch::handle(&ctx.live, request) => r,
        _ = cancelled.wait() => Err(GatewayError::cancelled()),
    };
    drop(in_flight);
    outcome
}

/// A request's answer as the message that carries it.
pub(crate) fn encode(id: &RawValue, outcome: Result<RawJson, GatewayError>) -> Vec<u8> {
    match outcome {
        Ok(result) => jsonrpc::encode_result(id, &result),
        Err(error) => error.encode(Some(id)),
    }
}

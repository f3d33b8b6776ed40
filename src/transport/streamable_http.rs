//! Streamable HTTP (MCP 2025-11-25 transport): POST carries one message and is answered with
//! JSON; GET opens a server-to-client event stream; DELETE ends the session. Origin and Host are
//! checked against DNS rebinding.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::http::{admit, error_response, header_has, json, read_body, refusal, refused_at, status};
use super::{Body, ServeContext, exchange};
use crate::error::GatewayError;
use crate::protocol::jsonrpc::{self, Message};
use crate::protocol::{RawJson, mcp, sse};
use crate::session::replay::ResumeError;
use crate::session::{self, Session};
use crate::session::{Binding, Caller};

use crate::protocol::mcp::{LAST_EVENT_ID, SESSION_HEADER, VERSION_HEADER};
use crate::protocol::{methods, stateless};
/// An idle event stream sends a comment this often so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// Serves one HTTP request to the MCP endpoint of `virtual_server`.
pub(crate) async fn handle(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    peer: std::net::SocketAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    let caller = match admit(&ctx, virtual_server, &request, peer, Binding::StreamableHttp).await {
        Ok((_, caller)) => caller,
        Err(refused) => return refused,
    };
    match *request.method() {
        Method::POST => post(ctx, virtual_server, caller, request).await,
        Method::GET => get(ctx, virtual_server, &caller, request),
        Method::DELETE => delete(&ctx, virtual_server, &caller, request),
        _ => {
            let mut r = status(StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            r
        }
    }
}

/// A refusal before any message is read.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    error_response(&refusal(status, message), None, false)
}

async fn post(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    caller: Caller,
    request: Request<Incoming>,
) -> Response<Body> {
    // The headers stay with us after the body is taken (stateless requests are checked against them).
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    if !header_has(headers.get(CONTENT_TYPE), "application/json") {
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json");
    }
    if let Some(accept) = headers.get(ACCEPT)
        && !(header_has(Some(accept), "application/json") || header_has(Some(accept), "*/*"))
    {
        return refuse(StatusCode::NOT_ACCEPTABLE, "Accept must include application/json and text/event-stream");
    }
    // Without a session the body decides (a stateless request answers an unknown version itself).
    if let Some(version) = headers.get(VERSION_HEADER)
        && headers.contains_key(SESSION_HEADER)
        && !version.to_str().is_ok_and(|v| mcp::is_supported(v) || stateless::is_version(v))
    {
        let supported = stateless::all_versions().join(", ");
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("unsupported MCP-Protocol-Version {version:?}; supported: {supported}"),
        );
    }
    let session_id = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let accepts_stream = header_has(headers.get(ACCEPT), "text/event-stream");
    let body = match read_body(body, &ctx.live.snapshot().model.serving).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    if Message::is_batch(&body) {
        if session_id.is_none() && super::stateless::applies(headers, None) {
            return super::stateless::refuse_message("JSON-RPC batches are not part of the stateless protocol");
        }
        return batch(&ctx, virtual_server, &caller, session_id.as_deref(), &body, parts.uri.path()).await;
    }
    let message = match Message::parse(&body) {
        Ok(m) => m,
        Err(e) => return error_response(&GatewayError::from(e).with_status(400), None, false),
    };
    match message {
        // Stateless requests (2026-07-28) carry their version in `_meta`; `initialize` among them
        // is a removed method there, answered as such.
        Message::Request { id, method, params }
            if session_id.is_none() && super::stateless::applies(headers, params.as_deref()) =>
        {
            let path = parts.uri.path();
            super::stateless::request(ctx, virtual_server, caller, path, headers, accepts_stream, id, method, params)
                .await
        }
        Message::Request { id, method, params } if method == "initialize" => {
            match exchange::open_session(&ctx, virtual_server, caller, id, params).await {
                Ok((session, body)) => {
                    let mut response = json(StatusCode::OK, body);
                    let value = HeaderValue::from_str(&session.id).expect("hex ids are valid header values");
                    response.headers_mut().insert(SESSION_HEADER, value);
                    response
                }
                Err(refused) => refused_at(&ctx, parts.uri.path(), &refused.error, Some(&refused.id), false),
            }
        }
        Message::Request { id, method, params } => {
            let session = match find_session(&ctx, session_id.as_deref(), virtual_server, &caller) {
                Ok(s) => s,
                Err(e) => return error_response(&e, None, false),
            };
            // A request that may bring messages before its result (progress it asked for, or requests
            // an upstream makes of a client that can answer them) is answered as an event stream.
            let row = methods::find(&method);
            let may_stream = row.is_some_and(|m| m.answer == methods::Answer::MayStream);
            let wants_progress = params.as_ref().is_some_and(|p| p.get().contains("\"progressToken\""));
            let may_be_asked = row.is_some_and(|m| m.may_ask)
                && ["sampling", "elicitation", "roots"].iter().any(|c| session.supports(c));
            if accepts_stream && may_stream && (wants_progress || may_be_asked) {
                // A scope challenge needs its 403, which a stream could no longer carry.
                if let Some(e) = crate::dispatch::challenged(&ctx.live, &session, &id, &method, params.as_ref()) {
                    return refused_at(&ctx, parts.uri.path(), &e, Some(&id), false);
                }
                return stream_answer(ctx, session, id, method, params);
            }
            match exchange::answer(&ctx, &session, id, method, params).await {
                Ok(answer) => json(StatusCode::OK, answer),
                Err(refused) => refused_at(&ctx, parts.uri.path(), &refused.error, Some(&refused.id), false),
            }
        }
        Message::Notification { method, params } => {
            let session = match find_session(&ctx, session_id.as_deref(), virtual_server, &caller) {
                Ok(s) => s,
                Err(e) => return error_response(&e, None, false),
            };
            exchange::notification(&ctx, &session, &method, params.as_deref());
            status(StatusCode::ACCEPTED)
        }
        Message::Response { id, outcome } => match find_session(&ctx, session_id.as_deref(), virtual_server, &caller) {
            Ok(session) => {
                exchange::response(&session, &id, outcome);
                status(StatusCode::ACCEPTED)
            }
            Err(e) => error_response(&e, None, false),
        },
    }
}

/// The protocol version that allowed JSON-RPC batches (2025-06-18 removed them).
const BATCHING_VERSION: &str = "2025-03-26";
/// Most messages in one batch.
const MAX_BATCH: usize = 256;

/// A JSON-RPC batch: allowed only in sessions that negotiated 2025-03-26. Requests are answered
/// concurrently and their responses returned together; a batch of only notifications and
/// responses is accepted with 202.
async fn batch(
    ctx: &ServeContext,
    virtual_server: &str,
    caller: &Caller,
    session_id: Option<&str>,
    body: &[u8],
    path: &str,
) -> Response<Body> {
    let session = match find_session(ctx, session_id, virtual_server, caller) {
        Ok(s) => s,
        Err(_) if session_id.is_none() => {
            return refuse(StatusCode::BAD_REQUEST, "initialize cannot be part of a batch; send it alone");
        }
        Err(e) => return error_response(&e, None, false),
    };
    if session.protocol_version != BATCHING_VERSION {
        let message = format!("JSON-RPC batches are not allowed in protocol version {}", session.protocol_version);
        return refuse(StatusCode::BAD_REQUEST, message);
    }
    let items: Vec<RawJson> = match serde_json::from_slice(body) {
        Ok(items) => items,
        Err(e) => {
            let e = GatewayError::client(crate::error::Kind::Parse, format!("invalid JSON: {e}")).with_status(400);
            return error_response(&e, None, false);
        }
    };
    if items.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "an empty batch");
    }
    if items.len() > MAX_BATCH {
        let message =
            format!("a batch of {} messages is more than the {MAX_BATCH} allowed; send fewer at a time", items.len());
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, message);
    }
    let mut answers = Vec::new();
    let mut requests = Vec::new();
    for item in &items {
        match Message::parse(item.get().as_bytes()) {
            Err(e) => answers.push(jsonrpc::encode_error(None, &e.to_json())),
            Ok(Message::Request { id, method, .. }) if method == "initialize" => {
                answers.push(GatewayError::invalid_request("initialize cannot be part of a batch").encode(Some(&id)));
            }
            Ok(Message::Request { id, method, params }) => requests.push((id, method, params)),
            Ok(Message::Notification { method, params }) => {
                exchange::notification(ctx, &session, &method, params.as_deref())
            }
            Ok(Message::Response { id, outcome }) => exchange::response(&session, &id, outcome),
        }
    }
    if let Some(refused) = challenged_batch(ctx, &session, &requests, &answers, path) {
        return refused;
    }
    let session = &session;
    // Each request takes one of the session's slots, like those of the stream transports, so a
    // batch runs no more at once than a session may.
    let answered = requests.into_iter().map(|(id, method, params)| async move {
        let Ok(_slot) = session.slots.acquire().await else {
            return GatewayError::invalid_request("the session ended").encode(Some(&id));
        };
        exchange::answer(ctx, session, id, method, params).await.unwrap_or_else(|refused| refused.encode())
    });
    answers.extend(futures_util::future::join_all(answered).await);
    if answers.is_empty() {
        return status(StatusCode::ACCEPTED);
    }
    json(StatusCode::OK, json_array(&answers))
}

/// A batch in which some request meets a scope challenge is refused whole, before any of its
/// requests runs (its notifications and responses were taken already): the 403 and
/// `WWW-Authenticate` the challenge needs belong to the HTTP response, which the batch's other
/// answers share. The challenge names every scope the batch needs; each request needing some is
/// answered with its own refusal, the others as not run, after the answers already made
/// (`answered`: messages that were invalid, or not allowed in a batch).
fn challenged_batch(
    ctx: &ServeContext,
    session: &Arc<Session>,
    requests: &[(RawJson, String, Option<RawJson>)],
    answered: &[Vec<u8>],
    path: &str,
) -> Option<Response<Body>> {
    if ctx.live.snapshot().policy.is_empty() {
        return None;
    }
    let refusals: Vec<Option<GatewayError>> = requests
        .iter()
        .map(|(id, method, params)| crate::dispatch::challenged(&ctx.live, session, id, method, params.as_ref()))
        .collect();
    let mut scopes: Vec<String> = Vec::new();
    for scope in refusals.iter().flatten().filter_map(|e| e.challenge.as_ref()).flat_map(|c| &c.scope) {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    let first = refusals.iter().flatten().next()?;
    let needs = format!("this batch needs a token with the scopes {}", scopes.join(" "));
    let mut whole = GatewayError::new(first.kind, first.source, needs.clone());
    whole.challenge = first.challenge.clone().map(|c| crate::error::Challenge {
        scope: scopes,
        error: c.error.map(|(code, _)| (code, needs.clone())),
        ..c
    });
    let answers: Vec<Vec<u8>> = answered
        .iter()
        .cloned()
        .chain(requests.iter().zip(&refusals).map(|((id, ..), refusal)| match refusal {
            Some(e) => e.encode(Some(id)),
            None => GatewayError::new(first.kind, first.source, format!("not run: {needs}")).encode(Some(id)),
        }))
        .collect();
    let mut response = refused_at(ctx, path, &whole, None, false);
    *response.body_mut() = super::full(json_array(&answers));
    Some(response)
}

/// Answers (each a JSON value) as one JSON array.
fn json_array(answers: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(answers.iter().map(|a| a.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, answer) in answers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(answer);
    }
    out.push(b']');
    out
}

/// Answers one request as an event stream: messages the upstream sends about it (progress,
/// requests to the client) first, then the result. The stream is resumable (`Last-Event-ID`)
/// for versions that define it: a dropped connection leaves the request running for
/// `serving.resume_window`, and only then cancels it upstream.
pub(super) fn stream_answer(
    ctx: Arc<ServeContext>,
    session: Arc<Session>,
    id: RawJson,
    method: String,
    params: Option<RawJson>,
) -> Response<Body> {
    let window = ctx.live.snapshot().model.serving.resume_window;
    let registered = session.begin(&id);
    let keeper = ctx.clone();
    let work = {
        let session = session.clone();
        move |tx| async move {
            let request = crate::dispatch::Request::new(id, crate::session::Link::new(&session, tx), method, params);
            exchange::answer_registered(&ctx, request, registered).await
        }
    };
    if window.is_zero() || !mcp::has_resumable_streams(&session.protocol_version) {
        return super::event_stream::of(work);
    }
    session.replays().prune(window);
    let replay = session.replays().open();
    if mcp::primes_streams(&session.protocol_version) {
        replay.push_priming(RETRY);
    }
    let (task, mut rx) = super::event_stream::spawn_answering(work);
    replay.set_work(task.abort_handle());
    let attached = replay.attach(None, window).expect("a new stream has every event");
    // Events are held whether or not a connection reads them, so the request runs on regardless.
    tokio::spawn(async move {
        while let Some(message) = rx.recv().await.filter(|m| !m.is_empty()) {
            replay.deliver(&message).await;
        }
        replay.finish();
    });
    replayed_stream(keeper, session.id.clone(), attached)
}

/// How soon a client whose stream dropped should come back (the `retry` of the priming event).
const RETRY: Duration = Duration::from_secs(1);

/// The response body for a connection attached to a resumable stream: its events, with a
/// comment now and then so proxies keep an idle stream open (an open stream also keeps its session
/// from expiring); it ends when the gateway stops or the session is gone.
fn replayed_stream(ctx: Arc<ServeContext>, session_id: String, attached: session::replay::Attached) -> Response<Body> {
    let state = (attached, ctx, session_id);
    let stream = futures_util::stream::unfold(state, |(mut attached, ctx, session_id)| async move {
        let mut shutting_down = ctx.shutting_down.clone();
        let data = tokio::select! {
            frame = attached.next() => frame?,
            _ = tokio::time::sleep(KEEP_ALIVE) => {
                ctx.sessions.get(&session_id)?;
                Bytes::from_static(b": keep-alive\n\n")
            }
            _ = async { let _ = shutting_down.wait_for(|s| *s).await; } => return None,
        };
        let frame: Result<Frame<Bytes>, Infallible> = Ok(Frame::data(data));
        Some((frame, (attached, ctx, session_id)))
    });
    super::event_stream::response(BodyExt::boxed(StreamBody::new(stream)))
}

/// A GET with `Last-Event-ID`: the rest of a request's event stream, from after that event.
fn resume(ctx: &Arc<ServeContext>, session: &Session, last_event_id: &str, window: Duration) -> Response<Body> {
    let found = session.replays().find(last_event_id).and_then(|(replay, after)| replay.attach(Some(after), window));
    let (code, message) = match found {
        Ok(attached) => return replayed_stream(ctx.clone(), session.id.clone(), attached),
        Err(ResumeError::Malformed) => {
            (StatusCode::BAD_REQUEST, format!("Last-Event-ID {last_event_id:?} is not an event id this gateway sent"))
        }
        Err(ResumeError::Gone) => (
            StatusCode::GONE,
            format!("the stream of event {last_event_id:?} is no longer held; it ended over {window:?} ago"),
        ),
        Err(ResumeError::Gap) => (
            StatusCode::GONE,
            format!("events after {last_event_id:?} are no longer held; the client fell too far behind"),
        ),
    };
    refuse(code, message)
}

/// The server-to-client stream: list changes of this session's virtual server.
fn get(ctx: Arc<ServeContext>, virtual_server: &str, caller: &Caller, request: Request<Incoming>) -> Response<Body> {
    if !header_has(request.headers().get(ACCEPT), "text/event-stream") {
        return refuse(StatusCode::NOT_ACCEPTABLE, "Accept must include text/event-stream");
    }
    let session_id = request.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok());
    let session = match find_session(&ctx, session_id, virtual_server, caller) {
        Ok(s) => s,
        Err(e) => return error_response(&e, None, false),
    };
    let window = ctx.live.snapshot().model.serving.resume_window;
    if let Some(last) = request.headers().get(LAST_EVENT_ID) {
        return resume(&ctx, &session, last.to_str().unwrap_or_default(), window);
    }
    if window.is_zero() || !mcp::has_resumable_streams(&session.protocol_version) {
        return passing_stream(ctx, session);
    }
    let (replay, created) = session.replays().standalone();
    if created {
        tokio::spawn(feed_standalone(ctx.clone(), session.clone(), replay.clone()));
    }
    let prime = mcp::primes_streams(&session.protocol_version).then_some(RETRY);
    replayed_stream(ctx.clone(), session.id.clone(), replay.attach_new(prime, window))
}

/// Feeds a session's own stream for as long as the session lives, connected or not, so a client
/// that reconnects with `Last-Event-ID` misses nothing.
async fn feed_standalone(ctx: Arc<ServeContext>, session: Arc<Session>, replay: Arc<session::replay::Replay>) {
    let (ended_tx, mut ended) = tokio::sync::oneshot::channel::<()>();
    session.on_end(Box::new(move || {
        let _ = ended_tx.send(());
    }));
    let mut events = ctx.live.events();
    let mut shutting_down = ctx.shutting_down.clone();
    loop {
        let note = tokio::select! {
            note = events.next(&session) => note,
            _ = &mut ended => None,
            _ = shutting_down.wait_for(|s| *s) => None,
        };
        let Some(note) = note else { break };
        replay.deliver(&note).await;
    }
    replay.finish();
}

/// A session's own stream without event ids (versions before 2025-03-26, or resumption off).
fn passing_stream(ctx: Arc<ServeContext>, session: Arc<Session>) -> Response<Body> {
    let events = ctx.live.events();
    let stream = futures_util::stream::unfold((ctx, session, events), |(ctx, session, mut events)| async move {
        let mut shutting_down = ctx.shutting_down.clone();
        let data = tokio::select! {
            note = events.next(&session) => Bytes::from(sse::encode(&note?, None)),
            _ = tokio::time::sleep(KEEP_ALIVE) => {
                ctx.sessions.get(&session.id)?;
                Bytes::from_static(b": keep-alive\n\n")
            }
            _ = async { let _ = shutting_down.wait_for(|s| *s).await; } => return None,
        };
        let frame: Result<Frame<Bytes>, Infallible> = Ok(Frame::data(data));
        Some((frame, (ctx, session, events)))
    });
    super::event_stream::response(BodyExt::boxed(StreamBody::new(stream)))
}

fn delete(ctx: &ServeContext, virtual_server: &str, caller: &Caller, request: Request<Incoming>) -> Response<Body> {
    let Some(id) = request.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
        return refuse(StatusCode::BAD_REQUEST, "Mcp-Session-Id header is required");
    };
    if find_session(ctx, Some(id), virtual_server, caller).is_ok() && ctx.sessions.remove(id) {
        tracing::info!(session = %id, "client session ended");
        status(StatusCode::NO_CONTENT)
    } else {
        status(StatusCode::NOT_FOUND)
    }
}

/// The session a request names. A session belongs to the virtual server and the caller that
/// opened it: presented by anyone else it does not exist (404, the same as an unknown id, so a
/// stolen id tells nothing).
fn find_session(
    ctx: &ServeContext,
    id: Option<&str>,
    virtual_server: &str,
    caller: &Caller,
) -> Result<Arc<Session>, GatewayError> {
    let Some(id) = id else {
        return Err(refusal(StatusCode::BAD_REQUEST, "Mcp-Session-Id header is required; send initialize first"));
    };
    let unknown = || refusal(StatusCode::NOT_FOUND, "unknown or expired session; send initialize again");
    // A legacy SSE session's id names nothing here: each binding keeps to its own sessions.
    let session = ctx
        .sessions
        .get(id)
        .filter(|s| s.virtual_server == virtual_server && s.caller.binding == Binding::StreamableHttp)
        .ok_or_else(unknown)?;
    if !session.caller.identity.same_as(&caller.identity) {
        tracing::warn!(session = %id, subject = ?caller.identity.subject(), "a session presented by a caller other than its own");
        return Err(unknown());
    }
    // The same caller, perhaps with a refreshed token: upstreams get the latest.
    session.present(caller);
    Ok(session)
}

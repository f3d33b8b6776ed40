//! Legacy HTTP+SSE (the 2024-11-05 transport): `GET …/sse` opens the session's event stream and
//! names the endpoint for its messages; each `POST …/messages?session_id=…` carries one message and
//! is answered 202, with the response sent on the stream. Closing the stream ends the session.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::mpsc;

use super::http::{admit, error_response, header_has, read_body, refusal, status};
use super::{Body, ServeContext, exchange};
use crate::error::{GatewayError, Kind, Source};
use crate::protocol::jsonrpc::Message;
use crate::protocol::sse;
use crate::session::{Binding, Session};

/// An idle stream sends a comment this often so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(20);
/// Messages queued for a client that is not reading; beyond this, the session's senders wait.
const QUEUE: usize = 256;

/// `GET …/sse`: opens a session and its stream. `messages_path` is where its POSTs go.
pub(crate) async fn open(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    peer: std::net::SocketAddr,
    messages_path: &str,
    request: Request<Incoming>,
) -> Response<Body> {
    let (snapshot, caller) = match admit(&ctx, virtual_server, &request, peer, Binding::Sse).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    if request.method() != Method::GET {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    let accept = request.headers().get(ACCEPT);
    if accept.is_some() && !header_has(accept, "text/event-stream") && !header_has(accept, "*/*") {
        return error_response(
            &refusal(StatusCode::NOT_ACCEPTABLE, "Accept must include text/event-stream"),
            None,
            false,
        );
    }
    if ctx.sessions.len() >= snapshot.model.serving.max_sessions {
        let e = GatewayError::new(Kind::TooManySessions, Source::Gateway, "too many client sessions; try again later");
        return error_response(&e, None, false);
    }
    let session = ctx.sessions.create(virtual_server, "2024-11-05", caller);
    let (tx, rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let _ = session.stream.set(tx);
    tracing::info!(session = %session.id, %virtual_server, "SSE client session started");

    let endpoint = format!("event: endpoint\ndata: {messages_path}?session_id={}\n\n", session.id);
    let state = Stream { ctx: ctx.clone(), session: session.clone(), rx, events: ctx.live.events(), ended: false };
    let first: Result<Frame<Bytes>, Infallible> = Ok(Frame::data(Bytes::from(endpoint)));
    let rest =
        futures_util::stream::unfold(state, |mut state| async move { state.next().await.map(|f| (Ok(f), state)) });
    let body = futures_util::StreamExt::chain(futures_util::stream::iter([first]), rest);
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(body)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `POST …/messages?session_id=…`: one message of an SSE session; its answer goes on the stream.
/// Only the caller that opened the session may post to it.
pub(crate) async fn post(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    peer: std::net::SocketAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    let (snapshot, caller) = match admit(&ctx, virtual_server, &request, peer, Binding::Sse).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    if request.method() != Method::POST {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    let id = request.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("session_id=")));
    let session = match id.and_then(|id| ctx.sessions.get(id)) {
        Some(s)
            if s.virtual_server == virtual_server
                && s.stream.get().is_some()
                && s.caller.identity.same_as(&caller.identity) =>
        {
            s
        }
        _ => {
            let e = refusal(StatusCode::NOT_FOUND, "unknown session_id; open GET …/sse first");
            return error_response(&e, None, false);
        }
    };
    session.present(&caller);
    if !header_has(request.headers().get(hyper::header::CONTENT_TYPE), "application/json") {
        let e = refusal(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json");
        return error_response(&e, None, false);
    }
    let body = match read_body(request.into_body(), &snapshot.model.serving).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let out = session.stream.get().expect("checked above").clone();
    match Message::parse(&body) {
        Err(e) => return error_response(&GatewayError::from(e).with_status(400), None, false),
        Ok(Message::Request { id, method, params }) if method == "initialize" => {
            let answer =
                exchange::initialize(&ctx, &session, id, params).await.unwrap_or_else(|refused| refused.encode());
            let _ = out.send(answer).await;
        }
        Ok(Message::Request { id, method, .. }) if method != "ping" && !session.has_initialized() => {
            // Before initialize only ping is allowed; the refusal goes where answers go, the stream.
            let _ = out.send(GatewayError::invalid_request("send initialize first").encode(Some(&id))).await;
        }
        Ok(Message::Request { id, method, params }) => {
            // The POST waits while the session has too many requests running.
            match exchange::queued_answer(ctx, session, id, method, params, out).await {
                Some(work) => drop(tokio::spawn(work)),
                None => return status(StatusCode::GONE),
            }
        }
        Ok(Message::Notification { method, params }) => {
            exchange::notification(&ctx, &session, &method, params.as_deref())
        }
        Ok(Message::Response { id, outcome }) => exchange::response(&session, &id, outcome),
    }
    status(StatusCode::ACCEPTED)
}

/// The event stream of one session. Dropping it (the client disconnected) ends the session.
struct Stream {
    ctx: Arc<ServeContext>,
    session: Arc<Session>,
    rx: mpsc::Receiver<Vec<u8>>,
    events: crate::session::SessionEvents,
    ended: bool,
}

impl Stream {
    async fn next(&mut self) -> Option<Frame<Bytes>> {
        if self.ended {
            return None;
        }
        let mut shutting_down = self.ctx.shutting_down.clone();
        let data = tokio::select! {
            message = self.rx.recv() => Bytes::from(sse::encode(&message?, None)),
            note = self.events.next(&self.session) => Bytes::from(sse::encode(&note?, None)),
            _ = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b": keep-alive\n\n"),
            _ = async { let _ = shutting_down.wait_for(|s| *s).await; } => {
                self.ended = true;
                return None;
            }
        };
        Some(Frame::data(data))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.ctx.sessions.remove(&self.session.id);
        self.session.end();
        tracing::info!(session = %self.session.id, "SSE client session ended");
    }
}

//! Plain JSON-RPC over HTTP, for scripts and curl: `POST /rpc` (or `/servers/<name>/rpc`) with one
//! message, answered with one JSON response. No session: every request stands alone, so there is
//! no `initialize` to send first (one is answered, for clients that send it anyway).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::http::{admit, error_response, json, read_body, refusal, refused_at};
use super::{Body, ServeContext, empty, exchange};
use crate::error::GatewayError;
use crate::protocol::jsonrpc::Message;
use crate::protocol::mcp;
use crate::session::{Binding, Session};

/// Serves one HTTP request to the JSON-RPC endpoint of `virtual_server`.
pub(crate) async fn handle(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    peer: std::net::SocketAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    let (snapshot, caller) = match admit(&ctx, virtual_server, &request, peer, Binding::JsonRpc).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    if request.method() != Method::POST {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        r.headers_mut().insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let refuse = |status: StatusCode, message: String| error_response(&refusal(status, message), None, false);
    if !is_json {
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json".into());
    }
    let path = request.uri().path().to_string();
    let body = match read_body(request.into_body(), &snapshot.model.serving).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    if Message::is_batch(&body) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "JSON-RPC batches are not supported; send one message per request".into(),
        );
    }
    match Message::parse(&body) {
        Err(e) => error_response(&GatewayError::from(e).with_status(400), None, false),
        // No session: each request stands alone on a detached one (an `initialize` is answered,
        // for clients that send one anyway).
        Ok(Message::Request { id, method, params }) => {
            let session = Session::detached(virtual_server, mcp::LATEST_VERSION, caller);
            if method == "initialize" {
                return match exchange::initialize(&ctx, &session, id, params).await {
                    Ok(answer) => json(StatusCode::OK, answer),
                    Err(refused) => refused_at(&ctx, &path, &refused.error, Some(&refused.id), false),
                };
            }
            match exchange::answer(&ctx, &session, id, method, params).await {
                Ok(answer) => json(StatusCode::OK, answer),
                Err(refused) => refused_at(&ctx, &path, &refused.error, Some(&refused.id), false),
            }
        }
        Ok(Message::Notification { .. } | Message::Response { .. }) => {
            let mut r = Response::new(empty());
            *r.status_mut() = StatusCode::ACCEPTED;
            r
        }
    }
}

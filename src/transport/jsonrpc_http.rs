//! Plain JSON-RPC over HTTP, for scripts and curl: `POST /rpc` (or `/servers/<name>/rpc`) with one
//! message, answered with one JSON response. No session: every request stands alone, so there is
//! no `initialize` to send first (one is answered, for clients that send it anyway).

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::http::{admit, json};
use super::{Body, ServeContext, empty, exchange};
use crate::protocol::jsonrpc::{self, Message, RpcError};
use crate::protocol::mcp;
use crate::session::{Binding, Caller, Session};

/// Serves one HTTP request to the JSON-RPC endpoint of `virtual_server`.
pub async fn handle(ctx: Arc<ServeContext>, virtual_server: &str, request: Request<Incoming>) -> Response<Body> {
    let snapshot = match admit(&ctx, virtual_server, &request) {
        Ok(s) => s,
        Err(refusal) => return refusal.into_response(),
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
    if !is_json {
        let e = RpcError::new(jsonrpc::INVALID_REQUEST, "Content-Type must be application/json");
        return json(StatusCode::UNSUPPORTED_MEDIA_TYPE, jsonrpc::encode_error(None, &e.to_json()));
    }
    let limit = snapshot.model.serving.max_body_bytes;
    let Ok(body) = Limited::new(request.into_body(), limit).collect().await.map(|b| b.to_bytes()) else {
        let e = RpcError::new(jsonrpc::INVALID_REQUEST, format!("the request body is larger than {limit} bytes"));
        return json(StatusCode::PAYLOAD_TOO_LARGE, jsonrpc::encode_error(None, &e.to_json()));
    };
    if Message::is_batch(&body) {
        let e =
            RpcError::new(jsonrpc::INVALID_REQUEST, "JSON-RPC batches are not supported; send one message per request");
        return json(StatusCode::BAD_REQUEST, jsonrpc::encode_error(None, &e.to_json()));
    }
    match Message::parse(&body) {
        Err(e) => json(StatusCode::BAD_REQUEST, jsonrpc::encode_error(None, &e.to_json())),
        Ok(Message::Request { id, method, params }) if method == "initialize" => {
            let version = exchange::negotiated_version(params.as_deref());
            json(StatusCode::OK, exchange::initialize_response(&id, version, virtual_server))
        }
        Ok(Message::Request { id, method, params }) => {
            let session =
                Session::detached(virtual_server, mcp::LATEST_VERSION, Caller::anonymous(Binding::JsonRpc, None));
            json(StatusCode::OK, exchange::answer(&ctx, &session, &id, &method, params.as_deref(), None).await)
        }
        Ok(Message::Notification { .. } | Message::Response { .. }) => {
            let mut r = Response::new(empty());
            *r.status_mut() = StatusCode::ACCEPTED;
            r
        }
    }
}

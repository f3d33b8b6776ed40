//! What the HTTP bindings share: admission (the DNS-rebinding checks on Origin and Host, then
//! authentication), refusals with their challenge, and small response builders.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, ORIGIN, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use serde_json::value::RawValue;

use super::{Body, ServeContext, empty, full};
use crate::auth::Credentials;
use crate::error::{Challenge, GatewayError};
use crate::live::Snapshot;
use crate::model::Serving;
use crate::session::{Binding, Caller, ClientHeaders};

/// A request refused before dispatch, with the HTTP status the transport prescribes.
pub(super) fn refusal(status: StatusCode, message: impl Into<String>) -> GatewayError {
    GatewayError::invalid_request(message).with_status(status.as_u16())
}

/// An error as an HTTP answer (the status `GatewayError::http_status` gives the era). An error
/// that challenges the client's credentials needs `refused_at`, which names the metadata.
pub(super) fn error_response(e: &GatewayError, id: Option<&RawValue>, stateless: bool) -> Response<Body> {
    json(StatusCode::from_u16(e.http_status(stateless)).unwrap_or(StatusCode::OK), e.encode(id))
}

/// An error as the HTTP answer to a request for the endpoint at `path`, with `WWW-Authenticate`
/// when it challenges the client's credentials.
pub(super) fn refused_at(
    ctx: &ServeContext,
    path: &str,
    e: &GatewayError,
    id: Option<&RawValue>,
    stateless: bool,
) -> Response<Body> {
    let mut response = error_response(e, id, stateless);
    if let Some(challenge) = &e.challenge {
        let metadata = challenge
            .metadata
            .then(|| super::metadata::url_for(&ctx.live.snapshot().model.serving, &ctx.local_addr, path))
            .flatten();
        if let Some(value) =
            www_authenticate(challenge, metadata.as_deref()).and_then(|v| HeaderValue::from_str(&v).ok())
        {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// A challenge as `WWW-Authenticate` (RFC 6750 for Bearer, with RFC 9728's `resource_metadata`).
fn www_authenticate(challenge: &Challenge, metadata: Option<&str>) -> Option<String> {
    let quoted = |text: &str| text.replace(['"', '\\'], "'");
    let mut challenges = Vec::new();
    if challenge.bearer {
        let mut params = Vec::new();
        if let Some(url) = metadata {
            params.push(format!("resource_metadata=\"{url}\""));
        }
        if let Some((code, why)) = &challenge.error {
            params.push(format!("error=\"{code}\""));
            params.push(format!("error_description=\"{}\"", quoted(why)));
        }
        if !challenge.scope.is_empty() {
            params.push(format!("scope=\"{}\"", quoted(&challenge.scope.join(" "))));
        }
        challenges.push(if params.is_empty() { "Bearer".to_string() } else { format!("Bearer {}", params.join(", ")) });
    }
    if challenge.basic {
        challenges.push("Basic realm=\"mcpgw\", charset=\"UTF-8\"".to_string());
    }
    (!challenges.is_empty()).then(|| challenges.join(", "))
}

/// The checks every HTTP endpoint of a virtual server makes first: Origin and Host, that the
/// virtual server exists, then who is calling. A refusal comes as the answer to send (401 with a
/// challenge when the virtual server needs credentials the request lacks).
pub(super) async fn admit(
    ctx: &ServeContext,
    virtual_server: &str,
    request: &Request<Incoming>,
    peer: SocketAddr,
    binding: Binding,
) -> Result<(Arc<Snapshot>, Caller), Response<Body>> {
    let snapshot = ctx.live.snapshot();
    let refuse = |e: GatewayError| refused_at(ctx, request.uri().path(), &e, None, false);
    check_origin_and_host(request, &snapshot.model.serving, &ctx.local_addr).map_err(refuse)?;
    if snapshot.table.catalog(virtual_server).is_none() {
        return Err(refuse(refusal(StatusCode::NOT_FOUND, format!("no virtual server \"{virtual_server}\""))));
    }
    let credentials = credentials(request);
    let loopback = ctx.local_addr.ip().is_loopback();
    let caller = snapshot.gate.authenticate(virtual_server, &credentials, Some(peer), binding, loopback).await;
    let mut caller = caller.map_err(refuse)?;
    caller.presented = kept_headers(&snapshot.kept_headers, request.headers());
    Ok((snapshot, caller))
}

/// The request headers upstreams are to receive (none are kept when no upstream asks).
fn kept_headers(wanted: &[String], headers: &hyper::HeaderMap) -> Option<Arc<ClientHeaders>> {
    if wanted.is_empty() {
        return None;
    }
    let kept: Vec<(String, String)> = wanted
        .iter()
        .filter_map(|name| Some((name.clone(), headers.get(name.as_str())?.to_str().ok()?.to_string())))
        .collect();
    Some(Arc::new(ClientHeaders(kept)))
}

/// The verified client certificate (DER of the leaf) of the TLS connection a request came on.
#[derive(Clone)]
pub(crate) struct PeerCertificate(pub Arc<[u8]>);

/// The credentials a request presents: `Authorization` and `X-API-Key`, and whether its query
/// string tries to carry a token (refused: query strings end up in logs).
fn credentials(request: &Request<Incoming>) -> Credentials<'_> {
    let headers = request.headers();
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let query_token = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("access_token=") || kv.starts_with("api_key=")));
    let certificate = request.extensions().get::<PeerCertificate>().map(|c| &*c.0);
    Credentials { authorization: text(AUTHORIZATION.as_str()), api_key: text(API_KEY_HEADER), query_token, certificate }
}

/// The header an API key may come in (or `Authorization: Bearer <key>`).
const API_KEY_HEADER: &str = "x-api-key";

/// Host names accepted on a loopback listener when the file lists none.
const LOOPBACK_HOSTS: [&str; 4] = ["localhost", "127.0.0.1", "[::1]", "::1"];

/// The refusal a request to a path outside the MCP endpoints (`/healthz`, `/readyz`) gets when
/// its Origin or Host fails the DNS-rebinding checks: a page must not read upstream states either.
pub(crate) fn screen(ctx: &ServeContext, request: &Request<Incoming>) -> Option<Response<Body>> {
    let snapshot = ctx.live.snapshot();
    check_origin_and_host(request, &snapshot.model.serving, &ctx.local_addr)
        .err()
        .map(|e| error_response(&e, None, false))
}

/// DNS-rebinding defence: a browser page must not reach a local gateway through a name it controls.
fn check_origin_and_host(
    request: &Request<Incoming>,
    serving: &Serving,
    bound: &SocketAddr,
) -> Result<(), GatewayError> {
    if let Some(origin) = request.headers().get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let allowed = if serving.allowed_origins.is_empty() {
            url::Url::parse(origin).ok().and_then(|u| u.host_str().map(is_loopback_name)).unwrap_or(false)
        } else {
            serving.allowed_origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
        };
        if !allowed {
            let message = format!("origin {origin:?} is not allowed; list it under serving.allowed_origins");
            return Err(refusal(StatusCode::FORBIDDEN, message));
        }
    }
    // Two Host headers would leave the check and a proxy behind it disagreeing on which counts.
    if request.headers().get_all(HOST).iter().nth(1).is_some() {
        return Err(refusal(StatusCode::BAD_REQUEST, "more than one Host header"));
    }
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let name = host.map(strip_port).unwrap_or("");
    let allowed = match &serving.allowed_hosts {
        Some(listed) => listed.iter().any(|h| h.eq_ignore_ascii_case(name)),
        None if bound.ip().is_loopback() => LOOPBACK_HOSTS.iter().any(|h| h.eq_ignore_ascii_case(name)),
        None => true,
    };
    if !allowed {
        let message = format!("host {name:?} is not allowed; list it under serving.allowed_hosts");
        return Err(refusal(StatusCode::FORBIDDEN, message));
    }
    Ok(())
}

fn is_loopback_name(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// A request's body: at most `serving.max_body_bytes`, arriving within `serving.body_timeout`;
/// else the answer to send (413, or 408 for a body trickled or stalled).
pub(super) async fn read_body(body: Incoming, serving: &Serving) -> Result<bytes::Bytes, Response<Body>> {
    use http_body_util::{BodyExt, Limited};
    let limit = serving.max_body_bytes;
    match tokio::time::timeout(serving.body_timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(_)) => Err(error_response(
            &refusal(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than {limit} bytes")),
            None,
            false,
        )),
        Err(_) => Err(error_response(
            &refusal(
                StatusCode::REQUEST_TIMEOUT,
                format!("the request body did not arrive within {:?}", serving.body_timeout),
            ),
            None,
            false,
        )),
    }
}

/// Whether a comma-separated header (Accept, Content-Type) has an entry starting with `wanted`.
pub(super) fn header_has(value: Option<&HeaderValue>, wanted: &str) -> bool {
    value.and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|part| part.trim().starts_with(wanted)))
}

pub(super) fn json(code: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = code;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(super) fn status(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = code;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(strip_port("localhost:4444"), "localhost");
        assert_eq!(strip_port("[::1]:4444"), "[::1]");
        assert_eq!(strip_port("example.com"), "example.com");
    }
}

//! OAuth 2.0 Protected Resource Metadata (RFC 9728), which the MCP authorization specification
//! asks of a resource server: each endpoint of a virtual server that accepts JSON Web Tokens has
//! a document at `/.well-known/oauth-protected-resource` + the endpoint's path naming the
//! resource (the endpoint's public URL, built from `serving.public_url`, never from request
//! headers a client controls), the issuers that grant tokens for it, and the scopes it knows.
//! A 401 from that endpoint points at the document (`WWW-Authenticate: Bearer resource_metadata=…`).

use std::net::SocketAddr;

use hyper::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde_json::json;

use super::{Body, ServeContext, empty, full};
use crate::model::auth::Auth;
use crate::model::{DEFAULT_SERVER, Serving};

/// Where the documents are served.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The URL clients reach the gateway at: `serving.public_url`, or `http://` (`https://` when the
/// listener serves TLS) and the bound address (none when bound to every interface: no one
/// address names it).
fn base(serving: &Serving, bound: &SocketAddr) -> Option<String> {
    match &serving.public_url {
        Some(url) => Some(url.as_str().trim_end_matches('/').to_string()),
        None if bound.ip().is_unspecified() => None,
        None => Some(format!("{}://{bound}", if serving.tls.is_some() { "https" } else { "http" })),
    }
}

/// The metadata URL for the endpoint at `path`, the `resource_metadata` of a challenge.
pub(super) fn url_for(serving: &Serving, bound: &SocketAddr, path: &str) -> Option<String> {
    let base = url::Url::parse(&base(serving, bound)?).ok()?;
    let origin = base.origin().ascii_serialization();
    let prefix = base.path().trim_end_matches('/');
    Some(format!("{origin}{WELL_KNOWN}{prefix}{path}"))
}

/// `GET /.well-known/oauth-protected-resource<rest>`.
pub(crate) fn serve(ctx: &ServeContext, method: &Method, rest: &str) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return r;
    }
    let snapshot = ctx.live.snapshot();
    let serving = &snapshot.model.serving;
    let Some(base) = base(serving, &ctx.local_addr) else {
        return not_found(
            "the gateway listens on every interface and serving.public_url is not set, so it cannot name its resources",
        );
    };
    // A public URL with a path (a proxy's prefix) puts the endpoint paths under it.
    let prefix = url::Url::parse(&base).map(|u| u.path().trim_end_matches('/').to_string()).unwrap_or_default();
    let endpoint = match rest {
        // The root names the one virtual server there is, when there is one.
        "" | "/" => match &snapshot.model.virtual_servers[..] {
            [only] if only.name == DEFAULT_SERVER => "/mcp".to_string(),
            [only] => format!("/servers/{}/mcp", only.name),
            _ => {
                return not_found(
                    "several virtual servers: ask for the metadata of one endpoint, e.g. /.well-known/oauth-protected-resource/mcp",
                );
            }
        },
        _ => rest.strip_prefix(prefix.as_str()).filter(|r| r.starts_with('/')).unwrap_or(rest).to_string(),
    };
    let virtual_server = match endpoint.as_str() {
        "/mcp" | "/sse" | "/ws" | "/rpc" => DEFAULT_SERVER,
        _ => match endpoint.strip_prefix("/servers/").and_then(|r| r.rsplit_once('/')) {
            Some((name, "mcp" | "sse" | "ws" | "rpc")) if !name.contains('/') => name,
            _ => return not_found(&format!("{endpoint} is not an MCP endpoint of this gateway")),
        },
    };
    if snapshot.table.catalog(virtual_server).is_none() {
        return not_found(&format!("no virtual server \"{virtual_server}\""));
    }
    let Auth::Required(methods) = snapshot.model.auth_for(virtual_server) else {
        return not_found(&format!("{endpoint} does not take OAuth access tokens"));
    };
    let Some(jwt) = &methods.jwt else {
        return not_found(&format!("{endpoint} does not take OAuth access tokens"));
    };
    let mut document = json!({
        "resource": format!("{base}{endpoint}"),
        "authorization_servers": jwt.issuers.iter().map(|i| i.issuer.as_str()).collect::<Vec<_>>(),
        "bearer_methods_supported": ["header"],
        "resource_name": format!("mcpgw {virtual_server}"),
    });
    if !jwt.scopes.is_empty() {
        document["scopes_supported"] = json!(jwt.scopes);
    }
    let mut response = Response::new(full(serde_json::to_vec(&document).expect("JSON values serialize")));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Public by design, and read by browser-based clients from other origins.
    response.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

fn not_found(why: &str) -> Response<Body> {
    let mut r = Response::new(full(format!("{why}\n")));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

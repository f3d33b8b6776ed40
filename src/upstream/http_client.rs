//! The HTTP client of MCP upstreams (streamable HTTP and legacy HTTP+SSE): hyper's pooled client
//! over rustls. MCP messages are never redirected, retried by the transport or sent through a
//! proxy, so a request here is exactly one exchange on a pooled connection, with none of a
//! general-purpose client's per-request layers. This is the gateway's hot path: every forwarded
//! call passes through `Outgoing::send`. (REST upstreams use reqwest: they need redirects,
//! retries and a guarded resolver.)

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::UpstreamError;
use crate::model::Secret;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per host: enough for the concurrency one upstream sees in practice.
const POOL_MAX_IDLE: usize = 256;

/// One upstream's client: its connection pools and the configured headers every request carries.
pub(super) struct HttpClient {
    /// One pool per serving thread (and one for every other thread), so that a call and the
    /// upstream connection it uses live on the same thread (see `crate::workers`).
    pools: Box<[Client<HttpsConnector<HttpConnector>, Full<Bytes>>]>,
    headers: HeaderMap,
}

impl HttpClient {
    /// `headers` are the upstream's configured headers; secret values are marked sensitive, so
    /// they never appear in `Debug` output.
    pub(super) fn new(name: &str, headers: &[(String, Secret)]) -> Result<Self, UpstreamError> {
        let tls = tls_config().map_err(|e| UpstreamError::Transport(name.into(), e))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let pools = (0..=crate::workers::count())
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                    .pool_max_idle_per_host(POOL_MAX_IDLE)
                    .pool_timer(TokioTimer::new())
                    .build(connector.clone())
            })
            .collect();
        Ok(HttpClient { pools, headers: header_map(name, headers)? })
    }

    pub(super) fn get(&self, uri: &Uri) -> Outgoing<'_> {
        self.request(Method::GET, uri)
    }

    pub(super) fn post(&self, uri: &Uri) -> Outgoing<'_> {
        self.request(Method::POST, uri)
    }

    pub(super) fn delete(&self, uri: &Uri) -> Outgoing<'_> {
        self.request(Method::DELETE, uri)
    }

    fn request(&self, method: Method, uri: &Uri) -> Outgoing<'_> {
        let mut request = Request::new(Full::default());
        *request.method_mut() = method;
        *request.uri_mut() = uri.clone();
        Outgoing { client: self, request, invalid: None }
    }
}

/// A request being built; `send` adds the upstream's configured headers where the request has
/// not set them.
pub(super) struct Outgoing<'a> {
    client: &'a HttpClient,
    request: Request<Full<Bytes>>,
    /// A header that could not be set, reported by `send`.
    invalid: Option<String>,
}

impl Outgoing<'_> {
    /// Sets a header. Constant names and values (`HeaderName`, `HeaderValue::from_static`) cost
    /// no parsing; text is checked here and a bad header fails the send.
    pub(super) fn header<K: TryInto<HeaderName>, V: TryInto<HeaderValue>>(mut self, name: K, value: V) -> Self {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.request.headers_mut().insert(name, value);
            }
            (Ok(name), Err(_)) => self.invalid = Some(format!("invalid value for header {name}")),
            (Err(_), _) => self.invalid = Some("invalid header name".into()),
        }
        self
    }

    /// Sets a header in place (no check: a `HeaderName` and `HeaderValue` are valid).
    pub(super) fn set(&mut self, name: HeaderName, value: HeaderValue) {
        self.request.headers_mut().insert(name, value);
    }

    pub(super) fn body(mut self, body: impl Into<Bytes>) -> Self {
        *self.request.body_mut() = Full::new(body.into());
        self
    }

    pub(super) async fn send(self) -> Result<Response, SendError> {
        if let Some(detail) = self.invalid {
            return Err(SendError { connect: false, detail });
        }
        let mut request = self.request;
        let headers = request.headers_mut();
        for (name, value) in &self.client.headers {
            if !headers.contains_key(name) {
                headers.insert(name, value.clone());
            }
        }
        let pools = &self.client.pools;
        let pool = pools.get(crate::workers::index()).unwrap_or(&pools[0]);
        match pool.request(request).await {
            Ok(response) => Ok(Response(response)),
            Err(e) => Err(SendError { connect: e.is_connect(), detail: root_cause(&e) }),
        }
    }
}

/// A request that got no response.
#[derive(Debug)]
pub(super) struct SendError {
    connect: bool,
    detail: String,
}

impl SendError {
    /// Nobody answered the connection attempt: the upstream is down, not misbehaving.
    pub(super) fn is_connect(&self) -> bool {
        self.connect
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

pub(super) struct Response(hyper::Response<Incoming>);

impl Response {
    pub(super) fn status(&self) -> StatusCode {
        self.0.status()
    }

    pub(super) fn headers(&self) -> &HeaderMap {
        self.0.headers()
    }

    /// The next piece of the body; `None` at its end.
    pub(super) async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            match self.0.body_mut().frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(root_cause(&e)),
                Some(Ok(frame)) => {
                    // Trailers carry nothing MCP uses.
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// The whole body, refused past `limit` bytes (an upstream must not exhaust our memory).
    pub(super) async fn bytes(self, limit: usize) -> Result<Bytes, String> {
        match http_body_util::Limited::new(self.0.into_body(), limit).collect().await {
            Ok(body) => Ok(body.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(format!("a body over {limit} bytes")),
            Err(e) => Err(root_cause(&*e)),
        }
    }

    /// The body as text (invalid UTF-8 replaced), for error messages: its first 64 KiB; empty when
    /// it cannot be read.
    pub(super) async fn text(self) -> String {
        self.bytes(64 << 10).await.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }
}

/// The configured headers of an upstream, secrets marked sensitive (hidden from `Debug`).
pub(super) fn header_map(name: &str, headers: &[(String, Secret)]) -> Result<HeaderMap, UpstreamError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let key = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| UpstreamError::Transport(name.into(), format!("invalid header name {k:?}")))?;
        let mut value = HeaderValue::from_str(v.expose()).map_err(|_| {
            UpstreamError::Transport(
                name.into(),
                format!("invalid value for header {k:?} (the value is not shown: it may be a secret)"),
            )
        })?;
        value.set_sensitive(true);
        map.insert(key, value);
    }
    Ok(map)
}

/// The TLS settings every upstream shares: the platform's trust store, loaded once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            use rustls_platform_verifier::ConfigVerifierExt as _;
            rustls::ClientConfig::with_platform_verifier()
                .map(Arc::new)
                .map_err(|e| format!("loading the platform's TLS trust store: {e}"))
        })
        .clone()
}

/// The innermost cause of an error ("Connection refused (os error 111)"), which says more than
/// the outer "client error (Connect)".
pub(super) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// An upstream URL as the client addresses it.
pub(super) fn uri(name: &str, url: &url::Url) -> Result<Uri, UpstreamError> {
    url.as_str()
        .parse()
        .map_err(|e| UpstreamError::Transport(name.into(), format!("URL {url} cannot be requested: {e}")))
}

//! What a call carries to a `url` upstream of the client behind it (`model::Forwarding`): the
//! request headers the file names, the client's own `Authorization` when the file asks for it,
//! or a token exchanged for one meant for the upstream (OAuth 2.0 Token Exchange, RFC 8693),
//! kept until shortly before it expires. The client's token itself never reaches the upstream
//! unless `forward_authorization` says so.

use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::Value;

use super::UpstreamError;
use super::http_client::{HttpClient, uri};
use crate::model::forwarding::{Forwarding, TokenExchange};
use crate::session::Session;

/// Exchanged tokens kept at once, per upstream.
const KEPT: u64 = 10_000;
/// An exchanged token is dropped this long before it expires, so no call carries a dying one.
const MARGIN: Duration = Duration::from_secs(10);
/// How long an exchanged token without `expires_in` is kept.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// Longest wait for the token endpoint.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// One upstream's forwarding, with its exchanged tokens.
pub(crate) struct Forwarder {
    upstream: String,
    headers: Vec<HeaderName>,
    authorization: bool,
    exchange: Option<Exchanger>,
}

struct Exchanger {
    settings: TokenExchange,
    client: HttpClient,
    endpoint: hyper::Uri,
    /// By the caller's token: the upstream's `Authorization` value, and when to drop it.
    kept: moka::sync::Cache<Box<str>, (HeaderValue, Instant)>,
}

impl Forwarder {
    /// The forwarder `forwarding` asks for, or `None` when the upstream receives nothing.
    pub(crate) fn new(upstream: &str, forwarding: &Forwarding) -> Result<Option<Forwarder>, UpstreamError> {
        if forwarding.is_empty() {
            return Ok(None);
        }
        let headers = forwarding.headers.iter().filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()).collect();
        let exchange = match &forwarding.exchange {
            None => None,
            Some(settings) => Some(Exchanger {
                client: HttpClient::new(upstream, &[])?,
                endpoint: uri(upstream, &settings.endpoint)?,
                settings: settings.clone(),
                kept: moka::sync::Cache::builder().max_capacity(KEPT).build(),
            }),
        };
        Ok(Some(Forwarder { upstream: upstream.into(), headers, authorization: forwarding.authorization, exchange }))
    }

    /// The headers a request made for `client`'s session carries besides its own.
    pub(crate) async fn headers(
        &self,
        client: Option<&Session>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, UpstreamError> {
        let Some(presented) = client.and_then(Session::presented) else {
            // No client behind it (the gateway's own requests), or nothing kept of it.
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for name in &self.headers {
            if let Some(value) = presented.get(name.as_str()).and_then(|v| HeaderValue::from_str(v).ok()) {
                out.push((name.clone(), value));
            }
        }
        if self.authorization
            && let Some(value) = presented.get("authorization").and_then(|v| HeaderValue::from_str(v).ok())
        {
            let mut value = value;
            value.set_sensitive(true);
            out.push((AUTHORIZATION, value));
        }
        if let Some(exchange) = &self.exchange {
            let Some(token) = presented.bearer() else {
                return Err(UpstreamError::Credentials(
                    self.upstream.clone(),
                    "this upstream takes a token exchanged for the caller's, and the caller presented no bearer token"
                        .into(),
                ));
            };
            out.push((AUTHORIZATION, exchange.token_for(&self.upstream, token).await?));
        }
        Ok(out)
    }
}

impl Exchanger {
    /// The upstream's `Authorization` for a caller holding `token`: kept, or exchanged now.
    async fn token_for(&self, upstream: &str, token: &str) -> Result<HeaderValue, UpstreamError> {
        if let Some((value, until)) = self.kept.get(token)
            && Instant::now() < until
        {
            return Ok(value);
        }
        let (value, lifetime) = self.exchange(upstream, token).await?;
        let until = Instant::now() + lifetime.saturating_sub(MARGIN);
        self.kept.insert(token.into(), (value.clone(), until));
        Ok(value)
    }

    async fn exchange(&self, upstream: &str, token: &str) -> Result<(HeaderValue, Duration), UpstreamError> {
        let settings = &self.settings;
        let (body, basic) = exchange_request(settings, token);
        let mut request = self
            .client
            .post(&self.endpoint)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"))
            .header(hyper::header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(basic) = basic {
            let mut value = HeaderValue::from_str(&basic)
                .map_err(|_| UpstreamError::Credentials(upstream.into(), "unusable client credentials".into()))?;
            value.set_sensitive(true);
            request.set(AUTHORIZATION, value);
        }
        let failed = |why: String| UpstreamError::Credentials(upstream.into(), format!("token exchange: {why}"));
        let sent = tokio::time::timeout(EXCHANGE_TIMEOUT, request.body(body).send()).await;
        let response = match sent {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(failed(format!("{} is unreachable: {e}", settings.endpoint))),
            Err(_) => return Err(failed(format!("{} did not answer within {EXCHANGE_TIMEOUT:?}", settings.endpoint))),
        };
        let status = response.status();
        let body: Value = serde_json::from_str(&response.text().await).unwrap_or(Value::Null);
        if !status.is_success() {
            // RFC 6749 §5.2: `error` and perhaps `error_description`; never the token.
            let error = body["error"].as_str().unwrap_or("no error code");
            let description = body["error_description"].as_str().map(|d| format!(": {d}")).unwrap_or_default();
            tracing::warn!(%upstream, %status, error, "a token exchange was refused");
            return Err(failed(format!("refused ({status}, {error}{description})")));
        }
        let Some(access_token) = body["access_token"].as_str() else {
            return Err(failed("the answer has no access_token".into()));
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {access_token}"))
            .map_err(|_| failed("the access_token is not a header value".into()))?;
        value.set_sensitive(true);
        let lifetime = body["expires_in"].as_u64().map(Duration::from_secs).unwrap_or(DEFAULT_LIFETIME);
        tracing::debug!(%upstream, seconds = lifetime.as_secs(), "exchanged a caller's token");
        Ok((value, lifetime))
    }
}

/// What a connection's requests carry of the callers behind them: the upstream's forwarder, and
/// for a connection that serves one client (`per_client`, or forced by a per-caller credential),
/// that client's session, whose credentials also go with the connection's own requests
/// (`initialize`, the notification stream).
#[derive(Clone, Default)]
pub(crate) struct Behind {
    pub forwarder: Option<std::sync::Arc<Forwarder>>,
    pub bound: Option<std::sync::Weak<Session>>,
}

impl Behind {
    /// The headers a request made for `client` (or, with none, for the bound client) carries.
    pub(crate) async fn headers(
        &self,
        client: Option<&crate::session::Link>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, UpstreamError> {
        let Some(forwarder) = &self.forwarder else { return Ok(Vec::new()) };
        let session = match client {
            Some(link) => Some(link.session.clone()),
            None => self.bound.as_ref().and_then(std::sync::Weak::upgrade),
        };
        forwarder.headers(session.as_deref()).await
    }
}

/// The form of a token exchange request for `token`, and the client's basic credentials when it
/// has a secret (else its id travels in the form).
fn exchange_request(settings: &TokenExchange, token: &str) -> (String, Option<String>) {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
    form.append_pair("subject_token", token);
    form.append_pair("subject_token_type", "urn:ietf:params:oauth:token-type:access_token");
    form.append_pair("requested_token_type", "urn:ietf:params:oauth:token-type:access_token");
    if let Some(audience) = &settings.audience {
        form.append_pair("audience", audience);
    }
    if let Some(resource) = &settings.resource {
        form.append_pair("resource", resource);
    }
    if !settings.scopes.is_empty() {
        form.append_pair("scope", &settings.scopes.join(" "));
    }
    let basic = match &settings.client_secret {
        // RFC 6749 §2.3.1: both parts form-encoded, then base64, for HTTP basic authentication.
        Some(secret) => {
            let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(&settings.client_id), encode(secret.expose()));
            Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
        }
        None => {
            form.append_pair("client_id", &settings.client_id);
            None
        }
    };
    (form.finish(), basic)
}

//! The gateway's one error type for requests: what went wrong (`Kind`), whose doing it was
//! (`Source`), mapped in one place to a JSON-RPC error object and, for HTTP bindings, to a status.
//! An upstream's own error object is kept and forwarded byte for byte.

use std::fmt;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::protocol::RawJson;
use crate::protocol::jsonrpc;
use crate::protocol::stateless;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The message is not JSON.
    Parse,
    /// The message is not a request the gateway can take (or not now).
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    /// The resource URI names nothing this virtual server publishes.
    ResourceNotFound,
    /// The owning upstream is not connected.
    Unavailable,
    /// The owning upstream did not answer in time.
    Timeout,
    /// The client cancelled the request.
    Cancelled,
    /// A policy refused the request.
    Forbidden,
    /// The request must authenticate and did not (HTTP 401).
    Unauthenticated,
    /// The caller's token lacks scopes the operation needs (HTTP 403, `insufficient_scope`).
    InsufficientScope,
    /// The gateway holds as many client sessions as it may.
    TooManySessions,
    /// A stateless request's mirrored header does not match its body.
    HeaderMismatch,
    /// The request needs a client capability it did not declare.
    MissingCapability,
    /// The request names a protocol version the gateway does not speak.
    UnsupportedVersion,
    /// The gateway failed (an upstream's transport broke, or a bug).
    Internal,
    /// The upstream answered with this error code; its object is forwarded as it came.
    Upstream(i64),
}

/// Whose doing an error was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Client,
    Upstream,
    Gateway,
    Policy,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Client => "client",
            Source::Upstream => "upstream",
            Source::Gateway => "gateway",
            Source::Policy => "policy",
        }
    }
}

/// One failed request. Boxed, so the `Result` every request step returns stays two words.
#[derive(Debug)]
pub(crate) struct GatewayError(Box<Details>);

/// What a `GatewayError` holds (reached through it as if they were its own fields).
#[derive(Debug)]
pub(crate) struct Details {
    pub kind: Kind,
    pub source: Source,
    pub message: String,
    /// The error object's `data`.
    pub data: Option<Value>,
    /// The HTTP status an HTTP binding answers with, when the transport prescribes one that the
    /// kind alone does not tell (a request refused before it ran: an unknown session, a bad header).
    pub status: Option<u16>,
    /// An upstream's error object, sent as it came.
    verbatim: Option<RawJson>,
    /// What a refusal asks of the client's credentials, for `WWW-Authenticate`.
    pub challenge: Option<Challenge>,
}

/// What a refusal asks of the client's credentials. The HTTP bindings render it as
/// `WWW-Authenticate`, adding the endpoint's protected-resource metadata URL, which only they know.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Challenge {
    /// Bearer credentials (tokens, API keys) are accepted.
    pub bearer: bool,
    /// Basic credentials are accepted.
    pub basic: bool,
    /// The endpoint publishes protected-resource metadata (it takes OAuth tokens).
    pub metadata: bool,
    /// The OAuth error code (`invalid_token`, `insufficient_scope`) and why, when credentials were
    /// presented and fall short.
    pub error: Option<(&'static str, String)>,
    /// The scopes the operation needs.
    pub scope: Vec<String>,
}

impl std::ops::Deref for GatewayError {
    type Target = Details;
    fn deref(&self) -> &Details {
        &self.0
    }
}

impl std::ops::DerefMut for GatewayError {
    fn deref_mut(&mut self) -> &mut Details {
        &mut self.0
    }
}

impl GatewayError {
    pub(crate) fn new(kind: Kind, source: Source, message: impl Into<String>) -> Self {
        GatewayError(Box::new(Details {
            kind,
            source,
            message: message.into(),
            data: None,
            status: None,
            verbatim: None,
            challenge: None,
        }))
    }

    /// The client sent something the gateway cannot take.
    pub(crate) fn client(kind: Kind, message: impl Into<String>) -> Self {
        Self::new(kind, Source::Client, message)
    }

    pub(crate) fn invalid_params(message: impl Into<String>) -> Self {
        Self::client(Kind::InvalidParams, message)
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::client(Kind::InvalidRequest, message)
    }

    pub(crate) fn method_not_found(method: &str) -> Self {
        Self::client(Kind::MethodNotFound, format!("method not found: {method}"))
    }

    pub(crate) fn resource_not_found(uri: &str) -> Self {
        Self::client(Kind::ResourceNotFound, "resource not found").with_data(serde_json::json!({ "uri": uri }))
    }

    pub(crate) fn cancelled() -> Self {
        Self::client(Kind::Cancelled, "request cancelled by the client")
    }

    /// A policy refused the request.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, Source::Policy, message)
    }

    /// An upstream's error object, forwarded verbatim (its code read once, for the HTTP status).
    pub(crate) fn upstream_object(error: RawJson) -> Self {
        #[derive(serde::Deserialize)]
        struct Code {
            code: Option<i64>,
            message: Option<String>,
        }
        let read: Option<Code> = serde_json::from_str(error.get()).ok();
        let code = read.as_ref().and_then(|c| c.code).unwrap_or(jsonrpc::INTERNAL_ERROR);
        let message = read.and_then(|c| c.message).unwrap_or_default();
        let mut e = Self::new(Kind::Upstream(code), Source::Upstream, message);
        e.verbatim = Some(error);
        e
    }

    pub(crate) fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// With the HTTP status an HTTP binding must answer with.
    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The JSON-RPC error code.
    pub(crate) fn code(&self) -> i64 {
        match self.kind {
            Kind::Parse => jsonrpc::PARSE_ERROR,
            Kind::InvalidRequest => jsonrpc::INVALID_REQUEST,
            Kind::MethodNotFound => jsonrpc::METHOD_NOT_FOUND,
            Kind::InvalidParams => jsonrpc::INVALID_PARAMS,
            Kind::ResourceNotFound => jsonrpc::RESOURCE_NOT_FOUND,
            Kind::Unavailable => jsonrpc::UPSTREAM_UNAVAILABLE,
            Kind::Timeout => jsonrpc::UPSTREAM_TIMEOUT,
            Kind::Cancelled => jsonrpc::REQUEST_CANCELLED,
            Kind::Forbidden | Kind::InsufficientScope => jsonrpc::FORBIDDEN,
            Kind::Unauthenticated => jsonrpc::UNAUTHENTICATED,
            Kind::TooManySessions | Kind::Internal => jsonrpc::INTERNAL_ERROR,
            Kind::HeaderMismatch => stateless::HEADER_MISMATCH,
            Kind::MissingCapability => stateless::MISSING_CLIENT_CAPABILITY,
            Kind::UnsupportedVersion => stateless::UNSUPPORTED_VERSION,
            Kind::Upstream(code) => code,
        }
    }

    /// The error object, as JSON text.
    pub(crate) fn to_json(&self) -> String {
        if let Some(verbatim) = &self.verbatim {
            return verbatim.get().to_string();
        }
        let mut object = serde_json::json!({ "code": self.code(), "message": self.message });
        if let Some(data) = &self.data {
            object["data"] = data.clone();
        }
        object.to_string()
    }

    /// The whole JSON-RPC error response; `id` is `null` when the request's id is unknown.
    pub(crate) fn encode(&self, id: Option<&RawValue>) -> Vec<u8> {
        jsonrpc::encode_error(id, &self.to_json())
    }

    /// The HTTP status of an HTTP binding's answer carrying this error. Session-based clients get
    /// JSON-RPC errors with 200, except where the gateway cannot serve at all; the stateless
    /// protocol prescribes 400 for requests it refuses (and an upstream's missing-capability error).
    pub(crate) fn http_status(&self, stateless: bool) -> u16 {
        match (self.kind, self.status) {
            (_, Some(status)) => status,
            (Kind::Unauthenticated, _) => 401,
            (Kind::InsufficientScope, _) => 403,
            (Kind::TooManySessions, _) => 503,
            (Kind::HeaderMismatch | Kind::MissingCapability | Kind::UnsupportedVersion, _) if stateless => 400,
            // A method the revision does not have (or removed).
            (Kind::MethodNotFound, _) if stateless => 404,
            (Kind::Upstream(stateless::MISSING_CLIENT_CAPABILITY), _) if stateless => 400,
            _ => 200,
        }
    }
}

impl From<jsonrpc::RpcError> for GatewayError {
    /// A protocol-level refusal made with the wire type (parsing messages).
    fn from(e: jsonrpc::RpcError) -> Self {
        let kind = match e.code {
            jsonrpc::PARSE_ERROR => Kind::Parse,
            jsonrpc::INVALID_REQUEST => Kind::InvalidRequest,
            jsonrpc::METHOD_NOT_FOUND => Kind::MethodNotFound,
            jsonrpc::INVALID_PARAMS => Kind::InvalidParams,
            _ => Kind::Internal,
        };
        let mut error = Self::new(kind, Source::Client, e.message);
        error.data = e.data;
        error
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_once_to_codes_and_statuses() {
        let e = GatewayError::resource_not_found("a://x");
        assert_eq!(e.to_json(), r#"{"code":-32002,"message":"resource not found","data":{"uri":"a://x"}}"#);
        assert_eq!(e.http_status(true), 200);
        let mismatch = GatewayError::client(Kind::HeaderMismatch, "no");
        assert_eq!((mismatch.http_status(false), mismatch.http_status(true)), (200, 400));
        let upstream =
            GatewayError::upstream_object(jsonrpc::raw(&serde_json::json!({"code": -32021, "message": "m", "x": 1})));
        assert_eq!(upstream.to_json(), r#"{"code":-32021,"message":"m","x":1}"#, "forwarded as it came");
        assert_eq!(upstream.http_status(true), 400);
        assert_eq!(GatewayError::forbidden("no").code(), jsonrpc::FORBIDDEN);
    }
}

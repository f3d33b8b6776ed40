//! JSON-RPC 2.0 envelopes. Ids, params, results and errors are kept as raw JSON: the gateway
//! reads what it routes on and forwards the rest byte for byte.

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

pub(crate) type RawJson = Box<RawValue>;

pub(crate) const PARSE_ERROR: i64 = -32700;
pub(crate) const INVALID_REQUEST: i64 = -32600;
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
pub(crate) const INVALID_PARAMS: i64 = -32602;
pub(crate) const INTERNAL_ERROR: i64 = -32603;
/// The upstream that owns the item is not connected.
pub(crate) const UPSTREAM_UNAVAILABLE: i64 = -32010;
/// The upstream did not answer in time.
pub(crate) const UPSTREAM_TIMEOUT: i64 = -32011;
/// A policy refused the request (the caller may not use that item or method).
pub(crate) const FORBIDDEN: i64 = -32012;
/// The request must authenticate and did not (HTTP 401).
pub(crate) const UNAUTHENTICATED: i64 = -32013;
/// The client cancelled the request (the code LSP uses; MCP prescribes none, as it expects no answer).
pub(crate) const REQUEST_CANCELLED: i64 = -32800;
/// The resource URI is not known to the gateway (the MCP "resource not found" code).
pub(crate) const RESOURCE_NOT_FOUND: i64 = -32002;

/// One JSON-RPC message, classified.
#[derive(Debug)]
pub(crate) enum Message {
    Request { id: RawJson, method: String, params: Option<RawJson> },
    Notification { method: String, params: Option<RawJson> },
    Response { id: RawJson, outcome: Result<RawJson, RawJson> },
}

#[derive(Deserialize)]
struct Envelope {
    jsonrpc: Option<String>,
    /// Present (even as `null`, which is then refused) or absent (a notification).
    #[serde(default, deserialize_with = "present")]
    id: Option<RawJson>,
    method: Option<String>,
    params: Option<RawJson>,
    result: Option<RawJson>,
    error: Option<RawJson>,
}

/// A member that is present, whatever its value: `null` included (an `Option` would read it as absent).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<RawJson>, D::Error> {
    RawJson::deserialize(deserializer).map(Some)
}

impl Message {
    /// Classifies one message. Never panics on untrusted input.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Message, RpcError> {
        let env: Envelope = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_data() {
                RpcError::new(INVALID_REQUEST, format!("not a JSON-RPC message: {e}"))
            } else {
                RpcError::new(PARSE_ERROR, format!("invalid JSON: {e}"))
            }
        })?;
        Self::from_envelope(env)
    }

    fn from_envelope(env: Envelope) -> Result<Message, RpcError> {
        if env.jsonrpc.as_deref() != Some("2.0") {
            return Err(RpcError::new(INVALID_REQUEST, "`jsonrpc` must be \"2.0\""));
        }
        if let Some(id) = &env.id {
            let first = id.get().as_bytes().first();
            if !matches!(first, Some(b'"' | b'-' | b'0'..=b'9')) {
                return Err(RpcError::new(INVALID_REQUEST, "`id` must be a string or a number"));
            }
        }
        match (env.method, env.id, env.result, env.error) {
            (Some(method), Some(id), None, None) => Ok(Message::Request { id, method, params: env.params }),
            (Some(method), None, None, None) => Ok(Message::Notification { method, params: env.params }),
            (None, Some(id), Some(result), None) => Ok(Message::Response { id, outcome: Ok(result) }),
            (None, Some(id), None, Some(error)) => Ok(Message::Response { id, outcome: Err(error) }),
            _ => Err(RpcError::new(
                INVALID_REQUEST,
                "a message has `method` (a request or notification) or `result`/`error` (a response)",
            )),
        }
    }

    /// Whether the body is a JSON array (a batch), judged by its first non-blank byte.
    pub(crate) fn is_batch(bytes: &[u8]) -> bool {
        bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
    }
}

/// Deepest nesting of arrays and objects accepted in a request's params: far more than any tool
/// needs, and less than what many upstreams' parsers accept.
pub(crate) const MAX_DEPTH: usize = 64;

/// Checks JSON text the parser accepted but an upstream may not: nesting deeper than
/// `MAX_DEPTH`, and `\u` escapes that leave a UTF-16 surrogate alone (valid JSON syntax, but no
/// text). One pass over the bytes, nothing allocated: a request that would leave its caller
/// waiting for an upstream that cannot read it is refused at once instead.
pub(crate) fn check_sound(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let (mut depth, mut i, mut in_string) = (0usize, 0usize, false);
    let hex = |at: usize| -> Option<u16> {
        let digits = bytes.get(at..at + 4)?;
        u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (false, b'"') | (true, b'"') => in_string = !in_string,
            (false, b'[' | b'{') => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!("params nest deeper than {MAX_DEPTH} levels"));
                }
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            (true, b'\\') => {
                if bytes.get(i + 1) == Some(&b'u') {
                    let unit = hex(i + 2).unwrap_or(0);
                    if (0xD800..0xDC00).contains(&unit) {
                        // A high surrogate must be followed by a low one.
                        let low = (bytes.get(i + 6..i + 8) == Some(b"\\u")).then(|| hex(i + 8)).flatten();
                        if !low.is_some_and(|l| (0xDC00..0xE000).contains(&l)) {
                            return Err("a string holds a lone UTF-16 surrogate escape".into());
                        }
                        i += 12;
                        continue;
                    }
                    if (0xDC00..0xE000).contains(&unit) {
                        return Err("a string holds a lone UTF-16 surrogate escape".into());
                    }
                    i += 6;
                    continue;
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// An error to send as a JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<serde_json::Value>,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }

    pub(crate) fn method_not_found(method: &str) -> Self {
        Self::new(METHOD_NOT_FOUND, format!("method not found: {method}"))
    }

    pub(crate) fn to_json(&self) -> String {
        let mut obj = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(data) = &self.data {
            obj["data"] = data.clone();
        }
        obj.to_string()
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// `{"jsonrpc":"2.0","id":…,"result":…}`
pub(crate) fn encode_result(id: &RawValue, result: &RawValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + id.get().len() + result.get().len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.get().as_bytes());
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result.get().as_bytes());
    out.push(b'}');
    out
}

/// `{"jsonrpc":"2.0","id":…,"error":…}`; `id` is `null` when the request's id could not be read.
pub(crate) fn encode_error(id: Option<&RawValue>, error: &str) -> Vec<u8> {
    let id = id.map_or("null", |i| i.get());
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{error}}}").into_bytes()
}

/// A request with a numeric id, as the gateway sends to upstreams.
pub(crate) fn encode_request(id: u64, method: &str, params: Option<&RawValue>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + method.len() + params.map_or(0, |p| p.get().len()));
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.to_string().as_bytes());
    finish_call(out, method, params)
}

pub(crate) fn encode_notification(method: &str, params: Option<&RawValue>) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + method.len() + params.map_or(0, |p| p.get().len()));
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\"");
    finish_call(out, method, params)
}

/// `,"method":…,"params":…}` after the start of a request or notification.
fn finish_call(mut out: Vec<u8>, method: &str, params: Option<&RawValue>) -> Vec<u8> {
    out.extend_from_slice(b",\"method\":");
    serde_json::to_writer(&mut out, method).expect("strings serialize");
    if let Some(p) = params {
        out.extend_from_slice(b",\"params\":");
        out.extend_from_slice(p.get().as_bytes());
    }
    out.push(b'}');
    out
}

/// Raw JSON from a serializable value.
pub(crate) fn raw(value: &impl serde::Serialize) -> RawJson {
    serde_json::value::to_raw_value(value).expect("in-memory JSON values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> String {
        match Message::parse(text.as_bytes()) {
            Ok(Message::Request { id, method, .. }) => format!("request {} {method}", id.get()),
            Ok(Message::Notification { method, .. }) => format!("notification {method}"),
            Ok(Message::Response { id, outcome }) => {
                format!("response {} {}", id.get(), outcome.is_ok())
            }
            Err(e) => format!("error {}", e.code),
        }
    }

    #[test]
    fn classification() {
        assert_eq!(kind(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), "request 1 ping");
        assert_eq!(kind(r#"{"jsonrpc":"2.0","id":"a","method":"x","params":{}}"#), "request \"a\" x");
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            "notification notifications/initialized"
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":18446744073709551615,"result":{}}"#),
            "response 18446744073709551615 true"
        );
        assert_eq!(kind(r#"{"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"m"}}"#), "response 2 false");
        assert_eq!(kind(r#"{"jsonrpc":"2.0","id":2"#), "error -32700");
        assert_eq!(kind(r#"[1,2]"#), "error -32600");
        assert_eq!(kind(r#"{"id":1,"method":"ping"}"#), "error -32600");
        assert_eq!(kind(r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#), "error -32600");
        // A null id is an id (refused), not a notification.
        assert_eq!(kind(r#"{"jsonrpc":"2.0","id":null,"method":"tools/call"}"#), "error -32600");
        assert_eq!(kind(r#"{"jsonrpc":"2.0"}"#), "error -32600");
        assert_eq!(kind("\u{0}\u{1}"), "error -32700");
    }

    #[test]
    fn unsound_params_are_found_in_one_pass() {
        assert!(check_sound(r#"{"a":[1,{"b":"x\"[[["}],"c":"\u00e9\ud83d\ude00"}"#).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(check_sound(&deep).unwrap_err().contains("deeper"));
        let fine = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(check_sound(&fine).is_ok());
        assert!(check_sound(r#"{"t":"\ud800"}"#).unwrap_err().contains("surrogate"));
        assert!(check_sound(r#"{"t":"\ud800\u0041"}"#).is_err());
        assert!(check_sound(r#"{"t":"\udc00x"}"#).is_err());
        assert!(check_sound(r#"{"t":"[[[[\\"}"#).is_ok(), "brackets in strings do not count");
    }

    /// Every prefix and many byte-level corruptions of valid messages parse to a message or an
    /// error, never a panic.
    #[test]
    fn malformed_input_never_panics() {
        let samples = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,2,{"b":null}]}}}"#,
            r#"{"jsonrpc":"2.0","id":"abc","result":{"content":[{"type":"text","text":"\u00e9\ud83d\ude00"}]}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1e400,"progress":-0.0}}"#,
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for sample in samples {
            let bytes = sample.as_bytes();
            for end in 0..=bytes.len() {
                let _ = Message::parse(&bytes[..end]);
            }
            for _ in 0..2000 {
                let mut corrupted = bytes.to_vec();
                let at = (next() as usize) % corrupted.len();
                corrupted[at] = next() as u8;
                let _ = Message::parse(&corrupted);
            }
        }
    }

    #[test]
    fn encoding_keeps_ids_and_results_verbatim() {
        let id = RawValue::from_string("\"abc\"".into()).unwrap();
        let result = RawValue::from_string(r#"{"z":1,"a":[2]}"#.into()).unwrap();
        assert_eq!(encode_result(&id, &result), br#"{"jsonrpc":"2.0","id":"abc","result":{"z":1,"a":[2]}}"#);
        assert_eq!(encode_request(7, "ping", None), br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#);
        assert_eq!(
            encode_request(18446744073709551615, "tools/call", Some(&result)),
            br#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"tools/call","params":{"z":1,"a":[2]}}"#
        );
        assert_eq!(
            encode_notification("say \"hi\"", Some(&result)),
            br#"{"jsonrpc":"2.0","method":"say \"hi\"","params":{"z":1,"a":[2]}}"#
        );
        assert_eq!(encode_notification("n", None), br#"{"jsonrpc":"2.0","method":"n"}"#);
    }
}

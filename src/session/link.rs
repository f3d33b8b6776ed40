//! The way back to the client that made one request: where messages about the request go
//! (progress, log messages, a task's status), and how an upstream's question during it
//! (sampling, elicitation, roots) is asked of that client under the client session's own id.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use super::rounds::InputRounds;
use super::{Outcome, Owned, Session};
use crate::protocol::jsonrpc::{self, RpcError};
use crate::protocol::mcp::LogLevel;

/// Encoded JSON-RPC messages bound for the one client request that caused them.
pub(crate) type Outbound = mpsc::Sender<Vec<u8>>;

/// The client behind one request, as far as the rest of the gateway can reach it.
#[derive(Clone)]
pub(crate) struct Link {
    /// Messages about the request (progress, questions, its answer on stream transports).
    pub out: Outbound,
    /// The session the request belongs to (a detached one for stateless and plain JSON-RPC requests).
    pub session: Arc<Session>,
    /// For a stateless client: the answers it already gave, and where the upstream's further
    /// questions are collected (they become an `input_required` result).
    pub rounds: Option<Arc<InputRounds>>,
}

impl Link {
    pub(crate) fn new(session: &Arc<Session>, out: Outbound) -> Link {
        Link { out, session: session.clone(), rounds: None }
    }

    /// A link for a request answered as plain JSON: nothing sent on it arrives, but the request
    /// still belongs to its session (what it creates is the session's, and a `per_client`
    /// upstream uses the session's own upstream session).
    pub(crate) fn unreachable(session: &Arc<Session>) -> Link {
        Link::new(session, nowhere())
    }

    /// A log message from `upstream` about this request, when the client asked for its level.
    pub(crate) fn log(&self, upstream: &str, params: &Value) {
        if let Some(note) = log_message(upstream, params).filter(|(level, _)| self.session.log_level.passes(*level)) {
            // Advisory: a client that does not keep up loses some, and nothing blocks.
            let _ = self.out.try_send(note.1);
        }
    }

    /// A task's status from `upstream`, when the task is this client's.
    pub(crate) fn task_status(&self, upstream: &str, params: Value) {
        let owns = |id: &str| self.session.owns(Owned::Task, id);
        if let Some(note) = crate::protocol::tasks::status_for(upstream, params, owns) {
            let _ = self.out.try_send(note);
        }
    }

    /// Sends the client a request an upstream asks of it (`sampling/createMessage`,
    /// `elicitation/create`, `roots/list`) under an id of the client session's own. Refused when
    /// the method is not one a server may ask, or the client did not declare its capability.
    pub(crate) async fn ask(&self, method: &str, params: Option<&RawValue>) -> Result<Question<'_>, RpcError> {
        let capability = capability_for(method)
            .ok_or_else(|| RpcError::new(jsonrpc::METHOD_NOT_FOUND, format!("method not found: {method}")))?;
        if !self.session.can_be_asked(capability) {
            return Err(RpcError::new(jsonrpc::METHOD_NOT_FOUND, format!("the client does not support {capability}")));
        }
        if method == "elicitation/create"
            && let Some(id) = url_elicitation_id(params)
        {
            self.session.record(Owned::Elicitation, &id);
        }
        let (id, answer) = self.session.ask();
        let question = Question { id, answer, link: self };
        if self.out.send(jsonrpc::encode_request(id, method, params)).await.is_err() {
            return Err(RpcError::new(jsonrpc::INTERNAL_ERROR, "the client went away"));
        }
        Ok(question)
    }
}

/// A request asked of a client, waiting for its answer. Dropping it (answered, timed out,
/// withdrawn) makes the session stop waiting.
pub(crate) struct Question<'a> {
    /// The id the client knows the request by.
    pub id: u64,
    answer: oneshot::Receiver<Outcome>,
    link: &'a Link,
}

impl Question<'_> {
    /// The client's answer (its result or its error object), or why there is none: the client
    /// went away, its call ended first, or `timeout` passed.
    pub(crate) async fn answer(&mut self, method: &str, timeout: Duration) -> Result<Outcome, RpcError> {
        let failed = |message: String| RpcError::new(jsonrpc::INTERNAL_ERROR, message);
        tokio::select! {
            answer = tokio::time::timeout(timeout, &mut self.answer) => match answer {
                Ok(Ok(outcome)) => Ok(outcome),
                Ok(Err(_)) => Err(failed("the client went away".into())),
                Err(_) => Err(failed(format!("the client did not answer {method} within {timeout:?}"))),
            },
            // The client's call ended (answered, cancelled, or its client gone): nobody will answer.
            _ = self.link.out.closed() => Err(failed("the client's request ended before it answered".into())),
        }
    }
}

impl Drop for Question<'_> {
    fn drop(&mut self) {
        self.link.session.forget_ask(self.id);
    }
}

/// The capability a client must have declared to be asked `method`, for the requests a server may
/// send to a client; `None` for anything else.
pub(crate) fn capability_for(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

/// A log message (`notifications/message` params) from `upstream` as a client sees it, with its
/// level: the upstream named in `logger` (`upstream/inner-logger`). `None` without a known level.
pub(crate) fn log_message(upstream: &str, params: &Value) -> Option<(LogLevel, Vec<u8>)> {
    let level = params.get("level").and_then(Value::as_str).and_then(LogLevel::parse)?;
    let mut params = params.clone();
    let logger = match params.get("logger").and_then(Value::as_str) {
        Some(inner) => format!("{upstream}/{inner}"),
        None => upstream.to_string(),
    };
    params["logger"] = Value::String(logger);
    Some((level, jsonrpc::encode_notification("notifications/message", Some(&jsonrpc::raw(&params)))))
}

/// A sender whose receiver is gone: everything sent on it is refused at once. One for all calls,
/// so a plain JSON answer costs no channel of its own.
pub(crate) fn nowhere() -> Outbound {
    static NOWHERE: std::sync::OnceLock<Outbound> = std::sync::OnceLock::new();
    NOWHERE.get_or_init(|| mpsc::channel(1).0).clone()
}

/// The `elicitationId` of a URL-mode `elicitation/create`, whose completion the server announces later.
fn url_elicitation_id(params: Option<&RawValue>) -> Option<String> {
    let params: Value = serde_json::from_str(params?.get()).ok()?;
    (params.get("mode")?.as_str()? == "url").then(|| params.get("elicitationId")?.as_str().map(str::to_string))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_messages_name_their_upstream() {
        let (level, note) =
            log_message("a", &serde_json::json!({"level": "info", "logger": "srv", "data": 1})).unwrap();
        assert_eq!(level, LogLevel::Info);
        let note: Value = serde_json::from_slice(&note).unwrap();
        assert_eq!(note["params"]["logger"], "a/srv");
        assert!(log_message("a", &serde_json::json!({"level": "loud"})).is_none());
    }

    #[tokio::test]
    async fn a_question_goes_out_under_the_sessions_id_and_its_answer_comes_back() {
        let session = Session::detached("default", "2025-11-25", super::super::Caller::local());
        session.declare(serde_json::json!({"sampling": {}}));
        let (out, mut rx) = mpsc::channel(4);
        let link = Link::new(&session, out);
        assert!(link.ask("roots/list", None).await.is_err(), "roots were not declared");
        let mut question = link.ask("sampling/createMessage", None).await.unwrap();
        let sent: Value = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(sent["id"], question.id);
        let id = RawValue::from_string(question.id.to_string()).unwrap();
        assert!(session.answered(&id, Ok(jsonrpc::raw(&serde_json::json!({"ok": true})))));
        let answer = question.answer("sampling/createMessage", Duration::from_secs(1)).await.unwrap();
        assert_eq!(answer.unwrap().get(), r#"{"ok":true}"#);
    }
}

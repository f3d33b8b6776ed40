//! The rounds of one stateless request for a session-based client: an `input_required` result
//! is answered by asking the client each input request, and the request is sent again with the
//! answers and the upstream's request state, for up to `MAX_ROUNDS` rounds. A stateless client
//! gets `input_required` as it came (it retries with the answers itself).

use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;

use super::meta::{with_meta, without_stateless_fields};
use crate::protocol::RawJson;
use crate::protocol::jsonrpc;
use crate::session::Link;
use crate::upstream::UpstreamError;
use crate::upstream::asked::{Asked, answer_one};

/// Most `input_required` rounds answered for a session-based client before giving up.
const MAX_ROUNDS: usize = 8;

/// `request` without the task bridge; `tasks` declares the tasks extension upstream.
pub(in crate::upstream) async fn rounds<'m, F, Fut>(
    upstream: &str,
    method: &'m str,
    params: Option<&RawValue>,
    client: Option<&Link>,
    timeout: Duration,
    tasks: bool,
    send: &F,
) -> Result<RawJson, UpstreamError>
where
    F: Fn(&'m str, RawJson) -> Fut,
    Fut: std::future::Future<Output = Result<RawJson, UpstreamError>>,
{
    let base: Value = params.and_then(|p| serde_json::from_str(p.get()).ok()).unwrap_or_default();
    let mut current = params.map(|p| p.to_owned());
    for _ in 0..MAX_ROUNDS {
        let result = send(method, with_meta(current.as_deref(), client, tasks)).await?;
        let for_stateless = client.is_some_and(|c| c.session.is_stateless());
        if for_stateless {
            return Ok(result);
        }
        // With the tasks extension declared, the bridge reshapes the result itself.
        let finished = |result| if tasks { result } else { without_stateless_fields(result) };
        if !result.get().contains("\"input_required\"") {
            return Ok(finished(result));
        }
        let value: Value = serde_json::from_str(result.get()).unwrap_or_default();
        if value["resultType"] != "input_required" {
            return Ok(finished(result));
        }
        let Some(link) = client else {
            return Err(UpstreamError::Transport(
                upstream.to_string(),
                "the upstream needs input from a client, and no client is calling".into(),
            ));
        };
        let mut answers = serde_json::Map::new();
        for (key, asked) in value["inputRequests"].as_object().into_iter().flatten() {
            let method = asked["method"].as_str().unwrap_or("");
            let asked_params = asked.get("params").map(jsonrpc::raw);
            answers.insert(key.clone(), ask_client(link, method, asked_params.as_deref(), timeout).await?);
        }
        let mut next = base.clone();
        next["inputResponses"] = Value::Object(answers);
        if let Some(state) = value.get("requestState") {
            next["requestState"] = state.clone();
        }
        current = Some(jsonrpc::raw(&next));
    }
    Err(UpstreamError::Transport(
        upstream.to_string(),
        format!("the upstream still needed input after {MAX_ROUNDS} rounds"),
    ))
}

/// Asks a session-based client one of a stateless upstream's input requests; its result, or its
/// error as the request's failure.
pub(in crate::upstream) async fn ask_client(
    link: &Link,
    method: &str,
    params: Option<&RawValue>,
    timeout: Duration,
) -> Result<Value, UpstreamError> {
    // A stateless upstream's input requests live in its result: nothing can withdraw one.
    let reply =
        answer_one(&Asked::default(), &jsonrpc::raw(&serde_json::json!(0)), method, params, Some(link), timeout)
            .await
            .unwrap_or_default();
    let reply: Value = serde_json::from_slice(&reply).unwrap_or_default();
    match reply.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(UpstreamError::Rpc(jsonrpc::raw(&reply["error"]))),
    }
}

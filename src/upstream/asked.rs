//! Requests an upstream sends while serving a client's call (sampling, elicitation, roots): asked
//! of that client under the client session's own id, the answer sent back under the upstream's
//! id, and withdrawn when the upstream cancels them (`notifications/cancelled` is passed on to the
//! client with the client's id). Each is answered in its own task, so the upstream's stream keeps
//! being read meanwhile: its progress, its other answers and its cancellation of this very request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use crate::protocol::RawJson;
use crate::protocol::jsonrpc::{self, RpcError, encode_notification};
use crate::session::{Link, Outbound, capability_for};

/// One upstream connection's requests that wait on a client, by the upstream's request id (its
/// JSON text). Ids are the upstream's own, so each connection keeps its own registry.
#[derive(Default)]
pub(super) struct Asked {
    waiting: Mutex<HashMap<String, Waiting>>,
}

struct Waiting {
    /// Where the request went, and the id the client knows it by.
    out: Outbound,
    client_id: u64,
    cancel: oneshot::Sender<()>,
}

/// Forgets a waiting request when its answering ends, however it ends.
struct Registered<'a> {
    asked: &'a Asked,
    key: String,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.asked.waiting.lock().unwrap().remove(&self.key);
    }
}

impl Asked {
    fn register(
        &self,
        upstream_id: &RawValue,
        out: &Outbound,
        client_id: u64,
    ) -> (Registered<'_>, oneshot::Receiver<()>) {
        let (cancel, cancelled) = oneshot::channel();
        let key = upstream_id.get().to_string();
        self.waiting.lock().unwrap().insert(key.clone(), Waiting { out: out.clone(), client_id, cancel });
        (Registered { asked: self, key }, cancelled)
    }

    /// The upstream's `notifications/cancelled`: when it names a request waiting on a client, the
    /// client hears of it under its own id and the waiting stops. False when it names none of
    /// ours (it then goes wherever other notifications go).
    pub(super) fn cancelled(&self, params: Option<&RawValue>) -> bool {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Cancelled {
            request_id: RawJson,
            reason: Option<String>,
        }
        let Some(note) = params.and_then(|p| serde_json::from_str::<Cancelled>(p.get()).ok()) else { return false };
        let Some(waiting) = self.waiting.lock().unwrap().remove(note.request_id.get()) else { return false };
        let mut forward = serde_json::json!({ "requestId": waiting.client_id });
        if let Some(reason) = note.reason {
            forward["reason"] = reason.into();
        }
        // Advisory, like all cancellation: a client too slow to take it still gets no answer asked of it.
        let _ = waiting.out.try_send(encode_notification("notifications/cancelled", Some(&jsonrpc::raw(&forward))));
        let _ = waiting.cancel.send(());
        true
    }
}

/// Answers request `id` from an upstream and hands the reply to `send`. Requests for a client
/// session run in their own task; a stateless client's rounds are answered inline, in arrival
/// order, since that order decides which of its earlier answers goes to which request.
pub(super) async fn answer<F, Fut>(
    asked: &Arc<Asked>,
    id: RawJson,
    method: String,
    params: Option<RawJson>,
    client: Option<Link>,
    timeout: Duration,
    send: F,
) where
    F: FnOnce(Vec<u8>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let inline = client.as_ref().is_none_or(|link| link.rounds.is_some());
    if inline {
        if let Some(reply) = answer_one(asked, &id, &method, params.as_deref(), client.as_ref(), timeout).await {
            send(reply).await;
        }
        return;
    }
    let asked = asked.clone();
    tokio::spawn(async move {
        if let Some(reply) = answer_one(&asked, &id, &method, params.as_deref(), client.as_ref(), timeout).await {
            send(reply).await;
        }
    });
}

/// The answer to one request an upstream sends us, or `None` when none is to be sent (the
/// upstream withdrew it, or a stateless client's round ends on it).
/// `ping` is answered here; sampling, elicitation and roots go to `client` (the client whose
/// request the upstream is serving) when it declared the capability; anything else, or a request
/// we cannot tie to a client, is refused.
pub(super) async fn answer_one(
    asked: &Asked,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    client: Option<&Link>,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let refuse = |e: RpcError| Some(jsonrpc::encode_error(Some(id), &e.to_json()));
    if method == "ping" {
        return Some(jsonrpc::encode_result(id, &jsonrpc::raw(&serde_json::json!({}))));
    }
    let Some(capability) = capability_for(method) else {
        return refuse(RpcError::method_not_found(method));
    };
    // A stateless client is never sent a request: its answers come from earlier rounds, or the
    // request ends this round as an `input_required` result. Then the upstream gets no answer:
    // the round drops the call, which cancels it upstream. (Waiting here instead would stall the
    // reader of a stream other calls share.)
    if let Some(link) = client
        && let Some(rounds) = &link.rounds
    {
        let answer = rounds.answer(&link.session, capability, method, params)?;
        return Some(jsonrpc::encode_result(id, &jsonrpc::raw(&answer)));
    }
    let Some(link) = client else {
        // Either the request arrived where nothing ties it to one client's call (a shared stdio,
        // SSE or WebSocket stream), or the call came from a client that cannot receive requests.
        return refuse(RpcError::new(
            jsonrpc::METHOD_NOT_FOUND,
            format!("{method} cannot be passed to a client: no client call that can answer it is tied to this request"),
        ));
    };
    let mut question = match link.ask(method, params).await {
        Ok(q) => q,
        Err(e) => return refuse(e),
    };
    let (_registered, withdrawn) = asked.register(id, &link.out, question.id);
    tokio::select! {
        answer = question.answer(method, timeout) => match answer {
            Ok(Ok(result)) => Some(jsonrpc::encode_result(id, &result)),
            Ok(Err(error)) => Some(jsonrpc::encode_error(Some(id), error.get())),
            Err(e) => refuse(e),
        },
        // The upstream cancelled its request: it expects no answer.
        _ = withdrawn => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancellation_reaches_the_client_under_its_own_id() {
        let asked = Asked::default();
        let (out, mut rx) = tokio::sync::mpsc::channel(4);
        let upstream_id = RawValue::from_string("\"up-7\"".into()).unwrap();
        let (registered, withdrawn) = asked.register(&upstream_id, &out, 42);
        let other = jsonrpc::raw(&serde_json::json!({"requestId": "up-8"}));
        assert!(!asked.cancelled(Some(&other)), "another id is not ours");
        let note = jsonrpc::raw(&serde_json::json!({"requestId": "up-7", "reason": "user stopped"}));
        assert!(asked.cancelled(Some(&note)));
        assert!(withdrawn.await.is_ok(), "the waiting stops");
        let sent = String::from_utf8(rx.recv().await.unwrap()).unwrap();
        assert_eq!(
            sent,
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42,"reason":"user stopped"}}"#
        );
        drop(registered);
        assert!(!asked.cancelled(Some(&note)), "a request is withdrawn once");
    }
}

//! A stateless client's questions, round by round: when a session-based upstream asks the client
//! something mid-call, a stateless client cannot be sent the request. Its call is replayed from
//! the start each round, the upstream's questions answered in order from the answers the client
//! gave so far; the first one without an answer (or needing a capability the client lacks) ends
//! the round, and becomes the client's `input_required` result.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use serde_json::value::RawValue;

use super::Session;

/// A stateless client's call to a session-based upstream, replayed from its start each round: the
/// upstream's requests are answered in order from the answers given so far, and the first one
/// without an answer (or needing a capability the client lacks) ends the round.
pub(crate) struct InputRounds {
    answers: Vec<Value>,
    next: AtomicU64,
    /// Requests still unanswered, as (key, `{method, params}`), or the capability the client lacks.
    pending: Mutex<RoundEnd>,
    ended: tokio::sync::Notify,
}

/// Why a round stopped short of the upstream's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum RoundEnd {
    #[default]
    Running,
    /// The upstream asked these (key, request) and waits for the answers.
    NeedsInput(Vec<(String, Value)>),
    /// The upstream asked for something the client did not declare (`elicitation`, ...).
    LacksCapability(&'static str),
}

impl InputRounds {
    /// A round that already holds `answers` (from earlier rounds, in the order they were asked).
    pub(crate) fn new(answers: Vec<Value>) -> Arc<InputRounds> {
        Arc::new(InputRounds { answers, next: AtomicU64::new(0), pending: Mutex::default(), ended: Default::default() })
    }

    /// The answer to the upstream's next request, or `None` after recording it as pending (the
    /// round then ends, and the call is dropped).
    pub(crate) fn answer_next(&self, method: &str, params: Option<&RawValue>) -> Option<Value> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) as usize;
        if let Some(answer) = self.answers.get(index) {
            return Some(answer.clone());
        }
        let request = serde_json::json!({
            "method": method,
            "params": params.and_then(|p| serde_json::from_str::<Value>(p.get()).ok()).unwrap_or_else(|| serde_json::json!({})),
        });
        let mut pending = self.pending.lock().unwrap();
        let asked = match &mut *pending {
            RoundEnd::NeedsInput(asked) => asked,
            other => {
                *other = RoundEnd::NeedsInput(Vec::new());
                let RoundEnd::NeedsInput(asked) = other else { unreachable!("just set") };
                asked
            }
        };
        asked.push((format!("input-{}", index + 1), request));
        self.ended.notify_one();
        None
    }

    /// Starts the round over, for a call sent again from its start (its connection was lost):
    /// the upstream will ask its questions again, so they take the answers from the first. False
    /// when the round has already ended, and the call with it.
    pub(crate) fn restart(&self) -> bool {
        let pending = self.pending.lock().unwrap();
        if *pending != RoundEnd::Running {
            return false;
        }
        self.next.store(0, Ordering::Relaxed);
        true
    }

    pub(crate) fn lacks(&self, capability: &'static str) {
        *self.pending.lock().unwrap() = RoundEnd::LacksCapability(capability);
        self.ended.notify_one();
    }

    /// Answers the upstream's next question from this round's answers, when the client declared
    /// what it needs; `None` when the round ends here (and the call is dropped).
    pub(crate) fn answer(
        &self,
        session: &Session,
        capability: &'static str,
        method: &str,
        params: Option<&RawValue>,
    ) -> Option<Value> {
        if session.capabilities().get(capability).is_none() {
            self.lacks(capability);
            return None;
        }
        self.answer_next(method, params)
    }

    /// Resolves once the upstream asked something the round cannot answer.
    pub(crate) async fn ended(&self) -> RoundEnd {
        loop {
            let notified = self.ended.notified();
            let state = self.pending.lock().unwrap().clone();
            if state != RoundEnd::Running {
                // Requests sent together arrive together: give the rest a moment to join.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                return self.pending.lock().unwrap().clone();
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restarted_round_answers_from_the_first_answer_until_it_has_ended() {
        let rounds = InputRounds::new(vec![serde_json::json!("first")]);
        assert_eq!(rounds.answer_next("elicitation/create", None), Some(serde_json::json!("first")));
        assert!(rounds.restart(), "a running round starts over");
        assert_eq!(rounds.answer_next("elicitation/create", None), Some(serde_json::json!("first")));
        assert_eq!(rounds.answer_next("elicitation/create", None), None, "a question without an answer ends it");
        assert!(!rounds.restart(), "an ended round does not start over");
    }
}

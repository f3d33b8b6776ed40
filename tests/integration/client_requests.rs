//! Requests an upstream makes of a client while serving its call (sampling, elicitation, roots):
//! they reach the client whose call caused them, and its answer goes back to the upstream.

use serde_json::json;

use super::clients::{TestClient, Transport};
use super::util::{TestGateway, TestUpstream, eventually, stdio_fixture};

const HTTP: Transport = Transport::StreamableHttp;

/// A streamable HTTP client declaring `capabilities` that answers sampling with `reply` and
/// accepts elicitations.
async fn answering(gw: &TestGateway, capabilities: serde_json::Value, reply: &str) -> TestClient {
    let c = TestClient::connect_with(gw, HTTP, "default", capabilities).await;
    c.answer_sampling(reply);
    c
}

#[tokio::test]
async fn sampling_reaches_the_client_whose_call_caused_it() {
    let remote = TestUpstream::http("remote", &[]);
    let yaml = format!(
        "upstreams:\n  remote: {{ url: '{}' }}\n  a:\n    stdio: {{ command: '{}', args: [--name, a] }}\n    sessions: shared\n",
        remote.url,
        super::util::fixture_bin()
    );
    let gw = TestGateway::start(&yaml).await;
    let one = answering(&gw, json!({"sampling": {}}), "one").await;
    let two = answering(&gw, json!({"sampling": {}}), "two").await;

    // Two clients call the same tool at once; each answers only its own question.
    let (text1, text2) = tokio::join!(one.call_text("remote_ask", json!({})), two.call_text("remote_ask", json!({})));
    assert_eq!(text1, "sampled: one");
    assert_eq!(text2, "sampled: two");
    let (q1, q2) = (one.questions(), two.questions());
    assert_eq!((q1.len(), q2.len()), (1, 1));
    assert_eq!(q1[0]["params"]["messages"][0]["content"]["text"], "question from remote", "params pass through");

    // A client that did not declare sampling is never asked; the upstream is refused.
    let plain = TestClient::connect(&gw, HTTP, "default").await;
    let text = plain.call_text("remote_ask", json!({})).await;
    assert_eq!(text, "refused: the client does not support sampling");

    // A client that declared elicitation but not sampling is not asked to sample either.
    let other = answering(&gw, json!({"elicitation": {}}), "never").await;
    let text = other.call_text("remote_ask", json!({})).await;
    assert!(other.questions().is_empty());
    assert_eq!(text, "refused: the client does not support sampling");

    // With `sessions: shared`, a stdio upstream's question is tied to no client: it is refused,
    // never misrouted.
    let text = one.call_text("a_ask", json!({})).await;
    assert_eq!(one.questions().len(), 1, "no question beyond the first call's");
    assert!(text.starts_with("refused:") && text.contains("cannot be passed to a client"), "{text}");
}

#[tokio::test]
async fn a_websocket_client_answers_sampling_on_its_connection() {
    let remote = TestUpstream::http("remote", &[]);
    let gw = TestGateway::start(&format!("upstreams:\n  remote: {{ url: '{}' }}\n", remote.url)).await;
    let ws = TestClient::connect_with(&gw, Transport::WebSocket, "default", json!({"sampling": {}})).await;
    ws.answer_sampling("by websocket");
    let result = ws.call("remote_ask", json!({})).await;
    assert_eq!(result["result"]["content"][0]["text"], "sampled: by websocket");
}

#[tokio::test]
async fn per_client_sessions_route_a_stdio_upstreams_requests_to_the_right_client() {
    let yaml = format!(
        "upstreams:\n  a:\n    stdio: {{ command: '{}', args: [--name, a] }}\n    sessions: per_client\n",
        super::util::fixture_bin()
    );
    let gw = TestGateway::start(&yaml).await;
    let one = answering(&gw, json!({"sampling": {}}), "one").await;
    let two = answering(&gw, json!({"sampling": {}}), "two").await;
    let (text1, text2) = tokio::join!(one.call_text("a_ask", json!({})), two.call_text("a_ask", json!({})));
    assert_eq!((text1.as_str(), text2.as_str()), ("sampled: one", "sampled: two"));
    assert_eq!((one.questions().len(), two.questions().len()), (1, 1));

    // Each client has its own process; ending the session ends it.
    let (p1, p2) = (pid(&one).await, pid(&two).await);
    assert_ne!(p1, p2, "each client session has its own upstream process");
    assert_eq!(pid(&one).await, p1, "and keeps it across calls");
    one.close().await; // DELETE, answered 204
    eventually(
        "the ended session's process to exit",
        || async move { (!super::util::process_alive(p1)).then_some(()) },
    )
    .await;
    assert!(super::util::process_alive(p2), "the other client's process is untouched");
}

#[tokio::test]
async fn by_default_a_stdio_upstreams_questions_reach_the_client_whose_call_caused_them() {
    let gw = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
    let plain = TestClient::connect(&gw, HTTP, "default").await;
    let one = answering(&gw, json!({"sampling": {}}), "one").await;
    let two = answering(&gw, json!({"sampling": {}}), "two").await;
    let shared = pid(&plain).await;
    assert!(gw.readyz().await.1["upstreams"]["a"].get("asks_clients").is_none());
    // The first question comes on the shared session while one call alone is in flight there:
    // it can only be that call's.
    assert_eq!(one.call_text("a_ask", json!({})).await, "sampled: one");
    assert_eq!(gw.readyz().await.1["upstreams"]["a"]["asks_clients"], true, "/readyz tells");
    // The upstream has shown it asks: from now on each client that can answer has its own
    // upstream session, so questions asked at once each reach their own client.
    let (text1, text2) = tokio::join!(one.call_text("a_ask", json!({})), two.call_text("a_ask", json!({})));
    assert_eq!((text1.as_str(), text2.as_str()), ("sampled: one", "sampled: two"));
    assert_eq!((one.questions().len(), two.questions().len()), (2, 1));
    let (p1, p2) = (pid(&one).await, pid(&two).await);
    assert!(p1 != p2 && p1 != shared && p2 != shared, "each answering client has its own process");
    assert_eq!(pid(&plain).await, shared, "a client that cannot be asked stays on the shared session");
    // A stateless client that declared sampling is asked through `input_required`, its call
    // alone on the shared session.
    let stateless = TestClient::connect_with(&gw, Transport::Stateless, "default", json!({"sampling": {}})).await;
    stateless.answer_sampling("stateless");
    assert_eq!(stateless.call_text("a_ask", json!({})).await, "sampled: stateless");
}

/// The process id of the fixture upstream serving `c`.
async fn pid(c: &TestClient) -> u32 {
    c.call_text("a_pid", json!({})).await.parse().unwrap()
}

#[tokio::test]
async fn a_url_elicitations_completion_reaches_only_the_client_it_was_sent_to() {
    let remote = TestUpstream::http("remote", &[]);
    let gw = TestGateway::start(&format!("upstreams:\n  remote: {{ url: '{}' }}\n", remote.url)).await;
    let url_mode = json!({"elicitation": {"form": {}, "url": {}}});
    // Each client's session stream is open from its initialize on.
    let one = answering(&gw, url_mode.clone(), "").await;
    let two = answering(&gw, url_mode, "").await;

    let text = one.call_text("remote_ask_url", json!({})).await;
    let questions = one.questions();
    assert_eq!(questions[0]["params"]["mode"], "url");
    let first = questions[0]["params"]["elicitationId"].as_str().unwrap().to_string();
    assert_eq!(text, format!("accept: {first}"));
    let note = one.next_notification("notifications/elicitation/complete").await;
    assert_eq!(note["params"]["elicitationId"], first.as_str());

    // The second client's stream skips the first completion: its own is the first it hears.
    two.call_text("remote_ask_url", json!({})).await;
    let second = two.questions()[0]["params"]["elicitationId"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let note = two.next_notification("notifications/elicitation/complete").await;
    assert_eq!(note["params"]["elicitationId"], second.as_str(), "another client's completion never arrives here");
}

#[tokio::test]
async fn a_clients_roots_change_reaches_the_upstream_sessions_that_serve_it() {
    let yaml = format!(
        "upstreams:\n  a: {}\n  p:\n    stdio: {{ command: '{}', args: [--name, p] }}\n    sessions: per_client\n",
        stdio_fixture("a"),
        super::util::fixture_bin()
    );
    let gw = TestGateway::start(&yaml).await;
    let roots = json!({"roots": {"listChanged": true}});
    let one = TestClient::connect_with(&gw, HTTP, "default", roots.clone()).await;
    let two = TestClient::connect_with(&gw, HTTP, "default", roots).await;
    // Each client gets its own `p` process with its first call.
    assert_eq!(one.call_text("p_whoami", json!({})).await, "p");
    assert_eq!(two.call_text("p_whoami", json!({})).await, "p");

    one.notify("notifications/roots/list_changed", json!({})).await; // accepted with 202
    let heard = "notifications/roots/list_changed";
    eventually("the shared upstream session to hear of it", || async {
        (one.call_text("a_subscriptions", json!({})).await == heard).then_some(())
    })
    .await;
    eventually("the client's own upstream session to hear of it", || async {
        (one.call_text("p_subscriptions", json!({})).await == heard).then_some(())
    })
    .await;
    assert_eq!(two.call_text("p_subscriptions", json!({})).await, "", "another client's upstream session did not");
}

/// An upstream that withdraws its question (`notifications/cancelled` for its own request) has
/// the client told, under the id the client knows the question by, and the call goes on. Over
/// streamable HTTP the withdrawal arrives on the stream that carried the question, so it is only
/// seen if that stream keeps being read while the question waits.
#[tokio::test]
async fn an_upstream_withdrawing_its_question_reaches_the_client() {
    let remote = TestUpstream::http("remote", &[]);
    let yaml = format!(
        "upstreams:\n  remote: {{ url: '{}' }}\n  local: {{ stdio: {{ command: '{}' }}, sessions: per_client }}\n",
        remote.url,
        super::util::fixture_bin()
    );
    let gw = TestGateway::start(&yaml).await;
    // No handler: questions stay unanswered.
    let c = TestClient::connect_with(&gw, HTTP, "default", json!({"sampling": {}})).await;
    for tool in ["remote_ask_withdrawn", "local_ask_withdrawn"] {
        let result = c.call(tool, json!({})).await;
        // What came before the answer, on the call's stream.
        let seen = c.received().await;
        let question = seen.iter().find(|m| m["method"] == "sampling/createMessage").expect("the question came");
        let withdrawn = seen
            .iter()
            .find(|m| m["method"] == "notifications/cancelled")
            .unwrap_or_else(|| panic!("{tool}: the client was told the question is withdrawn: {seen:?}"));
        assert_eq!(withdrawn["params"]["requestId"], question["id"], "{tool}: under the client's id");
        assert!(!question["id"].to_string().contains("withdrawn"), "the upstream's id is not shown");
        assert_eq!(withdrawn["params"]["reason"], "no longer needed");
        assert_eq!(result["result"]["content"][0]["text"], "withdrawn", "{tool}");
        // Answering a withdrawn question is harmless (accepted with 202).
        let late = json!({"jsonrpc":"2.0","id":question["id"],"result":{"role":"assistant",
            "content":{"type":"text","text":"late"},"model":"m"}});
        c.send(late).await;
    }
}

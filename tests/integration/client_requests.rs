//! Requests an upstream makes of a client while serving its call (sampling, elicitation, roots):
//! they reach the client whose call caused them, and its answer goes back to the upstream.

use std::time::Duration;

use serde_json::{Value, json};

use super::util::{Client, TestGateway, TestUpstream, stdio_fixture};

/// Calls `tool` (which asks the client to sample or to open a URL), answers any sampling request
/// on the call's stream with `reply` (and accepts any elicitation), and returns the tool's text
/// and the questions seen.
pub(super) async fn call_and_answer(c: &Client, id: u64, tool: &str, reply: &str) -> (String, Vec<Value>) {
    let mut stream =
        c.post(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{}}})).await;
    assert_eq!(stream.status(), 200);
    let mut buffer = String::new();
    let mut questions = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: String = event.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
            let Ok(message) = serde_json::from_str::<Value>(&data) else { continue };
            if message["method"] == "sampling/createMessage" {
                let answer = json!({"jsonrpc":"2.0","id":message["id"],"result":{
                    "role":"assistant","content":{"type":"text","text":reply},"model":"test-model"}});
                assert_eq!(c.post(answer).await.status(), 202);
                questions.push(message);
            } else if message["method"] == "elicitation/create" {
                let answer = json!({"jsonrpc":"2.0","id":message["id"],"result":{"action":"accept"}});
                assert_eq!(c.post(answer).await.status(), 202);
                questions.push(message);
            } else if message["id"] == id {
                let text = message["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{message}"));
                return (text.to_string(), questions);
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("the call answered").unwrap();
        let Some(chunk) = chunk else {
            // A plain JSON answer (no stream).
            let message: Value = serde_json::from_str(&buffer).unwrap();
            return (message["result"]["content"][0]["text"].as_str().unwrap().to_string(), questions);
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn sampling_reaches_the_client_whose_call_caused_it() {
    let remote = TestUpstream::http("remote", &[]);
    let yaml = format!("upstreams:\n  remote: {{ url: '{}' }}\n  a: {}\n", remote.url, stdio_fixture("a"));
    let gw = TestGateway::start(&yaml).await;
    let one = Client::connect_with(gw.url("/mcp"), json!({"sampling": {}})).await;
    let two = Client::connect_with(gw.url("/mcp"), json!({"sampling": {}})).await;

    // Two clients call the same tool at once; each answers only its own question.
    let ((text1, q1), (text2, q2)) =
        tokio::join!(call_and_answer(&one, 1, "remote_ask", "one"), call_and_answer(&two, 2, "remote_ask", "two"));
    assert_eq!(text1, "sampled: one");
    assert_eq!(text2, "sampled: two");
    assert_eq!((q1.len(), q2.len()), (1, 1));
    assert_eq!(q1[0]["params"]["messages"][0]["content"]["text"], "question from remote", "params pass through");

    // A client that did not declare sampling is never asked; the upstream is refused.
    let mut plain = Client::connect(gw.url("/mcp")).await;
    let text = plain.call_text("remote_ask", json!({})).await;
    assert_eq!(text, "refused: the client does not support sampling");

    // A client that declared elicitation but not sampling is not asked to sample either.
    let other = Client::connect_with(gw.url("/mcp"), json!({"elicitation": {}})).await;
    let (text, questions) = call_and_answer(&other, 4, "remote_ask", "never").await;
    assert!(questions.is_empty());
    assert_eq!(text, "refused: the client does not support sampling");

    // On a stdio upstream nothing ties the question to a client, so it is refused, never misrouted.
    let (text, questions) = call_and_answer(&one, 3, "a_ask", "never").await;
    assert!(questions.is_empty());
    assert!(text.starts_with("refused:") && text.contains("cannot be passed to a client"), "{text}");
}

#[tokio::test]
async fn a_websocket_client_answers_sampling_on_its_connection() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let remote = TestUpstream::http("remote", &[]);
    let gw = TestGateway::start(&format!("upstreams:\n  remote: {{ url: '{}' }}\n", remote.url)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(gw.url("/ws").replace("http://", "ws://")).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"1"}}}))).await.unwrap();
    ws.send(send(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"remote_ask","arguments":{}}})))
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(frame)) = ws.next().await {
            let Message::Text(text) = frame else { continue };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["method"] == "sampling/createMessage" {
                let answer = json!({"jsonrpc":"2.0","id":message["id"],"result":{"role":"assistant","content":{"type":"text","text":"by websocket"},"model":"m"}});
                ws.send(send(answer)).await.unwrap();
            } else if message["id"] == 2 {
                return message;
            }
        }
        panic!("the connection closed");
    })
    .await
    .unwrap();
    assert_eq!(result["result"]["content"][0]["text"], "sampled: by websocket");
}

#[tokio::test]
async fn per_client_sessions_route_a_stdio_upstreams_requests_to_the_right_client() {
    let yaml = format!(
        "upstreams:\n  a:\n    stdio: {{ command: '{}', args: [--name, a] }}\n    sessions: per_client\n",
        super::util::fixture_bin()
    );
    let gw = TestGateway::start(&yaml).await;
    let one = Client::connect_with(gw.url("/mcp"), json!({"sampling": {}})).await;
    let two = Client::connect_with(gw.url("/mcp"), json!({"sampling": {}})).await;
    let ((text1, q1), (text2, q2)) =
        tokio::join!(call_and_answer(&one, 1, "a_ask", "one"), call_and_answer(&two, 2, "a_ask", "two"));
    assert_eq!((text1.as_str(), text2.as_str()), ("sampled: one", "sampled: two"));
    assert_eq!((q1.len(), q2.len()), (1, 1));

    // Each client has its own process; ending the session ends it.
    let (p1, p2) = (pid(&one, 3).await, pid(&two, 4).await);
    assert_ne!(p1, p2, "each client session has its own upstream process");
    assert_eq!(pid(&one, 5).await, p1, "and keeps it across calls");
    let r = reqwest::Client::new()
        .delete(gw.url("/mcp"))
        .header("mcp-session-id", one.session.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    super::util::eventually("the ended session's process to exit", || async move {
        (!super::util::process_alive(p1)).then_some(())
    })
    .await;
    assert!(super::util::process_alive(p2), "the other client's process is untouched");
}

/// The process id of the fixture upstream serving `c`.
async fn pid(c: &Client, id: u64) -> u32 {
    call_and_answer(c, id, "a_pid", "").await.0.parse().unwrap()
}

/// The first `notifications/elicitation/complete` on a session's GET stream.
async fn next_completion(stream: &mut reqwest::Response, buffer: &mut String) -> Value {
    super::util::next_message(stream, buffer, |m| m["method"] == "notifications/elicitation/complete").await
}

#[tokio::test]
async fn a_url_elicitations_completion_reaches_only_the_client_it_was_sent_to() {
    let remote = TestUpstream::http("remote", &[]);
    let gw = TestGateway::start(&format!("upstreams:\n  remote: {{ url: '{}' }}\n", remote.url)).await;
    let url_mode = json!({"elicitation": {"form": {}, "url": {}}});
    let one = Client::connect_with(gw.url("/mcp"), url_mode.clone()).await;
    let two = Client::connect_with(gw.url("/mcp"), url_mode).await;
    let (mut one_stream, mut two_stream) = (one.get_stream().await, two.get_stream().await);
    let (mut one_buffer, mut two_buffer) = (String::new(), String::new());

    let (text, questions) = call_and_answer(&one, 1, "remote_ask_url", "").await;
    assert_eq!(questions[0]["params"]["mode"], "url");
    let first = questions[0]["params"]["elicitationId"].as_str().unwrap().to_string();
    assert_eq!(text, format!("accept: {first}"));
    let note = next_completion(&mut one_stream, &mut one_buffer).await;
    assert_eq!(note["params"]["elicitationId"], first.as_str());

    // The second client's stream skips the first completion: its own is the first it hears.
    let (_, questions) = call_and_answer(&two, 2, "remote_ask_url", "").await;
    let second = questions[0]["params"]["elicitationId"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let note = next_completion(&mut two_stream, &mut two_buffer).await;
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
    let mut one = Client::connect_with(gw.url("/mcp"), roots.clone()).await;
    let mut two = Client::connect_with(gw.url("/mcp"), roots).await;
    // Each client gets its own `p` process with its first call.
    assert_eq!(one.call_text("p_whoami", json!({})).await, "p");
    assert_eq!(two.call_text("p_whoami", json!({})).await, "p");

    let r = one.post(json!({"jsonrpc":"2.0","method":"notifications/roots/list_changed"})).await;
    assert_eq!(r.status(), 202);
    let heard = "notifications/roots/list_changed";
    super::util::eventually("the shared upstream session to hear of it", || {
        let endpoint = gw.url("/mcp");
        async move { (Client::connect(endpoint).await.call_text("a_subscriptions", json!({})).await == heard).then_some(()) }
    })
    .await;
    for _ in 0..50 {
        if one.call_text("p_subscriptions", json!({})).await == heard {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(one.call_text("p_subscriptions", json!({})).await, heard, "the client's own upstream session heard it");
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
    let c = Client::connect_with(gw.url("/mcp"), json!({"sampling": {}})).await;
    for (id, tool) in [(1, "remote_ask_withdrawn"), (2, "local_ask_withdrawn")] {
        let mut stream =
            c.post(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{}}})).await;
        let mut buffer = String::new();
        let mut seen = Vec::new();
        let result = loop {
            let message = super::util::next_message(&mut stream, &mut buffer, |_| true).await;
            seen.push(message.clone());
            if message["id"] == id && message.get("method").is_none() {
                break message;
            }
        };
        let question = seen.iter().find(|m| m["method"] == "sampling/createMessage").expect("the question came");
        let withdrawn = seen
            .iter()
            .find(|m| m["method"] == "notifications/cancelled")
            .unwrap_or_else(|| panic!("{tool}: the client was told the question is withdrawn: {seen:?}"));
        assert_eq!(withdrawn["params"]["requestId"], question["id"], "{tool}: under the client's id");
        assert!(!question["id"].to_string().contains("withdrawn"), "the upstream's id is not shown");
        assert_eq!(withdrawn["params"]["reason"], "no longer needed");
        assert_eq!(result["result"]["content"][0]["text"], "withdrawn", "{tool}");
        // Answering a withdrawn question is harmless.
        let late = json!({"jsonrpc":"2.0","id":question["id"],"result":{"role":"assistant",
            "content":{"type":"text","text":"late"},"model":"m"}});
        assert_eq!(c.post(late).await.status(), 202);
    }
}

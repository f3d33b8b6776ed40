//! Traffic about a request that flows back to the client: progress reaches the client that
//! asked for it (with its own token), and cancellation, explicit or by disconnecting, reaches the upstream
//! (an event stream's disconnect, which waits for the client to resume, is in `resume.rs`).

use serde_json::{Value, json};

use super::clients::{TestClient, Transport};
use super::util::{Client, TestGateway, TestUpstream, eventually, stdio_fixture};

/// Posts a `tools/call` asking for progress; returns the content type and every message received.
async fn call_with_progress(c: &Client, id: u64, tool: &str, token: Value) -> (String, Vec<Value>) {
    let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name": tool, "arguments": {"steps": 3}, "_meta": {"progressToken": token}}});
    let r = c.post(body).await;
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    let text = r.text().await.unwrap();
    let messages = super::util::sse_messages(&text);
    (content_type, messages)
}

fn check_progress_then_result(messages: &[Value], id: u64, token: &Value) {
    assert_eq!(messages.len(), 4, "{messages:?}");
    for (i, m) in messages[..3].iter().enumerate() {
        assert_eq!(m["method"], "notifications/progress");
        assert_eq!(&m["params"]["progressToken"], token, "the client's own token comes back");
        assert_eq!(m["params"]["progress"], i as u64 + 1);
    }
    assert_eq!(messages[3]["id"], id);
    assert_eq!(messages[3]["result"]["content"][0]["text"], "progressed");
}

#[tokio::test]
async fn progress_reaches_the_client_that_asked_for_it_from_stdio_and_http_upstreams() {
    let remote = TestUpstream::http("remote", &[]);
    let yaml = format!("upstreams:\n  a: {}\n  remote: {{ url: '{}' }}\n", stdio_fixture("a"), remote.url);
    let gw = TestGateway::start(&yaml).await;
    let one = Client::connect(gw.url("/mcp")).await;
    let two = Client::connect(gw.url("/mcp")).await;
    // Two clients use the same token at once; each sees only its own progress.
    let ((ct1, m1), (ct2, m2)) = tokio::join!(
        call_with_progress(&one, 10, "a_progress", json!(1)),
        call_with_progress(&two, 20, "a_progress", json!(1))
    );
    assert_eq!(ct1, "text/event-stream");
    assert_eq!(ct2, "text/event-stream");
    check_progress_then_result(&m1, 10, &json!(1));
    check_progress_then_result(&m2, 20, &json!(1));
    let (_, m3) = call_with_progress(&one, 30, "remote_progress", json!("tok-http")).await;
    check_progress_then_result(&m3, 30, &json!("tok-http"));
}

#[tokio::test]
async fn a_client_cancellation_reaches_the_upstream() {
    let gw = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let caller = c.sibling();
    let slow = tokio::spawn(async move {
        let body = json!({"jsonrpc":"2.0","id":"slow-1","method":"tools/call","params":{"name":"a_sleep","arguments":{"ms":20000}}});
        caller.post(body).await.json::<Value>().await.unwrap()
    });
    // Cancel once the call runs on the upstream (retrying is harmless: an unknown id is ignored).
    eventually("the call to be running", || {
        let endpoint = gw.url("/mcp");
        async move { (Client::connect(endpoint).await.call_text("a_sleeping", json!({})).await == "1").then_some(()) }
    })
    .await;
    eventually("the cancelled call to answer", || {
        let c = &c;
        let slow = &slow;
        async move {
            let cancel = json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow-1","reason":"test"}});
            assert_eq!(c.post(cancel).await.status(), 202);
            slow.is_finished().then_some(())
        }
    })
    .await;
    let response = slow.await.unwrap();
    assert_eq!(response["id"], "slow-1");
    assert_eq!(response["error"]["code"], -32800, "{response}");
    upstream_heard_cancellations(&gw, "1").await;
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a", "the session goes on");
}

/// The bindings where several clients share one gateway's upstreams (a stdio client has its own).
const SHARED: [Transport; 3] = [Transport::StreamableHttp, Transport::Sse, Transport::WebSocket];

#[tokio::test]
async fn resource_updates_reach_only_the_sessions_subscribed_to_that_uri() {
    for transport in SHARED {
        let gw = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
        let one = TestClient::connect(&gw, transport, "default").await;
        let two = TestClient::connect(&gw, transport, "default").await;
        let three = TestClient::connect(&gw, transport, "default").await;
        let readme = "fixture://a/readme";
        let item = "fixture://a/items/1";
        // `one` subscribes twice; the second is a no-op.
        for _ in 0..2 {
            assert_eq!(one.request("resources/subscribe", json!({"uri": readme})).await["result"], json!({}));
        }
        assert_eq!(three.request("resources/subscribe", json!({"uri": readme})).await["result"], json!({}));
        assert_eq!(two.request("resources/subscribe", json!({"uri": item})).await["result"], json!({}));
        let missing = one.request("resources/subscribe", json!({"uri": "fixture://nobody/x"})).await;
        assert_eq!(missing["error"]["code"], -32002, "{transport}");

        assert_eq!(one.call_text("a_touch", json!({"uri": readme})).await, "touched");
        assert_eq!(one.call_text("a_touch", json!({"uri": item})).await, "touched");
        let first = one.next_message(|_| true).await;
        assert_eq!(first["method"], "notifications/resources/updated", "{transport}");
        assert_eq!(first["params"]["uri"], readme, "{transport}");
        let first = two.next_message(|_| true).await;
        assert_eq!(
            first["params"]["uri"], item,
            "{transport}: the readme update did not reach a session not subscribed to it"
        );

        // The upstream heard one subscribe per URI, and one unsubscribe once the last subscriber left.
        for c in [&one, &three] {
            assert_eq!(c.request("resources/unsubscribe", json!({"uri": readme})).await["result"], json!({}));
        }
        let heard = one.call_text("a_subscriptions", json!({})).await;
        assert_eq!(
            heard.lines().collect::<Vec<_>>(),
            [
                "resources/subscribe fixture://a/readme",
                "resources/subscribe fixture://a/items/1",
                "resources/unsubscribe fixture://a/readme"
            ],
            "{transport}"
        );
    }
}

/// Waits until the fixture upstream `a` has received `count` cancellations.
async fn upstream_heard_cancellations(gw: &TestGateway, count: &str) {
    eventually("the upstream to hear of the cancellation", || {
        let endpoint = gw.url("/mcp");
        async move {
            let mut c = Client::connect(endpoint).await;
            (c.call_text("a_cancellations", json!({})).await == count).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn log_messages_reach_sessions_at_the_level_they_asked_for() {
    let yaml = format!(
        "upstreams:\n  a: {}\n  b: {}\nvirtual_servers:\n  default: {{ tools: ['*'] }}\n  only_b: {{ tools: ['b_*'] }}\n",
        stdio_fixture("a"),
        stdio_fixture("b")
    );
    let gw = TestGateway::start(&yaml).await;
    // Each client's session stream is open from its initialize on.
    let info = TestClient::connect(&gw, Transport::StreamableHttp, "default").await;
    let other = TestClient::connect(&gw, Transport::StreamableHttp, "only_b").await;
    assert_eq!(info.request("logging/setLevel", json!({"level": "info"})).await["result"], json!({}));
    assert_eq!(other.request("logging/setLevel", json!({"level": "debug"})).await["result"], json!({}));
    assert_eq!(info.request("logging/setLevel", json!({"level": "loud"})).await["error"]["code"], -32602);

    assert_eq!(info.call_text("a_log", json!({"level": "debug", "message": "too quiet"})).await, "logged");
    assert_eq!(info.call_text("a_log", json!({"level": "warning", "message": "heard"})).await, "logged");
    let note = info.next_message(|_| true).await;
    assert_eq!(note["method"], "notifications/message");
    assert_eq!(note["params"]["data"], "heard", "the debug message was below this session's level");
    assert_eq!(note["params"]["logger"], "a/fixture");
    assert_eq!(note["params"]["level"], "warning");

    // A session whose virtual server has nothing of `a` hears only `b`.
    assert_eq!(info.call_text("b_log", json!({"level": "error", "message": "from b"})).await, "logged");
    let note = other.next_message(|_| true).await;
    assert_eq!(note["params"]["data"], "from b");
    assert_eq!(note["params"]["logger"], "b/fixture");

    // The upstreams were asked for the most verbose level any of their clients wanted.
    let heard = info.call_text("a_subscriptions", json!({})).await;
    assert_eq!(heard, "logging/setLevel info");
    // (`b` was asked twice, each time for something more verbose; the two requests may cross.)
    let heard = info.call_text("b_subscriptions", json!({})).await;
    let mut heard: Vec<&str> = heard.lines().collect();
    heard.sort();
    assert_eq!(heard, ["logging/setLevel debug", "logging/setLevel info"]);
}

#[tokio::test]
async fn a_session_that_ends_releases_its_subscriptions() {
    // However it ends: DELETE (answered 204), a closed SSE stream, a closed socket.
    for transport in SHARED {
        let gw = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
        let leaving = TestClient::connect(&gw, transport, "default").await;
        let staying = TestClient::connect(&gw, transport, "default").await;
        let uri = "fixture://a/items/2";
        assert_eq!(leaving.request("resources/subscribe", json!({"uri": uri})).await["result"], json!({}));
        let r = staying.request("resources/subscribe", json!({"uri": "fixture://a/readme"})).await;
        assert_eq!(r["result"], json!({}));
        leaving.close().await;
        let heard = eventually("the upstream to be unsubscribed", || async {
            let heard = staying.call_text("a_subscriptions", json!({})).await;
            heard.contains("resources/unsubscribe").then_some(heard)
        })
        .await;
        assert_eq!(
            heard.lines().collect::<Vec<_>>(),
            [
                "resources/subscribe fixture://a/items/2",
                "resources/subscribe fixture://a/readme",
                "resources/unsubscribe fixture://a/items/2"
            ],
            "{transport}: only the ended session's subscription is released"
        );
    }
}

#[tokio::test]
async fn a_client_that_disconnects_from_a_plain_json_call_cancels_it_upstream() {
    let gw = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
    let c = Client::connect(gw.url("/mcp")).await;
    let body =
        json!({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"a_sleep","arguments":{"ms":20000}}});
    let call = tokio::spawn(async move { c.post(body).await });
    eventually("the call to be running", || {
        let endpoint = gw.url("/mcp");
        async move { (Client::connect(endpoint).await.call_text("a_sleeping", json!({})).await == "1").then_some(()) }
    })
    .await;
    call.abort();
    upstream_heard_cancellations(&gw, "1").await;
}

//! Traffic about a request that flows back to the client: progress reaches the client that
//! asked for it (with its own token), and cancellation, explicit or by disconnecting, reaches the upstream.

use serde_json::{Value, json};

use super::util::{Client, TestGateway, TestUpstream, eventually, stdio_fixture};

/// Posts a `tools/call` asking for progress; returns the content type and every message received.
async fn call_with_progress(c: &Client, id: u64, tool: &str, token: Value) -> (String, Vec<Value>) {
    let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name": tool, "arguments": {"steps": 3}, "_meta": {"progressToken": token}}});
    let r = c.post(body).await;
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    let text = r.text().await.unwrap();
    let messages =
        text.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
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
    let endpoint = gw.url("/mcp");
    let session = c.session.clone();
    let slow = tokio::spawn(async move {
        let mut caller = Client::unconnected(endpoint);
        caller.session = session;
        let body = json!({"jsonrpc":"2.0","id":"slow-1","method":"tools/call","params":{"name":"a_sleep","arguments":{"ms":20000}}});
        caller.post(body).await.json::<Value>().await.unwrap()
    });
    // Cancel once the call is registered (retrying is harmless: an unknown id is ignored).
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
    eventually("the upstream to hear of the cancellation", || {
        let endpoint = gw.url("/mcp");
        async move {
            let mut c = Client::connect(endpoint).await;
            (c.call_text("a_cancellations", json!({})).await == "1").then_some(())
        }
    })
    .await;
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a", "the session goes on");
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_its_call_upstream() {
    let gw = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    // A progress token makes the answer a stream; dropping it mid-call is a disconnect.
    let body = json!({"jsonrpc":"2.0","id":5,"method":"tools/call",
        "params":{"name":"a_sleep","arguments":{"ms":20000},"_meta":{"progressToken":"p"}}});
    let r = c.post(body).await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    drop(r);
    eventually("the upstream to hear of the cancellation", || {
        let endpoint = gw.url("/mcp");
        async move {
            let mut c = Client::connect(endpoint).await;
            (c.call_text("a_cancellations", json!({})).await == "1").then_some(())
        }
    })
    .await;
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a");
}

//! Legacy HTTP+SSE serving: the stream announces its message endpoint, answers arrive on the
//! stream, and closing the stream ends the session.

use serde_json::{Value, json};

use super::clients::{TestClient, Transport};
use super::util::{TestGateway, eventually, stdio_fixture};

#[tokio::test]
async fn sse_client_initializes_calls_and_gets_progress_on_its_stream() {
    let yaml = format!(
        "upstreams:\n  a: {}\nvirtual_servers:\n  default: {{ tools: ['*'] }}\n  ops: {{ tools: ['a_*'] }}\n",
        stdio_fixture("a")
    );
    let gw = TestGateway::start(&yaml).await;
    // The client checks the stream's content type; every POST it makes must be accepted with 202.
    let sse = TestClient::open(&gw, Transport::Sse, "ops").await;
    let endpoint = sse.sse_messages_url().strip_prefix(&gw.base).unwrap().to_string();
    assert!(endpoint.starts_with("/servers/ops/messages?session_id="), "{endpoint}");

    // Before initialize, requests other than ping are refused on the stream.
    let early = sse.request_as(json!(90), "tools/list", json!({})).await;
    assert_eq!(early["error"]["code"], -32600);
    assert_eq!(sse.request_as(json!(91), "ping", json!({})).await["result"], json!({}));

    let init = sse.initialize("2024-11-05", json!({})).await;
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");
    sse.notify("notifications/initialized", json!({})).await;
    assert_eq!(sse.call_text("a_whoami", json!({})).await, "a");

    let progress = json!({"name":"a_progress","arguments":{"steps":2},"_meta":{"progressToken":"t"}});
    let done = sse.request("tools/call", progress).await;
    let seen: Vec<Value> = sse
        .received()
        .await
        .into_iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| m["params"]["progressToken"].clone())
        .collect();
    assert_eq!(seen, [json!("t"), json!("t")]);
    assert_eq!(done["result"]["content"][0]["text"], "progressed");

    // Closing the stream ends the session.
    let messages = sse.sse_messages_url().to_string();
    sse.close().await;
    let http = reqwest::Client::new();
    eventually("the session to end with its stream", || {
        let post = http
            .post(&messages)
            .header("content-type", "application/json")
            .body(json!({"jsonrpc":"2.0","id":4,"method":"ping"}).to_string())
            .send();
        async move { (post.await.unwrap().status() == 404).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn sse_posts_need_a_live_session() {
    let gw = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
    let http = reqwest::Client::new();
    let r = http
        .post(gw.url("/messages?session_id=nope"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http.get(gw.url("/servers/missing/sse")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

//! Resumable event streams (streamable HTTP, 2025-11-25): a request answered as an event stream
//! survives its connection dropping, and a GET with `Last-Event-ID` picks up where it left off;
//! one nobody comes back for is cancelled upstream once `serving.resume_window` passes.

use std::time::Duration;

use serde_json::{Value, json};

use super::util::{Client, TestGateway, TestUpstream, eventually, sse_messages, stdio_fixture};

fn gateway_yaml(window: &str) -> String {
    format!("serving: {{ resume_window: {window} }}\nupstreams:\n  a: {}\n", stdio_fixture("a"))
}

/// A `tools/call` of the fixture's `sleep` that asks for progress, so it is answered as a stream.
fn slow_call(id: u64, ms: u64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":"a_sleep","arguments":{"ms":ms},"_meta":{"progressToken":"p"}}})
}

/// Reads the first event of a stream (the priming event) whole.
async fn first_event(stream: &mut reqwest::Response) -> String {
    let mut buffer = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !buffer.contains("\n\n") {
            let chunk = stream.chunk().await.unwrap().expect("the stream stays open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the stream opened with an event");
    buffer.split("\n\n").next().unwrap().to_string()
}

async fn sleeping(gw: &TestGateway) -> String {
    Client::connect(gw.url("/mcp")).await.call_text("a_sleeping", json!({})).await
}

/// Starts a long call, drops its stream once the upstream runs it, and waits until the upstream
/// hears it cancelled.
async fn disconnect_mid_call(gw: &TestGateway, c: &Client, id: u64) {
    let stream = c.post(slow_call(id, 20000)).await;
    eventually("the call to be running", || async { (sleeping(gw).await == "1").then_some(()) }).await;
    drop(stream);
    eventually("the upstream to hear of the cancellation", || async {
        (Client::connect(gw.url("/mcp")).await.call_text("a_cancellations", json!({})).await == "1").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_dropped_stream_resumes_with_last_event_id_and_the_call_is_not_cancelled() {
    let gw = TestGateway::start(&gateway_yaml("30s")).await;
    let c = Client::connect(gw.url("/mcp")).await;
    let mut stream = c.post(slow_call(7, 800)).await;
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let priming = first_event(&mut stream).await;
    let id = priming.lines().find_map(|l| l.strip_prefix("id: ")).expect("the priming event has an id").to_string();
    assert!(priming.lines().any(|l| l.starts_with("retry: ")), "it says when to come back: {priming:?}");
    assert!(priming.lines().any(|l| l == "data: "), "and carries no message: {priming:?}");

    // The connection drops while the call runs; the call finishes while nobody is connected.
    eventually("the call to be running", || async { (sleeping(&gw).await == "1").then_some(()) }).await;
    drop(stream);
    eventually("the call to finish", || async { (sleeping(&gw).await == "0").then_some(()) }).await;

    let resumed = c.resume(&id).await;
    assert_eq!(resumed.status(), 200);
    let messages = sse_messages(&resumed.text().await.unwrap());
    let answer =
        messages.iter().find(|m| m["id"] == 7).unwrap_or_else(|| panic!("the answer is replayed: {messages:?}"));
    assert_eq!(answer["result"]["content"][0]["text"], "slept");
    let mut c = c;
    assert_eq!(c.call_text("a_cancellations", json!({})).await, "0", "a disconnect is not a cancellation");
}

#[tokio::test]
async fn a_resumed_stream_carries_what_comes_after_it_reattaches() {
    let gw = TestGateway::start(&gateway_yaml("30s")).await;
    let c = Client::connect(gw.url("/mcp")).await;
    let mut stream = c.post(slow_call(8, 1500)).await;
    let priming = first_event(&mut stream).await;
    let id = priming.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().to_string();
    drop(stream);
    // Reattached before the answer exists: it arrives on the new connection, which then ends.
    let resumed = c.resume(&id).await;
    assert_eq!(resumed.status(), 200);
    let text = tokio::time::timeout(Duration::from_secs(20), resumed.text()).await.unwrap().unwrap();
    let answer = sse_messages(&text).into_iter().find(|m| m["id"] == 8).expect("the answer arrives");
    assert_eq!(answer["result"]["content"][0]["text"], "slept");
    let answer_id = text
        .split("\n\n")
        .find(|e| e.contains("\"slept\""))
        .and_then(|e| e.lines().find_map(|l| l.strip_prefix("id: ")).map(str::to_string));
    // Resuming after the last event gives an empty stream, not the answer twice.
    let again = c.resume(&answer_id.expect("the answer has an event id")).await;
    assert_eq!(again.status(), 200);
    assert!(sse_messages(&again.text().await.unwrap()).is_empty());
}

#[tokio::test]
async fn a_client_that_never_comes_back_has_its_call_cancelled_after_the_window() {
    let gw = TestGateway::start(&gateway_yaml("300ms")).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    disconnect_mid_call(&gw, &c, 9).await;
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a", "the session goes on");
}

#[tokio::test]
async fn event_ids_resume_only_their_own_sessions_streams() {
    let gw = TestGateway::start(&gateway_yaml("30s")).await;
    let owner = Client::connect(gw.url("/mcp")).await;
    let other = Client::connect(gw.url("/mcp")).await;
    let mut stream = owner.post(slow_call(10, 300)).await;
    let priming = first_event(&mut stream).await;
    let id = priming.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().to_string();

    let stolen = other.resume(&id).await;
    assert_eq!(stolen.status(), 410, "another session's event id names nothing in this session");
    let error: Value = stolen.json().await.unwrap();
    assert_eq!(error["error"]["code"], -32600);
    assert_eq!(other.resume("not-an-id").await.status(), 400);
    // The owner's stream was not disturbed.
    let text = stream.text().await.unwrap();
    assert!(sse_messages(&text).iter().any(|m| m["id"] == 10), "the owner still gets its answer: {text}");
}

#[tokio::test]
async fn with_no_resume_window_streams_carry_no_ids_and_a_disconnect_cancels_at_once() {
    let gw = TestGateway::start(&gateway_yaml("0s")).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let text = c.post(slow_call(11, 10)).await.text().await.unwrap();
    assert!(!text.lines().any(|l| l.starts_with("id: ")), "no event ids: {text}");
    assert!(sse_messages(&text).iter().any(|m| m["id"] == 11));
    disconnect_mid_call(&gw, &c, 12).await;
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a");
}

#[tokio::test]
async fn mcpgw_resumes_an_upstream_stream_that_closes_before_its_answer() {
    // The fixture's `test_reconnection` sends a priming event, closes the stream, and gives the
    // answer only to a GET with `Last-Event-ID` (SSE polling, 2025-11-25).
    let upstream = TestUpstream::http("c", &["--conformance"]);
    let gw = TestGateway::start(&format!("upstreams:\n  c: {{ url: '{}', era: session }}\n", upstream.url)).await;
    gw.wait_upstream("c", "up").await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert_eq!(c.call_text("c_test_reconnection", json!({})).await, "Reconnection test completed successfully");
}

#[tokio::test]
async fn the_sessions_own_stream_keeps_what_happened_while_the_client_was_away() {
    let gw = TestGateway::start(&gateway_yaml("30s")).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let uri = "fixture://a/readme";
    assert_eq!(c.request("resources/subscribe", json!({"uri": uri})).await["result"], json!({}));
    let mut stream = c.get_stream().await;
    let priming = first_event(&mut stream).await;
    let id = priming.lines().find_map(|l| l.strip_prefix("id: ")).expect("the GET stream opens with an id").to_string();
    drop(stream);

    // The update happens while no stream is open.
    assert_eq!(c.call_text("a_touch", json!({"uri": uri})).await, "touched");
    let mut resumed = c.resume(&id).await;
    assert_eq!(resumed.status(), 200);
    let mut buffer = String::new();
    let update = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let chunk = resumed.chunk().await.unwrap().expect("the stream stays open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(m) =
                sse_messages(&buffer).into_iter().find(|m| m["method"] == "notifications/resources/updated")
            {
                return m;
            }
        }
    })
    .await
    .expect("the update held for the session arrives on the resumed stream");
    assert_eq!(update["params"]["uri"], uri);
}

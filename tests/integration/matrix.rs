//! Every served transport × every upstream transport: a `tools/call` that reports progress, so
//! each cell carries a request, its notifications and its answer through one code path.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::util::{Client, TestGateway, TestUpstream, stdio_exchange, stdio_fixture};

/// The four upstream kinds, each ending in the fixture: stdio, streamable HTTP, and legacy SSE and
/// WebSocket through a front gateway.
const UPSTREAMS: [&str; 4] = ["s", "h", "e", "w"];

fn call(id: usize, upstream: &str) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":format!("{upstream}_progress"),"arguments":{"steps":2},"_meta":{"progressToken":format!("tok-{id}")}}})
}

/// Asserts that `messages` hold two progress notifications for `id`'s token and then its result.
fn check_cell(transport: &str, upstream: &str, id: usize, messages: &[Value]) {
    let token = json!(format!("tok-{id}"));
    let progress = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress" && m["params"]["progressToken"] == token)
        .count();
    assert_eq!(progress, 2, "{transport} × {upstream}: progress missing in {messages:?}");
    let answer =
        messages.iter().find(|m| m["id"] == id).unwrap_or_else(|| panic!("{transport} × {upstream}: no answer"));
    assert_eq!(answer["result"]["content"][0]["text"], "progressed", "{transport} × {upstream}");
}

#[tokio::test]
async fn every_served_transport_reaches_every_upstream_transport() {
    let front =
        TestGateway::start(&format!("upstreams:\n  f: {}\nserving: {{ max_sessions: 100 }}\n", stdio_fixture("f")))
            .await;
    let http = TestUpstream::http("h", &[]);
    // The front's tools are `f_*`; a rename makes every upstream offer `<prefix>_progress`.
    let rename = "tools: { rename: { f_progress: progress } }";
    let config = format!(
        "upstreams:\n  s: {}\n  h: {{ url: '{}' }}\n  e: {{ sse: '{}', {rename} }}\n  w: {{ websocket: '{}', {rename} }}\n",
        stdio_fixture("s"),
        http.url,
        front.url("/sse"),
        front.url("/ws").replace("http://", "ws://"),
    );
    let gw = TestGateway::start(&config).await;
    for u in UPSTREAMS {
        gw.wait_upstream(u, "up").await;
    }

    // Streamable HTTP: the POST's event stream.
    let c = Client::connect(gw.url("/mcp")).await;
    for (i, u) in UPSTREAMS.iter().enumerate() {
        let text = c.post(call(100 + i, u)).await.text().await.unwrap();
        let messages: Vec<Value> =
            text.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
        check_cell("streamable_http", u, 100 + i, &messages);
    }

    // WebSocket.
    let (mut ws, _) = tokio_tungstenite::connect_async(gw.url("/ws").replace("http://", "ws://")).await.unwrap();
    ws.send(Message::Text(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"m","version":"1"}}}).to_string().into())).await.unwrap();
    for (i, u) in UPSTREAMS.iter().enumerate() {
        ws.send(Message::Text(call(200 + i, u).to_string().into())).await.unwrap();
    }
    let mut seen = Vec::new();
    while UPSTREAMS.iter().enumerate().any(|(i, _)| !seen.iter().any(|m: &Value| m["id"] == 200 + i)) {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(t) = frame {
            seen.push(serde_json::from_str(&t).unwrap());
        }
    }
    for (i, u) in UPSTREAMS.iter().enumerate() {
        check_cell("websocket", u, 200 + i, &seen);
    }

    // Legacy SSE: answers on the session's stream.
    let http_client = reqwest::Client::new();
    let mut stream = http_client.get(gw.url("/sse")).header("accept", "text/event-stream").send().await.unwrap();
    let mut buffer = String::new();
    let mut events: Vec<(String, String)> = Vec::new();
    let mut endpoint = None;
    let mut posted = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !UPSTREAMS
        .iter()
        .enumerate()
        .all(|(i, _)| events.iter().any(|(_, d)| d.contains(&format!("\"id\":{}", 300 + i))))
    {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.unwrap().unwrap().unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let kind = event.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("message").to_string();
            let data: String = event.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
            if kind == "endpoint" {
                endpoint = Some(data);
            } else {
                events.push((kind, data));
            }
        }
        if let (Some(e), false) = (&endpoint, posted) {
            posted = true;
            for (i, u) in UPSTREAMS.iter().enumerate() {
                let r = http_client
                    .post(gw.url(e))
                    .header("content-type", "application/json")
                    .body(call(300 + i, u).to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
            }
        }
    }
    let messages: Vec<Value> = events.iter().map(|(_, d)| serde_json::from_str(d).unwrap()).collect();
    for (i, u) in UPSTREAMS.iter().enumerate() {
        check_cell("sse", u, 300 + i, &messages);
    }

    // stdio: a second gateway process on the same config.
    let config_path = gw.config.to_str().unwrap().to_string();
    let mut lines = vec![json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"m","version":"1"}}}).to_string()];
    lines.extend(UPSTREAMS.iter().enumerate().map(|(i, u)| call(400 + i, u).to_string()));
    let (out, _) =
        tokio::task::spawn_blocking(move || stdio_exchange(&["stdio", "-c", &config_path], &lines)).await.unwrap();
    for (i, u) in UPSTREAMS.iter().enumerate() {
        check_cell("stdio", u, 400 + i, &out);
    }

    // Plain JSON-RPC has no channel for notifications; the answer alone comes back.
    for (i, u) in UPSTREAMS.iter().enumerate() {
        let r: Value = http_client
            .post(gw.url("/rpc"))
            .header("content-type", "application/json")
            .body(call(500 + i, u).to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["result"]["content"][0]["text"], "progressed", "rpc × {u}");
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_does_not_hold_up_others() {
    let gw = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
    let (mut silent, _) = tokio_tungstenite::connect_async(gw.url("/ws").replace("http://", "ws://")).await.unwrap();
    silent
        .send(Message::Text(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"m","version":"1"}}}).to_string().into()))
        .await
        .unwrap();
    // Far more answer bytes than the queue and the socket buffers hold, none of them read. The
    // gateway stops reading from this client once its requests fill their slots, so the sender blocks.
    let big = "x".repeat(16 * 1024);
    let flood = tokio::spawn(async move {
        for id in 1..=1500 {
            let call = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"a_echo","arguments":{"text":big}}});
            if silent.send(Message::Text(call.to_string().into())).await.is_err() {
                break;
            }
        }
        silent
    });
    // A head start for the flood; the assertions below hold however far it got.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    for _ in 0..5 {
        assert_eq!(c.call_text("a_whoami", json!({})).await, "a");
    }
    flood.abort();
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a");
    let (_, ready) = gw.readyz().await;
    assert_eq!(ready["upstreams"]["a"]["state"], "up");
}

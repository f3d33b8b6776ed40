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
        let messages: Vec<Value> = super::util::sse_messages(&text);
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
            let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"m","version":"1"}}});
            let r = http_client
                .post(gw.url(e))
                .header("content-type", "application/json")
                .body(init.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
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

/// A gateway whose four upstreams (stdio, streamable HTTP, legacy SSE, WebSocket; the last two
/// through a front gateway) each offer `<prefix>_ask`, which asks the calling client to sample.
/// stdio, SSE and WebSocket use per-client sessions, so their requests can reach the right client.
async fn asking_gateways() -> (TestGateway, TestGateway, TestUpstream) {
    let fixture = |name: &str| format!("{{ command: '{}', args: [--name, {name}] }}", super::util::fixture_bin());
    let front =
        TestGateway::start(&format!("upstreams:\n  f:\n    stdio: {}\n    sessions: per_client\n", fixture("f"))).await;
    let http = TestUpstream::http("h", &[]);
    let rename = "tools: { rename: { f_ask: ask } }";
    let config = format!(
        "upstreams:\n  s: {{ stdio: {}, sessions: per_client }}\n  h: {{ url: '{}' }}\n  \
         e: {{ sse: '{}', sessions: per_client, {rename} }}\n  w: {{ websocket: '{}', sessions: per_client, {rename} }}\n",
        fixture("s"),
        http.url,
        front.url("/sse"),
        front.url("/ws").replace("http://", "ws://"),
    );
    let gw = TestGateway::start(&config).await;
    for u in UPSTREAMS {
        gw.wait_upstream(u, "up").await;
    }
    (gw, front, http)
}

fn sampled(answer: &Value) -> String {
    answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{answer}")).to_string()
}

fn sampling_reply(request: &Value, text: &str) -> Value {
    json!({"jsonrpc":"2.0","id":request["id"],"result":{"role":"assistant","content":{"type":"text","text":text},"model":"m"}})
}

#[tokio::test]
async fn every_served_transport_answers_an_upstreams_request_through_every_upstream_transport() {
    let (gw, _front, _http) = asking_gateways().await;

    // Streamable HTTP: the question arrives on the call's stream, the answer is POSTed.
    let c = Client::connect_with(gw.url("/mcp"), json!({"sampling": {}})).await;
    for (i, u) in UPSTREAMS.iter().enumerate() {
        let (text, questions) =
            super::client_requests::call_and_answer(&c, 600 + i as u64, &format!("{u}_ask"), "http").await;
        assert_eq!((text.as_str(), questions.len()), ("sampled: http", 1), "streamable_http × {u}");
    }

    // WebSocket: question and answer are frames on the connection.
    let (mut ws, _) = tokio_tungstenite::connect_async(gw.url("/ws").replace("http://", "ws://")).await.unwrap();
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"m","version":"1"}}});
    ws.send(Message::Text(init.to_string().into())).await.unwrap();
    for (i, u) in UPSTREAMS.iter().enumerate() {
        let id = 700 + i;
        let call =
            json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":format!("{u}_ask"),"arguments":{}}});
        ws.send(Message::Text(call.to_string().into())).await.unwrap();
        let answer = loop {
            let frame = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.unwrap().unwrap().unwrap();
            let Message::Text(text) = frame else { continue };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["method"] == "sampling/createMessage" {
                ws.send(Message::Text(sampling_reply(&message, "ws").to_string().into())).await.unwrap();
            } else if message["id"] == id {
                break message;
            }
        };
        assert_eq!(sampled(&answer), "sampled: ws", "websocket × {u}");
    }

    // Legacy SSE: the question arrives on the session's stream, the answer is POSTed.
    let http = reqwest::Client::new();
    let mut stream = http.get(gw.url("/sse")).header("accept", "text/event-stream").send().await.unwrap();
    let mut buffer = String::new();
    let mut endpoint = None;
    let mut pending: Vec<(usize, &str)> = UPSTREAMS.iter().enumerate().map(|(i, u)| (800 + i, *u)).collect();
    let mut started = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !pending.is_empty() {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.unwrap().unwrap().unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: String = event.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
            if event.contains("event: endpoint") {
                endpoint = Some(gw.url(&data));
                continue;
            }
            let Ok(message) = serde_json::from_str::<Value>(&data) else { continue };
            let post_to = endpoint.clone().unwrap();
            let post = |body: Value| {
                http.post(&post_to).header("content-type", "application/json").body(body.to_string()).send()
            };
            if message["method"] == "sampling/createMessage" {
                assert_eq!(post(sampling_reply(&message, "sse")).await.unwrap().status(), 202);
            } else if let Some(pos) = pending.iter().position(|(id, _)| message["id"] == *id) {
                let (_, u) = pending.remove(pos);
                assert_eq!(sampled(&message), "sampled: sse", "sse × {u}");
                if let Some((id, u)) = pending.first() {
                    let call = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":format!("{u}_ask"),"arguments":{}}});
                    assert_eq!(post(call).await.unwrap().status(), 202);
                }
            }
        }
        if let (Some(e), false) = (&endpoint, started) {
            started = true;
            let post =
                |body: Value| http.post(e).header("content-type", "application/json").body(body.to_string()).send();
            let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{"sampling":{}},"clientInfo":{"name":"m","version":"1"}}});
            assert_eq!(post(init).await.unwrap().status(), 202);
            let (id, u) = pending[0];
            let call = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":format!("{u}_ask"),"arguments":{}}});
            assert_eq!(post(call).await.unwrap().status(), 202);
        }
    }
}

/// The name an upstream of `asking_gateways` gives a fixture tool (e and w reach it through the front).
fn tool_of(upstream: &str, tool: &str) -> String {
    match upstream {
        "e" | "w" => format!("{upstream}_f_{tool}"),
        _ => format!("{upstream}_{tool}"),
    }
}

/// Waits until `tool`, called on `c`'s session, answers "1".
async fn server_reports(c: &Client, tool: &str, what: &str) {
    super::util::eventually(what, || {
        let mut same = c.sibling();
        async move { (same.call_text(tool, json!({})).await == "1").then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn a_cancelled_call_is_cancelled_at_every_upstream_transport() {
    let (gw, _front, _http) = asking_gateways().await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    for (i, u) in UPSTREAMS.iter().enumerate() {
        let id = format!("slow-{i}");
        let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool_of(u, "sleep"),"arguments":{"ms":20000}}});
        let caller = c.sibling();
        let slow = tokio::spawn(async move { caller.post(body).await.json::<Value>().await.unwrap() });
        // Cancel once the call runs on its server: a cancel that arrives earlier stops it before
        // it is sent, and the server never hears of it (correctly, but then there is nothing to check).
        server_reports(&c, &tool_of(u, "sleeping"), &format!("the call to {u} to be running")).await;
        super::util::eventually(&format!("the call to {u} to be cancelled"), || {
            let c = &c;
            let slow = &slow;
            let id = id.clone();
            async move {
                let cancel = json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":id}});
                assert_eq!(c.post(cancel).await.status(), 202);
                slow.is_finished().then_some(())
            }
        })
        .await;
        assert_eq!(slow.await.unwrap()["error"]["code"], -32800, "{u}");
        server_reports(&c, &tool_of(u, "cancellations"), &format!("{u}'s server to hear of it")).await;
    }
    assert_eq!(c.call_text("h_whoami", json!({})).await, "h", "the session goes on");
}

#[tokio::test]
async fn a_stdio_client_answers_an_upstreams_request_through_every_upstream_transport() {
    use std::io::{BufRead, BufReader, Write};
    let (gw, _front, _http) = asking_gateways().await;
    let config = gw.config.clone();
    let answers = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(super::util::gateway_bin())
            .args(["stdio", "-c"])
            .arg(&config)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"m","version":"1"}}});
        writeln!(stdin, "{init}").unwrap();
        let mut answers = Vec::new();
        for (i, u) in UPSTREAMS.iter().enumerate() {
            let id = 900 + i;
            writeln!(stdin, "{}", json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":format!("{u}_ask"),"arguments":{}}})).unwrap();
            loop {
                let message: Value = serde_json::from_str(&lines.next().expect("mcpgw answered").unwrap()).unwrap();
                if message["method"] == "sampling/createMessage" {
                    writeln!(stdin, "{}", sampling_reply(&message, "stdio")).unwrap();
                } else if message["id"] == id {
                    answers.push((u.to_string(), sampled(&message)));
                    break;
                }
            }
        }
        drop(stdin);
        let _ = child.wait();
        answers
    })
    .await
    .unwrap();
    assert_eq!(answers.len(), UPSTREAMS.len());
    for (u, text) in answers {
        assert_eq!(text, "sampled: stdio", "stdio × {u}");
    }
}

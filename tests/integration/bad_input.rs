//! Bad input from clients gets the prescribed HTTP or JSON-RPC error, never a crash or a hang.

use serde_json::{Value, json};

use super::util::{Client, TestGateway, TestUpstream, eventually, stdio_fixture};

async fn gateway() -> TestGateway {
    TestGateway::start(&format!("serving: {{ max_body_bytes: 1024 }}\nupstreams:\n  a: {}\n", stdio_fixture("a"))).await
}

async fn raw_post(gw: &TestGateway, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let mut r = reqwest::Client::new().post(gw.url("/mcp"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn malformed_messages_get_json_rpc_errors() {
    let gw = gateway().await;
    let (code, body) = raw_post(&gw, &[JSON], "{not json").await;
    assert_eq!((code, body["error"]["code"].as_i64()), (400, Some(-32700)));
    assert_eq!(body["id"], Value::Null);
    let (code, body) = raw_post(&gw, &[JSON], r#"{"id":1,"method":"ping"}"#).await;
    assert_eq!((code, body["error"]["code"].as_i64()), (400, Some(-32600)));
    let (code, body) = raw_post(&gw, &[JSON], r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).await;
    assert_eq!((code, body["error"]["code"].as_i64()), (400, Some(-32600)), "a batch without a session");
    let (code, _) = raw_post(&gw, &[("content-type", "text/plain")], "{}").await;
    assert_eq!(code, 415);
    let big = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#, "x".repeat(2000));
    let (code, _) = raw_post(&gw, &[JSON], &big).await;
    assert_eq!(code, 413);
    // The gateway is still fine.
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a");
}

#[tokio::test]
async fn sessions_are_required_and_checked() {
    let gw = gateway().await;
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let (code, _) = raw_post(&gw, &[JSON], ping).await;
    assert_eq!(code, 400, "a request without a session id");
    let (code, _) = raw_post(&gw, &[JSON, ("mcp-session-id", "nope")], ping).await;
    assert_eq!(code, 404, "an unknown session id");
    let c = Client::connect(gw.url("/mcp")).await;
    let sid = c.session.clone().unwrap();
    let (code, _) =
        raw_post(&gw, &[JSON, ("mcp-session-id", &sid), ("mcp-protocol-version", "1999-01-01")], ping).await;
    assert_eq!(code, 400, "an unsupported protocol version header");
    let r = reqwest::Client::new().delete(gw.url("/mcp")).header("mcp-session-id", &sid).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (code, _) = raw_post(&gw, &[JSON, ("mcp-session-id", &sid)], ping).await;
    assert_eq!(code, 404, "a deleted session is gone");
}

#[tokio::test]
async fn unknown_methods_tools_and_params_are_json_rpc_errors() {
    let gw = gateway().await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert_eq!(c.request("no/such/method", json!({})).await["error"]["code"], -32601);
    assert_eq!(c.call("a_missing", json!({})).await["error"]["code"], -32602);
    assert_eq!(c.request("tools/call", json!({"arguments": {}})).await["error"]["code"], -32602);
    assert_eq!(c.request("tools/call", json!([1, 2])).await["error"]["code"], -32602);
    // An error from the upstream itself is forwarded as the upstream sent it.
    let r = c.request("prompts/get", json!({"name": "a_greet", "arguments": {}})).await;
    assert!(r["result"].is_object(), "{r}");
}

#[tokio::test]
async fn dns_rebinding_origins_and_hosts_are_refused() {
    let gw = gateway().await;
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#;
    let (code, _) = raw_post(&gw, &[JSON, ("origin", "http://evil.example")], init).await;
    assert_eq!(code, 403);
    let (code, _) = raw_post(&gw, &[JSON, ("host", "evil.example")], init).await;
    assert_eq!(code, 403);
    let (code, _) = raw_post(&gw, &[JSON, ("origin", "http://localhost:3000")], init).await;
    assert_eq!(code, 200, "a loopback origin is allowed by default");
}

#[tokio::test]
async fn sessions_beyond_the_limit_are_refused_until_one_ends() {
    let gw =
        TestGateway::start(&format!("serving: {{ max_sessions: 2 }}\nupstreams:\n  a: {}\n", stdio_fixture("a"))).await;
    let first = Client::connect(gw.url("/mcp")).await;
    let _second = Client::connect(gw.url("/mcp")).await;
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#;
    let (code, body) = raw_post(&gw, &[JSON], init).await;
    assert_eq!(code, 503);
    assert_eq!(body["id"], 1, "{body}");
    let r = reqwest::Client::new()
        .delete(gw.url("/mcp"))
        .header("mcp-session-id", first.session.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (code, _) = raw_post(&gw, &[JSON], init).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn concurrent_requests_reusing_one_id_are_each_answered() {
    let gw = gateway().await;
    let c = Client::connect(gw.url("/mcp")).await;
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a_sleep","arguments":{"ms":200}}});
    let calls = (0..8).map(|_| async { c.post(body.clone()).await.json::<Value>().await.unwrap() });
    for answer in futures_util::future::join_all(calls).await {
        assert_eq!(answer["result"]["content"][0]["text"], "slept", "{answer}");
    }
}

/// Opens a session negotiating `version`; returns its id.
async fn session_at(gw: &TestGateway, version: &str) -> String {
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":version,"capabilities":{},"clientInfo":{"name":"b","version":"1"}}});
    let r = reqwest::Client::new()
        .post(gw.url("/mcp"))
        .header("content-type", "application/json")
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    r.headers()["mcp-session-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn batches_are_answered_only_in_sessions_whose_version_allows_them() {
    let gw = gateway().await;
    let old = session_at(&gw, "2025-03-26").await;
    let batch = json!([
        {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a_whoami","arguments":{}}},
        {"jsonrpc":"2.0","method":"notifications/initialized"},
        {"jsonrpc":"2.0","id":2,"method":"ping"},
        {"jsonrpc":"2.0","id":3,"method":"initialize","params":{}},
        {"broken": true}
    ]);
    let (code, body) = raw_post(&gw, &[JSON, ("mcp-session-id", &old)], &batch.to_string()).await;
    assert_eq!(code, 200);
    let answers = body.as_array().expect("a batch is answered with an array");
    assert_eq!(answers.len(), 4, "{body}");
    let by_id = |id: i64| answers.iter().find(|a| a["id"] == id).unwrap_or_else(|| panic!("no answer to {id}"));
    assert_eq!(by_id(1)["result"]["content"][0]["text"], "a");
    assert_eq!(by_id(2)["result"], json!({}));
    assert_eq!(by_id(3)["error"]["code"], -32600, "initialize cannot be batched");
    assert!(
        answers.iter().any(|a| a["id"].is_null() && a["error"]["code"] == -32600),
        "the broken member gets an error"
    );

    let notes = json!([{"jsonrpc":"2.0","method":"notifications/initialized"}]);
    let (code, _) = raw_post(&gw, &[JSON, ("mcp-session-id", &old)], &notes.to_string()).await;
    assert_eq!(code, 202, "a batch of notifications only is accepted");
    let (code, _) = raw_post(&gw, &[JSON, ("mcp-session-id", &old)], "[]").await;
    assert_eq!(code, 400, "an empty batch");

    let new = session_at(&gw, "2025-06-18").await;
    let (code, body) =
        raw_post(&gw, &[JSON, ("mcp-session-id", &new)], r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).await;
    assert_eq!((code, body["error"]["code"].as_i64()), (400, Some(-32600)), "2025-06-18 removed batches");
}

/// An upstream message past 64 MiB fails that call, over HTTP and stdio alike, and the gateway
/// goes on serving (the stdio child is restarted): an upstream cannot exhaust the gateway's memory.
/// A call caught in the dropped connection is not sent again, though its tool is idempotent: it
/// may be the one whose answer was too large.
#[tokio::test]
async fn an_oversized_upstream_message_fails_only_its_call() {
    let remote = TestUpstream::http("remote", &[]);
    let local = format!(
        "{{ stdio: {{ command: '{}', args: [--name, local] }}, tools: {{ shape: {{ huge: {{ annotations: {{ idempotentHint: true }} }} }} }} }}",
        super::util::fixture_bin()
    );
    let yaml = format!("upstreams:\n  remote: {{ url: '{}' }}\n  local: {local}\n", remote.url);
    let gw = TestGateway::start(&yaml).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert_eq!(c.call_text("remote_huge", json!({"mib": 1})).await.len(), 1 << 20, "large is fine");
    for (tool, failure) in [("remote_huge", "a body over 67108864 bytes"), ("local_huge", "connection was dropped")] {
        let answer = c.call(tool, json!({"mib": 65})).await;
        let error = answer["error"]["message"].as_str().unwrap_or_else(|| {
            let text = answer.to_string();
            panic!("{tool} did not fail: {}", &text[..text.len().min(300)])
        });
        assert!(error.contains(failure), "{tool}: {error}");
    }
    assert_eq!(c.call_text("remote_whoami", json!({})).await, "remote");
    assert!(!gw.log_text().contains("sending it once more"), "the dropped call was not sent again");
    // The stdio child is restarted (the status may still say `up` from before the drop).
    eventually("the stdio upstream to serve again", || {
        let endpoint = gw.url("/mcp");
        async move {
            let answer = Client::connect(endpoint).await.call("local_whoami", json!({})).await;
            (answer["result"]["content"][0]["text"] == "local").then_some(())
        }
    })
    .await;
}

/// A client that sends its headers too slowly (or leaves a kept-alive connection idle) past
/// `serving.header_timeout` has its connection closed; others are served as usual.
#[tokio::test]
async fn slow_headers_are_cut_off_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw =
        TestGateway::start(&format!("serving: {{ header_timeout: 1s }}\nupstreams:\n  a: {}\n", stdio_fixture("a")))
            .await;
    let address = gw.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was closed");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "not before the timeout");
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a");
}

/// The edges a probe found: a null id is a request (refused), not a notification; health paths
/// pass the DNS-rebinding checks too; two Host headers are refused; the SSE messages endpoint
/// takes JSON only; a legacy SSE session's id names nothing on the streamable HTTP endpoint; a
/// WebSocket text frame that is not UTF-8 closes with 1007.
#[tokio::test]
async fn protocol_edges_found_by_a_probe_are_closed() {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = gateway().await;

    let (code, body) = raw_post(&gw, &[JSON], r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).await;
    assert_eq!((code, body["error"]["code"].as_i64()), (400, Some(-32600)), "{body}");

    for path in ["/healthz", "/readyz"] {
        let r = reqwest::Client::new().get(gw.url(path)).header("host", "evil.example").send().await.unwrap();
        assert_eq!(r.status(), 403, "{path} with a foreign Host");
        let r = reqwest::Client::new().get(gw.url(path)).header("origin", "http://evil.example").send().await.unwrap();
        assert_eq!(r.status(), 403, "{path} from a foreign origin");
        assert_eq!(reqwest::get(gw.url(path)).await.unwrap().status(), 200, "{path} from here");
    }

    let address = gw.base.trim_start_matches("http://").to_string();
    let mut two = tokio::net::TcpStream::connect(&address).await.unwrap();
    two.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = two.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "two Host headers: {answer}");

    // A legacy SSE session: its POSTs take JSON only, and its id is no streamable HTTP session.
    let sse = super::clients::TestClient::connect(&gw, super::clients::Transport::Sse, "default").await;
    let messages = sse.sse_messages_url().to_string();
    let r =
        reqwest::Client::new().post(&messages).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 415);
    let session_id = messages.split("session_id=").nth(1).unwrap().to_string();
    let (code, _) = raw_post(
        &gw,
        &[JSON, ("accept", "application/json, text/event-stream"), ("mcp-session-id", &session_id)],
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(code, 404, "an SSE session's id on the streamable HTTP endpoint");
    sse.close().await;

    // A text frame of invalid UTF-8 closes the socket with 1007.
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
    let mut request = gw.url("/ws").replace("http://", "ws://").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "mcp".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let header = FrameHeader { opcode: OpCode::Data(Data::Text), ..FrameHeader::default() };
    socket.send(Message::Frame(Frame::from_payload(header, vec![0xff, 0xfe, 0x7b].into()))).await.unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(frame) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .unwrap();
    assert_eq!(closed, Some(1007));
}

/// The most calls running at once, seen by polling the fixture's `sleeping` count from another
/// session while `work` runs.
async fn peak_sleeping<F: std::future::Future>(gw: &TestGateway, work: F) -> (usize, F::Output) {
    let watcher = Client::connect(gw.url("/mcp")).await;
    let watcher = std::sync::Arc::new(tokio::sync::Mutex::new(watcher));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (w, d) = (watcher.clone(), done.clone());
    let poll = tokio::spawn(async move {
        let mut peak = 0usize;
        while !d.load(std::sync::atomic::Ordering::Relaxed) {
            let now: usize = w.lock().await.call_text("a_sleeping", json!({})).await.parse().unwrap_or(0);
            peak = peak.max(now);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        peak
    });
    let output = work.await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    (poll.await.unwrap(), output)
}

/// A batch runs no more requests at once than a session may (64), and is capped in size with an
/// error that says so; stateless requests on one WebSocket are capped alike, and a second
/// request under a running one's id is refused.
#[tokio::test]
async fn batches_and_stateless_requests_on_one_connection_are_bounded() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let gw = TestGateway::start(&format!(
        "serving: {{ max_body_bytes: 1000000 }}\nupstreams:\n  a: {}\n",
        stdio_fixture("a")
    ))
    .await;
    let old = session_at(&gw, "2025-03-26").await;
    let ping = |id: usize| json!({"jsonrpc":"2.0","id":id,"method":"ping"});
    let too_many: Vec<Value> = (0..300).map(ping).collect();
    let (code, body) = raw_post(&gw, &[JSON, ("mcp-session-id", &old)], &Value::from(too_many).to_string()).await;
    assert_eq!(code, 413, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("300 messages"), "{body}");

    let sleep = |id: usize| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"a_sleep","arguments":{"ms":300}}});
    let batch: Vec<Value> = (0..100).map(sleep).collect();
    let (peak, (code, body)) =
        peak_sleeping(&gw, raw_post(&gw, &[JSON, ("mcp-session-id", &old)], &Value::from(batch).to_string())).await;
    assert_eq!(code, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(100), "every call answered");
    assert!((2..=64).contains(&peak), "{peak} calls of one batch ran at once");

    // Stateless requests on one socket.
    let mut request = gw.url("/ws").replace("http://", "ws://").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "mcp".parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let (mut sink, mut stream) = socket.split();
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let call = |id: usize, ms: u64| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"a_sleep","arguments":{"ms":ms},"_meta":meta}});
    let sending = async {
        for id in 0..100 {
            sink.send(Message::Text(call(id, 300).to_string().into())).await.unwrap();
        }
        let mut answered = 0;
        while answered < 100 {
            if let Some(Ok(Message::Text(_))) = stream.next().await {
                answered += 1;
            }
        }
        (sink, stream)
    };
    let (peak, (mut sink, mut stream)) = peak_sleeping(&gw, sending).await;
    assert!((2..=64).contains(&peak), "{peak} stateless calls of one socket ran at once");
    sink.send(Message::Text(call(500, 1000).to_string().into())).await.unwrap();
    sink.send(Message::Text(call(500, 10).to_string().into())).await.unwrap();
    let refused = loop {
        let Some(Ok(Message::Text(text))) = stream.next().await else { panic!("the socket closed") };
        let answer: Value = serde_json::from_str(&text).unwrap();
        if answer["error"].is_object() {
            break answer;
        }
    };
    assert_eq!(refused["id"], 500);
    assert!(refused["error"]["message"].as_str().unwrap().contains("already in use"), "{refused}");
}

/// Connections that never start a request, half an HTTP/2 preface, and a trickled body are all
/// closed within their deadlines; one address past its connection cap is answered 503 and closed,
/// and gets its places back as its connections close.
#[tokio::test]
async fn idle_and_trickling_connections_are_closed_and_connections_are_capped_per_address() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let gw = TestGateway::start(&format!(
        "serving: {{ header_timeout: 1s, body_timeout: 1s }}\nupstreams:\n  a: {}\n",
        stdio_fixture("a")
    ))
    .await;
    let address = gw.base.trim_start_matches("http://").to_string();
    let closed_within = |mut s: TcpStream, seconds: u64| async move {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(seconds), s.read_to_end(&mut buf)).await;
        read.map(|_| String::from_utf8_lossy(&buf).to_string())
    };

    let silent = TcpStream::connect(&address).await.unwrap();
    let mut half_preface = TcpStream::connect(&address).await.unwrap();
    half_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let mut trickle = TcpStream::connect(&address).await.unwrap();
    trickle
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"js")
        .await
        .unwrap();
    assert!(closed_within(silent, 5).await.is_ok(), "a connection that sent nothing stayed open");
    assert!(closed_within(half_preface, 5).await.is_ok(), "half a preface stayed open");
    let answer = closed_within(trickle, 5).await.expect("a trickled body stayed open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // Six places for this address (on a gateway whose deadlines do not free them meanwhile): the
    // seventh connection is refused at once.
    let gw = TestGateway::start(&format!(
        "serving: {{ max_connections_per_client: 6 }}\nupstreams:\n  a: {}\n",
        stdio_fixture("a")
    ))
    .await;
    let address = gw.base.trim_start_matches("http://").to_string();
    // Connections are opened one by one until one is refused (an open idle one just waits).
    let mut held = Vec::new();
    let held_when_refused = loop {
        let mut s = TcpStream::connect(&address).await.unwrap();
        let mut answer = [0u8; 32];
        match tokio::time::timeout(std::time::Duration::from_millis(500), s.read(&mut answer)).await {
            Ok(Ok(n)) if answer[..n].starts_with(b"HTTP/1.1 503") => break held.len(),
            _ => held.push(s),
        }
        assert!(held.len() <= 10, "ten connections from one address, none refused");
    };
    // Six places, one perhaps still taken by the test harness's own readiness check.
    assert!((5..=6).contains(&held_when_refused), "refused after {held_when_refused}");
    drop(held);
    eventually("the address's places to come back", || async {
        reqwest::get(gw.url("/healthz")).await.ok().filter(|r| r.status() == 200).map(|_| ())
    })
    .await;
}

/// Arguments nested past 64 levels, or holding a lone surrogate escape, are refused by the
/// gateway at once (an upstream that cannot parse them would leave the caller waiting for its
/// timeout); everything else about the call path keeps working.
#[tokio::test]
async fn params_an_upstream_could_not_read_are_refused_at_once() {
    let gw = gateway().await;
    let c = Client::connect(gw.url("/mcp")).await;
    let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    for (arguments, why) in [
        (format!(r#"{{"text":"x","deep":{deep}}}"#), "deeper than 64"),
        (r#"{"text":"\ud800"}"#.to_string(), "surrogate"),
    ] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a_echo","arguments":{arguments}}}}}"#
        );
        let session = c.session.clone().unwrap();
        let headers = [JSON, ("accept", "application/json, text/event-stream"), ("mcp-session-id", session.as_str())];
        let (code, answer) = raw_post(&gw, &headers, &body).await;
        assert_eq!((code, &answer["error"]["code"]), (200, &json!(-32602)), "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(why), "{answer}");
    }
    let mut c = c;
    assert_eq!(c.call_text("a_echo", json!({"text": "\u{1F600} fine"})).await, "\u{1F600} fine");
}

/// An HTTP/2 connection answers keep-alive pings while idle, so pings alone cannot bound it: with
/// nothing open on it for `serving.idle_timeout` it is closed, while one holding an event stream
/// stays open however long the stream lasts.
#[tokio::test]
async fn an_idle_http2_connection_is_closed_but_one_holding_a_stream_is_kept() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let gw = TestGateway::start(&format!("serving: {{ idle_timeout: 1s }}\nupstreams:\n  a: {}\n", stdio_fixture("a")))
        .await;
    let address = gw.base.trim_start_matches("http://").to_string();
    let h2c = || async {
        let io = TokioIo::new(tokio::net::TcpStream::connect(&address).await.unwrap());
        let (sender, connection) =
            hyper::client::conn::http2::handshake::<_, _, http_body_util::Full<bytes::Bytes>>(TokioExecutor::new(), io)
                .await
                .unwrap();
        (sender, tokio::spawn(connection))
    };
    let request = |method: &str, body: &str, session: Option<&str>| {
        let mut r = hyper::Request::builder()
            .method(method)
            .uri(format!("{}/mcp", gw.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(session) = session {
            r = r.header("mcp-session-id", session).header("mcp-protocol-version", "2025-06-18");
        }
        r.body(http_body_util::Full::new(bytes::Bytes::from(body.to_string()))).unwrap()
    };

    // Idle: one request, then nothing; the gateway ends the connection.
    let (mut sender, idle) = h2c().await;
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
    let answered = sender.send_request(request("POST", init, None)).await.unwrap();
    assert_eq!(answered.status(), 200);
    let session = answered.headers()["mcp-session-id"].to_str().unwrap().to_string();
    drop(answered);
    tokio::time::timeout(super::util::DEADLINE, idle)
        .await
        .expect("an idle HTTP/2 connection was closed")
        .unwrap()
        .unwrap();

    // Holding the session's event stream: kept well past the idle timeout, closed once it ends.
    let (mut sender, holding) = h2c().await;
    let stream = sender.send_request(request("GET", "", Some(&session))).await.unwrap();
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(!holding.is_finished(), "a connection carrying an open stream was closed as idle");
    drop(stream);
    tokio::time::timeout(super::util::DEADLINE, holding).await.expect("closed once the stream ended").unwrap().unwrap();
}

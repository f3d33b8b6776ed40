//! Legacy HTTP+SSE serving: the stream announces its message endpoint, answers arrive on the
//! stream, and closing the stream ends the session.

use std::time::Duration;

use serde_json::{Value, json};

use super::util::{TestGateway, stdio_fixture};

/// Reads the stream until `pick` finds what it wants in one decoded event.
async fn read_until<T>(
    stream: &mut reqwest::Response,
    buffer: &mut String,
    mut pick: impl FnMut(&str, &str) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let kind = event.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("message").to_string();
                let data: String = event.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
                if let Some(found) = pick(&kind, &data) {
                    return found;
                }
            }
            let chunk = stream.chunk().await.unwrap().expect("the stream stayed open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the expected event arrived")
}

fn answer_to(id: u64) -> impl FnMut(&str, &str) -> Option<Value> {
    move |_, data| serde_json::from_str::<Value>(data).ok().filter(|v| v["id"] == id)
}

#[tokio::test]
async fn sse_client_initializes_calls_and_gets_progress_on_its_stream() {
    let yaml = format!(
        "upstreams:\n  a: {}\nvirtual_servers:\n  default: {{ tools: ['*'] }}\n  ops: {{ tools: ['a_*'] }}\n",
        stdio_fixture("a")
    );
    let gw = TestGateway::start(&yaml).await;
    let http = reqwest::Client::new();
    let mut stream = http.get(gw.url("/servers/ops/sse")).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let endpoint =
        read_until(&mut stream, &mut buffer, |kind, data| (kind == "endpoint").then(|| data.to_string())).await;
    assert!(endpoint.starts_with("/servers/ops/messages?session_id="), "{endpoint}");
    let post = |body: Value| {
        let http = http.clone();
        let url = gw.url(&endpoint);
        async move {
            http.post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    // Before initialize, requests other than ping are refused on the stream.
    assert_eq!(post(json!({"jsonrpc":"2.0","id":90,"method":"tools/list"})).await, 202);
    let early = read_until(&mut stream, &mut buffer, answer_to(90)).await;
    assert_eq!(early["error"]["code"], -32600);
    assert_eq!(post(json!({"jsonrpc":"2.0","id":91,"method":"ping"})).await, 202);
    assert_eq!(read_until(&mut stream, &mut buffer, answer_to(91)).await["result"], json!({}));

    assert_eq!(post(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})).await, 202);
    let init = read_until(&mut stream, &mut buffer, answer_to(1)).await;
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(post(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await, 202);
    assert_eq!(
        post(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"a_whoami","arguments":{}}})).await,
        202
    );
    let call = read_until(&mut stream, &mut buffer, answer_to(2)).await;
    assert_eq!(call["result"]["content"][0]["text"], "a");

    let progress = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a_progress","arguments":{"steps":2},"_meta":{"progressToken":"t"}}});
    assert_eq!(post(progress).await, 202);
    let mut seen = Vec::new();
    let done = read_until(&mut stream, &mut buffer, |_, data| {
        let v: Value = serde_json::from_str(data).ok()?;
        if v["method"] == "notifications/progress" {
            seen.push(v["params"]["progressToken"].clone());
            return None;
        }
        (v["id"] == 3).then_some(v)
    })
    .await;
    assert_eq!(seen, [json!("t"), json!("t")]);
    assert_eq!(done["result"]["content"][0]["text"], "progressed");

    // Closing the stream ends the session.
    drop(stream);
    let mut gone = false;
    for _ in 0..200 {
        if post(json!({"jsonrpc":"2.0","id":4,"method":"ping"})).await == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(gone, "the session outlived its stream");
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

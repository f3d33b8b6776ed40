//! Every served transport × every upstream transport: a `tools/call` that reports progress, so
//! each cell carries a request, its notifications and its answer through one code path.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::clients::{TestClient, Transport};
use super::util::{Client, TestGateway, TestUpstream, stdio_fixture};

/// The four upstream kinds, each ending in the fixture: stdio, streamable HTTP, and legacy SSE and
/// WebSocket through a front gateway.
const UPSTREAMS: [&str; 4] = ["s", "h", "e", "w"];

/// The params of a `tools/call` of `<upstream>_progress` whose progress token names `id`.
fn call(id: usize, upstream: &str) -> Value {
    json!({"name":format!("{upstream}_progress"),"arguments":{"steps":2},"_meta":{"progressToken":format!("tok-{id}")}})
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

    // Progress comes on the call's own stream (streamable HTTP, stateless), on the session's stream
    // (SSE), in frames (WebSocket) or lines (stdio: a second gateway process on the same config).
    for (t, transport) in Transport::ALL.into_iter().enumerate() {
        let c = TestClient::connect(&gw, transport, "default").await;
        for (i, u) in UPSTREAMS.iter().enumerate() {
            let id = 100 * (t + 1) + i;
            let mut messages = vec![c.request_as(json!(id), "tools/call", call(id, u)).await];
            messages.extend(c.received().await);
            match transport {
                // Plain JSON-RPC has no channel for notifications; the answer alone comes back.
                Transport::PlainRpc => {
                    assert_eq!(messages[0]["result"]["content"][0]["text"], "progressed", "rpc × {u}")
                }
                _ => check_cell(transport.name(), u, id, &messages),
            }
        }
        c.close().await;
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

#[tokio::test]
async fn every_served_transport_answers_an_upstreams_request_through_every_upstream_transport() {
    let (gw, _front, _http) = asking_gateways().await;
    // The question arrives on the call's stream (streamable HTTP; the answer is POSTed), on the
    // session's stream (SSE), as a frame (WebSocket), as a line (stdio), or as the call's
    // `input_required` result, answered by a retry (stateless).
    for transport in Transport::ALL.into_iter().filter(|t| t.can_be_asked()) {
        let c = TestClient::connect_with(&gw, transport, "default", json!({"sampling": {}})).await;
        let name = transport.name();
        c.answer_with(move |question| {
            (question["method"] == "sampling/createMessage")
                .then(|| json!({"role":"assistant","content":{"type":"text","text":name},"model":"m"}))
        });
        for (i, u) in UPSTREAMS.iter().enumerate() {
            let answer = c.call(&format!("{u}_ask"), json!({})).await;
            assert_eq!(sampled(&answer), format!("sampled: {name}"), "{transport} × {u}");
            assert_eq!(c.questions().len(), i + 1, "{transport} × {u}: one question per call");
        }
        c.close().await;
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

//! WebSocket serving: one JSON-RPC message per text frame, subprotocol `mcp`, close codes on errors.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::util::{TestGateway, stdio_fixture};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(gw: &TestGateway, path: &str) -> Ws {
    let url = gw.url(path).replace("http://", "ws://");
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "mcp".parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "mcp");
    ws
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::Text(message.to_string().into())).await.unwrap();
}

/// Reads frames until a message answers `id`, collecting notifications on the way.
async fn answer(ws: &mut Ws, id: u64, notes: &mut Vec<Value>) -> Value {
    loop {
        let frame =
            tokio::time::timeout(std::time::Duration::from_secs(20), ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = frame {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                return v;
            }
            notes.push(v);
        }
    }
}

#[tokio::test]
async fn websocket_client_initializes_lists_calls_and_gets_progress() {
    let yaml = format!(
        "upstreams:\n  a: {}\nvirtual_servers:\n  default: {{ tools: ['*'] }}\n  ops: {{ tools: ['a_whoami', 'a_progress'] }}\n",
        stdio_fixture("a")
    );
    let gw = TestGateway::start(&yaml).await;
    let mut ws = connect(&gw, "/servers/ops/ws").await;
    let mut notes = Vec::new();
    send(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})).await;
    assert_eq!(answer(&mut ws, 1, &mut notes).await["result"]["protocolVersion"], "2025-11-25");
    send(&mut ws, json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    send(&mut ws, json!({"jsonrpc":"2.0","id":2,"method":"tools/list"})).await;
    let list = answer(&mut ws, 2, &mut notes).await;
    let names: Vec<&str> =
        list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a_whoami", "a_progress"]);
    send(&mut ws, json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a_progress","arguments":{"steps":2},"_meta":{"progressToken":9}}})).await;
    let done = answer(&mut ws, 3, &mut notes).await;
    assert_eq!(done["result"]["content"][0]["text"], "progressed");
    let progress: Vec<&Value> = notes.iter().filter(|n| n["method"] == "notifications/progress").collect();
    assert_eq!(progress.len(), 2);
    assert!(progress.iter().all(|p| p["params"]["progressToken"] == 9));
    ws.send(Message::Text("{broken".into())).await.unwrap();
    let parse_error = loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await {
            break serde_json::from_str::<Value>(&t).unwrap();
        }
    };
    assert_eq!(parse_error["error"]["code"], -32700, "a malformed frame gets an error, not a close");
}

#[tokio::test]
async fn binary_frames_close_the_connection_with_unsupported_data() {
    let gw = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
    let mut ws = connect(&gw, "/ws").await;
    ws.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    let close = loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.unwrap().code, CloseCode::Unsupported);
    let plain = reqwest::get(gw.url("/ws")).await.unwrap();
    assert_eq!(plain.status(), 426, "a GET without an upgrade is told to upgrade");
}

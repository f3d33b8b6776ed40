//! WebSocket serving: one JSON-RPC message per text frame, subprotocol `mcp`, close codes on errors.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::clients::{TestClient, Transport};
use super::util::{TestGateway, stdio_fixture};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw socket, for what only a misbehaving client does (`TestClient` sends text frames only).
async fn connect(gw: &TestGateway, path: &str) -> Ws {
    let url = gw.url(path).replace("http://", "ws://");
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "mcp".parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "mcp");
    ws
}

#[tokio::test]
async fn websocket_client_initializes_lists_calls_and_gets_progress() {
    let yaml = format!(
        "upstreams:\n  a: {}\nvirtual_servers:\n  default: {{ tools: ['*'] }}\n  ops: {{ tools: ['a_whoami', 'a_progress'] }}\n",
        stdio_fixture("a")
    );
    let gw = TestGateway::start(&yaml).await;
    // The client asks for the `mcp` subprotocol and checks it was agreed.
    let ws = TestClient::open(&gw, Transport::WebSocket, "ops").await;
    assert_eq!(ws.initialize("2025-11-25", json!({})).await["result"]["protocolVersion"], "2025-11-25");
    ws.notify("notifications/initialized", json!({})).await;
    let list = ws.request("tools/list", json!({})).await;
    let names: Vec<&str> =
        list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a_whoami", "a_progress"]);
    let done = ws
        .request("tools/call", json!({"name":"a_progress","arguments":{"steps":2},"_meta":{"progressToken":9}}))
        .await;
    assert_eq!(done["result"]["content"][0]["text"], "progressed");
    let notes = ws.received().await;
    let progress: Vec<&Value> = notes.iter().filter(|n| n["method"] == "notifications/progress").collect();
    assert_eq!(progress.len(), 2);
    assert!(progress.iter().all(|p| p["params"]["progressToken"] == 9));
    ws.send_text("{broken").await;
    let parse_error = ws.next_message(|m| m.get("error").is_some()).await;
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

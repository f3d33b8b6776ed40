//! Consuming every upstream transport: WebSocket and legacy SSE upstreams (here, a first mcpgw
//! serving the fixture, chained behind a second), and the official everything server over SSE.

use serde_json::json;

use super::util::{Client, TestGateway, eventually, stdio_fixture};

#[tokio::test]
async fn websocket_and_sse_upstreams_federate_like_any_other() {
    let front = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
    let ws = front.url("/ws").replace("http://", "ws://");
    let sse = front.url("/sse");
    let yaml = format!("upstreams:\n  viaws: {{ websocket: '{ws}' }}\n  viasse: {{ sse: '{sse}' }}\n");
    let gw = TestGateway::start(&yaml).await;
    gw.wait_upstream("viaws", "up").await;
    gw.wait_upstream("viasse", "up").await;
    let (_, ready) = gw.readyz().await;
    assert_eq!(ready["upstreams"]["viaws"]["transport"], "websocket");
    assert_eq!(ready["upstreams"]["viasse"]["transport"], "sse");
    let mut c = Client::connect(gw.url("/mcp")).await;
    let tools = c.tools().await;
    assert!(
        tools.contains(&"viaws_a_whoami".to_string()) && tools.contains(&"viasse_a_whoami".to_string()),
        "{tools:?}"
    );
    assert_eq!(c.call_text("viaws_a_whoami", json!({})).await, "a");
    assert_eq!(c.call_text("viasse_a_whoami", json!({})).await, "a");
    let read = c.request("resources/read", json!({"uri": "fixture://a/items/3"})).await;
    assert_eq!(read["result"]["contents"][0]["text"], "a says fixture://a/items/3");

    // Progress crosses both gateways and comes back with the client's token.
    for tool in ["viaws_a_progress", "viasse_a_progress"] {
        let body = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":tool,"arguments":{"steps":2},"_meta":{"progressToken":"x"}}});
        let text = c.post(body).await.text().await.unwrap();
        assert_eq!(text.matches("notifications/progress").count(), 2, "{tool}: {text}");
        assert!(text.contains("\"progressToken\":\"x\""), "{text}");
    }
}

#[tokio::test]
async fn a_websocket_upstream_that_restarts_is_reconnected() {
    let yaml_front = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let mut front = TestGateway::start(&yaml_front).await;
    let addr = front.base.trim_start_matches("http://").to_string();
    let gw = TestGateway::start(&format!("upstreams:\n  up: {{ websocket: 'ws://{addr}/ws' }}\n")).await;
    gw.wait_upstream("up", "up").await;
    front.terminate();
    gw.wait_upstream("up", "down").await;
    // A new front on the same address.
    let _front = super::util::TestGateway::start_at(&yaml_front, &addr).await;
    gw.wait_upstream("up", "up").await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    eventually("the tools to return", || {
        let endpoint = gw.url("/mcp");
        async move { Client::connect(endpoint).await.tools().await.contains(&"up_a_whoami".to_string()).then_some(()) }
    })
    .await;
    assert_eq!(c.call_text("up_a_whoami", json!({})).await, "a");
}

#[tokio::test]
async fn official_everything_server_over_legacy_sse() {
    let Some(tools) = super::sdk::sdk_tools() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _server = super::util::Process {
        child: std::process::Command::new(tools.join("node_modules/.bin/mcp-server-everything"))
            .arg("sse")
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    };
    let url = format!("http://127.0.0.1:{port}/sse");
    eventually("the everything server to listen", || async {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    })
    .await;
    let gw = TestGateway::start(&format!("upstreams:\n  everything: {{ sse: '{url}' }}\n")).await;
    gw.wait_upstream("everything", "up").await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert!(c.tools().await.contains(&"everything_echo".to_string()));
    assert_eq!(c.call_text("everything_echo", json!({"message": "over sse"})).await, "Echo: over sse");
}

//! `mcpgw bridge`: one upstream, no file, served unprefixed over HTTP or stdio.

use std::process::Command;

use serde_json::{Value, json};

use super::util::{Client, TestGateway, TestUpstream, fixture_bin, gateway_bin, stdio_exchange};

#[tokio::test]
async fn bridge_serves_a_stdio_server_over_http_unprefixed() {
    let command = format!("'{}' --name bridged", fixture_bin());
    let gw = TestGateway::bridge(&["--stdio", &command]).await;
    gw.wait_upstream("bridge", "up").await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let tools = c.tools().await;
    assert!(tools.contains(&"whoami".to_string()), "{tools:?}");
    assert_eq!(c.call_text("whoami", json!({})).await, "bridged");
    // The other HTTP transports come with it.
    let r = reqwest::Client::new()
        .post(gw.url("/rpc"))
        .header("content-type", "application/json")
        .body(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["result"]["content"][0]["text"], "bridged");
}

#[tokio::test]
async fn bridge_puts_a_stdio_endpoint_in_front_of_a_remote_server() {
    let remote = TestUpstream::http("remote", &[]);
    let lines = [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}),
    ]
    .map(|l| l.to_string());
    let url = remote.url.clone();
    let (out, code) = tokio::task::spawn_blocking(move || {
        stdio_exchange(&["bridge", "--url", &url, "--header", "X-Test: $literal", "--to", "stdio"], &lines)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0));
    let call = out.iter().find(|m| m["id"] == 2).unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(call["result"]["content"][0]["text"], "remote");
}

#[test]
fn bridge_needs_exactly_one_upstream() {
    let out = Command::new(gateway_bin()).args(["bridge"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(gateway_bin()).args(["bridge", "--url", "http://a", "--sse", "http://b"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(gateway_bin()).args(["bridge", "--stdio", "x", "--env", "NOEQUALS"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=VALUE"));
}

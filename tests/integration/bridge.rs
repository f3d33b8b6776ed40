//! `mcpgw bridge`: one upstream, no file, served unprefixed over HTTP or stdio.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::util::{Client, TestGateway, TestUpstream, fixture_bin, gateway_bin};

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
    let mut child = Command::new(gateway_bin())
        .args(["bridge", "--url", &remote.url, "--header", "X-Test: $literal", "--to", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}),
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let out: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(child.wait().unwrap().code(), Some(0));
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

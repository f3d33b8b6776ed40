//! `mcpgw stdio`: one client on stdin/stdout, as desktop clients launch it.

use serde_json::{Value, json};

use super::clients::TestClient;
use super::util::{eventually, process_alive, stdio_exchange, stdio_fixture};

/// `mcpgw stdio --server <server>` on `config`, not yet initialized; the directory holds the config.
fn stdio_client(config: &str, server: &str) -> (TestClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, config).unwrap();
    (TestClient::open_stdio(&path, server, &[]), dir)
}

#[tokio::test]
async fn stdio_client_lists_and_calls_and_gets_progress() {
    let config = format!(
        "upstreams:\n  a: {}\nvirtual_servers:\n  default: {{ tools: ['*'] }}\n  ops: {{ tools: ['a_whoami', 'a_progress', 'a_pid'] }}\n",
        stdio_fixture("a")
    );
    let (c, _dir) = stdio_client(&config, "ops");
    assert_eq!(c.initialize("2025-06-18", json!({})).await["result"]["protocolVersion"], "2025-06-18");
    c.notify("notifications/initialized", json!({})).await;
    let list = c.request("tools/list", json!({})).await;
    let names: Vec<&str> =
        list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a_whoami", "a_pid", "a_progress"]);
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a");
    let done = c
        .request("tools/call", json!({"name":"a_progress","arguments":{"steps":2},"_meta":{"progressToken":"p"}}))
        .await;
    assert_eq!(done["result"]["content"][0]["text"], "progressed");
    let notes = c.received().await;
    let progress: Vec<&Value> = notes.iter().filter(|m| m["method"] == "notifications/progress").collect();
    assert_eq!(progress.len(), 2);
    assert!(progress.iter().all(|p| p["params"]["progressToken"] == "p"));
    let pid: u32 = c.call_text("a_pid", json!({})).await.parse().unwrap();
    c.send_text("{not json").await;
    let error = c.next_message(|m| m.get("error").is_some()).await;
    assert_eq!(error["error"]["code"], -32700, "a malformed line gets a parse error");
    // (The client fails the test if any line it read was not JSON.)
    assert_eq!(c.close().await, Some(0));
    eventually("the upstream child to exit with mcpgw", || async move { (!process_alive(pid)).then_some(()) }).await;
}

#[tokio::test]
async fn stdio_requests_before_initialize_and_unknown_servers_are_refused() {
    let config = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let (c, dir) = stdio_client(&config, "default");
    assert_eq!(c.request_as(json!(1), "tools/list", json!({})).await["error"]["code"], -32600);
    assert_eq!(c.request_as(json!(2), "ping", json!({})).await["result"], json!({}));
    assert_eq!(c.close().await, Some(0));

    // A process that refuses to start is no client session: all of its stdout, read to the end.
    let path = dir.path().join("gateway.yaml");
    let (out, code) = stdio_exchange(&["stdio", "--server", "nope", "-c", path.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty(), "nothing but JSON-RPC ever goes to stdout");
}

#[tokio::test]
async fn stdio_serves_stateless_requests_without_initialize() {
    let config = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let (c, _dir) = stdio_client(&config, "default");
    // Stateless requests carry `_meta` themselves here: the point is how the stdio binding takes them.
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let old = json!({"io.modelcontextprotocol/protocolVersion": "2024-01-01", "io.modelcontextprotocol/clientCapabilities": {}});
    let discover = c.request_as(json!(1), "server/discover", json!({"_meta": meta})).await;
    assert_eq!(discover["result"]["supportedVersions"][0], "2026-07-28");
    let sum =
        c.request_as(json!(2), "tools/call", json!({"name":"a_add","arguments":{"a":2,"b":3},"_meta": meta})).await;
    assert_eq!(sum["result"]["content"][0]["text"], "5", "{sum}");
    assert_eq!(sum["result"]["resultType"], "complete");
    let ping = c.request_as(json!(3), "ping", json!({"_meta": meta})).await;
    assert_eq!(ping["error"]["code"], -32601, "ping was removed from the stateless protocol");
    assert_eq!(c.request_as(json!(4), "tools/list", json!({"_meta": old})).await["error"]["code"], -32022);
    // A listen is answered only when it ends; its acknowledgement comes first.
    c.send(json!({"jsonrpc":"2.0","id":5,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},"_meta": meta}}))
        .await;
    let ack = c.next_notification("notifications/subscriptions/acknowledged").await;
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 5);
    c.notify("notifications/cancelled", json!({"requestId": 5})).await;
    assert_eq!(c.close().await, Some(0));
}

/// A line that is not UTF-8, or longer than a message may be, is answered with an error and the
/// next line is read: neither ends the process nor is held whole.
#[test]
fn stdio_answers_bad_lines_and_goes_on() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, "serving: { max_body_bytes: 1024 }\nupstreams: {}\n").unwrap();
    let mut child = std::process::Command::new(super::util::gateway_bin())
        .args(["stdio", "-c", path.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let ping = |id: u32| format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n");
    stdin.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xffing\"}\n").unwrap();
    stdin.write_all(ping(2).as_bytes()).unwrap();
    stdin.write_all(format!("{}\n", "x".repeat(100_000)).as_bytes()).unwrap();
    stdin.write_all(ping(3).as_bytes()).unwrap();
    drop(stdin);
    let answers: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("every stdout line is JSON"))
        .collect();
    let _ = child.wait();
    assert_eq!(answers.len(), 4, "{answers:?}");
    let errors: Vec<&Value> = answers.iter().filter(|a| a["error"].is_object()).collect();
    assert_eq!(errors.len(), 2, "{answers:?}");
    assert!(errors.iter().any(|e| e["error"]["code"] == -32700), "invalid UTF-8 is a parse error: {answers:?}");
    assert!(
        errors.iter().any(|e| e["error"]["message"].as_str().unwrap_or("").contains("larger than 1024 bytes")),
        "{answers:?}"
    );
    for id in [2, 3] {
        assert!(answers.iter().any(|a| a["id"] == id && a["result"] == json!({})), "ping {id}: {answers:?}");
    }
}

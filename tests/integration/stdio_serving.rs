//! `mcpgw stdio`: one client on stdin/stdout, as desktop clients launch it.

use serde_json::{Value, json};

use super::util::{eventually, process_alive, stdio_exchange, stdio_fixture};

/// Sends lines (and a malformed one) to `mcpgw stdio`; returns what it printed and its exit code.
fn converse(config: &str, server: &str, lines: &[Value]) -> (Vec<Value>, Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, config).unwrap();
    let mut lines: Vec<String> = lines.iter().map(Value::to_string).collect();
    lines.push("{not json".into());
    stdio_exchange(&["stdio", "--server", server, "-c", path.to_str().unwrap()], &lines)
}

fn by_id(out: &[Value], id: u64) -> &Value {
    out.iter().find(|m| m["id"] == id).unwrap_or_else(|| panic!("no answer to {id} in {out:?}"))
}

#[tokio::test]
async fn stdio_client_lists_and_calls_and_gets_progress() {
    let config = format!(
        "upstreams:\n  a: {}\nvirtual_servers:\n  default: {{ tools: ['*'] }}\n  ops: {{ tools: ['a_whoami', 'a_progress', 'a_pid'] }}\n",
        stdio_fixture("a")
    );
    let (out, code) = converse(
        &config,
        "ops",
        &[
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
            json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a_whoami","arguments":{}}}),
            json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"a_progress","arguments":{"steps":2},"_meta":{"progressToken":"p"}}}),
            json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"a_pid","arguments":{}}}),
        ],
    );
    assert_eq!(code, Some(0));
    assert_eq!(by_id(&out, 1)["result"]["protocolVersion"], "2025-06-18");
    let names: Vec<&str> =
        by_id(&out, 2)["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a_whoami", "a_pid", "a_progress"]);
    assert_eq!(by_id(&out, 3)["result"]["content"][0]["text"], "a");
    let progress: Vec<&Value> = out.iter().filter(|m| m["method"] == "notifications/progress").collect();
    assert_eq!(progress.len(), 2);
    assert!(progress.iter().all(|p| p["params"]["progressToken"] == "p"));
    assert!(out.iter().any(|m| m["error"]["code"] == -32700), "a malformed line gets a parse error");
    let pid: u32 = by_id(&out, 5)["result"]["content"][0]["text"].as_str().unwrap().parse().unwrap();
    eventually("the upstream child to exit with mcpgw", || async move { (!process_alive(pid)).then_some(()) }).await;
}

#[tokio::test]
async fn stdio_requests_before_initialize_and_unknown_servers_are_refused() {
    let config = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let (out, code) = converse(
        &config,
        "default",
        &[json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}), json!({"jsonrpc":"2.0","id":2,"method":"ping"})],
    );
    assert_eq!(code, Some(0));
    assert_eq!(by_id(&out, 1)["error"]["code"], -32600);
    assert_eq!(by_id(&out, 2)["result"], json!({}));
    let (out, code) = converse(&config, "nope", &[]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty(), "nothing but JSON-RPC ever goes to stdout");
}

#[tokio::test]
async fn stdio_serves_stateless_requests_without_initialize() {
    let config = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let old = json!({"io.modelcontextprotocol/protocolVersion": "2024-01-01", "io.modelcontextprotocol/clientCapabilities": {}});
    let (out, code) = converse(
        &config,
        "default",
        &[
            json!({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta": meta}}),
            json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"a_add","arguments":{"a":2,"b":3},"_meta": meta}}),
            json!({"jsonrpc":"2.0","id":3,"method":"ping","params":{"_meta": meta}}),
            json!({"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta": old}}),
            json!({"jsonrpc":"2.0","id":5,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},"_meta": meta}}),
            json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}),
        ],
    );
    assert_eq!(code, Some(0));
    assert_eq!(by_id(&out, 1)["result"]["supportedVersions"][0], "2026-07-28");
    let sum = by_id(&out, 2);
    assert_eq!(sum["result"]["content"][0]["text"], "5", "{sum}");
    assert_eq!(sum["result"]["resultType"], "complete");
    assert_eq!(by_id(&out, 3)["error"]["code"], -32601, "ping was removed from the stateless protocol");
    assert_eq!(by_id(&out, 4)["error"]["code"], -32022);
    let ack = out
        .iter()
        .find(|m| m["method"] == "notifications/subscriptions/acknowledged")
        .expect("the listen is acknowledged");
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 5);
}

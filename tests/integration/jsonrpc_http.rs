//! Plain JSON-RPC over HTTP: one request in, one response out, no session.

use serde_json::{Value, json};

use super::util::{TestGateway, stdio_fixture};

async fn rpc(gw: &TestGateway, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(gw.url(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn plain_json_rpc_needs_no_session() {
    let yaml = format!(
        "upstreams:\n  a: {}\nvirtual_servers:\n  default: {{ tools: ['*'] }}\n  only: {{ tools: ['a_whoami'] }}\n",
        stdio_fixture("a")
    );
    let gw = TestGateway::start(&yaml).await;
    let (code, r) = rpc(
        &gw,
        "/rpc",
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a_add","arguments":{"a":1,"b":2}}}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(r["id"], 1);
    assert_eq!(r["result"]["structuredContent"]["sum"], 3.0);
    let (_, r) = rpc(&gw, "/servers/only/rpc", json!({"jsonrpc":"2.0","id":"x","method":"tools/list"})).await;
    let names: Vec<&str> =
        r["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a_whoami"]);
    let (code, r) = rpc(
        &gw,
        "/rpc",
        json!({"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}),
    )
    .await;
    assert_eq!((code, r["result"]["protocolVersion"].as_str()), (200, Some("2025-06-18")));
    let (code, r) = rpc(&gw, "/rpc", json!({"jsonrpc":"2.0","id":3,"method":"nope"})).await;
    assert_eq!((code, r["error"]["code"].as_i64()), (200, Some(-32601)));
    let (code, _) = rpc(&gw, "/rpc", json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    assert_eq!(code, 202);
    let (code, _) = rpc(&gw, "/servers/missing/rpc", json!({"jsonrpc":"2.0","id":1,"method":"ping"})).await;
    assert_eq!(code, 404);
    let r = reqwest::Client::new()
        .post(gw.url("/rpc"))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], -32700);
}

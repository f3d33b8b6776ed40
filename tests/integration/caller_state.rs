//! State a stateless caller holds answers to that caller alone: an authenticated caller's
//! `requestState` (a call resumed after `input_required`) and its task ids cannot be used by
//! another caller, though both are signed by the same gateway and sent over the same endpoint.

use serde_json::{Value, json};

use super::clients::{TestClient, Transport};
use super::identity_provider::sha256_line;
use super::util::{TestGateway, eventually, fixture_bin, stdio_fixture};

const ANN: &str = "mcpgw_ann_key_0123456789abcdef01";
const BOB: &str = "mcpgw_bob_key_0123456789abcdef01";

async fn gateway() -> TestGateway {
    let yaml = format!(
        "auth:\n  api_keys:\n    - {{ hash: {ann}, subject: ann }}\n    - {{ hash: {bob}, subject: bob }}\n\
         upstreams:\n  f: {f}\n  local:\n    stdio: {{ command: '{bin}', args: [--name, local] }}\n    sessions: per_client\n",
        ann = sha256_line(ANN),
        bob = sha256_line(BOB),
        f = stdio_fixture("f"),
        bin = fixture_bin(),
    );
    TestGateway::start(&yaml).await
}

async fn stateless(gw: &TestGateway, key: &str, capabilities: Value) -> TestClient {
    TestClient::connect_as_with(gw, Transport::Stateless, "default", &[("x-api-key", key)], capabilities).await
}

#[tokio::test]
async fn another_callers_request_state_is_refused() {
    let gw = gateway().await;
    let ann = stateless(&gw, ANN, json!({"sampling": {}})).await;
    let bob = stateless(&gw, BOB, json!({"sampling": {}})).await;
    let r1 = ann.request("tools/call", json!({"name": "local_ask", "arguments": {}})).await;
    assert_eq!(r1["result"]["resultType"], "input_required", "{r1}");
    let state = r1["result"]["requestState"].as_str().unwrap().to_string();
    let answer = json!({"role": "assistant", "content": {"type": "text", "text": "yes"}, "model": "m"});
    let retry =
        json!({"name": "local_ask", "arguments": {}, "inputResponses": {"input-1": answer}, "requestState": state});

    // Bob replays Ann's state for the very same call.
    let replayed = bob.request("tools/call", retry.clone()).await;
    assert_eq!(bob.last_status(), Some(400), "{replayed}");
    assert_eq!(replayed["error"]["code"], -32602, "{replayed}");
    assert!(replayed["error"]["message"].as_str().unwrap().contains("another request or caller"), "{replayed}");

    let resumed = ann.request("tools/call", retry).await;
    assert_eq!(resumed["result"]["resultType"], "complete", "Ann's own retry: {resumed}");
}

#[tokio::test]
async fn another_callers_task_id_names_no_task() {
    let gw = gateway().await;
    let extension = json!({"extensions": {"io.modelcontextprotocol/tasks": {}}});
    let ann = stateless(&gw, ANN, extension.clone()).await;
    let bob = stateless(&gw, BOB, extension).await;
    let created = ann.call("f_slow_task", json!({"ms": 10000})).await;
    let id = created["result"]["taskId"].as_str().unwrap().to_string();
    assert!(id.starts_with("f."), "tagged with its owner: {id}");

    for method in ["tasks/get", "tasks/cancel"] {
        let refused = bob.request(method, json!({"taskId": id})).await;
        assert_eq!(
            refused["error"]["message"],
            format!("Failed to retrieve task: no task {id}"),
            "{method}: {refused}"
        );
    }
    // The untagged form is no way around it.
    let plain = format!("f:{}", id.split_once(':').unwrap().1);
    let refused = bob.request("tasks/get", json!({"taskId": plain})).await;
    assert!(refused["error"].is_object(), "{refused}");

    let got = ann.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["taskId"], id.as_str(), "Ann's own: {got}");
    let ack = ann.request("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    eventually("the task to be cancelled", || async {
        let got = ann.request("tasks/get", json!({"taskId": id})).await;
        (got["result"]["status"] == "cancelled").then_some(())
    })
    .await;
}

//! Tasks (MCP 2025-11-25, experimental) through the gateway: ids namespaced per upstream, every
//! task operation routed to the upstream that runs it, status notifications delivered to the
//! session that started the task, and no session seeing another's tasks.

use serde_json::json;

use super::clients::{TestClient, Transport};
use super::util::{TestGateway, TestUpstream, stdio_fixture};

const HTTP: Transport = Transport::StreamableHttp;

#[tokio::test]
async fn tasks_route_to_their_upstream_and_stay_with_their_session() {
    let remote = TestUpstream::http("g", &[]);
    let yaml = format!("upstreams:\n  f: {}\n  g: {{ url: '{}' }}\n", stdio_fixture("f"), remote.url);
    let gw = TestGateway::start(&yaml).await;
    // Each client's session stream is open from its initialize on.
    let a = TestClient::connect(&gw, HTTP, "default").await;
    let b = TestClient::connect(&gw, HTTP, "default").await;
    let init = a.initialize_answer().unwrap();
    assert!(init["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"].is_object(), "{init}");

    let listed = a.request("tools/list", json!({})).await;
    let slow =
        listed["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "f_slow_task").unwrap().clone();
    assert_eq!(slow["execution"]["taskSupport"], "optional", "the tool's task support passes through");

    let created =
        a.request("tools/call", json!({"name": "f_slow_task", "arguments": {"ms": 300}, "task": {"ttl": 60000}})).await;
    let task = &created["result"]["task"];
    assert_eq!(task["status"], "working", "{created}");
    let id = task["taskId"].as_str().unwrap().to_string();
    assert!(id.starts_with("f:"), "task ids are namespaced by upstream: {id}");

    // Another session cannot see or touch it.
    let stranger = b.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(stranger["error"]["code"], -32602, "{stranger}");
    let stranger = b.request("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(stranger["error"]["code"], -32602);

    let polled = a.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(polled["result"]["taskId"], id.as_str());
    let result = a.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(result["result"]["content"][0]["text"], "done after 300 ms", "{result}");
    assert_eq!(result["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], id.as_str(), "{result}");
    let status = a.next_notification("notifications/tasks/status").await;
    assert_eq!(status["params"]["taskId"], id.as_str());
    assert_eq!(status["params"]["status"], "completed");

    // Each session lists only its own tasks, from every upstream.
    let other = b.request("tools/call", json!({"name": "g_slow_task", "arguments": {"ms": 5000}, "task": {}})).await;
    let other_id = other["result"]["task"]["taskId"].as_str().unwrap().to_string();
    assert!(other_id.starts_with("g:"), "{other_id}");
    let mine = a.request("tasks/list", json!({})).await;
    let ids: Vec<&str> =
        mine["result"]["tasks"].as_array().unwrap().iter().map(|t| t["taskId"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str()]);
    let theirs = b.request("tasks/list", json!({})).await;
    assert_eq!(theirs["result"]["tasks"][0]["taskId"], other_id.as_str());

    // Cancelling reaches the upstream; a task that ended cannot be cancelled again.
    let cancelled = b.request("tasks/cancel", json!({"taskId": other_id})).await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
    let again = b.request("tasks/cancel", json!({"taskId": other_id})).await;
    assert_eq!(again["error"]["code"], -32602);

    // A plain call of the same tool is still a plain call.
    assert_eq!(a.call_text("f_slow_task", json!({"ms": 1})).await, "done at once");
}

/// A session-based client's tasks on a stateless upstream that offers tasks only through the
/// 2026 tasks extension: created, polled and fetched in the 2025-11-25 shapes, and a task that
/// waits for input asks the client through `tasks/result`.
#[tokio::test]
async fn a_session_clients_tasks_run_on_a_stateless_upstreams_tasks_extension() {
    let upstream = TestUpstream::http("c", &["--conformance"]);
    let gw = TestGateway::start(&format!("upstreams:\n  c: {{ url: '{}', prefix: '' }}\n", upstream.url)).await;
    let c = TestClient::connect_with(&gw, HTTP, "default", json!({"elicitation": {}})).await;

    let created = c
        .request("tools/call", json!({"name": "slow_compute", "arguments": {"seconds": 0.2}, "task": {"ttl": 60000}}))
        .await;
    let task = &created["result"]["task"];
    assert_eq!((task["status"].as_str(), task["ttl"].as_u64()), (Some("working"), Some(60000)), "{created}");
    assert!(created["result"].get("resultType").is_none(), "no 2026 fields: {created}");
    let id = task["taskId"].as_str().unwrap().to_string();
    assert!(id.starts_with("c:"), "{id}");
    let polled = c.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(polled["result"]["taskId"], id.as_str(), "{polled}");
    assert!(polled["result"].get("result").is_none(), "a 2025 task carries no result: {polled}");
    let result = c.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(result["result"]["content"][0]["text"], "computed for 0.2s", "{result}");

    // A task waiting for input: tasks/result asks the client, then returns what the task made.
    let created = c
        .request("tools/call", json!({"name": "confirm_delete", "arguments": {"filename": "b.txt"}, "task": {}}))
        .await;
    let id = created["result"]["task"]["taskId"].as_str().unwrap().to_string();
    assert_eq!(created["result"]["task"]["status"], "input_required", "{created}");
    // The question comes on the request's stream; the answer is POSTed (and accepted with 202).
    c.answer_with(|question| {
        (question["method"] == "elicitation/create").then(|| json!({"action":"accept","content":{"confirm":"yes"}}))
    });
    let done = c.request("tasks/result", json!({"taskId": id})).await;
    let questions = c.questions();
    assert_eq!(questions.len(), 1, "{questions:?}");
    assert_eq!(questions[0]["params"]["message"], "Delete b.txt?");
    assert_eq!(done["result"]["content"][0]["text"], "deleted b.txt", "{done}");

    // Cancelling answers with the task, now cancelled.
    let created =
        c.request("tools/call", json!({"name": "slow_compute", "arguments": {"seconds": 5}, "task": {}})).await;
    let id = created["result"]["task"]["taskId"].as_str().unwrap().to_string();
    let cancelled = c.request("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
}

//! Federation: several upstreams behind one endpoint, prefixed names, virtual servers,
//! every routed method, and fields the gateway does not own passing through.

use serde_json::json;

use super::util::{Client, TestGateway, TestUpstream, stdio_fixture};

fn two_upstreams(remote: &TestUpstream) -> String {
    format!(
        "upstreams:\n  local: {}\n  remote:\n    url: {}\n    tools: {{ exclude: [crash], rename: {{ echo: say }} }}\n\
         virtual_servers:\n  default: {{ tools: ['*'], resources: ['*'], prompts: ['*'] }}\n  ops: {{ tools: ['local_*'] }}\n",
        stdio_fixture("local"),
        remote.url
    )
}

#[tokio::test]
async fn streamable_http_client_sees_stdio_and_http_upstreams_under_their_prefixes() {
    let remote = TestUpstream::http("remote", &[]);
    let gw = TestGateway::start(&two_upstreams(&remote)).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let tools = c.tools().await;
    for expected in ["local_echo", "local_add", "local_whoami", "remote_say", "remote_add", "remote_whoami"] {
        assert!(tools.contains(&expected.to_string()), "{expected} missing from {tools:?}");
    }
    assert!(!tools.contains(&"remote_crash".to_string()), "excluded tool is listed");
    assert!(!tools.contains(&"remote_echo".to_string()), "renamed tool is listed under its old name");
    assert_eq!(c.call_text("local_whoami", json!({})).await, "local");
    assert_eq!(c.call_text("remote_whoami", json!({})).await, "remote");
    assert_eq!(c.call_text("remote_say", json!({"text": "renamed"})).await, "renamed");
}

#[tokio::test]
async fn unknown_fields_pass_through_in_lists_and_results() {
    let remote = TestUpstream::http("remote", &["--sse"]);
    let gw = TestGateway::start(&two_upstreams(&remote)).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let list = c.request("tools/list", json!({})).await;
    let say = list["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "remote_say").cloned();
    let say = say.expect("remote_say listed on the first page");
    assert_eq!(say["x-fixture"], json!({"kept": true}));
    let result = c.call("remote_say", json!({"text": "x"})).await;
    assert_eq!(result["result"]["_meta"], json!({"x-fixture-meta": "kept"}));
    let add = c.call("local_add", json!({"a": 2, "b": 3})).await;
    assert_eq!(add["result"]["structuredContent"], json!({"sum": 5.0}));
}

#[tokio::test]
async fn resources_prompts_and_completions_route_to_their_owner() {
    let remote = TestUpstream::http("remote", &[]);
    let gw = TestGateway::start(&two_upstreams(&remote)).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let resources = c.list("resources/list", "resources", "uri").await;
    assert_eq!(resources, ["fixture://local/readme", "fixture://remote/readme"]);
    let templates = c.list("resources/templates/list", "resourceTemplates", "uriTemplate").await;
    assert_eq!(templates, ["fixture://local/items/{id}", "fixture://remote/items/{id}"]);

    let read = c.request("resources/read", json!({"uri": "fixture://remote/items/7"})).await;
    assert_eq!(read["result"]["contents"][0]["text"], "remote says fixture://remote/items/7");
    let missing = c.request("resources/read", json!({"uri": "fixture://nobody/x"})).await;
    assert_eq!(missing["error"]["code"], -32002);

    let prompts = c.list("prompts/list", "prompts", "name").await;
    assert_eq!(prompts, ["local_greet", "remote_greet"]);
    let got = c.request("prompts/get", json!({"name": "local_greet", "arguments": {"who": "ann"}})).await;
    assert_eq!(got["result"]["messages"][0]["content"]["text"], "Hello ann from local");

    let done = c
        .request(
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "remote_greet"}, "argument": {"name": "who", "value": "a"}}),
        )
        .await;
    assert_eq!(done["result"]["completion"]["values"], json!(["alice", "bob"]));
    assert_eq!(c.request("ping", json!({})).await["result"], json!({}));
}

#[tokio::test]
async fn virtual_server_exposes_only_its_selection() {
    let remote = TestUpstream::http("remote", &[]);
    let gw = TestGateway::start(&two_upstreams(&remote)).await;
    let mut ops = Client::connect(gw.url("/servers/ops/mcp")).await;
    let tools = ops.tools().await;
    assert!(!tools.is_empty() && tools.iter().all(|t| t.starts_with("local_")), "{tools:?}");
    let denied = ops.call("remote_whoami", json!({})).await;
    assert_eq!(denied["error"]["code"], -32602, "{denied}");
    assert!(ops.list("prompts/list", "prompts", "name").await.is_empty());
    let r = reqwest::Client::new()
        .post(gw.url("/servers/nope/mcp"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn list_results_are_paginated_and_upstream_pagination_is_followed() {
    // The fixture serves two tools per page; the gateway serves three per page.
    let yaml = format!("serving: {{ page_size: 3 }}\nupstreams:\n  a: {}\n", stdio_fixture("a"));
    let gw = TestGateway::start(&yaml).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let first = c.request("tools/list", json!({})).await;
    assert_eq!(first["result"]["tools"].as_array().unwrap().len(), 3);
    assert!(first["result"]["nextCursor"].is_string());
    let all = c.tools().await;
    assert_eq!(
        all,
        [
            "a_echo",
            "a_add",
            "a_sleep",
            "a_sleeping",
            "a_whoami",
            "a_huge",
            "a_pid",
            "a_crash",
            "a_add_tool",
            "a_progress",
            "a_touch",
            "a_log",
            "a_ask",
            "a_ask_withdrawn",
            "a_ask_url",
            "a_subscriptions",
            "a_cancellations",
            "a_calls",
            "a_headers",
            "a_forget_sessions",
            "a_slow_task"
        ]
    );
    let bad = c.request("tools/list", json!({"cursor": "garbage"})).await;
    assert_eq!(bad["error"]["code"], -32602);
}

#[tokio::test]
async fn toml_config_serves_the_same_catalog() {
    let toml = format!("[upstreams.a.stdio]\ncommand = '{}'\nargs = ['--name', 'a']\n", super::util::fixture_bin());
    let gw = TestGateway::start_named("gateway.toml", &toml).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a");
}

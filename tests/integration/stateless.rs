//! Stateless MCP (2026-07-28) served beside the session-based versions on one endpoint: discover,
//! calls without a session, header and `_meta` validation with the prescribed codes, progress on
//! the request's own stream, and `subscriptions/listen`.

use serde_json::{Value, json};

use super::clients::{TestClient, Transport};
use super::util::{TestGateway, eventually, stdio_fixture};

const VERSION: &str = "2026-07-28";

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "test", "version": "0" },
    })
}

/// A stateless POST with exactly these headers: the body with `_meta` added to its params. For
/// what `TestClient` (which always sends the right headers) cannot show.
async fn post(endpoint: &str, id: u64, method: &str, mut params: Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut merged = meta();
    if let Some(Value::Object(own)) = params.get("_meta") {
        merged.as_object_mut().unwrap().extend(own.clone());
    }
    params["_meta"] = merged;
    let mut request = reqwest::Client::new()
        .post(endpoint)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request
        .body(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string())
        .send()
        .await
        .unwrap()
}

/// A stateless client of the default virtual server declaring `capabilities`.
async fn stateless(gw: &TestGateway, capabilities: Value) -> TestClient {
    TestClient::connect_with(gw, Transport::Stateless, "default", capabilities).await
}

#[tokio::test]
async fn stateless_requests_are_served_beside_sessions() {
    let gw = TestGateway::start(&format!("upstreams:\n  f: {}\n", stdio_fixture("f"))).await;
    // (The stateless client fails the test if an answer carries a session id.)
    let c = stateless(&gw, json!({})).await;

    let discover = c.request("server/discover", json!({})).await;
    assert_eq!(c.last_status(), Some(200), "{discover}");
    let result = &discover["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["supportedVersions"][0], VERSION);
    assert!(result["supportedVersions"].as_array().unwrap().contains(&json!("2025-11-25")));
    assert!(result["capabilities"]["tools"].is_object());
    assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "mcpgw");
    assert!(result["ttlMs"].is_u64() && result["cacheScope"].is_string());

    let list = c.request("tools/list", json!({})).await;
    assert_eq!(c.last_status(), Some(200));
    assert!(list["result"]["tools"].as_array().unwrap().iter().any(|t| t["name"] == "f_add"));
    assert_eq!(list["result"]["resultType"], "complete");
    assert!(list["result"]["ttlMs"].is_u64());

    let sum = c.request_as(json!(3), "tools/call", json!({"name": "f_add", "arguments": {"a": 2, "b": 5}})).await;
    assert_eq!(c.last_status(), Some(200), "{sum}");
    assert_eq!(sum["id"], 3);
    assert_eq!(sum["result"]["content"][0]["text"], "7");
    assert_eq!(sum["result"]["resultType"], "complete");
    assert!(sum["result"].get("ttlMs").is_none(), "calls are not cacheable");

    // A session-based client on the same endpoint is unaffected.
    let legacy = TestClient::connect(&gw, Transport::StreamableHttp, "default").await;
    assert_eq!(legacy.call_text("f_add", json!({"a": 1, "b": 1})).await, "2");
    let r = legacy.call("f_add", json!({"a": 1, "b": 1})).await;
    assert!(r["result"].get("resultType").is_none(), "legacy results stay as the upstream sent them");
}

#[tokio::test]
async fn bad_stateless_requests_get_the_prescribed_errors() {
    let gw = TestGateway::start(&format!("upstreams:\n  f: {}\n", stdio_fixture("f"))).await;
    let endpoint = gw.url("/mcp");
    let add = json!({"name": "f_add", "arguments": {"a": 1, "b": 2}});
    let code = |v: &Value| v["error"]["code"].as_i64().unwrap_or(0);

    // Headers must mirror the body.
    let r = post(
        &endpoint,
        10,
        "tools/call",
        add.clone(),
        &[("mcp-protocol-version", VERSION), ("mcp-method", "tools/list"), ("mcp-name", "f_add")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!((code(&v), v["id"].clone()), (-32020, json!(10)), "{v}");
    let r = post(
        &endpoint,
        11,
        "tools/call",
        add.clone(),
        &[("mcp-protocol-version", VERSION), ("mcp-method", "tools/call")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.json().await.unwrap()), -32020, "Mcp-Name is required for tools/call");
    let encoded = "=?base64?Zl9hZGQ=?="; // "f_add"
    let r = post(
        &endpoint,
        12,
        "tools/call",
        add.clone(),
        &[("mcp-protocol-version", VERSION), ("mcp-method", "tools/call"), ("mcp-name", encoded)],
    )
    .await;
    assert_eq!(r.status(), 200, "a base64 Mcp-Name is decoded before comparing");

    // An unsupported version names the supported ones.
    let mut params = add.clone();
    params["_meta"] = meta();
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("1900-01-01");
    let r = reqwest::Client::new()
        .post(&endpoint)
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "1900-01-01")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "f_add")
        .body(json!({"jsonrpc": "2.0", "id": 13, "method": "tools/call", "params": params}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(code(&v), -32022, "{v}");
    assert_eq!(v["error"]["data"]["requested"], "1900-01-01");
    assert_eq!(v["error"]["data"]["supported"][0], VERSION);

    // Missing `_meta` fields are invalid params.
    let r = reqwest::Client::new()
        .post(&endpoint)
        .header("content-type", "application/json")
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "tools/list")
        .body(json!({"jsonrpc": "2.0", "id": 14, "method": "tools/list", "params": {}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.json().await.unwrap()), -32602);

    // Methods the stateless protocol removed are not found.
    let c = stateless(&gw, json!({})).await;
    for removed in ["ping", "logging/setLevel", "resources/subscribe", "initialize"] {
        let v = c.request(removed, json!({})).await;
        assert_eq!((c.last_status(), code(&v)), (Some(404), -32601), "{removed}: {v}");
    }
}

#[tokio::test]
async fn progress_streams_and_listen_delivers_only_what_was_asked() {
    let gw = TestGateway::start(&format!("upstreams:\n  f: {}\n", stdio_fixture("f"))).await;
    let endpoint = gw.url("/mcp");

    // Progress travels on the request's own event stream, before the result.
    let r = post(
        &endpoint,
        20,
        "tools/call",
        json!({"name": "f_progress", "arguments": {"steps": 2}, "_meta": {"progressToken": "p1"}}),
        &[("mcp-protocol-version", VERSION), ("mcp-method", "tools/call"), ("mcp-name", "f_progress")],
    )
    .await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let messages: Vec<Value> = super::util::sse_messages(&text);
    assert_eq!(messages.iter().filter(|m| m["method"] == "notifications/progress").count(), 2, "{text}");
    assert!(messages.iter().all(|m| m["method"] != "notifications/progress" || m["params"]["progressToken"] == "p1"));
    assert_eq!(messages.last().unwrap()["result"]["resultType"], "complete");

    // A listen stream opting in to tool list changes and one resource's updates.
    let listener = stateless(&gw, json!({})).await;
    let ack = listener
        .listen_as(json!(21), json!({"toolsListChanged": true, "resourceSubscriptions": ["fixture://f/readme"]}))
        .await;
    // Each next message on the stream, whatever it is.
    let next = || listener.next_message(|_| true);

    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 21);
    assert_eq!(ack["params"]["notifications"]["toolsListChanged"], true);
    assert!(ack["params"]["notifications"].get("promptsListChanged").is_none());

    // Another client changes the tool list and touches the resource.
    let other = TestClient::connect(&gw, Transport::StreamableHttp, "default").await;
    eventually("the upstream subscription", || async {
        let text = other.call_text("f_subscriptions", json!({})).await;
        text.contains("resources/subscribe fixture://f/readme").then_some(())
    })
    .await;
    other.call_text("f_add_tool", json!({"name": "fresh"})).await;
    let change = next().await;
    assert_eq!(change["method"], "notifications/tools/list_changed");
    assert_eq!(change["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 21);
    other.call_text("f_touch", json!({"uri": "fixture://f/readme"})).await;
    let updated = next().await;
    assert_eq!(updated["method"], "notifications/resources/updated");
    assert_eq!(updated["params"]["uri"], "fixture://f/readme");
    assert_eq!(updated["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 21);
}

#[tokio::test]
async fn the_eras_translate_into_each_other_through_a_stateless_upstream() {
    // The fixture's dual-era personality answers `server/discover`, so mcpgw speaks 2026-07-28 to it.
    // Over stdio it answers the discovery probe the same way.
    let upstream = super::util::TestUpstream::http("c", &["--conformance"]);
    let gw = TestGateway::start(&format!(
        "upstreams:\n  c: {{ url: '{}', prefix: '' }}\n  s: {{ stdio: {{ command: '{}', args: [--conformance] }} }}\n",
        upstream.url,
        super::util::fixture_bin()
    ))
    .await;
    let (_, ready) = gw.readyz().await;
    assert_eq!(ready["upstreams"]["c"]["protocol_version"], VERSION);
    assert_eq!(ready["upstreams"]["s"]["protocol_version"], VERSION);
    // Without a handler, the stateless client returns `input_required` results as they come.
    let c = stateless(&gw, json!({})).await;

    // A stateless client gets the upstream's `input_required` results and retries itself.
    let tool = "test_input_required_result_multi_round";
    let r1 = c.request("tools/call", json!({"name": tool, "arguments": {}})).await;
    let r1 = &r1["result"];
    assert_eq!(r1["resultType"], "input_required", "{r1}");
    assert!(r1["inputRequests"]["step1"]["method"] == "elicitation/create");
    let answer = |field: &str, value: &str| json!({"action": "accept", "content": {field: value}});
    let r2 = c
        .request(
            "tools/call",
            json!({"name": tool, "arguments": {}, "inputResponses": {"step1": answer("name", "Ann")}, "requestState": r1["requestState"]}),
        )
        .await;
    let r2 = &r2["result"];
    assert!(r2["inputRequests"]["step2"].is_object(), "{r2}");
    assert_ne!(r2["requestState"], r1["requestState"]);
    let r3 = c
        .request(
            "tools/call",
            json!({"name": tool, "arguments": {}, "inputResponses": {"step2": answer("color", "blue")}, "requestState": r2["requestState"]}),
        )
        .await;
    assert_eq!(r3["result"]["resultType"], "complete", "{r3}");
    assert_eq!(r3["result"]["content"][0]["text"], "both rounds done");

    // A session-based client is asked the upstream's input request as a real sampling request,
    // and mcpgw retries upstream with its answer.
    let legacy = TestClient::connect_with(&gw, Transport::StreamableHttp, "default", json!({"sampling": {}})).await;
    legacy.answer_sampling("Paris");
    for (asked, tool) in [(1, "test_sampling"), (2, "s_test_sampling")] {
        let text = legacy.call_text(tool, json!({})).await;
        assert_eq!(text, "LLM response: Paris", "{tool}");
        let questions = legacy.questions();
        assert_eq!(questions.len(), asked, "one question per call");
        assert_eq!(questions[asked - 1]["method"], "sampling/createMessage");
    }
    let r = c.request("tools/call", json!({"name": "s_test_input_required_result_elicitation", "arguments": {}})).await;
    assert_eq!(r["result"]["inputRequests"]["user_name"]["method"], "elicitation/create", "{r}");
}

#[tokio::test]
async fn a_session_based_upstreams_question_becomes_input_required_for_a_stateless_client() {
    // Over streamable HTTP the question arrives on the call's stream; over stdio the client gets
    // its own upstream session (and process) per request.
    let remote = super::util::TestUpstream::http("remote", &[]);
    let yaml = format!(
        "upstreams:\n  remote: {{ url: '{}' }}\n  local:\n    stdio: {{ command: '{}', args: [--name, local] }}\n    sessions: per_client\n",
        remote.url,
        super::util::fixture_bin()
    );
    let gw = TestGateway::start(&yaml).await;
    // Without a handler: the test answers the `input_required` results itself.
    let c = stateless(&gw, json!({"sampling": {}})).await;
    for tool in ["remote_ask", "local_ask"] {
        let r1 = c.request("tools/call", json!({"name": tool, "arguments": {}})).await;
        assert_eq!(c.last_status(), Some(200), "{r1}");
        let result = &r1["result"];
        assert_eq!(result["resultType"], "input_required", "{tool}: {r1}");
        assert_eq!(result["inputRequests"]["input-1"]["method"], "sampling/createMessage");
        let state = result["requestState"].as_str().unwrap().to_string();
        assert!(state.starts_with("mcpgw.1."), "{state}");

        let answer = json!({"role": "assistant", "content": {"type": "text", "text": "yes"}, "model": "m"});
        let retry =
            json!({"name": tool, "arguments": {}, "inputResponses": {"input-1": answer}, "requestState": state});
        let r2 = c.request("tools/call", retry.clone()).await;
        assert_eq!(c.last_status(), Some(200), "{r2}");
        assert_eq!(r2["result"]["resultType"], "complete", "{tool}: {r2}");
        assert_eq!(r2["result"]["content"][0]["text"], "sampled: yes", "{tool}");

        // The state is signed and bound to the call.
        let mut tampered = retry.clone();
        tampered["requestState"] = json!(state.replace("mcpgw.1.e", "mcpgw.1.f"));
        let r3 = c.request("tools/call", tampered).await;
        assert_eq!((c.last_status(), r3["error"]["code"].clone()), (Some(400), json!(-32602)), "{r3}");
        let mut moved = retry;
        moved["arguments"] = json!({"other": true});
        let r4 = c.request("tools/call", moved).await;
        assert_eq!(r4["error"]["code"], -32602, "{r4}");
    }

    // A client that did not declare sampling gets -32021 naming it.
    let plain = stateless(&gw, json!({})).await;
    let r = plain.call("remote_ask", json!({})).await;
    assert_eq!(plain.last_status(), Some(400), "{r}");
    assert_eq!(r["error"]["code"], -32021);
    assert!(r["error"]["data"]["requiredCapabilities"]["sampling"].is_object(), "{r}");
}

#[tokio::test]
async fn the_era_setting_skips_or_requires_the_discovery_probe() {
    let bin = super::util::fixture_bin();
    let gw = TestGateway::start(&format!(
        "upstreams:\n  dual: {{ stdio: {{ command: '{bin}', args: [--conformance] }}, era: session }}\n  \
         old: {{ stdio: {{ command: '{bin}' }}, era: stateless }}\n"
    ))
    .await;
    let (_, ready) = gw.readyz().await;
    assert_eq!(ready["upstreams"]["dual"]["protocol_version"], "2025-11-25", "era: session never probes");
    assert_eq!(ready["upstreams"]["old"]["state"], "down", "{ready}");
    assert!(ready["upstreams"]["old"]["error"].as_str().unwrap().contains("era: stateless"), "{ready}");
}

#[tokio::test]
async fn session_clients_subscriptions_reach_a_stateless_upstream_as_its_listen() {
    // resources/subscribe is gone from the stateless protocol: the subscription travels in the
    // gateway's subscriptions/listen to the upstream, over HTTP and over stdio.
    let upstream = super::util::TestUpstream::http("c", &["--conformance"]);
    let stdio = format!("{{ stdio: {{ command: '{}', args: [--conformance] }} }}", super::util::fixture_bin());
    for config in [format!("upstreams:\n  u: {{ url: '{}' }}\n", upstream.url), format!("upstreams:\n  u: {stdio}\n")] {
        let gw = TestGateway::start(&config).await;
        let client = TestClient::connect(&gw, Transport::StreamableHttp, "default").await;
        let r = client.request("resources/subscribe", json!({"uri": "test://watched-resource"})).await;
        assert!(r["result"].is_object(), "{r}");
        let last = |wanted: &'static str| {
            let client = &client;
            async move {
                eventually(wanted, || async {
                    let seen = client.call_text("u_fixture_subscriptions", json!({})).await;
                    (seen.lines().last() == Some(wanted)).then_some(())
                })
                .await
            }
        };
        last("subscriptions/listen [test://watched-resource]").await;
        let r = client.request("resources/unsubscribe", json!({"uri": "test://watched-resource"})).await;
        assert!(r["result"].is_object(), "{r}");
        last("subscriptions/listen []").await;
    }
}

#[tokio::test]
async fn a_stateless_client_gets_log_messages_only_for_requests_that_ask() {
    let upstream = super::util::TestUpstream::http("c", &["--conformance"]);
    let gw = TestGateway::start(&format!("upstreams:\n  c: {{ url: '{}' }}\n", upstream.url)).await;
    let endpoint = gw.url("/mcp");
    let headers =
        [("mcp-protocol-version", VERSION), ("mcp-method", "tools/call"), ("mcp-name", "c_test_tool_with_logging")];
    let asked = json!({"name": "c_test_tool_with_logging", "arguments": {}, "_meta": {"io.modelcontextprotocol/logLevel": "info"}});
    let r = post(&endpoint, 1, "tools/call", asked, &headers).await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let messages: Vec<Value> = super::util::sse_messages(&text);
    let logs: Vec<&Value> = messages.iter().filter(|m| m["method"] == "notifications/message").collect();
    assert_eq!(logs.len(), 3, "{text}");
    assert_eq!(logs[0]["params"]["logger"], "c/conformance");
    assert_eq!(messages.last().unwrap()["result"]["resultType"], "complete");

    let c = stateless(&gw, json!({})).await;
    let plain = c.call("c_test_tool_with_logging", json!({})).await;
    assert_eq!(plain["result"]["content"][0]["text"], "Tool with logging executed successfully", "{plain}");
}

#[tokio::test]
async fn mirrored_arguments_are_checked_from_clients_and_sent_to_upstreams() {
    // The dual-era fixture refuses a call of test_custom_headers whose Mcp-Param-Region header does
    // not match the body, as a strict server would; mcpgw must send it.
    let upstream = super::util::TestUpstream::http("c", &["--conformance"]);
    let gw = TestGateway::start(&format!("upstreams:\n  c: {{ url: '{}', prefix: '' }}\n", upstream.url)).await;
    let endpoint = gw.url("/mcp");
    let tool = "test_custom_headers";
    let base = [("mcp-protocol-version", VERSION), ("mcp-method", "tools/call"), ("mcp-name", tool)];
    let args = json!({"name": tool, "arguments": {"region": "eu-west1"}});

    let with = |extra: &'static [(&'static str, &'static str)]| {
        let mut h: Vec<(&str, &str)> = base.to_vec();
        h.extend_from_slice(extra);
        h
    };
    let r = post(&endpoint, 1, "tools/call", args.clone(), &with(&[("mcp-param-region", "eu-west1")])).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"]["content"][0]["text"], "region eu-west1", "{v}");
    // base64 form of the same value
    let r =
        post(&endpoint, 2, "tools/call", args.clone(), &with(&[("mcp-param-region", "=?base64?ZXUtd2VzdDE=?=")])).await;
    assert_eq!(r.status(), 200);

    for (extra, what) in [
        (&[][..], "a missing header"),
        (&[("mcp-param-region", "us-east1")][..], "a different value"),
        (&[("mcp-param-region", "=?base64?!!!?=")][..], "invalid base64"),
    ] {
        let r = post(&endpoint, 3, "tools/call", args.clone(), &with(extra)).await;
        assert_eq!(r.status(), 400, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], -32020, "{what}: {v}");
    }

    // A session-based client knows nothing of the header; mcpgw adds it towards the upstream.
    let legacy = TestClient::connect(&gw, Transport::StreamableHttp, "default").await;
    assert_eq!(legacy.call_text(tool, json!({"region": "ap-south1"})).await, "region ap-south1");
}

#[tokio::test]
async fn per_client_upstream_sessions_are_asked_for_the_clients_log_level() {
    // Each client (and each stateless request) gets its own fixture process here, so what a
    // process heard is what its one client asked for.
    let yaml = format!(
        "upstreams:\n  local:\n    stdio: {{ command: '{}', args: [--name, local] }}\n    sessions: per_client\n    era: session\n",
        super::util::fixture_bin()
    );
    let gw = TestGateway::start(&yaml).await;
    let c = stateless(&gw, json!({})).await;
    // Asking for a level makes the answer a stream (log messages would come before it).
    let heard = |params: Value| {
        let c = &c;
        async move {
            let answer = c.request("tools/call", params).await;
            assert_eq!(c.last_status(), Some(200));
            answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{answer}")).to_string()
        }
    };
    let asked =
        json!({"name": "local_subscriptions", "arguments": {}, "_meta": {"io.modelcontextprotocol/logLevel": "error"}});
    assert_eq!(heard(asked).await, "logging/setLevel error", "the request's level reached its upstream session");
    assert_eq!(heard(json!({"name": "local_subscriptions", "arguments": {}})).await, "", "no level, no request");

    let session = TestClient::connect(&gw, Transport::StreamableHttp, "default").await;
    assert_eq!(session.request("logging/setLevel", json!({"level": "warning"})).await["result"], json!({}));
    assert_eq!(session.call_text("local_subscriptions", json!({})).await, "logging/setLevel warning");
    assert_eq!(session.request("logging/setLevel", json!({"level": "debug"})).await["result"], json!({}));
    let heard = session.call_text("local_subscriptions", json!({})).await;
    assert_eq!(heard, "logging/setLevel warning\nlogging/setLevel debug", "a changed level follows on the next call");
}

/// The tasks extension (`io.modelcontextprotocol/tasks`) through mcpgw: a stateless upstream that
/// runs a call as a task hands the client a task id naming that upstream; `tasks/get`,
/// `tasks/update` and `tasks/cancel` reach the upstream with its own id; a client that did not
/// declare the extension gets -32021 from the gateway.
#[tokio::test]
async fn the_tasks_extension_passes_through_to_the_upstream_that_runs_the_task() {
    let upstream = super::util::TestUpstream::http("c", &["--conformance"]);
    let gw = TestGateway::start(&format!("upstreams:\n  c: {{ url: '{}', prefix: '' }}\n", upstream.url)).await;
    let plain = stateless(&gw, json!({})).await;
    let discover = plain.request("server/discover", json!({})).await;
    assert!(
        discover["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/tasks"].is_object(),
        "{discover}"
    );
    // Without a handler: the test answers the task's input requests itself.
    let tasks = stateless(&gw, json!({"elicitation": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}})).await;

    // Without the extension the call runs at once.
    let at_once = plain.call("slow_compute", json!({"seconds": 0})).await;
    assert_eq!(at_once["result"]["resultType"], "complete", "{at_once}");

    // With it, the upstream makes a task; its id leads back to the upstream.
    let created = tasks.call("slow_compute", json!({"seconds": 0.2})).await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let id = created["result"]["taskId"].as_str().unwrap().to_string();
    assert!(id.starts_with("c:"), "namespaced to its upstream: {id}");
    let done = eventually("the task to complete", || async {
        let got = tasks.request("tasks/get", json!({"taskId": id})).await;
        (got["result"]["status"] == "completed").then_some(got)
    })
    .await;
    assert_eq!(done["result"]["taskId"], id.as_str());
    assert_eq!(done["result"]["result"]["content"][0]["text"], "computed for 0.2s", "{done}");

    // A task waiting on input: its requests on tasks/get, the answers through tasks/update.
    let asking = tasks.call("confirm_delete", json!({"filename": "a.txt"})).await;
    let id = asking["result"]["taskId"].as_str().unwrap().to_string();
    let waiting = tasks.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(waiting["result"]["status"], "input_required", "{waiting}");
    assert_eq!(waiting["result"]["inputRequests"]["confirm"]["method"], "elicitation/create");
    let answer =
        json!({"taskId": id, "inputResponses": {"confirm": {"action": "accept", "content": {"confirm": "yes"}}}});
    let ack = tasks.request("tasks/update", answer).await;
    assert_eq!((tasks.last_status(), &ack["result"]["resultType"]), (Some(200), &json!("complete")), "{ack}");
    let finished = tasks.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(finished["result"]["result"]["content"][0]["text"], "deleted a.txt", "{finished}");

    // Cancelling a running task; then the gate for clients without the extension.
    let slow = tasks.call("slow_compute", json!({"seconds": 5})).await;
    let id = slow["result"]["taskId"].as_str().unwrap().to_string();
    let ack = tasks.request("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let cancelled = tasks.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
    let refused = plain.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!((plain.last_status(), refused["error"]["code"].as_i64()), (Some(400), Some(-32021)), "{refused}");
}

/// A stateless client's task (the tasks extension) on a session-based upstream whose tool supports
/// 2025-11-25 tasks: the call becomes a task-augmented one, and the client sees the extension's
/// shapes (a flat task; `tasks/get` with the result inlined once done; `tasks/cancel` acked).
#[tokio::test]
async fn a_stateless_clients_task_runs_on_a_session_upstreams_tasks() {
    let gw = TestGateway::start(&format!("upstreams:\n  f: {}\n", stdio_fixture("f"))).await;
    let tasks = stateless(&gw, json!({"extensions": {"io.modelcontextprotocol/tasks": {}}})).await;

    let plain = stateless(&gw, json!({})).await.call("f_slow_task", json!({"ms": 10})).await;
    assert_eq!(plain["result"]["content"][0]["text"], "done at once", "without the extension: {plain}");

    let created = tasks.call("f_slow_task", json!({"ms": 200})).await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    assert!(created["result"].get("task").is_none(), "flat, not the 2025 wrapper: {created}");
    let id = created["result"]["taskId"].as_str().unwrap().to_string();
    assert!(id.starts_with("f:"), "{id}");
    let done = eventually("the task to complete", || async {
        let got = tasks.request("tasks/get", json!({"taskId": id})).await;
        (got["result"]["status"] == "completed").then_some(got)
    })
    .await;
    assert_eq!(done["result"]["result"]["content"][0]["text"], "done after 200 ms", "{done}");

    let slow = tasks.call("f_slow_task", json!({"ms": 10000})).await;
    let id = slow["result"]["taskId"].as_str().unwrap().to_string();
    let ack = tasks.request("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let cancelled = tasks.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
}

/// A listen granted nothing (it asked for nothing, or only for resources it may not have) ends
/// right after its acknowledgement instead of holding a stream open forever.
#[tokio::test]
async fn a_listen_granted_nothing_ends_after_its_acknowledgement() {
    let gw = TestGateway::start(&format!("upstreams:\n  f: {}\n", stdio_fixture("f"))).await;
    for notifications in [json!({}), json!({"resourceSubscriptions": ["fixture://nowhere"]})] {
        let r = post(
            &gw.url("/mcp"),
            7,
            "subscriptions/listen",
            json!({"notifications": notifications}),
            &[("mcp-protocol-version", VERSION), ("mcp-method", "subscriptions/listen")],
        )
        .await;
        assert_eq!(r.status(), 200);
        let text = tokio::time::timeout(super::util::DEADLINE, r.text()).await.expect("the stream ends").unwrap();
        let messages = super::util::sse_messages(&text);
        assert_eq!(messages.len(), 2, "{text}");
        assert_eq!(messages[0]["method"], "notifications/subscriptions/acknowledged");
        assert_eq!(messages[0]["params"]["notifications"], json!({}), "granted nothing: {text}");
        assert_eq!(messages[1]["id"], 7, "then its result: {text}");
    }
}

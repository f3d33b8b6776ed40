//! Stateless MCP (2026-07-28) served beside the session-based versions on one endpoint: discover,
//! calls without a session, header and `_meta` validation with the prescribed codes, progress on
//! the request's own stream, and `subscriptions/listen`.

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::util::{Client, TestGateway, eventually, stdio_fixture};

const VERSION: &str = "2026-07-28";

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "test", "version": "0" },
    })
}

/// A stateless POST: the body with `_meta` added to its params, and the mirrored headers.
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

/// The standard headers for `method` (and its `Mcp-Name`).
async fn call(endpoint: &str, id: u64, method: &str, params: Value) -> (u16, Value) {
    let name = params.get("name").or(params.get("uri")).and_then(Value::as_str).map(str::to_string);
    let mut headers = vec![("mcp-protocol-version", VERSION), ("mcp-method", method)];
    if let Some(n) = name.as_deref() {
        headers.push(("mcp-name", n));
    }
    let r = post(endpoint, id, method, params, &headers).await;
    assert!(r.headers().get("mcp-session-id").is_none(), "stateless requests get no session");
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn stateless_requests_are_served_beside_sessions() {
    let gw = TestGateway::start(&format!("upstreams:\n  f: {}\n", stdio_fixture("f"))).await;
    let endpoint = gw.url("/mcp");

    let (status, discover) = call(&endpoint, 1, "server/discover", json!({})).await;
    assert_eq!(status, 200, "{discover}");
    let result = &discover["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["supportedVersions"][0], VERSION);
    assert!(result["supportedVersions"].as_array().unwrap().contains(&json!("2025-11-25")));
    assert!(result["capabilities"]["tools"].is_object());
    assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "mcpgw");
    assert!(result["ttlMs"].is_u64() && result["cacheScope"].is_string());

    let (status, list) = call(&endpoint, 2, "tools/list", json!({})).await;
    assert_eq!(status, 200);
    assert!(list["result"]["tools"].as_array().unwrap().iter().any(|t| t["name"] == "f_add"));
    assert_eq!(list["result"]["resultType"], "complete");
    assert!(list["result"]["ttlMs"].is_u64());

    let (status, sum) = call(&endpoint, 3, "tools/call", json!({"name": "f_add", "arguments": {"a": 2, "b": 5}})).await;
    assert_eq!(status, 200, "{sum}");
    assert_eq!(sum["id"], 3);
    assert_eq!(sum["result"]["content"][0]["text"], "7");
    assert_eq!(sum["result"]["resultType"], "complete");
    assert!(sum["result"].get("ttlMs").is_none(), "calls are not cacheable");

    // A session-based client on the same endpoint is unaffected.
    let mut legacy = Client::connect(endpoint.clone()).await;
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
    for removed in ["ping", "logging/setLevel", "resources/subscribe", "initialize"] {
        let (status, v) = call(&endpoint, 15, removed, json!({})).await;
        assert_eq!((status, code(&v)), (404, -32601), "{removed}: {v}");
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
    let r = post(
        &endpoint,
        21,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true, "resourceSubscriptions": ["fixture://f/readme"]}}),
        &[("mcp-protocol-version", VERSION), ("mcp-method", "subscriptions/listen")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut buffer = String::new();
    let mut next = async || -> Value {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                    return serde_json::from_str(data).unwrap();
                }
                continue;
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    let ack = next().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 21);
    assert_eq!(ack["params"]["notifications"]["toolsListChanged"], true);
    assert!(ack["params"]["notifications"].get("promptsListChanged").is_none());

    // Another client changes the tool list and touches the resource.
    let mut other = Client::connect(endpoint.clone()).await;
    eventually("the upstream subscription", || {
        let mut c = other.sibling();
        async move {
            let text = c.call_text("f_subscriptions", json!({})).await;
            text.contains("resources/subscribe fixture://f/readme").then_some(())
        }
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
    let endpoint = gw.url("/mcp");

    // A stateless client gets the upstream's `input_required` results and retries itself.
    let tool = "test_input_required_result_multi_round";
    let (_, r1) = call(&endpoint, 1, "tools/call", json!({"name": tool, "arguments": {}})).await;
    let r1 = &r1["result"];
    assert_eq!(r1["resultType"], "input_required", "{r1}");
    assert!(r1["inputRequests"]["step1"]["method"] == "elicitation/create");
    let answer = |field: &str, value: &str| json!({"action": "accept", "content": {field: value}});
    let (_, r2) = call(
        &endpoint,
        2,
        "tools/call",
        json!({"name": tool, "arguments": {}, "inputResponses": {"step1": answer("name", "Ann")}, "requestState": r1["requestState"]}),
    )
    .await;
    let r2 = &r2["result"];
    assert!(r2["inputRequests"]["step2"].is_object(), "{r2}");
    assert_ne!(r2["requestState"], r1["requestState"]);
    let (_, r3) = call(
        &endpoint,
        3,
        "tools/call",
        json!({"name": tool, "arguments": {}, "inputResponses": {"step2": answer("color", "blue")}, "requestState": r2["requestState"]}),
    )
    .await;
    assert_eq!(r3["result"]["resultType"], "complete", "{r3}");
    assert_eq!(r3["result"]["content"][0]["text"], "both rounds done");

    // A session-based client is asked the upstream's input request as a real sampling request,
    // and mcpgw retries upstream with its answer.
    let legacy = Client::connect_with(endpoint.clone(), json!({"sampling": {}})).await;
    for (id, tool) in [(7, "test_sampling"), (8, "s_test_sampling")] {
        let (text, questions) = super::client_requests::call_and_answer(&legacy, id, tool, "Paris").await;
        assert_eq!(text, "LLM response: Paris", "{tool}");
        assert_eq!(questions.len(), 1);
        assert_eq!(questions[0]["method"], "sampling/createMessage");
    }
    let (_, r) =
        call(&endpoint, 9, "tools/call", json!({"name": "s_test_input_required_result_elicitation", "arguments": {}}))
            .await;
    assert_eq!(r["result"]["inputRequests"]["user_name"]["method"], "elicitation/create", "{r}");
}

/// Posts one stateless `tools/call` with these client capabilities (and retry fields).
async fn call_with(endpoint: &str, id: u64, params: Value, capabilities: Value) -> (u16, Value) {
    request_with(endpoint, id, "tools/call", params, capabilities).await
}

/// Posts one stateless request with these client capabilities; `Mcp-Name` is its `name`, or for
/// the tasks extension's requests its `taskId`.
async fn request_with(endpoint: &str, id: u64, method: &str, params: Value, capabilities: Value) -> (u16, Value) {
    let name = params.get("name").or(params.get("taskId")).and_then(Value::as_str).unwrap().to_string();
    let mut params = params;
    let mut m = meta();
    m["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    params["_meta"] = m;
    let r = reqwest::Client::new()
        .post(endpoint)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", method)
        .header("mcp-name", name)
        .body(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
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
    let endpoint = gw.url("/mcp");
    let sampling = json!({"sampling": {}});
    for tool in ["remote_ask", "local_ask"] {
        let (status, r1) = call_with(&endpoint, 1, json!({"name": tool, "arguments": {}}), sampling.clone()).await;
        assert_eq!(status, 200, "{r1}");
        let result = &r1["result"];
        assert_eq!(result["resultType"], "input_required", "{tool}: {r1}");
        assert_eq!(result["inputRequests"]["input-1"]["method"], "sampling/createMessage");
        let state = result["requestState"].as_str().unwrap().to_string();
        assert!(state.starts_with("mcpgw.1."), "{state}");

        let answer = json!({"role": "assistant", "content": {"type": "text", "text": "yes"}, "model": "m"});
        let retry =
            json!({"name": tool, "arguments": {}, "inputResponses": {"input-1": answer}, "requestState": state});
        let (status, r2) = call_with(&endpoint, 2, retry.clone(), sampling.clone()).await;
        assert_eq!(status, 200, "{r2}");
        assert_eq!(r2["result"]["resultType"], "complete", "{tool}: {r2}");
        assert_eq!(r2["result"]["content"][0]["text"], "sampled: yes", "{tool}");

        // The state is signed and bound to the call.
        let mut tampered = retry.clone();
        tampered["requestState"] = json!(state.replace("mcpgw.1.e", "mcpgw.1.f"));
        let (status, r3) = call_with(&endpoint, 3, tampered, sampling.clone()).await;
        assert_eq!((status, r3["error"]["code"].clone()), (400, json!(-32602)), "{r3}");
        let mut moved = retry;
        moved["arguments"] = json!({"other": true});
        let (_, r4) = call_with(&endpoint, 4, moved, sampling.clone()).await;
        assert_eq!(r4["error"]["code"], -32602, "{r4}");
    }

    // A client that did not declare sampling gets -32021 naming it.
    let (status, r) = call_with(&endpoint, 5, json!({"name": "remote_ask", "arguments": {}}), json!({})).await;
    assert_eq!(status, 400, "{r}");
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
        let mut client = Client::connect(gw.url("/mcp")).await;
        let r = client.request("resources/subscribe", json!({"uri": "test://watched-resource"})).await;
        assert!(r["result"].is_object(), "{r}");
        let reader = client.sibling();
        let last = |wanted: &'static str| {
            let client = reader.sibling();
            async move {
                eventually(wanted, || {
                    let mut c = client.sibling();
                    async move {
                        let seen = c.call_text("u_fixture_subscriptions", json!({})).await;
                        (seen.lines().last() == Some(wanted)).then_some(())
                    }
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

    let (_, plain) =
        call(&endpoint, 2, "tools/call", json!({"name": "c_test_tool_with_logging", "arguments": {}})).await;
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
    let mut legacy = Client::connect(endpoint).await;
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
    let endpoint = gw.url("/mcp");
    let heard = |params: Value| {
        let endpoint = endpoint.clone();
        async move {
            let headers =
                [("mcp-protocol-version", VERSION), ("mcp-method", "tools/call"), ("mcp-name", "local_subscriptions")];
            let r = post(&endpoint, 1, "tools/call", params, &headers).await;
            assert_eq!(r.status(), 200);
            // Asking for a level makes the answer a stream (log messages would come before it).
            let text = r.text().await.unwrap();
            let answer = match serde_json::from_str::<Value>(&text) {
                Ok(v) => v,
                Err(_) => super::util::sse_messages(&text).pop().unwrap(),
            };
            answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{answer}")).to_string()
        }
    };
    let asked =
        json!({"name": "local_subscriptions", "arguments": {}, "_meta": {"io.modelcontextprotocol/logLevel": "error"}});
    assert_eq!(heard(asked).await, "logging/setLevel error", "the request's level reached its upstream session");
    assert_eq!(heard(json!({"name": "local_subscriptions", "arguments": {}})).await, "", "no level, no request");

    let mut session = super::util::Client::connect(gw.url("/mcp")).await;
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
    let endpoint = gw.url("/mcp");
    let (_, discover) = call(&endpoint, 1, "server/discover", json!({})).await;
    assert!(
        discover["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/tasks"].is_object(),
        "{discover}"
    );
    let tasks = json!({"elicitation": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}});

    // Without the extension the call runs at once.
    let (_, plain) =
        call_with(&endpoint, 2, json!({"name": "slow_compute", "arguments": {"seconds": 0}}), json!({})).await;
    assert_eq!(plain["result"]["resultType"], "complete", "{plain}");

    // With it, the upstream makes a task; its id leads back to the upstream.
    let (_, created) =
        call_with(&endpoint, 3, json!({"name": "slow_compute", "arguments": {"seconds": 0.2}}), tasks.clone()).await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let id = created["result"]["taskId"].as_str().unwrap().to_string();
    assert!(id.starts_with("c:"), "namespaced to its upstream: {id}");
    let done = eventually("the task to complete", || {
        let (endpoint, id, tasks) = (endpoint.clone(), id.clone(), tasks.clone());
        async move {
            let (_, got) = request_with(&endpoint, 4, "tasks/get", json!({"taskId": id}), tasks).await;
            (got["result"]["status"] == "completed").then_some(got)
        }
    })
    .await;
    assert_eq!(done["result"]["taskId"], id.as_str());
    assert_eq!(done["result"]["result"]["content"][0]["text"], "computed for 0.2s", "{done}");

    // A task waiting on input: its requests on tasks/get, the answers through tasks/update.
    let (_, asking) =
        call_with(&endpoint, 5, json!({"name": "confirm_delete", "arguments": {"filename": "a.txt"}}), tasks.clone())
            .await;
    let id = asking["result"]["taskId"].as_str().unwrap().to_string();
    let (_, waiting) = request_with(&endpoint, 6, "tasks/get", json!({"taskId": id}), tasks.clone()).await;
    assert_eq!(waiting["result"]["status"], "input_required", "{waiting}");
    assert_eq!(waiting["result"]["inputRequests"]["confirm"]["method"], "elicitation/create");
    let answer =
        json!({"taskId": id, "inputResponses": {"confirm": {"action": "accept", "content": {"confirm": "yes"}}}});
    let (status, ack) = request_with(&endpoint, 7, "tasks/update", answer, tasks.clone()).await;
    assert_eq!((status, &ack["result"]["resultType"]), (200, &json!("complete")), "{ack}");
    let (_, finished) = request_with(&endpoint, 8, "tasks/get", json!({"taskId": id}), tasks.clone()).await;
    assert_eq!(finished["result"]["result"]["content"][0]["text"], "deleted a.txt", "{finished}");

    // Cancelling a running task; then the gate for clients without the extension.
    let (_, slow) =
        call_with(&endpoint, 9, json!({"name": "slow_compute", "arguments": {"seconds": 5}}), tasks.clone()).await;
    let id = slow["result"]["taskId"].as_str().unwrap().to_string();
    let (_, ack) = request_with(&endpoint, 10, "tasks/cancel", json!({"taskId": id}), tasks.clone()).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let (_, cancelled) = request_with(&endpoint, 11, "tasks/get", json!({"taskId": id}), tasks).await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
    let (status, refused) = request_with(&endpoint, 12, "tasks/get", json!({"taskId": id}), json!({})).await;
    assert_eq!((status, refused["error"]["code"].as_i64()), (400, Some(-32021)), "{refused}");
}

/// A stateless client's task (the tasks extension) on a session-based upstream whose tool supports
/// 2025-11-25 tasks: the call becomes a task-augmented one, and the client sees the extension's
/// shapes (a flat task; `tasks/get` with the result inlined once done; `tasks/cancel` acked).
#[tokio::test]
async fn a_stateless_clients_task_runs_on_a_session_upstreams_tasks() {
    let gw = TestGateway::start(&format!("upstreams:\n  f: {}\n", stdio_fixture("f"))).await;
    let endpoint = gw.url("/mcp");
    let tasks = json!({"extensions": {"io.modelcontextprotocol/tasks": {}}});

    let (_, plain) = call_with(&endpoint, 1, json!({"name": "f_slow_task", "arguments": {"ms": 10}}), json!({})).await;
    assert_eq!(plain["result"]["content"][0]["text"], "done at once", "without the extension: {plain}");

    let (_, created) =
        call_with(&endpoint, 2, json!({"name": "f_slow_task", "arguments": {"ms": 200}}), tasks.clone()).await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    assert!(created["result"].get("task").is_none(), "flat, not the 2025 wrapper: {created}");
    let id = created["result"]["taskId"].as_str().unwrap().to_string();
    assert!(id.starts_with("f:"), "{id}");
    let done = eventually("the task to complete", || {
        let (endpoint, id, tasks) = (endpoint.clone(), id.clone(), tasks.clone());
        async move {
            let (_, got) = request_with(&endpoint, 3, "tasks/get", json!({"taskId": id}), tasks).await;
            (got["result"]["status"] == "completed").then_some(got)
        }
    })
    .await;
    assert_eq!(done["result"]["result"]["content"][0]["text"], "done after 200 ms", "{done}");

    let (_, slow) =
        call_with(&endpoint, 4, json!({"name": "f_slow_task", "arguments": {"ms": 10000}}), tasks.clone()).await;
    let id = slow["result"]["taskId"].as_str().unwrap().to_string();
    let (_, ack) = request_with(&endpoint, 5, "tasks/cancel", json!({"taskId": id}), tasks.clone()).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let (_, cancelled) = request_with(&endpoint, 6, "tasks/get", json!({"taskId": id}), tasks).await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
}

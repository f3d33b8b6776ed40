//! Authorization rules (`access:`) against real credentials: tokens from the HS256 development
//! issuer and API keys. On every HTTP binding a caller's lists hold exactly what it may use, a
//! hidden item is answered exactly as a missing one, `require` is refused with HTTP 403 and one
//! scope challenge, a virtual server's own rules add to the file's, and callers no `allow` names
//! are not let in. Subscribe, completion and `subscriptions/listen` obey the same rules.

use serde_json::{Value, json};

use super::clients::{STATELESS_VERSION, TestClient, Transport};
use super::identity_provider::{claims, sha256_line, sign_hs256};
use super::util::{TestGateway, stdio_fixture};

const SECRET: &str = "a-development-secret-of-32-bytes-or-more";
const INFRA_KEY: &str = "mcpgw_infra_key_0123456789abcdef";
const WEB_KEY: &str = "mcpgw_web_key_0123456789abcdef0";

async fn gateway() -> TestGateway {
    let yaml = format!(
        "auth:
  jwt:
    issuers:
      - issuer: dev
        audiences: [mcpgw-dev]
        secret: ${{DEV_SECRET}}
    scopes: [files.read, files.write]
  api_keys:
    - {{ hash: {infra}, subject: infra-bot, attributes: {{ team: infra }} }}
    - {{ hash: {web}, subject: web-bot, attributes: {{ team: web }} }}
upstreams:
  a: {a}
  b: {b}
access:
  - allow: {{ claims: {{ team: infra }} }}
  - allow: {{ groups: [devs], tools: ['a_*'], resources: ['fixture://a/*'], prompts: ['a_*'] }}
  - deny: {{ tools: ['*_calls'] }}
  - require: {{ scopes: [files.write], tools: ['a_echo'] }}
virtual_servers:
  default: {{ tools: ['*'], resources: ['*'], prompts: ['*'] }}
  ops:
    tools: ['*']
    access:
      - deny: {{ claims: {{ team: infra }}, tools: ['b_*'] }}
",
        infra = sha256_line(INFRA_KEY),
        web = sha256_line(WEB_KEY),
        a = stdio_fixture("a"),
        b = stdio_fixture("b"),
    );
    TestGateway::start_full(&yaml, &[], &[("DEV_SECRET", SECRET)], "127.0.0.1:0").await
}

/// A token of the development issuer for `subject`, in `groups`, holding `scopes`.
fn token(subject: &str, groups: &[&str], scopes: &str) -> String {
    let mut c = claims("dev", "mcpgw-dev", subject);
    c["groups"] = json!(groups);
    c["scope"] = json!(scopes);
    format!("Bearer {}", sign_hs256(SECRET.as_bytes(), None, &c))
}

/// The transports a credential travels on (`mcpgw stdio` is local and anonymous).
const HTTP_TRANSPORTS: [Transport; 5] =
    [Transport::StreamableHttp, Transport::Stateless, Transport::Sse, Transport::WebSocket, Transport::PlainRpc];

#[tokio::test]
async fn lists_hold_what_the_caller_may_use_and_hidden_items_answer_as_missing_ones() {
    let gw = gateway().await;
    let dev = token("dana", &["devs"], "files.read files.write");
    let mut wrong = Vec::new();
    for transport in HTTP_TRANSPORTS {
        let t = transport;
        let mut check = |ok: bool, what: String| {
            if !ok {
                wrong.push(format!("{t}: {what}"));
            }
        };
        let c = TestClient::connect_as(&gw, transport, "default", &[("authorization", &dev)]).await;
        let tools = c.tools().await;
        check(tools.contains(&"a_echo".to_string()), format!("a developer lacks a_echo: {tools:?}"));
        check(!tools.iter().any(|t| t.starts_with("b_")), format!("a developer sees b's tools: {tools:?}"));
        check(!tools.contains(&"a_calls".to_string()), format!("the denied a_calls is listed: {tools:?}"));
        let prompts = c.list("prompts/list", "prompts", "name").await;
        check(prompts == ["a_greet"], format!("prompts: {prompts:?}"));
        let resources = c.list("resources/list", "resources", "uri").await;
        check(resources == ["fixture://a/readme"], format!("resources: {resources:?}"));

        // A hidden item and one that does not exist get the same answer, name for name.
        for (method, hidden, missing) in [
            (
                "tools/call",
                json!({"name": "b_echo", "arguments": {"text": "x"}}),
                json!({"name": "b_nope", "arguments": {}}),
            ),
            ("tools/call", json!({"name": "a_calls", "arguments": {}}), json!({"name": "a_nope", "arguments": {}})),
            ("prompts/get", json!({"name": "b_greet", "arguments": {"who": "x"}}), json!({"name": "b_nope"})),
            ("resources/read", json!({"uri": "fixture://b/readme"}), json!({"uri": "fixture://zz/readme"})),
            ("resources/read", json!({"uri": "fixture://b/items/7"}), json!({"uri": "fixture://zz/items/7"})),
            (
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": "b_greet"}, "argument": {"name": "who", "value": "a"}}),
                json!({"ref": {"type": "ref/prompt", "name": "b_nope"}, "argument": {"name": "who", "value": "a"}}),
            ),
        ] {
            let hidden_answer = c.request(method, hidden.clone()).await;
            let missing_answer = c.request(method, missing.clone()).await;
            let same = normalized(&hidden_answer["error"], &hidden) == normalized(&missing_answer["error"], &missing);
            check(
                same && hidden_answer["error"].is_object(),
                format!("{method} {hidden} answered {hidden_answer}, a missing item {missing_answer}"),
            );
        }
        if transport.supports_sessions() {
            let answer = c.request("resources/subscribe", json!({"uri": "fixture://b/readme"})).await;
            check(answer["error"]["code"] == -32002, format!("subscribing to a hidden resource: {answer}"));
            let answer = c.request("resources/subscribe", json!({"uri": "fixture://a/readme"})).await;
            check(answer["result"].is_object(), format!("subscribing to an allowed resource: {answer}"));
        }
        let echo = c.call("a_echo", json!({"text": "hi"})).await;
        check(echo["result"]["content"][0]["text"] == "hi", format!("a_echo with files.write: {echo}"));
        c.close().await;
    }
    assert!(wrong.is_empty(), "{} departures from the rules:\n{}", wrong.len(), wrong.join("\n"));
}

/// An error object with the item's name or URI taken out, so a hidden and a missing item compare.
fn normalized(error: &Value, params: &Value) -> String {
    let name = params["name"].as_str().or(params["uri"].as_str()).or(params["ref"]["name"].as_str()).unwrap_or("");
    error.to_string().replace(name, "<item>")
}

#[tokio::test]
async fn a_missing_scope_is_refused_with_403_and_one_challenge_naming_it() {
    let gw = gateway().await;
    let reader = token("rita", &["devs"], "files.read");
    let metadata = gw.url("/.well-known/oauth-protected-resource/rpc");

    // Plain JSON-RPC: 403, the challenge, the JSON-RPC error.
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "a_echo", "arguments": {"text": "x"}}});
    let r =
        reqwest::Client::new().post(gw.url("/rpc")).header("authorization", &reader).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains(&format!("resource_metadata=\"{metadata}\"")), "{challenge}");
    assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
    assert!(challenge.contains("scope=\"files.write\""), "{challenge}");
    let answer: Value = r.json().await.unwrap();
    assert_eq!((answer["id"].clone(), answer["error"]["code"].clone()), (json!(3), json!(-32012)), "{answer}");

    // A session's request, and a stateless one, on the streamable HTTP endpoint.
    for transport in [Transport::StreamableHttp, Transport::Stateless] {
        let c = TestClient::connect_as(&gw, transport, "default", &[("authorization", &reader)]).await;
        let answer = c.call("a_echo", json!({"text": "x"})).await;
        assert_eq!(answer["error"]["code"], -32012, "{transport}: {answer}");
        assert_eq!(c.last_status(), Some(403), "{transport}");
        // What the reader may do still works, and the tool stays listed for it to ask for the scope.
        assert!(c.tools().await.contains(&"a_echo".to_string()), "{transport}: require does not hide");
        let whoami = c.call("a_whoami", json!({})).await;
        assert_eq!(whoami["result"]["content"][0]["text"], "a", "{transport}: {whoami}");
        c.close().await;
    }
    // A client that can be asked things is answered as a stream; the challenge still comes as 403.
    let c = TestClient::connect_as_with(
        &gw,
        Transport::StreamableHttp,
        "default",
        &[("authorization", &reader)],
        json!({"sampling": {}}),
    )
    .await;
    let answer = c.call("a_echo", json!({"text": "x"})).await;
    assert_eq!((c.last_status(), &answer["error"]["code"]), (Some(403), &json!(-32012)), "{answer}");
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a", "allowed calls still stream");
    c.close().await;

    // A stateless call to a_echo; `meta` joins its `_meta`.
    let stateless_echo = |id: u64, meta: Value| {
        let mut fields = json!({"io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
            "io.modelcontextprotocol/clientCapabilities": {}});
        fields.as_object_mut().unwrap().extend(meta.as_object().cloned().unwrap_or_default());
        reqwest::Client::new()
            .post(gw.url("/mcp"))
            .header("authorization", &reader)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", STATELESS_VERSION)
            .header("mcp-method", "tools/call")
            .header("mcp-name", "a_echo")
            .json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "a_echo", "arguments": {"text": "x"}, "_meta": fields}}))
            .send()
    };
    let r = stateless_echo(4, json!({})).await.unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"files.write\""),
        "{challenge}"
    );
    assert!(challenge.contains("oauth-protected-resource/mcp"), "{challenge}");
    // One that asks for progress would be answered as a stream: the challenge comes first.
    let r = stateless_echo(5, json!({"progressToken": "p"})).await.unwrap();
    assert_eq!(r.status(), 403, "a streamed stateless answer is challenged before it starts");
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("scope=\"files.write\""));
    let answer: Value = r.json().await.unwrap();
    assert_eq!((answer["id"].clone(), answer["error"]["code"].clone()), (json!(5), json!(-32012)), "{answer}");

    // A 2025-03-26 batch shares one response: one request needing a scope refuses the batch
    // before any of it runs, and every request is answered.
    let http = reqwest::Client::new();
    let post = |body: Value, session: Option<&str>| {
        let mut r = http
            .post(gw.url("/mcp"))
            .header("authorization", &reader)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(id) = session {
            r = r.header("mcp-session-id", id).header("mcp-protocol-version", "2025-03-26");
        }
        r.send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-03-26",
        "capabilities": {}, "clientInfo": {"name": "batch", "version": "1"}}});
    let r = post(init, None).await.unwrap();
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let call = |id: u64, tool: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": {"text": "x"}}})
    };
    let misplaced = json!({"jsonrpc": "2.0", "id": 10, "method": "initialize", "params": {}});
    let r = post(json!([call(6, "a_whoami"), call(7, "a_echo"), misplaced]), Some(&session)).await.unwrap();
    assert_eq!(r.status(), 403, "a batch with a request needing a scope is challenged");
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("scope=\"files.write\""));
    let answers: Vec<Value> = r.json().await.unwrap();
    let by_id = |id: u64| answers.iter().find(|a| a["id"] == id).unwrap_or_else(|| panic!("{id}: {answers:?}"));
    assert_eq!(answers.len(), 3, "every request is answered: {answers:?}");
    assert_eq!(by_id(10)["error"]["code"], -32600, "{answers:?}");
    assert_eq!(by_id(7)["error"]["code"], -32012, "{answers:?}");
    assert_eq!(by_id(6)["error"]["code"], -32012, "{answers:?}");
    assert!(by_id(6)["error"]["message"].as_str().unwrap().starts_with("not run"), "{answers:?}");
    let r = post(json!([call(8, "a_whoami"), call(9, "a_whoami")]), Some(&session)).await.unwrap();
    assert_eq!(r.status(), 200, "a batch needing no scope runs");
    let answers: Vec<Value> = r.json().await.unwrap();
    assert!(answers.iter().all(|a| a["result"]["content"][0]["text"] == "a"), "{answers:?}");

    // A WebSocket has no status: the JSON-RPC error says it.
    let c = TestClient::connect_as(&gw, Transport::WebSocket, "default", &[("authorization", &reader)]).await;
    let answer = c.call("a_echo", json!({"text": "x"})).await;
    assert_eq!(answer["error"]["code"], -32012, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("files.write"), "{answer}");
    c.close().await;
}

#[tokio::test]
async fn callers_no_allow_names_are_not_let_in_and_virtual_servers_add_rules_of_their_own() {
    let gw = gateway().await;
    // The web team's key is named by no `allow`: nothing at all, on any binding.
    for transport in [Transport::StreamableHttp, Transport::PlainRpc, Transport::WebSocket] {
        let c = TestClient::open_as(&gw, transport, "default", &[("x-api-key", WEB_KEY)]).await;
        let answer = if transport.supports_sessions() {
            c.initialize(super::clients::VERSION, json!({})).await
        } else {
            c.request("tools/list", json!({})).await
        };
        assert_eq!(answer["error"]["code"], -32012, "{transport}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("may not use"), "{transport}: {answer}");
        if transport != Transport::WebSocket {
            assert_eq!(c.last_status(), Some(403), "{transport}");
        }
        c.close().await;
    }

    // The infra key may use everything the file allows, except what `ops` denies it there.
    let infra = [("x-api-key", INFRA_KEY)];
    let c = TestClient::connect_as(&gw, Transport::StreamableHttp, "default", &infra).await;
    let tools = c.tools().await;
    assert!(tools.contains(&"b_echo".to_string()) && !tools.contains(&"b_calls".to_string()), "{tools:?}");
    // API keys hold no scopes: the required one is asked for.
    assert_eq!(c.call("a_echo", json!({"text": "x"})).await["error"]["code"], -32012);
    c.close().await;
    let c = TestClient::connect_as(&gw, Transport::StreamableHttp, "ops", &infra).await;
    let tools = c.tools().await;
    assert!(tools.contains(&"a_whoami".to_string()), "{tools:?}");
    assert!(!tools.iter().any(|t| t.starts_with("b_")), "ops hides b's tools from infra: {tools:?}");
    let answer = c.call("b_echo", json!({"text": "x"})).await;
    assert_eq!(answer["error"]["message"], "unknown tool: b_echo", "{answer}");
    c.close().await;
}

#[tokio::test]
async fn a_listen_delivers_only_resources_the_caller_may_use() {
    let gw = gateway().await;
    let dev = token("dana", &["devs"], "files.read");
    let c = TestClient::connect_as(&gw, Transport::Stateless, "default", &[("authorization", &dev)]).await;
    let ack = c
        .listen(
            json!({"toolsListChanged": true, "resourceSubscriptions": ["fixture://a/readme", "fixture://b/readme"]}),
        )
        .await;
    let honored = &ack["params"]["notifications"];
    assert_eq!(honored["resourceSubscriptions"], json!(["fixture://a/readme"]), "{ack}");
    assert_eq!(honored["toolsListChanged"], true, "{ack}");
    c.close().await;
}

/// `mcpgw auth may` decides with the serving policy, item by item, for a token, an API key or a
/// described caller; `mcpgw auth who` lists the rules that decide an item.
#[tokio::test]
async fn the_review_commands_answer_from_the_file_as_serving_would() {
    let gw = gateway().await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(super::util::gateway_bin())
            .args(args)
            .arg("--config")
            .arg(&gw.config)
            .env("DEV_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let dev = token("dana", &["devs"], "files.read");
    let may = run(&["auth", "may", "--server", "default", "--token", dev.strip_prefix("Bearer ").unwrap()]);
    for line in [
        "default: caller dana; scopes files.read; groups devs",
        "  tool a_whoami: may use",
        "  tool a_echo: needs the scopes files.write",
        "  tool a_calls: hidden",
        "  tool b_echo: hidden",
        "  resource fixture://a/readme: may use",
        "  prompt b_greet: hidden",
    ] {
        assert!(may.lines().any(|l| l == line), "missing {line:?} in:\n{may}");
    }
    let web = run(&["auth", "may", "--server", "default", "--api-key", WEB_KEY]);
    assert!(web.contains("refused: this caller may not use virtual server \"default\""), "{web}");
    let described = run(&["auth", "may", "--server", "ops", "--subject", "x", "--claim", "team=infra"]);
    assert!(described.lines().any(|l| l == "  tool b_echo: hidden"), "ops hides b from infra:\n{described}");
    assert!(described.lines().any(|l| l == "  tool a_echo: needs the scopes files.write"), "{described}");

    let who = run(&["auth", "who", "--tool", "a_echo", "--server", "default"]);
    assert_eq!(
        who,
        "tool a_echo on default:\n  allowed to claim team = infra (access[0].allow)\n  \
         allowed to groups devs (access[1].allow)\n  requires the scopes files.write (access[3].require)\n"
    );
    let who = run(&["auth", "who", "--tool", "b_calls", "--server", "ops"]);
    assert!(who.contains("hidden from everyone (access[2].deny)"), "{who}");
    assert!(who.contains("hidden from claim team = infra (virtual_servers.ops.access[0].deny)"), "{who}");
}

/// An upstream's log messages reach only callers that may use one of its items.
#[tokio::test]
async fn log_messages_reach_only_callers_that_may_use_their_upstream() {
    let yaml = format!(
        "auth:\n  api_keys:\n    - {{ hash: {infra}, subject: ann }}\n    - {{ hash: {web}, subject: bob }}\n\
         upstreams:\n  a: {a}\n  b: {b}\n\
         access:\n  - allow: {{ subjects: [ann], tools: ['a_*'] }}\n  - allow: {{ subjects: [bob], tools: ['b_*'] }}\n",
        infra = sha256_line(INFRA_KEY),
        web = sha256_line(WEB_KEY),
        a = stdio_fixture("a"),
        b = stdio_fixture("b"),
    );
    let gw = TestGateway::start_full(&yaml, &[], &[], "127.0.0.1:0").await;
    let ann = TestClient::connect_as(&gw, Transport::StreamableHttp, "default", &[("x-api-key", INFRA_KEY)]).await;
    let bob = TestClient::connect_as(&gw, Transport::StreamableHttp, "default", &[("x-api-key", WEB_KEY)]).await;
    for c in [&ann, &bob] {
        assert_eq!(c.request("logging/setLevel", json!({"level": "info"})).await["result"], json!({}));
    }
    assert_eq!(bob.call_text("b_log", json!({"level": "error", "message": "b's business"})).await, "logged");
    let heard = bob.next_message(|m| m["method"] == "notifications/message").await;
    assert_eq!(heard["params"]["data"], "b's business");
    assert_eq!(ann.call_text("a_log", json!({"level": "error", "message": "mine"})).await, "logged");
    let heard = ann.next_message(|m| m["method"] == "notifications/message").await;
    assert_eq!(heard["params"]["data"], "mine", "ann heard b's log first: {heard}");
    ann.close().await;
    bob.close().await;
}

//! Interop with the official MCP SDKs: the reference "everything" server (TypeScript SDK) as a
//! stdio upstream, and the TypeScript SDK client talking to the gateway.
//! `.ci/run` installs both from npm into $MCPGW_TEST_TOOLS (default ~/.cache/mcpgw-test).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use super::util::{Client, TestGateway, stdio_fixture};

/// The directory holding `node_modules` with the SDK packages, or `None` (after saying so) when
/// they are not installed. Under CI a missing install is a failure, never a skip.
pub(super) fn sdk_tools() -> Option<PathBuf> {
    let dir = std::env::var_os("MCPGW_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/mcpgw-test"));
    let everything = dir.join("node_modules/.bin/mcp-server-everything");
    if everything.exists() && which("node") {
        return Some(dir);
    }
    let message = format!(
        "needs Node.js and the npm packages @modelcontextprotocol/server-everything@2026.8.31 and \
         @modelcontextprotocol/sdk@1.32.2 in {}",
        dir.display()
    );
    super::peers::skip(&message);
    None
}

/// Node 22 has a global WebSocket; Node 20 needs a flag for it.
fn node_has_websocket() -> bool {
    Command::new("node")
        .args(["-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"])
        .status()
        .is_ok_and(|s| s.success())
}

pub(super) fn which(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn official_everything_server_is_federated_over_stdio() {
    let Some(tools) = sdk_tools() else { return };
    let everything = tools.join("node_modules/.bin/mcp-server-everything");
    let yaml = format!(
        "upstreams:\n  everything:\n    stdio: {{ command: '{}', args: [stdio] }}\n  fixture: {}\n",
        everything.display(),
        stdio_fixture("fixture")
    );
    let gw = TestGateway::start(&yaml).await;
    gw.wait_upstream("everything", "up").await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let names = c.tools().await;
    for expected in ["everything_echo", "everything_get-sum", "fixture_echo"] {
        assert!(names.contains(&expected.to_string()), "{expected} missing from {names:?}");
    }
    assert_eq!(c.call_text("everything_echo", json!({"message": "through mcpgw"})).await, "Echo: through mcpgw");
    let sum = c.call("everything_get-sum", json!({"a": 2, "b": 40})).await;
    assert!(sum["result"]["content"][0]["text"].as_str().unwrap().contains("42"), "{sum}");
    let prompts = c.list("prompts/list", "prompts", "name").await;
    assert!(prompts.iter().any(|p| p.starts_with("everything_")), "{prompts:?}");
}

/// Runs the TypeScript SDK client against `target` and returns what it printed.
async fn sdk_client(tools: PathBuf, target: String) -> Value {
    sdk_client_calling(tools, target, "fixture_echo", r#"{"text":"from the SDK"}"#, None).await
}

/// Runs the TypeScript SDK client calling `tool`; with `sampling`, it answers sampling requests with it.
async fn sdk_client_calling(tools: PathBuf, target: String, tool: &str, args: &str, sampling: Option<&str>) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clients/sdk_client.cjs");
    let (tool, args, sampling) = (tool.to_string(), args.to_string(), sampling.map(str::to_string));
    let out = tokio::task::spawn_blocking(move || {
        let mut node = Command::new("node");
        if !node_has_websocket() {
            node.arg("--experimental-websocket");
        }
        if let Some(reply) = sampling {
            node.env("SDK_SAMPLING_REPLY", reply);
        }
        node.arg(script)
            .args([target.as_str(), tool.as_str(), args.as_str()])
            .env("NODE_PATH", tools.join("node_modules"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "SDK client failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn typescript_sdk_client_over_legacy_sse() {
    let Some(tools) = sdk_tools() else { return };
    let gw = TestGateway::start(&format!("upstreams:\n  fixture: {}\n", stdio_fixture("fixture"))).await;
    let seen = sdk_client(tools, format!("sse:{}", gw.url("/sse"))).await;
    assert_eq!(seen["server"]["name"], "mcpgw");
    assert!(seen["tools"].as_array().unwrap().contains(&json!("fixture_add")));
    assert_eq!(seen["result"]["content"][0]["text"], "from the SDK");
}

#[tokio::test]
async fn typescript_sdk_client_over_websocket() {
    let Some(tools) = sdk_tools() else { return };
    let gw = TestGateway::start(&format!("upstreams:\n  fixture: {}\n", stdio_fixture("fixture"))).await;
    let seen = sdk_client(tools, gw.url("/ws").replace("http://", "ws://")).await;
    assert_eq!(seen["server"]["name"], "mcpgw");
    assert!(seen["tools"].as_array().unwrap().contains(&json!("fixture_add")));
    assert_eq!(seen["result"]["content"][0]["text"], "from the SDK");
}

#[tokio::test]
async fn typescript_sdk_client_over_stdio_launches_mcpgw_stdio() {
    let Some(tools) = sdk_tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(&config, format!("upstreams:\n  fixture: {}\n", stdio_fixture("fixture"))).unwrap();
    let command = json!([super::util::gateway_bin(), "stdio", "-c", config]);
    let seen = sdk_client(tools, format!("stdio:{command}")).await;
    assert_eq!(seen["server"]["name"], "mcpgw");
    assert!(seen["tools"].as_array().unwrap().contains(&json!("fixture_add")));
    assert_eq!(seen["result"]["content"][0]["text"], "from the SDK");
}

#[tokio::test]
async fn typescript_sdk_client_lists_and_calls_through_the_gateway() {
    let Some(tools) = sdk_tools() else { return };
    let yaml = format!("upstreams:\n  fixture: {}\n", stdio_fixture("fixture"));
    let gw = TestGateway::start(&yaml).await;
    let seen = sdk_client(tools, gw.url("/mcp")).await;
    assert_eq!(seen["server"]["name"], "mcpgw");
    assert!(seen["tools"].as_array().unwrap().contains(&json!("fixture_add")));
    assert_eq!(seen["result"]["content"][0]["text"], "from the SDK");
}

/// The Python interpreter of the venv holding the official Python SDK (`mcp`), or `None` (after
/// saying so) when it is not installed. Under CI a missing install is a failure.
pub(super) fn python_sdk() -> Option<PathBuf> {
    python_venv("py", "mcp", "mcp==1.30.0")
}

/// The interpreter of the venv `folder` under the test tools, when it can import `module`.
pub(super) fn python_venv(folder: &str, module: &str, package: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("MCPGW_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/mcpgw-test"))
        .join(folder);
    let python = dir.join("bin/python");
    let installed =
        Command::new(&python).args(["-c", &format!("import {module}")]).output().is_ok_and(|o| o.status.success());
    if installed {
        return Some(python);
    }
    let message = format!("needs the PyPI package {package} in a venv at {}", dir.display());
    super::peers::skip(&message);
    None
}

/// Runs the Python SDK client against `target`, calling `fixture_whoami`.
async fn python_client(python: PathBuf, target: String) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clients/python_sdk_client.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).args([target.as_str(), "fixture_whoami", "{}"]).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "Python SDK client failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn python_sdk_client_over_streamable_http_sse_and_stdio() {
    let Some(python) = python_sdk() else { return };
    let config = format!("upstreams:\n  fixture: {}\n", stdio_fixture("fixture"));
    let gw = TestGateway::start(&config).await;
    let stdio = json!([super::util::gateway_bin(), "stdio", "-c", gw.config]);
    for target in [gw.url("/mcp"), format!("sse:{}", gw.url("/sse")), format!("stdio:{stdio}")] {
        let seen = python_client(python.clone(), target.clone()).await;
        assert_eq!(seen["server"], "mcpgw", "{target}");
        assert!(seen["tools"].as_array().unwrap().contains(&json!("fixture_add")), "{target}");
        assert_eq!(seen["text"], "fixture", "{target}");
    }
}

/// The venv holding the official Python SDK 2.x (stateless-capable), like `python_sdk`.
pub(super) fn python_sdk2() -> Option<PathBuf> {
    python_venv("py2", "mcp_types", "mcp==2.3.0")
}

/// The TypeScript SDK 1.x (session-based) and the Python SDK 2.x (stateless first) clients, each
/// against a session-based upstream (stdio) and a stateless one (the dual-era HTTP fixture): four
/// combinations, including each era's way of asking the client for input.
#[tokio::test]
async fn both_sdk_eras_work_against_both_upstream_eras() {
    let (Some(tools), Some(python)) = (sdk_tools(), python_sdk2()) else { return };
    let stateless = super::util::TestUpstream::http("stateless", &["--conformance"]);
    let yaml =
        format!("upstreams:\n  legacy: {}\n  stateless: {{ url: '{}' }}\n", stdio_fixture("legacy"), stateless.url);
    let gw = TestGateway::start(&yaml).await;
    let (_, ready) = gw.readyz().await;
    assert_eq!(ready["upstreams"]["stateless"]["protocol_version"], "2026-07-28");
    assert_eq!(ready["upstreams"]["legacy"]["protocol_version"], "2025-11-25");

    // TypeScript SDK 1.x: a session; the stateless upstream's input request reaches it as sampling.
    let seen = sdk_client_calling(tools.clone(), gw.url("/mcp"), "legacy_add", r#"{"a":1,"b":2}"#, None).await;
    assert_eq!(seen["result"]["content"][0]["text"], "3");
    let seen =
        sdk_client_calling(tools, gw.url("/mcp"), "stateless_test_sampling", r#"{"prompt":"capital?"}"#, Some("Paris"))
            .await;
    assert_eq!(seen["result"]["content"][0]["text"], "LLM response: Paris");

    // Python SDK 2.x: stateless after server/discover, over streamable HTTP and over `mcpgw stdio`;
    // input_required rounds driven by the SDK.
    let stdio = json!([super::util::gateway_bin(), "stdio", "-c", gw.config]);
    for target in [gw.url("/mcp"), format!("stdio:{stdio}")] {
        let python = python.clone();
        let out = tokio::task::spawn_blocking(move || {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clients/python_sdk2_client.py");
            Command::new(python)
                .arg(script)
                .arg(&target)
                .arg(
                    json!({"legacy_add": {"a": 1, "b": 2}, "stateless_test_input_required_result_elicitation": {},
                        "stateless_test_sampling": {"prompt": "capital?"}})
                    .to_string(),
                )
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(out.status.success(), "Python SDK 2 client failed: {}", String::from_utf8_lossy(&out.stderr));
        let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["protocolVersion"], "2026-07-28", "{seen}");
        assert_eq!(seen["texts"]["legacy_add"], "3");
        assert_eq!(seen["texts"]["stateless_test_input_required_result_elicitation"], "Hello, Alice!");
        assert_eq!(seen["texts"]["stateless_test_sampling"], "LLM response: Paris");
    }
}

/// A gateway that takes tokens from a loopback identity provider (OIDC discovery), serving the
/// fixture; and a token the provider signed for it.
async fn authenticated_gateway(
    keys_dir: &std::path::Path,
) -> (super::identity_provider::IdentityProvider, TestGateway, String) {
    use super::identity_provider::{IdentityProvider, SigningKey, claims};
    let key = SigningKey::rsa(keys_dir, "sdk-1");
    let idp = IdentityProvider::start(&[&key]).await;
    let yaml = format!(
        "auth:\n  jwt:\n    issuers: [{{ issuer: '{iss}', audiences: [mcpgw-sdk], discovery: true }}]\n    scopes: [mcp.tools]\n\
         upstreams:\n  fixture: {fixture}\n",
        iss = idp.issuer,
        fixture = stdio_fixture("fixture")
    );
    let gw = TestGateway::start(&yaml).await;
    let token = key.sign(&claims(&idp.issuer, "mcpgw-sdk", "sdk-user"));
    (idp, gw, token)
}

/// What a client does after a 401, with the SDK's own discovery functions: it finds the
/// endpoint's protected-resource metadata and, through it, the authorization server.
#[tokio::test]
async fn typescript_sdk_oauth_discovery_finds_the_metadata_and_the_authorization_server() {
    let Some(tools) = sdk_tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (idp, gw, _) = authenticated_gateway(dir.path()).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clients/sdk_oauth_discovery.cjs");
    let target = gw.url("/mcp");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(script).arg(&target).env("NODE_PATH", tools.join("node_modules")).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "discovery failed: {}", String::from_utf8_lossy(&out.stderr));
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["resource"]["resource"], gw.url("/mcp"), "{found}");
    assert_eq!(found["resource"]["authorization_servers"], json!([idp.issuer]), "{found}");
    assert_eq!(found["resource"]["scopes_supported"], json!(["mcp.tools"]), "{found}");
    assert_eq!(found["server"]["issuer"], idp.issuer.as_str(), "{found}");
    assert_eq!(found["server"]["token_endpoint"], format!("{}/token", idp.issuer), "{found}");
}

/// The official clients call through with a bearer token, and are refused without one.
#[tokio::test]
async fn sdk_clients_call_with_a_bearer_token_over_streamable_http_and_sse() {
    let (Some(tools), Some(python)) = (sdk_tools(), python_sdk()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_idp, gw, token) = authenticated_gateway(dir.path()).await;
    for target in [gw.url("/mcp"), format!("sse:{}", gw.url("/sse"))] {
        let (tools, target_ts, token_ts) = (tools.clone(), target.clone(), token.clone());
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clients/sdk_client.cjs");
        let run = move |bearer: Option<String>| {
            let mut node = Command::new("node");
            node.arg(&script).args([target_ts.as_str(), "fixture_echo", r#"{"text":"with a token"}"#]);
            node.env("NODE_PATH", tools.join("node_modules"));
            if let Some(b) = bearer {
                node.env("SDK_BEARER", b);
            }
            node.output().unwrap()
        };
        let (with, without) = tokio::task::spawn_blocking(move || (run(Some(token_ts)), run(None))).await.unwrap();
        assert!(with.status.success(), "TypeScript {target}: {}", String::from_utf8_lossy(&with.stderr));
        let seen: Value = serde_json::from_slice(&with.stdout).unwrap();
        assert_eq!(seen["result"]["content"][0]["text"], "with a token", "TypeScript {target}: {seen}");
        assert!(!without.status.success(), "TypeScript {target} got in without a token");

        let (python, target_py, token_py) = (python.clone(), target.clone(), token.clone());
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clients/python_sdk_client.py");
        let out = tokio::task::spawn_blocking(move || {
            Command::new(python)
                .arg(script)
                .args([target_py.as_str(), "fixture_whoami", "{}"])
                .env("PY_BEARER", token_py)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(out.status.success(), "Python {target}: {}", String::from_utf8_lossy(&out.stderr));
        let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["text"], "fixture", "Python {target}: {seen}");
    }
}

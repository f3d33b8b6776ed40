//! Client authentication against a real identity provider on loopback (keys made by openssl):
//! every bad token is refused with 401 and the challenge the MCP authorization specification
//! asks for, on every HTTP binding, before anything reaches an upstream (its call counter
//! proves it); API keys and basic credentials; sessions that answer only to their own caller;
//! protected-resource metadata; closed defaults beyond loopback; the `mcpgw auth` commands.

use serde_json::{Value, json};

use super::clients::{STATELESS_VERSION, TestClient, Transport, VERSION};
use super::identity_provider::{IdentityProvider, SigningKey, claims, now, sha256_line, sign_hs256, unsigned};
use super::util::{TestGateway, gateway_bin, stdio_fixture};

const AUDIENCE: &str = "mcpgw-test";
/// The HS256 secret of the `dev` issuer.
const DEV_SECRET: &str = "a-development-secret-of-32-bytes-or-more";
const API_KEY: &str = "mcpgw_test_key_0123456789abcdef";
const BASIC_USER: (&str, &str) = ("ann", "correct horse battery staple");

/// The keys of one test run.
struct Keys {
    _dir: tempfile::TempDir,
    rsa: SigningKey,
    ec: SigningKey,
    /// The key the provider rotates to.
    rotated: SigningKey,
    /// A key the provider never publishes.
    stranger: SigningKey,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    Keys {
        rsa: SigningKey::rsa(dir.path(), "rsa-1"),
        ec: SigningKey::ec(dir.path(), "ec-1"),
        rotated: SigningKey::rsa(dir.path(), "rsa-2"),
        stranger: SigningKey::rsa(dir.path(), "stranger"),
        _dir: dir,
    }
}

/// A gateway whose default virtual server takes tokens from the provider (by discovery) and from
/// the `dev` secret, API keys and basic credentials; `open` takes anyone.
async fn gateway(idp: &IdentityProvider, extra: &str) -> TestGateway {
    let hash = sha256_line(API_KEY);
    let htpasswd = format!("{}:{}\n", BASIC_USER.0, bcrypt::hash(BASIC_USER.1, 4).unwrap());
    let yaml = format!(
        "auth:
  jwt:
    issuers:
      - issuer: {iss}
        audiences: [{AUDIENCE}, another-client-id]
        discovery: true
      - issuer: dev
        audiences: [mcpgw-dev]
        secret: ${{DEV_SECRET}}
    scopes: [tools.read, offline_access]
  api_keys:
    - hash: {hash}
      subject: ci-bot
      attributes: {{ team: infra }}
  basic:
    htpasswd: users.htpasswd
upstreams:
  a: {a}
virtual_servers:
  default: {{ tools: ['*'], resources: ['*'], prompts: ['*'] }}
  open: {{ tools: ['a_echo'], auth: {{ none: true }} }}
{extra}",
        iss = idp.issuer,
        a = stdio_fixture("a"),
    );
    TestGateway::start_full(&yaml, &[("users.htpasswd", &htpasswd)], &[("DEV_SECRET", DEV_SECRET)], "127.0.0.1:0").await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `initialize` on `path` with these headers.
async fn initialize(gw: &TestGateway, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": VERSION,
        "capabilities": {}, "clientInfo": {"name": "auth-test", "version": "0"}}});
    let mut r = reqwest::Client::new()
        .post(gw.url(path))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    for (name, value) in headers {
        r = r.header(*name, *value);
    }
    r.send().await.unwrap()
}

/// A `tools/call` over `/rpc` with these headers: (status, answer, WWW-Authenticate).
async fn rpc_call(gw: &TestGateway, headers: &[(&str, &str)], tool: &str) -> (u16, Value, Option<String>) {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": {"text": "hi"}}});
    let mut r = reqwest::Client::new().post(gw.url("/rpc")).json(&body);
    for (name, value) in headers {
        r = r.header(*name, *value);
    }
    let response = r.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    (status, response.json().await.unwrap_or(Value::Null), challenge)
}

/// What upstream `a` counted of the calls that reached it, read with a credential that works.
async fn calls_reached(gw: &TestGateway) -> u64 {
    let key = [("x-api-key", API_KEY)];
    let (status, answer, _) = rpc_call(gw, &key, "a_calls").await;
    assert_eq!(status, 200, "{answer}");
    answer["result"]["content"][0]["text"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn bad_tokens_are_refused_with_a_challenge_before_reaching_an_upstream() {
    let keys = keys();
    let idp = IdentityProvider::start(&[&keys.rsa, &keys.ec]).await;
    let gw = gateway(&idp, "").await;
    let iss = idp.issuer.as_str();
    let metadata = gw.url("/.well-known/oauth-protected-resource/rpc");

    // Good tokens: RSA and EC keys from the key set, the HS256 development issuer, a second audience.
    for (what, token) in [
        ("RS256", keys.rsa.sign(&claims(iss, AUDIENCE, "alice"))),
        ("ES256", keys.ec.sign(&claims(iss, AUDIENCE, "alice"))),
        ("HS256 from the dev secret", sign_hs256(DEV_SECRET.as_bytes(), None, &claims("dev", "mcpgw-dev", "dev"))),
        ("the second audience", keys.rsa.sign(&claims(iss, "another-client-id", "alice"))),
    ] {
        let (status, answer, _) = rpc_call(&gw, &[("authorization", &bearer(&token))], "a_echo").await;
        assert_eq!((status, answer["result"]["content"][0]["text"].as_str()), (200, Some("hi")), "{what}: {answer}");
    }

    let reached = calls_reached(&gw).await;
    let mut expired = claims(iss, AUDIENCE, "alice");
    expired["exp"] = json!(now() - 3600);
    let mut early = claims(iss, AUDIENCE, "alice");
    early["nbf"] = json!(now() + 3600);
    let mut no_subject = claims(iss, AUDIENCE, "alice");
    no_subject.as_object_mut().unwrap().remove("sub");
    let bad = [
        ("expired", keys.rsa.sign(&expired), "expired"),
        ("not yet valid", keys.rsa.sign(&early), "not valid yet"),
        (
            "signed by a key the issuer never published",
            keys.stranger.sign_as("rsa-1", &claims(iss, AUDIENCE, "eve")),
            "signature",
        ),
        ("alg none", unsigned(&claims(iss, AUDIENCE, "eve")), ""),
        (
            "HS256 keyed with the RSA public key",
            sign_hs256(keys.rsa.public_pem.as_bytes(), Some("rsa-1"), &claims(iss, AUDIENCE, "eve")),
            "",
        ),
        ("for another audience", keys.rsa.sign(&claims(iss, "someone-else", "eve")), "audience"),
        ("from an issuer not listed", keys.rsa.sign(&claims("https://evil.example", AUDIENCE, "eve")), "not trusted"),
        (
            "the dev secret claiming the provider's issuer",
            sign_hs256(DEV_SECRET.as_bytes(), None, &claims(iss, AUDIENCE, "eve")),
            "",
        ),
        ("without a subject", keys.rsa.sign(&no_subject), "sub"),
        ("not a token", "not-a-token".to_string(), ""),
    ];
    for (what, token, why) in &bad {
        let (status, answer, challenge) = rpc_call(&gw, &[("authorization", &bearer(token))], "a_echo").await;
        assert_eq!(status, 401, "{what}: {answer}");
        let challenge = challenge.unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
        assert!(challenge.starts_with("Bearer "), "{what}: {challenge}");
        assert!(challenge.contains(&format!("resource_metadata=\"{metadata}\"")), "{what}: {challenge}");
        assert!(challenge.contains("error=\"invalid_token\""), "{what}: {challenge}");
        assert!(challenge.contains(why), "{what}: the challenge should say {why:?}: {challenge}");
        assert_eq!(answer["error"]["code"], -32013, "{what}: {answer}");
        assert!(!gw.log_text().contains(token.as_str()), "{what}: the token was logged");
    }

    // No credentials: the challenge names the metadata and asks for nothing more specific.
    let (status, _, challenge) = rpc_call(&gw, &[], "a_echo").await;
    assert_eq!(status, 401);
    let challenge = challenge.unwrap();
    assert!(challenge.contains(&format!("Bearer resource_metadata=\"{metadata}\"")), "{challenge}");
    assert!(!challenge.contains("error="), "a missing token is not an invalid one: {challenge}");
    assert!(challenge.contains("Basic realm="), "basic is offered too: {challenge}");

    // A token in the query string is refused even when it is good.
    let good = keys.rsa.sign(&claims(iss, AUDIENCE, "alice"));
    let url = gw.url(&format!("/rpc?access_token={good}"));
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let r = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401, "a query-string token");

    assert_eq!(calls_reached(&gw).await, reached + 1, "a refused call reached the upstream");
}

#[tokio::test]
async fn api_keys_and_basic_credentials_authenticate() {
    let keys = keys();
    let idp = IdentityProvider::start(&[&keys.rsa]).await;
    let gw = gateway(&idp, "").await;
    let basic =
        format!("Basic {}", super::identity_provider::b64_standard(&format!("{}:{}", BASIC_USER.0, BASIC_USER.1)));
    let wrong = format!("Basic {}", super::identity_provider::b64_standard(&format!("{}:wrong", BASIC_USER.0)));
    for (what, header, expected) in [
        ("X-API-Key", ("x-api-key", API_KEY.to_string()), 200),
        ("the key as a bearer token", ("authorization", bearer(API_KEY)), 200),
        ("an unknown key", ("x-api-key", "mcpgw_not_a_key_we_know".to_string()), 401),
        ("an unknown bearer key", ("authorization", bearer("mcpgw_not_a_key_we_know")), 401),
        ("basic", ("authorization", basic.clone()), 200),
        ("basic again (remembered)", ("authorization", basic.clone()), 200),
        ("a wrong password", ("authorization", wrong), 401),
        ("an unknown scheme", ("authorization", "Digest username=ann".to_string()), 401),
    ] {
        let (status, answer, _) = rpc_call(&gw, &[(header.0, &header.1)], "a_whoami").await;
        assert_eq!(status, expected, "{what}: {answer}");
        if expected == 200 {
            assert_eq!(answer["result"]["content"][0]["text"], "a", "{what}: {answer}");
        }
    }
    // The open virtual server takes anyone, the default one no one without credentials.
    let echo = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a_echo", "arguments": {"text": "hi"}}});
    let open = reqwest::Client::new().post(gw.url("/servers/open/rpc")).json(&echo).send().await.unwrap();
    assert_eq!(open.status(), 200, "auth: {{ none: true }} on one virtual server");
    assert!(gw.log_text().lines().all(|l| !l.contains(API_KEY)), "an API key was logged");
}

/// Every HTTP binding asks for credentials (the WebSocket one at the upgrade) and serves the
/// caller who presents them.
#[tokio::test]
async fn every_http_binding_requires_credentials() {
    let keys = keys();
    let idp = IdentityProvider::start(&[&keys.rsa]).await;
    let gw = gateway(&idp, "").await;
    let token = bearer(&keys.rsa.sign(&claims(&idp.issuer, AUDIENCE, "alice")));
    for transport in Transport::ALL.into_iter().filter(|t| *t != Transport::Stdio) {
        let c = TestClient::connect_as(&gw, transport, "default", &[("authorization", &token)]).await;
        assert_eq!(c.call_text("a_echo", json!({"text": "hi"})).await, "hi", "{transport}");
        c.close().await;
    }

    let http = reqwest::Client::new();
    let sse = http.get(gw.url("/sse")).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(sse.status(), 401, "SSE without credentials");
    assert!(sse.headers().contains_key("www-authenticate"));
    let messages = http.post(gw.url("/messages?session_id=0")).json(&json!({})).send().await.unwrap();
    assert_eq!(messages.status(), 401, "an SSE POST without credentials");
    assert_eq!(initialize(&gw, "/mcp", &[]).await.status(), 401, "streamable HTTP without credentials");
    let stateless = http
        .post(gw.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", STATELESS_VERSION)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": STATELESS_VERSION}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(stateless.status(), 401, "a stateless request without credentials");
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let upgrade = gw.url("/ws").replace("http://", "ws://").into_client_request().unwrap();
    match tokio_tungstenite::connect_async(upgrade).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401, "a WebSocket upgrade without credentials");
        }
        other => {
            panic!("a WebSocket upgrade without credentials was not refused: {:?}", other.map(|(_, r)| r.status()))
        }
    }
    assert_eq!(sse_status(&gw).await, 200, "healthz stays open");
}

async fn sse_status(gw: &TestGateway) -> u16 {
    reqwest::get(gw.url("/healthz")).await.unwrap().status().as_u16()
}

/// A session answers to the caller who opened it: anyone else presenting its id (with valid
/// credentials of their own) finds no such session, and the owner keeps working.
#[tokio::test]
async fn a_session_presented_by_another_caller_does_not_exist() {
    let keys = keys();
    let idp = IdentityProvider::start(&[&keys.rsa]).await;
    let gw = gateway(&idp, "").await;
    let alice = bearer(&keys.rsa.sign(&claims(&idp.issuer, AUDIENCE, "alice")));
    let mallory = bearer(&keys.rsa.sign(&claims(&idp.issuer, AUDIENCE, "mallory")));
    let owner = TestClient::connect_as(&gw, Transport::StreamableHttp, "default", &[("authorization", &alice)]).await;
    let session = owner.session().unwrap();

    let http = reqwest::Client::new();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    for (what, request) in [
        ("POST", http.post(gw.url("/mcp")).json(&list).header("accept", "application/json, text/event-stream")),
        ("GET", http.get(gw.url("/mcp")).header("accept", "text/event-stream")),
        ("DELETE", http.delete(gw.url("/mcp"))),
    ] {
        let r = request
            .header("authorization", &mallory)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", VERSION)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{what} with another caller's session");
    }
    // Another token of the same subject is the same caller (a refreshed token keeps its session).
    let refreshed =
        bearer(&keys.rsa.sign(
            &json!({"iss": idp.issuer, "aud": AUDIENCE, "sub": "alice", "exp": now() + 600, "jti": "refreshed"}),
        ));
    let r = http
        .post(gw.url("/mcp"))
        .json(&list)
        .header("accept", "application/json, text/event-stream")
        .header("authorization", &refreshed)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the owner with a refreshed token");
    assert_eq!(owner.call_text("a_echo", json!({"text": "still mine"})).await, "still mine");
    owner.close().await;

    // Legacy SSE: the messages endpoint answers only the stream's owner.
    let owner = TestClient::connect_as(&gw, Transport::Sse, "default", &[("authorization", &alice)]).await;
    let url = owner.sse_messages_url().to_string();
    let r = http.post(&url).header("authorization", &mallory).json(&list).send().await.unwrap();
    assert_eq!(r.status(), 404, "an SSE POST with another caller's session");
    assert_eq!(owner.call_text("a_echo", json!({"text": "mine"})).await, "mine");
    owner.close().await;
}

/// The key set is fetched again when a token names a key the gateway does not hold (a provider
/// that rotated its keys is followed at once), but not more than once a minute however many
/// unknown key ids arrive.
#[tokio::test]
async fn rotated_keys_are_followed_and_unknown_key_ids_cost_one_fetch() {
    let keys = keys();
    let idp = IdentityProvider::start(&[&keys.rsa]).await;
    let gw = gateway(&idp, "").await;
    let iss = idp.issuer.clone();
    let key_of = |token: String| [("authorization", bearer(&token))];
    let first = key_of(keys.rsa.sign(&claims(&iss, AUDIENCE, "alice")));
    let (status, ..) = rpc_call(&gw, &[(first[0].0, &first[0].1)], "a_whoami").await;
    assert_eq!(status, 200, "a token of the first key");

    idp.publish(&[&keys.rotated]);
    let rotated = key_of(keys.rotated.sign(&claims(&iss, AUDIENCE, "alice")));
    let (status, answer, _) = rpc_call(&gw, &[(rotated[0].0, &rotated[0].1)], "a_whoami").await;
    assert_eq!(status, 200, "a token of the rotated key, right after the rotation: {answer}");
    let fetched = idp.fetches();

    for i in 0..20 {
        let made_up = key_of(keys.rotated.sign_as(&format!("made-up-{i}"), &claims(&iss, AUDIENCE, "eve")));
        let (status, ..) = rpc_call(&gw, &[(made_up[0].0, &made_up[0].1)], "a_whoami").await;
        assert_eq!(status, 401);
    }
    assert_eq!(idp.fetches(), fetched, "unknown key ids within a minute of a fetch caused fetches");
}

/// The protected-resource metadata (RFC 9728) of each endpoint, under the public URL.
#[tokio::test]
async fn protected_resource_metadata_names_the_resource_and_its_issuers() {
    let keys = keys();
    let idp = IdentityProvider::start(&[&keys.rsa]).await;
    let gw = gateway(&idp, "serving: { public_url: 'https://mcp.example.com' }\n").await;
    let metadata = |path: &str| {
        let url = gw.url(&format!("/.well-known/oauth-protected-resource{path}"));
        async move {
            let r = reqwest::get(url).await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, document) = metadata("/mcp").await;
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["resource"], "https://mcp.example.com/mcp");
    assert_eq!(document["authorization_servers"], json!([idp.issuer, "dev"]));
    assert_eq!(document["scopes_supported"], json!(["tools.read"]), "offline_access is never offered");
    assert_eq!(document["bearer_methods_supported"], json!(["header"]));
    let (_, sse) = metadata("/sse").await;
    assert_eq!(sse["resource"], "https://mcp.example.com/sse");
    assert_eq!(metadata("/servers/open/mcp").await.0, 404, "a virtual server that takes no tokens");
    assert_eq!(metadata("/servers/nope/mcp").await.0, 404);
    assert_eq!(metadata("").await.0, 404, "two virtual servers: the root is ambiguous");

    let r = initialize(&gw, "/mcp", &[]).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    let expected = "resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"";
    assert!(challenge.contains(expected), "{challenge}");
}

/// With no `auth` block the gateway serves loopback only: on any other address every request is
/// refused, and `check` says so beforehand.
#[tokio::test]
async fn beyond_loopback_nothing_is_served_without_auth() {
    let yaml = format!("listen: 0.0.0.0:0\nupstreams:\n  a: {}\n", stdio_fixture("a"));
    let gw = TestGateway::start_full(&yaml, &[], &[], "0.0.0.0:0").await;
    let r = initialize(&gw, "/mcp", &[]).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("auth"), "{body}");
    assert_eq!(reqwest::get(gw.url("/healthz")).await.unwrap().status(), 200);

    let said = check(&yaml);
    assert!(said.contains("not a loopback address and no `auth` is configured"), "{said}");

    let open = format!("listen: 0.0.0.0:0\nauth: {{ none: true }}\nupstreams:\n  a: {}\n", stdio_fixture("a"));
    let said = check(&open);
    assert!(said.contains("unauthenticated"), "{said}");
    let gw = TestGateway::start_full(&open, &[], &[], "0.0.0.0:0").await;
    assert_eq!(initialize(&gw, "/mcp", &[]).await.status(), 200, "auth: {{ none: true }} lets anyone in");
}

fn check(yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(gateway_bin()).arg("check").arg(&path).output().unwrap();
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// `mcpgw auth hash-key` makes a key whose entry the gateway accepts; `mcpgw auth token` mints a
/// development token it accepts; `check` flags a secret written in the file.
#[tokio::test]
async fn the_auth_commands_make_credentials_the_gateway_accepts() {
    let made =
        std::process::Command::new(gateway_bin()).args(["auth", "hash-key", "--subject", "ops-bot"]).output().unwrap();
    assert!(made.status.success());
    let text = String::from_utf8(made.stdout).unwrap();
    let key = text.lines().next().and_then(|l| l.rsplit(' ').next()).unwrap().to_string();
    assert!(key.starts_with("mcpgw_"), "{text}");
    let entry: String = text.lines().filter(|l| !l.starts_with('#')).map(|l| format!("    {l}\n")).collect();
    let yaml = format!(
        "auth:\n  api_keys:\n{entry}  jwt:\n    issuers:\n      - issuer: dev\n        audiences: [mcpgw-dev]\n        secret: ${{DEV_SECRET}}\nupstreams:\n  a: {}\n",
        stdio_fixture("a")
    );
    let gw = TestGateway::start_full(&yaml, &[], &[("DEV_SECRET", DEV_SECRET)], "127.0.0.1:0").await;
    let (status, answer, _) = rpc_call(&gw, &[("x-api-key", &key)], "a_whoami").await;
    assert_eq!(status, 200, "the made key: {answer}");

    let minted = std::process::Command::new(gateway_bin())
        .args(["auth", "token", "--subject", "dev-user", "--scope", "tools.read", "--ttl", "5m", "-c"])
        .arg(&gw.config)
        .env("DEV_SECRET", DEV_SECRET)
        .output()
        .unwrap();
    assert!(minted.status.success(), "{}", String::from_utf8_lossy(&minted.stderr));
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_string();
    let (status, answer, _) = rpc_call(&gw, &[("authorization", &bearer(&token))], "a_whoami").await;
    assert_eq!(status, 200, "the minted token: {answer}");

    let literal = yaml.replace("${DEV_SECRET}", DEV_SECRET);
    let said = check(&literal);
    assert!(said.contains("the secret is written in the file"), "{said}");
}

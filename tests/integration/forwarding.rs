//! What an upstream receives of the client behind a call, seen by real HTTP upstreams (the
//! fixture's `headers` tool reports what its POSTs carried): only the headers the file names,
//! never the client's token unless `forward_authorization` says so, and with `token_exchange` a
//! token the loopback identity provider issued for the upstream (RFC 8693), asked once per
//! caller token and kept, on the caller's own upstream session.

use serde_json::{Value, json};

use super::clients::{TestClient, Transport};
use super::identity_provider::{IdentityProvider, b64_standard, claims, sign_hs256};
use super::util::{TestGateway, TestUpstream};

const SECRET: &str = "a-development-secret-of-32-bytes-or-more";
const EXCHANGE_SECRET: &str = "the gateway's client secret";

fn token(subject: &str) -> String {
    sign_hs256(SECRET.as_bytes(), None, &claims("dev", "mcpgw-dev", subject))
}

/// The upstream POSTs' headers as the fixture saw them: `call` (this call's) and `initialize`.
async fn seen(c: &TestClient, tool: &str) -> Value {
    let answer = c.call(tool, json!({})).await;
    let text = answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{tool}: {answer}"));
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn upstreams_receive_only_what_the_file_forwards_and_tokens_exchanged_for_them() {
    let idp = IdentityProvider::start(&[]).await;
    let (plain, passed, traded) =
        (TestUpstream::http("plain", &[]), TestUpstream::http("passed", &[]), TestUpstream::http("traded", &[]));
    let yaml = format!(
        "auth:\n  jwt:\n    issuers: [{{ issuer: dev, audiences: [mcpgw-dev], secret: '${{DEV_SECRET}}' }}]\n\
         upstreams:\n\
         \x20 plain: {{ url: '{plain}', forward_headers: [X-Request-Id, x-tenant] }}\n\
         \x20 passed: {{ url: '{passed}', forward_authorization: true }}\n\
         \x20 traded:\n    url: '{traded}'\n    token_exchange:\n      token_endpoint: '{idp}/token'\n      \
         client_id: mcpgw\n      client_secret: '${{EXCHANGE_SECRET}}'\n      audience: traded-api\n      scopes: [files.read]\n",
        plain = plain.url,
        passed = passed.url,
        traded = traded.url,
        idp = idp.issuer,
    );
    let env = [("DEV_SECRET", SECRET), ("EXCHANGE_SECRET", EXCHANGE_SECRET)];
    let gw = TestGateway::start_full(&yaml, &[], &env, "127.0.0.1:0").await;
    let alice = format!("Bearer {}", token("alice"));
    let headers = [("authorization", alice.as_str()), ("x-request-id", "r-1"), ("x-tenant", "acme"), ("cookie", "c=1")];
    let c = TestClient::connect_as(&gw, Transport::StreamableHttp, "default", &headers).await;

    // Named headers only: no cookie, and never the client's token.
    let heard = seen(&c, "plain_headers").await;
    assert_eq!(
        heard["call"],
        json!({"authorization": null, "x-request-id": "r-1", "x-tenant": "acme", "cookie": null}),
        "{heard}"
    );

    // Passed through when the file says so: on the caller's own upstream session, from its start.
    let heard = seen(&c, "passed_headers").await;
    assert_eq!(heard["call"]["authorization"], alice.as_str(), "{heard}");
    assert_eq!(heard["initialize"]["authorization"], alice.as_str(), "the caller's session opened with it: {heard}");
    assert_eq!(heard["call"]["x-request-id"], Value::Null, "only what is named: {heard}");

    // Exchanged: a token for the upstream, asked once and kept.
    let heard = seen(&c, "traded_headers").await;
    assert_eq!(heard["call"]["authorization"], "Bearer exchanged-alice-1", "{heard}");
    assert_eq!(heard["initialize"]["authorization"], "Bearer exchanged-alice-1", "{heard}");
    let again = seen(&c, "traded_headers").await;
    assert_eq!(again["call"]["authorization"], "Bearer exchanged-alice-1", "{again}");
    let exchanges = idp.exchanges();
    assert_eq!(exchanges.len(), 1, "one exchange per caller token: {exchanges:?}");
    let (authorization, form) = &exchanges[0];
    assert_eq!(authorization, &format!("Basic {}", b64_standard("mcpgw:the+gateway%27s+client+secret")));
    assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:token-exchange");
    assert_eq!(form["subject_token"], alice.strip_prefix("Bearer ").unwrap());
    assert_eq!(form["subject_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert_eq!((form["audience"].as_str(), form["scope"].as_str()), ("traded-api", "files.read"));
    assert_eq!(form["resource"], traded.url, "the upstream's URL is the resource asked for");
    c.close().await;

    // Another caller gets a token of its own, and an upstream session of its own.
    let bob = format!("Bearer {}", token("bob"));
    let c = TestClient::connect_as(&gw, Transport::StreamableHttp, "default", &[("authorization", &bob)]).await;
    let heard = seen(&c, "traded_headers").await;
    assert_eq!(heard["call"]["authorization"], "Bearer exchanged-bob-2", "{heard}");
    assert_eq!(heard["initialize"]["authorization"], "Bearer exchanged-bob-2", "{heard}");
    c.close().await;

    // A refused exchange refuses the call, naming the authorization server's reason, not the token.
    let mallory = token("mallory");
    let c = TestClient::connect_as(
        &gw,
        Transport::StreamableHttp,
        "default",
        &[("authorization", &format!("Bearer {mallory}"))],
    )
    .await;
    let answer = c.call("traded_headers", json!({})).await;
    let message = answer["error"]["message"].as_str().unwrap_or_else(|| panic!("{answer}"));
    assert!(message.contains("token exchange") && message.contains("invalid_grant"), "{answer}");
    assert!(!message.contains(&mallory), "{answer}");
    c.close().await;
    assert!(!gw.log_text().contains(&mallory), "a token was logged");
    assert!(!gw.log_text().contains("exchanged-alice"), "an exchanged token was logged");
}

#[test]
fn check_refuses_forwarding_credentials_by_name_and_warns_about_passing_tokens_through() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.yaml");
    std::fs::write(
        &config,
        "upstreams:\n  a:\n    url: https://a.example.com/mcp\n    forward_headers: [Authorization, Cookie, X-Request-Id, 'bad name']\n\
         \x20 b: { url: 'https://b.example.com/mcp', forward_authorization: true }\n\
         \x20 c:\n    stdio: { command: x }\n    forward_headers: [X-Request-Id]\n\
         \x20 d:\n    url: https://d.example.com/mcp\n    forward_authorization: true\n    \
         token_exchange: { token_endpoint: 'http://idp.example.com/token', client_id: gw }\n",
    )
    .unwrap();
    let out = std::process::Command::new(super::util::gateway_bin()).arg("check").arg(&config).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for expected in [
        "upstreams.a.forward_headers[0]: the client's `Authorization` is never passed on by name",
        "upstreams.a.forward_headers[1]: `Cookie` is a credential or a header the gateway sets itself",
        "upstreams.a.forward_headers[3]: \"bad name\" is not a header name",
        "warning: ",
        "upstreams.b.forward_authorization: the client's token is passed through to this upstream, which the MCP authorization specification forbids",
        "upstreams.c.forward_headers: `forward_headers` applies to `url` upstreams",
        "upstreams.d.forward_authorization: `forward_authorization` and `token_exchange` both set the upstream's `Authorization`",
        "upstreams.d.token_exchange.token_endpoint: plain http to idp.example.com can be read and altered on the way",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("forward_headers[2]"), "X-Request-Id is fine:\n{stderr}");
}

//! Consuming every upstream transport: WebSocket and legacy SSE upstreams (here, a first mcpgw
//! serving the fixture, chained behind a second), and the official everything server over SSE.

use serde_json::json;

use super::util::{Client, TestGateway, TestUpstream, eventually, stdio_fixture};

#[tokio::test]
async fn websocket_and_sse_upstreams_federate_like_any_other() {
    let front = TestGateway::start(&format!("upstreams:\n  a: {}\n", stdio_fixture("a"))).await;
    let ws = front.url("/ws").replace("http://", "ws://");
    let sse = front.url("/sse");
    let yaml = format!("upstreams:\n  viaws: {{ websocket: '{ws}' }}\n  viasse: {{ sse: '{sse}' }}\n");
    let gw = TestGateway::start(&yaml).await;
    gw.wait_upstream("viaws", "up").await;
    gw.wait_upstream("viasse", "up").await;
    let (_, ready) = gw.readyz().await;
    assert_eq!(ready["upstreams"]["viaws"]["transport"], "websocket");
    assert_eq!(ready["upstreams"]["viasse"]["transport"], "sse");
    let mut c = Client::connect(gw.url("/mcp")).await;
    let tools = c.tools().await;
    assert!(
        tools.contains(&"viaws_a_whoami".to_string()) && tools.contains(&"viasse_a_whoami".to_string()),
        "{tools:?}"
    );
    assert_eq!(c.call_text("viaws_a_whoami", json!({})).await, "a");
    assert_eq!(c.call_text("viasse_a_whoami", json!({})).await, "a");
    let read = c.request("resources/read", json!({"uri": "fixture://a/items/3"})).await;
    assert_eq!(read["result"]["contents"][0]["text"], "a says fixture://a/items/3");

    // Progress crosses both gateways and comes back with the client's token.
    for tool in ["viaws_a_progress", "viasse_a_progress"] {
        let body = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":tool,"arguments":{"steps":2},"_meta":{"progressToken":"x"}}});
        let text = c.post(body).await.text().await.unwrap();
        assert_eq!(text.matches("notifications/progress").count(), 2, "{tool}: {text}");
        assert!(text.contains("\"progressToken\":\"x\""), "{text}");
    }
}

#[tokio::test]
async fn a_websocket_upstream_that_restarts_is_reconnected() {
    let yaml_front = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let mut front = TestGateway::start(&yaml_front).await;
    let addr = front.base.trim_start_matches("http://").to_string();
    let gw = TestGateway::start(&format!("upstreams:\n  up: {{ websocket: 'ws://{addr}/ws' }}\n")).await;
    gw.wait_upstream("up", "up").await;
    front.terminate();
    gw.wait_upstream("up", "down").await;
    // A new front on the same address.
    let _front = super::util::TestGateway::start_at(&yaml_front, &addr).await;
    gw.wait_upstream("up", "up").await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    eventually("the tools to return", || {
        let endpoint = gw.url("/mcp");
        async move { Client::connect(endpoint).await.tools().await.contains(&"up_a_whoami".to_string()).then_some(()) }
    })
    .await;
    assert_eq!(c.call_text("up_a_whoami", json!({})).await, "a");
}

#[tokio::test]
async fn official_everything_server_over_legacy_sse() {
    let Some(tools) = super::sdk::sdk_tools() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _server = super::util::Process {
        child: std::process::Command::new(tools.join("node_modules/.bin/mcp-server-everything"))
            .arg("sse")
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    };
    let url = format!("http://127.0.0.1:{port}/sse");
    eventually("the everything server to listen", || async {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    })
    .await;
    let gw = TestGateway::start(&format!("upstreams:\n  everything: {{ sse: '{url}' }}\n")).await;
    gw.wait_upstream("everything", "up").await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert!(c.tools().await.contains(&"everything_echo".to_string()));
    assert_eq!(c.call_text("everything_echo", json!({"message": "over sse"})).await, "Echo: over sse");
}

/// An https upstream: its certificate is checked against the trust store (here a test CA that
/// `SSL_CERT_FILE` names), and one that does not verify leaves the upstream down, never served
/// without verification.
#[tokio::test]
async fn https_upstreams_are_verified_against_the_trust_store() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted_ca, cert, key) = certificates(dir.path(), "a");
    let (other_ca, _, _) = certificates(dir.path(), "b");
    let upstream = TestUpstream::http("secure", &["--tls", &cert, &key]);
    assert!(upstream.url.starts_with("https://localhost:"), "{}", upstream.url);
    let yaml = format!("upstreams:\n  secure: {{ url: '{}' }}\n", upstream.url);

    let gw = TestGateway::start_with_env(&yaml, &[("SSL_CERT_FILE", &trusted_ca)]).await;
    gw.wait_upstream("secure", "up").await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert_eq!(c.call_text("secure_whoami", json!({})).await, "secure");
    assert_eq!(c.call_text("secure_echo", json!({"text": "over TLS"})).await, "over TLS");

    let refused = TestGateway::start_with_env(&yaml, &[("SSL_CERT_FILE", &other_ca)]).await;
    refused.wait_upstream("secure", "down").await;
    let (_, ready) = refused.readyz().await;
    let error = ready["upstreams"]["secure"]["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(error.contains("certificate"), "{ready}");
}

/// A CA and a certificate it signed for localhost and 127.0.0.1, made with the openssl command
/// line: (CA file, certificate file, key file).
fn certificates(dir: &std::path::Path, tag: &str) -> (String, String, String) {
    let path = |name: &str| dir.join(format!("{tag}-{name}")).display().to_string();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).output().unwrap_or_else(|e| {
            panic!("the https upstream test needs the openssl command line (apt install openssl): {e}")
        });
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let (ca, ca_key) = (path("ca.pem"), path("ca.key"));
    openssl(
        &[
            &["req", "-x509"],
            &ec[..],
            &["-subj", &format!("/CN=mcpgw test CA {tag}"), "-keyout", &ca_key, "-out", &ca, "-days", "2"],
        ]
        .concat(),
    );
    let (csr, cert, key, ext) = (path("server.csr"), path("server.pem"), path("server.key"), path("ext.cnf"));
    std::fs::write(&ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(&[&["req"], &ec[..], &["-subj", "/CN=localhost", "-keyout", &key, "-out", &csr]].concat());
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
    (ca, cert, key)
}

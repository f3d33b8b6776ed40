//! The listener serving TLS itself (`serving.tls`), with certificates the test makes with
//! openssl: MCP over HTTPS and WSS with a client that trusts only that certificate, plain HTTP
//! refused, and a renewed certificate (its
//! files rewritten, as cert-manager does) served to the next connection without a restart.

use std::path::Path;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

use super::util::{TestGateway, eventually, stdio_fixture};

fn openssl(args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the TLS tests make certificates with the openssl command line: {e}"));
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

const EC: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/// A CA in `dir` named `name`: its certificate's path (the key beside it) and PEM.
fn ca(dir: &Path, name: &str) -> (String, String) {
    let (key, crt) = (dir.join(format!("{name}-ca.key")), dir.join(format!("{name}-ca.crt")));
    let (key, crt) = (key.to_str().unwrap(), crt.to_str().unwrap());
    let subject = format!("/CN={name} test CA");
    openssl(&[&["req", "-x509", "-days", "1", "-subj", &subject, "-keyout", key, "-out", crt][..], &EC].concat());
    (crt.to_string(), std::fs::read_to_string(crt).unwrap())
}

/// A certificate for `cn` with these extensions (`openssl x509 -extfile` lines), issued by the CA
/// at `ca_crt`: (certificate PEM, key PEM).
fn issue(dir: &Path, ca_crt: &str, cn: &str, extensions: &str) -> (String, String) {
    let file = |ext: &str| dir.join(format!("{}.{ext}", cn.replace(['/', ':'], "_"))).to_str().unwrap().to_string();
    let (key, csr, ext, crt) = (file("key"), file("csr"), file("ext"), file("crt"));
    let ca_key = ca_crt.replace("-ca.crt", "-ca.key");
    openssl(&[&["req", "-subj", &format!("/CN={cn}"), "-keyout", &key, "-out", &csr][..], &EC].concat());
    std::fs::write(&ext, extensions).unwrap();
    openssl(&[
        "x509",
        "-req",
        "-days",
        "1",
        "-CAcreateserial",
        "-in",
        &csr,
        "-CA",
        ca_crt,
        "-CAkey",
        &ca_key,
        "-extfile",
        &ext,
        "-out",
        &crt,
    ]);
    (std::fs::read_to_string(&crt).unwrap(), std::fs::read_to_string(&key).unwrap())
}

const SERVER: &str =
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";

/// A certificate for localhost and 127.0.0.1 issued by a CA of its own, as (CA PEM, certificate
/// PEM, key PEM).
fn certificate(dir: &Path, name: &str) -> (String, String, String) {
    let (ca_crt, ca_pem) = ca(dir, name);
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).unwrap();
    let (crt, key) = issue(&sub, &ca_crt, "localhost", SERVER);
    (ca_pem, crt, key)
}

/// A client that trusts exactly `cert`.
fn trusting(cert: &str) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(cert.as_bytes()).unwrap();
    reqwest::Client::builder().tls_certs_only([root]).build().unwrap()
}

async fn initialize(client: &reqwest::Client, url: &str) -> Result<Value, reqwest::Error> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
        "capabilities": {}, "clientInfo": {"name": "tls-test", "version": "0"}}});
    let r = client.post(url).header("accept", "application/json, text/event-stream").json(&body).send().await?;
    r.json().await
}

#[tokio::test]
async fn the_listener_serves_https_and_wss_and_follows_a_renewed_certificate() {
    let keys = tempfile::tempdir().unwrap();
    let (first_ca, first_cert, first_key) = certificate(keys.path(), "first");
    let (second_ca, second_cert, second_key) = certificate(keys.path(), "second");
    let yaml = format!(
        "serving: {{ tls: {{ cert: listener.crt, key: listener.key }} }}\nupstreams:\n  a: {}\n",
        stdio_fixture("a")
    );
    let gw = TestGateway::start_full(
        &yaml,
        &[("listener.crt", &first_cert), ("listener.key", &first_key)],
        &[],
        "127.0.0.1:0",
    )
    .await;
    assert!(gw.base.starts_with("https://"), "{}", gw.base);
    let url = gw.url("/mcp").replace("127.0.0.1", "localhost");

    let answer = initialize(&trusting(&first_ca), &url).await.expect("HTTPS with the served certificate");
    assert_eq!(answer["result"]["serverInfo"]["name"], "mcpgw", "{answer}");
    assert!(initialize(&trusting(&second_ca), &url).await.is_err(), "a client trusting another certificate got in");
    let plain = reqwest::Client::new().get(gw.url("/healthz").replace("https://", "http://")).send().await;
    assert!(!plain.is_ok_and(|r| r.status().is_success()), "plain HTTP was served");

    // WSS, with a TLS connector trusting the certificate.
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(first_ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let ws_url = gw.url("/ws").replace("https://127.0.0.1", "wss://localhost");
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws_url.as_str()).unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "mcp".parse().unwrap());
    let connector = tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(tls));
    let (mut socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector)).await.expect("WSS");
    let ping = json!({"jsonrpc": "2.0", "id": 5, "method": "ping"});
    socket.send(tokio_tungstenite::tungstenite::Message::Text(ping.to_string().into())).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply["id"], 5, "{reply}");

    // Renewed in place: the next connection gets the new certificate, no restart.
    std::fs::write(gw.dir.path().join("listener.key"), &second_key).unwrap();
    std::fs::write(gw.dir.path().join("listener.crt"), &second_cert).unwrap();
    eventually("the renewed certificate to be served", || async {
        initialize(&trusting(&second_ca), &url).await.ok().filter(|a| a["result"].is_object()).map(|_| ())
    })
    .await;
    assert!(initialize(&trusting(&first_ca), &url).await.is_err(), "the old certificate is still served");
}

#[test]
fn check_reports_a_certificate_and_key_that_do_not_go_together() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, _) = certificate(dir.path(), "one");
    let (_, _, other_key) = certificate(dir.path(), "two");
    std::fs::write(dir.path().join("listener.crt"), cert).unwrap();
    std::fs::write(dir.path().join("listener.key"), other_key).unwrap();
    std::fs::write(dir.path().join("bad.crt"), "not a certificate").unwrap();
    let check = |yaml: &str| {
        let config = dir.path().join("g.yaml");
        std::fs::write(&config, yaml).unwrap();
        let out = std::process::Command::new(super::util::gateway_bin()).arg("check").arg(&config).output().unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    let (code, stderr) = check("serving: { tls: { cert: listener.crt, key: listener.key } }\nupstreams: {}\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("serving.tls: the certificate and key do not make a TLS identity"), "{stderr}");
    let (code, stderr) = check("serving: { tls: { cert: bad.crt, key: missing.key } }\nupstreams: {}\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("serving.tls.key: cannot read missing.key"), "{stderr}");
}

/// Mutual TLS: a client certificate under the configured CA is the caller (its URI name, else DNS
/// name, else common name), usable in rules; none is a 401; one under another CA fails the handshake.
#[tokio::test]
async fn client_certificates_under_the_configured_ca_are_callers() {
    let keys = tempfile::tempdir().unwrap();
    let (server_ca, server_cert, server_key) = certificate(keys.path(), "server");
    let (clients_ca, clients_pem) = ca(keys.path(), "clients");
    let (stranger_ca, _) = ca(keys.path(), "stranger");
    let client = |cn: &str, san: &str, ca: &str| {
        let dir = keys.path().join(cn);
        std::fs::create_dir_all(&dir).unwrap();
        let ext = format!("{san}basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
        let (crt, key) = issue(&dir, ca, cn, &ext);
        reqwest::Identity::from_pem(format!("{crt}{key}").as_bytes()).unwrap()
    };
    let alice = client("alice", "subjectAltName=URI:spiffe://test/alice\n", &clients_ca);
    let bob = client("bob", "", &clients_ca);
    let mallory = client("mallory", "subjectAltName=URI:spiffe://test/alice\n", &stranger_ca);

    let yaml = format!(
        "serving: {{ tls: {{ cert: listener.crt, key: listener.key }} }}\nauth: {{ mtls: {{ ca: clients.crt }} }}\n\
         upstreams:\n  a: {}\naccess:\n  - allow: {{ subjects: ['spiffe://test/*'], tools: ['a_echo', 'a_whoami'] }}\n",
        stdio_fixture("a")
    );
    let files = [("listener.crt", server_cert.as_str()), ("listener.key", &server_key), ("clients.crt", &clients_pem)];
    let gw = TestGateway::start_full(&yaml, &files, &[], "127.0.0.1:0").await;
    let url = gw.url("/mcp").replace("127.0.0.1", "localhost");
    let root = || reqwest::Certificate::from_pem(server_ca.as_bytes()).unwrap();
    let with = |identity: Option<reqwest::Identity>| {
        let builder = reqwest::Client::builder().tls_certs_only([root()]);
        match identity {
            Some(identity) => builder.identity(identity),
            None => builder,
        }
        .build()
        .unwrap()
    };

    let answer = initialize(&with(Some(alice)), &url).await.expect("alice's certificate");
    assert_eq!(answer["result"]["serverInfo"]["name"], "mcpgw", "{answer}");
    let answer = initialize(&with(Some(bob)), &url).await.expect("bob's certificate is valid");
    assert_eq!(answer["error"]["code"], -32012, "bob (CN only) is named by no allow: {answer}");
    let answer = initialize(&with(None), &url).await.expect("no certificate still connects");
    assert_eq!(answer["error"]["code"], -32013, "without a certificate: {answer}");
    assert!(initialize(&with(Some(mallory)), &url).await.is_err(), "a certificate under another CA got in");
}

#[test]
fn client_certificates_need_the_listener_to_serve_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (_, pem) = ca(dir.path(), "clients");
    std::fs::write(dir.path().join("clients.crt"), pem).unwrap();
    let config = dir.path().join("g.yaml");
    std::fs::write(&config, "auth: { mtls: { ca: clients.crt } }\nupstreams: {}\n").unwrap();
    let out = std::process::Command::new(super::util::gateway_bin()).arg("check").arg(&config).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("auth.mtls: client certificates need the listener to serve TLS"), "{stderr}");
}

/// On a TLS listener too, a client that completes its handshake and then sends nothing, half a
/// request head or (having chosen HTTP/2) half a preface holds its connection no longer than
/// `serving.header_timeout`.
#[tokio::test]
async fn a_tls_client_that_sends_nothing_after_its_handshake_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let keys = tempfile::tempdir().unwrap();
    let (ca_pem, cert, key) = certificate(keys.path(), "idle");
    let yaml = format!(
        "serving: {{ tls: {{ cert: listener.crt, key: listener.key }}, header_timeout: 1s }}\nupstreams:\n  a: {}\n",
        stdio_fixture("a")
    );
    let gw =
        TestGateway::start_full(&yaml, &[("listener.crt", &cert), ("listener.key", &key)], &[], "127.0.0.1:0").await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let http1 = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config.clone()));
    config.alpn_protocols = vec![b"h2".to_vec()];
    let http2 = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let address = gw.base.trim_start_matches("https://").to_string();
    for (connector, sent) in
        [(&http1, &b""[..]), (&http1, b"POST /mcp HTTP/1.1\r\nHost: local"), (&http2, b"PRI * HTTP/2.0\r\n")]
    {
        let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.expect("the handshake completes");
        tls.write_all(sent).await.unwrap();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(super::util::DEADLINE, tls.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a TLS connection that started no request stayed open ({} bytes sent)", sent.len());
    }
}

//! An identity provider on loopback for the authentication tests: real RSA and EC keys made with
//! the openssl command line, an OpenID Connect discovery document and a JSON Web Key Set whose
//! keys the test can rotate, a count of key-set fetches, tokens signed with any of its keys (or
//! with keys it never published), and a token endpoint for OAuth 2.0 Token Exchange (RFC 8693)
//! that records what it was sent and refuses tokens whose subject is `mallory`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A signing key: its private half for tokens, its public half as a JWK and as PEM.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    private_pem: Vec<u8>,
    pub public_pem: String,
    pub jwk: Value,
}

impl SigningKey {
    /// A new RSA key (RS256) made by openssl in `dir`.
    pub fn rsa(dir: &Path, kid: &str) -> SigningKey {
        let private = dir.join(format!("{kid}.pem"));
        let public = dir.join(format!("{kid}.pub.pem"));
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path(&private)]);
        openssl(&["pkey", "-in", path(&private), "-pubout", "-out", path(&public)]);
        let modulus = openssl(&["rsa", "-pubin", "-in", path(&public), "-noout", "-modulus"]);
        let hex = String::from_utf8(modulus).unwrap();
        let n = from_hex(hex.trim().strip_prefix("Modulus=").expect("openssl prints Modulus="));
        let jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&n), "e": "AQAB"});
        SigningKey {
            kid: kid.to_string(),
            alg: Algorithm::RS256,
            private_pem: std::fs::read(&private).unwrap(),
            public_pem: std::fs::read_to_string(&public).unwrap(),
            jwk,
        }
    }

    /// A new P-256 key (ES256) made by openssl in `dir`.
    pub fn ec(dir: &Path, kid: &str) -> SigningKey {
        let raw = dir.join(format!("{kid}.ec.pem"));
        let private = dir.join(format!("{kid}.pem"));
        let public = dir.join(format!("{kid}.pub.pem"));
        openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path(&raw)]);
        openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", path(&raw), "-out", path(&private)]);
        openssl(&["pkey", "-in", path(&private), "-pubout", "-out", path(&public)]);
        let der = openssl(&["pkey", "-pubin", "-in", path(&public), "-outform", "DER"]);
        // The key's point ends the DER: 0x04, then x and y, 32 bytes each.
        let point = &der[der.len() - 65..];
        assert_eq!(point[0], 4, "an uncompressed point");
        let jwk = json!({"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
            "x": b64(&point[1..33]), "y": b64(&point[33..])});
        SigningKey {
            kid: kid.to_string(),
            alg: Algorithm::ES256,
            private_pem: std::fs::read(&private).unwrap(),
            public_pem: std::fs::read_to_string(&public).unwrap(),
            jwk,
        }
    }

    /// A token with these claims, signed by this key under its `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// A token signed by this key but naming another `kid`.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let key = match self.alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&self.private_pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(&self.private_pem).unwrap(),
        };
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }
}

/// An HS256 token signed with `secret` (also the HS/RS confusion: a public key used as the secret).
pub fn sign_hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", b64(claims.to_string().as_bytes()))
}

/// Claims for `subject` from `issuer` to `audience`, valid from a minute ago for an hour.
pub fn claims(issuer: &str, audience: &str, subject: &str) -> Value {
    let now = now();
    json!({"iss": issuer, "aud": audience, "sub": subject, "iat": now, "nbf": now - 60, "exp": now + 3600,
        "jti": format!("{subject}-{now}")})
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Token exchange requests seen: each one's `Authorization` and form fields.
type Exchanges = Arc<Mutex<Vec<(String, std::collections::HashMap<String, String>)>>>;

/// The identity provider: discovery and key set over plain HTTP on loopback.
pub struct IdentityProvider {
    pub issuer: String,
    /// The keys the key set publishes now.
    published: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicU64>,
    /// Token exchange requests, as (their `Authorization`, their form fields), in order.
    exchanges: Exchanges,
    server: tokio::task::JoinHandle<()>,
}

impl IdentityProvider {
    pub async fn start(published: &[&SigningKey]) -> IdentityProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(published.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()));
        let fetches = Arc::new(AtomicU64::new(0));
        let exchanges: Exchanges = Arc::default();
        let (iss, set, count, log) = (issuer.clone(), keys.clone(), fetches.clone(), exchanges.clone());
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let (iss, set, count, log) = (iss.clone(), set.clone(), count.clone(), log.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head_end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
                    let header = |name: &str| {
                        head.lines()
                            .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)))
                            .map(|(_, v)| v.trim().to_string())
                    };
                    let length: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                    while request.len() < head_end + length {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let form: std::collections::HashMap<String, String> =
                        url::form_urlencoded::parse(&request[head_end..]).into_owned().collect();
                    let line = head.lines().next().unwrap_or_default().to_string();
                    let target = line.split(' ').nth(1).unwrap_or_default().to_string();
                    let (status, body) = match target.as_str() {
                        // OpenID Connect discovery and OAuth authorization-server metadata alike.
                        "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" => (
                            "200 OK",
                            json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks"),
                                "authorization_endpoint": format!("{iss}/authorize"),
                                "token_endpoint": format!("{iss}/token"),
                                "response_types_supported": ["code"],
                                "code_challenge_methods_supported": ["S256"]}),
                        ),
                        "/jwks" => {
                            count.fetch_add(1, Ordering::SeqCst);
                            ("200 OK", json!({"keys": *set.lock().unwrap()}))
                        }
                        "/token" => {
                            let mut log = log.lock().unwrap();
                            log.push((header("authorization").unwrap_or_default(), form.clone()));
                            let subject = form.get("subject_token").map(|t| subject_of(t)).unwrap_or_default();
                            if subject == "mallory" {
                                (
                                    "400 Bad Request",
                                    json!({"error": "invalid_grant", "error_description": "not for this one"}),
                                )
                            } else {
                                (
                                    "200 OK",
                                    json!({"access_token": format!("exchanged-{}-{}", subject, log.len()),
                                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                                    "token_type": "Bearer", "expires_in": 300}),
                                )
                            }
                        }
                        _ => ("404 Not Found", json!({})),
                    };
                    let body = body.to_string();
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        IdentityProvider { issuer, published: keys, fetches, exchanges, server }
    }

    /// Publishes these keys instead (a rotation).
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.published.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    /// The token exchanges asked so far: each one's `Authorization` and form fields.
    pub fn exchanges(&self) -> Vec<(String, std::collections::HashMap<String, String>)> {
        self.exchanges.lock().unwrap().clone()
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl").args(args).output().unwrap_or_else(|e| {
        panic!("the authentication tests make keys with the openssl command line (apt install openssl): {e}")
    });
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

/// The `sub` of a token, read without checking it (the test provider's own tokens).
fn subject_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
    serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v["sub"].as_str().map(str::to_string)).unwrap_or_default()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64, as basic credentials are written.
pub fn b64_standard(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// The line an API key is stored as: `sha256:<hex>` of the key.
pub fn sha256_line(key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

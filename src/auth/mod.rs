//! Client authentication: the credentials an HTTP request carries turned into the `Caller`
//! every later step decides on, or a refusal with the challenge the client needs. Which methods
//! a virtual server accepts is the model's `Auth` (its own, or the file's); `Gate` holds them
//! compiled for one generation: JWT issuers and their keys (`jwt.rs`, `keys.rs`), API key hashes,
//! htpasswd entries. Verified tokens are remembered (in memory, by the header itself) until they
//! expire, and basic credentials by their SHA-256 for a few minutes, so a call pays for a
//! signature check or a bcrypt once, and a remembered token costs a hash-map lookup.

mod jwt;
mod keys;
pub(crate) mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::{Challenge, GatewayError, Kind, Source};
use crate::model::Model;
use crate::model::auth::{Auth, KeyChecks, Methods};
use crate::session::{Binding, Caller, Identity, Method, Principal};

/// How long a verified basic credential is remembered (bcrypt costs milliseconds on purpose).
const BASIC_MEMORY: Duration = Duration::from_secs(300);
/// Most credentials remembered at once.
const REMEMBERED: u64 = 10_000;

/// What an HTTP request presents.
#[derive(Default)]
pub(crate) struct Credentials<'a> {
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The `X-API-Key` header.
    pub api_key: Option<&'a str>,
    /// Whether the query string carries a token (`access_token=`), which is refused.
    pub query_token: bool,
    /// The client certificate the TLS handshake verified (DER of the leaf).
    pub certificate: Option<&'a [u8]>,
}

/// The authentication of one generation, per virtual server.
pub(crate) struct Gate {
    /// By virtual server; one compiled set of methods per distinct `auth` block.
    servers: HashMap<String, Arc<Door>>,
}

/// The methods one virtual server accepts.
enum Door {
    Unset,
    Open,
    Required(Box<Required>),
}

struct Required {
    jwt: Option<jwt::Verifier>,
    api_keys: HashMap<[u8; 32], Arc<Principal>>,
    /// user → bcrypt hash.
    basic: HashMap<String, String>,
    /// Verified credentials, with when they stop holding (seconds since the epoch): by the
    /// `Authorization` header of a bearer token, or the `sha256:` line of a basic one (never
    /// a password as it came). Per door: what one virtual server accepts another may not.
    remembered: moka::sync::Cache<Box<str>, (Arc<Principal>, u64)>,
    /// Whether a client certificate (verified by the listener's TLS) authenticates.
    mtls: bool,
}

impl Gate {
    /// Compiles the authentication of every virtual server of `model`. Remote key sets are
    /// shared with earlier generations that named the same source.
    pub(crate) fn build(model: &Model) -> Gate {
        let mut compiled: Vec<(&Auth, Arc<Door>)> = Vec::new();
        let mut servers = HashMap::new();
        for vs in &model.virtual_servers {
            let auth = model.auth_for(&vs.name);
            let door = match compiled.iter().find(|(a, _)| *a == auth) {
                Some((_, door)) => door.clone(),
                None => {
                    let door = Arc::new(Door::new(auth));
                    compiled.push((auth, door.clone()));
                    door
                }
            };
            servers.insert(vs.name.clone(), door);
        }
        Gate { servers }
    }

    /// Who sends a request with `credentials` to `virtual_server` from `peer`; refused with 401
    /// and a challenge when it must authenticate and does not. `loopback` says whether the
    /// listener is on loopback (where a file without `auth` lets anyone in).
    pub(crate) async fn authenticate(
        &self,
        virtual_server: &str,
        credentials: &Credentials<'_>,
        peer: Option<SocketAddr>,
        binding: Binding,
        loopback: bool,
    ) -> Result<Caller, GatewayError> {
        let door = self.servers.get(virtual_server).map(|d| &**d);
        let required = match door {
            None | Some(Door::Open) => None,
            Some(Door::Unset) if loopback => None,
            Some(Door::Unset) => {
                return Err(unauthenticated(
                    "this gateway listens beyond loopback and its file configures no authentication, so it serves no one; \
                     configure `auth` (or `auth: { none: true }` to let anyone in)",
                    None,
                ));
            }
            Some(Door::Required(required)) => Some(required),
        };
        if credentials.query_token {
            let challenge = required.map(|r| r.challenge(Some("the token must be sent in a header")));
            let why = "a token in the query string is refused (query strings end up in logs); send it in the Authorization header";
            return Err(unauthenticated(why, challenge));
        }
        let Some(required) = required else { return Ok(Caller::anonymous(binding, peer)) };
        match required.principal(credentials).await {
            Ok(principal) => Ok(Caller { identity: Identity::Principal(principal), peer, binding, presented: None }),
            Err(Refused::Missing) => Err(unauthenticated("authentication required", Some(required.challenge(None)))),
            Err(Refused::Invalid(why)) => {
                let challenge = Some(required.challenge(Some(&why)));
                tracing::debug!(%virtual_server, reason = %why, "credentials refused");
                Err(unauthenticated(format!("invalid credentials: {why}"), challenge))
            }
        }
    }
}

/// Why credentials were refused.
enum Refused {
    /// None were presented (or none of a kind accepted here).
    Missing,
    /// Presented and not accepted, and why (never the credential itself).
    Invalid(String),
}

impl Required {
    async fn principal(&self, credentials: &Credentials<'_>) -> Result<Arc<Principal>, Refused> {
        let required = self;
        let refuse = Refused::Invalid;
        if let Some(key) = credentials.api_key {
            return required.api_keys.get(&sha256(key)).cloned().ok_or_else(|| refuse("unknown API key".into()));
        }
        let Some(authorization) = credentials.authorization else {
            return match credentials.certificate {
                Some(der) if required.mtls => tls::certificate_identity(der)
                    .map(|(subject, claims)| {
                        Arc::new(Principal {
                            subject,
                            method: Method::Certificate,
                            scopes: Vec::new(),
                            groups: Vec::new(),
                            claims,
                            token_id: None,
                        })
                    })
                    .ok_or_else(|| refuse("the client certificate names no subject".into())),
                _ => Err(Refused::Missing),
            };
        };
        let (scheme, value) = authorization.trim().split_once(' ').unwrap_or((authorization, ""));
        let value = value.trim();
        let now = unix_now();
        let basic = scheme.eq_ignore_ascii_case("basic");
        // A bearer header never starts `sha256:`, so the two kinds of key cannot meet.
        let fingerprint: std::borrow::Cow<'_, str> =
            if basic { crate::model::auth::hash_line(authorization).into() } else { authorization.into() };
        if let Some((principal, until)) = required.remembered.get(&*fingerprint)
            && until > now
        {
            return Ok(principal);
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            // A bearer value with the three parts of a JWS is a token; anything else may be a key.
            if value.split('.').count() == 3
                && let Some(verifier) = &required.jwt
            {
                let verified = verifier.verify(value).await.map_err(refuse)?;
                let principal = Arc::new(verified.principal);
                required.remembered.insert(fingerprint.into(), (principal.clone(), verified.expires_at));
                tracing::debug!(subject = %principal.subject, jti = ?principal.token_id, "token verified");
                return Ok(principal);
            }
            return required.api_keys.get(&sha256(value)).cloned().ok_or_else(|| {
                refuse(if required.jwt.is_some() { "the token is not valid".into() } else { "unknown API key".into() })
            });
        }
        if basic && !required.basic.is_empty() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| refuse("unreadable basic credentials".into()))?;
            let (user, password) =
                decoded.split_once(':').ok_or_else(|| refuse("unreadable basic credentials".into()))?;
            let hash = required.basic.get(user).ok_or_else(|| refuse("unknown user or wrong password".into()))?.clone();
            let password = password.to_string();
            // bcrypt is slow on purpose: off the serving thread.
            let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
            if !matches {
                return Err(refuse("unknown user or wrong password".into()));
            }
            let principal = Arc::new(Principal {
                subject: user.to_string(),
                method: Method::Basic,
                scopes: Vec::new(),
                groups: Vec::new(),
                claims: Default::default(),
                token_id: None,
            });
            required.remembered.insert(fingerprint.into(), (principal.clone(), now + BASIC_MEMORY.as_secs()));
            return Ok(principal);
        }
        tracing::debug!(scheme, "credentials of a scheme not accepted here");
        Err(Refused::Missing)
    }
}

impl Door {
    fn new(auth: &Auth) -> Door {
        match auth {
            Auth::Unset => Door::Unset,
            Auth::Open => Door::Open,
            Auth::Required(methods) => Door::Required(Box::new(Required::new(methods))),
        }
    }
}

impl Required {
    fn new(methods: &Methods) -> Required {
        let api_keys = methods
            .api_keys
            .iter()
            .map(|k| {
                let claims =
                    k.attributes.iter().map(|(a, v)| (a.clone(), serde_json::Value::String(v.clone()))).collect();
                let principal = Principal {
                    subject: k.subject.clone(),
                    method: Method::ApiKey,
                    scopes: Vec::new(),
                    groups: Vec::new(),
                    claims,
                    token_id: None,
                };
                (k.sha256, Arc::new(principal))
            })
            .collect();
        let basic = methods.basic.iter().flat_map(|b| b.users.iter().cloned()).collect();
        let remembered = moka::sync::Cache::builder().max_capacity(REMEMBERED).build();
        let mtls = methods.mtls.is_some();
        Required { jwt: methods.jwt.as_ref().map(jwt::Verifier::new), api_keys, basic, remembered, mtls }
    }

    /// How a refusal here challenges the client: the schemes accepted, and why presented
    /// credentials fell short.
    fn challenge(&self, invalid: Option<&str>) -> Challenge {
        Challenge {
            bearer: self.jwt.is_some() || !self.api_keys.is_empty(),
            basic: !self.basic.is_empty(),
            metadata: self.jwt.is_some(),
            error: invalid.map(|why| ("invalid_token", why.to_string())),
            scope: Vec::new(),
        }
    }
}

fn unauthenticated(message: impl Into<String>, challenge: Option<Challenge>) -> GatewayError {
    let mut e = GatewayError::new(Kind::Unauthenticated, Source::Client, message);
    e.challenge = challenge;
    e
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The serving code's judgement of a PEM public key, for validation.
pub(crate) struct Checks;

impl KeyChecks for Checks {
    fn public_key(&self, pem: &str) -> Result<Vec<&'static str>, String> {
        let key = keys::from_pem(pem)?;
        Ok(keys::family(&key).iter().map(|a| name(*a)).collect())
    }

    fn tls(&self, cert_pem: &str, key_pem: &str) -> Result<(), String> {
        tls::server_config(cert_pem, key_pem, None).map(|_| ())
    }

    fn client_ca(&self, ca_pem: &str) -> Result<(), String> {
        tls::check_client_ca(ca_pem)
    }
}

/// An algorithm's JOSE name.
fn name(a: jsonwebtoken::Algorithm) -> &'static str {
    use jsonwebtoken::Algorithm as A;
    match a {
        A::HS256 => "HS256",
        A::HS384 => "HS384",
        A::HS512 => "HS512",
        A::RS256 => "RS256",
        A::RS384 => "RS384",
        A::RS512 => "RS512",
        A::PS256 => "PS256",
        A::PS384 => "PS384",
        A::PS512 => "PS512",
        A::ES256 => "ES256",
        A::ES384 => "ES384",
        A::EdDSA => "EdDSA",
        _ => "unknown",
    }
}

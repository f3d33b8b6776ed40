//! Client authentication as the file declares it, checked and resolved: which methods a virtual
//! server accepts, each issuer's keys and audiences, API key hashes, htpasswd entries. The keys
//! themselves are compiled by `auth` (what only the serving code can tell is asked through
//! `KeyChecks`, as REST tools are through `RestChecks`).

use std::time::Duration;

use indexmap::IndexMap;
use sha2::Digest;

use super::Secret;

/// How the clients of a virtual server authenticate.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Auth {
    /// The file says nothing: anyone on a loopback listener, no one on any other.
    #[default]
    Unset,
    /// `none: true`: anyone, unauthenticated.
    Open,
    /// Credentials are required, accepted by any of these methods.
    Required(Methods),
}

/// The methods a virtual server accepts; at least one is given.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Methods {
    pub jwt: Option<Jwt>,
    pub api_keys: Vec<ApiKey>,
    pub basic: Option<Basic>,
    pub mtls: Option<Mtls>,
}

/// Client certificates under a CA (mutual TLS on the listener).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mtls {
    pub ca_path: String,
    pub ca_pem: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Jwt {
    pub issuers: Vec<Issuer>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Scopes published in the protected-resource metadata.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Issuer {
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Accepted `aud` values; a token must carry one of them.
    pub audiences: Vec<String>,
    pub keys: KeySource,
    /// Accepted signature algorithms (JOSE names); empty: those of the key's type.
    pub algorithms: Vec<String>,
}

/// Where an issuer's verification keys come from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeySource {
    /// A JSON Web Key Set at this URL.
    Jwks(url::Url),
    /// The key set named by the issuer's OpenID Connect discovery document.
    Discovery(url::Url),
    /// A PEM public key, read from `path`.
    PublicKey { path: String, pem: String },
    /// A shared HS256 secret.
    Secret(Secret),
}

/// An API key: the SHA-256 of the key, and who holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiKey {
    pub sha256: [u8; 32],
    pub subject: String,
    pub attributes: IndexMap<String, String>,
}

/// HTTP basic authentication: the entries of an htpasswd file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Basic {
    pub path: String,
    /// (user, bcrypt hash), in file order.
    pub users: Vec<(String, String)>,
}

/// Signature algorithms a token may name (JOSE names); `none` is not among them.
pub(crate) const ALGORITHMS: [&str; 12] =
    ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// What only the serving code can tell about a key (`auth::Checks` in serving).
pub(crate) trait KeyChecks {
    /// Reads a PEM public key; its algorithms (JOSE names) or what is wrong with it.
    fn public_key(&self, pem: &str) -> Result<Vec<&'static str>, String>;
    /// Whether a certificate chain and private key (PEM) make a TLS server identity, or why not.
    fn tls(&self, cert_pem: &str, key_pem: &str) -> Result<(), String>;
    /// Whether PEM CA certificates can verify client certificates, or why not.
    fn client_ca(&self, ca_pem: &str) -> Result<(), String>;
}

/// `sha256:<64 hex>` as bytes.
pub(crate) fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The line to store for an API key: `sha256:<hex>`.
pub(crate) fn hash_line(key: &str) -> String {
    let digest = sha2::Sha256::digest(key.as_bytes());
    format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

//! Bearer JSON Web Tokens: the issuer named by the token's `iss` must be one the file lists; the
//! key is the one its `kid` names (or any of the issuer's keys of the token's algorithm family);
//! the algorithm must be one that issuer and key allow (`none` never is, and a public key never
//! verifies an HMAC token); `aud` must name one of the issuer's audiences; `exp` and `nbf` hold,
//! give or take the leeway.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::keys::{self, Key, RemoteKeys, Source};
use crate::model::auth::{Issuer, Jwt, KeySource};
use crate::session::{Method, Principal};

/// The issuers of one `jwt` block, their keys compiled.
pub(super) struct Verifier {
    issuers: Vec<Trusted>,
    leeway: u64,
}

struct Trusted {
    issuer: String,
    audiences: Vec<String>,
    /// Allowed algorithms; empty: whatever the key allows.
    algorithms: Vec<Algorithm>,
    keys: Keys,
}

enum Keys {
    Fixed(Vec<Arc<Key>>),
    Remote(Arc<RemoteKeys>),
}

/// A token verified: who it names, and until when it holds (`exp`, seconds since the epoch).
pub(super) struct Verified {
    pub(super) principal: Principal,
    pub(super) expires_at: u64,
}

impl Verifier {
    pub(super) fn new(jwt: &Jwt) -> Verifier {
        let issuers = jwt.issuers.iter().map(trusted).collect();
        Verifier { issuers, leeway: jwt.leeway.as_secs() }
    }

    /// Verifies `token`; `Err` says why it is refused (for the challenge and the log, never the
    /// token itself).
    pub(super) async fn verify(&self, token: &str) -> Result<Verified, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "not a JSON Web Token".to_string())?;
        // The issuer is read before the signature is checked only to pick its keys: nothing else
        // from an unverified token is used.
        let unverified: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| "the token's claims are unreadable".to_string())?;
        let iss = unverified.get("iss").and_then(Value::as_str).ok_or("the token names no issuer")?;
        let trusted =
            self.issuers.iter().find(|t| t.issuer == iss).ok_or_else(|| format!("issuer {iss:?} is not trusted"))?;
        let kid = header.kid.as_deref();
        let mut candidates = trusted.candidates(kid, header.alg);
        if candidates.is_empty()
            && let Keys::Remote(remote) = &trusted.keys
            && remote.refresh_for_unknown_key().await
        {
            candidates = trusted.candidates(kid, header.alg);
        }
        if candidates.is_empty() {
            return Err(match kid {
                Some(kid) => format!("no key {kid:?} of issuer {iss:?} verifies {:?}", header.alg),
                None => format!("no key of issuer {iss:?} verifies {:?}", header.alg),
            });
        }
        let mut why = String::from("the signature does not verify");
        for key in candidates {
            match self.check(trusted, &key.key, header.alg, token) {
                Ok(verified) => return Ok(verified),
                Err(e) => why = e,
            }
        }
        Err(why)
    }

    fn check(&self, trusted: &Trusted, key: &DecodingKey, alg: Algorithm, token: &str) -> Result<Verified, String> {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[&trusted.issuer]);
        validation.set_audience(&trusted.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| describe(&e))?;
        let claims = data.claims;
        let expires_at = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
        let scopes = match claims.get("scope").or(claims.get("scp")) {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let groups = match claims.get("groups") {
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let token_id = claims.get("jti").and_then(Value::as_str).map(str::to_string);
        let method = Method::Jwt { issuer: trusted.issuer.clone() };
        let principal = Principal { subject, method, scopes, groups, claims, token_id };
        Ok(Verified { principal, expires_at })
    }
}

impl Trusted {
    /// The keys that may verify a token with this `kid` and algorithm.
    fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<Arc<Key>> {
        if !self.algorithms.is_empty() && !self.algorithms.contains(&alg) {
            return Vec::new();
        }
        let held = match &self.keys {
            Keys::Fixed(keys) => keys.clone(),
            Keys::Remote(remote) => remote.keys().as_ref().clone(),
        };
        held.into_iter()
            .filter(|k| k.algorithms.contains(&alg))
            .filter(|k| match (kid, &k.kid) {
                (Some(wanted), Some(held)) => wanted == held,
                _ => true,
            })
            .collect()
    }
}

fn trusted(issuer: &Issuer) -> Trusted {
    let algorithms: Vec<Algorithm> = issuer.algorithms.iter().filter_map(|a| a.parse().ok()).collect();
    let keys = match &issuer.keys {
        KeySource::Jwks(url) => Keys::Remote(RemoteKeys::shared(Source::Jwks(url.clone()))),
        KeySource::Discovery(url) => Keys::Remote(RemoteKeys::shared(Source::Discovery(url.clone()))),
        KeySource::PublicKey { pem, .. } => Keys::Fixed(
            keys::from_pem(pem)
                .map(|key| vec![Arc::new(Key { kid: None, algorithms: keys::family(&key), key })])
                .unwrap_or_default(),
        ),
        KeySource::Secret(secret) => Keys::Fixed(
            DecodingKey::from_secret(secret.expose().as_bytes())
                .map(|key| vec![Arc::new(Key { kid: None, algorithms: keys::family(&key), key })])
                .unwrap_or_default(),
        ),
    };
    Trusted { issuer: issuer.issuer.clone(), audiences: issuer.audiences.clone(), algorithms, keys }
}

/// Why validation refused a token, in words for the challenge.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet".into(),
        K::InvalidAudience => "the token is meant for another audience".into(),
        K::InvalidIssuer => "the token is from another issuer".into(),
        K::InvalidSignature => "the signature does not verify".into(),
        K::InvalidAlgorithm => "the token's algorithm is not allowed".into(),
        K::MissingRequiredClaim(claim) => format!("the token has no `{claim}`"),
        _ => "the token is not valid".into(),
    }
}

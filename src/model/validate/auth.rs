//! Checking `auth` blocks (top level and per virtual server): one method at least, or `none`
//! alone; each issuer with audiences and exactly one source of keys; secrets from `${VAR}`; API
//! key hashes in `sha256:<hex>` form; htpasswd files of bcrypt entries.

use std::net::SocketAddr;
use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawAuth, RawBasic, RawClientKey, RawIssuer, RawJwt};
use crate::model::auth::{ALGORITHMS, ApiKey, Auth, Basic, Issuer, Jwt, KeySource, Methods, Mtls, parse_sha256};

const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

impl Validator<'_> {
    /// The `auth` block at `path` (absent: `Unset`).
    pub(super) fn auth(&mut self, path: &str, raw: Option<&RawAuth>) -> Auth {
        let Some(raw) = raw else { return Auth::Unset };
        let given = raw.jwt.is_some() || raw.api_keys.is_some() || raw.basic.is_some() || raw.mtls.is_some();
        match raw.none {
            Some(true) if given => {
                self.error(
                    &format!("{path}.none"),
                    "`none: true` lets anyone in, so the other methods given would never be asked",
                    "remove `none`, or remove the other methods",
                );
                return Auth::Open;
            }
            Some(true) => return Auth::Open,
            Some(false) if !given => {
                self.error(
                    path,
                    "`none: false` and no method: nobody could authenticate",
                    "give `jwt`, `api_keys`, `basic` or `mtls`",
                );
                return Auth::Unset;
            }
            _ if !given => {
                self.error(
                    path,
                    "an `auth` block names no method",
                    "give `jwt`, `api_keys` or `basic`, or write `none: true` to let anyone in",
                );
                return Auth::Unset;
            }
            _ => {}
        }
        let jwt = raw.jwt.as_ref().map(|j| self.jwt(&format!("{path}.jwt"), j));
        let api_keys =
            raw.api_keys.as_deref().map(|k| self.api_keys(&format!("{path}.api_keys"), k)).unwrap_or_default();
        let basic = raw.basic.as_ref().and_then(|b| self.basic(&format!("{path}.basic"), b));
        let mtls = raw.mtls.as_ref().and_then(|m| {
            let at = format!("{path}.mtls.ca");
            let ca_pem = self.file(&at, &m.ca)?;
            if let Err(why) = self.keys.client_ca(&ca_pem) {
                self.error(&at, why, "give the PEM certificate(s) of the CA that issues client certificates");
                return None;
            }
            Some(Mtls { ca_path: m.ca.clone(), ca_pem })
        });
        Auth::Required(Methods { jwt, api_keys, basic, mtls })
    }

    /// Client certificates are checked by the listener's TLS, once for all virtual servers: it
    /// needs `serving.tls`, and one CA wherever `mtls` is given. `auths` are (path, auth).
    pub(super) fn mtls_fits_listener(&mut self, auths: &[(String, &Auth)], tls: bool) {
        let mut first: Option<&str> = None;
        for (path, auth) in auths {
            let Auth::Required(Methods { mtls: Some(mtls), .. }) = auth else { continue };
            let at = format!("{path}.mtls");
            if !tls {
                self.error(&at, "client certificates need the listener to serve TLS", "configure `serving.tls`");
            }
            match first {
                None => first = Some(&mtls.ca_path),
                Some(ca) if ca != mtls.ca_path => self.error(
                    &format!("{at}.ca"),
                    format!("the listener checks client certificates against one CA, and {ca} is named elsewhere"),
                    &format!("name {ca} here too, or put both CAs' certificates in one file"),
                ),
                Some(_) => {}
            }
        }
    }

    /// Says what an authentication setting means for a listener that is not on loopback.
    pub(super) fn auth_exposure(&mut self, listen: SocketAddr, auth: &Auth, path: &str) {
        if listen.ip().is_loopback() {
            return;
        }
        match auth {
            Auth::Open => self.warning(
                &format!("{path}.none"),
                format!("anyone who reaches {listen} may call every tool, unauthenticated"),
                "configure `jwt`, `api_keys` or `basic`, or listen on loopback (127.0.0.1) behind a proxy that authenticates",
            ),
            Auth::Unset => self.warning(
                "listen",
                format!("{listen} is not a loopback address and no `auth` is configured, so every request will be refused (401)"),
                "configure `auth` (`jwt`, `api_keys` or `basic`), or write `auth: { none: true }` to let anyone in",
            ),
            Auth::Required(_) => {}
        }
    }

    fn jwt(&mut self, path: &str, raw: &RawJwt) -> Jwt {
        let leeway = self.duration(&format!("{path}.leeway"), raw.leeway.as_deref(), DEFAULT_LEEWAY);
        if raw.issuers.is_empty() {
            self.error(&format!("{path}.issuers"), "no issuer is listed", "add the issuer whose tokens are accepted");
        }
        let issuers = raw
            .issuers
            .iter()
            .enumerate()
            .filter_map(|(i, r)| self.issuer(&format!("{path}.issuers[{i}]"), r))
            .collect();
        let mut scopes = Vec::new();
        for (i, scope) in raw.scopes.iter().flatten().enumerate() {
            if scope == "offline_access" {
                // A resource server does not hand out refresh tokens; offering the scope invites
                // clients to ask for long-lived ones (the MCP authorization specification says not to).
                self.warning(
                    &format!("{path}.scopes[{i}]"),
                    "`offline_access` is not offered by a resource server, so it is left out of the metadata",
                    "remove it",
                );
            } else if scope.is_empty() || scope.contains(char::is_whitespace) {
                self.error(
                    &format!("{path}.scopes[{i}]"),
                    format!("{scope:?} is not a scope"),
                    "write one scope per entry, without spaces",
                );
            } else {
                scopes.push(scope.clone());
            }
        }
        Jwt { issuers, leeway, scopes }
    }

    fn issuer(&mut self, path: &str, raw: &RawIssuer) -> Option<Issuer> {
        let issuer = self.expand(&format!("{path}.issuer"), &raw.issuer)?;
        if issuer.is_empty() {
            self.error(&format!("{path}.issuer"), "the issuer is empty", "write the `iss` its tokens carry");
        }
        if raw.audiences.is_empty() {
            self.error(
                &format!("{path}.audiences"),
                "no audience is listed, so a token meant for any other service would be accepted",
                "list this gateway's resource URL (or the client id the identity provider puts in `aud`)",
            );
        }
        let sources =
            [raw.jwks_url.is_some(), raw.discovery == Some(true), raw.public_key.is_some(), raw.secret.is_some()];
        if sources.iter().filter(|s| **s).count() != 1 {
            self.error(
                path,
                "an issuer needs exactly one source of keys",
                "give one of `jwks_url`, `discovery: true`, `public_key` (a PEM file) or `secret` (HS256, from ${VAR})",
            );
            return None;
        }
        let keys = if let Some(url) = &raw.jwks_url {
            KeySource::Jwks(self.fetch_url(&format!("{path}.jwks_url"), url)?)
        } else if raw.discovery == Some(true) {
            KeySource::Discovery(self.fetch_url(&format!("{path}.issuer"), &issuer)?)
        } else if let Some(file) = &raw.public_key {
            KeySource::PublicKey { path: file.clone(), pem: self.file(&format!("{path}.public_key"), file)? }
        } else {
            let at = format!("{path}.secret");
            let secret = self.secret_from_env(&at, raw.secret.as_deref().expect("one source is given"))?;
            if secret.expose().len() < 32 {
                self.error(&at, "an HS256 secret shorter than 32 bytes is guessable", "use at least 32 random bytes");
            }
            KeySource::Secret(secret)
        };
        let mut algorithms = Vec::new();
        for (i, name) in raw.algorithms.iter().flatten().enumerate() {
            match ALGORITHMS.iter().find(|a| a.eq_ignore_ascii_case(name)) {
                Some(known) => algorithms.push(known.to_string()),
                None => self.error(
                    &format!("{path}.algorithms[{i}]"),
                    format!("\"{name}\" is not a signature algorithm tokens may use"),
                    &format!("one of {}", ALGORITHMS.join(", ")),
                ),
            }
        }
        let family: Option<Vec<&str>> = match &keys {
            KeySource::Secret(_) => Some(vec!["HS256", "HS384", "HS512"]),
            KeySource::PublicKey { pem, .. } => match self.keys.public_key(pem) {
                Ok(family) => Some(family),
                Err(why) => {
                    self.error(&format!("{path}.public_key"), why, "give a PEM public key (RSA, EC or Ed25519)");
                    None
                }
            },
            KeySource::Jwks(_) | KeySource::Discovery(_) => None,
        };
        if let Some(family) = family
            && let Some(odd) = algorithms.iter().find(|a| !family.contains(&a.as_str()))
        {
            self.error(
                &format!("{path}.algorithms"),
                format!("{odd} does not go with this issuer's key"),
                &format!("this key signs with {}", family.join(", ")),
            );
        }
        Some(Issuer { issuer, audiences: raw.audiences.clone(), keys, algorithms })
    }

    /// A URL of an authorization server (keys, discovery, a token endpoint): https, or http on
    /// loopback (a local identity provider).
    pub(super) fn fetch_url(&mut self, path: &str, text: &str) -> Option<url::Url> {
        let expanded = self.expand(path, text)?;
        let Ok(url) = url::Url::parse(&expanded) else {
            self.error(path, format!("\"{expanded}\" is not a URL"), "write e.g. https://login.example.com");
            return None;
        };
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => Some(url),
            "http" if loopback => Some(url),
            "http" => {
                self.error(
                    path,
                    format!("plain http to {} can be read and altered on the way", url.host_str().unwrap_or("")),
                    "use https (plain http is accepted on loopback only)",
                );
                None
            }
            other => {
                self.error(path, format!("\"{other}\" is not a scheme the gateway fetches over"), "use https");
                None
            }
        }
    }

    fn api_keys(&mut self, path: &str, raw: &[RawClientKey]) -> Vec<ApiKey> {
        let mut keys: Vec<ApiKey> = Vec::new();
        for (i, key) in raw.iter().enumerate() {
            let at = format!("{path}[{i}]");
            if key.subject.trim().is_empty() {
                self.error(&format!("{at}.subject"), "the subject is empty", "name who holds the key");
            }
            // A hash may come from the environment (`${MCPGW_API_KEY_HASH}` in a container image).
            let Some(hash) = self.expand(&format!("{at}.hash"), &key.hash) else { continue };
            let Some(sha256) = parse_sha256(&hash) else {
                self.error(
                    &format!("{at}.hash"),
                    "not a key hash (`sha256:` and 64 hex digits)",
                    "store the key's hash, never the key: `mcpgw auth hash-key` prints the line to paste",
                );
                continue;
            };
            if keys.iter().any(|k| k.sha256 == sha256) {
                self.error(&format!("{at}.hash"), "this key is listed twice", "give each holder a key of their own");
                continue;
            }
            let attributes = key.attributes.clone().unwrap_or_default();
            keys.push(ApiKey { sha256, subject: key.subject.clone(), attributes });
        }
        keys
    }

    fn basic(&mut self, path: &str, raw: &RawBasic) -> Option<Basic> {
        let at = format!("{path}.htpasswd");
        let text = self.file(&at, &raw.htpasswd)?;
        let mut users = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((user, hash)) if ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) => {
                    users.push((user.to_string(), hash.to_string()))
                }
                _ => self.error(
                    &at,
                    format!("line {} of {} is not a bcrypt entry", n + 1, raw.htpasswd),
                    "write entries with `htpasswd -B` (bcrypt); other schemes are refused",
                ),
            }
        }
        if users.is_empty() {
            self.warning(
                &at,
                format!("{} has no users, so nobody can log in with it", raw.htpasswd),
                "add users with `htpasswd -B`",
            );
        }
        Some(Basic { path: raw.htpasswd.clone(), users })
    }

    /// The listener's certificate and key: both readable, and a working pair.
    pub(super) fn tls(&mut self, raw: &crate::config::raw::RawTls) -> Option<crate::model::Tls> {
        let cert = self.file("serving.tls.cert", &raw.cert);
        let key = self.file("serving.tls.key", &raw.key);
        let (cert_pem, key_pem) = (cert?, key?);
        if let Err(why) = self.keys.tls(&cert_pem, &key_pem) {
            self.error(
                "serving.tls",
                why,
                "give a PEM certificate chain (leaf first) and the PEM private key that goes with it",
            );
            return None;
        }
        Some(crate::model::Tls {
            cert_path: raw.cert.clone(),
            cert_pem,
            key: crate::model::Secret::new(key_pem, raw.key.clone()),
        })
    }

    /// The text of a file the config names (read by `reload::prepare`), or the reported reason.
    fn file(&mut self, path: &str, name: &str) -> Option<String> {
        match self.files.get(name) {
            Some(Ok(text)) => Some(text.clone()),
            Some(Err(why)) => {
                self.error(path, format!("cannot read {name}: {why}"), "give a path relative to this file");
                None
            }
            None => {
                self.error(path, format!("{name} was not read"), "give a path relative to this file");
                None
            }
        }
    }
}

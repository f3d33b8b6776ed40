//! Verification keys: a PEM public key or an HS256 secret from the file, or a remote JSON Web Key
//! Set (at a URL, or named by OpenID Connect discovery) fetched with timeouts, refreshed every
//! 10 minutes, and fetched again when a token names a key it does not hold, at most once every
//! 30 seconds (an identity provider that rotated its keys is followed without a restart, and a
//! stream of made-up key ids costs two fetches a minute). Remote sets are shared across reloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

/// How often a remote key set is fetched again.
const REFRESH: Duration = Duration::from_secs(600);
/// The least time between fetches set off by unknown key ids (scheduled fetches do not count, so
/// a rotation right after start is followed at once).
const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest key set or discovery document read.
const MAX_DOCUMENT: usize = 1 << 20;

/// One verification key and the algorithms it may verify.
pub(super) struct Key {
    pub(super) kid: Option<String>,
    pub(super) key: DecodingKey,
    pub(super) algorithms: Vec<Algorithm>,
}

/// The algorithms a key of this kind verifies.
pub(super) fn family(key: &DecodingKey) -> Vec<Algorithm> {
    key.family().algorithms().to_vec()
}

/// A PEM public key of any supported kind.
pub(super) fn from_pem(pem: &str) -> Result<DecodingKey, String> {
    let bytes = pem.as_bytes();
    DecodingKey::from_rsa_pem(bytes)
        .or_else(|_| DecodingKey::from_ec_pem(bytes))
        .or_else(|_| DecodingKey::from_ed_pem(bytes))
        .map_err(|_| "not a PEM public key (RSA, EC or Ed25519)".to_string())
}

/// A key set fetched from an identity provider.
pub(super) struct RemoteKeys {
    /// Where the set is, or the issuer whose discovery document names it.
    source: Source,
    keys: ArcSwap<Vec<Arc<Key>>>,
    client: reqwest::Client,
    /// When the last fetch set off by an unknown key id started (`None`: never).
    refetched: Mutex<Option<Instant>>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(super) enum Source {
    Jwks(url::Url),
    Discovery(url::Url),
}

impl RemoteKeys {
    /// The shared set for `source`: the one already held (by an earlier generation), or a new one
    /// that starts fetching at once and refreshes while anything holds it.
    pub(super) fn shared(source: Source) -> Arc<RemoteKeys> {
        static SETS: OnceLock<Mutex<HashMap<Source, Weak<RemoteKeys>>>> = OnceLock::new();
        let mut sets = SETS.get_or_init(Mutex::default).lock().unwrap();
        if let Some(held) = sets.get(&source).and_then(Weak::upgrade) {
            return held;
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("an HTTP client with timeouts builds");
        let keys = Arc::new(RemoteKeys {
            source: source.clone(),
            keys: ArcSwap::from_pointee(Vec::new()),
            client,
            refetched: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        });
        sets.retain(|_, held| held.strong_count() > 0);
        sets.insert(source, Arc::downgrade(&keys));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(refresh_while_held(Arc::downgrade(&keys)));
        }
        keys
    }

    pub(super) fn keys(&self) -> Arc<Vec<Arc<Key>>> {
        self.keys.load_full()
    }

    /// Fetches the set again because a token named a key not held, unless such a fetch started
    /// less than `UNKNOWN_KID_INTERVAL` ago. Returns whether the keys may have changed.
    pub(super) async fn refresh_for_unknown_key(&self) -> bool {
        // A fetch under way (the first, just after start) is waited for rather than refused on.
        if self.fetching.try_lock().is_err() {
            drop(self.fetching.lock().await);
            return true;
        }
        {
            let mut refetched = self.refetched.lock().unwrap();
            if refetched.is_some_and(|at| at.elapsed() < UNKNOWN_KID_INTERVAL) {
                return false;
            }
            *refetched = Some(Instant::now());
        }
        self.refresh().await;
        true
    }

    /// Fetches the set now (one fetch at a time; a failure keeps the keys held).
    async fn refresh(&self) {
        let _one = self.fetching.lock().await;
        match self.fetch().await {
            Ok(keys) => {
                tracing::debug!(source = ?self.source, keys = keys.len(), "fetched a key set");
                self.keys.store(Arc::new(keys));
            }
            Err(e) => {
                tracing::warn!(source = ?self.source, error = %e, "fetching a key set failed; keeping the keys held")
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<Arc<Key>>, String> {
        let jwks_url = match &self.source {
            Source::Jwks(url) => url.clone(),
            Source::Discovery(issuer) => {
                let mut well_known = issuer.clone();
                let path = format!("{}/.well-known/openid-configuration", issuer.path().trim_end_matches('/'));
                well_known.set_path(&path);
                let document: serde_json::Value = self.get_json(&well_known).await?;
                let named = document["jwks_uri"].as_str().ok_or("the discovery document names no jwks_uri")?;
                let url = url::Url::parse(named).map_err(|e| format!("jwks_uri {named:?}: {e}"))?;
                // Keys are taken only from the issuer's own host.
                if url.host() != issuer.host() || (url.scheme() != "https" && url.scheme() != issuer.scheme()) {
                    return Err(format!("jwks_uri {named} is not on the issuer's host"));
                }
                url
            }
        };
        let set: JwkSet =
            serde_json::from_value(self.get_json(&jwks_url).await?).map_err(|e| format!("{jwks_url}: {e}"))?;
        Ok(set.keys.iter().filter_map(|jwk| jwk_key(jwk).map(Arc::new)).collect())
    }

    async fn get_json(&self, url: &url::Url) -> Result<serde_json::Value, String> {
        let response = self.client.get(url.clone()).send().await.map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if body.len() > MAX_DOCUMENT {
            return Err(format!("{url}: larger than {MAX_DOCUMENT} bytes"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
    }
}

/// A public key of a key set; symmetric (`oct`) keys have no place in one and are skipped.
fn jwk_key(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Key> {
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    let algorithms = match jwk.common.key_algorithm.and_then(algorithm_of) {
        Some(one) => vec![one],
        None => family(&key),
    };
    Some(Key { kid: jwk.common.key_id.clone(), key, algorithms })
}

fn algorithm_of(a: KeyAlgorithm) -> Option<Algorithm> {
    Some(match a {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Fetches at once, then every `REFRESH`, while anything holds the set.
async fn refresh_while_held(keys: Weak<RemoteKeys>) {
    loop {
        let Some(held) = keys.upgrade() else { return };
        held.refresh().await;
        drop(held);
        tokio::time::sleep(REFRESH).await;
    }
}

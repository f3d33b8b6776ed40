//! The listener's TLS identity: a rustls server configuration from the certificate chain and key
//! the file names, offering HTTP/2 and HTTP/1.1 by ALPN. Built with each generation, so a
//! renewed certificate (its files change, which reloads) serves the next connection.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::model::Tls;

/// The server configuration for a certificate chain and key, asking clients for a certificate
/// under `client_ca` (optional for the client: virtual servers without `mtls` take other
/// credentials), or why the files do not make one.
pub(crate) fn server_config(
    cert_pem: &str,
    key_pem: &str,
    client_ca: Option<&str>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate file is not PEM certificates: {e}"))?;
    if chain.is_empty() {
        return Err("the certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("the key file holds no private key in PEM: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca, provider)?),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A verifier of client certificates under the CA certificates in `ca_pem`; clients without one
/// are let through to the other methods.
fn client_verifier(
    ca_pem: &str,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("the CA file is not PEM certificates: {e}"))?;
        roots.add(cert).map_err(|e| format!("a CA certificate cannot anchor trust: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the CA file holds no certificate".into());
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| e.to_string())
}

/// Whether `ca_pem` can verify client certificates.
pub(crate) fn check_client_ca(ca_pem: &str) -> Result<(), String> {
    client_verifier(ca_pem, Arc::new(rustls::crypto::aws_lc_rs::default_provider())).map(|_| ())
}

/// The identity a verified client certificate gives (DER of the leaf): its first URI name,
/// else its first DNS name, else its common name; every name as claims (`uri`, `dns`, `cn`).
pub(crate) fn certificate_identity(der: &[u8]) -> Option<(String, serde_json::Map<String, serde_json::Value>)> {
    let der = CertificateDer::from(der);
    let cert = webpki::EndEntityCert::try_from(&der).ok()?;
    let uris: Vec<String> = cert.valid_uri_names().map(str::to_string).collect();
    let dns: Vec<String> = cert.valid_dns_names().map(str::to_string).collect();
    let cn = common_name(cert.subject());
    let subject = uris.first().or(dns.first()).or(cn.as_ref())?.clone();
    let mut claims = serde_json::Map::new();
    claims.insert("uri".into(), serde_json::json!(uris));
    claims.insert("dns".into(), serde_json::json!(dns));
    if let Some(cn) = cn {
        claims.insert("cn".into(), serde_json::Value::String(cn));
    }
    Some((subject, claims))
}

/// The common name (OID 2.5.4.3) in a DER `Name`'s contents (a sequence of sets of
/// attribute-value sequences), when it is a string.
fn common_name(name: &[u8]) -> Option<String> {
    const CN: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];
    let at = name.windows(CN.len()).position(|w| w == CN)? + CN.len();
    let (tag, rest) = (*name.get(at)?, name.get(at + 1..)?);
    // UTF8String, PrintableString, IA5String, T61String; short-form lengths only (a name is short).
    if !matches!(tag, 0x0c | 0x13 | 0x16 | 0x14) || rest.first()? & 0x80 != 0 {
        return None;
    }
    let len = *rest.first()? as usize;
    String::from_utf8(rest.get(1..1 + len)?.to_vec()).ok()
}

/// The acceptor for the listener, when the file asks for TLS (validation checked the files).
pub(crate) fn acceptor(tls: Option<&Tls>, client_ca: Option<&str>) -> Option<tokio_rustls::TlsAcceptor> {
    let tls = tls?;
    match server_config(&tls.cert_pem, tls.key.expose(), client_ca) {
        Ok(config) => Some(tokio_rustls::TlsAcceptor::from(config)),
        Err(why) => {
            tracing::error!(cert = %tls.cert_path, %why, "cannot serve TLS");
            None
        }
    }
}

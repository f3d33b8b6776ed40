//! The listener's TLS identity: a rustls server configuration from the certificate chain and key
//! the file names, offering HTTP/2 and HTTP/1.1 by ALPN. Built with each generation, so a
//! renewed certificate (its files change, which reloads) serves the next connection.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::model::Tls;

/// The server configuration for `tls`, or why the files do not make one.
pub(crate) fn server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate file is not PEM certificates: {e}"))?;
    if chain.is_empty() {
        return Err("the certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("the key file holds no private key in PEM: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The acceptor for the listener, when the file asks for TLS (validation checked the pair).
pub(crate) fn acceptor(tls: Option<&Tls>) -> Option<tokio_rustls::TlsAcceptor> {
    let tls = tls?;
    match server_config(&tls.cert_pem, tls.key.expose()) {
        Ok(config) => Some(tokio_rustls::TlsAcceptor::from(config)),
        Err(why) => {
            tracing::error!(cert = %tls.cert_path, %why, "cannot serve TLS");
            None
        }
    }
}

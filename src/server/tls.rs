//! TLS for the wire protocol: the certificate chain and key from `[server] tls_cert` /
//! `tls_key`, served with rustls (ring). A certificate that fails to load stops the server
//! from starting: it never falls back to plain text.

use std::path::Path;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls::ServerConfig;
use pgwire::tokio::tokio_rustls::rustls::crypto::ring::default_provider;
use pgwire::tokio::tokio_rustls::rustls::pki_types::pem::PemObject;
use pgwire::tokio::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Result, SegmintError};

/// Builds the acceptor for the PEM certificate chain at `cert` and private key at `key`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let invalid = |what: &Path, message: String| {
        SegmintError::ConfigInvalid(format!("TLS {}: {message}", what.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| invalid(cert, format!("cannot read certificates: {e}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(cert, format!("bad certificate: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(cert, "no certificate found".to_string()));
    }
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| invalid(key, format!("cannot read the private key: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| invalid(cert, format!("certificate and key do not go together: {e}")))?;
    // Lets PostgreSQL 17 clients start TLS directly (sslnegotiation=direct).
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

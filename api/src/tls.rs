//! TLS for the REST API: the server configuration from a PEM certificate
//! chain and a PEM private key (`--api-tls-cert`, `--api-tls-key`). rustls
//! with its `ring` provider, chosen explicitly (the engine's TLS to the
//! master uses the same, and no process-wide default is installed); TLS 1.2
//! and 1.3; no client certificates. The handshake runs in the connection's
//! own task on the API's runtime (`http_server`, tokio-rustls), bounded by
//! the header deadline, so a client that never finishes it holds nobody
//! else up.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the API's TLS configuration cannot be used: which file, what is
/// wrong. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("--api-tls-cert {path}: {reason}")]
    Cert { path: String, reason: String },
    #[error("--api-tls-key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("--api-tls-cert and --api-tls-key do not go together: {0}")]
    Mismatch(String),
}

/// Read the certificate chain (leaf first) and the private key (PKCS#8,
/// PKCS#1 or SEC1) and build the server configuration.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_err = |reason: String| TlsError::Cert {
        path: cert.display().to_string(),
        reason,
    };
    let key_err = |reason: String| TlsError::Key {
        path: key.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no certificate in the file".into()));
    }
    // The error of a bad key file names the file, never its content.
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| key_err(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .unwrap();
        p
    }

    #[test]
    fn reads_a_certificate_and_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = file(dir.path(), "cert.pem", &c.cert.pem());
        let key = file(dir.path(), "key.pem", &c.signing_key.serialize_pem());
        let config = server_config(&cert, &key).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn says_which_file_is_wrong_and_never_shows_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = file(dir.path(), "cert.pem", &c.cert.pem());
        let key = file(dir.path(), "key.pem", &c.signing_key.serialize_pem());
        let other_key = file(dir.path(), "other.pem", &other.signing_key.serialize_pem());
        let missing = dir.path().join("missing.pem");
        let empty = file(dir.path(), "empty.pem", "");

        let e = server_config(&missing, &key).unwrap_err();
        assert!(matches!(e, TlsError::Cert { .. }), "{e}");
        assert!(e.to_string().contains("missing.pem"), "{e}");
        let e = server_config(&empty, &key).unwrap_err();
        assert!(e.to_string().contains("no certificate"), "{e}");
        let e = server_config(&cert, &cert).unwrap_err();
        assert!(matches!(e, TlsError::Key { .. }), "{e}");
        let e = server_config(&cert, &other_key).unwrap_err();
        assert!(matches!(e, TlsError::Mismatch(_)), "{e}");
        let secret = other.signing_key.serialize_pem();
        let body = secret.lines().nth(1).unwrap();
        for e in [
            server_config(&cert, &other_key).unwrap_err(),
            server_config(&cert, &cert).unwrap_err(),
        ] {
            assert!(!e.to_string().contains(body), "key material in {e}");
        }
    }
}

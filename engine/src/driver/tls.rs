//! TLS to an `https://` master: the rustls client configuration, built once
//! from [`DriverOptions`] when the driver is made, and the errors a TLS
//! connection reports.
//!
//! The connection itself is driven by [`Socket`](super::socket::Socket):
//! a [`ClientConnection`] over the same non-blocking mio `TcpStream`, its
//! handshake moved on by readiness like any other bytes, and the same HTTP
//! and RecordIO path over the plaintext.
//!
//! Trust: the CA certificates of [`DriverOptions::tls_ca_file`] if given,
//! else Mozilla's roots (`webpki-roots`). Crypto: rustls's `ring` provider,
//! TLS 1.2 and 1.3, chosen explicitly (no process-wide default provider is
//! installed or needed).

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::DriverOptions;

/// The TLS client side of the driver: one configuration (and so one
/// session-resumption cache) shared by the subscription and the call
/// connection.
#[derive(Debug)]
pub(super) struct TlsSetup {
    config: Arc<ClientConfig>,
    /// [`DriverOptions::tls_server_name`], parsed.
    server_name: Option<ServerName<'static>>,
    /// What is trusted, for error messages.
    trust: Arc<str>,
    insecure: bool,
}

impl TlsSetup {
    /// The configuration `opts` asks for. Fails on a CA file that cannot be
    /// read or holds no certificate, and on a bad server name override.
    pub(super) fn new(opts: &DriverOptions) -> io::Result<TlsSetup> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| io::Error::other(format!("TLS configuration: {e}")))?;
        let (builder, trust) = if opts.tls_insecure_skip_verify {
            tracing::warn!(
                target: "tritium::driver",
                "TLS CERTIFICATE VERIFICATION IS DISABLED (tls_insecure_skip_verify): \
                 anyone on the path to an https:// master can impersonate it and read the \
                 framework's calls; use it for testing only"
            );
            let verifier = Arc::new(NoVerification(provider));
            (
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(verifier),
                Arc::from("no verification (tls_insecure_skip_verify)"),
            )
        } else {
            let (roots, trust) = match &opts.tls_ca_file {
                Some(path) => (
                    roots_from_file(path)?,
                    format!("trusting the CA file {}", path.display()),
                ),
                None => (
                    RootCertStore {
                        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                    },
                    "trusting the built-in webpki roots; is tls_ca_file set?".to_owned(),
                ),
            };
            (builder.with_root_certificates(roots), Arc::from(trust))
        };
        let mut config = builder.with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = match &opts.tls_server_name {
            Some(name) => Some(ServerName::try_from(name.clone()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("TLS server name {name:?}: {e}"),
                )
            })?),
            None => None,
        };
        Ok(TlsSetup {
            config: Arc::new(config),
            server_name,
            trust,
            insecure: opts.tls_insecure_skip_verify,
        })
    }

    /// A client connection to `host` (the master URL's host: a DNS name or
    /// an IP address; the override wins if set). Nothing is sent yet.
    pub(super) fn connection(&self, host: &str) -> io::Result<ClientConnection> {
        if self.insecure {
            tracing::warn!(target: "tritium::driver", host, "TLS connection WITHOUT certificate verification");
        }
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(host.to_owned())
                .map_err(|e| TlsError::io(TlsFailure::ServerName(format!("{host:?}: {e}"))))?,
        };
        ClientConnection::new(self.config.clone(), name)
            .map_err(|e| TlsError::io(TlsFailure::Setup(e.to_string())))
    }

    pub(super) fn trust(&self) -> &Arc<str> {
        &self.trust
    }
}

/// Every certificate of a PEM bundle, as trust anchors.
fn roots_from_file(path: &Path) -> io::Result<RootCertStore> {
    let bad = |what: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TLS CA file {}: {what}", path.display()),
        )
    };
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?;
    for (i, cert) in certs.enumerate() {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("certificate {}: {e}", i + 1)))?;
    }
    if roots.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(roots)
}

/// What went wrong on a TLS connection.
#[derive(Debug)]
pub(super) enum TlsFailure {
    /// The master's host is not a valid TLS server name.
    ServerName(String),
    /// rustls refused to start a connection.
    Setup(String),
    /// The handshake failed (a certificate not trusted, no common
    /// protocol, a peer that does not speak TLS).
    Handshake(rustls::Error),
    /// The master closed the connection before the handshake finished.
    HandshakeEof,
    /// A TLS error after the handshake (a corrupt record, an alert).
    Session(rustls::Error),
}

/// A TLS failure carried inside an [`io::Error`] (kind `InvalidData`), so
/// that the socket keeps one error type; [`describe`] tells it apart.
#[derive(Debug)]
pub(super) struct TlsError {
    failure: TlsFailure,
    /// What the client trusts, shown with certificate errors.
    trust: Option<Arc<str>>,
}

impl TlsError {
    pub(super) fn io(failure: TlsFailure) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            TlsError {
                failure,
                trust: None,
            },
        )
    }

    pub(super) fn io_with_trust(failure: TlsFailure, trust: &Arc<str>) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            TlsError {
                failure,
                trust: Some(trust.clone()),
            },
        )
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            TlsFailure::ServerName(e) => write!(f, "not a valid TLS server name: {e}"),
            TlsFailure::Setup(e) => write!(f, "cannot start a TLS connection: {e}"),
            TlsFailure::Handshake(e) => {
                write!(f, "handshake failed: {e}")?;
                if let (rustls::Error::InvalidCertificate(_), Some(trust)) = (e, &self.trust) {
                    write!(f, " ({trust})")?;
                }
                Ok(())
            }
            TlsFailure::HandshakeEof => write!(
                f,
                "handshake failed: the master closed the connection (is it serving TLS?)"
            ),
            TlsFailure::Session(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The reason given to the core for a failed `what` ("connect to", "read
/// from", "write to") on the connection to `authority`: TLS failures start
/// with `TLS: ` and say which master, e.g. `TLS: 10.0.0.1:5050: handshake
/// failed: invalid peer certificate: UnknownIssuer (...)`.
pub(super) fn describe(what: &str, authority: &str, e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
    {
        Some(tls) => format!("TLS: master {authority}: {tls}"),
        None => format!("{what} {authority}: {e}"),
    }
}

/// The verifier of `tls_insecure_skip_verify`: any certificate for any name
/// is accepted. Handshake signatures are still checked (against the
/// certificate presented), which proves nothing about who the peer is.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_setup_trusts_webpki_roots_and_takes_ip_names() {
        let setup = TlsSetup::new(&DriverOptions::default()).expect("default TLS setup");
        assert!(setup.trust().contains("webpki"));
        assert!(setup.connection("127.0.0.1").is_ok());
        assert!(setup.connection("::1").is_ok());
        assert!(setup.connection("master.example").is_ok());
        let e = setup.connection("bad name!").unwrap_err();
        assert!(describe("connect to", "x:1", &e).starts_with("TLS: master x:1: "));
    }

    #[test]
    fn bad_ca_files_and_server_names_are_refused_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let opts = DriverOptions {
            tls_ca_file: Some(missing),
            ..DriverOptions::default()
        };
        let e = TlsSetup::new(&opts).unwrap_err();
        assert!(e.to_string().contains("TLS CA file"), "{e}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let opts = DriverOptions {
            tls_ca_file: Some(empty),
            ..DriverOptions::default()
        };
        let e = TlsSetup::new(&opts).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");

        let opts = DriverOptions {
            tls_server_name: Some("not a name!".into()),
            ..DriverOptions::default()
        };
        assert!(TlsSetup::new(&opts).is_err());
    }

    #[test]
    fn plain_io_errors_are_described_as_before() {
        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            describe("connect to", "h:1", &e),
            format!("connect to h:1: {e}")
        );
    }
}

//! The mio driver over TLS: a CA and a server certificate made at test time
//! (rcgen), a small TLS-terminating proxy (rustls over std sockets) in front
//! of an in-process tritium-sim, and the real core subscribing through it
//! to an `https://` master.
//!
//! Checked: with the CA file the framework subscribes and launches an app
//! (subscription and call connection both over TLS); without it every
//! connection fails on the certificate, the core keeps retrying, nothing
//! subscribes, and the driver still answers and stops cleanly; the server
//! name override and the insecure mode. Everything listens on 127.0.0.1;
//! every wait is bounded and every thread stops by itself.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};
use serde_json::Value;
use tritium_engine::core::{CommandKind, Reply};
use tritium_engine::driver::{Driver, DriverOptions, MemStore};
use tritium_sim::{SimConfig, SimServer};

/// Longest a proxied connection may live.
const CONN_LIFETIME: Duration = Duration::from_secs(60);

// ------------------------------------------------------------ certificates

/// A CA and a server certificate it signed, for "localhost" and 127.0.0.1.
struct Pki {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl Pki {
    fn generate() -> Pki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "tritium test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().expect("server key");
        let mut server =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "tritium test master");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .expect("sign the server certificate");
        Pki {
            ca_pem: ca_cert.pem(),
            server_cert: server_cert.der().clone(),
            server_key: server_key.serialize_der(),
        }
    }

    fn server_config(&self) -> Arc<ServerConfig> {
        self.server_config_for(rustls::DEFAULT_VERSIONS)
    }

    /// A server speaking only these protocol versions.
    fn server_config_for(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.server_cert.clone()], key)
            .expect("server certificate and key");
        Arc::new(config)
    }

    /// The CA certificate in a PEM file.
    fn ca_file(&self) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("a temp file");
        f.write_all(self.ca_pem.as_bytes()).expect("write the CA");
        f.flush().expect("flush the CA file");
        f
    }
}

// ------------------------------------------------------------ the proxy

/// What the proxy saw.
#[derive(Debug, Default)]
struct ProxyLog {
    accepted: AtomicUsize,
    handshakes: AtomicUsize,
    /// TLS errors of the server side (e.g. the alert a client that rejects
    /// the certificate sends).
    errors: Mutex<Vec<String>>,
}

/// A TLS-terminating proxy on 127.0.0.1 in front of a plain-HTTP upstream:
/// one thread accepting, one per connection shuttling bytes both ways.
struct TlsProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<ProxyLog>,
    thread: Option<JoinHandle<()>>,
}

impl TlsProxy {
    fn start(upstream: SocketAddr, config: Arc<ServerConfig>) -> TlsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("proxy address");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(ProxyLog::default());
        let (s, l) = (stop.clone(), log.clone());
        let thread = thread::Builder::new()
            .name("tls-proxy".into())
            .spawn(move || accept_loop(&listener, upstream, &config, &s, &l))
            .expect("spawn the proxy");
        TlsProxy {
            addr,
            stop,
            log,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn handshakes(&self) -> usize {
        self.log.handshakes.load(Ordering::SeqCst)
    }

    fn errors(&self) -> Vec<String> {
        self.log.errors.lock().unwrap().clone()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    config: &Arc<ServerConfig>,
    stop: &Arc<AtomicBool>,
    log: &Arc<ProxyLog>,
) {
    let mut conns = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                log.accepted.fetch_add(1, Ordering::SeqCst);
                let (config, stop, log) = (config.clone(), stop.clone(), log.clone());
                conns.push(thread::spawn(move || {
                    proxy_conn(client, upstream, config, &stop, &log);
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => break,
        }
        conns.retain(|c: &JoinHandle<()>| !c.is_finished());
    }
    for c in conns {
        let _ = c.join();
    }
}

/// Write all of `data` to a non-blocking socket, within the deadline.
fn write_all_nb(sock: &mut TcpStream, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    while !data.is_empty() {
        match sock.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One client connection: TLS on the client side, plain TCP upstream. Ends
/// when either side closes, on a TLS error, on stop or after
/// [`CONN_LIFETIME`].
fn proxy_conn(
    mut client: TcpStream,
    upstream: SocketAddr,
    config: Arc<ServerConfig>,
    stop: &AtomicBool,
    log: &ProxyLog,
) {
    let deadline = Instant::now() + CONN_LIFETIME;
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    if client.set_nonblocking(true).is_err() || up.set_nonblocking(true).is_err() {
        return;
    }
    let mut tls = ServerConnection::new(config).expect("a server connection");
    tls.set_buffer_limit(None);
    let mut handshaken = false;
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let mut progress = false;
        // Client → upstream.
        match tls.read_tls(&mut client) {
            Ok(0) => return,
            Ok(_) => {
                progress = true;
                if let Err(e) = tls.process_new_packets() {
                    log.errors.lock().unwrap().push(e.to_string());
                    let _ = tls.write_tls(&mut client);
                    return;
                }
                if !handshaken && !tls.is_handshaking() {
                    handshaken = true;
                    log.handshakes.fetch_add(1, Ordering::SeqCst);
                }
                loop {
                    match tls.reader().read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            if write_all_nb(&mut up, &buf[..n], deadline).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => return,
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
        // Upstream → client.
        if handshaken {
            match up.read(&mut buf) {
                Ok(0) => {
                    tls.send_close_notify();
                    while tls.wants_write() && tls.write_tls(&mut client).is_ok() {}
                    return;
                }
                Ok(n) => {
                    progress = true;
                    if tls.writer().write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        while tls.wants_write() {
            match tls.write_tls(&mut client) {
                Ok(_) => progress = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return,
            }
        }
        if !progress {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

// ------------------------------------------------------------ the engine

/// Enough agents that an OFFERS event spans several TLS records (16 KiB of
/// plaintext each at most).
fn sim_config() -> SimConfig {
    small_sim(120)
}

// ------------------------------------------------------------ sim state

fn running_tasks(state: &Value) -> usize {
    state["tasks"].as_array().map_or(0, |ts| {
        ts.iter().filter(|t| t["state"] == "TASK_RUNNING").count()
    })
}

fn start_sim() -> SimServer {
    SimServer::start(sim_config(), SocketAddr::from(([127, 0, 0, 1], 0))).expect("start the sim")
}

/// Wait until the engine has failed and retried a few times.
fn wait_failed_attempts(engine: &Engine) -> Reply {
    wait_for("a few failed attempts", || {
        let s = engine.request(CommandKind::Status);
        (s.body()["stats"]["reconnects"].as_u64() >= Some(3)).then_some(s)
    })
}

// ------------------------------------------------------------ tests

#[test]
fn subscribes_and_launches_over_tls_with_the_ca_file() {
    let pki = Pki::generate();
    let ca = pki.ca_file();
    let sim = start_sim();
    let proxy = TlsProxy::start(sim.addr(), pki.server_config());
    let engine = Engine::start(
        core_config(&[proxy.url()]),
        DriverOptions {
            tls_ca_file: Some(ca.path().to_owned()),
            ..DriverOptions::default()
        },
        MemStore::new(),
    );

    let reply = engine.request(CommandKind::PutApp(Box::new(web(3))));
    assert_eq!(reply.outcome(), Ok(()), "PutApp answered {reply:?}");
    wait_for("3 running tasks", || {
        let state = sim.state();
        (frameworks(&state).len() == 1 && running_tasks(&state) == 3).then_some(())
    });
    assert_no_violations(&sim);
    let status = engine.request(CommandKind::Status);
    assert_eq!(status.body()["subscription"], "subscribed");
    assert_eq!(
        status.body()["master"],
        format!("{}/api/v1/scheduler", proxy.url())
    );

    let ended = engine.stop();
    // SUBSCRIBE and the calls (ACCEPTs, ACKs) each went over TLS.
    assert!(
        ended.stats.tls_handshakes >= 2,
        "handshakes: {}",
        ended.stats.tls_handshakes
    );
    assert_eq!(
        ended.stats.tls_failures, 0,
        "{:?}",
        ended.stats.last_tls_error
    );
    assert!(ended.stats.calls_sent > 0 && ended.stats.call_responses > 0);
    // OFFERS of 120 agents: records larger than one TLS record.
    assert!(
        ended.stats.largest_record > 16 * 1024,
        "largest record: {}",
        ended.stats.largest_record
    );
    assert!(
        proxy.handshakes() >= 2,
        "proxy handshakes: {}",
        proxy.handshakes()
    );
    assert!(
        proxy.errors().is_empty(),
        "proxy errors: {:?}",
        proxy.errors()
    );
    // Stopping is not a teardown.
    assert_eq!(frameworks(&sim.state()).len(), 1);
}

#[test]
fn without_the_ca_the_certificate_is_refused_and_retried() {
    let pki = Pki::generate();
    let sim = start_sim();
    let proxy = TlsProxy::start(sim.addr(), pki.server_config());
    // Trusting only the built-in roots, which did not sign the test CA.
    let engine = Engine::start(
        core_config(&[proxy.url()]),
        DriverOptions::default(),
        MemStore::new(),
    );

    let status = wait_failed_attempts(&engine);
    assert_ne!(status.body()["subscription"], "subscribed");
    // The driver is alive: commands are answered while the master is
    // unreachable.
    assert_eq!(
        engine
            .request(CommandKind::PutApp(Box::new(web(1))))
            .outcome(),
        Ok(())
    );
    // The client refused the certificate with an alert.
    let errors = wait_for("the proxy to see the client's alert", || {
        let e = proxy.errors();
        (!e.is_empty()).then_some(e)
    });
    assert!(
        errors.iter().all(|e| e.contains("alert")),
        "proxy errors: {errors:?}"
    );

    let ended = engine.stop();
    assert!(ended.stats.tls_failures >= 3, "{:?}", ended.stats);
    assert_eq!(ended.stats.tls_handshakes, 0);
    let reason = ended.stats.last_tls_error.expect("a TLS failure reason");
    assert!(
        reason.starts_with(&format!("TLS: master {}: handshake failed: ", proxy.addr)),
        "{reason}"
    );
    assert!(reason.contains("certificate"), "{reason}");
    assert!(reason.contains("UnknownIssuer"), "{reason}");

    // Nothing ever reached the master.
    let state = sim.state();
    assert_eq!(subscriptions(&state), 0);
    assert!(frameworks(&state).is_empty());
    assert_eq!(proxy.handshakes(), 0);
}

#[test]
fn server_name_override_and_insecure_mode() {
    let pki = Pki::generate();
    let ca = pki.ca_file();
    let sim = start_sim();
    let proxy = TlsProxy::start(sim.addr(), pki.server_config());

    let subscribes = |opts: DriverOptions| {
        let before = subscriptions(&sim.state());
        let engine = Engine::start(core_config(&[proxy.url()]), opts, MemStore::new());
        wait_for("a subscription", || {
            (subscriptions(&sim.state()) > before).then_some(())
        });
        let ended = engine.stop();
        assert_eq!(
            ended.stats.tls_failures, 0,
            "{:?}",
            ended.stats.last_tls_error
        );
        assert!(ended.stats.tls_handshakes >= 1);
    };

    // The certificate is for "localhost" too: an override to it verifies.
    subscribes(DriverOptions {
        tls_ca_file: Some(ca.path().to_owned()),
        tls_server_name: Some("localhost".into()),
        ..DriverOptions::default()
    });
    // No CA at all, but verification off.
    subscribes(DriverOptions {
        tls_insecure_skip_verify: true,
        ..DriverOptions::default()
    });

    // A name the certificate is not valid for fails, even with the CA.
    let before = subscriptions(&sim.state());
    let engine = Engine::start(
        core_config(&[proxy.url()]),
        DriverOptions {
            tls_ca_file: Some(ca.path().to_owned()),
            tls_server_name: Some("master.wrong.example".into()),
            ..DriverOptions::default()
        },
        MemStore::new(),
    );
    wait_failed_attempts(&engine);
    let ended = engine.stop();
    let reason = ended.stats.last_tls_error.expect("a TLS failure reason");
    assert!(reason.starts_with("TLS: master "), "{reason}");
    assert!(reason.contains("certificate"), "{reason}");
    assert_eq!(subscriptions(&sim.state()), before);
}

#[test]
fn a_tls12_only_master_works_too() {
    let pki = Pki::generate();
    let ca = pki.ca_file();
    let sim = start_sim();
    let proxy = TlsProxy::start(
        sim.addr(),
        pki.server_config_for(&[&rustls::version::TLS12]),
    );
    let engine = Engine::start(
        core_config(&[proxy.url()]),
        DriverOptions {
            tls_ca_file: Some(ca.path().to_owned()),
            ..DriverOptions::default()
        },
        MemStore::new(),
    );
    assert_eq!(
        engine
            .request(CommandKind::PutApp(Box::new(web(2))))
            .outcome(),
        Ok(())
    );
    wait_for("2 running tasks", || {
        (running_tasks(&sim.state()) == 2).then_some(())
    });
    let ended = engine.stop();
    assert!(ended.stats.tls_handshakes >= 2);
    assert_eq!(
        ended.stats.tls_failures, 0,
        "{:?}",
        ended.stats.last_tls_error
    );
    assert!(
        proxy.errors().is_empty(),
        "proxy errors: {:?}",
        proxy.errors()
    );
}

#[test]
fn an_unreadable_ca_file_is_refused_when_the_driver_is_made() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let err = Driver::new(DriverOptions {
        tls_ca_file: Some(dir.path().join("missing.pem")),
        ..DriverOptions::default()
    })
    .expect_err("a missing CA file");
    assert!(err.to_string().contains("TLS CA file"), "{err}");
}

#[test]
fn a_plain_http_master_behind_https_is_a_tls_error() {
    // The sim itself speaks plain HTTP: a ClientHello gets an HTTP answer.
    let sim = start_sim();
    let engine = Engine::start(
        core_config(&[format!("https://{}", sim.addr())]),
        DriverOptions::default(),
        MemStore::new(),
    );
    wait_failed_attempts(&engine);
    let ended = engine.stop();
    let reason = ended.stats.last_tls_error.expect("a TLS failure reason");
    assert!(
        reason.starts_with(&format!("TLS: master {}: handshake failed", sim.addr())),
        "{reason}"
    );
    assert_eq!(subscriptions(&sim.state()), 0);
}

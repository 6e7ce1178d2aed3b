//! The REST API over TLS (`--api-tls-cert`, `--api-tls-key`), against
//! tritium-sim on loopback: a client that trusts the certificate gets its
//! answers and the event stream; plain HTTP gets no answer; the flags (and
//! their environment variables) reach the binary.

mod ops;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ops::Stack;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tritium::rest::ApiOptions;

/// A self-signed certificate for localhost and 127.0.0.1, in PEM files.
struct Cert {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

fn make_cert() -> Cert {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("a self-signed certificate");
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("api.crt");
    let key = dir.path().join("api.key");
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    Cert {
        _dir: dir,
        cert,
        key,
        der: c.cert.der().clone(),
    }
}

/// A TLS client that trusts only `cert`.
fn client_config(cert: &Cert) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> Tls {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config.clone(), name).unwrap();
    StreamOwned::new(conn, sock)
}

/// One request over HTTPS; the status and body (Content-Length framed,
/// connection closed after it).
fn https(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let mut s = connect(addr, config);
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    // A server that closes without close_notify is an error for rustls;
    // what came before it is the answer.
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[test]
fn https_with_a_trusted_certificate_and_no_plain_http() {
    let cert = make_cert();
    let tls = tritium::tls::server_config(&cert.cert, &cert.key).expect("the API's TLS config");
    let stack = Stack::start(
        3,
        ApiOptions {
            tls: Some(tls),
            ..ApiOptions::default()
        },
    );
    let addr = stack.addr();
    let client = client_config(&cert);

    let (status, body) = https(addr, &client, "GET", "/health", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("alive"), "{body}");

    // Plain HTTP on the TLS port: no HTTP answer, the connection closes.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(plain, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw);
    assert!(
        !raw.starts_with(b"HTTP/"),
        "plain HTTP was answered: {:?}",
        String::from_utf8_lossy(&raw)
    );

    // A client that does not trust the certificate gets nothing either.
    let other = make_cert();
    let mut s = connect(addr, &client_config(&other));
    let sent =
        write!(s, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").and_then(|()| s.flush());
    let mut buf = [0u8; 64];
    assert!(
        sent.is_err() || s.read(&mut buf).is_err(),
        "a client that does not trust the certificate talked to the API"
    );
}

#[test]
fn the_event_stream_over_tls() {
    let cert = make_cert();
    let tls = tritium::tls::server_config(&cert.cert, &cert.key).unwrap();
    let stack = Stack::start(
        3,
        ApiOptions {
            tls: Some(tls),
            ..ApiOptions::default()
        },
    );
    let addr = stack.addr();
    let client = client_config(&cert);
    let mut events = connect(addr, &client);
    write!(
        events,
        "GET /v1/api/events?app=secure HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    .unwrap();
    events.flush().unwrap();
    // The head first: the stream is registered.
    let mut seen = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = events.read(&mut buf).expect("the stream's head");
        assert!(n > 0, "the stream closed");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 200"), "{seen:?}");

    let spec = r#"{"name":"secure","instances":2,"resources":{"cpu":0.1,"mem":32},"command":{"cmd":"sleep 3600"}}"#;
    let (status, body) = https(addr, &client, "POST", "/v1/api/app", spec);
    assert_eq!(status, 201, "{body}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let running = |s: &[u8]| {
        String::from_utf8_lossy(s)
            .matches("\"state\":\"TASK_RUNNING\"")
            .count()
    };
    while running(&seen) < 2 {
        assert!(
            Instant::now() < deadline,
            "no TASK_RUNNING events for both tasks over TLS: {}",
            String::from_utf8_lossy(&seen)
        );
        let n = events.read(&mut buf).expect("events");
        assert!(n > 0, "the stream closed");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// The flags from the environment (`TRITIUM_API_TLS_*`), through the
/// binary in demo mode.
#[test]
fn the_binary_serves_https_with_the_flags() {
    let cert = make_cert();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tritium"))
        .args(["--run-for", "20", "--listen", "127.0.0.1:0"])
        .env("TRITIUM_API_TLS_CERT", &cert.cert)
        .env("TRITIUM_API_TLS_KEY", &cert.key)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run tritium");
    let (tx, rx) = crossbeam_channel::unbounded();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = String::new();
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no 'REST API ready' line:\n{log}"));
        log.push_str(&line);
        log.push('\n');
        if let Some(rest) = line.split("url=https://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
        assert!(
            !line.contains("url=http://"),
            "plain HTTP announced: {line}"
        );
    };
    let (status, body) = https(addr, &client_config(&cert), "GET", "/health", "");
    assert_eq!(status, 200, "{body}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_bad_certificate_is_a_configuration_error() {
    let cert = make_cert();
    let run = |args: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_tritium"))
            .args(["--run-for", "1", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("TRITIUM_API_TLS_CERT")
            .env_remove("TRITIUM_API_TLS_KEY")
            .output()
            .expect("run tritium")
    };
    // A key file as the certificate.
    let out = run(&[
        "--api-tls-cert".as_ref(),
        cert.key.as_os_str(),
        "--api-tls-key".as_ref(),
        cert.key.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--api-tls-cert"), "{err}");
    assert!(!err.contains("PRIVATE KEY"), "key material in {err}");
    // One without the other.
    let out = run(&["--api-tls-cert".as_ref(), cert.cert.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--api-tls-key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CLI (`tritium app …`, `tritium events`) as a user runs it against
/// tritium serving HTTPS with a self-signed certificate: with `--ca-file`
/// (or `TRITIUM_CA_FILE`) it lists, deploys and waits; without it the
/// TLS handshake is refused with a message that says so, and exit 5.
#[test]
fn the_cli_over_https_with_its_ca_file() {
    let cert = make_cert();
    let tls = tritium::tls::server_config(&cert.cert, &cert.key).expect("the API's TLS config");
    let stack = Stack::start(
        3,
        ApiOptions {
            tls: Some(tls),
            ..ApiOptions::default()
        },
    );
    let api = format!("https://localhost:{}", stack.addr().port());
    let ca = cert.cert.display().to_string();
    let cli = |args: &[&str], ca_env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tritium"));
        c.env_remove("TRITIUM_API")
            .env_remove("TRITIUM_TOKEN_FILE")
            .env_remove("TRITIUM_CA_FILE")
            .env("NO_COLOR", "1")
            .args(args)
            .args(["--api", &api])
            .stdin(Stdio::null());
        if let Some(f) = ca_env {
            c.env("TRITIUM_CA_FILE", f);
        }
        let out = c.output().expect("run tritium");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Without the CA: the certificate is not trusted, and the error says
    // it is TLS (not a refusal, not a crash), exit 5.
    let (code, out, err) = cli(&["app", "list"], None);
    assert_eq!(code, 5, "an untrusted certificate: {out}{err}");
    assert!(
        err.contains("TLS handshake") && err.contains("certificate"),
        "the error does not name the TLS failure: {err}"
    );
    assert!(err.contains("--ca-file"), "no hint at --ca-file: {err}");

    // With --ca-file: an empty list, then a deploy that waits.
    let (code, out, err) = cli(&["app", "list", "--ca-file", &ca], None);
    assert_eq!((code, out.as_str()), (0, "no apps\n"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.json");
    std::fs::write(
        &file,
        r#"{"name":"web","instances":2,"resources":{"cpu":0.1,"mem":32},"command":{"cmd":"sleep 3600"}}"#,
    )
    .unwrap();
    let file = file.display().to_string();
    let (code, out, err) = cli(
        &[
            "app",
            "deploy",
            &file,
            "--wait",
            "--timeout",
            "30",
            "--ca-file",
            &ca,
        ],
        None,
    );
    assert_eq!(code, 0, "deploy --wait over https: {out}{err}");
    assert!(
        out.contains("app web running (version 1): 2/2 RUNNING"),
        "{out}{err}"
    );
    let (code, out, err) = cli(&["app", "list", "-o", "json"], Some(&ca));
    assert_eq!(code, 0, "TRITIUM_CA_FILE: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["apps"][0]["running"], 2, "{v}");

    // The event stream over TLS, read as it comes: a scale shows up on a
    // stream opened before it.
    let mut events = Command::new(env!("CARGO_BIN_EXE_tritium"))
        .args(["events", "--app", "web", "--count", "1", "-o", "json"])
        .args(["--api", &api, "--ca-file", &ca])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tritium events");
    let stdout = events.stdout.take().unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The stream is open once the API counts it; then scale.
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = loop {
        let (code, _, err) = cli(&["app", "scale", "web", "3", "--ca-file", &ca], None);
        assert_eq!(code, 0, "scale over https: {err}");
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
            break line;
        }
        assert!(Instant::now() < deadline, "no event over https");
        let (code, _, err) = cli(&["app", "scale", "web", "2", "--ca-file", &ca], None);
        assert_eq!(code, 0, "scale back over https: {err}");
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
            break line;
        }
    };
    let ev: serde_json::Value = serde_json::from_str(&line).expect("an event as JSON");
    assert!(ev.to_string().contains("web"), "{ev}");
    let _ = events.kill();
    let _ = events.wait();

    // A CA that did not sign the certificate: refused like no CA at all.
    let other = make_cert();
    let (code, _, err) = cli(
        &[
            "app",
            "list",
            "--ca-file",
            &other.cert.display().to_string(),
        ],
        None,
    );
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("TLS handshake"), "{err}");
    // A CA file that is not one: a usage error, 2.
    let (code, _, err) = cli(&["app", "list", "--ca-file", &file], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no PEM certificate"), "{err}");
}

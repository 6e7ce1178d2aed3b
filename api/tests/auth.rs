//! API authentication with bearer tokens from a file: 401 without a known
//! token, 403 for a read-only token on a mutating method, 200 otherwise;
//! `/health` stays open. And secrets stay out of the logs: the token file's
//! tokens and the master principal's secret never appear in tritium's
//! output, even at trace level, as text or JSON.

mod ops;

use std::process::Command;

use ops::{Stack, http};
use tritium::auth::Tokens;
use tritium::rest::ApiOptions;

const ADMIN: &str = "admin-token-0123456789abcdef";
const READ: &str = "read-token-0123456789abcdef";

fn tokens() -> Tokens {
    Tokens::parse(&format!("# test tokens\nadmin {ADMIN}\nread {READ}\n")).unwrap()
}

#[test]
fn tokens_guard_every_endpoint_but_health() {
    let stack = Stack::start(
        2,
        ApiOptions {
            tokens: Some(tokens()),
            ..ApiOptions::default()
        },
    );
    let addr = stack.addr();
    let app = r#"{"name":"web","instances":1,"resources":{"cpu":0.1,"mem":32},"command":{"cmd":"sleep 3600"}}"#;

    // Open: liveness and the status page's static files (no data in them).
    assert_eq!(http(addr, "GET", "/health", None, None).status, 200);
    assert_eq!(http(addr, "GET", "/", None, None).status, 200);
    assert_eq!(http(addr, "GET", "/app.js", None, None).status, 200);

    // 401: no token, a wrong one, another scheme.
    for path in [
        "/v1/api/app/all",
        "/metrics",
        "/ready",
        "/v1/api/events",
        "/v1/api/app/queue",
    ] {
        let r = http(addr, "GET", path, None, None);
        assert_eq!(r.status, 401, "GET {path} without a token: {}", r.body);
        assert!(r.head.contains("WWW-Authenticate: Bearer"), "{}", r.head);
        let r = http(
            addr,
            "GET",
            path,
            Some("admin-token-0123456789abcdeX"),
            None,
        );
        assert_eq!(r.status, 401, "GET {path} with a wrong token");
    }
    let r = http(addr, "POST", "/v1/api/app", None, Some(app));
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!r.body.contains(ADMIN) && !r.body.contains(READ));

    // 403: a read token may look, not change.
    for (method, path) in [
        ("POST", "/v1/api/app"),
        ("PUT", "/v1/api/app"),
        ("DELETE", "/v1/api/app?name=web"),
        ("POST", "/v1/api/app/restart?name=web"),
    ] {
        let r = http(addr, method, path, Some(READ), Some(app));
        assert_eq!(
            r.status, 403,
            "{method} {path} with a read token: {}",
            r.body
        );
    }
    assert_eq!(
        http(addr, "GET", "/v1/api/app/all", Some(READ), None).status,
        200
    );
    assert_eq!(http(addr, "GET", "/metrics", Some(READ), None).status, 200);

    // 200/201: the admin token does everything.
    stack.deploy("web", 1, Some(ADMIN));
    let r = http(addr, "GET", "/v1/api/app?name=web", Some(READ), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["running"], 1);

    // Refusals are counted, tokens are not shown.
    let m = http(addr, "GET", "/metrics", Some(ADMIN), None).body;
    let refused = ops::sample(&m, "tritium_api_auth_refused_total", "").unwrap();
    assert!(refused >= 15.0, "refusals not counted: {refused}");
    assert_eq!(
        ops::sample(
            &m,
            "tritium_api_requests_total",
            r#"{endpoint="/v1/api/app",code="403"}"#
        ),
        Some(3.0),
        "POST, PUT and DELETE with a read token"
    );
    assert!(
        !m.contains(ADMIN) && !m.contains(READ),
        "a token is in /metrics"
    );
}

#[test]
fn secrets_are_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-master-password";
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let token_file = dir.path().join("tokens");
    std::fs::write(&token_file, format!("admin {ADMIN}\nread {READ}\n")).unwrap();
    // base64("tritium:" + secret), as sent in the Authorization header.
    let basic = "dHJpdGl1bTpzM2NyM3QtbWFzdGVyLXBhc3N3b3Jk";
    for format in ["text", "json"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tritium"))
            .args([
                "--run-for",
                "3",
                "--listen",
                "127.0.0.1:0",
                "--log-level",
                "trace",
            ])
            .args(["--log-format", format, "--principal", "tritium"])
            .arg("--secret-file")
            .arg(&secret_file)
            .arg("--api-token-file")
            .arg(&token_file)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .output()
            .expect("run tritium");
        let log = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "exit {:?}\n{log}", out.status);
        assert!(log.contains("bearer tokens required"), "{log}");
        for s in [secret, basic, ADMIN, READ] {
            assert!(
                !log.contains(s),
                "{format} log shows a secret ({s}):\n{log}"
            );
        }
        if format == "json" {
            for line in log.lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
                assert!(
                    v["level"].is_string() && v["message"].is_string() || v["fields"].is_object(),
                    "{line}"
                );
            }
        }
    }
}

#[test]
fn a_bad_token_file_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tokens");
    std::fs::write(&f, "admin short\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tritium"))
        .args([
            "--run-for",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--api-token-file",
        ])
        .arg(&f)
        .output()
        .expect("run tritium");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--api-token-file") && err.contains("line 1"),
        "{err}"
    );
    assert!(!err.contains("short"), "the token is echoed: {err}");
}

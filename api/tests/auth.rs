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

/// A stack whose API demands the tokens of [`tokens`].
fn guarded_stack() -> Stack {
    Stack::start(
        2,
        ApiOptions {
            tokens: Some(tokens()),
            ..ApiOptions::default()
        },
    )
}

#[test]
fn tokens_guard_every_endpoint_but_health() {
    let stack = guarded_stack();
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
        // Header names are case-insensitive (hyper writes them in lower case).
        assert!(
            r.head
                .to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{}",
            r.head
        );
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

/// The command-line client against a token-protected API: no token and a
/// read token are refused with exit 3 and the server's reason; the admin
/// token (from `--token-file` or `TRITIUM_TOKEN_FILE`, in the server's
/// `admin TOKEN` form or as a bare token) deploys, lists and deletes.
#[test]
fn the_client_carries_its_token_file() {
    let stack = guarded_stack();
    let api = format!("http://{}", stack.addr());
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("admin");
    std::fs::write(&admin, format!("# ops\nadmin {ADMIN}\n")).unwrap();
    let read = dir.path().join("read");
    std::fs::write(&read, format!("{READ}\n")).unwrap();
    let app = dir.path().join("web.json");
    std::fs::write(
        &app,
        r#"{"name":"web","instances":1,"resources":{"cpu":0.1,"mem":32},"command":{"cmd":"sleep 3600"}}"#,
    )
    .unwrap();
    let run = |args: &[&str], token_env: Option<&std::path::Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tritium"));
        c.env_remove("TRITIUM_API")
            .env_remove("TRITIUM_TOKEN_FILE")
            .env("NO_COLOR", "1")
            .args(args)
            .args(["--api", &api]);
        if let Some(f) = token_env {
            c.env("TRITIUM_TOKEN_FILE", f);
        }
        let out = c.output().expect("run the client");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let app_path = app.to_str().unwrap();
    let admin_path = admin.to_str().unwrap();
    let read_path = read.to_str().unwrap();

    let (code, _, err) = run(&["app", "list"], None);
    assert_eq!(code, 3, "no token: {err}");
    assert!(
        err.contains("401") || err.to_lowercase().contains("token"),
        "{err}"
    );

    let (code, out, err) = run(
        &[
            "app",
            "deploy",
            app_path,
            "--wait",
            "--timeout",
            "60",
            "--token-file",
            admin_path,
        ],
        None,
    );
    assert_eq!(code, 0, "deploy with the admin token: {out}{err}");

    let (code, out, err) = run(&["app", "list", "-o", "json"], Some(&read));
    assert_eq!(
        code, 0,
        "list with a read token from the environment: {err}"
    );
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(out.contains("\"web\""), "{list}");

    let (code, _, err) = run(&["app", "delete", "web", "--token-file", read_path], None);
    assert_eq!(code, 3, "delete with a read token: {err}");
    assert!(
        err.contains("403") || err.to_lowercase().contains("read"),
        "{err}"
    );

    let (code, out, err) = run(
        &["app", "delete", "web", "--wait", "--timeout", "60"],
        Some(&admin),
    );
    assert_eq!(code, 0, "delete with the admin token: {out}{err}");
    assert_eq!(
        http(
            stack.addr(),
            "GET",
            "/v1/api/app?name=web",
            Some(ADMIN),
            None
        )
        .status,
        404
    );
}

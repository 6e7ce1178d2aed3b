//! Artifacts served by tritium (issue 21 item 3): a custom-command app
//! whose URI points at tritium's own `/v1/artifacts/SHA256/NAME`,
//! deployed (the TaskInfo carries that URI) and fetched by URL as the Mesos
//! fetcher would; a URI pinning another hash is refused (422); and the
//! file server's edges over real HTTP: HEAD, Content-Length, ETag and 304,
//! one range, names that would escape the directory, symlinks, the size
//! cap, tokens and `public`.

// Both harnesses: `common` records the TaskInfos tritium launches, `ops`
// runs an API with tokens (common's stack waits for /ready without one).
// Each includes the engine's test helpers as a module of its own.
#![allow(clippy::duplicate_mod)]

mod common;
mod ops;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{AGENTS, Stack, small_sim};
use serde_json::json;
use tritium::artifacts::ArtifactOptions;
use tritium::auth::Tokens;
use tritium::rest::ApiOptions;

/// One raw exchange: status, head (lower-cased), body bytes.
fn fetch(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[end + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n =
            usize::from_str_radix(std::str::from_utf8(&b[..line_end]).unwrap().trim(), 16).unwrap();
        b = &b[line_end + 2..];
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[..n]);
        b = &b[n + 2..];
    }
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn an_app_fetches_its_command_from_tritium_pinned_by_sha256() {
    let dir = tempfile::tempdir().unwrap();
    // Bigger than one chunk and than the connection's buffer: it streams.
    let script: Vec<u8> = (0..300_000u32)
        .map(|i| b"#!/bin/sh\necho hi\n"[(i % 18) as usize])
        .collect();
    std::fs::write(dir.path().join("hello.sh"), &script).unwrap();
    let sha = sha256_hex(&script);
    let stack = Stack::start_with_api(
        small_sim(AGENTS),
        true,
        |_| {},
        ApiOptions {
            workers: 2,
            artifacts: Some(ArtifactOptions::new(dir.path().into())),
            ..ApiOptions::default()
        },
    );
    let addr = stack.api_addr;
    let uri = format!("http://{addr}/v1/artifacts/{sha}/hello.sh");
    let app = |name: &str, uri: &str| {
        json!({
            "name": name, "instances": 2,
            "resources": {"cpu": 0.1, "mem": 32},
            "command": {"cmd": "sh hello.sh && sleep 3600",
                        "uris": [{"uri": uri, "execute": true, "cache": true}]},
        })
    };
    stack.create(&app("hello", &uri));
    stack.wait_running("hello", 2);
    let launched = stack.proxy.as_ref().unwrap().launched();
    let uris: Vec<_> = launched
        .iter()
        .flat_map(|t| t.command.iter().flat_map(|c| c.uris.iter()))
        .map(|u| (u.value.clone(), u.cache, u.executable))
        .collect();
    assert_eq!(uris.len(), 2, "{uris:?}");
    assert!(
        uris.iter()
            .all(|u| *u == (uri.clone(), Some(true), Some(true))),
        "{uris:?}"
    );

    // A custom executor fetched from tritium: its URI, pinned, in the
    // ExecutorInfo; started as ./NAME, the name the fetcher saves it under.
    let exec_uri = format!("http://{addr}/v1/artifacts/{sha}/hello.sh");
    let exec_app = json!({
        "name": "custom", "instances": 1,
        "resources": {"cpu": 0.1, "mem": 32},
        "executor": {"uri": exec_uri},
        "command": {"cmd": "run"},
    });
    stack.create(&exec_app);
    let proxy = stack.proxy.as_ref().unwrap();
    let executor = common::poll(common::WAIT, "the custom executor's launch", || {
        proxy
            .launched()
            .into_iter()
            .find_map(|t| {
                t.executor
                    .filter(|_| t.task_id.value.starts_with("custom."))
            })
            .ok_or_else(|| "not launched yet".to_owned())
    });
    // Its own resources (the spec's defaults), apart from the task's.
    let mut res: Vec<(String, f64)> = executor
        .resources
        .iter()
        .map(|r| (r.name.clone(), r.scalar.as_ref().map_or(0.0, |s| s.value)))
        .collect();
    res.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        res,
        [
            ("cpus".to_owned(), 0.1),
            ("disk".to_owned(), 10.0),
            ("mem".to_owned(), 32.0)
        ]
    );
    let cmd = executor.command.unwrap();
    assert_eq!(cmd.uris[0].value, exec_uri);
    assert_eq!(cmd.value.as_deref(), Some("./hello.sh"));

    // What the fetcher gets at that URI: the file, whole.
    let path = uri.split_once(&addr.to_string()).unwrap().1;
    let (status, head, body) = fetch(addr, "GET", path, &[]);
    assert_eq!(status, 200, "{head}");
    assert_eq!(body.len(), script.len());
    assert!(body == script, "the served bytes differ");
    assert_eq!(header(&head, "content-length"), Some("300000"));
    assert!(
        header(&head, "cache-control")
            .unwrap()
            .contains("immutable"),
        "{head}"
    );

    // Another hash pinned: the deploy is refused and nothing is created;
    // the URL is not served either.
    let other = "0".repeat(64);
    let bad = format!("http://{addr}/v1/artifacts/{other}/hello.sh");
    let r = stack.send("POST", "/v1/api/app", &app("stale", &bad).to_string());
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["field"], "command.uris[0].uri");
    assert!(
        r.json()["error"].as_str().unwrap().contains(&sha),
        "{}",
        r.body
    );
    assert_eq!(stack.get("/v1/api/app?name=stale").status, 404);
    assert_eq!(
        fetch(addr, "GET", &format!("/v1/artifacts/{other}/hello.sh"), &[]).0,
        404
    );
    let missing = format!("http://{addr}/v1/artifacts/{sha}/nope");
    let r = stack.send("POST", "/v1/api/app", &app("missing", &missing).to_string());
    assert_eq!(r.status, 422, "{}", r.body);
    // The file changes: the old pin is refused from then on.
    std::fs::write(dir.path().join("hello.sh"), b"#!/bin/sh\necho new\n").unwrap();
    assert_eq!(fetch(addr, "GET", path, &[]).0, 404);
    let r = stack.send("POST", "/v1/api/app", &app("old-pin", &uri).to_string());
    assert_eq!(r.status, 422, "{}", r.body);
}

#[test]
fn the_file_server_keeps_to_its_directory_and_speaks_http() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("artifacts");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(root.path().join("secret"), b"outside").unwrap();
    std::fs::write(dir.join("exec"), b"0123456789").unwrap();
    std::fs::write(dir.join("big"), vec![7u8; 2048]).unwrap();
    std::os::unix::fs::symlink(root.path().join("secret"), dir.join("link")).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    const ADMIN: &str = "admin-token-0123456789abcdef";
    let opts = |public| ApiOptions {
        workers: 2,
        tokens: Some(Tokens::parse(&format!("admin {ADMIN}\n")).unwrap()),
        artifacts: Some(ArtifactOptions {
            max_file_bytes: 1024,
            public,
            secret: Some(b"0123456789abcdef0123456789abcdef-test".to_vec()),
            ..ArtifactOptions::new(dir.clone())
        }),
        ..ApiOptions::default()
    };
    // (ops' stack: common's waits for /ready without a token.)
    let stack = ops::Stack::start(1, opts(false));
    let addr = stack.addr();
    let auth = format!("Bearer {ADMIN}");
    let with_token = [("Authorization", auth.as_str())];

    // Tokens on, not public: a token is needed.
    assert_eq!(fetch(addr, "GET", "/v1/artifacts/exec", &[]).0, 401);
    let (status, head, body) = fetch(addr, "GET", "/v1/artifacts/exec", &with_token);
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"0123456789"[..]),
        "{head}"
    );
    assert_eq!(header(&head, "content-length"), Some("10"));
    assert_eq!(header(&head, "accept-ranges"), Some("bytes"));
    let etag = header(&head, "etag").unwrap().to_owned();

    // HEAD: the length, no body.
    let (status, head, body) = fetch(addr, "HEAD", "/v1/artifacts/exec", &with_token);
    assert_eq!((status, body.len()), (200, 0), "{head}");
    assert_eq!(header(&head, "content-length"), Some("10"), "{head}");
    // 304 for the same version; ranges.
    let inm = [with_token[0], ("If-None-Match", etag.as_str())];
    assert_eq!(fetch(addr, "GET", "/v1/artifacts/exec", &inm).0, 304);
    let range = |r: &str| {
        fetch(
            addr,
            "GET",
            "/v1/artifacts/exec",
            &[with_token[0], ("Range", r)],
        )
    };
    let (status, head, body) = range("bytes=2-4");
    assert_eq!((status, body.as_slice()), (206, &b"234"[..]), "{head}");
    assert_eq!(header(&head, "content-range"), Some("bytes 2-4/10"));
    assert_eq!(range("bytes=-3").2, b"789");
    let (status, head, _) = range("bytes=10-");
    assert_eq!(status, 416);
    assert_eq!(header(&head, "content-range"), Some("bytes */10"));
    assert_eq!(
        range("bytes=0-1,4-5").0,
        200,
        "several ranges: the whole file"
    );

    // Nothing outside the directory, no symlink, no directory, the cap.
    for path in [
        "/v1/artifacts/../secret",
        "/v1/artifacts/%2e%2e%2fsecret",
        "/v1/artifacts/..%2fsecret",
        "/v1/artifacts/link",
        "/v1/artifacts/sub",
        "/v1/artifacts/sub/../exec",
        "/v1/artifacts/.hidden",
        "/v1/artifacts/nope",
    ] {
        let (status, _, body) = fetch(addr, "GET", path, &with_token);
        assert!(status == 404 || status == 400, "{path}: {status}");
        assert!(
            !String::from_utf8_lossy(&body).contains("outside"),
            "{path}"
        );
    }
    let (status, _, body) = fetch(addr, "GET", "/v1/artifacts/big", &with_token);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let (status, head, _) = fetch(addr, "PUT", "/v1/artifacts/exec", &with_token);
    assert_eq!(status, 405);
    assert_eq!(header(&head, "allow"), Some("get, head"));

    // A signed URL: what an agent's fetcher uses, no token needed.
    let (status, _, body) = fetch(addr, "GET", "/v1/api/artifacts/exec", &with_token);
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let sha = sha256_hex(b"0123456789");
    assert_eq!(
        (doc["sha256"].as_str(), doc["size"].as_u64()),
        (Some(sha.as_str()), Some(10))
    );
    let signed = doc["path"].as_str().unwrap().to_owned();
    assert!(
        signed.starts_with(&format!("/v1/artifacts/{sha}/")) && signed.ends_with("/exec"),
        "{signed}"
    );
    let (status, _, body) = fetch(addr, "GET", &signed, &[]);
    assert_eq!((status, body.as_slice()), (200, &b"0123456789"[..]));
    // Tampered, moved to another name, or without its pin: a token again.
    let sig = signed.split('/').nth(4).unwrap().to_owned();
    assert_eq!(sig.len(), 64, "{signed}");
    let flipped = format!(
        "{}{}",
        &sig[..63],
        if sig.ends_with('0') { '1' } else { '0' }
    );
    for path in [
        format!("/v1/artifacts/{sha}/{flipped}/exec"),
        format!("/v1/artifacts/{sha}/{sig}/big"),
        format!("/v1/artifacts/{sig}/exec"),
        format!("/v1/artifacts/exec?sig={sig}"),
    ] {
        assert_eq!(fetch(addr, "GET", &path, &[]).0, 401, "{path}");
    }
    // A deploy with a signature that is not this server's: 422.
    let app = |uri: &str| {
        json!({"name": "x", "instances": 1, "resources": {"cpu": 0.1, "mem": 32},
               "command": {"cmd": "sleep 1", "uris": [{"uri": uri}]}})
        .to_string()
    };
    let bad = format!("http://{addr}/v1/artifacts/{sha}/{flipped}/exec");
    let r = ops::http(addr, "POST", "/v1/api/app", Some(ADMIN), Some(&app(&bad)));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("signature"), "{}", r.body);
    // The file changes: its signed URL stops serving it.
    std::fs::write(dir.join("exec"), b"9876543210").unwrap();
    assert_eq!(fetch(addr, "GET", &signed, &[]).0, 404);
    std::fs::write(dir.join("exec"), b"0123456789").unwrap();
    drop(stack);

    // Public: the fetcher's way, no token.
    let stack = ops::Stack::start(1, opts(true));
    let (status, _, body) = fetch(stack.addr(), "GET", "/v1/artifacts/exec", &[]);
    assert_eq!((status, body.as_slice()), (200, &b"0123456789"[..]));
    // The rest of the API still needs one.
    assert_eq!(fetch(stack.addr(), "GET", "/v1/api/app/all", &[]).0, 401);
}

/// A client that takes no byte is cut after the stall timeout, having had
/// only what the sockets hold, and the download's place is given back.
#[test]
fn a_stalled_download_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    const SIZE: usize = 16 * 1024 * 1024;
    std::fs::write(dir.path().join("big"), vec![1u8; SIZE]).unwrap();
    let stack = ops::Stack::start(
        1,
        ApiOptions {
            artifacts: Some(ArtifactOptions {
                // Long enough that the first poll below sees the place
                // held even on a loaded machine; the cut is then awaited.
                stall_timeout: Duration::from_secs(3),
                max_downloads: 1,
                ..ArtifactOptions::new(dir.path().into())
            }),
            ..ApiOptions::default()
        },
    );
    let addr = stack.addr();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("GET /v1/artifacts/big HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    // While it stalls, it holds the only download place.
    ops::poll(
        "the stalled download to hold the only place",
        || match fetch(addr, "GET", "/v1/artifacts/big", &[("Range", "bytes=0-0")]) {
            (503, ..) => Ok(()),
            (st, ..) => Err(st.to_string()),
        },
    );
    // The client never reads, so the place can only come back by the
    // stall cut.
    ops::poll("the place given back by the stall cut", || {
        match fetch(addr, "GET", "/v1/artifacts/big", &[("Range", "bytes=0-0")]) {
            (206, _, body) if body == [1] => Ok(()),
            (st, ..) => Err(st.to_string()),
        }
    });
    // What the stalled client gets is what was buffered before the cut,
    // then the end of the connection: never the whole file.
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got < SIZE, "the whole file arrived: {got} bytes");
}

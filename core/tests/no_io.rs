//! tritium-core's promise that no IO crate is in its normal dependency tree,
//! checked with `cargo tree` so that a new dependency that drags one in (a
//! socket, an async runtime, TLS, an etcd client, a channel crate meant for
//! threads) fails the tests, not a review.

use std::process::Command;

/// Crates whose presence would mean IO (or threads) can reach the core.
const FORBIDDEN: &[&str] = &[
    "mio",
    "rustls",
    "tokio",
    "tonic",
    "etcd-client",
    "crossbeam-channel",
    "crossbeam-utils",
    "socket2",
    "hyper",
    "ureq",
    "libc",
];

#[test]
fn the_core_depends_on_no_io_crate() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "tritium-core",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("cargo tree prints UTF-8");
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.contains(&"tritium-core") && names.contains(&"tritium-proto"),
        "cargo tree output does not look like tritium-core's tree:\n{tree}"
    );
    let found: Vec<&&str> = FORBIDDEN.iter().filter(|f| names.contains(f)).collect();
    assert!(
        found.is_empty(),
        "tritium-core's normal dependency tree holds IO crates {found:?}:\n{tree}"
    );
}

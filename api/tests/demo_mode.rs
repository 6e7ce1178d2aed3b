//! The README's run command, end to end: with no --master, tritium starts
//! the simulated cluster, deploys the sample app and reports it running.

use std::process::Command;

#[test]
fn demo_mode_runs_the_sample_app_and_stops_cleanly() {
    let out = Command::new(env!("CARGO_BIN_EXE_tritium"))
        .args([
            "--run-for",
            "6",
            "--log-level",
            "info",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .expect("run tritium");
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{log}", out.status);
    assert!(log.contains("demo mode"), "demo mode not announced:\n{log}");
    assert!(
        log.contains("hello 3/3 running on 3 agents"),
        "sample app not running, or not spread over 3 agents (services spread by default):\n{log}"
    );
    assert!(
        log.contains("no TEARDOWN") || log.contains("framework stays registered"),
        "{log}"
    );
}

#[test]
fn bad_store_is_a_config_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_tritium"))
        .args([
            "--store",
            "bogus",
            "--run-for",
            "1",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run tritium");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--store"));
}

#[test]
fn file_store_keeps_the_framework_id_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().join("state").display());
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_tritium"))
            .args([
                "--store",
                &store,
                "--run-for",
                "3",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("NO_COLOR", "1")
            .output()
            .expect("run tritium");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let first = run();
    let id = first
        .lines()
        .find_map(|l| l.split("framework_id=").nth(1))
        .map(|s| {
            s.split_whitespace()
                .next()
                .unwrap()
                .trim_matches('"')
                .to_owned()
        })
        .expect("framework id logged");
    let second = run();
    assert!(second.contains("recovered state"), "{second}");
    assert!(
        second.contains(&id),
        "framework id {id} not reused:\n{second}"
    );
}

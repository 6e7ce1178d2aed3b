//! Compiles tritium's hand-written Mesos protos with protox (pure Rust), so
//! building tritium-proto never needs a `protoc` binary on the machine.

use std::path::PathBuf;

const PROTO_ROOT: &str = "proto";
const FILES: &[&str] = &["mesos/v1/mesos.proto", "mesos/v1/scheduler/scheduler.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for f in FILES {
        println!("cargo:rerun-if-changed={PROTO_ROOT}/{f}");
    }
    let fds = protox::compile(FILES, [PROTO_ROOT])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut cfg = prost_build::Config::new();
    // Every `bytes` field becomes `bytes::Bytes`, so decoding from a `Bytes`
    // record slices instead of copying.
    cfg.bytes(["."]);
    cfg.out_dir(&out);
    cfg.compile_fds(fds)?;
    Ok(())
}

//! Compiles tritium's hand-written Mesos protos with protox (pure Rust), so
//! building tritium-proto never needs a `protoc` binary on the machine.

use std::path::PathBuf;

const PROTO_ROOT: &str = "proto";
const FILES: &[&str] = &[
    "mesos/v1/mesos.proto",
    "mesos/v1/scheduler/scheduler.proto",
    "mesos/v1/executor/executor.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for f in FILES {
        println!("cargo:rerun-if-changed={PROTO_ROOT}/{f}");
    }
    let mut compiler = protox::Compiler::new([PROTO_ROOT])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(FILES)?;
    let fds = compiler.file_descriptor_set();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // The encoded descriptors, for reflection (the simulator's JSON codec).
    // Without source info: comments are of no use at run time.
    compiler.include_source_info(false);
    std::fs::write(
        out.join("file_descriptor_set.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let mut cfg = prost_build::Config::new();
    // Every `bytes` field becomes `bytes::Bytes`, so decoding from a `Bytes`
    // record slices instead of copying.
    cfg.bytes(["."]);
    // A `Resource` is built per launched resource and cloned from offers:
    // inline, its rarely-set disk / reservation / provider fields made it
    // 968 bytes, and a big launch holds hundreds of thousands at once.
    // Boxed, the unset ones cost a null pointer.
    for field in ["disk", "reservation", "provider_id"] {
        cfg.boxed(format!(".mesos.v1.Resource.{field}"));
    }
    // Likewise an `Offer.Operation`: the experimental volume and disk
    // operations each hold whole Resources and are almost never set.
    for field in [
        "grow_volume",
        "shrink_volume",
        "create_disk",
        "destroy_disk",
    ] {
        cfg.boxed(format!(".mesos.v1.Offer.Operation.{field}"));
    }
    cfg.out_dir(&out);
    cfg.compile_fds(fds)?;
    Ok(())
}

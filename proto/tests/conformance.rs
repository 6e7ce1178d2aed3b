//! Conformance of tritium's hand-written Mesos protos with the reference
//! definitions.
//!
//! The reference is the Mesos 1.5-era copy shipped by Debian's mesos-go
//! package, compiled by `protoc`:
//!
//! * (a) `descriptors_agree_with_reference`: every message, field and enum
//!   value tritium defines has the reference's number, type and label;
//!   `reference_closure_is_defined`: every message, field and enum value the
//!   reference reaches from the scheduler and executor `Call`/`Event` is
//!   defined by tritium (nothing of the two APIs is left out).
//! * (b) `*_round_trip_through_reference`: scheduler and executor Calls and
//!   Events (and a few types only reachable as nested definitions) encoded by
//!   prost are read by `protoc --decode` without unknown fields, and `protoc
//!   --encode` of that text gives back the same value (and the same bytes).
//! * (c) `fixture_*`, `enum_names_agree_with_reference`: text-format messages
//!   written against the reference (enum values by name) decode as expected.
//! * (d) `newer_*`: what upstream Mesos (up to 1.11) added after the reference
//!   copy (UPDATE_FRAMEWORK, offer constraints, operation feedback, volume
//!   and disk operations, ...) against wire bytes written by hand from the
//!   upstream field numbers.
//! * (e) `unknown_*`: fields and enum values from a newer master are skipped,
//!   never an error.
//!
//! Missing tools are a test failure, not a skip: see `INSTALL_HINT`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bytes::Bytes;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type as FieldType};
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use tritium_proto::executor;
use tritium_proto::scheduler::{self, Call, Event, call, event};
use tritium_proto::v1::{self, offer::operation, resource, value};

// ---------------------------------------------------------------------------
// The reference: protoc and the mesos-go copy of the Mesos protos.

const INSTALL_HINT: &str = "the conformance test needs protoc and the reference Mesos protos; \
     install them with `apt-get install protobuf-compiler libprotobuf-dev \
     golang-github-mesos-mesos-go-dev golang-github-gogo-protobuf-dev`";

/// Import root of the reference protos.
const REF_ROOT: &str = "/usr/share/gocode/src";
/// The reference scheduler.proto, relative to `REF_ROOT` (it imports mesos.proto and gogo.proto).
const REF_SCHEDULER: &str = "github.com/mesos/mesos-go/api/v1/lib/scheduler/scheduler.proto";
/// The reference executor.proto, relative to `REF_ROOT`.
const REF_EXECUTOR: &str = "github.com/mesos/mesos-go/api/v1/lib/executor/executor.proto";
const REF_FILES: &[&str] = &[
    "/usr/share/gocode/src/github.com/mesos/mesos-go/api/v1/lib/scheduler/scheduler.proto",
    "/usr/share/gocode/src/github.com/mesos/mesos-go/api/v1/lib/executor/executor.proto",
    "/usr/share/gocode/src/github.com/mesos/mesos-go/api/v1/lib/mesos.proto",
    "/usr/share/gocode/src/github.com/gogo/protobuf/gogoproto/gogo.proto",
    "/usr/include/google/protobuf/descriptor.proto",
];
const REF_CALL: &str = "mesos.scheduler.Call";
const REF_EVENT: &str = "mesos.scheduler.Event";
const REF_EXECUTOR_CALL: &str = "mesos.executor.Call";
const REF_EXECUTOR_EVENT: &str = "mesos.executor.Event";
/// Where the reference's closure starts: what a framework or an executor
/// sends and receives.
const REF_ROOTS: &[&str] = &[REF_CALL, REF_EVENT, REF_EXECUTOR_CALL, REF_EXECUTOR_EVENT];

/// Runs protoc with `input` on stdin. Panics with the install hint if protoc
/// cannot be started.
fn protoc(args: &[String], input: &[u8]) -> Output {
    let mut child = Command::new("protoc")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `protoc` ({e}): {INSTALL_HINT}"));
    let mut stdin = child.stdin.take().expect("protoc stdin");
    let input = input.to_vec();
    // Feed stdin from a thread so a large output cannot dead-lock the pipes.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("waiting for protoc");
    writer.join().expect("stdin writer");
    output
}

/// The reference definitions compiled once into a descriptor set file, which
/// later protoc runs read instead of parsing the .proto files again.
struct Reference {
    _dir: tempfile::TempDir,
    descriptor_set: PathBuf,
}

impl Reference {
    fn load() -> Self {
        for file in REF_FILES {
            assert!(
                Path::new(file).is_file(),
                "missing reference file {file}: {INSTALL_HINT}"
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let descriptor_set = dir.path().join("reference.fds");
        let out = protoc(
            &[
                format!("-I{REF_ROOT}"),
                "-I/usr/include".to_string(),
                "--include_imports".to_string(),
                format!("--descriptor_set_out={}", descriptor_set.display()),
                REF_SCHEDULER.to_string(),
                REF_EXECUTOR.to_string(),
            ],
            b"",
        );
        assert!(
            out.status.success(),
            "protoc could not compile the reference protos: {}\n{INSTALL_HINT}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            _dir: dir,
            descriptor_set,
        }
    }

    fn descriptors(&self) -> FileDescriptorSet {
        let raw = std::fs::read(&self.descriptor_set).expect("read reference descriptor set");
        FileDescriptorSet::decode(raw.as_slice()).expect("decode reference descriptor set")
    }

    fn run(&self, mode: &str, type_name: &str, input: &[u8]) -> Vec<u8> {
        let out = protoc(
            &[
                format!("--descriptor_set_in={}", self.descriptor_set.display()),
                format!("--{mode}={type_name}"),
                REF_SCHEDULER.to_string(),
                REF_EXECUTOR.to_string(),
            ],
            input,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "protoc --{mode}={type_name} failed: {stderr}"
        );
        // protoc only warns (exit 0) about missing required fields; for us
        // that means a message the master would reject, so it is an error.
        // Deprecated fields (the legacy `role`) are used on purpose.
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| {
                !l.trim().is_empty() && !l.contains("text format contains deprecated field")
            })
            .collect();
        assert!(
            warnings.is_empty(),
            "protoc --{mode}={type_name} warned: {}",
            warnings.join("\n")
        );
        out.stdout
    }

    /// Binary → reference text format.
    fn decode_to_text(&self, type_name: &str, bytes: &[u8]) -> String {
        String::from_utf8(self.run("decode", type_name, bytes)).expect("protoc text is UTF-8")
    }

    /// Reference text format → binary.
    fn encode_text(&self, type_name: &str, text: &str) -> Vec<u8> {
        self.run("encode", type_name, text.as_bytes())
    }
}

/// tritium's own protos, compiled at test time the same way build.rs does.
fn our_descriptors() -> FileDescriptorSet {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    protox::compile(
        [
            "mesos/v1/mesos.proto",
            "mesos/v1/scheduler/scheduler.proto",
            "mesos/v1/executor/executor.proto",
        ],
        [root],
    )
    .expect("protox compiles tritium's protos")
}

// ---------------------------------------------------------------------------
// (a) Descriptor comparison.

/// What tritium defines that the reference (Mesos 1.5-era) copy lacks.
///
/// Newer than Mesos 1.5: these come from upstream apache/mesos up to 1.11
/// (include/mesos/v1/mesos.proto, include/mesos/v1/scheduler/scheduler.proto
/// and include/mesos/v1/executor/executor.proto)
/// and are skipped by the descriptor comparison; each is checked instead by
/// the hand-built wire bytes of the test each group is listed under. A
/// message entry covers everything nested in it. Entries are full names in tritium's
/// package (`mesos.v1...`): a message, an enum, `Message.field`, or
/// `Enum.VALUE`.
const NEWER_THAN_REFERENCE: &[(&str, &[&str])] = &[
    // UPDATE_FRAMEWORK (Mesos 1.9) and per-role offer filters.
    (
        "newer_update_framework_call",
        &[
            "mesos.v1.scheduler.Call.Type.UPDATE_FRAMEWORK",
            "mesos.v1.scheduler.Call.update_framework",
            "mesos.v1.scheduler.Call.UpdateFramework",
            "mesos.v1.FrameworkInfo.offer_filters",
            "mesos.v1.FrameworkInfo.OfferFiltersEntry",
            "mesos.v1.OfferFilters",
        ],
    ),
    // Offer constraints (Mesos 1.11).
    (
        "newer_offer_constraints_in_subscribe",
        &[
            "mesos.v1.scheduler.AttributeConstraint",
            "mesos.v1.scheduler.OfferConstraints",
            "mesos.v1.scheduler.Call.Subscribe.offer_constraints",
        ],
    ),
    // Operation feedback.
    (
        "newer_operation_feedback",
        &[
            "mesos.v1.scheduler.Event.Type.UPDATE_OPERATION_STATUS",
            "mesos.v1.scheduler.Event.update_operation_status",
            "mesos.v1.scheduler.Event.UpdateOperationStatus",
            "mesos.v1.scheduler.Call.Type.ACKNOWLEDGE_OPERATION_STATUS",
            "mesos.v1.scheduler.Call.acknowledge_operation_status",
            "mesos.v1.scheduler.Call.AcknowledgeOperationStatus",
            "mesos.v1.scheduler.Call.Type.RECONCILE_OPERATIONS",
            "mesos.v1.scheduler.Call.reconcile_operations",
            "mesos.v1.scheduler.Call.ReconcileOperations",
            "mesos.v1.Offer.Operation.id",
            "mesos.v1.OperationID",
            "mesos.v1.UUID",
            "mesos.v1.OperationState",
            "mesos.v1.OperationStatus",
        ],
    ),
    // Master capabilities.
    (
        "newer_master_capabilities",
        &[
            "mesos.v1.MasterInfo.Capability",
            "mesos.v1.MasterInfo.capabilities",
        ],
    ),
    // Task and health-check fields.
    (
        "newer_task_info_fields",
        &[
            "mesos.v1.TaskInfo.max_completion_time",
            "mesos.v1.TaskInfo.limits",
            "mesos.v1.TaskInfo.LimitsEntry",
            "mesos.v1.HealthCheck.HTTPCheckInfo.protocol",
            "mesos.v1.HealthCheck.TCPCheckInfo.protocol",
        ],
    ),
    // Task status.
    (
        "newer_task_status_fields",
        &[
            "mesos.v1.TaskStatus.limitation",
            "mesos.v1.TaskResourceLimitation",
            "mesos.v1.TaskStatus.Reason.REASON_MAX_COMPLETION_TIME_REACHED",
            "mesos.v1.TaskStatus.Reason.REASON_AGENT_DRAINING",
            "mesos.v1.TaskStatus.Reason.REASON_AGENT_REMOVED_BY_OPERATOR",
            "mesos.v1.TaskStatus.Reason.REASON_AGENT_REREGISTERED",
        ],
    ),
    // Disks of storage resource providers (kept so offered resources are
    // echoed back without loss).
    (
        "newer_disk_source_fields",
        &[
            "mesos.v1.Resource.DiskInfo.Source.Type.BLOCK",
            "mesos.v1.Resource.DiskInfo.Source.Type.RAW",
            "mesos.v1.Resource.DiskInfo.Source.vendor",
            "mesos.v1.Resource.DiskInfo.Source.id",
            "mesos.v1.Resource.DiskInfo.Source.metadata",
            "mesos.v1.Resource.DiskInfo.Source.profile",
        ],
    ),
    // Volume and disk operations (experimental upstream) and re-reservation.
    (
        "newer_volume_and_disk_operations",
        &[
            "mesos.v1.Offer.Operation.Type.GROW_VOLUME",
            "mesos.v1.Offer.Operation.Type.SHRINK_VOLUME",
            "mesos.v1.Offer.Operation.Type.CREATE_DISK",
            "mesos.v1.Offer.Operation.Type.DESTROY_DISK",
            "mesos.v1.Offer.Operation.GrowVolume",
            "mesos.v1.Offer.Operation.grow_volume",
            "mesos.v1.Offer.Operation.ShrinkVolume",
            "mesos.v1.Offer.Operation.shrink_volume",
            "mesos.v1.Offer.Operation.CreateDisk",
            "mesos.v1.Offer.Operation.create_disk",
            "mesos.v1.Offer.Operation.DestroyDisk",
            "mesos.v1.Offer.Operation.destroy_disk",
            "mesos.v1.Offer.Operation.Reserve.source",
        ],
    ),
    // Host path and CSI volumes.
    (
        "newer_volume_sources",
        &[
            "mesos.v1.Volume.Source.Type.HOST_PATH",
            "mesos.v1.Volume.Source.Type.CSI_VOLUME",
            "mesos.v1.Volume.Source.HostPath",
            "mesos.v1.Volume.Source.host_path",
            "mesos.v1.Volume.Source.CSIVolume",
            "mesos.v1.Volume.Source.csi_volume",
            "mesos.v1.MountPropagation",
        ],
    ),
    // Seccomp, IPC namespace, /dev/shm and cgroups of Mesos containers;
    // discard counters of block IO statistics.
    (
        "newer_linux_container_fields",
        &[
            "mesos.v1.CgroupInfo.Blkio.Operation.DISCARD",
            "mesos.v1.SeccompInfo",
            "mesos.v1.LinuxInfo.seccomp",
            "mesos.v1.LinuxInfo.IpcMode",
            "mesos.v1.LinuxInfo.ipc_mode",
            "mesos.v1.LinuxInfo.shm_size",
            "mesos.v1.LinuxInfo.share_cgroups",
        ],
    ),
    // Agent capabilities (seen by executors in SUBSCRIBED).
    (
        "newer_agent_capabilities",
        &[
            "mesos.v1.AgentInfo.Capability.Type.RESOURCE_PROVIDER",
            "mesos.v1.AgentInfo.Capability.Type.RESIZE_VOLUME",
            "mesos.v1.AgentInfo.Capability.Type.AGENT_OPERATION_FEEDBACK",
            "mesos.v1.AgentInfo.Capability.Type.AGENT_DRAINING",
            "mesos.v1.AgentInfo.Capability.Type.TASK_RESOURCE_LIMITS",
        ],
    ),
    // Executor heartbeats.
    (
        "newer_executor_heartbeats",
        &[
            "mesos.v1.executor.Event.Type.HEARTBEAT",
            "mesos.v1.executor.Call.Type.HEARTBEAT",
        ],
    ),
];

fn newer_entries() -> impl Iterator<Item = &'static str> {
    NEWER_THAN_REFERENCE
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
}

fn is_newer(name: &str) -> bool {
    newer_entries().any(|entry| {
        name == entry
            || name
                .strip_prefix(entry)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// `mesos.v1.X` (tritium) → `mesos.X` (reference); also for `.`-prefixed type names.
fn to_reference_name(name: &str) -> String {
    let (dot, bare) = match name.strip_prefix('.') {
        Some(bare) => (".", bare),
        None => ("", name),
    };
    match bare.strip_prefix("mesos.v1.") {
        Some(rest) => format!("{dot}mesos.{rest}"),
        None => name.to_string(),
    }
}

/// `mesos.X` (reference) → `mesos.v1.X` (tritium).
fn to_our_name(name: &str) -> String {
    match name.strip_prefix("mesos.") {
        Some(rest) => format!("mesos.v1.{rest}"),
        None => name.to_string(),
    }
}

/// Every message and enum of a descriptor set, by full name without the leading dot.
#[derive(Default)]
struct Definitions {
    messages: BTreeMap<String, DescriptorProto>,
    enums: BTreeMap<String, EnumDescriptorProto>,
}

impl Definitions {
    fn of(set: &FileDescriptorSet) -> Self {
        let mut defs = Self::default();
        for file in &set.file {
            for message in &file.message_type {
                defs.add_message(file.package(), message);
            }
            for en in &file.enum_type {
                defs.enums
                    .insert(format!("{}.{}", file.package(), en.name()), en.clone());
            }
        }
        defs
    }

    fn add_message(&mut self, scope: &str, message: &DescriptorProto) {
        let name = format!("{scope}.{}", message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for en in &message.enum_type {
            self.enums
                .insert(format!("{name}.{}", en.name()), en.clone());
        }
        self.messages.insert(name, message.clone());
    }
}

/// One line describing a field, in reference naming, e.g.
/// `optional .mesos.Filters filters = 3` or `optional double refuse_seconds = 1 [default = 5]`.
fn field_signature(field: &FieldDescriptorProto) -> String {
    let label = match field.label() {
        Label::Optional => "optional",
        Label::Required => "required",
        Label::Repeated => "repeated",
    };
    let ty = match field.r#type() {
        FieldType::Message | FieldType::Enum | FieldType::Group => {
            to_reference_name(field.type_name())
        }
        other => other
            .as_str_name()
            .trim_start_matches("TYPE_")
            .to_lowercase(),
    };
    let default = match (&field.default_value, field.r#type()) {
        (None, _) => String::new(),
        // protoc and protox may spell the same double differently ("5" / "5.0").
        (Some(d), FieldType::Double | FieldType::Float) => {
            format!(
                " [default = {}]",
                d.parse::<f64>().map_or(d.clone(), |v| v.to_string())
            )
        }
        (Some(d), _) => format!(" [default = {d}]"),
    };
    let oneof = if field.oneof_index.is_some() {
        " (in a oneof)"
    } else {
        ""
    };
    format!(
        "{label} {ty} {} = {}{default}{oneof}",
        field.name(),
        field.number()
    )
}

#[test]
fn descriptors_agree_with_reference() {
    let reference = Reference::load();
    let theirs = Definitions::of(&reference.descriptors());
    let ours = Definitions::of(&our_descriptors());
    let mut problems = Vec::new();
    let mut our_names = BTreeSet::new();

    for (name, message) in &ours.messages {
        our_names.insert(name.clone());
        for field in &message.field {
            our_names.insert(format!("{name}.{}", field.name()));
        }
        let ref_name = to_reference_name(name);
        let Some(ref_message) = theirs.messages.get(&ref_name) else {
            if !is_newer(name) {
                problems.push(format!(
                    "message {name}: the reference has no {ref_name} (add it to NEWER_THAN_REFERENCE \
                     only if upstream Mesos really defines it)"
                ));
            }
            continue;
        };
        if is_newer(name) {
            problems.push(format!(
                "message {name} is in NEWER_THAN_REFERENCE but the reference defines {ref_name}: \
                 remove the entry so it is compared"
            ));
            continue;
        }
        for field in &message.field {
            let field_name = format!("{name}.{}", field.name());
            let ref_field = ref_message.field.iter().find(|f| f.name() == field.name());
            match (ref_field, is_newer(&field_name)) {
                (Some(r), true) => problems.push(format!(
                    "field {field_name} is in NEWER_THAN_REFERENCE but the reference defines it \
                     ({}): remove the entry",
                    field_signature(r)
                )),
                (None, true) => {}
                (None, false) => problems.push(format!(
                    "field {field_name}: ours is `{}`, the reference {ref_name} has no field of that name",
                    field_signature(field)
                )),
                (Some(r), false) => {
                    let (mine, its) = (field_signature(field), field_signature(r));
                    if mine != its {
                        problems.push(format!("field {field_name}: ours is `{mine}`, the reference has `{its}`"));
                    }
                }
            }
        }
    }

    for (name, en) in &ours.enums {
        our_names.insert(name.clone());
        for v in &en.value {
            our_names.insert(format!("{name}.{}", v.name()));
        }
        let ref_name = to_reference_name(name);
        let Some(ref_enum) = theirs.enums.get(&ref_name) else {
            if !is_newer(name) {
                problems.push(format!("enum {name}: the reference has no {ref_name}"));
            }
            continue;
        };
        if is_newer(name) {
            problems.push(format!(
                "enum {name} is in NEWER_THAN_REFERENCE but the reference defines it"
            ));
            continue;
        }
        for v in &en.value {
            let value_name = format!("{name}.{}", v.name());
            let ref_value = ref_enum.value.iter().find(|r| r.name() == v.name());
            match (ref_value, is_newer(&value_name)) {
                (Some(r), true) => problems.push(format!(
                    "enum value {value_name} is in NEWER_THAN_REFERENCE but the reference defines it as {}",
                    r.number()
                )),
                (None, true) => {}
                (None, false) => problems.push(format!(
                    "enum value {value_name} = {}: the reference {ref_name} has no such value",
                    v.number()
                )),
                (Some(r), false) if r.number() != v.number() => problems.push(format!(
                    "enum value {value_name}: ours is {} = {}, the reference has {} = {}",
                    v.name(),
                    v.number(),
                    r.name(),
                    r.number()
                )),
                (Some(_), false) => {}
            }
        }
        // Enums are cheap to define in full: every reference value must exist.
        for r in &ref_enum.value {
            if !en.value.iter().any(|v| v.name() == r.name()) {
                problems.push(format!(
                    "enum {name} lacks the reference value {} = {}",
                    r.name(),
                    r.number()
                ));
            }
        }
    }

    // Each group is named after the test that checks it.
    let source = include_str!("conformance.rs");
    for (test, _) in NEWER_THAN_REFERENCE {
        if !source.contains(&format!("#[test]\nfn {test}()")) {
            problems.push(format!(
                "NEWER_THAN_REFERENCE group {test}: no test of that name"
            ));
        }
    }

    // The allowlist must not go stale.
    for entry in newer_entries() {
        if !our_names.contains(entry) {
            problems.push(format!(
                "NEWER_THAN_REFERENCE entry {entry} names nothing tritium defines"
            ));
        }
    }

    // Completeness is checked by `reference_closure_is_defined`.
    assert!(
        problems.is_empty(),
        "tritium's protos disagree with the reference:\n  {}",
        problems.join("\n  ")
    );
}

/// What the reference reaches from `roots`: the messages and enums used as
/// field types, transitively, plus every message and enum nested in a
/// reached message (a definition is complete or absent, never partial).
fn closure(defs: &Definitions, roots: &[&str]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut messages = BTreeSet::new();
    let mut enums = BTreeSet::new();
    let mut stack: Vec<String> = roots.iter().map(|r| (*r).to_string()).collect();
    while let Some(name) = stack.pop() {
        if !messages.insert(name.clone()) {
            continue;
        }
        let message = defs
            .messages
            .get(&name)
            .unwrap_or_else(|| panic!("the reference does not define {name}"));
        for nested in &message.nested_type {
            stack.push(format!("{name}.{}", nested.name()));
        }
        for en in &message.enum_type {
            enums.insert(format!("{name}.{}", en.name()));
        }
        for field in &message.field {
            let ty = field.type_name().trim_start_matches('.').to_string();
            match field.r#type() {
                FieldType::Message | FieldType::Group => stack.push(ty),
                FieldType::Enum => {
                    enums.insert(ty);
                }
                _ => {}
            }
        }
    }
    (messages, enums)
}

/// Every message, field and enum value of the reference's scheduler and
/// executor APIs, and of the `mesos` types they reach, is defined by tritium
/// under the same name (numbers and types are compared by
/// `descriptors_agree_with_reference`). Tritium copies offered resources and
/// task infos into its calls, and prost drops fields it does not know: a
/// missing definition would lose data silently, so it fails here instead.
#[test]
fn reference_closure_is_defined() {
    let reference = Reference::load();
    let theirs = Definitions::of(&reference.descriptors());
    let ours = Definitions::of(&our_descriptors());
    let (messages, enums) = closure(&theirs, REF_ROOTS);
    let mut problems = Vec::new();
    for ref_name in &messages {
        let name = to_our_name(ref_name);
        let Some(message) = ours.messages.get(&name) else {
            problems.push(format!("message {name} is missing (reference {ref_name})"));
            continue;
        };
        for r in &theirs.messages[ref_name].field {
            if !message.field.iter().any(|f| f.name() == r.name()) {
                problems.push(format!(
                    "message {name} lacks the reference field `{}`",
                    field_signature(r)
                ));
            }
        }
    }
    for ref_name in &enums {
        let name = to_our_name(ref_name);
        let Some(en) = ours.enums.get(&name) else {
            problems.push(format!("enum {name} is missing (reference {ref_name})"));
            continue;
        };
        for r in &theirs.enums[ref_name].value {
            if !en.value.iter().any(|v| v.name() == r.name()) {
                problems.push(format!(
                    "enum {name} lacks the reference value {} = {}",
                    r.name(),
                    r.number()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "tritium's protos lack parts of the reference scheduler/executor APIs:\n  {}",
        problems.join("\n  ")
    );
    // The closure really spans both APIs and the types below them (guards
    // against a walk that stops early).
    for must in [
        "mesos.scheduler.Call.Reconcile.Task",
        "mesos.executor.Event.Subscribed",
        "mesos.AgentInfo",
        "mesos.Resource.DiskInfo.Source.Mount",
        "mesos.ContainerInfo.DockerInfo.PortMapping",
        "mesos.CgroupInfo.Blkio.CFQ.Statistics",
        "mesos.Device.Number",
    ] {
        assert!(messages.contains(must), "closure misses {must}");
    }
    assert!(enums.contains("mesos.RLimitInfo.RLimit.Type"));
}

// ---------------------------------------------------------------------------
// Corpus of representative messages (fields known to the reference only).

fn framework_id() -> v1::FrameworkId {
    v1::FrameworkId {
        value: "fw-3f1c".into(),
    }
}

fn agent_id(value: &str) -> v1::AgentId {
    v1::AgentId {
        value: value.into(),
    }
}

fn task_id(value: &str) -> v1::TaskId {
    v1::TaskId {
        value: value.into(),
    }
}

fn offer_id(value: &str) -> v1::OfferId {
    v1::OfferId {
        value: value.into(),
    }
}

fn executor_id(value: &str) -> v1::ExecutorId {
    v1::ExecutorId {
        value: value.into(),
    }
}

fn labels(pairs: &[(&str, Option<&str>)]) -> v1::Labels {
    v1::Labels {
        labels: pairs
            .iter()
            .map(|(k, v)| v1::Label {
                key: (*k).into(),
                value: v.map(Into::into),
            })
            .collect(),
    }
}

fn seconds(s: i64) -> v1::DurationInfo {
    v1::DurationInfo {
        nanoseconds: s * 1_000_000_000,
    }
}

const UUID_BYTES: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

fn scalar(name: &str, v: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

fn ranges(name: &str, spans: &[(u64, u64)]) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: spans
                .iter()
                .map(|&(begin, end)| value::Range { begin, end })
                .collect(),
        }),
        ..Default::default()
    }
}

fn set(name: &str, items: &[&str]) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: value::Type::Set as i32,
        set: Some(value::Set {
            item: items.iter().map(|s| (*s).into()).collect(),
        }),
        ..Default::default()
    }
}

fn allocated(mut r: v1::Resource, role: &str) -> v1::Resource {
    r.allocation_info = Some(resource::AllocationInfo {
        role: Some(role.into()),
    });
    r
}

/// A refined reservation stack: statically for "web", dynamically for "web/team-a".
fn reserved(mut r: v1::Resource) -> v1::Resource {
    r.reservations = vec![
        resource::ReservationInfo {
            r#type: Some(resource::reservation_info::Type::Static as i32),
            role: Some("web".into()),
            ..Default::default()
        },
        resource::ReservationInfo {
            r#type: Some(resource::reservation_info::Type::Dynamic as i32),
            role: Some("web/team-a".into()),
            principal: Some("tritium".into()),
            labels: Some(labels(&[("owner", Some("team-a")), ("flag", None)])),
        },
    ];
    allocated(r, "web/team-a")
}

fn persistent_volume() -> v1::Resource {
    let mut r = reserved(scalar("disk", 1024.0));
    r.disk = Some(Box::new(resource::DiskInfo {
        persistence: Some(resource::disk_info::Persistence {
            id: "pv-1".into(),
            principal: Some("tritium".into()),
        }),
        volume: Some(v1::Volume {
            mode: v1::volume::Mode::Rw as i32,
            container_path: "data".into(),
            ..Default::default()
        }),
        source: Some(resource::disk_info::Source {
            r#type: resource::disk_info::source::Type::Mount as i32,
            mount: Some(resource::disk_info::source::Mount {
                root: Some("/mnt/disk1".into()),
            }),
            ..Default::default()
        }),
    }));
    r
}

/// Resources as an old, pre-refinement master shows them (deprecated fields).
#[allow(deprecated)]
fn legacy_reserved_cpus() -> v1::Resource {
    v1::Resource {
        role: Some("legacy".into()),
        reservation: Some(Box::new(resource::ReservationInfo {
            principal: Some("ops".into()),
            ..Default::default()
        })),
        ..scalar("cpus", 2.0)
    }
}

#[allow(deprecated)]
fn full_framework_info() -> v1::FrameworkInfo {
    use v1::framework_info::capability::Type as Cap;
    v1::FrameworkInfo {
        user: "tritium".into(),
        name: "tritium".into(),
        id: Some(framework_id()),
        failover_timeout: Some(604_800.0),
        checkpoint: Some(true),
        role: Some("*".into()),
        roles: vec!["web".into(), "batch".into()],
        hostname: Some("scheduler-1.example.invalid".into()),
        principal: Some("tritium".into()),
        webui_url: Some("http://scheduler-1.example.invalid:8080/".into()),
        capabilities: [
            Cap::RevocableResources,
            Cap::TaskKillingState,
            Cap::GpuResources,
            Cap::SharedResources,
            Cap::PartitionAware,
            Cap::MultiRole,
            Cap::ReservationRefinement,
            Cap::RegionAware,
        ]
        .into_iter()
        .map(|t| v1::framework_info::Capability {
            r#type: Some(t as i32),
        })
        .collect(),
        labels: Some(labels(&[("team", Some("infra"))])),
        offer_filters: HashMap::new(),
    }
}

fn docker_image(name: &str) -> v1::Image {
    v1::Image {
        r#type: v1::image::Type::Docker as i32,
        docker: Some(v1::image::Docker {
            name: name.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn mesos_container() -> v1::ContainerInfo {
    use v1::volume::{self, source};
    let rw = v1::volume::Mode::Rw as i32;
    let ro = v1::volume::Mode::Ro as i32;
    let caps = |c: &[v1::capability_info::Capability]| v1::CapabilityInfo {
        capabilities: c.iter().map(|&c| c as i32).collect(),
    };
    v1::ContainerInfo {
        r#type: v1::container_info::Type::Mesos as i32,
        volumes: vec![
            v1::Volume {
                mode: rw,
                container_path: "/srv".into(),
                host_path: Some("/srv/web".into()),
                ..Default::default()
            },
            v1::Volume {
                mode: rw,
                container_path: "/data".into(),
                source: Some(volume::Source {
                    r#type: Some(source::Type::DockerVolume as i32),
                    docker_volume: Some(source::DockerVolume {
                        driver: Some("rexray".into()),
                        name: "web-data".into(),
                        driver_options: Some(v1::Parameters {
                            parameter: vec![v1::Parameter {
                                key: "size".into(),
                                value: "10".into(),
                            }],
                        }),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            v1::Volume {
                mode: ro,
                container_path: "/shared".into(),
                source: Some(volume::Source {
                    r#type: Some(source::Type::SandboxPath as i32),
                    sandbox_path: Some(source::SandboxPath {
                        r#type: Some(source::sandbox_path::Type::Parent as i32),
                        path: "shared".into(),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            v1::Volume {
                mode: ro,
                container_path: "/run/secret".into(),
                source: Some(volume::Source {
                    r#type: Some(source::Type::Secret as i32),
                    secret: Some(v1::Secret {
                        r#type: Some(v1::secret::Type::Value as i32),
                        value: Some(v1::secret::Value {
                            data: Bytes::from_static(b"s3cr3t\0"),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            v1::Volume {
                mode: ro,
                container_path: "/tools".into(),
                image: Some(v1::Image {
                    r#type: v1::image::Type::Appc as i32,
                    appc: Some(v1::image::Appc {
                        name: "example.invalid/tools".into(),
                        id: Some("sha512-abc".into()),
                        labels: Some(labels(&[("arch", Some("amd64"))])),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
        hostname: Some("web-1".into()),
        mesos: Some(v1::container_info::MesosInfo {
            image: Some(v1::Image {
                r#type: v1::image::Type::Docker as i32,
                docker: Some(v1::image::Docker {
                    name: "registry.example.invalid/web:1.2.3".into(),
                    config: Some(v1::Secret {
                        r#type: Some(v1::secret::Type::Reference as i32),
                        reference: Some(v1::secret::Reference {
                            name: "/registry/config".into(),
                            key: Some("dockercfg".into()),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                cached: Some(false),
                ..Default::default()
            }),
        }),
        network_infos: vec![v1::NetworkInfo {
            ip_addresses: vec![
                v1::network_info::IpAddress {
                    protocol: Some(v1::network_info::Protocol::IPv4 as i32),
                    ip_address: None,
                },
                v1::network_info::IpAddress {
                    protocol: Some(v1::network_info::Protocol::IPv6 as i32),
                    ip_address: Some("fd00::10".into()),
                },
            ],
            name: Some("cni-overlay".into()),
            groups: vec!["web".into(), "public".into()],
            labels: Some(labels(&[("tier", Some("front"))])),
            port_mappings: vec![v1::network_info::PortMapping {
                host_port: 31000,
                container_port: 8080,
                protocol: Some("tcp".into()),
            }],
        }],
        linux_info: Some(v1::LinuxInfo {
            bounding_capabilities: Some(caps(&[
                v1::capability_info::Capability::NetBindService,
                v1::capability_info::Capability::Chown,
            ])),
            effective_capabilities: Some(caps(&[v1::capability_info::Capability::NetBindService])),
            share_pid_namespace: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn docker_container() -> v1::ContainerInfo {
    use v1::container_info::docker_info;
    v1::ContainerInfo {
        r#type: v1::container_info::Type::Docker as i32,
        volumes: vec![v1::Volume {
            mode: v1::volume::Mode::Ro as i32,
            container_path: "/etc/app".into(),
            host_path: Some("/etc/app".into()),
            ..Default::default()
        }],
        docker: Some(v1::container_info::DockerInfo {
            image: "library/nginx:1.25".into(),
            network: Some(docker_info::Network::Bridge as i32),
            port_mappings: vec![docker_info::PortMapping {
                host_port: 31001,
                container_port: 80,
                protocol: Some("tcp".into()),
            }],
            privileged: Some(false),
            parameters: vec![v1::Parameter {
                key: "label".into(),
                value: "app=web".into(),
            }],
            force_pull_image: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn command_task() -> v1::TaskInfo {
    use v1::environment::{Variable, variable};
    v1::TaskInfo {
        name: "web".into(),
        task_id: task_id("web-1.a1b2"),
        agent_id: agent_id("agent-9"),
        resources: vec![
            reserved(scalar("cpus", 0.5)),
            allocated(scalar("mem", 128.0), "web"),
            allocated(ranges("ports", &[(31000, 31000)]), "web"),
        ],
        command: Some(v1::CommandInfo {
            uris: vec![v1::command_info::Uri {
                value: "https://example.invalid/app.tgz".into(),
                executable: Some(false),
                extract: Some(true),
                cache: Some(true),
                output_file: Some("app.tgz".into()),
            }],
            environment: Some(v1::Environment {
                variables: vec![
                    Variable {
                        name: "PORT".into(),
                        r#type: Some(variable::Type::Value as i32),
                        value: Some("31000".into()),
                        secret: None,
                    },
                    Variable {
                        name: "TOKEN".into(),
                        r#type: Some(variable::Type::Secret as i32),
                        value: None,
                        secret: Some(v1::Secret {
                            r#type: Some(v1::secret::Type::Reference as i32),
                            reference: Some(v1::secret::Reference {
                                name: "/web/token".into(),
                                key: None,
                            }),
                            ..Default::default()
                        }),
                    },
                ],
            }),
            shell: Some(false),
            value: Some("/app/bin/server".into()),
            arguments: vec!["server".into(), "--port=31000".into()],
            user: Some("nobody".into()),
        }),
        container: Some(mesos_container()),
        health_check: Some(v1::HealthCheck {
            r#type: Some(v1::health_check::Type::Http as i32),
            http: Some(v1::health_check::HttpCheckInfo {
                protocol: None, // newer than the reference
                scheme: Some("http".into()),
                port: 31000,
                path: Some("/health".into()),
                statuses: vec![200, 204],
            }),
            delay_seconds: Some(5.0),
            interval_seconds: Some(10.0),
            timeout_seconds: Some(2.5),
            consecutive_failures: Some(3),
            grace_period_seconds: Some(30.0),
            ..Default::default()
        }),
        check: Some(v1::CheckInfo {
            r#type: Some(v1::check_info::Type::Tcp as i32),
            tcp: Some(v1::check_info::Tcp { port: 31000 }),
            delay_seconds: Some(1.0),
            interval_seconds: Some(5.0),
            timeout_seconds: Some(1.0),
            ..Default::default()
        }),
        kill_policy: Some(v1::KillPolicy {
            grace_period: Some(seconds(30)),
        }),
        data: Some(Bytes::from_static(b"\x00\x01opaque\xff")),
        labels: Some(labels(&[("app", Some("web")), ("canary", None)])),
        discovery: Some(v1::DiscoveryInfo {
            visibility: v1::discovery_info::Visibility::Cluster as i32,
            name: Some("web".into()),
            environment: Some("prod".into()),
            location: Some("eu-west".into()),
            version: Some("1.2.3".into()),
            ports: Some(v1::Ports {
                ports: vec![v1::Port {
                    number: 31000,
                    name: Some("http".into()),
                    protocol: Some("tcp".into()),
                    visibility: Some(v1::discovery_info::Visibility::External as i32),
                    labels: Some(labels(&[("lb", Some("public"))])),
                }],
            }),
            labels: None,
        }),
        ..Default::default()
    }
}

fn docker_task() -> v1::TaskInfo {
    v1::TaskInfo {
        name: "nginx".into(),
        task_id: task_id("nginx-1"),
        agent_id: agent_id("agent-9"),
        resources: vec![
            allocated(scalar("cpus", 0.25), "web"),
            allocated(ranges("ports", &[(31001, 31001)]), "web"),
        ],
        command: Some(v1::CommandInfo {
            shell: Some(true),
            value: Some("nginx -g 'daemon off;'".into()),
            ..Default::default()
        }),
        container: Some(docker_container()),
        health_check: Some(v1::HealthCheck {
            r#type: Some(v1::health_check::Type::Tcp as i32),
            tcp: Some(v1::health_check::TcpCheckInfo {
                protocol: None,
                port: 31001,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn group_executor() -> v1::ExecutorInfo {
    v1::ExecutorInfo {
        r#type: Some(v1::executor_info::Type::Default as i32),
        executor_id: executor_id("exec-group-1"),
        framework_id: Some(framework_id()),
        container: Some(v1::ContainerInfo {
            r#type: v1::container_info::Type::Mesos as i32,
            network_infos: vec![v1::NetworkInfo {
                name: Some("cni-overlay".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        resources: vec![
            allocated(scalar("cpus", 0.1), "batch"),
            allocated(scalar("mem", 32.0), "batch"),
        ],
        name: Some("group executor".into()),
        data: Some(Bytes::from_static(b"exec-data")),
        shutdown_grace_period: Some(seconds(10)),
        labels: Some(labels(&[("kind", Some("group"))])),
        ..Default::default()
    }
}

fn task_group() -> v1::TaskGroupInfo {
    let member = |id: &str, check: v1::HealthCheck| v1::TaskInfo {
        name: id.into(),
        task_id: task_id(id),
        agent_id: agent_id("agent-9"),
        resources: vec![
            allocated(scalar("cpus", 0.5), "batch"),
            allocated(scalar("mem", 256.0), "batch"),
        ],
        command: Some(v1::CommandInfo {
            value: Some(format!("./run {id}")),
            ..Default::default()
        }),
        container: Some(v1::ContainerInfo {
            r#type: v1::container_info::Type::Mesos as i32,
            mesos: Some(v1::container_info::MesosInfo {
                image: Some(docker_image("library/busybox:1.36")),
            }),
            ..Default::default()
        }),
        health_check: Some(check),
        ..Default::default()
    };
    v1::TaskGroupInfo {
        tasks: vec![
            member(
                "batch-1.main",
                v1::HealthCheck {
                    r#type: Some(v1::health_check::Type::Command as i32),
                    command: Some(v1::CommandInfo {
                        value: Some("test -f /tmp/ready".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
            member(
                "batch-1.sidecar",
                v1::HealthCheck {
                    r#type: Some(v1::health_check::Type::Tcp as i32),
                    tcp: Some(v1::health_check::TcpCheckInfo {
                        protocol: None,
                        port: 9000,
                    }),
                    ..Default::default()
                },
            ),
        ],
    }
}

fn call(ty: call::Type, body: impl FnOnce(&mut Call)) -> Call {
    let mut c = Call {
        framework_id: Some(framework_id()),
        r#type: Some(ty as i32),
        ..Default::default()
    };
    body(&mut c);
    c
}

fn operation(
    ty: operation::Type,
    body: impl FnOnce(&mut v1::offer::Operation),
) -> v1::offer::Operation {
    let mut op = v1::offer::Operation {
        r#type: Some(ty as i32),
        ..Default::default()
    };
    body(&mut op);
    op
}

fn filters(refuse_seconds: f64) -> Option<v1::Filters> {
    Some(v1::Filters {
        refuse_seconds: Some(refuse_seconds),
    })
}

/// One or more Calls of every type tritium sends (and the few it does not).
fn call_corpus() -> Vec<(&'static str, Call)> {
    use call::Type as T;
    vec![
        (
            "first SUBSCRIBE",
            Call {
                framework_id: None,
                r#type: Some(T::Subscribe as i32),
                subscribe: Some(call::Subscribe {
                    framework_info: v1::FrameworkInfo {
                        id: None,
                        ..full_framework_info()
                    },
                    suppressed_roles: vec![],
                    offer_constraints: None,
                }),
                ..Default::default()
            },
        ),
        (
            "re-SUBSCRIBE",
            call(T::Subscribe, |c| {
                c.subscribe = Some(call::Subscribe {
                    framework_info: full_framework_info(),
                    suppressed_roles: vec!["batch".into()],
                    offer_constraints: None,
                })
            }),
        ),
        (
            "ACCEPT with LAUNCH",
            call(T::Accept, |c| {
                c.accept = Some(call::Accept {
                    offer_ids: vec![offer_id("offer-7"), offer_id("offer-8")],
                    operations: vec![operation(operation::Type::Launch, |op| {
                        op.launch = Some(operation::Launch {
                            task_infos: vec![command_task(), docker_task()],
                        })
                    })],
                    filters: filters(5.0),
                })
            }),
        ),
        (
            "ACCEPT with LAUNCH_GROUP",
            call(T::Accept, |c| {
                c.accept = Some(call::Accept {
                    offer_ids: vec![offer_id("offer-9")],
                    operations: vec![operation(operation::Type::LaunchGroup, |op| {
                        op.launch_group = Some(operation::LaunchGroup {
                            executor: group_executor(),
                            task_group: task_group(),
                        })
                    })],
                    filters: None,
                })
            }),
        ),
        (
            "ACCEPT with RESERVE, CREATE and LAUNCH on the volume",
            call(T::Accept, |c| {
                let mut with_volume = command_task();
                with_volume.resources.push(persistent_volume());
                c.accept = Some(call::Accept {
                    offer_ids: vec![offer_id("offer-10")],
                    operations: vec![
                        operation(operation::Type::Reserve, |op| {
                            op.reserve = Some(operation::Reserve {
                                source: vec![], // newer than the reference
                                resources: vec![
                                    reserved(scalar("disk", 1024.0)),
                                    reserved(scalar("cpus", 1.0)),
                                ],
                            })
                        }),
                        operation(operation::Type::Create, |op| {
                            op.create = Some(operation::Create {
                                volumes: vec![persistent_volume()],
                            })
                        }),
                        operation(operation::Type::Launch, |op| {
                            op.launch = Some(operation::Launch {
                                task_infos: vec![with_volume],
                            })
                        }),
                    ],
                    filters: filters(0.0),
                })
            }),
        ),
        (
            "ACCEPT with DESTROY and UNRESERVE",
            call(T::Accept, |c| {
                c.accept = Some(call::Accept {
                    offer_ids: vec![offer_id("offer-11")],
                    operations: vec![
                        operation(operation::Type::Destroy, |op| {
                            op.destroy = Some(operation::Destroy {
                                volumes: vec![persistent_volume()],
                            })
                        }),
                        operation(operation::Type::Unreserve, |op| {
                            op.unreserve = Some(operation::Unreserve {
                                resources: vec![
                                    reserved(scalar("disk", 1024.0)),
                                    legacy_reserved_cpus(),
                                ],
                            })
                        }),
                    ],
                    filters: None,
                })
            }),
        ),
        (
            "DECLINE",
            call(T::Decline, |c| {
                c.decline = Some(call::Decline {
                    offer_ids: vec![offer_id("offer-12")],
                    filters: filters(300.0),
                })
            }),
        ),
        (
            "ACCEPT_INVERSE_OFFERS",
            call(T::AcceptInverseOffers, |c| {
                c.accept_inverse_offers = Some(call::AcceptInverseOffers {
                    inverse_offer_ids: vec![offer_id("inv-1")],
                    filters: filters(60.0),
                })
            }),
        ),
        (
            "DECLINE_INVERSE_OFFERS",
            call(T::DeclineInverseOffers, |c| {
                c.decline_inverse_offers = Some(call::DeclineInverseOffers {
                    inverse_offer_ids: vec![offer_id("inv-2")],
                    filters: None,
                })
            }),
        ),
        (
            "REVIVE",
            call(T::Revive, |c| {
                c.revive = Some(call::Revive {
                    roles: vec!["web".into(), "batch".into()],
                })
            }),
        ),
        ("REVIVE all roles", call(T::Revive, |_| {})),
        (
            "SUPPRESS",
            call(T::Suppress, |c| {
                c.suppress = Some(call::Suppress {
                    roles: vec!["batch".into()],
                })
            }),
        ),
        (
            "KILL",
            call(T::Kill, |c| {
                c.kill = Some(call::Kill {
                    task_id: task_id("web-1.a1b2"),
                    agent_id: Some(agent_id("agent-9")),
                    kill_policy: Some(v1::KillPolicy {
                        grace_period: Some(seconds(1)),
                    }),
                })
            }),
        ),
        (
            "KILL without agent",
            call(T::Kill, |c| {
                c.kill = Some(call::Kill {
                    task_id: task_id("lost-1"),
                    ..Default::default()
                })
            }),
        ),
        (
            "SHUTDOWN",
            call(T::Shutdown, |c| {
                c.shutdown = Some(call::Shutdown {
                    executor_id: executor_id("exec-group-1"),
                    agent_id: agent_id("agent-9"),
                })
            }),
        ),
        (
            "ACKNOWLEDGE",
            call(T::Acknowledge, |c| {
                c.acknowledge = Some(call::Acknowledge {
                    agent_id: agent_id("agent-9"),
                    task_id: task_id("web-1.a1b2"),
                    uuid: Bytes::from_static(&UUID_BYTES),
                })
            }),
        ),
        (
            "explicit RECONCILE",
            call(T::Reconcile, |c| {
                c.reconcile = Some(call::Reconcile {
                    tasks: vec![
                        call::reconcile::Task {
                            task_id: task_id("web-1.a1b2"),
                            agent_id: Some(agent_id("agent-9")),
                        },
                        call::reconcile::Task {
                            task_id: task_id("batch-7"),
                            agent_id: None,
                        },
                    ],
                })
            }),
        ),
        (
            "implicit RECONCILE",
            call(T::Reconcile, |c| {
                c.reconcile = Some(call::Reconcile { tasks: vec![] })
            }),
        ),
        (
            "MESSAGE",
            call(T::Message, |c| {
                c.message = Some(call::Message {
                    agent_id: agent_id("agent-9"),
                    executor_id: executor_id("exec-group-1"),
                    data: Bytes::from_static(b"\x00ping\xff"),
                })
            }),
        ),
        (
            "REQUEST",
            call(T::Request, |c| {
                c.request = Some(call::Request {
                    requests: vec![v1::Request {
                        agent_id: Some(agent_id("agent-9")),
                        resources: vec![scalar("cpus", 4.0), set("gpus_models", &["a100"])],
                    }],
                })
            }),
        ),
        ("TEARDOWN", call(T::Teardown, |_| {})),
    ]
}

fn full_offer() -> v1::Offer {
    let mut shared_disk = allocated(scalar("disk", 50.0), "web");
    shared_disk.shared = Some(resource::SharedInfo {});
    shared_disk.provider_id = Some(Box::new(v1::ResourceProviderId {
        value: "rp-local".into(),
    }));
    let mut revocable = allocated(scalar("cpus", 1.0), "web");
    revocable.revocable = Some(resource::RevocableInfo {});
    let mut path_disk = allocated(scalar("disk", 200.0), "web");
    path_disk.disk = Some(Box::new(resource::DiskInfo {
        source: Some(resource::disk_info::Source {
            r#type: resource::disk_info::source::Type::Path as i32,
            path: Some(resource::disk_info::source::Path {
                root: Some("/mnt/path1".into()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }));
    let attribute = |name: &str, ty: value::Type| v1::Attribute {
        name: name.into(),
        r#type: ty as i32,
        ..Default::default()
    };
    v1::Offer {
        id: offer_id("offer-7"),
        framework_id: framework_id(),
        agent_id: agent_id("agent-9"),
        hostname: "node-9.example.invalid".into(),
        url: Some(v1::Url {
            scheme: "http".into(),
            address: v1::Address {
                hostname: Some("node-9.example.invalid".into()),
                ip: Some("10.0.0.9".into()),
                port: 5051,
            },
            path: Some("/slave(1)".into()),
            query: vec![v1::Parameter {
                key: "k".into(),
                value: "v".into(),
            }],
            fragment: Some("top".into()),
        }),
        domain: Some(domain("eu-west", "eu-west-1b")),
        resources: vec![
            allocated(scalar("cpus", 3.5), "web"),
            reserved(scalar("mem", 2048.0)),
            allocated(ranges("ports", &[(31000, 31099), (32000, 32000)]), "web"),
            allocated(set("gpus_models", &["a100", "h100"]), "web"),
            persistent_volume(),
            path_disk,
            shared_disk,
            revocable,
            legacy_reserved_cpus(),
        ],
        attributes: vec![
            v1::Attribute {
                text: Some(value::Text {
                    value: "r12".into(),
                }),
                ..attribute("rack", value::Type::Text)
            },
            v1::Attribute {
                scalar: Some(value::Scalar { value: 64.0 }),
                ..attribute("cores", value::Type::Scalar)
            },
            v1::Attribute {
                ranges: Some(value::Ranges {
                    range: vec![value::Range { begin: 1, end: 4 }],
                }),
                ..attribute("slots", value::Type::Ranges)
            },
            v1::Attribute {
                set: Some(value::Set {
                    item: vec!["ssd".into(), "avx512".into()],
                }),
                ..attribute("features", value::Type::Set)
            },
        ],
        executor_ids: vec![executor_id("exec-1")],
        unavailability: Some(v1::Unavailability {
            start: v1::TimeInfo {
                nanoseconds: 1_700_000_000_000_000_000,
            },
            duration: Some(seconds(3600)),
        }),
        allocation_info: Some(resource::AllocationInfo {
            role: Some("web".into()),
        }),
    }
}

fn domain(region: &str, zone: &str) -> v1::DomainInfo {
    use v1::domain_info::{FaultDomain, fault_domain};
    v1::DomainInfo {
        fault_domain: Some(FaultDomain {
            region: fault_domain::RegionInfo {
                name: region.into(),
            },
            zone: fault_domain::ZoneInfo { name: zone.into() },
        }),
    }
}

fn full_task_status() -> v1::TaskStatus {
    v1::TaskStatus {
        task_id: task_id("web-1.a1b2"),
        state: v1::TaskState::TaskRunning as i32,
        message: Some("health check passed".into()),
        source: Some(v1::task_status::Source::Executor as i32),
        reason: Some(v1::task_status::Reason::TaskHealthCheckStatusUpdated as i32),
        data: Some(Bytes::from_static(b"\x01\x02")),
        agent_id: Some(agent_id("agent-9")),
        executor_id: Some(executor_id("web-1.a1b2")),
        timestamp: Some(1_700_000_000.123_456),
        uuid: Some(Bytes::from_static(&UUID_BYTES)),
        healthy: Some(true),
        check_status: Some(v1::CheckStatusInfo {
            r#type: Some(v1::check_info::Type::Http as i32),
            http: Some(v1::check_status_info::Http {
                status_code: Some(200),
            }),
            ..Default::default()
        }),
        labels: Some(labels(&[("k", Some("v"))])),
        container_status: Some(v1::ContainerStatus {
            container_id: Some(v1::ContainerId {
                value: "c-2".into(),
                parent: Some(Box::new(v1::ContainerId {
                    value: "c-1".into(),
                    parent: None,
                })),
            }),
            network_infos: vec![v1::NetworkInfo {
                ip_addresses: vec![v1::network_info::IpAddress {
                    protocol: Some(v1::network_info::Protocol::IPv4 as i32),
                    ip_address: Some("10.1.2.3".into()),
                }],
                name: Some("cni-overlay".into()),
                ..Default::default()
            }],
            cgroup_info: Some(v1::CgroupInfo {
                net_cls: Some(v1::cgroup_info::NetCls {
                    classid: Some(0x0010_0001),
                }),
            }),
            executor_pid: Some(4242),
        }),
        unreachable_time: Some(v1::TimeInfo {
            nanoseconds: 1_699_999_999_000_000_000,
        }),
        limitation: None, // newer than the reference
    }
}

fn event(ty: event::Type, body: impl FnOnce(&mut Event)) -> Event {
    let mut e = Event {
        r#type: Some(ty as i32),
        ..Default::default()
    };
    body(&mut e);
    e
}

/// Every Event type the reference knows.
fn event_corpus() -> Vec<(&'static str, Event)> {
    use event::Type as T;
    vec![
        (
            "SUBSCRIBED",
            event(T::Subscribed, |e| {
                e.subscribed = Some(event::Subscribed {
                    framework_id: framework_id(),
                    heartbeat_interval_seconds: Some(15.0),
                    master_info: Some(v1::MasterInfo {
                        id: "master-1".into(),
                        ip: 16_777_343,
                        port: 5050,
                        pid: Some("master@127.0.0.1:5050".into()),
                        hostname: Some("mesos-master-1".into()),
                        version: Some("1.5.0".into()),
                        address: Some(v1::Address {
                            hostname: Some("mesos-master-1".into()),
                            ip: Some("127.0.0.1".into()),
                            port: 5050,
                        }),
                        domain: Some(domain("eu-west", "eu-west-1a")),
                        capabilities: vec![], // newer than the reference
                    }),
                })
            }),
        ),
        (
            "OFFERS",
            event(T::Offers, |e| {
                let mut second = full_offer();
                second.id = offer_id("offer-8");
                second.unavailability = None;
                second.url = None;
                e.offers = Some(event::Offers {
                    offers: vec![full_offer(), second],
                })
            }),
        ),
        (
            "INVERSE_OFFERS",
            event(T::InverseOffers, |e| {
                e.inverse_offers = Some(event::InverseOffers {
                    inverse_offers: vec![v1::InverseOffer {
                        id: offer_id("inv-1"),
                        url: None,
                        framework_id: framework_id(),
                        agent_id: Some(agent_id("agent-9")),
                        unavailability: v1::Unavailability {
                            start: v1::TimeInfo {
                                nanoseconds: 1_700_000_000_000_000_000,
                            },
                            duration: Some(seconds(7200)),
                        },
                        resources: vec![scalar("cpus", 2.0)],
                    }],
                })
            }),
        ),
        (
            "RESCIND",
            event(T::Rescind, |e| {
                e.rescind = Some(event::Rescind {
                    offer_id: offer_id("offer-7"),
                })
            }),
        ),
        (
            "RESCIND_INVERSE_OFFER",
            event(T::RescindInverseOffer, |e| {
                e.rescind_inverse_offer = Some(event::RescindInverseOffer {
                    inverse_offer_id: offer_id("inv-1"),
                })
            }),
        ),
        (
            "UPDATE",
            event(T::Update, |e| {
                e.update = Some(event::Update {
                    status: full_task_status(),
                })
            }),
        ),
        (
            "UPDATE from reconciliation",
            event(T::Update, |e| {
                e.update = Some(event::Update {
                    status: v1::TaskStatus {
                        task_id: task_id("batch-7"),
                        state: v1::TaskState::TaskUnknown as i32,
                        source: Some(v1::task_status::Source::Master as i32),
                        reason: Some(v1::task_status::Reason::Reconciliation as i32),
                        ..Default::default()
                    },
                })
            }),
        ),
        (
            "MESSAGE",
            event(T::Message, |e| {
                e.message = Some(event::Message {
                    agent_id: agent_id("agent-9"),
                    executor_id: executor_id("exec-1"),
                    data: Bytes::from_static(b"pong"),
                })
            }),
        ),
        (
            "FAILURE of an agent",
            event(T::Failure, |e| {
                e.failure = Some(event::Failure {
                    agent_id: Some(agent_id("agent-3")),
                    ..Default::default()
                })
            }),
        ),
        (
            "FAILURE of an executor",
            event(T::Failure, |e| {
                e.failure = Some(event::Failure {
                    agent_id: Some(agent_id("agent-3")),
                    executor_id: Some(executor_id("exec-4")),
                    status: Some(256),
                })
            }),
        ),
        (
            "ERROR",
            event(T::Error, |e| {
                e.error = Some(event::Error {
                    message: "Framework has been removed".into(),
                })
            }),
        ),
        ("HEARTBEAT", event(T::Heartbeat, |_| {})),
    ]
}

// ---------------------------------------------------------------------------
// (b) tritium → reference → tritium.

/// Lines of protoc text output that are unknown fields (`12: 5`, `12 {`).
fn unknown_field_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

fn round_trip<M: Message + Default + PartialEq + Debug>(
    reference: &Reference,
    type_name: &str,
    label: &str,
    msg: &M,
) {
    let bytes = msg.encode_to_vec();
    let text = reference.decode_to_text(type_name, &bytes);
    let unknown = unknown_field_lines(&text);
    assert!(
        unknown.is_empty(),
        "{label}: the reference does not know these fields tritium encoded:\n{}\nwhole message:\n{text}",
        unknown.join("\n")
    );
    let again = reference.encode_text(type_name, &text);
    let back = M::decode(again.as_slice())
        .unwrap_or_else(|e| panic!("{label}: tritium cannot decode the reference's bytes: {e}"));
    assert_eq!(
        &back, msg,
        "{label}: value changed on the way tritium -> reference -> tritium; text:\n{text}"
    );
    // prost and protoc both write fields in field-number order, so even the
    // bytes agree.
    assert_eq!(
        again, bytes,
        "{label}: the reference encodes the same value differently"
    );
}

#[test]
fn calls_round_trip_through_reference() {
    let reference = Reference::load();
    let corpus = call_corpus();
    for (label, c) in &corpus {
        round_trip(&reference, REF_CALL, label, c);
    }
    // Every Call type the reference knows is in the corpus.
    let seen: BTreeSet<i32> = corpus.iter().filter_map(|(_, c)| c.r#type).collect();
    for ty in (1..64).filter_map(|n| call::Type::try_from(n).ok()) {
        if !is_newer(&format!(
            "mesos.v1.scheduler.Call.Type.{}",
            ty.as_str_name()
        )) {
            assert!(
                seen.contains(&(ty as i32)),
                "no {} Call in the corpus",
                ty.as_str_name()
            );
        }
    }
}

#[test]
fn events_round_trip_through_reference() {
    let reference = Reference::load();
    let corpus = event_corpus();
    for (label, e) in &corpus {
        round_trip(&reference, REF_EVENT, label, e);
    }
    let seen: BTreeSet<i32> = corpus.iter().filter_map(|(_, e)| e.r#type).collect();
    for ty in (1..64).filter_map(|n| event::Type::try_from(n).ok()) {
        if !is_newer(&format!(
            "mesos.v1.scheduler.Event.Type.{}",
            ty.as_str_name()
        )) {
            assert!(
                seen.contains(&(ty as i32)),
                "no {} Event in the corpus",
                ty.as_str_name()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// (b) The executor API: tritium → reference → tritium.

fn agent_info() -> v1::AgentInfo {
    v1::AgentInfo {
        hostname: "node-9.example.invalid".into(),
        port: Some(5051),
        resources: vec![
            scalar("cpus", 8.0),
            scalar("mem", 32768.0),
            ranges("ports", &[(31000, 32000)]),
        ],
        attributes: vec![v1::Attribute {
            name: "rack".into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text {
                value: "r12".into(),
            }),
            ..Default::default()
        }],
        id: Some(agent_id("agent-9")),
        domain: Some(domain("eu-west", "eu-west-1b")),
    }
}

/// A command task whose container also sets the rlimit and TTY settings
/// (reachable only from a task, not used by tritium's scheduler).
fn task_with_rlimits_and_tty() -> v1::TaskInfo {
    use v1::r_limit_info::{RLimit, r_limit::Type};
    let mut task = command_task();
    let container = task.container.as_mut().expect("container");
    let limit = |ty: Type, soft: u64, hard: u64| RLimit {
        r#type: Some(ty as i32),
        hard: Some(hard),
        soft: Some(soft),
    };
    container.rlimit_info = Some(v1::RLimitInfo {
        rlimits: vec![
            limit(Type::RlmtNofile, 1024, 4096),
            limit(Type::RlmtCore, 0, 0),
            RLimit {
                r#type: Some(Type::RlmtStack as i32),
                hard: None,
                soft: None,
            },
        ],
    });
    container.tty_info = Some(v1::TtyInfo {
        window_size: Some(v1::tty_info::WindowSize {
            rows: 24,
            columns: 80,
        }),
    });
    task
}

fn executor_event(
    ty: executor::event::Type,
    body: impl FnOnce(&mut executor::Event),
) -> executor::Event {
    let mut e = executor::Event {
        r#type: Some(ty as i32),
        ..Default::default()
    };
    body(&mut e);
    e
}

fn executor_call(
    ty: executor::call::Type,
    body: impl FnOnce(&mut executor::Call),
) -> executor::Call {
    let mut c = executor::Call {
        executor_id: executor_id("exec-group-1"),
        framework_id: framework_id(),
        r#type: Some(ty as i32),
        ..Default::default()
    };
    body(&mut c);
    c
}

/// Every executor Event type the reference knows.
fn executor_event_corpus() -> Vec<(&'static str, executor::Event)> {
    use executor::event::{self, Type as T};
    vec![
        (
            "SUBSCRIBED",
            executor_event(T::Subscribed, |e| {
                e.subscribed = Some(event::Subscribed {
                    executor_info: group_executor(),
                    framework_info: full_framework_info(),
                    agent_info: agent_info(),
                    container_id: Some(v1::ContainerId {
                        value: "c-1".into(),
                        parent: None,
                    }),
                })
            }),
        ),
        (
            "LAUNCH",
            executor_event(T::Launch, |e| {
                e.launch = Some(event::Launch {
                    task: task_with_rlimits_and_tty(),
                })
            }),
        ),
        (
            "LAUNCH of a Docker task",
            executor_event(T::Launch, |e| {
                e.launch = Some(event::Launch {
                    task: docker_task(),
                })
            }),
        ),
        (
            "LAUNCH_GROUP",
            executor_event(T::LaunchGroup, |e| {
                e.launch_group = Some(event::LaunchGroup {
                    task_group: task_group(),
                })
            }),
        ),
        (
            "KILL",
            executor_event(T::Kill, |e| {
                e.kill = Some(event::Kill {
                    task_id: task_id("web-1.a1b2"),
                    kill_policy: Some(v1::KillPolicy {
                        grace_period: Some(seconds(5)),
                    }),
                })
            }),
        ),
        (
            "ACKNOWLEDGED",
            executor_event(T::Acknowledged, |e| {
                e.acknowledged = Some(event::Acknowledged {
                    task_id: task_id("web-1.a1b2"),
                    uuid: Bytes::from_static(&UUID_BYTES),
                })
            }),
        ),
        (
            "MESSAGE",
            executor_event(T::Message, |e| {
                e.message = Some(event::Message {
                    data: Bytes::from_static(b"ping\0"),
                })
            }),
        ),
        (
            "ERROR",
            executor_event(T::Error, |e| {
                e.error = Some(event::Error {
                    message: "Executor is not registered".into(),
                })
            }),
        ),
        ("SHUTDOWN", executor_event(T::Shutdown, |_| {})),
    ]
}

/// Every executor Call type the reference knows.
fn executor_call_corpus() -> Vec<(&'static str, executor::Call)> {
    use executor::call::{self, Type as T};
    let update = call::Update {
        status: full_task_status(),
    };
    vec![
        (
            "first SUBSCRIBE",
            executor_call(T::Subscribe, |c| {
                c.subscribe = Some(call::Subscribe::default())
            }),
        ),
        (
            "SUBSCRIBE after an agent restart",
            executor_call(T::Subscribe, |c| {
                c.subscribe = Some(call::Subscribe {
                    unacknowledged_tasks: vec![task_with_rlimits_and_tty()],
                    unacknowledged_updates: vec![update.clone()],
                })
            }),
        ),
        (
            "UPDATE",
            executor_call(T::Update, |c| c.update = Some(update.clone())),
        ),
        (
            "MESSAGE",
            executor_call(T::Message, |c| {
                c.message = Some(call::Message {
                    data: Bytes::from_static(b"pong"),
                })
            }),
        ),
    ]
}

#[test]
fn executor_calls_round_trip_through_reference() {
    let reference = Reference::load();
    let corpus = executor_call_corpus();
    for (label, c) in &corpus {
        round_trip(&reference, REF_EXECUTOR_CALL, label, c);
    }
    let seen: BTreeSet<i32> = corpus.iter().filter_map(|(_, c)| c.r#type).collect();
    for ty in (1..64).filter_map(|n| executor::call::Type::try_from(n).ok()) {
        if !is_newer(&format!("mesos.v1.executor.Call.Type.{}", ty.as_str_name())) {
            assert!(
                seen.contains(&(ty as i32)),
                "no {} executor Call in the corpus",
                ty.as_str_name()
            );
        }
    }
}

#[test]
fn executor_events_round_trip_through_reference() {
    let reference = Reference::load();
    let corpus = executor_event_corpus();
    for (label, e) in &corpus {
        round_trip(&reference, REF_EXECUTOR_EVENT, label, e);
    }
    let seen: BTreeSet<i32> = corpus.iter().filter_map(|(_, e)| e.r#type).collect();
    for ty in (1..64).filter_map(|n| executor::event::Type::try_from(n).ok()) {
        if !is_newer(&format!(
            "mesos.v1.executor.Event.Type.{}",
            ty.as_str_name()
        )) {
            assert!(
                seen.contains(&(ty as i32)),
                "no {} executor Event in the corpus",
                ty.as_str_name()
            );
        }
    }
}

/// Types the closure holds only as nested definitions (no Call or Event
/// field reaches them), round-tripped on their own.
#[test]
fn nested_only_types_round_trip_through_reference() {
    use v1::cgroup_info::blkio::{self, Operation, cfq, throttling};
    let reference = Reference::load();
    let values = |pairs: &[(Operation, u64)]| -> Vec<blkio::Value> {
        pairs
            .iter()
            .map(|&(op, value)| blkio::Value {
                op: Some(op as i32),
                value: Some(value),
            })
            .collect()
    };
    let sda = v1::device::Number {
        major_number: 8,
        minor_number: 0,
    };
    let stats = blkio::Statistics {
        cfq: vec![
            cfq::Statistics {
                device: Some(sda),
                sectors: Some(4096),
                time: Some(120),
                io_serviced: values(&[(Operation::Read, 10), (Operation::Write, 3)]),
                io_service_bytes: values(&[(Operation::Total, 65536)]),
                io_service_time: values(&[(Operation::Sync, 7)]),
                io_wait_time: values(&[(Operation::Async, 1)]),
                io_merged: values(&[(Operation::Total, 0)]),
                io_queued: values(&[(Operation::Total, 2)]),
            },
            // The total over all devices.
            cfq::Statistics {
                device: None,
                sectors: Some(8192),
                ..Default::default()
            },
        ],
        cfq_recursive: vec![cfq::Statistics {
            device: Some(sda),
            ..Default::default()
        }],
        throttling: vec![throttling::Statistics {
            device: Some(sda),
            io_serviced: values(&[(Operation::Read, 10)]),
            io_service_bytes: values(&[(Operation::Read, 40960)]),
        }],
    };
    round_trip(
        &reference,
        "mesos.CgroupInfo.Blkio.Statistics",
        "blkio statistics",
        &stats,
    );
    let device = v1::Device {
        path: Some("/dev/sda".into()),
        number: Some(sda),
    };
    round_trip(&reference, "mesos.Device", "device", &device);
    let capabilities: Vec<_> = [
        v1::agent_info::capability::Type::MultiRole,
        v1::agent_info::capability::Type::HierarchicalRole,
        v1::agent_info::capability::Type::ReservationRefinement,
    ]
    .into_iter()
    .map(|t| v1::agent_info::Capability {
        r#type: Some(t as i32),
    })
    .collect();
    for (i, c) in capabilities.iter().enumerate() {
        round_trip(
            &reference,
            "mesos.AgentInfo.Capability",
            &format!("agent capability {i}"),
            c,
        );
    }
}

// ---------------------------------------------------------------------------
// (c) Reference text fixtures → tritium.

fn fixture<M: Message + Default>(reference: &Reference, type_name: &str, file: &str) -> M {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let bytes = reference.encode_text(type_name, &text);
    M::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{file}: tritium cannot decode it: {e}"))
}

#[test]
fn fixture_event_subscribed() {
    let reference = Reference::load();
    let e: Event = fixture(&reference, REF_EVENT, "event_subscribed.txtpb");
    assert_eq!(e.r#type(), event::Type::Subscribed);
    let s = e.subscribed.expect("subscribed");
    assert_eq!(s.framework_id.value, "fw-3f1c");
    assert_eq!(s.heartbeat_interval_seconds, Some(15.0));
    let m = s.master_info.expect("master_info");
    assert_eq!(
        (m.id.as_str(), m.ip, m.port),
        ("master-1", 16_777_343, 5050)
    );
    assert_eq!(m.pid.as_deref(), Some("master@127.0.0.1:5050"));
    assert_eq!(m.version.as_deref(), Some("1.5.0"));
    let a = m.address.expect("address");
    assert_eq!(
        (a.hostname.as_deref(), a.ip.as_deref(), a.port),
        (Some("mesos-master-1"), Some("127.0.0.1"), 5050)
    );
    let fd = m.domain.and_then(|d| d.fault_domain).expect("fault domain");
    assert_eq!(
        (fd.region.name.as_str(), fd.zone.name.as_str()),
        ("eu-west", "eu-west-1a")
    );
}

#[test]
fn fixture_event_offers() {
    let reference = Reference::load();
    let e: Event = fixture(&reference, REF_EVENT, "event_offers.txtpb");
    assert_eq!(e.r#type(), event::Type::Offers);
    let offers = e.offers.expect("offers").offers;
    assert_eq!(offers.len(), 1);
    let o = &offers[0];
    assert_eq!(o.id.value, "offer-7");
    assert_eq!(o.framework_id.value, "fw-3f1c");
    assert_eq!(o.agent_id.value, "agent-9");
    assert_eq!(o.hostname, "node-9.example.invalid");
    assert_eq!(
        o.domain
            .as_ref()
            .and_then(|d| d.fault_domain.as_ref())
            .map(|f| f.zone.name.as_str()),
        Some("eu-west-1b")
    );
    assert_eq!(
        o.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
        Some("web")
    );
    assert_eq!(o.executor_ids, vec![executor_id("exec-1")]);
    let u = o.unavailability.as_ref().expect("unavailability");
    assert_eq!(u.start.nanoseconds, 1_700_000_000_000_000_000);
    assert_eq!(
        u.duration.as_ref().map(|d| d.nanoseconds),
        Some(3_600_000_000_000)
    );

    let r = &o.resources;
    assert_eq!(r.len(), 6);
    assert!(
        r.iter()
            .all(|r| r.allocation_info.as_ref().and_then(|a| a.role.as_deref()) == Some("web"))
    );
    assert_eq!(
        (r[0].name.as_str(), r[0].r#type()),
        ("cpus", value::Type::Scalar)
    );
    assert_eq!(r[0].scalar.as_ref().map(|s| s.value), Some(3.5));

    assert_eq!(r[1].name, "mem");
    let res = &r[1].reservations;
    assert_eq!(res.len(), 2);
    assert_eq!(
        (res[0].r#type(), res[0].role.as_deref()),
        (resource::reservation_info::Type::Static, Some("web"))
    );
    assert_eq!(
        (res[1].r#type(), res[1].role.as_deref()),
        (
            resource::reservation_info::Type::Dynamic,
            Some("web/team-a")
        )
    );
    assert_eq!(res[1].principal.as_deref(), Some("ops"));
    assert_eq!(res[1].labels, Some(labels(&[("owner", Some("team-a"))])));

    assert_eq!(
        (r[2].name.as_str(), r[2].r#type()),
        ("ports", value::Type::Ranges)
    );
    assert_eq!(
        r[2].ranges.as_ref().map(|x| x.range.clone()),
        Some(vec![
            value::Range {
                begin: 31000,
                end: 31099
            },
            value::Range {
                begin: 32000,
                end: 32000
            }
        ])
    );
    assert_eq!(
        (r[3].name.as_str(), r[3].r#type()),
        ("gpus_models", value::Type::Set)
    );
    assert_eq!(
        r[3].set.as_ref().map(|s| s.item.clone()),
        Some(vec!["a100".to_string(), "h100".to_string()])
    );

    let disk = r[4].disk.as_ref().expect("disk info");
    let p = disk.persistence.as_ref().expect("persistence");
    assert_eq!(
        (p.id.as_str(), p.principal.as_deref()),
        ("pv-1", Some("tritium"))
    );
    let v = disk.volume.as_ref().expect("volume");
    assert_eq!(
        (v.mode(), v.container_path.as_str()),
        (v1::volume::Mode::Rw, "data")
    );
    let s = disk.source.as_ref().expect("source");
    assert_eq!(s.r#type(), resource::disk_info::source::Type::Mount);
    assert_eq!(
        s.mount.as_ref().and_then(|m| m.root.as_deref()),
        Some("/mnt/disk1")
    );
    assert_eq!(
        r[4].reservations[0].r#type(),
        resource::reservation_info::Type::Dynamic
    );

    assert!(r[5].revocable.is_some() && r[0].revocable.is_none());

    let a = &o.attributes;
    assert_eq!(a.len(), 4);
    assert_eq!(
        (a[0].name.as_str(), a[0].r#type()),
        ("rack", value::Type::Text)
    );
    assert_eq!(a[0].text.as_ref().map(|t| t.value.as_str()), Some("r12"));
    assert_eq!(
        (a[1].r#type(), a[1].scalar.as_ref().map(|s| s.value)),
        (value::Type::Scalar, Some(64.0))
    );
    assert_eq!(a[2].r#type(), value::Type::Ranges);
    assert_eq!(
        a[2].ranges.as_ref().map(|x| x.range.clone()),
        Some(vec![value::Range { begin: 1, end: 4 }])
    );
    assert_eq!(a[3].r#type(), value::Type::Set);
    assert_eq!(a[3].set.as_ref().map(|s| s.item.len()), Some(2));
}

#[test]
fn fixture_event_updates() {
    let reference = Reference::load();
    let e: Event = fixture(&reference, REF_EVENT, "event_update.txtpb");
    assert_eq!(e.r#type(), event::Type::Update);
    let s = e.update.expect("update").status;
    assert_eq!(s.task_id.value, "web-1.a1b2");
    assert_eq!(s.state(), v1::TaskState::TaskRunning);
    assert_eq!(s.source(), v1::task_status::Source::Master);
    assert_eq!(s.reason(), v1::task_status::Reason::Reconciliation);
    assert_eq!(
        s.message.as_deref(),
        Some("Reconciliation: Latest task state")
    );
    assert_eq!(s.agent_id, Some(agent_id("agent-9")));
    assert_eq!(s.timestamp, Some(1_700_000_000.25));
    assert_eq!(s.healthy, Some(true));
    assert_eq!(s.uuid, None, "reconciliation answers carry no uuid");
    let cs = s.container_status.expect("container status");
    let cid = cs.container_id.expect("container id");
    assert_eq!(
        (cid.value.as_str(), cid.parent.map(|p| p.value)),
        ("c-2", Some("c-1".to_string()))
    );
    let ip = &cs.network_infos[0].ip_addresses[0];
    assert_eq!(
        (ip.protocol(), ip.ip_address.as_deref()),
        (v1::network_info::Protocol::IPv6, Some("fd00::5"))
    );
    assert_eq!(cs.network_infos[0].name.as_deref(), Some("cni-overlay"));
    assert_eq!(cs.executor_pid, Some(4242));

    let e: Event = fixture(&reference, REF_EVENT, "event_update_gone.txtpb");
    let s = e.update.expect("update").status;
    assert_eq!(s.state(), v1::TaskState::TaskGoneByOperator);
    assert_eq!(s.reason(), v1::task_status::Reason::AgentRemoved);
    assert_eq!(
        s.uuid.as_deref(),
        Some(
            &[
                0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc,
                0xde, 0xf0
            ][..]
        )
    );
    assert_eq!(
        s.unreachable_time.map(|t| t.nanoseconds),
        Some(1_700_000_000_000_000_000)
    );
}

#[test]
fn fixture_event_failure_and_error() {
    let reference = Reference::load();
    let e: Event = fixture(&reference, REF_EVENT, "event_failure.txtpb");
    assert_eq!(e.r#type(), event::Type::Failure);
    let f = e.failure.expect("failure");
    assert_eq!(
        (f.agent_id, f.executor_id, f.status),
        (
            Some(agent_id("agent-3")),
            Some(executor_id("exec-4")),
            Some(256)
        )
    );

    let e: Event = fixture(&reference, REF_EVENT, "event_error.txtpb");
    assert_eq!(e.r#type(), event::Type::Error);
    assert_eq!(e.error.expect("error").message, "Framework failed over");
}

#[test]
fn fixture_call_subscribe() {
    use v1::framework_info::capability::Type as Cap;
    let reference = Reference::load();
    let c: Call = fixture(&reference, REF_CALL, "call_subscribe.txtpb");
    assert_eq!(c.r#type(), call::Type::Subscribe);
    assert_eq!(c.framework_id, Some(framework_id()));
    let sub = c.subscribe.expect("subscribe");
    assert_eq!(sub.suppressed_roles, vec!["batch".to_string()]);
    let fi = sub.framework_info;
    assert_eq!((fi.user.as_str(), fi.name.as_str()), ("tritium", "tritium"));
    assert_eq!(fi.id, Some(framework_id()));
    assert_eq!(fi.failover_timeout, Some(604_800.0));
    assert_eq!(fi.checkpoint, Some(true));
    assert_eq!(fi.roles, vec!["web".to_string(), "batch".to_string()]);
    assert_eq!(fi.hostname.as_deref(), Some("scheduler-1"));
    assert_eq!(fi.principal.as_deref(), Some("tritium"));
    assert_eq!(fi.webui_url.as_deref(), Some("http://scheduler-1:8080/"));
    let caps: Vec<Cap> = fi.capabilities.iter().map(|c| c.r#type()).collect();
    assert_eq!(
        caps,
        vec![
            Cap::MultiRole,
            Cap::PartitionAware,
            Cap::TaskKillingState,
            Cap::GpuResources,
            Cap::ReservationRefinement,
            Cap::RegionAware
        ]
    );
    assert_eq!(fi.labels, Some(labels(&[("team", Some("infra"))])));
    #[allow(deprecated)]
    let role = fi.role;
    assert_eq!(role, None);
}

#[test]
fn fixture_call_accept_launch() {
    use v1::volume::source;
    let reference = Reference::load();
    let c: Call = fixture(&reference, REF_CALL, "call_accept_launch.txtpb");
    assert_eq!(c.r#type(), call::Type::Accept);
    let acc = c.accept.expect("accept");
    assert_eq!(acc.offer_ids, vec![offer_id("offer-7")]);
    assert_eq!(acc.filters, filters(5.0));
    assert_eq!(acc.operations.len(), 1);
    let op = &acc.operations[0];
    assert_eq!(op.r#type(), operation::Type::Launch);
    let t = &op.launch.as_ref().expect("launch").task_infos[0];
    assert_eq!(
        (
            t.name.as_str(),
            t.task_id.value.as_str(),
            t.agent_id.value.as_str()
        ),
        ("web", "web-1.a1b2", "agent-9")
    );
    assert_eq!(t.resources[1].r#type(), value::Type::Ranges);

    let cmd = t.command.as_ref().expect("command");
    assert_eq!(
        (cmd.shell, cmd.value.as_deref()),
        (Some(false), Some("/app/server"))
    );
    assert_eq!(
        cmd.arguments,
        vec!["server".to_string(), "--port=31000".to_string()]
    );
    let var = &cmd.environment.as_ref().expect("environment").variables[0];
    assert_eq!(
        (var.name.as_str(), var.r#type(), var.value.as_deref()),
        (
            "PORT",
            v1::environment::variable::Type::Value,
            Some("31000")
        )
    );

    let ci = t.container.as_ref().expect("container");
    assert_eq!(ci.r#type(), v1::container_info::Type::Mesos);
    let image = ci
        .mesos
        .as_ref()
        .and_then(|m| m.image.as_ref())
        .expect("image");
    assert_eq!(image.r#type(), v1::image::Type::Docker);
    assert_eq!(
        image.docker.as_ref().map(|d| d.name.as_str()),
        Some("library/nginx:1.25")
    );
    let vol = &ci.volumes[0];
    assert_eq!(
        (vol.mode(), vol.container_path.as_str()),
        (v1::volume::Mode::Rw, "/data")
    );
    let src = vol.source.as_ref().expect("volume source");
    assert_eq!(src.r#type(), source::Type::DockerVolume);
    let dv = src.docker_volume.as_ref().expect("docker volume");
    assert_eq!(
        (dv.driver.as_deref(), dv.name.as_str()),
        (Some("rexray"), "web-data")
    );
    assert_eq!(
        dv.driver_options.as_ref().map(|p| p.parameter.clone()),
        Some(vec![v1::Parameter {
            key: "size".into(),
            value: "10".into()
        }])
    );
    let net = &ci.network_infos[0];
    assert_eq!(net.name.as_deref(), Some("cni-overlay"));
    assert_eq!(
        net.ip_addresses[0].protocol(),
        v1::network_info::Protocol::IPv4
    );
    assert_eq!(net.ip_addresses[0].ip_address, None);
    assert_eq!(net.groups, vec!["web".to_string()]);
    assert_eq!(net.labels, Some(labels(&[("tier", Some("front"))])));

    let hc = t.health_check.as_ref().expect("health check");
    assert_eq!(hc.r#type(), v1::health_check::Type::Http);
    let http = hc.http.as_ref().expect("http");
    assert_eq!(
        (http.scheme.as_deref(), http.port, http.path.as_deref()),
        (Some("http"), 31000, Some("/health"))
    );
    assert_eq!(
        (
            hc.interval_seconds,
            hc.consecutive_failures,
            hc.grace_period_seconds
        ),
        (Some(5.0), Some(3), Some(30.0))
    );
    // Unset proto2 defaults come from the definitions.
    assert_eq!((hc.delay_seconds(), hc.timeout_seconds()), (15.0, 20.0));
    assert_eq!(
        t.kill_policy
            .as_ref()
            .and_then(|k| k.grace_period.as_ref())
            .map(|d| d.nanoseconds),
        Some(30_000_000_000)
    );
}

#[test]
fn fixture_call_kill() {
    let reference = Reference::load();
    let c: Call = fixture(&reference, REF_CALL, "call_kill.txtpb");
    assert_eq!(c.r#type(), call::Type::Kill);
    let k = c.kill.expect("kill");
    assert_eq!(
        (k.task_id, k.agent_id),
        (task_id("web-1.a1b2"), Some(agent_id("agent-9")))
    );
    assert_eq!(
        k.kill_policy
            .and_then(|p| p.grace_period)
            .map(|d| d.nanoseconds),
        Some(1_000_000_000)
    );
}

/// Every enum value tritium defines for task states, reasons, sources and
/// Call/Event types, written by NAME in reference text format, arrives as
/// the same value in tritium.
#[test]
fn enum_names_agree_with_reference() {
    let reference = Reference::load();
    // `state` is required, so the other fields come with TASK_RUNNING.
    let status_event = |field: &str, name: &str| {
        let state = if field == "state" {
            String::new()
        } else {
            "state: TASK_RUNNING".to_string()
        };
        let text = format!(
            "type: UPDATE update {{ status {{ task_id {{ value: \"t\" }} {state} {field}: {name} }} }}"
        );
        let bytes = reference.encode_text(REF_EVENT, &text);
        Event::decode(bytes.as_slice())
            .expect("decode")
            .update
            .expect("update")
            .status
    };
    let mut checked = 0;
    for n in 0..64 {
        if let Ok(state) = v1::TaskState::try_from(n) {
            assert_eq!(
                status_event("state", state.as_str_name()).state(),
                state,
                "{}",
                state.as_str_name()
            );
            checked += 1;
        }
        if let Ok(source) = v1::task_status::Source::try_from(n) {
            assert_eq!(
                status_event("source", source.as_str_name()).source(),
                source
            );
            checked += 1;
        }
        if let Ok(reason) = v1::task_status::Reason::try_from(n)
            && !is_newer(&format!(
                "mesos.v1.TaskStatus.Reason.{}",
                reason.as_str_name()
            ))
        {
            let decoded = status_event("reason", reason.as_str_name()).reason();
            assert_eq!(decoded, reason, "{}", reason.as_str_name());
            checked += 1;
        }
        if let Ok(ty) = call::Type::try_from(n)
            && !is_newer(&format!(
                "mesos.v1.scheduler.Call.Type.{}",
                ty.as_str_name()
            ))
        {
            let bytes = reference.encode_text(REF_CALL, &format!("type: {}", ty.as_str_name()));
            assert_eq!(Call::decode(bytes.as_slice()).expect("decode").r#type(), ty);
            checked += 1;
        }
        if let Ok(ty) = event::Type::try_from(n)
            && !is_newer(&format!(
                "mesos.v1.scheduler.Event.Type.{}",
                ty.as_str_name()
            ))
        {
            let bytes = reference.encode_text(REF_EVENT, &format!("type: {}", ty.as_str_name()));
            assert_eq!(
                Event::decode(bytes.as_slice()).expect("decode").r#type(),
                ty
            );
            checked += 1;
        }
    }
    // 14 states + 3 sources + 31 reasons + 15 call types + 11 event types
    // (UNKNOWN included, newer values excluded).
    assert_eq!(checked, 14 + 3 + 31 + 15 + 11);

    // Executor Call and Event types (a Call needs its two required ids).
    let mut checked = 0;
    for n in 0..64 {
        if let Ok(ty) = executor::call::Type::try_from(n)
            && !is_newer(&format!("mesos.v1.executor.Call.Type.{}", ty.as_str_name()))
        {
            let text = format!(
                "executor_id {{ value: \"e\" }} framework_id {{ value: \"f\" }} type: {}",
                ty.as_str_name()
            );
            let bytes = reference.encode_text(REF_EXECUTOR_CALL, &text);
            let decoded = executor::Call::decode(bytes.as_slice()).expect("decode");
            assert_eq!(decoded.r#type(), ty);
            checked += 1;
        }
        if let Ok(ty) = executor::event::Type::try_from(n)
            && !is_newer(&format!(
                "mesos.v1.executor.Event.Type.{}",
                ty.as_str_name()
            ))
        {
            let text = format!("type: {}", ty.as_str_name());
            let bytes = reference.encode_text(REF_EXECUTOR_EVENT, &text);
            let decoded = executor::Event::decode(bytes.as_slice()).expect("decode");
            assert_eq!(decoded.r#type(), ty);
            checked += 1;
        }
    }
    // 4 call types + 9 event types (UNKNOWN included, HEARTBEAT excluded).
    assert_eq!(checked, 4 + 9);
}

// ---------------------------------------------------------------------------
// (d) Newer than the reference: hand-built wire bytes.
//
// Tags are written by hand as (field_number << 3) | wire_type, wire types
// 0 = varint, 1 = 64-bit, 2 = length-delimited, 5 = 32-bit; tags of fields
// above 15 take two varint bytes. Field numbers are those of upstream
// apache/mesos (1.11.x) include/mesos/v1/{mesos.proto,scheduler/scheduler.proto,
// executor/executor.proto}.
// Only the lengths of length-delimited bodies are computed, by `ld`.

/// Concatenation of byte strings.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A length-delimited field: the hand-written `tag` bytes, the body length
/// as a varint, the body.
fn ld(tag: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    let mut n = body.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(body);
    out
}

/// `bytes` decode to `expected`, and prost encodes `expected` to exactly `bytes`.
fn assert_wire<M: Message + Default + PartialEq + Debug>(what: &str, bytes: &[u8], expected: &M) {
    let decoded = M::decode(bytes)
        .unwrap_or_else(|e| panic!("{what}: tritium cannot decode the hand-built bytes: {e}"));
    assert_eq!(
        &decoded, expected,
        "{what}: hand-built bytes decode to something else"
    );
    assert_eq!(
        expected.encode_to_vec(),
        bytes,
        "{what}: prost encodes differently from the hand-built bytes"
    );
}

/// `{ value = 1: <s> }`, the shape of every *ID message.
fn id_body(s: &str) -> Vec<u8> {
    ld(&[0x0a], s.as_bytes())
}

#[test]
fn newer_update_framework_call() {
    use scheduler::attribute_constraint::{Predicate, Selector, predicate, selector};
    use scheduler::offer_constraints::{RoleConstraints, role_constraints::Group};

    // OfferFilters.ResourceQuantities { quantities = 1: map<string, Value.Scalar> { "cpus": 0.5 } }
    // (a map entry is a message with key = 1 and value = 2).
    let scalar_half = cat(&[&[0x09], &0.5f64.to_le_bytes()]); // Value.Scalar.value = 1, 64-bit: 0x09
    let quantities_entry = cat(&[&ld(&[0x0a], b"cpus"), &ld(&[0x12], &scalar_half)]);
    let resource_quantities = ld(&[0x0a], &quantities_entry);
    // OfferFilters { min_allocatable_resources = 1: MinAllocatableResources { quantities = 1 [..] } }
    let offer_filters = ld(&[0x0a], &ld(&[0x0a], &resource_quantities));
    let framework_info = cat(&[
        &ld(&[0x0a], b"root"),             // user = 1
        &ld(&[0x12], b"tritium"),          // name = 2
        &ld(&[0x1a], &id_body("fw-3f1c")), // id = 3
        &ld(&[0x62], b"web"),              // roles = 12: (12 << 3) | 2 = 98 = 0x62
        // offer_filters = 13: (13 << 3) | 2 = 106 = 0x6a, entry { key = 1, value = 2 }
        &ld(
            &[0x6a],
            &cat(&[&ld(&[0x0a], b"web"), &ld(&[0x12], &offer_filters)]),
        ),
    ]);
    // AttributeConstraint { selector = 1 { attribute_name = 2 }, predicate = 2 { text_equals = 3 { value = 1 } } }
    let rack_is_r1 = cat(&[
        &ld(&[0x0a], &ld(&[0x12], b"rack")),
        &ld(&[0x12], &ld(&[0x1a], &ld(&[0x0a], b"r1"))),
    ]);
    // AttributeConstraint { selector = 1 { pseudoattribute_type = 1: HOSTNAME = 1 }, predicate = 2 { exists = 1 {} } }
    let has_hostname = cat(&[&ld(&[0x0a], &[0x08, 0x01]), &ld(&[0x12], &[0x0a, 0x00])]);
    // Group { attribute_constraints = 1 [..] }
    let group = cat(&[&ld(&[0x0a], &rack_is_r1), &ld(&[0x0a], &has_hostname)]);
    // OfferConstraints { role_constraints = 1: map<string, RoleConstraints { groups = 1 }> }
    let offer_constraints = ld(
        &[0x0a],
        &cat(&[&ld(&[0x0a], b"web"), &ld(&[0x12], &ld(&[0x0a], &group))]),
    );
    let update_framework = cat(&[
        &ld(&[0x0a], &framework_info),    // framework_info = 1
        &ld(&[0x12], b"batch"),           // suppressed_roles = 2
        &ld(&[0x1a], &offer_constraints), // offer_constraints = 3
    ]);
    let bytes = cat(&[
        &ld(&[0x0a], &id_body("fw-3f1c")), // Call.framework_id = 1
        &[0x10, 0x11],                     // Call.type = 2, varint: UPDATE_FRAMEWORK = 17
        // Call.update_framework = 19: (19 << 3) | 2 = 154 = varint 0x9a 0x01
        &ld(&[0x9a, 0x01], &update_framework),
    ]);

    let expected = Call {
        framework_id: Some(framework_id()),
        r#type: Some(call::Type::UpdateFramework as i32),
        update_framework: Some(call::UpdateFramework {
            framework_info: v1::FrameworkInfo {
                user: "root".into(),
                name: "tritium".into(),
                id: Some(framework_id()),
                roles: vec!["web".into()],
                offer_filters: HashMap::from([(
                    "web".to_string(),
                    v1::OfferFilters {
                        min_allocatable_resources: Some(
                            v1::offer_filters::MinAllocatableResources {
                                quantities: vec![v1::offer_filters::ResourceQuantities {
                                    quantities: HashMap::from([(
                                        "cpus".to_string(),
                                        value::Scalar { value: 0.5 },
                                    )]),
                                }],
                            },
                        ),
                    },
                )]),
                ..Default::default()
            },
            suppressed_roles: vec!["batch".into()],
            offer_constraints: Some(scheduler::OfferConstraints {
                role_constraints: HashMap::from([(
                    "web".to_string(),
                    RoleConstraints {
                        groups: vec![Group {
                            attribute_constraints: vec![
                                scheduler::AttributeConstraint {
                                    selector: Selector {
                                        selector: Some(selector::Selector::AttributeName(
                                            "rack".into(),
                                        )),
                                    },
                                    predicate: Predicate {
                                        predicate: Some(predicate::Predicate::TextEquals(
                                            predicate::TextEquals { value: "r1".into() },
                                        )),
                                    },
                                },
                                scheduler::AttributeConstraint {
                                    selector: Selector {
                                        selector: Some(selector::Selector::PseudoattributeType(
                                            selector::PseudoattributeType::Hostname as i32,
                                        )),
                                    },
                                    predicate: Predicate {
                                        predicate: Some(predicate::Predicate::Exists(
                                            predicate::Exists {},
                                        )),
                                    },
                                },
                            ],
                        }],
                    },
                )]),
            }),
        }),
        ..Default::default()
    };
    assert_wire("UPDATE_FRAMEWORK call", &bytes, &expected);
}

#[test]
fn newer_offer_constraints_in_subscribe() {
    use scheduler::attribute_constraint::{Predicate, Selector, predicate, selector};
    use scheduler::offer_constraints::{RoleConstraints, role_constraints::Group};

    // The remaining predicates and pseudo-attributes, one constraint each:
    //   selector { pseudoattribute_type = 1 } REGION = 2 / ZONE = 3 / attribute_name = 2
    //   predicate { not_exists = 2 | text_not_equals = 4 | text_matches = 5 | text_not_matches = 6 }
    //   (TextNotEquals.value = 1; TextMatches.regex = 1; TextNotMatches.regex = 1)
    let constraint =
        |sel: Vec<u8>, pred: Vec<u8>| ld(&[0x0a], &cat(&[&ld(&[0x0a], &sel), &ld(&[0x12], &pred)]));
    let group = cat(&[
        &constraint(vec![0x08, 0x02], ld(&[0x12], b"")), // REGION, not_exists {}
        &constraint(vec![0x08, 0x03], ld(&[0x22], &ld(&[0x0a], b"eu-west-1c"))), // ZONE, text_not_equals
        &constraint(ld(&[0x12], b"rack"), ld(&[0x2a], &ld(&[0x0a], b"r1[0-9]"))), // text_matches
        &constraint(ld(&[0x12], b"os"), ld(&[0x32], &ld(&[0x0a], b"win.*"))),    // text_not_matches
    ]);
    let offer_constraints = ld(
        &[0x0a],
        &cat(&[&ld(&[0x0a], b"batch"), &ld(&[0x12], &ld(&[0x0a], &group))]),
    );
    // Subscribe { framework_info = 1 { user = 1, name = 2 }, offer_constraints = 3 }
    let framework_info = cat(&[&ld(&[0x0a], b"root"), &ld(&[0x12], b"tritium")]);
    let subscribe = cat(&[
        &ld(&[0x0a], &framework_info),
        &ld(&[0x1a], &offer_constraints),
    ]);
    let bytes = cat(&[
        &[0x10, 0x01],            // Call.type = 2: SUBSCRIBE = 1
        &ld(&[0x1a], &subscribe), // Call.subscribe = 3
    ]);

    let c = |sel: selector::Selector, pred: predicate::Predicate| scheduler::AttributeConstraint {
        selector: Selector {
            selector: Some(sel),
        },
        predicate: Predicate {
            predicate: Some(pred),
        },
    };
    let pseudo =
        |t: selector::PseudoattributeType| selector::Selector::PseudoattributeType(t as i32);
    let expected = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: v1::FrameworkInfo {
                user: "root".into(),
                name: "tritium".into(),
                ..Default::default()
            },
            suppressed_roles: vec![],
            offer_constraints: Some(scheduler::OfferConstraints {
                role_constraints: HashMap::from([(
                    "batch".to_string(),
                    RoleConstraints {
                        groups: vec![Group {
                            attribute_constraints: vec![
                                c(
                                    pseudo(selector::PseudoattributeType::Region),
                                    predicate::Predicate::NotExists(predicate::NotExists {}),
                                ),
                                c(
                                    pseudo(selector::PseudoattributeType::Zone),
                                    predicate::Predicate::TextNotEquals(predicate::TextNotEquals {
                                        value: "eu-west-1c".into(),
                                    }),
                                ),
                                c(
                                    selector::Selector::AttributeName("rack".into()),
                                    predicate::Predicate::TextMatches(predicate::TextMatches {
                                        regex: "r1[0-9]".into(),
                                    }),
                                ),
                                c(
                                    selector::Selector::AttributeName("os".into()),
                                    predicate::Predicate::TextNotMatches(
                                        predicate::TextNotMatches {
                                            regex: "win.*".into(),
                                        },
                                    ),
                                ),
                            ],
                        }],
                    },
                )]),
            }),
        }),
        ..Default::default()
    };
    assert_wire("SUBSCRIBE with offer constraints", &bytes, &expected);
    // UNKNOWN = 0 is the only pseudo-attribute value not used above.
    assert_eq!(
        selector::PseudoattributeType::from_str_name("UNKNOWN").map(|t| t as i32),
        Some(0)
    );
}

#[test]
fn newer_operation_feedback() {
    let uuid = &UUID_BYTES[..];
    // Resource { name = 1, type = 2 (required, so written even as SCALAR = 0), scalar = 3 { value = 1, 64-bit } }
    let disk = cat(&[
        &ld(&[0x0a], b"disk"),
        &[0x10, 0x00],
        &ld(&[0x1a], &cat(&[&[0x09], &1024f64.to_le_bytes()])),
    ]);
    let status = cat(&[
        &ld(&[0x0a], &id_body("op-1")),    // OperationStatus.operation_id = 1
        &[0x10, 0x02],                     // state = 2: OPERATION_FINISHED = 2
        &ld(&[0x1a], b"done"),             // message = 3
        &ld(&[0x22], &disk),               // converted_resources = 4
        &ld(&[0x2a], &ld(&[0x0a], uuid)),  // uuid = 5: UUID { value = 1 }
        &ld(&[0x32], &id_body("agent-9")), // agent_id = 6
        &ld(&[0x3a], &id_body("rp-1")),    // resource_provider_id = 7
    ]);
    let bytes = cat(&[
        &[0x08, 0x0b], // Event.type = 1: UPDATE_OPERATION_STATUS = 11
        // Event.update_operation_status = 11: (11 << 3) | 2 = 90 = 0x5a, { status = 1 }
        &ld(&[0x5a], &ld(&[0x0a], &status)),
    ]);
    let operation_status = v1::OperationStatus {
        operation_id: Some(v1::OperationId {
            value: "op-1".into(),
        }),
        state: v1::OperationState::OperationFinished as i32,
        message: Some("done".into()),
        converted_resources: vec![scalar("disk", 1024.0)],
        uuid: Some(v1::Uuid {
            value: Bytes::from_static(&UUID_BYTES),
        }),
        agent_id: Some(agent_id("agent-9")),
        resource_provider_id: Some(v1::ResourceProviderId {
            value: "rp-1".into(),
        }),
    };
    let expected = Event {
        r#type: Some(event::Type::UpdateOperationStatus as i32),
        update_operation_status: Some(event::UpdateOperationStatus {
            status: operation_status,
        }),
        ..Default::default()
    };
    assert_wire("UPDATE_OPERATION_STATUS event", &bytes, &expected);

    // ACKNOWLEDGE_OPERATION_STATUS = 15; Call.acknowledge_operation_status = 17:
    // (17 << 3) | 2 = 138 = varint 0x8a 0x01.
    let ack = cat(&[
        &ld(&[0x0a], &id_body("agent-9")), // agent_id = 1
        &ld(&[0x12], &id_body("rp-1")),    // resource_provider_id = 2
        &ld(&[0x1a], uuid),                // uuid = 3 (bytes)
        &ld(&[0x22], &id_body("op-1")),    // operation_id = 4
    ]);
    let bytes = cat(&[
        &ld(&[0x0a], &id_body("fw-3f1c")),
        &[0x10, 0x0f],
        &ld(&[0x8a, 0x01], &ack),
    ]);
    let expected = call(call::Type::AcknowledgeOperationStatus, |c| {
        c.acknowledge_operation_status = Some(call::AcknowledgeOperationStatus {
            agent_id: Some(agent_id("agent-9")),
            resource_provider_id: Some(v1::ResourceProviderId {
                value: "rp-1".into(),
            }),
            uuid: Bytes::from_static(&UUID_BYTES),
            operation_id: v1::OperationId {
                value: "op-1".into(),
            },
        })
    });
    assert_wire("ACKNOWLEDGE_OPERATION_STATUS call", &bytes, &expected);

    // RECONCILE_OPERATIONS = 16; Call.reconcile_operations = 18: (18 << 3) | 2 = 146 = 0x92 0x01,
    // { operations = 1 { operation_id = 1, agent_id = 2, resource_provider_id = 3 } }
    let op = cat(&[
        &ld(&[0x0a], &id_body("op-1")),
        &ld(&[0x12], &id_body("agent-9")),
        &ld(&[0x1a], &id_body("rp-1")),
    ]);
    let bytes = cat(&[
        &ld(&[0x0a], &id_body("fw-3f1c")),
        &[0x10, 0x10],
        &ld(&[0x92, 0x01], &ld(&[0x0a], &op)),
    ]);
    let expected = call(call::Type::ReconcileOperations, |c| {
        c.reconcile_operations = Some(call::ReconcileOperations {
            operations: vec![call::reconcile_operations::Operation {
                operation_id: v1::OperationId {
                    value: "op-1".into(),
                },
                agent_id: Some(agent_id("agent-9")),
                resource_provider_id: Some(v1::ResourceProviderId {
                    value: "rp-1".into(),
                }),
            }],
        })
    });
    assert_wire("RECONCILE_OPERATIONS call", &bytes, &expected);

    // ACCEPT { offer_ids = 1, operations = 2 { type = 1: RESERVE = 2, reserve = 3 { resources = 1 },
    //   id = 12: (12 << 3) | 2 = 98 = 0x62 } }
    let reserve_op = cat(&[
        &[0x08, 0x02],
        &ld(&[0x1a], &ld(&[0x0a], &disk)),
        &ld(&[0x62], &id_body("op-1")),
    ]);
    let accept = cat(&[&ld(&[0x0a], &id_body("offer-7")), &ld(&[0x12], &reserve_op)]);
    let bytes = cat(&[
        &ld(&[0x0a], &id_body("fw-3f1c")),
        &[0x10, 0x03],
        &ld(&[0x22], &accept),
    ]);
    let expected = call(call::Type::Accept, |c| {
        c.accept = Some(call::Accept {
            offer_ids: vec![offer_id("offer-7")],
            operations: vec![operation(operation::Type::Reserve, |op| {
                op.id = Some(v1::OperationId {
                    value: "op-1".into(),
                });
                op.reserve = Some(operation::Reserve {
                    source: vec![],
                    resources: vec![scalar("disk", 1024.0)],
                });
            })],
            filters: None,
        })
    });
    assert_wire("ACCEPT with an operation id", &bytes, &expected);

    // Every OperationState by number: OperationStatus.state = 2, varint.
    let upstream = [
        "OPERATION_UNSUPPORTED",
        "OPERATION_PENDING",
        "OPERATION_FINISHED",
        "OPERATION_FAILED",
        "OPERATION_ERROR",
        "OPERATION_DROPPED",
        "OPERATION_UNREACHABLE",
        "OPERATION_GONE_BY_OPERATOR",
        "OPERATION_RECOVERING",
        "OPERATION_UNKNOWN",
    ];
    for (n, name) in upstream.iter().enumerate() {
        let s = v1::OperationStatus::decode(&[0x10, n as u8][..]).expect("decode");
        assert_eq!(s.state().as_str_name(), *name, "OperationState {n}");
    }
}

#[test]
fn newer_master_capabilities() {
    use v1::master_info::{Capability, capability::Type};

    // MasterInfo { id = 1, ip = 2 (varint 16777343 = ff 80 80 08), port = 3 (5050 = ba 27),
    //   capabilities = 9: (9 << 3) | 2 = 74 = 0x4a, { type = 1 } }
    let master = cat(&[
        &ld(&[0x0a], b"master-1"),
        &[0x10, 0xff, 0x80, 0x80, 0x08],
        &[0x18, 0xba, 0x27],
        &ld(&[0x4a], &[0x08, 0x01]), // AGENT_UPDATE = 1
        &ld(&[0x4a], &[0x08, 0x02]), // AGENT_DRAINING = 2
        &ld(&[0x4a], &[0x08, 0x03]), // QUOTA_V2 = 3
    ]);
    // Subscribed { framework_id = 1, heartbeat_interval_seconds = 2 (64-bit: tag 0x11),
    //   master_info = 3 }
    let subscribed = cat(&[
        &ld(&[0x0a], &id_body("fw-3f1c")),
        &[0x11],
        &15f64.to_le_bytes(),
        &ld(&[0x1a], &master),
    ]);
    // Event { type = 1: SUBSCRIBED = 1, subscribed = 2 }
    let bytes = cat(&[&[0x08, 0x01], &ld(&[0x12], &subscribed)]);
    let expected = event(event::Type::Subscribed, |e| {
        e.subscribed = Some(event::Subscribed {
            framework_id: framework_id(),
            heartbeat_interval_seconds: Some(15.0),
            master_info: Some(v1::MasterInfo {
                id: "master-1".into(),
                ip: 16_777_343,
                port: 5050,
                capabilities: [Type::AgentUpdate, Type::AgentDraining, Type::QuotaV2]
                    .into_iter()
                    .map(|t| Capability {
                        r#type: Some(t as i32),
                    })
                    .collect(),
                ..Default::default()
            }),
        })
    });
    assert_wire("SUBSCRIBED with master capabilities", &bytes, &expected);
}

#[test]
fn newer_task_info_fields() {
    let health = cat(&[
        // http = 1: HTTPCheckInfo { port = 1: 80, protocol = 5: IPv6 = 2 }
        &ld(&[0x0a], &[0x08, 0x50, 0x28, 0x02]),
        &[0x40, 0x02], // type = 8: HTTP = 2
    ]);
    let task = cat(&[
        &ld(&[0x0a], b"web"),                    // name = 1
        &ld(&[0x12], &id_body("web-1")),         // task_id = 2
        &ld(&[0x1a], &id_body("agent-9")),       // agent_id = 3
        &ld(&[0x3a], &ld(&[0x1a], b"sleep 60")), // command = 7 { value = 3 }
        &ld(&[0x42], &health),                   // health_check = 8
        // max_completion_time = 14: (14 << 3) | 2 = 114 = 0x72, DurationInfo { nanoseconds = 1 }:
        // 30 s = 30_000_000_000 = varint 80 d8 8e e1 6f
        &ld(&[0x72], &[0x08, 0x80, 0xd8, 0x8e, 0xe1, 0x6f]),
        // limits = 15: (15 << 3) | 2 = 122 = 0x7a,
        //   entry { key = 1: "cpus", value = 2: Scalar { value = 1: 2.0 } }
        &ld(
            &[0x7a],
            &cat(&[
                &ld(&[0x0a], b"cpus"),
                &ld(&[0x12], &cat(&[&[0x09], &2f64.to_le_bytes()])),
            ]),
        ),
    ]);
    let expected = v1::TaskInfo {
        name: "web".into(),
        task_id: task_id("web-1"),
        agent_id: agent_id("agent-9"),
        command: Some(v1::CommandInfo {
            value: Some("sleep 60".into()),
            ..Default::default()
        }),
        health_check: Some(v1::HealthCheck {
            r#type: Some(v1::health_check::Type::Http as i32),
            http: Some(v1::health_check::HttpCheckInfo {
                protocol: Some(v1::network_info::Protocol::IPv6 as i32),
                port: 80,
                ..Default::default()
            }),
            ..Default::default()
        }),
        max_completion_time: Some(seconds(30)),
        limits: HashMap::from([("cpus".to_string(), value::Scalar { value: 2.0 })]),
        ..Default::default()
    };
    assert_wire("TaskInfo with newer fields", &task, &expected);

    // HealthCheck { type = 8: TCP = 3,
    //   tcp = 9: (9 << 3) | 2 = 0x4a { port = 1: 80, protocol = 2: IPv6 = 2 } }
    let bytes = cat(&[&[0x40, 0x03], &ld(&[0x4a], &[0x08, 0x50, 0x10, 0x02])]);
    let expected = v1::HealthCheck {
        r#type: Some(v1::health_check::Type::Tcp as i32),
        tcp: Some(v1::health_check::TcpCheckInfo {
            protocol: Some(v1::network_info::Protocol::IPv6 as i32),
            port: 80,
        }),
        ..Default::default()
    };
    assert_wire("TCP health check with protocol", &bytes, &expected);
    // Unset, the protocol defaults to IPv4 as upstream declares.
    assert_eq!(
        v1::health_check::TcpCheckInfo::default().protocol(),
        v1::network_info::Protocol::IPv4
    );
    assert_eq!(
        v1::health_check::HttpCheckInfo::default().protocol(),
        v1::network_info::Protocol::IPv4
    );
}

#[test]
fn newer_task_status_fields() {
    let mem = cat(&[
        &ld(&[0x0a], b"mem"),
        &[0x10, 0x00],
        &ld(&[0x1a], &cat(&[&[0x09], &256f64.to_le_bytes()])),
    ]);
    let status = cat(&[
        &ld(&[0x0a], &id_body("web-1")), // task_id = 1
        &[0x10, 0x03],                   // state = 2: TASK_FAILED = 3
        &[0x50, 0x13],                   // reason = 10: REASON_CONTAINER_LIMITATION = 19
        // limitation = 16: (16 << 3) | 2 = 130 = varint 0x82 0x01, { resources = 1 }
        &ld(&[0x82, 0x01], &ld(&[0x0a], &mem)),
    ]);
    let expected = v1::TaskStatus {
        task_id: task_id("web-1"),
        state: v1::TaskState::TaskFailed as i32,
        reason: Some(v1::task_status::Reason::ContainerLimitation as i32),
        limitation: Some(v1::TaskResourceLimitation {
            resources: vec![scalar("mem", 256.0)],
        }),
        ..Default::default()
    };
    assert_wire("TaskStatus with limitation", &status, &expected);

    // The newer reasons, by their upstream numbers (reason = 10: tag 0x50).
    for (number, name) in [
        (31u8, "REASON_AGENT_REMOVED_BY_OPERATOR"),
        (32, "REASON_AGENT_REREGISTERED"),
        (33, "REASON_MAX_COMPLETION_TIME_REACHED"),
        (34, "REASON_AGENT_DRAINING"),
    ] {
        let bytes = cat(&[&ld(&[0x0a], &id_body("t")), &[0x10, 0x05], &[0x50, number]]); // TASK_LOST = 5
        let expected = v1::TaskStatus {
            task_id: task_id("t"),
            state: v1::TaskState::TaskLost as i32,
            reason: v1::task_status::Reason::from_str_name(name).map(|r| r as i32),
            ..Default::default()
        };
        assert_eq!(expected.reason, Some(i32::from(number)), "{name}");
        assert_wire(name, &bytes, &expected);
    }
}

#[test]
fn newer_disk_source_fields() {
    use resource::disk_info::{Source, source::Type};
    // DiskInfo.Source { type = 1: BLOCK = 3, id = 4, metadata = 5: Labels { labels = 1 { key = 1, value = 2 } },
    //   profile = 6, vendor = 7 }
    let source = cat(&[
        &[0x08, 0x03],
        &ld(&[0x22], b"vol-1"),
        &ld(
            &[0x2a],
            &ld(&[0x0a], &cat(&[&ld(&[0x0a], b"k"), &ld(&[0x12], b"v")])),
        ),
        &ld(&[0x32], b"fast"),
        &ld(&[0x3a], b"org.example.csi"),
    ]);
    // Resource { name = 1, type = 2: SCALAR = 0, scalar = 3, disk = 7 { source = 3 } }
    let bytes = cat(&[
        &ld(&[0x0a], b"disk"),
        &[0x10, 0x00],
        &ld(&[0x1a], &cat(&[&[0x09], &100f64.to_le_bytes()])),
        &ld(&[0x3a], &ld(&[0x1a], &source)),
    ]);
    let mut expected = scalar("disk", 100.0);
    expected.disk = Some(Box::new(resource::DiskInfo {
        source: Some(Source {
            r#type: Type::Block as i32,
            id: Some("vol-1".into()),
            metadata: Some(labels(&[("k", Some("v"))])),
            profile: Some("fast".into()),
            vendor: Some("org.example.csi".into()),
            ..Default::default()
        }),
        ..Default::default()
    }));
    assert_wire("Resource with a BLOCK disk source", &bytes, &expected);

    // RAW = 4.
    let raw = Source::decode(&[0x08, 0x04][..]).expect("decode");
    assert_eq!(raw.r#type(), Type::Raw);
    assert_eq!(raw.encode_to_vec(), [0x08, 0x04]);
}

/// `Resource { name = 1, type = 2: SCALAR = 0, scalar = 3 { value = 1 (64-bit: tag 0x09) } }`
fn scalar_bytes(name: &str, v: f64) -> Vec<u8> {
    cat(&[
        &ld(&[0x0a], name.as_bytes()),
        &[0x10, 0x00],
        &ld(&[0x1a], &cat(&[&[0x09], &v.to_le_bytes()])),
    ])
}

#[test]
fn newer_volume_and_disk_operations() {
    use resource::disk_info::source::Type as DiskType;
    let (volume, volume_bytes) = (scalar("disk", 1024.0), scalar_bytes("disk", 1024.0));
    let (more, more_bytes) = (scalar("disk", 512.0), scalar_bytes("disk", 512.0));

    // Operation { type = 1: GROW_VOLUME = 11,
    //   grow_volume = 13: (13 << 3) | 2 = 106 = 0x6a { volume = 1, addition = 2 } }
    let bytes = cat(&[
        &[0x08, 0x0b],
        &ld(
            &[0x6a],
            &cat(&[&ld(&[0x0a], &volume_bytes), &ld(&[0x12], &more_bytes)]),
        ),
    ]);
    let expected = operation(operation::Type::GrowVolume, |op| {
        op.grow_volume = Some(Box::new(operation::GrowVolume {
            volume: volume.clone(),
            addition: more.clone(),
        }))
    });
    assert_wire("GROW_VOLUME", &bytes, &expected);

    // SHRINK_VOLUME = 12, shrink_volume = 14: (14 << 3) | 2 = 114 = 0x72,
    //   { volume = 1, subtract = 2: Scalar { value = 1 } }
    let bytes = cat(&[
        &[0x08, 0x0c],
        &ld(
            &[0x72],
            &cat(&[
                &ld(&[0x0a], &volume_bytes),
                &ld(&[0x12], &cat(&[&[0x09], &256f64.to_le_bytes()])),
            ]),
        ),
    ]);
    let expected = operation(operation::Type::ShrinkVolume, |op| {
        op.shrink_volume = Some(Box::new(operation::ShrinkVolume {
            volume: volume.clone(),
            subtract: value::Scalar { value: 256.0 },
        }))
    });
    assert_wire("SHRINK_VOLUME", &bytes, &expected);

    // CREATE_DISK = 13, create_disk = 15: (15 << 3) | 2 = 122 = 0x7a,
    //   { source = 1, target_type = 2: MOUNT = 2, target_profile = 3 }
    let bytes = cat(&[
        &[0x08, 0x0d],
        &ld(
            &[0x7a],
            &cat(&[
                &ld(&[0x0a], &volume_bytes),
                &[0x10, 0x02],
                &ld(&[0x1a], b"fast"),
            ]),
        ),
    ]);
    let expected = operation(operation::Type::CreateDisk, |op| {
        op.create_disk = Some(Box::new(operation::CreateDisk {
            source: volume.clone(),
            target_type: DiskType::Mount as i32,
            target_profile: Some("fast".into()),
        }))
    });
    assert_wire("CREATE_DISK", &bytes, &expected);

    // DESTROY_DISK = 14, destroy_disk = 16: (16 << 3) | 2 = 130 = 0x82 0x01, { source = 1 }
    let bytes = cat(&[
        &[0x08, 0x0e],
        &ld(&[0x82, 0x01], &ld(&[0x0a], &volume_bytes)),
    ]);
    let expected = operation(operation::Type::DestroyDisk, |op| {
        op.destroy_disk = Some(Box::new(operation::DestroyDisk {
            source: volume.clone(),
        }))
    });
    assert_wire("DESTROY_DISK", &bytes, &expected);

    // Re-reservation: RESERVE = 2, reserve = 3 { resources = 1, source = 2 }.
    let bytes = cat(&[
        &[0x08, 0x02],
        &ld(
            &[0x1a],
            &cat(&[&ld(&[0x0a], &more_bytes), &ld(&[0x12], &volume_bytes)]),
        ),
    ]);
    let expected = operation(operation::Type::Reserve, |op| {
        op.reserve = Some(operation::Reserve {
            source: vec![volume.clone()],
            resources: vec![more.clone()],
        })
    });
    assert_wire("RESERVE with a source", &bytes, &expected);

    // Every Offer.Operation type by its upstream number (type = 1, varint).
    for (n, name) in [
        (11u8, "GROW_VOLUME"),
        (12, "SHRINK_VOLUME"),
        (13, "CREATE_DISK"),
        (14, "DESTROY_DISK"),
    ] {
        let op = v1::offer::Operation::decode(&[0x08, n][..]).expect("decode");
        assert_eq!(op.r#type().as_str_name(), name, "Operation.Type {n}");
    }
}

#[test]
fn newer_volume_sources() {
    use v1::volume::source::csi_volume::{StaticProvisioning, VolumeCapability, volume_capability};
    use v1::volume::source::{self, Type};

    // Volume { container_path = 1, mode = 3: RW = 1, source = 5 (0x2a) {
    //   type = 1: HOST_PATH = 4, host_path = 5 (0x2a) { path = 1,
    //   mount_propagation = 2 { mode = 1: BIDIRECTIONAL = 2 } } } }
    let host_path = cat(&[
        &ld(&[0x0a], b"/var/run/docker.sock"),
        &ld(&[0x12], &[0x08, 0x02]),
    ]);
    let bytes = cat(&[
        &ld(&[0x0a], b"/run/docker.sock"),
        &[0x18, 0x01],
        &ld(&[0x2a], &cat(&[&[0x08, 0x04], &ld(&[0x2a], &host_path)])),
    ]);
    let expected = v1::Volume {
        mode: v1::volume::Mode::Rw as i32,
        container_path: "/run/docker.sock".into(),
        source: Some(v1::volume::Source {
            r#type: Some(Type::HostPath as i32),
            host_path: Some(source::HostPath {
                path: "/var/run/docker.sock".into(),
                mount_propagation: Some(v1::MountPropagation {
                    mode: Some(v1::mount_propagation::Mode::Bidirectional as i32),
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_wire("HOST_PATH volume", &bytes, &expected);

    // A secret { type = 1: VALUE = 2, value = 3 { data = 1 } }.
    let secret_bytes = cat(&[&[0x08, 0x02], &ld(&[0x1a], &ld(&[0x0a], b"pw"))]);
    let secret = v1::Secret {
        r#type: Some(v1::secret::Type::Value as i32),
        value: Some(v1::secret::Value {
            data: Bytes::from_static(b"pw"),
        }),
        ..Default::default()
    };
    // A map entry { key = 1, value = 2 }.
    let entry = |key: &[u8], value: &[u8]| cat(&[&ld(&[0x0a], key), &ld(&[0x12], value)]);
    // StaticProvisioning { volume_id = 1, volume_capability = 2 {
    //     mount = 2 { fs_type = 1, mount_flags = 2 }, access_mode = 3 { mode = 1: SINGLE_NODE_WRITER = 1 } },
    //   node_stage_secrets = 3, node_publish_secrets = 4, volume_context = 5 }
    let capability = cat(&[
        &ld(
            &[0x12],
            &cat(&[&ld(&[0x0a], b"ext4"), &ld(&[0x12], b"noatime")]),
        ),
        &ld(&[0x1a], &[0x08, 0x01]),
    ]);
    let provisioning = cat(&[
        &ld(&[0x0a], b"vol-7"),
        &ld(&[0x12], &capability),
        &ld(&[0x1a], &entry(b"stage", &secret_bytes)),
        &ld(&[0x22], &entry(b"publish", &secret_bytes)),
        &ld(&[0x2a], &entry(b"zone", b"eu-west-1b")),
    ]);
    // Volume { container_path = 1, mode = 3: RO = 2, source = 5 { type = 1: CSI_VOLUME = 5,
    //   csi_volume = 6 (0x32) { plugin_name = 1, static_provisioning = 2 } } }
    let csi = cat(&[
        &ld(&[0x0a], b"org.example.csi"),
        &ld(&[0x12], &provisioning),
    ]);
    let bytes = cat(&[
        &ld(&[0x0a], b"/data"),
        &[0x18, 0x02],
        &ld(&[0x2a], &cat(&[&[0x08, 0x05], &ld(&[0x32], &csi)])),
    ]);
    let expected = v1::Volume {
        mode: v1::volume::Mode::Ro as i32,
        container_path: "/data".into(),
        source: Some(v1::volume::Source {
            r#type: Some(Type::CsiVolume as i32),
            csi_volume: Some(source::CsiVolume {
                plugin_name: "org.example.csi".into(),
                static_provisioning: Some(StaticProvisioning {
                    volume_id: "vol-7".into(),
                    volume_capability: VolumeCapability {
                        access_mode: volume_capability::AccessMode {
                            mode: volume_capability::access_mode::Mode::SingleNodeWriter as i32,
                        },
                        access_type: Some(volume_capability::AccessType::Mount(
                            volume_capability::MountVolume {
                                fs_type: Some("ext4".into()),
                                mount_flags: vec!["noatime".into()],
                            },
                        )),
                    },
                    node_stage_secrets: HashMap::from([("stage".to_string(), secret.clone())]),
                    node_publish_secrets: HashMap::from([("publish".to_string(), secret)]),
                    volume_context: HashMap::from([("zone".to_string(), "eu-west-1b".to_string())]),
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_wire("CSI_VOLUME volume", &bytes, &expected);

    // A raw block volume: VolumeCapability { block = 1 {}, access_mode = 3 {
    //   mode = 1: MULTI_NODE_MULTI_WRITER = 5 } }.
    let bytes = cat(&[&ld(&[0x0a], &[]), &ld(&[0x1a], &[0x08, 0x05])]);
    let expected = VolumeCapability {
        access_mode: volume_capability::AccessMode {
            mode: volume_capability::access_mode::Mode::MultiNodeMultiWriter as i32,
        },
        access_type: Some(volume_capability::AccessType::Block(
            volume_capability::BlockVolume {},
        )),
    };
    assert_wire("block volume capability", &bytes, &expected);

    // The remaining enum values by number.
    let mode = |n: u8| v1::MountPropagation::decode(&[0x08, n][..]).expect("decode");
    assert_eq!(mode(1).mode(), v1::mount_propagation::Mode::HostToContainer);
    for (n, name) in [
        (2u8, "SINGLE_NODE_READER_ONLY"),
        (3, "MULTI_NODE_READER_ONLY"),
        (4, "MULTI_NODE_SINGLE_WRITER"),
    ] {
        let m = volume_capability::AccessMode::decode(&[0x08, n][..]).expect("decode");
        assert_eq!(m.mode().as_str_name(), name, "AccessMode.Mode {n}");
    }
}

#[test]
fn newer_linux_container_fields() {
    use v1::linux_info::IpcMode;
    // LinuxInfo { seccomp = 5 (0x2a) { profile_name = 1 }, ipc_mode = 6 (0x30): PRIVATE = 1,
    //   shm_size = 7 (0x38): 64, share_cgroups = 8 (0x40): false }
    let bytes = cat(&[
        &ld(&[0x2a], &ld(&[0x0a], b"default.json")),
        &[0x30, 0x01],
        &[0x38, 0x40],
        &[0x40, 0x00],
    ]);
    let expected = v1::LinuxInfo {
        seccomp: Some(v1::SeccompInfo {
            profile_name: Some("default.json".into()),
            unconfined: None,
        }),
        ipc_mode: Some(IpcMode::Private as i32),
        shm_size: Some(64),
        share_cgroups: Some(false),
        ..Default::default()
    };
    assert_wire("LinuxInfo with newer fields", &bytes, &expected);

    // seccomp { unconfined = 2: true }, ipc_mode = SHARE_PARENT = 2.
    let bytes = cat(&[&ld(&[0x2a], &[0x10, 0x01]), &[0x30, 0x02]]);
    let expected = v1::LinuxInfo {
        seccomp: Some(v1::SeccompInfo {
            profile_name: None,
            unconfined: Some(true),
        }),
        ipc_mode: Some(IpcMode::ShareParent as i32),
        ..Default::default()
    };
    assert_wire("unconfined LinuxInfo", &bytes, &expected);
    // Unset, cgroups are shared, as upstream declares.
    assert!(v1::LinuxInfo::default().share_cgroups());

    // Blkio.Value { op = 1: DISCARD = 6, value = 2: 5 }.
    let bytes = [0x08, 0x06, 0x10, 0x05];
    let expected = v1::cgroup_info::blkio::Value {
        op: Some(v1::cgroup_info::blkio::Operation::Discard as i32),
        value: Some(5),
    };
    assert_wire("blkio DISCARD counter", &bytes, &expected);
}

#[test]
fn newer_agent_capabilities() {
    use v1::agent_info::{Capability, capability::Type};
    // Capability { type = 1 }, by upstream number.
    for (n, ty) in [
        (4u8, Type::ResourceProvider),
        (5, Type::ResizeVolume),
        (6, Type::AgentOperationFeedback),
        (7, Type::AgentDraining),
        (8, Type::TaskResourceLimits),
    ] {
        let expected = Capability {
            r#type: Some(ty as i32),
        };
        assert_wire(ty.as_str_name(), &[0x08, n], &expected);
    }
}

#[test]
fn newer_executor_heartbeats() {
    // Event { type = 1: HEARTBEAT = 9 }
    let expected = executor_event(executor::event::Type::Heartbeat, |_| {});
    assert_wire("executor HEARTBEAT event", &[0x08, 0x09], &expected);

    // Call { executor_id = 1, framework_id = 2, type = 3 (0x18): HEARTBEAT = 4 }
    let bytes = cat(&[
        &ld(&[0x0a], &id_body("exec-group-1")),
        &ld(&[0x12], &id_body("fw-3f1c")),
        &[0x18, 0x04],
    ]);
    let expected = executor_call(executor::call::Type::Heartbeat, |_| {});
    assert_wire("executor HEARTBEAT call", &bytes, &expected);
}

// ---------------------------------------------------------------------------
// (e) What a newer master may add is skipped.

/// Unknown fields of every wire type, numbered far above anything Mesos uses.
fn unknown_fields() -> Vec<u8> {
    cat(&[
        // field 9999, varint: (9999 << 3) | 0 = 79992 = varint f8 f0 04; value 150 = 96 01
        &[0xf8, 0xf0, 0x04, 0x96, 0x01],
        // field 9998, length-delimited: (9998 << 3) | 2 = 79986 = f2 f0 04; a nested
        // message { 1: 1, 2: "abc" }
        &ld(
            &[0xf2, 0xf0, 0x04],
            &[0x08, 0x01, 0x12, 0x03, b'a', b'b', b'c'],
        ),
        // field 9997, 64-bit: (9997 << 3) | 1 = 79977 = e9 f0 04
        &[0xe9, 0xf0, 0x04, 1, 2, 3, 4, 5, 6, 7, 8],
        // field 9996, 32-bit: (9996 << 3) | 5 = 79973 = e5 f0 04
        &[0xe5, 0xf0, 0x04, 1, 2, 3, 4],
        // field 9995, a proto2 group: start (9995 << 3) | 3 = 79963 = db f0 04,
        // { 1: 1 }, end (9995 << 3) | 4 = 79964 = dc f0 04
        &[0xdb, 0xf0, 0x04, 0x08, 0x01, 0xdc, 0xf0, 0x04],
    ])
}

#[test]
fn unknown_fields_from_a_newer_master_are_skipped() {
    let offer = full_offer();
    let original = event(event::Type::Offers, |e| {
        e.offers = Some(event::Offers {
            offers: vec![offer.clone()],
        })
    });

    // The offer with unknown fields before and after its known ones, and
    // inside each of its resources.
    let mut bare = offer.clone();
    bare.resources.clear();
    let mut offer_bytes = unknown_fields();
    offer_bytes.extend(bare.encode_to_vec());
    for r in &offer.resources {
        let mut rb = r.encode_to_vec();
        rb.extend(unknown_fields());
        offer_bytes.extend(ld(&[0x2a], &rb)); // Offer.resources = 5
    }
    offer_bytes.extend(unknown_fields());
    let bytes = cat(&[
        &[0x08, 0x02], // Event.type = 1: OFFERS = 2
        &unknown_fields(),
        &ld(&[0x1a], &ld(&[0x0a], &offer_bytes)), // Event.offers = 3 { offers = 1 }
        &unknown_fields(),
    ]);
    let decoded = Event::decode(bytes.as_slice()).expect("unknown fields must be skipped");
    assert_eq!(decoded, original);
    // prost does not keep unknown fields: re-encoding gives the plain event.
    assert_eq!(decoded.encode_to_vec(), original.encode_to_vec());
}

#[test]
fn unknown_enum_values_from_a_newer_master_decode() {
    // An Event type from the future (type = 1: 99) with a body in an unknown field.
    let bytes = cat(&[&[0x08, 99], &ld(&[0xf2, 0xf0, 0x04], b"future")]);
    let e = Event::decode(bytes.as_slice()).expect("decode");
    assert_eq!(e.r#type, Some(99));
    assert_eq!(
        e.r#type(),
        event::Type::Unknown,
        "unknown types read as UNKNOWN"
    );

    // A task state and reason from the future inside an UPDATE.
    let status = cat(&[&ld(&[0x0a], &id_body("t")), &[0x10, 0x2a], &[0x50, 0x63]]); // state 42, reason 99
    let e = Event::decode(cat(&[&[0x08, 0x04], &ld(&[0x2a], &ld(&[0x0a], &status))]).as_slice())
        .expect("decode");
    let s = e.update.expect("update").status;
    assert_eq!((s.state, s.reason), (42, Some(99)));
    assert!(v1::TaskState::try_from(s.state).is_err());
    // Beware: prost's getter maps an unknown value to the enum's first
    // declared value, which for TaskState is TASK_STAGING, not an "unknown".
    assert_eq!(s.state(), v1::TaskState::TaskStaging);
    // A future Offer.Operation type in a Call.
    let op = v1::offer::Operation::decode(&[0x08, 0x63][..]).expect("decode"); // type 99
    assert_eq!(
        (op.r#type, op.r#type()),
        (Some(99), operation::Type::Unknown)
    );
}

//! The app document's types, as serde reads and writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SpecError;

/// Service (restarted forever) or job (runs to completion).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Kept running: every instance that ends is replaced.
    #[default]
    Service,
    /// Runs to completion: an instance that finishes is done; failures are retried `retry.total_retries` times.
    Job,
}

/// One app, as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// 1–63 letters, digits and `-`; the app's key, the task name and the prefix of task ids (`<name>.<instance>.<suffix>`).
    pub name: String,
    /// Service or job (default service).
    #[serde(default)]
    pub kind: Kind,
    /// How many copies run (0–[`MAX_INSTANCES`](super::MAX_INSTANCES), default 1).
    #[serde(default = "one")]
    pub instances: u32,
    /// What one instance needs from an agent. A pod gives none here: its
    /// containers each have theirs, plus `executor_resources`.
    #[serde(default, skip_serializing_if = "Resources::is_unset")]
    pub resources: Resources,
    /// How instances spread over agents (default: spread for services,
    /// binpack for jobs).
    #[serde(default, skip_serializing_if = "Strategy::is_default")]
    pub strategy: Strategy,
    /// Constraints every agent that runs an instance must meet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    /// The shell command and its environment and URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Container runtime, image, volumes and networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// How Mesos checks an instance is healthy; failing instances are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheck>,
    /// How Mesos checks an instance is ready to serve (TaskInfo.check):
    /// a rolling update counts a new instance only once it is ready, and
    /// the API's `ready` count is of ready instances. Unlike the health
    /// check it never kills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// Labels on every task (TaskInfo.labels).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// A custom executor: fetched from `uri`, started with `cmd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<Executor>,
    /// The role tasks run under (MULTI_ROLE); the framework's first role
    /// when absent. `resources.role` (hydrogen's place for it) is the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// hydrogen's retry policy: restart delay and how many restarts a job
    /// gets after failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Bounds of a rolling update.
    #[serde(default, skip_serializing_if = "Upgrade::is_default")]
    pub upgrade: Upgrade,
    /// How Mesos-DNS and other service-discovery tools see the tasks
    /// (TaskInfo.discovery). Absent: visibility FRAMEWORK, the app's name,
    /// every port named `port<i>` with its protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// How long a task may take to stop after SIGTERM before SIGKILL
    /// (TaskInfo.kill_policy). Absent: the agent's default (3 s for
    /// Mesos's command executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    /// A pod: the containers of one instance, launched together as one
    /// task group (LAUNCH_GROUP) under Mesos's default executor; one
    /// failing ends the whole instance. Empty: an ordinary app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<PodContainer>,
    /// A pod's volumes, shared by its containers (`volume_mounts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<PodVolume>,
    /// A pod's networks (its containers share the executor's network
    /// namespace); absent: the agent's host network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<PodNetwork>,
    /// What a pod's default executor itself uses on the agent (Marathon's
    /// defaults: 0.1 cpus, 32 MB of memory, 10 MB of disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_resources: Option<ExecutorResources>,
}

/// Most containers in one pod.
pub const MAX_POD_CONTAINERS: usize = 32;

/// One container of a pod: a task of the instance's task group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodContainer {
    /// 1-63 letters, digits and `-`, unique in the pod; the task id's
    /// last part (`<app>.<instance>.<suffix>.<container>`) and the
    /// TaskInfo's name.
    pub name: String,
    /// What this container needs (no `ports`: a container's ports are its
    /// `endpoints`; no `role`: the pod's role applies).
    pub resources: Resources,
    /// The shell command, its environment and URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// A Docker image run by the Mesos containerizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Ports on the agent this container listens on, named for service
    /// discovery (`PORT_<NAME>` and `PORT<i>` in its environment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// This container's health check (a failing one is killed, and with
    /// it the instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheck>,
    /// This container's readiness check; an instance is ready when every
    /// container is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// Pod volumes mounted into this container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Labels of this container's task, besides the pod's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A named port of a pod container (Marathon's endpoint, host network).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The port's name (a DNS label, unique in the pod).
    pub name: String,
    /// 0 or absent: any port the agent offers; else that port.
    #[serde(default)]
    pub host_port: u32,
    /// `tcp` (default) or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// A pod volume mounted into one of its containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeMount {
    /// The pod volume's name.
    pub name: String,
    /// Where it appears in the container.
    pub mount_path: String,
    /// Mounted read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// A volume of a pod: a host path, or (absent) an empty directory in the
/// executor's sandbox that lives as long as the instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodVolume {
    /// 1-63 letters, digits and `-`, unique in the pod.
    pub name: String,
    /// An absolute path on the agent; absent: an ephemeral volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
}

/// How a pod joins a network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// The agent's own network (the default).
    #[default]
    Host,
    /// A CNI network, by name.
    Container,
}

/// One network of a pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodNetwork {
    /// `host` (default) or `container`.
    #[serde(default)]
    pub mode: NetworkMode,
    /// The CNI network's name (mode container only, required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels passed to the network plugin.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// What a pod's executor uses (`ExecutorInfo.resources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorResources {
    /// CPUs (`cpus` is accepted too; at least Mesos's minimum, 0.01).
    #[serde(alias = "cpus", default = "exec_cpu")]
    pub cpu: f64,
    /// Memory in MB (at least Mesos's minimum, 32).
    #[serde(default = "exec_mem")]
    pub mem: f64,
    /// Disk in MB (Mesos refuses an executor without disk: at least 1).
    #[serde(default = "exec_disk")]
    pub disk: f64,
}

fn exec_cpu() -> f64 {
    0.1
}
fn exec_mem() -> f64 {
    32.0
}
fn exec_disk() -> f64 {
    10.0
}

impl Default for ExecutorResources {
    fn default() -> Self {
        ExecutorResources {
            cpu: exec_cpu(),
            mem: exec_mem(),
            disk: exec_disk(),
        }
    }
}

fn one() -> u32 {
    1
}

/// Resources of one instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPUs per instance (`cpus` is accepted too).
    #[serde(alias = "cpus")]
    pub cpu: f64,
    /// Memory per instance, in MB.
    pub mem: f64,
    /// Scratch disk per instance, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<Disk>,
    /// GPUs per instance (0 by default).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gpus: f64,
    /// Ports: a count of any ports, or a list where 0 means "any" and any
    /// other number is that fixed port.
    #[serde(default, skip_serializing_if = "Ports::is_empty")]
    pub ports: Ports,
    /// Any other named scalar resource the agents offer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scalars: BTreeMap<String, f64>,
    /// hydrogen's place for the role; same as the app's `role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl Resources {
    /// Whether nothing at all is given (a pod's top-level `resources`).
    pub fn is_unset(&self) -> bool {
        *self == Resources::default()
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// hydrogen's disk: `{"size": MB}`; a bare number is accepted too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Disk {
    /// A bare number of MB.
    Size(f64),
    /// hydrogen's `{"size": MB}`.
    Object(DiskObject),
}

/// hydrogen's disk object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskObject {
    /// Disk in MB.
    pub size: f64,
}

impl Disk {
    /// The disk size in MB, whichever form was written.
    pub fn size(&self) -> f64 {
        match self {
            Disk::Size(s) => *s,
            Disk::Object(o) => o.size,
        }
    }
}

/// The ports one instance asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ports {
    /// No ports.
    #[default]
    None,
    /// This many ports, any numbers the agent offers.
    Count(u32),
    /// One entry per port: 0 for any port, another number for that fixed port.
    List(Vec<u32>),
}

impl Ports {
    /// Whether no port is asked for.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }
    /// How many ports are asked for.
    pub fn count(&self) -> usize {
        match self {
            Ports::None => 0,
            Ports::Count(n) => *n as usize,
            Ports::List(v) => v.len(),
        }
    }
    /// Requested ports in order, 0 for "any".
    pub fn requests(&self) -> Vec<u32> {
        match self {
            Ports::None => Vec::new(),
            Ports::Count(n) => vec![0; *n as usize],
            Ports::List(v) => v.clone(),
        }
    }
}

/// Placement strategy. hydrogen's `unique` and `mux`, case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// The strategy (`type` in JSON; any case; empty or `default` means
    /// the kind's default: spread for services, binpack for jobs).
    #[serde(rename = "type", default, deserialize_with = "de_strategy")]
    pub kind: StrategyKind,
    /// hydrogen's `effort`; accepted for compatibility, documented as
    /// without effect (hydrogen never read it either).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
}

impl Strategy {
    fn is_default(&self) -> bool {
        *self == Strategy::default()
    }
}

/// Where the matcher prefers to put an app's instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// None asked for: [`StrategyKind::Spread`] for a service (one lost
    /// agent must not take a service down), [`StrategyKind::Binpack`] for
    /// a job (it ends; packing leaves whole agents free). See
    /// [`StrategyKind::resolve`].
    #[default]
    Default,
    /// Best fit: fill agents that are already busy first.
    Binpack,
    /// At most one instance per agent.
    Unique,
    /// Co-locate instances on as few agents as possible.
    Mux,
    /// Prefer the agent with the fewest instances of this app.
    Spread,
}

impl StrategyKind {
    /// The strategy an app of `kind` places with: the kind's default
    /// resolved, any other strategy as it is.
    pub fn resolve(self, kind: Kind) -> StrategyKind {
        match (self, kind) {
            (StrategyKind::Default, Kind::Service) => StrategyKind::Spread,
            (StrategyKind::Default, Kind::Job) => StrategyKind::Binpack,
            (other, _) => other,
        }
    }
}

fn de_strategy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<StrategyKind, D::Error> {
    let s = String::deserialize(d)?;
    match s.to_ascii_lowercase().as_str() {
        "" | "default" => Ok(StrategyKind::Default),
        "binpack" => Ok(StrategyKind::Binpack),
        "unique" => Ok(StrategyKind::Unique),
        "mux" => Ok(StrategyKind::Mux),
        "spread" => Ok(StrategyKind::Spread),
        other => Err(serde::de::Error::custom(format!(
            "unknown strategy {other:?} (expected unique, mux, spread or binpack)"
        ))),
    }
}

/// A constraint on agents. See the matcher for exact semantics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The constraint's type (`type` in JSON; any case).
    #[serde(rename = "type", deserialize_with = "de_filter_kind")]
    pub kind: FilterKind,
    /// Attribute name (`hostname` is the agent's hostname). Absent: hydrogen
    /// semantics, any attribute of the filter's type may satisfy it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// The values to compare with; their meaning depends on the type (a number for MAX_PER, a regex for LIKE/UNLIKE, ...).
    #[serde(default)]
    pub value: Vec<String>,
    /// SCALAR comparison: eq, lt, le, gt, ge (default eq).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Negation: the agent must NOT match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not: bool,
}

/// The kinds of constraint (see the matcher's docs for their exact meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilterKind {
    /// The attribute's text equals one of the values.
    Text,
    /// The attribute's set contains the values.
    Set,
    /// The attribute's number compares with the value by `operator`.
    Scalar,
    /// The attribute's ranges contain the values.
    Ranges,
    /// The attribute matches the anchored regex.
    Like,
    /// The attribute does not match the anchored regex.
    Unlike,
    /// hydrogen's STRATEGY filter: value `["unique"]` or `["mux"]`.
    Strategy,
    /// At most one instance per distinct value of the attribute.
    Unique,
    /// At most `n` instances per distinct value of the attribute (`value: ["n"]`).
    MaxPer,
    /// Instances spread evenly over the attribute's values.
    GroupBy,
}

fn de_filter_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<FilterKind, D::Error> {
    let s = String::deserialize(d)?;
    Ok(match s.to_ascii_uppercase().as_str() {
        // Marathon's IS is TEXT with one value.
        "TEXT" | "IS" => FilterKind::Text,
        "SET" => FilterKind::Set,
        "SCALAR" => FilterKind::Scalar,
        "RANGES" => FilterKind::Ranges,
        "LIKE" => FilterKind::Like,
        "UNLIKE" => FilterKind::Unlike,
        "STRATEGY" => FilterKind::Strategy,
        "UNIQUE" => FilterKind::Unique,
        "MAX_PER" => FilterKind::MaxPer,
        "GROUP_BY" => FilterKind::GroupBy,
        other => {
            return Err(serde::de::Error::custom(format!(
                "unknown filter type {other:?} (expected TEXT (or IS), SET, SCALAR, RANGES, \
                 LIKE, UNLIKE, UNIQUE, MAX_PER, GROUP_BY or STRATEGY)"
            )));
        }
    })
}

/// What an instance runs: a shell command, its environment, files to fetch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// The shell command (run with `sh -c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// Environment variables, besides `PORT0`… and `PORT` that tritium sets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Files the agent fetches into the sandbox before the command starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<Uri>,
}

/// A file the Mesos fetcher downloads into the sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uri {
    /// Where to fetch it from.
    pub uri: String,
    /// Unpack archives (the fetcher's default: yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    /// Make the file executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute: Option<bool>,
    /// Let the agent's fetcher cache serve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
}

/// Container runtime of the tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerType {
    /// The Mesos (universal) containerizer; `image` is a Docker image.
    #[default]
    Mesos,
    /// The Docker containerizer.
    Docker,
}

/// The container tasks run in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// Mesos (default) or Docker containerizer (`type` in JSON).
    #[serde(rename = "type", default, deserialize_with = "de_container_type")]
    pub kind: ContainerType,
    /// A Docker image name, with or without a tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// hydrogen's separate tag, appended to the image as `image:tag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Volumes mounted into the container (`volumes` is accepted too).
    #[serde(default, alias = "volumes", skip_serializing_if = "Vec::is_empty")]
    pub volume: Vec<Volume>,
    /// CNI networks joined (`networks` is accepted too).
    #[serde(default, alias = "networks", skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<Network>,
    /// Docker containerizer settings (type docker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerSettings>,
}

fn de_container_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ContainerType, D::Error> {
    let s = String::deserialize(d)?;
    match s.to_ascii_lowercase().as_str() {
        "mesos" | "" => Ok(ContainerType::Mesos),
        "docker" => Ok(ContainerType::Docker),
        other => Err(serde::de::Error::custom(format!(
            "unknown container type {other:?} (expected mesos or docker)"
        ))),
    }
}

impl Container {
    /// The image with hydrogen's tag applied.
    pub fn image_ref(&self) -> Option<String> {
        let image = self.image.as_ref()?;
        Some(match &self.tag {
            Some(t) if !t.is_empty() => format!("{image}:{t}"),
            _ => image.clone(),
        })
    }
}

/// One volume mounted into the container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Where it appears inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    /// The agent path to bind-mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// `ro` or `rw` (default rw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// A Docker volume instead of a host path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<VolumeSource>,
}

/// A volume provided by a Docker volume driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSource {
    /// `DOCKER` (hydrogen) or `DOCKER_VOLUME`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The Docker volume.
    pub docker_volume: DockerVolume,
}

/// A Docker volume by driver and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerVolume {
    /// The volume driver (Docker's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The volume's name.
    pub name: String,
    /// Driver options. hydrogen documented `driveropts` as a list; maps in
    /// the list are merged, empty strings ignored.
    #[serde(
        default,
        alias = "driver_opts",
        alias = "driveroptions",
        alias = "driver_options",
        deserialize_with = "de_driver_opts",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driveropts: BTreeMap<String, String>,
}

/// Driver options as written: a map, or hydrogen's list of maps and
/// `key=value` strings (empty strings ignored).
#[derive(Deserialize)]
#[serde(untagged)]
enum DriverOpts {
    Map(BTreeMap<String, String>),
    List(Vec<DriverOptItem>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DriverOptItem {
    Map(BTreeMap<String, String>),
    Text(String),
}

fn de_driver_opts<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let mut out = BTreeMap::new();
    match DriverOpts::deserialize(d)? {
        DriverOpts::Map(m) => out = m,
        DriverOpts::List(items) => {
            for item in items {
                match item {
                    DriverOptItem::Map(m) => out.extend(m),
                    DriverOptItem::Text(t) if t.is_empty() => {}
                    DriverOptItem::Text(t) => {
                        let (k, v) = t.split_once('=').unwrap_or((&t, ""));
                        out.insert(k.to_owned(), v.to_owned());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A CNI network by name and/or static addresses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The CNI network's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Addresses requested on it.
    #[serde(
        default,
        alias = "ipaddresses",
        alias = "ip_addresses",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ipaddress: Vec<IpAddress>,
    /// Network groups for isolation.
    #[serde(default, alias = "groups", skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<String>,
    /// Labels passed to the network plugin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<BTreeMap<String, String>>,
    /// Port mappings (Docker bridge/user networks).
    #[serde(
        default,
        alias = "port_mappings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub port_mapping: Vec<PortMapping>,
}

/// One IP address requested on a network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpAddress {
    /// A fixed address; absent (or `""`, as hydrogen's Go structs wrote
    /// an unset address) lets IPAM choose.
    #[serde(
        default,
        deserialize_with = "de_no_fixed_ip",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip: Option<String>,
    /// `ipv4` (default) or `ipv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// hydrogen put groups and labels here; they apply to the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<String>,
    /// Labels; they apply to the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<BTreeMap<String, String>>,
}

/// `"ip": ""` is hydrogen's "no fixed address" (Go's zero value, sent as
/// is to Mesos, whose CNI isolator then lets IPAM choose): read as absent,
/// so it is stored, shown and sent to Mesos as no address at all.
fn de_no_fixed_ip<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|ip| !ip.is_empty()))
}

/// A host port forwarded to a container port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    /// 0 or absent: a port taken from the offer.
    #[serde(default)]
    pub host_port: u32,
    /// The port inside the container.
    pub container_port: u32,
    /// `tcp` (default) or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// Docker containerizer settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSettings {
    /// HOST (default), BRIDGE or USER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Host-to-container port mappings (BRIDGE or USER networks).
    #[serde(default, alias = "port_mapping", skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    /// Run the container privileged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// Extra `docker run` parameters, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Pull the image even when the agent has it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_pull_image: bool,
}

/// hydrogen's health check, plus a flat form (`type`, `path`, `port`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// hydrogen's `host:port` (or URL) to probe over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// http, tcp or command.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// HTTP path to probe (flat form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port to probe (flat form); absent: the first port of the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// `http` or `https` (flat form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// HTTP check settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// TCP check settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    /// A command check: healthy while it exits 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Seconds after the task starts before the first check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    /// Seconds a check may take before it counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Seconds after start during which failures do not count.
    #[serde(
        default,
        alias = "grace_period",
        skip_serializing_if = "Option::is_none"
    )]
    pub graceperiod: Option<f64>,
    /// Consecutive failures after which the task is killed and replaced.
    #[serde(
        default,
        alias = "max_consecutive_failures",
        skip_serializing_if = "Option::is_none"
    )]
    pub fails: Option<u32>,
}

/// An HTTP health check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// `http` (default) or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The port to probe; absent: the first port of the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// The path to GET (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Status codes that mean healthy; empty: what Mesos counts as healthy (2xx and 3xx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<u32>,
}

/// A TCP health check: healthy while the port accepts connections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    /// The port to connect to.
    pub port: u32,
}

/// What a health check resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// GET `scheme://host:port/path`; healthy on one of `statuses`.
    Http {
        /// `http` or `https`.
        scheme: String,
        /// The port to probe.
        port: u32,
        /// The path to GET.
        path: String,
        /// Status codes that count as healthy.
        statuses: Vec<u32>,
    },
    /// Connect to `port`.
    Tcp {
        /// The port to connect to.
        port: u32,
    },
    /// Run the command; exit 0 is healthy.
    Command(Command),
}

impl HealthCheck {
    /// The check to run, or why the spec is incomplete.
    pub fn resolve(&self) -> Result<CheckKind, SpecError> {
        let kind = match (&self.kind, &self.endpoint) {
            (Some(k), _) => k.to_ascii_lowercase(),
            (None, Some(_)) => "http".into(),
            (None, None) => {
                return Err(SpecError::new(
                    "healthcheck.type",
                    "a health check needs a type (http, tcp, command) or an endpoint",
                ));
            }
        };
        match kind.as_str() {
            "http" => {
                let http = self.http.clone().unwrap_or_default();
                let (mut port, mut path) =
                    (http.port.or(self.port), http.path.or(self.path.clone()));
                if let Some(ep) = &self.endpoint {
                    let (p, rest) = parse_endpoint(ep)?;
                    port = port.or(Some(p));
                    path = path.or(rest);
                }
                let Some(port) = port else {
                    return Err(SpecError::new(
                        "healthcheck.port",
                        "an http check needs a port",
                    ));
                };
                let scheme = http
                    .scheme
                    .or(self.scheme.clone())
                    .unwrap_or_else(|| "http".into())
                    .to_ascii_lowercase();
                if scheme != "http" && scheme != "https" {
                    return Err(SpecError::new(
                        "healthcheck.scheme",
                        "scheme must be http or https",
                    ));
                }
                Ok(CheckKind::Http {
                    scheme,
                    port,
                    path: path.unwrap_or_else(|| "/".into()),
                    statuses: http.statuses,
                })
            }
            "tcp" => match self.tcp.as_ref().map(|t| t.port).or(self.port) {
                Some(port) => Ok(CheckKind::Tcp { port }),
                None => Err(SpecError::new(
                    "healthcheck.port",
                    "a tcp check needs a port",
                )),
            },
            "command" => match &self.command {
                Some(c) if c.cmd.as_deref().is_some_and(|s| !s.is_empty()) => {
                    Ok(CheckKind::Command(c.clone()))
                }
                _ => Err(SpecError::new(
                    "healthcheck.command.cmd",
                    "a command check needs a command",
                )),
            },
            _ => Err(SpecError::new(
                "healthcheck.type",
                "type must be http, tcp or command",
            )),
        }
    }
}

/// `host:port`, `host:port/path` or `http://host:port/path` → port, path.
fn parse_endpoint(ep: &str) -> Result<(u32, Option<String>), SpecError> {
    let bad = || {
        SpecError::new(
            "healthcheck.endpoint",
            "endpoint must look like host:port or http://host:port/path",
        )
    };
    let rest = ep
        .strip_prefix("http://")
        .or_else(|| ep.strip_prefix("https://"))
        .unwrap_or(ep);
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(rest[i..].to_owned())),
        None => (rest, None),
    };
    let port = hostport.rsplit_once(':').ok_or_else(bad)?.1;
    let port: u32 = port.parse().map_err(|_| bad())?;
    if port == 0 || port > 65535 {
        return Err(bad());
    }
    Ok((port, path))
}

/// A custom executor for the app's tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Executor {
    /// Where the agent fetches the executor from.
    pub uri: String,
    /// How to start it (default: `./` + the uri's file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// The executor's name as Mesos shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the executor itself uses on the agent (`ExecutorInfo.resources`,
    /// on top of its tasks'); defaults 0.1 cpus, 32 MB, 10 MB disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ExecutorResources>,
    /// One executor per app version per agent, shared by that version's
    /// tasks there (its id `<app>.v<version>.shared`, its resources held
    /// once per agent; tritium shuts it down when its last task there
    /// ends); `false` (the default): one executor per task.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

impl Executor {
    /// What the executor uses (its defaults when not given).
    pub fn resources(&self) -> ExecutorResources {
        self.resources.clone().unwrap_or_default()
    }
}

/// hydrogen's retry: `{"time": "1", "exp_backoff": true, "total_retries": 2}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Seconds before restarting a failed task (hydrogen wrote a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<NumOrString>,
    /// Double the delay after each consecutive failure.
    #[serde(default = "yes")]
    pub exp_backoff: bool,
    /// Jobs: restarts after failure before the job is failed. Services
    /// ignore it (they are restarted forever, with backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_retries: Option<u32>,
}

fn yes() -> bool {
    true
}

/// A number written as a number or as a string (hydrogen wrote strings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NumOrString {
    /// Written as a number.
    Num(f64),
    /// Written as a string holding a number.
    Text(String),
}

impl NumOrString {
    pub(super) fn seconds(&self) -> Option<f64> {
        match self {
            NumOrString::Num(n) => Some(*n),
            NumOrString::Text(s) => s.trim().trim_end_matches('s').parse().ok(),
        }
    }
}

/// Service discovery of the app's tasks (Mesos `DiscoveryInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    /// The name Mesos-DNS publishes the tasks under (`<name>.<framework>.mesos`);
    /// default: the app's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who should see the tasks: FRAMEWORK (default), CLUSTER or EXTERNAL
    /// (any case).
    #[serde(
        default,
        deserialize_with = "de_visibility",
        skip_serializing_if = "Visibility::is_default"
    )]
    pub visibility: Visibility,
    /// Names and protocols of the instance's ports, in the order of
    /// `PORT0`, `PORT1`, … (`resources.ports`, then the port mappings'
    /// host ports). Ports not listed are named `port<i>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<DiscoveryPort>,
    /// Labels of the DiscoveryInfo.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A port's name and protocol for service discovery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryPort {
    /// The port's name (a DNS label: Mesos-DNS publishes
    /// `_<name>._<app>._<protocol>.<framework>.mesos`); default `port<i>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `tcp` or `udp`; default: the port mapping's protocol, else tcp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// Mesos's `DiscoveryInfo.Visibility`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Visibility {
    /// Seen by the framework only (the default).
    #[default]
    Framework,
    /// Seen inside the cluster.
    Cluster,
    /// Seen outside the cluster too.
    External,
}

impl Visibility {
    fn is_default(&self) -> bool {
        *self == Visibility::Framework
    }
}

fn de_visibility<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Visibility, D::Error> {
    let s = String::deserialize(d)?;
    match s.to_ascii_uppercase().as_str() {
        "FRAMEWORK" => Ok(Visibility::Framework),
        "CLUSTER" => Ok(Visibility::Cluster),
        "EXTERNAL" => Ok(Visibility::External),
        other => Err(serde::de::Error::custom(format!(
            "unknown visibility {other:?} (expected FRAMEWORK, CLUSTER or EXTERNAL)"
        ))),
    }
}

/// How a task is stopped (Mesos `KillPolicy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillPolicy {
    /// Seconds between SIGTERM and SIGKILL (0 to
    /// [`MAX_KILL_GRACE_PERIOD_SECONDS`](super::MAX_KILL_GRACE_PERIOD_SECONDS)).
    pub grace_period_seconds: f64,
}

/// Rolling update bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upgrade {
    /// Old instances that may be down at once beyond the new ones started.
    #[serde(default)]
    pub max_unavailable: u32,
    /// Extra instances that may run at once during an update.
    #[serde(default = "one")]
    pub max_surge: u32,
    /// Consecutive failures of new instances before the update is rolled
    /// back to the previous version.
    #[serde(default = "three")]
    pub rollback_after: u32,
    /// Update this many instances first, then wait for an operator's
    /// resume (or roll back when the timeout passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
}

/// A canary step of a rolling update: `instances` new instances are
/// started (and must be ready), then the update waits for
/// `POST /v1/api/deployments/{app}/resume`; after `timeout_seconds`
/// without one it is rolled back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// New instances before the wait (1 to the app's instances minus 1).
    pub instances: u32,
    /// Seconds to wait for a resume once the canaries are ready; absent:
    /// wait until resumed or aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
}

/// A readiness check (Mesos `CheckInfo`): `http` GETs `path` on one of
/// the instance's ports (ready on 2xx/3xx, or one of `statuses`), `tcp`
/// connects to it, `command` runs a command (ready when it exits 0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    /// http, tcp or command.
    #[serde(rename = "type")]
    pub kind: String,
    /// HTTP path to GET (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Which of the instance's ports to probe, by index (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_index: Option<u32>,
    /// Which of the instance's ports to probe, by its discovery name
    /// (`port0`, or a name from `discovery.ports`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_name: Option<String>,
    /// HTTP status codes that mean ready; empty: 2xx and 3xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<u32>,
    /// The command of a `command` check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Seconds after the task starts before the first check (Mesos's
    /// default: 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
    /// Seconds between checks (Mesos's default: 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    /// Seconds a check may take (Mesos's default: 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// What a readiness check resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadinessKind {
    /// GET `path` on the instance's port number `port_index`.
    Http {
        /// Index into the instance's ports.
        port_index: usize,
        /// The path to GET.
        path: String,
    },
    /// Connect to the instance's port number `port_index`.
    Tcp {
        /// Index into the instance's ports.
        port_index: usize,
    },
    /// Run the command; exit 0 is ready.
    Command(Command),
}

impl Readiness {
    /// The check to run on instances of `spec`, or what is wrong with it.
    pub fn resolve(&self, spec: &AppSpec) -> Result<ReadinessKind, SpecError> {
        let port = || -> Result<usize, SpecError> {
            let names = spec.discovery_ports();
            if names.is_empty() {
                return Err(SpecError::new(
                    "readiness.type",
                    "an http or tcp readiness check needs the app to have a port",
                ));
            }
            match (&self.port_name, self.port_index) {
                (Some(_), Some(_)) => Err(SpecError::new(
                    "readiness.port_name",
                    "give port_name or port_index, not both",
                )),
                (Some(n), None) => names
                    .iter()
                    .position(|(name, _)| name.eq_ignore_ascii_case(n))
                    .ok_or_else(|| {
                        SpecError::new(
                            "readiness.port_name",
                            format!("the app has no port named {n}"),
                        )
                    }),
                (None, i) => {
                    let i = i.unwrap_or(0) as usize;
                    if i < names.len() {
                        Ok(i)
                    } else {
                        Err(SpecError::new(
                            "readiness.port_index",
                            format!("the app has {} ports", names.len()),
                        ))
                    }
                }
            }
        };
        match self.kind.to_ascii_lowercase().as_str() {
            "http" => Ok(ReadinessKind::Http {
                port_index: port()?,
                path: self.path.clone().unwrap_or_else(|| "/".into()),
            }),
            "tcp" => Ok(ReadinessKind::Tcp {
                port_index: port()?,
            }),
            "command" => match &self.command {
                Some(c) if c.cmd.as_deref().is_some_and(|s| !s.is_empty()) => {
                    Ok(ReadinessKind::Command(c.clone()))
                }
                _ => Err(SpecError::new(
                    "readiness.command.cmd",
                    "a command check needs a command",
                )),
            },
            _ => Err(SpecError::new(
                "readiness.type",
                "type must be http, tcp or command",
            )),
        }
    }
}

fn three() -> u32 {
    3
}

impl Default for Upgrade {
    fn default() -> Self {
        Upgrade {
            max_unavailable: 0,
            max_surge: 1,
            rollback_after: 3,
            canary: None,
        }
    }
}

impl Upgrade {
    fn is_default(&self) -> bool {
        *self == Upgrade::default()
    }
}

impl AppSpec {
    /// The simplest app: `instances` copies of a shell command.
    pub fn command_app(name: &str, instances: u32, cpu: f64, mem: f64, cmd: &str) -> AppSpec {
        AppSpec {
            name: name.into(),
            kind: Kind::Service,
            instances,
            resources: Resources {
                cpu,
                mem,
                disk: None,
                gpus: 0.0,
                ports: Ports::None,
                scalars: BTreeMap::new(),
                role: None,
            },
            strategy: Strategy::default(),
            filters: Vec::new(),
            command: Some(Command {
                cmd: Some(cmd.into()),
                ..Command::default()
            }),
            container: None,
            healthcheck: None,
            readiness: None,
            labels: BTreeMap::new(),
            executor: None,
            role: None,
            retry: None,
            upgrade: Upgrade::default(),
            discovery: None,
            kill_policy: None,
            containers: Vec::new(),
            volumes: Vec::new(),
            networks: Vec::new(),
            executor_resources: None,
        }
    }

    /// Whether any task of the app has a health check (a pod's
    /// containers each may).
    pub fn has_healthcheck(&self) -> bool {
        self.healthcheck.is_some() || self.containers.iter().any(|c| c.healthcheck.is_some())
    }

    /// Whether the app is a pod (its instances are task groups).
    pub fn is_pod(&self) -> bool {
        !self.containers.is_empty()
    }

    /// What a pod's executor uses (its defaults when not given).
    pub fn pod_executor_resources(&self) -> ExecutorResources {
        self.executor_resources.clone().unwrap_or_default()
    }

    /// What one instance takes from an agent in all: an app's
    /// `resources`; a pod's containers and executor summed (at Mesos's
    /// 0.001 precision, so the parts add up exactly to the whole), its
    /// ports every container's endpoints in order.
    pub fn instance_resources(&self) -> Resources {
        if !self.is_pod() {
            // A custom executor per task is placed with its task.
            let Some(e) = &self.executor else {
                return self.resources.clone();
            };
            let m = |v: f64| (v * 1000.0).round() as i64;
            let f = |v: i64| v as f64 / 1000.0;
            let x = e.resources();
            let mut r = self.resources.clone();
            r.cpu = f(m(r.cpu) + m(x.cpu));
            r.mem = f(m(r.mem) + m(x.mem));
            let disk = r.disk.as_ref().map_or(0, |d| m(d.size())) + m(x.disk);
            r.disk = Some(Disk::Size(f(disk)));
            return r;
        }
        let m = |v: f64| (v * 1000.0).round() as i64;
        let e = self.pod_executor_resources();
        let (mut cpu, mut mem, mut disk, mut gpus) = (m(e.cpu), m(e.mem), m(e.disk), 0i64);
        let mut scalars: BTreeMap<String, i64> = BTreeMap::new();
        let mut ports = Vec::new();
        for c in &self.containers {
            let r = &c.resources;
            cpu += m(r.cpu);
            mem += m(r.mem);
            disk += r.disk.as_ref().map_or(0, |d| m(d.size()));
            gpus += m(r.gpus);
            for (k, v) in &r.scalars {
                *scalars.entry(k.clone()).or_default() += m(*v);
            }
            ports.extend(c.endpoints.iter().map(|p| p.host_port));
        }
        let f = |v: i64| v as f64 / 1000.0;
        Resources {
            cpu: f(cpu),
            mem: f(mem),
            disk: (disk > 0).then(|| Disk::Size(f(disk))),
            gpus: f(gpus),
            ports: if ports.is_empty() {
                Ports::None
            } else {
                Ports::List(ports)
            },
            scalars: scalars.into_iter().map(|(k, v)| (k, f(v))).collect(),
            role: None,
        }
    }

    /// Container `i` of a pod as an app of its own: what its task is
    /// built from and checked as (its resources with its endpoints as
    /// ports, command, image, checks, labels over the pod's, the pod's
    /// discovery name and visibility, kill policy and role).
    pub fn pod_container_app(&self, i: usize) -> Option<AppSpec> {
        let c = self.containers.get(i)?;
        let mut resources = c.resources.clone();
        if !c.endpoints.is_empty() {
            resources.ports = Ports::List(c.endpoints.iter().map(|e| e.host_port).collect());
        }
        let mut labels = self.labels.clone();
        labels.extend(c.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let d = self.discovery.clone().unwrap_or_default();
        Some(AppSpec {
            name: self.name.clone(),
            kind: self.kind,
            instances: self.instances,
            resources,
            strategy: Strategy::default(),
            filters: Vec::new(),
            command: c.command.clone(),
            container: c.image.as_ref().map(|image| Container {
                image: Some(image.clone()),
                ..Container::default()
            }),
            healthcheck: c.healthcheck.clone(),
            readiness: c.readiness.clone(),
            labels,
            executor: None,
            role: None,
            retry: None,
            upgrade: Upgrade::default(),
            discovery: Some(Discovery {
                name: d.name,
                visibility: d.visibility,
                ports: c
                    .endpoints
                    .iter()
                    .map(|e| DiscoveryPort {
                        name: Some(e.name.clone()),
                        protocol: e.protocol.clone(),
                    })
                    .collect(),
                labels: d.labels,
            }),
            kill_policy: self.kill_policy.clone(),
            containers: Vec::new(),
            volumes: Vec::new(),
            networks: Vec::new(),
            executor_resources: None,
        })
    }

    /// The role tasks run under, if the spec names one.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref().or(self.resources.role.as_deref())
    }

    /// Delay before the first restart after a failure.
    pub fn restart_delay(&self) -> Option<f64> {
        self.retry.as_ref()?.time.as_ref()?.seconds()
    }

    /// Whether failures double the restart delay.
    pub fn exp_backoff(&self) -> bool {
        self.retry.as_ref().is_none_or(|r| r.exp_backoff)
    }

    /// Restarts a job gets after failures (hydrogen's default: 2).
    pub fn job_retries(&self) -> u32 {
        self.retry
            .as_ref()
            .and_then(|r| r.total_retries)
            .unwrap_or(2)
    }

    /// The Docker port mappings of the spec, wherever they were written.
    pub fn port_mappings(&self) -> Vec<PortMapping> {
        let Some(c) = &self.container else {
            return Vec::new();
        };
        let mut out: Vec<PortMapping> = c
            .docker
            .iter()
            .flat_map(|d| d.port_mappings.iter().cloned())
            .collect();
        out.extend(
            c.network
                .iter()
                .flat_map(|n| n.port_mapping.iter().cloned()),
        );
        out
    }

    /// The ports of one instance for service discovery, in `PORT<i>`
    /// order: each one's name (given in `discovery.ports`, else `port<i>`)
    /// and protocol (given, else the port mapping's, else `tcp`), both
    /// lowercase.
    pub fn discovery_ports(&self) -> Vec<(String, String)> {
        let requested = self.resources.ports.count();
        let mappings = self.port_mappings();
        let given = self.discovery.as_ref().map_or(&[][..], |d| &d.ports[..]);
        (0..requested + mappings.len())
            .map(|i| {
                let d = given.get(i);
                let name = d
                    .and_then(|d| d.name.clone())
                    .unwrap_or_else(|| format!("port{i}"));
                let protocol = d
                    .and_then(|d| d.protocol.clone())
                    .or_else(|| {
                        i.checked_sub(requested)
                            .and_then(|m| mappings[m].protocol.clone())
                    })
                    .unwrap_or_else(|| "tcp".into());
                (name.to_ascii_lowercase(), protocol.to_ascii_lowercase())
            })
            .collect()
    }

    /// Whether two specs differ in more than the instance count (a change
    /// that needs a rolling update rather than a scale).
    pub fn differs_beyond_scale(&self, other: &AppSpec) -> bool {
        let mut a = self.clone();
        a.instances = other.instances;
        a != *other
    }
}

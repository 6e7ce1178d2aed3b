//! The app spec: what a user asks tritium to run, as JSON.
//!
//! The JSON is a superset of hydrogen's app document (every hydrogen field
//! keeps its name and meaning; see README "App spec") with the additions
//! tritium needs: gpus and ports, named constraints, kinds (service/job),
//! rolling-update bounds, a docker runtime. Parsing is strict: an unknown
//! field, a wrong type or an out-of-range value is an [`SpecError`] naming
//! the field, so nothing a user wrote is silently ignored.
//!
//! [`AppSpec::parse`] checks everything that can be checked without the
//! cluster; the matcher compiles constraints and checks capacity against
//! what agents offer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Largest instance count one app may ask for.
pub const MAX_INSTANCES: u32 = 100_000;
/// Largest number of ports one instance may ask for.
pub const MAX_PORTS: usize = 64;
/// Largest count of filters, volumes, networks, uris, labels, env vars...
pub const MAX_ITEMS: usize = 256;
/// Longest string value in a spec (commands, labels, paths).
pub const MAX_STRING: usize = 64 * 1024;

/// A refused spec: what is wrong and where (a JSON path like
/// `container.volume[1].mode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecError {
    pub error: String,
    pub field: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, error: impl Into<String>) -> SpecError {
        SpecError {
            error: error.into(),
            field: field.into(),
        }
    }
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.error)
        } else {
            write!(f, "{}: {}", self.field, self.error)
        }
    }
}

/// Service (restarted forever) or job (runs to completion).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Service,
    Job,
}

/// One app, as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub name: String,
    #[serde(default)]
    pub kind: Kind,
    #[serde(default = "one")]
    pub instances: u32,
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Strategy::is_default")]
    pub strategy: Strategy,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheck>,
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
}

fn one() -> u32 {
    1
}

/// Resources of one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(alias = "cpus")]
    pub cpu: f64,
    pub mem: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<Disk>,
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

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// hydrogen's disk: `{"size": MB}`; a bare number is accepted too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Disk {
    Size(f64),
    Object(DiskObject),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskObject {
    pub size: f64,
}

impl Disk {
    pub fn size(&self) -> f64 {
        match self {
            Disk::Size(s) => *s,
            Disk::Object(o) => o.size,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ports {
    #[default]
    None,
    Count(u32),
    List(Vec<u32>),
}

impl Ports {
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// Best fit: fill agents that are already busy first.
    #[default]
    Binpack,
    /// At most one instance per agent.
    Unique,
    /// Co-locate instances on as few agents as possible.
    Mux,
    /// Prefer the agent with the fewest instances of this app.
    Spread,
}

fn de_strategy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<StrategyKind, D::Error> {
    let s = String::deserialize(d)?;
    match s.to_ascii_lowercase().as_str() {
        "" | "binpack" | "default" => Ok(StrategyKind::Binpack),
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
    #[serde(rename = "type", deserialize_with = "de_filter_kind")]
    pub kind: FilterKind,
    /// Attribute name (`hostname` is the agent's hostname). Absent: hydrogen
    /// semantics, any attribute of the filter's type may satisfy it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    #[serde(default)]
    pub value: Vec<String>,
    /// SCALAR comparison: eq, lt, le, gt, ge (default eq).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Negation: the agent must NOT match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilterKind {
    Text,
    Set,
    Scalar,
    Ranges,
    Like,
    Unlike,
    /// hydrogen's STRATEGY filter: value `["unique"]` or `["mux"]`.
    Strategy,
    Unique,
    MaxPer,
    GroupBy,
}

fn de_filter_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<FilterKind, D::Error> {
    let s = String::deserialize(d)?;
    Ok(match s.to_ascii_uppercase().as_str() {
        "TEXT" => FilterKind::Text,
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
                "unknown filter type {other:?} (expected TEXT, SET, SCALAR, RANGES, LIKE, \
                 UNLIKE, UNIQUE, MAX_PER, GROUP_BY or STRATEGY)"
            )));
        }
    })
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<Uri>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uri {
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute: Option<bool>,
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    #[serde(rename = "type", default, deserialize_with = "de_container_type")]
    pub kind: ContainerType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// hydrogen's separate tag, appended to the image as `image:tag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, alias = "volumes", skip_serializing_if = "Vec::is_empty")]
    pub volume: Vec<Volume>,
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// `ro` or `rw` (default rw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<VolumeSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSource {
    /// `DOCKER` (hydrogen) or `DOCKER_VOLUME`.
    #[serde(rename = "type")]
    pub kind: String,
    pub docker_volume: DockerVolume,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerVolume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        alias = "ipaddresses",
        alias = "ip_addresses",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ipaddress: Vec<IpAddress>,
    #[serde(default, alias = "groups", skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<String>,
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// `ipv4` (default) or `ipv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// hydrogen put groups and labels here; they apply to the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    /// 0 or absent: a port taken from the offer.
    #[serde(default)]
    pub host_port: u32,
    pub container_port: u32,
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
    #[serde(default, alias = "port_mapping", skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    #[serde(
        default,
        alias = "grace_period",
        skip_serializing_if = "Option::is_none"
    )]
    pub graceperiod: Option<f64>,
    #[serde(
        default,
        alias = "max_consecutive_failures",
        skip_serializing_if = "Option::is_none"
    )]
    pub fails: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    pub port: u32,
}

/// What a health check resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Http {
        scheme: String,
        port: u32,
        path: String,
        statuses: Vec<u32>,
    },
    Tcp {
        port: u32,
    },
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Executor {
    /// Where the agent fetches the executor from.
    pub uri: String,
    /// How to start it (default: `./` + the uri's file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NumOrString {
    Num(f64),
    Text(String),
}

impl NumOrString {
    fn seconds(&self) -> Option<f64> {
        match self {
            NumOrString::Num(n) => Some(*n),
            NumOrString::Text(s) => s.trim().trim_end_matches('s').parse().ok(),
        }
    }
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
            labels: BTreeMap::new(),
            executor: None,
            role: None,
            retry: None,
            upgrade: Upgrade::default(),
        }
    }

    /// Parse and check one app document.
    pub fn parse(json: &[u8]) -> Result<AppSpec, SpecError> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let spec: AppSpec = match serde_path_to_error::deserialize(&mut de) {
            Ok(s) => s,
            Err(e) => return Err(path_error(e)),
        };
        if let Err(e) = de.end() {
            return Err(SpecError::new("", e.to_string()));
        }
        spec.validate()?;
        Ok(spec)
    }

    /// Parse from an already decoded value (an element of a JSON array).
    pub fn from_value(v: serde_json::Value) -> Result<AppSpec, SpecError> {
        let spec: AppSpec = match serde_path_to_error::deserialize(v) {
            Ok(s) => s,
            Err(e) => return Err(path_error(e)),
        };
        spec.validate()?;
        Ok(spec)
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

    /// Whether two specs differ in more than the instance count (a change
    /// that needs a rolling update rather than a scale).
    pub fn differs_beyond_scale(&self, other: &AppSpec) -> bool {
        let mut a = self.clone();
        a.instances = other.instances;
        a != *other
    }

    /// Every check that needs nothing but the document.
    pub fn validate(&self) -> Result<(), SpecError> {
        check_name(&self.name)?;
        if self.instances > MAX_INSTANCES {
            return Err(SpecError::new(
                "instances",
                format!("at most {MAX_INSTANCES} instances per app"),
            ));
        }
        let r = &self.resources;
        scalar("resources.cpu", r.cpu, 0.001, 1e6)?;
        scalar("resources.mem", r.mem, 1.0, 1e9)?;
        if let Some(d) = &r.disk {
            scalar_or_zero("resources.disk.size", d.size(), 1e12)?;
        }
        scalar_or_zero("resources.gpus", r.gpus, 1e4)?;
        if r.gpus.fract() != 0.0 {
            return Err(SpecError::new(
                "resources.gpus",
                "gpus must be a whole number",
            ));
        }
        for (k, v) in &r.scalars {
            let f = format!("resources.scalars.{k}");
            if matches!(k.as_str(), "cpus" | "mem" | "disk" | "gpus" | "ports") {
                return Err(SpecError::new(
                    f,
                    "use the dedicated field for this resource",
                ));
            }
            check_token(&f, k)?;
            scalar_or_zero(&f, *v, 1e12)?;
        }
        if r.ports.count() > MAX_PORTS {
            return Err(SpecError::new(
                "resources.ports",
                format!("at most {MAX_PORTS} ports per instance"),
            ));
        }
        let reqs = r.ports.requests();
        for (i, p) in reqs.iter().enumerate() {
            if *p > 65535 {
                return Err(SpecError::new(
                    format!("resources.ports[{i}]"),
                    "a port is 0 (any) or 1-65535",
                ));
            }
            if *p != 0 && reqs[..i].contains(p) {
                return Err(SpecError::new(
                    format!("resources.ports[{i}]"),
                    "the same fixed port twice",
                ));
            }
        }
        if let (Some(a), Some(b)) = (&self.role, &r.role)
            && a != b
        {
            return Err(SpecError::new(
                "resources.role",
                "differs from the app's role; give it once",
            ));
        }
        if let Some(role) = self.role() {
            check_role(
                if self.role.is_some() {
                    "role"
                } else {
                    "resources.role"
                },
                role,
            )?;
        }
        items("filters", self.filters.len())?;
        for (i, f) in self.filters.iter().enumerate() {
            check_filter(&format!("filters[{i}]"), f)?;
        }
        let has_image = self
            .container
            .as_ref()
            .is_some_and(|c| c.image.as_deref().is_some_and(|i| !i.is_empty()));
        match (&self.command, &self.executor) {
            (Some(c), _) => check_command("command", c)?,
            (None, Some(_)) => {}
            (None, None) if has_image => {}
            (None, None) => {
                return Err(SpecError::new(
                    "command",
                    "an app needs a command, a container image or an executor",
                ));
            }
        }
        if let Some(c) = &self.command
            && c.cmd.as_deref().is_none_or(str::is_empty)
            && !has_image
            && self.executor.is_none()
        {
            return Err(SpecError::new("command.cmd", "empty command and no image"));
        }
        if let Some(e) = &self.executor {
            text("executor.uri", &e.uri, false)?;
            if let Some(c) = &e.cmd {
                text("executor.cmd", c, false)?;
            }
        }
        if let Some(c) = &self.container {
            self.check_container(c)?;
        }
        if let Some(h) = &self.healthcheck {
            h.resolve()?;
            for (f, v) in [
                ("healthcheck.delay", h.delay),
                ("healthcheck.interval", h.interval),
                ("healthcheck.timeout", h.timeout),
                ("healthcheck.graceperiod", h.graceperiod),
            ] {
                if let Some(v) = v {
                    scalar_or_zero(f, v, 86_400.0)?;
                }
            }
        }
        items("labels", self.labels.len())?;
        for (k, v) in &self.labels {
            text(&format!("labels.{k}"), k, false)?;
            text(&format!("labels.{k}"), v, true)?;
        }
        if let Some(r) = &self.retry
            && let Some(t) = &r.time
        {
            match t.seconds() {
                Some(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => {}
                _ => {
                    return Err(SpecError::new("retry.time", "seconds between 0 and 86400"));
                }
            }
        }
        if self.upgrade.max_surge == 0 && self.upgrade.max_unavailable == 0 {
            return Err(SpecError::new(
                "upgrade",
                "max_surge and max_unavailable cannot both be 0 (an update could never progress)",
            ));
        }
        if self.upgrade.rollback_after == 0 {
            return Err(SpecError::new(
                "upgrade.rollback_after",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn check_container(&self, c: &Container) -> Result<(), SpecError> {
        if let Some(i) = &c.image {
            text("container.image", i, false)?;
        }
        items("container.volume", c.volume.len())?;
        for (i, v) in c.volume.iter().enumerate() {
            let f = format!("container.volume[{i}]");
            if let Some(m) = &v.mode
                && !matches!(m.to_ascii_lowercase().as_str(), "ro" | "rw")
            {
                return Err(SpecError::new(format!("{f}.mode"), "mode must be ro or rw"));
            }
            match &v.source {
                Some(s) => {
                    if !matches!(
                        s.kind.to_ascii_uppercase().as_str(),
                        "DOCKER" | "DOCKER_VOLUME"
                    ) {
                        return Err(SpecError::new(
                            format!("{f}.source.type"),
                            "only DOCKER (docker volumes) is supported",
                        ));
                    }
                    text(
                        &format!("{f}.source.docker_volume.name"),
                        &s.docker_volume.name,
                        false,
                    )?;
                    if v.container_path.as_deref().is_none_or(str::is_empty) {
                        return Err(SpecError::new(
                            format!("{f}.container_path"),
                            "a docker volume needs a container_path",
                        ));
                    }
                }
                None => {
                    if v.container_path.as_deref().is_none_or(str::is_empty) {
                        return Err(SpecError::new(
                            format!("{f}.container_path"),
                            "a volume needs a container_path",
                        ));
                    }
                }
            }
        }
        items("container.network", c.network.len())?;
        for (i, n) in c.network.iter().enumerate() {
            for (j, ip) in n.ipaddress.iter().enumerate() {
                let f = format!("container.network[{i}].ipaddress[{j}]");
                if let Some(p) = &ip.protocol
                    && !matches!(p.to_ascii_lowercase().as_str(), "ipv4" | "ipv6")
                {
                    return Err(SpecError::new(format!("{f}.protocol"), "ipv4 or ipv6"));
                }
                if let Some(a) = &ip.ip
                    && a.parse::<std::net::IpAddr>().is_err()
                {
                    return Err(SpecError::new(format!("{f}.ip"), "not an IP address"));
                }
            }
        }
        let mappings = self.port_mappings();
        let mut hosts = Vec::new();
        for (i, m) in mappings.iter().enumerate() {
            let f = format!("container.docker.port_mappings[{i}]");
            if m.container_port == 0 || m.container_port > 65535 {
                return Err(SpecError::new(format!("{f}.container_port"), "1-65535"));
            }
            if m.host_port > 65535 {
                return Err(SpecError::new(
                    format!("{f}.host_port"),
                    "0 (any) or 1-65535",
                ));
            }
            if m.host_port != 0 {
                if hosts.contains(&m.host_port) {
                    return Err(SpecError::new(
                        format!("{f}.host_port"),
                        "the same host port twice",
                    ));
                }
                hosts.push(m.host_port);
            }
            if let Some(p) = &m.protocol
                && !matches!(p.to_ascii_lowercase().as_str(), "tcp" | "udp")
            {
                return Err(SpecError::new(format!("{f}.protocol"), "tcp or udp"));
            }
        }
        match c.kind {
            ContainerType::Mesos => {
                if c.docker.is_some() {
                    return Err(SpecError::new(
                        "container.docker",
                        "docker settings need container.type docker",
                    ));
                }
            }
            ContainerType::Docker => {
                if c.image.as_deref().is_none_or(str::is_empty) {
                    return Err(SpecError::new(
                        "container.image",
                        "a docker container needs an image",
                    ));
                }
                let mode = c
                    .docker
                    .as_ref()
                    .and_then(|d| d.network.clone())
                    .unwrap_or_else(|| "HOST".into())
                    .to_ascii_uppercase();
                match mode.as_str() {
                    "HOST" if !mappings.is_empty() => {
                        return Err(SpecError::new(
                            "container.docker.port_mappings",
                            "port mappings need network BRIDGE or USER (HOST uses the agent's ports)",
                        ));
                    }
                    "BRIDGE" if mappings.is_empty() => {
                        return Err(SpecError::new(
                            "container.docker.port_mappings",
                            "BRIDGE network without ports to map",
                        ));
                    }
                    "HOST" | "BRIDGE" | "USER" => {}
                    _ => {
                        return Err(SpecError::new(
                            "container.docker.network",
                            "HOST, BRIDGE or USER",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A deserialization error as a [`SpecError`] naming the field's JSON path.
fn path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> SpecError {
    let field = e.path().to_string();
    let field = if field == "." { String::new() } else { field };
    SpecError::new(field, e.into_inner().to_string())
}

fn check_name(name: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(SpecError::new(
            "name",
            "a name is 1-63 letters, digits and '-', not starting or ending with '-'",
        ))
    }
}

fn check_role(field: &str, role: &str) -> Result<(), SpecError> {
    let ok = !role.is_empty()
        && role.len() <= 255
        && role != "."
        && role != ".."
        && !role.starts_with('-')
        && role.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if ok && role != "*" {
        Ok(())
    } else {
        Err(SpecError::new(field, "not a valid Mesos role"))
    }
}

fn check_token(field: &str, s: &str) -> Result<(), SpecError> {
    if !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(SpecError::new(field, "a name of printable characters"))
    }
}

fn text(field: &str, s: &str, may_be_empty: bool) -> Result<(), SpecError> {
    if s.is_empty() && !may_be_empty {
        return Err(SpecError::new(field, "must not be empty"));
    }
    if s.len() > MAX_STRING {
        return Err(SpecError::new(
            field,
            format!("longer than {MAX_STRING} bytes"),
        ));
    }
    Ok(())
}

fn items(field: &str, n: usize) -> Result<(), SpecError> {
    if n > MAX_ITEMS {
        Err(SpecError::new(
            field,
            format!("at most {MAX_ITEMS} entries"),
        ))
    } else {
        Ok(())
    }
}

fn scalar(field: &str, v: f64, min: f64, max: f64) -> Result<(), SpecError> {
    if v.is_finite() && v >= min && v <= max {
        Ok(())
    } else {
        Err(SpecError::new(
            field,
            format!("must be a number from {min} to {max}"),
        ))
    }
}

fn scalar_or_zero(field: &str, v: f64, max: f64) -> Result<(), SpecError> {
    scalar(field, v, 0.0, max)
}

fn check_command(field: &str, c: &Command) -> Result<(), SpecError> {
    if let Some(cmd) = &c.cmd {
        text(&format!("{field}.cmd"), cmd, true)?;
    }
    items(&format!("{field}.environment"), c.environment.len())?;
    for (k, v) in &c.environment {
        let f = format!("{field}.environment.{k}");
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(SpecError::new(f, "not a valid variable name"));
        }
        text(&f, v, true)?;
    }
    items(&format!("{field}.uris"), c.uris.len())?;
    for (i, u) in c.uris.iter().enumerate() {
        text(&format!("{field}.uris[{i}].uri"), &u.uri, false)?;
    }
    Ok(())
}

fn check_filter(field: &str, f: &Filter) -> Result<(), SpecError> {
    if let Some(a) = &f.attribute {
        check_token(&format!("{field}.attribute"), a)?;
    }
    items(&format!("{field}.value"), f.value.len())?;
    let needs_attr = matches!(f.kind, FilterKind::MaxPer | FilterKind::GroupBy);
    if needs_attr && f.attribute.is_none() {
        return Err(SpecError::new(
            format!("{field}.attribute"),
            "MAX_PER and GROUP_BY need an attribute",
        ));
    }
    let needs_value = !matches!(f.kind, FilterKind::Unique | FilterKind::GroupBy);
    if needs_value && f.value.is_empty() {
        return Err(SpecError::new(
            format!("{field}.value"),
            "needs at least one value",
        ));
    }
    if f.operator.is_some() && f.kind != FilterKind::Scalar {
        return Err(SpecError::new(
            format!("{field}.operator"),
            "only SCALAR filters take an operator",
        ));
    }
    match f.kind {
        FilterKind::Scalar => {
            if let Some(op) = &f.operator
                && !matches!(
                    op.to_ascii_lowercase().as_str(),
                    "eq" | "lt" | "le" | "gt" | "ge"
                )
            {
                return Err(SpecError::new(
                    format!("{field}.operator"),
                    "eq, lt, le, gt or ge",
                ));
            }
            for (i, v) in f.value.iter().enumerate() {
                if !v.trim().parse::<f64>().is_ok_and(f64::is_finite) {
                    return Err(SpecError::new(
                        format!("{field}.value[{i}]"),
                        "not a number",
                    ));
                }
            }
        }
        FilterKind::Ranges => {
            for (i, v) in f.value.iter().enumerate() {
                if parse_range(v).is_none() {
                    return Err(SpecError::new(
                        format!("{field}.value[{i}]"),
                        "a number or a range like 100-200",
                    ));
                }
            }
        }
        FilterKind::MaxPer => {
            if f.value.len() != 1 || !f.value[0].trim().parse::<u32>().is_ok_and(|n| n > 0) {
                return Err(SpecError::new(
                    format!("{field}.value"),
                    "MAX_PER takes one positive whole number",
                ));
            }
        }
        FilterKind::GroupBy => {
            if f.value.len() > 1
                || f.value
                    .iter()
                    .any(|v| !v.trim().parse::<u32>().is_ok_and(|n| n > 0))
            {
                return Err(SpecError::new(
                    format!("{field}.value"),
                    "GROUP_BY takes at most one value: the number of groups",
                ));
            }
        }
        FilterKind::Strategy => {
            if f.value.len() != 1
                || !matches!(f.value[0].to_ascii_lowercase().as_str(), "unique" | "mux")
            {
                return Err(SpecError::new(
                    format!("{field}.value"),
                    "STRATEGY takes one value: unique or mux",
                ));
            }
        }
        FilterKind::Like | FilterKind::Unlike => {
            for (i, v) in f.value.iter().enumerate() {
                crate::pattern::Pattern::compile(v)
                    .map_err(|e| SpecError::new(format!("{field}.value[{i}]"), e))?;
            }
        }
        FilterKind::Text | FilterKind::Set | FilterKind::Unique => {}
    }
    Ok(())
}

/// `"8080"` or `"100-200"` → inclusive bounds.
pub fn parse_range(s: &str) -> Option<(u64, u64)> {
    let s = s.trim();
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let v = s.parse().ok()?;
            (v, v)
        }
    };
    (a <= b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<AppSpec, SpecError> {
        AppSpec::parse(s.as_bytes())
    }

    #[test]
    fn hydrogen_readme_example_parses() {
        let doc = r#"{
          "name": "test-app",
          "resources": {"cpu": 0.1, "mem": 32.0, "disk": {"size": 1024.00}},
          "instances": 5,
          "command": {"cmd": "/bin/sleep 500"},
          "container": {"network": [{"name": "internal-network"}]},
          "strategy": {"type": "UNIQUE"}
        }"#;
        let s = parse(doc).unwrap();
        assert_eq!(s.instances, 5);
        assert_eq!(s.strategy.kind, StrategyKind::Unique);
        assert_eq!(s.resources.disk.as_ref().unwrap().size(), 1024.0);
    }

    #[test]
    fn hydrogen_full_enumeration_parses() {
        let doc = r#"{
          "name": "Example-app",
          "resources": {"cpu": 1.5, "mem": 128.25, "disk": {"size": 1024.00}},
          "filters": [{"type": "TEXT", "value": ["DEADBEEF00"]}],
          "instances": 1,
          "strategy": {"type": "mux"},
          "command": {"cmd": "/bin/echo hello world",
            "environment": {"A": "1", "B": "2"},
            "uris": [{"uri": "http://x/executor", "extract": false, "execute": true}]},
          "container": {"image": "debian:latest",
            "volume": [
              {"container_path": "example/log", "host_path": "/var/log", "mode": "ro"},
              {"container_path": "/data", "source": {"type": "DOCKER", "docker_volume":
                {"driver": "rexray", "name": "test_volume", "driveropts": [""]}}}],
            "network": [{"ipaddress": [
                {"group": ["prod"], "labels": [{"some_label": "awesome"}], "ip": "10.2.1.1", "protocol": "ipv4"},
                {"ip": "2600::1", "protocol": "ipv6"}]},
              {"name": "FE-CNI"},
              {"name": "BE-CNI", "labels": [{"testIP": "11.11.11.1"}]}]},
          "healthcheck": {"endpoint": "localhost:8080"},
          "labels": {"purpose": "Testing"},
          "retry": {"time": "2", "exp_backoff": true, "total_retries": 4}
        }"#;
        let s = parse(doc).unwrap();
        assert_eq!(s.restart_delay(), Some(2.0));
        assert_eq!(s.job_retries(), 4);
        let hc = s.healthcheck.as_ref().unwrap().resolve().unwrap();
        assert!(matches!(hc, CheckKind::Http { port: 8080, .. }));
        // A round trip through the canonical form gives the same spec.
        let again = AppSpec::parse(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn unknown_fields_and_bad_values_name_the_field() {
        let e =
            parse(r#"{"name":"a","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"},"bogus":1}"#)
                .unwrap_err();
        assert!(e.error.contains("bogus"), "{e:?}");
        let e =
            parse(r#"{"name":"a","resources":{"cpu":1,"mem":1,"gpu":1},"command":{"cmd":"x"}}"#)
                .unwrap_err();
        assert_eq!(e.field, "resources.gpu", "{e:?}");
        let e = parse(r#"{"name":"a","resources":{"cpu":"x","mem":1},"command":{"cmd":"x"}}"#)
            .unwrap_err();
        assert_eq!(e.field, "resources.cpu", "{e:?}");
        let e = parse(r#"{"name":"a_b","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"}}"#)
            .unwrap_err();
        assert_eq!(e.field, "name");
        let e = parse(
            r#"{"name":"a","instances":100001,"resources":{"cpu":1,"mem":1},"command":{"cmd":"x"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "instances");
        let e = parse(r#"{"name":"a","resources":{"cpu":1,"mem":1}}"#).unwrap_err();
        assert_eq!(e.field, "command");
        let e = parse(
            r#"{"name":"a","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"},
               "container":{"volume":[{"container_path":"/x","mode":"rx"}]}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "container.volume[0].mode");
        let e = parse(
            r#"{"name":"a","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"},
               "filters":[{"type":"MAX_PER","attribute":"rack","value":["0"]}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "filters[0].value");
        assert!(parse("[1,2]").is_err());
        assert!(parse("{} trailing").is_err());
    }

    #[test]
    fn docker_combinations() {
        let base = |container: &str| {
            format!(
                r#"{{"name":"d","resources":{{"cpu":1,"mem":1}},"command":{{"cmd":"x"}},"container":{container}}}"#
            )
        };
        let ok = base(
            r#"{"type":"docker","image":"nginx","docker":{"network":"BRIDGE","port_mappings":[{"container_port":80}]}}"#,
        );
        parse(&ok).unwrap();
        let e = parse(&base(
            r#"{"type":"docker","image":"nginx","docker":{"network":"BRIDGE"}}"#,
        ))
        .unwrap_err();
        assert_eq!(e.field, "container.docker.port_mappings");
        let e = parse(&base(
            r#"{"type":"docker","image":"nginx","docker":{"port_mappings":[{"container_port":80}]}}"#,
        ))
        .unwrap_err();
        assert_eq!(e.field, "container.docker.port_mappings");
        let e = parse(&base(r#"{"image":"nginx","docker":{}}"#)).unwrap_err();
        assert_eq!(e.field, "container.docker");
    }

    #[test]
    fn scale_only_changes_are_recognised() {
        let a =
            parse(r#"{"name":"a","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"}}"#).unwrap();
        let mut b = a.clone();
        b.instances = 7;
        assert!(!a.differs_beyond_scale(&b));
        b.command.as_mut().unwrap().cmd = Some("y".into());
        assert!(a.differs_beyond_scale(&b));
    }
}

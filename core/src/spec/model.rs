//! The app document's types, as serde reads and writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SpecError;

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
    pub(super) fn seconds(&self) -> Option<f64> {
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
}

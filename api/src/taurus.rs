//! The taurus job API as a thin alias over apps.
//!
//! taurus (github.com/milosgajdos/taurus) ran "jobs": a list of task
//! templates, each replicated in Docker containers. Here a job is nothing
//! but a group of apps: every task template becomes one app (named
//! `<job id>-<task index>`, labelled with the job), created, read and
//! deleted through the same engine commands the app API sends. There is no
//! job state of its own anywhere: a job's state is derived from its apps'
//! status, so everything the app API does (convergence, restarts, events,
//! metrics, why-not) applies to jobs unchanged.
//!
//! | method | path (also under `/v1`)  | what                                        |
//! |--------|--------------------------|---------------------------------------------|
//! | POST   | /job/new                 | create (200; 304 if the id exists)          |
//! | GET    | /job/{id}                | the job, its state and its apps (404)       |
//! | GET    | /job/all, /jobs          | a page of jobs (`offset`, `limit`, `tasks`) |
//! | DELETE | /job/{id}                | kill all its tasks, then forget it (404)    |
//! | DELETE | /job/all                 | the same for every job                      |
//!
//! The mapping of a job task onto an app (README "taurus jobs"):
//!
//! | taurus                          | app                                                    |
//! |---------------------------------|--------------------------------------------------------|
//! | `id`, task index `i`            | `name` = `<id>-<i>`; labels `taurus.job`, `taurus.task`, `taurus.tasks` |
//! | (long-running replicas)         | `kind` = `service`                                     |
//! | `replicas` (default 1)          | `instances`                                            |
//! | `container.image`               | `container` type `docker`, `image`                     |
//! | `container.command` `[argv..]`  | `command.cmd`: the argv quoted for `/bin/sh`; empty or absent: the image's entrypoint |
//! | `container.volumes`             | `container.volume` (`container_path`, `host_path`, `mode` ro/rw) |
//! | `resources.cpu` / `memory`      | `resources.cpu` / `mem` (0 or absent: 1 cpu, 128 MB)   |
//! | `health_check` {port, path, interval, timeout, failures} | `healthcheck` type http on that container port; the container runs on a BRIDGE network with that port mapped to a host port from the offer |
//! | no `health_check`               | docker network HOST                                    |
//! | `role`                          | `role` (a Mesos role tritium runs under)               |
//! | `cluster`, `environment`, `priority` | labels `taurus.cluster`, `taurus.environment`, `taurus.priority` |
//!
//! Creating a job is one engine command (`CreateApps`) with all its apps:
//! the engine checks every one before it creates any, so a refused job
//! leaves nothing behind, and its records are stored together. Everything
//! that can be checked without the engine is checked before it is asked.
//! A job document is strict JSON (a key twice in one object is refused).
//!
//! Answers are bounded as the app API's are: a job list is a page of jobs
//! by id (`?offset=&limit=`, default 100, at most the API's `max_page`)
//! whose apps carry task counts by state, not task documents
//! (`?tasks=none|summary`); it stays taurus's JSON array, and says where
//! to go on in headers: `X-Total-Count` (jobs in all) and, when jobs
//! remain, `Link: <...?offset=N...>; rel="next"` (RFC 8288). A page also
//! ends early rather than pass `max_answer_bytes`. `GET /job/<id>` shows
//! at most `MAX_TASK_LIMIT` task documents across the job's apps (each
//! app's `next_task` says where its own pages go on).

use std::collections::BTreeMap;

use crate::http_server::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tritium_engine::contract::{
    Answer, AppStatus, AppView, CommandError, ErrorKind, MAX_TASK_LIMIT, QueueEntry, TaskDetail,
    TaskPage,
};
use tritium_engine::core::CommandKind;
use tritium_engine::spec::{
    AppSpec, Command, Container, ContainerType, DockerSettings, HealthCheck, Kind,
    MAX_APPS_PER_REQUEST, MAX_INSTANCES, MAX_ITEMS, MAX_STRING, PortMapping, Ports, Resources,
    SpecError, Strategy, Upgrade, Volume, parse_strict_json,
};

/// Most task templates one job may hold: its apps are created by one list
/// command, so the app API's list limit.
pub const MAX_JOB_TASKS: usize = MAX_APPS_PER_REQUEST;
/// Longest job id: an app name is at most 63 bytes and the job's apps
/// are `<id>-<index>` with an index of at most two digits.
pub const MAX_JOB_ID: usize = 63 - 3;
/// Longest `cluster`, `role`, `environment` (they become labels).
const MAX_NAME: usize = 255;
/// taurus's defaults for a task without resources (job.go).
pub const DEFAULT_CPU: f64 = 1.0;
pub const DEFAULT_MEMORY: f64 = 128.0;

pub const LABEL_JOB: &str = "taurus.job";
pub const LABEL_TASK: &str = "taurus.task";
pub const LABEL_TASKS: &str = "taurus.tasks";
pub const LABEL_CLUSTER: &str = "taurus.cluster";
pub const LABEL_ENVIRONMENT: &str = "taurus.environment";
pub const LABEL_PRIORITY: &str = "taurus.priority";

/// Path words that are routes, not job ids.
const RESERVED_IDS: [&str; 2] = ["all", "new"];

/// A taurus job document, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub tasks: Vec<JobTask>,
}

/// One task template of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobTask {
    pub cluster: String,
    pub role: String,
    pub environment: String,
    pub priority: u32,
    pub command: Vec<String>,
    pub image: String,
    pub volumes: Vec<JobVolume>,
    pub cpu: f64,
    pub memory: f64,
    pub health_check: Option<JobHealthCheck>,
    pub replicas: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobVolume {
    pub container_path: String,
    pub host_path: String,
    /// `ro` or `rw`.
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobHealthCheck {
    pub port: u32,
    pub path: String,
    pub interval: Option<f64>,
    pub timeout: Option<f64>,
    pub failures: Option<u32>,
}

/// The app name of task `index` of job `id`.
pub fn app_name(id: &str, index: usize) -> String {
    format!("{id}-{index}")
}

// ------------------------------------------------------------ parsing

/// A job document as taurus's JSON has it, read strictly with serde:
/// unknown fields are refused, `null` counts as absent, and a value of the
/// wrong type is refused with its path (`tasks[0].container.command[1]`).
/// What types cannot say (bounds, required parts) is checked after, in
/// [`Job::parse`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobDoc {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    tasks: Option<Vec<Object<JobTaskDoc>>>,
    /// What taurus answered with; a document read back and submitted
    /// again carries it. Output only: ignored.
    #[serde(default)]
    #[allow(dead_code)]
    job_state: Option<serde::de::IgnoredAny>,
}

/// One task template of a job document. `GET /job/{id}` shows the same
/// type (the template back from its app, every part present).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTaskDoc {
    /// Becomes the label `taurus.cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// The Mesos role the app runs under.
    #[serde(default)]
    pub role: Option<String>,
    /// Becomes the label `taurus.environment`.
    #[serde(default)]
    pub environment: Option<String>,
    /// Becomes the label `taurus.priority`.
    #[serde(default)]
    pub priority: Option<u32>,
    /// The Docker container (required, with an image).
    #[serde(default)]
    pub container: Option<Object<ContainerDoc>>,
    /// cpu and memory (0 or absent: taurus's defaults).
    #[serde(default)]
    pub resources: Option<Object<ResourcesDoc>>,
    /// An HTTP check on a container port.
    #[serde(default)]
    pub health_check: Option<Object<HealthCheckDoc>>,
    /// Instances (default 1).
    #[serde(default)]
    pub replicas: Option<u32>,
}

/// A task's container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerDoc {
    /// The argv to run (empty or absent: the image's entrypoint).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// The Docker image.
    #[serde(default)]
    pub image: Option<String>,
    /// Host paths mounted into the container.
    #[serde(default)]
    pub volumes: Option<Vec<Object<VolumeDoc>>>,
}

/// A volume of a task's container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeDoc {
    /// Where it is mounted in the container (required).
    #[serde(default)]
    pub container_path: Option<String>,
    /// The host path.
    #[serde(default)]
    pub host_path: Option<String>,
    /// `ro` or `rw` (any case; default `rw`).
    #[serde(default)]
    pub mode: Option<String>,
}

/// A task's resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesDoc {
    /// CPUs per instance.
    #[serde(default)]
    pub cpu: Option<f64>,
    /// Memory per instance, MB.
    #[serde(default)]
    pub memory: Option<f64>,
}

/// A task's health check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckDoc {
    /// The container port probed (required).
    #[serde(default)]
    pub port: Option<u32>,
    /// The HTTP path (default `/`).
    #[serde(default)]
    pub path: Option<String>,
    /// Seconds between checks (0: not set).
    #[serde(default)]
    pub interval: Option<f64>,
    /// Seconds a check may take (0: not set).
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Failures in a row that kill the task (0: not set).
    #[serde(default)]
    pub failures: Option<u32>,
}

/// A part of a job document that must be a JSON object. serde's derived
/// structs also take a list of their fields' values (`[]` would be a job
/// with every field absent); taurus's documents never had that form, so
/// it is refused, with its path, like any value of the wrong type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Fields(std::marker::PhantomData))
            .map(Object)
    }
}

impl<T: Serialize> Serialize for Object<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

// The bounds of a job document's values, each checked with its field path.

fn text(field: &str, v: Option<String>, max: usize) -> Result<String, SpecError> {
    let v = v.unwrap_or_default();
    if v.len() > max || v.contains('\0') {
        return Err(SpecError::new(
            field,
            format!("at most {max} bytes, no NUL"),
        ));
    }
    Ok(v)
}

fn number(field: &str, v: Option<f64>, max: f64) -> Result<Option<f64>, SpecError> {
    match v {
        Some(n) if !(n.is_finite() && (0.0..=max).contains(&n)) => Err(SpecError::new(
            field,
            format!("expected a number from 0 to {max}"),
        )),
        v => Ok(v),
    }
}

fn whole(field: &str, v: Option<u32>, max: u32) -> Result<Option<u32>, SpecError> {
    match v {
        Some(n) if n > max => Err(SpecError::new(
            field,
            format!("expected a whole number from 0 to {max}"),
        )),
        v => Ok(v),
    }
}

fn list<T>(field: &str, v: Option<Vec<T>>, max: usize) -> Result<Vec<T>, SpecError> {
    let v = v.unwrap_or_default();
    if v.len() > max {
        return Err(SpecError::new(field, format!("at most {max} entries")));
    }
    Ok(v)
}

impl Job {
    /// Parse and check a job document (strict: unknown fields are errors).
    pub fn parse(body: &[u8]) -> Result<Job, SpecError> {
        let v = parse_strict_json(body)?;
        let Object(doc): Object<JobDoc> = serde_path_to_error::deserialize(v).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            SpecError::new(field, e.into_inner().to_string())
        })?;
        let Some(id) = doc.id else {
            return Err(SpecError::new("id", "a job needs an id"));
        };
        check_id(&id)?;
        let items = list("tasks", doc.tasks, MAX_JOB_TASKS)?;
        if items.is_empty() {
            return Err(SpecError::new("tasks", "a job needs at least one task"));
        }
        let tasks = items
            .into_iter()
            .enumerate()
            .map(|(i, t)| JobTask::check(t.0, &format!("tasks[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Job { id, tasks })
    }

    /// The apps this job is made of, in task order.
    pub fn apps(&self) -> Result<Vec<AppSpec>, SpecError> {
        self.tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let spec = t.app(&self.id, i, self.tasks.len());
                spec.validate().map_err(|e| {
                    SpecError::new(
                        taurus_field(i, &e.field),
                        format!("{} ({})", e.error, e.field),
                    )
                })?;
                Ok(spec)
            })
            .collect()
    }
}

/// A job id names the job's apps, so it follows app names: letters,
/// digits and '-', short enough for the task suffix.
pub fn check_id(id: &str) -> Result<(), SpecError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_JOB_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if !ok {
        return Err(SpecError::new(
            "id",
            format!(
                "a job id is 1-{MAX_JOB_ID} letters, digits and '-', not starting or ending with '-'"
            ),
        ));
    }
    if RESERVED_IDS.contains(&id) {
        return Err(SpecError::new(
            "id",
            format!("{id:?} is a route (/job/{id}), not a job id"),
        ));
    }
    Ok(())
}

impl JobTask {
    /// The bounds and required parts of one parsed task template (`path`:
    /// where it is in the document, `tasks[i]`).
    fn check(t: JobTaskDoc, path: &str) -> Result<JobTask, SpecError> {
        let field = |k: &str| format!("{path}.{k}");
        let Some(Object(c)) = t.container else {
            return Err(SpecError::new(
                field("container"),
                "a task needs a container with an image",
            ));
        };
        let cf = |k: &str| format!("{path}.container.{k}");
        let image = text(&cf("image"), c.image, MAX_STRING)?;
        if image.is_empty() {
            return Err(SpecError::new(cf("image"), "a task needs an image"));
        }
        let command = list(&cf("command"), c.command, MAX_ITEMS)?;
        if let Some(i) = command
            .iter()
            .position(|a| a.len() > MAX_STRING || a.contains('\0'))
        {
            return Err(SpecError::new(
                format!("{}[{i}]", cf("command")),
                "a command is a list of strings (no NUL)",
            ));
        }
        let volumes = list(&cf("volumes"), c.volumes, MAX_ITEMS)?
            .into_iter()
            .enumerate()
            .map(|(i, Object(v))| {
                let vf = |k: &str| format!("{}[{i}].{k}", cf("volumes"));
                let container_path = text(&vf("container_path"), v.container_path, MAX_STRING)?;
                if container_path.is_empty() {
                    return Err(SpecError::new(
                        vf("container_path"),
                        "a volume needs a container_path",
                    ));
                }
                let mode = text(&vf("mode"), v.mode, 2)?.to_ascii_lowercase();
                let mode = match mode.as_str() {
                    "" | "rw" => "rw",
                    "ro" => "ro",
                    _ => return Err(SpecError::new(vf("mode"), "mode must be ro or rw")),
                };
                Ok(JobVolume {
                    container_path,
                    host_path: text(&vf("host_path"), v.host_path, MAX_STRING)?,
                    mode: mode.to_owned(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (mut cpu, mut memory) = (None, None);
        if let Some(Object(r)) = t.resources {
            cpu = number(&field("resources.cpu"), r.cpu, 1e6)?;
            memory = number(&field("resources.memory"), r.memory, 1e9)?;
        }
        let health_check = match t.health_check {
            None => None,
            Some(Object(h)) => {
                let hf = |k: &str| format!("{path}.health_check.{k}");
                let port = whole(&hf("port"), h.port, 65535)?.unwrap_or(0);
                if port == 0 {
                    return Err(SpecError::new(
                        hf("port"),
                        "a health check needs the container port to probe (1-65535)",
                    ));
                }
                let hpath = text(&hf("path"), h.path, MAX_STRING)?;
                if !hpath.is_empty() && !hpath.starts_with('/') {
                    return Err(SpecError::new(hf("path"), "a path starts with '/'"));
                }
                // taurus (Go) wrote 0 for "not set".
                let positive = |v: Option<f64>| v.filter(|s| *s > 0.0);
                Some(JobHealthCheck {
                    port,
                    path: if hpath.is_empty() { "/".into() } else { hpath },
                    interval: positive(number(&hf("interval"), h.interval, 86_400.0)?),
                    timeout: positive(number(&hf("timeout"), h.timeout, 86_400.0)?),
                    failures: h.failures.filter(|f| *f > 0),
                })
            }
        };
        let replicas = whole(&field("replicas"), t.replicas, MAX_INSTANCES)?.unwrap_or(1);
        if replicas == 0 {
            return Err(SpecError::new(
                field("replicas"),
                "at least 1 replica (delete the job to stop it)",
            ));
        }
        Ok(JobTask {
            cluster: text(&field("cluster"), t.cluster, MAX_NAME)?,
            role: text(&field("role"), t.role, MAX_NAME)?,
            environment: text(&field("environment"), t.environment, MAX_NAME)?,
            priority: t.priority.unwrap_or(0),
            command,
            image,
            volumes,
            cpu: cpu.filter(|c| *c > 0.0).unwrap_or(DEFAULT_CPU),
            memory: memory.filter(|m| *m > 0.0).unwrap_or(DEFAULT_MEMORY),
            health_check,
            replicas,
        })
    }

    /// The app of task `index` of job `id` (which has `count` tasks).
    pub fn app(&self, id: &str, index: usize, count: usize) -> AppSpec {
        let mut labels = BTreeMap::new();
        labels.insert(LABEL_JOB.to_owned(), id.to_owned());
        labels.insert(LABEL_TASK.to_owned(), index.to_string());
        labels.insert(LABEL_TASKS.to_owned(), count.to_string());
        labels.insert(LABEL_CLUSTER.to_owned(), self.cluster.clone());
        labels.insert(LABEL_ENVIRONMENT.to_owned(), self.environment.clone());
        labels.insert(LABEL_PRIORITY.to_owned(), self.priority.to_string());
        let hc = self.health_check.as_ref();
        AppSpec {
            name: app_name(id, index),
            kind: Kind::Service,
            instances: self.replicas,
            resources: Resources {
                cpu: self.cpu,
                mem: self.memory,
                disk: None,
                gpus: 0.0,
                ports: Ports::None,
                scalars: BTreeMap::new(),
                role: None,
            },
            strategy: Strategy::default(),
            filters: Vec::new(),
            command: (!self.command.is_empty()).then(|| Command {
                cmd: Some(shell_quote(&self.command)),
                ..Command::default()
            }),
            container: Some(Container {
                kind: ContainerType::Docker,
                image: Some(self.image.clone()),
                tag: None,
                volume: self
                    .volumes
                    .iter()
                    .map(|v| Volume {
                        container_path: Some(v.container_path.clone()),
                        host_path: (!v.host_path.is_empty()).then(|| v.host_path.clone()),
                        mode: Some(v.mode.clone()),
                        source: None,
                    })
                    .collect(),
                network: Vec::new(),
                // A checked port must be reachable: the container gets its
                // own network with that port mapped (taurus ran BRIDGE);
                // without one there is nothing to map, and BRIDGE without
                // mappings is refused, so it shares the agent's network.
                docker: Some(DockerSettings {
                    network: Some(if hc.is_some() { "BRIDGE" } else { "HOST" }.into()),
                    port_mappings: hc
                        .map(|h| PortMapping {
                            host_port: 0,
                            container_port: h.port,
                            protocol: Some("tcp".into()),
                        })
                        .into_iter()
                        .collect(),
                    ..DockerSettings::default()
                }),
            }),
            healthcheck: hc.map(|h| HealthCheck {
                kind: Some("http".into()),
                // The Docker executor probes from inside the container's
                // network namespace, so this is the container port.
                port: Some(h.port),
                path: Some(h.path.clone()),
                interval: h.interval,
                timeout: h.timeout,
                fails: h.failures,
                ..HealthCheck::default()
            }),
            labels,
            executor: None,
            role: (!self.role.is_empty()).then(|| self.role.clone()),
            retry: None,
            upgrade: Upgrade::default(),
            discovery: None,
            kill_policy: None,
            readiness: None,
            containers: Vec::new(),
            volumes: Vec::new(),
            networks: Vec::new(),
            executor_resources: None,
        }
    }

    /// The task template back from its app's spec (for GET).
    pub fn from_app(spec: &AppSpec) -> JobTaskDoc {
        let label = |k: &str| spec.labels.get(k).cloned().unwrap_or_default();
        let c = spec.container.clone().unwrap_or_default();
        let command = spec
            .command
            .as_ref()
            .and_then(|c| c.cmd.as_deref())
            .map(shell_split)
            .unwrap_or_default();
        let volumes = c
            .volume
            .iter()
            .map(|v| {
                Object(VolumeDoc {
                    container_path: Some(v.container_path.clone().unwrap_or_default()),
                    host_path: Some(v.host_path.clone().unwrap_or_default()),
                    mode: Some(v.mode.clone().unwrap_or_else(|| "rw".into())),
                })
            })
            .collect();
        let health_check = spec.healthcheck.as_ref().map(|h| {
            Object(HealthCheckDoc {
                port: Some(h.port.unwrap_or(0)),
                path: Some(h.path.clone().unwrap_or_else(|| "/".into())),
                interval: Some(h.interval.unwrap_or(0.0)),
                timeout: Some(h.timeout.unwrap_or(0.0)),
                failures: Some(h.fails.unwrap_or(0)),
            })
        });
        JobTaskDoc {
            cluster: Some(label(LABEL_CLUSTER)),
            role: Some(spec.role().unwrap_or("").to_owned()),
            environment: Some(label(LABEL_ENVIRONMENT)),
            priority: Some(label(LABEL_PRIORITY).parse::<u32>().unwrap_or(0)),
            container: Some(Object(ContainerDoc {
                command: Some(command),
                image: Some(c.image.unwrap_or_default()),
                volumes: Some(volumes),
            })),
            resources: Some(Object(ResourcesDoc {
                cpu: Some(spec.resources.cpu),
                memory: Some(spec.resources.mem),
            })),
            health_check,
            replicas: Some(spec.instances),
        }
    }
}

/// Where an app field came from in the job document, for error messages.
fn taurus_field(index: usize, app_field: &str) -> String {
    let t = format!("tasks[{index}]");
    let sub = match app_field {
        "name" => return "id".into(),
        "role" | "resources.role" => "role",
        "instances" => "replicas",
        "resources.cpu" => "resources.cpu",
        "resources.mem" => "resources.memory",
        "container.image" => "container.image",
        f if f.starts_with("container.volume") => "container.volumes",
        f if f.starts_with("command") => "container.command",
        f if f.starts_with("healthcheck") || f.starts_with("container.docker") => "health_check",
        f if f.starts_with("labels") => return t,
        _ => return t,
    };
    format!("{t}.{sub}")
}

// ------------------------------------------------------------ the command

/// Bytes a word may hold and still need no quotes in `/bin/sh`.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b)
}

/// An argv as one `/bin/sh` command line that runs exactly that argv:
/// plain words stay as they are, others are single-quoted (a `'` inside
/// becomes `'\''`), so nothing in an argument is expanded.
pub fn shell_quote(argv: &[String]) -> String {
    let mut out = String::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if !a.is_empty() && a.bytes().all(plain) {
            out.push_str(a);
        } else {
            out.push('\'');
            out.push_str(&a.replace('\'', r"'\''"));
            out.push('\'');
        }
    }
    out
}

/// The argv of a command line [`shell_quote`] made (its inverse; other
/// command lines split on spaces, honouring single quotes and `\`).
pub fn shell_split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let (mut in_word, mut quoted) = (false, false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            _ if quoted => word.push(c),
            ' ' => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                word.extend(chars.next());
                in_word = true;
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

// ------------------------------------------------------------ routes

/// Asks the engine one command; the REST API's `ask`.
pub type Ask<'a> = dyn FnMut(CommandKind) -> Result<Answer, CommandError> + 'a;
/// Reads the request body (bounded by the REST API).
pub type ReadBody<'a> = dyn FnMut() -> Result<Vec<u8>, (u16, Value)> + 'a;

fn err(field: &str, msg: impl Into<String>) -> Value {
    json!({ "error": msg.into(), "field": field })
}

/// An engine answer this route did not expect, or a refusal, passed on as
/// the app API would answer it.
fn passed_on(r: Result<Answer, CommandError>) -> (u16, Value) {
    crate::rest::http(r)
}

/// A job route's answer: status, JSON body and headers of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl From<(u16, Value)> for Routed {
    fn from((status, body): (u16, Value)) -> Routed {
        Routed {
            status,
            body,
            headers: Vec::new(),
        }
    }
}

/// Bounds of the job routes' answers (the API's).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most jobs per list page, and apps per engine list page.
    pub max_page: usize,
    /// Largest job list answer, in bytes (`crate::bounded`).
    pub max_answer_bytes: usize,
}

/// Answer a job request (`url` the whole target, with its query), or
/// `None` if `path` is not a job route. A 304 answer is sent without a body.
pub fn route(
    method: &Method,
    path: &str,
    url: &str,
    body: &mut ReadBody<'_>,
    ask: &mut Ask<'_>,
    bounds: Bounds,
) -> Option<Routed> {
    // taurus served every route with and without its version prefix.
    let full_path = path;
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let not_allowed = || Some((405, err("", format!("{method} is not allowed on {path}"))).into());
    if path == "/jobs" {
        return match method {
            Method::Get => Some(list_jobs(ask, full_path, url, bounds)),
            _ => not_allowed(),
        };
    }
    let rest = path.strip_prefix("/job/")?;
    Some(match (method, rest) {
        (Method::Post, "new") => match body() {
            Ok(b) => create_job(ask, &b).into(),
            Err(e) => e.into(),
        },
        (_, "new") => return not_allowed(),
        (Method::Get, "all") => list_jobs(ask, full_path, url, bounds),
        (Method::Delete, "all") => delete_all(ask, bounds.max_page).into(),
        (_, "all") => return not_allowed(),
        (Method::Get, id) => get_job(ask, id).into(),
        (Method::Delete, id) => delete_job(ask, id).into(),
        _ => return not_allowed(),
    })
}

fn label<'v>(app: &'v AppView, key: &str) -> Option<&'v str> {
    app.spec.labels.get(key).map(String::as_str)
}

fn is_not_found(e: &CommandError) -> bool {
    e.kind == ErrorKind::NotFound
}

/// The apps of job `id` in task order (404 if there is no such job).
fn job_apps(ask: &mut Ask<'_>, id: &str) -> Result<(Vec<AppView>, usize), (u16, Value)> {
    let no_job = || (404, err("id", format!("no job {id}")));
    if check_id(id).is_err() {
        return Err(no_job());
    }
    // Only the first app's labels are needed to know the count; the
    // task documents are asked for below, within the job's budget.
    let first = match ask(get_app(app_name(id, 0), TaskPage::first(TaskDetail::None))) {
        Ok(Answer::App(a)) if label(&a, LABEL_JOB) == Some(id) => *a,
        Ok(Answer::App(_)) => return Err(no_job()),
        Err(e) if is_not_found(&e) => return Err(no_job()),
        other => return Err(passed_on(other)),
    };
    let count = label(&first, LABEL_TASKS)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_JOB_TASKS);
    // At most MAX_TASK_LIMIT task documents for the whole job.
    let per_app = TaskPage {
        detail: TaskDetail::All,
        after: None,
        limit: (MAX_TASK_LIMIT / count).max(1),
    };
    let mut apps = Vec::with_capacity(count);
    for i in 0..count {
        match ask(get_app(app_name(id, i), per_app.clone())) {
            Ok(Answer::App(a)) if label(&a, LABEL_JOB) == Some(id) => apps.push(*a),
            // Already forgotten (a delete finishing task by task).
            Ok(Answer::App(_)) => {}
            Err(e) if is_not_found(&e) => {}
            other => return Err(passed_on(other)),
        }
    }
    Ok((apps, count))
}

/// PENDING, RUNNING or STOPPED, from the apps' status: STOPPED once the
/// job is being deleted (or partly gone), RUNNING when every app runs
/// all its instances (healthy, where checked), PENDING otherwise.
fn job_state(apps: &[AppView], count: usize) -> &'static str {
    if apps.len() < count || apps.iter().any(|a| a.status == AppStatus::Deleting) {
        "STOPPED"
    } else if apps.iter().all(|a| a.status == AppStatus::Running) {
        "RUNNING"
    } else {
        "PENDING"
    }
}

/// One app of a job as the job view shows it: the app API's document,
/// with the app's queue entry when it was asked for.
struct JobApp {
    view: AppView,
    /// `None`: not asked; `Some(None)`: nothing queued.
    queue: Option<Option<QueueEntry>>,
}

impl From<AppView> for JobApp {
    fn from(view: AppView) -> JobApp {
        JobApp { view, queue: None }
    }
}

fn job_view(id: &str, apps: Vec<JobApp>, count: usize) -> Value {
    let views: Vec<AppView> = apps.iter().map(|a| a.view.clone()).collect();
    let tasks: Vec<JobTaskDoc> = views.iter().map(|a| JobTask::from_app(&a.spec)).collect();
    let docs: Vec<Value> = apps
        .into_iter()
        .map(|a| {
            let mut doc = serde_json::to_value(&a.view).unwrap_or(Value::Null);
            if let (Some(q), Value::Object(m)) = (a.queue, &mut doc) {
                m.insert(
                    "queue".into(),
                    serde_json::to_value(q).unwrap_or(Value::Null),
                );
            }
            doc
        })
        .collect();
    json!({
        "id": id,
        "job_state": job_state(&views, count),
        "tasks": tasks,
        "apps": docs,
    })
}

fn get_job(ask: &mut Ask<'_>, id: &str) -> (u16, Value) {
    let (apps, count) = match job_apps(ask, id) {
        Ok(x) => x,
        Err(e) => return e,
    };
    // Why instances are not running yet: the app queue's answer.
    let mut with_queue = Vec::with_capacity(apps.len());
    for view in apps {
        let mut a = JobApp::from(view);
        if a.view.status != AppStatus::Running
            && let Ok(Answer::Queue(q)) = ask(CommandKind::Queue(Some(a.view.name.clone())))
        {
            a.queue = Some(q.queue.into_iter().next());
        }
        with_queue.push(a);
    }
    (200, job_view(id, with_queue, count))
}

fn create_job(ask: &mut Ask<'_>, body: &[u8]) -> (u16, Value) {
    let refused = |e: SpecError| (422, json!({ "error": e.error, "field": e.field }));
    let job = match Job::parse(body) {
        Ok(j) => j,
        Err(e) => return refused(e),
    };
    let specs = match job.apps() {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    let exists = |ask: &mut Ask<'_>| -> Option<(u16, Value)> {
        match ask(get_app(
            app_name(&job.id, 0),
            TaskPage::first(TaskDetail::None),
        )) {
            Err(e) if is_not_found(&e) => None,
            Ok(Answer::App(a)) if label(&a, LABEL_JOB) == Some(job.id.as_str()) => {
                Some((304, Value::Null))
            }
            Ok(Answer::App(_)) => Some((
                409,
                err(
                    "id",
                    format!(
                        "app {} exists and is not part of a taurus job",
                        app_name(&job.id, 0)
                    ),
                ),
            )),
            other => Some(passed_on(other)),
        }
    };
    if let Some(answer) = exists(ask) {
        return answer;
    }
    // One command for the whole job: the engine checks every app before
    // it creates any, so a refused job leaves nothing behind.
    let created = match ask(CommandKind::CreateApps(specs)) {
        Ok(Answer::CreatedApps(apps)) => apps,
        Ok(other) => return passed_on(Ok(other)),
        Err(e) => {
            let s = crate::rest::error_status(&e);
            // Another request created the same job a moment ago.
            if s == 409
                && let Some((304, _)) = exists(ask)
            {
                return (304, Value::Null);
            }
            let (i, field) = list_item(&e.field);
            let Some(i) = i else {
                return (s, err("", e.error));
            };
            let mut body = err(
                &taurus_field(i, field),
                format!("task {i} (app {}): {}", app_name(&job.id, i), e.error),
            );
            body["app_field"] = json!(field);
            return (s, body);
        }
    };
    let count = created.len();
    let apps = created.into_iter().map(JobApp::from).collect();
    (200, job_view(&job.id, apps, count))
}

/// The item index and the field within it of a list refusal's field
/// (`[1].name` → `(Some(1), "name")`; no index: `(None, field)`).
fn list_item(field: &str) -> (Option<usize>, &str) {
    let Some((index, rest)) = field.strip_prefix('[').and_then(|f| f.split_once(']')) else {
        return (None, field);
    };
    match index.parse() {
        Ok(i) => (Some(i), rest.strip_prefix('.').unwrap_or(rest)),
        Err(_) => (None, field),
    }
}

fn delete_job(ask: &mut Ask<'_>, id: &str) -> (u16, Value) {
    let (apps, count) = match job_apps(ask, id) {
        Ok(x) => x,
        Err(e) => return e,
    };
    match remove_apps(ask, &apps) {
        Ok(names) => (
            200,
            json!({ "id": id, "job_state": "STOPPED", "apps": names, "tasks": count }),
        ),
        Err(e) => e,
    }
}

/// Delete each app (the engine kills their tasks, then forgets them).
fn remove_apps(ask: &mut Ask<'_>, apps: &[AppView]) -> Result<Vec<String>, (u16, Value)> {
    let mut names = Vec::new();
    for a in apps {
        let n = a.name.clone();
        match ask(CommandKind::RemoveApp(n.clone())) {
            // Not found: gone in the meantime, which is what was asked.
            Ok(Answer::Deleting { .. }) => names.push(n),
            Err(e) if is_not_found(&e) => names.push(n),
            other => return Err(passed_on(other)),
        }
    }
    Ok(names)
}

/// `GetApp` of `name` with `tasks`.
fn get_app(name: String, tasks: TaskPage) -> CommandKind {
    CommandKind::GetApp { name, tasks }
}

/// Every job's apps, by job id, each in task order, with `detail` of
/// their tasks (never task documents: `None` or `Summary`).
fn all_jobs(
    ask: &mut Ask<'_>,
    max_page: usize,
    detail: TaskDetail,
) -> Result<BTreeMap<String, Vec<AppView>>, (u16, Value)> {
    debug_assert!(
        detail != TaskDetail::All,
        "a job list carries no task documents"
    );
    let limit = max_page.max(1);
    let mut jobs: BTreeMap<String, Vec<(usize, AppView)>> = BTreeMap::new();
    let mut offset = 0;
    loop {
        let kind = CommandKind::ListApps {
            offset,
            limit,
            tasks: detail,
            task_budget: 1,
        };
        let page = match ask(kind) {
            Ok(Answer::Apps(page)) => page,
            other => return Err(passed_on(other)),
        };
        let next = page.next_offset;
        for a in page.apps {
            let Some(job) = label(&a, LABEL_JOB).map(str::to_owned) else {
                continue;
            };
            let index = label(&a, LABEL_TASK)
                .and_then(|i| i.parse().ok())
                .unwrap_or(usize::MAX);
            let tasks = jobs.entry(job).or_default();
            // Pages are by offset: an app created meanwhile can shift one
            // into the next page twice.
            if !tasks.iter().any(|(_, t)| t.name == a.name) {
                tasks.push((index, a));
            }
        }
        match next {
            // The engine's pages only move forward.
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    Ok(jobs
        .into_iter()
        .map(|(id, mut tasks)| {
            tasks.sort_by_key(|(i, _)| *i);
            (id, tasks.into_iter().map(|(_, a)| a).collect())
        })
        .collect())
}

/// A page of jobs (taurus's array), with `X-Total-Count` and a `Link` to
/// the next page while jobs remain.
fn list_jobs(ask: &mut Ask<'_>, path: &str, url: &str, bounds: Bounds) -> Routed {
    let page = match crate::query::jobs_page(url, bounds.max_page) {
        Ok(p) => p,
        Err(e) => return (400, err(&e.field, e.error)).into(),
    };
    let jobs = match all_jobs(ask, bounds.max_page, page.tasks) {
        Ok(j) => j,
        Err(e) => return e.into(),
    };
    let total = jobs.len();
    let mut list = Vec::new();
    let mut used = 0;
    for (id, apps) in jobs.into_iter().skip(page.offset).take(page.limit) {
        let count = apps
            .first()
            .and_then(|a| label(a, LABEL_TASKS))
            .and_then(|n| n.parse().ok())
            .unwrap_or(apps.len());
        let apps = apps.into_iter().map(JobApp::from).collect();
        let doc = job_view(&id, apps, count);
        used += crate::bounded::json_size(&doc, 1);
        if used > bounds.max_answer_bytes && !list.is_empty() {
            break;
        }
        list.push(doc);
    }
    let next = page.offset.saturating_add(list.len());
    let mut headers = vec![("X-Total-Count", total.to_string())];
    if next < total {
        let link = format!(
            "<{path}?offset={next}&limit={}&tasks={}>; rel=\"next\"",
            page.limit,
            page.tasks.as_str()
        );
        headers.push(("Link", link));
    }
    Routed {
        status: 200,
        body: Value::Array(list),
        headers,
    }
}

fn delete_all(ask: &mut Ask<'_>, max_page: usize) -> (u16, Value) {
    let jobs = match all_jobs(ask, max_page, TaskDetail::None) {
        Ok(j) => j,
        Err(e) => return e,
    };
    let mut stopped = Vec::new();
    for (id, apps) in jobs {
        if let Err(e) = remove_apps(ask, &apps) {
            return e;
        }
        stopped.push(id);
    }
    (200, json!({ "stopped": stopped }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tritium_engine::contract::{AppList, QueueView};
    use tritium_engine::rng::Rng;

    fn job(doc: Value) -> Result<Job, SpecError> {
        Job::parse(doc.to_string().as_bytes())
    }

    fn example() -> Value {
        // taurus's examplejobs/job.json, with every optional part added.
        json!({
            "id": "taurusjob",
            "tasks": [{
                "cluster": "MyCluster", "environment": "prod", "role": "web", "priority": 3,
                "container": {
                    "image": "nginx",
                    "command": ["nginx", "-g", "daemon off;"],
                    "volumes": [{"container_path": "/logs", "host_path": "/var/log", "mode": "ro"}]
                },
                "resources": {"cpu": 0.5, "memory": 64},
                "health_check": {"port": 80, "path": "/health", "interval": 5, "timeout": 2, "failures": 3},
                "replicas": 4
            }]
        })
    }

    #[test]
    fn every_taurus_field_lands_in_the_app() {
        let j = job(example()).unwrap();
        let apps = j.apps().unwrap();
        assert_eq!(apps.len(), 1);
        let a = &apps[0];
        assert_eq!(a.name, "taurusjob-0");
        assert_eq!(a.kind, Kind::Service);
        assert_eq!(a.instances, 4);
        assert_eq!((a.resources.cpu, a.resources.mem), (0.5, 64.0));
        assert_eq!(a.role.as_deref(), Some("web"));
        assert_eq!(
            a.command.as_ref().unwrap().cmd.as_deref(),
            Some("nginx -g 'daemon off;'")
        );
        let c = a.container.as_ref().unwrap();
        assert_eq!(c.kind, ContainerType::Docker);
        assert_eq!(c.image.as_deref(), Some("nginx"));
        assert_eq!(c.volume[0].host_path.as_deref(), Some("/var/log"));
        assert_eq!(c.volume[0].mode.as_deref(), Some("ro"));
        let d = c.docker.as_ref().unwrap();
        assert_eq!(d.network.as_deref(), Some("BRIDGE"));
        assert_eq!(d.port_mappings[0].container_port, 80);
        assert_eq!(d.port_mappings[0].host_port, 0, "host port from the offer");
        let h = a.healthcheck.as_ref().unwrap();
        assert_eq!(
            (h.port, h.path.as_deref(), h.interval, h.timeout, h.fails),
            (Some(80), Some("/health"), Some(5.0), Some(2.0), Some(3))
        );
        for (k, v) in [
            (LABEL_JOB, "taurusjob"),
            (LABEL_TASK, "0"),
            (LABEL_TASKS, "1"),
            (LABEL_CLUSTER, "MyCluster"),
            (LABEL_ENVIRONMENT, "prod"),
            (LABEL_PRIORITY, "3"),
        ] {
            assert_eq!(a.labels.get(k).map(String::as_str), Some(v), "label {k}");
        }
        // And back: the template as submitted.
        let back = serde_json::to_value(JobTask::from_app(a)).unwrap();
        let mut want = example()["tasks"][0].clone();
        want["resources"]["cpu"] = json!(0.5);
        want["resources"]["memory"] = json!(64.0);
        want["health_check"]["interval"] = json!(5.0);
        want["health_check"]["timeout"] = json!(2.0);
        assert_eq!(back, want);
    }

    #[test]
    fn taurus_defaults() {
        let j = job(json!({"id": "j", "tasks": [{"container": {"image": "nginx"}}]})).unwrap();
        let a = &j.apps().unwrap()[0];
        assert_eq!((a.resources.cpu, a.resources.mem), (1.0, 128.0));
        assert_eq!(a.instances, 1);
        assert!(a.command.is_none(), "no command: the image's entrypoint");
        assert!(a.role.is_none());
        assert_eq!(
            a.container
                .as_ref()
                .unwrap()
                .docker
                .as_ref()
                .unwrap()
                .network
                .as_deref(),
            Some("HOST")
        );
        // Go's zero values mean "default" too.
        let j = job(
            json!({"id": "j", "tasks": [{"container": {"image": "x", "command": null},
            "resources": {"cpu": 0, "memory": 0}, "health_check": null}]}),
        )
        .unwrap();
        assert_eq!((j.tasks[0].cpu, j.tasks[0].memory), (1.0, 128.0));
    }

    #[test]
    fn bad_documents_name_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"id": "j", "tasks": [], "x": 1}), "x"),
            (json!({"tasks": [{"container": {"image": "x"}}]}), "id"),
            (
                json!({"id": "a_b", "tasks": [{"container": {"image": "x"}}]}),
                "id",
            ),
            (
                json!({"id": "all", "tasks": [{"container": {"image": "x"}}]}),
                "id",
            ),
            (
                json!({"id": "x".repeat(61), "tasks": [{"container": {"image": "x"}}]}),
                "id",
            ),
            (json!({"id": "j", "tasks": []}), "tasks"),
            (json!({"id": "j", "tasks": {}}), "tasks"),
            // A list is not an object, even where serde could read one.
            (json!([]), ""),
            (
                json!({"id": "j", "tasks": [{"container": ["x"]}]}),
                "tasks[0].container",
            ),
            (json!({"id": "j", "tasks": [{}]}), "tasks[0].container"),
            (
                json!({"id": "j", "tasks": [{"container": {}}]}),
                "tasks[0].container.image",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x", "cmd": "a"}}]}),
                "tasks[0].container.cmd",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x", "command": "ls"}}]}),
                "tasks[0].container.command",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x", "command": ["ls", 1]}}]}),
                "tasks[0].container.command[1]",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x", "volumes": [{"host_path": "/a"}]}}]}),
                "tasks[0].container.volumes[0].container_path",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x", "volumes": [{"container_path": "/a", "mode": "rx"}]}}]}),
                "tasks[0].container.volumes[0].mode",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x"}, "resources": {"cpu": -1}}]}),
                "tasks[0].resources.cpu",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x"}, "resources": {"mem": 1}}]}),
                "tasks[0].resources.mem",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x"}, "health_check": {"path": "/"}}]}),
                "tasks[0].health_check.port",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x"}, "health_check": {"port": 70000}}]}),
                "tasks[0].health_check.port",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x"}, "replicas": 0}]}),
                "tasks[0].replicas",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x"}, "replicas": 1.5}]}),
                "tasks[0].replicas",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x"}, "priority": -1}]}),
                "tasks[0].priority",
            ),
            (
                json!({"id": "j", "tasks": [{"container": {"image": "x"}, "role": "*"}]}),
                "tasks[0].role",
            ),
        ];
        for (doc, field) in cases {
            let e = job(doc.clone()).and_then(|j| j.apps().map(|_| j));
            let e = e.expect_err(&format!("{doc} was accepted"));
            assert_eq!(e.field, field, "{doc}: {e:?}");
            assert!(!e.error.is_empty());
        }
        let e = Job::parse(b"{not json").unwrap_err();
        assert!(e.error.contains("not JSON"), "{e:?}");
        // A document read back from GET (with job_state) is accepted.
        let mut again = example();
        again["job_state"] = json!("RUNNING");
        job(again).unwrap();
    }

    #[test]
    fn quoting_keeps_the_argv() {
        let cases: &[&[&str]] = &[
            &["nginx", "-g", "daemon off;"],
            &["sh", "-c", "echo 'hi' $HOME `id` \"q\" \\"],
            &["", "a b", "'", "''", "x'y", " ", "~", "*", "a\nb"],
        ];
        for argv in cases {
            let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
            let line = shell_quote(&argv);
            assert_eq!(shell_split(&line), argv, "{line}");
        }
        assert_eq!(
            shell_quote(&["echo".into(), "it's".into()]),
            r"echo 'it'\''s'"
        );
        // Random argvs over the characters that matter to a shell.
        let alphabet: Vec<char> = "ab '\"\\$`;|&*?~#\n\t=%-".chars().collect();
        let mut rng = Rng::new(12);
        for _ in 0..2000 {
            let argv: Vec<String> = (0..rng.below(5))
                .map(|_| {
                    (0..rng.below(6))
                        .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                        .collect()
                })
                .collect();
            let line = shell_quote(&argv);
            assert_eq!(shell_split(&line), argv, "{line:?}");
        }
    }

    /// A stand-in for the engine: apps by name, answering as `apps.rs`
    /// does for the commands the job API sends.
    #[derive(Default)]
    struct FakeEngine {
        apps: BTreeMap<String, (AppSpec, AppStatus)>,
        /// Roles the "framework" runs under.
        roles: Vec<String>,
        log: Vec<String>,
    }

    impl FakeEngine {
        fn view(&self, name: &str) -> Box<AppView> {
            let (spec, status) = &self.apps[name];
            Box::new(AppView {
                name: name.to_owned(),
                version: 1,
                status: *status,
                instances: spec.instances,
                running: 0,
                healthy: 0,
                ready: 0,
                spec: spec.clone(),
                previous_version: None,
                previous_spec: None,
                rolled_back: false,
                failures: 0,
                backoff_seconds: None,
                completed: None,
                tasks: Vec::new(),
                tasks_total: 0,
                task_states: BTreeMap::new(),
                next_task: None,
                draining: BTreeMap::new(),
                waiting: None,
            })
        }

        fn check(&self, spec: &AppSpec) -> Result<(), CommandError> {
            if self.apps.contains_key(&spec.name) {
                return Err(CommandError::conflict("name", "exists"));
            }
            if let Some(r) = spec.role()
                && !self.roles.iter().any(|x| x == r)
            {
                return Err(CommandError::invalid(
                    "role",
                    format!("role {r:?} is not one of tritium's roles"),
                ));
            }
            Ok(())
        }

        fn ask(&mut self, k: CommandKind) -> Result<Answer, CommandError> {
            self.log.push(format!("{k:?}").chars().take(20).collect());
            match k {
                CommandKind::CreateApp(spec) => {
                    self.check(&spec)?;
                    let n = spec.name.clone();
                    self.apps.insert(n.clone(), (*spec, AppStatus::Deploying));
                    Ok(Answer::Created(self.view(&n)))
                }
                // All or nothing, as the engine's.
                CommandKind::CreateApps(specs) => {
                    for (i, spec) in specs.iter().enumerate() {
                        self.check(spec).map_err(|e| e.in_list(i))?;
                    }
                    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
                    for spec in specs {
                        self.apps
                            .insert(spec.name.clone(), (spec, AppStatus::Deploying));
                    }
                    Ok(Answer::CreatedApps(
                        names.iter().map(|n| *self.view(n)).collect(),
                    ))
                }
                CommandKind::GetApp { name, .. } if self.apps.contains_key(&name) => {
                    Ok(Answer::App(self.view(&name)))
                }
                CommandKind::RemoveApp(n) if self.apps.remove(&n).is_some() => {
                    Ok(Answer::Deleting { name: n })
                }
                CommandKind::GetApp { .. } | CommandKind::RemoveApp(_) => {
                    Err(CommandError::not_found("name", "no app"))
                }
                CommandKind::ListApps { offset, limit, .. } => {
                    let apps = self
                        .apps
                        .keys()
                        .skip(offset)
                        .take(limit)
                        .map(|n| *self.view(n))
                        .collect();
                    Ok(Answer::Apps(AppList {
                        apps,
                        total: self.apps.len(),
                        offset,
                        limit,
                        next_offset: Some(offset + limit).filter(|n| *n < self.apps.len()),
                    }))
                }
                CommandKind::Queue(Some(n)) => Ok(Answer::Queue(QueueView {
                    queue: vec![QueueEntry {
                        app: n,
                        pending: 1,
                        status: AppStatus::Deploying,
                        backoff_seconds: None,
                        failures: 0,
                        why: None,
                        draining: BTreeMap::new(),
                        resources: None,
                    }],
                })),
                other => panic!("unexpected command {other:?}"),
            }
        }

        fn call(&mut self, method: Method, path: &str, body: &str) -> (u16, Value) {
            let r = self.call_full(method, path, body);
            (r.status, r.body)
        }

        fn call_full(&mut self, method: Method, path: &str, body: &str) -> Routed {
            let body = body.as_bytes().to_vec();
            let mut read = move || Ok(body.clone());
            let (path, url) = (path.split('?').next().unwrap_or(path), path);
            let bounds = Bounds {
                max_page: 2,
                max_answer_bytes: 1 << 20,
            };
            let r = route(&method, path, url, &mut read, &mut |k| self.ask(k), bounds);
            r.expect("a job route")
        }
    }

    #[test]
    fn routes_over_a_stand_in_engine() {
        let mut e = FakeEngine {
            roles: vec!["web".into()],
            ..FakeEngine::default()
        };
        let mut doc = example();
        doc["tasks"] =
            json!([doc["tasks"][0].clone(), {"container": {"image": "redis"}, "replicas": 2}]);
        let (s, v) = e.call(Method::Post, "/job/new", &doc.to_string());
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["job_state"], "PENDING");
        assert_eq!(v["tasks"][1]["replicas"], 2);
        assert_eq!(e.apps.len(), 2);
        // Same id again: taurus's 304, nothing created.
        let (s, _) = e.call(Method::Post, "/v1/job/new", &doc.to_string());
        assert_eq!(s, 304);
        assert_eq!(e.apps.len(), 2);
        // Read back: state from the apps' status.
        let (s, v) = e.call(Method::Get, "/job/taurusjob", "");
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["id"], "taurusjob");
        assert_eq!(
            v["apps"][0]["queue"]["pending"], 1,
            "why-not of a pending app"
        );
        for (_, st) in e.apps.values_mut() {
            *st = AppStatus::Running;
        }
        assert_eq!(
            e.call(Method::Get, "/job/taurusjob", "").1["job_state"],
            "RUNNING"
        );
        // A second job; lists page through every app (page size 2 here).
        let other = json!({"id": "other", "tasks": [{"container": {"image": "x"}}]});
        assert_eq!(e.call(Method::Post, "/job/new", &other.to_string()).0, 200);
        let (s, v) = e.call(Method::Get, "/job/all", "");
        assert_eq!(s, 200);
        let ids: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["other", "taurusjob"]);
        assert_eq!(e.call(Method::Get, "/jobs", "").1, v);
        // A plain app is not a job.
        e.apps.insert(
            "plain-0".into(),
            (
                AppSpec::command_app("plain-0", 1, 1.0, 1.0, "x"),
                AppStatus::Running,
            ),
        );
        assert_eq!(e.call(Method::Get, "/job/plain", "").0, 404);
        let plain = json!({"id": "plain", "tasks": [{"container": {"image": "x"}}]});
        assert_eq!(e.call(Method::Post, "/job/new", &plain.to_string()).0, 409);
        // Job lists are pages, linked by headers.
        let r = e.call_full(Method::Get, "/v1/jobs?limit=1", "");
        assert_eq!(r.status, 200);
        assert_eq!(r.body.as_array().map(Vec::len), Some(1));
        assert_eq!(r.body[0]["id"], "other");
        assert!(
            r.headers.contains(&("X-Total-Count", "2".into())),
            "{:?}",
            r.headers
        );
        let next = r
            .headers
            .iter()
            .find(|(k, _)| *k == "Link")
            .expect("a next link");
        assert_eq!(
            next.1,
            "</v1/jobs?offset=1&limit=1&tasks=summary>; rel=\"next\""
        );
        let r = e.call_full(Method::Get, "/v1/jobs?offset=1&limit=1&tasks=summary", "");
        assert_eq!(r.body[0]["id"], "taurusjob");
        assert!(
            !r.headers.iter().any(|(k, _)| *k == "Link"),
            "the last page"
        );
        let r = e.call_full(Method::Get, "/jobs?offset=5", "");
        assert_eq!((r.status, r.body.clone()), (200, json!([])));
        for bad in [
            "/jobs?limit=0",
            "/jobs?limit=3",
            "/jobs?tasks=all",
            "/jobs?offset=x",
        ] {
            let (s, v) = e.call(Method::Get, bad, "");
            assert_eq!(s, 400, "{bad}: {v}");
            assert!(v["field"].is_string() && v["error"].is_string(), "{v}");
        }
        // Delete one, then all.
        let (s, v) = e.call(Method::Delete, "/job/taurusjob", "");
        assert_eq!((s, v["job_state"].as_str()), (200, Some("STOPPED")), "{v}");
        assert!(!e.apps.keys().any(|k| k.starts_with("taurusjob-")));
        assert_eq!(e.call(Method::Delete, "/job/taurusjob", "").0, 404);
        assert_eq!(e.call(Method::Get, "/job/taurusjob", "").0, 404);
        let (s, v) = e.call(Method::Delete, "/job/all", "");
        assert_eq!((s, v["stopped"].clone()), (200, json!(["other"])));
        assert_eq!(e.apps.keys().collect::<Vec<_>>(), ["plain-0"]);
        // Methods and paths.
        assert_eq!(e.call(Method::Get, "/job/new", "").0, 405);
        assert_eq!(e.call(Method::Put, "/job/x", "").0, 405);
        assert_eq!(e.call(Method::Post, "/jobs", "").0, 405);
        let mut read = || Ok(Vec::new());
        let bounds = Bounds {
            max_page: 2,
            max_answer_bytes: 1 << 20,
        };
        let url = "/v1/api/app";
        assert!(route(&Method::Get, url, url, &mut read, &mut |k| e.ask(k), bounds).is_none());
    }

    #[test]
    fn a_refused_task_takes_back_the_ones_created() {
        let mut e = FakeEngine {
            roles: vec!["web".into()],
            ..FakeEngine::default()
        };
        let doc = json!({"id": "j", "tasks": [
            {"container": {"image": "a"}, "role": "web"},
            {"container": {"image": "b"}, "role": "nope"}]});
        let (s, v) = e.call(Method::Post, "/job/new", &doc.to_string());
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["field"], "tasks[1].role", "{v}");
        assert!(v["error"].as_str().unwrap().contains("nope"), "{v}");
        assert!(
            e.apps.is_empty(),
            "task 0's app was not taken back: {:?}",
            e.apps.keys()
        );
        // Document errors never reach the engine.
        e.log.clear();
        let (s, v) = e.call(
            Method::Post,
            "/job/new",
            r#"{"id":"j","tasks":[{"bogus":1}]}"#,
        );
        assert_eq!((s, v["field"].as_str()), (422, Some("tasks[0].bogus")));
        assert!(e.log.is_empty(), "{:?}", e.log);
    }
}

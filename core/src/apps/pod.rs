//! Pods: an app whose instance is a task group (one task per container)
//! launched with one `LAUNCH_GROUP` under Mesos's default executor.
//!
//! A pod's task ids are `<app>.<instance>.<suffix>.<container>`; the
//! instance's group is the id without its container (`<app>.<instance>.
//! <suffix>`), so the tasks of one group are one range of the task table,
//! in order. The decide rule counts groups, not tasks: the first live task
//! of a group stands for it (`AppService::instance_tasks`), a group is
//! ready when every container of its version runs and is ready, and a
//! kill of one of its tasks is a kill of all of them (the default executor
//! kills the rest of a group when one task fails or is killed, so a group
//! never runs short of a container for long; tritium kills the rest too
//! when a container ends for any reason, so a replacement is always a
//! whole new group).

use std::collections::BTreeMap;

use tritium_proto::v1 as mesos;

use super::taskinfo::{self, Placed};
use super::{App, AppService};
use tritium_proto::v1::TaskState;

use crate::framework::{Ctx, Task, View};
use crate::spec::{AppSpec, Kind, NetworkMode};

/// The group a task belongs to: its id without the container part for a
/// pod's task (three dots), the whole id for an app's (two).
pub fn group_of(id: &str) -> &str {
    let mut dots = id.match_indices('.').map(|(i, _)| i);
    match (dots.next(), dots.next(), dots.next()) {
        (Some(_), Some(_), Some(third)) => &id[..third],
        _ => id,
    }
}

/// The container a pod's task runs (the part after the group), if any.
pub fn container_of(id: &str) -> Option<&str> {
    let g = group_of(id);
    id.get(g.len() + 1..)
}

impl AppService {
    /// One task per instance of `app`: every task of an app, the first
    /// live task of each group of a pod (tasks of a group are adjacent in
    /// id order).
    pub(crate) fn instance_tasks<'a>(
        view: &View<'a>,
        app: &str,
    ) -> impl Iterator<Item = &'a Task> + use<'a> {
        let mut last: Option<&'a str> = None;
        Self::app_tasks(view, app).filter(move |t| {
            let g = group_of(&t.record().id);
            let first = last != Some(g);
            last = Some(g);
            first
        })
    }

    /// The live tasks of the group task `id` belongs to (itself included
    /// while it is live; just itself for an app's task).
    pub(crate) fn group_tasks<'a>(view: &View<'a>, id: &str) -> Vec<&'a Task> {
        let g = group_of(id);
        if g.len() == id.len() {
            return view.task(id).into_iter().collect();
        }
        view.tasks_with_prefix(&format!("{g}."))
            .filter(|t| group_of(&t.record().id) == g)
            .collect()
    }

    /// Whether the instance task `t` stands for is ready: for an app, the
    /// task; for a pod, every container of its version live and ready.
    pub(super) fn instance_ready(&self, view: &View<'_>, app: &App, t: &Task) -> bool {
        let spec = Self::spec_of(app, t);
        if !spec.is_pod() {
            return self.ready(app, t);
        }
        let tasks = Self::group_tasks(view, &t.record().id);
        tasks.len() == spec.containers.len()
            && tasks.iter().all(|t| !t.kill_sent() && self.ready(app, t))
    }
}

impl AppService {
    /// A task of a pod ended: the instance ends with it (Mesos's default
    /// executor kills the rest of the group when a task fails or is
    /// killed; tritium kills what is left whatever the end, so the
    /// replacement is always a whole new group). A pod job's container
    /// that finished leaves the others to finish theirs.
    pub(super) fn pod_task_ended(
        &mut self,
        ctx: &mut Ctx<'_>,
        t: &Task,
        status: &mesos::TaskStatus,
    ) {
        let id = &t.record().id;
        if container_of(id).is_none() {
            return;
        }
        let Some(app) = self.apps.get(t.record().app.as_str()) else {
            return;
        };
        if app.rec.spec.kind == Kind::Job && status.state == TaskState::TaskFinished as i32 {
            return;
        }
        let rest: Vec<String> = Self::group_tasks(&ctx.view(), id)
            .into_iter()
            .filter(|t| !t.kill_sent())
            .map(|t| t.record().id.to_string())
            .collect();
        if rest.is_empty() {
            return;
        }
        tracing::info!(target: "tritium::apps", task = %id, state = status.state, others = rest.len(), "a pod's container ended; killing the rest of its instance");
        for r in &rest {
            ctx.kill(r);
        }
        self.touch(&t.record().app);
    }
}

/// The checks of a pod's task are its container's: the container's app
/// ([`AppSpec::pod_container_app`]) for task `id` of `spec`.
pub(crate) fn container_spec(spec: &AppSpec, id: &str) -> Option<AppSpec> {
    let name = container_of(id)?;
    let i = spec.containers.iter().position(|c| c.name == name)?;
    spec.pod_container_app(i)
}

/// A pod instance placed on an agent, ready for `LAUNCH_GROUP`.
#[derive(Debug, Clone, PartialEq)]
pub struct PodLaunch {
    /// `ExecutorInfo` of type DEFAULT with the pod's executor resources,
    /// networks and ephemeral volumes.
    pub executor: mesos::ExecutorInfo,
    /// One per container, in the spec's order: its task id and TaskInfo.
    pub tasks: Vec<(String, mesos::TaskInfo)>,
}

/// What one consumer (the executor or a container) takes of a launch's
/// resources, in thousandths.
#[derive(Debug, Default)]
struct Need {
    scalars: BTreeMap<String, i64>,
    ports: Vec<u32>,
}

fn milli(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

/// Splits what the matcher placed for a whole instance among its
/// consumers, in order: each scalar taken from the offered resources in
/// the order the matcher gave them (reserved before unreserved), each
/// port from the resource whose ranges hold it. Every consumer's share
/// keeps its source resource (role, reservation, allocation) but for the
/// amount. `None` if the launch does not hold what the consumers need
/// (the matcher placed the sum, so this is a bug, not an input).
fn split(resources: &[mesos::Resource], needs: &[Need]) -> Option<Vec<Vec<mesos::Resource>>> {
    let mut left: Vec<i64> = resources
        .iter()
        .map(|r| r.scalar.as_ref().map_or(0, |s| milli(s.value)))
        .collect();
    let mut out = Vec::with_capacity(needs.len());
    for need in needs {
        let mut mine: Vec<mesos::Resource> = Vec::new();
        for (name, want) in &need.scalars {
            let mut want = *want;
            for (i, r) in resources.iter().enumerate() {
                if want == 0 {
                    break;
                }
                if r.name != *name || r.scalar.is_none() || left[i] == 0 {
                    continue;
                }
                let take = want.min(left[i]);
                left[i] -= take;
                want -= take;
                let mut part = r.clone();
                part.scalar = Some(mesos::value::Scalar {
                    value: take as f64 / 1000.0,
                });
                mine.push(part);
            }
            if want > 0 {
                return None;
            }
        }
        // Ports: grouped by the resource that holds them.
        let mut by_source: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for p in &need.ports {
            let p = u64::from(*p);
            let src = resources.iter().position(|r| {
                r.name == "ports"
                    && r.ranges
                        .as_ref()
                        .is_some_and(|rs| rs.range.iter().any(|x| x.begin <= p && p <= x.end))
            })?;
            by_source.entry(src).or_default().push(p);
        }
        for (src, mut ports) in by_source {
            ports.sort_unstable();
            let mut ranges: Vec<mesos::value::Range> = Vec::new();
            for p in ports {
                match ranges.last_mut() {
                    Some(last) if last.end + 1 == p => last.end = p,
                    _ => ranges.push(mesos::value::Range { begin: p, end: p }),
                }
            }
            let mut part = resources[src].clone();
            part.ranges = Some(mesos::value::Ranges { range: ranges });
            mine.push(part);
        }
        out.push(mine);
    }
    Some(out)
}

/// A custom executor's own share (`cpus`, `mem`, `disk` in that order of
/// preference: the matcher's order, reserved before unreserved) taken
/// out of a task's placed `resources`, which keep the rest; resources
/// left at zero are dropped. `None` (and `resources` unchanged) if the
/// placement does not hold the share.
pub(super) fn take_executor_share(
    resources: &mut Vec<mesos::Resource>,
    e: &crate::spec::ExecutorResources,
) -> Option<Vec<mesos::Resource>> {
    let need = scalar_needs(e.cpu, e.mem, e.disk, 0.0, &BTreeMap::new());
    let mine = split(resources, std::slice::from_ref(&need))?.pop()?;
    let mut left = need.scalars;
    for r in resources.iter_mut() {
        let (Some(s), Some(want)) = (r.scalar.as_mut(), left.get_mut(&r.name)) else {
            continue;
        };
        let take = (*want).min(milli(s.value));
        *want -= take;
        s.value = (milli(s.value) - take) as f64 / 1000.0;
    }
    resources.retain(|r| r.scalar.as_ref().is_none_or(|s| milli(s.value) > 0));
    Some(mine)
}

/// The resources, by name, that `r` asks for (positive amounts only).
fn scalar_needs(cpu: f64, mem: f64, disk: f64, gpus: f64, named: &BTreeMap<String, f64>) -> Need {
    let mut scalars = BTreeMap::new();
    for (name, v) in [("cpus", cpu), ("mem", mem), ("disk", disk), ("gpus", gpus)]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .chain(named.iter().map(|(n, v)| (n.clone(), *v)))
    {
        if milli(v) > 0 {
            *scalars.entry(name).or_default() += milli(v);
        }
    }
    Need {
        scalars,
        ports: Vec::new(),
    }
}

/// The task group of one pod instance: group id `group`
/// (`<app>.<instance>.<suffix>`), placed on `agent_id` with the
/// matcher's `resources` and `ports` (every endpoint's host port, in
/// container order). `None` if the placement does not split (a bug:
/// logged by the caller, the offers declined).
pub fn build_group(
    spec: &AppSpec,
    group: &str,
    agent_id: &str,
    resources: &[mesos::Resource],
    ports: &[u32],
) -> Option<PodLaunch> {
    let e = spec.pod_executor_resources();
    let mut needs = vec![scalar_needs(e.cpu, e.mem, e.disk, 0.0, &BTreeMap::new())];
    let mut at = 0;
    let mut container_ports = Vec::with_capacity(spec.containers.len());
    for c in &spec.containers {
        let r = &c.resources;
        let mut n = scalar_needs(
            r.cpu,
            r.mem,
            r.disk.as_ref().map_or(0.0, |d| d.size()),
            r.gpus,
            &r.scalars,
        );
        let mine = ports.get(at..at + c.endpoints.len())?;
        at += c.endpoints.len();
        n.ports = mine.to_vec();
        container_ports.push(mine);
        needs.push(n);
    }
    let mut shares = split(resources, &needs)?.into_iter();
    let executor_resources = shares.next()?;
    // Every container sees every endpoint of the pod (one network
    // namespace): ENDPOINT_<NAME> as Marathon sets it, and PORT_<NAME>.
    let mut endpoint_env = Vec::new();
    for (c, p) in spec.containers.iter().zip(&container_ports) {
        for (ep, port) in c.endpoints.iter().zip(p.iter()) {
            let key = ep.name.to_ascii_uppercase().replace('-', "_");
            endpoint_env.push((format!("ENDPOINT_{key}"), port.to_string()));
            endpoint_env.push((format!("PORT_{key}"), port.to_string()));
        }
    }
    let mut tasks = Vec::with_capacity(spec.containers.len());
    for (i, (c, share)) in spec.containers.iter().zip(shares).enumerate() {
        let app = spec.pod_container_app(i)?;
        let task_id = format!("{group}.{}", c.name);
        let mut info = taskinfo::build(
            &app,
            Placed {
                task_id: &task_id,
                agent_id,
                resources: share,
                ports: container_ports[i],
                version: 0,
                new_executor: true,
            },
        );
        info.name = c.name.clone();
        if let Some(cmd) = info.command.as_mut() {
            let env = cmd.environment.get_or_insert_with(Default::default);
            for (k, v) in &endpoint_env {
                let given = c
                    .command
                    .as_ref()
                    .is_some_and(|cmd| cmd.environment.contains_key(k));
                if !given {
                    env.variables.push(mesos::environment::Variable {
                        name: k.clone(),
                        value: Some(v.clone()),
                        ..Default::default()
                    });
                }
            }
        }
        if !c.volume_mounts.is_empty() {
            let container = info.container.get_or_insert_with(|| mesos::ContainerInfo {
                r#type: mesos::container_info::Type::Mesos as i32,
                ..Default::default()
            });
            for m in &c.volume_mounts {
                let Some(v) = spec.volumes.iter().find(|v| v.name == m.name) else {
                    continue;
                };
                let mode = if m.read_only {
                    mesos::volume::Mode::Ro
                } else {
                    mesos::volume::Mode::Rw
                };
                container.volumes.push(match &v.host_path {
                    Some(h) => mesos::Volume {
                        mode: mode as i32,
                        container_path: m.mount_path.clone(),
                        host_path: Some(h.clone()),
                        ..Default::default()
                    },
                    // The executor's sandbox volume, shared by the group.
                    None => mesos::Volume {
                        mode: mode as i32,
                        container_path: m.mount_path.clone(),
                        source: Some(sandbox_volume(
                            mesos::volume::source::sandbox_path::Type::Parent,
                            &v.name,
                        )),
                        ..Default::default()
                    },
                });
            }
        }
        tasks.push((task_id, info));
    }
    let network_infos = spec
        .networks
        .iter()
        .filter(|n| n.mode == NetworkMode::Container)
        .map(|n| mesos::NetworkInfo {
            name: n.name.clone(),
            labels: mesos::Labels::from_pairs(n.labels.iter().map(|(k, v)| (k.clone(), v.clone()))),
            ..Default::default()
        })
        .collect();
    let volumes = spec
        .volumes
        .iter()
        .filter(|v| v.host_path.is_none())
        .map(|v| mesos::Volume {
            mode: mesos::volume::Mode::Rw as i32,
            container_path: format!("volumes/{}", v.name),
            source: Some(sandbox_volume(
                mesos::volume::source::sandbox_path::Type::Self_,
                &v.name,
            )),
            ..Default::default()
        })
        .collect();
    let executor = mesos::ExecutorInfo {
        r#type: Some(mesos::executor_info::Type::Default as i32),
        executor_id: mesos::ExecutorId {
            value: format!("{group}.executor"),
        },
        name: Some(format!("{} pod", spec.name)),
        resources: executor_resources,
        container: Some(mesos::ContainerInfo {
            r#type: mesos::container_info::Type::Mesos as i32,
            network_infos,
            volumes,
            ..Default::default()
        }),
        ..Default::default()
    };
    Some(PodLaunch { executor, tasks })
}

fn sandbox_volume(
    kind: mesos::volume::source::sandbox_path::Type,
    name: &str,
) -> mesos::volume::Source {
    mesos::volume::Source {
        r#type: Some(mesos::volume::source::Type::SandboxPath as i32),
        sandbox_path: Some(mesos::volume::source::SandboxPath {
            r#type: Some(kind as i32),
            path: format!("volumes/{name}"),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(name: &str, v: f64, role: Option<&str>) -> mesos::Resource {
        mesos::Resource {
            name: name.into(),
            r#type: mesos::value::Type::Scalar as i32,
            scalar: Some(mesos::value::Scalar { value: v }),
            allocation_info: role.map(|r| mesos::resource::AllocationInfo {
                role: Some(r.into()),
            }),
            ..Default::default()
        }
    }

    fn ports(ranges: &[(u64, u64)]) -> mesos::Resource {
        mesos::Resource {
            name: "ports".into(),
            r#type: mesos::value::Type::Ranges as i32,
            ranges: Some(mesos::value::Ranges {
                range: ranges
                    .iter()
                    .map(|&(begin, end)| mesos::value::Range { begin, end })
                    .collect(),
            }),
            ..Default::default()
        }
    }

    fn pod() -> AppSpec {
        AppSpec::parse(include_bytes!("../../../examples/pod.json")).unwrap()
    }

    #[test]
    fn groups_and_containers_from_ids() {
        assert_eq!(group_of("shop.3.00ab.web"), "shop.3.00ab");
        assert_eq!(container_of("shop.3.00ab.web"), Some("web"));
        assert_eq!(group_of("web.3.00ab"), "web.3.00ab");
        assert_eq!(container_of("web.3.00ab"), None);
    }

    #[test]
    fn a_group_splits_the_placement_exactly() {
        let spec = pod();
        // What the matcher placed: the sum, cpus from two sources.
        let placed = vec![
            scalar("cpus", 1.0, Some("r")),
            scalar("cpus", 0.7, Some("*")),
            scalar("mem", 448.0, None),
            scalar("disk", 74.0, None),
            ports(&[(31000, 31000), (31005, 31005)]),
        ];
        let g = build_group(&spec, "shop.0.0123", "a1", &placed, &[31000, 31005]).unwrap();
        let e = &g.executor;
        assert_eq!(e.r#type, Some(mesos::executor_info::Type::Default as i32));
        assert_eq!(e.executor_id.value, "shop.0.0123.executor");
        let sum = |rs: &[mesos::Resource], n: &str| -> f64 {
            rs.iter()
                .filter(|r| r.name == n)
                .map(|r| r.scalar.as_ref().unwrap().value)
                .sum()
        };
        assert_eq!(sum(&e.resources, "cpus"), 0.1);
        assert_eq!(sum(&e.resources, "mem"), 32.0);
        assert_eq!(sum(&e.resources, "disk"), 10.0);
        let ids: Vec<&str> = g.tasks.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            ["shop.0.0123.web", "shop.0.0123.api", "shop.0.0123.assets"]
        );
        let (_, web) = &g.tasks[0];
        assert_eq!(web.name, "web");
        assert!(
            web.executor.is_none(),
            "a group's task has no executor of its own"
        );
        assert_eq!(sum(&web.resources, "cpus"), 0.5);
        let web_ports: Vec<_> = web.resources.iter().filter(|r| r.name == "ports").collect();
        assert_eq!(web_ports.len(), 1);
        assert_eq!(
            web_ports[0].ranges.as_ref().unwrap().range,
            vec![mesos::value::Range {
                begin: 31000,
                end: 31000
            }]
        );
        let api = &g.tasks[1].1;
        // The api's 1 cpu: what is left of the reserved 1.0 after the
        // executor and web (0.4), then 0.6 unreserved.
        let cpus: Vec<_> = api.resources.iter().filter(|r| r.name == "cpus").collect();
        assert_eq!(cpus.len(), 2);
        assert_eq!(sum(&api.resources, "cpus"), 1.0);
        let env = api.command.as_ref().unwrap().environment.as_ref().unwrap();
        let get = |k: &str| {
            env.variables
                .iter()
                .find(|v| v.name == k)
                .and_then(|v| v.value.clone())
        };
        assert_eq!(get("PORT_API").as_deref(), Some("31005"));
        assert_eq!(get("ENDPOINT_HTTP").as_deref(), Some("31000"));
        assert_eq!(get("PORT0").as_deref(), Some("31005"));
        // Nothing is left over and nothing is used twice.
        let total: f64 = std::iter::once(&g.executor.resources)
            .chain(g.tasks.iter().map(|(_, t)| &t.resources))
            .map(|rs| sum(rs, "cpus"))
            .sum();
        assert!((total - 1.7).abs() < 1e-9);
        // Ephemeral volumes live in the executor's sandbox.
        let vols = &e.container.as_ref().unwrap().volumes;
        assert_eq!(vols.len(), 1);
        assert_eq!(vols[0].container_path, "volumes/assets");
        let web_vols = &web.container.as_ref().unwrap().volumes;
        assert_eq!(web_vols.len(), 2);
        assert_eq!(web_vols[1].host_path.as_deref(), Some("/etc/shop"));
        // The health check of a container is its own.
        assert!(api.health_check.is_some() && web.health_check.is_none());
        assert!(web.check.is_some());
    }

    #[test]
    fn a_placement_short_of_the_sum_does_not_split() {
        let spec = pod();
        let placed = vec![
            scalar("cpus", 1.0, None),
            scalar("mem", 448.0, None),
            scalar("disk", 74.0, None),
            ports(&[(31000, 31001)]),
        ];
        assert!(build_group(&spec, "shop.0.0123", "a1", &placed, &[31000, 31001]).is_none());
    }
}

//! From an app spec and a placement to the `TaskInfo` the master launches.
//!
//! Every field of the spec lands somewhere in the TaskInfo (PROTOCOL.md §4):
//! command (shell, environment, uris), container (Mesos containerizer with a
//! Docker image, or the Docker containerizer with its network and port
//! mappings), volumes (host paths and docker volumes), CNI networks with
//! static addresses, groups and labels, the health check, task labels and a
//! custom executor, service discovery (always) and the kill policy. The
//! placement supplies the resources (with the role and
//! reservations of the offer they come from) and the host ports.

use std::time::Duration;

use tritium_proto::v1 as mesos;

use crate::spec::{
    AppSpec, CheckKind, ContainerType, PortMapping, Readiness, ReadinessKind, Visibility,
};

use mesos::container_info::{self, docker_info};

/// Where and with what a task launches.
#[derive(Debug, Clone)]
pub struct Placed<'a> {
    /// The new task's id.
    pub task_id: &'a str,
    /// The agent it was placed on.
    pub agent_id: &'a str,
    /// The offered resources it takes (the matcher's, amounts set).
    pub resources: Vec<mesos::Resource>,
    /// `resources.ports` requests in order, then the docker port
    /// mappings' host ports in order.
    pub ports: &'a [u32],
    /// The app version the task runs (names a shared executor).
    pub version: u64,
    /// `resources` include the custom executor's own share (always for a
    /// per-task executor; for a shared one, when it does not run on the
    /// agent yet: see [`crate::matcher::Launch::new_executor`]).
    pub new_executor: bool,
}

/// The id of the shared executor of `app`'s version `version`:
/// `<app>.v<version>.shared`. Deterministic, so a restarted tritium
/// builds the same `ExecutorInfo` for the tasks it adds to a running one.
pub fn shared_executor_id(app: &str, version: u64) -> String {
    format!("{app}.v{version}.shared")
}

/// The id of the executor of task `task_id` alone (an executor that is not
/// shared): `<task id>.executor`.
pub fn per_task_executor_id(task_id: &str) -> String {
    format!("{task_id}.executor")
}

/// The app and version a shared executor id names (see
/// [`shared_executor_id`]); `None` for any other id.
pub fn parse_shared_executor_id(id: &str) -> Option<(&str, u64)> {
    let rest = id.strip_suffix(".shared")?;
    let (app, v) = rest.split_once(".v")?;
    if app.is_empty() || app.contains('.') || v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((app, v.parse().ok()?))
}

/// The executor's own resources in a shared `ExecutorInfo`: unreserved
/// scalars allocated to `role` (`None`: no allocation role), built from
/// the spec alone so that every task sent to the executor carries the
/// same ones (Mesos refuses a task whose `ExecutorInfo` differs from the
/// running executor's, resources included).
pub fn shared_executor_resources(
    e: &crate::spec::ExecutorResources,
    role: Option<&str>,
) -> Vec<mesos::Resource> {
    [("cpus", e.cpu), ("mem", e.mem), ("disk", e.disk)]
        .into_iter()
        .filter(|(_, v)| (v * 1000.0).round() > 0.0)
        .map(|(name, v)| mesos::Resource {
            name: name.to_owned(),
            r#type: mesos::value::Type::Scalar as i32,
            scalar: Some(mesos::value::Scalar {
                value: (v * 1000.0).round() / 1000.0,
            }),
            allocation_info: role.map(|r| mesos::resource::AllocationInfo {
                role: Some(r.to_owned()),
            }),
            ..Default::default()
        })
        .collect()
}

/// Take a shared executor's share out of a placement: from its unreserved
/// resources first (the `ExecutorInfo` claims unreserved ones; see
/// [`shared_executor_resources`]). Returns whether the unreserved ones
/// covered it.
#[allow(deprecated)] // `Resource.role`: pre-1.0 masters still set it.
fn take_shared_share(
    resources: &mut Vec<mesos::Resource>,
    e: &crate::spec::ExecutorResources,
) -> bool {
    let milli = |v: f64| (v * 1000.0).round() as i64;
    let mut covered = true;
    for (name, want) in [("cpus", e.cpu), ("mem", e.mem), ("disk", e.disk)] {
        let mut left = milli(want);
        for unreserved_pass in [true, false] {
            for r in resources.iter_mut() {
                if left <= 0 {
                    break;
                }
                let unreserved = r.reservations.is_empty()
                    && r.reservation.is_none()
                    && r.role.as_deref().is_none_or(|x| x == "*");
                if r.name != name || unreserved != unreserved_pass {
                    continue;
                }
                let Some(s) = r.scalar.as_mut() else { continue };
                let take = left.min(milli(s.value));
                left -= take;
                s.value = (milli(s.value) - take) as f64 / 1000.0;
            }
            if unreserved_pass && left > 0 {
                covered = false;
            }
        }
    }
    resources.retain(|r| r.scalar.as_ref().is_none_or(|s| milli(s.value) > 0));
    covered
}

/// The allocation role of a placement (its first resource's).
fn placed_role(resources: &[mesos::Resource]) -> Option<String> {
    resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref()?.role.clone())
}

/// The TaskInfo of one instance.
pub fn build(spec: &AppSpec, mut p: Placed<'_>) -> mesos::TaskInfo {
    // A custom executor's own resources were placed with the task (see
    // `AppSpec::instance_resources`); they go to `ExecutorInfo.resources`.
    let mut executor_resources = match &spec.executor {
        Some(e) if e.shared => {
            // The same ExecutorInfo for every task of the version on any
            // agent: built from the spec and the placement's role.
            let role = placed_role(&p.resources);
            if p.new_executor && !take_shared_share(&mut p.resources, &e.resources()) {
                tracing::warn!(target: "tritium::apps", app = %spec.name, "a shared executor placed on reserved resources claims unreserved ones");
            }
            shared_executor_resources(&e.resources(), role.as_deref())
        }
        Some(e) => super::pod::take_executor_share(&mut p.resources, &e.resources())
            .unwrap_or_else(|| {
                tracing::error!(target: "tritium::apps", app = %spec.name, "a placement without the executor's resources");
                Vec::new()
            }),
        None => Vec::new(),
    };
    let n_requested = spec.resources.ports.count();
    let mapped_ports = p.ports.get(n_requested..).unwrap_or(&[]);
    let mut command = command_info(spec, p.ports);
    let container = spec.container.as_ref().map(|c| {
        let image = c.image_ref();
        let volumes = c.volume.iter().map(volume).collect();
        let network_infos = c.network.iter().map(network).collect();
        match c.kind {
            ContainerType::Mesos => mesos::ContainerInfo {
                r#type: container_info::Type::Mesos as i32,
                volumes,
                network_infos,
                mesos: image.map(|name| container_info::MesosInfo {
                    image: Some(mesos::Image {
                        r#type: mesos::image::Type::Docker as i32,
                        docker: Some(mesos::image::Docker {
                            name,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            },
            ContainerType::Docker => {
                let d = c.docker.clone().unwrap_or_default();
                let net = match d.network.as_deref().map(str::to_ascii_uppercase).as_deref() {
                    Some("BRIDGE") => docker_info::Network::Bridge,
                    Some("USER") => docker_info::Network::User,
                    _ => docker_info::Network::Host,
                };
                let port_mappings = spec
                    .port_mappings()
                    .iter()
                    .zip(mapped_ports)
                    .map(|(m, host)| docker_info::PortMapping {
                        host_port: *host,
                        container_port: m.container_port,
                        protocol: protocol(m),
                    })
                    .collect();
                mesos::ContainerInfo {
                    r#type: container_info::Type::Docker as i32,
                    volumes,
                    network_infos,
                    docker: Some(container_info::DockerInfo {
                        image: image.unwrap_or_default(),
                        network: Some(net as i32),
                        port_mappings,
                        privileged: Some(d.privileged),
                        parameters: d
                            .parameters
                            .iter()
                            .map(|(k, v)| mesos::Parameter {
                                key: k.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                        force_pull_image: Some(d.force_pull_image),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            }
        }
    });
    let executor = spec.executor.as_ref().map(|e| {
        let file = e.uri.rsplit('/').next().unwrap_or("executor").to_owned();
        mesos::ExecutorInfo {
            r#type: Some(mesos::executor_info::Type::Custom as i32),
            executor_id: mesos::ExecutorId {
                value: if e.shared {
                    shared_executor_id(&spec.name, p.version)
                } else {
                    per_task_executor_id(p.task_id)
                },
            },
            name: e
                .name
                .clone()
                .or_else(|| Some(format!("{} executor", spec.name))),
            resources: std::mem::take(&mut executor_resources),
            command: Some(mesos::CommandInfo {
                uris: vec![mesos::command_info::Uri {
                    value: e.uri.clone(),
                    executable: Some(true),
                    extract: Some(false),
                    ..Default::default()
                }],
                shell: Some(true),
                value: Some(e.cmd.clone().unwrap_or_else(|| format!("./{file}"))),
                ..Default::default()
            }),
            ..Default::default()
        }
    });
    // A task runs either a command or an executor, never both: with a
    // custom executor, the app's command (if any) is the task's data.
    let mut data = None;
    if executor.is_some() {
        data = command
            .take()
            .and_then(|c| c.value)
            .map(|v| bytes::Bytes::from(v.into_bytes()));
    }
    mesos::TaskInfo {
        name: spec.name.clone(),
        task_id: mesos::TaskId {
            value: p.task_id.to_owned(),
        },
        agent_id: mesos::AgentId {
            value: p.agent_id.to_owned(),
        },
        resources: p.resources,
        executor,
        command,
        container,
        health_check: spec.healthcheck.as_ref().and_then(|h| {
            let kind = h.resolve().ok()?;
            let mut hc = mesos::HealthCheck {
                delay_seconds: h.delay,
                interval_seconds: h.interval,
                timeout_seconds: h.timeout,
                consecutive_failures: h.fails,
                grace_period_seconds: h.graceperiod,
                ..Default::default()
            };
            match kind {
                CheckKind::Http {
                    scheme,
                    port,
                    path,
                    statuses,
                } => {
                    hc.r#type = Some(mesos::health_check::Type::Http as i32);
                    hc.http = Some(mesos::health_check::HttpCheckInfo {
                        scheme: Some(scheme),
                        port: check_port(port, spec, p.ports),
                        path: Some(path),
                        statuses,
                        ..Default::default()
                    });
                }
                CheckKind::Tcp { port } => {
                    hc.r#type = Some(mesos::health_check::Type::Tcp as i32);
                    hc.tcp = Some(mesos::health_check::TcpCheckInfo {
                        port: check_port(port, spec, p.ports),
                        ..Default::default()
                    });
                }
                CheckKind::Command(c) => {
                    hc.r#type = Some(mesos::health_check::Type::Command as i32);
                    hc.command = Some(mesos::CommandInfo {
                        value: c.cmd.clone(),
                        shell: Some(true),
                        environment: environment(&c.environment, &[]),
                        ..Default::default()
                    });
                }
            }
            Some(hc)
        }),
        check: spec
            .readiness
            .as_ref()
            .and_then(|r| readiness_check(spec, r, p.ports)),
        labels: mesos::Labels::from_pairs(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone()))),
        data,
        discovery: Some(discovery(spec, p.ports)),
        kill_policy: spec
            .kill_policy
            .as_ref()
            .map(|k| kill_policy(Duration::from_secs_f64(k.grace_period_seconds))),
        ..Default::default()
    }
}

/// Every task is published for service discovery (Mesos-DNS reads
/// `DiscoveryInfo.name` instead of the task's name and makes SRV records of
/// its named ports): the spec's `discovery`, or the app's name with
/// visibility FRAMEWORK; each port with its name and protocol and the
/// number it was given on the agent.
fn discovery(spec: &AppSpec, ports: &[u32]) -> mesos::DiscoveryInfo {
    let d = spec.discovery.clone().unwrap_or_default();
    let visibility = match d.visibility {
        Visibility::Framework => mesos::discovery_info::Visibility::Framework,
        Visibility::Cluster => mesos::discovery_info::Visibility::Cluster,
        Visibility::External => mesos::discovery_info::Visibility::External,
    };
    let ports = spec
        .discovery_ports()
        .into_iter()
        .zip(ports)
        .map(|((name, protocol), number)| mesos::Port {
            number: *number,
            name: Some(name),
            protocol: Some(protocol),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    mesos::DiscoveryInfo {
        visibility: visibility as i32,
        name: Some(d.name.unwrap_or_else(|| spec.name.clone())),
        ports: (!ports.is_empty()).then_some(mesos::Ports { ports }),
        labels: mesos::Labels::from_pairs(d.labels),
        ..Default::default()
    }
}

/// The readiness check as Mesos runs it (TaskInfo.check): HTTP and TCP on
/// the port number the instance was given at the spec's port index. The
/// agent reports each change of its result (TASK_RUNNING with reason
/// TASK_CHECK_STATUS_UPDATED); `None` for a spec that does not resolve
/// (validation refuses those).
fn readiness_check(spec: &AppSpec, r: &Readiness, ports: &[u32]) -> Option<mesos::CheckInfo> {
    use mesos::check_info::{Command as CheckCommand, Http, Tcp, Type};
    let mut c = mesos::CheckInfo {
        delay_seconds: r.delay,
        interval_seconds: r.interval,
        timeout_seconds: r.timeout,
        ..Default::default()
    };
    match r.resolve(spec).ok()? {
        ReadinessKind::Http { port_index, path } => {
            c.r#type = Some(Type::Http as i32);
            c.http = Some(Http {
                port: ports.get(port_index).copied().unwrap_or(0),
                path: Some(path),
            });
        }
        ReadinessKind::Tcp { port_index } => {
            c.r#type = Some(Type::Tcp as i32);
            c.tcp = Some(Tcp {
                port: ports.get(port_index).copied().unwrap_or(0),
            });
        }
        ReadinessKind::Command(cmd) => {
            c.r#type = Some(Type::Command as i32);
            c.command = Some(CheckCommand {
                command: mesos::CommandInfo {
                    value: cmd.cmd.clone(),
                    shell: Some(true),
                    environment: environment(&cmd.environment, &[]),
                    ..Default::default()
                },
            });
        }
    }
    Some(c)
}

/// A KillPolicy with this grace period (the spec's, or a kill's own).
pub fn kill_policy(grace: Duration) -> mesos::KillPolicy {
    mesos::KillPolicy {
        grace_period: Some(mesos::DurationInfo {
            nanoseconds: i64::try_from(grace.as_nanos()).unwrap_or(i64::MAX),
        }),
    }
}

/// A check on a fixed port probes that port; a check on port 0 probes the
/// task's first assigned port (the usual "health on $PORT0").
fn check_port(port: u32, _spec: &AppSpec, ports: &[u32]) -> u32 {
    if port == 0 {
        ports.first().copied().unwrap_or(0)
    } else {
        port
    }
}

fn command_info(spec: &AppSpec, ports: &[u32]) -> Option<mesos::CommandInfo> {
    let c = spec.command.clone().unwrap_or_default();
    // PORT0..n and PORT (the first) tell the task which ports it was given.
    let mut port_env: Vec<(String, String)> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("PORT{i}"), p.to_string()))
        .collect();
    if let Some(p) = ports.first() {
        port_env.push(("PORT".into(), p.to_string()));
    }
    let value = c.cmd.clone().filter(|s| !s.is_empty());
    Some(mesos::CommandInfo {
        uris: c
            .uris
            .iter()
            .map(|u| mesos::command_info::Uri {
                value: u.uri.clone(),
                executable: u.execute,
                extract: u.extract,
                cache: u.cache,
                output_file: None,
            })
            .collect(),
        environment: environment(&c.environment, &port_env),
        // No command with an image: run the image's entrypoint.
        shell: Some(value.is_some()),
        value,
        ..Default::default()
    })
}

fn environment(
    vars: &std::collections::BTreeMap<String, String>,
    extra: &[(String, String)],
) -> Option<mesos::Environment> {
    if vars.is_empty() && extra.is_empty() {
        return None;
    }
    let mut variables: Vec<mesos::environment::Variable> = extra
        .iter()
        .filter(|(k, _)| !vars.contains_key(k))
        .map(|(k, v)| var(k, v))
        .collect();
    variables.extend(vars.iter().map(|(k, v)| var(k, v)));
    Some(mesos::Environment { variables })
}

fn var(k: &str, v: &str) -> mesos::environment::Variable {
    mesos::environment::Variable {
        name: k.to_owned(),
        r#type: Some(mesos::environment::variable::Type::Value as i32),
        value: Some(v.to_owned()),
        ..Default::default()
    }
}

fn protocol(m: &PortMapping) -> Option<String> {
    Some(
        m.protocol
            .clone()
            .unwrap_or_else(|| "tcp".into())
            .to_ascii_lowercase(),
    )
}

fn volume(v: &crate::spec::Volume) -> mesos::Volume {
    let mode = match v.mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("ro") => mesos::volume::Mode::Ro,
        _ => mesos::volume::Mode::Rw,
    };
    mesos::Volume {
        mode: mode as i32,
        container_path: v.container_path.clone().unwrap_or_default(),
        host_path: v.host_path.clone(),
        source: v.source.as_ref().map(|s| mesos::volume::Source {
            r#type: Some(mesos::volume::source::Type::DockerVolume as i32),
            docker_volume: Some(mesos::volume::source::DockerVolume {
                driver: s.docker_volume.driver.clone(),
                name: s.docker_volume.name.clone(),
                driver_options: (!s.docker_volume.driveropts.is_empty()).then(|| {
                    mesos::Parameters {
                        parameter: s
                            .docker_volume
                            .driveropts
                            .iter()
                            .map(|(k, v)| mesos::Parameter {
                                key: k.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                    }
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn network(n: &crate::spec::Network) -> mesos::NetworkInfo {
    // hydrogen wrote groups and labels on each address; Mesos has them on
    // the network, so they are gathered there.
    let mut groups = n.group.clone();
    let mut label_maps = n.labels.clone();
    for ip in &n.ipaddress {
        for g in &ip.group {
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        label_maps.extend(ip.labels.iter().cloned());
    }
    mesos::NetworkInfo {
        ip_addresses: n
            .ipaddress
            .iter()
            .filter(|ip| ip.ip.is_some() || ip.protocol.is_some())
            .map(|ip| mesos::network_info::IpAddress {
                protocol: Some(match ip
                    .protocol
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                {
                    Some("ipv6") => mesos::network_info::Protocol::IPv6,
                    _ => mesos::network_info::Protocol::IPv4,
                } as i32),
                ip_address: ip.ip.clone(),
            })
            .collect(),
        name: n.name.clone(),
        groups,
        labels: mesos::Labels::from_pairs(label_maps.into_iter().flatten()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hydrogen_field_lands_in_the_task_info() {
        let spec = AppSpec::parse(
            br#"{
          "name": "web",
          "resources": {"cpu": 0.5, "mem": 64, "ports": [0, 9000]},
          "command": {"cmd": "serve", "environment": {"A": "1"},
            "uris": [{"uri": "http://x/a.tgz", "extract": true, "execute": false, "cache": true}]},
          "container": {"image": "debian", "tag": "12",
            "volume": [{"container_path": "/logs", "host_path": "/var/log", "mode": "ro"},
                       {"container_path": "/data", "source": {"type": "DOCKER",
                         "docker_volume": {"driver": "rexray", "name": "v1", "driveropts": [{"size": "5"}]}}}],
            "network": [{"name": "cni-a", "ipaddress": [{"ip": "10.0.0.5", "protocol": "ipv4",
                          "group": ["prod"], "labels": [{"k": "v"}]}]}]},
          "healthcheck": {"type": "http", "path": "/health", "port": 0, "interval": 5, "fails": 2},
          "labels": {"team": "core"}
        }"#,
        )
        .unwrap();
        let t = build(
            &spec,
            Placed {
                task_id: "web.0.x",
                agent_id: "a1",
                resources: Vec::new(),
                ports: &[31005, 9000],
                version: 0,
                new_executor: true,
            },
        );
        assert_eq!(t.name, "web");
        assert_eq!(t.task_id.value, "web.0.x");
        let c = t.command.unwrap();
        assert_eq!(c.value.as_deref(), Some("serve"));
        assert_eq!(c.shell, Some(true));
        let env: Vec<_> = c
            .environment
            .unwrap()
            .variables
            .into_iter()
            .map(|v| (v.name, v.value.unwrap()))
            .collect();
        assert!(env.contains(&("A".into(), "1".into())));
        assert!(env.contains(&("PORT0".into(), "31005".into())));
        assert!(env.contains(&("PORT1".into(), "9000".into())));
        assert_eq!(c.uris[0].cache, Some(true));
        let ci = t.container.unwrap();
        assert_eq!(ci.r#type, container_info::Type::Mesos as i32);
        let img = ci.mesos.unwrap().image.unwrap();
        assert_eq!(img.docker.unwrap().name, "debian:12");
        assert_eq!(ci.volumes[0].mode, mesos::volume::Mode::Ro as i32);
        assert_eq!(ci.volumes[0].host_path.as_deref(), Some("/var/log"));
        let dv = ci.volumes[1].source.clone().unwrap().docker_volume.unwrap();
        assert_eq!(
            (dv.driver.as_deref(), dv.name.as_str()),
            (Some("rexray"), "v1")
        );
        assert_eq!(dv.driver_options.unwrap().parameter[0].key, "size");
        let net = &ci.network_infos[0];
        assert_eq!(net.name.as_deref(), Some("cni-a"));
        assert_eq!(net.groups, vec!["prod".to_string()]);
        assert_eq!(net.ip_addresses[0].ip_address.as_deref(), Some("10.0.0.5"));
        assert_eq!(net.labels.clone().unwrap().labels[0].key, "k");
        let hc = t.health_check.unwrap();
        assert_eq!(hc.r#type, Some(mesos::health_check::Type::Http as i32));
        assert_eq!(hc.http.as_ref().unwrap().port, 31005, "port 0 → first port");
        assert_eq!(hc.interval_seconds, Some(5.0));
        assert_eq!(hc.consecutive_failures, Some(2));
        assert_eq!(t.labels.unwrap().labels[0].key, "team");
    }

    #[test]
    fn docker_runtime_and_custom_executor() {
        let spec = AppSpec::parse(
            br#"{"name": "d", "resources": {"cpu": 1, "mem": 32},
                "container": {"type": "docker", "image": "nginx",
                  "docker": {"network": "bridge", "privileged": true,
                    "parameters": {"ulimit": "nofile=1024"}, "force_pull_image": true,
                    "port_mappings": [{"container_port": 80}, {"host_port": 8443, "container_port": 443, "protocol": "TCP"}]}},
                "executor": {"uri": "http://x/bin/exec", "cmd": "./exec --fast"},
                "command": {"cmd": "payload"}}"#,
        )
        .unwrap();
        let t = build(
            &spec,
            Placed {
                task_id: "d.0.y",
                agent_id: "a1",
                resources: Vec::new(),
                ports: &[31000, 8443],
                version: 0,
                new_executor: true,
            },
        );
        let d = t.container.unwrap().docker.unwrap();
        assert_eq!(d.image, "nginx");
        assert_eq!(d.network, Some(docker_info::Network::Bridge as i32));
        assert_eq!(d.port_mappings[0].host_port, 31000);
        assert_eq!(d.port_mappings[0].container_port, 80);
        assert_eq!(d.port_mappings[1].host_port, 8443);
        assert_eq!(d.port_mappings[1].protocol.as_deref(), Some("tcp"));
        assert_eq!(d.privileged, Some(true));
        assert_eq!(d.force_pull_image, Some(true));
        assert_eq!(d.parameters[0].key, "ulimit");
        let e = t.executor.unwrap();
        assert!(t.command.is_none(), "executor xor command");
        assert_eq!(t.data.as_deref(), Some(&b"payload"[..]));
        assert_eq!(e.command.unwrap().value.as_deref(), Some("./exec --fast"));
        assert_eq!(e.executor_id.value, "d.0.y.executor");
    }

    fn scalar(name: &str, v: f64, role: &str) -> mesos::Resource {
        mesos::Resource {
            name: name.into(),
            r#type: mesos::value::Type::Scalar as i32,
            scalar: Some(mesos::value::Scalar { value: v }),
            allocation_info: Some(mesos::resource::AllocationInfo {
                role: Some(role.into()),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_custom_executor_takes_its_own_resources_out_of_the_placement() {
        let spec = AppSpec::parse(
            br#"{"name": "e", "resources": {"cpu": 0.5, "mem": 64, "ports": 1},
                "executor": {"uri": "http://x/exec", "resources": {"cpus": 0.2, "mem": 48}}}"#,
        )
        .unwrap();
        // The matcher placed task + executor: 0.7 cpus (0.3 from one
        // resource, 0.4 from another), 112 MB, 10 MB disk (the default).
        let r = spec.instance_resources();
        assert_eq!((r.cpu, r.mem), (0.7, 112.0));
        assert_eq!(r.disk.as_ref().map(|d| d.size()), Some(10.0));
        let ports = mesos::Resource {
            name: "ports".into(),
            r#type: mesos::value::Type::Ranges as i32,
            ranges: Some(mesos::value::Ranges {
                range: vec![mesos::value::Range {
                    begin: 31000,
                    end: 31000,
                }],
            }),
            ..Default::default()
        };
        let t = build(
            &spec,
            Placed {
                task_id: "e.0.z",
                agent_id: "a1",
                resources: vec![
                    scalar("cpus", 0.1, "r"),
                    scalar("cpus", 0.6, "*"),
                    scalar("mem", 112.0, "*"),
                    scalar("disk", 10.0, "*"),
                    ports.clone(),
                ],
                ports: &[31000],
                version: 0,
                new_executor: true,
            },
        );
        let e = t.executor.unwrap();
        assert_eq!(
            e.resources,
            vec![
                scalar("cpus", 0.1, "r"),
                scalar("cpus", 0.1, "*"),
                scalar("disk", 10.0, "*"),
                scalar("mem", 48.0, "*"),
            ],
            "the executor's share, from the first resources placed"
        );
        assert_eq!(
            t.resources,
            vec![scalar("cpus", 0.5, "*"), scalar("mem", 64.0, "*"), ports],
            "the task keeps the rest and its ports"
        );
    }

    #[test]
    fn a_shared_executor_has_one_executor_info_per_version() {
        let spec = AppSpec::parse(
            br#"{"name": "sx", "resources": {"cpu": 1, "mem": 64},
                "executor": {"uri": "http://x/e", "shared": true,
                             "resources": {"cpu": 0.2, "mem": 48}}}"#,
        )
        .unwrap();
        let alloc = |mut r: mesos::Resource| {
            r.allocation_info = Some(mesos::resource::AllocationInfo {
                role: Some("web".into()),
            });
            r
        };
        let reserved_cpu = {
            let mut r = alloc(scalar("cpus", 0.5, "*"));
            r.reservations.push(mesos::resource::ReservationInfo {
                role: Some("web".into()),
                ..Default::default()
            });
            r
        };
        // The first task on an agent: the executor's share is in the
        // placement (taken from unreserved resources first).
        let first = build(
            &spec,
            Placed {
                task_id: "sx.0.a",
                agent_id: "a1",
                resources: vec![
                    reserved_cpu,
                    alloc(scalar("cpus", 0.7, "*")),
                    alloc(scalar("mem", 112.0, "*")),
                    alloc(scalar("disk", 10.0, "*")),
                ],
                ports: &[],
                version: 3,
                new_executor: true,
            },
        );
        // The next one: only the task's own resources.
        let second = build(
            &spec,
            Placed {
                task_id: "sx.1.b",
                agent_id: "a1",
                resources: vec![
                    alloc(scalar("cpus", 1.0, "*")),
                    alloc(scalar("mem", 64.0, "*")),
                ],
                ports: &[],
                version: 3,
                new_executor: false,
            },
        );
        let (e1, e2) = (first.executor.unwrap(), second.executor.unwrap());
        assert_eq!(e1, e2, "the same ExecutorInfo, resources included");
        assert_eq!(e1.executor_id.value, "sx.v3.shared");
        assert_eq!(parse_shared_executor_id("sx.v3.shared"), Some(("sx", 3)));
        assert_eq!(parse_shared_executor_id("sx.0.a.executor"), None);
        assert_eq!(parse_shared_executor_id("a.b.v3.shared"), None);
        assert_eq!(parse_shared_executor_id("sx.vx.shared"), None);
        let total = |r: &[mesos::Resource], n: &str| -> f64 {
            r.iter()
                .filter(|r| r.name == n)
                .map(|r| r.scalar.unwrap().value)
                .sum()
        };
        assert_eq!(total(&e1.resources, "cpus"), 0.2);
        assert_eq!(total(&e1.resources, "mem"), 48.0);
        assert!(e1.resources.iter().all(|r| r.reservations.is_empty()
            && r.allocation_info.as_ref().unwrap().role.as_deref() == Some("web")));
        // The task keeps the reserved 0.5 and 0.5 unreserved: the
        // executor's 0.2 came out of the unreserved ones.
        assert_eq!(total(&first.resources, "cpus"), 1.0);
        assert_eq!(total(&first.resources, "mem"), 64.0);
        assert_eq!(total(&first.resources, "disk"), 0.0);
        assert!(first.resources.iter().any(|r| !r.reservations.is_empty()));
        assert_eq!(total(&second.resources, "cpus"), 1.0);
        // Another version: another executor.
        let mut p3 = Placed {
            task_id: "sx.2.c",
            agent_id: "a1",
            resources: vec![alloc(scalar("cpus", 1.0, "*"))],
            ports: &[],
            version: 4,
            new_executor: false,
        };
        p3.resources.push(alloc(scalar("mem", 64.0, "*")));
        assert_eq!(
            build(&spec, p3).executor.unwrap().executor_id.value,
            "sx.v4.shared"
        );
    }

    #[test]
    fn executor_resources_are_validated() {
        for (exec, field) in [
            (
                r#"{"uri": "http://x/e", "resources": {"cpu": 0.001}}"#,
                "executor.resources.cpu",
            ),
            (
                r#"{"uri": "http://x/e", "resources": {"mem": 16}}"#,
                "executor.resources.mem",
            ),
            (
                r#"{"uri": "http://x/e", "resources": {"disk": 0}}"#,
                "executor.resources.disk",
            ),
            (
                r#"{"uri": "http://x/e", "resources": {"gpus": 1}}"#,
                "executor",
            ),
        ] {
            let json = format!(
                r#"{{"name": "e", "resources": {{"cpu": 1, "mem": 64}}, "executor": {exec}}}"#
            );
            let err = AppSpec::parse(json.as_bytes()).unwrap_err();
            assert!(err.field.starts_with(field), "{exec}: {err:?}");
        }
    }

    #[test]
    fn the_readiness_check_is_the_task_infos_check() {
        let placed = |ports| Placed {
            task_id: "web.0.x",
            agent_id: "a1",
            resources: Vec::new(),
            ports,
            version: 0,
            new_executor: true,
        };
        let spec = AppSpec::parse(
            br#"{"name": "web", "resources": {"cpu": 1, "mem": 32, "ports": 2},
                 "command": {"cmd": "serve"},
                 "readiness": {"type": "http", "port_index": 1, "path": "/ready",
                               "delay": 0, "interval": 2, "timeout": 1}}"#,
        )
        .unwrap();
        let c = build(&spec, placed(&[31000, 31001])).check.unwrap();
        assert_eq!(c.r#type, Some(mesos::check_info::Type::Http as i32));
        let http = c.http.unwrap();
        assert_eq!((http.port, http.path.as_deref()), (31001, Some("/ready")));
        assert_eq!(
            (c.delay_seconds, c.interval_seconds, c.timeout_seconds),
            (Some(0.0), Some(2.0), Some(1.0))
        );
        let spec = AppSpec::parse(
            br#"{"name": "web", "resources": {"cpu": 1, "mem": 32},
                 "command": {"cmd": "serve"},
                 "readiness": {"type": "command", "command": {"cmd": "test -f /tmp/ready"}}}"#,
        )
        .unwrap();
        let c = build(&spec, placed(&[])).check.unwrap();
        assert_eq!(c.r#type, Some(mesos::check_info::Type::Command as i32));
        assert_eq!(
            c.command.unwrap().command.value.as_deref(),
            Some("test -f /tmp/ready")
        );
        let none = AppSpec::parse(
            br#"{"name": "web", "resources": {"cpu": 1, "mem": 32}, "command": {"cmd": "serve"}}"#,
        )
        .unwrap();
        assert!(build(&none, placed(&[])).check.is_none());
        // Refused: a port the app does not have, a check without a port.
        for (doc, field) in [
            (
                r#""resources": {"cpu": 1, "mem": 32, "ports": 1}, "readiness": {"type": "http", "port_index": 1}"#,
                "readiness.port_index",
            ),
            (
                r#""resources": {"cpu": 1, "mem": 32}, "readiness": {"type": "tcp"}"#,
                "readiness.type",
            ),
            (
                r#""resources": {"cpu": 1, "mem": 32, "ports": 1}, "readiness": {"type": "http", "port_name": "admin"}"#,
                "readiness.port_name",
            ),
            (
                r#""resources": {"cpu": 1, "mem": 32}, "instances": 3, "upgrade": {"canary": {"instances": 3}}"#,
                "upgrade.canary.instances",
            ),
        ] {
            let body = format!(r#"{{"name": "web", "command": {{"cmd": "x"}}, {doc}}}"#);
            let e = AppSpec::parse(body.as_bytes()).expect_err(doc);
            assert_eq!(e.field, field, "{doc}: {e:?}");
        }
    }

    #[test]
    fn discovery_info_and_kill_policy() {
        let placed = |ports| Placed {
            task_id: "web.0.x",
            agent_id: "a1",
            resources: Vec::new(),
            ports,
            version: 0,
            new_executor: true,
        };
        // By default: the app's name, FRAMEWORK, every port named.
        let spec = AppSpec::parse(
            br#"{"name": "web", "resources": {"cpu": 1, "mem": 32, "ports": 2},
                 "command": {"cmd": "serve"}}"#,
        )
        .unwrap();
        let t = build(&spec, placed(&[31000, 31001]));
        let d = t.discovery.unwrap();
        assert_eq!(
            d.visibility,
            mesos::discovery_info::Visibility::Framework as i32
        );
        assert_eq!(d.name.as_deref(), Some("web"));
        let ports: Vec<_> = d
            .ports
            .unwrap()
            .ports
            .into_iter()
            .map(|p| (p.number, p.name.unwrap(), p.protocol.unwrap()))
            .collect();
        assert_eq!(
            ports,
            vec![
                (31000, "port0".into(), "tcp".into()),
                (31001, "port1".into(), "tcp".into())
            ]
        );
        assert!(
            t.kill_policy.is_none(),
            "no kill_policy: the agent's default"
        );
        // From the spec.
        let spec = AppSpec::parse(
            br#"{"name": "web", "resources": {"cpu": 1, "mem": 32, "ports": [0]},
                 "command": {"cmd": "serve"},
                 "discovery": {"name": "shop", "visibility": "EXTERNAL",
                   "ports": [{"name": "http"}], "labels": {"tier": "front"}},
                 "kill_policy": {"grace_period_seconds": 2.5}}"#,
        )
        .unwrap();
        let t = build(&spec, placed(&[31000]));
        let d = t.discovery.unwrap();
        assert_eq!(
            d.visibility,
            mesos::discovery_info::Visibility::External as i32
        );
        assert_eq!(d.name.as_deref(), Some("shop"));
        assert_eq!(d.ports.unwrap().ports[0].name.as_deref(), Some("http"));
        assert_eq!(d.labels.unwrap().labels[0].key, "tier");
        let grace = t.kill_policy.unwrap().grace_period.unwrap();
        assert_eq!(grace.nanoseconds, 2_500_000_000);
    }
}

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
    let e = parse(r#"{"name":"a","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"},"bogus":1}"#)
        .unwrap_err();
    assert!(e.error.contains("bogus"), "{e:?}");
    let e = parse(r#"{"name":"a","resources":{"cpu":1,"mem":1,"gpu":1},"command":{"cmd":"x"}}"#)
        .unwrap_err();
    assert_eq!(e.field, "resources.gpu", "{e:?}");
    let e =
        parse(r#"{"name":"a","resources":{"cpu":"x","mem":1},"command":{"cmd":"x"}}"#).unwrap_err();
    assert_eq!(e.field, "resources.cpu", "{e:?}");
    let e =
        parse(r#"{"name":"a_b","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"}}"#).unwrap_err();
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
    let a = parse(r#"{"name":"a","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"}}"#).unwrap();
    let mut b = a.clone();
    b.instances = 7;
    assert!(!a.differs_beyond_scale(&b));
    b.command.as_mut().unwrap().cmd = Some("y".into());
    assert!(a.differs_beyond_scale(&b));
}

#[test]
fn strategy_default_is_per_kind_and_binpack_is_kept_when_named() {
    let doc = |strategy: &str| {
        format!(
            r#"{{"name": "a", "command": {{"cmd": "x"}}, "resources": {{"cpu": 1, "mem": 1}}{strategy}}}"#
        )
    };
    for s in [
        "",
        r#", "strategy": {"type": ""}"#,
        r#", "strategy": {"type": "Default"}"#,
    ] {
        let spec = parse(&doc(s)).unwrap();
        assert_eq!(spec.strategy.kind, StrategyKind::Default, "{s}");
        assert_eq!(
            spec.strategy.kind.resolve(Kind::Service),
            StrategyKind::Spread
        );
        assert_eq!(spec.strategy.kind.resolve(Kind::Job), StrategyKind::Binpack);
        // The default is not written out: a stored spec keeps following it.
        let json = serde_json::to_string(&spec).unwrap();
        assert!(!json.contains("strategy"), "{json}");
    }
    let spec = parse(&doc(r#", "strategy": {"type": "BINPACK"}"#)).unwrap();
    assert_eq!(spec.strategy.kind, StrategyKind::Binpack);
    assert_eq!(
        spec.strategy.kind.resolve(Kind::Service),
        StrategyKind::Binpack
    );
    // Named, binpack survives a store round trip.
    let back: AppSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
    assert_eq!(back.strategy.kind, StrategyKind::Binpack);
}

#[test]
fn discovery_and_kill_policy_are_checked() {
    let base = |extra: &str| {
        format!(
            r#"{{"name":"web","resources":{{"cpu":1,"mem":1,"ports":2}},"command":{{"cmd":"x"}}{extra}}}"#
        )
    };
    let s = parse(&base(
        r#","discovery":{"name":"shop.web","visibility":"cluster",
             "ports":[{"name":"HTTP"},{"name":"dns","protocol":"UDP"}],"labels":{"tier":"front"}},
           "kill_policy":{"grace_period_seconds":30}"#,
    ))
    .unwrap();
    assert_eq!(
        s.discovery.as_ref().unwrap().visibility,
        Visibility::Cluster
    );
    assert_eq!(
        s.discovery_ports(),
        vec![("http".into(), "tcp".into()), ("dns".into(), "udp".into())]
    );
    assert_eq!(s.kill_policy.as_ref().unwrap().grace_period_seconds, 30.0);
    let again = AppSpec::parse(&serde_json::to_vec(&s).unwrap()).unwrap();
    assert_eq!(again, s, "the canonical form parses to the same spec");
    // Unnamed ports are port<i>; a mapped port keeps its mapping's protocol.
    let s = parse(
        r#"{"name":"d","resources":{"cpu":1,"mem":1,"ports":1},"command":{"cmd":"x"},
           "container":{"type":"docker","image":"nginx","docker":{"network":"BRIDGE",
             "port_mappings":[{"container_port":53,"protocol":"udp"}]}}}"#,
    )
    .unwrap();
    assert_eq!(
        s.discovery_ports(),
        vec![
            ("port0".into(), "tcp".into()),
            ("port1".into(), "udp".into())
        ]
    );

    for (extra, field) in [
        (
            r#","discovery":{"visibility":"world"}"#,
            "discovery.visibility",
        ),
        (r#","discovery":{"name":"a..b"}"#, "discovery.name"),
        (r#","discovery":{"name":"-a"}"#, "discovery.name"),
        (
            r#","discovery":{"ports":[{"name":"http"},{"name":"HTTP"}]}"#,
            "discovery.ports[1].name",
        ),
        // The default name of the second port is port1.
        (
            r#","discovery":{"ports":[{"name":"port1"}]}"#,
            "discovery.ports[1].name",
        ),
        (
            r#","discovery":{"ports":[{"name":"a_b"}]}"#,
            "discovery.ports[0].name",
        ),
        (
            r#","discovery":{"ports":[{"protocol":"sctp"}]}"#,
            "discovery.ports[0].protocol",
        ),
        (r#","discovery":{"ports":[{},{},{}]}"#, "discovery.ports"),
        (r#","discovery":{"nmae":"x"}"#, "discovery.nmae"),
        (
            r#","kill_policy":{"grace_period_seconds":-1}"#,
            "kill_policy.grace_period_seconds",
        ),
        (
            r#","kill_policy":{"grace_period_seconds":1e9}"#,
            "kill_policy.grace_period_seconds",
        ),
        (
            r#","kill_policy":{"grace_period_seconds":"5"}"#,
            "kill_policy.grace_period_seconds",
        ),
        (r#","kill_policy":{}"#, "kill_policy"),
    ] {
        let e = parse(&base(extra)).unwrap_err();
        assert_eq!(e.field, field, "{extra}: {e:?}");
    }
}

#[test]
fn an_empty_ip_is_no_fixed_address() {
    // hydrogen's Go structs wrote an unset address as `"ip": ""`; Mesos's
    // CNI isolator then lets IPAM choose. Only the empty string means
    // that: a blank or wrong address is still refused.
    let doc = |ip: &str| {
        format!(
            r#"{{"name": "a", "resources": {{"cpu": 1, "mem": 32}}, "command": {{"cmd": "x"}},
              "container": {{"network": [{{"name": "n", "ipaddress": [{{"ip": {ip}, "protocol": "ipv4"}}]}}]}}}}"#
        )
    };
    let s = parse(&doc(r#""""#)).unwrap();
    let ip = &s.container.as_ref().unwrap().network[0].ipaddress[0];
    assert_eq!(ip.ip, None);
    assert_eq!(ip.protocol.as_deref(), Some("ipv4"));
    // Stored and shown without it.
    assert!(!serde_json::to_string(&s).unwrap().contains("\"ip\""));
    for bad in [r#"" ""#, r#""10.0.0""#] {
        let e = parse(&doc(bad)).unwrap_err();
        assert_eq!(e.field, "container.network[0].ipaddress[0].ip", "{bad}");
    }
}

#[test]
fn a_key_named_twice_is_refused_with_its_path() {
    let e = parse(r#"{"name":"a","name":"b","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"}}"#)
        .unwrap_err();
    assert_eq!(e.field, "name");
    let e = parse(r#"{"name":"a","resources":{"cpu":1,"mem":1,"mem":2},"command":{"cmd":"x"}}"#)
        .unwrap_err();
    assert_eq!(e.field, "resources.mem");
}

// ------------------------------------------------------------------ pods

const POD_EXAMPLE: &str = include_str!("../../../examples/pod.json");

fn pod_with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<AppSpec, SpecError> {
    let mut v: serde_json::Value = serde_json::from_str(POD_EXAMPLE).unwrap();
    edit(&mut v);
    AppSpec::from_value(v)
}

#[test]
fn the_pod_example_parses_and_round_trips() {
    let s = parse(POD_EXAMPLE).unwrap();
    assert!(s.is_pod());
    assert_eq!(s.containers.len(), 3);
    assert_eq!(s.instances, 10);
    let again = AppSpec::parse(&serde_json::to_vec(&s).unwrap()).unwrap();
    assert_eq!(again, s);
    // The canonical form has no top-level resources.
    let v = serde_json::to_value(&s).unwrap();
    assert!(v.get("resources").is_none(), "{v}");
}

#[test]
fn a_pod_instance_takes_its_containers_and_executor_exactly() {
    let s = parse(POD_EXAMPLE).unwrap();
    let r = s.instance_resources();
    // 0.5 + 1 + 0.1 (containers) + 0.1 (executor).
    assert_eq!(r.cpu, 1.7);
    assert_eq!(r.mem, 128.0 + 256.0 + 32.0 + 32.0);
    assert_eq!(r.disk.as_ref().map(Disk::size), Some(64.0 + 10.0));
    assert_eq!(r.ports, Ports::List(vec![0, 0]));
    let web = s.pod_container_app(0).unwrap();
    assert_eq!(web.resources.ports, Ports::List(vec![0]));
    assert_eq!(web.discovery_ports(), vec![("http".into(), "tcp".into())]);
    assert!(web.readiness.as_ref().unwrap().resolve(&web).is_ok());
    assert!(s.pod_container_app(3).is_none());
}

#[test]
fn pod_errors_name_the_field() {
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|v| v["resources"] = serde_json::json!({"cpu": 1, "mem": 1})),
            "resources",
        ),
        (
            Box::new(|v| v["command"] = serde_json::json!({"cmd": "x"})),
            "command",
        ),
        (
            Box::new(|v| v["containers"][1]["name"] = "web".into()),
            "containers[1].name",
        ),
        (
            Box::new(|v| v["containers"][1]["name"] = "Not a label".into()),
            "containers[1].name",
        ),
        (
            Box::new(|v| v["containers"][1]["endpoints"][0]["name"] = "HTTP".into()),
            "containers[1].endpoints[0].name",
        ),
        (
            Box::new(|v| v["containers"][2]["volume_mounts"][0]["name"] = "nope".into()),
            "containers[2].volume_mounts[0].name",
        ),
        (
            Box::new(|v| v["containers"][0]["resources"]["cpu"] = 0.into()),
            "containers[0].resources.cpu",
        ),
        (
            Box::new(|v| v["containers"][0]["resources"]["ports"] = 1.into()),
            "containers[0].resources.ports",
        ),
        (
            Box::new(|v| {
                v["containers"][2]
                    .as_object_mut()
                    .unwrap()
                    .remove("command");
            }),
            "containers[2].command",
        ),
        (
            Box::new(|v| v["containers"][0]["readiness"]["port_name"] = "api".into()),
            "containers[0].readiness.port_name",
        ),
        (
            Box::new(|v| v["containers"][0]["bogus"] = 1.into()),
            "containers[0]",
        ),
        (
            Box::new(|v| v["executor_resources"]["mem"] = 16.into()),
            "executor_resources.mem",
        ),
        (
            Box::new(|v| v["executor_resources"]["cpu"] = 0.001.into()),
            "executor_resources.cpu",
        ),
        (
            Box::new(|v| v["volumes"][1]["host_path"] = "relative".into()),
            "volumes[1].host_path",
        ),
        (
            Box::new(|v| v["volumes"][1]["name"] = "assets".into()),
            "volumes[1].name",
        ),
        (
            Box::new(|v| v["networks"] = serde_json::json!([{"mode": "container"}])),
            "networks[0].name",
        ),
        (
            Box::new(|v| v["networks"] = serde_json::json!([{"mode": "bridge"}])),
            "networks[0].mode",
        ),
        (
            Box::new(|v| v["discovery"] = serde_json::json!({"ports": [{"name": "x"}]})),
            "discovery.ports",
        ),
        (
            Box::new(|v| v["labels"] = serde_json::json!({"": "x"})),
            "labels.",
        ),
        (
            Box::new(|v| {
                v["containers"][1]["endpoints"][0]["host_port"] = 8080.into();
                v["containers"][0]["endpoints"][0]["host_port"] = 8080.into();
            }),
            "containers[1].endpoints[0].host_port",
        ),
    ];
    for (edit, field) in cases {
        let e = pod_with(edit).unwrap_err();
        assert!(
            e.field.starts_with(field),
            "expected an error at {field}, got {e:?}"
        );
    }
    // A pod of many containers is bounded.
    let e = pod_with(|v| {
        let c = v["containers"][2].clone();
        let list: Vec<serde_json::Value> = (0..=MAX_POD_CONTAINERS)
            .map(|i| {
                let mut c = c.clone();
                c["name"] = format!("c{i}").into();
                c
            })
            .collect();
        v["containers"] = list.into();
    })
    .unwrap_err();
    assert_eq!(e.field, "containers");
}

#[test]
fn pod_fields_are_refused_on_an_app_and_an_app_needs_resources() {
    let e = parse(r#"{"name":"a","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"},"volumes":[{"name":"v"}]}"#)
        .unwrap_err();
    assert_eq!(e.field, "volumes");
    let e = parse(r#"{"name":"a","resources":{"cpu":1,"mem":1},"command":{"cmd":"x"},"executor_resources":{}}"#)
        .unwrap_err();
    assert_eq!(e.field, "executor_resources");
    let e = parse(r#"{"name":"a","command":{"cmd":"x"}}"#).unwrap_err();
    assert_eq!(e.field, "resources");
}

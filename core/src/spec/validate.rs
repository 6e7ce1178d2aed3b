//! Every check of an app document that needs nothing but the document:
//! names, limits, ranges, constraints, containers, health checks.

use super::*;

impl AppSpec {
    /// Parse and check one app document (strict JSON: a key twice in one
    /// object is refused, see [`parse_strict_json`]).
    pub fn parse(json: &[u8]) -> Result<AppSpec, SpecError> {
        AppSpec::from_value(parse_strict_json(json)?)
    }

    /// Parse from an already decoded value (an element of a JSON array, as
    /// [`parse_strict_json`] read it).
    pub fn from_value(v: serde_json::Value) -> Result<AppSpec, SpecError> {
        let spec: AppSpec = match serde_path_to_error::deserialize(v) {
            Ok(s) => s,
            Err(e) => return Err(path_error(e)),
        };
        spec.validate()?;
        Ok(spec)
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
        if self.is_pod() {
            return self.validate_pod();
        }
        for (field, given) in [
            ("volumes", !self.volumes.is_empty()),
            ("networks", !self.networks.is_empty()),
            ("executor_resources", self.executor_resources.is_some()),
        ] {
            if given {
                return Err(SpecError::new(
                    field,
                    "only a pod (an app with containers) has this; an app's volumes and networks are in container",
                ));
            }
        }
        if self.resources.is_unset() {
            return Err(SpecError::new(
                "resources",
                "missing field `resources` (an app needs resources, a pod containers)",
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
            let r = e.resources();
            // master/validation.cpp: MIN_CPUS and MIN_MEM, and some disk.
            scalar("executor.resources.cpu", r.cpu, 0.01, 1e6)?;
            scalar("executor.resources.mem", r.mem, 32.0, 1e9)?;
            scalar("executor.resources.disk", r.disk, 1.0, 1e12)?;
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
        if let Some(r) = &self.readiness {
            r.resolve(self)?;
            if let Some(p) = &r.path {
                text("readiness.path", p, false)?;
            }
            if let Some(c) = &r.command {
                check_command("readiness.command", c)?;
            }
            for s in &r.statuses {
                if !(100..=599).contains(s) {
                    return Err(SpecError::new(
                        "readiness.statuses",
                        "HTTP status codes are 100-599",
                    ));
                }
            }
            for (f, v) in [
                ("readiness.delay", r.delay),
                ("readiness.timeout", r.timeout),
            ] {
                if let Some(v) = v {
                    scalar_or_zero(f, v, 86_400.0)?;
                }
            }
            if let Some(v) = r.interval {
                // Mesos refuses a zero interval (it would check in a loop).
                scalar("readiness.interval", v, 0.001, 86_400.0)?;
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
        if let Some(d) = &self.discovery {
            self.check_discovery(d)?;
        }
        if let Some(k) = &self.kill_policy {
            check_grace_period("kill_policy.grace_period_seconds", k.grace_period_seconds)?;
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
        if let Some(c) = &self.upgrade.canary {
            if c.instances == 0 || c.instances >= self.instances.max(1) {
                return Err(SpecError::new(
                    "upgrade.canary.instances",
                    "at least 1 and fewer than the app's instances",
                ));
            }
            if let Some(t) = c.timeout_seconds {
                scalar("upgrade.canary.timeout_seconds", t, 1.0, 7.0 * 86_400.0)?;
            }
        }
        Ok(())
    }

    /// The checks of a pod: the pod's own fields, then each container
    /// as an app of its own ([`AppSpec::pod_container_app`]) with its
    /// errors' paths under `containers[i]`.
    fn validate_pod(&self) -> Result<(), SpecError> {
        let not_in_pod = [
            (
                "resources",
                !self.resources.is_unset(),
                "containers[i].resources and executor_resources",
            ),
            ("command", self.command.is_some(), "containers[i].command"),
            (
                "container",
                self.container.is_some(),
                "containers[i].image, volumes and networks",
            ),
            (
                "healthcheck",
                self.healthcheck.is_some(),
                "containers[i].healthcheck",
            ),
            (
                "readiness",
                self.readiness.is_some(),
                "containers[i].readiness",
            ),
            (
                "executor",
                self.executor.is_some(),
                "Mesos's default executor runs a pod",
            ),
        ];
        for (field, given, instead) in not_in_pod {
            if given {
                return Err(SpecError::new(
                    field,
                    format!("a pod does not take {field}: {instead}"),
                ));
            }
        }
        if self.containers.len() > MAX_POD_CONTAINERS {
            return Err(SpecError::new(
                "containers",
                format!("at most {MAX_POD_CONTAINERS} containers per pod"),
            ));
        }
        if let Some(d) = &self.discovery
            && !d.ports.is_empty()
        {
            return Err(SpecError::new(
                "discovery.ports",
                "a pod's ports are its containers' endpoints (containers[i].endpoints)",
            ));
        }
        if let Some(role) = self.role() {
            check_role("role", role)?;
        }
        items("filters", self.filters.len())?;
        for (i, f) in self.filters.iter().enumerate() {
            check_filter(&format!("filters[{i}]"), f)?;
        }
        let e = self.pod_executor_resources();
        // master/validation.cpp: MIN_CPUS and MIN_MEM, and some disk.
        scalar("executor_resources.cpu", e.cpu, 0.01, 1e6)?;
        scalar("executor_resources.mem", e.mem, 32.0, 1e9)?;
        scalar("executor_resources.disk", e.disk, 1.0, 1e12)?;
        items("volumes", self.volumes.len())?;
        for (i, v) in self.volumes.iter().enumerate() {
            let f = format!("volumes[{i}]");
            if !is_dns_label(&v.name) {
                return Err(SpecError::new(
                    format!("{f}.name"),
                    "1-63 letters, digits and '-', not starting or ending with '-'",
                ));
            }
            if self.volumes[..i].iter().any(|w| w.name == v.name) {
                return Err(SpecError::new(
                    format!("{f}.name"),
                    format!("the same volume name {:?} twice", v.name),
                ));
            }
            if let Some(h) = &v.host_path {
                text(&format!("{f}.host_path"), h, false)?;
                if !h.starts_with('/') {
                    return Err(SpecError::new(
                        format!("{f}.host_path"),
                        "an absolute path on the agent",
                    ));
                }
            }
        }
        items("networks", self.networks.len())?;
        for (i, n) in self.networks.iter().enumerate() {
            let f = format!("networks[{i}]");
            match (n.mode, &n.name) {
                (NetworkMode::Host, Some(_)) => {
                    return Err(SpecError::new(
                        format!("{f}.name"),
                        "the host network has no name (mode container joins a named one)",
                    ));
                }
                (NetworkMode::Host, None) if self.networks.len() > 1 => {
                    return Err(SpecError::new(
                        format!("{f}.mode"),
                        "the host network cannot be joined with other networks",
                    ));
                }
                (NetworkMode::Container, None) => {
                    return Err(SpecError::new(
                        format!("{f}.name"),
                        "a container network needs a name",
                    ));
                }
                (NetworkMode::Container, Some(name)) => {
                    text(&format!("{f}.name"), name, false)?;
                    if self.networks[..i].iter().any(|m| m.name == n.name) {
                        return Err(SpecError::new(
                            format!("{f}.name"),
                            "the same network twice",
                        ));
                    }
                }
                (NetworkMode::Host, None) => {}
            }
            items(&format!("{f}.labels"), n.labels.len())?;
            for (k, v) in &n.labels {
                text(&format!("{f}.labels.{k}"), k, false)?;
                text(&format!("{f}.labels.{k}"), v, true)?;
            }
        }
        if let Some(k) = &self.kill_policy {
            check_grace_period("kill_policy.grace_period_seconds", k.grace_period_seconds)?;
        }
        items("labels", self.labels.len())?;
        for (k, v) in &self.labels {
            text(&format!("labels.{k}"), k, false)?;
            text(&format!("labels.{k}"), v, true)?;
        }
        let mut ports = 0usize;
        for (i, c) in self.containers.iter().enumerate() {
            let f = format!("containers[{i}]");
            if !is_dns_label(&c.name) {
                return Err(SpecError::new(
                    format!("{f}.name"),
                    "1-63 letters, digits and '-', not starting or ending with '-'",
                ));
            }
            if self.containers[..i].iter().any(|d| d.name == c.name) {
                return Err(SpecError::new(
                    format!("{f}.name"),
                    format!("the same container name {:?} twice", c.name),
                ));
            }
            if !c.resources.ports.is_empty() {
                return Err(SpecError::new(
                    format!("{f}.resources.ports"),
                    "a container's ports are its endpoints",
                ));
            }
            if c.resources.role.is_some() {
                return Err(SpecError::new(
                    format!("{f}.resources.role"),
                    "a pod runs under one role: give it as the pod's role",
                ));
            }
            items(&format!("{f}.endpoints"), c.endpoints.len())?;
            for (j, p) in c.endpoints.iter().enumerate() {
                let pf = format!("{f}.endpoints[{j}]");
                if p.host_port > 65535 {
                    return Err(SpecError::new(
                        format!("{pf}.host_port"),
                        "0 (any) or 1-65535",
                    ));
                }
                // Names and fixed ports are the pod's: its containers share
                // one network namespace.
                let earlier = self.containers[..i]
                    .iter()
                    .flat_map(|d| d.endpoints.iter())
                    .chain(c.endpoints[..j].iter());
                for q in earlier {
                    if q.name.eq_ignore_ascii_case(&p.name) {
                        return Err(SpecError::new(
                            format!("{pf}.name"),
                            format!("the same endpoint name {:?} twice in the pod", p.name),
                        ));
                    }
                    if p.host_port != 0 && q.host_port == p.host_port {
                        return Err(SpecError::new(
                            format!("{pf}.host_port"),
                            format!("port {} twice in the pod", p.host_port),
                        ));
                    }
                }
            }
            ports += c.endpoints.len();
            if ports > MAX_PORTS {
                return Err(SpecError::new(
                    format!("{f}.endpoints"),
                    format!("at most {MAX_PORTS} ports per instance"),
                ));
            }
            items(&format!("{f}.volume_mounts"), c.volume_mounts.len())?;
            for (j, m) in c.volume_mounts.iter().enumerate() {
                let mf = format!("{f}.volume_mounts[{j}]");
                if !self.volumes.iter().any(|v| v.name == m.name) {
                    return Err(SpecError::new(
                        format!("{mf}.name"),
                        format!("the pod has no volume named {:?}", m.name),
                    ));
                }
                text(&format!("{mf}.mount_path"), &m.mount_path, false)?;
                if c.volume_mounts[..j]
                    .iter()
                    .any(|n| n.mount_path == m.mount_path)
                {
                    return Err(SpecError::new(
                        format!("{mf}.mount_path"),
                        "two volumes mounted at one path",
                    ));
                }
            }
            if let Some(image) = &c.image {
                text(&format!("{f}.image"), image, false)?;
            }
            let app = self.pod_container_app(i).expect("index in range");
            app.validate().map_err(|e| SpecError {
                field: container_field(&f, &e.field),
                error: e.error,
            })?;
        }
        // The rest of an app's checks that are the pod's own.
        let mut rest = self.pod_container_app(0).expect("a pod has a container");
        rest.readiness = None;
        rest.healthcheck = None;
        rest.labels = self.labels.clone();
        rest.retry = self.retry.clone();
        rest.upgrade = self.upgrade.clone();
        rest.discovery = self.discovery.clone();
        rest.validate()
    }

    fn check_discovery(&self, d: &Discovery) -> Result<(), SpecError> {
        if let Some(n) = &d.name {
            // Mesos-DNS publishes `<name>.<framework>.<domain>`: dot-separated
            // DNS labels, at most 253 bytes in all.
            if n.len() > 253 || n.split('.').any(|l| !is_dns_label(l)) {
                return Err(SpecError::new(
                    "discovery.name",
                    "a DNS name: labels of 1-63 letters, digits and '-' separated by '.'",
                ));
            }
        }
        let n_ports = self.resources.ports.count() + self.port_mappings().len();
        if d.ports.len() > n_ports {
            return Err(SpecError::new(
                "discovery.ports",
                format!(
                    "names {} ports but an instance has {n_ports} (resources.ports, then port mappings)",
                    d.ports.len()
                ),
            ));
        }
        for (i, p) in d.ports.iter().enumerate() {
            let f = format!("discovery.ports[{i}]");
            if let Some(n) = &p.name
                && !is_dns_label(n)
            {
                return Err(SpecError::new(
                    format!("{f}.name"),
                    "a port name is 1-63 letters, digits and '-', not starting or ending with '-'",
                ));
            }
            if let Some(p) = &p.protocol
                && !matches!(p.to_ascii_lowercase().as_str(), "tcp" | "udp")
            {
                return Err(SpecError::new(format!("{f}.protocol"), "tcp or udp"));
            }
        }
        // Names must tell the ports apart, the default `port<i>` included.
        let names = self.discovery_ports();
        for (i, (n, _)) in names.iter().enumerate() {
            if names[..i].iter().any(|(m, _)| m == n) {
                return Err(SpecError::new(
                    format!("discovery.ports[{i}].name"),
                    format!("the same port name {n:?} twice"),
                ));
            }
        }
        items("discovery.labels", d.labels.len())?;
        for (k, v) in &d.labels {
            text(&format!("discovery.labels.{k}"), k, false)?;
            text(&format!("discovery.labels.{k}"), v, true)?;
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

/// The path in a pod of a field of container `prefix` checked as an app
/// ([`AppSpec::pod_container_app`]): its ports are the endpoints, its
/// image the container's.
fn container_field(prefix: &str, field: &str) -> String {
    if let Some(rest) = field.strip_prefix("discovery.ports") {
        return format!("{prefix}.endpoints{rest}");
    }
    if let Some(rest) = field.strip_prefix("resources.ports") {
        return format!("{prefix}.endpoints{rest}");
    }
    if let Some(rest) = field.strip_prefix("container.image") {
        return format!("{prefix}.image{rest}");
    }
    if field.is_empty() {
        return prefix.to_owned();
    }
    format!("{prefix}.{field}")
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

/// One DNS label (RFC 1123): 1-63 letters, digits and `-`, not starting
/// or ending with `-`.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A kill grace period in seconds: the spec's and a kill's from the API.
pub fn check_grace_period(field: &str, secs: f64) -> Result<(), SpecError> {
    scalar_or_zero(field, secs, MAX_KILL_GRACE_PERIOD_SECONDS)
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

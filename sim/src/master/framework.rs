//! Frameworks: SUBSCRIBE (with Mesos 1.11's FrameworkInfo validation and
//! its refusals on the stream), disconnection, TEARDOWN and removal,
//! UPDATE_FRAMEWORK. Never touches offers or tasks beyond handing them
//! back when a framework goes.

use super::*;

impl Master {
    pub(super) fn subscribe(&mut self, now: Instant, call: Call, stream_id: Option<&str>) -> Reply {
        if stream_id.is_some() {
            self.violation("SUBSCRIBE", "SUBSCRIBE carried Mesos-Stream-Id");
            return Reply::bad_request(
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            );
        }
        let Some(sub) = call.subscribe else {
            return self.missing("SUBSCRIBE", "subscribe");
        };
        let info = sub.framework_info;
        if info.user.is_empty() || info.name.is_empty() {
            self.violation("SUBSCRIBE", "FrameworkInfo without user or name");
            return Reply::bad_request(
                "Failed to validate scheduler::Call: 'framework_info' needs 'user' and 'name'",
            );
        }
        let info_id = info.id.as_ref().map(|i| i.value.clone());
        let call_id = call.framework_id.as_ref().map(|i| i.value.clone());
        if info_id != call_id {
            self.violation("SUBSCRIBE", "framework_id and framework_info.id differ");
            return Reply::bad_request("'framework_id' differs from 'subscribe.framework_info.id'");
        }
        // Master::subscribe: a FrameworkInfo the master will not take is
        // answered on the stream (200, one ERROR, then the stream closes),
        // not with an HTTP error.
        let refusal = validate_framework(&info, &sub.suppressed_roles)
            .err()
            .map(|e| (e.message(), e.is_field_misuse()))
            .or_else(|| {
                info_id
                    .as_ref()
                    .filter(|id| self.removed_frameworks.contains(*id))
                    .map(|_| ("Framework has been removed".to_owned(), false))
            })
            .or_else(|| {
                // validation::framework::validateUpdate, in _subscribe, for a
                // framework the master knows (user and checkpoint changes
                // are silently ignored by preserveImmutableFields first).
                let fw = *self.framework_index.get(info_id.as_ref()?)?;
                (self.frameworks[fw].info.principal != info.principal).then(|| {
                    (
                        "Changing framework's principal is not allowed.".to_owned(),
                        false,
                    )
                })
            });
        if let Some((message, misuse)) = refusal {
            if misuse {
                self.violation("SUBSCRIBE", message.clone());
            }
            return self.refuse_subscription(now, info_id, &info.name, message);
        }
        let fw = match info_id {
            Some(id) => match self.framework_index.get(&id) {
                Some(&fw) => fw,
                // A framework the master does not know re-registers with its
                // id (e.g. after a master failover).
                None => self.add_framework(id, info.clone()),
            },
            None => {
                self.framework_seq += 1;
                let id = format!("{}-{:04}", self.master_uuid, self.framework_seq - 1);
                self.add_framework(id, info.clone())
            }
        };
        // Failover: the old stream is told and closed.
        if let Some((old, _)) = self.frameworks[fw].stream.take() {
            self.out
                .push_back(Output::Event(old, error_event("Framework failed over")));
            self.out.push_back(Output::Close(old));
            self.streams.remove(&old);
        }
        // As the real master does on failover, offers made to the old
        // subscription go back to the pool: the new one never saw them.
        let stale: Vec<u64> = self
            .offers
            .iter()
            .filter(|(_, o)| o.framework == fw)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.end_offer(id, OfferEnd::Vanished);
        }
        // And so do its inverse offers (master.cpp `_failoverFramework`:
        // "Also remove the inverse offers"): new ones follow, where one
        // still outstanding to the old subscription would hold them back.
        self.drop_inverse_offers_of(fw);
        let f = &mut self.frameworks[fw];
        f.apply_info(info);
        f.suppressed = sub.suppressed_roles.into_iter().collect();
        f.generation += 1;
        let generation = f.generation;
        let stream = self.open_stream();
        let stream_uuid = self.rng.uuid();
        self.streams.insert(stream, fw);
        self.frameworks[fw].stream = Some((stream, stream_uuid.clone()));
        self.counters.subscriptions += 1;
        let fid = self.frameworks[fw].id.clone();
        let subscribed = Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: FrameworkId { value: fid },
                heartbeat_interval_seconds: Some(self.cfg.heartbeat_interval.as_secs_f64()),
                master_info: Some(self.master_info.clone()),
            }),
            ..Event::default()
        };
        // SUBSCRIBED is the answer's first record even while the master
        // stalls its streams (`StallHeartbeats`): a stall holds back what
        // comes after it, never the head of a new stream (a framework must
        // never see an event before SUBSCRIBED; TCP keeps order).
        self.out.push_back(Output::Event(stream, subscribed));
        self.send(now, fw, heartbeat_event());
        let next = now + self.cfg.heartbeat_interval;
        self.arm(
            next,
            Timer::Heartbeat {
                framework: fw,
                generation,
            },
        );
        // Unacknowledged updates go out again on the new stream (in slot
        // order: `tasks` is a HashMap and runs must be reproducible).
        let mut slots: Vec<usize> = self.frameworks[fw].tasks.values().copied().collect();
        slots.sort_unstable();
        for slot in slots {
            self.resend_head(now, slot, false);
        }
        // Offer promptly to the new subscriber.
        self.request_cycle(now);
        Reply::Subscribed {
            stream,
            stream_id: stream_uuid,
        }
    }

    /// Answer a refused SUBSCRIBE as Mesos does: a stream that carries one
    /// ERROR and closes; remembered in [`Master::subscribe_refusals`].
    pub(super) fn refuse_subscription(
        &mut self,
        now: Instant,
        framework_id: Option<String>,
        name: &str,
        message: String,
    ) -> Reply {
        self.counters.subscribe_refused += 1;
        if self.subscribe_refusals.len() >= SUBSCRIBE_REFUSALS_KEPT {
            self.subscribe_refusals.pop_front();
        }
        self.subscribe_refusals.push_back(SubscribeRefusal {
            call: self.counters.calls,
            at_ms: self.millis_since_start(now),
            framework_id,
            name: name.to_owned(),
            message: message.clone(),
        });
        let stream = self.open_stream();
        let stream_uuid = self.rng.uuid();
        self.out
            .push_back(Output::Event(stream, error_event(&message)));
        self.out.push_back(Output::Close(stream));
        Reply::Subscribed {
            stream,
            stream_id: stream_uuid,
        }
    }

    pub(super) fn open_stream(&mut self) -> StreamHandle {
        let s = self.next_stream;
        self.next_stream += 1;
        s
    }

    pub(super) fn add_framework(&mut self, id: String, info: mesos::FrameworkInfo) -> usize {
        let mut f = Framework {
            id: id.clone(),
            info: mesos::FrameworkInfo::default(),
            roles: Vec::new(),
            multi_role: false,
            partition_aware: false,
            killing_state: false,
            region_aware: false,
            suppressed: BTreeSet::new(),
            stream: None,
            generation: 0,
            filters: IndexMap::default(),
            tasks: HashMap::new(),
            completed: VecDeque::new(),
            offer_constraints: None,
        };
        f.apply_info(info);
        self.frameworks.push(f);
        let ix = self.frameworks.len() - 1;
        self.framework_index.insert(id, ix);
        ix
    }

    /// The subscriber's connection went away (the client closed it or a
    /// write failed).
    pub fn stream_closed(&mut self, now: Instant, stream: StreamHandle) {
        let Some(fw) = self.streams.remove(&stream) else {
            return;
        };
        let f = &mut self.frameworks[fw];
        if f.stream.as_ref().is_none_or(|(s, _)| *s != stream) {
            return;
        }
        f.stream = None;
        f.generation += 1;
        let generation = f.generation;
        let timeout = f
            .info
            .failover_timeout
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(365 * 24 * 3600));
        // A disconnected framework's offers go back to the pool, and the
        // allocator forgets its offer and inverse offer filters
        // (hierarchical.cpp `deactivateFramework`): a scheduler that fails
        // over is offered every agent again, and asked again about every
        // agent under maintenance.
        self.recover_offers_of(fw);
        self.drop_inverse_offers_of(fw);
        self.frameworks[fw].filters.clear();
        self.maint.filters.retain(|(f, _), _| *f != fw);
        self.arm(
            now + timeout,
            Timer::FailoverTimeout {
                framework: fw,
                generation,
            },
        );
    }

    pub(super) fn recover_offers_of(&mut self, fw: usize) {
        let ids: Vec<u64> = self
            .offers
            .iter()
            .filter(|(_, o)| o.framework == fw)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.end_offer(id, OfferEnd::Rescinded);
        }
    }

    pub(super) fn teardown(&mut self, fw: usize) -> Reply {
        self.remove_framework(fw, true);
        Reply::Accepted
    }

    /// Forget framework `fw`: its offers back, its tasks killed, its id
    /// refused from now on; its stream closed unless `close_stream` is
    /// false (a close that never reaches the framework).
    pub(super) fn remove_framework(&mut self, fw: usize, close_stream: bool) {
        self.recover_offers_of(fw);
        self.drop_inverse_offers_of(fw);
        let mut slots: Vec<usize> = self.frameworks[fw].tasks.values().copied().collect();
        slots.sort_unstable();
        for slot in slots {
            self.release_task(slot);
        }
        self.forget_executors(|f, _| f == fw);
        let f = &mut self.frameworks[fw];
        f.tasks.clear();
        f.generation += 1;
        if let Some((stream, _)) = f.stream.take() {
            self.streams.remove(&stream);
            if close_stream {
                self.out.push_back(Output::Close(stream));
            }
        }
        let id = f.id.clone();
        self.framework_index.remove(&id);
        self.removed_frameworks.insert(id);
    }

    pub(super) fn update_framework(
        &mut self,
        now: Instant,
        fw: usize,
        fid: &str,
        u: call::UpdateFramework,
    ) -> Reply {
        if u.framework_info.id.as_ref().map(|i| i.value.as_str()) != Some(fid) {
            self.violation(
                "UPDATE_FRAMEWORK",
                "framework_info.id differs from framework_id",
            );
            return Reply::bad_request("'framework_info.id' must equal 'framework_id'");
        }
        // Master::updateFramework: validateFramework, then validateUpdate
        // (here nothing preserves user and checkpoint first).
        if let Err(e) = validate_framework(&u.framework_info, &u.suppressed_roles) {
            let message = format!("Supplied FrameworkInfo is not valid: {}", e.message());
            if e.is_field_misuse() {
                self.violation("UPDATE_FRAMEWORK", message.clone());
            }
            return Reply::bad_request(message);
        }
        let old = &self.frameworks[fw].info;
        let new = &u.framework_info;
        let update_error = if old.principal != new.principal {
            Some("Changing framework's principal is not allowed.".to_owned())
        } else if old.user != new.user {
            Some(format!(
                "Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{}' to '{}'",
                old.user, new.user
            ))
        } else if old.checkpoint.unwrap_or(false) != new.checkpoint.unwrap_or(false) {
            Some(format!(
                "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from '{}' to '{}'",
                old.checkpoint.unwrap_or(false),
                new.checkpoint.unwrap_or(false)
            ))
        } else {
            None
        };
        if let Some(e) = update_error {
            return Reply::bad_request(format!("FrameworkInfo update is not valid: {e}"));
        }
        let f = &mut self.frameworks[fw];
        f.apply_info(u.framework_info);
        f.suppressed = u.suppressed_roles.into_iter().collect();
        f.offer_constraints = u.offer_constraints;
        self.request_cycle(now);
        // Master::updateFramework answers `OK()`, not 202 Accepted.
        Reply::Status {
            code: 200,
            message: String::new(),
        }
    }
}

/// Why the master refuses a FrameworkInfo (`Master::validateFramework`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameworkError {
    /// `role` set by a MULTI_ROLE framework, or `roles` by one without it.
    RoleField(String),
    /// Anything else: invalid or duplicate role names, suppressed roles
    /// the framework does not have, a bad id or failover timeout.
    Invalid(String),
}

impl FrameworkError {
    /// The master's message, sent in the ERROR event.
    pub fn message(&self) -> String {
        match self {
            FrameworkError::RoleField(m) | FrameworkError::Invalid(m) => m.clone(),
        }
    }

    pub(super) fn is_field_misuse(&self) -> bool {
        matches!(self, FrameworkError::RoleField(_))
    }
}

/// Role name rules of Mesos (`roles::validate`, src/common/roles.cpp):
/// `*`, or a `/`-separated path of components that are not `.`, `..` or
/// `*`, do not start with `-`, and hold no whitespace (tab, newline,
/// vertical tab, form feed, carriage return, space) or DEL. Other control
/// characters are let through, as Mesos lets them through.
pub fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.starts_with('/') {
        return Err(format!("Role '{role}' cannot start with a slash"));
    }
    if role.ends_with('/') {
        return Err(format!("Role '{role}' cannot end with a slash"));
    }
    if role.contains("//") {
        return Err(format!("Role '{role}' cannot contain two adjacent slashes"));
    }
    if role.is_empty() {
        return Err("Role names cannot be the empty string".into());
    }
    for component in role.split('/') {
        match component {
            "." => return Err(format!("Role '{role}' cannot include '.' as a component")),
            ".." => return Err(format!("Role '{role}' cannot include '..' as a component")),
            "*" => return Err(format!("Role '{role}' cannot include '*' as a component")),
            _ => {}
        }
        if component.starts_with('-') {
            return Err(format!(
                "Role component '{component}' is invalid because it starts with a dash"
            ));
        }
        if component
            .bytes()
            .any(|b| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x7f))
        {
            return Err(format!(
                "Role component '{component}' is invalid because it contains backspace or whitespace"
            ));
        }
    }
    Ok(())
}

/// `Master::validateFramework` of Mesos 1.11 (src/master/master.cpp) with
/// `validation::framework::validate` (src/master/validation.cpp), for a
/// master without `--roles` and with `--root_submissions` (the defaults);
/// the removed-framework check needs the master and is done by the caller.
pub fn validate_framework(
    info: &mesos::FrameworkInfo,
    suppressed_roles: &[String],
) -> Result<(), FrameworkError> {
    use FrameworkError::{Invalid, RoleField};
    let multi_role = Framework::has_capability(info, framework_info::capability::Type::MultiRole);
    #[allow(deprecated)]
    let role = info.role.as_deref();
    if multi_role && role.is_some() {
        return Err(RoleField(
            "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable".into(),
        ));
    }
    if !multi_role && !info.roles.is_empty() {
        return Err(RoleField(
            "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
                .into(),
        ));
    }
    if multi_role {
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<&str> = info
            .roles
            .iter()
            .filter(|r| !seen.insert(r.as_str()))
            .map(String::as_str)
            .collect();
        if !duplicates.is_empty() {
            // stringify(hashset): `{ a, b }`.
            let list = duplicates.into_iter().collect::<Vec<_>>().join(", ");
            return Err(Invalid(format!(
                "'FrameworkInfo.roles' contains duplicate items: {{ {list} }}"
            )));
        }
        for r in &info.roles {
            validate_role(r).map_err(|e| {
                Invalid(format!("'FrameworkInfo.roles' contains invalid role: {e}"))
            })?;
        }
    } else {
        // `role` defaults to "*" in mesos.proto.
        validate_role(role.unwrap_or("*"))
            .map_err(|e| Invalid(format!("'FrameworkInfo.role' is not a valid role: {e}")))?;
    }
    if let Some(id) = info.id.as_ref().filter(|i| !i.value.is_empty()) {
        validate_id(&id.value).map_err(Invalid)?;
    }
    let roles: BTreeSet<&str> = if multi_role {
        info.roles.iter().map(String::as_str).collect()
    } else {
        BTreeSet::from([role.unwrap_or("*")])
    };
    if let Some(r) = suppressed_roles
        .iter()
        .find(|r| !roles.contains(r.as_str()))
    {
        return Err(Invalid(format!(
            "Suppressed role '{r}' is not contained in the list of roles"
        )));
    }
    // isValidFailoverTimeout: the seconds must fit stout's Duration (int64
    // nanoseconds); NaN compares false there and passes.
    if let Some(t) = info.failover_timeout
        && (t.abs() * 1e9 > i64::MAX as f64)
    {
        return Err(Invalid(format!(
            "The framework failover_timeout ({}) is invalid",
            cpp_double(t)
        )));
    }
    Ok(())
}

/// A double as C++'s `operator<<` writes it by default (`%g`: six
/// significant digits, exponent form outside 1e-4 ..= 1e6), which is how
/// the master's messages show numbers.
pub(super) fn cpp_double(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let sci = format!("{x:.5e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa.to_owned()), exp.abs())
    } else {
        let decimals = usize::try_from(5 - exp).unwrap_or(0);
        trim(format!("{x:.decimals$}"))
    }
}

/// `common::validation::validateID` (src/common/validation.cpp): the rule
/// for framework, task, executor and agent ids.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ID must not be empty".into());
    }
    // NAME_MAX on Linux.
    if id.len() > 255 {
        return Err("ID must not be greater than 255 characters".into());
    }
    if id == "." || id == ".." {
        return Err(format!("'{id}' is disallowed"));
    }
    if id
        .bytes()
        .any(|b| b.is_ascii_control() || b == b'/' || b == b'\\')
    {
        return Err(format!("'{id}' contains invalid characters"));
    }
    Ok(())
}

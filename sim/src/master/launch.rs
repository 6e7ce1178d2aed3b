//! ACCEPT: offer validation, the operations (LAUNCH, LAUNCH_GROUP,
//! RESERVE / UNRESERVE, CREATE / DESTROY), TaskInfo validation as the
//! master does it, and starting tasks. Nothing here sends a status update
//! the agent would send; refusals are the master's own TASK_ERROR /
//! TASK_DROPPED.

use super::*;

impl Master {
    // ------------------------------------------------------------ accept

    pub(super) fn accept(&mut self, now: Instant, fw: usize, a: call::Accept) -> Reply {
        if a.offer_ids.is_empty() {
            self.violation("ACCEPT", "ACCEPT without offer ids");
        }
        let (live, refused) = self.take_offer_ids("ACCEPT", fw, &a.offer_ids);
        let agents: BTreeSet<usize> = live.iter().map(|(_, o)| o.agent).collect();
        let roles: BTreeSet<Option<&str>> = live.iter().map(|(_, o)| o.allocation_role()).collect();
        let mut invalid_reason = None;
        if refused {
            invalid_reason = Some("Offer is no longer valid");
        } else if roles.len() > 1 {
            // The master checks roles before agents (validateAllocationRole).
            let roles: Vec<&str> = roles.iter().map(|r| r.unwrap_or("")).collect();
            self.violation(
                "ACCEPT",
                format!("offers allocated to different roles in one ACCEPT: {roles:?}"),
            );
            invalid_reason = Some("Aggregated offers must be allocated to the same role");
        } else if agents.len() > 1 {
            self.violation("ACCEPT", "offers from more than one agent in one ACCEPT");
            invalid_reason = Some("Aggregated offers must belong to one single agent");
        }
        if let Some(reason) = invalid_reason {
            // The master drops every launch of the call.
            for op in &a.operations {
                for t in launched_tasks(op) {
                    self.drop_task(now, fw, t, reason);
                }
            }
            return Reply::Accepted;
        }
        let Some(&agent) = agents.iter().next() else {
            return Reply::Accepted;
        };
        self.counters.offers_accepted += live.len() as u64;
        let mut remaining = Bag::new();
        let alloc_role = live
            .first()
            .and_then(|(_, o)| o.allocation_role().map(str::to_owned));
        for (_, o) in &live {
            remaining.add(&o.resources);
        }
        for op in a.operations {
            self.apply_operation(now, fw, agent, alloc_role.as_deref(), &mut remaining, op);
        }
        // Launches and reservations are the only growth of what an agent's
        // tasks hold or of its reservations; offers are carved from what
        // is free (`free_on`) and cannot break it.
        self.check_agent(agent, "ACCEPT");
        let refuse = Self::refuse_for(a.filters.as_ref());
        self.frameworks[fw].filters.insert(agent, now + refuse);
        Reply::Accepted
    }

    pub(super) fn apply_operation(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        alloc_role: Option<&str>,
        remaining: &mut Bag,
        op: offer::Operation,
    ) {
        use offer::operation::Type as Op;
        let kind = op
            .r#type
            .and_then(|t| Op::try_from(t).ok())
            .unwrap_or(Op::Unknown);
        match kind {
            Op::Launch => {
                let tasks = op.launch.map(|l| l.task_infos).unwrap_or_default();
                if tasks.is_empty() {
                    self.violation("ACCEPT", "LAUNCH without task_infos");
                }
                for t in tasks {
                    self.launch(now, fw, agent, alloc_role, remaining, t, None);
                }
            }
            Op::LaunchGroup => {
                let Some(group) = op.launch_group else {
                    self.violation("ACCEPT", "LAUNCH_GROUP without launch_group");
                    return;
                };
                let mut exec = group.executor;
                let mut need = match self.task_bag(fw, alloc_role, &exec.resources) {
                    Ok(b) => b,
                    Err(e) => {
                        for t in group.task_group.tasks {
                            self.error_task(now, fw, agent, &t, &e);
                        }
                        return;
                    }
                };
                let mut error = None;
                if exec.executor_id.value.is_empty() {
                    error = Some("LAUNCH_GROUP executor has no executor_id".to_owned());
                } else if let Err(e) = self.validate_executor(fw, agent, &mut exec) {
                    error = Some(e);
                } else if self
                    .running_executor(fw, agent, &exec.executor_id.value)
                    .is_some()
                {
                    // validation.cpp, task::group::internal::validateExecutor:
                    // an executor already running there holds its resources.
                    need = Bag::new();
                }
                if group.task_group.tasks.is_empty() {
                    self.violation("ACCEPT", "LAUNCH_GROUP with an empty task group");
                }
                for t in &group.task_group.tasks {
                    if error.is_some() {
                        break;
                    }
                    if t.command.is_none() && t.executor.is_none() {
                        // tasks of a group run under the group's executor
                    } else if t.executor.is_some() {
                        error = Some(format!(
                            "task {} in a group must not set 'executor'",
                            t.task_id.value
                        ));
                    }
                    match self.task_bag(fw, alloc_role, &t.resources) {
                        Ok(b) => need.add(&b),
                        Err(e) => error = Some(e),
                    }
                    if let Err(e) = self.validate_task_common(fw, agent, t) {
                        error = Some(e);
                    }
                }
                if error.is_none() && !remaining.contains(&need) {
                    // validation.cpp, task::group::internal::validateResources.
                    error = Some(format!(
                        "Total resources {} required by task group and its executor are more than available {}",
                        need.describe(),
                        remaining.describe()
                    ));
                }
                if let Some(e) = error {
                    for t in group.task_group.tasks {
                        self.error_task(now, fw, agent, &t, &e);
                    }
                    return;
                }
                remaining.subtract(&need);
                let exec_id = exec.executor_id.value.clone();
                for t in group.task_group.tasks {
                    let bag = self
                        .task_bag(fw, alloc_role, &t.resources)
                        .unwrap_or_default();
                    self.note_task_call(now, "LAUNCH", &t.task_id.value);
                    self.start_task(now, fw, agent, &t, bag, Some(exec_id.clone()));
                }
                self.note_executor(fw, agent, exec);
            }
            Op::Reserve => {
                let res = op.reserve.map(|r| r.resources).unwrap_or_default();
                self.reserve(fw, agent, remaining, &res, true);
            }
            Op::Unreserve => {
                let res = op.unreserve.map(|r| r.resources).unwrap_or_default();
                self.reserve(fw, agent, remaining, &res, false);
            }
            Op::Create | Op::Destroy => {
                let vols = if kind == Op::Create {
                    op.create.map(|c| c.volumes)
                } else {
                    op.destroy.map(|d| d.volumes)
                }
                .unwrap_or_default();
                if vols.iter().any(|v| {
                    v.disk
                        .as_ref()
                        .and_then(|d| d.persistence.as_ref())
                        .is_none()
                }) {
                    self.violation("ACCEPT", "CREATE/DESTROY of a disk without persistence");
                }
            }
            _ => self.violation(
                "ACCEPT",
                format!("unsupported operation type {:?}", op.r#type),
            ),
        }
    }

    /// RESERVE (or UNRESERVE): swap unreserved and reserved pools in both
    /// the offer's remaining resources and the agent's total.
    pub(super) fn reserve(
        &mut self,
        _fw: usize,
        agent: usize,
        remaining: &mut Bag,
        res: &[mesos::Resource],
        reserve: bool,
    ) {
        let call = if reserve { "RESERVE" } else { "UNRESERVE" };
        let reserved = match Bag::from_resources(res) {
            Ok(b) => b,
            Err(BagError::Invalid(e)) => {
                self.violation("ACCEPT", format!("{call}: {e}"));
                return;
            }
        };
        if reserved.pools().any(|(k, _)| k.role == "*") {
            self.violation(
                "ACCEPT",
                format!("{call} of resources without a reservation"),
            );
            return;
        }
        let unreserved = reserved.unreserved();
        let (take, give) = if reserve {
            (&unreserved, &reserved)
        } else {
            (&reserved, &unreserved)
        };
        if !remaining.contains(take) {
            self.violation("ACCEPT", format!("{call} uses more resources than offered"));
            return;
        }
        remaining.subtract(take);
        remaining.add(give);
        self.avail_version[agent] += 1;
        let total = &mut self.agents[agent].total;
        total.subtract_saturating(&take.with_allocation_role(None));
        total.add(&give.with_allocation_role(None));
    }

    /// Resources of a task as a bag, checked like the master checks them.
    pub(super) fn task_bag(
        &self,
        fw: usize,
        alloc_role: Option<&str>,
        res: &[mesos::Resource],
    ) -> Result<Bag, String> {
        let bag = Bag::from_resources(res).map_err(|BagError::Invalid(e)| e)?;
        if self.frameworks[fw].multi_role {
            for (k, _) in bag.pools() {
                if k.allocation_role.is_empty() {
                    return Err(format!("resource {} has no allocation_info", k.name));
                }
                if Some(k.allocation_role.as_str()) != alloc_role {
                    return Err(format!(
                        "resource {} is allocated to role {} but the offer to {}",
                        k.name,
                        k.allocation_role,
                        alloc_role.unwrap_or("(none)")
                    ));
                }
            }
            Ok(bag)
        } else {
            Ok(bag.with_allocation_role(None))
        }
    }

    pub(super) fn validate_task_common(
        &self,
        fw: usize,
        agent: usize,
        t: &TaskInfo,
    ) -> Result<(), String> {
        let id = &t.task_id.value;
        // validation.cpp, task::internal::validateTaskID: the error as is.
        validate_id(id)?;
        if t.name.is_empty() {
            return Err("Task has no name".into());
        }
        if t.agent_id.value != self.agents[agent].id {
            return Err(format!(
                "Task uses agent {} but the offer is from {}",
                t.agent_id.value, self.agents[agent].id
            ));
        }
        if let Some(&slot) = self.frameworks[fw].tasks.get(id)
            && self.tasks[slot]
                .as_ref()
                .is_some_and(|x| !terminal(x.state))
        {
            return Err(format!("Task has duplicate ID: {id}"));
        }
        if let Some(c) = &t.container {
            validate_container(c)?;
        }
        if let Some(h) = &t.health_check {
            validate_health_check(h)?;
        }
        // validation.cpp, task::internal::validateKillPolicy.
        if t.kill_policy
            .as_ref()
            .and_then(|k| k.grace_period.as_ref())
            .is_some_and(|g| g.nanoseconds < 0)
        {
            return Err("Task's 'kill_policy.grace_period' must be non-negative".into());
        }
        Ok(())
    }

    /// The executor of a live task of `fw` on `agent` with this id, as it
    /// was launched (Mesos's `Slave::executors`); `None` once its last task
    /// ended (the simulated executor exits with it).
    pub(super) fn running_executor(
        &self,
        fw: usize,
        agent: usize,
        id: &str,
    ) -> Option<&mesos::ExecutorInfo> {
        let info = self.executors.get(&(fw, agent, id.to_owned()))?;
        let live = self.frameworks[fw].tasks.values().any(|&slot| {
            self.tasks[slot].as_ref().is_some_and(|t| {
                t.agent == agent && !terminal(t.state) && t.executor_id.as_deref() == Some(id)
            })
        });
        live.then_some(info)
    }

    /// validation.cpp, `executor::internal::validate`: the ExecutorInfo of
    /// a LAUNCH or LAUNCH_GROUP on its own (`executor::validate`: type,
    /// id, shutdown grace period), its FrameworkID (which the master fills
    /// in when it is missing, as `Master::accept` does) and, when an
    /// executor with its id already runs on the agent for the framework,
    /// that it is the same ExecutorInfo (`validateCompatibleExecutorInfo`).
    pub(super) fn validate_executor(
        &self,
        fw: usize,
        agent: usize,
        e: &mut mesos::ExecutorInfo,
    ) -> Result<(), String> {
        use mesos::executor_info::Type;
        match e.r#type.map(Type::try_from) {
            Some(Ok(Type::Default)) => {
                if e.command.is_some() {
                    return Err(
                        "'ExecutorInfo.command' must not be set for 'DEFAULT' executor".into(),
                    );
                }
                if let Some(c) = &e.container {
                    if c.r#type != mesos::container_info::Type::Mesos as i32 {
                        return Err(
                            "'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor"
                                .into(),
                        );
                    }
                    if c.mesos.as_ref().is_some_and(|m| m.image.is_some()) {
                        return Err("'ExecutorInfo.container.mesos.image' must not be set for 'DEFAULT' executor".into());
                    }
                }
            }
            Some(Ok(Type::Custom)) if e.command.is_none() => {
                return Err("'ExecutorInfo.command' must be set for 'CUSTOM' executor".into());
            }
            _ => {}
        }
        validate_id(&e.executor_id.value)?;
        if e.shutdown_grace_period
            .as_ref()
            .is_some_and(|g| g.nanoseconds < 0)
        {
            return Err("ExecutorInfo's 'shutdown_grace_period' must be non-negative".into());
        }
        let fid = &self.frameworks[fw].id;
        match &e.framework_id {
            None => {
                e.framework_id = Some(FrameworkId { value: fid.clone() });
            }
            Some(got) if got.value != *fid => {
                return Err(format!(
                    "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {fid})",
                    got.value
                ));
            }
            Some(_) => {}
        }
        if let Some(existing) = self.running_executor(fw, agent, &e.executor_id.value)
            && existing != e
        {
            return Err(format!(
                "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID.\n\
                 ------------------------------------------------------------\n\
                 Existing ExecutorInfo:\n{existing:?}\n\
                 ------------------------------------------------------------\n\
                 ExecutorInfo:\n{e:?}\n\
                 ------------------------------------------------------------\n"
            ));
        }
        Ok(())
    }

    /// Remember the executor a task was launched with, unless one with its
    /// id already runs there.
    pub(super) fn note_executor(&mut self, fw: usize, agent: usize, e: mesos::ExecutorInfo) {
        if self
            .running_executor(fw, agent, &e.executor_id.value)
            .is_none()
        {
            self.executors
                .insert((fw, agent, e.executor_id.value.clone()), e);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn launch(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        alloc_role: Option<&str>,
        remaining: &mut Bag,
        t: TaskInfo,
        exec: Option<String>,
    ) {
        let mut t = t;
        let mut check = self.validate_task_common(fw, agent, &t);
        if check.is_ok() && (t.command.is_some() == t.executor.is_some()) {
            check = Err("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".into());
        }
        // validation.cpp, task::internal::validateExecutor.
        if check.is_ok()
            && let Some(e) = t.executor.as_mut()
        {
            check = self.validate_executor(fw, agent, e);
            if check.is_ok()
                && e.r#type
                    .is_some_and(|ty| ty != mesos::executor_info::Type::Custom as i32)
            {
                check = Err("'ExecutorInfo.type' must be 'CUSTOM'".into());
            }
            if check.is_ok() && e.command.is_none() {
                check = Err("'ExecutorInfo.command' must be set".into());
            }
        }
        let mut need = Bag::new();
        if check.is_ok() {
            match self.task_bag(fw, alloc_role, &t.resources) {
                Ok(b) => need = b,
                Err(e) => check = Err(e),
            }
        }
        // An executor that already runs there holds its resources already.
        if check.is_ok()
            && let Some(e) = &t.executor
            && self
                .running_executor(fw, agent, &e.executor_id.value)
                .is_none()
        {
            match self.task_bag(fw, alloc_role, &e.resources) {
                Ok(b) => need.add(&b),
                Err(e) => check = Err(e),
            }
        }
        if check.is_ok() && need.is_empty() {
            check = Err("Task uses no resources".into());
        }
        if check.is_ok() && !remaining.contains(&need) {
            // validation.cpp, task::internal::validateResources.
            check = Err(format!(
                "Total resources {} required by task and its executor is more than available {}",
                need.describe(),
                remaining.describe()
            ));
        }
        if let Err(e) = check {
            self.error_task(now, fw, agent, &t, &e);
            return;
        }
        remaining.subtract(&need);
        let exec = exec.or_else(|| t.executor.as_ref().map(|e| e.executor_id.value.clone()));
        self.note_task_call(now, "LAUNCH", &t.task_id.value);
        self.start_task(now, fw, agent, &t, need, exec);
        if let Some(e) = t.executor.take() {
            self.note_executor(fw, agent, e);
        }
    }

    /// TASK_ERROR for an invalid task (no uuid: the master generates it).
    pub(super) fn error_task(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        t: &TaskInfo,
        reason: &str,
    ) {
        self.violation("ACCEPT", format!("task {}: {reason}", t.task_id.value));
        self.counters.tasks_refused += 1;
        let status = self.master_status(
            now,
            &t.task_id.value,
            Some(&self.agents[agent].id.clone()),
            TaskState::TaskError,
            task_status::Reason::TaskInvalid,
            reason,
        );
        self.send_update_now(now, fw, status);
    }

    /// TASK_DROPPED (TASK_LOST for frameworks that are not partition aware)
    /// for a launch whose offers were invalid, with master.cpp's message
    /// (`Master::_accept`: "Task launched with invalid offers: ...").
    pub(super) fn drop_task(&mut self, now: Instant, fw: usize, t: &TaskInfo, reason: &str) {
        let reason = &format!("Task launched with invalid offers: {reason}");
        self.counters.tasks_refused += 1;
        let state = if self.frameworks[fw].partition_aware {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        let status = self.master_status(
            now,
            &t.task_id.value,
            Some(&t.agent_id.value),
            state,
            task_status::Reason::InvalidOffers,
            reason,
        );
        self.send_update_now(now, fw, status);
    }

    pub(super) fn master_status(
        &self,
        now: Instant,
        task_id: &str,
        agent_id: Option<&str>,
        state: TaskState,
        reason: task_status::Reason,
        message: &str,
    ) -> TaskStatus {
        TaskStatus {
            task_id: TaskId {
                value: task_id.into(),
            },
            state: state as i32,
            message: Some(message.into()),
            source: Some(task_status::Source::Master as i32),
            reason: Some(reason as i32),
            agent_id: agent_id.map(|a| AgentId { value: a.into() }),
            timestamp: Some(self.timestamp(now)),
            ..TaskStatus::default()
        }
    }

    pub(super) fn send_update_now(&mut self, now: Instant, fw: usize, status: TaskStatus) {
        self.counters.updates_sent += 1;
        self.send(now, fw, update_event(status));
    }

    pub(super) fn start_task(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        t: &TaskInfo,
        bag: Bag,
        exec: Option<String>,
    ) {
        let command = t
            .command
            .as_ref()
            .or_else(|| t.executor.as_ref().and_then(|e| e.command.as_ref()))
            .and_then(|c| c.value.clone())
            .unwrap_or_default();
        let behaviour = Behaviour::parse(&command);
        self.used[agent].add(&bag);
        self.avail_version[agent] += 1;
        self.counters.tasks_launched += 1;
        let task = Task {
            framework: fw,
            id: t.task_id.value.clone(),
            agent,
            executor_id: exec,
            resources: bag,
            state: TaskState::TaskStaging,
            healthy: None,
            has_health_check: t.health_check.is_some(),
            behaviour,
            pending: VecDeque::new(),
            retry_backoff: self.cfg.status_retry_initial,
            update_gen: 0,
            step_gen: 0,
            last_status: TaskStatus {
                task_id: t.task_id.clone(),
                state: TaskState::TaskStaging as i32,
                agent_id: Some(t.agent_id.clone()),
                ..TaskStatus::default()
            },
            kill_grace: t
                .kill_policy
                .as_ref()
                .and_then(|k| k.grace_period.as_ref())
                .map(|g| Duration::from_nanos(u64::try_from(g.nanoseconds).unwrap_or(0))),
            kill: None,
            running: RunningSpan::default(),
            check: t.check.as_ref().and_then(|c| {
                let secs = |v: Option<f64>, default: f64| {
                    Duration::from_secs_f64(
                        v.filter(|s| s.is_finite() && *s >= 0.0).unwrap_or(default),
                    )
                };
                Some(SimCheck {
                    kind: c.r#type?,
                    delay: secs(c.delay_seconds, 15.0),
                    interval: secs(c.interval_seconds, 10.0).max(Duration::from_millis(10)),
                })
            }),
            check_result: None,
            running_at: None,
            check_gen: 0,
        };
        let slot = self.insert_task(task);
        if let Some(old) = self.frameworks[fw]
            .tasks
            .insert(t.task_id.value.clone(), slot)
        {
            // A terminal task with the same id was still waiting for its
            // acknowledgement; the new one replaces it.
            self.free_task_slot(old);
        }
        self.arm_step(now, slot);
        self.take_real(fw, agent, t);
    }

    pub(super) fn insert_task(&mut self, task: Task) -> usize {
        match self.free_tasks.pop() {
            Some(slot) => {
                self.tasks[slot] = Some(task);
                slot
            }
            None => {
                self.tasks.push(Some(task));
                self.tasks.len() - 1
            }
        }
    }

    pub(super) fn free_task_slot(&mut self, slot: usize) {
        if let Some(t) = self.tasks[slot].take() {
            if !terminal(t.state) {
                self.used[t.agent].subtract_saturating(&t.resources);
                self.avail_version[t.agent] += 1;
            }
            self.free_tasks.push(slot);
        }
    }

    /// Forget a task entirely (framework removed).
    pub(super) fn release_task(&mut self, slot: usize) {
        self.free_task_slot(slot);
    }
}

pub(super) fn launched_tasks(op: &offer::Operation) -> Vec<&TaskInfo> {
    let mut v: Vec<&TaskInfo> = Vec::new();
    if let Some(l) = &op.launch {
        v.extend(l.task_infos.iter());
    }
    if let Some(g) = &op.launch_group {
        v.extend(g.task_group.tasks.iter());
    }
    v
}

pub(super) fn validate_container(c: &mesos::ContainerInfo) -> Result<(), String> {
    use mesos::container_info::Type;
    match Type::try_from(c.r#type) {
        Ok(Type::Docker) => {
            let d = c
                .docker
                .as_ref()
                .ok_or("DOCKER container without 'docker'")?;
            if d.image.is_empty() {
                return Err("DOCKER container without an image".into());
            }
        }
        Ok(Type::Mesos) => {
            if let Some(m) = &c.mesos
                && let Some(img) = &m.image
                && img.docker.as_ref().is_some_and(|d| d.name.is_empty())
            {
                return Err("MESOS container with an empty docker image name".into());
            }
        }
        Err(_) => return Err(format!("unknown container type {}", c.r#type)),
    }
    for v in &c.volumes {
        if v.container_path.is_empty() {
            return Err("volume without container_path".into());
        }
    }
    Ok(())
}

pub(super) fn validate_health_check(h: &mesos::HealthCheck) -> Result<(), String> {
    use mesos::health_check::Type;
    match h.r#type.map(Type::try_from) {
        Some(Ok(Type::Http)) if h.http.is_none() => Err("HTTP health check without 'http'".into()),
        Some(Ok(Type::Tcp)) if h.tcp.is_none() => Err("TCP health check without 'tcp'".into()),
        Some(Ok(Type::Command)) if h.command.is_none() => {
            Err("COMMAND health check without 'command'".into())
        }
        None | Some(Ok(Type::Unknown)) | Some(Err(_)) => Err("health check without a type".into()),
        _ => Ok(()),
    }
}

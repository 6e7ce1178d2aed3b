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
        // What the ACCEPT left unused is refused like a DECLINE's offer.
        let refuse = Self::refuse_for(a.filters.as_ref());
        self.set_filter(now, fw, agent, refuse, std::sync::Arc::new(remaining));
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
                let mut tasks = group.task_group.tasks;
                if tasks.is_empty() {
                    self.violation("ACCEPT", "LAUNCH_GROUP with an empty task group");
                }
                // master.cpp `accept`: a task of the group without an
                // executor gets the group's (so the checks below see it).
                for t in &mut tasks {
                    if t.executor.is_none() {
                        t.executor = Some(exec.clone());
                    }
                }
                let need = self.validate_group(fw, agent, alloc_role, remaining, &mut exec, &tasks);
                let need = match need {
                    Ok(n) => n,
                    Err(e) => {
                        // Every task of the group: TASK_ERROR,
                        // REASON_TASK_GROUP_INVALID.
                        for t in tasks {
                            self.error_task_with(
                                now,
                                fw,
                                agent,
                                &t,
                                &e,
                                task_status::Reason::TaskGroupInvalid,
                            );
                        }
                        return;
                    }
                };
                remaining.subtract(&need);
                let exec_id = exec.executor_id.value.clone();
                let group_no = self.next_group;
                self.next_group += 1;
                for t in tasks {
                    let bag = self
                        .task_bag(fw, alloc_role, &t.resources)
                        .unwrap_or_default();
                    self.note_task_call(now, "LAUNCH", &t.task_id.value);
                    self.start_task(now, fw, agent, &t, bag, Some(exec_id.clone()));
                    if let Some(&slot) = self.frameworks[fw].tasks.get(&t.task_id.value)
                        && let Some(task) = self.tasks[slot].as_mut()
                    {
                        task.group = Some(group_no);
                    }
                }
                let exec_bag = self
                    .task_bag(fw, alloc_role, &exec.resources)
                    .unwrap_or_default();
                self.note_executor(fw, agent, exec, exec_bag);
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

    /// validation.cpp `task::group::validate`, in its order: every task
    /// (`group::internal::validateTask`: the task checks, then the
    /// group's own), then the executor (`validateExecutor`: the
    /// executor's own checks, its type, no Docker, the same ExecutorInfo
    /// in every task, Mesos's minimum cpus and memory and some disk, no
    /// overlapping ports, and all of it within what the offers still
    /// hold). The resources the group takes, or the message every task's
    /// TASK_ERROR carries.
    pub(super) fn validate_group(
        &self,
        fw: usize,
        agent: usize,
        alloc_role: Option<&str>,
        remaining: &Bag,
        exec: &mut mesos::ExecutorInfo,
        tasks: &[TaskInfo],
    ) -> Result<Bag, String> {
        use mesos::health_check::Type as Hc;
        let mut need = Bag::new();
        let mut ids: BTreeSet<&str> = BTreeSet::new();
        for t in tasks {
            let id = &t.task_id.value;
            let invalid = |e: String| format!("Task '{id}' is invalid: {e}");
            self.validate_task_common(fw, agent, t).map_err(invalid)?;
            if !ids.insert(id) {
                // Mesos checks ids against the framework's tasks only; two
                // of one group would be one task twice (see ARCHITECTURE).
                return Err(invalid(format!("Task has duplicate ID: {id}")));
            }
            match self.task_bag(fw, alloc_role, &t.resources) {
                Ok(b) if b.is_empty() => return Err(invalid("Task uses no resources".into())),
                Ok(b) => need.add(&b),
                Err(e) => return Err(invalid(e)),
            }
            if t.executor.is_none() {
                return Err(invalid("'TaskInfo.executor' must be set".into()));
            }
            if let Some(c) = &t.container {
                let checked_on_own_network = t.health_check.as_ref().is_some_and(|h| {
                    matches!(h.r#type.map(Hc::try_from), Some(Ok(Hc::Http | Hc::Tcp)))
                });
                if !c.network_infos.is_empty() && checked_on_own_network {
                    return Err(invalid(
                        "HTTP and TCP health checks are not supported for nested containers not joining parent's network".into(),
                    ));
                }
                if c.r#type == mesos::container_info::Type::Docker as i32 {
                    return Err(invalid(
                        "Docker ContainerInfo is not supported on the task".into(),
                    ));
                }
            }
        }
        self.validate_executor(fw, agent, exec)?;
        use mesos::executor_info::Type;
        match exec.r#type.map(Type::try_from) {
            None => return Err("'ExecutorInfo.type' must be set".into()),
            Some(Ok(Type::Unknown) | Err(_)) => return Err("Unknown executor type".into()),
            _ => {}
        }
        if exec
            .container
            .as_ref()
            .is_some_and(|c| c.r#type == mesos::container_info::Type::Docker as i32)
        {
            return Err("Docker ContainerInfo is not supported on the executor".into());
        }
        let eid = exec.executor_id.value.clone();
        for t in tasks {
            // A task's executor was filled in without a framework id, the
            // group's has one now: compare without it.
            let differs = t.executor.as_ref().is_some_and(|e| {
                let mut e = e.clone();
                if e.framework_id.is_none() {
                    e.framework_id = exec.framework_id.clone();
                }
                e != *exec
            });
            if differs {
                return Err(format!(
                    "The `ExecutorInfo` of task '{}' is different from executor '{eid}'",
                    t.task_id.value
                ));
            }
        }
        let exec_bag = self.task_bag(fw, alloc_role, &exec.resources)?;
        // validation.cpp: MIN_CPUS (0.01) and MIN_MEM (32 MB).
        let cpus = exec_bag.scalar_total("cpus");
        if cpus < 10 {
            return Err(format!(
                "Executor '{eid}' uses less CPUs ({}) than the minimum required (0.01)",
                if cpus == 0 {
                    "None".to_owned()
                } else {
                    crate::resources::from_milli(cpus).to_string()
                }
            ));
        }
        let mem = exec_bag.scalar_total("mem");
        if mem < 32_000 {
            return Err(format!(
                "Executor '{eid}' uses less memory ({}) than the minimum required (32MB)",
                if mem == 0 {
                    "None".to_owned()
                } else {
                    format!("{}MB", crate::resources::from_milli(mem))
                }
            ));
        }
        if exec_bag.scalar_total("disk") == 0 {
            return Err(format!("Executor '{eid}' uses no disk"));
        }
        // detectOverlappingSetAndRangeResources: a port of two tasks (or a
        // task and the executor).
        let mut seen: Vec<(u64, u64)> = Vec::new();
        for res in tasks
            .iter()
            .map(|t| &t.resources)
            .chain(std::iter::once(&exec.resources))
        {
            let mut mine: Vec<(u64, u64)> = Vec::new();
            for r in res.iter().filter(|r| r.ranges.is_some()) {
                for x in &r.ranges.as_ref().expect("checked").range {
                    mine.push((x.begin, x.end));
                }
            }
            for &(b, e) in &mine {
                if seen.iter().any(|&(sb, se)| b <= se && sb <= e) {
                    return Err(
                        "There are overlapping resources in the task group's task resources and/or executor resources".into(),
                    );
                }
            }
            seen.extend(mine);
        }
        // An executor already running there holds its resources already.
        if self.running_executor(fw, agent, &eid).is_none() {
            need.add(&exec_bag);
        }
        if !remaining.contains(&need) {
            return Err(format!(
                "Total resources {} required by task group and its executor are more than available {}",
                need.describe(),
                remaining.describe()
            ));
        }
        Ok(need)
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

    /// The executor of `fw` on `agent` with this id, as it was launched
    /// (Mesos's `Slave::executors`), while it runs: while it has a live
    /// task, or until shut down when it stays up idle
    /// ([`SimConfig::idle_executors_stay`]).
    pub(super) fn running_executor(
        &self,
        fw: usize,
        agent: usize,
        id: &str,
    ) -> Option<&mesos::ExecutorInfo> {
        let running = self.executors.get(&(fw, agent, id.to_owned()))?;
        let info = &running.info;
        if running.stays {
            return Some(info);
        }
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
    /// id already runs there, and hold its resources (`bag`, checked
    /// against the offer with the task's) on the agent while it runs.
    pub(super) fn note_executor(
        &mut self,
        fw: usize,
        agent: usize,
        e: mesos::ExecutorInfo,
        bag: Bag,
    ) {
        if self
            .running_executor(fw, agent, &e.executor_id.value)
            .is_none()
        {
            self.used[agent].add(&bag);
            self.avail_version[agent] += 1;
            let key = (fw, agent, e.executor_id.value.clone());
            let stays = self.cfg.idle_executors_stay
                && e.r#type == Some(mesos::executor_info::Type::Custom as i32);
            if let Some(stale) = self.executors.insert(
                key,
                RunningExecutor {
                    info: e,
                    bag,
                    stays,
                },
            ) {
                // Its last task ended without `executor_ended` (cannot
                // happen; keep `used` true anyway).
                self.used[agent].subtract_saturating(&stale.bag);
            }
        }
    }

    /// After a task of executor `id` ended: if it was the executor's last
    /// live task, the simulated executor exits (as Mesos's default
    /// executor does when its last task group is done): its resources are
    /// released and the framework gets FAILURE with the executor's id
    /// (slave.cpp `executorTerminated` → master.cpp `exitedExecutor`;
    /// never for command executors, which the master does not know).
    pub(super) fn executor_task_ended(&mut self, now: Instant, fw: usize, agent: usize, id: &str) {
        if self.running_executor(fw, agent, id).is_some() {
            return;
        }
        self.executor_exit(now, fw, agent, id);
    }

    /// The executor `id` exits: its resources are released and the
    /// framework gets FAILURE with its id (master.cpp `exitedExecutor`).
    pub(super) fn executor_exit(&mut self, now: Instant, fw: usize, agent: usize, id: &str) {
        let Some(gone) = self.executors.remove(&(fw, agent, id.to_owned())) else {
            return;
        };
        self.used[agent].subtract_saturating(&gone.bag);
        self.avail_version[agent] += 1;
        self.counters.executors_exited += 1;
        let ev = Event {
            r#type: Some(event::Type::Failure as i32),
            failure: Some(event::Failure {
                agent_id: Some(AgentId {
                    value: self.agents[agent].id.clone(),
                }),
                executor_id: Some(ExecutorId {
                    value: id.to_owned(),
                }),
                status: Some(0),
            }),
            ..Event::default()
        };
        self.send(now, fw, ev);
    }

    /// Forget the executors `drop` names, releasing their resources (no
    /// FAILURE: the framework or the agent is gone).
    pub(super) fn forget_executors(&mut self, drop: impl Fn(usize, usize) -> bool) {
        let keys: Vec<(usize, usize, String)> = self
            .executors
            .keys()
            .filter(|(f, a, _)| drop(*f, *a))
            .cloned()
            .collect();
        for k in keys {
            if let Some(gone) = self.executors.remove(&k) {
                self.used[k.1].subtract_saturating(&gone.bag);
                self.avail_version[k.1] += 1;
            }
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
        let mut exec_bag = Bag::new();
        if check.is_ok()
            && let Some(e) = &t.executor
            && self
                .running_executor(fw, agent, &e.executor_id.value)
                .is_none()
        {
            match self.task_bag(fw, alloc_role, &e.resources) {
                Ok(b) => exec_bag = b,
                Err(e) => check = Err(e),
            }
        }
        // The task's and its executor's together (a copy only when there
        // is an executor to add: most tasks have none).
        let with_exec;
        let total = if exec_bag.pools().next().is_none() {
            &need
        } else {
            let mut b = need.clone();
            b.add(&exec_bag);
            with_exec = b;
            &with_exec
        };
        if check.is_ok() && total.is_empty() {
            check = Err("Task uses no resources".into());
        }
        if check.is_ok() && !remaining.contains(total) {
            // validation.cpp, task::internal::validateResources.
            check = Err(format!(
                "Total resources {} required by task and its executor is more than available {}",
                total.describe(),
                remaining.describe()
            ));
        }
        if let Err(e) = check {
            self.error_task(now, fw, agent, &t, &e);
            return;
        }
        remaining.subtract(total);
        let exec = exec.or_else(|| t.executor.as_ref().map(|e| e.executor_id.value.clone()));
        self.note_task_call(now, "LAUNCH", &t.task_id.value);
        if let Some(e) = t.executor.clone() {
            self.note_executor(fw, agent, e, exec_bag);
        }
        self.start_task(now, fw, agent, &t, need, exec);
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
        self.error_task_with(now, fw, agent, t, reason, task_status::Reason::TaskInvalid);
    }

    /// TASK_ERROR for an invalid task with the master's `why`
    /// (REASON_TASK_INVALID, or REASON_TASK_GROUP_INVALID for a group).
    pub(super) fn error_task_with(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        t: &TaskInfo,
        reason: &str,
        why: task_status::Reason,
    ) {
        self.violation("ACCEPT", format!("task {}: {reason}", t.task_id.value));
        self.counters.tasks_refused += 1;
        let status = self.master_status(
            now,
            &t.task_id.value,
            Some(&self.agents[agent].id.clone()),
            TaskState::TaskError,
            why,
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
        let bag = self.intern_bag(bag);
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
            group: None,
            killing_group: false,
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

//! Placement: the fair turn order across apps, each app's walk over the
//! event's agents in its strategy's order, and the fit check with the
//! reason for every refusal.
//!
//! Owns the per-app cursors of one event. Must never make a decision that
//! depends on hash-map iteration order, and never walk all agents once per
//! instance: a cursor only moves forward, because within one event
//! resources only shrink and instance counts only grow (the exceptions,
//! spread levels and GROUP_BY balance, have their own bounded passes).

use std::time::Instant;

use super::constraint::{AgentAttrs, Counting, IMPLICIT, Sel};
use super::event::{NONE, Seg};
use super::symbols::Sym;
use super::{AgentIx, AppIx, Matcher, Near, Plan, REASONS, Reason, Req, filter_bit};
use crate::spec::StrategyKind;

/// Most launches an accept makes room for when opened
/// ([`Matcher::launches_hint`]); more grow the `Vec` as usual.
const LAUNCHES_HINT_MAX: u64 = 64;

/// Rows of one role grouped by one attribute's value (for GROUP_BY).
#[derive(Debug)]
pub(super) struct GroupIndex {
    sel: Sel,
    /// Agents without the attribute form a group (the soft zone spread).
    soft: bool,
    role: Sym,
    /// Rows, by group then best-fit order.
    rows: Vec<u32>,
    /// `(key, start, end)` into `rows`.
    groups: Vec<(u64, u32, u32)>,
}

/// One app's walk through one event.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub app: AppIx,
    pub left: u32,
    seg: Option<Seg>,
    gpu_app: bool,
    spread: bool,
    mux: bool,
    /// Spread without a group walk: passes at rising instance-count
    /// levels over all agents.
    levelled: bool,
    pos: u32,
    pref: (u32, u32),
    level: u32,
    pass: u32,
    pass_placed: bool,
    skip_min: u32,
    last_counted: u32,
    best: Option<(u32, u64)>,
    best_fails: u32,
    done: bool,
    /// GROUP_BY: index into the event's group indexes, or NONE.
    gindex: u32,
    /// GROUP_BY: start of this run's cursors in the event's `gcur`.
    gcur: u32,
    /// Its shape's cursor in the event's `classes` ([`Class`]), or NONE.
    class: u32,
}

/// What decides whether one instance fits an agent's resources, shared by
/// every app that asks the same (`Run::class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Shape {
    role: Sym,
    gpu_app: bool,
    cpus: i64,
    mem: i64,
    disk: i64,
    gpus: i64,
    ports: u32,
    avoids_maintenance: bool,
    stays_home: bool,
}

/// The rows of a seg that no instance of one [`Shape`] fits, found once
/// for all the runs of that shape: within an event resources only shrink,
/// so a row refused for its resources stays refused, and each run's
/// cursor jumps over them (counting each as refused for the reason found)
/// instead of checking them again. Runs that walk their seg in best-fit
/// order from its start share one (no spread levels, GROUP_BY walk, MUX
/// preference list, shared executor, fixed ports or named scalars).
#[derive(Debug, Clone)]
pub(super) struct Class {
    shape: Shape,
    seg: Seg,
    walk: Walk,
    /// First position (in the shape's walk) not yet found refused.
    pos: u32,
    /// Per position before `pos`: the refusal reason (a [`Reason`]).
    reasons: Vec<u8>,
}

/// The rows a [`Class`] walks, in the order its runs walk them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Walk {
    /// The shape's role's seg in best-fit order ([`seg_row`], not
    /// spread).
    Seg,
    /// Group `k` of the event's group index `gi`, best fit first (a
    /// GROUP_BY run that is not a spread).
    Group { gi: u32, k: u32 },
}

/// What a [`Class`] is found by: its shape and its walk.
pub(super) type ClassKey = (Shape, Walk);

/// A GROUP_BY run's walk through one group. Spread runs walk each group
/// in passes at rising instance-count levels, as levelled runs walk all
/// agents, so instances spread over the group's agents too; other runs
/// take the group's first row that fits.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct GroupCursor {
    pos: u32,
    level: u32,
    placed: bool,
    /// Lowest count of a row skipped in this pass (NONE: none).
    skip_min: u32,
    /// Past the last row with nothing left to try.
    done: bool,
    /// The shared cursor of this group's walk for the run's shape
    /// ([`Class`]), or NONE (spread runs, or a shape that cannot share).
    class: u32,
}

#[derive(Debug, Clone, Copy)]
enum Verdict {
    Fit,
    /// Fits, but the app's spread level is below this count.
    Skip(u32),
    /// `first`: reason code (a [`Reason`], or 8 + filter index).
    Refuse {
        mask: u64,
        first: u32,
    },
}

impl Matcher {
    pub(super) fn agent_attrs(&self, agent: AgentIx) -> AgentAttrs<'_> {
        let i = agent.0 as usize;
        AgentAttrs {
            hostname: self.agents.hostname[i],
            region: self.agents.region[i],
            zone: self.agents.zone[i],
            attrs: &self.agents.attrs[i],
        }
    }

    fn instances_on(&self, app: AppIx, agent: AgentIx) -> u32 {
        let live = self.apps[app.0 as usize]
            .by_agent
            .get(&agent)
            .copied()
            .unwrap_or(0);
        live + self.ev.placed.get(&(app.0, agent.0)).copied().unwrap_or(0)
    }

    /// Rebuilds an app's group counts from its live tasks if stale.
    fn refresh_groups(&mut self, app: AppIx) {
        let a = &self.apps[app.0 as usize];
        if a.req.is_none() || (!a.groups_stale && a.groups_epoch == self.attr_epoch) {
            return;
        }
        let mut groups = std::mem::take(&mut self.apps[app.0 as usize].groups);
        let a = &self.apps[app.0 as usize];
        let Some(req) = a.req.as_ref() else { return };
        for (k, (f, c)) in req.c.counting.iter().enumerate() {
            let Some(g) = groups.get_mut(k) else { continue };
            g.clear();
            if *f == IMPLICIT && !self.zones_seen {
                // No agent has a zone: the default zone spread is idle
                // and its counts are not kept.
                continue;
            }
            for (agent, n) in &a.by_agent {
                if let Some(key) = c.key(agent.0, self.agent_attrs(*agent)) {
                    *g.entry(key).or_insert(0) += n;
                }
            }
        }
        let a = &mut self.apps[app.0 as usize];
        a.groups = groups;
        a.groups_stale = false;
        a.groups_epoch = self.attr_epoch;
    }

    /// One run per wanted app, in this event's turn order.
    pub(super) fn start_runs(&mut self, now: Instant, want: &[(&str, u32)]) {
        let epoch = self.ev.epoch;
        let total_rows = self.ev.rows.len() as u64;
        for (name, n) in want {
            if *n == 0 {
                continue;
            }
            let Some(ix) = self.app_by_name.get(*name).copied() else {
                continue;
            };
            let app = &mut self.apps[ix.0 as usize];
            let Some(req) = app.req.as_ref() else {
                continue;
            };
            if app.run_epoch == epoch {
                let r = &mut self.ev.runs[app.run as usize];
                r.left = r.left.saturating_add(*n);
                continue;
            }
            app.run_epoch = epoch;
            app.run = self.ev.runs.len() as u32;
            let seg = self.ev.seg(req.role);
            let role_rows = seg.map_or(0, |s| u64::from(s.end - s.start));
            let why = &mut app.why;
            if total_rows > 0 {
                why.last_offer = Some(now);
            }
            let other = total_rows - role_rows;
            why.considered += other;
            why.refused[Reason::Role as usize] += other;
            let strategy = req.c.strategy;
            self.ev.runs.push(Run {
                app: ix,
                left: *n,
                seg,
                gpu_app: req.gpus > 0,
                spread: strategy == StrategyKind::Spread,
                mux: strategy == StrategyKind::Mux,
                // Until `build_groups` gives it a group walk.
                levelled: strategy == StrategyKind::Spread,
                pos: 0,
                pref: (0, 0),
                level: 0,
                pass: 0,
                pass_placed: false,
                skip_min: NONE,
                last_counted: NONE,
                best: None,
                best_fails: u32::MAX,
                done: false,
                gindex: NONE,
                gcur: 0,
                class: NONE,
            });
        }
        // Turn order: by arena index, starting one app further each event.
        let turn = self.turn;
        self.turn = self.turn.wrapping_add(1);
        let napps = self.apps.len().max(1) as u32;
        let start = turn % napps;
        self.ev
            .runs
            .sort_unstable_by_key(|r| (r.app.0 + napps - start) % napps);
        for i in 0..self.ev.runs.len() {
            let app = self.ev.runs[i].app;
            self.apps[app.0 as usize].run = i as u32;
            self.refresh_groups(app);
            if self.ev.runs[i].mux {
                self.build_pref(i);
            }
            self.build_groups(i);
            self.join_class(i);
        }
    }

    /// Gives a run its shape's shared cursor when its walk allows one:
    /// one for its seg, or (a GROUP_BY run that is not a spread) one per
    /// group of its group index.
    fn join_class(&mut self, i: usize) {
        let run = &self.ev.runs[i];
        let Some(seg) = run.seg else { return };
        let Some(req) = self.apps[run.app.0 as usize].req.as_deref() else {
            return;
        };
        let grouped = run.gindex != NONE;
        if !self.share_cursors
            || run.levelled
            || (grouped && run.spread)
            || run.pref.0 != run.pref.1
            || req.exec_share.is_some()
            || req.has_fixed_ports
            || !req.named.is_empty()
        {
            return;
        }
        let shape = Shape {
            role: seg.role,
            gpu_app: run.gpu_app,
            cpus: req.cpus,
            mem: req.mem,
            disk: req.disk,
            gpus: req.gpus,
            ports: req.ports.len() as u32,
            avoids_maintenance: req.avoids_maintenance,
            stays_home: req.stays_home,
        };
        if !grouped {
            let c = self.class_for((shape, Walk::Seg), seg);
            self.ev.runs[i].class = c;
            return;
        }
        let (gi, gcur) = (run.gindex, run.gcur as usize);
        let ngroups = self.ev.groups[gi as usize].groups.len();
        for k in 0..ngroups {
            let c = self.class_for((shape, Walk::Group { gi, k: k as u32 }), seg);
            self.ev.gcur[gcur + k].class = c;
        }
    }

    /// The event's class of `key`, made on first use.
    fn class_for(&mut self, key: ClassKey, seg: Seg) -> u32 {
        let ev = &mut self.ev;
        if let Some(c) = ev.class_of.get(&key) {
            return *c;
        }
        let c = ev.nclasses;
        ev.nclasses += 1;
        let class = Class {
            shape: key.0,
            seg,
            walk: key.1,
            pos: 0,
            reasons: Vec::new(),
        };
        match ev.classes.get_mut(c as usize) {
            Some(old) => {
                // Reused with its buffer.
                let mut reasons = std::mem::take(&mut old.reasons);
                reasons.clear();
                *old = Class { reasons, ..class };
            }
            None => ev.classes.push(class),
        }
        ev.class_of.insert(key, c);
        c
    }

    /// The row at position `pos` of class `c`'s walk.
    fn class_row(&self, c: usize, pos: u32) -> Option<u32> {
        let class = &self.ev.classes[c];
        match class.walk {
            Walk::Seg => seg_row(&self.ev.order, class.seg, class.shape.gpu_app, false, pos),
            Walk::Group { gi, k } => {
                let g = &self.ev.groups[gi as usize];
                let (_, start, end) = g.groups[k as usize];
                (pos < end - start).then(|| g.rows[(start + pos) as usize])
            }
        }
    }

    /// The first reason one instance of `shape` does not fit `row`'s
    /// resources, checked as [`Matcher::evaluate`] checks them first.
    fn shape_refusal(&self, shape: &Shape, row: u32) -> Option<Reason> {
        let ev = &self.ev;
        let r = row as usize;
        if shape.avoids_maintenance && !self.draining.is_empty() {
            let agent = ev.agent_of_row(row);
            if self.agents.id[agent.0 as usize]
                .as_deref()
                .is_some_and(|id| self.draining.contains(id))
            {
                return Some(Reason::Maintenance);
            }
        }
        if shape.stays_home
            && let Some(home) = self.home_region
        {
            let agent = ev.agent_of_row(row);
            if self.agents.region[agent.0 as usize].is_some_and(|r| r != home) {
                return Some(Reason::Region);
            }
        }
        if ev.cpus[r] < shape.cpus {
            Some(Reason::Cpus)
        } else if ev.mem[r] < shape.mem {
            Some(Reason::Mem)
        } else if ev.disk[r] < shape.disk {
            Some(Reason::Disk)
        } else if ev.gpus[r] < shape.gpus {
            Some(Reason::Gpus)
        } else if shape.ports > 0 && ev.ports[r] < u64::from(shape.ports) {
            Some(Reason::Ports)
        } else {
            None
        }
    }

    /// Moves class `c`'s cursor to the first row its shape fits, then
    /// returns run `i`'s position in that walk moved from `from` past the
    /// rows before it, counting each as [`Matcher::note`] would.
    fn skip_refused(&mut self, i: usize, c: usize, from: u32) -> u32 {
        let shape = self.ev.classes[c].shape;
        loop {
            let pos = self.ev.classes[c].pos;
            let Some(row) = self.class_row(c, pos) else {
                break;
            };
            match self.shape_refusal(&shape, row) {
                Some(reason) => {
                    let class = &mut self.ev.classes[c];
                    class.reasons.push(reason as u8);
                    class.pos += 1;
                }
                None => break,
            }
        }
        let target = self.ev.classes[c].pos;
        if from >= target {
            return from;
        }
        let mut from = from;
        if self.ev.runs[i].best_fails > 1 {
            // The near miss is looked for among refused rows: one by one
            // until a row failing one check only is found.
            while from < target && self.ev.runs[i].best_fails > 1 {
                let row = self.class_row(c, from).expect("below the class's cursor");
                let first = u32::from(self.ev.classes[c].reasons[from as usize]);
                self.note(
                    i,
                    row,
                    Verdict::Refuse {
                        mask: 1u64 << first,
                        first,
                    },
                );
                from += 1;
            }
            if from == target {
                return from;
            }
        }
        let app = self.ev.runs[i].app;
        // The run's last examined row (one it placed on, then filled) was
        // counted as considered already, as `note` knows.
        let seen = u64::from(self.class_row(c, from) == Some(self.ev.runs[i].last_counted));
        let why = &mut self.apps[app.0 as usize].why;
        let reasons = &self.ev.classes[c].reasons[from as usize..target as usize];
        if self.ev.runs[i].pass == 0 {
            why.considered += reasons.len() as u64 - seen;
            for &r in reasons {
                why.refused[r as usize] += 1;
            }
        }
        if let Some(last) = self.class_row(c, target - 1) {
            self.ev.runs[i].last_counted = last;
        }
        target
    }

    /// How many launches to make room for when run `i` opens `row`'s
    /// accept (before taking its first instance): as many instances of
    /// the run's app as the row's resources hold, at most what the run
    /// has left and [`LAUNCHES_HINT_MAX`]; one when the run places at most
    /// one instance per agent in a pass (spread, UNIQUE). Binpack runs fill
    /// the row they open, so its launches are mostly one allocation instead
    /// of a doubling chain of copies.
    pub(super) fn launches_hint(&self, i: usize, row: u32, req: &Req) -> usize {
        let run = &self.ev.runs[i];
        if run.spread || req.c.unique {
            return 1;
        }
        let r = row as usize;
        let ev = &self.ev;
        let mut n = u64::from(run.left).min(LAUNCHES_HINT_MAX);
        for (have, need) in [
            (ev.cpus[r], req.cpus),
            (ev.mem[r], req.mem),
            (ev.disk[r], req.disk),
            (ev.gpus[r], req.gpus),
        ] {
            if need > 0 {
                n = n.min((have.max(0) / need) as u64);
            }
        }
        if !req.ports.is_empty() {
            n = n.min(ev.ports[r] / req.ports.len() as u64);
        }
        n.max(1) as usize
    }

    /// MUX: the rows of agents already running the app, most instances
    /// first.
    fn build_pref(&mut self, i: usize) {
        let run = &self.ev.runs[i];
        let Some(seg) = run.seg else { return };
        let app = &self.apps[run.app.0 as usize];
        let start = self.ev.pref.len();
        let mut found: Vec<(u32, u32)> = Vec::new();
        for (agent, n) in &app.by_agent {
            let ai = agent.0 as usize;
            if self.agents.ev_epoch[ai] != self.ev.epoch {
                continue;
            }
            let ea = self.agents.ev_index[ai] as usize;
            let mut r = self.ev.agents[ea].first_row;
            while r != NONE {
                let pos = self.ev.order_pos[r as usize];
                if self.ev.rows[r as usize].role == seg.role && pos >= seg.start && pos < seg.end {
                    found.push((u32::MAX - n, pos));
                }
                r = self.ev.rows[r as usize].next;
            }
        }
        found.sort_unstable();
        self.ev
            .pref
            .extend(found.iter().map(|(_, pos)| self.ev.order[*pos as usize]));
        self.ev.runs[i].pref = (start as u32, self.ev.pref.len() as u32);
    }

    /// GROUP_BY: the run's group index (shared by runs of the same
    /// attribute and role) and its cursors.
    fn build_groups(&mut self, i: usize) {
        let run = &self.ev.runs[i];
        let Some(seg) = run.seg else { return };
        let app = run.app;
        let Some(req) = self.apps[app.0 as usize].req.as_ref() else {
            return;
        };
        let Some(gb) = req.c.group_by else { return };
        let (filter, c) = req.c.counting[gb];
        let sel = c.sel();
        let soft = matches!(c, Counting::GroupBy { soft: true, .. });
        if soft && !self.zones_seen {
            return;
        }
        let gi = match self
            .ev
            .groups
            .iter()
            .position(|g| g.sel == sel && g.soft == soft && g.role == seg.role)
        {
            Some(gi) => gi,
            None => {
                let mut keyed: Vec<(u64, u32, u32)> = Vec::new();
                for pos in seg.start..seg.end {
                    let row = self.ev.order[pos as usize];
                    let agent = self.ev.agent_of_row(row);
                    if let Some(key) = c.key(agent.0, self.agent_attrs(agent)) {
                        keyed.push((key, pos, row));
                    }
                }
                keyed.sort_unstable();
                let mut groups = Vec::new();
                let mut k = 0;
                while k < keyed.len() {
                    let key = keyed[k].0;
                    let start = k;
                    while k < keyed.len() && keyed[k].0 == key {
                        k += 1;
                    }
                    groups.push((key, start as u32, k as u32));
                }
                self.ev.groups.push(GroupIndex {
                    sel,
                    soft,
                    role: seg.role,
                    rows: keyed.iter().map(|(_, _, row)| *row).collect(),
                    groups,
                });
                self.ev.groups.len() - 1
            }
        };
        let g = &self.ev.groups[gi];
        let missing = u64::from(seg.end - seg.start) - g.rows.len() as u64;
        let ngroups = g.groups.len();
        if soft && ngroups < 2 {
            // One zone (or none) among this event's agents: the plain
            // levelled spread over agents.
            return;
        }
        let why = &mut self.apps[app.0 as usize].why;
        why.considered += missing;
        if let Some(n) = why.by_filter.get_mut(filter) {
            *n += missing;
        }
        let run = &mut self.ev.runs[i];
        run.gindex = gi as u32;
        run.levelled = false;
        run.gcur = self.ev.gcur.len() as u32;
        self.ev.gcur.extend(std::iter::repeat_n(
            GroupCursor {
                skip_min: NONE,
                class: NONE,
                ..GroupCursor::default()
            },
            ngroups,
        ));
    }

    /// Turns until every run is done: each turn, each run places at most
    /// one instance.
    pub(super) fn place_all(&mut self, plan: &mut Plan) {
        let mut active = self.ev.runs.len();
        while active > 0 {
            for i in 0..self.ev.runs.len() {
                if self.ev.runs[i].done {
                    continue;
                }
                let row = if self.ev.runs[i].gindex == NONE {
                    self.next_row(i)
                } else {
                    self.next_group_row(i)
                };
                match row {
                    Some(row) => {
                        self.commit(i, row, plan);
                        let run = &mut self.ev.runs[i];
                        run.left -= 1;
                        if run.left == 0 {
                            run.done = true;
                            active -= 1;
                        }
                    }
                    None => {
                        self.ev.runs[i].done = true;
                        active -= 1;
                    }
                }
            }
        }
        for i in 0..self.ev.runs.len() {
            let run = &self.ev.runs[i];
            if run.left == 0 {
                continue;
            }
            if let Some((row, mask)) = run.best {
                let agent = self.ev.agent_of_row(row);
                let ai = agent.0 as usize;
                let near = self.agents.id[ai].clone().map(|agent_id| Near {
                    agent_id,
                    hostname: self.agents.hostname[ai],
                    mask,
                });
                self.apps[run.app.0 as usize].why.near = near;
            }
        }
    }

    /// The row at a run's position, or `None` past the end.
    fn row_at(&self, run: &Run, pos: u32) -> Option<u32> {
        let npref = run.pref.1 - run.pref.0;
        if pos < npref {
            return Some(self.ev.pref[(run.pref.0 + pos) as usize]);
        }
        seg_row(
            &self.ev.order,
            run.seg?,
            run.gpu_app,
            run.spread,
            pos - npref,
        )
    }

    /// Counts an examined row and a refusal in the app's why-not.
    fn note(&mut self, i: usize, row: u32, verdict: Verdict) {
        let run = &self.ev.runs[i];
        let app = run.app;
        let first_pass = run.pass == 0;
        let new_row = run.last_counted != row;
        if first_pass && new_row {
            self.ev.runs[i].last_counted = row;
            self.apps[app.0 as usize].why.considered += 1;
        }
        let Verdict::Refuse { mut mask, first } = verdict else {
            return;
        };
        // A row is refused at most once per pass: the cursor moves on.
        if first_pass {
            let why = &mut self.apps[app.0 as usize].why;
            let f = first as usize;
            if f < REASONS.len() {
                why.refused[f] += 1;
            } else if let Some(n) = why.by_filter.get_mut(f - REASONS.len()) {
                *n += 1;
            }
        }
        if self.ev.runs[i].best_fails > 1 {
            if let Some(Verdict::Refuse { mask: full, .. }) = self.verdict(app, row, NONE, true) {
                mask = full;
            }
            let fails = mask.count_ones();
            let run = &mut self.ev.runs[i];
            if fails < run.best_fails {
                run.best_fails = fails;
                run.best = Some((row, mask));
            }
        }
    }

    fn verdict(&self, app: AppIx, row: u32, level: u32, full: bool) -> Option<Verdict> {
        let req = self.apps[app.0 as usize].req.as_deref()?;
        Some(self.evaluate(app, req, row, level, full))
    }

    /// The next row for a run without GROUP_BY.
    fn next_row(&mut self, i: usize) -> Option<u32> {
        loop {
            let c = self.ev.runs[i].class;
            if c != NONE {
                let pos = self.skip_refused(i, c as usize, self.ev.runs[i].pos);
                self.ev.runs[i].pos = pos;
            }
            let run = &self.ev.runs[i];
            let app = run.app;
            let Some(row) = self.row_at(run, run.pos) else {
                let run = &mut self.ev.runs[i];
                if run.levelled && (run.pass_placed || run.skip_min != NONE) {
                    run.level = if run.pass_placed {
                        run.level + 1
                    } else {
                        run.skip_min
                    };
                    run.pos = 0;
                    run.pass += 1;
                    run.pass_placed = false;
                    run.skip_min = NONE;
                    continue;
                }
                return None;
            };
            let npref = run.pref.1 - run.pref.0;
            if run.mux
                && run.pos >= npref
                && self.apps[app.0 as usize]
                    .by_agent
                    .contains_key(&self.ev.agent_of_row(row))
            {
                // Already tried from the preference list.
                self.ev.runs[i].pos += 1;
                continue;
            }
            let level = if run.levelled { run.level } else { NONE };
            let verdict = self.verdict(app, row, level, false)?;
            self.note(i, row, verdict);
            let run = &mut self.ev.runs[i];
            match verdict {
                Verdict::Fit => {
                    if run.levelled {
                        run.pos += 1;
                        run.pass_placed = true;
                    }
                    return Some(row);
                }
                Verdict::Skip(c) => {
                    run.skip_min = run.skip_min.min(c);
                    run.pos += 1;
                }
                Verdict::Refuse { .. } => run.pos += 1,
            }
        }
    }

    /// The next row for a GROUP_BY run: the least-loaded group that still
    /// has candidate rows, then its next row that fits (for spread runs,
    /// at the group's current level, see [`GroupCursor`]).
    fn next_group_row(&mut self, i: usize) -> Option<u32> {
        loop {
            let run = &self.ev.runs[i];
            let app = run.app;
            let spread = run.spread;
            let a = &self.apps[app.0 as usize];
            let gb = a.req.as_ref()?.c.group_by?;
            let counts = a.groups.get(gb)?;
            let g = &self.ev.groups[run.gindex as usize];
            let mut best: Option<(u32, usize)> = None;
            for (k, (key, _, _)) in g.groups.iter().enumerate() {
                if self.ev.gcur[run.gcur as usize + k].done {
                    continue;
                }
                let c = counts.get(key).copied().unwrap_or(0);
                if best.is_none_or(|(bc, _)| c < bc) {
                    best = Some((c, k));
                }
            }
            let (_, k) = best?;
            let (_, start, end) = g.groups[k];
            let gi = run.gindex as usize;
            let gcur = run.gcur as usize + k;
            let class = self.ev.gcur[gcur].class;
            if class != NONE {
                let pos = self.skip_refused(i, class as usize, self.ev.gcur[gcur].pos);
                self.ev.gcur[gcur].pos = pos;
            }
            let cur = self.ev.gcur[gcur];
            if cur.pos >= end - start {
                // The end of a pass through the group: another pass at a
                // higher level if it placed or skipped something.
                let c = &mut self.ev.gcur[gcur];
                if spread && (c.placed || c.skip_min != NONE) {
                    c.level = if c.placed { c.level + 1 } else { c.skip_min };
                    c.pos = 0;
                    c.placed = false;
                    c.skip_min = NONE;
                } else {
                    c.done = true;
                }
                continue;
            }
            let idx = if spread {
                end - 1 - cur.pos
            } else {
                start + cur.pos
            };
            let row = self.ev.groups[gi].rows[idx as usize];
            let level = if spread { cur.level } else { NONE };
            let verdict = self.verdict(app, row, level, false)?;
            self.note(i, row, verdict);
            let c = &mut self.ev.gcur[gcur];
            match verdict {
                Verdict::Fit => {
                    if spread {
                        c.pos += 1;
                        c.placed = true;
                    }
                    return Some(row);
                }
                Verdict::Skip(n) => {
                    c.skip_min = c.skip_min.min(n);
                    c.pos += 1;
                }
                Verdict::Refuse { .. } => c.pos += 1,
            }
        }
    }

    /// Whether one instance of `app` fits `row`. `level`: the spread level
    /// (NONE: no level). `full`: evaluate every check (for the near miss)
    /// instead of stopping at the first failure.
    fn evaluate(&self, app: AppIx, req: &Req, row: u32, level: u32, full: bool) -> Verdict {
        let ev = &self.ev;
        let r = row as usize;
        let mut mask = 0u64;
        let mut first = NONE;
        let mut fail = |mask: &mut u64, bit: u64, code: u32| {
            *mask |= bit;
            if first == NONE {
                first = code;
            }
        };
        let res = |reason: Reason| (1u64 << reason as u8, reason as u32);
        if req.avoids_maintenance && !self.draining.is_empty() {
            let agent = ev.agent_of_row(row);
            if self.agents.id[agent.0 as usize]
                .as_deref()
                .is_some_and(|id| self.draining.contains(id))
            {
                let (bit, code) = res(Reason::Maintenance);
                fail(&mut mask, bit, code);
                if !full {
                    return Verdict::Refuse { mask, first };
                }
            }
        }
        if req.stays_home
            && let Some(home) = self.home_region
        {
            let agent = ev.agent_of_row(row);
            if self.agents.region[agent.0 as usize].is_some_and(|r| r != home) {
                let (bit, code) = res(Reason::Region);
                fail(&mut mask, bit, code);
                if !full {
                    return Verdict::Refuse { mask, first };
                }
            }
        }
        let [cpus, mem, disk] = if req.exec_share.is_some() {
            req.scalars_on(&self.apps[app.0 as usize], ev.agent_of_row(row))
        } else {
            [req.cpus, req.mem, req.disk]
        };
        for (have, need, reason) in [
            (ev.cpus[r], cpus, Reason::Cpus),
            (ev.mem[r], mem, Reason::Mem),
            (ev.disk[r], disk, Reason::Disk),
            (ev.gpus[r], req.gpus, Reason::Gpus),
        ] {
            if have < need {
                let (bit, code) = res(reason);
                fail(&mut mask, bit, code);
                if !full {
                    return Verdict::Refuse { mask, first };
                }
            }
        }
        if !req.ports.is_empty()
            && (ev.ports[r] < req.ports.len() as u64
                || (req.has_fixed_ports
                    && req
                        .ports
                        .iter()
                        .any(|p| *p != 0 && !self.port_free(row, u64::from(*p)))))
        {
            let (bit, code) = res(Reason::Ports);
            fail(&mut mask, bit, code);
        }
        for (n, amount) in &req.named {
            if self.named_free(row, *n) < *amount {
                let (bit, code) = res(Reason::Scalars);
                fail(&mut mask, bit, code);
                break;
            }
        }
        if mask != 0 && !full {
            return Verdict::Refuse { mask, first };
        }
        let agent = ev.agent_of_row(row);
        let attrs = self.agent_attrs(agent);
        for ac in &req.c.attrs {
            if !ac.holds(attrs, &self.syms) {
                fail(
                    &mut mask,
                    filter_bit(ac.filter),
                    REASONS.len() as u32 + ac.filter as u32,
                );
                if !full {
                    return Verdict::Refuse { mask, first };
                }
            }
        }
        let count = if req.counts_agents {
            self.instances_on(app, agent)
        } else {
            0
        };
        if req.c.unique && count > 0 {
            match req.c.unique_filter {
                Some(f) => fail(&mut mask, filter_bit(f), REASONS.len() as u32 + f as u32),
                None => {
                    let (bit, code) = res(Reason::Unique);
                    fail(&mut mask, bit, code);
                }
            }
        }
        let groups = &self.apps[app.0 as usize].groups;
        for (k, (f, c)) in req.c.counting.iter().enumerate() {
            if *f == IMPLICIT {
                // The default zone spread orders groups; it refuses nothing.
                continue;
            }
            let code = REASONS.len() as u32 + *f as u32;
            let Some(key) = c.key(agent.0, attrs) else {
                fail(&mut mask, filter_bit(*f), code);
                continue;
            };
            let have = groups
                .get(k)
                .and_then(|g| g.get(&key))
                .copied()
                .unwrap_or(0);
            let over = match *c {
                Counting::MaxPer { n, .. } => have >= n,
                Counting::GroupBy { cap, .. } => cap.is_some_and(|cap| have >= cap),
            };
            if over {
                fail(&mut mask, filter_bit(*f), code);
            }
        }
        if mask != 0 {
            return Verdict::Refuse { mask, first };
        }
        if level != NONE && count > level {
            return Verdict::Skip(count);
        }
        Verdict::Fit
    }
}

/// The row at position `p` of a walk over `seg`: agents without gpus then
/// those with (gpu apps: only those with), best fit first, or most free
/// first for `spread`.
fn seg_row(order: &[u32], seg: Seg, gpu_app: bool, spread: bool, mut p: u32) -> Option<u32> {
    let ranges = if gpu_app {
        [(seg.gpu, seg.end), (0, 0)]
    } else {
        [(seg.start, seg.gpu), (seg.gpu, seg.end)]
    };
    for (a, b) in ranges {
        let n = b - a;
        if p < n {
            let idx = if spread { b - 1 - p } else { a + p };
            return Some(order[idx as usize]);
        }
        p -= n;
    }
    None
}

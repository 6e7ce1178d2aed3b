//! Calls to the master: building and emitting them, the calls in flight
//! and what a failure undoes, calls and replies held until a store batch
//! commits, responses to calls, and KILL.

use super::*;

/// A call or reply waiting for a store batch to commit.
#[derive(Debug)]
pub(super) enum Held {
    Call {
        stream_id: Arc<str>,
        kind: &'static str,
        body: Bytes,
        meta: CallMeta,
    },
    Reply(Reply<AnyReply>),
}

/// What a call in flight was about, to redo what a failure undid. The
/// master answers calls in order, so the front of the queue is the call the
/// next response is for.
///
/// One is queued per call in flight (200,000 ACKs wait after a launch of
/// 100,000 tasks): the rare ACCEPT's lists are boxed, so an entry is 32
/// bytes, not 56.
#[derive(Debug, Clone)]
pub(super) enum CallMeta {
    /// The DECLINE's body: its offer ids are read again only if it fails.
    Decline(Bytes),
    Accept(Box<AcceptMeta>),
    Revive,
    Suppress,
    Kill(String),
    /// An ACKNOWLEDGE: answered or lost, its update may be acknowledged
    /// again.
    Ack(AckKey),
    Other,
}

/// Which status update an ACKNOWLEDGE is for: its uuid (Mesos's are 16
/// bytes) and a fingerprint of its task id (FNV-1a). The fingerprint keeps
/// the key 24 bytes with no allocation; two tasks with the same uuid and
/// the same fingerprint would at worst have one update acknowledged only
/// when the master sends it again after the other's ACK was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AckKey {
    uuid: [u8; 16],
    task: u64,
}

impl AckKey {
    /// The key of an ACK of `uuid` for task `task_id`; `None` for a uuid
    /// that is not 16 bytes (not de-duplicated: always acknowledged).
    pub(super) fn new(task_id: &str, uuid: &[u8]) -> Option<AckKey> {
        let uuid = <[u8; 16]>::try_from(uuid).ok()?;
        let task = task_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Some(AckKey { uuid, task })
    }
}

/// The offers an ACCEPT answers and the tasks it launches.
#[derive(Debug, Clone)]
pub(super) struct AcceptMeta {
    offers: Vec<mesos::OfferId>,
    tasks: Vec<String>,
}

impl CallMeta {
    /// What to remember of call `c`, encoded as `body`.
    pub(super) fn of(c: &Call, body: &Bytes) -> CallMeta {
        match c.r#type.and_then(|t| call::Type::try_from(t).ok()) {
            Some(call::Type::Decline) => CallMeta::Decline(body.clone()),
            Some(call::Type::Accept) => {
                let a = c.accept.as_ref();
                CallMeta::Accept(Box::new(AcceptMeta {
                    offers: a.map(|a| a.offer_ids.clone()).unwrap_or_default(),
                    tasks: a
                        .into_iter()
                        .flat_map(|a| a.operations.iter())
                        .flat_map(|op| {
                            let plain = op.launch.iter().flat_map(|l| l.task_infos.iter());
                            let group = op
                                .launch_group
                                .iter()
                                .flat_map(|g| g.task_group.tasks.iter());
                            plain.chain(group)
                        })
                        .map(|t| t.task_id.value.clone())
                        .collect(),
                }))
            }
            Some(call::Type::Revive) => CallMeta::Revive,
            Some(call::Type::Kill) => CallMeta::Kill(
                c.kill
                    .as_ref()
                    .map(|k| k.task_id.value.clone())
                    .unwrap_or_default(),
            ),
            Some(call::Type::Suppress) => CallMeta::Suppress,
            Some(call::Type::Acknowledge) => c
                .acknowledge
                .as_ref()
                .and_then(|a| AckKey::new(&a.task_id.value, &a.uuid))
                .map_or(CallMeta::Other, CallMeta::Ack),
            _ => CallMeta::Other,
        }
    }
}

/// What a call's request head (method, path, host, stream id, headers)
/// adds to its body in the driver's queue, about.
const REQUEST_HEAD_BYTES: usize = 200;

/// What one launch is taken to cost in the call queue before the first
/// ACCEPT measured it. A plain command task's TaskInfo (ids, name, two or
/// three resources, a command) with its share of the ACCEPT and its
/// request head is 250-400 bytes; 512 leaves room for bigger specs
/// without holding back a first burst that fits (at 1,024 a 10,000-task
/// launch on an empty queue was cut at 9,731 and the rest waited a
/// second for offers). Every later budget uses the measured average.
const FIRST_LAUNCH_BYTES: u64 = 512;

/// What one ACKNOWLEDGE is taken to cost before the first was measured.
const FIRST_ACK_BYTES: u64 = 350;

/// ACKNOWLEDGEs a launch causes: STARTING and RUNNING.
pub(super) const ACKS_PER_LAUNCH: u64 = 2;

/// Pause before repeating a REVIVE or SUPPRESS the master refused: the
/// master is unavailable for a while, not for a round trip.
pub(super) const RESYNC_DELAY: Duration = Duration::from_secs(1);

impl Core {
    pub(super) fn call(&self, kind: call::Type, fill: impl FnOnce(&mut Call)) -> Call {
        let mut c = Call {
            framework_id: self
                .framework_id
                .clone()
                .map(|value| mesos::FrameworkId { value }),
            r#type: Some(kind as i32),
            ..Call::default()
        };
        fill(&mut c);
        c
    }

    pub(super) fn kind_name(c: &Call) -> &'static str {
        c.r#type
            .and_then(|t| call::Type::try_from(t).ok())
            .map(|t| t.as_str_name())
            .unwrap_or("UNKNOWN")
    }

    /// Send on the current stream, now.
    pub(super) fn send_now(&mut self, c: Call) {
        let Some(stream_id) = self.stream_arc().cloned() else {
            return;
        };
        let body = self.encode_call(&c);
        let meta = CallMeta::of(&c, &body);
        self.emit(stream_id, Self::kind_name(&c), body, meta);
    }

    /// A call encoded into the session's call buffer: the buffer's space
    /// is taken back once the master answered the call before it (its
    /// body, here and in the driver, is gone), so calls in steady state
    /// allocate nothing for their bodies.
    pub(super) fn encode_call(&mut self, c: &Call) -> Bytes {
        let buf = &mut self.call_buf;
        buf.clear();
        buf.reserve(c.encoded_len());
        c.encode_raw(buf);
        buf.split().freeze()
    }

    pub(super) fn emit(
        &mut self,
        stream_id: Arc<str>,
        kind: &'static str,
        body: Bytes,
        meta: CallMeta,
    ) {
        // An ACCEPT leaves only once the intents of the tasks it launches
        // (still tracked) are committed.
        debug_assert!(
            match &meta {
                CallMeta::Accept(a) => a
                    .tasks
                    .iter()
                    .filter_map(|id| self.tasks.get(id.as_str()))
                    .all(|t| t.intent_seq <= self.committed_seq),
                _ => true,
            },
            "an ACCEPT before its launch intents are durable"
        );
        self.inflight.push_back(meta);
        self.call_bytes_unreported += body.len();
        self.note_call_backlog();
        self.out.push_back(Output::Call {
            master: Arc::clone(&self.target),
            stream_id,
            kind,
            body,
        });
    }

    /// A call failed: `certain` when the master refused it without acting
    /// (a 5xx answer), otherwise its fate is unknown (connection lost).
    pub(super) fn redo<F: Framework>(
        &mut self,
        fw: &mut F,
        now: Instant,
        meta: CallMeta,
        certain: bool,
    ) {
        match meta {
            // Lost or refused: the master sends the update again, and that
            // is acknowledged again.
            CallMeta::Ack(key) => {
                self.acks_pending.remove(&key);
            }
            // Our belief flips back, so the turn's end sends it again.
            CallMeta::Revive => {
                self.suppressed = true;
                self.resync_at.get_or_insert(now + RESYNC_DELAY);
            }
            // Refused: the master is not suppressed. Fate unknown: it may
            // be, so believe it is and REVIVE as soon as work is pending.
            CallMeta::Suppress => {
                self.suppressed = !certain;
                self.resync_at.get_or_insert(now + RESYNC_DELAY);
            }
            // Declining twice is harmless; a lost decline leaks the offer.
            CallMeta::Decline(body) => {
                let ids = Call::decode(body)
                    .ok()
                    .and_then(|c| c.decline)
                    .map(|d| d.offer_ids)
                    .unwrap_or_default();
                if !ids.is_empty() {
                    self.decline_later(now, ids);
                }
            }
            // Fate unknown: if the master took the ACCEPT, a DECLINE of its
            // offer is ignored; if not, the DECLINE releases the offer (which
            // would otherwise stay outstanding). Its tasks are settled by
            // reconciliation.
            CallMeta::Accept(a) if !certain => {
                let AcceptMeta { offers, tasks } = *a;
                self.decline_later(now, offers);
                // Ask now rather than at the launch timeout: a lost launch
                // comes back TASK_UNKNOWN (and is replaced), a kept one with
                // its state.
                let ids: Vec<String> = tasks
                    .into_iter()
                    .filter(|id| self.tasks.contains_key(id.as_str()))
                    .collect();
                if !ids.is_empty() {
                    self.reconcile.waiting.extend(ids.iter().cloned());
                    if self.reconcile.retry_at.is_none() {
                        self.reconcile.backoff = self.cfg.reconcile_retry_initial;
                        self.reconcile.retry_at = Some(now + self.reconcile.backoff);
                    }
                    self.send_reconcile(ids);
                }
            }
            CallMeta::Accept(a) => {
                let AcceptMeta { offers, tasks } = *a;
                self.acks_expected = self
                    .acks_expected
                    .saturating_sub(ACKS_PER_LAUNCH * tasks.len() as u64);
                // The master did not launch them: forget the intents and
                // give the offer back.
                for id in tasks {
                    if let Some(t) = self.tasks.remove(id.as_str()) {
                        self.batch.push(StoreOp::RemoveTask(id));
                        fw.launch_refused(&mut Ctx::new(self, now), &t);
                    }
                }
                self.decline_later(now, offers);
            }
            _ => {}
        }
    }

    /// The batch `seq` that the current turn's ops will carry (or, with no
    /// ops this turn, the last one issued: what is in flight must land first).
    pub(super) fn turn_seq(&self) -> u64 {
        if self.batch.is_empty() {
            self.issued_seq
        } else {
            self.issued_seq + 1
        }
    }

    /// Send once everything stored so far (this turn included) is durable.
    pub(super) fn send_after_store(&mut self, c: Call) {
        let Some(stream_id) = self.stream_arc().cloned() else {
            return;
        };
        let seq = self.turn_seq();
        let body = self.encode_call(&c);
        if c.accept.is_some() {
            self.accept_bytes += (body.len() + REQUEST_HEAD_BYTES) as u64;
        } else if c.acknowledge.is_some() {
            self.ack_bytes += (body.len() + REQUEST_HEAD_BYTES) as u64;
            self.acks_measured += 1;
        }
        let held = Held::Call {
            stream_id,
            kind: Self::kind_name(&c),
            meta: CallMeta::of(&c, &body),
            body,
        };
        if seq <= self.committed_seq && self.held.is_empty() {
            self.release(seq, held);
        } else {
            if let Held::Call { body, .. } = &held {
                self.held_call_bytes += body.len();
                self.note_call_backlog();
            }
            self.held.push_back((seq, held));
        }
    }

    pub(super) fn reply_after_store(&mut self, r: Reply<AnyReply>) {
        let seq = self.turn_seq();
        if seq <= self.committed_seq && self.held.is_empty() {
            self.out.push_back(Output::Reply(r));
        } else {
            self.held.push_back((seq, Held::Reply(r)));
        }
    }

    /// Send or deliver what waited for batch `durable_at` (an ACKNOWLEDGE,
    /// an ACCEPT, a KILL behind an ACCEPT, a reply).
    pub(super) fn release(&mut self, durable_at: u64, h: Held) {
        debug_assert!(
            durable_at <= self.committed_seq,
            "released before batch {durable_at} is committed (committed: {})",
            self.committed_seq
        );
        match h {
            Held::Call {
                stream_id,
                kind,
                body,
                meta,
            } => {
                self.held_call_bytes = self.held_call_bytes.saturating_sub(body.len());
                // A KILL held behind its task's ACCEPT is dropped if the task
                // was kept after all (others of its app ended meanwhile).
                if let CallMeta::Kill(id) = &meta
                    && self.tasks.get(id.as_str()).is_some_and(|t| !t.kill_sent)
                {
                    return;
                }
                if let CallMeta::Kill(id) = &meta
                    && let Some(mut t) = self.tasks.get_mut(id.as_str())
                {
                    t.kill_emitted = true;
                }
                // A call held across a reconnect belongs to a dead stream.
                if self.stream_id() == Some(&*stream_id) {
                    self.emit(stream_id, kind, body, meta);
                } else if let CallMeta::Ack(key) = meta {
                    self.acks_pending.remove(&key);
                }
            }
            Held::Reply(r) => self.out.push_back(Output::Reply(r)),
        }
    }

    // ------------------------------------------------------------ flow control

    /// Bytes of calls between the session and the socket: the driver's
    /// last report, what was emitted since, what is held for the store.
    pub(super) fn call_backlog(&self) -> usize {
        self.call_room.map_or(0, |r| r.unwritten_bytes)
            + self.call_bytes_unreported
            + self.held_call_bytes
    }

    /// The driver's report of its call queue ([`Input::CallRoom`]): it
    /// counts every call emitted before it.
    pub(super) fn on_call_room(&mut self, room: CallRoom) {
        self.call_room = Some(room);
        self.call_bytes_unreported = 0;
        let backlog = self.call_backlog();
        if self.launches_paused && backlog <= room.low_water() {
            self.launches_paused = false;
            tracing::info!(target: "tritium::calls", backlog, low_water = room.low_water(), "call queue drained: launching again");
        }
        self.note_call_backlog();
    }

    /// The driver dropped its call connection and every call queued on it.
    pub(super) fn call_queue_dropped(&mut self) {
        self.call_bytes_unreported = 0;
        // The ACKs still expected are settled by redelivery and
        // reconciliation now; keeping room for ACKs of launches that may
        // be lost could stop launches for good.
        self.acks_expected = 0;
        if let Some(room) = self.call_room.as_mut() {
            room.unwritten_bytes = 0;
            let room = *room;
            self.on_call_room(room);
        }
    }

    /// Stop launching once the backlog reaches the high-water mark.
    pub(super) fn note_call_backlog(&mut self) {
        let Some(room) = self.call_room else {
            return;
        };
        let backlog = self.call_backlog();
        self.stats.call_backlog_max = self.stats.call_backlog_max.max(backlog as u64);
        if !self.launches_paused && backlog >= room.high_water() {
            self.launches_paused = true;
            self.stats.launch_pauses += 1;
            tracing::info!(target: "tritium::calls", backlog, high_water = room.high_water(), "call queue past its high-water mark: no launch until it drains");
        }
    }

    /// Whether flow control keeps every launch back now: no room for one
    /// more task or, once the session SUPPRESSed for that, until the
    /// backlog and the ACKs still expected are down to the low-water mark
    /// (hysteresis: a REVIVE brings offers from every agent at once, so it
    /// waits until there is room for a good share of them, about 12 MiB
    /// of launches at the default 64 MiB bound).
    pub(super) fn flow_holds_launches(&self) -> bool {
        let Some(room) = self.call_room else {
            return false;
        };
        if self.flow_suppressed {
            self.launches_paused
                || (self.call_backlog() as u64).saturating_add(self.acks_reserved())
                    > room.low_water() as u64
        } else {
            self.launch_budget() == Some(0)
        }
    }

    /// What one ACKNOWLEDGE costs in the call queue: the mean so far, a
    /// guess before the first.
    fn ack_cost(&self) -> u64 {
        if self.acks_measured == 0 {
            FIRST_ACK_BYTES
        } else {
            self.ack_bytes.div_ceil(self.acks_measured)
        }
    }

    /// Bytes kept in the call queue for the ACKs launches will still cause.
    fn acks_reserved(&self) -> u64 {
        self.acks_expected.saturating_mul(self.ack_cost())
    }

    /// How many more tasks may be launched now (`None`: no limit, the
    /// driver never reported its call queue). A launch costs its share of
    /// an ACCEPT and, later, two ACKNOWLEDGEs (STARTING, RUNNING), each at
    /// what they cost so far ([`FIRST_LAUNCH_BYTES`] and
    /// [`FIRST_ACK_BYTES`] before the first were measured); the room is what is left under the high-water mark once
    /// the backlog and the ACKs still expected from earlier launches are
    /// counted: launching faster than the master takes ACKs only piles
    /// them up. Zero while launches are stopped.
    pub(crate) fn launch_budget(&self) -> Option<usize> {
        let room = self.call_room?;
        if self.launches_paused {
            return Some(0);
        }
        let free = (room.high_water() as u64)
            .saturating_sub(self.call_backlog() as u64)
            .saturating_sub(self.acks_reserved());
        let accept = if self.accept_tasks == 0 {
            FIRST_LAUNCH_BYTES
        } else {
            self.accept_bytes.div_ceil(self.accept_tasks)
        };
        let per_task = (accept + ACKS_PER_LAUNCH * self.ack_cost()).max(1);
        Some(usize::try_from(free / per_task).unwrap_or(usize::MAX))
    }

    pub(super) fn on_committed(&mut self, seq: u64) {
        debug_assert!(seq <= self.issued_seq, "commit of a batch never issued");
        self.committed_seq = self.committed_seq.max(seq);
        while let Some((s, _)) = self.held.front() {
            if *s > self.committed_seq {
                break;
            }
            let (s, h) = self.held.pop_front().expect("front");
            self.release(s, h);
        }
    }

    pub(super) fn on_call_response<F: Framework>(
        &mut self,
        fw: &mut F,
        now: Instant,
        status: u16,
        location: Option<String>,
        body: String,
    ) {
        let meta = self.inflight.pop_front();
        // Answered (202 or an error): an update sent again from now on is
        // acknowledged again (the master may have dropped this ACK).
        if let Some(CallMeta::Ack(key)) = &meta {
            self.acks_pending.remove(key);
        }
        match status {
            200..=299 => {}
            500..=599 => {
                self.stats.call_errors += 1;
                tracing::warn!(target: "tritium::calls", status, body = %body.trim(), "call refused by the master; redoing what is safe");
                if let Some(meta) = meta {
                    self.redo(fw, now, meta, true);
                }
            }
            307 => {
                // The master we call is not the leader any more: follow.
                if let Some(Ok(url)) = location.as_deref().map(|l| self.target.resolve(l)) {
                    self.target = Arc::new(url);
                }
                self.stats.redirects += 1;
                self.reconnect(now, true);
            }
            // The master forgot our framework (torn down, or its failover
            // timeout ran out): a 403 like an authorization failure, but
            // new credentials would not bring it back.
            403 if says_removed(&body) => self.stop_removed(body.trim()),
            // The master has closed our stream (we may not have noticed
            // yet): the call was not looked at. Read the stream to its end
            // first (an ERROR on it may say why; see `stream_ending_by`),
            // then subscribe again; what the call would have done is
            // settled by the new subscription (offers are gone, tasks are
            // reconciled).
            403 if says_unsubscribed(&body) => {
                self.stats.call_errors += 1;
                if matches!(self.phase, Phase::Streaming { .. }) {
                    if self.stream_ending_by.is_none() {
                        tracing::warn!(target: "tritium::calls", body = %body.trim(), "the master says we are not subscribed; reading the stream to its end, then subscribing again");
                        self.stream_ending_by = Some(now + STREAM_END_WAIT);
                    }
                } else {
                    self.reconnect(now, false);
                }
            }
            401 | 403 => self.stop(
                exit::AUTH,
                format!(
                    "master {} refused a call with {status}: {}",
                    self.target,
                    body.trim()
                ),
            ),
            _ => {
                self.stats.call_errors += 1;
                tracing::warn!(target: "tritium::calls", status, body = %body.trim(), "call refused by the master");
            }
        }
    }

    // ------------------------------------------------------------ kills

    /// KILL with this grace period from now on (the first KILL of the
    /// task, or one that shortens a kill under way: the agent never
    /// lengthens a grace period it is already counting).
    pub(crate) fn kill_with_grace(&mut self, id: &str, grace: Duration) {
        if let Some(mut t) = self.tasks.get_mut(id) {
            t.set_kill_grace(grace);
        }
        self.kill(id);
    }

    pub(crate) fn kill(&mut self, id: &str) {
        // Without a subscription the KILL cannot go out: the task stays
        // un-killed and the next SUBSCRIBED's surplus check kills it.
        if self.stream_id().is_none() {
            return;
        }
        let committed_seq = self.committed_seq;
        let Some(mut t) = self.tasks.get_mut(id) else {
            return;
        };
        t.kill_sent = true;
        let launch_may_be_held = t.intent_seq > committed_seq;
        let kill_policy = t.kill_grace().map(|g| mesos::KillPolicy {
            grace_period: Some(mesos::DurationInfo {
                nanoseconds: i64::try_from(g.as_nanos()).unwrap_or(i64::MAX),
            }),
        });
        let agent_id = Some(mesos::AgentId {
            value: t.rec.agent_id.to_string(),
        });
        drop(t);
        let c = self.call(call::Type::Kill, |c| {
            c.kill = Some(call::Kill {
                task_id: mesos::TaskId {
                    value: id.to_owned(),
                },
                agent_id,
                kill_policy,
            })
        });
        // A kill needs no durability of its own, but it must not overtake
        // the ACCEPT that launches the task, which may still be held for
        // the store (its intent is not committed yet): queued behind the
        // held calls, it goes out after them.
        if launch_may_be_held {
            self.send_after_store(c);
        } else {
            if let Some(mut t) = self.tasks.get_mut(id) {
                t.kill_emitted = true;
            }
            self.send_now(c);
        }
    }

    /// SHUTDOWN the executor `executor_id` on `agent_id` (scheduler.proto:
    /// the agent kills its tasks and the executor, and its resources are
    /// released). Queued behind held calls, like a KILL, so it cannot
    /// overtake an ACCEPT of this turn. `false` without a subscription
    /// (nothing is sent).
    pub(crate) fn shutdown_executor(&mut self, agent_id: &str, executor_id: &str) -> bool {
        if self.stream_id().is_none() {
            return false;
        }
        let c = self.call(call::Type::Shutdown, |c| {
            c.shutdown = Some(call::Shutdown {
                executor_id: mesos::ExecutorId {
                    value: executor_id.to_owned(),
                },
                agent_id: mesos::AgentId {
                    value: agent_id.to_owned(),
                },
            });
        });
        self.send_after_store(c);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Scheduler;

    const MIB: usize = 1024 * 1024;

    fn room(unwritten_mib: usize) -> Input {
        Input::CallRoom(CallRoom {
            unwritten_bytes: unwritten_mib * MIB,
            max_unwritten_bytes: 64 * MIB,
        })
    }

    /// Launches stop at a quarter of the driver's bound and start again
    /// only at a sixteenth (hysteresis), and a session never told has no
    /// limit.
    #[test]
    fn launches_stop_at_the_high_water_mark_and_resume_at_the_low() {
        let now = Instant::now();
        let cfg = Config {
            masters: vec![MasterUrl::parse("http://m:5050").expect("url")],
            ..Config::default()
        };
        let mut s = Scheduler::new(cfg, Recovered::default(), now);
        assert_eq!(s.core.launch_budget(), None, "no report: no limit");
        s.handle(now, room(0));
        let empty = s.core.launch_budget().expect("a limit once reported");
        // 16 MiB over 512 bytes for the ACCEPT and two 350-byte ACKs a task.
        assert_eq!(empty, 16 * MIB / (512 + 700));
        s.handle(now, room(8));
        assert_eq!(s.core.launch_budget(), Some(8 * MIB / (512 + 700)));
        s.handle(now, room(16));
        assert_eq!(s.core.launch_budget(), Some(0), "at the high-water mark");
        assert_eq!(s.core.stats.launch_pauses, 1);
        for mib in [15, 8, 5] {
            s.handle(now, room(mib));
            assert_eq!(s.core.launch_budget(), Some(0), "{mib} MiB: still draining");
        }
        s.handle(now, room(4));
        assert_eq!(s.core.launch_budget(), Some(12 * MIB / (512 + 700)));
        assert_eq!(s.core.stats.launch_pauses, 1);
        assert_eq!(s.core.stats.call_backlog_max, 16 * MIB as u64);
        // A dropped call connection empties the queue.
        s.handle(now, room(30));
        assert_eq!(s.core.launch_budget(), Some(0));
        s.handle(now, Input::CallFailed("reset".into()));
        assert_eq!(s.core.launch_budget(), Some(empty));
    }
}

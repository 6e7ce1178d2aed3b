//! OFFERS: answering every offer in its turn (ACCEPT after the launch
//! intents are stored, DECLINE and its repetition), and the offer
//! constraints a Mesos ≥ 1.11 master filters by.

use super::*;

/// Offers queued for a repeated DECLINE; beyond this, the master's offer
/// timeout (or our next subscription) takes care of them.
pub(super) const MAX_REDECLINE: usize = 100_000;

impl Core {
    pub(super) fn on_offers<F: Framework>(&mut self, fw: &mut F, now: Instant, bytes: &Bytes) {
        let view = match EventView::new(bytes) {
            Ok(v) => v,
            Err(e) => return self.bad_event(now, &format!("OFFERS: {e}")),
        };
        self.offer_quiet_since = Some(now);
        self.held_back_this_event = false;
        let mut ctx = Ctx::new(self, now);
        let result = fw.offers(&mut ctx, &view);
        let (answered, accepted) = (ctx.answered, std::mem::take(&mut ctx.accepted));
        if let Err(e) = result {
            return self.bad_event(now, &format!("OFFERS: {e}"));
        }
        // Every offer is answered in the turn it arrives: what the
        // framework left is declined here. Counting reads only the offers'
        // framing; only a framework that left some pays for finding which.
        let total = view.offer_count();
        if answered < total {
            let busy = fw.wanted_launches(&View { core: self, now }) > 0;
            let refuse = if busy {
                self.cfg.decline_busy
            } else {
                self.cfg.decline_idle
            };
            let left: Vec<mesos::OfferId> = view
                .offers()
                .filter_map(|o| o.ok()?.id().ok())
                .filter(|id| !accepted.iter().any(|a| a == id))
                .map(|id| mesos::OfferId {
                    value: id.to_owned(),
                })
                .collect();
            if !left.is_empty() {
                tracing::debug!(target: "tritium::offers", count = left.len(), "declining offers the framework left unanswered");
                self.stats.offers_received += left.len() as u64;
                self.stats.offers_declined += left.len() as u64;
                self.decline(left, refuse);
            }
        }
    }

    /// INVERSE_OFFERS: the framework answers what it wants; the session
    /// declines the rest, so every inverse offer is answered in its turn.
    pub(super) fn on_inverse_offers<F: Framework>(
        &mut self,
        fw: &mut F,
        now: Instant,
        offers: Vec<mesos::InverseOffer>,
    ) {
        self.stats.inverse_offers_received += offers.len() as u64;
        let mut ctx = Ctx::new(self, now);
        fw.inverse_offers(&mut ctx, &offers);
        let answered = std::mem::take(&mut ctx.inverse_answered);
        let left: Vec<mesos::OfferId> = offers
            .into_iter()
            .map(|o| o.id)
            .filter(|id| !answered.contains(&id.value))
            .collect();
        if !left.is_empty() {
            self.answer_inverse_offers(
                false,
                left,
                crate::framework::UNANSWERED_INVERSE_OFFER_REFUSE,
            );
        }
    }

    /// ACCEPT_INVERSE_OFFERS or DECLINE_INVERSE_OFFERS, refusing the
    /// agents' inverse offers for `refuse`. Not repeated after a failure:
    /// the master sends the inverse offers again after a re-subscription.
    pub(crate) fn answer_inverse_offers(
        &mut self,
        accept: bool,
        ids: Vec<mesos::OfferId>,
        refuse: Duration,
    ) {
        let filters = Some(mesos::Filters {
            refuse_seconds: Some(refuse.as_secs_f64()),
        });
        let c = if accept {
            self.stats.inverse_offers_accepted += ids.len() as u64;
            self.call(call::Type::AcceptInverseOffers, |c| {
                c.accept_inverse_offers = Some(call::AcceptInverseOffers {
                    inverse_offer_ids: ids,
                    filters,
                })
            })
        } else {
            self.stats.inverse_offers_declined += ids.len() as u64;
            self.call(call::Type::DeclineInverseOffers, |c| {
                c.decline_inverse_offers = Some(call::DeclineInverseOffers {
                    inverse_offer_ids: ids,
                    filters,
                })
            })
        };
        self.send_now(c);
    }

    /// Launch on one agent: one ACCEPT for `offer_ids` (all of one agent
    /// and allocation role; the master refuses mixed roles), after the
    /// launch intents are stored.
    pub(crate) fn accept(
        &mut self,
        now: Instant,
        offer_ids: Vec<String>,
        agent_id: &str,
        launches: Vec<Launch>,
        groups: Vec<GroupLaunch>,
    ) {
        let mut infos = Vec::with_capacity(launches.len());
        for Launch { record, info } in launches {
            if self.tasks.contains_key(&record.id) {
                // A second launch of a tracked id would make two tasks one.
                tracing::error!(target: "tritium::offers", task = %record.id, "launch of a task id already tracked; skipped");
                continue;
            }
            infos.push(self.track_launch(now, record, info));
        }
        let mut operations = Vec::with_capacity(groups.len() + 1);
        let mut n = infos.len();
        if !infos.is_empty() {
            operations.push(offer::Operation {
                r#type: Some(offer::operation::Type::Launch as i32),
                launch: Some(offer::operation::Launch { task_infos: infos }),
                ..Default::default()
            });
        }
        for GroupLaunch { executor, tasks } in groups {
            // All of a group or none of it.
            let tracked = tasks.iter().any(|l| self.tasks.contains_key(&l.record.id));
            if tracked || tasks.is_empty() {
                tracing::error!(target: "tritium::offers", executor = %executor.executor_id.value, "task group with a task id already tracked (or none); skipped");
                continue;
            }
            let mut group = Vec::with_capacity(tasks.len());
            for Launch { record, info } in tasks {
                group.push(self.track_launch(now, record, info));
            }
            n += group.len();
            operations.push(offer::Operation {
                r#type: Some(offer::operation::Type::LaunchGroup as i32),
                launch_group: Some(offer::operation::LaunchGroup {
                    executor,
                    task_group: mesos::TaskGroupInfo { tasks: group },
                }),
                ..Default::default()
            });
        }
        let offer_ids: Vec<mesos::OfferId> = offer_ids
            .into_iter()
            .map(|value| mesos::OfferId { value })
            .collect();
        self.stats.offers_received += offer_ids.len() as u64;
        if operations.is_empty() {
            // Nothing left to launch there (a race with a command this
            // turn): the offers are declined like any other.
            self.stats.offers_declined += offer_ids.len() as u64;
            return self.decline_again(offer_ids);
        }
        self.stats.tasks_launched += n as u64;
        self.accept_tasks += n as u64;
        self.acks_expected += ACKS_PER_LAUNCH * n as u64;
        self.stats.offers_accepted += offer_ids.len() as u64;
        tracing::debug!(target: "tritium::offers", agent = %agent_id, offers = offer_ids.len(), tasks = n, "accepting");
        let refuse = if self.held_back_this_event {
            self.cfg.backpressure_refuse()
        } else {
            self.cfg.decline_busy
        }
        .as_secs_f64();
        let c = self.call(call::Type::Accept, |c| {
            c.accept = Some(call::Accept {
                offer_ids,
                operations,
                filters: Some(mesos::Filters {
                    refuse_seconds: Some(refuse),
                }),
            })
        });
        self.send_after_store(c);
    }

    /// Track a task about to be launched: its intent joins this turn's
    /// batch (durable before the ACCEPT leaves), the task enters the
    /// table as STAGING. Gives back the TaskInfo to send.
    fn track_launch(
        &mut self,
        now: Instant,
        mut record: TaskRecord,
        info: mesos::TaskInfo,
    ) -> mesos::TaskInfo {
        debug_assert_eq!(
            record.id, info.task_id.value,
            "record and TaskInfo name one task"
        );
        record.state = TaskState::TaskStaging as i32;
        // The launch intent is durable before the ACCEPT leaves.
        self.batch.push(StoreOp::PutTask(record.clone()));
        // The intent was just pushed: this turn's batch.
        let task = Task::new(record, now, self.issued_seq + 1);
        let ev = task_event(&task, TaskState::TaskStaging as i32, None);
        self.out.push_back(ev);
        if let Some(at) = task_deadline(&self.cfg, &task) {
            self.lower_task_floor(at);
        }
        self.tasks.insert(task.rec.id.clone(), Box::new(task));
        info
    }

    /// Queue offers to be declined again after the resync pause (not at
    /// once: a master answering 503 would be hammered).
    pub(super) fn decline_later(&mut self, now: Instant, ids: Vec<mesos::OfferId>) {
        // Bounded: an offer id repeated per failure must not pile up.
        if self.redecline.len() < MAX_REDECLINE {
            self.redecline.extend(ids);
        }
        self.resync_at.get_or_insert(now + RESYNC_DELAY);
    }

    pub(super) fn decline_again(&mut self, ids: Vec<mesos::OfferId>) {
        self.decline(ids, self.cfg.decline_busy);
    }

    /// DECLINE `ids`, refusing them for `refuse`.
    pub(crate) fn decline(&mut self, ids: Vec<mesos::OfferId>, refuse: Duration) {
        let c = self.call(call::Type::Decline, |c| {
            c.decline = Some(call::Decline {
                offer_ids: ids,
                filters: Some(mesos::Filters {
                    refuse_seconds: Some(refuse.as_secs_f64()),
                }),
            })
        });
        self.send_now(c);
    }

    /// DECLINE offers `ids` (of the event being answered), refusing them
    /// for `refuse`, the call encoded straight from the ids into the call
    /// buffer: nothing is copied or allocated per offer, nor, in steady
    /// state, per call. The bytes are those prost gives the same `Call`.
    /// Gives back how many ids there were (`ids` is walked twice: lengths
    /// and count, then the bytes).
    pub(crate) fn decline_strs<'a, I>(&mut self, ids: I, refuse: Duration) -> usize
    where
        I: Iterator<Item = &'a str> + Clone,
    {
        let Some(stream_id) = self.stream_arc().cloned() else {
            return ids.count();
        };
        let fid = self.framework_id.as_deref();
        let n = encode_decline(&mut self.call_buf, fid, ids, refuse);
        if n == 0 {
            return 0;
        }
        let body = self.call_buf.split().freeze();
        self.emit(stream_id, "DECLINE", body.clone(), CallMeta::Decline(body));
        n
    }

    /// Tell a master that filters offers (Mesos ≥ 1.11) which agents can
    /// serve what is pending, when that changed: UPDATE_FRAMEWORK with the
    /// matcher's offer constraints (never stricter than the matcher). The
    /// call also carries the suppression state, which it replaces.
    pub(super) fn update_offer_constraints<F: Framework>(&mut self, fw: &mut F, now: Instant) {
        if !self.master_filters_offers {
            return;
        }
        let wanted = fw.offer_constraints(&View { core: self, now });
        if wanted == self.sent_constraints {
            return;
        }
        let mut info = self
            .subscribe_call()
            .subscribe
            .expect("subscribe")
            .framework_info;
        info.id = self
            .framework_id
            .clone()
            .map(|value| mesos::FrameworkId { value });
        let suppressed_roles = if self.suppressed {
            self.cfg.framework.roles.clone()
        } else {
            Vec::new()
        };
        tracing::debug!(target: "tritium::offers", constraints = ?wanted, "updating the master's offer constraints");
        let c = self.call(call::Type::UpdateFramework, |c| {
            c.update_framework = Some(call::UpdateFramework {
                framework_info: info,
                suppressed_roles,
                offer_constraints: wanted.clone(),
            })
        });
        self.sent_constraints = wanted;
        self.send_now(c);
    }
}

/// Encodes a DECLINE `Call` of `ids` into `buf` (cleared first), the bytes
/// prost gives the same `Call`; gives back how many ids it holds (0, and
/// nothing written, without ids).
fn encode_decline<'a>(
    buf: &mut bytes::BytesMut,
    framework_id: Option<&str>,
    ids: impl Iterator<Item = &'a str> + Clone,
    refuse: Duration,
) -> usize {
    use bytes::BufMut;
    use prost::encoding::{encode_varint, encoded_len_varint};
    let vlen = |n: usize| encoded_len_varint(n as u64);
    // An `OfferID` message: field 1, the id's bytes.
    let offer_len = |id: &str| 1 + vlen(id.len()) + id.len();
    let (mut decline_len, mut n) = (0, 0);
    for id in ids.clone() {
        let l = offer_len(id);
        decline_len += 1 + vlen(l) + l;
        n += 1;
    }
    if n == 0 {
        return 0;
    }
    // `filters`: a `Filters` of one double (tag + 8 bytes).
    decline_len += 1 + vlen(9) + 9;
    let fid_len = framework_id.map(|f| 1 + vlen(f.len()) + f.len());
    let total = fid_len.map_or(0, |l| 1 + vlen(l) + l)
        + 1
        + vlen(call::Type::Decline as usize)
        + 1
        + vlen(decline_len)
        + decline_len;
    buf.clear();
    buf.reserve(total);
    if let (Some(f), Some(l)) = (framework_id, fid_len) {
        // Call.framework_id (1) { value (1) }
        buf.put_u8(0x0a);
        encode_varint(l as u64, buf);
        buf.put_u8(0x0a);
        encode_varint(f.len() as u64, buf);
        buf.put_slice(f.as_bytes());
    }
    // Call.type (2) = DECLINE
    buf.put_u8(0x10);
    encode_varint(call::Type::Decline as u64, buf);
    // Call.decline (5) { offer_ids (1) { value (1) }..., filters (2) }
    buf.put_u8(0x2a);
    encode_varint(decline_len as u64, buf);
    for id in ids {
        buf.put_u8(0x0a);
        encode_varint(offer_len(id) as u64, buf);
        buf.put_u8(0x0a);
        encode_varint(id.len() as u64, buf);
        buf.put_slice(id.as_bytes());
    }
    buf.put_u8(0x12);
    encode_varint(9, buf);
    // Filters.refuse_seconds (1), a double
    buf.put_u8(0x09);
    buf.put_f64_le(refuse.as_secs_f64());
    debug_assert_eq!(buf.len(), total, "the DECLINE's computed length");
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-encoded DECLINE is byte for byte what prost encodes.
    #[test]
    fn encoded_decline_is_what_prost_encodes() {
        let long = "o".repeat(300);
        for fid in [None, Some("fw-1"), Some("a-framework-id-of-some-length")] {
            for ids in [vec!["o1"], vec!["offer-1", "offer-2", long.as_str()]] {
                for refuse in [Duration::ZERO, Duration::from_millis(5_250)] {
                    let mut buf = bytes::BytesMut::new();
                    assert_eq!(
                        encode_decline(&mut buf, fid, ids.iter().copied(), refuse),
                        ids.len()
                    );
                    let want = Call {
                        framework_id: fid.map(|f| mesos::FrameworkId { value: f.into() }),
                        r#type: Some(call::Type::Decline as i32),
                        decline: Some(call::Decline {
                            offer_ids: ids
                                .iter()
                                .map(|i| mesos::OfferId { value: (*i).into() })
                                .collect(),
                            filters: Some(mesos::Filters {
                                refuse_seconds: Some(refuse.as_secs_f64()),
                            }),
                        }),
                        ..Call::default()
                    };
                    assert_eq!(&buf[..], &want.encode_to_vec()[..], "{fid:?} {ids:?}");
                }
            }
        }
        let mut buf = bytes::BytesMut::new();
        assert_eq!(
            encode_decline(&mut buf, Some("f"), [].into_iter(), Duration::ZERO),
            0
        );
        assert!(buf.is_empty());
    }
}

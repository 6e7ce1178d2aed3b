//! The subscription: SUBSCRIBE and its response (the 307/503/401/403
//! rules), reconnecting with backoff, the SUBSCRIBED event, and stopping.

use super::*;

/// Whether a master version string ("1.11.0") is 1.11 or later, the first
/// Mesos with offer constraints.
pub(super) fn version_at_least_1_11(v: &str) -> bool {
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (1, 11),
        _ => false,
    }
}

/// Whether a master's answer says our framework was removed: the ERROR
/// event says "Framework has been removed", tritium-sim's 403 to a call
/// "Framework <id> has been removed".
pub(super) fn says_removed(body: &str) -> bool {
    body.contains("has been removed") && body.contains("Framework")
}

/// Whether a 403 to a call is Mesos's "Framework is not subscribed" (or
/// "... not connected via HTTP"): the master dropped our stream, a race
/// after a disconnect, not a credentials problem.
pub(super) fn says_unsubscribed(body: &str) -> bool {
    body.contains("not subscribed") || body.contains("not connected via HTTP")
}

/// How long a stream the master said it closed (a 403 "not subscribed"
/// to a call) is read for its last events before subscribing again. Its
/// end normally comes within a round trip; this bounds a stream that
/// stays open.
pub(super) const STREAM_END_WAIT: Duration = Duration::from_secs(2);

impl Core {
    pub(super) fn subscribe(&mut self, now: Instant) {
        let body = self.subscribe_call().encode_to_vec();
        self.out.push_back(Output::Subscribe {
            master: (*self.target).clone(),
            body: Bytes::from(body),
        });
        self.phase = Phase::Subscribing {
            deadline: now + self.cfg.subscribe_timeout,
        };
    }

    pub(super) fn subscribe_call(&self) -> Call {
        use framework_info::capability::Type as Cap;
        let f = &self.cfg.framework;
        let id = self
            .framework_id
            .clone()
            .map(|value| mesos::FrameworkId { value });
        let info = mesos::FrameworkInfo {
            user: f.user.clone(),
            name: f.name.clone(),
            id: id.clone(),
            failover_timeout: Some(f.failover_timeout.as_secs_f64()),
            checkpoint: Some(true),
            roles: f.roles.clone(),
            hostname: f.hostname.clone(),
            principal: f.principal.clone(),
            webui_url: f.webui_url.clone(),
            capabilities: [
                Cap::MultiRole,
                Cap::PartitionAware,
                Cap::TaskKillingState,
                Cap::GpuResources,
            ]
            .iter()
            .chain(f.region_aware.then_some(&Cap::RegionAware))
            .map(|t| framework_info::Capability {
                r#type: Some(*t as i32),
            })
            .collect(),
            labels: mesos::Labels::from_pairs(f.labels.iter().map(|(k, v)| (k.clone(), v.clone()))),
            ..mesos::FrameworkInfo::default()
        };
        Call {
            framework_id: id,
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: info,
                ..Default::default()
            }),
            ..Call::default()
        }
    }

    /// Drop the current subscription and try again after a backoff
    /// (`immediately` for a redirect).
    pub(super) fn reconnect(&mut self, now: Instant, immediately: bool) {
        self.stream_ending_by = None;
        if matches!(
            self.phase,
            Phase::Subscribing { .. } | Phase::Streaming { .. }
        ) {
            self.out.push_back(Output::CloseSubscription);
        }
        // Calls held for the old stream cannot be sent on a new one, and
        // answers to calls on it will not come.
        self.held.retain(|(_, h)| matches!(h, Held::Reply(_)));
        self.held_call_bytes = 0;
        self.inflight.clear();
        self.acks_pending.clear();
        // The driver drops the call connection with the subscription.
        self.call_queue_dropped();
        self.reconcile = Reconcile::default();
        self.stats.reconnects += 1;
        if immediately {
            self.subscribe(now);
            return;
        }
        self.redirects = 0;
        // Rotate through the configured masters on failures.
        if self.cfg.masters.len() > 1 {
            self.master_ix = (self.master_ix + 1) % self.cfg.masters.len();
        }
        self.target = Arc::new(self.cfg.masters[self.master_ix].clone());
        let delay = self.backoff();
        self.attempt = self.attempt.saturating_add(1);
        self.phase = Phase::Waiting { until: now + delay };
    }

    /// Capped exponential backoff with jitter in [d/2, d].
    pub(super) fn backoff(&mut self) -> Duration {
        let exp = self.attempt.min(20);
        let d = self
            .cfg
            .backoff_initial
            .saturating_mul(1u32 << exp.min(16))
            .min(self.cfg.backoff_max);
        let half = d / 2;
        half + Duration::from_nanos(self.rng.below(half.as_nanos().max(1) as u64))
    }

    /// The master removed our framework id: stop for good, whichever way
    /// it said so (ERROR on the stream, 403 to SUBSCRIBE or to a call).
    pub(super) fn stop_removed(&mut self, said: &str) {
        self.stop(
            exit::REMOVED,
            format!(
                "the master removed framework {} ({said:?}): its tasks are gone; an operator must decide whether to start afresh",
                self.framework_id.as_deref().unwrap_or("?")
            ),
        );
    }

    pub(super) fn stop(&mut self, code: i32, reason: String) {
        tracing::error!(target: "tritium::subscription", code, %reason, "stopping");
        if matches!(
            self.phase,
            Phase::Subscribing { .. } | Phase::Streaming { .. }
        ) {
            self.out.push_back(Output::CloseSubscription);
        }
        self.stopped = Some((code, reason.clone()));
        self.out.push_back(Output::Exit { code, reason });
        self.phase = Phase::Stopped;
    }

    pub(super) fn on_subscribe_response(
        &mut self,
        now: Instant,
        status: u16,
        stream_id: Option<String>,
        location: Option<String>,
        content_type: Option<String>,
        body: String,
    ) {
        if !matches!(self.phase, Phase::Subscribing { .. }) {
            return;
        }
        match status {
            200 => {
                let Some(stream_id) = stream_id.filter(|s| !s.is_empty()) else {
                    tracing::error!(target: "tritium::subscription", "200 without Mesos-Stream-Id");
                    return self.reconnect(now, false);
                };
                if content_type.as_deref() != Some("application/x-protobuf") {
                    tracing::error!(target: "tritium::subscription", ?content_type, "stream is not protobuf");
                    return self.reconnect(now, false);
                }
                self.phase = Phase::Streaming {
                    stream_id: Arc::from(stream_id),
                    subscribed: false,
                    heartbeat: self.cfg.default_heartbeat,
                    last_event: now,
                    deadline: now + self.cfg.subscribe_timeout,
                };
            }
            307 => {
                self.stats.redirects += 1;
                let next = location.as_deref().map(|l| self.target.resolve(l));
                match next {
                    Some(Ok(url)) if self.redirects < self.cfg.max_redirects => {
                        tracing::info!(target: "tritium::subscription", from = %self.target, to = %url, "redirected to the leading master");
                        self.redirects += 1;
                        self.target = Arc::new(url);
                        self.reconnect(now, true);
                    }
                    other => {
                        tracing::warn!(target: "tritium::subscription", ?other, "unusable redirect");
                        self.reconnect(now, false);
                    }
                }
            }
            403 if says_removed(&body) => self.stop_removed(body.trim()),
            401 | 403 => self.stop(
                exit::AUTH,
                format!(
                    "master {} refused SUBSCRIBE with {status}: check --principal and --secret-file ({})",
                    self.target,
                    body.trim()
                ),
            ),
            _ => {
                tracing::warn!(target: "tritium::subscription", status, body = %body.trim(), master = %self.target, "SUBSCRIBE refused");
                self.reconnect(now, false);
            }
        }
    }

    pub(crate) fn stream_id(&self) -> Option<&str> {
        self.stream_arc().map(|s| &**s)
    }

    /// The current stream id, shared (calls carry it without copying).
    pub(crate) fn stream_arc(&self) -> Option<&Arc<str>> {
        match &self.phase {
            Phase::Streaming {
                stream_id,
                subscribed: true,
                ..
            } => Some(stream_id),
            _ => None,
        }
    }

    pub(super) fn on_subscribed<F: Framework>(
        &mut self,
        fw: &mut F,
        now: Instant,
        s: event::Subscribed,
    ) {
        let Phase::Streaming {
            subscribed,
            heartbeat,
            ..
        } = &mut self.phase
        else {
            return;
        };
        *subscribed = true;
        if let Some(h) = s
            .heartbeat_interval_seconds
            .filter(|h| h.is_finite() && *h > 0.0)
        {
            *heartbeat = Duration::from_secs_f64(h.min(3600.0));
        }
        self.stats.subscriptions += 1;
        self.attempt = 0;
        self.redirects = 0;
        let id = s.framework_id.value;
        if self.framework_id.as_deref() != Some(id.as_str()) {
            if let Some(old) = &self.framework_id {
                tracing::error!(target: "tritium::subscription", %old, new = %id, "master assigned a different framework id");
            }
            tracing::info!(target: "tritium::subscription", framework_id = %id, "framework id assigned");
            self.framework_id = Some(id.clone());
            self.batch.push(StoreOp::FrameworkId(id));
        }
        tracing::info!(target: "tritium::subscription", master = %self.target, framework_id = ?self.framework_id, "subscribed");
        // The master's idea of suppression and offer constraints starts
        // clean with every subscription.
        self.suppressed = false;
        self.flow_suppressed = false;
        self.sent_constraints = None;
        self.master_filters_offers = s
            .master_info
            .as_ref()
            .and_then(|m| m.version.as_deref())
            .is_some_and(version_at_least_1_11);
        self.master_region = s
            .master_info
            .as_ref()
            .and_then(|m| m.domain.as_ref())
            .and_then(|d| d.fault_domain.as_ref())
            .map(|f| f.region.name.clone());
        self.offer_quiet_since = Some(now);
        self.start_reconciliation(now);
        // Scale-downs decided while unsubscribed or before a restart are
        // carried out now, and KILLs that may have been lost with the old
        // connection are sent again (a KILL is idempotent). A task already
        // KILLING is dying: it is not kept, nor killed again.
        self.tasks.for_each_mut(|t| {
            t.kill_sent = t.rec.state == TaskState::TaskKilling as i32;
            t.kill_emitted = t.kill_sent;
        });
        self.recompute_task_floor();
        fw.subscribed(&mut Ctx::new(self, now));
    }
}

#[cfg(test)]
mod tests {
    use super::version_at_least_1_11;

    #[test]
    fn offer_constraints_only_for_masters_that_filter() {
        for v in ["1.11.0", "1.12.0-rc1", "2.0.0", "1.11"] {
            assert!(version_at_least_1_11(v), "{v}");
        }
        for v in ["1.10.3", "1.5.0", "0.28.2", "", "x.y"] {
            assert!(!version_at_least_1_11(v), "{v}");
        }
    }
}

//! Deploy control: the updates in progress as the API lists them, and an
//! operator's pause, resume and abort of one. The state lives in the app's
//! durable record (`AppRecord.rollout`), so a restarted tritium keeps a
//! paused update paused and a waiting canary waiting; `decide` reads it
//! (the new version's cap, no kills while paused) and `converge` moves it
//! on (canaries ready, update or rollback done).

use super::{App, AppService, store_app};
use crate::contract::{DeployAction, DeployState, DeploymentList, DeploymentView};
use crate::framework::{Ctx, View};
use crate::session::{Answer, CommandError};

impl AppService {
    /// Every update in progress, by app name.
    pub(super) fn deployments(&self, view: &View<'_>) -> DeploymentList {
        DeploymentList {
            deployments: self
                .apps
                .iter()
                .filter_map(|(name, app)| self.deployment_view(view, name, app))
                .collect(),
        }
    }

    fn deployment_view(&self, view: &View<'_>, name: &str, app: &App) -> Option<DeploymentView> {
        let r = &app.rec;
        if r.deleting {
            return None;
        }
        let o = r.rollout.as_ref()?;
        let steps_done = Self::instance_tasks(view, name)
            .filter(|t| {
                t.record().version == r.version
                    && !t.kill_sent()
                    && self.instance_ready(view, app, t)
            })
            .count()
            .min(r.spec.instances as usize);
        let state = if o.rolling_back {
            DeployState::RollingBack
        } else if o.paused {
            DeployState::Paused
        } else if o.canary_waiting {
            DeployState::CanaryWaiting
        } else {
            DeployState::Running
        };
        let now = view.now();
        Some(DeploymentView {
            app: name.to_owned(),
            from_version: o.from_version,
            to_version: r.version,
            steps_done,
            steps_total: r.spec.instances as usize,
            state,
            started: o.started_ns.map(|ns| ns as f64 / 1e9),
            canary: o.canary.as_ref().map(|c| c.instances),
            canary_timeout_seconds: app
                .canary_deadline
                .map(|t| t.saturating_duration_since(now).as_secs_f64()),
        })
    }

    /// Pause, resume or abort `name`'s update.
    ///
    /// * pause: the new version keeps the instances it has (a failed one
    ///   is still replaced); no old task is killed;
    /// * resume: go on to the end, past a canary step too;
    /// * abort: roll back to the version the update replaces (a rollback
    ///   in progress cannot be aborted, only paused and resumed).
    pub(super) fn control_deployment(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: &str,
        action: DeployAction,
    ) -> Result<Answer, CommandError> {
        let Some(app) = self.apps.get(name) else {
            return Err(CommandError::not_found("app", format!("no app {name}")));
        };
        let Some(o) = app.rec.rollout.as_ref().filter(|_| !app.rec.deleting) else {
            let e = CommandError::conflict("app", format!("app {name} has no update in progress"));
            return Err(e);
        };
        match action {
            DeployAction::Abort if o.rolling_back => {
                let e = CommandError::conflict(
                    "app",
                    format!(
                        "app {name} is already rolling back to version {}",
                        app.rec.version
                    ),
                );
                return Err(e);
            }
            DeployAction::Abort => {
                self.roll_back(ctx, name, "aborted by an operator");
            }
            DeployAction::Pause | DeployAction::Resume => {
                let view = ctx.view();
                let live_new = Self::instance_tasks(&view, name)
                    .filter(|t| {
                        t.record().version == app.rec.version && !t.kill_sent() && view.counts(t)
                    })
                    .count();
                let live_new = u32::try_from(live_new).unwrap_or(u32::MAX);
                let app = self.apps.get_mut(name).expect("checked");
                let o = app.rec.rollout.as_mut().expect("checked");
                if action == DeployAction::Pause {
                    if !o.paused {
                        o.paused = true;
                        o.cap = Some(o.cap.map_or(live_new, |c| c.min(live_new)));
                    }
                } else {
                    o.paused = false;
                    o.cap = None;
                    o.canary = None;
                    o.canary_waiting = false;
                    o.canary_until_ns = None;
                    app.canary_deadline = None;
                }
                tracing::info!(target: "tritium::apps", app = %name, ?action, "deployment control");
                let rec = app.rec.clone();
                store_app(ctx, &rec);
                self.touch(name);
                let event = if action == DeployAction::Pause {
                    "deployment_paused"
                } else {
                    "deployment_resumed"
                };
                self.notify_app(ctx, name, event);
            }
        }
        self.converge(ctx, name);
        let app = self
            .apps
            .get(name)
            .expect("an app is removed only when deleted");
        let view = ctx.view();
        let d = self
            .deployment_view(&view, name, app)
            .unwrap_or_else(|| DeploymentView {
                // Resumed at the last step: the update is done already.
                app: name.to_owned(),
                from_version: app.rec.version,
                to_version: app.rec.version,
                steps_done: app.rec.spec.instances as usize,
                steps_total: app.rec.spec.instances as usize,
                state: DeployState::Running,
                started: None,
                canary: None,
                canary_timeout_seconds: None,
            });
        Ok(Answer::Deployment(Box::new(d)))
    }
}

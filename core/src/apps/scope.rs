//! Commands asked within a team's scope ([`CommandKind::Scoped`]): the
//! checks before the command runs, and the lists cut to the scope's apps.
//!
//! No existence leak: an app out of the scope is refused with the very
//! answer a missing app gets (`not found`, field `name` or `app`, "no app
//! X"). What the scope may not do to an app it sees (an app of its name
//! prefixes running under a role it may not use) is forbidden.

use super::AppService;
use crate::contract::{CommandError, Scope};
use crate::framework::Ctx;
use crate::session::{Answer, CommandKind};
use crate::spec::AppSpec;

/// The answer about an app the scope does not see: a missing app's.
fn hidden(field: &str, name: &str) -> CommandError {
    CommandError::not_found(field, format!("no app {name}"))
}

impl AppService {
    pub(super) fn on_scoped_command(
        &mut self,
        ctx: &mut Ctx<'_>,
        scope: &Scope,
        kind: CommandKind,
    ) -> Result<Answer, CommandError> {
        match &kind {
            CommandKind::CreateApp(spec) | CommandKind::PutApp(spec) => {
                self.scope_spec(ctx, scope, spec, false)?;
            }
            CommandKind::UpdateApp(spec) | CommandKind::UpdateAppWithCanary { spec, .. } => {
                self.scope_spec(ctx, scope, spec, true)?
            }
            CommandKind::CreateApps(specs) | CommandKind::UpdateApps(specs) => {
                let update = matches!(kind, CommandKind::UpdateApps(_));
                for (i, spec) in specs.iter().enumerate() {
                    self.scope_spec(ctx, scope, spec, update)
                        .map_err(|e| e.in_list(i))?;
                }
            }
            CommandKind::RemoveApp(name)
            | CommandKind::RestartApp(name)
            | CommandKind::RemoveAppWithGrace { name, .. }
            | CommandKind::RestartAppWithGrace { name, .. } => {
                self.scope_app(ctx, scope, "name", name, true)?;
            }
            CommandKind::KillTask { app, .. } => self.scope_app(ctx, scope, "name", app, true)?,
            CommandKind::DeployVersion { name, version } => {
                self.scope_app(ctx, scope, "name", name, true)?;
                // The version may run under a role the app no longer uses.
                if let Ok(v) = self.version_view(name, *version) {
                    self.scope_spec(ctx, scope, &v.spec, true)?;
                }
            }
            CommandKind::Deployment { app, .. } => self.scope_app(ctx, scope, "app", app, true)?,
            CommandKind::GetApp { name, .. }
            | CommandKind::Queue(Some(name))
            | CommandKind::AppVersions(name)
            | CommandKind::AppVersion { name, .. } => {
                self.scope_app(ctx, scope, "name", name, false)?;
            }
            CommandKind::ListApps {
                offset,
                limit,
                tasks,
                task_budget,
            } => {
                let list = self.app_list_in(
                    &ctx.view(),
                    Some(scope),
                    *offset,
                    *limit,
                    *tasks,
                    *task_budget,
                );
                return Ok(Answer::Apps(list));
            }
            CommandKind::AppRows(q) => {
                let rows = self.app_rows(&ctx.view(), Some(scope), q);
                return Ok(Answer::AppRows(Box::new(rows)));
            }
            CommandKind::Status => {
                let status = self.status_view_in(&ctx.view(), Some(scope));
                return Ok(Answer::Status(Box::new(status)));
            }
            CommandKind::Queue(None) | CommandKind::Deployments | CommandKind::Ready => {}
            CommandKind::Maintenance
            | CommandKind::Metrics
            | CommandKind::Agents { .. }
            | CommandKind::Charts => {
                return Err(CommandError::forbidden(
                    "",
                    "a cluster-wide query: it needs a token not scoped to a team",
                ));
            }
            CommandKind::Scoped { .. } => {
                return Err(CommandError::invalid(
                    "",
                    "a scoped command inside a scoped one",
                ));
            }
        }
        let answer = self.on_command(ctx, kind)?;
        Ok(match answer {
            Answer::Queue(mut q) => {
                q.queue.retain(|e| scope.sees(&e.app));
                Answer::Queue(q)
            }
            Answer::Deployments(mut d) => {
                d.deployments.retain(|e| scope.sees(&e.app));
                Answer::Deployments(d)
            }
            other => other,
        })
    }

    /// The role an app of `spec` runs under.
    fn effective_role<'a>(ctx: &'a Ctx<'_>, spec: &'a AppSpec) -> &'a str {
        spec.role()
            .or_else(|| ctx.config().framework.roles.first().map(String::as_str))
            .unwrap_or("*")
    }

    /// May the scope ask this of app `name` (`change`: a verb that
    /// changes it, which needs the app's role to be the scope's)?
    fn scope_app(
        &self,
        ctx: &Ctx<'_>,
        scope: &Scope,
        field: &str,
        name: &str,
        change: bool,
    ) -> Result<(), CommandError> {
        let Some(app) = self.apps.get(name).filter(|_| scope.sees(name)) else {
            return Err(hidden(field, name));
        };
        let role = Self::effective_role(ctx, &app.rec.spec);
        if change && !scope.may_use_role(role) {
            return Err(CommandError::forbidden(
                field,
                format!("app {name} runs under role {role:?}, which this token may not use"),
            ));
        }
        Ok(())
    }

    /// May the scope create (or, `update`, change) an app to `spec`?
    fn scope_spec(
        &self,
        ctx: &Ctx<'_>,
        scope: &Scope,
        spec: &AppSpec,
        update: bool,
    ) -> Result<(), CommandError> {
        let name = &spec.name;
        if !scope.sees(name) {
            if update {
                return Err(hidden("name", name));
            }
            return Err(CommandError::forbidden(
                "name",
                format!(
                    "this token may only create apps whose names start with {:?}",
                    scope.prefixes
                ),
            ));
        }
        if update {
            // The app as it is must be the scope's to change (a missing
            // one is the update's own not found).
            if self.apps.contains_key(name) {
                self.scope_app(ctx, scope, "name", name, true)?;
            }
        }
        let role = Self::effective_role(ctx, spec);
        if !scope.may_use_role(role) {
            let field = if spec.role.is_some() || spec.resources.role.is_none() {
                "role"
            } else {
                "resources.role"
            };
            return Err(CommandError::forbidden(
                field,
                format!("this token may not run apps under role {role:?}"),
            ));
        }
        Ok(())
    }
}

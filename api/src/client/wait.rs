//! `--wait`: follow a change until it is done, failed or out of time.
//!
//! The event stream (opened *before* the change is sent, so no event is
//! missed) only says when to look again; what counts is the app as `GET`
//! shows it, asked after each event and at least every [`POLL`], so a
//! dropped stream or a server without one still converges. Progress goes
//! to stderr (stdout stays the command's result): a redrawn bar on a
//! terminal, one plain line per change otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use tritium_client::{AppStatus, AppView, Client, Error, Events};

use super::Failure;
use super::output::is_live;

/// Longest time between two looks at the app when no event comes.
const POLL: Duration = Duration::from_secs(1);
/// Events closer together than this are answered by one look.
const COALESCE: Duration = Duration::from_millis(50);
/// Width of the progress bar, in cells.
const BAR: usize = 24;

/// What "done" means for one app.
#[derive(Debug, Clone)]
pub enum Goal {
    /// Every instance of `version` RUNNING (and healthy with a health
    /// check), nothing else alive; a job: finished.
    Converged { name: String, version: Option<u64> },
    /// The app is gone.
    Deleted { name: String },
}

impl Goal {
    pub fn name(&self) -> &str {
        match self {
            Goal::Converged { name, .. } | Goal::Deleted { name } => name,
        }
    }
}

/// Where an app stands against its goal.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Done,
    Failed(String),
    /// Not yet: `ready` of `wanted`, and a line describing it.
    Pending {
        ready: u64,
        wanted: u64,
        line: String,
    },
}

/// The app (None: 404) against the goal.
pub fn judge(goal: &Goal, app: Option<&AppView>) -> Verdict {
    match (goal, app) {
        (Goal::Deleted { .. }, None) => Verdict::Done,
        (Goal::Deleted { name }, Some(a)) => {
            let live = a.tasks.iter().filter(|t| is_live(t)).count() as u64;
            Verdict::Pending {
                ready: 0,
                wanted: 0,
                line: format!("{name}: {}, {live} task(s) still alive", a.status),
            }
        }
        (Goal::Converged { name, .. }, None) => {
            Verdict::Failed(format!("app {name} no longer exists (deleted meanwhile)"))
        }
        (Goal::Converged { name, version }, Some(a)) => converged(name, *version, a),
    }
}

fn converged(name: &str, target: Option<u64>, a: &AppView) -> Verdict {
    let status = a.status;
    let v = a.version;
    if let Some(t) = target
        && v != t
    {
        return Verdict::Failed(if a.rolled_back || v < t {
            format!("app {name}: version {t} failed and was rolled back to version {v}")
        } else {
            format!("app {name}: changed meanwhile by someone else (now version {v})")
        });
    }
    match status {
        AppStatus::CrashLooping => {
            return Verdict::Failed(format!(
                "app {name} is crash-looping ({} failures in a row); see `tritium app show {name}`",
                a.failures
            ));
        }
        AppStatus::Failed => return Verdict::Failed(format!("job {name} failed")),
        AppStatus::Finished => return Verdict::Done,
        AppStatus::Deleting => {
            return Verdict::Failed(format!("app {name} is being deleted"));
        }
        _ => {}
    }
    let health = a.spec.healthcheck.is_some();
    let wanted = u64::from(a.instances);
    let ready = a
        .tasks
        .iter()
        .filter(|t| {
            // With a readiness check, ready is the server's word.
            t.version == v
                && !t.killing
                && if a.spec.readiness.is_some() {
                    t.ready
                } else {
                    t.state == "TASK_RUNNING" && (!health || t.healthy == Some(true))
                }
        })
        .count() as u64;
    let live = a.tasks.iter().filter(|t| is_live(t)).count() as u64;
    if status == AppStatus::Running && ready == wanted && live == wanted {
        return Verdict::Done;
    }
    let what = if health {
        "running and healthy"
    } else {
        "running"
    };
    let mut line = format!("{name} v{v}: {ready}/{wanted} {what} ({status})");
    if live > wanted {
        line.push_str(&format!(
            ", {} old task(s) stopping",
            live - ready.min(live)
        ));
    }
    Verdict::Pending {
        ready,
        wanted,
        line,
    }
}

/// Progress on stderr.
#[derive(Debug)]
pub struct Progress {
    terminal: bool,
    last: String,
    drawn: bool,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            last: String::new(),
            drawn: false,
        }
    }

    fn show(&mut self, ready: u64, wanted: u64, line: &str, elapsed: Duration) {
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let filled = if wanted == 0 {
                BAR
            } else {
                (ready.min(wanted) as usize * BAR) / wanted as usize
            };
            let _ = write!(
                err,
                "\r\x1b[2K[{}{}] {line} {}s",
                "#".repeat(filled),
                ".".repeat(BAR - filled),
                elapsed.as_secs()
            );
            let _ = err.flush();
            self.drawn = true;
        } else if line != self.last {
            let _ = writeln!(err, "{line}");
        }
        self.last = line.to_owned();
    }

    /// End the bar's line before anything else is printed.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// The stream `--wait` listens to, opened before the change is sent.
/// `None` (no stream: refused, or too many clients) means polling alone.
pub fn open_events(client: &Client, app: Option<&str>) -> Option<Events> {
    client.events(app).ok()
}

/// Follow each goal in turn until done; the final apps (`None` for a
/// deleted app). Fails on the first goal that fails, or at `deadline`.
pub fn wait(
    client: &Client,
    mut events: Option<Events>,
    goals: &[Goal],
    deadline: Instant,
    progress: &mut Progress,
) -> Result<Vec<Option<AppView>>, Failure> {
    let started = Instant::now();
    let mut finals = Vec::new();
    for goal in goals {
        let mut next_look = Instant::now();
        let mut last = String::from("no answer from the API yet");
        loop {
            let now = Instant::now();
            if now >= next_look {
                next_look = now + POLL;
                let app = match client.app(goal.name()) {
                    Ok(v) => Some(v),
                    Err(e) if e.is_not_found() => None,
                    // A refusal (a token revoked?) will not get better.
                    Err(Error::Api { status, body }) if (400..500).contains(&status) => {
                        progress.finish();
                        return Err(Failure::refused(status, &body));
                    }
                    Err(Error::Api { status, body }) => {
                        last = format!("the API answered {status}: {:?}", body.error);
                        continue;
                    }
                    // The server may be restarting: keep trying until the
                    // deadline, which reports the last error.
                    Err(e) => {
                        last = e.to_string();
                        continue;
                    }
                };
                match judge(goal, app.as_ref()) {
                    Verdict::Done => {
                        progress.finish();
                        finals.push(app);
                        break;
                    }
                    Verdict::Failed(why) => {
                        progress.finish();
                        return Err(Failure::Failed(why));
                    }
                    Verdict::Pending {
                        ready,
                        wanted,
                        line,
                    } => {
                        progress.show(ready, wanted, &line, started.elapsed());
                        last = line;
                    }
                }
            }
            if Instant::now() >= deadline {
                progress.finish();
                return Err(Failure::Timeout(format!(
                    "gave up after {}s waiting for {}; last seen: {last}",
                    started.elapsed().as_secs(),
                    goal.name()
                )));
            }
            let until = next_look.min(deadline);
            match &mut events {
                Some(s) => match s.next_before(until) {
                    Ok(Some(_)) => next_look = next_look.min(Instant::now() + COALESCE),
                    Ok(None) => {}
                    Err(_) => events = None,
                },
                None => std::thread::sleep(until.saturating_duration_since(Instant::now())),
            }
        }
    }
    Ok(finals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use tritium_client::AppSpec;

    fn app(status: &str, version: u64, tasks: Value) -> AppView {
        let spec = AppSpec::command_app("web", 2, 0.1, 32.0, "sleep 1");
        serde_json::from_value(json!({"name": "web", "status": status, "version": version,
            "instances": 2, "running": 0, "healthy": 0, "spec": spec,
            "previous_version": null, "rolled_back": false, "failures": 0,
            "backoff_seconds": null, "completed": null, "tasks": tasks}))
        .expect("an app view")
    }

    fn task(version: u64, state: &str) -> Value {
        json!({"id": "web.0.x", "instance": 0, "version": version, "state": state,
               "agent_id": "a", "host": "h", "ports": [], "healthy": null,
               "started_at": null, "message": null, "killing": false})
    }

    #[test]
    fn converged_needs_every_instance_of_the_version_running() {
        let goal = Goal::Converged {
            name: "web".into(),
            version: Some(2),
        };
        let half = app(
            "updating",
            2,
            json!([task(2, "TASK_RUNNING"), task(1, "TASK_RUNNING")]),
        );
        assert!(matches!(
            judge(&goal, Some(&half)),
            Verdict::Pending {
                ready: 1,
                wanted: 2,
                ..
            }
        ));
        let done = app(
            "running",
            2,
            json!([
                task(2, "TASK_RUNNING"),
                task(2, "TASK_RUNNING"),
                task(1, "TASK_KILLED")
            ]),
        );
        assert_eq!(judge(&goal, Some(&done)), Verdict::Done);
        let rolled = app("rolling back", 1, json!([]));
        assert!(
            matches!(judge(&goal, Some(&rolled)), Verdict::Failed(w) if w.contains("rolled back"))
        );
        let looping = app("crash-looping", 2, json!([]));
        assert!(matches!(judge(&goal, Some(&looping)), Verdict::Failed(w) if w.contains("crash")));
        assert!(matches!(judge(&goal, None), Verdict::Failed(_)));
    }

    #[test]
    fn health_checked_apps_need_healthy_tasks() {
        let goal = Goal::Converged {
            name: "web".into(),
            version: None,
        };
        let mut a = app(
            "running",
            1,
            json!([task(1, "TASK_RUNNING"), task(1, "TASK_RUNNING")]),
        );
        a.spec.healthcheck = Some(Default::default());
        assert!(matches!(
            judge(&goal, Some(&a)),
            Verdict::Pending { ready: 0, .. }
        ));
        a.tasks[0].healthy = Some(true);
        a.tasks[1].healthy = Some(true);
        assert_eq!(judge(&goal, Some(&a)), Verdict::Done);
    }

    #[test]
    fn deleted_means_gone() {
        let goal = Goal::Deleted { name: "web".into() };
        assert_eq!(judge(&goal, None), Verdict::Done);
        let a = app("deleting", 1, json!([task(1, "TASK_KILLING")]));
        assert!(
            matches!(judge(&goal, Some(&a)), Verdict::Pending { line, .. } if line.contains("1 task"))
        );
    }
}

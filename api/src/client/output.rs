//! What the client prints for people: aligned tables and the short forms
//! of task fields (state without `TASK_`, ports, health, age). Scripts use
//! `-o json`, which prints the server's JSON instead; nothing here is
//! parsed by anyone. It reads the typed views the client reads.

use tritium_client::{AppView, Event, InverseOfferAnswer, MaintenanceView, QueueView, TaskView};

/// Columns padded to their widest cell, two spaces apart; the last column
/// is not padded (no trailing blanks).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < width.len() {
                width[i] = width[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<&str> = cells.collect();
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            l.push_str(cell);
            if i + 1 < cells.len() {
                let pad = width[i].saturating_sub(cell.chars().count()) + 2;
                l.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// A text cell: `-` when empty.
pub fn text(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_owned()
    }
}

/// An optional number as a cell: `-` when absent.
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A float as JSON writes it (`64.0`, `0.1`), as the tables always showed
/// the server's numbers.
pub fn float(x: f64) -> String {
    serde_json::Number::from_f64(x).map_or_else(|| "-".into(), |n| n.to_string())
}

/// `TASK_RUNNING` → `RUNNING`.
pub fn state(s: &str) -> String {
    let s = text(s);
    s.strip_prefix("TASK_").map(str::to_owned).unwrap_or(s)
}

/// `[31000, 31001]` → `31000,31001`; none → `-`.
pub fn ports(ps: &[u32]) -> String {
    if ps.is_empty() {
        return "-".into();
    }
    ps.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// `healthy`: true, false, or none without a health check.
pub fn health(v: Option<bool>) -> String {
    match v {
        Some(true) => "healthy".into(),
        Some(false) => "unhealthy".into(),
        None => "-".into(),
    }
}

/// Seconds since `started_at` (Unix seconds) as `42s`, `5m`, `3h`, `2d`.
pub fn age(started_at: Option<f64>, now_unix: f64) -> String {
    let Some(t) = started_at else {
        return "-".into();
    };
    duration((now_unix - t).max(0.0))
}

/// A length of time in the largest whole unit.
pub fn duration(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// The current time as Unix seconds.
pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `HH:MM:SS` (UTC) of the current time, for event lines.
pub fn clock() -> String {
    let s = now_unix() as u64 % 86400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Tasks still alive (not in a terminal state).
pub fn is_live(task: &TaskView) -> bool {
    !matches!(
        task.state.as_str(),
        "TASK_FINISHED"
            | "TASK_FAILED"
            | "TASK_KILLED"
            | "TASK_LOST"
            | "TASK_ERROR"
            | "TASK_DROPPED"
            | "TASK_GONE"
            | "TASK_GONE_BY_OPERATOR"
    )
}

/// `app list`: one line per app.
pub fn apps_table(apps: &[AppView]) -> String {
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            vec![
                text(&a.name),
                a.status.to_string(),
                a.version.to_string(),
                a.instances.to_string(),
                a.running.to_string(),
                if !a.spec.has_healthcheck() {
                    "-".into()
                } else {
                    a.healthy.to_string()
                },
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "STATUS",
            "VERSION",
            "INSTANCES",
            "RUNNING",
            "HEALTHY",
        ],
        &rows,
    )
}

/// `app show`: the app's summary, then its tasks.
pub fn app_detail(a: &AppView, now_unix: f64) -> String {
    let mut out = String::new();
    let spec = &a.spec;
    // A pod's instance: its containers and executor together.
    let res = &spec.instance_resources();
    let mut summary = vec![
        ("name", text(&a.name)),
        ("status", a.status.to_string()),
        ("version", a.version.to_string()),
        (
            "instances",
            format!(
                "{} wanted, {} running{}",
                a.instances,
                a.running,
                if !spec.has_healthcheck() {
                    String::new()
                } else {
                    format!(", {} healthy", a.healthy)
                }
            ),
        ),
        (
            "resources",
            format!("cpu {}, mem {} MB", float(res.cpu), float(res.mem)),
        ),
    ];
    if spec.is_pod() {
        let names: Vec<String> = spec.containers.iter().map(|c| text(&c.name)).collect();
        summary.push((
            "pod",
            format!(
                "{} containers per instance ({}), one task group each; resources include the executor's",
                names.len(),
                names.join(", ")
            ),
        ));
    }
    if let Some(cmd) = spec.command.as_ref().and_then(|c| c.cmd.as_deref()) {
        summary.push(("command", cmd.to_owned()));
    }
    if let Some(image) = spec.container.as_ref().and_then(|c| c.image.as_deref()) {
        summary.push(("image", image.to_owned()));
    }
    if a.failures > 0 {
        summary.push(("failures", a.failures.to_string()));
    }
    if let Some(b) = a.backoff_seconds {
        summary.push(("backoff", format!("next launch in {b:.0}s")));
    }
    if a.rolled_back {
        summary.push(("rolled back", "yes (an update failed)".into()));
    }
    if let Some(w) = &a.waiting {
        summary.push(("waiting", text(w)));
    }
    if !a.draining.is_empty() {
        let agents: Vec<String> = a
            .draining
            .iter()
            .map(|(agent, n)| format!("{} ({n} left)", text(agent)))
            .collect();
        summary.push(("draining", agents.join(", ")));
    }
    for (k, v) in summary {
        out.push_str(&format!("{:<11} {v}\n", format!("{k}:")));
    }
    if a.tasks.is_empty() {
        out.push_str("\nno tasks\n");
        return out;
    }
    let rows: Vec<Vec<String>> = a
        .tasks
        .iter()
        .map(|t| {
            let mut st = state(&t.state);
            if t.killing {
                st.push_str(" (killing)");
            }
            vec![
                text(&t.id),
                st,
                t.version.to_string(),
                text(&t.agent_id),
                text(&t.host),
                ports(&t.ports),
                health(t.healthy),
                age(t.started_at, now_unix),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(
        &[
            "TASK", "STATE", "VERSION", "AGENT", "HOST", "PORTS", "HEALTH", "AGE",
        ],
        &rows,
    ));
    out
}

/// `maintenance`: one row per scheduled agent.
pub fn maintenance(m: &MaintenanceView, now_unix: f64) -> String {
    if m.agents.is_empty() {
        return "no agent is scheduled for maintenance\n".to_owned();
    }
    let rows: Vec<Vec<String>> = m
        .agents
        .iter()
        .map(|a| {
            let starts = a.window_start - now_unix;
            vec![
                text(&a.agent_id),
                a.hostname.as_deref().map_or_else(|| "-".to_owned(), text),
                if starts > 0.0 {
                    format!("in {}", duration(starts))
                } else {
                    format!("{} ago", duration(-starts))
                },
                a.window_duration
                    .map_or_else(|| "open-ended".to_owned(), duration),
                if a.draining { "yes" } else { "no" }.to_owned(),
                a.tasks_left.to_string(),
                match a.inverse_offer {
                    InverseOfferAnswer::None => "-",
                    InverseOfferAnswer::Held => "held",
                    InverseOfferAnswer::Accepted => "accepted",
                }
                .to_owned(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "AGENT",
            "HOST",
            "WINDOW",
            "LASTS",
            "DRAINING",
            "TASKS LEFT",
            "INVERSE OFFER",
        ],
        &rows,
    );
    if m.total > m.agents.len() {
        out.push_str(&format!(
            "({} of {} agents shown)\n",
            m.agents.len(),
            m.total
        ));
    }
    out
}

/// `app why`: pending instances and why offers were refused.
pub fn why(name: &str, queue: &QueueView) -> String {
    let Some(e) = queue.queue.iter().find(|e| e.app == name) else {
        return format!("{name}: nothing pending; every instance it wants is placed\n");
    };
    let mut out = format!(
        "{name}: {} instance(s) pending, status {}",
        e.pending, e.status
    );
    if let Some(b) = e.backoff_seconds {
        out.push_str(&format!(
            ", backing off {b:.0}s after {} failure(s)",
            e.failures
        ));
    }
    if !e.draining.is_empty() {
        let n: usize = e.draining.values().sum();
        out.push_str(&format!(
            ", moving {n} task(s) off {} agent(s) under maintenance",
            e.draining.len()
        ));
    }
    out.push('\n');
    let Some(w) = &e.why else {
        out.push_str("no offers examined for it yet\n");
        return out;
    };
    out.push_str(&format!(
        "offers considered: {}{}\n",
        w.offers_considered,
        match w.last_offer_seconds_ago {
            Some(s) => format!(" (last {} ago)", duration(s)),
            None => String::new(),
        }
    ));
    let mut rows: Vec<(u64, Vec<String>)> = w
        .refused
        .iter()
        .map(|(reason, count)| {
            let about = reason
                .strip_prefix("filters[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| w.filters.get(i))
                .map(|f| text(f))
                .unwrap_or_else(|| reason_text(reason).into());
            (*count, vec![reason.clone(), count.to_string(), about])
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1[0].cmp(&b.1[0])));
    if rows.is_empty() {
        out.push_str("no offer was refused\n");
    } else {
        out.push('\n');
        let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, r)| r).collect();
        out.push_str(&table(&["REFUSED BY", "OFFERS", "WHAT"], &rows));
    }
    if let Some(n) = &w.near_miss {
        let failed: Vec<String> = n.failed.iter().map(|f| text(f)).collect();
        out.push_str(&format!(
            "\nclosest: agent {} on {} failed {}\n",
            text(&n.agent_id),
            text(&n.hostname),
            failed.join("; ")
        ));
    }
    out
}

/// What a refusal reason of the matcher means.
fn reason_text(reason: &str) -> &'static str {
    match reason {
        "cpus" => "not enough cpus",
        "mem" => "not enough memory",
        "disk" => "not enough disk",
        "gpus" => "not enough gpus",
        "ports" => "the ports asked for are not offered",
        "scalars" => "a named scalar resource is missing",
        "role" => "resources of another role",
        "unique" => "an instance already runs there (unique)",
        _ => "",
    }
}

/// `events`: one line per event.
pub fn event_line(event: &Event) -> String {
    match event {
        Event::Task(t) => {
            let mut l = format!(
                "{} task {} {} v{} {}",
                clock(),
                text(&t.task),
                state(&t.state),
                t.version,
                text(&t.host),
            );
            if t.healthy.is_some() {
                l.push(' ');
                l.push_str(&health(t.healthy));
            }
            if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
                l.push_str(&format!(" ({m})"));
            }
            l
        }
        Event::App(a) => format!(
            "{} app  {} {} v{}",
            clock(),
            text(&a.app),
            text(&a.event),
            opt(a.version)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns_without_trailing_blanks() {
        let t = table(
            &["NAME", "STATUS"],
            &[
                vec!["a".into(), "running".into()],
                vec!["longer-name".into(), "-".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME         STATUS\na            running\nlonger-name  -\n"
        );
    }

    #[test]
    fn task_fields_have_short_forms() {
        assert_eq!(state("TASK_RUNNING"), "RUNNING");
        assert_eq!(ports(&[31000, 31001]), "31000,31001");
        assert_eq!(ports(&[]), "-");
        assert_eq!(health(None), "-");
        assert_eq!(health(Some(false)), "unhealthy");
        assert_eq!(age(Some(1000.0), 1042.5), "42s");
        assert_eq!(age(Some(0.0), 7300.0), "2h");
        assert_eq!(age(None, 5.0), "-");
        assert_eq!((float(64.0), float(0.1)), ("64.0".into(), "0.1".into()));
    }

    #[test]
    fn a_pod_shows_its_containers_and_whole_instance() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../../examples/pod.json")).unwrap();
        let task = |i: u32, c: &str| {
            json!({"id": format!("shop.{i}.00ab.{c}"), "instance": i, "version": 1,
                "state": "TASK_RUNNING", "agent_id": "a1", "host": "h1", "ports": [],
                "healthy": null, "started_at": null, "message": null, "killing": false,
                "ready": true, "container": c})
        };
        let a: AppView = serde_json::from_value(json!({"name": "shop", "version": 1,
            "status": "running", "instances": 10, "running": 3, "healthy": 1,
            "spec": spec, "previous_version": null, "rolled_back": false, "failures": 0,
            "backoff_seconds": null, "completed": null,
            "tasks": [task(0, "api"), task(0, "assets"), task(0, "web")]}))
        .unwrap();
        let out = app_detail(&a, 0.0);
        assert!(
            out.contains("pod:        3 containers per instance (web, api, assets)"),
            "{out}"
        );
        assert!(out.contains("cpu 1.7, mem 448.0 MB"), "{out}");
        assert!(out.contains(", 1 healthy"), "{out}");
        assert!(out.contains("shop.0.00ab.assets"), "{out}");
    }

    #[test]
    fn why_names_filters_by_their_description() {
        let q = json!({"queue": [{
            "app": "web", "pending": 2, "status": "deploying", "backoff_seconds": null,
            "failures": 0,
            "why": {"app": "web", "offers_considered": 9, "refused": {"cpus": 3, "filters[0]": 6},
                    "filters": ["hostname LIKE db.*"], "last_offer_seconds_ago": 1.5,
                    "near_miss": {"agent_id": "a1", "hostname": "h1", "failed": ["cpus: 0.5 < 1"]}}
        }]});
        let q: QueueView = serde_json::from_value(q).unwrap();
        let text = why("web", &q);
        assert!(text.contains("2 instance(s) pending"), "{text}");
        assert!(text.contains("hostname LIKE db.*"), "{text}");
        assert!(text.contains("not enough cpus"), "{text}");
        assert!(text.contains("closest: agent a1 on h1"), "{text}");
        let first = text.lines().position(|l| l.starts_with("filters[0]"));
        let second = text.lines().position(|l| l.starts_with("cpus"));
        assert!(first < second, "most refusals first: {text}");
        let empty = QueueView { queue: Vec::new() };
        assert!(why("web", &empty).contains("nothing pending"));
    }
}

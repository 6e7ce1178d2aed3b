//! What the client prints for people: aligned tables and the short forms
//! of task fields (state without `TASK_`, ports, health, age). Scripts use
//! `-o json`, which prints the server's JSON instead; nothing here is
//! parsed by anyone.

use serde_json::Value;

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

/// A JSON value as a cell: strings bare, null as `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `TASK_RUNNING` → `RUNNING`.
pub fn state(v: &Value) -> String {
    let s = cell(v);
    s.strip_prefix("TASK_").map(str::to_owned).unwrap_or(s)
}

/// `[31000, 31001]` → `31000,31001`; none → `-`.
pub fn ports(v: &Value) -> String {
    match v.as_array() {
        Some(ps) if !ps.is_empty() => ps.iter().map(cell).collect::<Vec<_>>().join(","),
        _ => "-".into(),
    }
}

/// `healthy`: true, false, or null without a health check.
pub fn health(v: &Value) -> String {
    match v.as_bool() {
        Some(true) => "healthy".into(),
        Some(false) => "unhealthy".into(),
        None => "-".into(),
    }
}

/// Seconds since `started_at` (Unix seconds) as `42s`, `5m`, `3h`, `2d`.
pub fn age(started_at: &Value, now_unix: f64) -> String {
    let Some(t) = started_at.as_f64() else {
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
pub fn is_live(task: &Value) -> bool {
    !matches!(
        task["state"].as_str().unwrap_or(""),
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
pub fn apps_table(apps: &[Value]) -> String {
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            vec![
                cell(&a["name"]),
                cell(&a["status"]),
                cell(&a["version"]),
                cell(&a["instances"]),
                cell(&a["running"]),
                if a["spec"]["healthcheck"].is_null() {
                    "-".into()
                } else {
                    cell(&a["healthy"])
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
pub fn app_detail(a: &Value, now_unix: f64) -> String {
    let mut out = String::new();
    let spec = &a["spec"];
    let res = &spec["resources"];
    let mut summary = vec![
        ("name", cell(&a["name"])),
        ("status", cell(&a["status"])),
        ("version", cell(&a["version"])),
        (
            "instances",
            format!(
                "{} wanted, {} running{}",
                cell(&a["instances"]),
                cell(&a["running"]),
                if spec["healthcheck"].is_null() {
                    String::new()
                } else {
                    format!(", {} healthy", cell(&a["healthy"]))
                }
            ),
        ),
        (
            "resources",
            format!("cpu {}, mem {} MB", cell(&res["cpu"]), cell(&res["mem"])),
        ),
    ];
    if let Some(cmd) = spec["command"]["cmd"].as_str() {
        summary.push(("command", cmd.to_owned()));
    }
    if let Some(image) = spec["container"]["image"].as_str() {
        summary.push(("image", image.to_owned()));
    }
    if a["failures"].as_u64().is_some_and(|f| f > 0) {
        summary.push(("failures", cell(&a["failures"])));
    }
    if let Some(b) = a["backoff_seconds"].as_f64() {
        summary.push(("backoff", format!("next launch in {b:.0}s")));
    }
    if a["rolled_back"] == true {
        summary.push(("rolled back", "yes (an update failed)".into()));
    }
    for (k, v) in summary {
        out.push_str(&format!("{:<11} {v}\n", format!("{k}:")));
    }
    let tasks: Vec<&Value> = a["tasks"]
        .as_array()
        .map(|t| t.iter().collect())
        .unwrap_or_default();
    if tasks.is_empty() {
        out.push_str("\nno tasks\n");
        return out;
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let mut st = state(&t["state"]);
            if t["killing"] == true {
                st.push_str(" (killing)");
            }
            vec![
                cell(&t["id"]),
                st,
                cell(&t["version"]),
                cell(&t["agent_id"]),
                cell(&t["host"]),
                ports(&t["ports"]),
                health(&t["healthy"]),
                age(&t["started_at"], now_unix),
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

/// `app why`: pending instances and why offers were refused.
pub fn why(name: &str, queue: &Value) -> String {
    let entry = queue["queue"]
        .as_array()
        .and_then(|q| q.iter().find(|e| e["app"] == name));
    let Some(e) = entry else {
        return format!("{name}: nothing pending; every instance it wants is placed\n");
    };
    let mut out = format!(
        "{name}: {} instance(s) pending, status {}",
        cell(&e["pending"]),
        cell(&e["status"])
    );
    if let Some(b) = e["backoff_seconds"].as_f64() {
        out.push_str(&format!(
            ", backing off {b:.0}s after {} failure(s)",
            cell(&e["failures"])
        ));
    }
    out.push('\n');
    let w = &e["why"];
    if w.is_null() {
        out.push_str("no offers examined for it yet\n");
        return out;
    }
    out.push_str(&format!(
        "offers considered: {}{}\n",
        cell(&w["offers_considered"]),
        match w["last_offer_seconds_ago"].as_f64() {
            Some(s) => format!(" (last {} ago)", duration(s)),
            None => String::new(),
        }
    ));
    let filters = w["filters"].as_array().cloned().unwrap_or_default();
    let mut rows: Vec<(u64, Vec<String>)> = w["refused"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(reason, n)| {
                    let about = reason
                        .strip_prefix("filters[")
                        .and_then(|r| r.strip_suffix(']'))
                        .and_then(|i| i.parse::<usize>().ok())
                        .and_then(|i| filters.get(i))
                        .map(cell)
                        .unwrap_or_else(|| reason_text(reason).into());
                    let count = n.as_u64().unwrap_or(0);
                    (count, vec![reason.clone(), count.to_string(), about])
                })
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1[0].cmp(&b.1[0])));
    if rows.is_empty() {
        out.push_str("no offer was refused\n");
    } else {
        out.push('\n');
        let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, r)| r).collect();
        out.push_str(&table(&["REFUSED BY", "OFFERS", "WHAT"], &rows));
    }
    if let Some(n) = w["near_miss"].as_object() {
        let failed: Vec<String> = n
            .get("failed")
            .and_then(Value::as_array)
            .map(|f| f.iter().map(cell).collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "\nclosest: agent {} on {} failed {}\n",
            n.get("agent_id").map(cell).unwrap_or_default(),
            n.get("hostname").map(cell).unwrap_or_default(),
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
pub fn event_line(kind: &str, data: &Value) -> String {
    let app = cell(&data["app"]);
    match kind {
        "task" => {
            let mut l = format!(
                "{} task {} {} v{} {}",
                clock(),
                cell(&data["task"]),
                state(&data["state"]),
                cell(&data["version"]),
                cell(&data["host"]),
            );
            if !data["healthy"].is_null() {
                l.push(' ');
                l.push_str(&health(&data["healthy"]));
            }
            if let Some(m) = data["message"].as_str().filter(|m| !m.is_empty()) {
                l.push_str(&format!(" ({m})"));
            }
            l
        }
        "app" => format!(
            "{} app  {app} {} v{}",
            clock(),
            cell(&data["event"]),
            cell(&data["version"])
        ),
        other => format!("{} {other} {data}", clock()),
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
        assert_eq!(state(&json!("TASK_RUNNING")), "RUNNING");
        assert_eq!(ports(&json!([31000, 31001])), "31000,31001");
        assert_eq!(ports(&json!([])), "-");
        assert_eq!(health(&Value::Null), "-");
        assert_eq!(health(&json!(false)), "unhealthy");
        assert_eq!(age(&json!(1000.0), 1042.5), "42s");
        assert_eq!(age(&json!(0.0), 7300.0), "2h");
        assert_eq!(age(&Value::Null, 5.0), "-");
    }

    #[test]
    fn why_names_filters_by_their_description() {
        let q = json!({"queue": [{
            "app": "web", "pending": 2, "status": "deploying", "backoff_seconds": null,
            "failures": 0,
            "why": {"offers_considered": 9, "refused": {"cpus": 3, "filters[0]": 6},
                    "filters": ["hostname LIKE db.*"], "last_offer_seconds_ago": 1.5,
                    "near_miss": {"agent_id": "a1", "hostname": "h1", "failed": ["cpus: 0.5 < 1"]}}
        }]});
        let text = why("web", &q);
        assert!(text.contains("2 instance(s) pending"), "{text}");
        assert!(text.contains("hostname LIKE db.*"), "{text}");
        assert!(text.contains("not enough cpus"), "{text}");
        assert!(text.contains("closest: agent a1 on h1"), "{text}");
        let first = text.lines().position(|l| l.starts_with("filters[0]"));
        let second = text.lines().position(|l| l.starts_with("cpus"));
        assert!(first < second, "most refusals first: {text}");
        assert!(why("web", &json!({"queue": []})).contains("nothing pending"));
    }
}

//! Answers bounded in bytes: the last guard behind the engine's bounds
//! in counts (apps per page, tasks per page; see
//! `tritium_core::contract::TaskPage`). An answer whose JSON would pass
//! `ApiOptions::max_answer_bytes` is cut, and says where to go on, the way
//! a page does: a list ends early with `next_offset`, an app's tasks stop
//! with `next_task`. A page always keeps its first app and an app its
//! first task, so a client that follows the cursors always advances.
//!
//! Sizes are those of the pretty JSON the API writes, counted by a writer
//! that keeps no bytes.

use std::io;

use serde::Serialize;
use tritium_engine::contract::{AppList, AppView};

/// Largest answer of a list or an app, in bytes, unless
/// `ApiOptions::max_answer_bytes` says otherwise.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// Spaces pretty JSON adds to each line per level of nesting.
const INDENT: usize = 2;

/// Bytes and lines a document takes as pretty JSON.
#[derive(Default)]
struct Count {
    bytes: usize,
    lines: usize,
}

impl io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len();
        self.lines += buf.iter().filter(|b| **b == b'\n').count();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The size of `v` as pretty JSON nested `depth` levels deep (plus the
/// `,\n` that separates it from the next item).
fn size<T: Serialize>(v: &T, depth: usize) -> usize {
    let mut c = Count::default();
    // Views are plain data: serializing cannot fail.
    let _ = serde_json::to_writer_pretty(&mut c, v);
    c.bytes + (c.lines + 1) * depth * INDENT + 2
}

/// The size of `v` as pretty JSON, as an item nested `depth` levels
/// deep in a list.
pub fn json_size<T: Serialize>(v: &T, depth: usize) -> usize {
    size(v, depth)
}

/// Cut `app`'s tasks so that its document fits in `max` bytes at `depth`
/// (its first task is always kept). True if it was cut.
fn bound_app_at(app: &mut AppView, max: usize, depth: usize) -> bool {
    if size(app, depth) <= max {
        return false;
    }
    let tasks = std::mem::take(&mut app.tasks);
    let mut used = size(app, depth);
    let mut keep = 0;
    for t in &tasks {
        used += size(t, depth + 2);
        if used > max && keep > 0 {
            break;
        }
        keep += 1;
    }
    app.tasks = tasks;
    if keep < app.tasks.len() {
        app.tasks.truncate(keep);
        app.next_task = app.tasks.last().map(|t| t.id.clone());
        return true;
    }
    false
}

/// Cut one app's answer to `max` bytes (`GET /v1/api/app`).
pub fn bound_app(app: &mut AppView, max: usize) {
    bound_app_at(app, max, 0);
}

/// Cut a page of apps to `max` bytes: the apps that fit (at least the
/// first, its tasks cut to fit), `next_offset` after the last kept.
pub fn bound_list(list: &mut AppList, max: usize) {
    let mut used = 0;
    let mut keep = 0;
    let mut cut_inside = false;
    for (i, app) in list.apps.iter_mut().enumerate() {
        if i == 0 {
            cut_inside = bound_app_at(app, max, 2);
        }
        used += size(app, 2);
        if i > 0 && (used > max || cut_inside) {
            break;
        }
        keep += 1;
    }
    if keep < list.apps.len() {
        list.apps.truncate(keep);
        list.next_offset = Some(list.offset + keep);
    }
}

/// `v` as the pretty JSON the API answers with (and a newline).
pub fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(v).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use tritium_engine::contract::{AppStatus, TaskView};
    use tritium_engine::spec::AppSpec;

    fn app(name: &str, tasks: usize) -> AppView {
        AppView {
            name: name.into(),
            version: 1,
            status: AppStatus::Running,
            instances: tasks as u32,
            running: tasks,
            healthy: 0,
            ready: tasks,
            spec: AppSpec::command_app(name, tasks as u32, 0.1, 32.0, "sleep 1"),
            previous_version: None,
            previous_spec: None,
            rolled_back: false,
            failures: 0,
            backoff_seconds: None,
            completed: None,
            tasks: (0..tasks)
                .map(|i| TaskView {
                    id: format!("{name}.{i}.x"),
                    instance: i as u32,
                    version: 1,
                    state: "TASK_RUNNING".into(),
                    agent_id: "a".into(),
                    host: "h".into(),
                    ports: vec![],
                    healthy: None,
                    started_at: None,
                    message: Some("m".repeat(100)),
                    killing: false,
                    ready: true,
                    container: None,
                })
                .collect(),
            tasks_total: tasks,
            task_states: Default::default(),
            next_task: None,
            draining: Default::default(),
            waiting: None,
        }
    }

    #[test]
    fn sizes_are_those_written() {
        let a = app("web", 3);
        assert_eq!(size(&a, 0), to_json(&a).len() + 1);
        let l = AppList {
            apps: vec![a.clone(), a],
            total: 2,
            offset: 0,
            limit: 2,
            next_offset: None,
        };
        let nested: usize = l.apps.iter().map(|a| size(a, 2)).sum();
        let whole = to_json(&l).len();
        assert!(
            nested <= whole && whole < nested + 200,
            "{nested} vs {whole}"
        );
    }

    #[test]
    fn big_answers_are_cut_with_a_cursor() {
        let mut a = app("web", 1000);
        bound_app(&mut a, 50_000);
        assert!(to_json(&a).len() <= 50_000, "{}", to_json(&a).len());
        assert!(a.tasks.len() > 10 && a.tasks.len() < 1000);
        assert_eq!(a.next_task, a.tasks.last().map(|t| t.id.clone()));
        let mut l = AppList {
            apps: (0..50).map(|i| app(&format!("a{i:02}"), 20)).collect(),
            total: 60,
            offset: 10,
            limit: 50,
            next_offset: Some(60),
        };
        bound_list(&mut l, 40_000);
        assert!(to_json(&l).len() <= 40_000 + 200, "{}", to_json(&l).len());
        assert!(l.apps.len() < 50);
        assert_eq!(l.next_offset, Some(10 + l.apps.len()));
        // One app bigger than the bound: kept, its tasks cut, the page
        // ends with it.
        let mut l = AppList {
            apps: vec![app("big", 1000), app("small", 1)],
            total: 2,
            offset: 0,
            limit: 2,
            next_offset: None,
        };
        bound_list(&mut l, 30_000);
        assert_eq!(l.apps.len(), 1);
        assert!(l.apps[0].next_task.is_some());
        assert_eq!(l.next_offset, Some(1));
    }
}

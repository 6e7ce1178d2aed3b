//! The status page at `/`, in headless Chromium (Debian's `chromium`,
//! driven over the DevTools protocol on a pipe, see `cdp/`): it shows the
//! apps with their counts and status, the tasks with state and agent, and
//! the queue with the why-not reasons as the API reports them, and it
//! follows scaling and deletion live through the event stream.
//!
//! The page is read with a bounded loop until it shows what the API says
//! (the page and the API are read one after the other, so a change between
//! the two reads is simply read again). Before the live part the page's
//! periodic refresh is stopped, so only the event stream can bring the
//! changes.
//!
//! Needs Debian's `chromium` (`scripts/test` installs it); without it the
//! test fails and says so.

mod cdp;
mod ops;

use std::thread;
use std::time::{Duration, Instant};

use cdp::Browser;
use ops::{Stack, http, sample};
use serde_json::Value;
use tritium::rest::ApiOptions;

/// Longest the page may take to show what the API says.
const SHOW_LIMIT: Duration = Duration::from_secs(30);

/// The status page's tables, cell texts row by row, as the page shows them.
const READ_PAGE: &str = r##"(() => {
  const table = (id) => {
    const body = document.querySelector("#" + id + " tbody");
    return body ? Array.from(body.rows, (r) => Array.from(r.cells, (c) => c.textContent)) : null;
  };
  return {
    loaded: !!document.body && document.body.dataset.loaded === "1",
    conn: (document.getElementById("conn") || {}).textContent || "",
    apps: table("apps"),
    tasks: table("tasks"),
    queue: table("queue"),
  };
})()"##;

/// What the page shows, or what it should show.
#[derive(Debug, PartialEq)]
struct View {
    apps: Vec<Vec<String>>,
    /// Sorted (the page lists them in the API's order; the order is not
    /// what is checked).
    tasks: Vec<Vec<String>>,
    /// App, pending, status (the why-not cell is checked on its own).
    queue: Vec<Vec<String>>,
}

/// A JSON value as the page's `String(v)` shows it (`null` as empty).
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// The page's table rows of the empty table.
fn none() -> Vec<Vec<String>> {
    vec![vec!["none".to_owned()]]
}

/// What the page should show, from the API, and the queue entries (for
/// their why-not reasons).
fn from_api(addr: std::net::SocketAddr) -> (View, Vec<Value>) {
    let all = http(
        addr,
        "GET",
        "/v1/api/app/all?limit=1000&tasks=all",
        None,
        None,
    )
    .json();
    let queue = http(addr, "GET", "/v1/api/app/queue", None, None).json();
    let apps = all["apps"].as_array().cloned().unwrap_or_default();
    let queue = queue["queue"].as_array().cloned().unwrap_or_default();
    let or_none = |rows: Vec<Vec<String>>| if rows.is_empty() { none() } else { rows };
    let mut tasks: Vec<Vec<String>> = apps
        .iter()
        .flat_map(|a| {
            a["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    [
                        &t["id"],
                        &a["name"],
                        &t["state"],
                        &t["agent_id"],
                        &t["host"],
                    ]
                    .map(text)
                    .to_vec()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    tasks.sort();
    let view = View {
        apps: or_none(
            apps.iter()
                .map(|a| {
                    [
                        &a["name"],
                        &a["status"],
                        &a["running"],
                        &a["instances"],
                        &a["version"],
                    ]
                    .map(text)
                    .to_vec()
                })
                .collect(),
        ),
        tasks: or_none(tasks),
        queue: or_none(
            queue
                .iter()
                .map(|q| [&q["app"], &q["pending"], &q["status"]].map(text).to_vec())
                .collect(),
        ),
    };
    (view, queue)
}

/// What the page shows now, and its why-not cells (one per queue row).
fn from_page(browser: &mut Browser) -> Result<(View, Vec<String>), String> {
    let v = browser.eval(READ_PAGE)?;
    if v["loaded"] != true {
        return Err(format!("the page has not loaded yet: {v}"));
    }
    let rows = |k: &str| -> Result<Vec<Vec<String>>, String> {
        serde_json::from_value(v[k].clone()).map_err(|e| format!("table {k}: {e}: {v}"))
    };
    let mut tasks = rows("tasks")?;
    tasks.sort();
    let mut queue = rows("queue")?;
    let why = queue
        .iter_mut()
        .map(|r| {
            if r.len() > 3 {
                r.remove(3)
            } else {
                String::new()
            }
        })
        .collect();
    Ok((
        View {
            apps: rows("apps")?,
            tasks,
            queue,
        },
        why,
    ))
}

/// The why-not cells show each queue entry's reasons: the app, how many
/// offers were considered, and every reason the API counts refusals for.
fn check_why(entries: &[Value], cells: &[String]) -> Result<(), String> {
    for (q, cell) in entries.iter().zip(cells) {
        let w = &q["why"];
        if w.is_null() {
            if cell.is_empty() {
                continue;
            }
            return Err(format!("the why-not cell {cell:?} should be empty"));
        }
        // The counts move between the two reads: the labels and the
        // reasons are checked.
        let mut want = vec![
            format!("app: {}", text(&w["app"])),
            "offers_considered: ".to_owned(),
        ];
        for reason in w["refused"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            want.push(format!("\"{reason}\":"));
        }
        if let Some(miss) = want.iter().find(|s| !cell.contains(s.as_str())) {
            return Err(format!("the why-not cell {cell:?} lacks {miss:?} ({w})"));
        }
    }
    Ok(())
}

/// Read the page until it shows what the API says and `api_ok` holds for
/// the API's view, at most [`SHOW_LIMIT`]. With `reasons`, the why-not
/// cells are checked too (only while the page still refreshes on its
/// timer: new refusals bring no event).
fn page_shows_the_api(
    what: &str,
    browser: &mut Browser,
    addr: std::net::SocketAddr,
    reasons: bool,
    api_ok: impl Fn(&View) -> bool,
) -> View {
    let deadline = Instant::now() + SHOW_LIMIT;
    loop {
        let (want, queue) = from_api(addr);
        let seen = match from_page(browser) {
            Ok((shown, why)) if !api_ok(&want) => Err(format!(
                "the API is not there yet: {want:?}; the page shows {shown:?} {why:?}"
            )),
            Ok((shown, _)) if shown != want => Err(format!(
                "the page shows\n  {shown:?}\nthe API says\n  {want:?}"
            )),
            Ok((_, why)) if reasons => check_why(&queue, &why),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        match seen {
            Ok(()) => return want,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "{what}: not within {SHOW_LIMIT:?}; last seen: {seen}"
            ),
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn app_row<'a>(v: &'a View, name: &str) -> Option<&'a Vec<String>> {
    v.apps.iter().find(|r| r[0] == name)
}

fn spec(name: &str, instances: u32, cpu: f64) -> String {
    format!(
        r#"{{"name":"{name}","instances":{instances},"resources":{{"cpu":{cpu},"mem":32}},"command":{{"cmd":"sleep 3600"}}}}"#
    )
}

#[test]
fn status_page_shows_what_the_api_reports_and_follows_the_event_stream() {
    let browser_cmd = cdp::chromium().expect(
        "the status page test needs Debian's chromium on PATH \
         (`apt-get install chromium`; scripts/test installs it)",
    );
    // 3 agents of 4 cpus: `web` runs 2 small tasks, `big` fits one 3.5-cpu
    // task per agent, so 3 run and 1 waits in the queue with reasons.
    let stack = Stack::start(3, ApiOptions::default());
    let addr = stack.addr();
    stack.deploy("web", 2, None);
    let r = http(
        addr,
        "POST",
        "/v1/api/app",
        None,
        Some(&spec("big", 4, 3.5)),
    );
    assert_eq!(r.status, 201, "POST big: {}", r.body);
    ops::poll("big: 3 running and 1 queued with reasons", || {
        let (v, queue) = from_api(addr);
        let queued = queue.iter().any(|q| {
            q["app"] == "big"
                && q["pending"] == 1
                && q["why"]["refused"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty())
        });
        match app_row(&v, "big") {
            Some(r) if r[2] == "3" && queued => Ok(()),
            _ => Err(format!("{v:?} {queue:?}")),
        }
    });

    let mut browser = Browser::open(browser_cmd, &format!("http://{addr}/"))
        .unwrap_or_else(|e| panic!("open the status page in {browser_cmd}: {e}"));

    // What it shows at first: both apps, 5 tasks, big in the queue.
    let first = page_shows_the_api(
        "the page shows the apps, tasks and queue",
        &mut browser,
        addr,
        true,
        |v| v.tasks.len() == 5 && v.queue.len() == 1,
    );
    assert_eq!(first.queue[0][0], "big", "{first:?}");

    // The page holds the event stream open.
    ops::poll("the page to open the event stream", || {
        let m = http(addr, "GET", "/metrics", None, None).body;
        let clients = sample(&m, "tritium_event_stream_clients", "");
        let conn = browser.eval(READ_PAGE)?["conn"].clone();
        if clients.is_some_and(|n| n >= 1.0) && conn == "live (events)" {
            Ok(())
        } else {
            Err(format!("{clients:?} clients; the page says {conn}"))
        }
    });
    // From here only the event stream can bring changes: stop the page's
    // periodic refresh (its only interval timer; ids are small integers).
    browser
        .eval("for (let i = 1; i < 10000; i++) clearInterval(i); true")
        .expect("stop the page's refresh timer");

    // Scale web to 3.
    let r = http(addr, "PUT", "/v1/api/app", None, Some(&spec("web", 3, 0.1)));
    assert_eq!(r.status, 200, "scale web to 3: {}", r.body);
    let scaled = page_shows_the_api(
        "the page follows web scaled to 3",
        &mut browser,
        addr,
        false,
        |v| app_row(v, "web").is_some_and(|r| r[2] == "3" && r[3] == "3") && v.tasks.len() == 6,
    );
    assert_eq!(app_row(&scaled, "web").unwrap()[1], "running", "{scaled:?}");

    // Delete big: its row, its tasks and its queue entry go.
    let r = http(addr, "DELETE", "/v1/api/app?name=big", None, None);
    assert_eq!(r.status, 202, "delete big: {}", r.body);
    let after = page_shows_the_api(
        "the page follows big deleted",
        &mut browser,
        addr,
        false,
        |v| app_row(v, "big").is_none(),
    );
    assert_eq!(after.apps.len(), 1, "{after:?}");
    assert_eq!(after.tasks.len(), 3, "{after:?}");
    assert_eq!(after.queue, none(), "{after:?}");

    // The browser goes first (its Drop closes it), then the stack.
    drop(browser);
    drop(stack);
}

//! The status page at `/`, driven by headless Chromium (Debian's
//! `chromium`): it shows the deployed app with its running count and its
//! tasks as the API reports them, and it follows a change live through the
//! event stream.
//!
//! How the browser is driven: `--dump-dom` with a virtual-time budget
//! prints the page once its (virtual) clock has run the budget. An open
//! event stream is a pending fetch, which holds the virtual clock, so the
//! page cannot dump while connected; the test uses that: while the page
//! holds its stream (timers paused), the app is scaled through the API,
//! and only the event stream can bring the change to the page. Then the
//! API stops, the stream ends, the clock runs out and the page is dumped.
//! (The page's periodic refresh then fails; the tables keep what they
//! showed.)
//!
//! Skipped, with a message, where `chromium` is not installed
//! (`scripts/test` installs it).

mod ops;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ops::{Stack, http, poll, sample};
use tritium::rest::ApiOptions;

/// How long Chromium may take in all (start, load, the whole test).
const BROWSER_LIMIT: Duration = Duration::from_secs(60);

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The text of each `<td>` of the `<tbody>` of table `id`, row by row.
fn table(dom: &str, id: &str) -> Vec<Vec<String>> {
    let start = dom
        .find(&format!("<table id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no table {id} in:\n{dom}"));
    let rest = &dom[start..];
    let body = &rest[rest.find("<tbody>").expect("tbody")..rest.find("</tbody>").expect("/tbody")];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let text = &cell[cell.find('>').unwrap() + 1..];
                    text[..text.find("</td>").unwrap()].to_owned()
                })
                .collect()
        })
        .collect()
}

// Ignored for now: about one run in three, Chromium never dumps after the
// API stops. A kept-alive connection of the page (tiny_http keeps its
// connection threads after the server is dropped) takes the page's next
// request and never answers, so the virtual clock stays held. Run it with
// `cargo test -p tritium --test status_page -- --ignored` (it needs
// Debian's `chromium`).
#[test]
#[ignore = "flaky: a kept-alive connection outlives ApiServer::shutdown; see the comment"]
fn status_page_shows_what_the_api_reports_and_follows_the_event_stream() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: no chromium (apt-get install chromium) to drive the status page");
        return;
    };
    let mut stack = Stack::start(3, ApiOptions::default());
    let addr = stack.addr();
    stack.deploy("web", 2, None);

    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://{addr}/"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        dom
    });

    // The page is connected to the event stream (and so its clock waits).
    poll("the page to open the event stream", || {
        let m = http(addr, "GET", "/metrics", None, None).body;
        match sample(&m, "tritium_event_stream_clients", "") {
            Some(n) if n >= 1.0 => Ok(()),
            n => Err(format!("{n:?} clients")),
        }
    });
    // A change only the event stream can bring to the page now.
    let scale = r#"{"name":"web","instances":3,"resources":{"cpu":0.1,"mem":32},"command":{"cmd":"sleep 3600"}}"#;
    let r = http(addr, "PUT", "/v1/api/app", None, Some(scale));
    assert_eq!(r.status, 200, "scale to 3: {}", r.body);
    let app = poll("3 instances of web running", || {
        let a = http(addr, "GET", "/v1/api/app?name=web", None, None).json();
        if a["running"] == 3 {
            Ok(a)
        } else {
            Err(a.to_string())
        }
    });
    // Give the page's refresh (network callbacks run while its clock
    // waits) time to land: wait until the API served a list after the
    // change, then a little for the page to render it.
    let served = |m: &str| {
        sample(
            m,
            "tritium_api_requests_total",
            r#"{endpoint="/v1/api/app/all",code="200"}"#,
        )
        .unwrap_or(0.0)
    };
    let before = served(&http(addr, "GET", "/metrics", None, None).body);
    poll("the page to refresh from the event stream", || {
        let now = served(&http(addr, "GET", "/metrics", None, None).body);
        if now > before {
            Ok(())
        } else {
            Err(format!("{now} lists served"))
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    stack.api.take().unwrap().shutdown();

    let deadline = Instant::now() + BROWSER_LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within {BROWSER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dom = reader.join().unwrap();

    let apps = table(&dom, "apps");
    let want_status = app["status"].as_str().unwrap();
    assert_eq!(
        apps,
        vec![vec![
            "web".to_owned(),
            want_status.to_owned(),
            "3".to_owned(),
            "3".to_owned(),
            app["version"].to_string(),
        ]],
        "the apps table does not match the API ({app})"
    );
    let mut shown: Vec<Vec<String>> = table(&dom, "tasks");
    let mut want: Vec<Vec<String>> = app["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            vec![
                t["id"].as_str().unwrap().to_owned(),
                "web".to_owned(),
                t["state"].as_str().unwrap().to_owned(),
                t["agent_id"].as_str().unwrap().to_owned(),
                t["host"].as_str().unwrap().to_owned(),
            ]
        })
        .collect();
    shown.sort();
    want.sort();
    assert_eq!(shown, want, "the tasks table does not match the API");
    assert_eq!(table(&dom, "queue"), vec![vec!["none".to_owned()]]);
}

//! Query strings: reading `?a=b&c=d` and the paging parameters of the
//! list endpoints. Pure functions over the request target (no IO), so the
//! fuzz targets (`tritium-fuzz`) run them as the API does.
//!
//! A parameter is read where its name first appears; a paging parameter
//! given twice is refused (which one a client meant cannot be known).
//! Every refusal names the parameter, for the API's 400
//! `{"error", "field"}` body.

use tritium_engine::contract::{
    AppStatus, DEFAULT_TASK_LIMIT, MAX_ROW_SEARCH, MAX_ROWS_PAGE, MAX_TASK_LIMIT, RowQuery,
    TaskDetail, TaskPage,
};

/// Apps per list page when the request does not say.
pub const DEFAULT_PAGE: usize = 100;

/// A query parameter that is wrong: which, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The parameter's name.
    pub field: String,
    /// What is wrong with it.
    pub error: String,
}

impl QueryError {
    fn new(field: &str, error: impl Into<String>) -> QueryError {
        QueryError {
            field: field.to_owned(),
            error: error.into(),
        }
    }
}

/// The query part of a request target (after the first `?`), or `""`.
pub fn query_part(url: &str) -> &str {
    url.split_once('?').map_or("", |(_, q)| q)
}

/// Every `key=value` pair of `url`'s query, percent-decoded, in order (a
/// pair without `=` has an empty value; empty pairs are skipped).
pub fn pairs(url: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query_part(url)
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
}

/// The value of `key` where it first appears, percent-decoded.
pub fn value(url: &str, key: &str) -> Option<String> {
    pairs(url).find_map(|(k, v)| (k == key).then_some(v))
}

/// The value of `key`, refused if it appears more than once.
pub fn single(url: &str, key: &str) -> Result<Option<String>, QueryError> {
    let mut found = pairs(url).filter(|(k, _)| k == key).map(|(_, v)| v);
    let first = found.next();
    if found.next().is_some() {
        return Err(QueryError::new(
            key,
            format!("{key} is given more than once"),
        ));
    }
    Ok(first)
}

/// Decode `%XX` escapes and `+` (a space, as forms send it). A `%` not
/// followed by two hex digits stays as it is; bytes that are not UTF-8
/// become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A whole number parameter: digits only (no sign, no spaces), within
/// `min..=max`; `default` when absent.
pub fn number(
    url: &str,
    key: &str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, QueryError> {
    let Some(v) = single(url, key)? else {
        return Ok(default);
    };
    let bad = || {
        QueryError::new(
            key,
            format!("{key} must be a whole number from {min} to {max}"),
        )
    };
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    match v.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// `?tasks=none|summary|all`, `default` when absent.
pub fn task_detail(url: &str, default: TaskDetail) -> Result<TaskDetail, QueryError> {
    match single(url, "tasks")? {
        None => Ok(default),
        Some(v) => TaskDetail::parse(&v)
            .ok_or_else(|| QueryError::new("tasks", "tasks must be none, summary or all")),
    }
}

/// The paging of `GET /v1/api/app/all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// Apps to skip, by name.
    pub offset: usize,
    /// Most apps (1 to the API's `max_page`).
    pub limit: usize,
    /// How much of each app's tasks (default: `summary`, bounded by the
    /// number of apps whatever their size).
    pub tasks: TaskDetail,
    /// With `tasks=all`: most task documents in the whole page.
    pub task_limit: usize,
}

/// `offset`, `limit`, `tasks`, `task_limit` of a list request.
pub fn list_page(url: &str, max_page: usize) -> Result<ListPage, QueryError> {
    Ok(ListPage {
        offset: number(url, "offset", 0, 0, usize::MAX)?,
        limit: number(url, "limit", DEFAULT_PAGE.min(max_page), 1, max_page)?,
        tasks: task_detail(url, TaskDetail::Summary)?,
        task_limit: number(url, "task_limit", DEFAULT_TASK_LIMIT, 1, MAX_TASK_LIMIT)?,
    })
}

/// `q`, `status`, `agent`, `offset`, `limit` of `GET /v1/api/app/rows`
/// (default: the first [`DEFAULT_PAGE`] apps, no filter).
pub fn row_query(url: &str) -> Result<RowQuery, QueryError> {
    let text = |key: &str| -> Result<String, QueryError> {
        let v = single(url, key)?.unwrap_or_default();
        if v.len() > MAX_ROW_SEARCH {
            return Err(QueryError::new(
                key,
                format!("{key} is longer than {MAX_ROW_SEARCH} bytes"),
            ));
        }
        Ok(v)
    };
    let status = match single(url, "status")?.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<AppStatus>(serde_json::Value::String(s.clone())).map_err(
                |_| {
                    let all: Vec<String> = AppStatus::ALL
                        .iter()
                        .map(|s| serde_json::to_value(s).map_or(String::new(), |v| v.to_string()))
                        .collect();
                    QueryError::new(
                        "status",
                        format!("status must be one of {}", all.join(", ")),
                    )
                },
            )?,
        ),
    };
    Ok(RowQuery {
        q: text("q")?,
        status,
        agent: text("agent")?,
        offset: number(url, "offset", 0, 0, usize::MAX)?,
        limit: number(url, "limit", DEFAULT_PAGE, 1, MAX_ROWS_PAGE)?,
    })
}

/// `name`, `tasks`, `task_after`, `task_limit` of `GET /v1/api/app`
/// (default: the first [`DEFAULT_TASK_LIMIT`] tasks with their documents).
pub fn app_page(url: &str) -> Result<(String, TaskPage), QueryError> {
    let name = single(url, "name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| QueryError::new("name", "?name= is required"))?;
    let after = single(url, "task_after")?;
    if after.as_deref() == Some("") {
        return Err(QueryError::new(
            "task_after",
            "task_after must be a task id",
        ));
    }
    let page = TaskPage {
        detail: task_detail(url, TaskDetail::All)?,
        after,
        limit: number(url, "task_limit", DEFAULT_TASK_LIMIT, 1, MAX_TASK_LIMIT)?,
    };
    Ok((name, page))
}

/// The paging of taurus's `GET /jobs`: jobs by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsPage {
    /// Jobs to skip, by id.
    pub offset: usize,
    /// Most jobs.
    pub limit: usize,
    /// How much of each app's tasks: `none` or `summary` (a job's task
    /// documents are on `GET /job/<id>`).
    pub tasks: TaskDetail,
}

/// `offset`, `limit`, `tasks` of `GET /jobs`.
pub fn jobs_page(url: &str, max_page: usize) -> Result<JobsPage, QueryError> {
    let tasks = task_detail(url, TaskDetail::Summary)?;
    if tasks == TaskDetail::All {
        return Err(QueryError::new(
            "tasks",
            "a job list carries tasks=none or summary; a job's tasks are on GET /job/<id>",
        ));
    }
    Ok(JobsPage {
        offset: number(url, "offset", 0, 0, usize::MAX)?,
        limit: number(url, "limit", DEFAULT_PAGE.min(max_page), 1, max_page)?,
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decoded_and_the_first_wins() {
        assert_eq!(value("/a?name=web%2D1&x", "name").as_deref(), Some("web-1"));
        assert_eq!(value("/a?x&name=a+b", "name").as_deref(), Some("a b"));
        assert_eq!(value("/a?x", "x").as_deref(), Some(""));
        assert_eq!(value("/a", "x"), None);
        assert_eq!(value("/a?n=1&n=2", "n").as_deref(), Some("1"));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn paging_parameters_are_checked() {
        let p = list_page("/v1/api/app/all", 1000).expect("defaults");
        assert_eq!((p.offset, p.limit, p.tasks), (0, 100, TaskDetail::Summary));
        let p = list_page("/x?offset=5&limit=7&tasks=all&task_limit=9", 1000).expect("given");
        assert_eq!(
            (p.offset, p.limit, p.tasks, p.task_limit),
            (5, 7, TaskDetail::All, 9)
        );
        for (url, field) in [
            ("/x?limit=0", "limit"),
            ("/x?limit=1001", "limit"),
            ("/x?limit=-1", "limit"),
            ("/x?limit=+5", "limit"),
            ("/x?offset=1e3", "offset"),
            ("/x?offset=99999999999999999999999", "offset"),
            ("/x?tasks=some", "tasks"),
            ("/x?task_limit=10001", "task_limit"),
            ("/x?limit=1&limit=2", "limit"),
        ] {
            assert_eq!(list_page(url, 1000).expect_err(url).field, field, "{url}");
        }
        let (name, page) = app_page("/x?name=web&task_after=web.3.a&task_limit=2").expect("ok");
        assert_eq!(
            (name.as_str(), page.after.as_deref(), page.limit),
            ("web", Some("web.3.a"), 2)
        );
        assert_eq!(app_page("/x?name=").expect_err("").field, "name");
        assert_eq!(
            app_page("/x?name=a&task_after=").expect_err("").field,
            "task_after"
        );
        assert_eq!(
            jobs_page("/jobs?tasks=all", 10).expect_err("").field,
            "tasks"
        );
        assert_eq!(jobs_page("/jobs", 10).expect("ok").limit, 10);
    }

    #[test]
    fn row_queries_are_bounded_and_named() {
        let q = row_query("/v1/api/app/rows").expect("defaults");
        assert_eq!((q.offset, q.limit, q.status), (0, DEFAULT_PAGE, None));
        let q =
            row_query("/v1/api/app/rows?q=App-09&status=rolling+back&agent=ip-10&offset=5&limit=7")
                .expect("all given");
        assert_eq!(q.q, "App-09");
        assert_eq!(q.status, Some(AppStatus::RollingBack));
        assert_eq!((q.agent.as_str(), q.offset, q.limit), ("ip-10", 5, 7));
        let e = row_query("/v1/api/app/rows?status=sleepy").unwrap_err();
        assert_eq!(e.field, "status");
        assert!(e.error.contains("\"crash-looping\""), "{}", e.error);
        let long = format!("/v1/api/app/rows?q={}", "a".repeat(MAX_ROW_SEARCH + 1));
        assert_eq!(row_query(&long).unwrap_err().field, "q");
        assert_eq!(
            row_query("/v1/api/app/rows?limit=1001").unwrap_err().field,
            "limit"
        );
        assert_eq!(
            row_query("/v1/api/app/rows?limit=0").unwrap_err().field,
            "limit"
        );
        assert_eq!(
            row_query("/v1/api/app/rows?agent=a&agent=b")
                .unwrap_err()
                .field,
            "agent"
        );
    }
}

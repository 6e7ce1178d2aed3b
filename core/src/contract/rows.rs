//! The status page's apps table (`GET /v1/api/app/rows`): one page of
//! small rows matching a search, with the counts of every app, in one
//! answer whose size does not grow with the number of apps or tasks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::AppStatus;

/// The most rows a page holds.
pub const MAX_ROWS_PAGE: usize = 1000;
/// The longest search text (`q`, `agent`), in bytes.
pub const MAX_ROW_SEARCH: usize = 256;

/// Which apps a rows page lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowQuery {
    /// Names containing this (ASCII case ignored); empty: every name.
    pub q: String,
    /// Only apps with this status.
    pub status: Option<AppStatus>,
    /// Only apps with a live task on an agent whose id or hostname
    /// contains this (ASCII case ignored); empty: no agent filter.
    pub agent: String,
    /// Matching apps to skip, by name.
    pub offset: usize,
    /// Most rows (1 to [`MAX_ROWS_PAGE`]).
    pub limit: usize,
}

/// One app in the table.
///
/// ```
/// use tritium_core::contract::AppRow;
/// let r: AppRow = serde_json::from_str(r#"{"name": "web", "version": 2, "status": "running",
///     "instances": 3, "running": 3, "tasks": 3, "pending": 0}"#).unwrap();
/// assert_eq!(r.running, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRow {
    /// The app's name.
    pub name: String,
    /// The version it runs now.
    pub version: u64,
    /// Where it stands.
    pub status: AppStatus,
    /// Instances asked for.
    pub instances: u32,
    /// Tasks RUNNING.
    pub running: usize,
    /// Live tasks tracked, every state.
    pub tasks: usize,
    /// Instances waiting for an offer.
    pub pending: usize,
}

/// A page of rows and the counts of every app (the token's apps with a
/// team token), whatever the search.
///
/// ```
/// use tritium_core::contract::AppRowsView;
/// let v: AppRowsView = serde_json::from_str(r#"{"rows": [], "matched": 0, "offset": 0,
///     "limit": 100, "total": 0, "statuses": {}, "running": 0, "instances": 0,
///     "pending": 0}"#).unwrap();
/// assert_eq!(v.total, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRowsView {
    /// The matching apps from `offset`, by name.
    pub rows: Vec<AppRow>,
    /// How many apps match the search.
    pub matched: usize,
    /// Matching apps skipped.
    pub offset: usize,
    /// The page's size asked for.
    pub limit: usize,
    /// Every app.
    pub total: usize,
    /// Every app by status (the statuses the filter may ask for).
    pub statuses: BTreeMap<AppStatus, usize>,
    /// RUNNING tasks of every app.
    pub running: usize,
    /// Instances every app asks for.
    pub instances: u64,
    /// Instances of every app waiting for an offer.
    pub pending: usize,
}

/// Whether `hay` contains `needle`, ASCII case ignored (`needle` in
/// lower case), without allocating.
///
/// ```
/// use tritium_core::contract::contains_ignore_case;
/// assert!(contains_ignore_case("App-0999", "app-09"));
/// assert!(contains_ignore_case("x", ""));
/// assert!(!contains_ignore_case("web", "api"));
/// ```
pub fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.is_empty()
        || h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

//! An app's version history as the API shows it
//! (`GET /v1/api/app/{id}/versions`, `GET /v1/api/app/{id}/versions/{v}`).

use serde::{Deserialize, Serialize};

use crate::spec::AppSpec;

/// What made a version.
///
/// ```
/// use tritium_core::contract::VersionCause;
/// assert_eq!(serde_json::to_string(&VersionCause::Restarted).unwrap(), "\"restarted\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionCause {
    /// The app was created (POST).
    Created,
    /// A PUT that changed more than the instance count (a rolling update).
    Updated,
    /// A rolling restart (the same spec under a new number).
    Restarted,
    /// A create-or-replace of an existing app (demo mode, tests).
    Replaced,
    /// An older version's spec deployed again
    /// (`POST /v1/api/app/{id}/versions/{n}/deploy`; `redeployed_from`
    /// names it).
    Redeployed,
    /// Kept by a tritium that recorded no history (a store written before
    /// version history existed): its time and cause are unknown.
    Unknown,
}

/// One version of an app: an entry of [`VersionList`].
///
/// ```
/// use tritium_core::contract::{VersionCause, VersionInfo};
/// let v: VersionInfo = serde_json::from_str(r#"{"version": 3, "time": 1700000000.5,
///     "cause": "updated", "rolled_back": false, "current": true}"#).unwrap();
/// assert_eq!(v.cause, VersionCause::Updated);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The version's number (what its tasks carry).
    pub version: u64,
    /// When it was made, in seconds since the Unix epoch (`null` if
    /// unknown).
    pub time: Option<f64>,
    /// What made it.
    pub cause: VersionCause,
    /// An update to it was rolled back (its tasks failed, an operator
    /// aborted it, or its canary timed out).
    #[serde(default)]
    pub rolled_back: bool,
    /// The app runs this version now.
    #[serde(default)]
    pub current: bool,
    /// A redeployed version: the version whose spec it runs again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeployed_from: Option<u64>,
}

/// `GET /v1/api/app/{id}/versions`: the versions tritium keeps of an app,
/// newest first.
///
/// ```
/// use tritium_core::contract::VersionList;
/// let l: VersionList = serde_json::from_str(r#"{"app": "web", "current": 1,
///     "max_versions": 50, "versions": []}"#).unwrap();
/// assert_eq!(l.max_versions, 50);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionList {
    /// The app.
    pub app: String,
    /// The version it runs now.
    pub current: u64,
    /// The most versions kept per app (older ones are dropped first; the
    /// current one, and the one a rollback would return to, never are).
    pub max_versions: usize,
    /// The versions kept, newest (highest number) first.
    pub versions: Vec<VersionInfo>,
}

/// `GET /v1/api/app/{id}/versions/{version}`: one version with its spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionView {
    /// The app.
    pub app: String,
    /// The version, as listed.
    #[serde(flatten)]
    pub info: VersionInfo,
    /// Its spec (for the current version: the spec as it runs now, the
    /// instance count included; for an older one: as it last ran).
    pub spec: AppSpec,
}

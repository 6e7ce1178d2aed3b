//! Each app's version history: the spec of every version it was deployed
//! with, kept in memory and in the store, bounded per app
//! ([`Config::max_versions`](crate::session::Config::max_versions)).
//!
//! A version is what an app's tasks carry: a create, an update that
//! changes more than the instance count, a restart and a replace each make
//! one; a scale changes the current version's instance count (its entry
//! follows), and a rollback returns to an older version (its entry follows
//! the instance count kept; the version left is marked `rolled_back`).
//!
//! Stored as one framework record per version, `versions/<app>/<n>`,
//! written when the version is made (or changes) and never again:
//! `<header JSON>\n<spec JSON>`. The header is a few numbers; the spec is
//! compact JSON, parsed only when asked for (a recovery reads headers
//! only). The bytes kept in memory are the very [`Bytes`] handed to the
//! store (and, after a restart, those the store recovered), so the file
//! store's and the memory store's copies share one allocation with ours.
//!
//! Backward compatible: a store written before history existed has no such
//! records; its apps recover with the versions their record names (the
//! current one, and the one an update in progress replaces), cause
//! `unknown`, written to the store at the first subscription.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::{AppService, encode_spec};
use crate::contract::{VersionCause, VersionInfo, VersionList, VersionView};
use crate::framework::{Ctx, View};
use crate::session::{AppRecord, CommandError};
use crate::spec::AppSpec;

/// Versions kept per app unless configured: Marathon's `max_versions`
/// default.
pub const DEFAULT_MAX_VERSIONS: usize = 50;

/// The prefix of the version records: `versions/<app>/<version>`.
pub const VERSION_KEY_PREFIX: &str = "versions/";

/// The record key of version `version` of app `name`.
///
/// ```
/// assert_eq!(tritium_core::apps::version_key("web", 3), "versions/web/3");
/// ```
pub fn version_key(name: &str, version: u64) -> String {
    format!("{VERSION_KEY_PREFIX}{name}/{version}")
}

/// The app and version a record key names, if it is a version key.
fn parse_key(key: &str) -> Option<(&str, u64)> {
    let rest = key.strip_prefix(VERSION_KEY_PREFIX)?;
    let (name, version) = rest.rsplit_once('/')?;
    Some((name, version.parse().ok()?))
}

/// A version record's first line.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Header {
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_ns: Option<i64>,
    cause: VersionCause,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    rolled_back: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redeployed_from: Option<u64>,
}

/// One version kept: its header's fields and the record's bytes (header,
/// newline, spec), the spec starting at `spec_at`.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    version: u64,
    time_ns: Option<i64>,
    cause: VersionCause,
    rolled_back: bool,
    redeployed_from: Option<u64>,
    bytes: Bytes,
    spec_at: u32,
    /// In the store (false: made from an older store's app record, or
    /// its record is to be written again).
    stored: bool,
}

impl Version {
    fn new(version: u64, time_ns: Option<i64>, cause: VersionCause, spec: &[u8]) -> Version {
        let mut v = Version {
            version,
            time_ns,
            cause,
            rolled_back: false,
            redeployed_from: None,
            bytes: Bytes::new(),
            spec_at: 0,
            stored: false,
        };
        v.encode(spec);
        v
    }

    /// Writes header and spec into `bytes` (marked not stored).
    fn encode(&mut self, spec: &[u8]) {
        let header = Header {
            version: self.version,
            time_ns: self.time_ns,
            cause: self.cause,
            rolled_back: self.rolled_back,
            redeployed_from: self.redeployed_from,
        };
        // Plain numbers and an enum: serializing cannot fail.
        let head = serde_json::to_vec(&header).unwrap_or_default();
        // Exactly as long as the record: `Bytes::from(Vec)` keeps the
        // Vec's allocation, spare capacity included, for as long as the
        // version is kept.
        let mut out = Vec::with_capacity(head.len() + 1 + spec.len());
        out.extend_from_slice(&head);
        out.push(b'\n');
        self.spec_at = u32::try_from(out.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(spec);
        self.bytes = Bytes::from(out);
        self.stored = false;
    }

    /// Reads a stored record (`None`: not one).
    fn decode(bytes: &Bytes) -> Option<Version> {
        let nl = bytes.iter().position(|b| *b == b'\n')?;
        let h: Header = serde_json::from_slice(&bytes[..nl]).ok()?;
        Some(Version {
            version: h.version,
            time_ns: h.time_ns,
            cause: h.cause,
            rolled_back: h.rolled_back,
            redeployed_from: h.redeployed_from,
            bytes: bytes.clone(),
            spec_at: u32::try_from(nl + 1).ok()?,
            stored: true,
        })
    }

    fn spec_bytes(&self) -> &[u8] {
        self.bytes.get(self.spec_at as usize..).unwrap_or_default()
    }

    fn info(&self, current: u64) -> VersionInfo {
        VersionInfo {
            version: self.version,
            time: self.time_ns.map(|ns| ns as f64 / 1e9),
            cause: self.cause,
            rolled_back: self.rolled_back,
            current: self.version == current,
            redeployed_from: self.redeployed_from,
        }
    }
}

/// An app's versions, by number (ascending).
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    versions: VecDeque<Version>,
}

impl History {
    fn find(&self, version: u64) -> Result<usize, usize> {
        self.versions.binary_search_by_key(&version, |v| v.version)
    }

    /// How many versions are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.versions.len()
    }

    /// The record bytes kept (tests of the memory cost).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.versions.iter().map(|v| v.bytes.len()).sum()
    }
}

/// What recovery left to do in the store: versions to write (made from an
/// older store's app records) and records to remove (beyond the bound, or
/// of apps that are gone).
#[derive(Debug, Default)]
pub(crate) struct VersionChores {
    remove: Vec<String>,
    pending: bool,
}

impl AppService {
    /// Adds the app's current version (`cause`) to its history, or brings
    /// the kept entry of that version up to date with the spec (a scale,
    /// a rollback's instance count), and drops the oldest versions beyond
    /// the bound. Writes what changed into the turn's batch.
    pub(crate) fn note_version(&mut self, ctx: &mut Ctx<'_>, name: &str, cause: VersionCause) {
        self.note_version_from(ctx, name, cause, None);
    }

    /// [`Self::note_version`] of a version that runs version
    /// `redeployed_from`'s spec again.
    pub(crate) fn note_version_from(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: &str,
        cause: VersionCause,
        redeployed_from: Option<u64>,
    ) {
        let max = ctx.config().max_versions;
        let wall = ctx.wall_ns();
        let Some(app) = self.apps.get_mut(name) else {
            return;
        };
        let rec = &app.rec;
        let h = &mut app.versions;
        let spec = encode_spec(&rec.spec);
        match h.find(rec.version) {
            Ok(i) => {
                let v = &mut h.versions[i];
                if v.spec_bytes() != spec.as_slice() {
                    v.encode(&spec);
                }
            }
            Err(i) => {
                let mut v = Version::new(rec.version, wall, cause, &spec);
                if redeployed_from.is_some() {
                    v.redeployed_from = redeployed_from;
                    v.encode(&spec);
                }
                h.versions.insert(i, v);
            }
        }
        let removed = trim(rec, h, max);
        store_versions(ctx, name, h);
        for version in removed {
            forget(ctx, version_key(name, version));
        }
    }

    /// The update to version `version` of `name` was rolled back.
    pub(crate) fn note_rolled_back(&mut self, ctx: &mut Ctx<'_>, name: &str, version: u64) {
        let Some(app) = self.apps.get_mut(name) else {
            return;
        };
        let h = &mut app.versions;
        if let Ok(i) = h.find(version) {
            let v = &mut h.versions[i];
            if !v.rolled_back {
                v.rolled_back = true;
                let spec = v.spec_bytes().to_vec();
                v.encode(&spec);
                store_versions(ctx, name, h);
            }
        }
    }

    /// Removes every version record of app `name` (it is deleted).
    pub(crate) fn forget_versions(ctx: &mut Ctx<'_>, name: &str, h: &History) {
        for v in &h.versions {
            forget(ctx, version_key(name, v.version));
        }
    }

    /// Reads the version records of the recovered apps (after the apps):
    /// each app's versions in order, those its record names but the store
    /// lacks (an older store) made anew, the oldest beyond `max` dropped;
    /// what that changes in the store is done at the next chance
    /// ([`Self::version_chores`]).
    pub(crate) fn recover_versions(&mut self, view: &View<'_>, records: &BTreeMap<String, Bytes>) {
        let max = view.config().max_versions;
        let mut chores = VersionChores::default();
        for (key, value) in records.range(VERSION_KEY_PREFIX.to_owned()..) {
            if !key.starts_with(VERSION_KEY_PREFIX) {
                break;
            }
            let parsed = parse_key(key).and_then(|(name, version)| {
                let v = Version::decode(value).filter(|v| v.version == version)?;
                Some((name, v))
            });
            let Some((name, v)) = parsed else {
                tracing::error!(target: "tritium::apps", key = %key, "stored version does not parse; removed");
                chores.remove.push(key.clone());
                continue;
            };
            match self.apps.get_mut(name) {
                // Keys sort as strings ("10" before "9"): placed by number.
                Some(app) => match app.versions.find(v.version) {
                    Ok(_) => {}
                    Err(i) => app.versions.versions.insert(i, v),
                },
                None => chores.remove.push(key.clone()),
            }
        }
        for (name, app) in &mut self.apps {
            let rec = &app.rec;
            let h = &mut app.versions;
            let mut known: Vec<(u64, &AppSpec)> = vec![(rec.version, &rec.spec)];
            if let Some(p) = &rec.previous {
                known.push((p.version, &p.spec));
            }
            for (version, spec) in known {
                if let Err(i) = h.find(version) {
                    let spec = encode_spec(spec);
                    h.versions
                        .insert(i, Version::new(version, None, VersionCause::Unknown, &spec));
                    chores.pending = true;
                }
            }
            for version in trim(rec, h, max) {
                chores.remove.push(version_key(name, version));
            }
        }
        chores.pending |= !chores.remove.is_empty();
        self.version_chores = chores;
    }

    /// Does what recovery left for the store (see
    /// [`Self::recover_versions`]): once, at the first subscription (not
    /// in a command's turn: a refused command writes nothing). A command
    /// before it that makes a version writes its app's versions itself.
    pub(crate) fn version_chores(&mut self, ctx: &mut Ctx<'_>) {
        if !self.version_chores.pending {
            return;
        }
        let chores = std::mem::take(&mut self.version_chores);
        for key in chores.remove {
            forget(ctx, key);
        }
        for (name, app) in &mut self.apps {
            store_versions(ctx, name, &mut app.versions);
        }
    }

    /// `GET /v1/api/app/{id}/versions`.
    pub(crate) fn versions_view(&self, name: &str, max: usize) -> Option<VersionList> {
        let app = self.apps.get(name)?;
        let current = app.rec.version;
        Some(VersionList {
            app: name.to_owned(),
            current,
            max_versions: max,
            versions: app
                .versions
                .versions
                .iter()
                .rev()
                .map(|v| v.info(current))
                .collect(),
        })
    }

    /// `GET /v1/api/app/{id}/versions/{version}`.
    pub(crate) fn version_view(
        &self,
        name: &str,
        version: u64,
    ) -> Result<VersionView, CommandError> {
        let Some(app) = self.apps.get(name) else {
            return Err(CommandError::not_found("name", format!("no app {name}")));
        };
        let h = &app.versions;
        let Ok(i) = h.find(version) else {
            let kept = match (h.versions.front(), h.versions.back()) {
                (Some(a), Some(b)) => format!(
                    " (kept: {} versions, {} to {})",
                    h.versions.len(),
                    a.version,
                    b.version
                ),
                _ => String::new(),
            };
            return Err(CommandError::not_found(
                "version",
                format!("app {name} has no version {version}{kept}"),
            ));
        };
        let v = &h.versions[i];
        let spec: AppSpec = serde_json::from_slice(v.spec_bytes()).map_err(|e| {
            tracing::error!(target: "tritium::apps", app = %name, version, error = %e, "stored version's spec does not parse");
            CommandError::unavailable(format!("version {version} of app {name} is unreadable"))
        })?;
        Ok(VersionView {
            app: name.to_owned(),
            info: v.info(app.rec.version),
            spec,
        })
    }
}

/// Drops the oldest versions beyond `max`, never the current one nor the
/// one a rollback of the update in progress returns to: the numbers
/// dropped.
fn trim(rec: &AppRecord, h: &mut History, max: usize) -> Vec<u64> {
    let keep = |v: u64| v == rec.version || rec.previous.as_ref().is_some_and(|p| p.version == v);
    let mut removed = Vec::new();
    let mut i = 0;
    while h.versions.len() > max.max(1) && i < h.versions.len() {
        if keep(h.versions[i].version) {
            i += 1;
        } else if let Some(v) = h.versions.remove(i) {
            removed.push(v.version);
        }
    }
    removed
}

/// Writes the versions of `name` not stored yet.
fn store_versions(ctx: &mut Ctx<'_>, name: &str, h: &mut History) {
    for v in h.versions.iter_mut().filter(|v| !v.stored) {
        // App names are checked at the API: the key is valid.
        match ctx.persist(version_key(name, v.version), v.bytes.clone()) {
            Ok(()) => v.stored = true,
            Err(e) => {
                tracing::error!(target: "tritium::apps", app = %name, version = v.version, error = %e, "version not stored");
            }
        }
    }
}

fn forget(ctx: &mut Ctx<'_>, key: String) {
    if let Err(e) = ctx.forget(key) {
        tracing::error!(target: "tritium::apps", error = %e, "version record not removed");
    }
}

#[cfg(test)]
#[path = "versions_tests.rs"]
mod tests;

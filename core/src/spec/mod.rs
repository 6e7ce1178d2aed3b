//! The app spec: what a user asks tritium to run, as JSON.
//!
//! The JSON is a superset of hydrogen's app document (every hydrogen field
//! keeps its name and meaning; see README "App spec") with the additions
//! tritium needs: gpus and ports, named constraints, kinds (service/job),
//! rolling-update bounds, a docker runtime. Parsing is strict: an unknown
//! field, a wrong type or an out-of-range value is an [`SpecError`] naming
//! the field, so nothing a user wrote is silently ignored; a key named
//! twice in one object is refused too ([`parse_strict_json`], the parse
//! step every request body goes through).
//!
//! [`AppSpec::parse`] checks everything that can be checked without the
//! cluster; the matcher compiles constraints and checks capacity against
//! what agents offer.

//!
//! The module is split in two: `model` holds the document's types as
//! serde reads and writes them; `validate` holds every check that needs
//! nothing but the document, and the entry points that parse and check.

use serde::Serialize;

mod json;
mod model;
mod validate;

pub use json::parse_strict_json;
pub use model::*;
pub use validate::{check_grace_period, parse_range};

/// Largest instance count one app may ask for.
pub const MAX_INSTANCES: u32 = 100_000;
/// Largest number of ports one instance may ask for.
pub const MAX_PORTS: usize = 64;
/// Largest count of filters, volumes, networks, uris, labels, env vars...
pub const MAX_ITEMS: usize = 256;
/// Longest kill grace period (`kill_policy.grace_period_seconds`, and a
/// kill's own from the API): a task that takes longer to stop holds its
/// resources and its instance's place in a rolling update longer than an
/// operator waits for a deploy; Marathon and Aurora operators use minutes.
pub const MAX_KILL_GRACE_PERIOD_SECONDS: f64 = 3600.0;
/// Longest string value in a spec (commands, labels, paths).
pub const MAX_STRING: usize = 64 * 1024;
/// Most apps one list request may create or change (hydrogen's list form,
/// a taurus job's tasks): the whole list is checked and stored in one
/// engine turn, so it is bounded like any other input.
pub const MAX_APPS_PER_REQUEST: usize = 100;

/// A refused spec: what is wrong and where (a JSON path like
/// `container.volume[1].mode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecError {
    /// What is wrong, for a person.
    pub error: String,
    /// The JSON path of the offending field (`""` for the whole document).
    pub field: String,
}

impl SpecError {
    /// A refusal of `field` with the reason `error`.
    pub fn new(field: impl Into<String>, error: impl Into<String>) -> SpecError {
        SpecError {
            error: error.into(),
            field: field.into(),
        }
    }
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.error)
        } else {
            write!(f, "{}: {}", self.field, self.error)
        }
    }
}

#[cfg(test)]
mod tests;

//! A client's scope: the apps a team's API token sees and changes
//! (`CommandKind::Scoped`). An app is a team's when its name starts with
//! one of the team's prefixes; the team may run its apps only under its
//! roles (an app's role is its spec's, or the framework's first role when
//! the spec names none).

/// Which apps a command may see and change.
///
/// ```
/// use tritium_core::contract::Scope;
/// let s = Scope { prefixes: vec!["pay-".into()], roles: Some(vec!["payments".into()]) };
/// assert!(s.sees("pay-api") && !s.sees("web"));
/// assert!(s.may_use_role("payments") && !s.may_use_role("web"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The app names it sees start with one of these.
    pub prefixes: Vec<String>,
    /// The roles its apps may run under; `None`: any of the framework's.
    pub roles: Option<Vec<String>>,
}

impl Scope {
    /// Whether app `name` is in the scope (seen in lists, events, answers).
    pub fn sees(&self, name: &str) -> bool {
        self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }

    /// Whether the scope's apps may run under `role`.
    pub fn may_use_role(&self, role: &str) -> bool {
        self.roles
            .as_ref()
            .is_none_or(|roles| roles.iter().any(|r| r == role))
    }
}

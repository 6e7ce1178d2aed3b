//! API authentication: bearer tokens from a file, with three levels, and
//! team tokens scoped to app-name prefixes and Mesos roles.
//!
//! The token file (`--api-token-file`, `TRITIUM_API_TOKEN_FILE`) has one
//! token per line, `LEVEL TOKEN [name=NAME] [apps=PREFIX,...] [roles=ROLE,...]`:
//!
//! - LEVEL is `read` (GET and HEAD), `deploy` (every app verb) or `admin`
//!   (everything);
//! - `name=` is who the token is in the audit log and the logs (the token
//!   itself never is); without it, `line-N`;
//! - `apps=` makes a team token: it sees and changes only the apps whose
//!   names start with one of the prefixes (any other app is answered as a
//!   missing one), and none of the cluster-wide endpoints (`/metrics`,
//!   maintenance: 403);
//! - `roles=` (with or without `apps=`) lists the Mesos roles the token's
//!   apps may run under: a spec naming another role, or a change to an app
//!   running under another, is 403. A token with `roles=` and no `apps=`
//!   sees every app (and is still not cluster-wide).
//!
//! `admin` tokens are never scoped. Blank lines and lines starting with
//! `#` are ignored, and so is the rest of a line after ` #`; tokens are
//! 16 to 4096 visible ASCII characters without spaces. The file of the
//! earlier releases (`admin TOKEN`, `read TOKEN`) keeps its meaning.
//!
//! ```text
//! # tritium API tokens
//! admin  3f0c2a…  name=ci                                   # deploys everything
//! read   9b71e4…  name=prometheus                           # metrics, dashboards
//! deploy 51d0aa…  name=payments apps=pay-,billing- roles=payments
//! read   c2e9f7…  name=payments-ro apps=pay-,billing-
//! deploy 7a44b1…  name=search apps=search- roles=search,search-batch
//! ```
//!
//! With a file given, every request but `GET /health` and the status
//! page's static files (`/`, `/app.js`: no data in them) needs
//! `Authorization: Bearer TOKEN`: without one, or with a token not in the
//! file, the answer is 401; a `read` token on a mutating method gets 403.
//! The file is read again on SIGHUP ([`TokenSource::reload`]); a file that
//! does not parse keeps the tokens in force.
//!
//! What it must never do: log, echo or count a token (errors name the line
//! number, never its content), or compare tokens in time that depends on
//! where they differ.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use tritium_engine::contract::Scope;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// GET and HEAD.
    Read,
    /// Every app verb (within its scope, if it has one).
    Deploy,
    /// Everything; never scoped.
    Admin,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Deploy => "deploy",
            Level::Admin => "admin",
        }
    }
}

/// Who a request comes from: its token's level, name and scope (never
/// the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub level: Level,
    /// The token's `name=` (or `line-N`): what the audit log says.
    pub name: Arc<str>,
    /// A team's token: the apps it sees; `None`: every app, and the
    /// cluster-wide endpoints.
    pub scope: Option<Arc<Scope>>,
}

/// Shortest token accepted: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;
/// Longest token accepted (a bound on the comparison's work).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Most tokens in one file.
pub const MAX_TOKENS: usize = 1024;
/// Most prefixes or roles of one token.
pub const MAX_SCOPE_ITEMS: usize = 64;
/// Longest name, prefix or role.
pub const MAX_WORD_LEN: usize = 128;
/// Largest token file read.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

struct Entry {
    token: Vec<u8>,
    who: Identity,
}

/// The tokens of a token file. Its `Debug` shows only how many there are.
#[derive(Clone)]
pub struct Tokens {
    entries: Arc<Vec<Entry>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No bearer token, or one not in the file: 401.
    Unauthenticated,
    /// A read-only token on a mutating method: 403.
    Forbidden,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::Unauthenticated => 401,
            Refusal::Forbidden => 403,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Unauthenticated => {
                "authentication required: send Authorization: Bearer <token> with a token from the API token file"
            }
            Refusal::Forbidden => {
                "this token is read-only; the method needs a deploy or admin token"
            }
        }
    }
}

/// A word of a `key=a,b` list: visible ASCII, no comma, bounded.
fn list(line_no: usize, key: &str, value: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = value.split(',').map(str::to_owned).collect();
    if items.len() > MAX_SCOPE_ITEMS {
        return Err(format!(
            "line {line_no}: more than {MAX_SCOPE_ITEMS} items in {key}="
        ));
    }
    for item in &items {
        if item.is_empty() || item.len() > MAX_WORD_LEN {
            return Err(format!(
                "line {line_no}: each item of {key}= must be 1 to {MAX_WORD_LEN} characters"
            ));
        }
        if !item.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "line {line_no}: {key}= must be visible ASCII characters"
            ));
        }
    }
    Ok(items)
}

impl Tokens {
    /// Read and check a token file.
    pub fn load(path: &Path) -> Result<Tokens, String> {
        let fail = |e: &dyn fmt::Display| format!("--api-token-file {}: {e}", path.display());
        let size = std::fs::metadata(path).map_err(|e| fail(&e))?.len();
        if size > MAX_FILE_BYTES {
            return Err(fail(&format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
        Tokens::parse(&text).map_err(|e| fail(&e))
    }

    /// Parse the file's text. Errors name the line, never the token.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut entries: Vec<(usize, Entry)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.split(" #").next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let level = match words.next() {
                Some("admin") => Level::Admin,
                Some("deploy") => Level::Deploy,
                Some("read") => Level::Read,
                _ => {
                    return Err(format!(
                        "line {line_no}: expected `admin|deploy|read TOKEN [name=NAME] [apps=PREFIX,...] [roles=ROLE,...]`"
                    ));
                }
            };
            let Some(token) = words.next() else {
                return Err(format!("line {line_no}: the token is missing"));
            };
            if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len()) {
                return Err(format!(
                    "line {line_no}: a token must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} characters"
                ));
            }
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "line {line_no}: a token must be visible ASCII characters"
                ));
            }
            let (mut name, mut apps, mut roles) = (None, None, None);
            // A word that is not one of these is not echoed: it may be a
            // token pasted in the wrong place.
            for word in words {
                let Some((key, value)) = word.split_once('=') else {
                    return Err(format!(
                        "line {line_no}: after the token, only name=, apps= and roles= (tokens have no spaces)"
                    ));
                };
                let slot_taken = match key {
                    "name" => name.replace(list(line_no, key, value)?).is_some(),
                    "apps" => apps.replace(list(line_no, key, value)?).is_some(),
                    "roles" => roles.replace(list(line_no, key, value)?).is_some(),
                    _ => {
                        return Err(format!(
                            "line {line_no}: after the token, only name=, apps= and roles="
                        ));
                    }
                };
                if slot_taken {
                    return Err(format!("line {line_no}: {key}= given twice"));
                }
            }
            let name = match name {
                None => format!("line-{line_no}"),
                Some(n) if n.len() == 1 => n.into_iter().next().unwrap_or_default(),
                Some(_) => return Err(format!("line {line_no}: name= is one word, no commas")),
            };
            let scope = match (apps, roles) {
                (None, None) => None,
                _ if level == Level::Admin => {
                    return Err(format!(
                        "line {line_no}: an admin token is not scoped (apps=, roles= are for deploy and read tokens)"
                    ));
                }
                (apps, roles) => Some(Arc::new(Scope {
                    prefixes: apps.unwrap_or_else(|| vec![String::new()]),
                    roles,
                })),
            };
            // The same token twice: the stronger level, as before teams;
            // a team token listed twice would be ambiguous.
            if let Some((first, e)) = entries
                .iter_mut()
                .find(|(_, e)| e.token == token.as_bytes())
            {
                if e.who.scope.is_some() || scope.is_some() {
                    return Err(format!(
                        "line {line_no}: the same token as line {first}, with a scope"
                    ));
                }
                e.who.level = e.who.level.max(level);
                continue;
            }
            if entries.len() == MAX_TOKENS {
                return Err(format!("more than {MAX_TOKENS} tokens"));
            }
            entries.push((
                line_no,
                Entry {
                    token: token.as_bytes().to_vec(),
                    who: Identity {
                        level,
                        name: name.into(),
                        scope,
                    },
                },
            ));
        }
        if entries.is_empty() {
            return Err("no tokens (lines `LEVEL TOKEN ...`)".into());
        }
        Ok(Tokens {
            entries: Arc::new(entries.into_iter().map(|(_, e)| e).collect()),
        })
    }

    /// Who presents the token in an `Authorization` header value, if
    /// anyone. Every token is compared, each in constant time, whatever
    /// matches.
    pub fn identify(&self, authorization: Option<&str>) -> Option<Identity> {
        let presented = authorization
            .and_then(|h| {
                let (scheme, rest) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
            })
            .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)?;
        let mut found = None;
        for e in self.entries.iter() {
            if constant_time_eq(presented.as_bytes(), &e.token) {
                // Tokens are unique in the file: at most one matches.
                found = Some(&e.who);
            }
        }
        found.cloned()
    }

    /// May a request with this `Authorization` header use `method`?
    pub fn check(&self, authorization: Option<&str>, method: &str) -> Result<Identity, Refusal> {
        match self.identify(authorization) {
            None => Err(Refusal::Unauthenticated),
            Some(who) if who.level == Level::Read && !matches!(method, "GET" | "HEAD") => {
                Err(Refusal::Forbidden)
            }
            Some(who) => Ok(who),
        }
    }
}

/// The tokens in force, and the file they are read again from (SIGHUP).
#[derive(Debug)]
pub struct TokenSource {
    path: Option<PathBuf>,
    current: RwLock<Tokens>,
}

impl TokenSource {
    /// `tokens`, read again from `path` on [`Self::reload`] (never, if
    /// `None`).
    pub fn new(tokens: Tokens, path: Option<PathBuf>) -> TokenSource {
        TokenSource {
            path,
            current: RwLock::new(tokens),
        }
    }

    /// The tokens in force.
    pub fn get(&self) -> Tokens {
        // A poisoned lock still holds a whole value: it is only ever
        // replaced whole.
        match self.current.read() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Read the file again: its tokens replace those in force, or, if it
    /// does not parse, those stay and the error (with a line number, never
    /// a token) is returned. How many tokens are in force after.
    pub fn reload(&self) -> Result<usize, String> {
        let Some(path) = &self.path else {
            return Err("no token file to read again".into());
        };
        let tokens = Tokens::load(path)?;
        let n = tokens.len();
        match self.current.write() {
            Ok(mut t) => *t = tokens,
            Err(p) => *p.into_inner() = tokens,
        }
        Ok(n)
    }
}

/// Equal bytes, in time that depends only on the lengths: every byte is
/// looked at, differences are OR-ed together, nothing returns early.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    // Keep the optimizer from turning the loop into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# tokens\nadmin aaaaaaaaaaaaaaaaaaaa\n\nread rrrrrrrrrrrrrrrrrrrr # prometheus\n\
         deploy pppppppppppppppppppp name=payments apps=pay-,billing- roles=payments\n\
         read qqqqqqqqqqqqqqqqqqqq name=search-ro apps=search-\n";

    #[test]
    fn levels_and_methods() {
        let t = Tokens::parse(FILE).unwrap();
        let admin = Some("Bearer aaaaaaaaaaaaaaaaaaaa");
        let read = Some("bearer rrrrrrrrrrrrrrrrrrrr");
        let level = |h, m| t.check(h, m).map(|w| w.level);
        assert_eq!(level(admin, "DELETE"), Ok(Level::Admin));
        assert_eq!(level(read, "GET"), Ok(Level::Read));
        assert_eq!(level(read, "POST"), Err(Refusal::Forbidden));
        assert_eq!(level(None, "GET"), Err(Refusal::Unauthenticated));
        assert_eq!(
            level(Some("Bearer aaaaaaaaaaaaaaaaaaa"), "GET"),
            Err(Refusal::Unauthenticated)
        );
        assert_eq!(
            level(Some("Basic aaaaaaaaaaaaaaaaaaaa"), "GET"),
            Err(Refusal::Unauthenticated)
        );
        let admin = t.check(admin, "GET").unwrap();
        assert_eq!((&*admin.name, admin.scope), ("line-2", None));
    }

    #[test]
    fn team_tokens_carry_their_scope() {
        let t = Tokens::parse(FILE).unwrap();
        let pay = t.check(Some("Bearer pppppppppppppppppppp"), "PUT").unwrap();
        assert_eq!((pay.level, &*pay.name), (Level::Deploy, "payments"));
        let scope = pay.scope.unwrap();
        assert!(scope.sees("pay-api") && scope.sees("billing-x") && !scope.sees("search-a"));
        assert!(scope.may_use_role("payments") && !scope.may_use_role("search"));
        let ro = t.check(Some("Bearer qqqqqqqqqqqqqqqqqqqq"), "GET").unwrap();
        let scope = ro.scope.unwrap();
        assert!(scope.sees("search-a") && scope.may_use_role("anything"));
        assert_eq!(
            t.check(Some("Bearer qqqqqqqqqqqqqqqqqqqq"), "POST"),
            Err(Refusal::Forbidden)
        );
        // roles= alone: every app, those roles.
        let t = Tokens::parse("deploy dddddddddddddddddddd roles=a\n").unwrap();
        let d = t.identify(Some("Bearer dddddddddddddddddddd")).unwrap();
        let scope = d.scope.unwrap();
        assert!(scope.sees("anything") && !scope.may_use_role("b"));
    }

    #[test]
    fn a_token_twice_keeps_the_stronger_level_unless_scoped() {
        let t = Tokens::parse("read aaaaaaaaaaaaaaaaaaaa\nadmin aaaaaaaaaaaaaaaaaaaa\n").unwrap();
        assert_eq!(t.len(), 1);
        let who = t.identify(Some("Bearer aaaaaaaaaaaaaaaaaaaa")).unwrap();
        assert_eq!(who.level, Level::Admin);
        let e = Tokens::parse("read aaaaaaaaaaaaaaaaaaaa\ndeploy aaaaaaaaaaaaaaaaaaaa apps=x\n")
            .unwrap_err();
        assert!(e.contains("line 2") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn bad_files_name_the_line_not_the_token() {
        for (text, want) in [
            ("root secretsecretsecret1\n", "line 1"),
            ("admin short\n", "line 1"),
            ("read\n", "line 1"),
            ("\nadmin aaaaaaaaaaaaaaaaaaaa extra\n", "line 2"),
            ("admin aaaaaaaaaaaaaaaaaaaa apps=a-\n", "line 1"),
            ("deploy aaaaaaaaaaaaaaaaaaaa apps=a-,,b\n", "line 1"),
            ("deploy aaaaaaaaaaaaaaaaaaaa apps=a apps=b\n", "line 1"),
            ("deploy aaaaaaaaaaaaaaaaaaaa secret=aaaa\n", "line 1"),
            ("deploy aaaaaaaaaaaaaaaaaaaa name=a,b\n", "line 1"),
            ("# nothing\n", "no tokens"),
        ] {
            let e = Tokens::parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains("secret") && !e.contains("aaaa"), "{e}");
        }
        let t = Tokens::parse(FILE).unwrap();
        assert!(!format!("{t:?}").contains("aaaa"));
    }

    #[test]
    fn a_bad_reload_keeps_the_tokens_in_force() {
        let dir = std::env::temp_dir().join(format!("tritium-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens");
        std::fs::write(&path, "admin aaaaaaaaaaaaaaaaaaaa\n").unwrap();
        let src = TokenSource::new(Tokens::load(&path).unwrap(), Some(path.clone()));
        std::fs::write(
            &path,
            "admin bbbbbbbbbbbbbbbbbbbb\nread cccccccccccccccccccc\n",
        )
        .unwrap();
        assert_eq!(src.reload(), Ok(2));
        assert!(
            src.get()
                .identify(Some("Bearer aaaaaaaaaaaaaaaaaaaa"))
                .is_none()
        );
        assert!(
            src.get()
                .identify(Some("Bearer bbbbbbbbbbbbbbbbbbbb"))
                .is_some()
        );
        std::fs::write(
            &path,
            "admin bbbbbbbbbbbbbbbbbbbb\nbad secretsecretsecret\n",
        )
        .unwrap();
        let e = src.reload().unwrap_err();
        assert!(e.contains("line 2") && !e.contains("secret"), "{e}");
        assert!(
            src.get()
                .identify(Some("Bearer cccccccccccccccccccc"))
                .is_some()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}

//! API authentication: bearer tokens from a file, with two roles.
//!
//! The token file (`--api-token-file`, `TRITIUM_API_TOKEN_FILE`) has one
//! token per line, `ROLE TOKEN`, where ROLE is `admin` (every request) or
//! `read` (GET and HEAD only). Blank lines and lines starting with `#` are
//! ignored; tokens are 16 to 4096 visible ASCII characters without spaces.
//!
//! ```text
//! # tritium API tokens
//! admin 3f0c2a…   # deploys (CI)
//! read  9b71e4…   # Prometheus, dashboards
//! ```
//!
//! With a file given, every request but `GET /health` and the status
//! page's static files (`/`, `/app.js`: no data in them) needs
//! `Authorization: Bearer TOKEN`: without one, or with a token not in the
//! file, the answer is 401; a `read` token on a mutating method gets 403.
//!
//! What it must never do: log, echo or count a token (errors name the line
//! number, never its content), or compare tokens in time that depends on
//! where they differ.

use std::fmt;
use std::path::Path;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// GET and HEAD.
    Read,
    /// Everything.
    Admin,
}

/// Shortest token accepted: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;
/// Longest token accepted (a bound on the comparison's work).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Most tokens in one file.
pub const MAX_TOKENS: usize = 1024;

/// The tokens of a token file. Its `Debug` shows only how many there are.
#[derive(Clone)]
pub struct Tokens {
    entries: Vec<(Role, Vec<u8>)>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
            .finish_non_exhaustive()
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
            Refusal::Forbidden => "this token is read-only; the method needs an admin token",
        }
    }
}

impl Tokens {
    /// Read and check a token file.
    pub fn load(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--api-token-file {}: {e}", path.display()))?;
        Tokens::parse(&text).map_err(|e| format!("--api-token-file {}: {e}", path.display()))
    }

    /// Parse the file's text. Errors name the line, never the token.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.split(" #").next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let role = match words.next() {
                Some("admin") => Role::Admin,
                Some("read") => Role::Read,
                _ => {
                    return Err(format!(
                        "line {line_no}: expected `admin TOKEN` or `read TOKEN`"
                    ));
                }
            };
            let Some(token) = words.next() else {
                return Err(format!("line {line_no}: the token is missing"));
            };
            if words.next().is_some() {
                return Err(format!(
                    "line {line_no}: more than a role and a token (tokens have no spaces)"
                ));
            }
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
            if entries.len() == MAX_TOKENS {
                return Err(format!("more than {MAX_TOKENS} tokens"));
            }
            entries.push((role, token.as_bytes().to_vec()));
        }
        if entries.is_empty() {
            return Err("no tokens (lines `admin TOKEN` or `read TOKEN`)".into());
        }
        Ok(Tokens { entries })
    }

    /// The role of the token in an `Authorization` header value, if any.
    /// Every token is compared, each in constant time, whatever matches.
    pub fn role_of(&self, authorization: Option<&str>) -> Option<Role> {
        let presented = authorization
            .and_then(|h| {
                let (scheme, rest) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
            })
            .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)?;
        let mut found = None;
        for (role, token) in &self.entries {
            if constant_time_eq(presented.as_bytes(), token) {
                // Keep the strongest role if a token is listed twice.
                found = match (found, role) {
                    (Some(Role::Admin), _) | (_, Role::Admin) => Some(Role::Admin),
                    _ => Some(Role::Read),
                };
            }
        }
        found
    }

    /// May a request with this `Authorization` header use `method`?
    pub fn check(&self, authorization: Option<&str>, method: &str) -> Result<Role, Refusal> {
        match self.role_of(authorization) {
            None => Err(Refusal::Unauthenticated),
            Some(Role::Read) if !matches!(method, "GET" | "HEAD") => Err(Refusal::Forbidden),
            Some(role) => Ok(role),
        }
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

    const FILE: &str =
        "# tokens\nadmin aaaaaaaaaaaaaaaaaaaa\n\nread rrrrrrrrrrrrrrrrrrrr # prometheus\n";

    #[test]
    fn roles_and_methods() {
        let t = Tokens::parse(FILE).unwrap();
        let admin = Some("Bearer aaaaaaaaaaaaaaaaaaaa");
        let read = Some("bearer rrrrrrrrrrrrrrrrrrrr");
        assert_eq!(t.check(admin, "DELETE"), Ok(Role::Admin));
        assert_eq!(t.check(read, "GET"), Ok(Role::Read));
        assert_eq!(t.check(read, "POST"), Err(Refusal::Forbidden));
        assert_eq!(t.check(None, "GET"), Err(Refusal::Unauthenticated));
        assert_eq!(
            t.check(Some("Bearer aaaaaaaaaaaaaaaaaaa"), "GET"),
            Err(Refusal::Unauthenticated)
        );
        assert_eq!(
            t.check(Some("Basic aaaaaaaaaaaaaaaaaaaa"), "GET"),
            Err(Refusal::Unauthenticated)
        );
    }

    #[test]
    fn bad_files_name_the_line_not_the_token() {
        for (text, want) in [
            ("root secretsecretsecret1\n", "line 1"),
            ("admin short\n", "line 1"),
            ("read\n", "line 1"),
            ("\nadmin aaaaaaaaaaaaaaaaaaaa extra\n", "line 2"),
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
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}

//! Where the master is: `http[s]://host:port[/prefix]`, and how a 307's
//! (usually protocol-relative) `Location` turns into the next target.

use std::fmt;

/// Path of the scheduler API under a master's URL.
pub const SCHEDULER_PATH: &str = "/api/v1/scheduler";

/// A master endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterUrl {
    /// `https`: the connection is TLS.
    pub tls: bool,
    /// Host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// TCP port (5050 when the URL names none).
    pub port: u16,
    /// Full request path of the scheduler API, e.g. `/api/v1/scheduler` or
    /// `/mesos/api/v1/scheduler` behind a proxy.
    pub path: String,
}

/// A master URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The URL (as given) does not start with `http://` or `https://`.
    #[error("master URL {0:?} must start with http:// or https://")]
    Scheme(String),
    /// The URL (as given) names no host.
    #[error("master URL {0:?} has no host")]
    NoHost(String),
    /// The URL's port is not a number up to 65535, or its bracketed IPv6
    /// host is malformed.
    #[error("master URL {0:?} has a bad port")]
    BadPort(String),
    /// The URL (as given) holds whitespace or control characters.
    #[error("master URL {0:?} has characters not allowed in a URL")]
    BadCharacter(String),
}

impl MasterUrl {
    /// Parse `http://host:port`, `https://host`, `http://host:port/prefix`.
    /// A path that does not already end in the scheduler path gets it
    /// appended. The default port is 5050 (Mesos's), not 80.
    ///
    /// ```
    /// use tritium_core::session::{MasterUrl, UrlError};
    ///
    /// let u = MasterUrl::parse("https://mesos.example:5051/mesos").unwrap();
    /// assert_eq!((u.tls, u.host.as_str(), u.port), (true, "mesos.example", 5051));
    /// assert_eq!(u.path, "/mesos/api/v1/scheduler");
    /// assert_eq!(MasterUrl::parse("http://m").unwrap().port, 5050);
    /// assert!(matches!(MasterUrl::parse("ftp://m"), Err(UrlError::Scheme(_))));
    /// ```
    pub fn parse(s: &str) -> Result<MasterUrl, UrlError> {
        let s = s.trim();
        if s.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UrlError::BadCharacter(s.into()));
        }
        let (tls, rest) = if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(UrlError::Scheme(s.into()));
        };
        Self::from_authority_path(tls, rest, s)
    }

    /// Resolve a `Location` header against this URL: absolute
    /// (`http://h:p/...`), protocol-relative (`//h:p/...`, what the master
    /// sends) or a path on the same host.
    ///
    /// ```
    /// use tritium_core::session::MasterUrl;
    ///
    /// let here = MasterUrl::parse("http://m1:5050").unwrap();
    /// let leader = here.resolve("//m2:5050/master/api/v1/scheduler").unwrap();
    /// assert_eq!(leader.to_string(), "http://m2:5050/master/api/v1/scheduler");
    /// ```
    pub fn resolve(&self, location: &str) -> Result<MasterUrl, UrlError> {
        let loc = location.trim();
        if loc.starts_with("http://") || loc.starts_with("https://") {
            return Self::parse(loc);
        }
        if let Some(rest) = loc.strip_prefix("//") {
            return Self::from_authority_path(self.tls, rest, loc);
        }
        if loc.starts_with('/') {
            let mut u = self.clone();
            u.path = with_scheduler_path(loc);
            return Ok(u);
        }
        Err(UrlError::Scheme(loc.into()))
    }

    fn from_authority_path(tls: bool, rest: &str, original: &str) -> Result<MasterUrl, UrlError> {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) =
            split_host_port(authority).ok_or_else(|| UrlError::BadPort(original.into()))?;
        if host.is_empty() {
            return Err(UrlError::NoHost(original.into()));
        }
        Ok(MasterUrl {
            tls,
            host: host.to_owned(),
            port: port.unwrap_or(5050),
            path: with_scheduler_path(path),
        })
    }

    /// `host:port` for the `Host` header and for connecting.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for MasterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

fn with_scheduler_path(path: &str) -> String {
    let p = path.trim_end_matches('/');
    if p.ends_with(SCHEDULER_PATH) {
        p.to_owned()
    } else {
        format!("{p}{SCHEDULER_PATH}")
    }
}

/// Split `host:port`, `[v6]:port`, `host`; `None` on a bad port.
fn split_host_port(a: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = a.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match a.rsplit_once(':') {
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((a, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_master_urls() {
        let u = MasterUrl::parse("http://10.0.0.1:5050").unwrap();
        assert_eq!(u.authority(), "10.0.0.1:5050");
        assert_eq!(u.path, "/api/v1/scheduler");
        assert!(!u.tls);
        let u = MasterUrl::parse("https://mesos.example/mesos/").unwrap();
        assert!(u.tls);
        assert_eq!(u.port, 5050);
        assert_eq!(u.path, "/mesos/api/v1/scheduler");
        let u = MasterUrl::parse("http://[::1]:6000/api/v1/scheduler").unwrap();
        assert_eq!(u.authority(), "[::1]:6000");
        assert_eq!(u.to_string(), "http://[::1]:6000/api/v1/scheduler");
        assert!(MasterUrl::parse("ftp://x").is_err());
        assert!(MasterUrl::parse("http://:50").is_err());
        assert!(MasterUrl::parse("http://h:99999").is_err());
        assert!(MasterUrl::parse("http://h x").is_err());
    }

    #[test]
    fn resolves_redirects() {
        let base = MasterUrl::parse("https://a:5050").unwrap();
        let r = base.resolve("//b:5051/api/v1/scheduler").unwrap();
        assert_eq!((r.tls, r.host.as_str(), r.port), (true, "b", 5051));
        let r = base.resolve("http://c:1/api/v1/scheduler").unwrap();
        assert!(!r.tls);
        let r = base.resolve("/other/api/v1/scheduler").unwrap();
        assert_eq!(
            (r.host.as_str(), r.path.as_str()),
            ("a", "/other/api/v1/scheduler")
        );
        assert!(base.resolve("b:5051").is_err());
    }
}

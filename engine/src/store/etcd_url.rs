//! `--store etcd://HOST:PORT[,HOST:PORT...]/PREFIX`: which etcd members to
//! talk to and under which key prefix tritium keeps its state.
//!
//! Owns only the parsing and its errors; it never connects.

use std::fmt;

/// More endpoints than any etcd cluster has members (etcd recommends 3, 5 or
/// 7); a longer list is a mistake, not a cluster.
pub const MAX_ENDPOINTS: usize = 16;

/// Bound on the prefix: every key tritium writes starts with it, and keys
/// travel in every request.
pub const MAX_PREFIX_LEN: usize = 256;

/// A parsed `etcd://` store URL.
///
/// ```rust
/// use tritium_engine::store::{EtcdUrl, EtcdUrlError};
///
/// let url = EtcdUrl::parse("etcd://10.0.0.1:2379,[::1]:2379/tritium/prod/")?;
/// assert_eq!(url.endpoints(), ["10.0.0.1:2379", "[::1]:2379"]);
/// assert_eq!(url.prefix(), "/tritium/prod");
/// assert_eq!(url.to_string(), "etcd://10.0.0.1:2379,[::1]:2379/tritium/prod");
///
/// // A prefix is required, so tritium's keys never mix with others'.
/// assert!(matches!(
///     EtcdUrl::parse("etcd://10.0.0.1:2379"),
///     Err(EtcdUrlError::NoPrefix { .. })
/// ));
/// # Ok::<(), EtcdUrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdUrl {
    /// `HOST:PORT` of each member, as given (IPv6 hosts in brackets).
    endpoints: Vec<String>,
    /// The key prefix: starts with `/`, never ends with one.
    prefix: String,
}

/// Why an `etcd://` URL was refused. Every variant carries the whole URL as
/// given, for the error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdUrlError {
    /// The URL does not start with `etcd://`.
    #[error(
        "{url:?}: an etcd store URL starts with etcd:// (etcd://HOST:PORT[,HOST:PORT...]/PREFIX)"
    )]
    Scheme {
        /// The URL as given.
        url: String,
    },
    /// Nothing between `etcd://` and the prefix.
    #[error("{url:?}: no etcd endpoint before the prefix (etcd://HOST:PORT[,HOST:PORT...]/PREFIX)")]
    NoEndpoints {
        /// The URL as given.
        url: String,
    },
    /// More than 16 comma-separated endpoints (no etcd cluster has that
    /// many members).
    #[error("{url:?}: more than {MAX_ENDPOINTS} etcd endpoints")]
    TooManyEndpoints {
        /// The URL as given.
        url: String,
    },
    /// One endpoint is not `HOST:PORT` (an empty entry, a missing or zero
    /// port, a host with characters a name or address cannot hold, an
    /// unclosed IPv6 bracket).
    #[error("{url:?}: endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The URL as given.
        url: String,
        /// The offending endpoint.
        endpoint: String,
        /// What is wrong with it, in words.
        reason: &'static str,
    },
    /// No key prefix after the endpoints.
    #[error(
        "{url:?}: no key prefix; give one after the endpoints (etcd://HOST:PORT/tritium) so \
         tritium's keys do not mix with others'"
    )]
    NoPrefix {
        /// The URL as given.
        url: String,
    },
    /// The prefix is longer than 256 bytes, has an empty segment,
    /// or holds whitespace, a control character, `?` or `#`.
    #[error("{url:?}: key prefix {prefix:?}: {reason}")]
    Prefix {
        /// The URL as given.
        url: String,
        /// The prefix, without its leading `/`.
        prefix: String,
        /// What is wrong with it, in words.
        reason: &'static str,
    },
}

impl EtcdUrl {
    /// Parses `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`. The prefix is one or
    /// more `/`-separated non-empty segments; a trailing `/` is ignored.
    /// Nothing is resolved or connected.
    ///
    /// # Errors
    ///
    /// An [`EtcdUrlError`] naming the part at fault.
    pub fn parse(url: &str) -> Result<EtcdUrl, EtcdUrlError> {
        let owned = || url.to_owned();
        let rest = url
            .strip_prefix("etcd://")
            .ok_or_else(|| EtcdUrlError::Scheme { url: owned() })?;
        let (hosts, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        if hosts.is_empty() {
            return Err(EtcdUrlError::NoEndpoints { url: owned() });
        }
        let mut endpoints = Vec::new();
        for endpoint in hosts.split(',') {
            if endpoints.len() == MAX_ENDPOINTS {
                return Err(EtcdUrlError::TooManyEndpoints { url: owned() });
            }
            check_endpoint(endpoint).map_err(|reason| EtcdUrlError::Endpoint {
                url: owned(),
                endpoint: endpoint.to_owned(),
                reason,
            })?;
            endpoints.push(endpoint.to_owned());
        }
        let path = path.strip_suffix('/').unwrap_or(path);
        if path.is_empty() {
            return Err(EtcdUrlError::NoPrefix { url: owned() });
        }
        let prefix_err = |reason| EtcdUrlError::Prefix {
            url: owned(),
            prefix: path.to_owned(),
            reason,
        };
        if path.len() > MAX_PREFIX_LEN {
            return Err(prefix_err("longer than 256 bytes"));
        }
        if path.split('/').any(str::is_empty) {
            return Err(prefix_err("has an empty segment (//)"));
        }
        if path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        {
            return Err(prefix_err(
                "has whitespace, a control character, '?' or '#'",
            ));
        }
        Ok(EtcdUrl {
            endpoints,
            prefix: format!("/{path}"),
        })
    }

    /// `HOST:PORT` of each member, in the order given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The key prefix, with a leading `/` and no trailing one
    /// (`etcd://h:2379/tritium/prod` → `/tritium/prod`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The endpoints as the gRPC client wants them (`http://HOST:PORT`).
    pub(crate) fn http_endpoints(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .map(|e| format!("http://{e}"))
            .collect()
    }
}

impl fmt::Display for EtcdUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "etcd://{}{}", self.endpoints.join(","), self.prefix)
    }
}

fn check_endpoint(endpoint: &str) -> Result<(), &'static str> {
    if endpoint.is_empty() {
        return Err("empty (two commas in a row, or a trailing comma?)");
    }
    let (host, port) = if let Some(v6) = endpoint.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or("an IPv6 host needs its closing ']'")?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("not an IPv6 address between '[' and ']'");
        }
        let port = after
            .strip_prefix(':')
            .ok_or("needs :PORT after the host")?;
        (host, port)
    } else {
        endpoint
            .rsplit_once(':')
            .ok_or("needs :PORT after the host")?
    };
    if host.is_empty() {
        return Err("no host before :PORT");
    }
    if !endpoint.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    {
        return Err("a host is a name or an address (letters, digits, '.', '-', '_')");
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err("the port must be a number from 1 to 65535"),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_several_endpoints() {
        let u = EtcdUrl::parse("etcd://127.0.0.1:2379/tritium").unwrap();
        assert_eq!(u.endpoints(), ["127.0.0.1:2379"]);
        assert_eq!(u.prefix(), "/tritium");
        assert_eq!(u.http_endpoints(), ["http://127.0.0.1:2379"]);
        assert_eq!(u.to_string(), "etcd://127.0.0.1:2379/tritium");

        let u = EtcdUrl::parse("etcd://e1:2379,e2.example:2380,[::1]:2381/t/prod/").unwrap();
        assert_eq!(u.endpoints(), ["e1:2379", "e2.example:2380", "[::1]:2381"]);
        assert_eq!(u.prefix(), "/t/prod");
        assert_eq!(
            u.to_string(),
            "etcd://e1:2379,e2.example:2380,[::1]:2381/t/prod"
        );
        assert_eq!(EtcdUrl::parse(&u.to_string()).unwrap(), u);
    }

    fn err(url: &str) -> String {
        EtcdUrl::parse(url).unwrap_err().to_string()
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(err("http://h:2379/t").contains("starts with etcd://"));
        assert!(err("etcd:/h:2379/t").contains("starts with etcd://"));
        assert!(err("etcd:///t").contains("no etcd endpoint"));
        assert!(err("etcd://h:2379").contains("no key prefix"));
        assert!(err("etcd://h:2379/").contains("no key prefix"));
        assert!(err("etcd://h/t").contains("needs :PORT"));
        assert!(err("etcd://h:0/t").contains("1 to 65535"));
        assert!(err("etcd://h:70000/t").contains("1 to 65535"));
        assert!(err("etcd://h:x/t").contains("1 to 65535"));
        assert!(err("etcd://:2379/t").contains("no host"));
        assert!(err("etcd://h:1,,h:2/t").contains("empty"));
        assert!(err("etcd://h:1,/t").contains("empty"));
        assert!(err("etcd://us@h:1/t").contains("a host is a name"));
        assert!(err("etcd://[::1:2379/t").contains("closing ']'"));
        assert!(err("etcd://[zz]:2379/t").contains("IPv6"));
        assert!(err("etcd://[::1]/t").contains("needs :PORT"));
        assert!(err("etcd://h:1/a//b").contains("empty segment"));
        assert!(err("etcd://h:1/a b").contains("whitespace"));
        assert!(err("etcd://h:1/a?x=1").contains("'?'"));
        let long = format!("etcd://h:1/{}", "p".repeat(MAX_PREFIX_LEN + 1));
        assert!(err(&long).contains("longer than"));
        let many = format!("etcd://{}/t", vec!["h:1"; MAX_ENDPOINTS + 1].join(","));
        assert!(err(&many).contains("more than 16"));
        let most = format!("etcd://{}/t", vec!["h:1"; MAX_ENDPOINTS].join(","));
        assert!(EtcdUrl::parse(&most).is_ok());
        // The URL is named, so an operator sees which flag value is wrong.
        assert!(err("etcd://h/t").contains("\"etcd://h/t\""));
    }

    #[test]
    fn nothing_panics_on_odd_input() {
        for s in [
            "",
            "etcd://",
            "etcd://[",
            "etcd://]",
            "etcd://[]:1/t",
            "etcd://h:1/\u{0}",
            "etcd://ü:1/t",
            "etcd://h:1/ü",
            "etcd://,/",
            "etcd://h:-1/t",
        ] {
            let _ = EtcdUrl::parse(s);
        }
        // A non-ASCII prefix is allowed (keys are bytes), a non-ASCII host is not.
        assert!(EtcdUrl::parse("etcd://h:1/ü").is_ok());
        assert!(EtcdUrl::parse("etcd://ü:1/t").is_err());
    }
}

//! HTTP/1.1 requests to the master.
//!
//! Every scheduler call is `POST /api/v1/scheduler` with a protobuf (or JSON)
//! body. SUBSCRIBE asks for a stream (`Accept`) and must not carry a
//! `Mesos-Stream-Id`; every other call must carry the current one. The writer
//! appends to a caller-owned buffer so the call connection reuses one buffer
//! for its whole life.
//!
//! It never sends anything, and never writes part of a request: every value
//! that goes into the head is checked first, so a value with CR or LF can
//! neither end the head early nor add a header of its own.

use bytes::{BufMut, BytesMut};

/// The request methods tritium uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`: no body unless one is given (then it gets a `Content-Length`).
    Get,
    /// `POST`: always carries `Content-Length`, even for an empty body.
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Media types the scheduler API speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// `application/x-protobuf`: encoded `mesos.v1` messages.
    Protobuf,
    /// `application/json`: the master's JSON mapping of the same messages.
    Json,
}

impl ContentType {
    /// The exact media type string the master expects.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Protobuf => "application/x-protobuf",
            ContentType::Json => "application/json",
        }
    }
}

/// One request to write. Header values are checked before anything is
/// written, so a bad value never reaches the wire half-written.
///
/// `Host` and `User-Agent` are always written; `Content-Length` whenever the
/// method is `POST` or the body is not empty. Chunked request bodies are not
/// supported: the master's scheduler API never needs them.
///
/// ```rust
/// use bytes::BytesMut;
/// use tritium_core::wire::{ContentType, Method, Request};
///
/// let req = Request {
///     method: Method::Post,
///     path: "/api/v1/scheduler",
///     host: "master.example:5050",
///     content_type: Some(ContentType::Protobuf),
///     accept: None,
///     stream_id: Some("d4b5-stream"),
///     authorization: None,
///     keep_alive: true,
///     body: b"\x08\x01",
/// };
/// let mut out = BytesMut::new();
/// req.encode(&mut out)?;
/// let text = String::from_utf8_lossy(&out);
/// assert!(text.starts_with("POST /api/v1/scheduler HTTP/1.1\r\nHost: master.example:5050\r\n"));
/// assert!(text.contains("Mesos-Stream-Id: d4b5-stream\r\n"));
/// assert!(text.contains("Content-Length: 2\r\n\r\n"));
/// assert!(out.ends_with(b"\x08\x01"));
///
/// // A value that could smuggle a header is refused before any byte is written.
/// let bad = Request { stream_id: Some("id\r\nX: y"), ..req };
/// let before = out.len();
/// assert!(bad.encode(&mut out).is_err());
/// assert_eq!(out.len(), before);
/// # Ok::<(), tritium_core::wire::RequestError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Request method; every scheduler call is [`Method::Post`].
    pub method: Method,
    /// Origin-form target, e.g. `/api/v1/scheduler`.
    pub path: &'a str,
    /// `host[:port]` of the master.
    pub host: &'a str,
    /// Body media type; `None` for a request without a body.
    pub content_type: Option<ContentType>,
    /// `Accept`, for SUBSCRIBE.
    pub accept: Option<ContentType>,
    /// `Mesos-Stream-Id` of the current subscription (never on SUBSCRIBE).
    pub stream_id: Option<&'a str>,
    /// Full `Authorization` value, e.g. `Basic dXNlcjpwYXNz`.
    pub authorization: Option<&'a str>,
    /// False adds `Connection: close`.
    pub keep_alive: bool,
    /// The encoded call, copied verbatim after the head; may be empty.
    pub body: &'a [u8],
}

/// A request that would be malformed or ambiguous on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A value holds CR, LF or another control character (or, for the
    /// path, host and stream id, any whitespace), which could end the
    /// header early or smuggle another one.
    #[error("{field} contains a control character")]
    ControlCharacter {
        /// The header or request-line part at fault (`path`, `host`,
        /// `Mesos-Stream-Id`, `Authorization`).
        field: &'static str,
    },
    /// A value that must be present is the empty string.
    #[error("{field} is empty")]
    Empty {
        /// The header or request-line part at fault.
        field: &'static str,
    },
    /// The path is not in origin form (it must start with `/`).
    #[error("request path must start with '/'")]
    PathNotAbsolute,
}

const USER_AGENT: &str = concat!("tritium/", env!("CARGO_PKG_VERSION"));

impl Request<'_> {
    /// Append the encoded request (head and body) to `out`.
    ///
    /// # Errors
    ///
    /// [`RequestError`] when the path, host, stream id or authorization is
    /// empty or holds a character not allowed there; `out` is then left
    /// untouched.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), RequestError> {
        check_token(self.path, "path")?;
        if !self.path.starts_with('/') {
            return Err(RequestError::PathNotAbsolute);
        }
        check_token(self.host, "host")?;
        if let Some(id) = self.stream_id {
            check_token(id, "Mesos-Stream-Id")?;
        }
        if let Some(auth) = self.authorization {
            check_value(auth, "Authorization")?;
        }
        out.reserve(256 + self.body.len());
        out.put_slice(self.method.as_str().as_bytes());
        out.put_u8(b' ');
        out.put_slice(self.path.as_bytes());
        out.put_slice(b" HTTP/1.1\r\nHost: ");
        out.put_slice(self.host.as_bytes());
        out.put_slice(b"\r\nUser-Agent: ");
        out.put_slice(USER_AGENT.as_bytes());
        out.put_slice(b"\r\n");
        if let Some(ct) = self.content_type {
            header(out, "Content-Type", ct.as_str());
        }
        if let Some(accept) = self.accept {
            header(out, "Accept", accept.as_str());
        }
        if let Some(id) = self.stream_id {
            header(out, "Mesos-Stream-Id", id);
        }
        if let Some(auth) = self.authorization {
            header(out, "Authorization", auth);
        }
        if !self.keep_alive {
            header(out, "Connection", "close");
        }
        if self.method == Method::Post || !self.body.is_empty() {
            out.put_slice(b"Content-Length: ");
            let mut digits = [0u8; 20];
            out.put_slice(format_decimal(self.body.len() as u64, &mut digits));
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        out.put_slice(self.body);
        Ok(())
    }
}

fn header(out: &mut BytesMut, name: &str, value: &str) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value.as_bytes());
    out.put_slice(b"\r\n");
}

/// Non-empty, no whitespace or control characters (path, host, stream id).
fn check_token(v: &str, field: &'static str) -> Result<(), RequestError> {
    if v.is_empty() {
        return Err(RequestError::Empty { field });
    }
    if v.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(RequestError::ControlCharacter { field });
    }
    Ok(())
}

/// Header value: spaces allowed, no CR, LF or other control characters.
fn check_value(v: &str, field: &'static str) -> Result<(), RequestError> {
    if v.is_empty() {
        return Err(RequestError::Empty { field });
    }
    if v.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(RequestError::ControlCharacter { field });
    }
    Ok(())
}

fn format_decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[i..];
        }
    }
}

/// The `Authorization` header value of HTTP basic authentication:
/// `Basic base64("principal:secret")`, as Mesos expects it.
///
/// ```rust
/// use tritium_core::wire::basic_authorization;
///
/// assert_eq!(basic_authorization("user", "pass"), "Basic dXNlcjpwYXNz");
/// ```
pub fn basic_authorization(principal: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64(format!("{principal}:{secret}").as_bytes())
    )
}

/// Standard base64 (RFC 4648), with padding.
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribe<'a>(body: &'a [u8]) -> Request<'a> {
        Request {
            method: Method::Post,
            path: "/api/v1/scheduler",
            host: "10.0.0.1:5050",
            content_type: Some(ContentType::Protobuf),
            accept: Some(ContentType::Protobuf),
            stream_id: None,
            authorization: None,
            keep_alive: true,
            body,
        }
    }

    #[test]
    fn writes_a_subscribe_request() {
        let mut out = BytesMut::new();
        subscribe(b"\x08\x01").encode(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("POST /api/v1/scheduler HTTP/1.1\r\nHost: 10.0.0.1:5050\r\n"));
        assert!(text.contains("\r\nContent-Type: application/x-protobuf\r\n"));
        assert!(text.contains("\r\nAccept: application/x-protobuf\r\n"));
        assert!(!text.contains("Mesos-Stream-Id"));
        assert!(text.ends_with("\r\nContent-Length: 2\r\n\r\n\x08\x01"));
        // httparse reads it back as one request with the same body length.
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(n) = req.parse(&out).unwrap() else {
            panic!("incomplete request");
        };
        assert_eq!(out.len() - n, 2);
    }

    #[test]
    fn writes_calls_with_stream_id_and_auth() {
        let mut out = BytesMut::new();
        let req = Request {
            stream_id: Some("abc-123"),
            authorization: Some("Basic dHJpdGl1bTpzZWNyZXQ="),
            accept: None,
            keep_alive: false,
            ..subscribe(b"")
        };
        req.encode(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("\r\nMesos-Stream-Id: abc-123\r\n"));
        assert!(text.contains("\r\nAuthorization: Basic dHJpdGl1bTpzZWNyZXQ=\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn refuses_header_injection() {
        let mut out = BytesMut::new();
        let bad = Request {
            stream_id: Some("x\r\nEvil: 1"),
            ..subscribe(b"")
        };
        assert_eq!(
            bad.encode(&mut out).unwrap_err(),
            RequestError::ControlCharacter {
                field: "Mesos-Stream-Id"
            }
        );
        let bad = Request {
            authorization: Some("Basic a\nb"),
            ..subscribe(b"")
        };
        assert!(bad.encode(&mut out).is_err());
        let bad = Request {
            path: "api",
            ..subscribe(b"")
        };
        assert_eq!(
            bad.encode(&mut out).unwrap_err(),
            RequestError::PathNotAbsolute
        );
        assert!(out.is_empty(), "a refused request wrote bytes");
    }

    #[test]
    fn decimal_formatting() {
        let mut d = [0u8; 20];
        assert_eq!(format_decimal(0, &mut d), b"0");
        assert_eq!(format_decimal(1234567, &mut d), b"1234567");
        assert_eq!(format_decimal(u64::MAX, &mut d), b"18446744073709551615");
    }

    #[test]
    fn a_get_has_no_body_headers() {
        let mut out = BytesMut::new();
        Request {
            method: Method::Get,
            path: "/version",
            content_type: None,
            accept: None,
            ..subscribe(b"")
        }
        .encode(&mut out)
        .unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("Content-Length"));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(
            basic_authorization("tritium", "secret"),
            "Basic dHJpdGl1bTpzZWNyZXQ="
        );
    }
}

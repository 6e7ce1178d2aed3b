//! HTTP/1.1 response heads from the master, parsed with `httparse`.
//!
//! [`ResponseHead::parse`] looks at the front of the receive buffer; once the
//! head is complete it returns what tritium acts on — status, the
//! `Mesos-Stream-Id`, a redirect `Location`, the content type, how the body
//! is framed, and whether the connection stays open — and the number of
//! bytes the head took. The caller removes those bytes; the body follows.
//!
//! It never consumes bytes, never looks past the head, and never holds more
//! than [`HeadLimits`] allow while waiting for the head to end.

use httparse::{EMPTY_HEADER, Status};

/// Bounds on a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Bytes from the status line to the blank line, inclusive.
    pub max_head_len: usize,
    /// Distinct header fields.
    pub max_headers: usize,
}

/// Header fields beyond this count are refused. A master sends about ten.
pub const MAX_HEADERS: usize = 64;

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            // A master's head is a few hundred bytes; 16 KiB is generous and
            // still bounds what an impostor can make us buffer.
            max_head_len: 16 * 1024,
            max_headers: MAX_HEADERS,
        }
    }
}

/// A response head that cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
///
/// Every variant means the connection cannot be trusted any further: drop
/// it (and, for the subscription, subscribe again).
pub enum HeadError {
    /// Not HTTP/1.x as `httparse` reads it; carries its description.
    #[error("malformed response head: {0}")]
    Malformed(String),
    /// No blank line within [`HeadLimits::max_head_len`] bytes.
    #[error("response head longer than {limit} bytes")]
    TooLong {
        /// The `max_head_len` that was passed.
        limit: usize,
    },
    /// More header fields than [`HeadLimits::max_headers`] (itself capped
    /// at [`MAX_HEADERS`]).
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The field count that was allowed.
        limit: usize,
    },
    /// `Content-Length` is not a plain decimal below 10^19, or two of them
    /// disagree; carries the offending value.
    #[error("invalid Content-Length {0:?}")]
    BadContentLength(String),
    /// A transfer coding other than `chunked` or `identity` (e.g. `gzip`);
    /// carries the coding.
    #[error("unsupported Transfer-Encoding {0:?}")]
    UnsupportedTransferEncoding(String),
    /// A header tritium reads holds bytes that are not UTF-8.
    #[error("header {name} is not valid UTF-8")]
    NonUtf8Header {
        /// The header's canonical name, e.g. `Mesos-Stream-Id`.
        name: &'static str,
    },
}

/// How the body after the head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length: n`.
    Length(u64),
    /// Neither: the body runs until the server closes the connection.
    UntilClose,
    /// The status forbids a body (1xx, 204, 304).
    None,
}

/// The parts of a response head tritium uses.
///
/// ```rust
/// use tritium_core::wire::{BodyFraming, HeadLimits, ResponseHead};
///
/// let buf = b"HTTP/1.1 200 OK\r\n\
///     Content-Type: application/x-protobuf\r\n\
///     Mesos-Stream-Id: 2f2ee5fc\r\n\
///     Transfer-Encoding: chunked\r\n\
///     \r\n\
///     1c\r\n";
///
/// // Too few bytes yet: `Ok(None)`, read more and call again.
/// assert_eq!(ResponseHead::parse(&buf[..20], HeadLimits::default())?, None);
///
/// let head = ResponseHead::parse(buf, HeadLimits::default())?.expect("complete head");
/// assert_eq!(head.status, 200);
/// assert_eq!(head.stream_id.as_deref(), Some("2f2ee5fc"));
/// assert_eq!(head.content_type.as_deref(), Some("application/x-protobuf"));
/// assert_eq!(head.framing, BodyFraming::Chunked);
/// assert!(head.keep_alive);
/// // The body starts right after the head.
/// assert_eq!(&buf[head.head_len..], b"1c\r\n");
/// # Ok::<(), tritium_core::wire::HeadError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code, e.g. 200, 202, 307, 401.
    pub status: u16,
    /// Reason phrase as sent (may be empty); for logs only.
    pub reason: String,
    /// `Mesos-Stream-Id`, sent on the SUBSCRIBE response.
    pub stream_id: Option<String>,
    /// `Location`, sent with 307 by a master that is not the leader; usually
    /// protocol-relative (`//host:port/path`).
    pub location: Option<String>,
    /// `Content-Type`, without parameters, lower-cased.
    pub content_type: Option<String>,
    /// How the body is delimited; `Transfer-Encoding: chunked` wins over
    /// `Content-Length`.
    pub framing: BodyFraming,
    /// False when the server will close the connection after this response.
    pub keep_alive: bool,
    /// Bytes of the head, blank line included.
    pub head_len: usize,
}

impl ResponseHead {
    /// Parse a head at the front of `buf`. `Ok(None)`: incomplete, read more.
    ///
    /// Only the first `limits.max_head_len` bytes are looked at; the head is
    /// not consumed, the caller drops [`head_len`](Self::head_len) bytes.
    ///
    /// # Errors
    ///
    /// [`HeadError`] when the head is malformed, longer than the limits
    /// allow, or frames its body in a way tritium does not decode.
    pub fn parse(buf: &[u8], limits: HeadLimits) -> Result<Option<ResponseHead>, HeadError> {
        let mut storage = [EMPTY_HEADER; MAX_HEADERS];
        let max_headers = limits.max_headers.min(MAX_HEADERS);
        let mut resp = httparse::Response::new(&mut storage[..max_headers]);
        let window = &buf[..buf.len().min(limits.max_head_len)];
        let head_len = match resp.parse(window) {
            Ok(Status::Complete(n)) => n,
            Ok(Status::Partial) => {
                if buf.len() >= limits.max_head_len {
                    return Err(HeadError::TooLong {
                        limit: limits.max_head_len,
                    });
                }
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError::TooManyHeaders { limit: max_headers });
            }
            Err(e) => return Err(HeadError::Malformed(e.to_string())),
        };
        let status = resp.code.unwrap_or(0);
        let http11 = resp.version == Some(1);
        let mut head = ResponseHead {
            status,
            reason: resp.reason.unwrap_or("").to_owned(),
            stream_id: None,
            location: None,
            content_type: None,
            framing: BodyFraming::UntilClose,
            keep_alive: http11,
            head_len,
        };
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        for h in resp.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("mesos-stream-id") {
                head.stream_id = Some(utf8(h.value, "Mesos-Stream-Id")?.trim().to_owned());
            } else if name.eq_ignore_ascii_case("location") {
                head.location = Some(utf8(h.value, "Location")?.trim().to_owned());
            } else if name.eq_ignore_ascii_case("content-type") {
                let v = utf8(h.value, "Content-Type")?;
                let media = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                head.content_type = Some(media);
            } else if name.eq_ignore_ascii_case("content-length") {
                let v = utf8(h.value, "Content-Length")?.trim();
                let n = parse_content_length(v)?;
                if content_length.is_some_and(|prev| prev != n) {
                    return Err(HeadError::BadContentLength(v.to_owned()));
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let v = utf8(h.value, "Transfer-Encoding")?;
                for coding in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    if coding.eq_ignore_ascii_case("chunked") {
                        chunked = true;
                    } else if !coding.eq_ignore_ascii_case("identity") {
                        return Err(HeadError::UnsupportedTransferEncoding(coding.to_owned()));
                    }
                }
            } else if name.eq_ignore_ascii_case("connection") {
                let v = utf8(h.value, "Connection")?;
                for token in v.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        head.keep_alive = false;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        head.keep_alive = true;
                    }
                }
            }
        }
        head.framing = if (100..200).contains(&status) || status == 204 || status == 304 {
            BodyFraming::None
        } else if chunked {
            // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length.
            BodyFraming::Chunked
        } else if let Some(n) = content_length {
            BodyFraming::Length(n)
        } else {
            BodyFraming::UntilClose
        };
        if head.framing == BodyFraming::UntilClose {
            head.keep_alive = false;
        }
        Ok(Some(head))
    }
}

fn utf8<'a>(value: &'a [u8], name: &'static str) -> Result<&'a str, HeadError> {
    std::str::from_utf8(value).map_err(|_| HeadError::NonUtf8Header { name })
}

fn parse_content_length(v: &str) -> Result<u64, HeadError> {
    if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeadError::BadContentLength(v.to_owned()));
    }
    v.parse()
        .map_err(|_| HeadError::BadContentLength(v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBSCRIBED: &[u8] = b"HTTP/1.1 200 OK\r\n\
        Date: Mon, 23 Nov 2026 10:00:00 GMT\r\n\
        Content-Type: application/x-protobuf\r\n\
        Mesos-Stream-Id: 2f2ee5fc-1a4b-4f0e-b3b6-6a1b2c3d4e5f\r\n\
        Transfer-Encoding: chunked\r\n\
        \r\n\
        1c\r\n";

    #[test]
    fn parses_a_subscribe_response_at_every_split() {
        let full_head_len = SUBSCRIBED.len() - 4;
        for cut in 0..SUBSCRIBED.len() {
            let got = ResponseHead::parse(&SUBSCRIBED[..cut], HeadLimits::default()).unwrap();
            if cut < full_head_len {
                assert!(got.is_none(), "cut {cut}");
            } else {
                let head = got.unwrap();
                assert_eq!(head.status, 200);
                assert_eq!(
                    head.stream_id.as_deref(),
                    Some("2f2ee5fc-1a4b-4f0e-b3b6-6a1b2c3d4e5f")
                );
                assert_eq!(head.content_type.as_deref(), Some("application/x-protobuf"));
                assert_eq!(head.framing, BodyFraming::Chunked);
                assert!(head.keep_alive);
                assert_eq!(head.head_len, full_head_len);
            }
        }
    }

    #[test]
    fn redirect_and_accepted() {
        let head = ResponseHead::parse(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: //10.0.0.2:5050/api/v1/scheduler\r\nContent-Length: 0\r\n\r\n",
            HeadLimits::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.status, 307);
        assert_eq!(
            head.location.as_deref(),
            Some("//10.0.0.2:5050/api/v1/scheduler")
        );
        assert_eq!(head.framing, BodyFraming::Length(0));

        let head = ResponseHead::parse(
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
            HeadLimits::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.status, 202);
        assert!(head.keep_alive);
    }

    #[test]
    fn connection_and_framing_rules() {
        let parse = |s: &[u8]| {
            ResponseHead::parse(s, HeadLimits::default())
                .unwrap()
                .unwrap()
        };
        let h = parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n");
        assert!(!h.keep_alive);
        let h = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n");
        assert!(!h.keep_alive, "HTTP/1.0 closes by default");
        let h = parse(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::UntilClose);
        assert!(!h.keep_alive);
        let h = parse(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::None);
        let h =
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::Chunked);
        let h = parse(b"HTTP/1.1 200 OK\r\ncontent-type: Application/JSON; charset=utf-8\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(h.content_type.as_deref(), Some("application/json"));
    }

    #[test]
    fn refuses_bad_heads() {
        let parse = |s: &[u8]| ResponseHead::parse(s, HeadLimits::default());
        assert!(matches!(
            parse(b"HTTX/1.1 200 OK\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            Err(HeadError::BadContentLength(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(HeadError::BadContentLength(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Err(HeadError::UnsupportedTransferEncoding(_))
        ));
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            parse(&many).unwrap_err(),
            HeadError::TooManyHeaders { limit: MAX_HEADERS }
        );
        let long = vec![b'a'; 20_000];
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.extend_from_slice(&long);
        assert_eq!(
            parse(&big).unwrap_err(),
            HeadError::TooLong { limit: 16 * 1024 }
        );
    }
}

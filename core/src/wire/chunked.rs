//! Decoder for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1).
//!
//! The decoder owns no buffer. It looks at the front of the caller's receive
//! buffer, consumes chunk framing (size line, extensions, the CRLF after the
//! data, trailers) and reports how many body bytes now sit at the front. The
//! caller takes those bytes however it likes (slicing them out without a
//! copy) and says how many it took with [`ChunkedDecoder::consume`].
//!
//! It never allocates and never panics on input; every line it has to hold
//! before it can act on it is bounded by [`ChunkedLimits`].

use bytes::{Buf, BytesMut};

/// Bounds on the framing the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedLimits {
    /// Longest chunk-size line, extensions included, without its CRLF.
    pub max_size_line: usize,
    /// Largest single chunk. A chunk larger than the largest record we accept
    /// cannot be legitimate.
    pub max_chunk_len: u64,
    /// Total bytes of trailer fields after the last chunk.
    pub max_trailers: usize,
}

impl Default for ChunkedLimits {
    fn default() -> Self {
        ChunkedLimits {
            // Extensions are legal but nobody sends long ones; 1 KiB leaves
            // room for any sane use.
            max_size_line: 1024,
            max_chunk_len: super::recordio::DEFAULT_MAX_RECORD_LEN as u64 + 64,
            max_trailers: 8 * 1024,
        }
    }
}

/// A chunked-framing violation. The connection cannot be trusted afterwards.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A size line that does not start with hex digits, or has something
    /// other than `;`, space or tab after them.
    #[error("chunk-size line is not hexadecimal digits")]
    BadSize,
    /// No CRLF within [`ChunkedLimits::max_size_line`] bytes of a size line.
    #[error("chunk-size line longer than {limit} bytes")]
    SizeLineTooLong {
        /// The `max_size_line` in force.
        limit: usize,
    },
    /// A chunk announced more than [`ChunkedLimits::max_chunk_len`] bytes
    /// (refused before any of its data is buffered).
    #[error("chunk of {len} bytes exceeds the limit of {limit}")]
    ChunkTooLarge {
        /// The announced size (`u64::MAX` when it overflowed 64 bits).
        len: u64,
        /// The `max_chunk_len` in force.
        limit: u64,
    },
    /// The bytes after a chunk's data are not CRLF.
    #[error("chunk data not followed by CRLF")]
    MissingDataCrlf,
    /// An LF not preceded by CR in a size or trailer line.
    #[error("bare LF or CR in chunk framing")]
    BadLineEnding,
    /// The trailer fields after the last chunk exceed
    /// [`ChunkedLimits::max_trailers`] bytes.
    #[error("trailer section longer than {limit} bytes")]
    TrailersTooLong {
        /// The `max_trailers` in force.
        limit: usize,
    },
}

/// What the front of the buffer holds after [`ChunkedDecoder::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedStep {
    /// The first `available` bytes of the buffer are body data; the current
    /// chunk has `chunk_remaining` data bytes left in all (including those
    /// `available` ones), so a record shorter than that ends inside it.
    Data {
        /// Body bytes now at the front of the buffer (at least 1).
        available: usize,
        /// Data bytes of the current chunk not yet consumed, `>= available`.
        chunk_remaining: u64,
    },
    /// Framing is incomplete: read more and call again.
    NeedMore,
    /// The terminating zero-size chunk and the trailers have been consumed.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data with this many bytes left.
    Data(u64),
    /// After a chunk's data: expecting CRLF.
    DataEnd,
    /// After the zero-size chunk: trailer lines until an empty line.
    Trailers { seen: usize },
    /// Done; further bytes are not ours.
    End,
}

/// Incremental decoder of one chunked body.
///
/// Call [`advance`](Self::advance) after every read; on
/// [`ChunkedStep::Data`] take up to `available` bytes off the front of the
/// buffer and report them with [`consume`](Self::consume). The result does
/// not depend on where the reads split the input.
///
/// ```rust
/// use bytes::{Buf, BytesMut};
/// use tritium_core::wire::{ChunkedDecoder, ChunkedStep};
///
/// let mut dec = ChunkedDecoder::default();
/// let mut buf = BytesMut::from(&b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nHTTP/1.1"[..]);
/// let mut body = Vec::new();
/// loop {
///     match dec.advance(&mut buf)? {
///         ChunkedStep::Data { available, .. } => {
///             body.extend_from_slice(&buf[..available]);
///             buf.advance(available);
///             dec.consume(available);
///         }
///         ChunkedStep::NeedMore => unreachable!("the whole body is in the buffer"),
///         ChunkedStep::End => break,
///     }
/// }
/// assert_eq!(body, b"hello world");
/// assert!(dec.is_done());
/// // Bytes after the body belong to the next response and stay put.
/// assert_eq!(&buf[..], b"HTTP/1.1");
/// # Ok::<(), tritium_core::wire::ChunkedError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    limits: ChunkedLimits,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new(ChunkedLimits::default())
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new(limits: ChunkedLimits) -> Self {
        ChunkedDecoder {
            state: State::Size,
            limits,
        }
    }

    /// True once the terminating chunk and trailers have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::End
    }

    /// True when the decoder sits exactly between chunks, so an EOF here
    /// loses no partially received chunk (the body still did not end
    /// properly; the caller decides how bad that is).
    pub fn at_chunk_boundary(&self) -> bool {
        self.state == State::Size
    }

    /// Consume framing at the front of `buf` until body data is at the
    /// front, the body ended, or more bytes are needed.
    ///
    /// Only framing bytes are removed from `buf`; body bytes are left for the
    /// caller. After [`ChunkedStep::End`] every further call returns `End`
    /// and touches nothing.
    ///
    /// # Errors
    ///
    /// [`ChunkedError`] on malformed framing or a limit exceeded; the decoder
    /// is then in an unspecified state and the connection must be dropped.
    pub fn advance(&mut self, buf: &mut BytesMut) -> Result<ChunkedStep, ChunkedError> {
        loop {
            match self.state {
                State::Data(0) => self.state = State::DataEnd,
                State::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(ChunkedStep::NeedMore);
                    }
                    let available =
                        usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    return Ok(ChunkedStep::Data {
                        available,
                        chunk_remaining: remaining,
                    });
                }
                State::Size => match self.parse_size_line(buf)? {
                    None => return Ok(ChunkedStep::NeedMore),
                    Some(0) => self.state = State::Trailers { seen: 0 },
                    Some(len) => self.state = State::Data(len),
                },
                State::DataEnd => {
                    if buf.len() < 2 {
                        if buf.first().is_some_and(|&b| b != b'\r') {
                            return Err(ChunkedError::MissingDataCrlf);
                        }
                        return Ok(ChunkedStep::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ChunkedError::MissingDataCrlf);
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailers { seen } => {
                    let limit = self.limits.max_trailers;
                    let budget = limit.saturating_sub(seen);
                    let found = find_crlf(buf, budget).map_err(|e| match e {
                        ChunkedError::SizeLineTooLong { .. } => {
                            ChunkedError::TrailersTooLong { limit }
                        }
                        other => other,
                    })?;
                    let Some(line_len) = found else {
                        if buf.len() > budget + 1 {
                            return Err(ChunkedError::TrailersTooLong { limit });
                        }
                        return Ok(ChunkedStep::NeedMore);
                    };
                    buf.advance(line_len + 2);
                    if line_len == 0 {
                        self.state = State::End;
                    } else {
                        // Trailer fields carry nothing the master relies on;
                        // they are counted against the limit and dropped.
                        self.state = State::Trailers {
                            seen: seen + line_len + 2,
                        };
                    }
                }
                // Bytes after the end belong to whatever follows on the
                // connection (the next response); they are left in place.
                State::End => return Ok(ChunkedStep::End),
            }
        }
    }

    /// Record that the caller removed `n` body bytes from the front of the
    /// buffer. `n` must not exceed the `available` of the last
    /// [`ChunkedStep::Data`].
    pub fn consume(&mut self, n: usize) {
        match &mut self.state {
            State::Data(remaining) => {
                let n = n as u64;
                debug_assert!(n <= *remaining, "consumed past the chunk");
                *remaining = remaining.saturating_sub(n);
            }
            _ => debug_assert!(n == 0, "consumed body bytes outside a chunk"),
        }
    }

    /// Parse `hex-size [;ext...] CRLF` at the front of `buf`.
    fn parse_size_line(&self, buf: &mut BytesMut) -> Result<Option<u64>, ChunkedError> {
        let limit = self.limits.max_size_line;
        // Checked first so the verdict on garbage does not depend on whether
        // its line end has arrived yet.
        check_size_prefix(buf)?;
        let Some(line_len) = find_crlf(buf, limit)? else {
            if buf.len() > limit + 1 {
                return Err(ChunkedError::SizeLineTooLong { limit });
            }
            return Ok(None);
        };
        let line = &buf[..line_len];
        let digits_end = line
            .iter()
            .position(|b| !b.is_ascii_hexdigit())
            .unwrap_or(line.len());
        if digits_end == 0 {
            return Err(ChunkedError::BadSize);
        }
        match line.get(digits_end) {
            None | Some(b';') | Some(b' ') | Some(b'\t') => {}
            Some(_) => return Err(ChunkedError::BadSize),
        }
        let mut len: u64 = 0;
        for &d in &line[..digits_end] {
            let v = hex_value(d);
            len = len
                .checked_mul(16)
                .and_then(|l| l.checked_add(u64::from(v)))
                .ok_or(ChunkedError::ChunkTooLarge {
                    len: u64::MAX,
                    limit: self.limits.max_chunk_len,
                })?;
        }
        if len > self.limits.max_chunk_len {
            return Err(ChunkedError::ChunkTooLarge {
                len,
                limit: self.limits.max_chunk_len,
            });
        }
        buf.advance(line_len + 2);
        Ok(Some(len))
    }
}

/// Early check of a size line that has not ended yet: it must start with a
/// hex digit.
fn check_size_prefix(buf: &[u8]) -> Result<(), ChunkedError> {
    match buf.first() {
        Some(b) if !b.is_ascii_hexdigit() => Err(ChunkedError::BadSize),
        _ => Ok(()),
    }
}

fn hex_value(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        b'A'..=b'F' => d - b'A' + 10,
        _ => 0,
    }
}

/// Length of the line at the front of `buf` (without CRLF), looking at most
/// `limit + 2` bytes. A bare LF is an error (framing must use CRLF).
fn find_crlf(buf: &[u8], limit: usize) -> Result<Option<usize>, ChunkedError> {
    let window = &buf[..buf.len().min(limit.saturating_add(2))];
    match window.iter().position(|&b| b == b'\n') {
        None => Ok(None),
        Some(0) => Err(ChunkedError::BadLineEnding),
        Some(lf) => {
            if window[lf - 1] != b'\r' {
                return Err(ChunkedError::BadLineEnding);
            }
            if lf - 1 > limit {
                return Err(ChunkedError::SizeLineTooLong { limit });
            }
            Ok(Some(lf - 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode a whole chunked body fed in pieces of `step` bytes, returning
    /// the body and whether the end was seen.
    fn decode_in_steps(input: &[u8], step: usize) -> Result<(Vec<u8>, bool), ChunkedError> {
        let mut dec = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            match dec.advance(&mut buf)? {
                ChunkedStep::Data { available, .. } => {
                    body.extend_from_slice(&buf.split_to(available));
                    dec.consume(available);
                }
                ChunkedStep::End => return Ok((body, true)),
                ChunkedStep::NeedMore => {
                    if fed >= input.len() {
                        return Ok((body, false));
                    }
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    const SAMPLE: &[u8] = b"5\r\nhello\r\n7;ext=1;q=\"x\"\r\n, world\r\n0\r\nX-Trailer: a\r\n\r\n";

    #[test]
    fn decodes_at_every_split_size() {
        for step in 1..=SAMPLE.len() {
            let (body, ended) = decode_in_steps(SAMPLE, step).unwrap();
            assert_eq!(body, b"hello, world", "step {step}");
            assert!(ended, "step {step}: end not seen");
        }
    }

    #[test]
    fn uppercase_hex_and_large_sizes() {
        let mut input = b"1A\r\n".to_vec();
        input.extend_from_slice(&[b'x'; 26]);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        let (body, ended) = decode_in_steps(&input, 3).unwrap();
        assert_eq!(body.len(), 26);
        assert!(ended);
    }

    #[test]
    fn reports_chunk_remaining() {
        let mut dec = ChunkedDecoder::default();
        let mut buf = BytesMut::from(&b"a\r\n0123"[..]);
        assert_eq!(
            dec.advance(&mut buf).unwrap(),
            ChunkedStep::Data {
                available: 4,
                chunk_remaining: 10
            }
        );
    }

    #[test]
    fn rejects_malformed_framing() {
        let cases: &[(&[u8], ChunkedError)] = &[
            (b"zz\r\n", ChunkedError::BadSize),
            (b"\r\n", ChunkedError::BadSize),
            (b"5x\r\nhello\r\n", ChunkedError::BadSize),
            (b"5\nhello", ChunkedError::BadLineEnding),
            (b"5\r\nhelloXY", ChunkedError::MissingDataCrlf),
        ];
        for (input, want) in cases {
            let got = decode_in_steps(input, input.len()).unwrap_err();
            assert_eq!(&got, want, "input {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn refuses_oversized_chunk_before_any_data() {
        let mut dec = ChunkedDecoder::new(ChunkedLimits {
            max_chunk_len: 100,
            ..ChunkedLimits::default()
        });
        let mut buf = BytesMut::from(&b"65\r\n"[..]);
        assert_eq!(
            dec.advance(&mut buf).unwrap_err(),
            ChunkedError::ChunkTooLarge {
                len: 101,
                limit: 100
            }
        );
        let mut buf = BytesMut::from(&b"ffffffffffffffffffff\r\n"[..]);
        let mut dec = ChunkedDecoder::default();
        assert!(matches!(
            dec.advance(&mut buf),
            Err(ChunkedError::ChunkTooLarge { .. })
        ));
    }

    #[test]
    fn bounds_size_line_and_trailers() {
        let mut dec = ChunkedDecoder::default();
        let mut line = b"5;".to_vec();
        line.extend(std::iter::repeat_n(b'a', 2000));
        let mut buf = BytesMut::from(&line[..]);
        assert!(matches!(
            dec.advance(&mut buf),
            Err(ChunkedError::SizeLineTooLong { .. })
        ));

        let mut dec = ChunkedDecoder::default();
        let mut input = b"0\r\n".to_vec();
        for _ in 0..1000 {
            input.extend_from_slice(b"X-A: bbbbbbbbbbbb\r\n");
        }
        let mut buf = BytesMut::from(&input[..]);
        assert!(matches!(
            dec.advance(&mut buf),
            Err(ChunkedError::TrailersTooLong { .. })
        ));
    }

    #[test]
    fn leaves_what_follows_the_body() {
        let mut dec = ChunkedDecoder::default();
        let mut buf = BytesMut::from(&b"0\r\n\r\nHTTP/1.1 202 Accepted\r\n"[..]);
        assert_eq!(dec.advance(&mut buf).unwrap(), ChunkedStep::End);
        assert_eq!(&buf[..], b"HTTP/1.1 202 Accepted\r\n");
        assert_eq!(dec.advance(&mut buf).unwrap(), ChunkedStep::End);
    }

    #[test]
    fn incomplete_body_is_not_an_end() {
        let (body, ended) = decode_in_steps(b"5\r\nhel", 2).unwrap();
        assert_eq!(body, b"hel");
        assert!(!ended);
    }
}

//! Bounded reading of a short response body (a call's answer, a refused
//! SUBSCRIBE): whatever its framing, keep its first bytes for the log and
//! the core, discard the rest, and refuse a body longer than a limit.

use bytes::{Buf, BytesMut};

use crate::wire::{BodyFraming, ChunkedDecoder, ChunkedLimits, ChunkedStep};

#[derive(Debug)]
enum Framing {
    /// Bytes still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// Where a body stands after [`BodyReader::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyStep {
    NeedMore,
    /// The body ended; bytes after it in the buffer are the next response.
    Done,
}

#[derive(Debug)]
pub(crate) struct BodyReader {
    framing: Framing,
    kept: Vec<u8>,
    keep: usize,
    total: u64,
    limit: u64,
}

impl BodyReader {
    /// A body framed as `framing`: keep the first `keep` bytes, refuse more
    /// than `limit` bytes in all.
    pub(crate) fn new(framing: BodyFraming, keep: usize, limit: u64) -> BodyReader {
        let framing = match framing {
            BodyFraming::None => Framing::Length(0),
            BodyFraming::Length(n) => Framing::Length(n),
            BodyFraming::Chunked => Framing::Chunked(ChunkedDecoder::new(ChunkedLimits::default())),
            BodyFraming::UntilClose => Framing::UntilClose,
        };
        BodyReader {
            framing,
            kept: Vec::new(),
            keep,
            total: 0,
            limit,
        }
    }

    /// True once the first `keep` bytes are in (the caller may stop early
    /// when it does not need the rest of the connection).
    pub(crate) fn has_enough(&self) -> bool {
        self.kept.len() >= self.keep
    }

    /// Take body bytes from the front of `buf`.
    pub(crate) fn advance(&mut self, buf: &mut BytesMut) -> Result<BodyStep, String> {
        loop {
            let available = match &mut self.framing {
                Framing::Length(0) => return Ok(BodyStep::Done),
                Framing::Length(left) => {
                    usize::try_from(*left).map_or(buf.len(), |l| l.min(buf.len()))
                }
                Framing::UntilClose => buf.len(),
                Framing::Chunked(dec) => match dec.advance(buf).map_err(|e| e.to_string())? {
                    ChunkedStep::Data { available, .. } => available,
                    ChunkedStep::NeedMore => return Ok(BodyStep::NeedMore),
                    ChunkedStep::End => return Ok(BodyStep::Done),
                },
            };
            if available == 0 {
                return Ok(BodyStep::NeedMore);
            }
            self.total += available as u64;
            if self.total > self.limit {
                return Err(format!("response body longer than {} bytes", self.limit));
            }
            let room = self.keep.saturating_sub(self.kept.len()).min(available);
            self.kept.extend_from_slice(&buf[..room]);
            buf.advance(available);
            match &mut self.framing {
                Framing::Length(left) => *left -= available as u64,
                Framing::Chunked(dec) => dec.consume(available),
                Framing::UntilClose => {}
            }
        }
    }

    /// The connection closed: `Ok` if that ends the body properly.
    pub(crate) fn on_eof(&self) -> Result<(), String> {
        match &self.framing {
            Framing::UntilClose | Framing::Length(0) => Ok(()),
            Framing::Chunked(dec) if dec.is_done() => Ok(()),
            _ => Err("connection closed inside a response body".into()),
        }
    }

    /// The kept bytes as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(framing: BodyFraming, wire: &[u8], step: usize) -> (BodyStep, String, BytesMut) {
        let mut r = BodyReader::new(framing, 8, 1024);
        let mut buf = BytesMut::new();
        let mut fed = 0;
        loop {
            let s = r.advance(&mut buf).unwrap();
            if s == BodyStep::Done || fed == wire.len() {
                return (s, r.text(), buf);
            }
            let end = (fed + step).min(wire.len());
            buf.extend_from_slice(&wire[fed..end]);
            fed = end;
        }
    }

    #[test]
    fn keeps_the_start_and_leaves_the_next_response() {
        for step in [1, 3, 100] {
            let (s, text, rest) = read(BodyFraming::Length(12), b"hello world!HTTP", step);
            assert_eq!((s, text.as_str()), (BodyStep::Done, "hello wo"));
            assert!(b"HTTP".starts_with(&rest), "step {step}: {rest:?}");
            let (s, text, rest) = read(
                BodyFraming::Chunked,
                b"5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\nHTTP",
                step,
            );
            assert_eq!((s, text.as_str()), (BodyStep::Done, "hello wo"));
            assert!(b"HTTP".starts_with(&rest), "step {step}: {rest:?}");
        }
        let (s, _, _) = read(BodyFraming::None, b"HTTP", 4);
        assert_eq!(s, BodyStep::Done);
    }

    #[test]
    fn refuses_long_bodies_and_truncation() {
        let mut r = BodyReader::new(BodyFraming::UntilClose, 4, 10);
        let mut buf = BytesMut::from(&b"0123456789"[..]);
        assert_eq!(r.advance(&mut buf), Ok(BodyStep::NeedMore));
        assert!(r.on_eof().is_ok());
        buf.extend_from_slice(b"x");
        assert!(r.advance(&mut buf).is_err());
        let r = BodyReader::new(BodyFraming::Length(3), 4, 10);
        assert!(r.on_eof().is_err());
    }
}

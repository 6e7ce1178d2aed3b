//! The SUBSCRIBE response body as a stream of RecordIO records.
//!
//! [`RecordStream`] combines the body framing announced by the response head
//! (chunked, a content length, or until close) with the [`RecordFramer`].
//! The driver appends whatever it reads to one receive buffer and calls
//! [`RecordStream::next_record`] until it returns `Ok(None)`.
//!
//! It never reads a socket and never tries to resynchronise after an error:
//! a broken stream is dropped and the framework subscribes again.

use bytes::{Bytes, BytesMut};

use super::chunked::{ChunkedDecoder, ChunkedError, ChunkedLimits, ChunkedStep};
use super::recordio::{RecordError, RecordFramer};
use super::response::BodyFraming;

/// Why the record stream cannot go on. Every variant means: drop the
/// connection and subscribe again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The chunked transfer framing is broken or over a limit.
    #[error("chunked framing: {0}")]
    Chunked(#[from] ChunkedError),
    /// The RecordIO framing inside the body is broken or over a limit.
    #[error("recordio framing: {0}")]
    Record(#[from] RecordError),
    /// The head says the response has no body ([`BodyFraming::None`]).
    #[error("the response has no body to stream")]
    NoBody,
    /// The body or connection ended with part of a record (or chunk)
    /// received.
    #[error("body ended inside a record")]
    TruncatedRecord,
    /// The body ended at a record boundary: cleanly, but a SUBSCRIBE stream
    /// is never supposed to end.
    #[error("body ended")]
    Ended,
}

#[derive(Debug)]
enum Body {
    Chunked(ChunkedDecoder),
    /// Identity body with this many bytes left.
    Length(u64),
    /// Identity body delimited by connection close.
    UntilClose,
}

/// Records out of a streamed response body (the SUBSCRIBE event stream).
///
/// A record that arrived inside one chunk is a [`Bytes`] view of the
/// receive buffer (no copy); records come out the same however the reads
/// split the input.
///
/// ```rust
/// use bytes::BytesMut;
/// use tritium_core::wire::{BodyFraming, DEFAULT_MAX_RECORD_LEN, RecordStream, StreamError};
///
/// let mut stream = RecordStream::new(BodyFraming::Chunked, DEFAULT_MAX_RECORD_LEN)?;
/// // One chunk per record, as the master writes them: 0x1d = 29 bytes.
/// let mut buf = BytesMut::from(&b"1d\r\n26\n{\"type\":\"HEARTBEAT\",\"x\":1}\r\n"[..]);
/// let record = stream.next_record(&mut buf)?.expect("one whole record");
/// assert_eq!(&record[..], br#"{"type":"HEARTBEAT","x":1}"#);
/// assert_eq!(stream.next_record(&mut buf)?, None); // read more
/// assert_eq!(stream.records(), 1);
///
/// // The master closed the connection at a record boundary.
/// assert_eq!(stream.on_eof(&buf), StreamError::Ended);
/// # Ok::<(), StreamError>(())
/// ```
#[derive(Debug)]
pub struct RecordStream {
    body: Body,
    framer: RecordFramer,
    records: u64,
    bytes: u64,
}

impl RecordStream {
    /// A stream over a body framed as `framing`, refusing records larger than
    /// `max_record_len`; chunks may be up to 64 bytes longer, for the
    /// length line.
    ///
    /// # Errors
    ///
    /// [`StreamError::NoBody`] for [`BodyFraming::None`].
    pub fn new(framing: BodyFraming, max_record_len: usize) -> Result<Self, StreamError> {
        let body = match framing {
            BodyFraming::Chunked => Body::Chunked(ChunkedDecoder::new(ChunkedLimits {
                max_chunk_len: max_record_len as u64 + 64,
                ..ChunkedLimits::default()
            })),
            BodyFraming::Length(n) => Body::Length(n),
            BodyFraming::UntilClose => Body::UntilClose,
            BodyFraming::None => return Err(StreamError::NoBody),
        };
        Ok(RecordStream {
            body,
            framer: RecordFramer::new(max_record_len),
            records: 0,
            bytes: 0,
        })
    }

    /// Next complete record from the front of `buf`, `Ok(None)` when more
    /// bytes are needed. A body that ends cleanly yields
    /// `Err(StreamError::Ended)`: a SUBSCRIBE stream must never end.
    ///
    /// # Errors
    ///
    /// Any [`StreamError`] but `NoBody`: framing broken, a limit exceeded, or
    /// the body over. The stream cannot continue after an error.
    pub fn next_record(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, StreamError> {
        loop {
            let (available, segment_remaining) = match &mut self.body {
                Body::Chunked(dec) => match dec.advance(buf)? {
                    ChunkedStep::Data {
                        available,
                        chunk_remaining,
                    } => (available, chunk_remaining),
                    ChunkedStep::NeedMore => return Ok(None),
                    ChunkedStep::End => return Err(self.end_error()),
                },
                Body::Length(0) => return Err(self.end_error()),
                Body::Length(left) => {
                    let available = usize::try_from(*left).map_or(buf.len(), |l| l.min(buf.len()));
                    (available, *left)
                }
                Body::UntilClose => (buf.len(), u64::MAX),
            };
            if available == 0 {
                return Ok(None);
            }
            let step = self.framer.next(buf, available, segment_remaining)?;
            self.bytes += step.consumed as u64;
            match &mut self.body {
                Body::Chunked(dec) => dec.consume(step.consumed),
                Body::Length(left) => *left -= step.consumed as u64,
                Body::UntilClose => {}
            }
            if let Some(record) = step.record {
                self.records += 1;
                return Ok(Some(record));
            }
            if step.consumed == 0 {
                return Ok(None);
            }
        }
    }

    /// The peer closed the connection with `buf` still unframed. Says
    /// whether that cut a record.
    pub fn on_eof(&self, buf: &[u8]) -> StreamError {
        let mid_chunk = match &self.body {
            Body::Chunked(dec) => !dec.at_chunk_boundary() && !dec.is_done(),
            _ => false,
        };
        if !buf.is_empty() || mid_chunk {
            StreamError::TruncatedRecord
        } else {
            self.end_error()
        }
    }

    fn end_error(&self) -> StreamError {
        if self.framer.is_idle() {
            StreamError::Ended
        } else {
            StreamError::TruncatedRecord
        }
    }

    /// Records framed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Body bytes consumed so far (record payloads and length lines).
    pub fn body_bytes(&self) -> u64 {
        self.bytes
    }

    /// Records that straddled chunks and had to be copied together.
    pub fn assembled_records(&self) -> u64 {
        self.framer.assembled_records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::recordio::encode_record;

    fn chunk(data: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }

    fn records() -> Vec<Vec<u8>> {
        (0..20u8)
            .map(|i| {
                (0..(i as usize * 37 % 300))
                    .map(|j| (j as u8) ^ i)
                    .collect()
            })
            .collect()
    }

    /// Feed `wire` in pieces of `step` bytes and collect the records.
    fn run(
        framing: BodyFraming,
        wire: &[u8],
        step: usize,
    ) -> (Vec<Bytes>, StreamError, RecordStream) {
        let mut stream = RecordStream::new(framing, 1 << 20).unwrap();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut fed = 0;
        loop {
            match stream.next_record(&mut buf) {
                Ok(Some(r)) => got.push(r),
                Ok(None) => {
                    if fed == wire.len() {
                        let eof = stream.on_eof(&buf);
                        return (got, eof, stream);
                    }
                    let end = (fed + step).min(wire.len());
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                }
                Err(e) => return (got, e, stream),
            }
        }
    }

    #[test]
    fn one_record_per_chunk_is_never_copied() {
        let mut wire = Vec::new();
        for r in records() {
            let mut rec = Vec::new();
            encode_record(&r, &mut rec);
            chunk(&rec, &mut wire);
        }
        for step in [1, 2, 3, 7, 64, 1000, wire.len()] {
            let (got, end, stream) = run(BodyFraming::Chunked, &wire, step);
            assert_eq!(
                got.iter().map(|b| b.to_vec()).collect::<Vec<_>>(),
                records(),
                "step {step}"
            );
            assert_eq!(end, StreamError::Ended, "step {step}");
            assert_eq!(
                stream.assembled_records(),
                0,
                "step {step}: records were copied"
            );
        }
    }

    #[test]
    fn records_split_across_chunks_are_assembled() {
        let mut body = Vec::new();
        for r in records() {
            encode_record(&r, &mut body);
        }
        // Chunks of 13 bytes cut records and length lines everywhere.
        let mut wire = Vec::new();
        for piece in body.chunks(13) {
            chunk(piece, &mut wire);
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        for step in [1, 5, 29, wire.len()] {
            let (got, end, _) = run(BodyFraming::Chunked, &wire, step);
            assert_eq!(
                got.iter().map(|b| b.to_vec()).collect::<Vec<_>>(),
                records(),
                "step {step}"
            );
            assert_eq!(end, StreamError::Ended);
        }
    }

    #[test]
    fn identity_bodies() {
        let mut body = Vec::new();
        for r in records() {
            encode_record(&r, &mut body);
        }
        let (got, end, _) = run(BodyFraming::UntilClose, &body, 17);
        assert_eq!(got.len(), 20);
        assert_eq!(end, StreamError::Ended);
        let (got, end, _) = run(BodyFraming::Length(body.len() as u64), &body, 17);
        assert_eq!(got.len(), 20);
        assert_eq!(end, StreamError::Ended);
        // EOF in the middle of a record is reported as such.
        let (_, end, _) = run(BodyFraming::UntilClose, &body[..body.len() - 1], 17);
        assert_eq!(end, StreamError::TruncatedRecord);
    }

    #[test]
    fn no_body_is_refused() {
        assert_eq!(
            RecordStream::new(BodyFraming::None, 10).unwrap_err(),
            StreamError::NoBody
        );
    }
}

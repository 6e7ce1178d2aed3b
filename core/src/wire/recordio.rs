//! RecordIO framing: `<decimal length>\n<length bytes>` repeated.
//!
//! The framer works on *segments*: runs of body bytes that are contiguous on
//! the wire once transfer framing is removed (a chunk of a chunked body, or a
//! whole identity body). The caller says how many bytes of the current
//! segment sit at the front of the receive buffer (`available`) and how many
//! the segment holds in all, received or not (`segment_remaining`).
//!
//! * A record whose length line and payload lie inside one segment is split
//!   off the receive buffer as a [`Bytes`] that shares its allocation: zero
//!   copy. If its bytes have not all arrived yet the framer waits, reserving
//!   nothing: the driver reads more into the same buffer.
//! * A record that straddles a segment boundary (a sender that splits records
//!   across chunks) is assembled into a buffer of its own, which grows only
//!   as its bytes arrive — never to the size the peer announced up front.
//!
//! Limits: the length line is at most [`MAX_LENGTH_DIGITS`] decimal digits,
//! and a record is at most the configured maximum. Anything else is a
//! [`RecordError`]; the stream must then be dropped.

use bytes::{Buf, Bytes, BytesMut};

/// Default cap on one record. OFFERS events from 10,000 agents are a few MB;
/// 64 MiB leaves an order of magnitude of headroom while still refusing
/// absurd lengths.
pub const DEFAULT_MAX_RECORD_LEN: usize = 64 * 1024 * 1024;

/// Longest length line accepted (digits, without the `\n`). 20 digits hold
/// any `u64`; a longer line cannot be a valid length.
pub const MAX_LENGTH_DIGITS: usize = 20;

/// A RecordIO framing violation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The length line holds something other than ASCII digits.
    #[error("record length line has a non-digit byte {byte:#04x}")]
    BadLengthByte {
        /// The first offending byte.
        byte: u8,
    },
    /// A `\n` with no digits before it.
    #[error("record length line is empty")]
    EmptyLength,
    /// More than [`MAX_LENGTH_DIGITS`] digits, or a value past `u64`.
    #[error("record length line longer than {MAX_LENGTH_DIGITS} digits")]
    LengthTooLong,
    /// The announced length exceeds the framer's cap; refused before any
    /// payload byte is buffered.
    #[error("record of {len} bytes exceeds the limit of {limit}")]
    RecordTooLarge {
        /// The announced length in bytes.
        len: u64,
        /// The framer's [`RecordFramer::max_record_len`].
        limit: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a record boundary.
    Idle,
    /// A length line cut by a segment boundary: digits seen so far.
    Length { value: u64, digits: u8 },
    /// A payload cut by a segment boundary: bytes still missing.
    Payload { missing: usize },
}

/// Result of one [`RecordFramer::next`] step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameStep {
    /// A complete record, if one was finished by this step.
    pub record: Option<Bytes>,
    /// Bytes removed from the front of the buffer (all of them from the
    /// current segment).
    pub consumed: usize,
}

/// Incremental RecordIO framer. See the [module documentation](self) for
/// segments and when a record is a zero-copy slice.
///
/// For a body without transfer framing (or one already de-chunked), pass
/// the whole buffer as the segment and `u64::MAX` as its remaining size:
///
/// ```rust
/// use bytes::BytesMut;
/// use tritium_core::wire::{RecordFramer, encode_record};
///
/// let mut wire = Vec::new();
/// encode_record(b"first", &mut wire);
/// encode_record(b"second", &mut wire);
/// assert_eq!(&wire[..7], b"5\nfirst");
///
/// let mut buf = BytesMut::from(&wire[..]);
/// let mut framer = RecordFramer::default();
/// let mut records = Vec::new();
/// loop {
///     let available = buf.len();
///     let step = framer.next(&mut buf, available, u64::MAX)?;
///     match step.record {
///         Some(record) => records.push(record),
///         None if step.consumed == 0 => break, // read more, then call again
///         None => {}
///     }
/// }
/// assert_eq!(records, [&b"first"[..], &b"second"[..]]);
/// assert!(framer.is_idle());
/// # Ok::<(), tritium_core::wire::RecordError>(())
/// ```
#[derive(Debug)]
pub struct RecordFramer {
    max_record_len: usize,
    state: State,
    /// Assembly buffer for records that straddle segments; empty otherwise.
    partial: BytesMut,
    /// Records that had to be assembled from several segments (a copy).
    assembled: u64,
}

impl Default for RecordFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD_LEN)
    }
}

impl RecordFramer {
    /// A framer at a record boundary that refuses records over `max_record_len`.
    pub fn new(max_record_len: usize) -> Self {
        RecordFramer {
            max_record_len,
            state: State::Idle,
            partial: BytesMut::new(),
            assembled: 0,
        }
    }

    /// The configured record cap.
    pub fn max_record_len(&self) -> usize {
        self.max_record_len
    }

    /// True at a record boundary (no partial length line or payload held).
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle
    }

    /// How many records so far had to be copied together from several
    /// segments (the slow path). Zero for a master that writes one record
    /// per chunk.
    pub fn assembled_records(&self) -> u64 {
        self.assembled
    }

    /// Frame from the front of `buf`, of which the first `available` bytes
    /// belong to the current segment, which holds `segment_remaining` bytes
    /// in all (`u64::MAX` for a body without segments).
    ///
    /// Returns what was consumed and possibly a record. `consumed == 0` with
    /// no record means: read more bytes, then call again.
    ///
    /// # Errors
    ///
    /// [`RecordError`] on a malformed length line or a record over the cap;
    /// the stream cannot be resynchronised and must be dropped.
    pub fn next(
        &mut self,
        buf: &mut BytesMut,
        available: usize,
        segment_remaining: u64,
    ) -> Result<FrameStep, RecordError> {
        let available = available.min(buf.len());
        debug_assert!(available as u64 <= segment_remaining);
        match self.state {
            State::Idle => self.next_idle(buf, available, segment_remaining),
            State::Length { value, digits } => self.continue_length(buf, available, value, digits),
            State::Payload { missing } => Ok(self.continue_payload(buf, available, missing)),
        }
    }

    fn next_idle(
        &mut self,
        buf: &mut BytesMut,
        available: usize,
        segment_remaining: u64,
    ) -> Result<FrameStep, RecordError> {
        let window = &buf[..available.min(MAX_LENGTH_DIGITS + 1)];
        let Some(newline) = window.iter().position(|&b| b == b'\n') else {
            // Validate what we have so garbage fails fast.
            if let Some(&byte) = window.iter().find(|b| !b.is_ascii_digit()) {
                return Err(RecordError::BadLengthByte { byte });
            }
            if window.len() > MAX_LENGTH_DIGITS {
                return Err(RecordError::LengthTooLong);
            }
            if available as u64 >= segment_remaining && available > 0 {
                // The segment ends inside the length line: carry the digits.
                let value = parse_digits(window)?;
                buf.advance(available);
                self.state = State::Length {
                    value,
                    digits: available as u8,
                };
                return Ok(FrameStep {
                    record: None,
                    consumed: available,
                });
            }
            return Ok(FrameStep {
                record: None,
                consumed: 0,
            });
        };
        if newline == 0 {
            return Err(RecordError::EmptyLength);
        }
        let len = parse_digits(&window[..newline])?;
        let len = self.check_len(len)?;
        let line = newline + 1;
        let total = line as u64 + len as u64;
        if total <= segment_remaining {
            // Fast path: the record lies inside this segment.
            if (available as u64) < total {
                return Ok(FrameStep {
                    record: None,
                    consumed: 0,
                });
            }
            buf.advance(line);
            let record = buf.split_to(len).freeze();
            return Ok(FrameStep {
                record: Some(record),
                consumed: line + len,
            });
        }
        // Slow path: the payload continues in a later segment.
        buf.advance(line);
        let mut step = self.continue_payload(buf, available - line, len);
        step.consumed += line;
        Ok(step)
    }

    fn continue_length(
        &mut self,
        buf: &mut BytesMut,
        available: usize,
        mut value: u64,
        mut digits: u8,
    ) -> Result<FrameStep, RecordError> {
        let mut consumed = 0;
        while consumed < available {
            let byte = buf[consumed];
            consumed += 1;
            if byte == b'\n' {
                if digits == 0 {
                    return Err(RecordError::EmptyLength);
                }
                let len = self.check_len(value)?;
                buf.advance(consumed);
                let mut step = self.continue_payload(buf, available - consumed, len);
                step.consumed += consumed;
                return Ok(step);
            }
            if !byte.is_ascii_digit() {
                return Err(RecordError::BadLengthByte { byte });
            }
            digits += 1;
            if usize::from(digits) > MAX_LENGTH_DIGITS {
                return Err(RecordError::LengthTooLong);
            }
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(byte - b'0')))
                .ok_or(RecordError::RecordTooLarge {
                    len: u64::MAX,
                    limit: self.max_record_len,
                })?;
        }
        buf.advance(consumed);
        self.state = State::Length { value, digits };
        Ok(FrameStep {
            record: None,
            consumed,
        })
    }

    /// Copy up to `missing` payload bytes from the front of the buffer into
    /// the assembly buffer.
    fn continue_payload(
        &mut self,
        buf: &mut BytesMut,
        available: usize,
        missing: usize,
    ) -> FrameStep {
        let take = missing.min(available);
        self.partial.extend_from_slice(&buf[..take]);
        buf.advance(take);
        let missing = missing - take;
        if missing == 0 {
            self.state = State::Idle;
            self.assembled += 1;
            return FrameStep {
                record: Some(self.partial.split().freeze()),
                consumed: take,
            };
        }
        self.state = State::Payload { missing };
        FrameStep {
            record: None,
            consumed: take,
        }
    }

    fn check_len(&self, len: u64) -> Result<usize, RecordError> {
        match usize::try_from(len) {
            Ok(l) if l <= self.max_record_len => Ok(l),
            _ => Err(RecordError::RecordTooLarge {
                len,
                limit: self.max_record_len,
            }),
        }
    }
}

fn parse_digits(digits: &[u8]) -> Result<u64, RecordError> {
    let mut value: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return Err(RecordError::BadLengthByte { byte });
        }
        // 20 digits can overflow u64; such a length is too large anyway.
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(byte - b'0')))
            .ok_or(RecordError::LengthTooLong)?;
    }
    Ok(value)
}

/// Write one record (`<len>\n<payload>`) to `out`. Used by tests, the
/// simulator and the benchmarks' stream generator.
///
/// ```rust
/// let mut out = Vec::new();
/// tritium_core::wire::encode_record(b"{}", &mut out);
/// assert_eq!(out, b"2\n{}");
/// ```
pub fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_whole(input: &[u8]) -> Result<Vec<Bytes>, RecordError> {
        let mut framer = RecordFramer::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            let avail = buf.len();
            let step = framer.next(&mut buf, avail, u64::MAX)?;
            match step.record {
                Some(r) => out.push(r),
                None if step.consumed == 0 => return Ok(out),
                None => {}
            }
        }
    }

    #[test]
    fn frames_records_in_one_segment_without_copying() {
        let mut input = Vec::new();
        encode_record(b"hello", &mut input);
        encode_record(b"", &mut input);
        encode_record(b"a longer record\n with newline", &mut input);
        let mut framer = RecordFramer::default();
        let mut buf = BytesMut::from(&input[..]);
        let base = buf.as_ptr() as usize;
        let mut got = Vec::new();
        loop {
            let avail = buf.len();
            let step = framer.next(&mut buf, avail, avail as u64).unwrap();
            match step.record {
                Some(r) => got.push(r),
                None => break,
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(&got[0][..], b"hello");
        assert_eq!(&got[1][..], b"");
        assert_eq!(&got[2][..], b"a longer record\n with newline");
        // The first record is a view into the receive buffer: same allocation.
        assert_eq!(got[0].as_ptr() as usize, base + 2, "record was copied");
        assert_eq!(framer.assembled_records(), 0);
    }

    #[test]
    fn waits_for_payload_without_consuming() {
        let mut framer = RecordFramer::default();
        let mut buf = BytesMut::from(&b"10\n01234"[..]);
        let avail = buf.len();
        let step = framer.next(&mut buf, avail, u64::MAX).unwrap();
        assert_eq!(
            step,
            FrameStep {
                record: None,
                consumed: 0
            }
        );
        assert_eq!(buf.len(), 8, "nothing may be consumed while waiting");
        buf.extend_from_slice(b"56789");
        let avail = buf.len();
        let step = framer.next(&mut buf, avail, u64::MAX).unwrap();
        assert_eq!(step.record.as_deref(), Some(&b"0123456789"[..]));
    }

    #[test]
    fn assembles_records_across_segments() {
        // "12\nhello world!" cut into segments at every position, including
        // inside the length line.
        let record = b"12\nhello world!";
        for cut in 1..record.len() {
            let mut framer = RecordFramer::default();
            let mut buf = BytesMut::from(&record[..cut]);
            let step = framer.next(&mut buf, cut, cut as u64).unwrap();
            assert!(step.record.is_none(), "cut {cut}");
            assert_eq!(step.consumed, cut, "cut {cut}: the segment must be used up");
            let rest = record.len() - cut;
            let mut buf = BytesMut::from(&record[cut..]);
            let step = framer.next(&mut buf, rest, rest as u64).unwrap();
            assert_eq!(
                step.record.as_deref(),
                Some(&b"hello world!"[..]),
                "cut {cut}"
            );
            assert!(framer.is_idle());
        }
    }

    #[test]
    fn refuses_bad_lengths() {
        assert_eq!(frame_whole(b"\nabc").unwrap_err(), RecordError::EmptyLength);
        assert_eq!(
            frame_whole(b"1x\n").unwrap_err(),
            RecordError::BadLengthByte { byte: b'x' }
        );
        assert_eq!(
            frame_whole(b"-1\n").unwrap_err(),
            RecordError::BadLengthByte { byte: b'-' }
        );
        assert_eq!(
            frame_whole(b"123456789012345678901234").unwrap_err(),
            RecordError::LengthTooLong
        );
        assert_eq!(
            frame_whole(b"99999999999999999999\n").unwrap_err(),
            RecordError::LengthTooLong
        );
        assert_eq!(
            frame_whole(b"67108865\n").unwrap_err(),
            RecordError::RecordTooLarge {
                len: 67_108_865,
                limit: DEFAULT_MAX_RECORD_LEN
            }
        );
    }

    #[test]
    fn huge_announced_length_allocates_nothing() {
        // A length at the cap with two bytes of payload: the framer waits
        // (fast path) or keeps only what arrived (slow path).
        let mut framer = RecordFramer::default();
        let mut buf = BytesMut::from(&b"67108864\nab"[..]);
        let step = framer.next(&mut buf, 11, 11).unwrap();
        assert_eq!(step.consumed, 11);
        assert!(
            framer.partial.capacity() < 1024,
            "reserved for bytes not yet seen"
        );
    }
}

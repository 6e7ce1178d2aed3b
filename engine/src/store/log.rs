//! The log file's format: a header naming the log's generation, then
//! checksummed records, one per committed batch. Pure functions over bytes;
//! the file handling is in [`super::file_store`].
//!
//! The layout is documented with the store (`store` module docs,
//! "On-disk format").
//!
//! The header has its own checksum so a damaged length is recognised as
//! damage: without it a bit flip that makes a middle record's length point
//! past the end of the file would look like a torn tail and the records
//! after it would be dropped silently.
//!
//! Scanning tells a torn tail from corruption by what follows the first
//! invalid record: if any valid record (good magic, header and payload
//! checksums) starts after it, the invalid one is in the middle of the log
//! and is corruption; if none does, it is the remains of the last write,
//! interrupted by a crash, and is dropped. A torn write can leave at most the
//! last record invalid because each commit is one write followed by fsync.

use std::ops::Range;

use super::codec;
use super::crc32c::crc32c;
use super::{Defect, FORMAT_VERSION, readable};
use crate::core::StoreOp;

pub(crate) const LOG_MAGIC: [u8; 8] = *b"TRITLOG\0";
pub(crate) const LOG_HEADER_LEN: usize = 22;
pub(crate) const RECORD_MAGIC: [u8; 4] = *b"TREC";
pub(crate) const RECORD_HEADER_LEN: usize = 18;

/// The largest payload a record may carry (and so the largest batch): far
/// above any real batch (100k task changes encode to about 10 MiB), small
/// enough that recovery's buffer per record stays bounded.
pub const MAX_RECORD_PAYLOAD: u32 = 64 << 20;

pub(crate) fn log_header(generation: u64) -> [u8; LOG_HEADER_LEN] {
    let mut h = [0u8; LOG_HEADER_LEN];
    h[0..8].copy_from_slice(&LOG_MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[10..18].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32c(&h[0..18]);
    h[18..22].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The generation a log header names.
pub(crate) fn parse_log_header(bytes: &[u8]) -> Result<u64, Defect> {
    let corrupt = |reason: String| Defect::Corrupt { offset: 0, reason };
    if bytes.len() < LOG_HEADER_LEN {
        // Logs are written whole and renamed into place, so this is not a
        // torn write but damage or a foreign file.
        return Err(corrupt(format!(
            "{} bytes, shorter than the {LOG_HEADER_LEN}-byte log header",
            bytes.len()
        )));
    }
    let h = &bytes[..LOG_HEADER_LEN];
    if h[0..8] != LOG_MAGIC {
        return Err(corrupt("bad magic: not a tritium log".into()));
    }
    if crc32c(&h[0..18]) != le_u32(h, 18) {
        return Err(corrupt("log header checksum mismatch".into()));
    }
    let version = le_u16(h, 8);
    if !readable(version) {
        return Err(Defect::Version {
            offset: 0,
            found: version,
        });
    }
    Ok(le_u64(h, 10))
}

/// Appends one record holding `ops` to `out`. `payload_len` is
/// [`codec::encoded_len`] of `ops`, already checked against
/// [`MAX_RECORD_PAYLOAD`].
pub(crate) fn append_record(ops: &[StoreOp], payload_len: u32, out: &mut Vec<u8>) {
    assert!(
        payload_len <= MAX_RECORD_PAYLOAD,
        "batch size checked by the caller"
    );
    let start = out.len();
    out.resize(start + RECORD_HEADER_LEN, 0);
    let count = u32::try_from(ops.len()).expect("ops fit a payload below 4 GiB");
    codec::encode(count, ops.iter().map(codec::OpRef::from), out);
    let payload = &out[start + RECORD_HEADER_LEN..];
    assert_eq!(
        payload.len(),
        payload_len as usize,
        "encoded_len matches encode"
    );
    let payload_crc = crc32c(payload);
    let h = &mut out[start..start + RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&RECORD_MAGIC);
    h[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[6..10].copy_from_slice(&payload_len.to_le_bytes());
    h[10..14].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32c(&h[0..14]);
    h[14..18].copy_from_slice(&header_crc.to_le_bytes());
}

/// What [`scan_records`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogScan {
    /// Valid records replayed.
    pub records: u64,
    /// Bytes up to the end of the last valid record: where the log is
    /// truncated to if there is a torn tail, and where appends continue.
    pub good_len: u64,
    pub torn: Option<TornTail>,
}

/// The remains of an interrupted last write, dropped on recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Offset in the log of the first byte dropped.
    pub offset: u64,
    /// Bytes from `offset` to the end of the file, all truncated away.
    pub dropped_bytes: u64,
    /// What was wrong with the record found there.
    pub reason: String,
}

/// Replays the records of a whole log file (header included, already
/// checked by [`parse_log_header`]), handing each batch to `on_batch` in
/// order. A torn tail ends the scan; corruption or an unknown version is an
/// error and nothing after it is handed out.
pub(crate) fn scan_records(
    bytes: &[u8],
    mut on_batch: impl FnMut(Vec<StoreOp>),
) -> Result<LogScan, Defect> {
    debug_assert!(bytes.len() >= LOG_HEADER_LEN);
    let mut at = LOG_HEADER_LEN;
    let mut records = 0;
    while at < bytes.len() {
        match check_record(bytes, at) {
            RecordCheck::Valid { payload, end } => {
                let ops = codec::decode(&bytes[payload]).map_err(|reason| Defect::Corrupt {
                    offset: at as u64,
                    // The checksums match, so this was written this way.
                    reason: format!("record payload does not decode: {reason}"),
                })?;
                on_batch(ops);
                records += 1;
                at = end;
            }
            RecordCheck::Version(found) => {
                return Err(Defect::Version {
                    offset: at as u64,
                    found,
                });
            }
            RecordCheck::Invalid { reason, scan_from } => {
                if let Some(next) = find_valid_record(bytes, scan_from) {
                    return Err(Defect::Corrupt {
                        offset: at as u64,
                        reason: format!(
                            "{reason}, and a valid record follows at byte {next}: \
                             damage in the middle of the log, not a torn write"
                        ),
                    });
                }
                return Ok(LogScan {
                    records,
                    good_len: at as u64,
                    torn: Some(TornTail {
                        offset: at as u64,
                        dropped_bytes: (bytes.len() - at) as u64,
                        reason,
                    }),
                });
            }
        }
    }
    debug_assert_eq!(at, bytes.len());
    Ok(LogScan {
        records,
        good_len: at as u64,
        torn: None,
    })
}

enum RecordCheck {
    Valid {
        payload: Range<usize>,
        end: usize,
    },
    /// Intact (both checksums match) but of a format this build cannot read.
    Version(u16),
    Invalid {
        reason: String,
        /// Where a following valid record could start: right after this one
        /// if its header (and so its length) is trustworthy, else the next
        /// byte.
        scan_from: usize,
    },
}

fn check_record(bytes: &[u8], at: usize) -> RecordCheck {
    let rest = bytes.len() - at;
    if rest < RECORD_HEADER_LEN {
        return RecordCheck::Invalid {
            reason: format!("short record header: {rest} of {RECORD_HEADER_LEN} bytes"),
            scan_from: bytes.len(),
        };
    }
    let h = &bytes[at..at + RECORD_HEADER_LEN];
    if h[0..4] != RECORD_MAGIC {
        return RecordCheck::Invalid {
            reason: "bad record magic".into(),
            scan_from: at + 1,
        };
    }
    if crc32c(&h[0..14]) != le_u32(h, 14) {
        return RecordCheck::Invalid {
            reason: "record header checksum mismatch".into(),
            scan_from: at + 1,
        };
    }
    let version = le_u16(h, 4);
    if !readable(version) {
        return RecordCheck::Version(version);
    }
    let len = le_u32(h, 6);
    if len > MAX_RECORD_PAYLOAD {
        return RecordCheck::Invalid {
            reason: format!("payload length {len} exceeds the limit {MAX_RECORD_PAYLOAD}"),
            scan_from: at + 1,
        };
    }
    let start = at + RECORD_HEADER_LEN;
    let end = start + len as usize;
    if end > bytes.len() {
        return RecordCheck::Invalid {
            reason: format!("short payload: {} of {len} bytes", bytes.len() - start),
            scan_from: bytes.len(),
        };
    }
    if crc32c(&bytes[start..end]) != le_u32(h, 10) {
        return RecordCheck::Invalid {
            reason: "payload checksum mismatch".into(),
            scan_from: end,
        };
    }
    RecordCheck::Valid {
        payload: start..end,
        end,
    }
}

/// The offset of the first intact record (any version) starting at or
/// after `from`. Only runs after an invalid record, never on the happy path.
fn find_valid_record(bytes: &[u8], from: usize) -> Option<usize> {
    let last = bytes.len().checked_sub(RECORD_HEADER_LEN)?;
    (from..=last).find(|&p| {
        let h = &bytes[p..p + RECORD_HEADER_LEN];
        if h[0..4] != RECORD_MAGIC || crc32c(&h[0..14]) != le_u32(h, 14) {
            return false;
        }
        let start = p + RECORD_HEADER_LEN;
        let len = le_u32(h, 6) as usize;
        start
            .checked_add(len)
            .filter(|&end| end <= bytes.len())
            .is_some_and(|end| crc32c(&bytes[start..end]) == le_u32(h, 10))
    })
}

pub(crate) fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(batches: &[Vec<StoreOp>]) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = log_header(7).to_vec();
        let mut starts = Vec::new();
        for ops in batches {
            starts.push(bytes.len());
            let len = codec::encoded_len(ops.iter().map(codec::OpRef::from));
            append_record(ops, len as u32, &mut bytes);
        }
        (bytes, starts)
    }

    fn batches() -> Vec<Vec<StoreOp>> {
        vec![
            vec![StoreOp::FrameworkId("fw".into())],
            vec![
                StoreOp::RemoveTask("a".into()),
                StoreOp::RemoveRecord("apps/b".into()),
            ],
            vec![],
        ]
    }

    fn replay(bytes: &[u8]) -> Result<(LogScan, Vec<Vec<StoreOp>>), Defect> {
        let mut got = Vec::new();
        let scan = scan_records(bytes, |ops| got.push(ops))?;
        Ok((scan, got))
    }

    #[test]
    fn header_round_trip() {
        assert_eq!(parse_log_header(&log_header(u64::MAX)), Ok(u64::MAX));
    }

    #[test]
    fn records_replay_in_order() {
        let (bytes, _) = log_of(&batches());
        let (scan, got) = replay(&bytes).unwrap();
        assert_eq!(got, batches());
        assert_eq!(scan.records, 3);
        assert_eq!(scan.good_len, bytes.len() as u64);
        assert_eq!(scan.torn, None);
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        // Some file systems extend the file before the data lands.
        let (mut bytes, _) = log_of(&batches());
        let good = bytes.len();
        bytes.resize(good + 100, 0);
        let (scan, got) = replay(&bytes).unwrap();
        assert_eq!(got, batches());
        assert_eq!(scan.good_len, good as u64);
        assert_eq!(scan.torn.unwrap().dropped_bytes, 100);
    }

    #[test]
    fn damaged_length_in_the_middle_is_not_mistaken_for_a_tear() {
        let (mut bytes, starts) = log_of(&batches());
        // A length pointing past the end of the file.
        bytes[starts[1] + 9] ^= 0x80;
        let err = replay(&bytes).unwrap_err();
        assert_eq!(
            err,
            Defect::Corrupt {
                offset: starts[1] as u64,
                reason: format!(
                    "record header checksum mismatch, and a valid record follows at byte {}: \
                     damage in the middle of the log, not a torn write",
                    starts[2]
                ),
            }
        );
    }
}

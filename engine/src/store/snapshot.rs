//! The snapshot file's format: the whole durable state, checksummed, and the
//! log generation it covers. Pure functions over bytes.
//!
//! The layout is documented with the store (`store` module docs,
//! "On-disk format").
//!
//! A snapshot is only ever installed by renaming a complete, fsync'd temp
//! file, so any defect is damage, never a torn write: it is a hard error.

use super::codec::{self, OpRef};
use super::crc32c::crc32c;
use super::log::{le_u16, le_u32, le_u64};
use super::state::StoreState;
use super::{Defect, FORMAT_VERSION, readable};
use crate::core::StoreOp;

pub(crate) const SNAPSHOT_MAGIC: [u8; 8] = *b"TRITSNAP";
pub(crate) const SNAPSHOT_HEADER_LEN: usize = 34;

/// The snapshot of `state`, covering logs up to `generation`.
pub(crate) fn encode_snapshot(generation: u64, state: &StoreState) -> Vec<u8> {
    let payload_len = codec::encoded_len(state.as_ops());
    let count = u32::try_from(state.op_count()).expect("fewer than 4 billion apps and tasks");
    let mut out = Vec::with_capacity(SNAPSHOT_HEADER_LEN + payload_len as usize);
    out.resize(SNAPSHOT_HEADER_LEN, 0);
    codec::encode(count, state.as_ops(), &mut out);
    let payload = &out[SNAPSHOT_HEADER_LEN..];
    assert_eq!(
        payload.len() as u64,
        payload_len,
        "encoded_len matches encode"
    );
    let payload_crc = crc32c(payload);
    let h = &mut out[..SNAPSHOT_HEADER_LEN];
    h[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[10..18].copy_from_slice(&generation.to_le_bytes());
    h[18..26].copy_from_slice(&payload_len.to_le_bytes());
    h[26..30].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32c(&h[0..30]);
    h[30..34].copy_from_slice(&header_crc.to_le_bytes());
    out
}

/// The generation a snapshot covers and the ops that rebuild its state.
pub(crate) fn parse_snapshot(bytes: &[u8]) -> Result<(u64, Vec<StoreOp>), Defect> {
    let corrupt = |offset: usize, reason: String| Defect::Corrupt {
        offset: offset as u64,
        reason,
    };
    if bytes.len() < SNAPSHOT_HEADER_LEN {
        return Err(corrupt(
            0,
            format!(
                "{} bytes, shorter than the {SNAPSHOT_HEADER_LEN}-byte snapshot header",
                bytes.len()
            ),
        ));
    }
    let h = &bytes[..SNAPSHOT_HEADER_LEN];
    if h[0..8] != SNAPSHOT_MAGIC {
        return Err(corrupt(0, "bad magic: not a tritium snapshot".into()));
    }
    if crc32c(&h[0..30]) != le_u32(h, 30) {
        return Err(corrupt(0, "snapshot header checksum mismatch".into()));
    }
    let version = le_u16(h, 8);
    if !readable(version) {
        return Err(Defect::Version {
            offset: 0,
            found: version,
        });
    }
    let generation = le_u64(h, 10);
    let payload = &bytes[SNAPSHOT_HEADER_LEN..];
    let payload_len = le_u64(h, 18);
    if payload_len != payload.len() as u64 {
        return Err(corrupt(
            SNAPSHOT_HEADER_LEN,
            format!(
                "header announces a {payload_len}-byte payload, the file holds {}",
                payload.len()
            ),
        ));
    }
    if crc32c(payload) != le_u32(h, 26) {
        return Err(corrupt(
            SNAPSHOT_HEADER_LEN,
            "snapshot payload checksum mismatch".into(),
        ));
    }
    let ops = codec::decode(payload).map_err(|reason| {
        corrupt(
            SNAPSHOT_HEADER_LEN,
            format!("snapshot payload does not decode: {reason}"),
        )
    })?;
    // A snapshot only ever holds puts; anything else was not written by us.
    if let Some(op) = ops.iter().find(|op| {
        !matches!(
            OpRef::from(*op),
            OpRef::FrameworkId(_) | OpRef::PutRecord(..) | OpRef::PutTask(_)
        )
    }) {
        return Err(corrupt(
            SNAPSHOT_HEADER_LEN,
            format!("snapshot holds a removal: {op:?}"),
        ));
    }
    Ok((generation, ops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::TaskRecord;

    fn state() -> StoreState {
        let mut s = StoreState::default();
        s.apply(StoreOp::FrameworkId("fw".into()));
        s.apply(StoreOp::PutTask(TaskRecord {
            id: "t".into(),
            app: "a".into(),
            instance: 0,
            agent_id: "ag".into(),
            state: 1,
            version: 1,
            host: "h".into(),
            ports: vec![],
            unreachable_time: None,
        }));
        s
    }

    #[test]
    fn round_trip() {
        let bytes = encode_snapshot(42, &state());
        let (generation, ops) = parse_snapshot(&bytes).unwrap();
        assert_eq!(generation, 42);
        let mut back = StoreState::default();
        ops.into_iter().for_each(|op| back.apply(op));
        assert_eq!(back, state());
    }

    #[test]
    fn every_bit_flip_and_truncation_is_refused() {
        let bytes = encode_snapshot(1, &state());
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(parse_snapshot(&b).is_err(), "flip of bit {bit} at byte {i}");
            }
            assert!(parse_snapshot(&bytes[..i]).is_err(), "truncated to {i}");
        }
    }
}

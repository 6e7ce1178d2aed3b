//! The binary encoding of a list of [`StoreOp`]s: the payload of a log record
//! and of the snapshot.
//!
//! Owns only bytes ↔ ops; framing, checksums and files are elsewhere. Decoding
//! never trusts a length it has not checked against the bytes that remain, so
//! a corrupt payload cannot make it allocate more than the payload's size.
//!
//! The layout is documented with the store (`store` module docs, "On-disk
//! format"). Adding a field to [`AppSpec`] or [`TaskRecord`], or a new op,
//! means a new [`super::FORMAT_VERSION`] and a decoder that still reads the
//! old one.

use bytes::Bytes;
use tritium_core::apps::{self, app_key};

use crate::core::{AppRecord, AppSpec, StoreOp, TaskRecord};

const TAG_FRAMEWORK_ID: u8 = 1;
/// Format 1's app (name, instances, cpus, mem, command); read, never written.
const TAG_PUT_APP_V1: u8 = 2;
const TAG_REMOVE_APP: u8 = 3;
/// Format 1's task (no version, host, ports); read, never written.
const TAG_PUT_TASK_V1: u8 = 4;
const TAG_REMOVE_TASK: u8 = 5;
/// Format 2's app: an [`AppRecord`] as JSON; read (as the app service's
/// record `apps/<name>`), never written.
const TAG_PUT_APP: u8 = 6;
/// A task with version, host and ports: tasks change often, so binary.
const TAG_PUT_TASK: u8 = 7;
/// A framework's record: key and opaque value.
const TAG_PUT_RECORD: u8 = 8;
const TAG_REMOVE_RECORD: u8 = 9;
/// A task held UNREACHABLE: op 7's fields, then since when (format 4).
/// Written only for a task with an `unreachable_time`, so every other
/// task keeps op 7 and an older tritium reads it.
const TAG_PUT_TASK_UNREACHABLE: u8 = 10;

/// Bytes of a `str` besides its contents (the length prefix).
const STR_OVERHEAD: u64 = 4;

/// An op by reference: what [`encode`] writes, so a snapshot is encoded
/// straight from the store's maps without cloning them into [`StoreOp`]s.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OpRef<'a> {
    FrameworkId(&'a str),
    PutRecord(&'a str, &'a [u8]),
    RemoveRecord(&'a str),
    PutTask(&'a TaskRecord),
    RemoveTask(&'a str),
}

impl<'a> From<&'a StoreOp> for OpRef<'a> {
    fn from(op: &'a StoreOp) -> Self {
        match op {
            StoreOp::FrameworkId(id) => OpRef::FrameworkId(id),
            StoreOp::PutRecord { key, value } => OpRef::PutRecord(key, value),
            StoreOp::RemoveRecord(key) => OpRef::RemoveRecord(key),
            StoreOp::PutTask(t) => OpRef::PutTask(t),
            StoreOp::RemoveTask(id) => OpRef::RemoveTask(id),
        }
    }
}

/// The encoded size of `ops`, computed without encoding, so an oversized
/// batch is refused before a byte of it is buffered.
pub(crate) fn encoded_len<'a>(ops: impl IntoIterator<Item = OpRef<'a>>) -> u64 {
    let s = |v: &str| STR_OVERHEAD + v.len() as u64;
    4 + ops
        .into_iter()
        .map(|op| {
            1 + match op {
                OpRef::FrameworkId(id) => s(id),
                OpRef::PutRecord(key, value) => s(key) + STR_OVERHEAD + value.len() as u64,
                OpRef::RemoveRecord(key) => s(key),
                OpRef::PutTask(t) => {
                    s(&t.id)
                        + s(&t.app)
                        + 4
                        + s(&t.agent_id)
                        + 4
                        + 8
                        + s(&t.host)
                        + 2
                        + 4 * t.ports.len() as u64
                        + if t.unreachable_time.is_some() { 8 } else { 0 }
                }
                OpRef::RemoveTask(id) => s(id),
            }
        })
        .sum::<u64>()
}

/// Appends the encoding of `ops` (exactly `count` of them) to `out`.
///
/// The caller has checked [`encoded_len`] against its limit, which is below
/// `u32::MAX`, so every length here fits a `u32`.
pub(crate) fn encode<'a>(count: u32, ops: impl IntoIterator<Item = OpRef<'a>>, out: &mut Vec<u8>) {
    out.extend_from_slice(&count.to_le_bytes());
    let mut written = 0u32;
    for op in ops {
        written += 1;
        match op {
            OpRef::FrameworkId(id) => {
                out.push(TAG_FRAMEWORK_ID);
                put_str(out, id);
            }
            OpRef::PutRecord(key, value) => {
                out.push(TAG_PUT_RECORD);
                put_str(out, key);
                put_bytes(out, value);
            }
            OpRef::RemoveRecord(key) => {
                out.push(TAG_REMOVE_RECORD);
                put_str(out, key);
            }
            OpRef::PutTask(t) => {
                out.push(if t.unreachable_time.is_some() {
                    TAG_PUT_TASK_UNREACHABLE
                } else {
                    TAG_PUT_TASK
                });
                put_str(out, &t.id);
                put_str(out, &t.app);
                out.extend_from_slice(&t.instance.to_le_bytes());
                put_str(out, &t.agent_id);
                out.extend_from_slice(&t.state.to_le_bytes());
                out.extend_from_slice(&t.version.to_le_bytes());
                put_str(out, &t.host);
                // A task has at most spec::MAX_PORTS + mappings ports.
                let n = u16::try_from(t.ports.len()).expect("ports per task fit u16");
                out.extend_from_slice(&n.to_le_bytes());
                for p in &t.ports {
                    out.extend_from_slice(&p.to_le_bytes());
                }
                if let Some(at) = t.unreachable_time {
                    out.extend_from_slice(&at.to_le_bytes());
                }
            }
            OpRef::RemoveTask(id) => {
                out.push(TAG_REMOVE_TASK);
                put_str(out, id);
            }
        }
    }
    assert_eq!(written, count, "op count announced in the payload");
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let len = u32::try_from(b.len()).expect("length checked by encoded_len's limit");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b);
}

/// Decodes a whole payload; `Err` says what is wrong and at which payload
/// offset. Nothing is returned unless every byte was consumed.
pub(crate) fn decode(payload: &[u8]) -> Result<Vec<StoreOp>, String> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let count = r.u32()?;
    // Every op takes at least 5 bytes (tag + one string length), so a count
    // beyond that is corrupt and must not size an allocation.
    if u64::from(count) > (payload.len() as u64) / 5 {
        return Err(format!(
            "op count {count} cannot fit in {} bytes",
            payload.len()
        ));
    }
    let mut ops = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let at = r.pos;
        let op = match r.u8()? {
            TAG_FRAMEWORK_ID => StoreOp::FrameworkId(r.str()?),
            TAG_PUT_APP_V1 => {
                let name = r.str()?;
                let instances = r.u32()?;
                let cpus = f64::from_bits(r.u64()?);
                let mem = f64::from_bits(r.u64()?);
                let command = r.str()?;
                apps::app_record_op(&AppRecord::new(AppSpec::command_app(
                    &name, instances, cpus, mem, &command,
                )))
            }
            TAG_PUT_APP => {
                // Older formats stored apps themselves; they are the app
                // service's records now, under the key it uses.
                let json = r.str()?;
                let rec: AppRecord = serde_json::from_str(&json)
                    .map_err(|e| format!("app record at payload byte {at}: {e}"))?;
                StoreOp::PutRecord {
                    key: app_key(rec.name()),
                    value: Bytes::from(json),
                }
            }
            TAG_REMOVE_APP => StoreOp::RemoveRecord(app_key(&r.str()?)),
            TAG_PUT_RECORD => StoreOp::PutRecord {
                key: r.str()?,
                value: Bytes::copy_from_slice(r.bytes()?),
            },
            TAG_REMOVE_RECORD => StoreOp::RemoveRecord(r.str()?),
            TAG_PUT_TASK_V1 => StoreOp::PutTask(TaskRecord {
                id: r.str()?.into(),
                app: r.str()?.into(),
                instance: r.u32()?,
                agent_id: r.str()?.into(),
                state: r.u32()? as i32,
                version: 1,
                host: Default::default(),
                ports: Vec::new(),
                unreachable_time: None,
            }),
            tag @ (TAG_PUT_TASK | TAG_PUT_TASK_UNREACHABLE) => {
                let (id, app, instance, agent_id) = (r.str()?, r.str()?, r.u32()?, r.str()?);
                let state = r.u32()? as i32;
                let version = r.u64()?;
                let host = r.str()?;
                let n = r.u16()? as usize;
                // Each port is 4 bytes: check before sizing anything.
                r.need(4 * n)?;
                let mut ports = Vec::with_capacity(n);
                for _ in 0..n {
                    ports.push(r.u32()?);
                }
                // Op 7 (formats 2-3, and tasks not UNREACHABLE): none.
                let unreachable_time = if tag == TAG_PUT_TASK_UNREACHABLE {
                    Some(r.u64()? as i64)
                } else {
                    None
                };
                StoreOp::PutTask(TaskRecord {
                    id: id.into(),
                    app: app.into(),
                    instance,
                    agent_id: agent_id.into(),
                    state,
                    version,
                    host: host.into(),
                    ports,
                    unreachable_time,
                })
            }
            TAG_REMOVE_TASK => StoreOp::RemoveTask(r.str()?),
            tag => return Err(format!("unknown op tag {tag} at payload byte {at}")),
        };
        ops.push(op);
    }
    if r.pos != payload.len() {
        return Err(format!(
            "{} trailing bytes after {count} ops",
            payload.len() - r.pos
        ));
    }
    Ok(ops)
}

/// The encoded size of `op` alone, as [`encode_one`] writes it.
pub(crate) fn encoded_len_one(op: OpRef<'_>) -> u64 {
    encoded_len(std::iter::once(op))
}

/// Appends the encoding of `op` alone: a payload of one op, for stores that
/// keep each app and task under a key of its own (etcd). Same format as a
/// log record's payload, so every op `encode` knows is covered.
pub(crate) fn encode_one(op: OpRef<'_>, out: &mut Vec<u8>) {
    encode(1, std::iter::once(op), out);
}

/// Decodes what [`encode_one`] wrote: a payload of exactly one op.
pub(crate) fn decode_one(payload: &[u8]) -> Result<StoreOp, String> {
    let [op]: [StoreOp; 1] = decode(payload)?
        .try_into()
        .map_err(|ops: Vec<StoreOp>| format!("expected one op, found {}", ops.len()))?;
    Ok(op)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "needs {n} bytes at payload byte {} of {}",
                    self.pos,
                    self.buf.len()
                )
            })?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// Fails unless `n` more bytes remain (consumes nothing).
    fn need(&self, n: usize) -> Result<(), String> {
        if self.buf.len() - self.pos >= n {
            Ok(())
        } else {
            Err(format!(
                "needs {n} bytes at payload byte {} of {}",
                self.pos,
                self.buf.len()
            ))
        }
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<&[u8], String> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn str(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        let at = self.pos;
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(format!("string at payload byte {at}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<StoreOp> {
        vec![
            StoreOp::FrameworkId("fw-1".into()),
            apps::app_record_op(&AppRecord::new(AppSpec::command_app(
                "web",
                3,
                0.25,
                128.5,
                "sleep ∞",
            ))),
            StoreOp::RemoveRecord("apps/old".into()),
            StoreOp::PutRecord {
                key: "jobs/nightly".into(),
                value: Bytes::from_static(&[0, 1, 2, 255]),
            },
            StoreOp::PutRecord {
                key: "empty".into(),
                value: Bytes::new(),
            },
            StoreOp::PutTask(TaskRecord {
                id: "web.1".into(),
                app: "web".into(),
                instance: 1,
                agent_id: "a-1".into(),
                state: -7,
                version: 9,
                host: "h1".into(),
                ports: vec![31000, 80],
                unreachable_time: None,
            }),
            StoreOp::PutTask(TaskRecord {
                id: "web.2".into(),
                app: "web".into(),
                instance: 2,
                agent_id: "a-2".into(),
                state: 10,
                version: 9,
                host: "h2".into(),
                ports: vec![],
                unreachable_time: Some(1_700_000_000_123_456_789),
            }),
            StoreOp::RemoveTask("web.0".into()),
            StoreOp::FrameworkId(String::new()),
        ]
    }

    #[test]
    fn round_trip_and_length() {
        let ops = every_kind();
        let mut buf = vec![0xAA]; // encode appends; it must not touch what is there
        encode(ops.len() as u32, ops.iter().map(OpRef::from), &mut buf);
        assert_eq!(buf[0], 0xAA);
        assert_eq!(
            (buf.len() - 1) as u64,
            encoded_len(ops.iter().map(OpRef::from))
        );
        assert_eq!(decode(&buf[1..]).unwrap(), ops);
    }

    /// Format 3's task (op 7), byte for byte as it was written: it reads
    /// as a task with no `unreachable_time`, and a task that has none is
    /// still written so (an older tritium reads it).
    #[test]
    fn format_3_tasks_read_and_are_still_written_so() {
        let mut buf = 1u32.to_le_bytes().to_vec();
        buf.push(TAG_PUT_TASK);
        for s in ["web.0.x", "web"] {
            put_str(&mut buf, s);
        }
        buf.extend_from_slice(&4u32.to_le_bytes());
        put_str(&mut buf, "a1");
        buf.extend_from_slice(&1u32.to_le_bytes());
        buf.extend_from_slice(&7u64.to_le_bytes());
        put_str(&mut buf, "h1");
        buf.extend_from_slice(&1u16.to_le_bytes());
        buf.extend_from_slice(&31000u32.to_le_bytes());
        let ops = decode(&buf).unwrap();
        let StoreOp::PutTask(t) = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!((t.instance, t.version, t.unreachable_time), (4, 7, None));
        let mut again = Vec::new();
        encode(1, ops.iter().map(OpRef::from), &mut again);
        assert_eq!(
            again, buf,
            "a task without unreachable_time is op 7 as before"
        );
    }

    #[test]
    fn format_1_ops_still_read() {
        let mut buf = 2u32.to_le_bytes().to_vec();
        buf.push(TAG_PUT_APP_V1);
        put_str(&mut buf, "web");
        buf.extend_from_slice(&2u32.to_le_bytes());
        buf.extend_from_slice(&0.5f64.to_bits().to_le_bytes());
        buf.extend_from_slice(&64f64.to_bits().to_le_bytes());
        put_str(&mut buf, "sleep 1");
        buf.push(TAG_PUT_TASK_V1);
        for s in ["web.0.x", "web"] {
            put_str(&mut buf, s);
        }
        buf.extend_from_slice(&0u32.to_le_bytes());
        put_str(&mut buf, "a1");
        buf.extend_from_slice(&1u32.to_le_bytes());
        let ops = decode(&buf).unwrap();
        let StoreOp::PutRecord { key, value } = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(key, "apps/web");
        let a = apps::decode_app(value).unwrap();
        assert_eq!(a.spec, AppSpec::command_app("web", 2, 0.5, 64.0, "sleep 1"));
        let StoreOp::PutTask(t) = &ops[1] else {
            panic!("{ops:?}")
        };
        assert_eq!((t.version, t.state, t.instance), (1, 1, 0));
    }

    #[test]
    fn format_2_apps_read_as_the_app_services_records() {
        let rec = AppRecord::new(AppSpec::command_app("web", 2, 0.5, 64.0, "sleep 1"));
        let json = serde_json::to_string(&rec).unwrap();
        let mut buf = 2u32.to_le_bytes().to_vec();
        buf.push(TAG_PUT_APP);
        put_str(&mut buf, &json);
        buf.push(TAG_REMOVE_APP);
        put_str(&mut buf, "old");
        assert_eq!(
            decode(&buf).unwrap(),
            vec![
                apps::app_record_op(&rec),
                StoreOp::RemoveRecord("apps/old".into())
            ]
        );
    }

    #[test]
    fn one_op_round_trips_alone_and_more_or_fewer_are_refused() {
        for op in every_kind() {
            let mut buf = Vec::new();
            encode_one(OpRef::from(&op), &mut buf);
            assert_eq!(buf.len() as u64, encoded_len_one(OpRef::from(&op)));
            assert_eq!(decode_one(&buf).unwrap(), op);
        }
        let ops = every_kind();
        let mut two = Vec::new();
        encode(2, ops[..2].iter().map(OpRef::from), &mut two);
        assert_eq!(decode_one(&two).unwrap_err(), "expected one op, found 2");
        let mut none = Vec::new();
        encode(0, [], &mut none);
        assert_eq!(decode_one(&none).unwrap_err(), "expected one op, found 0");
        assert!(decode_one(&[1, 0]).is_err());
    }

    #[test]
    fn empty_batch() {
        let mut buf = Vec::new();
        encode(0, [], &mut buf);
        assert_eq!(buf.len() as u64, encoded_len([]));
        assert_eq!(decode(&buf).unwrap(), Vec::<StoreOp>::new());
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let ops = every_kind();
        let mut buf = Vec::new();
        encode(ops.len() as u32, ops.iter().map(OpRef::from), &mut buf);
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut]).is_err(), "truncated to {cut} bytes");
        }
        buf.push(0);
        assert!(decode(&buf).unwrap_err().contains("trailing"));
    }

    #[test]
    fn huge_count_and_lengths_do_not_allocate() {
        assert!(
            decode(&u32::MAX.to_le_bytes())
                .unwrap_err()
                .contains("op count")
        );
        let mut buf = 1u32.to_le_bytes().to_vec();
        buf.push(TAG_REMOVE_TASK);
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&buf).unwrap_err().contains("needs"));
    }

    #[test]
    fn unknown_tag_and_bad_utf8_are_named() {
        let mut buf = 1u32.to_le_bytes().to_vec();
        buf.extend_from_slice(&[11, 0, 0, 0, 0]);
        assert!(decode(&buf).unwrap_err().contains("unknown op tag 11"));
        let mut buf = 1u32.to_le_bytes().to_vec();
        buf.extend_from_slice(&[TAG_REMOVE_APP, 1, 0, 0, 0, 0xFF]);
        assert!(
            decode(&buf)
                .unwrap_err()
                .contains("string at payload byte 9")
        );
    }
}

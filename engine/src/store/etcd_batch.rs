//! The pure half of the etcd store: which key each op writes, the value's
//! bytes, how batches become transactions within etcd's limits, and how the
//! keys read back become a [`Recovered`].
//!
//! No IO here: everything is tested without an etcd.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::Range;

use crate::core::{Recovered, StoreOp, TaskRecord};

use super::codec::{self, OpRef};

/// etcd's default `--max-txn-ops`: a transaction with more operations is
/// refused.
pub const ETCD_MAX_TXN_OPS: usize = 128;

/// Our default bound on the bytes of one transaction's keys and values.
/// etcd refuses requests over `--max-request-bytes` (1.5 MiB by default);
/// 1 MiB leaves room for the compares, the protobuf framing and a member
/// configured a little lower.
pub const DEFAULT_MAX_TXN_BYTES: usize = 1024 * 1024;

/// What one put or delete costs in a request besides its key and value
/// (protobuf tags, lengths, the lease field): an upper bound, so the sum
/// stays an upper bound of the request's size.
const PER_OP_OVERHEAD: usize = 32;

/// The keys of one tritium's state under its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// `prefix` starts with `/` and has no trailing `/` (see `EtcdUrl`).
    pub(crate) fn new(prefix: &str) -> Keys {
        debug_assert!(prefix.starts_with('/') && !prefix.ends_with('/'));
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn framework_id(&self) -> String {
        format!("{}/framework_id", self.prefix)
    }

    pub(crate) fn leader(&self) -> String {
        format!("{}/leader", self.prefix)
    }

    /// Where formats before 3 kept apps (`<prefix>/apps/<name>`): read at
    /// recovery as the app service's records `apps/<name>`, deleted when
    /// that record is next written.
    pub(crate) fn apps(&self) -> String {
        format!("{}/apps/", self.prefix)
    }

    /// Where the framework's records live: `<prefix>/records/<key>`.
    pub(crate) fn records(&self) -> String {
        format!("{}/records/", self.prefix)
    }

    /// The key an older format kept record `key` under, if it is an app's.
    fn legacy(&self, key: &str) -> Option<String> {
        key.strip_prefix(tritium_core::apps::APP_KEY_PREFIX)
            .map(|name| format!("{}{name}", self.apps()))
    }

    pub(crate) fn tasks(&self) -> String {
        format!("{}/tasks/", self.prefix)
    }

    /// The key `op` writes or deletes.
    pub(crate) fn of(&self, op: &StoreOp) -> String {
        match op {
            StoreOp::FrameworkId(_) => self.framework_id(),
            StoreOp::PutRecord { key, .. } | StoreOp::RemoveRecord(key) => {
                format!("{}{key}", self.records())
            }
            StoreOp::PutTask(t) => format!("{}{}", self.tasks(), t.id),
            StoreOp::RemoveTask(id) => format!("{}{id}", self.tasks()),
        }
    }
}

/// The value stored for a put: the store format version (u16 LE, so a
/// newer tritium's values are refused rather than misread), then the op
/// alone in the file store's op encoding.
pub(crate) fn encode_value(op: &StoreOp) -> Vec<u8> {
    let op = OpRef::from(op);
    let mut out = Vec::with_capacity(2 + codec::encoded_len_one(op) as usize);
    out.extend_from_slice(&super::FORMAT_VERSION.to_le_bytes());
    codec::encode_one(op, &mut out);
    out
}

/// The encoded size of [`encode_value`]'s result, without encoding.
fn value_len(op: &StoreOp) -> u64 {
    2 + codec::encoded_len_one(OpRef::from(op))
}

/// Reads a value [`encode_value`] wrote.
pub(crate) fn decode_value(value: &[u8]) -> Result<StoreOp, String> {
    let (version, payload) = match value {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => return Err(format!("{} bytes, too short for a value", value.len())),
    };
    if !super::readable(version) {
        return Err(format!(
            "format version {version} is not supported (this tritium reads versions {} to {}); \
             was it written by a newer tritium?",
            super::MIN_READ_VERSION,
            super::FORMAT_VERSION
        ));
    }
    codec::decode_one(payload)
}

/// One key's change: a put of `value`, or a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    pub key: String,
    /// `None`: delete the key.
    pub value: Option<Vec<u8>>,
}

impl Write {
    fn cost(&self) -> usize {
        self.key.len() + self.value.as_ref().map_or(0, Vec::len) + PER_OP_OVERHEAD
    }
}

/// The limits one transaction must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxnLimits {
    pub max_ops: usize,
    pub max_bytes: usize,
}

/// A batch no transaction can hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "key {key:?} would take {bytes} bytes in a request, over the {limit}-byte limit of one etcd \
     transaction"
)]
pub(crate) struct TooLarge {
    pub key: String,
    pub bytes: u64,
    pub limit: usize,
}

/// The writes of one or more consecutive batches, one per key (the last op
/// on a key wins: etcd refuses a transaction touching a key twice), ready
/// to be cut into transactions.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    writes: Vec<Write>,
    index: HashMap<String, usize>,
    bytes: usize,
    /// The last batch in the plan: what a commit reports.
    pub last_seq: u64,
    /// Batches in the plan.
    pub batches: usize,
}

impl Plan {
    /// The writes of one batch. Fails, writing nothing, if one op alone is
    /// too big for a transaction.
    pub(crate) fn of_batch(
        keys: &Keys,
        seq: u64,
        ops: &[StoreOp],
        limits: TxnLimits,
    ) -> Result<Plan, TooLarge> {
        let mut plan = Plan {
            last_seq: seq,
            batches: 1,
            ..Plan::default()
        };
        for op in ops {
            let key = keys.of(op);
            let value = match op {
                StoreOp::RemoveRecord(_) | StoreOp::RemoveTask(_) => None,
                _ => {
                    let bytes = value_len(op) + (key.len() + PER_OP_OVERHEAD) as u64;
                    if bytes > limits.max_bytes as u64 {
                        return Err(TooLarge {
                            key,
                            bytes,
                            limit: limits.max_bytes,
                        });
                    }
                    Some(encode_value(op))
                }
            };
            plan.set(Write { key, value });
            // An app written in an older format's place is deleted there
            // once its record is written or removed (else a restart would
            // bring back a removed app).
            if let StoreOp::PutRecord { key, .. } | StoreOp::RemoveRecord(key) = op
                && let Some(old) = keys.legacy(key)
            {
                plan.set(Write {
                    key: old,
                    value: None,
                });
            }
        }
        Ok(plan)
    }

    fn set(&mut self, w: Write) {
        self.bytes += w.cost();
        match self.index.entry(w.key.clone()) {
            Entry::Occupied(e) => {
                let old = std::mem::replace(&mut self.writes[*e.get()], w);
                self.bytes -= old.cost();
            }
            Entry::Vacant(e) => {
                e.insert(self.writes.len());
                self.writes.push(w);
            }
        }
    }

    /// Whether the plan fits one transaction.
    pub(crate) fn fits_one(&self, limits: TxnLimits) -> bool {
        self.writes.len() <= limits.max_ops && self.bytes <= limits.max_bytes
    }

    /// Folds the next batch's plan into this one if the result still fits
    /// one transaction; gives it back otherwise. Folding keeps every folded
    /// batch atomic (they all go in the one transaction) and lets one etcd
    /// round trip commit several engine turns: group commit.
    pub(crate) fn absorb(&mut self, next: Plan, limits: TxnLimits) -> Result<(), Plan> {
        debug_assert!(next.last_seq > self.last_seq || next.last_seq == 1);
        let mut ops = self.writes.len();
        let mut bytes = self.bytes;
        for w in &next.writes {
            bytes += w.cost();
            match self.index.get(&w.key) {
                Some(&i) => bytes -= self.writes[i].cost(),
                None => ops += 1,
            }
        }
        if !self.fits_one(limits) || ops > limits.max_ops || bytes > limits.max_bytes {
            return Err(next);
        }
        for w in next.writes {
            self.set(w);
        }
        debug_assert_eq!((self.writes.len(), self.bytes), (ops, bytes));
        self.last_seq = next.last_seq;
        self.batches += next.batches;
        Ok(())
    }

    pub(crate) fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// The plan cut into transactions, in order, each within `limits`.
    /// Every write fits alone ([`Plan::of_batch`] checked it).
    pub(crate) fn txns(&self, limits: TxnLimits) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let (mut start, mut bytes) = (0, 0);
        for (i, w) in self.writes.iter().enumerate() {
            let cost = w.cost();
            if i > start && (i - start == limits.max_ops || bytes + cost > limits.max_bytes) {
                out.push(start..i);
                (start, bytes) = (i, 0);
            }
            bytes += cost;
        }
        if start < self.writes.len() {
            out.push(start..self.writes.len());
        }
        out
    }
}

/// Builds the recovered state from the keys read at one revision. `Err`
/// names the key whose value is damaged or does not match its key.
pub(crate) fn recovered(
    keys: &Keys,
    framework_id: Option<(Vec<u8>, Vec<u8>)>,
    apps: Vec<(Vec<u8>, Vec<u8>)>,
    records: Vec<(Vec<u8>, Vec<u8>)>,
    tasks: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<Recovered, String> {
    let bad = |key: &[u8], why: String| {
        format!(
            "etcd key {:?}: {why}; refusing to start on state that may be damaged",
            String::from_utf8_lossy(key)
        )
    };
    let mut out = Recovered::default();
    if let Some((key, value)) = framework_id {
        match decode_value(&value).map_err(|e| bad(&key, e))? {
            StoreOp::FrameworkId(id) => out.framework_id = Some(id),
            other => return Err(bad(&key, format!("holds {}", op_kind(&other)))),
        }
    }
    let tasks_prefix = keys.tasks();
    // Apps of older formats first: a record under the same key is newer.
    for (key, value) in apps {
        match decode_value(&value).map_err(|e| bad(&key, e))? {
            StoreOp::PutRecord { key: k, value }
                if keys
                    .legacy(&k)
                    .is_some_and(|old| old.as_bytes() == key.as_slice()) =>
            {
                out.records.insert(k, value);
            }
            other => return Err(bad(&key, format!("holds {}", op_kind(&other)))),
        }
    }
    let records_prefix = keys.records();
    for (key, value) in records {
        match decode_value(&value).map_err(|e| bad(&key, e))? {
            StoreOp::PutRecord { key: k, value } if key_is(&key, &records_prefix, &k) => {
                out.records.insert(k, value);
            }
            other => return Err(bad(&key, format!("holds {}", op_kind(&other)))),
        }
    }
    for (key, value) in tasks {
        match decode_value(&value).map_err(|e| bad(&key, e))? {
            StoreOp::PutTask(t) if key_is(&key, &tasks_prefix, &t.id) => out.tasks.push(t),
            other => return Err(bad(&key, format!("holds {}", op_kind(&other)))),
        }
    }
    Ok(out)
}

fn key_is(key: &[u8], prefix: &str, name: &str) -> bool {
    key.strip_prefix(prefix.as_bytes()) == Some(name.as_bytes())
}

fn op_kind(op: &StoreOp) -> String {
    match op {
        StoreOp::FrameworkId(_) => "a framework id".into(),
        StoreOp::PutRecord { key, .. } => format!("record {key:?}"),
        StoreOp::RemoveRecord(_) => "a record removal".into(),
        StoreOp::PutTask(TaskRecord { id, .. }) => format!("task {id:?}"),
        StoreOp::RemoveTask(_) => "a task removal".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{AppRecord, AppSpec};
    use tritium_core::apps::app_record_op;

    fn task(id: &str, state: i32) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            app: "web".into(),
            instance: 0,
            agent_id: "a1".into(),
            state,
            version: 1,
            host: "h1".into(),
            ports: vec![31000],
            unreachable_time: None,
        }
    }

    const LIMITS: TxnLimits = TxnLimits {
        max_ops: ETCD_MAX_TXN_OPS,
        max_bytes: DEFAULT_MAX_TXN_BYTES,
    };

    #[test]
    fn keys_and_values() {
        let keys = Keys::new("/t");
        let app = AppRecord::new(AppSpec::command_app("web", 1, 0.1, 32.0, "true"));
        assert_eq!(
            keys.of(&StoreOp::FrameworkId("f".into())),
            "/t/framework_id"
        );
        assert_eq!(keys.of(&app_record_op(&app)), "/t/records/apps/web");
        assert_eq!(
            keys.of(&StoreOp::RemoveRecord("apps/web".into())),
            "/t/records/apps/web"
        );
        assert_eq!(keys.of(&StoreOp::PutTask(task("x.1", 1))), "/t/tasks/x.1");
        assert_eq!(keys.of(&StoreOp::RemoveTask("x.1".into())), "/t/tasks/x.1");
        assert_eq!(keys.leader(), "/t/leader");
        for op in [app_record_op(&app), StoreOp::PutTask(task("x.1", 1))] {
            let v = encode_value(&op);
            assert_eq!(v.len() as u64, value_len(&op));
            assert_eq!(decode_value(&v).unwrap(), op);
        }
        let mut v = encode_value(&StoreOp::FrameworkId("f".into()));
        v[0] = 0xFF;
        assert!(decode_value(&v).unwrap_err().contains("newer tritium"));
        assert!(decode_value(&[2]).unwrap_err().contains("too short"));
        assert!(decode_value(&[2, 0, 1]).is_err());
    }

    #[test]
    fn last_op_on_a_key_wins() {
        let keys = Keys::new("/t");
        let ops = vec![
            StoreOp::PutTask(task("a", 1)),
            StoreOp::PutTask(task("b", 1)),
            StoreOp::PutTask(task("a", 2)),
            StoreOp::RemoveTask("b".into()),
        ];
        let plan = Plan::of_batch(&keys, 7, &ops, LIMITS).unwrap();
        assert_eq!(plan.last_seq, 7);
        let w = plan.writes();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].key, "/t/tasks/a");
        assert_eq!(
            decode_value(w[0].value.as_ref().unwrap()).unwrap(),
            StoreOp::PutTask(task("a", 2))
        );
        assert_eq!(
            w[1],
            Write {
                key: "/t/tasks/b".into(),
                value: None
            }
        );
        assert_eq!(plan.bytes, w.iter().map(Write::cost).sum::<usize>());
    }

    #[test]
    fn big_batches_split_within_both_limits() {
        let keys = Keys::new("/t");
        let ops: Vec<_> = (0..300)
            .map(|i| StoreOp::PutTask(task(&format!("t{i:03}"), 1)))
            .collect();
        let plan = Plan::of_batch(&keys, 1, &ops, LIMITS).unwrap();
        assert!(!plan.fits_one(LIMITS));
        let txns = plan.txns(LIMITS);
        assert_eq!(txns, vec![0..128, 128..256, 256..300]);

        // A byte limit cuts earlier; every part stays within it.
        let cost = plan.writes()[0].cost();
        let small = TxnLimits {
            max_ops: 128,
            max_bytes: cost * 10 + cost / 2,
        };
        let txns = plan.txns(small);
        assert_eq!(txns.len(), 30);
        for r in &txns {
            let bytes: usize = plan.writes()[r.clone()].iter().map(Write::cost).sum();
            assert!(r.len() <= 10 && bytes <= small.max_bytes, "{r:?}: {bytes}");
        }
        // Every write is in exactly one part, in order.
        let joined: Vec<usize> = txns.into_iter().flatten().collect();
        assert_eq!(joined, (0..300).collect::<Vec<_>>());
    }

    #[test]
    fn a_value_too_big_for_any_txn_is_refused() {
        let keys = Keys::new("/t");
        let mut t = task("huge", 1);
        t.host = "h".repeat(2000).into();
        let limits = TxnLimits {
            max_ops: 128,
            max_bytes: 1000,
        };
        let e = Plan::of_batch(&keys, 1, &[StoreOp::PutTask(t)], limits).unwrap_err();
        assert_eq!(e.key, "/t/tasks/huge");
        assert!(e.to_string().contains("over the 1000-byte limit"), "{e}");
        // Deletes are tiny and always fit.
        assert!(Plan::of_batch(&keys, 1, &[StoreOp::RemoveTask("huge".into())], limits).is_ok());
    }

    #[test]
    fn consecutive_batches_fold_while_they_fit_one_txn() {
        let keys = Keys::new("/t");
        let batch = |seq: u64, from: usize, n: usize| {
            let ops: Vec<_> = (from..from + n)
                .map(|i| StoreOp::PutTask(task(&format!("t{i}"), seq as i32)))
                .collect();
            Plan::of_batch(&keys, seq, &ops, LIMITS).unwrap()
        };
        let mut plan = batch(1, 0, 60);
        plan.absorb(batch(2, 30, 60), LIMITS).unwrap(); // 30 overlap: 90 keys
        assert_eq!(
            (plan.writes().len(), plan.last_seq, plan.batches),
            (90, 2, 2)
        );
        // The later batch's value won on the shared keys.
        let w = &plan.writes()[30];
        assert_eq!(
            decode_value(w.value.as_ref().unwrap()).unwrap(),
            StoreOp::PutTask(task("t30", 2))
        );
        // 90 + 60 > 128: refused, handed back untouched.
        let back = plan.absorb(batch(3, 200, 60), LIMITS).unwrap_err();
        assert_eq!((back.last_seq, back.writes().len()), (3, 60));
        assert_eq!((plan.writes().len(), plan.last_seq), (90, 2));
        // A plan already too big for one txn takes nothing more.
        let mut big = batch(4, 0, 200);
        assert!(big.absorb(batch(5, 0, 1), LIMITS).is_err());
    }

    #[test]
    fn recovery_checks_values_against_keys() {
        let keys = Keys::new("/t");
        let kv = |op: StoreOp| (keys.of(&op).into_bytes(), encode_value(&op));
        let app = AppRecord::new(AppSpec::command_app("web", 1, 0.1, 32.0, "true"));
        let newer = AppRecord::new(AppSpec::command_app("db", 2, 0.1, 32.0, "true"));
        let older_db = AppRecord::new(AppSpec::command_app("db", 1, 0.1, 32.0, "true"));
        // Apps as format 2 wrote them: under `apps/`, the value a PutApp.
        let legacy = |a: &AppRecord| {
            let mut v = 2u16.to_le_bytes().to_vec();
            let mut payload = 1u32.to_le_bytes().to_vec();
            payload.push(6);
            let json = serde_json::to_string(a).unwrap();
            payload.extend_from_slice(&(json.len() as u32).to_le_bytes());
            payload.extend_from_slice(json.as_bytes());
            v.extend_from_slice(&payload);
            (format!("/t/apps/{}", a.name()).into_bytes(), v)
        };
        let r = recovered(
            &keys,
            Some(kv(StoreOp::FrameworkId("fw".into()))),
            vec![legacy(&app), legacy(&older_db)],
            vec![kv(app_record_op(&newer))],
            vec![kv(StoreOp::PutTask(task("a", 1)))],
        )
        .unwrap();
        assert_eq!(r.framework_id.as_deref(), Some("fw"));
        assert_eq!(
            tritium_core::apps::recovered_apps(&r.records),
            vec![newer, app],
            "older apps read as records; a record wins over its older app"
        );
        assert_eq!(r.tasks, vec![task("a", 1)]);
        // Writing an app's record deletes its older place.
        let plan = Plan::of_batch(
            &keys,
            1,
            &[StoreOp::RemoveRecord("apps/web".into())],
            LIMITS,
        )
        .unwrap();
        let deleted: Vec<&str> = plan.writes().iter().map(|w| w.key.as_str()).collect();
        assert_eq!(deleted, ["/t/records/apps/web", "/t/apps/web"]);

        // A task stored under another task's key is damage, not state.
        let (_, v) = kv(StoreOp::PutTask(task("a", 1)));
        let e = recovered(
            &keys,
            None,
            vec![],
            vec![],
            vec![(b"/t/tasks/b".to_vec(), v)],
        )
        .unwrap_err();
        assert!(e.contains("\"/t/tasks/b\": holds task \"a\""), "{e}");
        let e = recovered(
            &keys,
            None,
            vec![],
            vec![],
            vec![(b"/t/tasks/b".to_vec(), vec![2, 0, 9])],
        )
        .unwrap_err();
        assert!(
            e.contains("/t/tasks/b") && e.contains("refusing to start"),
            "{e}"
        );
    }
}

//! The embedded file store's promises, tested on real files: every batch
//! committed is recovered; a torn last write is dropped, never anything
//! else; damage in the middle of the log or in the snapshot stops recovery
//! with the file and offset; compaction is safe at every crash point; one
//! directory has one owner.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Instant;

use proptest::prelude::*;
use tempfile::TempDir;
use tritium_engine::core::{AppRecord, AppSpec, Recovered, StoreOp, TaskRecord};
use tritium_engine::store::{
    FORMAT_VERSION, FileStore, FileStoreOptions, LOG_FILE, LOG_TMP_FILE, MAX_RECORD_PAYLOAD,
    SNAPSHOT_FILE, SNAPSHOT_TMP_FILE, StoreError, crc32c,
};

// ---------------------------------------------------------------- helpers

/// Layout constants from the documented format (store::log, store::snapshot).
const LOG_HEADER_LEN: usize = 22;
const RECORD_HEADER_LEN: usize = 18;

/// mesos.v1.TaskState numbers.
const TASK_STAGING: i32 = 6;
const TASK_RUNNING: i32 = 1;

/// The app service's record of app `a`.
fn put_app(a: Box<AppRecord>) -> StoreOp {
    tritium_engine::apps::app_record_op(&a)
}

/// The removal of app `name`'s record.
fn remove_app(name: String) -> StoreOp {
    StoreOp::RemoveRecord(tritium_engine::apps::app_key(&name))
}

fn app(name: &str, instances: u32) -> Box<AppRecord> {
    Box::new(AppRecord::new(AppSpec::command_app(
        name,
        instances,
        0.5,
        64.0,
        &format!("run {name} --port $PORT0"),
    )))
}

fn task(id: &str, app: &str, state: i32) -> TaskRecord {
    TaskRecord {
        id: id.into(),
        app: app.into(),
        instance: id.len() as u32,
        agent_id: format!("agent-{app}").into(),
        state,
        version: 1,
        host: format!("host-{app}").into(),
        ports: vec![31000 + id.len() as u32],
        unreachable_time: None,
    }
}

/// What recovery must yield after `batches`: the last write of every key.
fn model<'a>(batches: impl IntoIterator<Item = &'a Vec<StoreOp>>) -> Recovered {
    let mut fw = None;
    let mut records = BTreeMap::new();
    let mut tasks = BTreeMap::new();
    for op in batches.into_iter().flatten() {
        match op.clone() {
            StoreOp::FrameworkId(id) => fw = Some(id),
            StoreOp::PutRecord { key, value } => {
                records.insert(key, value);
            }
            StoreOp::RemoveRecord(key) => {
                records.remove(&key);
            }
            StoreOp::PutTask(t) => {
                tasks.insert(t.id.clone(), t);
            }
            StoreOp::RemoveTask(id) => {
                tasks.remove(id.as_str());
            }
        }
    }
    Recovered {
        framework_id: fw,
        records,
        tasks: tasks.into_values().collect(),
    }
}

fn open(dir: &Path) -> (FileStore, Recovered) {
    FileStore::open(dir).unwrap_or_else(|e| panic!("opening {}: {e}", dir.display()))
}

fn commit_all(store: &mut FileStore, batches: &[Vec<StoreOp>]) {
    for b in batches {
        store
            .commit(b)
            .unwrap_or_else(|e| panic!("commit {b:?}: {e}"));
    }
}

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A directory holding exactly `files` (name, contents): a store's files as
/// a crash left them.
fn dir_with(files: &[(&str, &[u8])]) -> TempDir {
    let d = tempdir();
    for (name, bytes) in files {
        fs::write(d.path().join(name), bytes).unwrap();
    }
    d
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    fs::read(dir.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

/// Some batches touching every op kind.
fn history() -> Vec<Vec<StoreOp>> {
    vec![
        vec![StoreOp::FrameworkId("fw-0001".into())],
        vec![
            put_app(app("web", 3)),
            put_app(app("db", 1)),
            put_app(app("gone", 1)),
        ],
        vec![
            StoreOp::PutTask(task("web.1", "web", TASK_STAGING)),
            StoreOp::PutTask(task("web.2", "web", TASK_STAGING)),
            StoreOp::PutTask(task("db.1", "db", TASK_STAGING)),
            StoreOp::PutTask(task("gone.1", "gone", TASK_STAGING)),
        ],
        vec![
            StoreOp::PutTask(task("web.1", "web", TASK_RUNNING)),
            StoreOp::RemoveTask("gone.1".into()),
            remove_app("gone".into()),
        ],
        vec![put_app(app("web", 5))],
    ]
}

fn one_more() -> Vec<StoreOp> {
    vec![
        StoreOp::PutTask(task("late.1", "web", TASK_RUNNING)),
        StoreOp::RemoveTask("web.2".into()),
    ]
}

fn assert_corrupt(err: StoreError, file: &str, offset: u64) -> String {
    let msg = err.to_string();
    match err {
        StoreError::Corrupt {
            file: f, offset: o, ..
        } => {
            assert!(
                f.ends_with(file),
                "corruption reported in {f:?}, not {file}: {msg}"
            );
            assert_eq!(o, offset, "corruption offset: {msg}");
        }
        other => panic!("expected Corrupt in {file} at {offset}, got {other:?}"),
    }
    msg
}

// ---------------------------------------------------------------- round trips

#[test]
fn every_op_kind_round_trips_across_reopen() {
    let d = tempdir();
    let (mut store, rec) = open(d.path());
    assert_eq!(rec, Recovered::default(), "a new store is empty");
    commit_all(&mut store, &history());
    assert_eq!(store.recovered(), model(&history()));
    drop(store);

    let (store, rec) = open(d.path());
    let want = model(&history());
    assert_eq!(rec, want, "state after reopen");
    // The spot checks a reader would do by hand.
    let apps = tritium_engine::apps::recovered_apps(&rec.records);
    assert_eq!(
        apps.iter()
            .map(|a| a.spec.name.as_str())
            .collect::<Vec<_>>(),
        ["db", "web"]
    );
    assert_eq!(apps[1].spec.instances, 5, "the later PutApp wins");
    assert!(
        rec.tasks.iter().all(|t| t.id != "gone.1"),
        "RemoveTask holds"
    );
    assert_eq!(
        rec.tasks.iter().find(|t| t.id == "web.1").unwrap().state,
        TASK_RUNNING
    );
    assert_eq!(store.recovery_info().log_records, history().len() as u64);
    assert_eq!(store.recovery_info().torn_tail, None);
}

#[test]
fn framework_id_is_persisted_and_the_latest_wins() {
    let d = tempdir();
    {
        let (mut store, rec) = open(d.path());
        assert_eq!(rec.framework_id, None);
        store
            .commit(&[StoreOp::FrameworkId("first".into())])
            .unwrap();
    }
    {
        let (mut store, rec) = open(d.path());
        assert_eq!(rec.framework_id.as_deref(), Some("first"));
        store
            .commit(&[StoreOp::FrameworkId("second".into())])
            .unwrap();
        store.compact().unwrap();
        store.commit(&[put_app(app("x", 1))]).unwrap();
    }
    let (_store, rec) = open(d.path());
    assert_eq!(
        rec.framework_id.as_deref(),
        Some("second"),
        "from the snapshot"
    );
}

#[test]
fn empty_batch_writes_nothing() {
    let d = tempdir();
    let (mut store, _) = open(d.path());
    let before = read(d.path(), LOG_FILE);
    store.commit(&[]).unwrap();
    assert_eq!(read(d.path(), LOG_FILE), before);
    assert_eq!(store.log_records(), 0);
}

// ---------------------------------------------------------------- torn tails

/// A log holding `history()` then `last`, with the offsets where `last`
/// starts and ends.
fn log_with_last(last: &[StoreOp]) -> (Vec<u8>, usize, usize) {
    let d = tempdir();
    let (mut store, _) = open(d.path());
    commit_all(&mut store, &history());
    let start = store.log_len() as usize;
    store.commit(last).unwrap();
    let end = store.log_len() as usize;
    drop(store);
    let bytes = read(d.path(), LOG_FILE);
    assert_eq!(bytes.len(), end, "log_len matches the file");
    (bytes, start, end)
}

/// Opens a store whose log is `log`, expects `history()` back with a torn
/// tail at `torn_at`, and checks that the log was truncated there and that
/// the next commit appends cleanly.
fn check_torn_recovery(log: &[u8], torn_at: usize, what: &str) {
    let d = dir_with(&[(LOG_FILE, log)]);
    let (mut store, rec) = FileStore::open(d.path()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        rec,
        model(&history()),
        "{what}: the state before the last record"
    );
    let torn = store
        .recovery_info()
        .torn_tail
        .clone()
        .unwrap_or_else(|| panic!("{what}: no torn tail reported"));
    assert_eq!(torn.offset, torn_at as u64, "{what}: torn tail offset");
    assert_eq!(torn.dropped_bytes, (log.len() - torn_at) as u64, "{what}");
    assert_eq!(
        read(d.path(), LOG_FILE).len(),
        torn_at,
        "{what}: log truncated"
    );

    store.commit(&one_more()).unwrap();
    drop(store);
    let (store, rec) = open(d.path());
    assert_eq!(
        rec,
        model(history().iter().chain([&one_more()])),
        "{what}: a commit after recovery is kept"
    );
    assert_eq!(
        store.recovery_info().torn_tail,
        None,
        "{what}: appends are clean"
    );
}

#[test]
fn torn_write_at_every_byte_of_the_last_record_recovers_the_previous_state() {
    let last = vec![
        StoreOp::PutTask(task("web.3", "web", TASK_STAGING)),
        StoreOp::FrameworkId("fw-torn".into()),
    ];
    let (log, start, end) = log_with_last(&last);
    for cut in start + 1..end {
        check_torn_recovery(
            &log[..cut],
            start,
            &format!("log cut at byte {cut} of {end}"),
        );
    }
    // Cut exactly at the record boundary: nothing torn, previous state.
    let d = dir_with(&[(LOG_FILE, &log[..start])]);
    let (store, rec) = open(d.path());
    assert_eq!(rec, model(&history()));
    assert_eq!(store.recovery_info().torn_tail, None);
}

#[test]
fn torn_write_that_left_zeros_is_dropped_too() {
    // Some file systems grow the file before the data lands: the tail
    // reads back as zeros of the full length, or of part of it.
    let (log, start, end) = log_with_last(&one_more());
    for written in [start, start + 1, start + RECORD_HEADER_LEN, end - 1] {
        let mut torn = log.clone();
        torn[written..end].fill(0);
        check_torn_recovery(&torn, start, &format!("zeros from byte {written} to {end}"));
    }
}

#[test]
fn bit_flip_anywhere_in_the_last_record_is_a_torn_tail() {
    let (log, start, end) = log_with_last(&one_more());
    for i in start..end {
        for bit in 0..8 {
            let mut bad = log.clone();
            bad[i] ^= 1 << bit;
            check_torn_recovery(&bad, start, &format!("bit {bit} of byte {i} flipped"));
        }
    }
}

// ---------------------------------------------------------------- corruption

#[test]
fn bit_flip_anywhere_in_a_middle_record_is_reported_not_skipped() {
    let d = tempdir();
    let (mut store, _) = open(d.path());
    commit_all(&mut store, &history()[..2]);
    let start = store.log_len() as usize;
    commit_all(&mut store, &history()[2..3]);
    let end = store.log_len() as usize;
    commit_all(&mut store, &history()[3..]);
    drop(store);
    let log = read(d.path(), LOG_FILE);

    for i in start..end {
        for bit in 0..8 {
            let mut bad = log.clone();
            bad[i] ^= 1 << bit;
            let d = dir_with(&[(LOG_FILE, &bad)]);
            let err = FileStore::open(d.path())
                .map(|(_, rec)| rec)
                .expect_err(&format!(
                    "bit {bit} of byte {i} flipped: recovery must refuse"
                ));
            let msg = assert_corrupt(err, LOG_FILE, start as u64);
            assert!(msg.contains("not a torn write"), "{msg}");
            assert_eq!(
                read(d.path(), LOG_FILE),
                bad,
                "a refused log is left untouched"
            );
        }
    }
}

/// Every record boundary of a log of several batches: a cut there
/// recovers exactly the batches before it; a cut one byte further is a
/// torn tail dropped back to it; a bit flipped in the first or the last
/// byte of any record but the last is reported as corruption at that
/// record, and in the last record it is a torn tail.
#[test]
fn cuts_and_flips_at_every_record_boundary() {
    let d = tempdir();
    let (mut store, _) = open(d.path());
    let batches = history();
    let mut bounds = vec![store.log_len() as usize];
    for b in &batches {
        store.commit(b).unwrap();
        bounds.push(store.log_len() as usize);
    }
    drop(store);
    let log = read(d.path(), LOG_FILE);
    assert_eq!(*bounds.last().unwrap(), log.len());

    for (k, &at) in bounds.iter().enumerate() {
        let d = dir_with(&[(LOG_FILE, &log[..at])]);
        let (store, rec) = FileStore::open(d.path())
            .unwrap_or_else(|e| panic!("cut at boundary {k} (byte {at}): {e}"));
        assert_eq!(rec, model(&batches[..k]), "cut at boundary {k}");
        assert_eq!(store.recovery_info().torn_tail, None, "boundary {k}");
        if at < log.len() {
            let d = dir_with(&[(LOG_FILE, &log[..at + 1])]);
            let (store, rec) = FileStore::open(d.path()).unwrap();
            assert_eq!(rec, model(&batches[..k]), "cut just past boundary {k}");
            let torn = store.recovery_info().torn_tail.clone();
            assert_eq!(
                torn.map(|t| t.offset),
                Some(at as u64),
                "torn tail at boundary {k}"
            );
        }
    }

    let records = bounds.len() - 1;
    for r in 0..records {
        let (start, end) = (bounds[r], bounds[r + 1]);
        for i in [start, end - 1] {
            let mut bad = log.clone();
            bad[i] ^= 0x10;
            let d = dir_with(&[(LOG_FILE, &bad)]);
            let opened = FileStore::open(d.path());
            if r + 1 < records {
                let err = opened.map(|(_, rec)| rec).expect_err(&format!(
                    "record {r}, byte {i} flipped: recovery must refuse"
                ));
                assert_corrupt(err, LOG_FILE, start as u64);
            } else {
                let (store, rec) = opened.unwrap();
                assert_eq!(rec, model(&batches[..r]), "last record, byte {i}");
                assert_eq!(
                    store.recovery_info().torn_tail.clone().map(|t| t.offset),
                    Some(start as u64)
                );
            }
        }
    }
}

#[test]
fn damaged_log_header_is_refused() {
    let d = tempdir();
    let (mut store, _) = open(d.path());
    commit_all(&mut store, &history());
    drop(store);
    let log = read(d.path(), LOG_FILE);
    for i in 0..LOG_HEADER_LEN {
        let mut bad = log.clone();
        bad[i] ^= 0x10;
        let d = dir_with(&[(LOG_FILE, &bad)]);
        assert_corrupt(FileStore::open(d.path()).unwrap_err(), LOG_FILE, 0);
    }
    let d = dir_with(&[(LOG_FILE, &log[..LOG_HEADER_LEN - 1])]);
    assert_corrupt(FileStore::open(d.path()).unwrap_err(), LOG_FILE, 0);
}

#[test]
fn corrupt_snapshot_is_a_hard_error() {
    let d = tempdir();
    let (mut store, _) = open(d.path());
    commit_all(&mut store, &history());
    store.compact().unwrap();
    drop(store);
    let snapshot = read(d.path(), SNAPSHOT_FILE);
    let log = read(d.path(), LOG_FILE);
    for i in (0..snapshot.len()).step_by(3) {
        let mut bad = snapshot.clone();
        bad[i] ^= 0x04;
        let d = dir_with(&[(SNAPSHOT_FILE, &bad), (LOG_FILE, &log)]);
        let err = FileStore::open(d.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(&err, StoreError::Corrupt { file, .. } if file.ends_with(SNAPSHOT_FILE)),
            "byte {i} of the snapshot flipped: {msg}"
        );
        assert!(
            msg.contains("snapshot"),
            "the message names the snapshot: {msg}"
        );
    }
    let d = dir_with(&[
        (SNAPSHOT_FILE, &snapshot[..snapshot.len() - 1]),
        (LOG_FILE, &log),
    ]);
    assert_corrupt(FileStore::open(d.path()).unwrap_err(), SNAPSHOT_FILE, 34);
}

#[test]
fn missing_snapshot_under_a_later_log_is_refused() {
    let d = tempdir();
    let (mut store, _) = open(d.path());
    commit_all(&mut store, &history());
    store.compact().unwrap();
    store.commit(&one_more()).unwrap();
    drop(store);
    fs::remove_file(d.path().join(SNAPSHOT_FILE)).unwrap();
    let msg = assert_corrupt(FileStore::open(d.path()).unwrap_err(), LOG_FILE, 0);
    assert!(msg.contains("missing"), "{msg}");
}

/// Rewrites the version field at `at` and re-seals the header checksum that
/// covers `header` (a range within `bytes`) and is stored at `crc_at`.
fn with_version(
    bytes: &[u8],
    at: usize,
    header: std::ops::Range<usize>,
    crc_at: usize,
    version: u16,
) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at..at + 2].copy_from_slice(&version.to_le_bytes());
    let crc = crc32c(&b[header]);
    b[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    b
}

#[test]
fn unknown_format_versions_are_refused_clearly() {
    let newer = FORMAT_VERSION + 1;
    let (log, start, _) = log_with_last(&one_more());

    // A record of a newer format, intact, at the end of the log: not a
    // torn tail, and not to be truncated away.
    let bad = with_version(&log, start + 4, start..start + 14, start + 14, newer);
    let d = dir_with(&[(LOG_FILE, &bad)]);
    let err = FileStore::open(d.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, StoreError::UnsupportedVersion { offset, found, supported, .. }
            if offset == start as u64 && found == newer && supported == FORMAT_VERSION),
        "{msg}"
    );
    assert!(msg.contains("newer tritium"), "{msg}");
    assert_eq!(read(d.path(), LOG_FILE), bad, "nothing truncated");

    // A log header of a newer format.
    let bad = with_version(&log, 8, 0..18, 18, newer);
    let d = dir_with(&[(LOG_FILE, &bad)]);
    assert!(matches!(
        FileStore::open(d.path()).unwrap_err(),
        StoreError::UnsupportedVersion { offset: 0, found, .. } if found == newer
    ));

    // A snapshot of a newer format.
    let d = tempdir();
    let (mut store, _) = open(d.path());
    commit_all(&mut store, &history());
    store.compact().unwrap();
    drop(store);
    let bad = with_version(&read(d.path(), SNAPSHOT_FILE), 8, 0..30, 30, newer);
    fs::write(d.path().join(SNAPSHOT_FILE), &bad).unwrap();
    let err = FileStore::open(d.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::UnsupportedVersion { file, found, .. }
            if file.ends_with(SNAPSHOT_FILE) && *found == newer),
        "{err}"
    );
}

// ---------------------------------------------------------------- compaction

/// Batches that keep rewriting a bounded set of keys, so compaction has
/// something to fold.
fn churn(n: usize) -> Vec<Vec<StoreOp>> {
    (0..n)
        .map(|i| {
            let id = format!("t{}", i % 17);
            let mut b = vec![StoreOp::PutTask(task(&id, "web", (i % 8) as i32))];
            if i % 5 == 0 {
                b.push(StoreOp::RemoveTask(format!("t{}", (i + 3) % 17)));
            }
            if i % 7 == 0 {
                b.push(put_app(app(&format!("app{}", i % 3), i as u32)));
            }
            if i % 11 == 0 {
                b.push(remove_app(format!("app{}", (i + 1) % 3)));
            }
            if i % 13 == 0 {
                b.push(StoreOp::FrameworkId(format!("fw-{i}")));
            }
            b
        })
        .collect()
}

#[test]
fn compaction_keeps_state_across_reopen() {
    for options in [
        FileStoreOptions {
            compact_log_bytes: u64::MAX,
            compact_log_records: 10,
        },
        FileStoreOptions {
            compact_log_bytes: 600,
            compact_log_records: u64::MAX,
        },
    ] {
        let d = tempdir();
        let batches = churn(95);
        let (mut store, _) = FileStore::open_with(d.path(), options).unwrap();
        commit_all(&mut store, &batches);
        assert!(
            store.log_generation() > 5,
            "{options:?}: compacted repeatedly"
        );
        // Compaction runs before a commit, so the log may exceed a
        // threshold by one batch.
        assert!(
            store.log_records() <= options.compact_log_records.saturating_add(1)
                && store.log_len() <= options.compact_log_bytes.saturating_add(200),
            "{options:?}: the log stays short: {store:?}"
        );
        assert_eq!(store.recovered(), model(&batches));
        let generation = store.log_generation();
        drop(store);

        let (store, rec) = FileStore::open_with(d.path(), options).unwrap();
        assert_eq!(rec, model(&batches), "{options:?}: state after reopen");
        let info = store.recovery_info();
        assert_eq!(info.snapshot_generation, Some(generation - 1));
        assert_eq!(info.log_generation, generation);
        assert!(!d.path().join(SNAPSHOT_TMP_FILE).exists());
        assert!(!d.path().join(LOG_TMP_FILE).exists());
    }
}

/// A store directory's files: (name, contents).
type Files = Vec<(&'static str, Vec<u8>)>;

/// The files of a store just before and just after one compaction.
struct CompactionStep {
    /// `snapshot` (absent before the first compaction) and `log`, before.
    before: Files,
    new_snapshot: Vec<u8>,
    new_log: Vec<u8>,
    state: Recovered,
}

fn compaction_step(earlier_compaction: bool) -> CompactionStep {
    let d = tempdir();
    let (mut store, _) = open(d.path());
    let h = history();
    commit_all(&mut store, &h[..2]);
    if earlier_compaction {
        store.compact().unwrap();
    }
    commit_all(&mut store, &h[2..]);
    let mut before = vec![(LOG_FILE, read(d.path(), LOG_FILE))];
    if earlier_compaction {
        before.push((SNAPSHOT_FILE, read(d.path(), SNAPSHOT_FILE)));
    }
    store.compact().unwrap();
    let step = CompactionStep {
        before,
        new_snapshot: read(d.path(), SNAPSHOT_FILE),
        new_log: read(d.path(), LOG_FILE),
        state: model(&h),
    };
    assert_eq!(
        step.new_log.len(),
        LOG_HEADER_LEN,
        "a compacted log is only a header"
    );
    step
}

#[test]
fn crash_at_every_step_of_compaction_recovers_the_same_state() {
    for earlier_compaction in [false, true] {
        let s = compaction_step(earlier_compaction);
        let before = |extra: &[(&'static str, &[u8])]| -> Files {
            let mut files: Vec<_> = s
                .before
                .iter()
                .filter(|(n, _)| !extra.iter().any(|(e, _)| e == n))
                .cloned()
                .collect();
            files.extend(extra.iter().map(|(n, b)| (*n, b.to_vec())));
            files
        };
        let half_snapshot = &s.new_snapshot[..s.new_snapshot.len() / 2];
        let cases: Vec<(&str, Files, bool)> = vec![
            ("nothing written yet", before(&[]), false),
            (
                "snapshot.tmp empty",
                before(&[(SNAPSHOT_TMP_FILE, &[])]),
                false,
            ),
            (
                "snapshot.tmp half written",
                before(&[(SNAPSHOT_TMP_FILE, half_snapshot)]),
                false,
            ),
            (
                "snapshot.tmp written, not renamed",
                before(&[(SNAPSHOT_TMP_FILE, &s.new_snapshot)]),
                false,
            ),
            (
                "snapshot renamed, old log still in place",
                before(&[(SNAPSHOT_FILE, &s.new_snapshot)]),
                true,
            ),
            (
                "snapshot renamed, log.tmp half written",
                before(&[
                    (SNAPSHOT_FILE, &s.new_snapshot),
                    (LOG_TMP_FILE, &s.new_log[..LOG_HEADER_LEN / 2]),
                ]),
                true,
            ),
            (
                "snapshot renamed, log.tmp written, not renamed",
                before(&[(SNAPSHOT_FILE, &s.new_snapshot), (LOG_TMP_FILE, &s.new_log)]),
                true,
            ),
            (
                "compaction complete",
                vec![
                    (SNAPSHOT_FILE, s.new_snapshot.clone()),
                    (LOG_FILE, s.new_log.clone()),
                ],
                false,
            ),
        ];
        for (what, files, stale_log) in cases {
            let what = format!("{what} (earlier compaction: {earlier_compaction})");
            let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
            let d = dir_with(&refs);
            let (mut store, rec) =
                FileStore::open(d.path()).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(rec, s.state, "{what}: recovered state");
            assert_eq!(
                store.recovery_info().stale_log_replaced,
                stale_log,
                "{what}"
            );
            assert!(
                !d.path().join(SNAPSHOT_TMP_FILE).exists(),
                "{what}: temp removed"
            );
            assert!(
                !d.path().join(LOG_TMP_FILE).exists(),
                "{what}: temp removed"
            );

            // What is committed after recovery must land in a log the next
            // recovery replays (not one the snapshot already covers).
            store.commit(&one_more()).unwrap();
            drop(store);
            let (_, rec) = open(d.path());
            let mut want = history();
            want.push(one_more());
            assert_eq!(rec, model(&want), "{what}: commit after recovery survives");
        }
    }
}

// ---------------------------------------------------------------- ownership, limits

#[test]
fn second_open_of_a_directory_is_refused_while_the_first_lives() {
    let d = tempdir();
    let (mut first, _) = open(d.path());
    first.commit(&history()[0]).unwrap();

    let err = FileStore::open(d.path()).unwrap_err();
    let msg = err.to_string();
    match &err {
        StoreError::Locked { dir, holder } => {
            assert_eq!(dir, d.path());
            assert_eq!(
                holder.as_deref(),
                Some(std::process::id().to_string().as_str())
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(
        msg.contains(&d.path().display().to_string()),
        "names the directory: {msg}"
    );
    assert!(msg.contains("in use by another tritium"), "{msg}");

    // The refused open changed nothing; the first store still works.
    first.commit(&history()[1]).unwrap();
    drop(first);
    let (_, rec) = open(d.path());
    assert_eq!(rec, model(&history()[..2]));
}

#[test]
fn oversized_batch_is_refused_and_the_store_stays_usable() {
    let d = tempdir();
    let (mut store, _) = open(d.path());
    store.commit(&history()[0]).unwrap();
    let len = store.log_len();
    let mut huge = app("huge", 1);
    huge.spec.command.as_mut().expect("command app").cmd =
        Some("x".repeat(MAX_RECORD_PAYLOAD as usize));
    let err = store.commit(&[put_app(huge)]).unwrap_err();
    assert!(
        matches!(err, StoreError::BatchTooLarge { ops: 1, bytes, limit }
            if limit == MAX_RECORD_PAYLOAD && bytes > u64::from(limit)),
        "{err}"
    );
    assert_eq!(store.log_len(), len, "nothing written");
    assert_eq!(
        read(d.path(), LOG_FILE).len() as u64,
        len,
        "nothing written"
    );
    store.commit(&history()[1]).unwrap();
    drop(store);
    let (_, rec) = open(d.path());
    assert_eq!(rec, model(&history()[..2]));
}

// ---------------------------------------------------------------- for all

fn arb_op() -> impl Strategy<Value = StoreOp> {
    let key = 0u8..6;
    prop_oneof![
        "[a-z0-9-]{0,12}".prop_map(StoreOp::FrameworkId),
        (key.clone(), 0u32..10, "\\PC{0,20}").prop_map(|(k, n, cmd)| {
            let mut a = app(&format!("app{k}"), n);
            a.spec.command.as_mut().expect("command app").cmd = Some(cmd);
            put_app(a)
        }),
        key.clone().prop_map(|k| remove_app(format!("app{k}"))),
        (key.clone(), 0i32..14).prop_map(|(k, s)| StoreOp::PutTask(task(
            &format!("t{k}"),
            "app0",
            s
        ))),
        key.prop_map(|k| StoreOp::RemoveTask(format!("t{k}"))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// For all histories, with compactions and reopens anywhere in them,
    /// recovery yields the last write of every key.
    #[test]
    fn recovery_matches_the_model(
        batches in prop::collection::vec(prop::collection::vec(arb_op(), 0..6), 0..24),
        reopen_every in 1usize..8,
        compact_records in 1u64..6,
    ) {
        let d = tempdir();
        let options = FileStoreOptions { compact_log_bytes: u64::MAX, compact_log_records: compact_records };
        let (mut store, _) = FileStore::open_with(d.path(), options).unwrap();
        for (i, b) in batches.iter().enumerate() {
            store.commit(b).unwrap();
            if i % reopen_every == 0 {
                drop(store);
                let (s, rec) = FileStore::open_with(d.path(), options).unwrap();
                prop_assert_eq!(rec, model(&batches[..=i]));
                store = s;
            }
        }
        drop(store);
        let (_, rec) = FileStore::open_with(d.path(), options).unwrap();
        prop_assert_eq!(rec, model(&batches));
    }
}

// ---------------------------------------------------------------- throughput

/// Durable commits per second on this machine, for batches of 1 and of 100
/// task state changes. Not a pass/fail test (speed is shown, not asserted):
/// `cargo test --release -p tritium-engine --test file_store -- --ignored --nocapture`.
/// TRITIUM_BENCH_DIR picks the file system (default: the temp dir).
#[test]
#[ignore = "benchmark; run by hand"]
fn commit_throughput() {
    let base = std::env::var_os("TRITIUM_BENCH_DIR");
    for batch in [1usize, 100] {
        let d = match &base {
            Some(b) => tempfile::tempdir_in(b).unwrap(),
            None => tempdir(),
        };
        let (mut store, _) = open(d.path());
        let tasks: Vec<TaskRecord> = (0..1000)
            .map(|i| {
                task(
                    &format!("web.{i:05}.0f3c9a1e-7b8d-4f55-9c61-1a2b3c4d5e6f"),
                    "web",
                    TASK_STAGING,
                )
            })
            .collect();
        let commits = if batch == 1 { 2000 } else { 500 };
        let mut ops = Vec::with_capacity(batch);
        // Warm up: file growth, page cache.
        for t in tasks.iter().take(50) {
            store.commit(&[StoreOp::PutTask(t.clone())]).unwrap();
        }
        let started = Instant::now();
        for c in 0..commits {
            ops.clear();
            ops.extend((0..batch).map(|j| {
                let mut t = tasks[(c * batch + j) % tasks.len()].clone();
                t.state = ((c + j) % 8) as i32;
                StoreOp::PutTask(t)
            }));
            store.commit(&ops).unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "batch {batch:>3}: {commits} commits in {secs:.3} s = {:.0} commits/s = {:.0} task changes/s durable ({:.1} µs/commit, log {} KiB, dir {})",
            commits as f64 / secs,
            (commits * batch) as f64 / secs,
            secs * 1e6 / commits as f64,
            store.log_len() / 1024,
            d.path().display(),
        );
    }
}

/// What a large cluster's state costs at compaction (inline on the engine
/// thread) and at recovery: 100k tasks, then a log near the 64 MiB
/// compaction threshold. Run like `commit_throughput`.
#[test]
#[ignore = "benchmark; run by hand"]
fn compaction_and_recovery_cost() {
    let d = match std::env::var_os("TRITIUM_BENCH_DIR") {
        Some(b) => tempfile::tempdir_in(b).unwrap(),
        None => tempdir(),
    };
    let options = FileStoreOptions {
        compact_log_bytes: u64::MAX,
        compact_log_records: u64::MAX,
    };
    let (mut store, _) = FileStore::open_with(d.path(), options).unwrap();
    let id = |i: usize| format!("web.{i:06}.0f3c9a1e-7b8d-4f55-9c61-1a2b3c4d5e6f");
    for chunk in 0..100 {
        let ops: Vec<StoreOp> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| StoreOp::PutTask(task(&id(i), "web", TASK_RUNNING)))
            .collect();
        store.commit(&ops).unwrap();
    }
    let started = Instant::now();
    store.compact().unwrap();
    let compaction = started.elapsed();
    let snapshot_bytes = fs::metadata(d.path().join(SNAPSHOT_FILE)).unwrap().len();
    let mut c = 0usize;
    while store.log_len() < 60 << 20 {
        let ops: Vec<StoreOp> = (0..1000)
            .map(|j| StoreOp::PutTask(task(&id((c * 1000 + j) % 100_000), "web", (c % 8) as i32)))
            .collect();
        store.commit(&ops).unwrap();
        c += 1;
    }
    let log_bytes = store.log_len();
    drop(store);
    let started = Instant::now();
    let (_, rec) = FileStore::open_with(d.path(), options).unwrap();
    let recovery = started.elapsed();
    assert_eq!(rec.tasks.len(), 100_000);
    println!(
        "compaction of 100k tasks: {:.1} ms ({} KiB snapshot); recovery of that snapshot + a {} MiB log: {:.1} ms",
        compaction.as_secs_f64() * 1e3,
        snapshot_bytes / 1024,
        log_bytes >> 20,
        recovery.as_secs_f64() * 1e3,
    );
}

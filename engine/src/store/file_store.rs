//! [`FileStore`]: the embedded store's files, their lock, group commit,
//! compaction and recovery. The formats themselves are in `log`, `snapshot`
//! and `codec`; this module only moves their bytes to and from disk, in an
//! order that keeps every crash recoverable.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::StoreError;
use super::codec::{self, OpRef};
use super::log::{self, LOG_HEADER_LEN, MAX_RECORD_PAYLOAD, TornTail};
use super::snapshot::{encode_snapshot, parse_snapshot};
use super::state::StoreState;
use crate::core::{Recovered, StoreOp};

/// The lock file: `flock`ed exclusively while a process has the store open;
/// holds that process's pid for the error message of the next one.
pub const LOCK_FILE: &str = "LOCK";
/// The snapshot: the whole state as of the end of some log generation.
pub const SNAPSHOT_FILE: &str = "snapshot";
/// A snapshot being written by a compaction; deleted on open, never read.
pub const SNAPSHOT_TMP_FILE: &str = "snapshot.tmp";
/// The log: one record per committed batch since the snapshot.
pub const LOG_FILE: &str = "log";
/// A new log being written by a compaction; deleted on open, never read.
pub const LOG_TMP_FILE: &str = "log.tmp";

/// Above this, the commit buffer is released after use rather than kept, so
/// one huge batch does not pin its memory for the life of the process. Most
/// batches (a loop turn's status updates) are far smaller.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// When the log is compacted into a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStoreOptions {
    /// Compact before a commit once the log holds more bytes than this.
    pub compact_log_bytes: u64,
    /// ... or more records than this.
    pub compact_log_records: u64,
}

impl Default for FileStoreOptions {
    fn default() -> Self {
        FileStoreOptions {
            // Replaying 64 MiB takes well under a second; a snapshot of a
            // large cluster's state (100k tasks) is about 10 MiB, so
            // compaction rewrites a fraction of what it frees.
            compact_log_bytes: 64 << 20,
            // Bounds replay work when batches are small.
            compact_log_records: 100_000,
        }
    }
}

/// What [`FileStore::open`] found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryInfo {
    /// The log generation the snapshot covers, if there was one.
    pub snapshot_generation: Option<u64>,
    /// The generation of the log now in use.
    pub log_generation: u64,
    /// Records replayed from the log.
    pub log_records: u64,
    /// A compaction had installed its snapshot but not yet its new log; the
    /// old log, entirely covered by the snapshot, was replaced.
    pub stale_log_replaced: bool,
    /// The remains of an interrupted last write, dropped (and truncated
    /// away) on recovery.
    pub torn_tail: Option<TornTail>,
}

/// The embedded file store: one directory, an append-only log of batches,
/// a snapshot. Synchronous: [`FileStore::commit`] returns once the batch is
/// on stable storage.
///
/// Open, commit, and open again after a restart (the lock is released when
/// the store is dropped):
///
/// ```rust
/// use tritium_engine::core::StoreOp;
/// use tritium_engine::store::{FileStore, StoreError};
///
/// let dir = tempfile::tempdir().expect("a temp dir");
/// let path = dir.path().join("state");
///
/// let (mut store, recovered) = FileStore::open(&path)?; // created empty
/// assert_eq!(recovered.framework_id, None);
/// store.commit(&[StoreOp::FrameworkId("fw-1".into())])?; // one record, one fsync
///
/// // Only one process may use a directory at a time.
/// assert!(matches!(FileStore::open(&path), Err(StoreError::Locked { .. })));
/// drop(store);
///
/// let (store, recovered) = FileStore::open(&path)?;
/// assert_eq!(recovered.framework_id.as_deref(), Some("fw-1"));
/// assert_eq!(store.recovery_info().log_records, 1);
/// assert!(store.recovery_info().torn_tail.is_none());
/// # Ok::<(), StoreError>(())
/// ```
pub struct FileStore {
    dir: PathBuf,
    /// Holds the directory's exclusive lock for as long as the store lives.
    _lock: File,
    /// The directory itself, fsync'd after renames so they survive a crash.
    dir_handle: File,
    /// The current log, positioned at its end.
    log: File,
    /// Generation of `log`; the snapshot covers every earlier one.
    generation: u64,
    log_len: u64,
    log_records: u64,
    /// The durable state, to write snapshots from.
    state: StoreState,
    /// Reused for every record, so commits do not allocate in steady state.
    buf: Vec<u8>,
    options: FileStoreOptions,
    /// After a failed compaction: the log size and record count at which to
    /// try again, so a full disk does not turn every commit into a
    /// snapshot attempt.
    compaction_retry: Option<(u64, u64)>,
    /// Set once a write, fsync or compaction step failed in a way that
    /// leaves the files uncertain; every later commit is refused.
    failed: Option<String>,
    recovery: RecoveryInfo,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir)
            .field("generation", &self.generation)
            .field("log_len", &self.log_len)
            .field("log_records", &self.log_records)
            .field("records", &self.state.records.len())
            .field("tasks", &self.state.tasks.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// Opens (creating if missing) the store in `dir` with the default
    /// compaction thresholds, locks it, and recovers what it holds.
    ///
    /// A torn last record is dropped and truncated away (reported in
    /// [`RecoveryInfo::torn_tail`]); leftover temp files are deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`] if another process has the directory open,
    /// [`StoreError::Corrupt`] for damage anywhere but the torn tail,
    /// [`StoreError::UnsupportedVersion`] for files of a newer format, and
    /// [`StoreError::Io`] when the directory cannot be created, read or
    /// synced.
    pub fn open(dir: &Path) -> Result<(FileStore, Recovered), StoreError> {
        FileStore::open_with(dir, FileStoreOptions::default())
    }

    /// [`FileStore::open`] with explicit compaction thresholds.
    ///
    /// # Errors
    ///
    /// As [`FileStore::open`].
    pub fn open_with(
        dir: &Path,
        options: FileStoreOptions,
    ) -> Result<(FileStore, Recovered), StoreError> {
        let created = !dir.is_dir();
        fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
        if created {
            // The directory's own entry must be durable before records
            // inside it are worth anything.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let lock = lock_dir(dir)?;
        let dir_handle = File::open(dir).map_err(io_err(dir, "open directory"))?;

        // Leftovers of a compaction that crashed before its renames: never
        // part of the state.
        for tmp in [SNAPSHOT_TMP_FILE, LOG_TMP_FILE] {
            let path = dir.join(tmp);
            match fs::remove_file(&path) {
                Ok(()) => info!(
                    target: "tritium::store",
                    file = %path.display(),
                    "removed a leftover of an interrupted compaction"
                ),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path, "remove")(e)),
            }
        }

        let mut state = StoreState::default();
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let snapshot_generation = match read_if_exists(&snapshot_path)? {
            Some(bytes) => {
                let (generation, ops) =
                    parse_snapshot(&bytes).map_err(|d| d.in_file(snapshot_path.clone()))?;
                ops.into_iter().for_each(|op| state.apply(op));
                Some(generation)
            }
            None => None,
        };
        let covered = snapshot_generation.unwrap_or(0);

        let mut recovery = RecoveryInfo {
            snapshot_generation,
            log_generation: covered + 1,
            log_records: 0,
            stale_log_replaced: false,
            torn_tail: None,
        };
        let (log, log_len) = recover_log(dir, &dir_handle, &mut state, &mut recovery)?;

        let recovered = state.to_recovered();
        let store = FileStore {
            dir: dir.to_path_buf(),
            _lock: lock,
            dir_handle,
            log,
            generation: recovery.log_generation,
            log_len,
            log_records: recovery.log_records,
            state,
            buf: Vec::new(),
            options,
            compaction_retry: None,
            failed: None,
            recovery,
        };
        Ok((store, recovered))
    }

    /// Makes `ops` durable as one record with one fsync, then returns.
    ///
    /// The batch is all or nothing across a crash. An empty batch changes
    /// nothing and touches no file. If the log has outgrown its thresholds
    /// it is compacted first.
    ///
    /// After an `Err` other than [`StoreError::BatchTooLarge`] the store
    /// refuses every later commit ([`StoreError::Failed`]): after a failed
    /// write or fsync nothing is certain about the file's contents, and the
    /// way out is a restart, whose recovery sorts it out.
    ///
    /// # Errors
    ///
    /// [`StoreError::BatchTooLarge`] when the batch encodes to more than
    /// [`MAX_RECORD_PAYLOAD`](super::MAX_RECORD_PAYLOAD) bytes (nothing
    /// written), [`StoreError::Io`] when the append, fsync or a compaction
    /// fails, and [`StoreError::Failed`] for every commit after that.
    pub fn commit(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
        self.check_usable()?;
        if ops.is_empty() {
            return Ok(());
        }
        let payload_len = codec::encoded_len(ops.iter().map(OpRef::from));
        let payload_len = match u32::try_from(payload_len) {
            Ok(len) if len <= MAX_RECORD_PAYLOAD => len,
            _ => {
                return Err(StoreError::BatchTooLarge {
                    ops: ops.len(),
                    bytes: payload_len,
                    limit: MAX_RECORD_PAYLOAD,
                });
            }
        };
        if self.compaction_due() {
            self.compact_before_commit()?;
        }

        self.buf.clear();
        log::append_record(ops, payload_len, &mut self.buf);
        let written = self
            .log
            .write_all(&self.buf)
            .map_err(io_err(&self.log_path(), "append"))
            .and_then(|()| {
                // One fsync per batch: this is the group commit. fdatasync
                // is enough: it also persists the grown file size.
                self.log
                    .sync_data()
                    .map_err(io_err(&self.log_path(), "fsync"))
            });
        if let Err(e) = written {
            return Err(self.fail(e));
        }
        self.log_len += self.buf.len() as u64;
        self.log_records += 1;
        if self.buf.capacity() > KEEP_BUFFER_BYTES {
            self.buf = Vec::new();
        }
        for op in ops {
            self.state.apply(op.clone());
        }
        Ok(())
    }

    /// Writes a snapshot of the whole state and starts a new, empty log.
    /// [`FileStore::commit`] calls this on its own when the log outgrows
    /// [`FileStoreOptions`]; it is public for tools and tests.
    ///
    /// If it fails before the new snapshot is in place, the old snapshot
    /// and log remain in charge and the store stays usable; if it fails
    /// after, the store refuses further commits (see `commit`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] from a write, rename or fsync;
    /// [`StoreError::Failed`] if the store already refuses writes.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        self.check_usable()?;
        let covered = self.generation;
        let bytes = encode_snapshot(covered, &self.state);
        let tmp = self.dir.join(SNAPSHOT_TMP_FILE);
        let snapshot = self.dir.join(SNAPSHOT_FILE);

        // Step 1: the whole snapshot in a temp file, on disk.
        if let Err(e) = write_synced(&tmp, &bytes) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        // Step 2: the commit point. rename(2) either happens or not.
        if let Err(e) = fs::rename(&tmp, &snapshot) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&snapshot, "rename snapshot into place")(e));
        }
        // From here on the new snapshot may be what a restart finds, and it
        // covers the current log: appending to that log would write records
        // recovery skips. So any failure now stops the store.
        if let Err(e) = self
            .dir_handle
            .sync_all()
            .map_err(io_err(&self.dir, "fsync directory"))
        {
            return Err(self.fail(e));
        }
        // Step 3: a new empty log for the next generation.
        let log = match install_log(&self.dir, &self.dir_handle, covered + 1) {
            Ok(log) => log,
            Err(e) => return Err(self.fail(e)),
        };
        info!(
            target: "tritium::store",
            dir = %self.dir.display(),
            generation = covered,
            snapshot_bytes = bytes.len(),
            log_bytes = self.log_len,
            log_records = self.log_records,
            "compacted the store log into a snapshot"
        );
        self.log = log;
        self.generation = covered + 1;
        self.log_len = LOG_HEADER_LEN as u64;
        self.log_records = 0;
        self.compaction_retry = None;
        Ok(())
    }

    /// The durable state now, in the shape `open` returned it.
    pub fn recovered(&self) -> Recovered {
        self.state.to_recovered()
    }

    /// What recovery found when the store was opened.
    pub fn recovery_info(&self) -> &RecoveryInfo {
        &self.recovery
    }

    /// The store directory, as given to `open`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Generation of the log in use (1 for a new store; +1 per compaction).
    pub fn log_generation(&self) -> u64 {
        self.generation
    }

    /// Bytes in the current log, its header included.
    pub fn log_len(&self) -> u64 {
        self.log_len
    }

    /// Records (committed batches) in the current log.
    pub fn log_records(&self) -> u64 {
        self.log_records
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    fn check_usable(&self) -> Result<(), StoreError> {
        match &self.failed {
            None => Ok(()),
            Some(reason) => Err(StoreError::Failed {
                dir: self.dir.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// Marks the store failed with `e` as the reason, and returns `e`.
    fn fail(&mut self, e: StoreError) -> StoreError {
        self.failed = Some(e.to_string());
        e
    }

    fn compaction_due(&self) -> bool {
        let (bytes, records) = self.compaction_retry.unwrap_or((
            self.options.compact_log_bytes,
            self.options.compact_log_records,
        ));
        self.log_len > bytes || self.log_records > records
    }

    fn compact_before_commit(&mut self) -> Result<(), StoreError> {
        match self.compact() {
            Ok(()) => Ok(()),
            Err(e) if self.failed.is_some() => Err(e),
            Err(e) => {
                // Nothing changed on disk; the log stays valid, only longer.
                // Try again after another quarter of the thresholds.
                let retry = (
                    self.log_len
                        .saturating_add(self.options.compact_log_bytes / 4),
                    self.log_records
                        .saturating_add(self.options.compact_log_records / 4),
                );
                warn!(
                    target: "tritium::store",
                    dir = %self.dir.display(),
                    error = %e,
                    retry_at_log_bytes = retry.0,
                    "store compaction failed; the log keeps growing until it succeeds"
                );
                self.compaction_retry = Some(retry);
                Ok(())
            }
        }
    }
}

/// Replays the log over `state` (which holds the snapshot's contents) and
/// returns it open for appending, with its length. Fills in `recovery`.
fn recover_log(
    dir: &Path,
    dir_handle: &File,
    state: &mut StoreState,
    recovery: &mut RecoveryInfo,
) -> Result<(File, u64), StoreError> {
    let covered = recovery.snapshot_generation.unwrap_or(0);
    let path = dir.join(LOG_FILE);
    let fresh = |dir_handle| -> Result<(File, u64), StoreError> {
        let log = install_log(dir, dir_handle, covered + 1)?;
        Ok((log, LOG_HEADER_LEN as u64))
    };
    let Some(bytes) = read_if_exists(&path)? else {
        return fresh(dir_handle);
    };
    let generation = log::parse_log_header(&bytes).map_err(|d| d.in_file(path.clone()))?;
    if generation <= covered {
        warn!(
            target: "tritium::store",
            dir = %dir.display(),
            log_generation = generation,
            snapshot_generation = covered,
            "a compaction was interrupted after installing its snapshot; \
             replacing the log the snapshot covers"
        );
        recovery.stale_log_replaced = true;
        return fresh(dir_handle);
    }
    if generation != covered + 1 {
        return Err(StoreError::Corrupt {
            file: path,
            offset: 0,
            reason: format!(
                "log generation {generation} does not follow the snapshot's generation \
                 {covered}: the snapshot holding generations up to {} is missing",
                generation - 1
            ),
        });
    }
    let scan = log::scan_records(&bytes, |ops| ops.into_iter().for_each(|op| state.apply(op)))
        .map_err(|d| d.in_file(path.clone()))?;
    let log = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(io_err(&path, "open"))?;
    if let Some(torn) = &scan.torn {
        warn!(
            target: "tritium::store",
            file = %path.display(),
            offset = torn.offset,
            dropped_bytes = torn.dropped_bytes,
            reason = %torn.reason,
            "dropping the torn tail of the store log (an interrupted last write)"
        );
        log.set_len(scan.good_len)
            .map_err(io_err(&path, "truncate torn tail"))?;
        log.sync_all().map_err(io_err(&path, "fsync"))?;
    }
    recovery.log_records = scan.records;
    recovery.torn_tail = scan.torn;
    Ok((log, scan.good_len))
}

/// Locks `dir` for this process, or says who holds it.
fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path, "open lock file"))?;
    let locked = file.try_lock();
    match locked {
        Ok(()) => {
            // For the error message of whoever tries next; not needed for
            // correctness, so not fsync'd.
            file.set_len(0)
                .and_then(|()| writeln!(file, "{}", std::process::id()))
                .map_err(io_err(&path, "write lock file"))?;
            Ok(file)
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let holder = match file.read_to_string(&mut holder) {
                Ok(_) if !holder.trim().is_empty() => Some(holder.trim().to_owned()),
                _ => None,
            };
            Err(StoreError::Locked {
                dir: dir.to_path_buf(),
                holder,
            })
        }
        Err(TryLockError::Error(e)) => Err(io_err(&path, "lock")(e)),
    }
}

/// Creates the log of `generation`, empty but for its header, atomically:
/// written to a temp file, fsync'd, renamed over the log, directory fsync'd.
/// Returns it open for appending.
fn install_log(dir: &Path, dir_handle: &File, generation: u64) -> Result<File, StoreError> {
    let tmp = dir.join(LOG_TMP_FILE);
    let path = dir.join(LOG_FILE);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err(&tmp, "create"))?;
    file.write_all(&log::log_header(generation))
        .map_err(io_err(&tmp, "write"))?;
    file.sync_all().map_err(io_err(&tmp, "fsync"))?;
    fs::rename(&tmp, &path).map_err(io_err(&path, "rename new log into place"))?;
    dir_handle
        .sync_all()
        .map_err(io_err(dir, "fsync directory"))?;
    // The handle follows the renamed file and sits at its end.
    Ok(file)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err(path, "create"))?;
    file.write_all(bytes).map_err(io_err(path, "write"))?;
    file.sync_all().map_err(io_err(path, "fsync"))
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, "read")(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "fsync directory"))
}

fn io_err(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { path, op, source }
}

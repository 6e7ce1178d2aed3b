//! [`run`]: a [`Framework`] on the mio event loop with a store, in one call.
//!
//! This is the whole of what a framework author needs from the engine: pick
//! the master(s), the framework's name and roles ([`Config`]), a store
//! ([`StoreChoice`]: a directory, etcd with leader election and fencing, or
//! memory), and call [`run`] (which blocks) or [`start`] (which runs the
//! engine on a thread of its own and hands back a [`Running`]). Everything
//! else — subscription, failover, acknowledgements after durability,
//! reconciliation, answering every offer — is the session's.
//!
//! It owns nothing of its own: it opens the store, recovers it (with etcd
//! that waits until this instance wins the election; the driver is then
//! fenced by that leadership), builds the [`Session`] and runs the
//! [`Driver`]. Programs that need more (tritium's REST API starts before the
//! store is recovered, so that standbys answer) put the same pieces
//! together themselves.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Instant;

use tritium_core::framework::Framework;
use tritium_core::session::{Config, MasterUrl, Session, UrlError};

use crate::driver::{Driver, DriverHandle, DriverOptions, FileBacked, MemStore, Store};
use crate::store::{EtcdOptions, EtcdStore};

/// Where a framework keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// Nothing survives the process (tests, demos): a restart registers a
    /// new framework.
    Memory,
    /// The embedded file store in this directory (created if missing):
    /// an append-only checksummed log with group commit, one process at a
    /// time.
    File(PathBuf),
    /// etcd at this URL (`http://host:2379`, see
    /// [`crate::store::EtcdUrl`]): several instances campaign, one leads;
    /// [`run`] returns to a standby only once it leads, and every write to
    /// etcd and to the master is fenced by that leadership.
    Etcd {
        /// The etcd endpoint(s) and key prefix.
        url: String,
        /// This instance's name, lease and limits.
        options: EtcdOptions,
    },
}

/// What [`run`] needs besides the framework.
///
/// ```
/// use tritium_engine::run::{RunOptions, StoreChoice};
/// let mut opts = RunOptions::new("http://127.0.0.1:5050").unwrap();
/// opts.config.framework.name = "hello".into();
/// opts.store = StoreChoice::File("/var/lib/hello".into());
/// assert_eq!(opts.config.masters.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The session's configuration: masters, the framework's name, user,
    /// roles and failover timeout, and every protocol knob (their defaults
    /// are production values).
    pub config: Config,
    /// Where state is kept ([`StoreChoice::Memory`] by default).
    pub store: StoreChoice,
    /// The event loop's limits, TLS and credentials. Its `fence` is set by
    /// [`run`] itself for [`StoreChoice::Etcd`].
    pub driver: DriverOptions,
}

impl RunOptions {
    /// Options for one master URL (`http://host:5050`, `https://…`), with
    /// the defaults everywhere else, and [`Config::seed`] drawn from the
    /// clock: the session's RNG (task id suffixes, jitter) must not repeat
    /// itself across restarts, or a restarted framework would draw the task
    /// ids of its first life again. Tests that want one trace set a fixed
    /// seed.
    ///
    /// # Errors
    ///
    /// The URL is not a master URL.
    pub fn new(master: &str) -> Result<RunOptions, UrlError> {
        Ok(RunOptions {
            config: Config {
                masters: vec![MasterUrl::parse(master)?],
                seed: seed_from_clock(),
                ..Config::default()
            },
            store: StoreChoice::Memory,
            driver: DriverOptions::default(),
        })
    }
}

/// A seed that differs between runs: the wall clock's nanoseconds, mixed.
fn seed_from_clock() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // SplitMix64's finalizer: nearby clock readings give unrelated seeds.
    let mut z = nanos ^ u64::from(std::process::id()).rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Why [`run`] or [`start`] could not run the framework.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// [`Config::masters`] is empty.
    #[error("no master URL given")]
    NoMaster,
    /// The store could not be opened or recovered.
    #[error("store: {0}")]
    Store(String),
    /// The event loop could not be set up (poller, TLS files).
    #[error("engine loop: {0}")]
    Driver(#[from] std::io::Error),
}

/// Run `framework` until the session exits (its exit code: see
/// [`tritium_core::session::exit`]) or the process is stopped. Blocks the
/// calling thread, which becomes the engine thread.
///
/// # Errors
///
/// As [`RunError`]: nothing ran.
///
/// ```no_run
/// # use tritium_engine::framework::{Ctx, Framework, TaskUpdate, View};
/// # use tritium_proto::view::{EventView, ViewError};
/// # struct Idle;
/// # impl Framework for Idle {
/// #     type Command = ();
/// #     type Reply = ();
/// #     fn offers(&mut self, _: &mut Ctx<'_>, _: &EventView<'_>) -> Result<(), ViewError> { Ok(()) }
/// #     fn update(&mut self, _: &mut Ctx<'_>, _: &TaskUpdate<'_>) {}
/// #     fn command(&mut self, _: &mut Ctx<'_>, _: ()) {}
/// #     fn wanted_launches(&self, _: &View<'_>) -> usize { 0 }
/// # }
/// use tritium_engine::{RunOptions, StoreChoice};
/// let mut options = RunOptions::new("http://127.0.0.1:5050")?;
/// options.store = StoreChoice::File("state".into());
/// let exit_code = tritium_engine::run(Idle, options)?;
/// std::process::exit(exit_code);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run<F: Framework>(framework: F, options: RunOptions) -> Result<i32, RunError> {
    let (mut session, mut store, driver_options) = prepare(framework, options)?;
    let (mut driver, _handle) = Driver::<F>::for_framework(driver_options)?;
    Ok(driver.run(&mut session, store.as_mut()))
}

/// A framework running on an engine thread of its own; see [`start`].
#[derive(Debug)]
pub struct Running<F: Framework> {
    /// Commands to the framework ([`Framework::command`]) and stop.
    pub handle: DriverHandle<F>,
    thread: JoinHandle<(i32, Session<F>)>,
}

impl<F: Framework> Running<F> {
    /// Stop the engine (no TEARDOWN: the framework and its tasks stay
    /// registered) and wait for it: the exit code and the session, for a
    /// look at its state.
    pub fn stop(self) -> (i32, Session<F>) {
        self.handle.stop();
        self.join()
    }

    /// Wait until the engine ends by itself.
    pub fn join(self) -> (i32, Session<F>) {
        match self.thread.join() {
            Ok(ended) => ended,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Like [`run`], on a new thread: returns once the store is recovered (for
/// etcd: once this instance leads) and the engine runs.
///
/// # Errors
///
/// As [`run`].
///
/// ```no_run
/// # use tritium_engine::framework::{Ctx, Framework, TaskUpdate, View};
/// # use tritium_proto::view::{EventView, ViewError};
/// # struct Count;
/// # impl Framework for Count {
/// #     type Command = ();
/// #     type Reply = usize;
/// #     fn offers(&mut self, _: &mut Ctx<'_>, _: &EventView<'_>) -> Result<(), ViewError> { Ok(()) }
/// #     fn update(&mut self, _: &mut Ctx<'_>, _: &TaskUpdate<'_>) {}
/// #     fn command(&mut self, ctx: &mut Ctx<'_>, _: ()) -> usize { ctx.view().task_count() }
/// #     fn wanted_launches(&self, _: &View<'_>) -> usize { 0 }
/// # }
/// use std::time::Duration;
/// let running = tritium_engine::start(Count, tritium_engine::RunOptions::new("http://127.0.0.1:5050")?)?;
/// let tasks = running.handle.request(())?.recv_timeout(Duration::from_secs(5))?.result;
/// let (exit_code, session) = running.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start<F>(framework: F, options: RunOptions) -> Result<Running<F>, RunError>
where
    F: Framework + Send + 'static,
{
    let (mut session, mut store, driver_options) = prepare(framework, options)?;
    let (mut driver, handle) = Driver::<F>::for_framework(driver_options)?;
    let thread = std::thread::Builder::new()
        .name("tritium-engine".into())
        .spawn(move || {
            let code = driver.run(&mut session, store.as_mut());
            (code, session)
        })?;
    Ok(Running { handle, thread })
}

/// A session ready to run, its store, and the driver's options.
type Prepared<F> = (Session<F>, Box<dyn Store>, DriverOptions);

/// Open and recover the store, and build the session on what it held; the
/// driver options, fenced by the store's leadership for etcd.
fn prepare<F: Framework>(framework: F, mut options: RunOptions) -> Result<Prepared<F>, RunError> {
    if options.config.masters.is_empty() {
        return Err(RunError::NoMaster);
    }
    let mut store: Box<dyn Store> = match &options.store {
        StoreChoice::Memory => Box::new(MemStore::new()),
        StoreChoice::File(dir) => {
            Box::new(FileBacked::open(dir).map_err(|e| RunError::Store(e.to_string()))?)
        }
        StoreChoice::Etcd { url, options: etcd } => {
            let store = EtcdStore::connect_str(url, etcd.clone())
                .map_err(|e| RunError::Store(e.to_string()))?;
            options.driver.fence = Some(store.leadership());
            Box::new(store)
        }
    };
    let recovered = store.recover().map_err(RunError::Store)?;
    // The wall clock goes in with the start instant: records keep times
    // that must outlive the process (backoffs, unreachable since) by it.
    let start = crate::core::StartTime::with_wall(Instant::now(), std::time::SystemTime::now());
    let session = Session::with_framework(options.config, framework, recovered, start);
    Ok((session, store, options.driver))
}

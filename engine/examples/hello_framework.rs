//! hello_framework: keep N copies of a command running on a Mesos cluster.
//!
//! ```text
//! cargo run --release -p tritium-sim -- --listen 127.0.0.1:5050 --agents 10
//! cargo run --release --example hello_framework -- --master http://127.0.0.1:5050 --tasks 5
//! ```
//!
//! The whole policy is below: how many tasks are wanted, and what to launch
//! on an offer. The session (tritium-core) does the rest: it subscribes and
//! re-subscribes (a dropped stream, a master failover, 503s), keeps the
//! framework id and the tasks in the file store (`--state-dir`), reconciles
//! after every subscription, acknowledges updates once they are stored,
//! declines the offers this framework leaves, and suppresses offers while
//! nothing is wanted. A task that ends is forgotten, so a new one is
//! launched in its place.

use std::path::PathBuf;

use clap::Parser;
use tritium_engine::framework::{
    Ctx, Framework, Launch, TaskUpdate, View, offered_scalar, simple_task,
};
use tritium_engine::{RunOptions, StoreChoice};
use tritium_proto::v1::{CommandInfo, ExecutorId, ExecutorInfo, TaskInfo, executor_info};
use tritium_proto::view::{EventView, ViewError};

/// What each copy of the command gets (cpus, MiB).
const CPUS: f64 = 0.1;
const MEM: f64 = 32.0;

#[derive(Parser, Debug, Clone)]
#[command(about = "Keep N copies of a command running on a Mesos cluster")]
pub struct Args {
    /// The Mesos master, e.g. http://127.0.0.1:5050.
    #[arg(long)]
    pub master: String,
    /// How many copies to keep running.
    #[arg(long, default_value_t = 3)]
    pub tasks: usize,
    /// The shell command each task runs.
    #[arg(long, default_value = "echo hello from tritium; sleep 3600")]
    pub command: String,
    /// Where the framework id and the tasks are kept across restarts.
    #[arg(long, default_value = "hello-framework-state")]
    pub state_dir: PathBuf,
    /// Run each task under this custom executor (e.g. the hello_executor
    /// example's binary) instead of the agent's command executor; the
    /// command goes to it as the task's `data`.
    #[arg(long)]
    pub executor: Option<PathBuf>,
}

/// The framework: its whole state is what it was asked for.
#[derive(Debug)]
pub struct Hello {
    want: usize,
    command: String,
    executor: Option<PathBuf>,
}

impl Hello {
    pub fn new(args: &Args) -> Hello {
        let (want, command) = (args.tasks, args.command.clone());
        let executor = args.executor.clone();
        Hello {
            want,
            command,
            executor,
        }
    }

    /// The task `id` runs `command` under its own custom executor (one
    /// executor per task): TaskInfo holds the executor, not the command.
    fn under_executor(&self, id: &str, mut task: TaskInfo) -> TaskInfo {
        let Some(program) = &self.executor else {
            return task;
        };
        task.command = None;
        task.data = Some(self.command.clone().into_bytes().into());
        task.executor = Some(ExecutorInfo {
            r#type: Some(executor_info::Type::Custom as i32),
            executor_id: ExecutorId { value: id.into() },
            name: Some("hello_executor".into()),
            command: Some(CommandInfo {
                value: Some(program.display().to_string()),
                shell: Some(false),
                arguments: vec![program.display().to_string()],
                ..CommandInfo::default()
            }),
            ..ExecutorInfo::default()
        });
        task
    }
}

impl Framework for Hello {
    /// Commands are "how many tasks are live?"; the reply is the count.
    type Command = ();
    type Reply = usize;

    fn offers(&mut self, ctx: &mut Ctx<'_>, event: &EventView<'_>) -> Result<(), ViewError> {
        let mut missing = self.wanted_launches(&ctx.view());
        for offer in event.offers() {
            let offer = offer?;
            let fit = (offered_scalar(&offer, "cpus") / CPUS)
                .min(offered_scalar(&offer, "mem") / MEM)
                .floor() as usize;
            let n = fit.min(missing);
            if n == 0 {
                // Nothing to do with it: refuse this agent for a while.
                ctx.decline(offer.id()?, ctx.config().decline_idle);
                continue;
            }
            let mut launches = Vec::with_capacity(n);
            for _ in 0..n {
                let id = format!("hello.{:016x}", ctx.rng().next_u64());
                let task = simple_task(&id, &offer, &self.command, CPUS, MEM)?;
                let task = self.under_executor(&id, task);
                launches.push(Launch::new(&id, offer.agent_id()?, task));
            }
            ctx.accept(&offer, launches)?;
            missing -= n;
        }
        Ok(())
    }

    fn update(&mut self, _ctx: &mut Ctx<'_>, update: &TaskUpdate<'_>) {
        // The session has stored the state; it acknowledges the update and
        // forgets a task that ended (so `wanted_launches` grows again).
        println!("{} {:?}", update.task_id(), update.state());
    }

    fn command(&mut self, ctx: &mut Ctx<'_>, _: ()) -> usize {
        ctx.view().task_count()
    }

    fn wanted_launches(&self, view: &View<'_>) -> usize {
        let live = view.tasks().filter(|t| !t.kill_sent()).count();
        self.want.saturating_sub(live)
    }
}

/// The engine's options: this master, this name, the file store.
pub fn options(args: &Args) -> Result<RunOptions, String> {
    let mut options = RunOptions::new(&args.master).map_err(|e| e.to_string())?;
    options.config.framework.name = "hello_framework".into();
    options.config.framework.roles = vec!["hello".into()];
    options.store = StoreChoice::File(args.state_dir.clone());
    Ok(options)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let code = options(&args)
        .and_then(|o| tritium_engine::run(Hello::new(&args), o).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| {
            eprintln!("hello_framework: {e}");
            2
        });
    std::process::exit(code);
}

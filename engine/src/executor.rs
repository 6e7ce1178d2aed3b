//! [`run_executor`]: an [`Executor`] against the agent's v1 executor API,
//! on one blocking thread.
//!
//! An executor talks to one agent on loopback or a LAN, has a handful of
//! tasks and a few updates a second at most: no event loop is needed. The
//! runner keeps two plain TCP connections to `MESOS_AGENT_ENDPOINT`, as the
//! Mesos executor library does: the SUBSCRIBE connection, whose chunked
//! RecordIO body is the event stream (read with a timeout so the executor
//! still gets its [`Executor::tick`]s), and the call connection, where
//! UPDATE, MESSAGE and HEARTBEAT calls go one at a time (each waits for its
//! 202). Everything the protocol decides — what to send, when to
//! re-subscribe, when to exit — is the core's [`ExecutorSession`]; the
//! bytes go through the same wire codec as the scheduler side's (request
//! writer, response head, chunked and RecordIO framing). Protobuf only.
//!
//! The core's executor API is re-exported here, so an executor depends on
//! this one crate (and tritium-proto for the message types).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
pub use tritium_core::executor::{
    EnvError, Executor, ExecutorConfig, ExecutorCtx, ExecutorEnv, ExecutorInput, ExecutorOutput,
    ExecutorSession, TaskEntry, UpdateError, exit,
};
use tritium_core::wire::{
    ContentType, DEFAULT_MAX_RECORD_LEN, HeadLimits, Method, RecordStream, Request, ResponseHead,
};

use crate::driver::body::{BodyReader, BodyStep};

/// The agent's executor endpoint path (`slave.cpp`: `/api/v1/executor`).
pub const EXECUTOR_API_PATH: &str = "/api/v1/executor";

/// Bytes of an error body kept for the log.
const KEEP_BODY: usize = 512;
/// A call's answer is a 202 with an empty body; anything longer than this
/// is not an agent's answer.
const MAX_CALL_BODY: u64 = 64 * 1024;

/// What [`run_executor`] needs besides the executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Where the agent is, who this executor is, and the recovery rules.
    pub env: ExecutorEnv,
    /// The session's limits; `seed` and `epoch_unix` are set from the
    /// clock by [`ExecutorOptions::new`].
    pub config: ExecutorConfig,
    /// How often [`Executor::tick`] runs (the executor looks at its tasks).
    pub tick: Duration,
    /// Limit on making a connection to the agent.
    pub connect_timeout: Duration,
    /// Limit on a call's answer.
    pub call_timeout: Duration,
    /// Largest event accepted on the stream.
    pub max_record_len: usize,
}

impl ExecutorOptions {
    /// Options for this environment, seeded from the clock.
    pub fn new(env: ExecutorEnv) -> ExecutorOptions {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let config = ExecutorConfig {
            seed: since.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32),
            epoch_unix: since.as_secs_f64(),
            ..ExecutorConfig::default()
        };
        ExecutorOptions {
            env,
            config,
            tick: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(2),
            call_timeout: Duration::from_secs(10),
            max_record_len: DEFAULT_MAX_RECORD_LEN,
        }
    }

    /// Options from this process's `MESOS_*` environment, as the agent set
    /// it.
    ///
    /// # Errors
    ///
    /// [`EnvError`] naming the variable that is missing or malformed.
    pub fn from_process_env() -> Result<ExecutorOptions, EnvError> {
        Ok(ExecutorOptions::new(ExecutorEnv::from_vars(
            std::env::vars(),
        )?))
    }
}

/// Run `executor` until the session exits; its exit code
/// ([`tritium_core::executor::exit`], or the executor's own).
pub fn run_executor<E: Executor>(executor: E, options: ExecutorOptions) -> i32 {
    let session = ExecutorSession::new(executor, options.env.clone(), options.config.clone());
    Runner {
        authorization: options
            .env
            .authentication_token
            .as_ref()
            .map(|t| format!("Bearer {t}")),
        options,
        sub: None,
        calls: None,
        session,
    }
    .run()
}

struct Subscription {
    sock: TcpStream,
    buf: BytesMut,
    /// Set once the 200 head arrived.
    stream: Option<RecordStream>,
}

struct CallConnection {
    sock: TcpStream,
    buf: BytesMut,
}

struct Runner<E> {
    options: ExecutorOptions,
    authorization: Option<String>,
    sub: Option<Subscription>,
    calls: Option<CallConnection>,
    session: ExecutorSession<E>,
}

impl<E: Executor> Runner<E> {
    fn run(mut self) -> i32 {
        self.session.handle(Instant::now(), ExecutorInput::Start);
        let mut next_tick = Instant::now() + self.options.tick;
        loop {
            while let Some(out) = self.session.poll_output() {
                match out {
                    ExecutorOutput::Subscribe { body } => {
                        self.sub = None;
                        self.calls = None;
                        match self.open_subscription(&body) {
                            Ok(sub) => self.sub = Some(sub),
                            Err(e) => self
                                .session
                                .handle(Instant::now(), ExecutorInput::Disconnected(e.to_string())),
                        }
                    }
                    ExecutorOutput::Call { body, kind } => {
                        let input = match self.call(&body) {
                            Ok((status, body)) => ExecutorInput::CallResponse { status, body },
                            Err(e) => {
                                tracing::debug!(kind, error = %e, "executor call failed");
                                self.calls = None;
                                ExecutorInput::CallFailed(e.to_string())
                            }
                        };
                        self.session.handle(Instant::now(), input);
                    }
                    ExecutorOutput::Close => {
                        self.sub = None;
                        self.calls = None;
                    }
                    ExecutorOutput::Exit { code, reason } => {
                        tracing::info!(code, %reason, "executor exits");
                        return code;
                    }
                }
            }
            let now = Instant::now();
            let due = self.session.poll_timeout().is_some_and(|t| t <= now);
            if now >= next_tick || due {
                self.session.handle(now, ExecutorInput::Tick);
                if now >= next_tick {
                    next_tick = now + self.options.tick;
                }
                continue;
            }
            let wake = self
                .session
                .poll_timeout()
                .map_or(next_tick, |t| t.min(next_tick));
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            if self.sub.is_some() {
                self.read_stream(wait);
            } else {
                std::thread::sleep(wait);
            }
        }
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            "the agent endpoint resolves to nothing",
        );
        for addr in self.options.env.agent_endpoint.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, self.options.connect_timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_write_timeout(Some(self.options.call_timeout))?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn request(&self, body: &[u8], subscribe: bool) -> io::Result<BytesMut> {
        let mut out = BytesMut::with_capacity(256 + body.len());
        Request {
            method: Method::Post,
            path: EXECUTOR_API_PATH,
            host: &self.options.env.agent_endpoint,
            content_type: Some(ContentType::Protobuf),
            accept: Some(ContentType::Protobuf).filter(|_| subscribe),
            stream_id: None,
            authorization: self.authorization.as_deref(),
            keep_alive: true,
            body,
        }
        .encode(&mut out)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(out)
    }

    fn open_subscription(&self, body: &[u8]) -> io::Result<Subscription> {
        let mut sock = self.connect()?;
        sock.write_all(&self.request(body, true)?)?;
        Ok(Subscription {
            sock,
            buf: BytesMut::with_capacity(16 * 1024),
            stream: None,
        })
    }

    /// Read what the stream has within `wait` and hand it to the session.
    fn read_stream(&mut self, wait: Duration) {
        let Some(sub) = self.sub.as_mut() else {
            return;
        };
        let mut chunk = [0u8; 16 * 1024];
        let _ = sub.sock.set_read_timeout(Some(wait));
        let n = match sub.sock.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => return self.lost_stream(e.to_string()),
        };
        if n == 0 {
            let why = match &sub.stream {
                Some(stream) => stream.on_eof(&sub.buf).to_string(),
                None => "the agent closed the connection before answering SUBSCRIBE".into(),
            };
            return self.lost_stream(why);
        }
        sub.buf.extend_from_slice(&chunk[..n]);
        if sub.stream.is_none() {
            let head = match ResponseHead::parse(&sub.buf, HeadLimits::default()) {
                Ok(Some(head)) => head,
                Ok(None) => return,
                Err(e) => return self.lost_stream(e.to_string()),
            };
            sub.buf.advance(head.head_len);
            if head.status != 200 {
                let body =
                    String::from_utf8_lossy(&sub.buf[..sub.buf.len().min(KEEP_BODY)]).into_owned();
                self.sub = None;
                let input = ExecutorInput::SubscribeResponse {
                    status: head.status,
                    body,
                };
                return self.session.handle(Instant::now(), input);
            }
            match RecordStream::new(head.framing, self.options.max_record_len) {
                Ok(stream) => sub.stream = Some(stream),
                Err(e) => return self.lost_stream(e.to_string()),
            }
            let input = ExecutorInput::SubscribeResponse {
                status: 200,
                body: String::new(),
            };
            self.session.handle(Instant::now(), input);
        }
        loop {
            let Some(sub) = self.sub.as_mut() else {
                return;
            };
            let Some(stream) = sub.stream.as_mut() else {
                return;
            };
            match stream.next_record(&mut sub.buf) {
                Ok(Some(record)) => {
                    self.session
                        .handle(Instant::now(), ExecutorInput::Event(record));
                    // The session may have moved on (exit, re-subscribe):
                    // carry that out before reading more.
                    if self.session.has_exited() || !self.session.is_subscribed() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => return self.lost_stream(e.to_string()),
            }
        }
    }

    fn lost_stream(&mut self, why: String) {
        self.sub = None;
        self.calls = None;
        self.session
            .handle(Instant::now(), ExecutorInput::Disconnected(why));
    }

    /// POST a call and wait for its answer: (status, start of the body).
    fn call(&mut self, body: &[u8]) -> io::Result<(u16, String)> {
        if self.calls.is_none() {
            let sock = self.connect()?;
            sock.set_read_timeout(Some(self.options.call_timeout))?;
            self.calls = Some(CallConnection {
                sock,
                buf: BytesMut::with_capacity(1024),
            });
        }
        let request = self.request(body, false)?;
        let conn = self.calls.as_mut().expect("connected above");
        conn.sock.write_all(&request)?;
        let head = loop {
            if let Some(head) = ResponseHead::parse(&conn.buf, HeadLimits::default())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
            {
                break head;
            }
            fill(&mut conn.sock, &mut conn.buf)?;
        };
        conn.buf.advance(head.head_len);
        let mut reader = BodyReader::new(head.framing, KEEP_BODY, MAX_CALL_BODY);
        loop {
            match reader
                .advance(&mut conn.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                BodyStep::Done => break,
                BodyStep::NeedMore => {
                    if fill(&mut conn.sock, &mut conn.buf)? == 0 {
                        reader
                            .on_eof()
                            .map_err(|e| io::Error::new(io::ErrorKind::UnexpectedEof, e))?;
                        self.calls = None;
                        break;
                    }
                }
            }
        }
        if !head.keep_alive {
            self.calls = None;
        }
        Ok((head.status, reader.text()))
    }
}

/// One read into `buf`; 0 at the end of the connection.
fn fill(sock: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let n = sock.read(&mut chunk)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

//! tritium-client: a typed Rust client for tritium's REST API.
//!
//! The documents the API answers with are the types of tritium-core's
//! [`contract`](tritium_core::contract) — the very types the server
//! serializes — so the client and the server cannot drift apart: a field
//! renamed on one side fails to compile on the other. This is the client
//! the `tritium app …` and `tritium events` commands use.
//!
//! Blocking HTTP/1.1 or HTTPS through ureq on rustls ([`transport`]),
//! every wait and every answer bounded; a bearer token if given; a
//! standby's 307 to the leader is followed (the token only within the
//! configured cluster); a private CA through [`ClientOptions::ca_file`].
//! Refusals come back as [`Error::Api`]: the HTTP status and the API's
//! `{"error", "field"}`.
//!
//! ```no_run
//! use tritium_client::{AppSpec, AppStatus, Client};
//!
//! let client = Client::new("http://127.0.0.1:8080", None)?;
//! let spec = AppSpec::command_app("web", 2, 0.1, 64.0, "python3 -m http.server $PORT0");
//! let app = client.deploy(&spec)?;
//! assert_eq!(app.status, AppStatus::Deploying);
//! for event in client.events(Some("web"))?.take(3) {
//!     println!("{:?}", event?);
//! }
//! # Ok::<(), tritium_client::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod transport;

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

pub use tritium_core::contract::{
    AgentMaintenanceView, AppEvent, AppList, AppStatus, AppView, DeployAction, DeployState,
    DeploymentList, DeploymentView, ErrorBody, Event, InverseOfferAnswer, MAX_TASK_LIMIT,
    MaintenanceView, QueueEntry, QueueView, ReadyView, StatusView, Subscription, TaskDetail,
    TaskEvent, TaskPage, TaskView,
};
pub use tritium_core::spec::AppSpec;

pub use transport::ClientOptions;
use transport::{Api, TransportError};

/// The most apps one page of [`Client::apps`] asks for (the API's default
/// page size).
pub const PAGE: usize = 100;

/// Why a call did not give its answer.
///
/// ```
/// use tritium_client::{Error, ErrorBody};
/// let e = Error::Api {
///     status: 404,
///     body: ErrorBody { error: "no app web".into(), field: "name".into() },
/// };
/// assert_eq!(e.status(), Some(404));
/// assert_eq!(e.to_string(), "refused (404): no app web (field: name)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The API URL cannot be used (not `http://` or `https://`, no host).
    Url(String),
    /// The CA file cannot be read or holds no certificate.
    CaFile(String),
    /// No connection (refused, no route, name not resolved, timed out).
    Unreachable(String),
    /// The TLS handshake failed: the server's certificate is not trusted
    /// (is the CA file given?) or not for this name, or no TLS there.
    Tls(String),
    /// Connected, but no usable response came back, or the connection (an
    /// event stream) broke.
    Broken(String),
    /// The API answered with an error status: the status and its
    /// `{"error", "field"}` body (a body that is not one is its `error`).
    Api {
        /// The HTTP status (4xx: the request is refused; 5xx: the server
        /// cannot serve it now).
        status: u16,
        /// What the API said.
        body: ErrorBody,
    },
    /// A success whose body is not the document expected (a server of
    /// another version, or not tritium).
    Decode(String),
}

impl Error {
    /// The HTTP status of an [`Error::Api`].
    ///
    /// ```
    /// use tritium_client::Error;
    /// assert_eq!(Error::Unreachable("down".into()).status(), None);
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API's answer when it was a 404 (no such app), for callers that
    /// treat "gone" as an answer rather than a failure.
    ///
    /// ```
    /// use tritium_client::{Error, ErrorBody};
    /// let e = Error::Api { status: 404, body: ErrorBody { error: "no app x".into(), field: "name".into() } };
    /// assert!(e.is_not_found());
    /// ```
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Url(m)
            | Error::CaFile(m)
            | Error::Unreachable(m)
            | Error::Tls(m)
            | Error::Broken(m)
            | Error::Decode(m) => f.write_str(m),
            Error::Api { status, body } => {
                write!(f, "refused ({status}): {}", body.error)?;
                if !body.field.is_empty() {
                    write!(f, " (field: {})", body.field)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Error {
        match e {
            TransportError::Url(m) => Error::Url(m),
            TransportError::CaFile(m) => Error::CaFile(m),
            TransportError::Unreachable(m) => Error::Unreachable(m),
            TransportError::Tls(m) => Error::Tls(m),
            TransportError::Broken(m) => Error::Broken(m),
        }
    }
}

/// An error status's body as the API's `{"error", "field"}` (a body that
/// is not one becomes its text as the error).
fn error_body(body: &[u8]) -> ErrorBody {
    serde_json::from_slice(body).unwrap_or_else(|_| ErrorBody {
        error: String::from_utf8_lossy(body).trim().to_owned(),
        field: String::new(),
    })
}

/// An app name (or any value) for a query string: letters, digits and
/// `-._` stay, anything else is escaped, so a typo reaches the server as
/// a 404 rather than as another query.
///
/// ```
/// assert_eq!(tritium_client::query_value("a b&c"), "a%20b%26c");
/// ```
pub fn query_value(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// A tritium REST API to talk to.
///
/// ```
/// let client = tritium_client::Client::new("http://127.0.0.1:8080/", None).unwrap();
/// assert_eq!(client.base(), "http://127.0.0.1:8080");
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    api: Api,
    /// Apps per page of [`Client::apps`].
    app_page: usize,
    /// Tasks per page of [`Client::apps`] and [`Client::app`].
    task_page: usize,
}

impl Client {
    /// The API at `url` (`http[s]://host[:port][/prefix]`), with a bearer
    /// token if the API wants one; `https://` trusts the built-in roots.
    ///
    /// ```
    /// use tritium_client::{Client, Error};
    /// assert!(matches!(Client::new("ftp://x", None), Err(Error::Url(_))));
    /// ```
    pub fn new(url: &str, token: Option<String>) -> Result<Client, Error> {
        let opts = ClientOptions {
            token,
            ..ClientOptions::default()
        };
        Client::with_options(url, &opts)
    }

    /// The API at `url` with a token, a CA file and the group's other
    /// hosts as `opts` says.
    ///
    /// ```
    /// use tritium_client::{Client, ClientOptions, Error};
    /// let mut opts = ClientOptions::default();
    /// opts.ca_file = Some("/nonexistent/ca.pem".into());
    /// assert!(matches!(Client::with_options("https://x", &opts), Err(Error::CaFile(_))));
    /// ```
    pub fn with_options(url: &str, opts: &ClientOptions) -> Result<Client, Error> {
        Ok(Client {
            api: Api::new(url, opts)?,
            app_page: PAGE,
            task_page: MAX_TASK_LIMIT,
        })
    }

    /// The same client asking for pages of `apps` apps and `tasks` tasks
    /// (each at least 1; the API caps them at its own limits). Whatever
    /// the sizes, [`Client::apps`] and [`Client::app`] answer everything.
    ///
    /// ```
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)
    ///     .unwrap()
    ///     .with_page_sizes(10, 500);
    /// # let _ = c;
    /// ```
    pub fn with_page_sizes(mut self, apps: usize, tasks: usize) -> Client {
        self.app_page = apps.max(1);
        self.task_page = tasks.clamp(1, MAX_TASK_LIMIT);
        self
    }

    /// The URL requests go to, for messages.
    ///
    /// ```
    /// let c = tritium_client::Client::new("10.0.0.1:8080", None).unwrap();
    /// assert_eq!(c.base(), "http://10.0.0.1:8080");
    /// ```
    pub fn base(&self) -> String {
        self.api.base()
    }

    /// The transport underneath, for requests this client has no method
    /// for.
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None).unwrap();
    /// let r = c.http().request("GET", "/health", None)?;
    /// assert_eq!(r.status, 200);
    /// # Ok::<(), tritium_client::transport::TransportError>(())
    /// ```
    pub fn http(&self) -> &Api {
        &self.api
    }

    /// One exchange: a 2xx body read as `T`, or the error.
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<T, Error> {
        let r = self.api.request(method, path, body)?;
        if !(200..300).contains(&r.status) {
            return Err(Error::Api {
                status: r.status,
                body: error_body(&r.body),
            });
        }
        serde_json::from_slice(&r.body).map_err(|e| {
            Error::Decode(format!(
                "{method} {path}: the answer is not the document expected: {e}"
            ))
        })
    }

    fn send_spec(&self, method: &str, spec: &AppSpec) -> Result<AppView, Error> {
        let body = serde_json::to_vec(spec).map_err(|e| Error::Decode(e.to_string()))?;
        self.call(method, "/v1/api/app", Some(&body))
    }

    /// Every app with every task, by name: page after page of apps, and
    /// for an app whose tasks did not fit in its page, page after page of
    /// its tasks.
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// for app in c.apps()? {
    ///     println!("{} {} {}/{}", app.name, app.status, app.running, app.instances);
    /// }
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn apps(&self) -> Result<Vec<AppView>, Error> {
        let mut apps = Vec::new();
        let mut offset = 0;
        loop {
            let page = self.apps_page_of(offset, self.app_page, TaskDetail::All, self.task_page)?;
            let next = page.next_offset;
            for mut app in page.apps {
                if let Some(after) = app.next_task.take() {
                    self.rest_of_tasks(&mut app, after)?;
                }
                apps.push(app);
            }
            match next {
                // Pages only move forward; anything else would loop.
                Some(n) if n > offset => offset = n,
                _ => return Ok(apps),
            }
        }
    }

    /// One page of apps: at most `limit` apps from `offset` (by name),
    /// with `tasks` of theirs (`All`: at most [`MAX_TASK_LIMIT`] task
    /// documents in the page). Follow `next_offset` for the next page.
    ///
    /// ```no_run
    /// use tritium_client::TaskDetail;
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// let page = c.apps_page(0, 10, TaskDetail::Summary)?;
    /// println!("{} of {} apps", page.apps.len(), page.total);
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn apps_page(
        &self,
        offset: usize,
        limit: usize,
        tasks: TaskDetail,
    ) -> Result<AppList, Error> {
        self.apps_page_of(offset, limit, tasks, self.task_page)
    }

    fn apps_page_of(
        &self,
        offset: usize,
        limit: usize,
        tasks: TaskDetail,
        task_limit: usize,
    ) -> Result<AppList, Error> {
        let task_limit = if tasks == TaskDetail::All {
            format!("&task_limit={task_limit}")
        } else {
            String::new()
        };
        self.call(
            "GET",
            &format!(
                "/v1/api/app/all?offset={offset}&limit={limit}&tasks={}{task_limit}",
                tasks.as_str()
            ),
            None,
        )
    }

    /// One app with every task (`Error::Api` 404 if there is none): its
    /// tasks page after page.
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// let web = c.app("web")?;
    /// println!("version {}: {:?}", web.version, web.status);
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn app(&self, name: &str) -> Result<AppView, Error> {
        let page = TaskPage {
            limit: self.task_page,
            ..TaskPage::default()
        };
        let mut app = self.app_page(name, &page)?;
        if let Some(after) = app.next_task.take() {
            self.rest_of_tasks(&mut app, after)?;
        }
        Ok(app)
    }

    /// One app with one page of its tasks: `page.limit` tasks after
    /// `page.after` (`next_task` names where the next page starts).
    ///
    /// ```no_run
    /// use tritium_client::{TaskDetail, TaskPage};
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// let web = c.app_page("web", &TaskPage::first(TaskDetail::Summary))?;
    /// println!("{} tasks: {:?}", web.tasks_total, web.task_states);
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn app_page(&self, name: &str, page: &TaskPage) -> Result<AppView, Error> {
        let after = page
            .after
            .as_deref()
            .map(|a| format!("&task_after={}", query_value(a)))
            .unwrap_or_default();
        self.call(
            "GET",
            &format!(
                "/v1/api/app?name={}&tasks={}&task_limit={}{after}",
                query_value(name),
                page.detail.as_str(),
                page.limit
            ),
            None,
        )
    }

    /// Append to `app` its tasks after `after`, page after page.
    fn rest_of_tasks(&self, app: &mut AppView, mut after: String) -> Result<(), Error> {
        loop {
            let page = TaskPage {
                detail: TaskDetail::All,
                after: Some(after),
                limit: self.task_page,
            };
            let more = self.app_page(&app.name, &page)?;
            app.tasks.extend(more.tasks);
            match more.next_task {
                Some(next) if Some(&next) != page.after.as_ref() => after = next,
                _ => return Ok(()),
            }
        }
    }

    /// Kill one task of an app (it is replaced, as any task tritium
    /// kills), with `grace` between SIGTERM and SIGKILL if given (instead
    /// of the app's `kill_policy`). Answers the app as it is now.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// c.kill("web", "web.0.1f2e3d4c", Some(Duration::from_secs(10)))?;
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn kill(&self, name: &str, task: &str, grace: Option<Duration>) -> Result<AppView, Error> {
        let grace = grace_query(grace);
        self.call(
            "POST",
            &format!(
                "/v1/api/app/kill?name={}&task={}{grace}",
                query_value(name),
                query_value(task)
            ),
            None,
        )
    }

    /// Create an app (409 if the name is taken, 422 if the spec is refused).
    ///
    /// ```no_run
    /// use tritium_client::{AppSpec, Client};
    /// let c = Client::new("http://127.0.0.1:8080", None)?;
    /// let app = c.deploy(&AppSpec::command_app("hello", 1, 0.1, 32.0, "sleep 3600"))?;
    /// assert_eq!(app.version, 1);
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn deploy(&self, spec: &AppSpec) -> Result<AppView, Error> {
        self.send_spec("POST", spec)
    }

    /// Replace an app's spec: a scale when only the instance count
    /// changes, a rolling update otherwise (404 if there is no such app).
    ///
    /// ```no_run
    /// use tritium_client::{AppSpec, Client};
    /// let c = Client::new("http://127.0.0.1:8080", None)?;
    /// let app = c.update(&AppSpec::command_app("hello", 1, 0.1, 32.0, "sleep 7200"))?;
    /// println!("now version {}", app.version);
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn update(&self, spec: &AppSpec) -> Result<AppView, Error> {
        self.send_spec("PUT", spec)
    }

    /// Change an app's instance count alone (nothing is restarted): its
    /// current spec with `instances` changed, sent as an update.
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// assert_eq!(c.scale("web", 5)?.instances, 5);
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn scale(&self, name: &str, instances: u32) -> Result<AppView, Error> {
        let mut spec = self
            .app_page(name, &TaskPage::first(TaskDetail::None))?
            .spec;
        spec.instances = instances;
        self.update(&spec)
    }

    /// A rolling restart of every instance (the crash-loop backoff starts
    /// over).
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// let app = c.restart("web")?;
    /// println!("restarting as version {}", app.version);
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn restart(&self, name: &str) -> Result<AppView, Error> {
        self.restart_with_grace(name, None)
    }

    /// [`Client::restart`], with `grace` between SIGTERM and SIGKILL for
    /// every task the restart kills (instead of the app's `kill_policy`).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// c.restart_with_grace("web", Some(Duration::from_secs(30)))?;
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn restart_with_grace(
        &self,
        name: &str,
        grace: Option<Duration>,
    ) -> Result<AppView, Error> {
        self.call(
            "POST",
            &format!(
                "/v1/api/app/restart?name={}{}",
                query_value(name),
                grace_query(grace)
            ),
            None,
        )
    }

    /// A rolling update with a canary of its own: `canary` instances of
    /// the new spec first, then a wait for
    /// [`Client::control_deployment`]'s resume (rolled back after
    /// `timeout` without one, if given). The stored spec's own
    /// `upgrade.canary` is not changed. 422 when the spec only scales.
    ///
    /// ```no_run
    /// use tritium_client::{AppSpec, Client};
    /// let c = Client::new("http://127.0.0.1:8080", None)?;
    /// let spec = AppSpec::command_app("web", 10, 0.1, 32.0, "./serve --v2");
    /// c.update_with_canary(&spec, 2, None)?;
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn update_with_canary(
        &self,
        spec: &AppSpec,
        canary: u32,
        timeout: Option<Duration>,
    ) -> Result<AppView, Error> {
        let body = serde_json::to_vec(spec).map_err(|e| Error::Decode(e.to_string()))?;
        self.call("PUT", &canary_path(canary, timeout), Some(&body))
    }

    /// [`Client::send_document`] as a PUT with a canary of its own (one
    /// app; see [`Client::update_with_canary`]).
    pub fn send_document_with_canary(
        &self,
        doc: &[u8],
        canary: u32,
        timeout: Option<Duration>,
    ) -> Result<AppView, Error> {
        self.call("PUT", &canary_path(canary, timeout), Some(doc))
    }

    /// The updates in progress (`GET /v1/api/deployments`), by app name.
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// for d in c.deployments()? {
    ///     println!("{} v{} -> v{}: {}/{}", d.app, d.from_version, d.to_version, d.steps_done, d.steps_total);
    /// }
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn deployments(&self) -> Result<Vec<DeploymentView>, Error> {
        let l: DeploymentList = self.call("GET", "/v1/api/deployments", None)?;
        Ok(l.deployments)
    }

    /// Pause, resume or abort (roll back) `app`'s update in progress; the
    /// update as it stands after it. A 409 when there is none.
    ///
    /// ```no_run
    /// use tritium_client::DeployAction;
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// let d = c.control_deployment("web", DeployAction::Resume)?;
    /// println!("{:?}", d.state);
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn control_deployment(
        &self,
        app: &str,
        action: DeployAction,
    ) -> Result<DeploymentView, Error> {
        let verb = match action {
            DeployAction::Pause => "pause",
            DeployAction::Resume => "resume",
            DeployAction::Abort => "abort",
        };
        self.call(
            "POST",
            &format!("/v1/api/deployments/{}/{verb}", query_value(app)),
            None,
        )
    }

    /// Delete an app: its tasks are killed, then it is forgotten. Returns
    /// once the API accepted it; [`Client::app`] answers 404 when it is gone.
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// c.delete("web")?;
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn delete(&self, name: &str) -> Result<(), Error> {
        self.delete_with_grace(name, None)
    }

    /// [`Client::delete`], with `grace` between SIGTERM and SIGKILL for
    /// every task (instead of the app's `kill_policy`); tasks already
    /// being killed are killed again with it.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// c.delete_with_grace("web", Some(Duration::ZERO))?;
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn delete_with_grace(&self, name: &str, grace: Option<Duration>) -> Result<(), Error> {
        #[derive(serde::Deserialize)]
        struct Deleting {}
        let Deleting {} = self.call(
            "DELETE",
            &format!(
                "/v1/api/app?name={}{}",
                query_value(name),
                grace_query(grace)
            ),
            None,
        )?;
        Ok(())
    }

    /// Pending instances and why offers were refused, for one app or all.
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// for entry in c.queue(None)?.queue {
    ///     println!("{}: {} pending", entry.app, entry.pending);
    /// }
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn queue(&self, name: Option<&str>) -> Result<QueueView, Error> {
        let path = match name {
            Some(n) => format!("/v1/api/app/queue?name={}", query_value(n)),
            None => "/v1/api/app/queue".to_owned(),
        };
        self.call("GET", &path, None)
    }

    /// Agents scheduled for maintenance: which drain, how many tasks are
    /// left on each, how their inverse offers were answered.
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// for a in c.maintenance()?.agents {
    ///     println!("{}: draining {}, {} tasks left", a.agent_id, a.draining, a.tasks_left);
    /// }
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn maintenance(&self) -> Result<MaintenanceView, Error> {
        self.call("GET", "/v1/api/maintenance", None)
    }

    /// The framework's snapshot: subscription, counters, every app.
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// println!("{:?}, {} apps", c.status()?.subscription, c.status()?.apps.len());
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn status(&self) -> Result<StatusView, Error> {
        self.call("GET", "/v1/api/status", None)
    }

    /// Send an app document as it is (one app, or hydrogen's list of
    /// them) with `POST` (create) or `PUT` (update): the server checks it,
    /// so a file a user wrote is refused with the server's field path. The
    /// apps as they are after it, in the document's order.
    ///
    /// ```no_run
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// let doc = br#"{"name": "web", "instances": 1, "resources": {"cpu": 0.1, "mem": 32},
    ///                "command": {"cmd": "sleep 3600"}}"#;
    /// let apps = c.send_document("POST", doc)?;
    /// assert_eq!(apps[0].name, "web");
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn send_document(&self, method: &str, doc: &[u8]) -> Result<Vec<AppView>, Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(Box<AppView>),
            Many(Vec<AppView>),
        }
        Ok(match self.call(method, "/v1/api/app", Some(doc))? {
            OneOrMany::One(app) => vec![*app],
            OneOrMany::Many(apps) => apps,
        })
    }

    /// Follow app and task changes (of one app, or all) as they happen.
    ///
    /// ```no_run
    /// use tritium_client::{Client, Event};
    /// let c = Client::new("http://127.0.0.1:8080", None)?;
    /// for event in c.events(None)? {
    ///     match event? {
    ///         Event::Task(t) => println!("{} {}", t.task, t.state),
    ///         Event::App(a) => println!("{} {}", a.app, a.event),
    ///     }
    /// }
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn events(&self, app: Option<&str>) -> Result<Events, Error> {
        let path = match app {
            Some(a) => format!("/v1/api/events?app={}", query_value(a)),
            None => "/v1/api/events".to_owned(),
        };
        match self.api.events(&path)? {
            Ok(stream) => Ok(Events {
                stream,
                ended: false,
            }),
            Err(r) => Err(Error::Api {
                status: r.status,
                body: error_body(&r.body),
            }),
        }
    }
}

/// A followed event stream: [`Events::next_before`] with a deadline, or an
/// iterator that waits as long as it takes.
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
/// let mut events = c.events(Some("web"))?;
/// if let Some(e) = events.next_before(Instant::now() + Duration::from_secs(5))? {
///     println!("{} changed", e.app());
/// }
/// # Ok::<(), tritium_client::Error>(())
/// ```
#[derive(Debug)]
pub struct Events {
    stream: transport::EventStream,
    /// The iterator reported the stream's end.
    ended: bool,
}

impl Events {
    /// The next event, `Ok(None)` once `deadline` passes first, or an error
    /// when the stream ended or sent what is not an event.
    ///
    /// ```no_run
    /// use std::time::{Duration, Instant};
    /// let c = tritium_client::Client::new("http://127.0.0.1:8080", None)?;
    /// let mut events = c.events(None)?;
    /// while let Some(e) = events.next_before(Instant::now() + Duration::from_secs(1))? {
    ///     println!("{e:?}");
    /// }
    /// # Ok::<(), tritium_client::Error>(())
    /// ```
    pub fn next_before(&mut self, deadline: Instant) -> Result<Option<Event>, Error> {
        match self.stream.next(deadline)? {
            None => Ok(None),
            Some(raw) => serde_json::from_str(&raw.data).map(Some).map_err(|e| {
                Error::Decode(format!("an event that is not one ({e}): {}", raw.data))
            }),
        }
    }
}

impl Iterator for Events {
    type Item = Result<Event, Error>;

    /// The next event, waiting as long as it takes (the server sends a
    /// keep-alive comment every 15 s); after an error, `None`.
    fn next(&mut self) -> Option<Self::Item> {
        while !self.ended {
            let deadline = Instant::now() + Duration::from_secs(3600);
            match self.next_before(deadline) {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => {}
                Err(e @ Error::Decode(_)) => return Some(Err(e)),
                Err(e) => {
                    // The stream is over: report it once, then end.
                    self.ended = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// `&grace_period_seconds=S`, or nothing.
fn grace_query(grace: Option<Duration>) -> String {
    grace
        .map(|g| format!("&grace_period_seconds={}", g.as_secs_f64()))
        .unwrap_or_default()
}

/// The PUT path asking for a canary.
fn canary_path(canary: u32, timeout: Option<Duration>) -> String {
    let timeout = timeout
        .map(|t| format!("&canary_timeout_seconds={}", t.as_secs_f64()))
        .unwrap_or_default();
    format!("/v1/api/app?canary={canary}{timeout}")
}

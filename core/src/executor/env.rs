//! The `MESOS_*` environment a Mesos agent gives an executor, read from a
//! map the caller passes in (the engine passes `std::env::vars()`; tests
//! pass a literal map).
//!
//! The variables and their rules are the agent's (`slave.cpp`,
//! `executorEnvironment`) and the v1 executor library's
//! (`src/executor/executor.cpp`, `MesosProcess`): `MESOS_CHECKPOINT` is
//! `1` or anything else (off); with checkpointing on,
//! `MESOS_RECOVERY_TIMEOUT` and `MESOS_SUBSCRIPTION_BACKOFF_MAX` are
//! required; durations are stout's (`15mins`, `2secs`, `500ms`, `1.5hrs`).
//! Nothing here reads the process environment itself.

use std::collections::BTreeMap;
use std::time::Duration;

/// Why the environment cannot run an executor: which variable, and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A variable the agent always sets is missing.
    #[error("{name} is not set: is this process started by a Mesos agent?")]
    Missing {
        /// The variable, e.g. `MESOS_FRAMEWORK_ID`.
        name: &'static str,
    },
    /// A variable is set but empty.
    #[error("{name} is empty")]
    Empty {
        /// The variable.
        name: &'static str,
    },
    /// A duration that is not a stout duration (`<number><unit>`, unit one
    /// of ns, us, ms, secs, mins, hrs, days, weeks).
    #[error("{name}={value:?} is not a duration such as 15mins, 2secs or 500ms")]
    BadDuration {
        /// The variable.
        name: &'static str,
        /// Its value as set.
        value: String,
    },
    /// The agent endpoint is not `host:port` (nor a `MESOS_SLAVE_PID` of
    /// the form `slave(1)@host:port`).
    #[error("{name}={value:?} is not host:port")]
    BadEndpoint {
        /// The variable the endpoint came from.
        name: &'static str,
        /// Its value as set.
        value: String,
    },
}

/// Everything an executor learns from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorEnv {
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: String,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: String,
    /// `MESOS_AGENT_ENDPOINT` (`host:port`), else the address part of
    /// `MESOS_SLAVE_PID`: where `/api/v1/executor` is served.
    pub agent_endpoint: String,
    /// `MESOS_SLAVE_ID`, when set.
    pub agent_id: Option<String>,
    /// `MESOS_DIRECTORY`: the sandbox on the agent's file system.
    pub directory: Option<String>,
    /// `MESOS_SANDBOX`: the sandbox as seen inside the container (set
    /// when the executor runs in one).
    pub sandbox: Option<String>,
    /// `MESOS_CHECKPOINT=1`: the framework checkpoints, so the agent can
    /// restart under a live executor; the executor then re-subscribes
    /// instead of shutting down when the agent goes away.
    pub checkpoint: bool,
    /// `MESOS_RECOVERY_TIMEOUT` (with checkpointing): how long to keep
    /// trying to re-subscribe after the agent went away.
    pub recovery_timeout: Option<Duration>,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX` (with checkpointing): retries are
    /// spread uniformly between 0 and this.
    pub subscription_backoff_max: Option<Duration>,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`: how long the executor has
    /// between SHUTDOWN and being killed (default 5 s, the agent's).
    pub shutdown_grace_period: Duration,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`: sent as `Authorization:
    /// Bearer <token>` on every request. Never logged.
    pub authentication_token: Option<String>,
}

/// The agent's default `--executor_shutdown_grace_period`.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

impl ExecutorEnv {
    /// Read the executor's environment from `vars` (name → value).
    /// Variables that do not start with `MESOS_` are ignored.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tritium_core::executor::ExecutorEnv;
    ///
    /// let env = ExecutorEnv::from_vars([
    ///     ("MESOS_FRAMEWORK_ID", "fw-1"),
    ///     ("MESOS_EXECUTOR_ID", "hello"),
    ///     ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
    ///     ("MESOS_CHECKPOINT", "1"),
    ///     ("MESOS_RECOVERY_TIMEOUT", "15mins"),
    ///     ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
    ///     ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
    /// ])?;
    /// assert!(env.checkpoint);
    /// assert_eq!(env.recovery_timeout, Some(Duration::from_secs(900)));
    /// # Ok::<(), tritium_core::executor::EnvError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`EnvError`] naming the first variable that is missing or malformed.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<ExecutorEnv, EnvError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let map: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.as_ref().starts_with("MESOS_"))
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        let required = |name: &'static str| -> Result<String, EnvError> {
            match map.get(name) {
                None => Err(EnvError::Missing { name }),
                Some(v) if v.is_empty() => Err(EnvError::Empty { name }),
                Some(v) => Ok(v.clone()),
            }
        };
        let optional = |name: &str| map.get(name).filter(|v| !v.is_empty()).cloned();
        let duration = |name: &'static str| -> Result<Option<Duration>, EnvError> {
            match optional(name) {
                None => Ok(None),
                Some(value) => parse_duration(&value)
                    .map(Some)
                    .ok_or(EnvError::BadDuration { name, value }),
            }
        };
        let framework_id = required("MESOS_FRAMEWORK_ID")?;
        let executor_id = required("MESOS_EXECUTOR_ID")?;
        let agent_endpoint = match optional("MESOS_AGENT_ENDPOINT") {
            Some(v) => check_endpoint("MESOS_AGENT_ENDPOINT", v)?,
            None => match optional("MESOS_SLAVE_PID") {
                // `slave(1)@10.0.0.1:5051`: the address after the `@`.
                Some(pid) => match pid.split_once('@') {
                    Some((_, addr)) => check_endpoint("MESOS_SLAVE_PID", addr.to_owned())?,
                    None => {
                        return Err(EnvError::BadEndpoint {
                            name: "MESOS_SLAVE_PID",
                            value: pid,
                        });
                    }
                },
                None => {
                    return Err(EnvError::Missing {
                        name: "MESOS_AGENT_ENDPOINT",
                    });
                }
            },
        };
        let checkpoint = optional("MESOS_CHECKPOINT").as_deref() == Some("1");
        let (recovery_timeout, subscription_backoff_max) = if checkpoint {
            // executor.cpp exits when these are missing with checkpointing.
            let r = duration("MESOS_RECOVERY_TIMEOUT")?.ok_or(EnvError::Missing {
                name: "MESOS_RECOVERY_TIMEOUT",
            })?;
            let b = duration("MESOS_SUBSCRIPTION_BACKOFF_MAX")?.ok_or(EnvError::Missing {
                name: "MESOS_SUBSCRIPTION_BACKOFF_MAX",
            })?;
            (Some(r), Some(b))
        } else {
            (None, None)
        };
        let shutdown_grace_period = duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")?
            .unwrap_or(DEFAULT_SHUTDOWN_GRACE_PERIOD);
        Ok(ExecutorEnv {
            framework_id,
            executor_id,
            agent_endpoint,
            agent_id: optional("MESOS_SLAVE_ID"),
            directory: optional("MESOS_DIRECTORY"),
            sandbox: optional("MESOS_SANDBOX"),
            checkpoint,
            recovery_timeout,
            subscription_backoff_max,
            shutdown_grace_period,
            authentication_token: optional("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"),
        })
    }
}

fn check_endpoint(name: &'static str, value: String) -> Result<String, EnvError> {
    let ok = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/');
    if ok {
        Ok(value)
    } else {
        Err(EnvError::BadEndpoint { name, value })
    }
}

/// A stout duration (`Duration::parse`): a non-negative decimal number and
/// a unit — `ns`, `us`, `ms`, `secs`, `mins`, `hrs`, `days`, `weeks`.
/// `None` when it is not one.
///
/// ```
/// use std::time::Duration;
/// use tritium_core::executor::parse_duration;
/// assert_eq!(parse_duration("15mins"), Some(Duration::from_secs(900)));
/// assert_eq!(parse_duration("1.5secs"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2"), None);
/// ```
pub fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    let unit_secs = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "secs" => 1.0,
        "mins" => 60.0,
        "hrs" => 3600.0,
        "days" => 86_400.0,
        "weeks" => 604_800.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(n * unit_secs).ok()
}

/// The environment the agent gives an executor, as `(name, value)` pairs:
/// what a simulated agent (or a test) starts an executor with. The inverse
/// of [`ExecutorEnv::from_vars`].
pub fn agent_environment(env: &ExecutorEnv) -> Vec<(&'static str, String)> {
    let secs = |d: Duration| format!("{}ms", d.as_millis());
    let mut out = vec![
        ("MESOS_FRAMEWORK_ID", env.framework_id.clone()),
        ("MESOS_EXECUTOR_ID", env.executor_id.clone()),
        ("MESOS_AGENT_ENDPOINT", env.agent_endpoint.clone()),
        (
            "MESOS_CHECKPOINT",
            if env.checkpoint { "1" } else { "0" }.into(),
        ),
        (
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
            secs(env.shutdown_grace_period),
        ),
    ];
    let optional = [
        ("MESOS_SLAVE_ID", env.agent_id.clone()),
        ("MESOS_DIRECTORY", env.directory.clone()),
        ("MESOS_SANDBOX", env.sandbox.clone()),
        ("MESOS_RECOVERY_TIMEOUT", env.recovery_timeout.map(secs)),
        (
            "MESOS_SUBSCRIPTION_BACKOFF_MAX",
            env.subscription_backoff_max.map(secs),
        ),
        (
            "MESOS_EXECUTOR_AUTHENTICATION_TOKEN",
            env.authentication_token.clone(),
        ),
    ];
    out.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("MESOS_FRAMEWORK_ID", "fw"),
            ("MESOS_EXECUTOR_ID", "ex"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("PATH", "/bin"),
        ]
    }

    #[test]
    fn without_checkpointing_the_recovery_variables_are_not_needed() {
        let env = ExecutorEnv::from_vars(base()).expect("a minimal environment");
        assert!(!env.checkpoint);
        assert_eq!(env.recovery_timeout, None);
        assert_eq!(env.shutdown_grace_period, DEFAULT_SHUTDOWN_GRACE_PERIOD);
    }

    #[test]
    fn checkpointing_requires_the_recovery_timeout_and_backoff() {
        let mut vars = base();
        vars.push(("MESOS_CHECKPOINT", "1"));
        assert_eq!(
            ExecutorEnv::from_vars(vars.clone()),
            Err(EnvError::Missing {
                name: "MESOS_RECOVERY_TIMEOUT"
            })
        );
        vars.push(("MESOS_RECOVERY_TIMEOUT", "soon"));
        assert_eq!(
            ExecutorEnv::from_vars(vars.clone()),
            Err(EnvError::BadDuration {
                name: "MESOS_RECOVERY_TIMEOUT",
                value: "soon".into()
            })
        );
    }

    #[test]
    fn each_missing_or_bad_variable_is_named() {
        let without = |name: &str| {
            base()
                .into_iter()
                .filter(|(k, _)| *k != name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ExecutorEnv::from_vars(without("MESOS_FRAMEWORK_ID")),
            Err(EnvError::Missing {
                name: "MESOS_FRAMEWORK_ID"
            })
        );
        assert_eq!(
            ExecutorEnv::from_vars(without("MESOS_AGENT_ENDPOINT")),
            Err(EnvError::Missing {
                name: "MESOS_AGENT_ENDPOINT"
            })
        );
        let mut pid = without("MESOS_AGENT_ENDPOINT");
        pid.push(("MESOS_SLAVE_PID", "slave(1)@10.0.0.1:5051"));
        assert_eq!(
            ExecutorEnv::from_vars(pid).expect("pid").agent_endpoint,
            "10.0.0.1:5051"
        );
        let mut bad = without("MESOS_AGENT_ENDPOINT");
        bad.push(("MESOS_AGENT_ENDPOINT", "http://x"));
        assert!(matches!(
            ExecutorEnv::from_vars(bad),
            Err(EnvError::BadEndpoint { .. })
        ));
    }

    #[test]
    fn the_agent_environment_reads_back() {
        let mut vars = base();
        vars.extend([
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "15mins"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "1.5secs"),
            ("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "t0k"),
        ]);
        let env = ExecutorEnv::from_vars(vars).expect("env");
        assert_eq!(env.shutdown_grace_period, Duration::from_millis(1500));
        let again = ExecutorEnv::from_vars(agent_environment(&env)).expect("round trip");
        assert_eq!(again, env);
    }

    #[test]
    fn durations_follow_stout() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1weeks"), Some(Duration::from_secs(604_800)));
        for bad in ["", "secs", "1 secs", "1s", "-1secs", "1.2.3secs"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}

//! A throwaway etcd server for the tests that need one (Debian's
//! etcd-server, which scripts/test installs): started on random loopback
//! ports with a temporary data directory, killed on drop. Included with
//! `#[path]` by the test binaries that use it, the engine's and the API's
//! (`api/tests/procs/`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tritium_engine::store::EtcdUrl;

/// A throwaway single-member etcd on 127.0.0.1, killed on drop.
pub struct Etcd {
    child: Child,
    pub client_port: u16,
    dir: TempDir,
}

/// Bound on etcd's start (it usually answers within a second).
const ETCD_START: Duration = Duration::from_secs(30);

pub fn etcd_binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("etcd"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "these tests need an `etcd` server binary on PATH and found none: \
             install Debian's etcd-server (`apt-get install etcd-server`; scripts/test \
             installs it, and CI runs scripts/test)"
        )
    })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Etcd {
    pub fn start() -> Etcd {
        let bin = etcd_binary();
        // A port picked free can be taken before etcd binds it: try again.
        let mut last = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let (client_port, peer_port) = (free_port(), free_port());
            let client = format!("http://127.0.0.1:{client_port}");
            let peer = format!("http://127.0.0.1:{peer_port}");
            let log = std::fs::File::create(dir.path().join("etcd.log")).expect("etcd log file");
            let child = Command::new(&bin)
                .arg("--name=t")
                .arg(format!("--data-dir={}", dir.path().join("data").display()))
                .arg(format!("--listen-client-urls={client}"))
                .arg(format!("--advertise-client-urls={client}"))
                .arg(format!("--listen-peer-urls={peer}"))
                .arg(format!("--initial-advertise-peer-urls={peer}"))
                .arg(format!("--initial-cluster=t={peer}"))
                .arg("--logger=zap")
                .arg("--log-level=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut etcd = Etcd {
                child,
                client_port,
                dir,
            };
            match etcd.wait_healthy() {
                Ok(()) => return etcd,
                Err(e) => last = format!("{e}; its log:\n{}", etcd.log()),
            }
        }
        panic!("etcd did not start: {last}")
    }

    pub fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + ETCD_START;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("etcd exited with {status}"));
            }
            if self.healthy() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("etcd not healthy within {ETCD_START:?}"))
    }

    pub fn healthy(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.client_port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let mut body = String::new();
        s.write_all(req.as_bytes()).is_ok()
            && s.read_to_string(&mut body).is_ok()
            && body.contains("\"health\":\"true\"")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// The `etcd://` store URL for `prefix` (tritium's `--store` value).
    pub fn store(&self, prefix: &str) -> String {
        format!("etcd://127.0.0.1:{}/{prefix}", self.client_port)
    }

    pub fn url(&self, prefix: &str) -> EtcdUrl {
        EtcdUrl::parse(&self.store(prefix)).unwrap()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Kills etcd (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

//! hookd as a child process: the real binary, for the tests that kill it with SIGKILL or watch
//! its memory from outside.

use std::time::{Duration, Instant};

/// A hookd binary run as a child process (for tests that kill it), on `port`, with the admin
/// token set and quiet logs. Killed when dropped.
pub struct HookdProcess {
    pub child: std::process::Child,
    pub base: String,
}

impl HookdProcess {
    pub fn start(port: u16, args: &[&str]) -> HookdProcess {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("HOOKD_ADMIN_TOKEN", super::TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("hookd binary starts");
        HookdProcess {
            child,
            base: format!("http://127.0.0.1:{port}/api/v1"),
        }
    }

    /// Waits for `/health`; generous, since the machine may be busy building or testing. A
    /// process that exits instead (a port taken meanwhile, a refused flag) fails at once rather
    /// than at the deadline.
    pub async fn wait_ready(&self, http: &reqwest::Client) {
        assert!(
            self.become_ready(http).await,
            "hookd exited before it was ready"
        );
    }

    /// Waits for `/health` as `wait_ready` does; false if the process exited first.
    pub async fn become_ready(&self, http: &reqwest::Client) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.has_exited() {
                return false;
            }
            if let Ok(response) = http.get(format!("{}/health", self.base)).send().await
                && response.status().is_success()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("hookd did not become ready");
    }

    /// A client that speaks to this process with the admin token.
    pub fn client(&self) -> super::TestClient {
        super::TestClient {
            base: self.base.trim_end_matches("/api/v1").to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// SIGKILL: no shutdown code runs. Returns once the process is gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL reaches hookd");
        self.child.wait().expect("hookd is reaped");
    }

    /// Whether the process has ended (it is a zombie until reaped, or gone), read from
    /// `/proc/<pid>/stat` so that a shared reference will do.
    pub fn has_exited(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())) {
            // The state follows the parenthesised command name.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
            Err(_) => true,
        }
    }

    /// The process's resident set size (`VmRSS` in `/proc/<pid>/status`), in bytes.
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("hookd's /proc status is readable");
        resident_bytes_in(&status)
    }
}

/// The `VmRSS` line of a `/proc/<pid>/status` text, in bytes.
pub fn resident_bytes_in(status: &str) -> u64 {
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib * 1024
}

impl Drop for HookdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

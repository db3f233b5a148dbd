//! What a person sees when they run the `hookd` binary: the start-up summary on stdout, the
//! access log on stderr (through a pipe, so without colour), `--log-format json`, and refused
//! environment values. These run the real binary, not `app::start`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// Variables that would change what the binary does, removed so that only the test decides.
const HOOKD_VARIABLES: &[&str] = &[
    "HOOKD_ADMIN_TOKEN",
    "HOOKD_DATABASE_URL",
    "HOOKD_ALLOW_PRIVATE_TARGETS",
    "HOOKD_LOG_FORMAT",
    "HOOKD_NODE_ID",
    "RUST_LOG",
    "NO_COLOR",
    "HOOKD_TLS_CERT",
    "HOOKD_TLS_KEY",
];

/// How long a start may take on a loaded machine before the test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A started `hookd serve`, read up to its "listening on" line. Killed when dropped, so that a
/// failing test leaves no server behind.
pub struct HookdProcess {
    child: Child,
    /// The readers of stdout and stderr, taken by `kill`.
    output: Option<(JoinHandle<String>, JoinHandle<String>)>,
    pub base_url: String,
}

/// What the process wrote, read after it was killed.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

pub fn hookd_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookd"));
    command.args(args);
    for variable in HOOKD_VARIABLES {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied());
    command
}

impl HookdProcess {
    /// Starts `hookd serve --listen 127.0.0.1:0` with `args` and `env`, and waits for the summary.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> HookdProcess {
        Self::start_with(args, env, true)
    }

    /// Like `start`, but with `keep_stderr` false the read end of hookd's stderr pipe is closed
    /// at once, as when its log collector dies: every log line then fails with `EPIPE`.
    pub fn start_with(args: &[&str], env: &[(&str, &str)], keep_stderr: bool) -> HookdProcess {
        let serve_args: Vec<&str> = ["serve", "--listen", "127.0.0.1:0"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let mut child = hookd_command(&serve_args, env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the hookd binary");
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            if keep_stderr {
                let _ = stderr_pipe.read_to_string(&mut text);
            }
            text
        });
        // stdout is read on a thread that reports each line, so a hookd that never prints
        // its summary fails the test after START_TIMEOUT instead of hanging it.
        let stdout_pipe = child.stdout.take().expect("stdout is piped");
        let (lines, line_received) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stdout_pipe).lines() {
                let Ok(line) = line else { break };
                text.push_str(&line);
                text.push('\n');
                let _ = lines.send(line);
            }
            text
        });
        let base_url = loop {
            match line_received.recv_timeout(START_TIMEOUT) {
                Ok(line) => {
                    if let Some((_, url)) = line.split_once(" listening on ") {
                        break url.to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "hookd printed no \"listening on\" line; stdout:\n{}\nstderr:\n{}",
                        stdout.join().unwrap_or_default(),
                        stderr.join().unwrap_or_default()
                    );
                }
            }
        };
        HookdProcess {
            child,
            output: Some((stdout, stderr)),
            base_url,
        }
    }

    /// The process id, for tests that signal it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `bound` for the process to exit by itself.
    pub fn wait_for_exit(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + bound;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the process and returns everything it wrote.
    pub fn kill(mut self) -> Output {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (stdout, stderr) = self.output.take().expect("killed only once");
        Output {
            stdout: stdout.join().expect("the stdout reader panicked"),
            stderr: stderr.join().expect("the stderr reader panicked"),
        }
    }
}

impl Drop for HookdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn data_dir_arg(dir: &Path) -> String {
    dir.display().to_string()
}

/// The summary: stdout from its "listening on" line to the end.
fn summary_of(stdout: &str) -> &str {
    let at = stdout.find(" listening on ").expect("no summary on stdout");
    let line_start = stdout[..at].rfind('\n').map_or(0, |newline| newline + 1);
    &stdout[line_start..]
}

#[test]
fn the_start_up_summary_names_version_address_store_node_token_and_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = data_dir_arg(dir.path());
    let token = "short-token";
    let hookd = HookdProcess::start(
        &["--data-dir", &data_dir, "--node-id", "node-summary"],
        &[
            ("HOOKD_ADMIN_TOKEN", token),
            // Booleans take 1/0, yes/no, on/off as well as true/false.
            ("HOOKD_ALLOW_PRIVATE_TARGETS", "1"),
        ],
    );
    let base_url = hookd.base_url.clone();
    let output = hookd.kill();
    let summary = summary_of(&output.stdout);
    assert!(base_url.starts_with("http://127.0.0.1:"), "{summary}");
    for expected in [
        format!(
            "hookd {} listening on {base_url}",
            env!("CARGO_PKG_VERSION")
        ),
        format!("store:       SQLite in {data_dir}"),
        "node:        node-summary".to_owned(),
        "admin token: from --admin-token / HOOKD_ADMIN_TOKEN\n".to_owned(),
        "warning: the SSRF guard is off".to_owned(),
        "warning: the admin token is 11 characters long".to_owned(),
    ] {
        assert!(
            summary.contains(&expected),
            "{expected:?} not in:\n{summary}"
        );
    }
    assert!(
        !output.stdout.contains(token),
        "the token was printed:\n{}",
        output.stdout
    );
}

#[test]
fn the_summary_says_where_the_admin_token_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = data_dir_arg(dir.path());

    let first = HookdProcess::start(&["--data-dir", &data_dir], &[]).kill();
    assert!(
        summary_of(&first.stdout).contains("admin token: generated now and printed above"),
        "{}",
        first.stdout
    );
    assert!(
        !summary_of(&first.stdout).contains("SSRF"),
        "{}",
        first.stdout
    );

    let again = HookdProcess::start(&["--data-dir", &data_dir], &[]).kill();
    assert!(
        summary_of(&again.stdout).contains("admin token: the one generated on first start"),
        "{}",
        again.stdout
    );

    let long_token = "a-token-of-forty-characters-0123456789ab";
    let overridden = HookdProcess::start(
        &["--data-dir", &data_dir],
        &[
            ("HOOKD_ADMIN_TOKEN", long_token),
            ("HOOKD_ALLOW_PRIVATE_TARGETS", "off"),
        ],
    )
    .kill();
    let summary = summary_of(&overridden.stdout);
    assert!(
        summary.contains("HOOKD_ADMIN_TOKEN, which overrides the token stored on first start"),
        "{summary}"
    );
    assert!(!summary.contains("warning"), "{summary}");
}

#[test]
fn a_boolean_variable_with_a_bad_value_is_refused_by_name() {
    let output = hookd_command(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("HOOKD_ALLOW_PRIVATE_TARGETS", "maybe")],
    )
    .output()
    .expect("running hookd");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("--allow-private-targets"), "{stderr}");
    assert!(stderr.contains("maybe"), "{stderr}");
}

/// Asks for an application that does not exist: a 404 on the `{app_id}` route.
async fn get_missing_application(base_url: &str, token: &str, request_id: Option<&str>) -> String {
    let mut request = reqwest::Client::new()
        .get(format!("{base_url}/api/v1/app/no-such-app"))
        .bearer_auth(token);
    if let Some(request_id) = request_id {
        request = request.header("x-request-id", request_id);
    }
    let response = request.send().await.expect("hookd answers");
    assert_eq!(response.status(), 404);
    response
        .headers()
        .get("x-request-id")
        .expect("the answer has an x-request-id")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_access_log_names_route_status_latency_and_request_id_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let token = "access-log-token-0123456789abcdefghij";
    let hookd = HookdProcess::start(
        &["--data-dir", &data_dir_arg(dir.path())],
        &[("HOOKD_ADMIN_TOKEN", token)],
    );
    let generated_id = get_missing_application(&hookd.base_url, token, None).await;
    let echoed_id =
        get_missing_application(&hookd.base_url, token, Some("from-the-client-1")).await;
    assert_eq!(echoed_id, "from-the-client-1");
    let stderr = hookd.kill().stderr;

    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes on a pipe:\n{stderr}"
    );
    assert!(!stderr.contains(token), "the token was logged:\n{stderr}");
    for request_id in [&generated_id, &echoed_id] {
        let line = stderr
            .lines()
            .find(|line| line.contains("request answered") && line.contains(request_id.as_str()))
            .unwrap_or_else(|| panic!("no access log line for {request_id}:\n{stderr}"));
        for expected in [
            "method=GET",
            "route=/api/v1/app/{app_id}",
            "status=404",
            "latency_ms=",
        ] {
            assert!(line.contains(expected), "{expected:?} not in {line:?}");
        }
        assert!(
            !line.contains("no-such-app"),
            "the raw path was logged: {line:?}"
        );
    }
}

#[tokio::test]
async fn json_logs_are_one_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let token = "json-log-token-0123456789abcdefghijkl";
    let hookd = HookdProcess::start(
        &[
            "--data-dir",
            &data_dir_arg(dir.path()),
            "--log-format",
            "json",
        ],
        &[("HOOKD_ADMIN_TOKEN", token)],
    );
    let request_id = get_missing_application(&hookd.base_url, token, None).await;
    let stderr = hookd.kill().stderr;

    let lines: Vec<Value> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line:?}")))
        .collect();
    let answered = lines
        .iter()
        .find(|line| line["fields"]["message"] == "request answered")
        .unwrap_or_else(|| panic!("no access log line:\n{stderr}"));
    assert_eq!(answered["fields"]["status"], 404, "{answered}");
    assert_eq!(
        answered["span"]["route"], "/api/v1/app/{app_id}",
        "{answered}"
    );
    assert_eq!(answered["span"]["method"], "GET", "{answered}");
    assert_eq!(
        answered["span"]["request_id"],
        request_id.as_str(),
        "{answered}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "hookd is ready"),
        "{stderr}"
    );
}

/// A log line that cannot be written (the collector reading hookd's stderr is gone) is dropped:
/// it must not panic the task that logged it, which once left hookd deaf to SIGTERM.
#[tokio::test]
async fn a_closed_stderr_neither_panics_nor_stops_shutdown() {
    let token = "a-long-enough-admin-token-for-tests";
    let mut hookd = HookdProcess::start_with(&[], &[("HOOKD_ADMIN_TOKEN", token)], false);
    // Each request writes an access-log line into the broken pipe.
    for _ in 0..3 {
        get_missing_application(&hookd.base_url, token, None).await;
    }
    let signalled = Command::new("kill")
        .args(["-TERM", &hookd.pid().to_string()])
        .status()
        .expect("running kill");
    assert!(signalled.success());
    let status = hookd.wait_for_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|status| status.success()),
        "hookd with a closed stderr did not exit cleanly on SIGTERM: {status:?}"
    );
}

//! Test harness: runs the real `palisade` binary on a real loopback socket.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_palisade");
/// The hostile fixture component.
pub const HOSTILE: &str = env!("PALISADE_FIXTURE_HOSTILE");

/// A running server; killed when dropped.
pub struct Server {
    child: std::sync::Mutex<Option<Child>>,
    pub base: String,
    pub dir: tempfile::TempDir,
    stderr: Arc<Stderr>,
}

/// What a process wrote to stderr so far, and whether the pipe is closed
/// (then nothing more can come); waiters are woken at every line.
#[derive(Default)]
struct Stderr {
    state: Mutex<(String, bool)>,
    grew: Condvar,
}

impl Stderr {
    /// Reads `pipe` to its end on a thread of its own.
    fn read(pipe: impl std::io::Read + Send + 'static) -> Arc<Self> {
        let log = Arc::new(Self::default());
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.state.lock().unwrap().0.push_str(&(line + "\n"));
                sink.grew.notify_all();
            }
            sink.state.lock().unwrap().1 = true;
            sink.grew.notify_all();
        });
        log
    }

    fn text(&self) -> String {
        self.state.lock().unwrap().0.clone()
    }

    /// Waits (bounded by `timeout`) until `done` holds of (text, closed);
    /// returns whether it did.
    fn wait(&self, timeout: Duration, done: impl Fn(&str, bool) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        loop {
            if done(&state.0, state.1) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.grew.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Waits (bounded: 10 s) until the pipe is closed: every line the
    /// process wrote is then in [`Stderr::text`].
    fn wait_closed(&self) {
        assert!(
            self.wait(Duration::from_secs(10), |_, closed| closed),
            "stderr still open 10 s after the process exited:\n{}",
            self.text()
        );
    }
}

/// The embedded example policy's demo administrator token (public, like
/// the demo agent's).
pub const DEMO_ADMIN: &str = "pal_demo_admin";
/// The administrator token of [`ADMIN_POLICY`].
pub const ADMIN: &str = "pal_test_admin";
/// A policy file naming one administrator, `ops`, whose token is [`ADMIN`].
pub fn admin_policy() -> String {
    format!("admins:\n  ops: [\"{}\"]\n", token_hash(ADMIN))
}

/// A temporary configuration directory holding `palisade.yaml` and any plugins.
pub struct ConfigDir {
    pub dir: tempfile::TempDir,
}

impl ConfigDir {
    pub fn new(yaml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("palisade.yaml"), yaml).unwrap();
        Self { dir }
    }

    /// Copies a file into the directory under `name`.
    pub fn with_file(self, name: &str, from: &str) -> Self {
        std::fs::copy(from, self.dir.path().join(name)).unwrap();
        self
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("palisade.yaml")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts `palisade serve` on this configuration and its data directory,
    /// and waits until it is ready.
    pub async fn start(&self) -> Server {
        self.start_with_env(&[]).await
    }

    /// [`ConfigDir::start`] with extra environment variables.
    pub async fn start_with_env(&self, env: &[(&str, String)]) -> Server {
        let (config, data) = (self.config(), self.data());
        start_ready_with_env(
            &[
                "--config",
                config.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ],
            env,
        )
        .await
    }
}

/// Starts `palisade serve` with `args` and waits for its listening line.
/// Returns the server, or the process's exit status and stderr if it exited.
pub fn start(args: &[&str]) -> Result<Server, (std::process::ExitStatus, String)> {
    start_with_env(args, &[])
}

/// [`start`] with extra environment variables. The `AWS_*` variables of the
/// test's own environment are left out: a policy exporting to S3 (the seeds'
/// `s3://your-audit-bucket/`) must never reach a real bucket from a test.
pub fn start_with_env(
    args: &[&str],
    env: &[(&str, String)],
) -> Result<Server, (std::process::ExitStatus, String)> {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        command.env_remove(name);
    }
    let mut child = command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .current_dir(dir.path())
        .env("PALISADE_LOG", "info")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn palisade");
    let stderr = Stderr::read(child.stderr.take().unwrap());
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    match lines.next() {
        Some(Ok(line)) if line.starts_with("palisade listening on ") => {
            let base = line.trim_start_matches("palisade listening on ").to_owned();
            std::thread::spawn(move || for _ in lines {});
            Ok(Server {
                child: std::sync::Mutex::new(Some(child)),
                base,
                dir,
                stderr,
            })
        }
        _ => {
            let status = child.wait().unwrap();
            stderr.wait_closed();
            Err((status, stderr.text()))
        }
    }
}

/// Starts a server that must fail (before or after announcing its port);
/// returns its exit status and stderr.
pub fn start_failing(args: &[&str]) -> (std::process::ExitStatus, String) {
    match start(args) {
        Ok(server) => server.wait_exit(),
        Err(failed) => failed,
    }
}

/// Starts a server that must come up and become ready.
pub async fn start_ready(args: &[&str]) -> Server {
    start_ready_with_env(args, &[]).await
}

/// [`start_ready`] with extra environment variables.
pub async fn start_ready_with_env(args: &[&str], env: &[(&str, String)]) -> Server {
    let server = match start_with_env(args, env) {
        Ok(s) => s,
        Err((status, stderr)) => panic!("server exited ({status}):\n{stderr}"),
    };
    server.wait_ready().await;
    server
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = reqwest::get(self.url(path)).await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `GET path` with a bearer token.
    pub async fn get_as(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        let resp = reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Polls `/readyz` (bounded: 600 tries, 50 ms apart).
    pub async fn wait_ready(&self) {
        for _ in 0..600 {
            if let Ok(r) = reqwest::get(self.url("/readyz")).await
                && r.status().is_success()
            {
                return;
            }
            if let Some(exit) = self.try_exit() {
                panic!("server exited before ready ({exit}):\n{}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server never became ready:\n{}", self.stderr());
    }

    fn try_exit(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().unwrap().as_mut()?.try_wait().ok()?
    }

    /// Waits (bounded: 30 s) for the process to exit by itself.
    pub fn wait_exit(self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.lock().unwrap().take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                child.kill().ok();
                panic!("server did not exit:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.stderr.wait_closed();
        (status, self.stderr())
    }

    /// What the server wrote to stderr so far. To look for a line the
    /// server writes as it runs, wait for it with [`Server::wait_for_log`];
    /// to be sure a line is absent, stop the server first
    /// ([`Server::wait_exit`] returns its whole stderr).
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Waits (bounded: 20 s) until stderr holds `needle`; returns it all.
    pub async fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_logs(needle, 1).await
    }

    /// Waits (bounded: 20 s) until stderr holds `needle` `n` times; returns
    /// it all. Waits off the async workers, so requests in flight go on.
    pub async fn wait_for_logs(&self, needle: &str, n: usize) -> String {
        let (log, wanted) = (self.stderr.clone(), needle.to_owned());
        let found = tokio::task::spawn_blocking(move || {
            log.wait(Duration::from_secs(20), |text, _| {
                text.matches(wanted.as_str()).count() >= n
            })
        })
        .await
        .unwrap();
        assert!(found, "`{needle}` not logged {n} times:\n{}", self.stderr());
        self.stderr()
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        let mut child = self.child.lock().unwrap().take().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                child.kill().ok();
                panic!("server did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// Hex sha256 of a file, via the CLI's own `plugin inspect --json`.
pub fn digest_of(path: &Path) -> String {
    let out = Command::new(BIN)
        .args(["plugin", "inspect", "--json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["digest"].as_str().unwrap().to_owned()
}

/// The `sha256:<hex>` line a policy stores for `token`.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    )
}

//! A service binary run as a child process, for what needs a real process: SIGKILL and SIGTERM
//! from outside, and the memory (`/proc/<pid>/status`) of each service on its own. Also where
//! the tests find the real `lmactl` binary ([`workspace_binary`]).
//!
//! Where the binary comes from: the profile directory (`target/debug`, `target/release`), which
//! is the test's own directory or the parent of its `deps/` directory. `cargo test` does not
//! build the plain binary of a package without integration tests, so one found there may be
//! stale (built before the sources changed): each binary is built with `$CARGO build -p
//! <package> --bin <name>` (plus `--release` for the release profile) into the same target
//! directory once per test process, which is a no-op when it is current.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::app::{READY_TIMEOUT, Service, health_status};

/// Attempts at starting a process; a retry only helps when another process took the probed
/// port before the service bound it.
const START_ATTEMPTS: usize = 3;

/// How long a process may take to exit after SIGKILL.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// One service running as a child process; killed when dropped.
pub struct ServiceProcess {
    pub service: Service,
    pub addr: SocketAddr,
    child: Child,
}

/// A Unix signal sent with `kill(1)` (the workspace forbids `unsafe`, so no libc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Term,
    Kill,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Term => "TERM",
            Signal::Kill => "KILL",
        }
    }
}

impl ServiceProcess {
    /// Starts `service` against `database_url` with its role, on a free loopback port, auth
    /// cache off and a two-second shutdown grace (as [`crate::app::start_service`] does
    /// in-process), then waits until it reports SERVING. `env` holds further `LMA_*` settings
    /// and overrides those defaults. Inherited `LMA_*` variables are removed so the outcome does
    /// not depend on the caller's environment. Its output is discarded unless `LMA_TEST_LOG`
    /// is set, which becomes its log filter.
    pub async fn start(
        service: Service,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<ServiceProcess> {
        let binary = service_binary(service).await?;
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match start_once(service, &binary, database_url, env).await {
                Ok(process) => return Ok(process),
                Err(error) => failures.push(format!("{error:#}")),
            }
        }
        bail!(
            "could not start {}:\n{}",
            binary.display(),
            failures.join("\n")
        )
    }

    /// The child's process id (None once it has been reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The exit status if the process has exited, without waiting.
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        self.child.try_wait().context("checking the process")
    }

    /// Sends `signal` to the process.
    pub async fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let pid = self.pid().context("the process has already exited")?;
        let status = Command::new("kill")
            .arg("-s")
            .arg(signal.name())
            .arg(pid.to_string())
            .status()
            .await
            .context("running kill")?;
        anyhow::ensure!(
            status.success(),
            "kill -s {} {pid}: {status}",
            signal.name()
        );
        Ok(())
    }

    /// SIGKILL, then waits for the process to be gone.
    pub async fn kill(mut self) -> anyhow::Result<ExitStatus> {
        self.signal(Signal::Kill).await?;
        self.wait(KILL_TIMEOUT).await
    }

    /// Waits at most `timeout` for the process to exit.
    pub async fn wait(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .with_context(|| format!("{} still running after {timeout:?}", self.service.binary()))?
            .context("waiting for the process")
    }

    /// Current (`VmRSS`) and peak (`VmHWM`) resident memory in KiB, from `/proc/<pid>/status`.
    pub fn memory_kib(&self) -> anyhow::Result<(u64, u64)> {
        let pid = self.pid().context("the process has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }
}

async fn start_once(
    service: Service,
    binary: &Path,
    database_url: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<ServiceProcess> {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("probing for a free port")?;
    let log_filter = std::env::var("LMA_TEST_LOG").ok();
    let mut settings: HashMap<&str, String> = [
        ("LMA_DATABASE_URL", database_url.to_owned()),
        ("LMA_DATABASE_ROLE", service.role().to_owned()),
        ("LMA_LISTEN_ADDR", addr.to_string()),
        ("LMA_AUTH_CACHE_TTL_SECS", "0".to_owned()),
        ("LMA_SHUTDOWN_GRACE_SECS", "2".to_owned()),
        ("LMA_DATABASE_POOL_SIZE", "4".to_owned()),
        (
            "LMA_LOG_FILTER",
            log_filter.clone().unwrap_or("warn".into()),
        ),
    ]
    .into_iter()
    .collect();
    settings.extend(env.iter().map(|(name, value)| (*name, (*value).to_owned())));

    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LMA_") {
            command.env_remove(name);
        }
    }
    let output = || match log_filter {
        Some(_) => Stdio::inherit(),
        None => Stdio::null(),
    };
    let child = command
        .envs(&settings)
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut process = ServiceProcess {
        service,
        addr,
        child,
    };
    process.wait_until_serving().await?;
    Ok(process)
}

impl ServiceProcess {
    /// Polls the health service until the server and its lma.v1 service report SERVING; fails
    /// at once when the process exits.
    async fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited while starting: {status}", self.service.binary());
            }
            // health_status panics when nothing listens: first the port, then the status.
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                let mut serving = true;
                for name in ["", self.service.grpc_service()] {
                    serving &= health_status(self.addr, name).await == Ok(ServingStatus::Serving);
                }
                if serving {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{} at {} did not serve within {READY_TIMEOUT:?}",
                    self.service.binary(),
                    self.addr
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The service's binary in this process's profile directory, brought up to date there once per
/// process (see the module docs).
pub async fn service_binary(service: Service) -> anyhow::Result<PathBuf> {
    workspace_binary(service.binary()).await
}

/// The binary `name` of the workspace package of the same name (a service, `lmactl`) in this
/// process's profile directory, brought up to date there once per process (see the module docs).
pub async fn workspace_binary(name: &'static str) -> anyhow::Result<PathBuf> {
    // The binaries built so far; the lock also serializes builds, so that two tests asking at
    // once do not both run cargo.
    static BUILT: Mutex<Vec<&'static str>> = Mutex::const_new(Vec::new());
    let profile_dir = profile_dir()?;
    let binary = profile_dir.join(name);
    let mut built = BUILT.lock().await;
    if built.contains(&name) {
        return Ok(binary);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", name, "--bin", name]);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    // The same target directory as this process, wherever CARGO_TARGET_DIR points.
    if let Some(target_dir) = profile_dir.parent() {
        build.env("CARGO_TARGET_DIR", target_dir);
    }
    let status = build
        .stdin(Stdio::null())
        .status()
        .await
        .with_context(|| format!("building {name}"))?;
    anyhow::ensure!(status.success(), "building {name}: {status}");
    anyhow::ensure!(
        binary.is_file(),
        "{} is still missing after the build",
        binary.display()
    );
    built.push(name);
    Ok(binary)
}

/// `target/<profile>`: the directory of this executable, or its parent when that is `deps/`.
fn profile_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the running executable")?;
    let mut dir = exe
        .parent()
        .context("the executable has no directory")?
        .to_path_buf();
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.pop();
    }
    Ok(dir)
}

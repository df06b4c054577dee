//! The PostgreSQL server the tests run against: `DATABASE_URL` when it is set (a superuser
//! connection), otherwise a throwaway cluster started once per test process.
//!
//! The throwaway cluster runs under a small `sh` guardian whose stdin is a pipe held by this
//! process. Rust never drops statics, but the kernel closes the pipe when the process exits,
//! however it exits; the guardian sees EOF, stops PostgreSQL and removes the cluster's
//! directory. PostgreSQL refuses to run as root, so as root the cluster runs as `postgres`.

use std::fmt::Write as _;
use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::sync::OnceCell;
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;

/// The database every server has, used for CREATE/DROP DATABASE.
const ADMIN_DATABASE: &str = "postgres";

/// How long a fresh cluster may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Attempts at starting the cluster; a retry only helps when another process took the port
/// between our probe and PostgreSQL's bind.
const START_ATTEMPTS: usize = 3;

/// Settings that make a disposable cluster fast; durability is worthless here.
const FAST_SETTINGS: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "300"),
    ("listen_addresses", "127.0.0.1"),
    // TCP only: no socket file in /var/run/postgresql, which may not be writable.
    ("unix_socket_directories", ""),
    ("log_min_messages", "warning"),
];

/// Settings added to [`FAST_SETTINGS`] by [`add_server_settings`], e.g. the benchmarks'
/// production-sized `shared_buffers`.
static EXTRA_SETTINGS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Adds `name=value` settings to the throwaway clusters started from now on (not to a server
/// given by `DATABASE_URL`). Call it before the first database is created.
pub fn add_server_settings(settings: &[(&str, &str)]) {
    let mut extra = EXTRA_SETTINGS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    extra.extend(
        settings
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
}

/// Waits for EOF on stdin (the test process has exited), then stops PostgreSQL and removes
/// the cluster directory. Arguments: bindir, datadir, cluster root, port, the command prefix
/// that runs a program as the cluster owner (one word list, empty when not root), then the
/// `-c name=value` settings.
const GUARDIAN_SCRIPT: &str = r#"
bindir=$1; data=$2; root=$3; port=$4; runas=$5; shift 5
# $runas is split on purpose: "runuser -u postgres --" or nothing.
$runas "$bindir/postgres" -D "$data" -p "$port" "$@" </dev/null &
pg=$!
cat >/dev/null
$runas "$bindir/pg_ctl" stop -D "$data" -m fast -w -t 30 >/dev/null 2>&1 || kill -INT "$pg" 2>/dev/null
wait "$pg"
rm -rf "$root"
"#;

/// Drops the databases named in the arguments once the test process has exited (stdin EOF);
/// used only with an external server, where nothing else would remove them.
const EXTERNAL_CLEANUP_SCRIPT: &str = r#"
psql=$1; conninfo=$2; shift 2
cat >/dev/null
for db in "$@"; do
    "$psql" -X -q -d "$conninfo" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
done
"#;

/// A PostgreSQL server with superuser access.
pub struct Server {
    /// Connection settings without a database name.
    base: tokio_postgres::Config,
    /// Whether this process started the server (and removes everything at exit).
    owned: bool,
    /// Keeps the guardian's stdin open for the life of the process; see the module docs.
    _guardian: Option<ChildStdin>,
    /// Where the cluster this process started lives, for [`Server::restart`].
    cluster: Option<Cluster>,
}

/// The files and commands of a cluster this process started.
struct Cluster {
    bindir: PathBuf,
    data: PathBuf,
    root: PathBuf,
    /// Runs a program as the cluster owner ("runuser -u postgres --" as root, else nothing).
    runas: Vec<&'static str>,
}

impl Server {
    /// Connection string (libpq key=value form) for `dbname` as the superuser.
    pub fn conninfo(&self, dbname: &str) -> String {
        let mut config = self.base.clone();
        config.dbname(dbname);
        conninfo(&config)
    }

    /// Connection settings for `dbname` as the superuser.
    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut config = self.base.clone();
        config.dbname(dbname);
        config
    }

    /// Whether this test process started the server itself (rather than using `DATABASE_URL`).
    pub fn is_owned(&self) -> bool {
        self.owned
    }

    /// A superuser connection to the server's admin database.
    pub async fn connect_admin(&self) -> anyhow::Result<tokio_postgres::Client> {
        connect(&self.config(ADMIN_DATABASE)).await
    }

    /// Restarts a cluster this process started (`pg_ctl restart -m fast`: sessions are
    /// terminated, the server comes back on the same port with the same settings) and waits
    /// until it accepts connections again.
    pub async fn restart(&self) -> anyhow::Result<()> {
        let cluster = self
            .cluster
            .as_ref()
            .context("only a cluster this process started can be restarted")?;
        let mut restart = command(&cluster.runas, &cluster.bindir.join("pg_ctl"));
        restart
            .arg("restart")
            .arg("-D")
            .arg(&cluster.data)
            .args(["-m", "fast", "-w", "-t", "60", "-l"])
            // In the cluster's directory, which the cluster owner may write (server.log, made
            // by this process, may belong to root). The log keeps pg_ctl's output pipes free
            // of the new server, so waiting for pg_ctl does not wait for the server.
            .arg(cluster.root.join("restart.log"));
        tokio::task::spawn_blocking(move || run(&mut restart))
            .await
            .context("the restart task failed")??;
        let client = connect(&self.config(ADMIN_DATABASE)).await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Stops a cluster this process started (`pg_ctl stop -m fast`: sessions are terminated)
    /// and waits until it is down; [`Server::start`] brings it back. Its directory stays.
    pub async fn stop(&self) -> anyhow::Result<()> {
        let cluster = self
            .cluster
            .as_ref()
            .context("only a cluster this process started can be stopped")?;
        let mut stop = command(&cluster.runas, &cluster.bindir.join("pg_ctl"));
        stop.arg("stop")
            .arg("-D")
            .arg(&cluster.data)
            .args(["-m", "fast", "-w", "-t", "60"]);
        tokio::task::spawn_blocking(move || run(&mut stop))
            .await
            .context("the stop task failed")?
    }

    /// Starts a cluster stopped by [`Server::stop`] with the settings it ran with and waits until
    /// it accepts connections. `pg_ctl restart` of a stopped server starts it with the command
    /// line it recorded in `postmaster.opts`, so the settings are defined once, at first start.
    pub async fn start(&self) -> anyhow::Result<()> {
        self.restart().await
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> Option<u16> {
        self.base.get_ports().first().copied()
    }

    /// When using an external server, drops `dbname` at process exit if nothing else did.
    pub(crate) fn drop_at_exit(&self, dbname: &str) {
        if self.owned {
            return; // The whole cluster goes away at exit.
        }
        let Some(psql) = find_psql() else {
            return; // Best effort: without psql the database stays behind.
        };
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(EXTERNAL_CLEANUP_SCRIPT)
            .arg("lma-tests-cleanup")
            .arg(psql)
            .arg(self.conninfo(ADMIN_DATABASE))
            .arg(dbname)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        if let Ok(mut child) = spawned {
            // Leaked on purpose: the pipe must stay open until this process exits.
            if let Some(stdin) = child.stdin.take() {
                std::mem::forget(stdin);
            }
        }
    }
}

/// Connects and drives the connection on the current runtime.
pub async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .with_context(|| format!("connecting to PostgreSQL ({})", describe(config)))?;
    tokio::spawn(async move {
        // A test that still uses the client sees the failure on its next query.
        let _ = connection.await;
    });
    Ok(client)
}

/// The server for this test process, started on first use.
pub async fn server() -> &'static Server {
    static SERVER: OnceCell<Server> = OnceCell::const_new();
    SERVER
        .get_or_try_init(|| async {
            match std::env::var("DATABASE_URL") {
                Ok(url) if !url.trim().is_empty() => external_server(&url).await,
                _ => tokio::task::spawn_blocking(|| start_cluster(&[], Origin::Initdb))
                    .await
                    .context("the cluster start-up task failed")?,
            }
        })
        .await
        .unwrap_or_else(|error| panic!("no PostgreSQL server for the tests: {error:#}"))
}

/// A cluster of its own for a test that disrupts the server (restarts it), started even when
/// `DATABASE_URL` names a shared server; removed when the test process exits, like the shared
/// throwaway cluster.
pub async fn dedicated_server() -> anyhow::Result<&'static Server> {
    dedicated_server_with(&[]).await
}

/// [`dedicated_server`] with `settings` added to the usual ones (e.g. replication settings).
pub async fn dedicated_server_with(settings: &[(&str, &str)]) -> anyhow::Result<&'static Server> {
    start_dedicated(settings, Origin::Initdb).await
}

/// A hot standby of `primary` (a cluster this process started): its data directory made by
/// `pg_basebackup -R` as the cluster owner, so it streams from `primary` once started; run with
/// the usual settings plus `settings` (a later one wins over an earlier one of the same name),
/// on a port of its own, and removed at exit like the others. Returns once it accepts read-only
/// queries.
pub async fn standby_of(
    primary: &Server,
    settings: &[(&str, &str)],
) -> anyhow::Result<&'static Server> {
    anyhow::ensure!(
        primary.cluster.is_some(),
        "a standby needs a primary this process started"
    );
    let origin = Origin::BaseBackup {
        port: *primary
            .base
            .get_ports()
            .first()
            .context("the primary has no port")?,
    };
    start_dedicated(settings, origin).await
}

async fn start_dedicated(
    settings: &[(&str, &str)],
    origin: Origin,
) -> anyhow::Result<&'static Server> {
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let server = tokio::task::spawn_blocking(move || {
        let settings: Vec<(&str, &str)> = settings
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        start_cluster(&settings, origin)
    })
    .await
    .context("the cluster start-up task failed")??;
    // 'static like the shared server: TestDatabase keeps a reference, and the cluster lives
    // until the process exits anyway.
    Ok(Box::leak(Box::new(server)))
}

/// Where a new cluster's data directory comes from.
#[derive(Clone, Copy, Debug)]
enum Origin {
    /// `initdb`: an empty cluster.
    Initdb,
    /// `pg_basebackup -R` from the server on 127.0.0.1:`port`: a standby of it.
    BaseBackup { port: u16 },
}

async fn external_server(url: &str) -> anyhow::Result<Server> {
    let mut base = tokio_postgres::Config::from_str(url).context("DATABASE_URL is not valid")?;
    base.connect_timeout(Duration::from_secs(10));
    let mut admin = base.clone();
    admin.dbname(ADMIN_DATABASE);
    let client = connect(&admin).await.context("DATABASE_URL")?;
    let superuser: bool = client
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await?
        .try_get(0)?;
    if !superuser {
        bail!("DATABASE_URL must connect as a superuser (the tests create databases and roles)");
    }
    Ok(Server {
        base,
        owned: false,
        _guardian: None,
        cluster: None,
    })
}

/// Starts a throwaway cluster (blocking; run on a blocking thread).
fn start_cluster(settings: &[(&str, &str)], origin: Origin) -> anyhow::Result<Server> {
    let bindir = find_bindir()?;
    let as_root = effective_uid()? == 0;
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        match start_cluster_once(&bindir, as_root, settings, origin) {
            Ok(server) => return Ok(server),
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    bail!(
        "could not start a PostgreSQL cluster:\n{}",
        failures.join("\n")
    )
}

fn start_cluster_once(
    bindir: &Path,
    as_root: bool,
    settings: &[(&str, &str)],
    origin: Origin,
) -> anyhow::Result<Server> {
    let root = tempfile::Builder::new()
        .prefix("lma-tests-pg-")
        .tempdir_in("/tmp")
        .context("creating the cluster directory under /tmp")?
        .keep();
    let data = root.join("data");
    let log_path = root.join("server.log");
    // As root, every cluster command runs as `postgres`, which must own the directory.
    let runas: Vec<&'static str> = if as_root {
        vec!["runuser", "-u", "postgres", "--"]
    } else {
        Vec::new()
    };
    if as_root && let Err(error) = run(Command::new("chown").arg("-R").arg("postgres:").arg(&root))
    {
        let _ = std::fs::remove_dir_all(&root);
        return Err(error.context("handing the cluster directory to the postgres user"));
    }

    let populated = match origin {
        Origin::Initdb => {
            let mut initdb = command(&runas, &bindir.join("initdb"));
            initdb
                .arg("-D")
                .arg(&data)
                .args([
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ])
                .arg("--no-sync");
            run(&mut initdb).context("initdb failed")
        }
        Origin::BaseBackup { port } => {
            // -R writes standby.signal and primary_conninfo; -X stream brings the WAL the
            // copy needs; -c fast: no waiting for a scheduled checkpoint. initdb's pg_hba.conf
            // lets 127.0.0.1 replicate with trust.
            let mut backup = command(&runas, &bindir.join("pg_basebackup"));
            backup
                .arg("-D")
                .arg(&data)
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
                .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
            run(&mut backup).context("pg_basebackup failed")
        }
    };
    if let Err(error) = populated {
        let _ = std::fs::remove_dir_all(&root);
        return Err(error);
    }

    let port = free_port()?;
    let log = std::fs::File::create(&log_path).context("creating the server log")?;
    let mut guardian = Command::new("sh");
    guardian
        .arg("-c")
        .arg(GUARDIAN_SCRIPT)
        .arg("lma-tests-postgres")
        .arg(bindir)
        .arg(&data)
        .arg(&root)
        .arg(port.to_string())
        .arg(runas.join(" "));
    for (name, value) in FAST_SETTINGS {
        guardian.arg("-c").arg(format!("{name}={value}"));
    }
    for (name, value) in EXTRA_SETTINGS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        guardian.arg("-c").arg(format!("{name}={value}"));
    }
    for (name, value) in settings {
        guardian.arg("-c").arg(format!("{name}={value}"));
    }
    let mut child = guardian
        .stdin(Stdio::piped())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: a Ctrl-C at the terminal must not kill the guardian before
        // it has cleaned up; the closing pipe is what stops it.
        .process_group(0)
        .spawn()
        .context("starting the PostgreSQL guardian (sh)")?;
    let stdin = child
        .stdin
        .take()
        .context("the guardian has no stdin pipe")?;

    let mut base = tokio_postgres::Config::new();
    base.host("127.0.0.1")
        .port(port)
        .user("postgres")
        .connect_timeout(Duration::from_secs(5));
    match wait_until_ready(&mut child, &base, &log_path) {
        Ok(()) => Ok(Server {
            base,
            owned: true,
            _guardian: Some(stdin),
            cluster: Some(Cluster {
                bindir: bindir.to_path_buf(),
                data,
                root,
                runas,
            }),
        }),
        Err(error) => {
            // Closing stdin makes the guardian stop whatever started and remove the directory.
            drop(stdin);
            let _ = child.wait();
            Err(error)
        }
    }
}

/// Polls until the server accepts a query; fails early when the guardian died or the log
/// shows a fatal start-up error (such as the port being taken).
fn wait_until_ready(
    child: &mut Child,
    base: &tokio_postgres::Config,
    log_path: &Path,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut admin = base.clone();
    admin.dbname(ADMIN_DATABASE);
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let attempt = runtime.block_on(async {
            let client = connect(&admin).await?;
            client.simple_query("SELECT 1").await?;
            anyhow::Ok(())
        });
        let Err(error) = attempt else {
            return Ok(());
        };
        let log = read_log(log_path);
        if let Some(status) = child.try_wait()? {
            bail!("PostgreSQL's guardian exited ({status}); server log:\n{log}");
        }
        if startup_failed(&log) {
            bail!("PostgreSQL did not start; server log:\n{log}");
        }
        if Instant::now() > deadline {
            bail!(
                "PostgreSQL did not accept connections within {STARTUP_TIMEOUT:?} \
                 (last error: {error:#}); server log:\n{log}"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the server log shows that start-up failed. FATAL lines about our own early
/// connection attempts ("the database system is starting up", or a standby's "not yet
/// accepting connections" before it is consistent) are expected.
fn startup_failed(log: &str) -> bool {
    log.lines().any(|line| {
        (line.contains("FATAL") || line.contains("PANIC"))
            && !line.contains("the database system is starting up")
            && !line.contains("the database system is not yet accepting connections")
    })
}

fn read_log(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    text
}

/// The directory holding initdb/postgres/pg_ctl: `LMA_PG_BINDIR`, `pg_config --bindir`, or
/// the newest /usr/lib/postgresql/*/bin.
fn find_bindir() -> anyhow::Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Ok(dir) = std::env::var("LMA_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        if has_server(&dir) {
            return Ok(dir);
        }
        bail!("LMA_PG_BINDIR={} has no initdb and postgres", dir.display());
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).context(
        "no PostgreSQL server binaries found: install PostgreSQL 15 (apt-get install \
         postgresql-15), set LMA_PG_BINDIR, or set DATABASE_URL to a superuser connection",
    )
}

/// A PostgreSQL client program (`psql`, `pg_dump`): from the server's directory
/// ([`find_bindir`]), so that it matches the server the tests start, else from `PATH` (a
/// `DATABASE_URL` server needs no server binaries here).
pub fn find_client_program(name: &str) -> Option<PathBuf> {
    if let Ok(dir) = find_bindir() {
        let program = dir.join(name);
        if program.is_file() {
            return Some(program);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|program| program.is_file())
}

fn find_psql() -> Option<PathBuf> {
    find_client_program("psql")
}

/// The effective user id, asked of `id` because the workspace forbids `unsafe` (libc).
fn effective_uid() -> anyhow::Result<u32> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("running `id -u`")?;
    if !output.status.success() {
        bail!(
            "`id -u` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .context("parsing the output of `id -u`")
}

/// A port that was free a moment ago. PostgreSQL binds it itself, so another process may
/// still take it in between; [`start_cluster`] retries then.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("probing for a free port")?;
    Ok(listener.local_addr()?.port())
}

fn command(prefix: &[&str], program: &Path) -> Command {
    match prefix.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} exited with {}:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Renders connection settings as a libpq key=value string, the form the services accept
/// alongside URLs; it needs no URL escaping of user names or passwords.
fn conninfo(config: &tokio_postgres::Config) -> String {
    render(config, true)
}

/// Where a config points, without its password, for error messages.
fn describe(config: &tokio_postgres::Config) -> String {
    render(config, false)
}

fn render(config: &tokio_postgres::Config, with_password: bool) -> String {
    let mut out = String::new();
    let mut push = |key: &str, value: &str| {
        let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
        let _ = write!(
            out,
            "{}{key}='{escaped}'",
            if out.is_empty() { "" } else { " " }
        );
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if !hosts.is_empty() {
        push("host", &hosts.join(","));
    }
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    if !ports.is_empty() {
        push("port", &ports.join(","));
    }
    if let Some(user) = config.get_user() {
        push("user", user);
    }
    if let Some(password) = config.get_password().filter(|_| with_password) {
        push("password", &String::from_utf8_lossy(password));
    }
    if let Some(dbname) = config.get_dbname() {
        push("dbname", dbname);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_round_trips_through_the_parser() {
        let config = tokio_postgres::Config::from_str(
            "postgres://o'brien:p%20w'd@db.internal:6543/lma?connect_timeout=3",
        )
        .expect("valid url");
        let text = conninfo(&config);
        let parsed = tokio_postgres::Config::from_str(&text).expect("valid conninfo");
        assert_eq!(parsed.get_user(), Some("o'brien"));
        assert_eq!(parsed.get_password(), Some(&b"p w'd"[..]));
        assert_eq!(parsed.get_ports(), &[6543]);
        assert_eq!(parsed.get_dbname(), Some("lma"));
        assert!(!describe(&config).contains("p w"), "{}", describe(&config));
    }
}

//! A fresh database per test, copied from a template that is migrated once per test process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::sync::{Mutex, OnceCell};

use crate::postgres::{self, Server};

/// Serializes `CREATE DATABASE ... TEMPLATE`: PostgreSQL refuses to copy a template while
/// another session is using it, and a concurrent copy counts.
static TEMPLATE_COPY: Mutex<()> = Mutex::const_new(());

/// How long dropping a test database may hold up the end of a test.
const DROP_TIMEOUT: Duration = Duration::from_secs(10);

/// A database of its own for one test; dropped (best effort) when the value is dropped.
pub struct TestDatabase {
    server: &'static Server,
    name: String,
}

impl TestDatabase {
    /// A new database with the current schema, copied from the migrated template.
    pub async fn create() -> TestDatabase {
        let name = unique_name("lma_test");
        Self::create_from_template(&name)
            .await
            .unwrap_or_else(|error| panic!("creating test database {name}: {error:#}"))
    }

    /// A new database named `name` with the current schema.
    pub async fn create_from_template(name: &str) -> anyhow::Result<TestDatabase> {
        let server = postgres::server().await;
        let template = template(server).await;
        let admin = server.connect_admin().await?;
        let _copying = TEMPLATE_COPY.lock().await;
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quote_ident(name),
                quote_ident(template)
            ))
            .await
            .with_context(|| format!("CREATE DATABASE {name} TEMPLATE {template}"))?;
        Ok(TestDatabase {
            server,
            name: name.to_owned(),
        })
    }

    /// A new database with the current schema on `server` rather than the shared one (a
    /// dedicated cluster, see [`postgres::dedicated_server`]): migrated in place, since the
    /// shared template lives on the shared server.
    pub async fn create_migrated_on(server: &'static Server) -> TestDatabase {
        let name = unique_name("lma_test");
        if let Err(error) = create_migrated(server, &name).await {
            panic!("creating test database {name}: {error:#}");
        }
        TestDatabase { server, name }
    }

    /// The same database as `server` sees it: a standby replicating this one's server, or a
    /// standby promoted from it. Dropping the value drops the database there too, which a
    /// standby (read-only) refuses harmlessly and a promoted one does.
    pub fn replicated_on(&self, server: &'static Server) -> TestDatabase {
        TestDatabase {
            server,
            name: self.name.clone(),
        }
    }

    /// A new, empty database (no migrations applied).
    pub async fn create_empty() -> TestDatabase {
        let name = unique_name("lma_test");
        Self::create_empty_named(&name)
            .await
            .unwrap_or_else(|error| panic!("creating empty database {name}: {error:#}"))
    }

    /// A new, empty database named `name`.
    pub async fn create_empty_named(name: &str) -> anyhow::Result<TestDatabase> {
        let server = postgres::server().await;
        let admin = server.connect_admin().await?;
        // template0: template1 may be in use by a concurrent CREATE DATABASE.
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE template0",
                quote_ident(name)
            ))
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        Ok(TestDatabase {
            server,
            name: name.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Superuser connection string (libpq key=value form), as the services and lmactl take it.
    pub fn url(&self) -> String {
        self.server.conninfo(&self.name)
    }

    /// A superuser connection.
    pub async fn connect(&self) -> tokio_postgres::Client {
        postgres::connect(&self.server.config(&self.name))
            .await
            .unwrap_or_else(|error| panic!("connecting to {}: {error:#}", self.name))
    }

    /// A connection that has assumed `role` for the session, exactly as a service connects
    /// (`-c role=...` in the startup packet).
    pub async fn connect_as(&self, role: &str) -> tokio_postgres::Client {
        let mut config = self.server.config(&self.name);
        config.options(format!("-c role={role}"));
        postgres::connect(&config)
            .await
            .unwrap_or_else(|error| panic!("connecting to {} as {role}: {error:#}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let config = self.server.config("postgres");
        let name = self.name.clone();
        // Drop runs outside async context (or inside one we cannot block on), so the drop gets a
        // small runtime on its own thread; the test waits a bounded time for it.
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("drop-test-db".to_owned())
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|runtime| {
                        runtime.block_on(async {
                            let admin = postgres::connect(&config).await?;
                            // FORCE: services of a failed test may still hold connections.
                            admin
                                .batch_execute(&format!(
                                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                                    quote_ident(&name)
                                ))
                                .await?;
                            anyhow::Ok(())
                        })
                    });
                let _ = done_tx.send(result);
            });
        if spawned.is_ok() {
            // Best effort: a database left behind disappears with the throwaway cluster.
            let _ = done_rx.recv_timeout(DROP_TIMEOUT);
        }
    }
}

/// The migrated template database, created once per test process.
async fn template(server: &'static Server) -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_try_init(|| create_template(server))
        .await
        .unwrap_or_else(|error| panic!("preparing the template database: {error:#}"))
}

async fn create_template(server: &'static Server) -> anyhow::Result<String> {
    // Our own cluster lives only as long as this process; on a shared server each run gets its
    // own template, so a run never uses a template migrated by other code.
    let name = if server.is_owned() {
        "lma_template".to_owned()
    } else {
        unique_name("lma_template")
    };
    server.drop_at_exit(&name);
    let client = create_migrated(server, &name)
        .await
        .context("the template database")?;
    // No session may stay connected to a template while it is copied.
    drop(client);
    wait_until_unused(&server.connect_admin().await?, &name).await?;
    Ok(name)
}

/// Creates the database `name` on `server` and migrates it to the latest version; returns the
/// superuser connection that migrated it.
async fn create_migrated(server: &Server, name: &str) -> anyhow::Result<tokio_postgres::Client> {
    server
        .connect_admin()
        .await?
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_ident(name)
        ))
        .await
        .with_context(|| format!("CREATE DATABASE {name}"))?;
    let mut client = postgres::connect(&server.config(name)).await?;
    let report = svc_core::migrations::run(&mut client)
        .await
        .context("migrating")?;
    anyhow::ensure!(
        report.current_version == Some(svc_core::migrations::latest_version()),
        "{name} is at version {:?} after migrating, expected {}",
        report.current_version,
        svc_core::migrations::latest_version()
    );
    Ok(client)
}

/// Waits until no backend is connected to `dbname` (a dropped client's backend takes a moment
/// to exit).
async fn wait_until_unused(admin: &tokio_postgres::Client, dbname: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sessions: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                &[&dbname],
            )
            .await?
            .try_get(0)?;
        if sessions == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{sessions} session(s) still connected to {dbname}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A database name unique across concurrent test processes sharing one server.
pub fn unique_name(prefix: &str) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}_{}_{sequence}_{nanos:x}", std::process::id())
}

/// Quotes an SQL identifier (database names cannot be bound as parameters).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

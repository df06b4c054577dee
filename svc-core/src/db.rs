//! The PostgreSQL connection pool, dedicated connections, database client spans, and the one
//! mapping from database errors to gRPC statuses.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{NoTls, Socket};
use tonic::Status;
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::config::DatabaseArgs;

/// The connection pool every service uses.
pub type Pool = deadpool_postgres::Pool;

/// A connection checked out of the [`Pool`]; returned to it on drop.
pub type PooledClient = deadpool_postgres::Client;

/// How long an idle TCP connection waits before the kernel starts probing it. The default (two
/// hours) would leave a connection to a vanished server looking healthy for far too long.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);

/// Everything that can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be checked out of the pool (timeout, closed pool, failed connect).
    #[error("database pool: {0}")]
    Pool(#[from] PoolError),
    /// The pool could not be constructed.
    #[error("building the database pool: {0}")]
    Build(#[from] deadpool_postgres::BuildError),
    /// A statement or connection failed.
    #[error("database: {}", describe_postgres_error(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The database configuration is invalid (found while building the pool or a connection).
    #[error("database configuration: {0}")]
    Config(String),
    /// The database is in a state the code cannot work with: a schema object it cannot
    /// reproduce.
    #[error("unexpected database state: {0}")]
    Unexpected(String),
    /// Concurrent writes kept changing what a write depends on through every retry.
    #[error("conflict with concurrent writes: {0}")]
    Conflict(String),
}

/// tokio-postgres displays server errors as a bare "db error"; logs need the SQLSTATE and the
/// message. The server's `detail` stays out: it can quote row values (personal data).
fn describe_postgres_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => error.to_string(),
    }
}

/// What a database failure means for the caller; decides both the gRPC code and retryability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// The database cannot be reached or refused the session; transient.
    Unavailable { transient: bool },
    /// statement_timeout (or a cancel) stopped the statement.
    Canceled,
    /// Serialization failure or deadlock; the whole transaction may be retried.
    Conflict,
    /// An integrity constraint rejected the data.
    Integrity,
    /// The service's role lacks a grant.
    PermissionDenied,
    /// Anything else: a bug or an unexpected server state.
    Internal,
}

impl DbError {
    /// Whether retrying the whole operation (transaction) may succeed: serialization failures,
    /// deadlocks and lost or refused connections.
    pub fn is_retryable(&self) -> bool {
        match self.failure() {
            Failure::Unavailable { transient } => transient,
            Failure::Conflict => true,
            Failure::Canceled
            | Failure::Integrity
            | Failure::PermissionDenied
            | Failure::Internal => false,
        }
    }

    /// The SQLSTATE the server reported, if the failure came from the server.
    pub fn sql_state(&self) -> Option<&SqlState> {
        self.postgres_error().and_then(tokio_postgres::Error::code)
    }

    /// The server-side error report (constraint, table, detail), if there is one.
    pub fn db_error(&self) -> Option<&tokio_postgres::error::DbError> {
        self.postgres_error()
            .and_then(tokio_postgres::Error::as_db_error)
    }

    fn postgres_error(&self) -> Option<&tokio_postgres::Error> {
        match self {
            DbError::Postgres(e) | DbError::Pool(PoolError::Backend(e)) => Some(e),
            _ => None,
        }
    }

    fn failure(&self) -> Failure {
        match self {
            DbError::Pool(PoolError::Timeout(_) | PoolError::Closed) => {
                Failure::Unavailable { transient: true }
            }
            DbError::Pool(PoolError::Backend(e)) | DbError::Postgres(e) => postgres_failure(e),
            DbError::Pool(PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_))
            | DbError::Build(_)
            | DbError::Config(_)
            | DbError::Unexpected(_) => Failure::Internal,
            DbError::Conflict(_) => Failure::Conflict,
        }
    }
}

fn postgres_failure(error: &tokio_postgres::Error) -> Failure {
    if let Some(code) = error.code() {
        return sql_state_failure(code);
    }
    // Without a SQLSTATE the error is client-side: a closed connection or a socket failure
    // (refused, reset, timed out) means the server is unreachable; anything else (type
    // conversion, wrong row count) is a programming error.
    let io_failure = std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>());
    if error.is_closed() || io_failure {
        Failure::Unavailable { transient: true }
    } else {
        Failure::Internal
    }
}

fn sql_state_failure(code: &SqlState) -> Failure {
    let class = code.code().get(..2).unwrap_or_default();
    if *code == SqlState::QUERY_CANCELED {
        Failure::Canceled
    } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
    {
        Failure::Conflict
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        Failure::PermissionDenied
    } else if class == "23" {
        Failure::Integrity
    } else if class == "08"
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::TOO_MANY_CONNECTIONS
    {
        Failure::Unavailable { transient: true }
    } else if class == "28" {
        // Wrong credentials or a missing role: the service cannot reach its data, but retrying
        // will not help until an operator fixes the deployment.
        Failure::Unavailable { transient: false }
    } else {
        Failure::Internal
    }
}

/// A short, client-safe description of an integrity violation: which rule, by name.
fn integrity_message(error: Option<&tokio_postgres::error::DbError>) -> String {
    let Some(error) = error else {
        return "integrity constraint violated".to_owned();
    };
    let code = error.code();
    let rule = if *code == SqlState::UNIQUE_VIOLATION {
        "unique constraint"
    } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
        "foreign key constraint"
    } else if *code == SqlState::NOT_NULL_VIOLATION {
        "not-null constraint"
    } else if *code == SqlState::CHECK_VIOLATION {
        "check constraint"
    } else if *code == SqlState::EXCLUSION_VIOLATION {
        "exclusion constraint"
    } else {
        "integrity constraint"
    };
    match (error.constraint(), error.column()) {
        (Some(constraint), _) => format!("{rule} \"{constraint}\" violated"),
        (None, Some(column)) => format!("{rule} violated on column \"{column}\""),
        (None, None) => format!("{rule} violated"),
    }
}

/// The single mapping from database failures to gRPC statuses. The client gets the code and a
/// short message; server internals only go to the log, and even there without the error's
/// `detail`, which can quote row values (personal data).
impl From<DbError> for Status {
    fn from(error: DbError) -> Self {
        let report = error.db_error();
        let sql_state = report.map(|r| r.code().code());
        let db_message = report.map(tokio_postgres::error::DbError::message);
        let table = report.and_then(tokio_postgres::error::DbError::table);
        let constraint = report.and_then(tokio_postgres::error::DbError::constraint);
        match error.failure() {
            Failure::Unavailable { .. } => {
                tracing::warn!(%error, sql_state, db_message, "database unavailable");
                Status::unavailable("the database is unavailable, retry later")
            }
            Failure::Canceled => {
                tracing::warn!(%error, db_message, "database statement canceled");
                Status::deadline_exceeded("the database statement timed out or was canceled")
            }
            Failure::Conflict => {
                tracing::info!(%error, sql_state, db_message, "database transaction conflict");
                Status::aborted("the transaction conflicted with a concurrent one, retry it")
            }
            Failure::Integrity => {
                tracing::debug!(
                    sql_state,
                    table,
                    constraint,
                    db_message,
                    "integrity constraint violated"
                );
                Status::failed_precondition(integrity_message(report))
            }
            Failure::PermissionDenied => {
                tracing::error!(sql_state, db_message, "database permission denied");
                Status::permission_denied("the service is not permitted to perform this operation")
            }
            Failure::Internal => {
                let hint = report.and_then(tokio_postgres::error::DbError::hint);
                let routine = report.and_then(tokio_postgres::error::DbError::routine);
                tracing::error!(
                    %error, sql_state, db_message, table, constraint, hint, routine,
                    "database error"
                );
                Status::internal("internal database error")
            }
        }
    }
}

/// One logical database operation (a query, a COPY and merge, a rebuild step), named by what it
/// does and the table it does it to; see [`traced`].
#[derive(Clone, Copy, Debug)]
pub struct DbOperation {
    /// `db.operation.name`: the SQL verb or the step, e.g. "SELECT", "MERGE".
    pub operation: &'static str,
    /// `db.collection.name`: the table (or read model) it works on.
    pub collection: &'static str,
}

impl DbOperation {
    pub const fn new(operation: &'static str, collection: &'static str) -> Self {
        Self {
            operation,
            collection,
        }
    }

    /// The client span, named "{operation} {collection}" with the OpenTelemetry database
    /// attributes. Per logical operation, never per row.
    pub fn span(self) -> tracing::Span {
        tracing::info_span!(
            "db.client",
            otel.name = %format_args!("{} {}", self.operation, self.collection),
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = "postgresql",
            db.operation.name = self.operation,
            db.collection.name = self.collection,
        )
    }
}

/// Runs `work` inside `operation`'s client span; a failure marks the span as an error (the
/// error itself is logged where it is handled; its text may quote row values).
pub async fn traced<T, E>(
    operation: DbOperation,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let span = operation.span();
    let result = work.instrument(span.clone()).await;
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    result
}

/// Builds the connection configuration shared by the pool and dedicated connections.
fn pg_config(
    args: &DatabaseArgs,
    application_name: &str,
) -> Result<tokio_postgres::Config, DbError> {
    let mut config = tokio_postgres::Config::from_str(&args.database_url)
        .map_err(|e| DbError::Config(format!("invalid database URL: {e}")))?;

    // Server-side settings go into the startup packet's options rather than SET statements:
    // they then become the session defaults, which DISCARD ALL / RESET cannot undo.
    let mut options: Vec<String> = config
        .get_options()
        .filter(|o| !o.trim().is_empty())
        .map(|o| vec![o.trim().to_owned()])
        .unwrap_or_default();
    // Prepared statements are planned for their actual values every time: the services'
    // statements are selective or not depending on them, and a generic plan chosen after five
    // executions would serve every later value with the plan of the first ones.
    options.push("-c plan_cache_mode=force_custom_plan".to_owned());
    options.push(format!(
        "-c statement_timeout={}",
        args.statement_timeout_ms
    ));
    options.push(format!("-c work_mem={}kB", args.work_mem_kb));
    if let Some(role) = &args.database_role {
        crate::config::validate_role_name(role).map_err(DbError::Config)?;
        options.push(format!("-c role={role}"));
    }
    config.options(options.join(" "));

    // An application_name in the URL is the operator's choice and wins.
    if config.get_application_name().is_none() {
        config.application_name(application_name);
    }
    config
        .connect_timeout(Duration::from_millis(args.connect_timeout_ms))
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE);
    Ok(config)
}

/// Builds the connection pool. It connects lazily, on first use, so a service can start (and
/// report NOT_SERVING) while the database is down.
pub fn build_pool(args: &DatabaseArgs, application_name: &str) -> Result<Pool, DbError> {
    build_observed_pool(args, application_name, application_name)
}

/// [`build_pool`], reporting its size in the metrics as `metrics_name`.
fn build_observed_pool(
    args: &DatabaseArgs,
    application_name: &str,
    metrics_name: &str,
) -> Result<Pool, DbError> {
    let config = pg_config(args, application_name)?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            // Fast: a broken connection is noticed by is_closed(); a test query per checkout
            // would double the round trips of short RPCs.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let timeout = Some(Duration::from_millis(args.connect_timeout_ms));
    let pool = Pool::builder(manager)
        .max_size(args.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(timeout)
        .create_timeout(timeout)
        .recycle_timeout(timeout)
        .build()?;
    crate::metrics::observe_pool(&pool, metrics_name);
    Ok(pool)
}

/// Connections of the control pool: authentication look-ups and readiness checks.
pub const CONTROL_POOL_SIZE: usize = 2;

/// The small pool for the server's own work, authentication and readiness, apart from the pool
/// the service's calls use: however busy that one is (one tenant's slow exports, say), other
/// tenants' keys are still looked up, and readiness still reflects the database rather than
/// a busy pool.
pub fn build_control_pool(args: &DatabaseArgs, application_name: &str) -> Result<Pool, DbError> {
    let args = DatabaseArgs {
        pool_size: CONTROL_POOL_SIZE,
        ..args.clone()
    };
    build_observed_pool(
        &args,
        application_name,
        &format!("{application_name}/control"),
    )
}

/// Stops the statement `client` is running, if any, and closes the connection instead of
/// returning it to the pool, so the server rolls back whatever transaction it had open.
/// For work whose caller went away: a statement waiting on a lock would otherwise hold its
/// backend until the lock or `statement_timeout` let go. Closing (rather than reusing) the
/// connection makes sure the cancel can never hit the next borrower's statement.
pub async fn cancel_and_discard(client: PooledClient) {
    // The cancel request goes over a connection of its own, with the pool's (lack of) TLS.
    if let Err(error) = client.cancel_token().cancel_query(NoTls).await {
        tracing::info!(%error, "could not cancel a statement; closing its connection anyway");
    }
    drop(deadpool_postgres::Object::take(client));
}

/// Opens one dedicated connection with the same settings as the pool, for a caller that must
/// drive the connection itself (the refresh listener polls it for notifications). The
/// connection is returned un-spawned.
pub async fn connect_single(
    args: &DatabaseArgs,
    application_name: &str,
) -> Result<
    (
        tokio_postgres::Client,
        tokio_postgres::Connection<Socket, NoTlsStream>,
    ),
    DbError,
> {
    let config = pg_config(args, application_name)?;
    Ok(config.connect(NoTls).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deadpool_postgres::TimeoutType;
    use tonic::Code;

    fn args(url: &str, role: Option<&str>) -> DatabaseArgs {
        DatabaseArgs {
            database_url: url.to_owned(),
            database_role: role.map(str::to_owned),
            pool_size: 4,
            statement_timeout_ms: 1_500,
            work_mem_kb: crate::config::DEFAULT_WORK_MEM_KB,
            connect_timeout_ms: 2_000,
        }
    }

    #[test]
    fn connection_options_carry_timeout_and_role() {
        let config = pg_config(
            &args("postgres://u@localhost/db", Some("lma_ingest")),
            "ingest-svc",
        )
        .expect("valid config");
        assert_eq!(
            config.get_options(),
            Some(
                "-c plan_cache_mode=force_custom_plan -c statement_timeout=1500 -c work_mem=32768kB -c role=lma_ingest"
            )
        );
        assert_eq!(config.get_application_name(), Some("ingest-svc"));
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert!(config.get_keepalives());
    }

    #[test]
    fn existing_url_options_and_application_name_are_kept() {
        let config = pg_config(
            &args(
                "host=localhost dbname=db options='-c search_path=lma' application_name=ops",
                None,
            ),
            "search-svc",
        )
        .expect("valid config");
        assert_eq!(
            config.get_options(),
            Some(
                "-c search_path=lma -c plan_cache_mode=force_custom_plan -c statement_timeout=1500 -c work_mem=32768kB"
            )
        );
        assert_eq!(config.get_application_name(), Some("ops"));
    }

    #[test]
    fn invalid_configuration_is_reported() {
        assert!(matches!(
            pg_config(&args("postgres://u@localhost/db?port=notaport", None), "x"),
            Err(DbError::Config(_))
        ));
        assert!(matches!(
            pg_config(&args("postgres://u@localhost/db", Some("Bad Role")), "x"),
            Err(DbError::Config(_))
        ));
    }

    #[tokio::test]
    async fn building_the_pool_does_not_connect() {
        // Port 1 on localhost refuses connections; a lazy pool must still build.
        let pool = build_pool(&args("postgres://u@127.0.0.1:1/db", None), "test")
            .expect("pool builds without a database");
        assert_eq!(pool.status().size, 0);
        let error = pool.get().await.expect_err("nothing listens on port 1");
        let error = DbError::from(error);
        assert!(error.is_retryable(), "{error:?}");
        assert_eq!(Status::from(error).code(), Code::Unavailable);
    }

    #[test]
    fn sql_states_map_to_the_documented_codes() {
        let cases = [
            (SqlState::QUERY_CANCELED, Failure::Canceled),
            (SqlState::T_R_SERIALIZATION_FAILURE, Failure::Conflict),
            (SqlState::T_R_DEADLOCK_DETECTED, Failure::Conflict),
            (SqlState::UNIQUE_VIOLATION, Failure::Integrity),
            (SqlState::FOREIGN_KEY_VIOLATION, Failure::Integrity),
            (SqlState::CHECK_VIOLATION, Failure::Integrity),
            (SqlState::NOT_NULL_VIOLATION, Failure::Integrity),
            (SqlState::INSUFFICIENT_PRIVILEGE, Failure::PermissionDenied),
            (
                SqlState::CONNECTION_FAILURE,
                Failure::Unavailable { transient: true },
            ),
            (
                SqlState::ADMIN_SHUTDOWN,
                Failure::Unavailable { transient: true },
            ),
            (
                SqlState::TOO_MANY_CONNECTIONS,
                Failure::Unavailable { transient: true },
            ),
            (
                SqlState::INVALID_PASSWORD,
                Failure::Unavailable { transient: false },
            ),
            (SqlState::UNDEFINED_TABLE, Failure::Internal),
            (SqlState::SYNTAX_ERROR, Failure::Internal),
        ];
        for (code, expected) in cases {
            assert_eq!(sql_state_failure(&code), expected, "{}", code.code());
        }
    }

    #[test]
    fn pool_failures_are_unavailable_and_retryable() {
        for error in [
            PoolError::Timeout(TimeoutType::Wait),
            PoolError::Timeout(TimeoutType::Create),
            PoolError::Closed,
        ] {
            let error = DbError::Pool(error);
            assert!(error.is_retryable());
            assert_eq!(Status::from(error).code(), Code::Unavailable);
        }
    }

    #[test]
    fn other_failures_are_internal_without_details() {
        let error = DbError::Config("secret detail".to_owned());
        assert!(!error.is_retryable());
        assert_eq!(error.sql_state(), None);
        let status = Status::from(error);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn a_conflict_that_outlasted_the_retries_is_aborted_without_details() {
        let error = DbError::Conflict("companies 17 and 18 kept vanishing".to_owned());
        assert!(error.is_retryable());
        let status = Status::from(error);
        assert_eq!(status.code(), Code::Aborted);
        assert!(!status.message().contains("17"));
    }

    #[test]
    fn integrity_message_without_server_report_is_generic() {
        assert_eq!(integrity_message(None), "integrity constraint violated");
    }
}

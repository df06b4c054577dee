//! The admin connection: one dedicated connection with the services' settings, driven on a
//! background task for the life of the command.

use anyhow::Context as _;
use svc_core::config::DatabaseArgs;

use crate::cli::AdminDatabaseArgs;

/// Name the connection shows in pg_stat_activity.
const APPLICATION_NAME: &str = "lmactl";

/// Statement timeout of admin statements. Migrations lift it for their own run.
const STATEMENT_TIMEOUT_MS: u64 = 60_000;

/// Connects as given by `args`, without assuming a service role: organizations and keys are
/// only writable by the schema owner.
pub async fn connect(args: &AdminDatabaseArgs) -> anyhow::Result<tokio_postgres::Client> {
    let database = DatabaseArgs {
        database_url: args.database_url.clone(),
        database_role: None,
        pool_size: 1,
        statement_timeout_ms: STATEMENT_TIMEOUT_MS,
        work_mem_kb: svc_core::config::DEFAULT_WORK_MEM_KB,
        connect_timeout_ms: args.connect_timeout_ms,
    };
    let (client, connection) = svc_core::db::connect_single(&database, APPLICATION_NAME)
        .await
        .context("connecting to the database")?;
    tokio::spawn(async move {
        // The command notices a broken connection through its next query; this only reports why.
        if let Err(error) = connection.await {
            eprintln!("warning: database connection closed: {error}");
        }
    });
    Ok(client)
}

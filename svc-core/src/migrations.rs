//! The schema migrations in `migrations/` (V{n}__{name}.sql), embedded at compile time and
//! applied with refinery. They are append-only; `migrations/schema.sql` is the schema they
//! create (docs/OPERATIONS.md, "Schema migrations").

use std::sync::OnceLock;

use crate::db::DbError;

mod embedded {
    // The generated `runner()` unwraps while parsing the embedded file names; refinery's
    // macro has already validated those names at compile time.
    #![allow(clippy::unwrap_used)]
    refinery::embed_migrations!("../migrations");
}

/// Session advisory lock key serializing concurrent migration runs (several replicas or
/// services starting at once). Arbitrary, but fixed forever: "lma_migr" in ASCII.
const MIGRATION_LOCK_KEY: i64 = 0x6c6d_615f_6d69_6772;

/// One migration applied by [`run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: String,
}

/// The outcome of [`run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied by this run, in order; empty when the schema was already current.
    pub applied: Vec<AppliedMigration>,
    /// The schema version after the run.
    pub current_version: Option<i64>,
}

impl MigrationReport {
    /// Versions applied by this run.
    pub fn applied_versions(&self) -> Vec<i64> {
        self.applied.iter().map(|m| m.version).collect()
    }
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// refinery refused or failed to apply a migration (SQL error, divergent or missing file).
    #[error("applying migrations: {0}")]
    Refinery(#[from] refinery::Error),
    /// The database could not be reached, locked or queried around the run.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for MigrationError {
    fn from(error: tokio_postgres::Error) -> Self {
        MigrationError::Db(DbError::Postgres(error))
    }
}

/// Applies every pending migration. Runs are serialized through an advisory lock, so starting
/// several migrators at once is safe: the later ones find nothing left to do.
///
/// The connection's statement_timeout is lifted for the run (waiting for the lock and building
/// indexes may take longer than any RPC should) and restored afterwards.
pub async fn run(client: &mut tokio_postgres::Client) -> Result<MigrationReport, MigrationError> {
    client.batch_execute("SET statement_timeout = 0").await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    let outcome = embedded::migrations::runner().run_async(client).await;
    // Unlock even when the run failed; if the connection itself broke, the server already
    // released the session's lock.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let report = outcome?;
    unlocked?;
    client.batch_execute("RESET statement_timeout").await?;

    let applied = report
        .applied_migrations()
        .iter()
        .map(|m| AppliedMigration {
            version: i64::from(m.version()),
            name: m.name().to_owned(),
        })
        .collect::<Vec<_>>();
    for migration in &applied {
        tracing::info!(
            version = migration.version,
            name = %migration.name,
            "applied migration"
        );
    }
    let current_version = current_version(client).await?;
    Ok(MigrationReport {
        applied,
        current_version,
    })
}

/// The highest migration version embedded in this build: the schema version this code needs.
pub fn latest_version() -> i64 {
    static LATEST: OnceLock<i64> = OnceLock::new();
    *LATEST.get_or_init(|| {
        embedded::migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| i64::from(m.version()))
            .max()
            .unwrap_or(0)
    })
}

/// The highest migration version applied to the database, or `None` if no migration ever ran.
pub async fn current_version(client: &tokio_postgres::Client) -> Result<Option<i64>, DbError> {
    match client
        .query_one(
            "SELECT max(version)::bigint FROM refinery_schema_history",
            &[],
        )
        .await
    {
        Ok(row) => Ok(row.try_get::<_, Option<i64>>(0)?),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_embedded_with_unique_increasing_versions() {
        let runner = embedded::migrations::runner();
        let mut versions: Vec<i64> = runner
            .get_migrations()
            .iter()
            .map(|m| i64::from(m.version()))
            .collect();
        assert!(!versions.is_empty(), "no migration embedded");
        versions.sort_unstable();
        versions.dedup();
        assert_eq!(versions.len(), runner.get_migrations().len());
        assert_eq!(versions.last().copied(), Some(latest_version()));
        assert!(latest_version() >= 1);
    }
}

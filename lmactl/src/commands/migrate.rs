//! `lmactl migrate`: applies the migrations embedded in this build.

use anyhow::Context as _;

use super::Output;
use crate::cli::MigrateArgs;

pub async fn run(args: MigrateArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let mut client = crate::db::connect(&args.database).await?;
    let report = svc_core::migrations::run(&mut client)
        .await
        .context("running migrations")?;
    for migration in &report.applied {
        writeln!(
            out.stdout,
            "applied V{}__{}",
            migration.version, migration.name
        )?;
    }
    if report.applied.is_empty() {
        writeln!(out.stdout, "nothing to apply")?;
    }
    let latest = svc_core::migrations::latest_version();
    let current = report
        .current_version
        .context("no migration is recorded after the run")?;
    writeln!(out.stdout, "schema version {current}")?;
    if current > latest {
        // A newer build migrated this database; this one may not understand the schema.
        writeln!(
            out.stderr,
            "warning: the database is at version {current}, newer than this build's {latest}"
        )?;
    } else if current < latest {
        anyhow::bail!("the database is at version {current} after migrating, expected {latest}");
    }
    Ok(())
}

//! `lmactl org ...`: organizations (tenants).

use anyhow::Context as _;

use super::Output;
use crate::cli::{OrgArgs, OrgCommand};

pub async fn run(args: OrgArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    match args.command {
        OrgCommand::Create(args) => {
            let name = args.name.trim();
            anyhow::ensure!(!name.is_empty(), "the organization name must not be blank");
            let client = crate::db::connect(&args.database).await?;
            let id = crate::admin::create_organization(&client, name)
                .await
                .with_context(|| format!("creating organization {name:?}"))?;
            writeln!(out.stdout, "{id}")?;
            Ok(())
        }
    }
}

/// The id of the organization named `name`, or `None`.
pub(crate) async fn find_id(
    client: &tokio_postgres::Client,
    name: &str,
) -> anyhow::Result<Option<i64>> {
    let row = client
        .query_opt("SELECT id FROM organization WHERE name = $1", &[&name])
        .await
        .with_context(|| format!("looking up organization {name:?}"))?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

//! `lmactl key ...`: API keys.

use anyhow::Context as _;

use super::Output;
use crate::cli::{KeyArgs, KeyCommand, KeyCreateArgs, KeyRevokeArgs};

pub async fn run(args: KeyArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    match args.command {
        KeyCommand::Create(args) => create(args, out).await,
        KeyCommand::Revoke(args) => revoke(args, out).await,
    }
}

async fn create(args: KeyCreateArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let name = args.name.trim();
    anyhow::ensure!(!name.is_empty(), "the key name must not be blank");
    let client = crate::db::connect(&args.database).await?;
    // Creating the organization here would turn a typo into a new, empty tenant.
    let organization_id = super::org::find_id(&client, &args.org)
        .await?
        .with_context(|| {
            format!(
                "organization {:?} does not exist; create it first with `lmactl org create`",
                args.org
            )
        })?;
    let minted = crate::admin::mint_api_key(&client, organization_id, name, &args.scopes)
        .await
        .context("minting the API key")?;
    writeln!(out.stdout, "{}", minted.key)?;
    let scopes: Vec<&str> = args.scopes.iter().map(|s| s.as_str()).collect();
    writeln!(
        out.stderr,
        "minted API key id {} ({name}) for organization {:?} with scopes {}; \
         the key is shown only once",
        minted.api_key_id,
        args.org,
        scopes.join(",")
    )?;
    Ok(())
}

async fn revoke(args: KeyRevokeArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let client = crate::db::connect(&args.database).await?;
    let revoked = crate::admin::revoke_api_key(&client, args.id)
        .await
        .context("revoking the API key")?;
    anyhow::ensure!(
        revoked,
        "no active API key with id {} (unknown or already revoked)",
        args.id
    );
    writeln!(
        out.stderr,
        "revoked API key {}; services may accept it for up to their auth cache TTL \
         (LMA_AUTH_CACHE_TTL_SECS, default 10 s)",
        args.id
    )?;
    Ok(())
}

//! `lmactl suppress add|remove|list`: the organization's suppression list (PrivacyService).

mod input;

use anyhow::Context as _;
use lma_proto::v1::{AddSuppressionsRequest, ListSuppressionsRequest, RemoveSuppressionRequest};

use super::Output;
use crate::cli::{
    SuppressAddArgs, SuppressArgs, SuppressCommand, SuppressListArgs, SuppressRemoveArgs,
};
use crate::failure::{Refused, field_violations};
use crate::output::RowWriter;
use crate::suppression::{COLUMNS, MAX_ENTRIES_PER_CALL, values};

/// Problems printed before `suppress add` gives up; the count says how many there were.
const PROBLEMS_SHOWN: usize = 50;

pub async fn run(args: SuppressArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    match args.command {
        SuppressCommand::Add(args) => add(args, out).await,
        SuppressCommand::Remove(args) => remove(args, out).await,
        SuppressCommand::List(args) => list(args, out).await,
    }
}

async fn add(args: SuppressAddArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let defaults = input::Defaults::of(&args);
    let mut collected = input::Collected::default();
    input::from_flags(&args, &defaults, &mut collected);
    if let Some(path) = &args.file {
        let read = if path.as_os_str() == "-" {
            input::from_csv(std::io::stdin().lock(), &defaults, &mut collected)
        } else {
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            input::from_csv(std::io::BufReader::new(file), &defaults, &mut collected)
        };
        read.with_context(|| format!("reading {}", path.display()))?;
    }
    let input::Collected { entries, problems } = collected;
    if !problems.is_empty() {
        for problem in problems.iter().take(PROBLEMS_SHOWN) {
            writeln!(out.stderr, "{problem}")?;
        }
        if problems.len() > PROBLEMS_SHOWN {
            writeln!(out.stderr, "... {} more", problems.len() - PROBLEMS_SHOWN)?;
        }
        return Err(Refused::invalid(format!(
            "{} bad entries; nothing was sent",
            problems.len()
        )));
    }
    if entries.is_empty() {
        return Err(Refused::invalid(
            "the file has no entries; nothing was sent",
        ));
    }

    let mut client = crate::grpc::privacy_client(&args.ingest).await?;
    let mut added = 0;
    let mut token = String::new();
    // One call per MAX_ENTRIES_PER_CALL entries, each its own transaction on the server.
    for batch in entries.chunks(MAX_ENTRIES_PER_CALL) {
        let request = AddSuppressionsRequest {
            entries: batch.iter().map(|entry| entry.entry.clone()).collect(),
        };
        let response = match client.add_suppressions(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => {
                name_violated_entries(&status, batch, out)?;
                if added > 0 {
                    writeln!(
                        out.stderr,
                        "the first {added} entries were added (token {token}) before this \
                         call failed; they stay. Adding them again only updates them."
                    )?;
                }
                return Err(anyhow::Error::new(status).context("AddSuppressions"));
            }
        };
        added += response.ids.len();
        token = response.consistency_token;
        if entries.len() > MAX_ENTRIES_PER_CALL {
            writeln!(out.stderr, "added {added} of {}", entries.len())?;
        }
    }
    writeln!(out.stdout, "added {added} token {token}")?;
    Ok(())
}

/// Says where each entry a violation names (`entries[3].email`) came from: its row or flag.
fn name_violated_entries(
    status: &tonic::Status,
    batch: &[input::Entry],
    out: &mut Output<'_>,
) -> anyhow::Result<()> {
    let mut named = Vec::new();
    for (field, _) in field_violations(status) {
        let index = field
            .strip_prefix("entries[")
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(index, _)| index.parse::<usize>().ok());
        if let Some(index) = index
            && !named.contains(&index)
            && let Some(entry) = batch.get(index)
        {
            named.push(index);
            writeln!(out.stderr, "entries[{index}] is {}", entry.origin)?;
        }
    }
    Ok(())
}

async fn remove(args: SuppressRemoveArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let mut client = crate::grpc::privacy_client(&args.ingest).await?;
    let response = client
        .remove_suppression(RemoveSuppressionRequest {
            id: args.id.clone(),
        })
        .await
        .context("RemoveSuppression")?
        .into_inner();
    writeln!(
        out.stdout,
        "removed {} token {}",
        args.id, response.consistency_token
    )?;
    Ok(())
}

async fn list(args: SuppressListArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let mut client = crate::grpc::privacy_client(&args.ingest).await?;
    let mut writer = RowWriter::new(
        &mut *out.stdout,
        args.output,
        &COLUMNS,
        out.stdout_is_terminal,
    )?;
    let mut token = args.page_token.clone().unwrap_or_default();
    loop {
        let page = client
            .list_suppressions(ListSuppressionsRequest {
                page_size: args.page_size.unwrap_or(0),
                page_token: token.clone(),
            })
            .await
            .context("ListSuppressions")?
            .into_inner();
        for entry in &page.suppressions {
            writer.row(values(entry))?;
        }
        // A token handed back unchanged would page forever.
        anyhow::ensure!(
            page.next_page_token.is_empty() || page.next_page_token != token,
            "ListSuppressions returned the page token it was given"
        );
        token = page.next_page_token;
        if token.is_empty() || !args.all {
            break;
        }
    }
    writer.finish()?;
    if !token.is_empty() {
        writeln!(
            out.stderr,
            "more entries: --all lists them all; --page-token {token} the next page"
        )?;
    }
    Ok(())
}

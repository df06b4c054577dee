//! `lmactl refresh`: refresh-svc's RefreshNow. Without --wait it returns once the refresh is
//! queued; with --wait it returns when the refresh is done, printing what each read model's
//! refresh did, or fails when one of them failed or when --timeout-secs ran out.

use std::time::Duration;

use anyhow::Context as _;
use lma_proto::v1::{ReadModel, RefreshMode, RefreshNowRequest, RefreshResult};

use super::Output;
use crate::cli::RefreshArgs;
use crate::failure::Refused;
use crate::output::RowWriter;
use crate::read_models;

/// The columns of a refresh's result, one row per read model.
const COLUMNS: [&str; 8] = [
    "read_model",
    "mode",
    "rows",
    "keys",
    "started_at",
    "duration",
    "watermark",
    "error",
];

fn row(result: &RefreshResult) -> Vec<String> {
    let text = |value: Option<String>| value.unwrap_or_default();
    vec![
        read_models::read_model_name(result.read_model()),
        read_models::mode_name(result.mode()),
        result.rows.to_string(),
        result.keys.to_string(),
        text(result.started_at.map(|time| time.to_string())),
        text(result.duration.map(|duration| duration.to_string())),
        result.watermark.clone(),
        result.error.clone(),
    ]
}

pub async fn run(args: RefreshArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let mode = if args.full {
        RefreshMode::Full
    } else if args.reconcile {
        RefreshMode::Reconcile
    } else {
        RefreshMode::Incremental
    };
    let read_model = args.view.unwrap_or(ReadModel::Unspecified);
    let what = format!(
        "{} refresh of {}",
        read_models::mode_name(mode),
        match read_model {
            ReadModel::Unspecified => "every read model".to_owned(),
            model => read_models::read_model_name(model),
        }
    );
    let mut client = crate::grpc::refresh_client(&args.refresh).await?;
    let call = client.refresh_now(RefreshNowRequest {
        mode: mode as i32,
        read_model: read_model as i32,
        wait: args.wait,
    });
    // Leaving the call cancels only the wait: refresh-svc finishes the refresh on its own.
    let answer = match args.timeout_secs {
        Some(secs) => tokio::time::timeout(Duration::from_secs(secs), call)
            .await
            .map_err(|_| {
                Refused::timeout(format!(
                    "the {what} was not done within {secs} s; it goes on in refresh-svc \
                     (`lmactl status` shows when it is done)"
                ))
            })?,
        None => call.await,
    };
    let answer = answer.context("RefreshNow")?.into_inner();
    if !answer.completed {
        writeln!(out.stdout, "queued {what}")?;
        return Ok(());
    }
    let mut rows = RowWriter::new(out.stdout, args.output, &COLUMNS, out.stdout_is_terminal)?;
    for result in &answer.results {
        rows.row(row(result))?;
    }
    rows.finish()?;
    if answer.results.is_empty() {
        // An incremental refresh that found the change log empty refreshes nothing.
        writeln!(
            out.stderr,
            "nothing was pending: the read models were up to date"
        )?;
    }
    let failed: Vec<String> = answer
        .results
        .iter()
        .filter(|result| !result.error.is_empty())
        .map(|result| read_models::read_model_name(result.read_model()))
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "the {what} failed for {} (the error column says why)",
        failed.join(", ")
    );
    Ok(())
}

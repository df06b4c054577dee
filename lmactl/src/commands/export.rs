//! `lmactl export`: every prospect matching a filter (ExportProspects) to a CSV or JSON-lines
//! file, each row written as it arrives (memory stays flat for any number of rows), with a
//! progress bar on stderr. A file appears under its name only once complete.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lma_proto::v1::export_prospects_response::Result as ExportResult;
use lma_proto::v1::{ExportProspectsRequest, ExportProspectsResponse};
use tonic::Streaming;

use super::Output;
use crate::cli::ExportArgs;
use crate::output::RowWriter;
use crate::summary::{PROSPECT, Selected};

pub async fn run(args: ExportArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let request = ExportProspectsRequest {
        filter: Some(args.filter.to_proto()),
        min_token: args.consistency.min_token.clone().unwrap_or_default(),
    };
    let mut client = crate::grpc::search_client(&args.search).await?;
    // Opened before any file is created: a refused export (a bad filter, a key without the
    // scope) leaves nothing behind.
    let mut stream = client
        .export_prospects(request)
        .await
        .context("ExportProspects")?
        .into_inner();
    let bar = progress_bar(args.quiet);
    let to_stdout = args.file.as_os_str() == "-";
    let rows = if to_stdout {
        write_rows(&mut stream, &args, &mut *out.stdout, &bar).await?
    } else {
        to_file(&mut stream, &args, &bar).await?
    };
    bar.finish_and_clear();
    let destination = if to_stdout {
        "stdout".to_owned()
    } else {
        args.file.display().to_string()
    };
    writeln!(out.stderr, "exported {rows} prospects to {destination}")?;
    Ok(())
}

/// `FILE.partial`, where the rows go until the export is complete.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".partial");
    PathBuf::from(name)
}

async fn to_file(
    stream: &mut Streaming<ExportProspectsResponse>,
    args: &ExportArgs,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    let partial = partial_path(&args.file);
    let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut file = BufWriter::new(file);
    let written = write_rows(stream, args, &mut file, bar).await;
    let finished = written.and_then(|rows| {
        file.into_inner()
            .map_err(|error| error.into_error())
            .and_then(|file| file.sync_all())
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &args.file).with_context(|| {
            format!("renaming {} to {}", partial.display(), args.file.display())
        })?;
        Ok(rows)
    });
    if finished.is_err() {
        // Best effort: the error that stopped the export is what matters.
        let _ = std::fs::remove_file(&partial);
    }
    finished
}

/// Writes each prospect of the stream as it arrives; checks that the stream ended with its
/// ExportEnd and that it counts the rows received, so a cut export is an error, not a short file.
async fn write_rows(
    stream: &mut Streaming<ExportProspectsResponse>,
    args: &ExportArgs,
    sink: &mut dyn Write,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    let columns = Selected::all(PROSPECT);
    let mut writer = RowWriter::new(sink, args.output.rows(), columns.names(), false)?
        .neutralizing_formulas(args.formulas.neutralize());
    let mut rows: u64 = 0;
    let mut end = None;
    while let Some(message) = stream.message().await.context("ExportProspects")? {
        match message.result {
            Some(ExportResult::Prospect(prospect)) if end.is_none() => {
                writer.row(columns.values(&prospect))?;
                rows += 1;
                bar.inc(1);
            }
            Some(ExportResult::End(export_end)) if end.is_none() => end = Some(export_end),
            Some(_) => anyhow::bail!("ExportProspects sent a message after its ExportEnd"),
            None => anyhow::bail!("ExportProspects sent a message with no result"),
        }
    }
    let end =
        end.context("ExportProspects ended without its ExportEnd: the export is incomplete")?;
    anyhow::ensure!(
        end.rows == rows,
        "ExportProspects says it sent {} rows, but {rows} arrived",
        end.rows
    );
    writer.finish()?;
    Ok(rows)
}

/// Rows so far and rows per second, on stderr when that is a terminal (indicatif draws
/// nothing otherwise).
fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {human_pos} rows, {per_sec} ({elapsed})")
    {
        bar.set_style(style);
    }
    bar
}

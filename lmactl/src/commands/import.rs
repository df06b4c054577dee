//! `lmactl import FILE`: streams a CSV file through ImportCsv with a progress bar, prints the
//! final report, and optionally writes every rejected row to a file for fixing.

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lma_proto::v1::import_csv_request::Part;
use lma_proto::v1::import_csv_response::Message;
use lma_proto::v1::ingest_service_client::IngestServiceClient;
use lma_proto::v1::{CsvEncoding, CsvImportOptions, ImportCsvRequest, ImportReport, RowError};
use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc;
use tonic::metadata::MetadataValue;

use super::Output;
use crate::cli::ImportArgs;

/// Bytes per ImportCsv message: well under the services' message size limit.
const CHUNK_BYTES: usize = 256 * 1024;

pub async fn run(args: ImportArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let mut file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let options = CsvImportOptions {
        file_name: args
            .file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        delimiter: args.delimiter.map(String::from).unwrap_or_default(),
        encoding: match args.encoding.as_deref() {
            Some("utf8") => CsvEncoding::Utf8,
            Some("utf16") => CsvEncoding::Utf16,
            Some("windows-1252") => CsvEncoding::Windows1252,
            _ => CsvEncoding::Unspecified,
        } as i32,
        external_source: args.external_source.clone().unwrap_or_default(),
        dry_run: args.dry_run,
    };
    let channel = tonic::transport::Endpoint::from_shared(args.ingest_url.clone())
        .with_context(|| format!("invalid --ingest-url {:?}", args.ingest_url))?
        .connect()
        .await
        .with_context(|| format!("connecting to ingest-svc at {}", args.ingest_url))?;
    let bearer: MetadataValue<_> = format!("Bearer {}", args.api_key)
        .parse()
        .context("the API key is not valid header text")?;
    let mut client =
        IngestServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
            Ok(request)
        })
        .max_decoding_message_size(64 * 1024 * 1024);

    // The file is read while it is sent: never more than a few chunks in memory.
    let (sender, receiver) = mpsc::channel::<ImportCsvRequest>(4);
    sender
        .send(ImportCsvRequest {
            part: Some(Part::Options(options)),
        })
        .await
        .context("starting the upload")?;
    let reader = tokio::spawn(async move {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        loop {
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<(), std::io::Error>(());
            }
            let chunk = ImportCsvRequest {
                part: Some(Part::Chunk(buffer[..read].to_vec())),
            };
            if sender.send(chunk).await.is_err() {
                return Ok(());
            }
        }
    });
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} ({elapsed})")
        {
            bar.set_style(style);
        }
        bar
    };
    let mut stream = client
        .import_csv(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .context("ImportCsv")?
        .into_inner();
    let mut rejected: Vec<RowError> = Vec::new();
    let mut report = None;
    while let Some(message) = stream.message().await.context("ImportCsv")? {
        match message.message {
            Some(Message::Progress(progress)) => {
                bar.set_position(progress.bytes_received);
                bar.set_message(format!(
                    "{} rows read, {} accepted, {} rejected",
                    progress.rows_read, progress.rows_accepted, progress.rows_rejected
                ));
                if args.rejects.is_some() {
                    rejected.extend(progress.row_errors);
                }
            }
            Some(Message::Report(final_report)) => report = Some(final_report),
            None => {}
        }
    }
    bar.finish_and_clear();
    reader
        .await
        .context("reading the file")?
        .with_context(|| format!("reading {}", args.file.display()))?;
    let report = report.context("ingest-svc ended the import without a report")?;
    print_report(&report, out)?;
    if let Some(path) = &args.rejects {
        write_rejects(path, &rejected)?;
        writeln!(
            out.stderr,
            "wrote {} rejected rows to {}",
            rejected.len(),
            path.display()
        )?;
    }
    Ok(())
}

fn print_report(report: &ImportReport, out: &mut Output<'_>) -> anyhow::Result<()> {
    let summary = report.summary.clone().unwrap_or_default();
    writeln!(
        out.stdout,
        "received {} inserted {} updated {} unchanged {} rejected {} companies_created {} \
         companies_updated {}{} token {}",
        summary.received,
        summary.inserted,
        summary.updated,
        summary.unchanged,
        summary.rejected,
        summary.companies_created,
        summary.companies_updated,
        if summary.validated > 0 {
            format!(" validated {}", summary.validated)
        } else {
            String::new()
        },
        summary.consistency_token
    )?;
    if !report.unknown_columns.is_empty() {
        writeln!(
            out.stderr,
            "ignored unknown columns: {}",
            report.unknown_columns.join(", ")
        )?;
    }
    for error in summary.errors.iter().take(20) {
        writeln!(
            out.stderr,
            "line {} {}{}: {}",
            error.row,
            if error.external_id.is_empty() {
                ""
            } else {
                &error.external_id
            },
            if error.field.is_empty() {
                String::new()
            } else {
                format!(" {}", error.field)
            },
            error.reason
        )?;
    }
    if summary.errors.len() > 20 || summary.errors_truncated {
        writeln!(
            out.stderr,
            "... more rejected rows; use --rejects FILE to get them all"
        )?;
    }
    Ok(())
}

/// One CSV line per problem: line, external id, field, reason.
fn write_rejects(path: &std::path::Path, rejected: &[RowError]) -> anyhow::Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    writer.write_record(["line", "external_id", "field", "reason"])?;
    for error in rejected {
        writer.write_record([
            error.row.to_string().as_str(),
            &error.external_id,
            &error.field,
            &error.reason,
        ])?;
    }
    writer.flush()?;
    Ok(())
}

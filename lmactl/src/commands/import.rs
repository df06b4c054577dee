//! `lmactl import FILE`: streams a CSV file through ImportCsv with a progress bar, prints the
//! final report, and optionally writes every rejected row to a file for fixing and re-import.
//! When the import fails part way, it says what ingest-svc had committed (re-importing the
//! file finishes it: rows already stored are left unchanged).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lma_proto::v1::import_csv_request::Part;
use lma_proto::v1::import_csv_response::Message;
use lma_proto::v1::{
    ColumnDestination, ColumnSource, CsvEncoding, CsvImportOptions, ImportCsvRequest,
    ImportProgress, ImportReport, RowError, UnknownColumns,
};
use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc;

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
        column_map: args.map.iter().cloned().collect(),
        unknown_columns: match args.unknown_columns.as_str() {
            "ignore" => UnknownColumns::Ignore,
            "refuse" => UnknownColumns::Refuse,
            _ => UnknownColumns::Keep,
        } as i32,
    };
    let mut client = crate::grpc::ingest_client(&args.ingest)
        .await?
        .max_decoding_message_size(64 * 1024 * 1024);

    // The file is read while it is sent: never more than a few chunks in memory.
    let (sender, receiver) = mpsc::channel::<UploadPart>(4);
    sender
        .send(UploadPart::Request(ImportCsvRequest {
            part: Some(Part::Options(options)),
        }))
        .await
        .context("starting the upload")?;
    let mut reader = tokio::spawn(async move {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        loop {
            let read = file.read(&mut buffer).await?;
            let part = if read == 0 {
                UploadPart::End
            } else {
                UploadPart::Request(ImportCsvRequest {
                    part: Some(Part::Chunk(buffer[..read].to_vec())),
                })
            };
            if sender.send(part).await.is_err() || read == 0 {
                return Ok::<(), std::io::Error>(());
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
        .import_csv(Upload {
            parts: receiver,
            ended: false,
        })
        .await
        .context("ImportCsv")?
        .into_inner();
    let mut rejected: Vec<RowError> = Vec::new();
    let mut report = None;
    let mut last_progress: Option<ImportProgress> = None;
    let mut file_read = false;
    let mut columns_printed = false;
    let failure = loop {
        let message = tokio::select! {
            message = stream.message() => message,
            read = &mut reader, if !file_read => {
                file_read = true;
                match read {
                    Ok(Ok(())) => continue,
                    Ok(Err(error)) => {
                        break Some(anyhow::Error::new(error)
                            .context(format!("reading {}", args.file.display())));
                    }
                    Err(error) => break Some(anyhow::Error::new(error).context("reading the file")),
                }
            }
        };
        match message {
            Ok(Some(message)) => match message.message {
                Some(Message::Progress(mut progress)) => {
                    bar.set_position(progress.bytes_received);
                    bar.set_message(format!(
                        "{} rows read, {} accepted, {} rejected",
                        progress.rows_read, progress.rows_accepted, progress.rows_rejected
                    ));
                    if args.rejects.is_some() {
                        rejected.append(&mut progress.row_errors);
                    }
                    last_progress = Some(progress);
                }
                Some(Message::Header(header)) => {
                    // Before the first row is stored, so a wrong mapping can be stopped early.
                    bar.suspend(|| print_columns(&header.columns, out))?;
                    columns_printed = true;
                }
                Some(Message::Report(final_report)) => report = Some(final_report),
                None => {}
            },
            Ok(None) => break None,
            Err(status) => break Some(anyhow::Error::new(status).context("ImportCsv")),
        }
    };
    bar.finish_and_clear();
    let report = match (failure, report) {
        (None, Some(report)) => report,
        (failure, _) => {
            if !args.dry_run {
                print_committed(last_progress.as_ref(), out)?;
            }
            return Err(failure.unwrap_or_else(|| {
                anyhow::anyhow!("ingest-svc ended the import without a report")
            }));
        }
    };
    if !file_read {
        reader
            .await
            .context("reading the file")?
            .with_context(|| format!("reading {}", args.file.display()))?;
    }
    print_report(&report, out)?;
    if !columns_printed {
        print_columns(&report.columns, out)?;
    }
    if let Some(path) = &args.rejects {
        let written = write_rejects(&args.file, &report, path, &rejected)?;
        writeln!(
            out.stderr,
            "wrote {written} rejected rows to {}",
            path.display()
        )?;
    }
    Ok(())
}

/// What the reader hands the upload.
enum UploadPart {
    Request(ImportCsvRequest),
    /// The file was read to its end.
    End,
}

/// The request stream of the call. It ends, which half-closes the call and tells ingest-svc
/// that the file is complete, only after [`UploadPart::End`]. When reading fails it never
/// ends: a half-close would make the server take the bytes sent so far for the whole file,
/// the last record maybe cut in two. The call is abandoned instead when lmactl exits, and
/// ingest-svc then rolls back the batch it is writing and writes nothing more.
struct Upload {
    parts: mpsc::Receiver<UploadPart>,
    ended: bool,
}

impl tokio_stream::Stream for Upload {
    type Item = ImportCsvRequest;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<ImportCsvRequest>> {
        use std::task::Poll;
        if self.ended {
            return Poll::Ready(None);
        }
        match self.parts.poll_recv(cx) {
            Poll::Ready(Some(UploadPart::Request(request))) => Poll::Ready(Some(request)),
            Poll::Ready(Some(UploadPart::End)) => {
                self.ended = true;
                Poll::Ready(None)
            }
            // The reader failed (or lmactl is stopping): never half-close; nothing wakes this.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

/// After a failed import: what ingest-svc reported committed before the failure, and how to
/// finish. Batches committed before a failure stay stored.
fn print_committed(progress: Option<&ImportProgress>, out: &mut Output<'_>) -> anyhow::Result<()> {
    match progress {
        Some(progress) => writeln!(
            out.stderr,
            "the import failed after ingest-svc committed the batches of {} rows read: {} \
             stored, {} rejected, token {}. They stay stored; import the same file again to \
             finish (rows already stored are left unchanged).",
            progress.rows_accepted + progress.rows_rejected,
            progress.rows_accepted,
            progress.rows_rejected,
            progress.consistency_token,
        )?,
        None => writeln!(
            out.stderr,
            "the import failed before ingest-svc reported a batch committed; import the file \
             again."
        )?,
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

/// Where every header column went, one line each: "Headcount -> company.employees (mapped)".
fn print_columns(columns: &[ColumnDestination], out: &mut Output<'_>) -> anyhow::Result<()> {
    writeln!(out.stderr, "columns:")?;
    for destination in columns {
        let source = match ColumnSource::try_from(destination.source) {
            Ok(ColumnSource::Recognized) => "recognized",
            Ok(ColumnSource::Mapped) => "mapped",
            Ok(ColumnSource::Kept) => "unknown, kept",
            Ok(ColumnSource::Ignored) => "ignored",
            Ok(ColumnSource::Unspecified) | Err(_) => "?",
        };
        let field = if destination.field.is_empty() {
            "-"
        } else {
            &destination.field
        };
        writeln!(out.stderr, "  {} -> {field} ({source})", destination.column)?;
    }
    Ok(())
}

/// Name of the column the rejects file adds after the file's own columns.
pub const ERRORS_COLUMN: &str = "lma_errors";

/// Writes the rejected rows so they can be fixed and imported again: the input's header plus
/// an [`ERRORS_COLUMN`], then each rejected row's original fields followed by its line and
/// reasons. The input is read again (streamed) and its records numbered by line exactly as
/// ingest-svc numbers them; the report says which delimiter and encoding it was read with.
/// Windows-1252 rows are copied byte for byte; a UTF-16 file is decoded (in memory) and its
/// rows written as UTF-8. Returns the number of rows written.
fn write_rejects(
    input: &Path,
    report: &ImportReport,
    path: &Path,
    rejected: &[RowError],
) -> anyhow::Result<usize> {
    let mut reasons: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for error in rejected {
        let reason = if error.field.is_empty() {
            error.reason.clone()
        } else {
            format!("{}: {}", error.field, error.reason)
        };
        reasons.entry(error.row).or_default().push(reason);
    }
    let delimiter = match report.delimiter.as_bytes() {
        [byte] => *byte,
        _ => b',',
    };
    let source: Box<dyn Read> = if report.encoding() == CsvEncoding::Utf16 {
        let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
        Box::new(std::io::Cursor::new(utf16_to_utf8(&bytes)))
    } else {
        Box::new(
            std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?,
        )
    };
    // The reader ingest-svc uses, on bytes: `\n` ends a record, rows may differ in length.
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .flexible(true)
        .has_headers(false)
        .from_reader(std::io::BufReader::with_capacity(CHUNK_BYTES, source));
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let mut record = csv::ByteRecord::new();
    let mut header = csv::ByteRecord::new();
    if reader.read_byte_record(&mut header)? {
        trim_line_end(&mut header);
    }
    let width = header.len();
    header.push_field(ERRORS_COLUMN.as_bytes());
    writer.write_byte_record(&header)?;
    let mut written = 0;
    while !reasons.is_empty() {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // Unreadable as CSV here too: written below from its reasons alone.
            Err(error) if !matches!(error.kind(), csv::ErrorKind::Io(_)) => continue,
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", input.display()));
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        let Some(why) = reasons.remove(&line) else {
            continue;
        };
        trim_line_end(&mut record);
        let mut row: csv::ByteRecord = record.iter().collect();
        while row.len() < width {
            row.push_field(b"");
        }
        row.push_field(errors_field(line, &why).as_bytes());
        writer.write_byte_record(&row)?;
        written += 1;
    }
    // Rows the file no longer yields at their line (unreadable or changed since the import).
    for (line, why) in reasons {
        let mut row: csv::ByteRecord = std::iter::repeat_n(&b""[..], width).collect();
        row.push_field(errors_field(line, &why).as_bytes());
        writer.write_byte_record(&row)?;
        written += 1;
    }
    writer.flush()?;
    Ok(written)
}

fn errors_field(line: u64, reasons: &[String]) -> String {
    format!("line {line}: {}", reasons.join("; "))
}

/// Drops the `\r` a CRLF line leaves on its last, unquoted field.
fn trim_line_end(record: &mut csv::ByteRecord) {
    let Some(last) = record.iter().next_back() else {
        return;
    };
    if let Some(trimmed) = last.strip_suffix(b"\r") {
        let trimmed = trimmed.to_vec();
        let mut fields: Vec<Vec<u8>> = record.iter().map(<[u8]>::to_vec).collect();
        if let Some(field) = fields.last_mut() {
            *field = trimmed;
        }
        *record = fields.iter().collect();
    }
}

/// UTF-16 with a byte-order mark (little-endian without one) as UTF-8, invalid units replaced.
fn utf16_to_utf8(bytes: &[u8]) -> Vec<u8> {
    let (big_endian, body) = match bytes {
        [0xFE, 0xFF, rest @ ..] => (true, rest),
        [0xFF, 0xFE, rest @ ..] => (false, rest),
        _ => (false, bytes),
    };
    let units = body.chunks_exact(2).map(|pair| {
        let pair = [pair[0], pair[1]];
        if big_endian {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        }
    });
    char::decode_utf16(units)
        .map(|unit| unit.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect::<String>()
        .into_bytes()
}

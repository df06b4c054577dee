//! CSV files as people send them: header aliases, BOM, CRLF, quoted fields, `,`/`;`/tab
//! delimiters, UTF-8, UTF-16 and Windows-1252. Rows become `ProspectRecord`s and go through the
//! same validation as streamed records. Format and rules: docs/INGEST.md.

mod columns;
pub mod decode;
pub mod upload;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use lma_proto::v1::{ColumnDestination, CsvEncoding, ProspectRecord};
use svc_core::FieldViolation;
use tokio::sync::mpsc;

pub use crate::error::CsvError;
use crate::pipeline::{Batch, Input, Intake};
pub use columns::{ColumnPlan, UnknownColumns};
use decode::DecodingReader;

/// Longest header line looked at to detect the delimiter.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How to read a file.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    pub delimiter: Option<u8>,
    pub encoding: CsvEncoding,
    /// external_source of every row that names none ("csv:<file name>")...
    pub external_source: String,
    /// ...or of every row, whatever it names.
    pub source_overrides: bool,
    pub batch_rows: usize,
    /// The call's own mapping of the header.
    pub columns: columns::ColumnPlan,
}

/// What the header said, for the final report.
#[derive(Debug, Default, Clone)]
pub struct HeaderReport {
    pub unknown_columns: Vec<String>,
    pub column_mapping: HashMap<String, String>,
    pub columns: Vec<ColumnDestination>,
    pub encoding: CsvEncoding,
    pub delimiter: String,
}

/// Rows read so far (shared with the progress messages).
pub type RowsRead = std::sync::Arc<std::sync::atomic::AtomicU64>;

/// Reads the whole file from `input` (blocking), validating each row and sending batches.
/// A header without the required columns fails before any batch is sent. An input that breaks
/// off ([`upload::UploadAborted`]) fails with [`CsvError::Aborted`] and sends nothing more: the
/// record it cut and the rows of the unfinished batch are dropped. `on_header` learns how the
/// header was read and mapped before the first row is.
pub fn parse(
    input: impl Read,
    options: &CsvOptions,
    batches: &mpsc::Sender<Batch>,
    rows_read: &RowsRead,
    on_header: impl FnOnce(&HeaderReport),
) -> Result<HeaderReport, CsvError> {
    let mut decoded =
        BufReader::with_capacity(256 * 1024, DecodingReader::new(input, options.encoding));
    let header_line = peek_header_line(&mut decoded)?;
    let delimiter = match options.delimiter {
        Some(delimiter) => delimiter,
        None => detect_delimiter(&header_line),
    };
    let encoding = decoded.get_ref().encoding().unwrap_or(CsvEncoding::Utf8);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        // `\n` ends a record: with CRLF as terminator the csv crate numbers the lines after
        // the first CRLF one too low. The `\r` left on an unquoted last value is trimmed
        // like all surrounding white space.
        .terminator(csv::Terminator::Any(b'\n'))
        .flexible(true)
        .has_headers(false)
        .from_reader(decoded);
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record).map_err(read_error)? {
        return Err(CsvError::NoHeader);
    }
    let header: Vec<String> = record.iter().map(str::to_owned).collect();
    let columns = columns::map_header(&header, &options.columns).map_err(CsvError::Header)?;
    let options = &columns.read_options(options);
    let report = HeaderReport {
        unknown_columns: columns.unknown.clone(),
        column_mapping: columns.mapping.clone(),
        columns: columns.destinations.clone(),
        encoding,
        delimiter: char::from(delimiter).to_string(),
    };
    on_header(&report);
    let mut intake = Intake::new(options.batch_rows, batches.clone());
    loop {
        let (line, input) = match reader.read_record(&mut record) {
            Ok(true) => {
                // Lines that hold no value at all (a trailing `;;;`) are not rows.
                if record.iter().all(|value| value.trim().is_empty()) {
                    continue;
                }
                let line = record.position().map_or(0, csv::Position::line);
                (line, row_to_record(&record, &columns, options))
            }
            Ok(false) => break,
            Err(error) => {
                // A decoding error ends the import; a malformed row does not.
                if let csv::ErrorKind::Io(_) = error.kind() {
                    return Err(read_error(error));
                }
                let line = error.position().map_or(0, csv::Position::line);
                (
                    line,
                    Err(Unread::Malformed(format!("cannot be read as CSV: {error}"))),
                )
            }
        };
        rows_read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let added = match input {
            Ok(prospect) => intake.add_blocking(line, Input::Record(&prospect)),
            Err(Unread::Invalid(external_id, violations)) => intake.add_blocking(
                line,
                Input::Invalid {
                    external_id: &external_id,
                    violations,
                },
            ),
            Err(Unread::Malformed(reason)) => intake.add_blocking(line, Input::Unreadable(reason)),
        };
        added.map_err(|_| CsvError::Aborted)?;
    }
    intake.finish_blocking().map_err(|_| CsvError::Aborted)?;
    Ok(report)
}

/// Why a data row gave no record.
enum Unread {
    /// Values that do not parse or cannot be stored, with the row's external id.
    Invalid(String, Vec<FieldViolation>),
    /// The row is not valid CSV.
    Malformed(String),
}

fn read_error(error: csv::Error) -> CsvError {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => io_error(error),
        other => CsvError::Read(format!("{other:?}")),
    }
}

fn io_error(error: std::io::Error) -> CsvError {
    if upload::is_aborted(&error) {
        CsvError::Aborted
    } else {
        CsvError::Read(error.to_string())
    }
}

/// The header line, left in the reader's buffer, for delimiter detection.
fn peek_header_line(reader: &mut BufReader<impl Read>) -> Result<String, CsvError> {
    let buffered = reader.fill_buf().map_err(io_error)?;
    if buffered.is_empty() {
        return Err(CsvError::NoHeader);
    }
    let end = buffered
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(buffered.len())
        .min(MAX_HEADER_BYTES);
    Ok(String::from_utf8_lossy(&buffered[..end]).into_owned())
}

/// `,`, `;` or tab: whichever occurs most often outside quotes in the header line.
fn detect_delimiter(header: &str) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for byte in header.bytes() {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (delimiter, count) in &mut counts {
                if byte == *delimiter {
                    *count += 1;
                }
            }
        }
    }
    counts
        .iter()
        .max_by_key(|(_, count)| *count)
        .filter(|(_, count)| *count > 0)
        .map_or(b',', |(delimiter, _)| *delimiter)
}

/// The record of one data row, or the violations of values that do not parse or cannot be
/// stored (these name the column as the header does).
fn row_to_record(
    row: &csv::StringRecord,
    header: &columns::HeaderColumns,
    options: &CsvOptions,
) -> Result<ProspectRecord, Unread> {
    let columns = &header.columns;
    let mut record = ProspectRecord {
        external_source: options.external_source.clone(),
        ..Default::default()
    };
    let mut violations = Vec::new();
    for (index, value) in row.iter().enumerate() {
        let Some(Some(column)) = columns.get(index) else {
            if index >= columns.len() && !value.trim().is_empty() {
                violations.push(FieldViolation::new(
                    "",
                    format!("has {} fields; the header has {}", row.len(), columns.len()),
                ));
            }
            continue;
        };
        if let Some(why) = svc_core::error::unstorable_text(value) {
            let name = header.names.get(index).map_or("", String::as_str);
            violations.push(FieldViolation::new(
                column.field(),
                format!("column {}: {why}", svc_core::error::quoted(name)),
            ));
            continue;
        }
        if let Err(violation) = column.set(&mut record, value) {
            violations.push(violation);
        }
    }
    if options.source_overrides || record.external_source.trim().is_empty() {
        record.external_source.clone_from(&options.external_source);
    }
    if violations.is_empty() {
        Ok(record)
    } else {
        violations.dedup();
        Err(Unread::Invalid(
            record.external_id.trim().to_owned(),
            violations,
        ))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;

//! Rows of named columns as a table, CSV, a JSON array or JSON lines, written as they come
//! (only a table for a terminal waits for every row, to align its columns).

use std::borrow::Cow;
use std::io::Write;

/// Spreadsheets read a cell that starts with one of these as a formula: OWASP's "CSV Injection"
/// list (`=`, `+`, `-`, `@`, tab, carriage return).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV cell a spreadsheet shows as text: a value starting like a formula gets a single quote
/// in front, as OWASP recommends; any other value is left alone.
pub fn neutralize_formula(value: &str) -> Cow<'_, str> {
    if value.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// `--output` of `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    /// A line about the service, then a row per read model: aligned on a terminal (and redrawn
    /// in place with --watch); tab-separated otherwise, the service line on stderr (with
    /// --watch, one line per update).
    Table,
    /// One indented JSON document (with --watch, one per update).
    Json,
    /// One JSON document per line (with --watch, one line per update).
    Jsonl,
}

/// `--output` of commands that print rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Columns aligned on a terminal; tab-separated otherwise (for cut and awk).
    Table,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header line.
    Csv,
}

/// `--output` of commands that print one document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DocumentFormat {
    /// Indented JSON.
    Json,
    /// The same JSON on one line.
    Jsonl,
}

/// A JSON object of `columns` and their `values`, all strings.
pub fn json_object(columns: &[&str], values: Vec<String>) -> serde_json::Value {
    serde_json::Value::Object(
        columns
            .iter()
            .map(|column| (*column).to_owned())
            .zip(values.into_iter().map(serde_json::Value::String))
            .collect(),
    )
}

/// Writes `document` as `format` says, ending with a newline.
pub fn write_document(
    out: &mut dyn Write,
    format: DocumentFormat,
    document: &serde_json::Value,
) -> anyhow::Result<()> {
    match format {
        DocumentFormat::Json => serde_json::to_writer_pretty(&mut *out, document)?,
        DocumentFormat::Jsonl => serde_json::to_writer(&mut *out, document)?,
    }
    writeln!(out)?;
    Ok(())
}

/// Writes rows of `columns` in one [`Format`]; [`RowWriter::finish`] completes the output.
pub struct RowWriter<'a> {
    out: &'a mut dyn Write,
    format: Format,
    columns: &'a [&'a str],
    /// A table on a terminal: the rows, aligned when all are known.
    aligned: Option<Vec<Vec<String>>>,
    /// CSV cells that start like a formula are prefixed ([`neutralize_formula`]).
    neutralize_formulas: bool,
    rows: usize,
}

impl<'a> RowWriter<'a> {
    pub fn new(
        out: &'a mut dyn Write,
        format: Format,
        columns: &'a [&'a str],
        terminal: bool,
    ) -> anyhow::Result<Self> {
        let mut writer = RowWriter {
            out,
            format,
            columns,
            aligned: (format == Format::Table && terminal).then(Vec::new),
            neutralize_formulas: false,
            rows: 0,
        };
        match format {
            Format::Table if !terminal => {
                let header: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
                writer.tab_separated(&header)?;
            }
            Format::Csv => writer.csv(columns.iter().copied())?,
            Format::Json => write!(writer.out, "[")?,
            Format::Table | Format::Jsonl => {}
        }
        Ok(writer)
    }

    /// Prefixes CSV cells that start like a spreadsheet formula ([`neutralize_formula`]); the
    /// other formats are not read by spreadsheets and stay exact.
    pub fn neutralizing_formulas(mut self, neutralize: bool) -> Self {
        self.neutralize_formulas = neutralize;
        self
    }

    pub fn row(&mut self, values: Vec<String>) -> anyhow::Result<()> {
        debug_assert_eq!(values.len(), self.columns.len());
        match self.format {
            Format::Table => match &mut self.aligned {
                Some(rows) => rows.push(values),
                None => self.tab_separated(&values)?,
            },
            Format::Csv if self.neutralize_formulas => {
                let cells: Vec<Cow<'_, str>> = values
                    .iter()
                    .map(|value| neutralize_formula(value))
                    .collect();
                self.csv(cells.iter().map(|cell| cell.as_ref()))?
            }
            Format::Csv => self.csv(values.iter().map(String::as_str))?,
            Format::Json => {
                let separator = if self.rows == 0 { "\n  " } else { ",\n  " };
                write!(self.out, "{separator}")?;
                serde_json::to_writer(&mut *self.out, &json_object(self.columns, values))?;
            }
            Format::Jsonl => {
                serde_json::to_writer(&mut *self.out, &json_object(self.columns, values))?;
                writeln!(self.out)?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        match self.format {
            Format::Json if self.rows == 0 => writeln!(self.out, "]")?,
            Format::Json => writeln!(self.out, "\n]")?,
            Format::Table => {
                if let Some(rows) = self.aligned.take() {
                    self.align(rows)?;
                }
            }
            Format::Csv | Format::Jsonl => {}
        }
        self.out.flush()?;
        Ok(())
    }

    fn csv<'v>(&mut self, values: impl IntoIterator<Item = &'v str>) -> anyhow::Result<()> {
        // One record at a time, so that nothing waits in a buffer of the CSV writer; encoded
        // apart, so that a buffered `out` (an export's file) is not flushed at every row.
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(values)?;
        let record = writer
            .into_inner()
            .map_err(|error| anyhow::anyhow!("encoding a CSV record: {}", error.error()))?;
        self.out.write_all(&record)?;
        Ok(())
    }

    fn tab_separated(&mut self, values: &[String]) -> anyhow::Result<()> {
        let cells: Vec<String> = values.iter().map(|value| cell(value)).collect();
        writeln!(self.out, "{}", cells.join("\t"))?;
        Ok(())
    }

    fn align(&mut self, rows: Vec<Vec<String>>) -> anyhow::Result<()> {
        let header: Vec<String> = self.columns.iter().map(|c| c.to_uppercase()).collect();
        let rows: Vec<Vec<String>> = std::iter::once(header)
            .chain(rows)
            .map(|row| row.iter().map(|value| cell(value)).collect())
            .collect();
        let mut widths = vec![0; self.columns.len()];
        for row in &rows {
            for (width, value) in widths.iter_mut().zip(row) {
                *width = (*width).max(value.chars().count());
            }
        }
        for row in rows {
            let mut line = String::new();
            for (i, (value, width)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(value);
                } else {
                    line.push_str(&format!("{value:<width$}  "));
                }
            }
            writeln!(self.out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// One record for people: each column and its value on a line of its own, aligned.
pub fn write_record(
    out: &mut dyn Write,
    columns: &[&str],
    values: &[String],
) -> anyhow::Result<()> {
    let width = columns.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    for (column, value) in columns.iter().zip(values) {
        let line = format!("{column:<width$}  {}", cell(value));
        writeln!(out, "{}", line.trim_end())?;
    }
    out.flush()?;
    Ok(())
}

/// A value on one table line: tabs, newlines and other control characters become spaces.
fn cell(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [&str; 2] = ["id", "reason_text"];

    fn written(format: Format, terminal: bool, rows: &[[&str; 2]]) -> String {
        let mut out = Vec::new();
        let mut writer = RowWriter::new(&mut out, format, &COLUMNS, terminal).expect("header");
        for row in rows {
            writer
                .row(row.iter().map(|v| (*v).to_owned()).collect())
                .expect("row");
        }
        writer.finish().expect("finish");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn every_format_writes_the_rows() {
        let rows = [["1", "said so"], ["22", "a,b \"c\"\nd"]];
        assert_eq!(
            written(Format::Table, true, &rows),
            "ID  REASON_TEXT\n1   said so\n22  a,b \"c\" d\n"
        );
        assert_eq!(
            written(Format::Table, false, &rows),
            "id\treason_text\n1\tsaid so\n22\ta,b \"c\" d\n"
        );
        assert_eq!(
            written(Format::Csv, false, &rows),
            "id,reason_text\n1,said so\n22,\"a,b \"\"c\"\"\nd\"\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&written(Format::Json, false, &rows)).expect("a JSON array");
        assert_eq!(json[1]["reason_text"], "a,b \"c\"\nd");
        assert_eq!(written(Format::Json, false, &[]), "[]\n");
        let mut out = Vec::new();
        write_record(&mut out, &COLUMNS, &["7".to_owned(), "a\tb".to_owned()]).expect("record");
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "id           7\nreason_text  a b\n"
        );
        let lines = written(Format::Jsonl, false, &rows);
        let parsed: Vec<serde_json::Value> = lines
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0]["id"], "1");
    }

    #[test]
    fn csv_cells_that_start_like_formulas_are_neutralized_on_request() {
        let rows = [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "a=b",
            "",
        ];
        let write = |neutralize: bool| {
            let mut out = Vec::new();
            let mut writer = RowWriter::new(&mut out, Format::Csv, &["v"], false)
                .expect("header")
                .neutralizing_formulas(neutralize);
            for value in rows {
                writer.row(vec![value.to_owned()]).expect("row");
            }
            writer.finish().expect("finish");
            let mut reader = csv::Reader::from_reader(out.as_slice());
            reader
                .records()
                .map(|record| record.expect("a record")[0].to_owned())
                .collect::<Vec<_>>()
        };
        let neutralized = write(true);
        assert_eq!(
            neutralized,
            [
                "'=HYPERLINK(\"http://x\")",
                "'+1",
                "'-2+3",
                "'@SUM(A1)",
                "'\tx",
                "'\rx",
                "a=b",
                ""
            ]
        );
        assert_eq!(write(false), rows);
    }
}

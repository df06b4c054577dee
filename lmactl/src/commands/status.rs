//! `lmactl status [--watch]`: how fresh each read model is, from refresh-svc's GetStatus, or
//! live from WatchStatus. Each field of a read model's status is defined once ([`FIELDS`]) and
//! shown from there as a table column, a JSON member and a key of an update line.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use lma_proto::v1::{GetStatusRequest, GetStatusResponse, ReadModelStatus, WatchStatusRequest};
use serde_json::Value;

use super::Output;
use crate::cli::StatusArgs;
use crate::live::{Redraw, Size};
use crate::output::{Format, RowWriter, StatusFormat};
use crate::read_models;

/// A value of the status, shown as text in a table and typed in JSON.
enum Cell {
    Text(String),
    Count(i64),
    /// RFC 3339 in both; absent is empty text and JSON null.
    Time(Option<prost_types::Timestamp>),
    /// Seconds in JSON; "1.5s" in text.
    Span(Option<prost_types::Duration>),
    Flag(bool),
}

impl Cell {
    fn json(&self) -> Value {
        match self {
            Cell::Text(text) if text.is_empty() => Value::Null,
            Cell::Text(text) => Value::String(text.clone()),
            Cell::Count(count) => Value::from(*count),
            Cell::Time(time) => time.map_or(Value::Null, |time| Value::String(time.to_string())),
            Cell::Span(span) => span.map_or(Value::Null, |span| {
                Value::from(span.seconds as f64 + f64::from(span.nanos) / 1e9)
            }),
            Cell::Flag(flag) => Value::Bool(*flag),
        }
    }

    fn text(&self) -> String {
        match self {
            Cell::Text(text) => text.clone(),
            Cell::Count(count) => count.to_string(),
            Cell::Time(time) => time.map(|time| rfc3339_seconds(&time)).unwrap_or_default(),
            Cell::Span(span) => span.map(|span| human_span(&span)).unwrap_or_default(),
            Cell::Flag(flag) => if *flag { "yes" } else { "no" }.to_owned(),
        }
    }
}

/// A time to the second, for people: `2026-12-06T16:04:25Z`.
fn rfc3339_seconds(time: &prost_types::Timestamp) -> String {
    prost_types::Timestamp {
        seconds: time.seconds,
        nanos: 0,
    }
    .to_string()
}

/// A duration for people: `0s`, `250ms`, `1.5s`, `3m20s`.
fn human_span(span: &prost_types::Duration) -> String {
    let millis = span.seconds * 1_000 + i64::from(span.nanos) / 1_000_000;
    match millis {
        0 => "0s".to_owned(),
        1..1_000 => format!("{millis}ms"),
        1_000..60_000 => format!("{:.1}s", millis as f64 / 1_000.0),
        _ => format!("{}m{}s", millis / 60_000, (millis % 60_000) / 1_000),
    }
}

type Field<T> = (&'static str, fn(&T) -> Cell);

/// A read model's status, field by field: the contract's names (`read_model` as lmactl names
/// it; `last_error` split into its message and time).
const FIELDS: [Field<ReadModelStatus>; 14] = [
    ("read_model", |m| {
        Cell::Text(read_models::read_model_name(m.read_model()))
    }),
    ("table_name", |m| Cell::Text(m.table_name.clone())),
    ("last_refresh_at", |m| Cell::Time(m.last_refresh_at)),
    ("last_mode", |m| {
        Cell::Text(read_models::mode_name(m.last_mode()))
    }),
    ("last_duration", |m| Cell::Span(m.last_duration)),
    ("last_rows", |m| Cell::Count(m.last_rows)),
    ("backlog", |m| Cell::Count(m.backlog)),
    ("lag", |m| Cell::Span(m.lag)),
    ("watermark", |m| Cell::Text(m.watermark.clone())),
    ("watermark_at", |m| Cell::Time(m.watermark_at)),
    ("row_count", |m| Cell::Count(m.row_count)),
    ("rebuild_pending", |m| Cell::Flag(m.rebuild_pending)),
    ("last_error", |m| {
        Cell::Text(
            m.last_error
                .as_ref()
                .map(|error| error.message.clone())
                .unwrap_or_default(),
        )
    }),
    ("last_error_at", |m| {
        Cell::Time(m.last_error.as_ref().and_then(|error| error.at))
    }),
];

/// What the status says about the service rather than one read model.
const SERVICE_FIELDS: [Field<GetStatusResponse>; 4] = [
    ("leader", |s| Cell::Text(s.leader.clone())),
    ("replica", |s| Cell::Text(s.replica.clone())),
    ("rederiving_companies", |s| {
        Cell::Count(s.rederiving_companies)
    }),
    ("rederiving_lag", |s| Cell::Span(s.rederiving_lag)),
];

/// The table's columns: the names of [`FIELDS`].
static COLUMNS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| FIELDS.iter().map(|(name, _)| *name).collect());

/// The status as one JSON document: the service's fields and `read_models`, an array.
fn document(status: &GetStatusResponse) -> Value {
    let mut document: serde_json::Map<String, Value> = SERVICE_FIELDS
        .iter()
        .map(|(name, cell)| ((*name).to_owned(), cell(status).json()))
        .collect();
    let models = status
        .read_models
        .iter()
        .map(|model| {
            Value::Object(
                FIELDS
                    .iter()
                    .map(|(name, cell)| ((*name).to_owned(), cell(model).json()))
                    .collect(),
            )
        })
        .collect();
    document.insert("read_models".to_owned(), Value::Array(models));
    Value::Object(document)
}

/// `leader replica-a  replica replica-b  rederiving_companies 0  rederiving_lag 0s`.
fn service_line(status: &GetStatusResponse) -> String {
    SERVICE_FIELDS
        .iter()
        .map(|(name, cell)| {
            let text = cell(status).text();
            format!("{name} {}", if text.is_empty() { "-" } else { &text })
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// The read models as a table: aligned, or tab-separated with a header line.
fn table(status: &GetStatusResponse, aligned: bool) -> anyhow::Result<String> {
    let mut text = Vec::new();
    let mut rows = RowWriter::new(&mut text, Format::Table, COLUMNS.as_slice(), aligned)?;
    for model in &status.read_models {
        rows.row(FIELDS.iter().map(|(_, cell)| cell(model).text()).collect())?;
    }
    rows.finish()?;
    Ok(String::from_utf8(text)?)
}

/// One update as one line: when it came, then each read model's fields as `key=value`
/// (empty ones left out), then the service's.
fn update_line(status: &GetStatusResponse, at: SystemTime) -> String {
    let mut line = rfc3339_seconds(&prost_types::Timestamp::from(at));
    let pairs = |fields: &[(&str, Cell)]| {
        fields
            .iter()
            .map(|(name, cell)| (name, cell.text()))
            .filter(|(_, text)| !text.is_empty())
            .map(|(name, text)| format!("{name}={}", text.replace(char::is_whitespace, "_")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for model in &status.read_models {
        let cells: Vec<(&str, Cell)> = FIELDS
            .iter()
            .skip(1)
            .map(|(name, cell)| (*name, cell(model)))
            .collect();
        line.push_str(&format!(
            " | {}: {}",
            read_models::read_model_name(model.read_model()),
            pairs(&cells)
        ));
    }
    let cells: Vec<(&str, Cell)> = SERVICE_FIELDS
        .iter()
        .map(|(name, cell)| (*name, cell(status)))
        .collect();
    line.push_str(&format!(" | {}", pairs(&cells)));
    line
}

pub async fn run(args: StatusArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let mut client = crate::grpc::refresh_client(&args.refresh).await?;
    if !args.watch {
        let status = client
            .get_status(GetStatusRequest {})
            .await
            .context("GetStatus")?
            .into_inner();
        return print(&status, args.output, out);
    }
    let interval = Duration::from_millis(args.interval_ms);
    let mut stream = client
        .watch_status(WatchStatusRequest {
            min_interval: prost_types::Duration::try_from(interval).ok(),
        })
        .await
        .context("WatchStatus")?
        .into_inner();
    let mut redraw =
        (args.output == StatusFormat::Table && out.stdout_is_terminal).then(Redraw::default);
    loop {
        let update = tokio::select! {
            update = stream.message() => update.context("WatchStatus")?,
            // Ctrl-C ends a watch as a success: it is how a person stops it.
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(update) = update else {
            writeln!(out.stderr, "refresh-svc ended the watch")?;
            return Ok(());
        };
        let Some(status) = update.status else {
            continue;
        };
        let shown = match &mut redraw {
            Some(redraw) => table(&status, true).and_then(|table| {
                let block = format!(
                    "{}\n{table}updated {} (every {} ms at most); Ctrl-C stops\n",
                    service_line(&status),
                    rfc3339_seconds(&prost_types::Timestamp::from(SystemTime::now())),
                    args.interval_ms,
                );
                Ok(redraw.draw(out.stdout, &block, Size::of_stdout())?)
            }),
            None if args.output == StatusFormat::Table => {
                writeln!(out.stdout, "{}", update_line(&status, SystemTime::now()))
                    .and_then(|()| out.stdout.flush())
                    .map_err(anyhow::Error::from)
            }
            None => print(&status, args.output, out),
        };
        match shown {
            // The reader went away (`lmactl status --watch | head`): the watch is over.
            Err(error) if closed_pipe(&error) => return Ok(()),
            shown => shown?,
        }
    }
}

/// Whether `error` is a write to a pipe whose reader has gone.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = match (
            cause.downcast_ref::<std::io::Error>(),
            cause.downcast_ref::<serde_json::Error>(),
        ) {
            (Some(io), _) => Some(io.kind()),
            (None, Some(json)) => json.io_error_kind(),
            (None, None) => None,
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// One status, as `format` says.
fn print(
    status: &GetStatusResponse,
    format: StatusFormat,
    out: &mut Output<'_>,
) -> anyhow::Result<()> {
    match format {
        StatusFormat::Table if out.stdout_is_terminal => {
            write!(
                out.stdout,
                "{}\n{}",
                service_line(status),
                table(status, true)?
            )?;
        }
        StatusFormat::Table => {
            writeln!(out.stderr, "{}", service_line(status))?;
            write!(out.stdout, "{}", table(status, false)?)?;
        }
        StatusFormat::Json => crate::output::write_document(
            out.stdout,
            crate::output::DocumentFormat::Json,
            &document(status),
        )?,
        StatusFormat::Jsonl => crate::output::write_document(
            out.stdout,
            crate::output::DocumentFormat::Jsonl,
            &document(status),
        )?,
    }
    out.stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lma_proto::v1::{ReadModel, RefreshError, RefreshMode};

    fn sample() -> GetStatusResponse {
        GetStatusResponse {
            read_models: vec![ReadModelStatus {
                read_model: ReadModel::ProspectSearch as i32,
                table_name: "prospect_search_view".to_owned(),
                last_refresh_at: Some(prost_types::Timestamp {
                    seconds: 1_800_000_000,
                    nanos: 500_000_000,
                }),
                last_mode: RefreshMode::Incremental as i32,
                last_duration: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: 250_000_000,
                }),
                last_rows: 3,
                backlog: 7,
                lag: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 500_000_000,
                }),
                watermark: "812".to_owned(),
                watermark_at: None,
                row_count: 40,
                last_error: Some(RefreshError {
                    message: "SQLSTATE 42501 permission denied".to_owned(),
                    at: None,
                }),
                rebuild_pending: true,
            }],
            leader: "replica-a".to_owned(),
            replica: "replica-b".to_owned(),
            rederiving_companies: 0,
            rederiving_lag: None,
        }
    }

    #[test]
    fn every_field_shows_in_json_typed_and_in_the_table_as_text() {
        let json = document(&sample());
        let model = &json["read_models"][0];
        assert_eq!(model["read_model"], "prospect-search");
        assert_eq!(model["backlog"], 7);
        assert_eq!(model["lag"], 1.5);
        assert_eq!(model["last_mode"], "incremental");
        assert_eq!(model["last_refresh_at"], "2027-01-15T08:00:00.500Z");
        assert_eq!(model["watermark_at"], Value::Null);
        assert_eq!(model["rebuild_pending"], true);
        assert_eq!(model["last_error"], "SQLSTATE 42501 permission denied");
        assert_eq!(
            model.as_object().map(|m| m.len()),
            Some(FIELDS.len()),
            "{model}"
        );
        assert_eq!(json["leader"], "replica-a");
        assert_eq!(json["rederiving_lag"], Value::Null);

        let tsv = table(&sample(), false).expect("a table");
        let lines: Vec<&str> = tsv.lines().collect();
        assert_eq!(lines[0], COLUMNS.join("\t"));
        assert!(
            lines[1].starts_with("prospect-search\tprospect_search_view\t2027-01-15T08:00:00Z\tincremental\t250ms\t3\t7\t1.5s\t812\t\t40\tyes\t"),
            "{}",
            lines[1]
        );
        assert_eq!(
            service_line(&sample()),
            "leader replica-a  replica replica-b  rederiving_companies 0  rederiving_lag -"
        );
    }

    #[test]
    fn an_update_is_one_line_naming_each_read_model() {
        let line = update_line(&sample(), SystemTime::UNIX_EPOCH);
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with(
                "1970-01-01T00:00:00Z | prospect-search: table_name=prospect_search_view "
            ),
            "{line}"
        );
        assert!(
            line.contains(" backlog=7 lag=1.5s watermark=812 "),
            "{line}"
        );
        assert!(
            line.contains("last_error=SQLSTATE_42501_permission_denied"),
            "{line}"
        );
        assert!(line.ends_with("| leader=replica-a replica=replica-b rederiving_companies=0"));
        assert_eq!(
            human_span(&prost_types::Duration {
                seconds: 200,
                nanos: 0
            }),
            "3m20s"
        );
    }
}

//! The `lma.v1.IngestService` gRPC handlers: authenticate, validate, call the store, answer.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::Stream;
use lma_proto::v1::import_csv_request::Part;
use lma_proto::v1::import_csv_response::Message as ImportMessage;
use lma_proto::v1::ingest_service_server::IngestService;
use lma_proto::v1::{
    CsvImportOptions, DeleteCompanyRequest, DeleteCompanyResponse, DeleteProspectRequest,
    DeleteProspectResponse, GetProspectRequest, GetProspectResponse, GetSourcePriorityRequest,
    GetSourcePriorityResponse, ImportCsvRequest, ImportCsvResponse, ImportHeader, ImportProgress,
    ImportReport, IngestProspectsRequest, IngestProspectsResponse, MergeProspectsRequest,
    MergeProspectsResponse, MigrateLegacyCustomersRequest, MigrateLegacyCustomersResponse,
    SetSourcePriorityRequest, SetSourcePriorityResponse, UnknownColumns, UpsertCompanyRequest,
    UpsertCompanyResponse, UpsertProspectRequest, UpsertProspectResponse,
};
use svc_core::FieldViolation;
use svc_core::error::{quoted, unstorable_text};
use svc_core::telemetry::spawn_traced;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::abort::Abort;
use crate::csv_import::upload::{ChunkReader, Upload};
use crate::csv_import::{self, CsvOptions, RowsRead};
use crate::error::IngestError;
use crate::persistence::{BatchOptions, DeleteCompanyOutcome, MergeOutcome, Store, UpsertError};
use crate::pipeline::{self, Input, Intake, Target};
use crate::{legacy, suppression, validate};

/// File chunks buffered between the gRPC stream and the CSV parser: with the batch channel,
/// what bounds an import's memory whatever the file size.
const CHUNKS_IN_FLIGHT: usize = 8;

pub struct IngestApi {
    store: Arc<Store>,
    batch_rows: usize,
    write_connections: usize,
}

impl IngestApi {
    pub fn new(store: Arc<Store>, batch_rows: usize, write_connections: usize) -> Self {
        Self {
            store,
            batch_rows,
            write_connections,
        }
    }

    fn target(&self, organization_id: i64, dry_run: bool) -> Target {
        Target {
            store: self.store.clone(),
            organization_id,
            dry_run,
            options: BatchOptions {
                mirror: self.store.dual_ingest(),
                write_connections: self.write_connections,
            },
            abort: Abort::default(),
        }
    }
}

/// Most prospects one MergeProspects joins into its survivor.
const MERGED_AT_MOST: usize = 100;

/// The survivor and the others of a MergeProspects: ids, the others distinct and without the
/// survivor; every bad field is named at once.
fn merge_ids(survivor: &str, others: &[String]) -> Result<(i64, Vec<i64>), IngestError> {
    let mut violations = Vec::new();
    let named = |violations: &mut Vec<FieldViolation>, field: &str, value: &str| match parse_id(
        field, value,
    ) {
        Ok(id) => Some(id),
        Err(IngestError::Invalid(found)) => {
            violations.extend(found);
            None
        }
        Err(_) => {
            violations.push(FieldViolation::new(field, "is not a valid id"));
            None
        }
    };
    let survivor = named(&mut violations, "survivor_id", survivor);
    let mut ids = Vec::with_capacity(others.len());
    for (index, other) in others.iter().enumerate() {
        let field = format!("other_ids[{index}]");
        let Some(id) = named(&mut violations, &field, other) else {
            continue;
        };
        if Some(id) == survivor {
            violations.push(FieldViolation::new(field, "is the survivor"));
        } else if ids.contains(&id) {
            violations.push(FieldViolation::new(field, "repeats an id"));
        } else {
            ids.push(id);
        }
    }
    if others.is_empty() {
        violations.push(FieldViolation::new(
            "other_ids",
            "is empty; name the prospects to merge into the survivor",
        ));
    } else if others.len() > MERGED_AT_MOST {
        violations.push(FieldViolation::new(
            "other_ids",
            format!(
                "has {} ids; at most {MERGED_AT_MOST} are merged at once",
                others.len()
            ),
        ));
    }
    match survivor {
        Some(survivor) if violations.is_empty() => Ok((survivor, ids)),
        _ => Err(IngestError::Invalid(violations)),
    }
}

pub(crate) fn parse_id(field: &str, value: &str) -> Result<i64, IngestError> {
    if let Some(why) = unstorable_text(value) {
        return Err(IngestError::invalid(field, why));
    }
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| IngestError::invalid(field, format!("{} is not a valid id", quoted(value))))
}

/// How to read an upload, from the call's options; every bad option is named at once.
fn csv_options(options: &CsvImportOptions, batch_rows: usize) -> Result<CsvOptions, IngestError> {
    let mut violations = Vec::new();
    for (field, value) in [
        ("options.file_name", &options.file_name),
        ("options.delimiter", &options.delimiter),
        ("options.external_source", &options.external_source),
    ] {
        if let Some(why) = unstorable_text(value) {
            violations.push(FieldViolation::new(field, why));
        }
    }
    let delimiter = match options.delimiter.as_bytes() {
        // A NUL is refused above.
        [] | [b'\0'] => None,
        [byte] if byte.is_ascii() && !matches!(byte, b'"' | b'\r' | b'\n') => Some(*byte),
        _ => {
            violations.push(FieldViolation::new(
                "options.delimiter",
                format!("{} is not one ASCII character", quoted(&options.delimiter)),
            ));
            None
        }
    };
    let encoding = lma_proto::v1::CsvEncoding::try_from(options.encoding).unwrap_or_else(|_| {
        violations.push(FieldViolation::new(
            "options.encoding",
            format!("{} is unknown", options.encoding),
        ));
        lma_proto::v1::CsvEncoding::Unspecified
    });
    // Each row's external_source: the option, or "csv:<file name>". Checked here, once, rather
    // than as a violation of every row.
    let file_name = options.file_name.trim();
    let overriding = options.external_source.trim();
    let (external_source, field) = if overriding.is_empty() {
        let name = if file_name.is_empty() {
            "upload"
        } else {
            file_name
        };
        (format!("csv:{name}"), "options.file_name")
    } else {
        (overriding.to_owned(), "options.external_source")
    };
    let chars = external_source.chars().count();
    if chars > validate::limit::EXTERNAL_SOURCE {
        violations.push(FieldViolation::new(
            field,
            format!(
                "makes an external_source of {chars} characters ({}); at most {} are allowed{}",
                quoted(&external_source),
                validate::limit::EXTERNAL_SOURCE,
                if overriding.is_empty() {
                    "; shorten the file name or set options.external_source"
                } else {
                    ""
                }
            ),
        ));
    }
    let unknown_columns = match lma_proto::v1::UnknownColumns::try_from(options.unknown_columns) {
        Ok(UnknownColumns::Unspecified | UnknownColumns::Keep) => csv_import::UnknownColumns::Keep,
        Ok(UnknownColumns::Ignore) => csv_import::UnknownColumns::Ignore,
        Ok(UnknownColumns::Refuse) => csv_import::UnknownColumns::Refuse,
        Err(_) => {
            violations.push(FieldViolation::new(
                "options.unknown_columns",
                format!("{} is unknown", options.unknown_columns),
            ));
            csv_import::UnknownColumns::Keep
        }
    };
    let columns = csv_import::ColumnPlan::new(&options.column_map, unknown_columns).unwrap_or_else(
        |plan_violations| {
            violations.extend(plan_violations);
            csv_import::ColumnPlan::default()
        },
    );
    if !violations.is_empty() {
        return Err(IngestError::Invalid(violations));
    }
    Ok(CsvOptions {
        delimiter,
        encoding,
        source_overrides: !overriding.is_empty(),
        external_source,
        batch_rows,
        columns,
    })
}

type ImportCsvStream = Pin<Box<dyn Stream<Item = Result<ImportCsvResponse, Status>> + Send>>;

fn progress(totals: &pipeline::Totals, bytes: &AtomicU64, rows_read: &RowsRead) -> ImportProgress {
    ImportProgress {
        bytes_received: bytes.load(Ordering::Relaxed),
        rows_read: rows_read.load(Ordering::Relaxed),
        rows_accepted: totals.accepted(),
        rows_rejected: totals.rejected,
        consistency_token: totals.consistency_token.clone(),
        row_errors: Vec::new(),
    }
}

/// Runs one ImportCsv call: options first, then chunks; progress after every committed batch.
/// Only a clean end of the request stream ends the file. Any other end (the call cancelled,
/// reset or past its deadline, or a protocol error) aborts: the parser drops the cut record
/// and its unfinished batch, and the writer rolls back the batch it is writing.
async fn import_csv(
    mut target: Target,
    batch_rows: usize,
    mut requests: Streaming<ImportCsvRequest>,
    responses: mpsc::Sender<Result<ImportCsvResponse, Status>>,
) -> Result<ImportReport, IngestError> {
    let options = match requests
        .message()
        .await
        .map_err(IngestError::ClientStream)?
    {
        Some(ImportCsvRequest {
            part: Some(Part::Options(options)),
        }) => options,
        _ => {
            return Err(IngestError::invalid(
                "options",
                "the first message must carry the import options",
            ));
        }
    };
    let csv_options = csv_options(&options, batch_rows)?;
    target.dry_run = options.dry_run;
    let abort = target.abort.clone();
    let bytes = Arc::new(AtomicU64::new(0));
    let rows_read = RowsRead::default();
    let (chunk_sender, chunk_receiver) = mpsc::channel::<Upload>(CHUNKS_IN_FLIGHT);
    let (batch_sender, writer) = {
        let bytes = bytes.clone();
        let rows_read = rows_read.clone();
        let responses = responses.clone();
        pipeline::start(target, move |totals, errors| {
            let mut message = progress(totals, &bytes, &rows_read);
            message.row_errors = errors;
            let responses = responses.clone();
            async move {
                // A client that went away is noticed by the request stream and the
                // closed response channel, which abort the import.
                let _ = responses
                    .send(Ok(ImportCsvResponse {
                        message: Some(ImportMessage::Progress(message)),
                    }))
                    .await;
            }
        })
    };
    let parser = {
        let rows_read = rows_read.clone();
        let responses = responses.clone();
        tokio::task::spawn_blocking(move || {
            let reader = ChunkReader::new(chunk_receiver);
            csv_import::parse(reader, &csv_options, &batch_sender, &rows_read, |header| {
                // First of the responses: the writer sends nothing before the first batch,
                // which the parser sends only after this. A client gone is noticed elsewhere.
                let _ = responses.blocking_send(Ok(ImportCsvResponse {
                    message: Some(ImportMessage::Header(ImportHeader {
                        columns: header.columns.clone(),
                        encoding: header.encoding.into(),
                        delimiter: header.delimiter.clone(),
                    })),
                }));
            })
        })
    };
    let mut upload_error = None;
    loop {
        match requests.message().await {
            Ok(Some(ImportCsvRequest {
                part: Some(Part::Chunk(chunk)),
            })) => {
                bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                if chunk_sender.send(Upload::Chunk(chunk)).await.is_err() {
                    // The parser stopped (a bad header or encoding); its error is reported.
                    break;
                }
            }
            Ok(Some(_)) => {
                upload_error = Some(IngestError::invalid(
                    "options",
                    "only the first message may carry options",
                ));
                break;
            }
            Ok(None) => {
                // The parser may have stopped already; then its error is reported.
                let _ = chunk_sender.send(Upload::End).await;
                break;
            }
            Err(status) => {
                upload_error = Some(IngestError::ClientStream(status));
                break;
            }
        }
    }
    if upload_error.is_some() {
        // Before the parser learns of it: a batch it already handed over is not written either.
        abort.abort();
    }
    drop(chunk_sender);
    let parsed = parser
        .await
        .map_err(|error| IngestError::TaskFailed("the CSV parser", error))?;
    let totals = writer.join().await?;
    if let Some(error) = upload_error {
        return Err(error);
    }
    let header = parsed?;
    Ok(ImportReport {
        summary: Some(totals.summary()),
        unknown_columns: header.unknown_columns,
        column_mapping: header.column_mapping,
        encoding: header.encoding.into(),
        delimiter: header.delimiter,
        columns: header.columns,
    })
}

#[tonic::async_trait]
impl IngestService for IngestApi {
    async fn ingest_prospects(
        &self,
        request: Request<Streaming<IngestProspectsRequest>>,
    ) -> Result<Response<IngestProspectsResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let mut requests = request.into_inner();
        let target = self.target(caller.organization_id, false);
        // The server drops this future when the client cancels or resets the call, or its
        // deadline passes: then the writer must stop too.
        let _abort_on_drop = target.abort.on_drop();
        let abort = target.abort.clone();
        let (batches, writer) = pipeline::start(target, |_, _| async {});
        let mut intake = Intake::new(self.batch_rows, batches);
        let mut position = 0u64;
        let mut stream_error = None;
        'receive: loop {
            let message = match requests.message().await {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(status) => {
                    // Only a clean end of the stream commits the last batch.
                    abort.abort();
                    stream_error = Some(status);
                    break;
                }
            };
            for record in &message.records {
                position += 1;
                if intake.add(position, Input::Record(record)).await.is_err() {
                    break 'receive;
                }
            }
        }
        if stream_error.is_none() {
            // The writer's own error, if it stopped, is what join reports.
            let _ = intake.finish().await;
        } else {
            // The unfinished batch is never written.
            drop(intake);
        }
        let totals = writer.join().await?;
        if let Some(status) = stream_error {
            // Batches committed before the failure stay; resending the records is idempotent.
            return Err(status);
        }
        let summary = totals.summary();
        pipeline::log_summary(&summary, "records ingested");
        Ok(Response::new(IngestProspectsResponse {
            summary: Some(summary),
        }))
    }

    type ImportCsvStream = ImportCsvStream;

    async fn import_csv(
        &self,
        request: Request<Streaming<ImportCsvRequest>>,
    ) -> Result<Response<Self::ImportCsvStream>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        // tonic stops enforcing the deadline once the progress stream has begun.
        let deadline = svc_core::deadline::timeout(request.metadata())
            .map(|timeout| tokio::time::Instant::now() + timeout);
        let requests = request.into_inner();
        let (responses, receiver) = mpsc::channel(4);
        let target = self.target(caller.organization_id, false);
        let abort = target.abort.clone();
        let batch_rows = self.batch_rows;
        spawn_traced(async move {
            let import = import_csv(target, batch_rows, requests, responses.clone());
            let past_deadline = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            let result = tokio::select! {
                result = import => result,
                // The client went away (the call was cancelled or reset, so tonic dropped the
                // response stream): write nothing more. The parser and writer tasks see the
                // abort and the end of the dropped upload.
                () = responses.closed() => {
                    abort.abort();
                    Err(IngestError::Cancelled)
                }
                // Past its deadline the call is over for the client, whose own timer may not
                // reset it: stop the same way.
                () = past_deadline => {
                    abort.abort();
                    Err(IngestError::PastDeadline)
                }
            };
            let message = match result {
                Ok(report) => {
                    if let Some(summary) = &report.summary {
                        pipeline::log_summary(summary, "CSV imported");
                    }
                    Ok(ImportCsvResponse {
                        message: Some(ImportMessage::Report(report)),
                    })
                }
                Err(error) => {
                    tracing::info!(%error, "CSV import failed");
                    Err(Status::from(error))
                }
            };
            let _ = responses.send(message).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn upsert_company(
        &self,
        request: Request<UpsertCompanyRequest>,
    ) -> Result<Response<UpsertCompanyResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let record = request
            .into_inner()
            .company
            .ok_or_else(|| IngestError::invalid("company", "is required"))?;
        let row = validate::company(&record, "company.", None).map_err(IngestError::Invalid)?;
        let upserted = self
            .store
            .upsert_company(caller.organization_id, &row)
            .await
            .map_err(IngestError::from)?;
        Ok(Response::new(UpsertCompanyResponse {
            company: Some(upserted.company),
            outcome: upserted.outcome.into(),
            consistency_token: upserted.consistency_token,
        }))
    }

    async fn upsert_prospect(
        &self,
        request: Request<UpsertProspectRequest>,
    ) -> Result<Response<UpsertProspectResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let record = request
            .into_inner()
            .prospect
            .ok_or_else(|| IngestError::invalid("prospect", "is required"))?;
        let row = validate::prospect(&record)
            .map_err(|violations| IngestError::invalid_within("prospect", violations))?;
        let upserted = self
            .store
            .upsert_prospect(caller.organization_id, &row)
            .await
            .map_err(|error| match error {
                UpsertError::Suppressed(field, reason) => IngestError::Suppressed {
                    field: format!("prospect.{field}"),
                    reason: suppression::refusal_reason(reason),
                },
                UpsertError::EmailOfAnotherProspect => IngestError::IdentityConflict {
                    field: "prospect.email".to_owned(),
                    reason: error.to_string(),
                },
                UpsertError::Db(error) => IngestError::Db(error),
            })?;
        tracing::info!(
            prospect_id = %upserted.prospect.id,
            outcome = ?upserted.outcome,
            company_outcome = ?upserted.company_outcome,
            "prospect upserted"
        );
        Ok(Response::new(UpsertProspectResponse {
            prospect: Some(upserted.prospect),
            outcome: upserted.outcome.into(),
            company_outcome: upserted.company_outcome.into(),
            consistency_token: upserted.consistency_token,
        }))
    }

    async fn get_prospect(
        &self,
        request: Request<GetProspectRequest>,
    ) -> Result<Response<GetProspectResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let prospect_id = parse_id("prospect_id", &request.get_ref().prospect_id)?;
        let prospect = self
            .store
            .get_prospect(caller.organization_id, prospect_id)
            .await
            .map_err(IngestError::from)?
            .ok_or(IngestError::NotFound("prospect"))?;
        Ok(Response::new(GetProspectResponse {
            prospect: Some(prospect),
        }))
    }

    async fn delete_prospect(
        &self,
        request: Request<DeleteProspectRequest>,
    ) -> Result<Response<DeleteProspectResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let prospect_id = parse_id("prospect_id", &request.get_ref().prospect_id)?;
        let consistency_token = self
            .store
            .delete_prospect(caller.organization_id, prospect_id)
            .await
            .map_err(IngestError::from)?
            .ok_or(IngestError::NotFound("prospect"))?;
        Ok(Response::new(DeleteProspectResponse { consistency_token }))
    }

    async fn delete_company(
        &self,
        request: Request<DeleteCompanyRequest>,
    ) -> Result<Response<DeleteCompanyResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let request = request.into_inner();
        let company_id = parse_id("company_id", &request.company_id)?;
        match self
            .store
            .delete_company(caller.organization_id, company_id, request.delete_prospects)
            .await
            .map_err(IngestError::from)?
        {
            DeleteCompanyOutcome::Deleted {
                prospects_deleted,
                consistency_token,
            } => Ok(Response::new(DeleteCompanyResponse {
                prospects_deleted,
                consistency_token,
            })),
            DeleteCompanyOutcome::NotFound => Err(IngestError::NotFound("company").into()),
            DeleteCompanyOutcome::HasProspects(count) => {
                Err(IngestError::CompanyHasProspects(count).into())
            }
        }
    }

    async fn migrate_legacy_customers(
        &self,
        request: Request<MigrateLegacyCustomersRequest>,
    ) -> Result<Response<MigrateLegacyCustomersResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let request = request.into_inner();
        let mut target = self.target(caller.organization_id, request.dry_run);
        // The rows come from customer: mirroring them back would write what was just read.
        target.options.mirror = false;
        // A cancelled call writes nothing more, as for the streamed writes.
        let _abort_on_drop = target.abort.on_drop();
        let response = legacy::migrate(target, request.batch_size).await?;
        Ok(Response::new(response))
    }

    async fn set_source_priority(
        &self,
        request: Request<SetSourcePriorityRequest>,
    ) -> Result<Response<SetSourcePriorityResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let sources =
            validate::source_priority(&request.get_ref().sources).map_err(IngestError::Invalid)?;
        self.store
            .set_source_priority(caller.organization_id, &sources)
            .await
            .map_err(IngestError::from)?;
        Ok(Response::new(SetSourcePriorityResponse {}))
    }

    async fn merge_prospects(
        &self,
        request: Request<MergeProspectsRequest>,
    ) -> Result<Response<MergeProspectsResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let request = request.get_ref();
        let (survivor, others) = merge_ids(&request.survivor_id, &request.other_ids)?;
        match self
            .store
            .merge_prospects(caller.organization_id, caller.api_key_id, survivor, &others)
            .await
            .map_err(IngestError::from)?
        {
            MergeOutcome::Merged {
                prospect,
                consistency_token,
            } => {
                tracing::info!(
                    survivor_id = survivor,
                    merged = others.len(),
                    api_key_id = caller.api_key_id,
                    "prospects merged"
                );
                Ok(Response::new(MergeProspectsResponse {
                    prospect: Some(*prospect),
                    consistency_token,
                }))
            }
            MergeOutcome::Missing(missing) => {
                let field = if missing.contains(&survivor) {
                    "survivor_id".to_owned()
                } else {
                    let index = others
                        .iter()
                        .position(|id| missing.contains(id))
                        .unwrap_or_default();
                    format!("other_ids[{index}]")
                };
                Err(IngestError::NoSuchProspect(field).into())
            }
        }
    }

    async fn get_source_priority(
        &self,
        request: Request<GetSourcePriorityRequest>,
    ) -> Result<Response<GetSourcePriorityResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let sources = self
            .store
            .source_priority(caller.organization_id)
            .await
            .map_err(IngestError::from)?;
        Ok(Response::new(GetSourcePriorityResponse { sources }))
    }
}

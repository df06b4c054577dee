//! ingest-svc: bulk paths, CSV, normalization, validation, concurrency, cancelled calls,
//! suppression lists and imports racing with their changes, person identity across sources, and
//! a person's data exported and erased.

mod bad_input;
mod bulk;
mod cancel;
mod csv_files;
mod hidden_suppression;
mod identity;
mod import_races;
mod lmactl_import;
mod merge;
mod person_data;
mod provenance;
mod revenue_ranges;
mod rpcs;
mod suppression;
mod vendors;

use lma_proto::v1::import_csv_request::Part;
use lma_proto::v1::import_csv_response::Message;
use lma_proto::v1::{CsvImportOptions, ImportCsvRequest, ImportProgress, ImportReport};
use lma_tests::TestDatabase;
use lma_tests::clients::IngestClient;

/// Streams `csv` through ImportCsv in small chunks (boundaries fall anywhere, also inside a
/// UTF-16 code unit); returns the final report and every progress message.
pub(crate) async fn import_csv(
    client: &mut IngestClient,
    options: CsvImportOptions,
    csv: &[u8],
) -> Result<(ImportReport, Vec<ImportProgress>), tonic::Status> {
    let mut requests = vec![ImportCsvRequest {
        part: Some(Part::Options(CsvImportOptions {
            file_name: if options.file_name.is_empty() {
                "leads.csv".into()
            } else {
                options.file_name.clone()
            },
            ..options
        })),
    }];
    requests.extend(csv.chunks(7).map(|chunk| ImportCsvRequest {
        part: Some(Part::Chunk(chunk.to_vec())),
    }));
    let mut stream = client
        .import_csv(tokio_stream::iter(requests))
        .await?
        .into_inner();
    let mut progress = Vec::new();
    let mut report = None;
    let mut header = None;
    while let Some(message) = stream.message().await? {
        match message.message {
            Some(Message::Header(first)) => {
                assert!(
                    progress.is_empty() && report.is_none() && header.is_none(),
                    "the header comes once, first"
                );
                header = Some(first);
            }
            Some(Message::Progress(update)) => progress.push(update),
            Some(Message::Report(r)) => report = Some(r),
            None => panic!("empty ImportCsv message"),
        }
    }
    let report = report.expect("a final report");
    // What the client was told before the rows is what the report says at the end.
    let header = header.expect("a header message before the rows");
    assert_eq!(header.columns, report.columns);
    assert_eq!(header.encoding, report.encoding);
    assert_eq!(header.delimiter, report.delimiter);
    Ok((report, progress))
}

/// The single `bigint` result of `sql`, run as superuser.
/// GetProspect of `id`, which must exist.
pub(crate) async fn get_prospect(ingest: &mut IngestClient, id: &str) -> lma_proto::v1::Prospect {
    ingest
        .get_prospect(lma_proto::v1::GetProspectRequest {
            prospect_id: id.to_owned(),
        })
        .await
        .expect("GetProspect")
        .into_inner()
        .prospect
        .expect("prospect")
}

pub(crate) async fn count_in(db: &TestDatabase, sql: &str) -> i64 {
    db.connect()
        .await
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .get(0)
}

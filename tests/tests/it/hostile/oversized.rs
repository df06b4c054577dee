//! A 2 MB bad value comes back as a short error: values quoted in errors are cut to
//! `svc_core::error::MAX_QUOTED_CHARS` characters (docs/API.md, "Errors").

use lma_proto::v1::{CountProspectsRequest, ProspectFilter, ProspectRecord, UpsertProspectRequest};
use lma_tests::spawn_app;
use tonic::Code;
use tonic_types::StatusExt as _;

const TWO_MB: usize = 2 * 1024 * 1024;

/// Everything a status carries back: its message and its field violations.
fn answer_size(status: &tonic::Status) -> usize {
    let details: usize = status
        .get_details_bad_request()
        .map(|bad_request| {
            bad_request
                .field_violations
                .iter()
                .map(|violation| violation.field.len() + violation.description.len())
                .sum()
        })
        .unwrap_or(0);
    status.message().len() + details
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_megabyte_bad_value_gives_a_short_error() {
    let app = spawn_app().await;
    let huge = "k".repeat(TWO_MB);

    let mut search = app.search_client().await;
    let status = search
        .count_prospects(CountProspectsRequest {
            filter: Some(ProspectFilter {
                custom_fields: [(huge.clone(), "v".to_owned())].into_iter().collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect_err("a custom-field key over its limit");
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "{}",
        status.message().len()
    );
    assert!(
        answer_size(&status) < 2_000,
        "{} bytes back",
        answer_size(&status)
    );

    let mut ingest = app.ingest_client().await;
    let status = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(ProspectRecord {
                external_id: "huge".to_owned(),
                email: format!("{huge}@acme.com"),
                custom_fields: [(huge.clone(), "v".to_owned())].into_iter().collect(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("an email and a key over their limits");
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "{}",
        status.message().len()
    );
    assert!(
        answer_size(&status) < 4_000,
        "{} bytes back",
        answer_size(&status)
    );
}

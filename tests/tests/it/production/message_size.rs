//! A request message over `LMA_MAX_MESSAGE_BYTES` is refused with RESOURCE_EXHAUSTED (a limit
//! of the service, like the rate and concurrency limits), on a unary call and inside a client
//! stream, and the service goes on serving calls within the limit.

use lma_proto::v1::{IngestProspectsRequest, ProspectRecord, UpsertProspectRequest};
use lma_tests::app::{Service, Shutdown, create_tenant_in, start_service, wait_for_health};
use lma_tests::clients::ingest_client;
use lma_tests::{BearerAuth, TestDatabase, fixtures};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// A record whose encoding is well over 64 KiB.
fn oversized_record() -> ProspectRecord {
    let mut record = fixtures::jane_doe();
    record.tags = (0..2_000).map(|n| format!("tag-{n:050}")).collect();
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_refused_with_resource_exhausted() {
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let ingest = start_service(
        Service::Ingest,
        &db.url(),
        &shutdown,
        &["--max-message-bytes", "65536"],
    )
    .await;
    wait_for_health(&ingest, ServingStatus::Serving).await;
    let mut client = ingest_client(ingest.addr, BearerAuth::key(&tenant.api_key)).await;

    let unary = client
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(oversized_record()),
        })
        .await
        .expect_err("a message over the limit");
    assert_eq!(unary.code(), Code::ResourceExhausted, "{unary}");
    assert!(unary.message().contains("LMA_MAX_MESSAGE_BYTES"), "{unary}");

    let streamed = client
        .ingest_prospects(tokio_stream::iter([
            IngestProspectsRequest {
                records: vec![fixtures::jane_doe()],
            },
            IngestProspectsRequest {
                records: vec![oversized_record()],
            },
        ]))
        .await
        .expect_err("a stream with a message over the limit");
    assert_eq!(streamed.code(), Code::ResourceExhausted, "{streamed}");

    // Calls within the limit still work.
    client
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(fixtures::jane_doe()),
        })
        .await
        .expect("a message within the limit");
}

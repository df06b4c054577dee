//! The standby goes away and comes back: search-svc on it reports `NOT_SERVING` meanwhile and
//! `SERVING` again afterwards without a restart, and an export in flight when it stops ends
//! with a clear, retryable status.

use lma_proto::v1::ExportProspectsRequest;
use lma_proto::v1::export_prospects_response::Result as ExportResult;
use lma_tests::app::wait_for_health;
use lma_tests::clients::{self, BearerAuth};
use lma_tests::fixtures;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use super::{GENEROUS_DEADLINE, import, spawn_replica_app};

/// Rows of the export: many times what the outbox and HTTP/2 windows buffer, so the export is
/// still reading from the standby when it stops.
const EXPORT_ROWS: usize = 4_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_standby_without_a_restart() {
    let r = spawn_replica_app(&[]).await;

    r.replication
        .stop_standby()
        .await
        .expect("stopping the standby");
    wait_for_health(&r.replica, ServingStatus::NotServing).await;
    // Only search-svc on the replica is affected: the primary's services keep serving.
    wait_for_health(&r.app.search, ServingStatus::Serving).await;

    r.replication
        .start_standby()
        .await
        .expect("starting the standby");
    wait_for_health(&r.replica, ServingStatus::Serving).await;
    assert!(
        !r.replica.is_finished(),
        "search-svc on the replica kept running"
    );

    // Its pool hands out live connections at once: the next write is found on the replica.
    let token = r
        .app
        .upsert_prospect(fixtures::prospect_with_revenue("after-outage", Some(3)))
        .await
        .consistency_token;
    let page = r
        .search_replica(fixtures::query("after-outage"), &token, GENEROUS_DEADLINE)
        .await
        .unwrap_or_else(|status| panic!("searching the replica after its restart: {status}"));
    assert!(
        page.by_external_id("after-outage").is_some(),
        "{:?}",
        page.full_names()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_in_flight_when_the_standby_stops_ends_with_a_retryable_status() {
    let r = spawn_replica_app(&[]).await;
    let token = import(&r.app, "outage", "Outage", EXPORT_ROWS).await;

    let mut client =
        clients::search_client(r.replica.addr, BearerAuth::key(&r.app.tenant.api_key)).await;
    let mut export = client
        .export_prospects(ExportProspectsRequest {
            filter: Some(fixtures::industries(&["Outage"])),
            min_token: token,
        })
        .await
        .expect("ExportProspects on the replica")
        .into_inner();
    // The first row proves the export runs on the replica's snapshot; the client then stops
    // reading, so the export waits for it with its transaction open.
    let first = export
        .message()
        .await
        .expect("the first row")
        .expect("a row");
    assert!(matches!(first.result, Some(ExportResult::Prospect(_))));

    r.replication
        .stop_standby()
        .await
        .expect("stopping the standby");

    let mut rows = 1;
    let status = loop {
        match export.message().await {
            Ok(Some(message)) => match message.result {
                Some(ExportResult::Prospect(_)) => rows += 1,
                Some(ExportResult::End(end)) => {
                    panic!(
                        "the export ended normally ({} rows) after the standby stopped",
                        end.rows
                    )
                }
                None => panic!("an export message without a result"),
            },
            Ok(None) => panic!("the export stream ended without an end or a status"),
            Err(status) => break status,
        }
    };
    println!("the export cut off by the standby's stop after {rows} rows: {status:?}");
    assert!(rows < EXPORT_ROWS, "the whole export arrived ({rows} rows)");
    assert!(
        matches!(status.code(), Code::Unavailable | Code::Aborted),
        "an export cut off by the standby's stop must end with a retryable status, got {status:?}"
    );
    assert!(
        !status.message().is_empty(),
        "the status says what happened"
    );

    // Back again, the export is retried and complete.
    r.replication
        .start_standby()
        .await
        .expect("starting the standby");
    wait_for_health(&r.replica, ServingStatus::Serving).await;
    let mut retried = client
        .export_prospects(ExportProspectsRequest {
            filter: Some(fixtures::industries(&["Outage"])),
            min_token: String::new(),
        })
        .await
        .expect("the retried export")
        .into_inner();
    let mut rows = 0;
    while let Some(message) = retried.message().await.expect("the retried export's rows") {
        match message.result {
            Some(ExportResult::Prospect(_)) => rows += 1,
            Some(ExportResult::End(end)) => {
                assert_eq!(end.rows as usize, EXPORT_ROWS);
            }
            None => panic!("an export message without a result"),
        }
    }
    assert_eq!(rows, EXPORT_ROWS);
}

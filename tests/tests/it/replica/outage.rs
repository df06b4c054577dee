//! The standby goes away and comes back: search-svc on it reports `NOT_SERVING` meanwhile and
//! `SERVING` again afterwards without a restart, and an export in flight when it stops ends
//! with a clear, retryable status.

use lma_tests::app::wait_for_health;
use lma_tests::fixtures;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use super::{GENEROUS_DEADLINE, drain_export, import, spawn_replica_app, start_export};

/// Rows of the export: many times what the outbox and HTTP/2 windows buffer, so the export is
/// still reading from the standby when it stops.
pub(super) const EXPORT_ROWS: usize = 4_000;

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
    // The client stops reading after the first row, so the export waits for it with its
    // transaction open on the standby.
    let mut export = start_export(&r, "Outage", &token).await;

    r.replication
        .stop_standby()
        .await
        .expect("stopping the standby");

    let (rows, ended) = drain_export(&mut export, 1).await;
    let status = match ended {
        Ok(end) => panic!(
            "the export ended normally ({} rows) after the standby stopped",
            end.rows
        ),
        Err(status) => status,
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
    let mut retried = start_export(&r, "Outage", "").await;
    let (rows, ended) = drain_export(&mut retried, 1).await;
    let end = ended.unwrap_or_else(|status| panic!("the retried export: {status}"));
    assert_eq!((rows, end.rows as usize), (EXPORT_ROWS, EXPORT_ROWS));
}

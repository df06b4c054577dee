//! Several replicas: exactly one applies, and a standby takes over when the leader goes away.

use std::time::Duration;

use lma_proto::v1::{GetStatusRequest, UpsertProspectRequest};
use lma_tests::app::{Service, Shutdown, create_tenant_in, start_service, wait_for_health};
use lma_tests::clients::{self, BearerAuth};
use lma_tests::{TestDatabase, fixtures};
use tonic_health::pb::health_check_response::ServingStatus;

use super::{refresh_client, start_refresh, wait_for_leader, wait_until_consistent};

/// Refreshes logged by each replica, and how many pairs of refreshes by different replicas
/// overlapped in time.
async fn refresh_log(db: &TestDatabase) -> (Vec<(String, i64)>, i64) {
    let client = db.connect().await;
    let per_replica = client
        .query(
            "SELECT replica, count(*) FROM materialized_view_log WHERE mode = 'incremental' \
             GROUP BY replica ORDER BY replica",
            &[],
        )
        .await
        .expect("reading the refresh log")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let overlapping: i64 = client
        .query_one(
            "WITH spans AS (SELECT replica, tstzrange(started_at, \
                 started_at + duration_ms * interval '1 millisecond') AS span \
                 FROM materialized_view_log) \
             SELECT count(*) FROM spans a JOIN spans b \
                 ON a.replica < b.replica AND a.span && b.span",
            &[],
        )
        .await
        .expect("comparing refresh spans")
        .get(0);
    (per_replica, overlapping)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_apply_at_once_and_the_standby_takes_over() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let services = Shutdown::default();
    let ingest = start_service(Service::Ingest, &db.url(), &services, &[]).await;
    wait_for_health(&ingest, ServingStatus::Serving).await;
    let leader_shutdown = Shutdown::default();
    let leader = start_refresh(&db, &leader_shutdown, "replica-a", &[]).await;
    wait_for_leader(&leader, &tenant.api_key, "replica-a").await;
    let standby_shutdown = Shutdown::default();
    let standby = start_refresh(&db, &standby_shutdown, "replica-b", &[]).await;

    let mut ingest_client =
        clients::ingest_client(ingest.addr, BearerAuth::key(&tenant.api_key)).await;
    for i in 0..6 {
        ingest_client
            .upsert_prospect(UpsertProspectRequest {
                prospect: Some(fixtures::prospect_with_revenue(
                    &format!("before-{i}"),
                    Some(i),
                )),
            })
            .await
            .expect("UpsertProspect");
    }
    wait_until_consistent(&db).await;
    let status = refresh_client(&standby, &tenant.api_key)
        .await
        .get_status(GetStatusRequest {})
        .await
        .expect("GetStatus")
        .into_inner();
    assert_eq!(status.leader, "replica-a", "the standby knows who leads");
    assert_eq!(status.replica, "replica-b");
    let (per_replica, _) = refresh_log(&db).await;
    assert!(
        per_replica
            .iter()
            .all(|(replica, _)| replica == "replica-a"),
        "only the leader applied: {per_replica:?}"
    );

    // The leader goes away; its session, and with it the lock, ends.
    leader_shutdown.trigger();
    leader.stopped().await.expect("the leader stops cleanly");
    wait_for_leader(&standby, &tenant.api_key, "replica-b").await;
    for i in 0..6 {
        ingest_client
            .upsert_prospect(UpsertProspectRequest {
                prospect: Some(fixtures::prospect_with_revenue(&format!("after-{i}"), None)),
            })
            .await
            .expect("UpsertProspect");
    }
    wait_until_consistent(&db).await;
    let (per_replica, overlapping) = refresh_log(&db).await;
    assert!(
        per_replica
            .iter()
            .any(|(replica, _)| replica == "replica-b"),
        "the new leader applied: {per_replica:?}"
    );
    assert_eq!(overlapping, 0, "two replicas applied at the same time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_session_dies_is_replaced_within_seconds() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let first = start_refresh(&db, &shutdown, "replica-a", &[]).await;
    wait_for_leader(&first, &tenant.api_key, "replica-a").await;
    let second = start_refresh(&db, &shutdown, "replica-b", &[]).await;
    let admin = db.connect().await;
    // Kill the leader's session, as a crashed pod or a network partition would end it.
    let killed: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(backend_pid) FROM refresh_leader) t",
            &[],
        )
        .await
        .expect("terminating the leader's session")
        .get(0);
    assert_eq!(killed, 1);
    let started = std::time::Instant::now();
    super::wait_for_any_leader(&second, &tenant.api_key).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

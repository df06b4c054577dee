//! Throttled notifications (`change_signal` and the drain generation): only the first write after
//! each drain sends NOTIFY, a session looks at the signal once per drain, and writes that skipped
//! their NOTIFY are still applied, by the change-log probe.

use std::time::Duration;

use lma_proto::v1::UpsertProspectRequest;
use lma_tests::app::{Service, Shutdown, create_tenant_in, start_service, wait_for_health};
use lma_tests::clients::{self, BearerAuth};
use lma_tests::fixtures::{self, industries};
use lma_tests::{TestDatabase, wait};
use tonic_health::pb::health_check_response::ServingStatus;

use super::{start_refresh, wait_until_consistent, wait_until_searchable};

async fn signal_pending(client: &tokio_postgres::Client) -> bool {
    client
        .query_one("SELECT pending FROM change_signal", &[])
        .await
        .expect("reading the change signal")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_first_write_after_a_drain_signals() {
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let admin = db.connect().await;
    let writer = db.connect_as("lma_ingest").await;
    let insert_company = |domain: &'static str| {
        let writer = &writer;
        async move {
            writer
                .execute(
                    "INSERT INTO company (organization_id, domain) VALUES ($1, $2)",
                    &[&tenant.organization_id, &domain],
                )
                .await
                .expect("inserting a company")
        }
    };

    assert!(!signal_pending(&admin).await, "nothing written yet");
    insert_company("first.example").await;
    assert!(signal_pending(&admin).await, "the first write signals");

    // A session that has looked at the signal does not look again within the same drain: with the
    // signal cleared behind its back, its next write does not signal.
    admin
        .execute("UPDATE change_signal SET pending = false", &[])
        .await
        .expect("clearing the signal");
    insert_company("second.example").await;
    assert!(
        !signal_pending(&admin).await,
        "a session looks at the signal once per drain"
    );

    // A drain clears the signal and moves the generation ...
    begin_drain(&admin).await;
    // ... so the next write signals again, and a write that changes nothing does not.
    writer
        .execute("UPDATE company SET name = name WHERE false", &[])
        .await
        .expect("an update of no rows");
    assert!(!signal_pending(&admin).await, "no change, no signal");
    insert_company("third.example").await;
    assert!(
        signal_pending(&admin).await,
        "the first write after a drain signals"
    );

    // A look in a transaction that rolled back is forgotten with it.
    begin_drain(&admin).await;
    writer.batch_execute("BEGIN").await.expect("begin");
    insert_company("rolled-back.example").await;
    writer.batch_execute("ROLLBACK").await.expect("roll back");
    assert!(!signal_pending(&admin).await, "the signal rolled back");
    insert_company("fourth.example").await;
    assert!(
        signal_pending(&admin).await,
        "the session looked again after its rollback"
    );

    let logged = super::pending_changes(&admin)
        .await
        .expect("counting the change log");
    assert_eq!(
        logged, 4,
        "every committed write is in the change log, signalled or not"
    );
}

/// What refresh-svc does when a drain begins: its own `clear_change_signal`.
async fn begin_drain(admin: &tokio_postgres::Client) {
    refresh_svc::clear_change_signal(admin)
        .await
        .expect("clearing the signal and moving the drain generation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_skipped_its_notification_is_applied_by_the_probe() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let ingest = start_service(Service::Ingest, &db.url(), &shutdown, &[]).await;
    let search = start_service(Service::Search, &db.url(), &shutdown, &[]).await;
    for running in [&ingest, &search] {
        wait_for_health(running, ServingStatus::Serving).await;
    }
    // No fallback drain: only a notification or the probe can apply the write.
    let _refresh = start_refresh(
        &db,
        &shutdown,
        "probe",
        &["--drain-interval-ms", "600000", "--change-probe-ms", "50"],
    )
    .await;
    let admin = db.connect().await;
    // The start-up drain has cleared the signal; set it as if another writer's notification
    // were on its way, so the write below skips its own NOTIFY.
    wait::until(
        "the start-up drain to clear the signal",
        Duration::from_secs(15),
        || async {
            if signal_pending(&admin).await {
                Err("still pending".to_owned())
            } else {
                Ok(())
            }
        },
    )
    .await;
    admin
        .execute("UPDATE change_signal SET pending = true", &[])
        .await
        .expect("setting the signal");

    let auth = BearerAuth::key(&tenant.api_key);
    clients::ingest_client(ingest.addr, auth.clone())
        .await
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(fixtures::jane_doe()),
        })
        .await
        .expect("UpsertProspect");
    wait_until_searchable(
        "the probe to apply the write",
        search.addr,
        &auth,
        industries(&["Robotics"]),
        "crm-jane-doe",
    )
    .await;
    wait_until_consistent(&db).await;
}

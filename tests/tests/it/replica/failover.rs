//! Failover: the primary is lost with changes its refresh-svc had not applied yet, and the
//! standby is promoted. search-svc on it keeps answering without a restart; ingest-svc and a
//! refresh-svc started against the new primary carry on from the replicated change log, so
//! nothing is lost and the read models equal their definitions.

use lma_tests::TestDatabase;
use lma_tests::app::{Service, Shutdown, create_tenant_in, start_service, wait_for_health};
use lma_tests::replica::Replication;
use tonic_health::pb::health_check_response::ServingStatus;

use super::{count_at, import_at};
use crate::refresh::{pending_changes, wait_until_consistent};

/// Prospects written before the failover (applied, then pending) and after it.
const APPLIED: usize = 300;
const PENDING: usize = 200;
const AFTER: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_standby_keeps_answering_and_refresh_resumes_from_the_change_log() {
    let replication = Replication::start()
        .await
        .unwrap_or_else(|error| panic!("a primary and a standby: {error:#}"));
    let db = TestDatabase::create_migrated_on(replication.primary).await;
    let tenant = create_tenant_in(&db, "acme").await;
    let key = tenant.api_key.as_str();

    let old_ingest = Shutdown::default();
    let ingest = start_service(Service::Ingest, &db.url(), &old_ingest, &[]).await;
    let old_refresh = Shutdown::default();
    let refresh = start_service(Service::Refresh, &db.url(), &old_refresh, &[]).await;
    for running in [&ingest, &refresh] {
        wait_for_health(running, ServingStatus::Serving).await;
    }
    replication
        .wait_until_replayed()
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    let standby_db = db.replicated_on(replication.standby);
    let replica_side = Shutdown::default();
    let search = replication
        .start_search(&standby_db, &replica_side, &[])
        .await;

    // Applied before the failover, and seen on the replica.
    let applied = import_at(ingest.addr, key, "applied", "Applied", APPLIED).await;
    assert_eq!(
        count_at(search.addr, key, &["Applied"], &applied).await,
        APPLIED as i64
    );

    // Written while no refresh-svc runs: only in the base tables and the change log.
    old_refresh.trigger();
    refresh
        .stopped()
        .await
        .expect("the old refresh-svc stops cleanly");
    import_at(ingest.addr, key, "pending", "Pending", PENDING).await;
    let moved = db
        .connect_as("lma_ingest")
        .await
        .execute(
            "UPDATE company SET industry = 'Moved' WHERE domain IN ('applied0.com', 'applied1.com')",
            &[],
        )
        .await
        .expect("moving two companies to another industry");
    assert_eq!(moved, 2);
    let pending = pending_changes(&db.connect().await)
        .await
        .expect("the change log");
    assert!(pending > 0, "the failover must leave changes to apply");

    // The primary is lost once the standby has everything it committed; the standby is
    // promoted.
    replication
        .wait_until_replayed()
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    old_ingest.trigger();
    ingest
        .stopped()
        .await
        .expect("the old ingest-svc stops cleanly");
    replication
        .primary
        .stop()
        .await
        .expect("stopping the primary");
    replication.promote().await.expect("promoting the standby");

    // search-svc on the promoted standby answers as before, without a restart.
    wait_for_health(&search, ServingStatus::Serving).await;
    assert!(!search.is_finished());
    assert_eq!(
        count_at(search.addr, key, &["Applied", "Moved"], "").await,
        APPLIED as i64
    );

    // The write path moves to the new primary.
    let new_primary = Shutdown::default();
    let url = standby_db.url();
    let ingest = start_service(Service::Ingest, &url, &new_primary, &[]).await;
    let refresh = start_service(Service::Refresh, &url, &new_primary, &[]).await;
    for running in [&ingest, &refresh] {
        wait_for_health(running, ServingStatus::Serving).await;
    }
    let after = import_at(ingest.addr, key, "after", "After", AFTER).await;

    // Everything is there: what was applied, what was pending at the failover, and what was
    // written since; the read models equal their definitions.
    // import_at spreads prospect i over company i % 40; companies 0 and 1 moved.
    let moved_prospects = (0..APPLIED).filter(|i| i % 40 < 2).count() as i64;
    assert_eq!(
        count_at(search.addr, key, &["After"], &after).await,
        AFTER as i64
    );
    assert_eq!(
        count_at(search.addr, key, &["Pending"], &after).await,
        PENDING as i64
    );
    assert_eq!(
        count_at(search.addr, key, &["Moved"], &after).await,
        moved_prospects
    );
    assert_eq!(
        count_at(search.addr, key, &["Applied"], &after).await,
        APPLIED as i64 - moved_prospects
    );
    wait_until_consistent(&standby_db).await;
}

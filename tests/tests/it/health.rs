//! Health follows the database: NOT_SERVING until it answers with a current schema.

use std::time::Duration;

use lma_tests::app::{Service, Shutdown, health_status, start_service, wait_for_health};
use lma_tests::database::{TestDatabase, unique_name};
use lma_tests::wait;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_not_serving_until_the_database_is_reachable_and_migrated() {
    lma_tests::init_test_logging();
    let server = lma_tests::postgres::server().await;
    let name = unique_name("lma_health");
    let shutdown = Shutdown::default();
    // The database does not exist yet: connections fail.
    let running = start_service(Service::Search, &server.conninfo(&name), &shutdown, &[]).await;
    for service_name in ["", "lma.v1.SearchService"] {
        assert_eq!(
            health_status(running.addr, service_name).await,
            Ok(ServingStatus::NotServing),
            "{service_name:?} without a database"
        );
    }

    // The database answers but has no schema yet: still not serving.
    let db = TestDatabase::create_empty_named(&name)
        .await
        .expect("create the database");
    let admin = &db.connect().await;
    wait::until(
        "search-svc to connect to the new database",
        Duration::from_secs(15),
        || async move {
            let sessions: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND application_name = 'search-svc'",
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?
                .get(0);
            if sessions > 0 {
                Ok(())
            } else {
                Err("no session yet".to_owned())
            }
        },
    )
    .await;
    // Readiness is re-checked every second while not ready: watch a little longer than that.
    let watch_until = tokio::time::Instant::now() + Duration::from_millis(1_500);
    while tokio::time::Instant::now() < watch_until {
        assert_eq!(
            health_status(running.addr, "").await,
            Ok(ServingStatus::NotServing),
            "a database without the schema is not ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut migrator = db.connect().await;
    svc_core::migrations::run(&mut migrator)
        .await
        .expect("migrate the new database");
    wait_for_health(&running, ServingStatus::Serving).await;

    shutdown.trigger();
    running.stopped().await.expect("search-svc stops cleanly");
}

//! One API key cannot starve the others of search-svc: its `min_token` waits hold no database
//! connection and are bounded, and it holds at most its share of the pool.

use std::time::{Duration, Instant};

use lma_proto::v1::{ExportProspectsRequest, ProspectFilter, SearchProspectsRequest};
use lma_tests::app::{Service, Shutdown, health_status, start_service, wait_for_health};
use lma_tests::clients::{BearerAuth, search_client};
use lma_tests::{spawn_app, wait};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// A token no write has reached: the watermark is a transaction id of a fresh database.
const FAR_FUTURE_TOKEN: &str = "900000000000";

/// Far-future waits one key starts at once: all the calls one key may have in flight by
/// default (a quarter of the default 256), and the default bound on its waits.
const WAITS: usize = 64;

/// Connections search-svc may have at most: its pool (4 in the harness), the control pool for
/// authentication and readiness (2), and the watermark watcher's (1).
const MOST_SEARCH_CONNECTIONS: i64 = 4 + 2 + 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_future_waits_of_one_key_leave_other_tenants_and_readiness_alone() {
    let app = spawn_app().await;
    let other = app.create_tenant("globex").await;
    let waiter = app.search_client().await;

    let waits: Vec<_> = (0..WAITS)
        .map(|_| {
            let mut client = waiter.clone();
            tokio::spawn(async move {
                let mut request = tonic::Request::new(SearchProspectsRequest {
                    min_token: FAR_FUTURE_TOKEN.to_owned(),
                    ..Default::default()
                });
                request.set_timeout(Duration::from_secs(6));
                let started = Instant::now();
                let result = client.search_prospects(request).await;
                (result.map(|_| ()), started.elapsed())
            })
        })
        .collect();

    // Meanwhile the other tenant searches, and readiness holds.
    let mut other_client = search_client(app.search.addr, BearerAuth::key(&other.api_key)).await;
    let db = app.db.connect().await;
    let mut most_connections = 0;
    for _ in 0..20 {
        let page = other_client
            .search_prospects(SearchProspectsRequest::default())
            .await
            .expect("another tenant's search succeeds while one key waits")
            .into_inner()
            .message()
            .await
            .expect("a streamed answer");
        assert!(page.is_some(), "the page ends with a PageEnd");
        assert_eq!(
            health_status(app.search.addr, "").await,
            Ok(ServingStatus::Serving),
            "readiness follows the database, not the waits"
        );
        let connections: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'search-svc'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        most_connections = most_connections.max(connections);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        most_connections <= MOST_SEARCH_CONNECTIONS,
        "{most_connections} connections: waits hold none"
    );

    // Every wait was let in and waited its deadline out. (Sixty-four answers due at the same
    // instant on a shared machine: one may reach its client just after the client's own
    // timer, which then reports CANCELLED; the service's DEADLINE_EXCEEDED is tested alone in
    // search::freshness.)
    for wait in waits {
        let (result, elapsed) = wait.await.expect("task");
        let status = result.expect_err("nothing reaches a far-future token");
        assert!(
            matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{status:?}"
        );
        assert!(elapsed >= Duration::from_secs(5), "waited out: {elapsed:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_holds_at_most_its_share_of_the_pool() {
    let app = spawn_app().await;
    let organization_id = app.tenant.organization_id;
    crate::search::data::load_bulk(&app, organization_id, 100, 20_000).await;
    let other = app.create_tenant("globex").await;
    // A search-svc of its own, with a short wait for a connection: pool 4, so a key's share
    // is 3 (three quarters).
    let shutdown = Shutdown::default();
    let search = start_service(
        Service::Search,
        &app.db.url(),
        &shutdown,
        &["--database-connect-timeout-ms", "1000"],
    )
    .await;
    wait_for_health(&search, ServingStatus::Serving).await;
    let hog = search_client(search.addr, BearerAuth::key(&app.tenant.api_key)).await;

    // Three exports read one row each, then nothing: each holds a connection (its snapshot).
    let mut exports = Vec::new();
    for _ in 0..3 {
        let mut stream = hog
            .clone()
            .export_prospects(ExportProspectsRequest {
                filter: Some(ProspectFilter::default()),
                min_token: String::new(),
            })
            .await
            .expect("ExportProspects")
            .into_inner();
        stream.message().await.expect("a row").expect("a message");
        exports.push(stream);
    }
    let db = app.db.connect().await;
    wait::until(
        "three exports holding snapshots",
        Duration::from_secs(10),
        || {
            let db = &db;
            async move {
                let held: i64 = db
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND application_name = 'search-svc' AND state = 'idle in transaction'",
                        &[],
                    )
                    .await
                    .map_err(|error| error.to_string())?
                    .get(0);
                if held >= 3 {
                    Ok(())
                } else {
                    Err(format!("{held} held"))
                }
            }
        },
    )
    .await;

    // The same key's next call waits for one of its own connections, then is refused...
    let started = Instant::now();
    let refused = hog
        .clone()
        .search_prospects(SearchProspectsRequest::default())
        .await
        .expect_err("the key holds its whole share");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("share"), "{refused:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited first"
    );

    // ...while another tenant's searches find the quarter kept for the others.
    let mut other_client = search_client(search.addr, BearerAuth::key(&other.api_key)).await;
    for _ in 0..5 {
        other_client
            .search_prospects(SearchProspectsRequest::default())
            .await
            .expect("another tenant is served");
    }

    // A connection of the key's comes back when an export ends.
    drop(exports.pop());
    wait::until(
        "the key's search after an export ended",
        Duration::from_secs(10),
        || {
            let mut hog = hog.clone();
            async move {
                hog.search_prospects(SearchProspectsRequest::default())
                    .await
                    .map(|_| ())
                    .map_err(|status| status.to_string())
            }
        },
    )
    .await;
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_beyond_a_keys_bound_are_refused_at_once() {
    let app = spawn_app().await;
    let shutdown = Shutdown::default();
    let search = start_service(
        Service::Search,
        &app.db.url(),
        &shutdown,
        &["--min-token-waits-per-key", "4"],
    )
    .await;
    wait_for_health(&search, ServingStatus::Serving).await;
    let client = search_client(search.addr, BearerAuth::key(&app.tenant.api_key)).await;
    let waits: Vec<_> = (0..10)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut request = tonic::Request::new(SearchProspectsRequest {
                    min_token: FAR_FUTURE_TOKEN.to_owned(),
                    ..Default::default()
                });
                request.set_timeout(Duration::from_secs(3));
                let started = Instant::now();
                let result = client.search_prospects(request).await;
                (result.map(|_| ()), started.elapsed())
            })
        })
        .collect();
    let mut refused = 0;
    let mut waited = 0;
    for wait in waits {
        let (result, elapsed) = wait.await.expect("task");
        let status = result.expect_err("nothing reaches a far-future token");
        if status.code() == Code::ResourceExhausted {
            assert!(
                elapsed < Duration::from_secs(2),
                "refused at once: {elapsed:?}"
            );
            assert!(status.message().contains("waiting"), "{status:?}");
            refused += 1;
        } else {
            assert!(elapsed >= Duration::from_secs(2), "waited: {elapsed:?}");
            waited += 1;
        }
    }
    assert_eq!((waited, refused), (4, 6));
    // A token already reached is answered, bound or not.
    let mut request = tonic::Request::new(SearchProspectsRequest {
        min_token: "1".to_owned(),
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(3));
    client
        .clone()
        .search_prospects(request)
        .await
        .expect("a reached token needs no wait");
    shutdown.trigger();
}

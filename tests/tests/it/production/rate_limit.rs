//! The per-API-key rate limit: a key over its budget gets RESOURCE_EXHAUSTED with a retry
//! delay, other keys and health checks are unaffected, and the key recovers as its bucket
//! refills.

use std::time::Duration;

use lma_proto::v1::ProspectFilter;
use lma_tests::app::{
    Service, Shutdown, create_tenant_in, health_status, search_prospects, search_request,
    start_service, wait_for_health,
};
use lma_tests::clients::search_client;
use lma_tests::{BearerAuth, TestDatabase, wait};
use svc_core::Scope;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_gets_resource_exhausted_and_others_do_not() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let other_key = lma_tests::app::mint_key_in(&db, tenant.organization_id, &[Scope::SearchRead])
        .await
        .key;
    let shutdown = Shutdown::default();
    // One request per second after a burst of three: slow enough that refills during the
    // burst cannot hide the limit, fast enough to watch the recovery.
    let search = start_service(
        Service::Search,
        &db.url(),
        &shutdown,
        &["--rate-limit-rps", "1", "--rate-limit-burst", "3"],
    )
    .await;
    wait_for_health(&search, ServingStatus::Serving).await;

    let mut limited = search_client(search.addr, BearerAuth::key(&tenant.api_key)).await;
    let request = || search_request(ProspectFilter::default());
    let mut refused = None;
    // The burst (3) plus at most a refill or two on a slow machine, then a refusal.
    for _ in 0..6 {
        match search_prospects(&mut limited, request()).await {
            Ok(_) => {}
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let refused = refused.expect("the key was never refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    assert!(
        refused.message().contains("rate limit") && refused.message().contains("retry in"),
        "{}",
        refused.message()
    );

    // Another key of the same tenant has its own budget; health needs none.
    let mut other = search_client(search.addr, BearerAuth::key(&other_key)).await;
    search_prospects(&mut other, request())
        .await
        .expect("another key is not limited by the first");
    for _ in 0..10 {
        assert_eq!(
            health_status(search.addr, "").await,
            Ok(ServingStatus::Serving)
        );
    }

    // The bucket refills at one token per second.
    wait::until(
        "the limited key to be admitted again",
        Duration::from_secs(5),
        || {
            let mut client = limited.clone();
            async move {
                search_prospects(&mut client, request())
                    .await
                    .map(|_| ())
                    .map_err(|status| status.to_string())
            }
        },
    )
    .await;
}

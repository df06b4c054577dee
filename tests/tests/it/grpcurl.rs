//! The real grpcurl (1.8.6, reflection v1alpha only) against the running services.

use std::collections::BTreeSet;

use lma_proto::v1::ProspectFilter;
use lma_tests::app::Service;
use lma_tests::fixtures;
use lma_tests::grpcurl;
use lma_tests::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_describes_and_calls_through_reflection() {
    let app = spawn_app().await;
    app.upsert_prospect(fixtures::jane_doe()).await;
    app.wait_until_visible(ProspectFilter::default(), "crm-jane-doe")
        .await;

    // `list` on each port; together they show every lma.v1 service, and each port shows its
    // own service and health.
    let mut listed = BTreeSet::new();
    for service in Service::ALL {
        let addr = app.addr(service).to_string();
        let output = grpcurl::run(["-plaintext", "-max-time", "20", &addr, "list"]).await;
        output.assert_success();
        let lines = output.lines();
        for expected in [service.grpc_service(), "grpc.health.v1.Health"] {
            assert!(
                lines.contains(&expected),
                "{} lists {lines:?}, without {expected}",
                service.binary()
            );
        }
        listed.extend(lines.iter().map(|line| (*line).to_owned()));
    }
    for expected in [
        "lma.v1.IngestService",
        "lma.v1.SearchService",
        "lma.v1.RefreshService",
        "grpc.health.v1.Health",
    ] {
        assert!(listed.contains(expected), "{expected} not in {listed:?}");
    }

    let search_addr = app.addr(Service::Search).to_string();
    let described = grpcurl::run([
        "-plaintext",
        "-max-time",
        "20",
        &search_addr,
        "describe",
        "lma.v1.SearchService",
    ])
    .await;
    described.assert_success();
    assert!(
        described
            .stdout
            .contains("lma.v1.SearchService is a service"),
        "{}",
        described.stdout
    );
    assert!(
        described.stdout.contains(
            "rpc SearchProspects ( .lma.v1.SearchProspectsRequest ) returns ( stream .lma.v1.SearchProspectsResponse );"
        ),
        "{}",
        described.stdout
    );

    let authorization = format!("authorization: Bearer {}", app.tenant.api_key);
    let filter = serde_json::json!({ "filter": { "industries": ["Robotics"] } }).to_string();
    let called = grpcurl::run([
        "-plaintext",
        "-max-time",
        "20",
        "-H",
        &authorization,
        "-d",
        &filter,
        &search_addr,
        "lma.v1.SearchService/SearchProspects",
    ])
    .await;
    called.assert_success();
    let messages = called.json_messages();
    assert_eq!(messages.len(), 2, "one hit and the page end: {messages:?}");
    let prospect = &messages[0]["hit"]["prospect"];
    assert_eq!(prospect["fullName"], "Jane Doe", "{prospect}");
    assert_eq!(prospect["formattedRevenue"], "1.3B", "{prospect}");
    // proto3 JSON writes int64 as a string.
    assert_eq!(prospect["revenue"], "1250000000", "{prospect}");
    assert_eq!(prospect["companyDomain"], "acme-robotics.com", "{prospect}");
    let end = &messages[1]["end"];
    assert_eq!(end["returned"], 1, "{end}");
    assert!(
        end["freshness"]["watermark"]
            .as_str()
            .is_some_and(|w| !w.is_empty()),
        "{end}"
    );

    // The filter is applied to grpcurl's request like any other.
    let other_industry = serde_json::json!({ "filter": { "industries": ["Retail"] } }).to_string();
    let none = grpcurl::run([
        "-plaintext",
        "-max-time",
        "20",
        "-H",
        &authorization,
        "-d",
        &other_industry,
        &search_addr,
        "lma.v1.SearchService/SearchProspects",
    ])
    .await;
    none.assert_success();
    let messages = none.json_messages();
    assert_eq!(messages.len(), 1, "only the page end: {messages:?}");
    // proto3 JSON omits zero values: returned == 0 is absent.
    assert!(messages[0]["end"].is_object(), "{messages:?}");
    assert!(
        messages[0]["end"]["returned"].is_null() || messages[0]["end"]["returned"] == 0,
        "{messages:?}"
    );

    // Without a key grpcurl reports the status code.
    let refused = grpcurl::run([
        "-plaintext",
        "-max-time",
        "20",
        "-d",
        &filter,
        &search_addr,
        "lma.v1.SearchService/SearchProspects",
    ])
    .await;
    assert!(!refused.success, "a call without a key must fail");
    assert!(
        refused.stderr.contains("Unauthenticated"),
        "{}",
        refused.stderr
    );

    // Health needs no key.
    let health = grpcurl::run([
        "-plaintext",
        "-max-time",
        "20",
        &search_addr,
        "grpc.health.v1.Health/Check",
    ])
    .await;
    health.assert_success();
    assert_eq!(
        health.json_messages(),
        vec![serde_json::json!({"status": "SERVING"})]
    );
}

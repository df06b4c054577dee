//! Bearer-key authentication and scopes, through the real services.

use lma_proto::v1::{ProspectFilter, UpsertProspectRequest};
use lma_tests::app::{search_prospects, search_request};
use lma_tests::{BearerAuth, fixtures, spawn_app};
use svc_core::Scope;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_valid_key_are_unauthenticated() {
    let app = spawn_app().await;
    let cases = [
        ("no authorization header", BearerAuth::none()),
        (
            "unknown key",
            BearerAuth::key(&format!("lma_{}", "0".repeat(64))),
        ),
        ("malformed key", BearerAuth::key("not-a-key")),
        (
            "another scheme",
            BearerAuth::raw(&format!("Basic {}", app.tenant.api_key)),
        ),
        ("empty bearer", BearerAuth::raw("Bearer")),
    ];
    for (case, auth) in cases {
        let mut search = app.search_client_with(auth.clone()).await;
        let status = search_prospects(&mut search, search_request(ProspectFilter::default()))
            .await
            .expect_err(case);
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status}");

        let mut ingest = app.ingest_client_with(auth).await;
        let status = ingest
            .upsert_prospect(UpsertProspectRequest {
                prospect: Some(fixtures::jane_doe()),
            })
            .await
            .expect_err(case);
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status}");
    }

    // Nothing was written by the refused calls.
    let client = app.db.connect().await;
    let prospects: i64 = client
        .query_one("SELECT count(*) FROM prospect", &[])
        .await
        .expect("count prospects")
        .get(0);
    assert_eq!(prospects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_the_scope_is_permission_denied() {
    let app = spawn_app().await;
    let ingest_only = app.mint_key(&[Scope::IngestWrite]).await;
    let search_only = app.mint_key(&[Scope::SearchRead]).await;

    let mut search = app
        .search_client_with(BearerAuth::key(&ingest_only.key))
        .await;
    let status = search_prospects(&mut search, search_request(ProspectFilter::default()))
        .await
        .expect_err("ingest.write does not allow searching");
    assert_eq!(status.code(), Code::PermissionDenied, "{status}");

    let mut ingest = app
        .ingest_client_with(BearerAuth::key(&search_only.key))
        .await;
    let status = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(fixtures::jane_doe()),
        })
        .await
        .expect_err("search.read does not allow writing");
    assert_eq!(status.code(), Code::PermissionDenied, "{status}");

    // The same keys work where their scope applies.
    let mut search = app
        .search_client_with(BearerAuth::key(&search_only.key))
        .await;
    search_prospects(&mut search, search_request(ProspectFilter::default()))
        .await
        .expect("search.read may search");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_unauthenticated() {
    // The harness runs the services with the auth cache off, so revocation is immediate.
    let app = spawn_app().await;
    let key = app.mint_key(&[Scope::SearchRead]).await;
    let mut search = app.search_client_with(BearerAuth::key(&key.key)).await;
    search_prospects(&mut search, search_request(ProspectFilter::default()))
        .await
        .expect("the key works before it is revoked");

    app.revoke_key(key.api_key_id).await;
    let status = search_prospects(&mut search, search_request(ProspectFilter::default()))
        .await
        .expect_err("a revoked key is refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status}");

    // Other keys of the organization keep working.
    app.search(ProspectFilter::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_service_requires_a_key_too() {
    let app = spawn_app().await;
    let mut refresh = app.refresh_client_with(BearerAuth::none()).await;
    let status = refresh
        .get_status(lma_proto::v1::GetStatusRequest::default())
        .await
        .expect_err("no key");
    assert_eq!(status.code(), Code::Unauthenticated, "{status}");

    let search_only = app.mint_key(&[Scope::SearchRead]).await;
    let mut refresh = app
        .refresh_client_with(BearerAuth::key(&search_only.key))
        .await;
    let status = refresh
        .get_status(lma_proto::v1::GetStatusRequest::default())
        .await
        .expect_err("search.read is not refresh.admin");
    assert_eq!(status.code(), Code::PermissionDenied, "{status}");
}

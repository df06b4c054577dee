//! The watermark waits only for writers of this database: a long transaction elsewhere in the
//! cluster must not hold read-your-writes back, one in this database must.

use std::time::Duration;

use lma_proto::v1::{ProspectFilter, SearchProspectsRequest};
use lma_tests::fixtures;
use lma_tests::{TestApp, TestDatabase, spawn_app};
use tonic::Code;

/// A search that must see the write behind `token` within `deadline`.
async fn search_with_token(
    app: &TestApp,
    external_id: &str,
    token: String,
    deadline: Duration,
) -> Result<bool, tonic::Status> {
    let mut client = app.search_client().await;
    let mut request = tonic::Request::new(SearchProspectsRequest {
        filter: Some(ProspectFilter::default()),
        min_token: token,
        ..Default::default()
    });
    request.set_timeout(deadline);
    let mut stream = client.search_prospects(request).await?.into_inner();
    let mut found = false;
    while let Some(message) = stream.message().await? {
        if let Some(lma_proto::v1::search_prospects_response::Result::Hit(hit)) = message.result {
            found |= hit.prospect.is_some_and(|p| p.external_id == external_id);
        }
    }
    Ok(found)
}

/// Opens a transaction that holds a transaction id until the returned client commits.
async fn open_writer(db: &TestDatabase) -> tokio_postgres::Client {
    let client = db.connect().await;
    client
        .batch_execute("BEGIN; SELECT pg_current_xact_id();")
        .await
        .expect("opening a writing transaction");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_writer_in_another_database_does_not_hold_the_watermark_back() {
    let app = spawn_app().await;
    let elsewhere = TestDatabase::create().await;
    let other_writer = open_writer(&elsewhere).await;

    let token = app
        .upsert_prospect(fixtures::jane_doe())
        .await
        .consistency_token;
    let seen = search_with_token(&app, "crm-jane-doe", token, Duration::from_secs(15))
        .await
        .expect("the search is answered while the other database's writer is open");
    assert!(seen, "the write behind the token is visible");
    other_writer
        .batch_execute("COMMIT")
        .await
        .expect("committing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_writer_in_this_database_holds_the_watermark_back() {
    let app = spawn_app().await;
    let local_writer = open_writer(&app.db).await;

    let token = app
        .upsert_prospect(fixtures::jane_doe())
        .await
        .consistency_token;
    let status = search_with_token(&app, "crm-jane-doe", token.clone(), Duration::from_secs(2))
        .await
        .expect_err("an older writer of this database is still open: the token cannot be passed");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");

    local_writer
        .batch_execute("COMMIT")
        .await
        .expect("committing");
    let seen = search_with_token(&app, "crm-jane-doe", token, Duration::from_secs(15))
        .await
        .expect("once it commits, the watermark passes the token");
    assert!(seen);
}

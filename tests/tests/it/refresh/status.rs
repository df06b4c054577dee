//! GetStatus, WatchStatus and RefreshNow: errors are per read model and visible, status streams,
//! bad requests name their field, and a token makes a search read its own write.

use std::time::Duration;

use lma_proto::v1::{
    GetStatusRequest, GetStatusResponse, ProspectFilter, ReadModel, ReadModelStatus,
    RefreshNowRequest, WatchStatusRequest,
};
use lma_tests::fixtures::{self, industries};
use lma_tests::{TestApp, spawn_app, wait};
use tonic::Code;

use super::wait_until_consistent;

async fn status(app: &TestApp) -> GetStatusResponse {
    app.refresh_client()
        .await
        .get_status(GetStatusRequest {})
        .await
        .expect("GetStatus")
        .into_inner()
}

fn model(status: &GetStatusResponse, read_model: ReadModel) -> &ReadModelStatus {
    status
        .read_models
        .iter()
        .find(|model| model.read_model() == read_model)
        .unwrap_or_else(|| panic!("{read_model:?} is not reported"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_read_model_is_reported_and_does_not_stop_the_others() {
    let app = spawn_app().await;
    let admin = app.db.connect().await;
    admin
        .batch_execute("REVOKE SELECT ON company_summary_def FROM lma_refresh")
        .await
        .expect("breaking company_summary_view's definition for refresh-svc");

    app.upsert_prospect(fixtures::jane_doe()).await;
    // The other read models keep up.
    app.wait_until_visible(industries(&["Robotics"]), "crm-jane-doe")
        .await;
    let broken = wait::until(
        "the failure to show in GetStatus",
        Duration::from_secs(15),
        || async {
            let status = status(&app).await;
            let summary = model(&status, ReadModel::CompanySummary).clone();
            match &summary.last_error {
                Some(error) if summary.rebuild_pending => Ok((error.clone(), status)),
                _ => Err(format!("{summary:?}")),
            }
        },
    )
    .await;
    assert!(
        broken.0.message.contains("permission denied"),
        "{:?}",
        broken.0
    );
    assert!(broken.0.at.is_some());
    assert!(
        model(&broken.1, ReadModel::ProspectSearch)
            .last_error
            .is_none(),
        "the healthy model reports no error"
    );
    let recorded: i64 = admin
        .query_one(
            "SELECT count(*) FROM materialized_view_error WHERE view_name = 'company_summary_view'",
            &[],
        )
        .await
        .expect("reading the error log")
        .get(0);
    assert!(recorded >= 1);

    // Once the cause is fixed, the retried rebuild heals the model.
    admin
        .batch_execute("GRANT SELECT ON company_summary_def TO lma_refresh")
        .await
        .expect("repairing the grant");
    wait::until("the model to heal", Duration::from_secs(20), || async {
        let status = status(&app).await;
        let summary = model(&status, ReadModel::CompanySummary);
        if summary.last_error.is_none() && !summary.rebuild_pending {
            Ok(())
        } else {
            Err(format!("{summary:?}"))
        }
    })
    .await;
    wait_until_consistent(&app.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_status_streams_changes() {
    let app = spawn_app().await;
    let mut stream = app
        .refresh_client()
        .await
        // The default interval (1 s).
        .watch_status(WatchStatusRequest { min_interval: None })
        .await
        .expect("WatchStatus")
        .into_inner();
    let first = stream
        .message()
        .await
        .expect("a first status")
        .and_then(|update| update.status)
        .expect("with a status");
    assert_eq!(first.read_models.len(), 3);
    assert_eq!(model(&first, ReadModel::ProspectSearch).row_count, 0);

    app.upsert_prospect(fixtures::jane_doe()).await;
    let updated = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let update = stream
                .message()
                .await
                .expect("WatchStatus keeps streaming")
                .and_then(|update| update.status)
                .expect("with a status");
            if model(&update, ReadModel::ProspectSearch).row_count == 1 {
                return update;
            }
        }
    })
    .await
    .expect("an update showing the write");
    assert_ne!(
        model(&updated, ReadModel::ProspectSearch).watermark,
        model(&first, ReadModel::ProspectSearch).watermark
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_now_refuses_an_incremental_refresh_of_one_model() {
    let app = spawn_app().await;
    let error = app
        .refresh_client()
        .await
        .refresh_now(RefreshNowRequest {
            mode: lma_proto::v1::RefreshMode::Incremental as i32,
            read_model: ReadModel::ProspectSearch as i32,
            wait: true,
        })
        .await
        .expect_err("the change log is shared by all models");
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(
        error.message().contains("read_model"),
        "{}",
        error.message()
    );

    let done = app
        .refresh_client()
        .await
        .refresh_now(RefreshNowRequest {
            wait: true,
            ..Default::default()
        })
        .await
        .expect("an incremental refresh of all models")
        .into_inner();
    assert!(done.completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_with_the_token_of_a_write_sees_that_write() {
    let app = spawn_app().await;
    for round in 0..5 {
        let mut record = fixtures::prospect_with_revenue(&format!("ryw-{round}"), Some(round));
        record.company.get_or_insert_with(Default::default).industry = format!("Industry{round}");
        let token = app.upsert_prospect(record).await.consistency_token;
        assert!(!token.is_empty());
        // One search, no polling: the token makes search-svc wait for the watermark.
        let mut client = app.search_client().await;
        let mut request = lma_tests::app::search_request(ProspectFilter {
            industries: vec![format!("Industry{round}")],
            ..Default::default()
        });
        request.min_token = token;
        let page = lma_tests::app::search_prospects(&mut client, request)
            .await
            .expect("SearchProspects with min_token");
        assert!(
            page.by_external_id(&format!("ryw-{round}")).is_some(),
            "round {round}: {:?}",
            page.full_names()
        );
    }
}

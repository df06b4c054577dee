//! GetStatus, WatchStatus and RefreshNow: errors are per read model and visible, status streams,
//! bad requests name their field, and a token makes a search read its own write.

use std::time::Duration;

use lma_proto::v1::{
    GetStatusRequest, GetStatusResponse, ProspectFilter, ReadModel, ReadModelStatus,
    RefreshNowRequest, WatchStatusRequest,
};
use lma_tests::fixtures::{self, industries};
use lma_tests::{BearerAuth, TestApp, spawn_app, wait};
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

/// GetStatus as a key of `tenant` sees it.
async fn status_as(app: &TestApp, tenant: &lma_tests::app::Tenant) -> GetStatusResponse {
    app.refresh_client_with(BearerAuth::key(&tenant.api_key))
        .await
        .get_status(GetStatusRequest {})
        .await
        .expect("GetStatus")
        .into_inner()
}

/// Per read model, rows of `organization_id` as counted in the table itself.
async fn rows_of(client: &tokio_postgres::Client, organization_id: i64) -> Vec<(ReadModel, i64)> {
    let mut counted = Vec::new();
    for model in refresh_svc::read_model::READ_MODELS {
        let rows: i64 = client
            .query_one(
                format!(
                    "SELECT count(*) FROM {} WHERE organization_id = $1",
                    model.table
                )
                .as_str(),
                &[&organization_id],
            )
            .await
            .expect("counting a read model")
            .get(0);
        counted.push((model.proto, rows));
    }
    counted
}

fn reported_rows(status: &GetStatusResponse) -> Vec<(ReadModel, i64)> {
    let mut reported: Vec<(ReadModel, i64)> = status
        .read_models
        .iter()
        .map(|model| (model.read_model(), model.row_count))
        .collect();
    reported.sort_by_key(|(model, _)| *model as i32);
    reported
}

/// Change-log rows of `organization_id` not applied yet.
async fn backlog_of(client: &tokio_postgres::Client, organization_id: i64) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM change_log WHERE organization_id = $1",
            &[&organization_id],
        )
        .await
        .expect("counting the change log")
        .get(0)
}

/// Row counts, backlog and lag are the caller's organization's; rows written for another
/// organization do not show as the caller's last_rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_status_counts_only_the_callers_organization() {
    let app = spawn_app().await;
    let acme = app.tenant.clone();
    let globex = app.create_tenant("globex").await;
    let globex_ingest = app
        .ingest_client_with(BearerAuth::key(&globex.api_key))
        .await;
    let upsert_globex = |record| {
        let request = lma_proto::v1::UpsertProspectRequest {
            prospect: Some(record),
        };
        let mut client = globex_ingest.clone();
        async move {
            client
                .upsert_prospect(request)
                .await
                .expect("UpsertProspect as globex");
        }
    };
    for n in 0..3 {
        app.upsert_prospect(fixtures::prospect_with_revenue(
            &format!("acme-{n}"),
            Some(n),
        ))
        .await;
    }
    wait_until_consistent(&app.db).await;
    upsert_globex(fixtures::prospect_with_revenue("globex-0", None)).await;
    wait_until_consistent(&app.db).await;

    let admin = app.db.connect().await;
    let (acme_rows, globex_rows) = (
        rows_of(&admin, acme.organization_id).await,
        rows_of(&admin, globex.organization_id).await,
    );
    assert_ne!(acme_rows, globex_rows, "the two organizations differ");
    let (acme_status, globex_status) =
        (status_as(&app, &acme).await, status_as(&app, &globex).await);
    assert_eq!(reported_rows(&acme_status), acme_rows);
    assert_eq!(reported_rows(&globex_status), globex_rows);
    // globex's write was the last refresh: acme's key sees none of its rows as written.
    for model in &acme_status.read_models {
        assert_eq!(model.last_rows, 0, "{model:?}");
    }
    assert!(
        globex_status
            .read_models
            .iter()
            .all(|model| model.last_rows > 0),
        "{globex_status:?}"
    );

    // Hold the apply lock: changes of both organizations wait in the log.
    let mut locker = app.db.connect().await;
    let held = locker.transaction().await.expect("begin");
    held.batch_execute("LOCK TABLE refresh_apply_lock IN EXCLUSIVE MODE")
        .await
        .expect("holding the apply lock");
    app.upsert_prospect(fixtures::prospect_with_revenue("acme-late", None))
        .await;
    for n in 0..3 {
        upsert_globex(fixtures::prospect_with_revenue(
            &format!("globex-late-{n}"),
            None,
        ))
        .await;
    }
    let (acme_backlog, globex_backlog) = (
        backlog_of(&admin, acme.organization_id).await,
        backlog_of(&admin, globex.organization_id).await,
    );
    assert!(acme_backlog > 0 && globex_backlog > acme_backlog);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for (tenant, backlog) in [(&acme, acme_backlog), (&globex, globex_backlog)] {
        let status = status_as(&app, tenant).await;
        for model in &status.read_models {
            assert_eq!(model.backlog, backlog, "{}: {model:?}", tenant.name);
            let lag = model.lag.expect("a lag");
            assert!(
                lag.seconds > 0 || lag.nanos > 0,
                "{}: {model:?}",
                tenant.name
            );
        }
        assert_eq!(status.rederiving_companies, 0);
    }
    held.rollback().await.expect("releasing the apply lock");
    wait_until_consistent(&app.db).await;
    for tenant in [&acme, &globex] {
        let status = status_as(&app, tenant).await;
        assert_eq!(
            reported_rows(&status),
            rows_of(&admin, tenant.organization_id).await,
            "{}",
            tenant.name
        );
        assert!(status.read_models.iter().all(|model| model.backlog == 0));
    }
}

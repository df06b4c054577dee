//! ExportProspects: 100,000 rows from one snapshot, pulled at the client's pace.

use std::collections::HashSet;
use std::time::Duration;

use lma_proto::v1::export_prospects_response::Result as ExportResult;
use lma_proto::v1::{ExportProspectsRequest, ProspectFilter};
use lma_tests::{spawn_app, wait};

use super::data::load_bulk;

const ROWS: i64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_streams_a_consistent_snapshot_at_the_clients_pace() {
    let app = spawn_app().await;
    let organization_id = app.tenant.organization_id;
    load_bulk(&app, organization_id, 1_000, ROWS).await;
    let db = app.db.connect().await;

    let mut stream = app
        .search_client()
        .await
        .export_prospects(ExportProspectsRequest {
            filter: Some(ProspectFilter::default()),
            min_token: String::new(),
        })
        .await
        .expect("ExportProspects")
        .into_inner();
    let first = stream
        .message()
        .await
        .expect("first message")
        .expect("a row");
    let mut seen = HashSet::new();
    let Some(ExportResult::Prospect(prospect)) = first.result else {
        panic!("the export starts with a prospect");
    };
    seen.insert(prospect.prospect_id);

    // Flow control: while this client reads nothing, the export holds its snapshot open and
    // waits (idle in transaction) instead of reading all rows into memory.
    wait::until(
        "the export's backend to wait for the client",
        Duration::from_secs(10),
        || {
            let db = &db;
            async move {
                let waiting: i64 = db
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                         AND application_name = 'search-svc' AND state = 'idle in transaction'",
                        &[],
                    )
                    .await
                    .map_err(|error| error.to_string())?
                    .get(0);
                if waiting == 1 {
                    Ok(())
                } else {
                    Err(format!("{waiting} waiting"))
                }
            }
        },
    )
    .await;

    // A write committed and applied during the export is not in it: one snapshot.
    let mut late = lma_tests::fixtures::prospect_with_revenue("late-arrival", Some(1));
    late.last_name = "Latecomer".into();
    app.upsert_prospect(late).await;
    app.wait_until_visible(lma_tests::fixtures::query("latecomer"), "late-arrival")
        .await;

    let mut end = None;
    while let Some(message) = stream.message().await.expect("export message") {
        assert!(end.is_none(), "nothing follows ExportEnd");
        match message.result {
            Some(ExportResult::Prospect(prospect)) => {
                assert_ne!(prospect.external_id, "late-arrival");
                assert!(
                    seen.insert(prospect.prospect_id),
                    "a row was exported twice"
                );
            }
            Some(ExportResult::End(export_end)) => end = Some(export_end),
            None => panic!("an empty export message"),
        }
    }
    let end = end.expect("the export ends with ExportEnd");
    assert_eq!(seen.len() as i64, ROWS);
    assert_eq!(end.rows as i64, ROWS);
    assert!(end.freshness.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_stops_the_export() {
    let app = spawn_app().await;
    let organization_id = app.tenant.organization_id;
    load_bulk(&app, organization_id, 100, 20_000).await;
    let db = app.db.connect().await;
    let mut stream = app
        .search_client()
        .await
        .export_prospects(ExportProspectsRequest::default())
        .await
        .expect("ExportProspects")
        .into_inner();
    stream.message().await.expect("first message");
    drop(stream);
    wait::until(
        "the export's transaction to end",
        Duration::from_secs(10),
        || {
            let db = &db;
            async move {
                let open: i64 = db
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                         AND application_name = 'search-svc' AND xact_start IS NOT NULL",
                        &[],
                    )
                    .await
                    .map_err(|error| error.to_string())?
                    .get(0);
                if open == 0 {
                    Ok(())
                } else {
                    Err(format!("{open} open"))
                }
            }
        },
    )
    .await;
}

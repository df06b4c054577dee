//! A client that goes away in the middle of a large export: search-svc ends the export's
//! transaction within seconds and returns the connection to its pool, every time.

use std::time::Duration;

use lma_proto::v1::{ExportProspectsRequest, ExportProspectsResponse, ProspectFilter};
use lma_tests::clients::{self, BearerAuth, SearchClient};
use lma_tests::{TestApp, bulk, spawn_app, wait};

/// Enough rows that the export is far from done when the client leaves.
const PROSPECTS: i64 = 20_000;

/// More abandoned exports than search-svc's pool has connections (4 under the harness): a
/// leaked connection per export would exhaust the pool.
const ABANDONED_EXPORTS: usize = 6;

/// How long the server may take to notice the client is gone.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_abandoned_by_its_client_stops_and_frees_its_connection() {
    let app = spawn_app().await;
    bulk::insert_prospects(&app.db, app.tenant.organization_id, 500, PROSPECTS).await;
    bulk::build_read_models(&app.db).await;
    let admin = app.db.connect().await;
    let dbname = app.db.name().to_owned();
    let export_sessions = || {
        let admin = &admin;
        let dbname = dbname.clone();
        async move {
            admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                         AND application_name = 'search-svc' AND xact_start IS NOT NULL",
                    &[&dbname],
                )
                .await
                .map(|row| row.get::<_, i64>(0))
                .map_err(|error| error.to_string())
        }
    };

    for export in 0..ABANDONED_EXPORTS {
        // A channel of its own, dropped with the client: the TCP connection closes.
        let (client, mut stream) = export_everything(&app).await;
        stream
            .message()
            .await
            .expect("the first exported row")
            .expect("the export sent nothing");
        wait::until(
            "the export's transaction to be open",
            STOP_TIMEOUT,
            || async {
                match export_sessions().await? {
                    0 => Err("no search-svc session in a transaction".to_owned()),
                    _ => Ok(()),
                }
            },
        )
        .await;
        drop(stream);
        drop(client);
        wait::until(
            &format!("abandoned export {export} to end its transaction"),
            STOP_TIMEOUT,
            || async {
                match export_sessions().await? {
                    0 => Ok(()),
                    open => Err(format!(
                        "{open} search-svc session(s) still in a transaction"
                    )),
                }
            },
        )
        .await;
    }

    // The pool still has its connections: a full export now completes.
    let (_client, mut stream) = export_everything(&app).await;
    let mut rows = 0;
    while let Some(message) = stream.message().await.expect("the export stream") {
        if let Some(lma_proto::v1::export_prospects_response::Result::Prospect(_)) = message.result
        {
            rows += 1;
        }
    }
    assert_eq!(rows, PROSPECTS);
    let sessions: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'search-svc'",
            &[&dbname],
        )
        .await
        .expect("counting search-svc sessions")
        .get(0);
    assert!(
        sessions <= 4,
        "{sessions} search-svc sessions for a pool of 4"
    );
    app.stop().await;
}

/// Starts an export of every prospect of the test tenant on a client (and channel) of its own.
async fn export_everything(
    app: &TestApp,
) -> (SearchClient, tonic::Streaming<ExportProspectsResponse>) {
    let mut client =
        clients::search_client(app.search.addr, BearerAuth::key(&app.tenant.api_key)).await;
    let stream = client
        .export_prospects(ExportProspectsRequest {
            filter: Some(ProspectFilter::default()),
            min_token: String::new(),
        })
        .await
        .expect("ExportProspects")
        .into_inner();
    (client, stream)
}

//! PostgreSQL restarted in the middle of an import, on a cluster of this test's own (a process
//! of its own, so no other test shares the server it restarts): the client gets a retryable
//! status or a complete import; the client's retry of the same import then leaves every row
//! exactly once and no company twice, and all three services recover their connections (the
//! retried rows become searchable, which needs ingest-, refresh- and search-svc).

use std::time::Duration;

use lma_proto::v1::{
    CompanyRecord, CountProspectsRequest, IngestProspectsRequest, IngestSummary, ProspectRecord,
};
use lma_tests::app::{TestApp, spawn_app_on};
use lma_tests::{TestDatabase, postgres, wait};
use tonic::Code;

/// Prospects of the import, spread over COMPANIES companies.
const PROSPECTS: usize = 20_000;
const COMPANIES: usize = 2_000;
/// Records per IngestProspects message.
const MESSAGE_RECORDS: usize = 500;

fn records() -> Vec<ProspectRecord> {
    (0..PROSPECTS)
        .map(|i| {
            let company = i % COMPANIES;
            ProspectRecord {
                external_source: "crm".to_owned(),
                external_id: format!("restart-{i}"),
                first_name: "Robin".to_owned(),
                last_name: format!("Restart {i}"),
                email: format!("robin.{i}@restart{company}.com"),
                company: Some(CompanyRecord {
                    domain: format!("restart{company}.com"),
                    name: format!("Restart {company}"),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect()
}

async fn import(app: &TestApp) -> Result<IngestSummary, tonic::Status> {
    let messages: Vec<IngestProspectsRequest> = records()
        .chunks(MESSAGE_RECORDS)
        .map(|chunk| IngestProspectsRequest {
            records: chunk.to_vec(),
        })
        .collect();
    let response = app
        .ingest_client()
        .await
        .ingest_prospects(tokio_stream::iter(messages))
        .await?;
    response
        .into_inner()
        .summary
        .ok_or_else(|| tonic::Status::internal("no summary"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_interrupted_by_a_postgres_restart_is_retried_to_exact_counts() {
    let server = postgres::dedicated_server()
        .await
        .expect("a dedicated PostgreSQL cluster");
    let app = spawn_app_on(TestDatabase::create_migrated_on(server).await).await;

    let interrupted = {
        let app = &app;
        let restart = async {
            // Restart once the import has committed something, so it is caught in the middle.
            let committed = wait::until(
                "the import to commit its first rows",
                Duration::from_secs(30),
                || async {
                    let stored: i64 = app
                        .db
                        .connect()
                        .await
                        .query_one("SELECT count(*) FROM prospect", &[])
                        .await
                        .map_err(|error| error.to_string())?
                        .get(0);
                    if stored > 0 {
                        Ok(stored)
                    } else {
                        Err("nothing committed yet".to_owned())
                    }
                },
            )
            .await;
            assert!(
                committed < PROSPECTS as i64,
                "the import finished before the restart could interrupt it"
            );
            server.restart().await.expect("restarting PostgreSQL");
        };
        let (outcome, ()) = tokio::join!(import(app), restart);
        outcome
    };
    println!(
        "the import during the restart: {:?}",
        interrupted.as_ref().map(|summary| summary.inserted)
    );
    match &interrupted {
        Ok(summary) => assert_eq!(summary.rejected, 0, "{summary:?}"),
        Err(status) => assert!(
            matches!(
                status.code(),
                Code::Unavailable | Code::Aborted | Code::DeadlineExceeded
            ),
            "the interrupted import failed with a status a client cannot retry on: {status}"
        ),
    }

    // The client retries the whole import once the server is back: the services' pools must
    // hand out live connections at once, not the ones the restart closed.
    let retried = import(&app)
        .await
        .unwrap_or_else(|status| panic!("the retried import failed: {status}"));
    assert_eq!(retried.received, PROSPECTS as u64);
    assert_eq!(retried.rejected, 0, "{retried:?}");
    assert_eq!(
        retried.inserted + retried.updated + retried.unchanged,
        PROSPECTS as u64
    );

    let admin = app.db.connect().await;
    let count = |sql: &'static str| {
        let admin = &admin;
        async move {
            admin
                .query_one(sql, &[])
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"))
                .get::<_, i64>(0)
        }
    };
    assert_eq!(
        count("SELECT count(*) FROM prospect").await,
        PROSPECTS as i64
    );
    assert_eq!(
        count("SELECT count(DISTINCT external_id) FROM prospect").await,
        PROSPECTS as i64
    );
    assert_eq!(
        count("SELECT count(*) FROM company").await,
        COMPANIES as i64
    );
    assert_eq!(
        count("SELECT count(DISTINCT domain) FROM company").await,
        COMPANIES as i64
    );
    let misplaced: i64 = admin
        .query_one(
            "SELECT count(*) FROM prospect p LEFT JOIN company c ON c.id = p.company_id \
             WHERE c.domain IS DISTINCT FROM \
                 'restart' || (split_part(p.external_id, '-', 2)::int % $1) || '.com'",
            &[&(COMPANIES as i32)],
        )
        .await
        .expect("checking the prospects' companies")
        .get(0);
    assert_eq!(misplaced, 0, "prospects attached to the wrong company");

    // refresh-svc and search-svc came back too: the retried import becomes searchable.
    let mut search = app.search_client().await;
    let total = search
        .count_prospects(CountProspectsRequest {
            min_token: retried.consistency_token.clone(),
            ..Default::default()
        })
        .await
        .expect("CountProspects after the restart")
        .into_inner();
    assert_eq!(total.total, PROSPECTS as i64);
    app.stop().await;
}

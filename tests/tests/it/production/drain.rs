//! SIGTERM to a real search-svc process while an export streams: the export started before the
//! signal completes in full within the grace period, new connections are refused meanwhile, and
//! the process then exits cleanly.

use std::time::{Duration, Instant};

use lma_proto::v1::export_prospects_response::Result as ExportResult;
use lma_proto::v1::{CountProspectsRequest, ExportProspectsRequest, ProspectFilter};
use lma_tests::app::{Service, create_tenant_in};
use lma_tests::clients::{self, BearerAuth};
use lma_tests::process::{ServiceProcess, Signal};
use lma_tests::{TestDatabase, bulk, wait};
use tonic::transport::Endpoint;

/// Enough rows that the export cannot have been sent before the signal.
const PROSPECTS: i64 = 20_000;
const GRACE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_export_in_flight_finish_and_refuses_new_calls() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    bulk::insert_prospects(&db, tenant.organization_id, 500, PROSPECTS).await;
    bulk::build_read_models(&db).await;
    let grace = GRACE.as_secs().to_string();
    let mut search = ServiceProcess::start(
        Service::Search,
        &db.url(),
        &[("LMA_SHUTDOWN_GRACE_SECS", &grace)],
    )
    .await
    .expect("starting search-svc");
    let auth = BearerAuth::key(&tenant.api_key);
    let mut client = clients::search_client(search.addr, auth.clone()).await;
    let mut stream = client
        .export_prospects(ExportProspectsRequest {
            filter: Some(ProspectFilter::default()),
            min_token: String::new(),
        })
        .await
        .expect("ExportProspects")
        .into_inner();
    let mut rows = 0;
    let mut end = None;
    let mut take = |message: lma_proto::v1::ExportProspectsResponse| match message.result {
        Some(ExportResult::Prospect(_)) => rows += 1,
        Some(ExportResult::End(last)) => end = Some(last),
        None => panic!("an empty export message"),
    };
    take(
        stream
            .message()
            .await
            .expect("the first row")
            .expect("the export sent nothing"),
    );

    let signalled = Instant::now();
    search.signal(Signal::Term).await.expect("SIGTERM");
    // While the export waits for us to read on, the draining server takes no new calls.
    let addr = search.addr;
    let refused = wait::until("search-svc to refuse new calls", GRACE, || {
        let auth = auth.clone();
        async move {
            let endpoint = Endpoint::from_shared(format!("http://{addr}"))
                .expect("a valid URI")
                .connect_timeout(Duration::from_secs(1))
                .timeout(Duration::from_secs(2));
            let channel = match endpoint.connect().await {
                Ok(channel) => channel,
                Err(error) => return Ok(format!("connection refused: {error}")),
            };
            let mut fresh =
                lma_proto::v1::search_service_client::SearchServiceClient::with_interceptor(
                    channel, auth,
                );
            match fresh
                .count_prospects(CountProspectsRequest::default())
                .await
            {
                Ok(_) => Err("a new call was still answered".to_owned()),
                Err(status) => Ok(format!("call refused: {status}")),
            }
        }
    })
    .await;
    let exited = search.exited().expect("checking search-svc");
    assert!(
        exited.is_none(),
        "search-svc exited ({exited:?}) before the export in flight was read"
    );

    while let Some(message) = stream.message().await.expect("the export after SIGTERM") {
        take(message);
    }
    let end = end.expect("the export ended without ExportEnd");
    assert_eq!(rows, PROSPECTS, "rows received ({refused})");
    assert_eq!(end.rows, PROSPECTS as u64);
    let status = search
        .wait(GRACE)
        .await
        .expect("search-svc did not exit after draining");
    assert!(status.success(), "search-svc exited with {status}");
    assert!(
        signalled.elapsed() < GRACE,
        "the drain took {:?}, longer than the grace period",
        signalled.elapsed()
    );
}

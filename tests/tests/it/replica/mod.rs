//! search-svc on a PostgreSQL streaming replica (docs/OPERATIONS.md, "Pointing search-svc at a
//! read replica"): each test gets a primary and a hot standby of its own
//! (`lma_tests::replica`), the three services on the primary, and a second search-svc on the
//! standby.

mod auth;
mod conflicts;
mod failover;
mod outage;
mod reads;

use std::time::Duration;

use lma_proto::v1::search_service_client::SearchServiceClient;
use tonic::Streaming;
use tonic::transport::Endpoint;

use lma_proto::v1::export_prospects_response::Result as ExportResult;
use lma_proto::v1::{
    CompanyRecord, CountProspectsRequest, ExportEnd, ExportProspectsRequest,
    ExportProspectsResponse, Freshness, IngestProspectsRequest, ProspectFilter, ProspectRecord,
    SearchProspectsRequest,
};
use lma_tests::app::spawn_app_on;
use lma_tests::app::{RunningService, SearchPage, Shutdown, search_prospects};
use lma_tests::clients::{self, BearerAuth};
use lma_tests::replica::Replication;
use lma_tests::{TestApp, TestDatabase, fixtures};

/// HTTP/2's default window (RFC 9113), in bytes.
const SMALL_WINDOW: u32 = 65_535;

/// The deadline of a search that must succeed once replication has caught up.
const GENEROUS_DEADLINE: Duration = Duration::from_secs(30);

/// The services on the primary, and search-svc on the standby.
struct ReplicaApp {
    // Dropped first: the replica's search-svc stops before the databases go.
    _shutdown: Shutdown,
    replica: RunningService,
    app: TestApp,
    standby_db: TestDatabase,
    replication: Replication,
}

/// A primary with the three services, a standby, and search-svc on the standby started with
/// `replica_args` (added to the harness's defaults).
async fn spawn_replica_app(replica_args: &[&str]) -> ReplicaApp {
    spawn_replica_app_with(&[], replica_args).await
}

/// [`spawn_replica_app`] with `standby_settings` overriding the harness's on the standby.
async fn spawn_replica_app_with(
    standby_settings: &[(&str, &str)],
    replica_args: &[&str],
) -> ReplicaApp {
    let replication = Replication::start_with(standby_settings)
        .await
        .unwrap_or_else(|error| panic!("a primary and a standby: {error:#}"));
    let db = TestDatabase::create_migrated_on(replication.primary).await;
    let app = spawn_app_on(db).await;
    // The tenant and its key were written after the database: the standby must have them
    // before search-svc there can authenticate anyone.
    replication
        .wait_until_replayed()
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    let standby_db = app.db.replicated_on(replication.standby);
    let shutdown = Shutdown::default();
    let replica = replication
        .start_search(&standby_db, &shutdown, replica_args)
        .await;
    ReplicaApp {
        _shutdown: shutdown,
        replica,
        app,
        standby_db,
        replication,
    }
}

impl ReplicaApp {
    /// Searches search-svc on the replica as the tenant, with `min_token` and a deadline.
    async fn search_replica(
        &self,
        filter: ProspectFilter,
        min_token: &str,
        deadline: Duration,
    ) -> Result<SearchPage, tonic::Status> {
        search_at(
            self.replica.addr,
            &self.app.tenant.api_key,
            filter,
            min_token,
            deadline,
        )
        .await
    }

    /// The same search on the primary's search-svc.
    async fn search_primary(
        &self,
        filter: ProspectFilter,
        min_token: &str,
        deadline: Duration,
    ) -> Result<SearchPage, tonic::Status> {
        search_at(
            self.app.search.addr,
            &self.app.tenant.api_key,
            filter,
            min_token,
            deadline,
        )
        .await
    }
}

/// `SearchProspects` at `addr` as `key` with `min_token` and a deadline (`grpc-timeout`).
async fn search_at(
    addr: std::net::SocketAddr,
    key: &str,
    filter: ProspectFilter,
    min_token: &str,
    deadline: Duration,
) -> Result<SearchPage, tonic::Status> {
    let mut client = clients::search_client(addr, BearerAuth::key(key)).await;
    let mut request = tonic::Request::new(SearchProspectsRequest {
        filter: Some(filter),
        min_token: min_token.to_owned(),
        ..Default::default()
    });
    request.set_timeout(deadline);
    search_prospects(&mut client, request).await
}

/// The freshness a page reports, and its watermark as a number.
fn freshness(page: &SearchPage) -> (u64, Freshness) {
    let freshness = page
        .end
        .freshness
        .clone()
        .expect("every answer has freshness");
    let watermark = freshness
        .watermark
        .parse()
        .unwrap_or_else(|_| panic!("watermark {:?} is not an xid", freshness.watermark));
    (watermark, freshness)
}

/// The watermark of the prospect search model as `db`'s server has it.
async fn stored_watermark(db: &TestDatabase) -> u64 {
    let row = db
        .connect()
        .await
        .query_one(
            "SELECT watermark::text FROM read_model_state \
              WHERE read_model = 'prospect_search_view'",
            &[],
        )
        .await
        .expect("reading read_model_state");
    row.get::<_, String>(0).parse().expect("an xid")
}

/// Imports `count` prospects named `{prefix}-{i}` through ingest-svc on the primary, at 40
/// companies in `industry`, and returns the import's token.
async fn import(app: &TestApp, prefix: &str, industry: &str, count: usize) -> String {
    import_at(
        app.ingest.addr,
        &app.tenant.api_key,
        prefix,
        industry,
        count,
    )
    .await
}

/// [`import`] through the ingest-svc at `addr`, as `key`.
async fn import_at(
    addr: std::net::SocketAddr,
    key: &str,
    prefix: &str,
    industry: &str,
    count: usize,
) -> String {
    let records: Vec<ProspectRecord> = (0..count)
        .map(|i| {
            let company = i % 40;
            ProspectRecord {
                external_source: "crm".to_owned(),
                external_id: format!("{prefix}-{i}"),
                first_name: "Robin".to_owned(),
                last_name: format!("{prefix} {i}"),
                email: format!("robin.{i}@{prefix}{company}.com"),
                company: Some(CompanyRecord {
                    domain: format!("{prefix}{company}.com"),
                    name: format!("{prefix} {company}"),
                    industry: industry.to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    let messages: Vec<IngestProspectsRequest> = records
        .chunks(500)
        .map(|chunk| IngestProspectsRequest {
            records: chunk.to_vec(),
        })
        .collect();
    let summary = clients::ingest_client(addr, BearerAuth::key(key))
        .await
        .ingest_prospects(tokio_stream::iter(messages))
        .await
        .unwrap_or_else(|status| panic!("IngestProspects: {status}"))
        .into_inner()
        .summary
        .expect("an import summary");
    assert_eq!(summary.inserted as usize, count, "{summary:?}");
    summary.consistency_token
}

/// How many of the tenant's prospects are in `industries`, as search-svc at `addr` counts once
/// it has reached `min_token`.
async fn count_at(
    addr: std::net::SocketAddr,
    key: &str,
    industries: &[&str],
    min_token: &str,
) -> i64 {
    let mut client = clients::search_client(addr, BearerAuth::key(key)).await;
    let mut request = tonic::Request::new(CountProspectsRequest {
        filter: Some(fixtures::industries(industries)),
        min_token: min_token.to_owned(),
        ..Default::default()
    });
    request.set_timeout(GENEROUS_DEADLINE);
    client
        .count_prospects(request)
        .await
        .unwrap_or_else(|status| panic!("CountProspects at {addr}: {status}"))
        .into_inner()
        .total
}

/// An export of the tenant's prospects in `industry` on the replica, started and read up to its
/// first row; the caller then holds it open (the export waits for the client with its
/// transaction and snapshot open) or drains it with [`drain_export`].
async fn start_export(
    r: &ReplicaApp,
    industry: &str,
    min_token: &str,
) -> Streaming<ExportProspectsResponse> {
    // HTTP/2 windows of the protocol's default size (the client's are 2 MiB): a client that
    // stops reading stops the export after 64 KiB rather than after a couple of megabytes,
    // which would hold the whole of a test-sized export.
    let channel = Endpoint::from_shared(format!("http://{}", r.replica.addr))
        .expect("a socket address makes a valid URI")
        .initial_stream_window_size(SMALL_WINDOW)
        .initial_connection_window_size(SMALL_WINDOW)
        .connect()
        .await
        .expect("connecting to search-svc on the replica");
    let mut client =
        SearchServiceClient::with_interceptor(channel, BearerAuth::key(&r.app.tenant.api_key));
    let mut export = client
        .export_prospects(ExportProspectsRequest {
            filter: Some(fixtures::industries(&[industry])),
            min_token: min_token.to_owned(),
        })
        .await
        .expect("ExportProspects on the replica")
        .into_inner();
    let first = export
        .message()
        .await
        .expect("the first row")
        .expect("a row");
    assert!(matches!(first.result, Some(ExportResult::Prospect(_))));
    export
}

/// Reads an export to its end: the rows received (counting `already`) and how it ended, with
/// its `ExportEnd` or a status.
async fn drain_export(
    export: &mut Streaming<ExportProspectsResponse>,
    already: usize,
) -> (usize, Result<ExportEnd, tonic::Status>) {
    let mut rows = already;
    loop {
        match export.message().await {
            Ok(Some(message)) => match message.result {
                Some(ExportResult::Prospect(_)) => rows += 1,
                Some(ExportResult::End(end)) => {
                    assert!(
                        export.message().await.expect("the stream's end").is_none(),
                        "a message after ExportEnd"
                    );
                    return (rows, Ok(end));
                }
                None => panic!("an export message without a result"),
            },
            Ok(None) => panic!("the export stream ended without an ExportEnd or a status"),
            Err(status) => return (rows, Err(status)),
        }
    }
}

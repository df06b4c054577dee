//! `spawn_app()`: a fresh database, a tenant with an all-scopes key, and the three real services
//! running in this process on 127.0.0.1:0 with their own database roles.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser as _;
use lma_proto::v1::search_prospects_response::Result as SearchResult;
use lma_proto::v1::{
    PageEnd, ProspectFilter, ProspectHit, ProspectRecord, SearchProspectsRequest,
    UpsertProspectRequest, UpsertProspectResponse,
};
use lmactl::admin::MintedKey;
use svc_core::Scope;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::clients::{self, BearerAuth, IngestClient, RefreshClient, SearchClient};
use crate::database::TestDatabase;
use crate::wait;

/// How long a service may take to report SERVING.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a write may take to show up in search (the promise is "within a second or two").
pub const VISIBLE_TIMEOUT: Duration = Duration::from_secs(10);

/// One of the three services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Ingest,
    Search,
    Refresh,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Ingest, Service::Search, Service::Refresh];

    /// Binary name, as in logs and `argv[0]`.
    pub fn binary(self) -> &'static str {
        match self {
            Service::Ingest => "ingest-svc",
            Service::Search => "search-svc",
            Service::Refresh => "refresh-svc",
        }
    }

    /// The database role the service runs as.
    pub fn role(self) -> &'static str {
        match self {
            Service::Ingest => "lma_ingest",
            Service::Search => "lma_search",
            Service::Refresh => "lma_refresh",
        }
    }

    /// The fully qualified lma.v1 service it serves.
    pub fn grpc_service(self) -> &'static str {
        match self {
            Service::Ingest => "lma.v1.IngestService",
            Service::Search => "lma.v1.SearchService",
            Service::Refresh => "lma.v1.RefreshService",
        }
    }
}

/// A service running on a task of the test's runtime.
pub struct RunningService {
    pub service: Service,
    pub addr: SocketAddr,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningService {
    /// Whether the service task has ended (it should run until the test stops it).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for the service to stop after its shutdown future resolved.
    pub async fn stopped(self) -> anyhow::Result<()> {
        self.task.await?
    }
}

/// Stops services when asked or when dropped (a dropped sender also resolves the futures).
#[derive(Debug)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            sender: watch::channel(false).0,
        }
    }
}

impl Shutdown {
    /// A future that resolves once [`Shutdown::trigger`] is called or `self` is dropped.
    pub fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            let _ = receiver.wait_for(|stop| *stop).await;
        }
    }

    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }
}

/// Builds and starts `service` against `database_url` with its role, on 127.0.0.1:0, auth
/// cache off (revocation takes effect at once) and a short shutdown grace. `extra_args` are
/// appended to the command line; a flag given there replaces the harness's default for it
/// (`--auth-cache-ttl-secs 10` turns the cache on, as in production).
pub async fn start_service(
    service: Service,
    database_url: &str,
    shutdown: &Shutdown,
    extra_args: &[&str],
) -> RunningService {
    let mut args: Vec<String> = [
        service.binary(),
        "--database-url",
        database_url,
        "--database-role",
        service.role(),
        "--listen-addr",
        "127.0.0.1:0",
        "--auth-cache-ttl-secs",
        "0",
        "--shutdown-grace-secs",
        "2",
        "--database-pool-size",
        "4",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // The defaults are `--flag value` pairs after the binary name; drop those given again.
    let overridden = |flag: &str| {
        extra_args
            .iter()
            .any(|arg| *arg == flag || arg.starts_with(&format!("{flag}=")))
    };
    let defaults = args.split_off(1);
    for pair in defaults.chunks(2) {
        if !overridden(&pair[0]) {
            args.extend_from_slice(pair);
        }
    }
    args.extend(extra_args.iter().map(|s| (*s).to_owned()));
    let signal = shutdown.signal();
    let started: anyhow::Result<(SocketAddr, JoinHandle<anyhow::Result<()>>)> = async {
        Ok(match service {
            Service::Ingest => {
                let app =
                    ingest_svc::Application::build(ingest_svc::Config::try_parse_from(&args)?)
                        .await?;
                (
                    app.local_addr(),
                    tokio::spawn(app.run_until_stopped(signal)),
                )
            }
            Service::Search => {
                let app =
                    search_svc::Application::build(search_svc::Config::try_parse_from(&args)?)
                        .await?;
                (
                    app.local_addr(),
                    tokio::spawn(app.run_until_stopped(signal)),
                )
            }
            Service::Refresh => {
                let app =
                    refresh_svc::Application::build(refresh_svc::Config::try_parse_from(&args)?)
                        .await?;
                (
                    app.local_addr(),
                    tokio::spawn(app.run_until_stopped(signal)),
                )
            }
        })
    }
    .await;
    let (addr, task) =
        started.unwrap_or_else(|error| panic!("building {}: {error:#}", service.binary()));
    RunningService {
        service,
        addr,
        task,
    }
}

/// The status `Health/Check` reports for `service_name` ("" is the whole server).
pub async fn health_status(addr: SocketAddr, service_name: &str) -> Result<ServingStatus, String> {
    let mut client = clients::health_client(addr).await;
    let response = client
        .check(HealthCheckRequest {
            service: service_name.to_owned(),
        })
        .await
        .map_err(|status| format!("Health/Check failed: {status}"))?;
    ServingStatus::try_from(response.into_inner().status)
        .map_err(|error| format!("unknown serving status: {error}"))
}

/// Waits until `running` reports `wanted` for the server and for its lma.v1 service.
pub async fn wait_for_health(running: &RunningService, wanted: ServingStatus) {
    let what = format!(
        "{} at {} to report {wanted:?}",
        running.service.binary(),
        running.addr
    );
    wait::until(&what, READY_TIMEOUT, || async move {
        if running.is_finished() {
            // Not recoverable: say so at once instead of waiting out the deadline.
            panic!("{} stopped while starting", running.service.binary());
        }
        for name in ["", running.service.grpc_service()] {
            let status = health_status(running.addr, name).await?;
            if status != wanted {
                return Err(format!("{name:?} is {status:?}"));
            }
        }
        Ok(())
    })
    .await;
}

/// An organization and a key for it.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub organization_id: i64,
    pub name: String,
    pub api_key_id: i64,
    pub api_key: String,
}

/// A page of `SearchProspects`: the hits and the closing `PageEnd`.
#[derive(Clone, Debug)]
pub struct SearchPage {
    pub hits: Vec<ProspectHit>,
    pub end: PageEnd,
}

impl SearchPage {
    /// The full names of the hits, in order.
    pub fn full_names(&self) -> Vec<&str> {
        self.hits
            .iter()
            .filter_map(|hit| hit.prospect.as_ref())
            .map(|p| p.full_name.as_str())
            .collect()
    }

    /// The hit whose prospect has this external id.
    pub fn by_external_id(&self, external_id: &str) -> Option<&ProspectHit> {
        self.hits.iter().find(|hit| {
            hit.prospect
                .as_ref()
                .is_some_and(|p| p.external_id == external_id)
        })
    }
}

/// Runs `SearchProspects` and collects the stream, checking its shape: hits, then exactly one
/// `PageEnd`, last, whose `returned` counts the hits. `request` may be a `tonic::Request` (with
/// a deadline, say).
pub async fn search_prospects(
    client: &mut SearchClient,
    request: impl tonic::IntoRequest<SearchProspectsRequest>,
) -> Result<SearchPage, tonic::Status> {
    let mut stream = client.search_prospects(request).await?.into_inner();
    let mut hits = Vec::new();
    let mut end = None;
    while let Some(message) = stream.message().await? {
        assert!(
            end.is_none(),
            "SearchProspects sent a message after PageEnd"
        );
        match message.result {
            Some(SearchResult::Hit(hit)) => hits.push(hit),
            Some(SearchResult::End(page_end)) => end = Some(page_end),
            None => panic!("SearchProspects sent a message with no result"),
        }
    }
    let end = end.expect("SearchProspects ended its stream without a PageEnd");
    assert_eq!(
        end.returned as usize,
        hits.len(),
        "PageEnd.returned does not count the hits"
    );
    Ok(SearchPage { hits, end })
}

/// A search request for `filter` with the default sort and page size.
pub fn search_request(filter: ProspectFilter) -> SearchProspectsRequest {
    SearchProspectsRequest {
        filter: Some(filter),
        ..Default::default()
    }
}

/// The three services against one fresh database, and a tenant whose key has every scope.
pub struct TestApp {
    // Dropped first (fields drop in order): the services begin to stop before their database
    // is dropped.
    shutdown: Shutdown,
    pub db: TestDatabase,
    pub tenant: Tenant,
    pub ingest: RunningService,
    pub search: RunningService,
    pub refresh: RunningService,
}

/// Starts everything and waits until all three services report SERVING.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDatabase::create().await).await
}

/// [`spawn_app`] against a database the caller made (for example on a dedicated cluster).
pub async fn spawn_app_on(db: TestDatabase) -> TestApp {
    crate::init_test_logging();
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let url = db.url();
    let ingest = start_service(Service::Ingest, &url, &shutdown, &[]).await;
    let search = start_service(Service::Search, &url, &shutdown, &[]).await;
    // The fallback drain timer stays at its default: tests must see NOTIFY-driven refreshes.
    let refresh = start_service(Service::Refresh, &url, &shutdown, &[]).await;
    for running in [&ingest, &search, &refresh] {
        wait_for_health(running, ServingStatus::Serving).await;
    }
    TestApp {
        db,
        tenant,
        ingest,
        search,
        refresh,
        shutdown,
    }
}

/// Creates the organization `name` (idempotent) and mints it a key with every scope.
pub async fn create_tenant_in(db: &TestDatabase, name: &str) -> Tenant {
    let client = db.connect().await;
    let organization_id = lmactl::admin::create_organization(&client, name)
        .await
        .unwrap_or_else(|error| panic!("creating organization {name}: {error}"));
    let key = mint_key_in(db, organization_id, &Scope::ALL).await;
    Tenant {
        organization_id,
        name: name.to_owned(),
        api_key_id: key.api_key_id,
        api_key: key.key,
    }
}

/// Mints a key with `scopes` for an organization.
pub async fn mint_key_in(db: &TestDatabase, organization_id: i64, scopes: &[Scope]) -> MintedKey {
    let client = db.connect().await;
    lmactl::admin::mint_api_key(&client, organization_id, "test", scopes)
        .await
        .unwrap_or_else(|error| panic!("minting a key: {error}"))
}

impl TestApp {
    /// Another organization with its own all-scopes key.
    pub async fn create_tenant(&self, name: &str) -> Tenant {
        create_tenant_in(&self.db, name).await
    }

    /// A key for the test tenant's organization with only `scopes`.
    pub async fn mint_key(&self, scopes: &[Scope]) -> MintedKey {
        mint_key_in(&self.db, self.tenant.organization_id, scopes).await
    }

    pub async fn revoke_key(&self, api_key_id: i64) {
        let client = self.db.connect().await;
        let revoked = lmactl::admin::revoke_api_key(&client, api_key_id)
            .await
            .unwrap_or_else(|error| panic!("revoking key {api_key_id}: {error}"));
        assert!(revoked, "key {api_key_id} was not active");
    }

    /// The services' address by kind.
    pub fn addr(&self, service: Service) -> SocketAddr {
        match service {
            Service::Ingest => self.ingest.addr,
            Service::Search => self.search.addr,
            Service::Refresh => self.refresh.addr,
        }
    }

    /// Clients authenticated as the test tenant.
    pub async fn ingest_client(&self) -> IngestClient {
        self.ingest_client_with(BearerAuth::key(&self.tenant.api_key))
            .await
    }

    pub async fn search_client(&self) -> SearchClient {
        self.search_client_with(BearerAuth::key(&self.tenant.api_key))
            .await
    }

    pub async fn refresh_client(&self) -> RefreshClient {
        self.refresh_client_with(BearerAuth::key(&self.tenant.api_key))
            .await
    }

    /// Clients with other (or no, or broken) credentials.
    pub async fn ingest_client_with(&self, auth: BearerAuth) -> IngestClient {
        clients::ingest_client(self.ingest.addr, auth).await
    }

    pub async fn search_client_with(&self, auth: BearerAuth) -> SearchClient {
        clients::search_client(self.search.addr, auth).await
    }

    pub async fn refresh_client_with(&self, auth: BearerAuth) -> RefreshClient {
        clients::refresh_client(self.refresh.addr, auth).await
    }

    /// Upserts a prospect as the test tenant; panics if the call fails.
    pub async fn upsert_prospect(&self, record: ProspectRecord) -> UpsertProspectResponse {
        let external_id = record.external_id.clone();
        self.ingest_client()
            .await
            .upsert_prospect(UpsertProspectRequest {
                prospect: Some(record),
            })
            .await
            .unwrap_or_else(|status| panic!("UpsertProspect {external_id}: {status}"))
            .into_inner()
    }

    /// Searches as the test tenant; panics if the call fails.
    pub async fn search(&self, filter: ProspectFilter) -> SearchPage {
        let mut client = self.search_client().await;
        search_prospects(&mut client, search_request(filter))
            .await
            .unwrap_or_else(|status| panic!("SearchProspects: {status}"))
    }

    /// Repeats a search as `auth` until `accept` approves the page (within
    /// [`VISIBLE_TIMEOUT`]) and returns that page. `accept` says why it rejects a page.
    pub async fn search_until(
        &self,
        auth: BearerAuth,
        filter: ProspectFilter,
        accept: impl Fn(&SearchPage) -> Result<(), String>,
    ) -> SearchPage {
        let addr = self.search.addr;
        let what = format!("a search for {filter:?} to match");
        let accept = &accept;
        wait::until(&what, VISIBLE_TIMEOUT, || {
            let request = search_request(filter.clone());
            let auth = auth.clone();
            async move {
                let mut client = clients::search_client(addr, auth).await;
                let page = search_prospects(&mut client, request)
                    .await
                    .map_err(|status| format!("SearchProspects failed: {status}"))?;
                accept(&page).map_err(|why| format!("{why}; got {:?}", page.full_names()))?;
                Ok(page)
            }
        })
        .await
    }

    /// Waits until a search as the test tenant shows the prospect with `external_id`, and
    /// returns that page.
    pub async fn wait_until_visible(
        &self,
        filter: ProspectFilter,
        external_id: &str,
    ) -> SearchPage {
        self.search_until(
            BearerAuth::key(&self.tenant.api_key),
            filter,
            |page| match page.by_external_id(external_id) {
                Some(_) => Ok(()),
                None => Err(format!("{external_id} is not among the hits")),
            },
        )
        .await
    }

    /// Stops the services and waits for them to finish draining.
    pub async fn stop(self) {
        self.shutdown.trigger();
        for running in [self.ingest, self.search, self.refresh] {
            let name = running.service.binary();
            running
                .stopped()
                .await
                .unwrap_or_else(|error| panic!("{name} failed: {error:#}"));
        }
    }
}

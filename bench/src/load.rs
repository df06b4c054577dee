//! Load benchmark: the three services as separate release processes against a synthetic data set;
//! searches per second and p50/p95/p99 latency at 32 concurrent gRPC clients (a) idle, (b) while
//! full rebuilds of every read model repeat, (c) while CSV imports stream in; and the resident
//! memory of each service idle and under that load.
//!
//! Run the release build of the measured binaries first:
//! `cargo build --release -p lma-bench -p ingest-svc -p search-svc -p refresh-svc`; the
//! services are found next to lma-bench (see lma_tests::process).
//!
//! With `--replica`, the same searchers measure search-svc on a hot standby instead (replica.rs).

mod replica;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use lma_proto::v1::import_csv_request::Part;
use lma_proto::v1::import_csv_response::Message;
use lma_proto::v1::refresh_service_client::RefreshServiceClient;
use lma_proto::v1::search_prospects_response::Result as ProspectResult;
use lma_proto::v1::{
    CsvImportOptions, ImportCsvRequest, Int64Range, JobTitleLevel, ProspectFilter, ProspectSort,
    ReadModel, RefreshMode, RefreshNowRequest, SearchProspectsRequest,
};
use lma_tests::app::Service;
use lma_tests::clients::{self, BearerAuth};
use lma_tests::latency::Latencies;
use lma_tests::process::ServiceProcess;
use tokio::sync::watch;
use tonic::transport::Endpoint;

use crate::{dataset, generate};

#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub size: dataset::DatasetSize,
    /// Concurrent search clients.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Seconds each phase (idle, rebuild, import) runs.
    #[arg(long, default_value_t = 20)]
    pub phase_secs: u64,
    /// Rows of each CSV file imported during phase (c); files repeat until the phase ends.
    #[arg(long, default_value_t = 20_000)]
    pub import_rows: u64,
    /// search-svc's connection pool.
    #[arg(long, default_value_t = 16)]
    pub search_pool_size: usize,
    /// Instead of the phases above: searches against search-svc on the primary and on a hot
    /// standby streaming from it, each while one import runs on the primary, and the standby's
    /// replay lag meanwhile.
    #[arg(long)]
    pub replica: bool,
    /// With --replica: rows of the CSV file imported during each phase.
    #[arg(long, default_value_t = 200_000, requires = "replica")]
    pub replica_import_rows: u64,
    /// With --replica: rounds of the two phases (primary, then replica); medians are reported.
    #[arg(long, default_value_t = 3, requires = "replica")]
    pub replica_rounds: usize,
}

/// What runs beside the searchers in a phase.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Background {
    Idle,
    FullRebuild,
    Import,
}

impl Background {
    fn label(self) -> &'static str {
        match self {
            Background::Idle => "(a) idle",
            Background::FullRebuild => "(b) full rebuild of all read models, repeated",
            Background::Import => "(c) CSV import through ImportCsv, repeated",
        }
    }
}

/// The outcome of one phase.
struct Phase {
    background: Background,
    searched: Searched,
    /// What the background work got done ("3 rebuilds", "60,000 rows imported").
    work: String,
}

/// Page queries the searchers cycle through: the shapes of the search benchmark's suite.
fn probes() -> Vec<SearchProspectsRequest> {
    let page = |filter: ProspectFilter, sort: ProspectSort| SearchProspectsRequest {
        filter: Some(filter),
        sort: sort as i32,
        page_size: 50,
        ..Default::default()
    };
    let strings = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect();
    vec![
        page(ProspectFilter::default(), ProspectSort::UpdatedAt),
        page(
            ProspectFilter {
                industries: strings(&["Software"]),
                ..Default::default()
            },
            ProspectSort::UpdatedAt,
        ),
        page(
            ProspectFilter {
                countries: strings(&["Germany"]),
                job_title_levels: vec![JobTitleLevel::Vp as i32],
                ..Default::default()
            },
            ProspectSort::UpdatedAt,
        ),
        page(
            ProspectFilter {
                revenue: Some(Int64Range {
                    min: Some(1_000_000_000),
                    max: Some(2_000_000_000),
                }),
                ..Default::default()
            },
            ProspectSort::Revenue,
        ),
        page(
            ProspectFilter {
                query: "emma schmidt".into(),
                ..Default::default()
            },
            ProspectSort::Unspecified,
        ),
        page(
            ProspectFilter {
                tags_all: strings(&["segment-3", "wave-5"]),
                ..Default::default()
            },
            ProspectSort::UpdatedAt,
        ),
    ]
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    if args.replica {
        return replica::run(args).await;
    }
    let (db, admin, dataset) = dataset::load_fresh(args.size).await?;
    let key = bench_key(&admin, dataset.organization_id).await?;

    // The production configuration: API keys cached, the default pools except search's, which
    // is sized for the clients.
    let url = db.url();
    let search_pool = args.search_pool_size.to_string();
    let production = [("LMA_AUTH_CACHE_TTL_SECS", "10")];
    let ingest = ServiceProcess::start(Service::Ingest, &url, &production).await?;
    let search = ServiceProcess::start(
        Service::Search,
        &url,
        &[
            production[0],
            ("LMA_DATABASE_POOL_SIZE", search_pool.as_str()),
        ],
    )
    .await?;
    let refresh = ServiceProcess::start(Service::Refresh, &url, &production).await?;
    let services = [&ingest, &search, &refresh];
    // Idle memory: after start-up and one round of searches, before any load.
    warm_up(search.addr, &key).await?;
    let idle_memory = memory(&services)?;

    let mut phases = Vec::new();
    for background in [
        Background::Idle,
        Background::FullRebuild,
        Background::Import,
    ] {
        let phase = run_phase(&args, background, &search, &ingest, &refresh, &key).await?;
        println!(
            "{}: {:.0} searches/s, {}, {} errors, {}",
            background.label(),
            phase.searched.rate(),
            phase.searched.latencies(),
            phase.searched.errors.len(),
            phase.work
        );
        phases.push(phase);
    }
    let loaded_memory = memory(&services)?;

    println!(
        "\n| phase ({} clients, {} s each) | searches/s | p50 ms | p95 ms | p99 ms | errors | background work |",
        args.clients, args.phase_secs
    );
    println!("|---|---|---|---|---|---|---|");
    for phase in &phases {
        let latencies = phase.searched.latencies();
        let ms = |p| latencies.percentile_ms(p);
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} |",
            phase.background.label(),
            phase.searched.rate(),
            ms(0.5),
            ms(0.95),
            ms(0.99),
            phase.searched.errors.len(),
            phase.work
        );
    }
    println!(
        "\n| service | idle VmRSS MiB | after the load VmRSS MiB | peak VmHWM MiB |\n|---|---|---|---|"
    );
    for ((service, (idle, _)), (loaded, peak)) in
        services.iter().zip(&idle_memory).zip(&loaded_memory)
    {
        println!(
            "| {} | {} | {} | {} |",
            service.service.binary(),
            idle.div_ceil(1024),
            loaded.div_ceil(1024),
            peak.div_ceil(1024)
        );
    }
    for phase in &phases {
        if let Some(first) = phase.searched.errors.first() {
            println!("{}: first error: {first}", phase.background.label());
        }
    }
    for service in [ingest, search, refresh] {
        service.kill().await?;
    }
    Ok(())
}

/// A key with every scope for the benchmark organization.
async fn bench_key(admin: &tokio_postgres::Client, organization_id: i64) -> anyhow::Result<String> {
    Ok(
        lmactl::admin::mint_api_key(admin, organization_id, "bench", &svc_core::Scope::ALL)
            .await?
            .key,
    )
}

/// (VmRSS, VmHWM) in KiB of each service.
fn memory(services: &[&ServiceProcess]) -> anyhow::Result<Vec<(u64, u64)>> {
    services.iter().map(|s| s.memory_kib()).collect()
}

async fn run_phase(
    args: &LoadArgs,
    background: Background,
    search: &ServiceProcess,
    ingest: &ServiceProcess,
    refresh: &ServiceProcess,
    key: &str,
) -> anyhow::Result<Phase> {
    let (stop_tx, stop) = watch::channel(false);
    let work = match background {
        Background::Idle => None,
        Background::FullRebuild => Some(tokio::spawn(rebuild_until(
            refresh.addr,
            key.to_owned(),
            stop.clone(),
        ))),
        Background::Import => Some(tokio::spawn(import_until(
            ingest.addr,
            key.to_owned(),
            args.import_rows,
            stop.clone(),
        ))),
    };
    // Let the background work get going before measuring.
    if work.is_some() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (search_stop_tx, search_stop) = watch::channel(false);
    let phase_secs = args.phase_secs;
    let timer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(phase_secs)).await;
        search_stop_tx.send_replace(true);
    });
    let searched = search_until(search.addr, key, args.clients, search_stop).await?;
    timer.await?;
    stop_tx.send_replace(true);
    let work = match work {
        Some(task) => task.await??,
        None => "none".to_owned(),
    };
    Ok(Phase {
        background,
        searched,
        work,
    })
}

/// What the searchers of a phase did.
pub(crate) struct Searched {
    pub elapsed: Duration,
    /// The searches' latencies per probe (in [`probes`]' order): which query shape a change
    /// moved.
    pub by_probe: Vec<Latencies>,
    /// One message per failed search.
    pub errors: Vec<String>,
}

impl Searched {
    /// Every probe's latencies together.
    pub fn latencies(&self) -> Latencies {
        let mut all = Latencies::default();
        for probe in &self.by_probe {
            all.merge(probe.clone());
        }
        all
    }

    pub fn rate(&self) -> f64 {
        self.latencies().rate(self.elapsed)
    }
}

/// `clients` concurrent searchers against search-svc at `addr`, each cycling through
/// [`probes`] from its own starting point, until `stop` turns true.
pub(crate) async fn search_until(
    addr: SocketAddr,
    key: &str,
    clients: usize,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Searched> {
    let started = Instant::now();
    let probes = probes();
    let mut searchers = Vec::new();
    for searcher in 0..clients {
        let probes = probes.clone();
        let key = key.to_owned();
        let stop = stop.clone();
        searchers.push(tokio::spawn(async move {
            let mut client = clients::search_client(addr, BearerAuth::key(&key)).await;
            let mut by_probe = vec![Latencies::default(); probes.len()];
            let mut errors = Vec::new();
            let mut next = searcher;
            while !*stop.borrow() {
                let probe = next % probes.len();
                let call = Instant::now();
                match search_page(&mut client, probes[probe].clone()).await {
                    Ok(()) => by_probe[probe].record(call.elapsed()),
                    Err(error) => errors.push(format!("{error:#}")),
                }
                next += 1;
            }
            (by_probe, errors)
        }));
    }
    let mut by_probe = vec![Latencies::default(); probes.len()];
    let mut errors = Vec::new();
    for searcher in searchers {
        let (samples, mut failed) = searcher.await?;
        for (all, of_probe) in by_probe.iter_mut().zip(samples) {
            all.merge(of_probe);
        }
        errors.append(&mut failed);
    }
    Ok(Searched {
        elapsed: started.elapsed(),
        by_probe,
        errors,
    })
}

/// Each probe once against search-svc at `addr`: its connections and the database's caches
/// are then as warm as after a moment of service.
pub(crate) async fn warm_up(addr: SocketAddr, key: &str) -> anyhow::Result<()> {
    let mut client = clients::search_client(addr, BearerAuth::key(key)).await;
    for probe in probes() {
        search_page(&mut client, probe).await?;
    }
    Ok(())
}

/// One page, read to its end.
async fn search_page(
    client: &mut clients::SearchClient,
    request: SearchProspectsRequest,
) -> anyhow::Result<()> {
    let mut stream = client.search_prospects(request).await?.into_inner();
    let mut ended = false;
    while let Some(message) = stream.message().await? {
        ended |= matches!(message.result, Some(ProspectResult::End(_)));
    }
    anyhow::ensure!(ended, "the page had no PageEnd");
    Ok(())
}

/// Full rebuilds of every read model, one after the other, until `stop`; each call waits for
/// the rebuild (no client deadline: a rebuild of a million rows takes a while).
async fn rebuild_until(
    addr: SocketAddr,
    key: String,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<String> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = RefreshServiceClient::with_interceptor(channel, BearerAuth::key(&key));
    let mut rebuilds = 0;
    let mut busy = Duration::ZERO;
    while !*stop.borrow() {
        let started = Instant::now();
        client
            .refresh_now(RefreshNowRequest {
                mode: RefreshMode::Full as i32,
                read_model: ReadModel::Unspecified as i32,
                wait: true,
            })
            .await
            .context("RefreshNow FULL")?;
        busy += started.elapsed();
        rebuilds += 1;
    }
    Ok(format!(
        "{rebuilds} full rebuilds, {:.1} s each",
        busy.as_secs_f64() / f64::from(rebuilds.max(1))
    ))
}

/// CSV files of `rows` generated prospects imported one after the other (each a new
/// external source, so every file inserts) until `stop`.
async fn import_until(
    addr: SocketAddr,
    key: String,
    rows: u64,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<String> {
    let mut client = ingest_client(addr, &key).await?;
    let mut csv = Vec::new();
    generate::write_csv(&mut csv, rows, (rows / 10).max(1), 7)?;
    let mut imported = 0u64;
    let mut busy = Duration::ZERO;
    let mut file = 0;
    while !*stop.borrow() {
        let started = Instant::now();
        imported += import_csv(&mut client, &csv, &format!("load-{file}.csv")).await?;
        busy += started.elapsed();
        file += 1;
    }
    Ok(format!(
        "{imported} rows imported, {:.0} rows/s",
        imported as f64 / busy.as_secs_f64().max(f64::EPSILON)
    ))
}

/// An IngestService client without the test clients' per-call timeout: an import of a large
/// file under load takes minutes.
pub(crate) async fn ingest_client(
    addr: SocketAddr,
    key: &str,
) -> anyhow::Result<clients::IngestClient> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    Ok(
        lma_proto::v1::ingest_service_client::IngestServiceClient::with_interceptor(
            channel,
            BearerAuth::key(key),
        ),
    )
}

/// Imports `csv` as one file through ImportCsv; returns the rows it stored (inserted, updated
/// or unchanged).
pub(crate) async fn import_csv(
    client: &mut clients::IngestClient,
    csv: &[u8],
    file_name: &str,
) -> anyhow::Result<u64> {
    let mut requests = vec![ImportCsvRequest {
        part: Some(Part::Options(CsvImportOptions {
            file_name: file_name.to_owned(),
            ..Default::default()
        })),
    }];
    requests.extend(csv.chunks(64 * 1024).map(|chunk| ImportCsvRequest {
        part: Some(Part::Chunk(chunk.to_vec())),
    }));
    let mut stream = client
        .import_csv(tokio_stream::iter(requests))
        .await
        .context("ImportCsv")?
        .into_inner();
    let mut stored = 0;
    while let Some(message) = stream.message().await? {
        if let Some(Message::Report(report)) = message.message {
            let summary = report.summary.unwrap_or_default();
            stored += summary.inserted + summary.updated + summary.unchanged;
        }
    }
    Ok(stored)
}

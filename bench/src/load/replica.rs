//! `lma-bench load --replica`: searches at 32 clients against (a) search-svc on the primary and
//! (b) search-svc on a hot standby streaming from it, each while one CSV import runs on the
//! primary; searches/s and p50/p95/p99 of both in one run, and the standby's replay lag sampled
//! during each import (docs/OPERATIONS.md, "Pointing search-svc at a read replica").
//!
//! The primary and the standby are clusters of their own (`lma_tests::replica`), with the
//! replication settings the replica tests use and the benchmark's `shared_buffers`.

use std::time::{Duration, Instant};

use lma_tests::TestDatabase;
use lma_tests::app::Service;
use lma_tests::latency::Latencies;
use lma_tests::process::ServiceProcess;
use lma_tests::replica::{ReplayLag, Replication};
use tokio::sync::watch;

use super::{LoadArgs, Searched, bench_key, import_csv, ingest_client, search_until, warm_up};
use crate::{dataset, generate, refresh, stats};

/// How often the standby's replay lag is read during an import.
const LAG_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// Which search-svc the clients of a phase call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Primary = 0,
    Replica = 1,
}

impl Target {
    const ALL: [Target; 2] = [Target::Primary, Target::Replica];

    fn label(self) -> &'static str {
        match self {
            Target::Primary => "(a) primary",
            Target::Replica => "(b) replica",
        }
    }
}

/// One phase: the searchers against one target while one import runs on the primary.
struct Phase {
    round: usize,
    target: Target,
    searched: Searched,
    imported: u64,
    import_time: Duration,
    /// The standby's lag, read every [`LAG_SAMPLE_INTERVAL`] while the import ran.
    lag: Vec<ReplayLag>,
    /// From the import's end until refresh-svc had applied its changes to the read models.
    applied: Duration,
    /// From the import's end until the standby had replayed those read models.
    replayed: Duration,
}

impl Phase {
    fn import_rate(&self) -> f64 {
        self.imported as f64 / self.import_time.as_secs_f64().max(f64::EPSILON)
    }
}

/// A number the report gives the median of per target: its name and how to read it.
type Measure = (&'static str, fn(&Phase) -> f64);

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let replication = Replication::start().await?;
    let db = TestDatabase::create_migrated_on(replication.primary).await;
    let mut admin = db.connect().await;
    let started = Instant::now();
    let dataset = dataset::load(&mut admin, args.size).await?;
    let key = bench_key(&admin, dataset.organization_id).await?;
    replication.wait_until_replayed().await?;
    println!(
        "loaded {} prospects / {} companies on the primary and replayed on the standby in {:.0} s",
        args.size.prospects,
        args.size.companies,
        started.elapsed().as_secs_f64()
    );

    let search_pool = args.search_pool_size.to_string();
    let production = [("LMA_AUTH_CACHE_TTL_SECS", "10")];
    let search_env = [
        production[0],
        ("LMA_DATABASE_POOL_SIZE", search_pool.as_str()),
    ];
    let primary_url = db.url();
    let standby_url = replication.standby.conninfo(db.name());
    let ingest = ServiceProcess::start(Service::Ingest, &primary_url, &production).await?;
    let refresh = ServiceProcess::start(Service::Refresh, &primary_url, &production).await?;
    let search_primary = ServiceProcess::start(Service::Search, &primary_url, &search_env).await?;
    let search_replica = ServiceProcess::start(Service::Search, &standby_url, &search_env).await?;

    for search in [&search_primary, &search_replica] {
        warm_up(search.addr, &key).await?;
    }
    let stack = Stack {
        replication,
        ingest,
        search_primary,
        search_replica,
        key,
        admin,
    };
    let mut phases = Vec::new();
    for round in 0..args.replica_rounds {
        // Every import leaves the data larger: alternating which target goes first (ABBA...)
        // keeps that drift out of the comparison of the medians.
        let mut order = Target::ALL;
        if round % 2 == 1 {
            order.reverse();
        }
        for target in order {
            let phase = run_phase(&args, &stack, round, target).await?;
            println!(
                "round {round} {}: {:.0} searches/s, {}, {} errors; {} rows imported in {:.1} s; \
                 replay lag max {:.2} s / {:.1} MiB; applied {:.1} s and replayed {:.1} s after \
                 the import",
                target.label(),
                phase.searched.rate(),
                phase.searched.latencies(),
                phase.searched.errors.len(),
                phase.imported,
                phase.import_time.as_secs_f64(),
                max_seconds(&phase.lag),
                mib(max_bytes(&phase.lag)),
                phase.applied.as_secs_f64(),
                phase.replayed.as_secs_f64(),
            );
            phases.push(phase);
        }
    }
    print_report(&args, &phases);
    for service in [
        stack.ingest,
        refresh,
        stack.search_primary,
        stack.search_replica,
    ] {
        service.kill().await?;
    }
    Ok(())
}

/// The clusters and services a run measures.
struct Stack {
    replication: Replication,
    ingest: ServiceProcess,
    search_primary: ServiceProcess,
    search_replica: ServiceProcess,
    key: String,
    /// Superuser connection to the benchmark database on the primary.
    admin: tokio_postgres::Client,
}

/// Imports a file of new people while searching `target` and sampling the standby's lag, all
/// three from the same moment until the import has ended; then times the standby's catch-up.
async fn run_phase(
    args: &LoadArgs,
    stack: &Stack,
    round: usize,
    target: Target,
) -> anyhow::Result<Phase> {
    let search = match target {
        Target::Primary => &stack.search_primary,
        Target::Replica => &stack.search_replica,
    };
    // Every phase imports new people at companies of its own (numbered past the data set's and
    // the other files'), so each phase does the same work: no import changes a company another
    // stored, which would re-derive that company's people and grow with every round.
    let file = (round * Target::ALL.len() + target as usize) as u64;
    let companies = (args.replica_import_rows / 10).max(1);
    let mut csv = Vec::new();
    generate::write_csv_from(
        &mut csv,
        args.replica_import_rows,
        companies,
        args.size.companies.unsigned_abs() + 1 + file * companies,
        1_000 + file,
    )?;
    // And from the same state: the read models vacuumed, analyzed and checkpointed, replayed.
    refresh::settle(&stack.admin).await?;
    stack.replication.wait_until_replayed().await?;
    let file_name = format!("replica-load-{file}.csv");

    let (import_done_tx, import_done) = watch::channel(false);
    let mut client = ingest_client(stack.ingest.addr, &stack.key).await?;
    let import = tokio::spawn(async move {
        let started = Instant::now();
        let imported = import_csv(&mut client, &csv, &file_name).await;
        import_done_tx.send_replace(true);
        imported.map(|rows| (rows, started.elapsed(), Instant::now()))
    });
    let replication = &stack.replication;
    let sampler = tokio::spawn(sample_lag(*replication, import_done.clone()));
    let searched = search_until(search.addr, &stack.key, args.clients, import_done).await?;
    // The import's own end, not the searchers' (their last calls finish after it).
    let (imported, import_time, ended) = import.await??;
    let lag = sampler.await??;
    // The next phase starts from applied read models and a standby that has replayed them.
    refresh::drain_change_log(&stack.admin).await?;
    let applied = ended.elapsed();
    replication.wait_until_replayed().await?;
    Ok(Phase {
        round,
        target,
        searched,
        imported,
        import_time,
        lag,
        applied,
        replayed: ended.elapsed(),
    })
}

/// The standby's lag every [`LAG_SAMPLE_INTERVAL`] until `stop`.
async fn sample_lag(
    replication: Replication,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Vec<ReplayLag>> {
    let mut samples = Vec::new();
    while !*stop.borrow() {
        if let Some(lag) = replication.replay_lag().await? {
            samples.push(lag);
        }
        tokio::time::sleep(LAG_SAMPLE_INTERVAL).await;
    }
    Ok(samples)
}

fn print_report(args: &LoadArgs, phases: &[Phase]) {
    println!(
        "\n| round | searches against ({} clients) | searches/s | p50 ms | p95 ms | p99 ms | errors | \
         import on the primary | replay lag p50 / p95 / max s | lag max MiB | \
         read models applied / replayed after s |",
        args.clients
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for phase in phases {
        let latencies = phase.searched.latencies();
        let ms = |p| latencies.percentile_ms(p);
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} rows in {:.1} s ({:.0} rows/s) | \
             {:.2} / {:.2} / {:.2} | {:.1} | {:.1} / {:.1} |",
            phase.round,
            phase.target.label(),
            phase.searched.rate(),
            ms(0.5),
            ms(0.95),
            ms(0.99),
            phase.searched.errors.len(),
            phase.imported,
            phase.import_time.as_secs_f64(),
            phase.import_rate(),
            lag_percentile(&phase.lag, 0.5),
            lag_percentile(&phase.lag, 0.95),
            max_seconds(&phase.lag),
            mib(max_bytes(&phase.lag)),
            phase.applied.as_secs_f64(),
            phase.replayed.as_secs_f64(),
        );
    }

    // Medians over the rounds, and the replica's against the primary's of the same run.
    let median_of = |target: Target, value: fn(&Phase) -> f64| {
        stats::median(
            phases
                .iter()
                .filter(|phase| phase.target == target)
                .map(value)
                .collect(),
        )
    };
    let measures: [Measure; 7] = [
        ("searches/s", |phase| phase.searched.rate()),
        ("p50 ms", |phase| {
            phase.searched.latencies().percentile_ms(0.5)
        }),
        ("p95 ms", |phase| {
            phase.searched.latencies().percentile_ms(0.95)
        }),
        ("p99 ms", |phase| {
            phase.searched.latencies().percentile_ms(0.99)
        }),
        ("import rows/s", Phase::import_rate),
        ("replay lag max s", |phase| max_seconds(&phase.lag)),
        ("read models replayed after the import, s", |phase| {
            phase.replayed.as_secs_f64()
        }),
    ];
    println!(
        "\n| median of {} rounds | (a) primary | (b) replica | b/a |\n|---|---|---|---|",
        args.replica_rounds
    );
    for (name, value) in measures {
        let primary = median_of(Target::Primary, value);
        let replica = median_of(Target::Replica, value);
        println!(
            "| {name} | {primary:.1} | {replica:.1} | {:.2} |",
            replica / primary
        );
    }
    println!("\n| round | searches against | p50 ms of each probe, in order |\n|---|---|---|");
    for phase in phases {
        let probes: Vec<String> = phase
            .searched
            .by_probe
            .iter()
            .map(|probe| format!("{:.1}", probe.percentile_ms(0.5)))
            .collect();
        println!(
            "| {} | {} | {} |",
            phase.round,
            phase.target.label(),
            probes.join(" / ")
        );
    }
    for phase in phases {
        if let Some(first) = phase.searched.errors.first() {
            println!(
                "round {} {}: first error: {first}",
                phase.round,
                phase.target.label()
            );
        }
    }
}

/// The `p` percentile of the sampled lag in seconds.
fn lag_percentile(lag: &[ReplayLag], p: f64) -> f64 {
    let seconds: Latencies = lag
        .iter()
        .map(|lag| Duration::from_secs_f64(lag.seconds.max(0.0)))
        .collect();
    seconds.percentile(p).as_secs_f64()
}

fn max_seconds(lag: &[ReplayLag]) -> f64 {
    lag.iter().map(|lag| lag.seconds).fold(0.0, f64::max)
}

fn max_bytes(lag: &[ReplayLag]) -> i64 {
    lag.iter().map(|lag| lag.bytes).max().unwrap_or_default()
}

fn mib(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

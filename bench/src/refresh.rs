//! The refresh benchmark, all in one run on a throwaway PostgreSQL cluster loaded with the
//! synthetic data set:
//!
//! (b) the seeds' strategy, `REFRESH MATERIALIZED VIEW CONCURRENTLY` of materialized views equal
//!     to the three read models (same definitions, same indexes), against
//! (c) refresh-svc's full rebuild of the three read models, alternating, `--runs` times each;
//! (a) freshness: time from a write's commit until `SearchProspects` (search-svc over gRPC on
//!     loopback) returns it, under a steady `--rate` of mixed writes for `--duration-secs`;
//!     search-svc and refresh-svc run as release processes of their own, as deployed (build
//!     them first: `cargo build --release -p lma-bench -p search-svc -p refresh-svc`);
//! (d) write throughput of 8 concurrent writers with and without the change-capture triggers;
//! (e) with `--hot-company` only: one large company updated once a second while `--rate` writes/s
//!     go to the others, the hot company's freshness and the others' in the same run
//!     (hot_company.rs).

mod hot_company;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use lma_proto::v1::ProspectFilter;
use lma_tests::TestDatabase;
use lma_tests::app::{Service, search_prospects, search_request};
use lma_tests::clients::{self, BearerAuth, SearchClient};
use lma_tests::latency::Latencies;
use lma_tests::process::ServiceProcess;
use tokio_postgres::Client;

use crate::dataset::{self, DatasetSize};
use crate::stats;

#[derive(Debug, Clone, clap::Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub size: DatasetSize,
    /// Rounds of (b) and (c).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds of steady writes while freshness is measured.
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,
    /// Writes per second during the freshness measurement; several (`400,1000`) measure each in
    /// turn on the same data, the log drained in between.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    pub rate: Vec<u64>,
    /// Probes (writes whose visibility is timed) per second, part of the rate.
    #[arg(long, default_value_t = 10)]
    pub probes_per_sec: u64,
    /// Seconds of each (d) throughput round.
    #[arg(long, default_value_t = 10)]
    pub capture_round_secs: u64,
    /// (d) rounds, each one phase without the capture triggers and one with them, back to back;
    /// every other round starts with the capture on.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub capture_rounds: u64,
    /// Measures (a) only: no rebuild comparison, no capture cost.
    #[arg(long, conflicts_with = "capture_only")]
    pub freshness_only: bool,
    /// Measures (d) only: no rebuild comparison, no freshness.
    #[arg(long, conflicts_with = "hot_company")]
    pub capture_only: bool,
    /// Measures (e) only: a company of `--hot-company-prospects` updated every
    /// `--hot-update-interval-ms` while the first `--rate` goes to the other companies.
    #[arg(long, conflicts_with = "freshness_only")]
    pub hot_company: bool,
    /// Prospects of the hot company, on top of the data set.
    #[arg(long, default_value_t = 500_000)]
    pub hot_company_prospects: i64,
    /// What each update of the hot company changes.
    #[arg(long, value_enum, default_value_t = hot_company::HotUpdate::Phone)]
    pub hot_update: hot_company::HotUpdate,
    /// Milliseconds between two updates of the hot company.
    #[arg(long, default_value_t = 1000)]
    pub hot_update_interval_ms: u64,
}

const CAPTURE_TRIGGERS: [(&str, &str); 7] = [
    ("company", "company_capture_insert"),
    ("company", "company_capture_update"),
    ("company", "company_capture_delete"),
    ("prospect", "prospect_capture_insert"),
    ("prospect", "prospect_capture_update"),
    ("prospect", "prospect_capture_delete"),
    ("prospect", "prospect_capture_move"),
];

pub async fn run(args: RefreshArgs) -> anyhow::Result<()> {
    let (db, mut admin, dataset) = dataset::load_fresh(args.size).await?;
    if args.hot_company {
        return hot_company::run(&db, &admin, &args, dataset.organization_id).await;
    }
    if !args.freshness_only && !args.capture_only {
        rebuild_against_refresh_concurrently(&mut admin, args.runs).await?;
    }
    if !args.capture_only {
        settle(&admin).await?;
        freshness_at_each_rate(&db, &admin, &args, dataset.organization_id).await?;
    }
    if !args.freshness_only {
        capture_cost(&db, &admin, &args).await?;
    }
    Ok(())
}

/// (a) at each of `args.rate`, with search-svc and refresh-svc running as processes.
async fn freshness_at_each_rate(
    db: &TestDatabase,
    admin: &Client,
    args: &RefreshArgs,
    organization_id: i64,
) -> anyhow::Result<()> {
    let key = lmactl::admin::mint_api_key(
        admin,
        organization_id,
        "bench",
        &[svc_core::Scope::SearchRead],
    )
    .await?
    .key;
    // Processes of their own, as deployed: in-process they would share the benchmark's two
    // runtime threads with the writers and the probes. API keys are cached as in production.
    let production = [("LMA_AUTH_CACHE_TTL_SECS", "10")];
    let search = ServiceProcess::start(Service::Search, &db.url(), &production).await?;
    let refresh = ServiceProcess::start(Service::Refresh, &db.url(), &production).await?;
    // One channel for every probe, as a client service keeps one.
    let search_client = clients::search_client(search.addr, BearerAuth::key(&key)).await;
    for &rate in &args.rate {
        let measured_from: std::time::SystemTime =
            admin.query_one("SELECT now()", &[]).await?.get(0);
        let freshness = freshness(db, args, rate, organization_id, &search_client).await?;
        println!(
            "(a) freshness at {rate} writes/s over {} probes: {}; {} not visible within {} s \
             (counted as {} s)",
            freshness.latencies.count(),
            freshness.latencies,
            freshness.late,
            PROBE_GIVE_UP.as_secs(),
            PROBE_GIVE_UP.as_secs()
        );
        drain_change_log(admin).await?;
        print_applies(admin, measured_from).await?;
    }
    drop(search_client);
    refresh.kill().await?;
    search.kill().await?;
    Ok(())
}

/// (d): rounds of 8 writers without and with the capture triggers, back to back.
async fn capture_cost(db: &TestDatabase, admin: &Client, args: &RefreshArgs) -> anyhow::Result<()> {
    // What a write pays besides capture depends on these (lma-bench --pg-durable).
    let durability = admin
        .query_one(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit'), \
                 current_setting('full_page_writes')",
            &[],
        )
        .await?;
    println!(
        "(d) cluster: fsync={} synchronous_commit={} full_page_writes={}",
        durability.try_get::<_, String>(0)?,
        durability.try_get::<_, String>(1)?,
        durability.try_get::<_, String>(2)?
    );
    let mut with = Vec::new();
    let mut without = Vec::new();
    // Each round's pair ran back to back; its ratio is the other view of the same noise.
    let mut paired = Vec::new();
    for round in 0..args.capture_rounds as usize {
        // The second phase of a round updates the rows the first just updated, and finds the
        // old versions it left (to prune, to vacuum): which phase goes first alternates, so
        // that weighs on both sides alike.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for capture in order {
            set_capture(admin, capture).await?;
            let rate = write_throughput(db, args.capture_round_secs, args.size.prospects).await?;
            if capture {
                with.push(rate);
            } else {
                without.push(rate);
            }
        }
        admin.batch_execute("TRUNCATE change_log").await?;
        paired.push(percent_slower(with[round], without[round]));
        println!(
            "round {round}: {:.0} writes/s without capture, {:.0} with ({:.1}% slower)",
            without[round], with[round], paired[round]
        );
    }
    let (with_median, without_median) = (stats::median(with), stats::median(without));
    println!(
        "(d) 8 writers: median {without_median:.0} writes/s without capture, {with_median:.0} with \
         ({:.1}% slower; median of the rounds' own ratios {:.1}%)",
        percent_slower(with_median, without_median),
        stats::median(paired)
    );
    Ok(())
}

/// How much slower writes ran with capture than without, in percent.
fn percent_slower(with: f64, without: f64) -> f64 {
    (1.0 - with / without) * 100.0
}

/// (b) and (c): `runs` rounds of REFRESH MATERIALIZED VIEW CONCURRENTLY of three materialized
/// views equal to the read models against refresh-svc's full rebuild, then (c') a rebuild that
/// has to build beside and swap.
async fn rebuild_against_refresh_concurrently(
    admin: &mut Client,
    runs: usize,
) -> anyhow::Result<()> {
    create_materialized_views(admin).await?;
    let mut matview = Vec::new();
    let mut rebuild = Vec::new();
    for run in 0..runs {
        let started = Instant::now();
        for model in refresh_svc::read_model::READ_MODELS {
            admin
                .batch_execute(&format!(
                    "REFRESH MATERIALIZED VIEW CONCURRENTLY mv_{}",
                    model.table
                ))
                .await?;
        }
        matview.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        dataset::build_read_models(admin).await?;
        rebuild.push(started.elapsed().as_secs_f64());
        println!(
            "run {run}: REFRESH MATERIALIZED VIEW CONCURRENTLY x3 {:.1} s, full rebuild x3 {:.1} s",
            matview[run], rebuild[run]
        );
    }
    // (c') the same rebuild when every row has changed: it builds beside and swaps.
    for model in refresh_svc::read_model::READ_MODELS {
        admin
            .batch_execute(&format!("DELETE FROM {}", model.table))
            .await?;
    }
    let started = Instant::now();
    dataset::build_read_models(admin).await?;
    let swap = started.elapsed().as_secs_f64();
    let (matview_median, rebuild_median) = (stats::median(matview), stats::median(rebuild));
    println!(
        "(b) REFRESH MATERIALIZED VIEW CONCURRENTLY, 3 views: median {matview_median:.1} s\n\
         (c) full rebuild, 3 read models: median {rebuild_median:.1} s ({:.2}x of (b))\n\
         (c') full rebuild after every row changed (build beside and swap): {swap:.1} s ({:.2}x of (b))",
        rebuild_median / matview_median,
        swap / matview_median
    );
    admin
        .batch_execute(
            "DROP MATERIALIZED VIEW mv_company_prospect_view, mv_company_summary_view, \
             mv_prospect_search_view",
        )
        .await?;
    Ok(())
}

/// (a) measures steady state. The load and the rebuilds wrote the read models anew: set their
/// hint bits and visibility maps and write their pages out first, or the checkpoint, writeback
/// and autovacuum that follow such a rewrite land in the middle of (a).
pub(crate) async fn settle(admin: &Client) -> anyhow::Result<()> {
    let started = Instant::now();
    for model in refresh_svc::read_model::READ_MODELS {
        admin
            .batch_execute(&format!("VACUUM ANALYZE {}", model.table))
            .await?;
    }
    admin.batch_execute("CHECKPOINT").await?;
    // The cluster runs with fsync off: the checkpoint only hands its pages to the kernel, whose
    // writeback would then compete with (a). sync(1) writes them out first.
    let synced = std::process::Command::new("sync").status()?;
    anyhow::ensure!(synced.success(), "sync failed: {synced}");
    println!(
        "read models vacuumed, checkpointed and synced in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Materialized views equal to the read models, with a unique index (CONCURRENTLY needs one)
/// and every other index the read model has.
async fn create_materialized_views(admin: &Client) -> anyhow::Result<()> {
    for model in refresh_svc::read_model::READ_MODELS {
        let (table, definition) = (model.table, model.definition);
        admin
            .batch_execute(&format!(
                "CREATE MATERIALIZED VIEW mv_{table} AS SELECT * FROM {definition}"
            ))
            .await?;
        let indexes = admin
            .query(
                "SELECT regexp_replace(indexdef, '^CREATE (UNIQUE )?INDEX (\\S+) ON public\\.(\\S+) ', \
                     'CREATE \\1INDEX mv_\\2 ON public.mv_\\3 ') FROM pg_indexes \
                 WHERE schemaname = 'public' AND tablename = $1",
                &[&table],
            )
            .await?;
        for index in indexes {
            let sql: String = index.get(0);
            admin
                .batch_execute(&sql)
                .await
                .with_context(|| sql.clone())?;
        }
    }
    admin.batch_execute("ANALYZE").await?;
    Ok(())
}

/// How long a probe is looked for before it counts as late.
const PROBE_GIVE_UP: Duration = Duration::from_secs(30);

/// The probes of one freshness measurement.
struct Freshness {
    /// Every probe's time to visibility; a late probe counts as [`PROBE_GIVE_UP`].
    latencies: Latencies,
    /// Probes not visible within [`PROBE_GIVE_UP`].
    late: usize,
    /// Each probe's commit, from the start of the writes, and its time to visibility: when the
    /// slow ones were.
    timeline: Vec<(Duration, Duration)>,
}

/// How long refresh-svc's applies took per read model since `since`, from its refresh log.
async fn print_applies(admin: &Client, since: std::time::SystemTime) -> anyhow::Result<()> {
    let rows = admin
        .query(
            "SELECT view_name, count(*), sum(keys)::bigint, sum(rows_affected)::bigint, \
                 percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms), \
                 percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms), \
                 max(duration_ms) \
             FROM materialized_view_log WHERE mode = 'incremental' AND started_at >= $1 \
             GROUP BY view_name ORDER BY view_name",
            &[&since],
        )
        .await?;
    for row in rows {
        let (view, applies, keys, written): (String, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let (p50, p95, max): (f64, f64, f64) = (row.get(4), row.get(5), row.get(6));
        println!(
            "  {view}: {applies} applies, {keys} keys (companies and prospects), \
             {written} rows written; \
             apply p50 {p50:.0} ms, p95 {p95:.0} ms, max {max:.0} ms"
        );
    }
    Ok(())
}

/// Waits until refresh-svc has applied everything the last measurement wrote.
pub(crate) async fn drain_change_log(admin: &Client) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let pending: i64 = admin
            .query_one("SELECT count(*) FROM change_log", &[])
            .await?
            .get(0);
        if pending == 0 {
            println!(
                "change log drained in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "{pending} change-log rows still pending after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Steady mixed writes at `rate` per second, some of them probes whose visibility in
/// SearchProspects is timed.
async fn freshness(
    db: &TestDatabase,
    args: &RefreshArgs,
    rate: u64,
    organization_id: i64,
    search: &SearchClient,
) -> anyhow::Result<Freshness> {
    // Each writer waits for its commit before the next write: 16 of them keep 1,000 writes/s
    // going even when a commit takes 10 ms on a busy machine.
    const WRITERS: u64 = 16;
    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let written = Arc::new(AtomicU64::new(0));
    let background_rate = rate.saturating_sub(args.probes_per_sec).max(WRITERS);
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let client = db.connect_as("lma_ingest").await;
        let written = written.clone();
        let prospects = args.size.prospects;
        let companies = args.size.companies;
        let per_writer = background_rate / WRITERS;
        writers.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_writer as u32);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n: u64 = writer;
            while Instant::now() < deadline {
                ticks.tick().await;
                n += WRITERS;
                let spread = n.wrapping_mul(2_654_435_761);
                let result = match n % 10 {
                    // 30%: a company changes, and with it every one of its prospects' rows.
                    0..=2 => {
                        client
                            .execute(
                                "UPDATE company SET phone = $2 WHERE organization_id = $1 \
                                 AND external_source = 'bench' AND external_id = $3",
                                &[
                                    &organization_id,
                                    &format!("+49 {n}"),
                                    &format!("c{}", 1 + spread % companies as u64),
                                ],
                            )
                            .await
                    }
                    // 20%: a new prospect.
                    3 | 4 => {
                        client
                            .execute(
                                "INSERT INTO prospect (organization_id, company_id, \
                                     external_source, external_id, first_name, last_name, email) \
                                 SELECT organization_id, id, 'bench-fresh', $2::text, 'New', \
                                     'Hire', 'new.hire.' || $2::text || '@' || domain FROM company \
                                 WHERE organization_id = $1 AND external_source = 'bench' \
                                   AND external_id = $3",
                                &[
                                    &organization_id,
                                    &format!("w{rate}-{writer}-{n}"),
                                    &format!("c{}", 1 + spread % companies as u64),
                                ],
                            )
                            .await
                    }
                    // 50%: a prospect changes.
                    _ => {
                        client
                            .execute(
                                "UPDATE prospect SET job_title = $2 WHERE organization_id = $1 \
                                 AND external_source = 'bench' AND external_id = $3",
                                &[
                                    &organization_id,
                                    &format!("Title {n}"),
                                    &format!("p{}", 1 + spread % prospects as u64),
                                ],
                            )
                            .await
                    }
                };
                result?;
                written.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }

    let prober = db.connect_as("lma_ingest").await;
    let mut probes = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / args.probes_per_sec as u32);
    let mut n: u64 = 0;
    let load_started = Instant::now();
    while Instant::now() < deadline {
        ticks.tick().await;
        n += 1;
        let token = format!("probe{rate}r{n}x");
        let target = 1 + n.wrapping_mul(2_654_435_761) % args.size.companies as u64;
        // The probe finds its write through the company's domain, an index lookup whether or
        // not the write is visible yet; a free-text probe would run the typo-tolerant fallback
        // over the whole tenant on every miss and load the database it measures.
        let domain: String = prober
            .query_one(
                "SELECT domain FROM company WHERE organization_id = $1 \
                 AND external_source = 'bench' AND external_id = $2",
                &[&organization_id, &format!("c{target}")],
            )
            .await?
            .get(0);
        // Alternate: a prospect's own change, and a company change seen through its prospects.
        if n.is_multiple_of(2) {
            prober
                .execute(
                    "UPDATE prospect SET last_name = $2 WHERE organization_id = $1 \
                     AND external_source = 'bench' AND id = (SELECT min(p.id) FROM prospect p \
                         JOIN company c ON c.id = p.company_id \
                         WHERE c.organization_id = $1 AND c.domain = $3)",
                    &[&organization_id, &token, &domain],
                )
                .await?;
        } else {
            prober
                .execute(
                    "UPDATE company SET name = $2 WHERE organization_id = $1 AND domain = $3",
                    &[&organization_id, &token, &domain],
                )
                .await?;
        }
        let committed = Instant::now();
        let mut client = search.clone();
        let offset = committed - load_started;
        probes.push((
            offset,
            tokio::spawn(async move {
                let give_up = committed + PROBE_GIVE_UP;
                loop {
                    let page = match search_prospects(
                        &mut client,
                        search_request(ProspectFilter {
                            company_domains: vec![domain.clone()],
                            ..Default::default()
                        }),
                    )
                    .await
                    {
                        Ok(page) => page,
                        // Shed load (many probes waiting at once): look again a little later.
                        Err(status) if crate::search::is_shed_load(&status) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                        Err(status) => return Err(status.into()),
                    };
                    let visible = page
                        .hits
                        .iter()
                        .filter_map(|hit| hit.prospect.as_ref())
                        .any(|p| p.last_name == token || p.company_name == token);
                    if visible {
                        return anyhow::Ok(Some(committed.elapsed()));
                    }
                    if Instant::now() >= give_up {
                        return Ok(None);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }),
        ));
    }
    for writer in writers {
        writer.await??;
    }
    let achieved = written.load(Ordering::Relaxed) as f64 / load_started.elapsed().as_secs_f64();
    println!("(a) background writes: {achieved:.0}/s plus {n} probes");
    let mut latencies = Latencies::default();
    let mut late = 0;
    let mut timeline = Vec::with_capacity(probes.len());
    for (offset, probe) in probes {
        let latency = match probe.await.map_err(anyhow::Error::from)?? {
            Some(latency) => latency,
            None => {
                late += 1;
                PROBE_GIVE_UP
            }
        };
        latencies.record(latency);
        timeline.push((offset, latency));
    }
    Ok(Freshness {
        latencies,
        late,
        timeline,
    })
}

async fn set_capture(admin: &Client, enabled: bool) -> anyhow::Result<()> {
    let action = if enabled { "ENABLE" } else { "DISABLE" };
    for (table, trigger) in CAPTURE_TRIGGERS {
        admin
            .batch_execute(&format!("ALTER TABLE {table} {action} TRIGGER {trigger}"))
            .await?;
    }
    Ok(())
}

/// Writes per second of 8 connections writing as fast as they can for `seconds`: single-row
/// prospect updates and company updates, each its own transaction.
async fn write_throughput(db: &TestDatabase, seconds: u64, prospects: i64) -> anyhow::Result<f64> {
    const WRITERS: u64 = 8;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let client = db.connect_as("lma_ingest").await;
        tasks.push(tokio::spawn(async move {
            let prospect = client
                .prepare(
                    "UPDATE prospect SET department = $1 WHERE id = $2",
                )
                .await?;
            let company = client
                .prepare(
                    "UPDATE company SET phone = $1 WHERE id = (SELECT company_id FROM prospect WHERE id = $2)",
                )
                .await?;
            let mut count: u64 = 0;
            let mut n = writer;
            while Instant::now() < deadline {
                n += WRITERS;
                let id = 1 + (n.wrapping_mul(2_654_435_761) % prospects as u64) as i64;
                let statement = if n % 4 == 0 { &company } else { &prospect };
                client.execute(statement, &[&format!("d{n}"), &id]).await?;
                count += 1;
            }
            anyhow::Ok(count)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

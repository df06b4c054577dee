//! (e) one hot large company: a company of `--hot-company-prospects` prospects (a large employer)
//! updated once per `--hot-update-interval-ms`, while `--rate` writes/s go to the other companies,
//! as in (a). Reported from the same run:
//! - the hot company's freshness: from an update's commit until the effective watermark of its
//!   organization, `least(read_model_state.watermark, min(company_rederivation.pending_since))`
//!   (the contract search-svc waits on for `min_token`), passes the update's transaction id;
//! - the other writes' freshness, measured as (a) does: until SearchProspects returns them.
//!
//! Before that, the hot company is inserted with one statement (a bulk write the change log names
//! as the whole company) while refresh-svc runs and nothing else writes: how long its first,
//! all-insert re-derivation takes.

use std::time::{Duration, Instant, SystemTime};

use lma_tests::TestDatabase;
use lma_tests::app::Service;
use lma_tests::clients::{self, BearerAuth};
use lma_tests::latency::Latencies;
use lma_tests::process::ServiceProcess;
use tokio::sync::mpsc;
use tokio_postgres::Client;

use super::{RefreshArgs, drain_change_log, freshness, print_applies, settle};

/// What the hot company's updates change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HotUpdate {
    /// Its phone: every company_prospect_view row changes (in place, HOT); no search row does.
    Phone,
    /// Its name: every row of both prospect models changes, with every index entry of the
    /// search rows.
    Name,
}

/// How long after the last hot update its freshness is waited for.
const HOT_GIVE_UP: Duration = Duration::from_secs(900);

/// How often the effective watermark is read: the resolution of the hot company's freshness.
const WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// The effective watermark of an organization, as `company_rederivation`'s contract with
/// search-svc defines it (docs/ARCHITECTURE.md, "Tokens and watermarks").
const EFFECTIVE_WATERMARK_SQL: &str = "SELECT least( \
     (SELECT watermark FROM read_model_state WHERE read_model = 'prospect_search_view'), \
     (SELECT min(pending_since) FROM company_rederivation WHERE organization_id = $1))::text";

pub async fn run(
    db: &TestDatabase,
    admin: &Client,
    args: &RefreshArgs,
    organization_id: i64,
) -> anyhow::Result<()> {
    let rate = args.rate.first().copied().unwrap_or(1000);
    let key = lmactl::admin::mint_api_key(
        admin,
        organization_id,
        "bench",
        &[svc_core::Scope::SearchRead],
    )
    .await?
    .key;
    let production = [("LMA_AUTH_CACHE_TTL_SECS", "10")];
    let search = ServiceProcess::start(Service::Search, &db.url(), &production).await?;
    let refresh = ServiceProcess::start(Service::Refresh, &db.url(), &production).await?;

    let inserted_from: SystemTime = admin.query_one("SELECT now()", &[]).await?.get(0);
    let hot = insert_hot_company(admin, organization_id, args.hot_company_prospects).await?;
    let started = Instant::now();
    wait_until_rederived(admin).await?;
    println!(
        "(e) first derivation of the hot company's {} prospects (one bulk insert, in chunks, no \
         other writes): {:.1} s",
        args.hot_company_prospects,
        started.elapsed().as_secs_f64()
    );
    print_applies(admin, inserted_from).await?;
    // The insert added a third to the base tables: their autovacuum and autoanalyze would
    // otherwise run in the middle of the phase (settle() sees to the read models).
    admin
        .batch_execute("VACUUM ANALYZE prospect, company")
        .await?;
    settle(admin).await?;

    let measured_from: SystemTime = admin.query_one("SELECT now()", &[]).await?.get(0);
    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let (updates, received) = mpsc::unbounded_channel();
    let updater = tokio::spawn(update_hot_company(
        db.connect_as("lma_ingest").await,
        hot,
        args.hot_update,
        Duration::from_millis(args.hot_update_interval_ms),
        deadline,
        updates,
    ));
    let watcher = tokio::spawn(watch_hot_company(
        db.connect().await,
        organization_id,
        hot,
        received,
    ));
    let search_client = clients::search_client(search.addr, BearerAuth::key(&key)).await;
    let others = freshness(db, args, rate, organization_id, &search_client).await?;
    let hot_updates = updater.await??;
    let hot_freshness = watcher.await??;

    println!(
        "(e) hot company: {} prospects, {hot_updates} {:?} updates, one per {} ms: freshness \
         {} (max {:.1} s); {} not fresh within {} s after the last; {} passes done, \
         median pass {:.1} s",
        args.hot_company_prospects,
        args.hot_update,
        args.hot_update_interval_ms,
        hot_freshness.latencies,
        hot_freshness.latencies.percentile(1.0).as_secs_f64(),
        hot_freshness.late,
        HOT_GIVE_UP.as_secs(),
        hot_freshness.passes.len(),
        crate::stats::median(
            hot_freshness
                .passes
                .iter()
                .map(Duration::as_secs_f64)
                .collect()
        ),
    );
    println!(
        "(e) others at {rate} writes/s, same run: {} probes: {}; {} not visible within {} s",
        others.latencies.count(),
        others.latencies,
        others.late,
        super::PROBE_GIVE_UP.as_secs()
    );
    print_slow_moments(admin, measured_from, &others.timeline).await?;
    drain_change_log(admin).await?;
    print_applies(admin, measured_from).await?;
    drop(search_client);
    refresh.kill().await?;
    search.kill().await?;
    Ok(())
}

/// A probe slower than this misses the freshness target's p95.
const SLOW_PROBE: Duration = Duration::from_millis(250);

/// Where the others' slow probes were (per 10 s of the phase), and the longest refresh
/// transactions' statements of the phase: what a run's tail is made of.
async fn print_slow_moments(
    admin: &Client,
    since: SystemTime,
    timeline: &[(Duration, Duration)],
) -> anyhow::Result<()> {
    const WINDOW_SECS: u64 = 10;
    let windows = timeline
        .iter()
        .map(|(offset, _)| offset.as_secs() / WINDOW_SECS)
        .max()
        .map_or(0, |last| last + 1);
    let slow: Vec<String> = (0..windows)
        .map(|window| {
            let probes = timeline
                .iter()
                .filter(|(offset, _)| offset.as_secs() / WINDOW_SECS == window);
            let (all, slow) = probes.fold((0, 0), |(all, slow), (_, latency)| {
                (all + 1, slow + usize::from(*latency > SLOW_PROBE))
            });
            format!("{slow}/{all}")
        })
        .collect();
    println!(
        "(e) others' probes over {} ms, per {WINDOW_SECS} s: {}",
        SLOW_PROBE.as_millis(),
        slow.join(" ")
    );
    let rows = admin
        .query(
            "SELECT extract(epoch FROM started_at - $1)::float8, view_name, keys, rows_affected, \
                 duration_ms FROM materialized_view_log WHERE started_at >= $1 \
             ORDER BY duration_ms DESC LIMIT 8",
            &[&since],
        )
        .await?;
    for row in rows {
        let (at, view, keys, written, ms): (f64, String, i64, i64, f64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        println!("  slow: at {at:.1} s {view}: {keys} keys, {written} rows written, {ms:.0} ms");
    }
    Ok(())
}

/// Inserts the hot company and its prospects, one statement each, with change capture on;
/// returns the company's id.
async fn insert_hot_company(
    admin: &Client,
    organization_id: i64,
    prospects: i64,
) -> anyhow::Result<i64> {
    let company: i64 = admin
        .query_one(
            "INSERT INTO company (organization_id, domain, name, industry, min_employees, \
                 max_employees, revenue, city, state, country, external_source, external_id) \
             VALUES ($1, 'hot-employer.com', 'Hot Employer Inc', 'Logistics', 100001, 1000000, \
                 42000000000, 'Hamburg', 'Hamburg', 'Germany', 'bench-hot', 'hot') \
             RETURNING id",
            &[&organization_id],
        )
        .await?
        .get(0);
    admin
        .execute(
            "INSERT INTO prospect (organization_id, company_id, external_source, external_id, \
                 first_name, last_name, email, job_title, job_title_level, department, tags, \
                 custom_fields) \
             SELECT $1, $2, 'bench-hot', 'h' || j, \
                 (ARRAY['Anna','Ben','Chloe','David','Emma','Felix','Grace'])[1 + j % 7], \
                 (ARRAY['Andersen','Brown','Costa','Dubois','Eriksen'])[1 + (j / 7) % 5], \
                 'h.' || j || '@hot-employer.com', \
                 (ARRAY['Driver','Warehouse Lead','Dispatcher','Account Executive'])[1 + j % 4], \
                 (ARRAY['entry','manager','entry','senior'])[1 + j % 4], \
                 (ARRAY['Operations','Operations','Operations','Sales'])[1 + j % 4], \
                 ARRAY['segment-' || (j % 20)], jsonb_build_object('depot', j % 50) \
             FROM generate_series(1, $3::bigint) AS j",
            &[&organization_id, &company, &prospects],
        )
        .await?;
    Ok(company)
}

/// Waits until the change log is drained and no company waits for chunked re-derivation.
async fn wait_until_rederived(admin: &Client) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let pending: i64 = admin
            .query_one(
                "SELECT (SELECT count(*) FROM change_log) \
                     + (SELECT count(*) FROM company_rederivation)",
                &[],
            )
            .await?
            .get(0);
        if pending == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "the hot company was not derived within 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Updates the hot company every `interval` until `deadline`, sending each update's transaction
/// id and commit time; returns how many it made.
async fn update_hot_company(
    mut client: Client,
    company: i64,
    update: HotUpdate,
    interval: Duration,
    deadline: Instant,
    updates: mpsc::UnboundedSender<(u64, Instant)>,
) -> anyhow::Result<u64> {
    let statement = match update {
        HotUpdate::Phone => "UPDATE company SET phone = $2 WHERE id = $1",
        HotUpdate::Name => "UPDATE company SET name = $2 WHERE id = $1",
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut made = 0;
    let end = tokio::time::Instant::from_std(deadline);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = tokio::time::sleep_until(end) => break,
        }
        made += 1;
        let value = match update {
            HotUpdate::Phone => format!("+49 40 {made}"),
            HotUpdate::Name => format!("Hot Employer Inc {made}"),
        };
        let transaction = client.transaction().await?;
        transaction.execute(statement, &[&company, &value]).await?;
        let xid: String = transaction
            .query_one("SELECT pg_current_xact_id()::text", &[])
            .await?
            .get(0);
        transaction.commit().await?;
        updates.send((xid.parse()?, Instant::now()))?;
    }
    Ok(made)
}

/// The hot company's updates as the effective watermark saw them.
struct HotFreshness {
    /// Each update's time until the effective watermark passed it; a late one counts as the
    /// time until the watcher gave up.
    latencies: Latencies,
    /// Updates not fresh within [`HOT_GIVE_UP`] after the last.
    late: usize,
    /// How long each pass over the company took, between two passes seen to end.
    passes: Vec<Duration>,
}

/// Reads the organization's effective watermark every [`WATCH_INTERVAL`] until every update
/// received is below it (or [`HOT_GIVE_UP`] after the last), and times the company's passes.
async fn watch_hot_company(
    client: Client,
    organization_id: i64,
    company: i64,
    mut received: mpsc::UnboundedReceiver<(u64, Instant)>,
) -> anyhow::Result<HotFreshness> {
    let mut waiting: Vec<(u64, Instant)> = Vec::new();
    let mut latencies = Latencies::default();
    let mut give_up: Option<Instant> = None;
    let mut passes = Vec::new();
    // Passes done per the queue row, and when the last one was seen to end (None: none seen yet,
    // so the pass under way when the watch began is not timed).
    let mut pass: Option<(i32, Option<Instant>)> = None;
    loop {
        loop {
            match received.try_recv() {
                Ok(update) => waiting.push(update),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    give_up.get_or_insert_with(|| Instant::now() + HOT_GIVE_UP);
                    break;
                }
            }
        }
        let effective: Option<String> = client
            .query_one(EFFECTIVE_WATERMARK_SQL, &[&organization_id])
            .await?
            .get(0);
        let effective: u64 = effective.unwrap_or_default().parse().unwrap_or(0);
        let now = Instant::now();
        waiting.retain(|(xid, committed)| {
            let fresh = *xid < effective;
            if fresh {
                latencies.record(now - *committed);
            }
            !fresh
        });
        let done: Option<i32> = client
            .query_opt(
                "SELECT passes FROM company_rederivation WHERE company_id = $1",
                &[&company],
            )
            .await?
            .map(|row| row.get(0));
        match (done, pass) {
            (Some(done), Some((seen, ended))) if done > seen => {
                passes.extend(ended.map(|ended| now - ended));
                pass = Some((done, Some(now)));
            }
            // The row went (its last pass ended clean), or went and came back.
            (None, Some((_, ended))) => {
                passes.extend(ended.map(|ended| now - ended));
                pass = None;
            }
            (Some(done), Some((seen, _))) if done < seen => pass = Some((done, None)),
            (Some(done), None) => pass = Some((done, None)),
            _ => {}
        }
        if give_up.is_some() && waiting.is_empty() {
            break;
        }
        if give_up.is_some_and(|give_up| now >= give_up) {
            for (_, committed) in &waiting {
                latencies.record(now - *committed);
            }
            break;
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
    }
    Ok(HotFreshness {
        latencies,
        late: waiting.len(),
        passes,
    })
}

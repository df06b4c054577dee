//! `lma-bench search --hidden-suppressions N`: whether hidden rows cost searches anything. Issue
//! 19 asks that the search page p95 stay the same, within noise, with 10,000 HIDE entries.
//!
//! After the suite and the throughput run, in the same run and on the same data: ingest-svc
//! (PrivacyService) and refresh-svc start in this process beside search-svc; each query of the
//! suite runs `--hidden-runs` times over gRPC (round-robin over the queries, so that each query's
//! runs spread over the whole phase); then N entries with policy HIDE are added through
//! AddSuppressions with a `privacy.admin` key, as an operator would add them (at most 1,000 per
//! call, the contract's limit), and the benchmark waits until searches are fresh (a count with
//! the last call's consistency token as `min_token`); then the same queries run again the same
//! way. The queries run a phase before that one as well: how far the two phases before differ
//! is the run's own measure of noise. Every phase runs with both services up, so they all
//! measure the same processes.
//!
//! The entries ([`Mix`]): half of them addresses of stored prospects (spread over the tenant's
//! prospects), one company domain per thousand (spread over its companies: the company and all
//! its prospects hidden), the rest addresses nobody has. search-svc never reads the suppression
//! list; what changes for it is the read model, whose hidden rows every query must now skip
//! (`NOT suppressed`), and the rows refresh-svc rewrote to mark them.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use lma_proto::v1::suppression_entry::Subject;
use lma_proto::v1::{
    AddSuppressionsRequest, CountProspectsRequest, SuppressionEntry, SuppressionPolicy,
    SuppressionReason,
};
use lma_tests::TestDatabase;
use lma_tests::app::{Service, Shutdown, start_service, wait_for_health};
use lma_tests::clients::{self, BearerAuth, SearchClient};
use lma_tests::latency::Latencies;
use tokio_postgres::Client;
use tonic_health::pb::health_check_response::ServingStatus;

use super::{Query, SearchArgs, run_grpc};

/// Entries one AddSuppressions call may carry (`proto/lma/v1/privacy.proto`; ingest-svc refuses
/// a larger call).
const ENTRIES_PER_CALL: usize = 1_000;

/// Unmeasured runs of each query at the start of each phase.
const WARM_UP_RUNS: usize = 5;

/// How long the read models may take to show the entries.
const FRESH_TIMEOUT: Duration = Duration::from_secs(600);

/// What the N entries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Addresses of stored prospects.
    pub emails: usize,
    /// Domains of stored companies.
    pub domains: usize,
    /// Addresses no prospect has.
    pub others: usize,
}

impl Mix {
    /// Half of `n` stored addresses, one domain per thousand entries (at least one), the rest
    /// addresses nobody has.
    pub fn of(n: usize) -> Mix {
        let domains = (n / 1_000).max(1).min(n);
        let emails = (n / 2).min(n - domains);
        Mix {
            emails,
            domains,
            others: n - domains - emails,
        }
    }
}

pub(super) async fn run(
    args: &SearchArgs,
    db: &TestDatabase,
    admin: &Client,
    organization_id: i64,
    client: &mut SearchClient,
    queries: &[Query],
) -> anyhow::Result<()> {
    let url = db.url();
    let shutdown = Shutdown::default();
    let ingest = start_service(Service::Ingest, &url, &shutdown, &[]).await;
    // No scheduled reconcile: one would read every table in the middle of one of the phases.
    let refresh = start_service(
        Service::Refresh,
        &url,
        &shutdown,
        &["--reconcile-interval-secs", "0"],
    )
    .await;
    for running in [&ingest, &refresh] {
        wait_for_health(running, ServingStatus::Serving).await;
    }
    let privacy_key = lmactl::admin::mint_api_key(
        admin,
        organization_id,
        "bench-privacy",
        &[svc_core::Scope::PrivacyAdmin],
    )
    .await?
    .key;
    let mix = Mix::of(args.hidden_suppressions);
    let entries = entries(admin, organization_id, mix).await?;

    // Two phases before: the second is the one compared with after; the first, against the
    // second, shows how far two phases of nothing changed differ in this run (the noise).
    let first = measure(client, queries, args.hidden_runs).await?;
    let before = measure(client, queries, args.hidden_runs).await?;

    let mut privacy = clients::privacy_client(ingest.addr, BearerAuth::key(&privacy_key)).await;
    let started = Instant::now();
    let mut token = String::new();
    let mut calls = 0;
    for batch in entries.chunks(ENTRIES_PER_CALL) {
        let added = privacy
            .add_suppressions(AddSuppressionsRequest {
                entries: batch.to_vec(),
            })
            .await
            .context("AddSuppressions")?
            .into_inner();
        ensure!(
            added.ids.len() == batch.len(),
            "AddSuppressions added {} of {} entries",
            added.ids.len(),
            batch.len()
        );
        token = added.consistency_token;
        calls += 1;
    }
    let adding = started.elapsed();
    let fresh = wait_until_fresh(client, &token).await?;
    let hidden: i64 = admin
        .query_one(
            "SELECT count(*) FROM prospect_search_view WHERE organization_id = $1 AND suppressed",
            &[&organization_id],
        )
        .await?
        .get(0);
    ensure!(hidden > 0, "no prospect is hidden in prospect_search_view");

    let after = measure(client, queries, args.hidden_runs).await?;

    println!(
        "\nhidden suppressions: {} HIDE entries through AddSuppressions ({calls} calls, {:.1} s): \
         {} addresses of stored prospects, {} company domains, {} addresses nobody has; {hidden} \
         prospects hidden in prospect_search_view, searches fresh {:.1} s after the last call. \
         gRPC, {} runs per query in each phase, round-robin over the queries; two phases before \
         the entries (the noise: the second against the first), one after:\n",
        entries.len(),
        adding.as_secs_f64(),
        mix.emails,
        mix.domains,
        mix.others,
        fresh.as_secs_f64(),
        args.hidden_runs,
    );
    println!(
        "| query | before: (a) gRPC page p50 / p95 ms | after: (a) gRPC page p50 / p95 ms | after/before (p50) | after/before (p95) | noise: before, 2nd/1st phase (p50 / p95) |"
    );
    println!("|---|---|---|---|---|---|");
    for (((query, first), before), after) in queries.iter().zip(&first).zip(&before).zip(&after) {
        let (f50, f95) = (first.percentile_ms(0.5), first.percentile_ms(0.95));
        let (b50, b95) = (before.percentile_ms(0.5), before.percentile_ms(0.95));
        let (a50, a95) = (after.percentile_ms(0.5), after.percentile_ms(0.95));
        println!(
            "| {} | {b50:.1} / {b95:.1} | {a50:.1} / {a95:.1} | {:.2} | {:.2} | {:.2} / {:.2} |",
            query.name,
            a50 / b50,
            a95 / b95,
            b50 / f50,
            b95 / f95,
        );
    }
    drop(privacy);
    shutdown.trigger();
    ingest.stopped().await?;
    refresh.stopped().await?;
    Ok(())
}

/// The entries of `mix`, all with policy HIDE: stored addresses and domains spread evenly over
/// the tenant's prospects and companies (by id), then addresses nobody has.
async fn entries(
    admin: &Client,
    organization_id: i64,
    mix: Mix,
) -> anyhow::Result<Vec<SuppressionEntry>> {
    let spread = |table: &str, column: &str| {
        format!(
            "SELECT {column} FROM (SELECT {column}, row_number() OVER (ORDER BY id) AS n, \
                 count(*) OVER () AS total FROM {table} WHERE organization_id = $1) t \
             WHERE n % greatest(total / $2, 1) = 0 ORDER BY n LIMIT $2"
        )
    };
    let mut subjects = Vec::with_capacity(mix.emails + mix.domains + mix.others);
    for (table, column, wanted) in [
        ("prospect", "email", mix.emails),
        ("company", "domain", mix.domains),
    ] {
        if wanted == 0 {
            continue;
        }
        let rows = admin
            .query(
                &spread(table, column),
                &[&organization_id, &(wanted as i64)],
            )
            .await
            .with_context(|| format!("choosing the {table} rows to hide"))?;
        ensure!(
            rows.len() == wanted,
            "{wanted} {table} rows to hide wanted, the tenant has {}",
            rows.len()
        );
        for row in rows {
            let value: String = row.try_get(0)?;
            subjects.push(if column == "email" {
                Subject::Email(value)
            } else {
                Subject::Domain(value)
            });
        }
    }
    subjects
        .extend((0..mix.others).map(|n| Subject::Email(format!("nobody.{n}@elsewhere.example"))));
    Ok(subjects
        .into_iter()
        .map(|subject| SuppressionEntry {
            subject: Some(subject),
            reason: SuppressionReason::DoNotContact.into(),
            reason_text: String::new(),
            policy: SuppressionPolicy::Hide.into(),
        })
        .collect())
}

/// Each query's page times over `runs` gRPC runs, the queries taken in turn.
async fn measure(
    client: &mut SearchClient,
    queries: &[Query],
    runs: usize,
) -> anyhow::Result<Vec<Latencies>> {
    let mut latencies = vec![Latencies::default(); queries.len()];
    for run in 0..runs + WARM_UP_RUNS {
        for (query, samples) in queries.iter().zip(&mut latencies) {
            let timing = run_grpc(client, &query.probe)
                .await
                .with_context(|| query.name)?;
            if run >= WARM_UP_RUNS {
                samples.record(timing.last);
            }
        }
    }
    Ok(latencies)
}

/// Waits until searches answer by `token` (a count with it as `min_token`); how long that took.
async fn wait_until_fresh(client: &mut SearchClient, token: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let answer = client
            .count_prospects(CountProspectsRequest {
                min_token: token.to_owned(),
                ..Default::default()
            })
            .await;
        match answer {
            Ok(_) => return Ok(started.elapsed()),
            // The wait ended at the call's deadline (search-svc's, or the channel's); the
            // apply is still under way.
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
                ) =>
            {
                ensure!(
                    started.elapsed() < FRESH_TIMEOUT,
                    "searches were not fresh within {FRESH_TIMEOUT:?}"
                );
            }
            Err(status) => return Err(status).context("CountProspects with min_token"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Mix;

    #[test]
    fn the_entries_are_half_stored_addresses_and_a_few_domains() {
        assert_eq!(
            Mix::of(10_000),
            Mix {
                emails: 5_000,
                domains: 10,
                others: 4_990
            }
        );
        assert_eq!(
            Mix::of(1),
            Mix {
                emails: 0,
                domains: 1,
                others: 0
            }
        );
        assert_eq!(
            Mix::of(3),
            Mix {
                emails: 1,
                domains: 1,
                others: 1
            }
        );
        for n in [0, 2, 999, 1_001, 25_000] {
            let mix = Mix::of(n);
            assert_eq!(mix.emails + mix.domains + mix.others, n, "{n}");
        }
    }
}

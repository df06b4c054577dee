//! Search benchmark: a suite of business queries at 1,000,000 prospects, each measured in the same
//! run four ways: (a) over gRPC through search-svc (time to the first hit and to the end of the
//! page), (b) the same SQL against the read model through tokio-postgres, (b') the same SQL through
//! psql, and (c) the same query against the read model's definition, i.e. the equivalent JOIN over
//! the base tables computed at query time. Then throughput of the page queries at 32 concurrent
//! gRPC clients.
//!
//! What the service adds to the database's time is judged two ways. Where the database takes
//! [`FAST_PAGE`] or more, by the ratio a/b. Below it the ratio measures the machine more than the
//! service (a call over loopback costs a few tenths of a millisecond on a busy 2-core host, a
//! large share of a sub-millisecond page), so by the difference a - b' at p50 instead, against
//! [`FAST_PAGE_GOAL`]: about what one more loopback round trip costs.
//!
//! With `--hidden-suppressions N`, the queries are then measured again over gRPC before and
//! after N suppression entries with policy HIDE (hidden.rs).

mod hidden;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lma_proto::v1::search_companies_response::Result as CompanyResult;
use lma_proto::v1::search_prospects_response::Result as ProspectResult;
use lma_proto::v1::{
    CompanyFilter, CompanySort, CountProspectsRequest, Facet, Int64Range, JobTitleLevel,
    ProspectFilter, ProspectSort, SearchCompaniesRequest, SearchProspectsRequest,
};
use lma_tests::app::{Service, Shutdown, start_service, wait_for_health};
use lma_tests::clients::{self, BearerAuth, SearchClient};
use lma_tests::latency::Latencies;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::dataset;

#[derive(Debug, Clone, clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub size: dataset::DatasetSize,
    /// Measured runs per query for (a) and (b), after warm-up runs.
    #[arg(long, default_value_t = 40)]
    pub runs: usize,
    /// Measured runs per query for (c), the base-table JOIN (seconds per run when unindexed).
    #[arg(long, default_value_t = 5)]
    pub base_runs: usize,
    /// Seconds of the 32-client throughput run.
    #[arg(long, default_value_t = 10)]
    pub throughput_secs: u64,
    /// Measure only the queries whose name contains one of these (all when none is given);
    /// the throughput run then cycles through the selected page queries.
    #[arg(long)]
    pub only: Vec<String>,
    /// search-svc's connection pool: enough for the 32 throughput clients not to queue long.
    #[arg(long, default_value_t = 16)]
    pub pool_size: usize,
    /// search-svc's `--database-pool-share-per-key`: the connections the benchmark's one key
    /// may hold (default: the service's, three quarters of the pool).
    #[arg(long)]
    pub pool_share_per_key: Option<usize>,
    /// psql of (b'), the read-model SQL the way a person would time it: through psql, timed by
    /// its `\timing`.
    #[arg(long, default_value = "psql")]
    pub psql: std::path::PathBuf,
    /// Suppression entries with policy HIDE to add through PrivacyService after the rest (half
    /// of them addresses of stored prospects, one company domain per thousand, the rest
    /// addresses nobody has); the queries are then measured over gRPC before and after them.
    /// None when 0.
    #[arg(long, default_value_t = 0)]
    pub hidden_suppressions: usize,
    /// Measured gRPC runs per query on each side of the hidden entries, after warm-up runs.
    #[arg(long, default_value_t = 100)]
    pub hidden_runs: usize,
}

/// One request of the suite.
#[derive(Clone)]
enum Probe {
    Prospects(SearchProspectsRequest),
    Companies(SearchCompaniesRequest),
    Count(CountProspectsRequest),
}

struct Query {
    name: &'static str,
    probe: Probe,
}

fn prospects(filter: ProspectFilter, sort: ProspectSort) -> Probe {
    Probe::Prospects(SearchProspectsRequest {
        filter: Some(filter),
        sort: sort as i32,
        page_size: 50,
        ..Default::default()
    })
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn all_facets() -> Vec<i32> {
    [
        Facet::Industry,
        Facet::Country,
        Facet::JobTitleLevel,
        Facet::Department,
        Facet::EmployeeSize,
    ]
    .map(|facet| facet as i32)
    .to_vec()
}

fn suite() -> Vec<Query> {
    let f = ProspectFilter::default;
    vec![
        Query {
            name: "newest, no filter",
            probe: prospects(f(), ProspectSort::UpdatedAt),
        },
        Query {
            name: "industry",
            probe: prospects(
                ProspectFilter {
                    industries: strings(&["Software"]),
                    ..f()
                },
                ProspectSort::UpdatedAt,
            ),
        },
        Query {
            name: "country + level",
            probe: prospects(
                ProspectFilter {
                    countries: strings(&["Germany"]),
                    job_title_levels: vec![JobTitleLevel::Vp as i32],
                    ..f()
                },
                ProspectSort::UpdatedAt,
            ),
        },
        Query {
            name: "department + city by revenue",
            probe: prospects(
                ProspectFilter {
                    departments: strings(&["Finance"]),
                    cities: strings(&["Paris"]),
                    ..f()
                },
                ProspectSort::Revenue,
            ),
        },
        Query {
            name: "revenue range by revenue",
            probe: prospects(
                ProspectFilter {
                    revenue: Some(Int64Range {
                        min: Some(1_000_000_000),
                        max: Some(2_000_000_000),
                    }),
                    ..f()
                },
                ProspectSort::Revenue,
            ),
        },
        Query {
            name: "company domains (20)",
            probe: prospects(
                ProspectFilter {
                    company_domains: (1..=20)
                        .map(|i| {
                            format!(
                                "company{}.{}",
                                i * 97,
                                ["com", "io", "de", "co.uk", "fr", "net"][(i * 97 % 6) as usize]
                            )
                        })
                        .collect(),
                    ..f()
                },
                ProspectSort::UpdatedAt,
            ),
        },
        Query {
            name: "company name prefix A-Z",
            probe: prospects(
                ProspectFilter {
                    company_name_prefix: "company 4242".into(),
                    ..f()
                },
                ProspectSort::CompanyName,
            ),
        },
        Query {
            name: "tags all + custom field",
            probe: prospects(
                ProspectFilter {
                    tags_all: strings(&["segment-3", "wave-5"]),
                    custom_fields: [("tier".to_owned(), "gold".to_owned())].into(),
                    ..f()
                },
                ProspectSort::UpdatedAt,
            ),
        },
        Query {
            name: "text: name",
            probe: prospects(
                ProspectFilter {
                    query: "emma schmidt".into(),
                    ..f()
                },
                ProspectSort::Unspecified,
            ),
        },
        Query {
            name: "text: title + filter",
            probe: prospects(
                ProspectFilter {
                    query: "\"data analyst\"".into(),
                    countries: strings(&["Japan"]),
                    ..f()
                },
                ProspectSort::Unspecified,
            ),
        },
        Query {
            name: "mixed: text, industry, revenue",
            probe: prospects(
                ProspectFilter {
                    query: "engineering".into(),
                    industries: strings(&["Energy", "Media"]),
                    revenue: Some(Int64Range {
                        min: Some(100_000_000),
                        max: None,
                    }),
                    ..f()
                },
                ProspectSort::Revenue,
            ),
        },
        Query {
            name: "deep page (100,000)",
            probe: prospects(f(), ProspectSort::CompanyName),
        },
        Query {
            name: "facets: 5 facets, Germany",
            probe: Probe::Count(CountProspectsRequest {
                filter: Some(ProspectFilter {
                    countries: strings(&["Germany"]),
                    departments: strings(&["Sales"]),
                    ..f()
                }),
                facets: all_facets(),
                facet_limit: 20,
                ..Default::default()
            }),
        },
        Query {
            name: "facets: 5 facets, whole tenant",
            probe: Probe::Count(CountProspectsRequest {
                facets: all_facets(),
                facet_limit: 20,
                ..Default::default()
            }),
        },
        Query {
            name: "company search by prospect count",
            probe: Probe::Companies(SearchCompaniesRequest {
                filter: Some(CompanyFilter {
                    industries: strings(&["Software"]),
                    countries: strings(&["Germany"]),
                    ..Default::default()
                }),
                sort: CompanySort::ProspectCount as i32,
                page_size: 50,
                ..Default::default()
            }),
        },
    ]
}

/// Timings of one run over gRPC: to the first result, and to the end of the answer.
struct GrpcTiming {
    first: Duration,
    last: Duration,
}

/// Whether `status` is the service shedding load (a call to retry), not a failure.
pub fn is_shed_load(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::ResourceExhausted
    )
}

/// Whether `error` is the service shedding load, see [`is_shed_load`].
fn is_retryable(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<tonic::Status>()
        .is_some_and(is_shed_load)
}

async fn run_grpc(client: &mut SearchClient, probe: &Probe) -> anyhow::Result<GrpcTiming> {
    let started = Instant::now();
    let mut first = None;
    match probe {
        Probe::Prospects(request) => {
            let mut stream = client.search_prospects(request.clone()).await?.into_inner();
            while let Some(message) = stream.message().await? {
                if let Some(ProspectResult::Hit(_)) = message.result {
                    first.get_or_insert_with(|| started.elapsed());
                }
            }
        }
        Probe::Companies(request) => {
            let mut stream = client.search_companies(request.clone()).await?.into_inner();
            while let Some(message) = stream.message().await? {
                if let Some(CompanyResult::Company(_)) = message.result {
                    first.get_or_insert_with(|| started.elapsed());
                }
            }
        }
        Probe::Count(request) => {
            client.count_prospects(request.clone()).await?;
        }
    }
    let last = started.elapsed();
    Ok(GrpcTiming {
        first: first.unwrap_or(last),
        last,
    })
}

/// Pages the database answers (b', p50) faster than this are judged by a - b', not a/b.
const FAST_PAGE: Duration = Duration::from_millis(2);

/// What a fast page's gRPC call may add to psql's time at p50 (a - b').
const FAST_PAGE_GOAL: Duration = Duration::from_micros(300);

/// The page-token key the benchmark's search-svc runs with (a throwaway, not a secret).
const PAGE_TOKEN_KEY: &str = "6c6d612d62656e63682d706167652d746f6b656e2d6b65792d30303030303030";

/// The SQL statements one probe runs against the read model; `None` for counts, whose (b)
/// and (c) are the exact GROUPING SETS query (see [`count_sql`]).
fn page_sql(
    organization_id: i64,
    probe: &Probe,
    keys: &Arc<search_svc::PageTokenKeys>,
) -> anyhow::Result<Option<search_svc::SqlQuery>> {
    Ok(match probe {
        Probe::Prospects(request) => Some(search_svc::prospect_search_sql(
            organization_id,
            request,
            keys,
        )?),
        Probe::Companies(request) => Some(search_svc::company_search_sql(
            organization_id,
            request,
            keys,
        )?),
        Probe::Count(_) => None,
    })
}

/// Exact counts of every facet for a count probe, one GROUPING SETS pass over `source`.
fn count_sql(request: &CountProspectsRequest, source: &str) -> String {
    let filter = request.filter.clone().unwrap_or_default();
    let mut conditions = vec!["organization_id = $1".to_owned()];
    if !filter.countries.is_empty() {
        conditions.push(format!(
            "lower(country) = ANY('{{{}}}')",
            filter.countries.join(",").to_lowercase()
        ));
    }
    if !filter.departments.is_empty() {
        conditions.push(format!(
            "lower(department) = ANY('{{{}}}')",
            filter.departments.join(",").to_lowercase()
        ));
    }
    format!(
        "SELECT industry, country, job_title_level, department, \
             employee_size_bucket(min_employees, max_employees) AS bucket, count(*) \
         FROM {source} WHERE {} \
         GROUP BY GROUPING SETS ((industry), (country), (job_title_level), (department), \
             (employee_size_bucket(min_employees, max_employees)), ())",
        conditions.join(" AND ")
    )
}

/// `sql` with each `$n` replaced by its parameter written as a typed literal, for psql, which
/// sends plain text (the simple query protocol). The server writes the literals: each value is
/// bound to `quote_nullable($1)` with the parameter's own type, so what psql sends means exactly
/// what the bound statement does. Every value of the service's SQL is bound, so a `$` followed by
/// digits is always a parameter.
async fn with_literals(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> anyhow::Result<String> {
    let statement = client.prepare(sql).await?;
    let mut literals = Vec::new();
    for (ty, value) in statement.params().iter().zip(params) {
        let quote = client
            .prepare_typed("SELECT quote_nullable($1)", std::slice::from_ref(ty))
            .await?;
        let literal: String = client.query_one(&quote, &[*value]).await?.try_get(0)?;
        literals.push(format!("{literal}::\"{}\".\"{}\"", ty.schema(), ty.name()));
    }
    replace_placeholders(sql, &literals)
}

/// `sql` with each `$n` replaced by `values[n - 1]`.
fn replace_placeholders(sql: &str, values: &[String]) -> anyhow::Result<String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - 1);
        let index: usize = rest[at + 1..at + 1 + digits]
            .parse()
            .with_context(|| format!("a `$` that is not a parameter in {sql}"))?;
        let value = index
            .checked_sub(1)
            .and_then(|i| values.get(i))
            .with_context(|| format!("no parameter ${index} in {sql}"))?;
        out.push_str(value);
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The role the baselines (b) and (b') run as: search-svc's.
const SERVICE_ROLE: &str = "lma_search";

/// The session settings of search-svc that bear on its statements' plans, for the baselines.
fn service_settings() -> String {
    format!(
        "SET work_mem = '{}kB'",
        svc_core::config::DEFAULT_WORK_MEM_KB
    )
}

/// (b'): one psql process as the service's role, with the service's `work_mem`, fed one
/// statement at a time so its runs alternate with those of (a) and (b) and meet the same state
/// of the machine.
struct Psql {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Psql {
    async fn start(psql: &std::path::Path, url: &str) -> anyhow::Result<Psql> {
        let mut child = tokio::process::Command::new(psql)
            .args(["-X", "-q", "-f", "-", "-d", url])
            .env("PGOPTIONS", format!("-c role={SERVICE_ROLE}"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running {}", psql.display()))?;
        let stdin = child.stdin.take().context("psql's standard input")?;
        let stdout = child.stdout.take().context("psql's standard output")?;
        let mut session = Psql {
            child,
            stdin,
            stdout: tokio::io::BufReader::new(stdout).lines(),
        };
        // Results go nowhere; what is left on standard output is one timing line per statement.
        session
            .send(&format!(
                "\\set ON_ERROR_STOP 1\n{};\n\\timing on\n\\o /dev/null\n",
                service_settings()
            ))
            .await?;
        Ok(session)
    }

    async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.stdin.write_all(text.as_bytes()).await?;
        Ok(self.stdin.flush().await?)
    }

    /// Runs `sql` and returns what `\timing` reports: "Time: 0.622 ms", or from a second on
    /// "Time: 1234.567 ms (00:01.235)".
    async fn time(&mut self, sql: &str) -> anyhow::Result<Duration> {
        self.send(&format!("{sql};\n")).await?;
        let Some(line) = self.stdout.next_line().await? else {
            let mut stderr = String::new();
            if let Some(mut pipe) = self.child.stderr.take() {
                pipe.read_to_string(&mut stderr).await?;
            }
            bail!("psql stopped: {stderr}");
        };
        let ms: f64 = line
            .strip_prefix("Time: ")
            .and_then(|time| time.split_whitespace().next())
            .and_then(|ms| ms.parse().ok())
            .with_context(|| format!("psql printed {line:?}, not a time"))?;
        Ok(Duration::from_secs_f64(ms / 1e3))
    }
}

async fn run_sql(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    client.query(sql, params).await?;
    Ok(started.elapsed())
}

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    let (db, admin, dataset) = dataset::load_fresh(args.size).await?;
    let organization_id = dataset.organization_id;
    let key = lmactl::admin::mint_api_key(
        &admin,
        organization_id,
        "bench",
        &[svc_core::Scope::SearchRead],
    )
    .await?
    .key;
    let shutdown = Shutdown::default();
    // The production configuration: API keys cached (the harness turns the cache off for
    // tests of revocation), and a pool sized for the concurrency measured.
    let pool_size = args.pool_size.to_string();
    let share = args.pool_share_per_key.map(|share| share.to_string());
    // The service's page-token key, so the deep page's token opens for (b) and (c) too.
    let keys = Arc::new(search_svc::PageTokenKeys::from_hex(PAGE_TOKEN_KEY, &[])?);
    let search = start_service(
        Service::Search,
        &db.url(),
        &shutdown,
        &[
            "--auth-cache-ttl-secs",
            "10",
            "--database-pool-size",
            &pool_size,
            "--page-token-key",
            PAGE_TOKEN_KEY,
        ]
        .into_iter()
        .chain(
            share
                .as_deref()
                .map(|share| ["--database-pool-share-per-key", share])
                .into_iter()
                .flatten(),
        )
        .collect::<Vec<_>>(),
    )
    .await;
    wait_for_health(&search, ServingStatus::Serving).await;
    let mut client = clients::search_client(search.addr, BearerAuth::key(&key)).await;
    // (b) runs as the service's role, with the service's session settings.
    let sql_client = db.connect_as(SERVICE_ROLE).await;
    sql_client.batch_execute(&service_settings()).await?;

    let mut psql_session = Psql::start(&args.psql, &db.url()).await?;

    let mut queries: Vec<Query> = suite()
        .into_iter()
        .filter(|query| args.only.is_empty() || args.only.iter().any(|o| query.name.contains(o)))
        .collect();
    // The deep page: walk 100 pages of 1,000 to depth 100,000 once, then measure the next page.
    for query in &mut queries {
        if query.name.starts_with("deep page")
            && let Probe::Prospects(request) = &mut query.probe
        {
            let mut walk = SearchProspectsRequest {
                page_size: 1000,
                ..request.clone()
            };
            for _ in 0..100 {
                let page = lma_tests::app::search_prospects(&mut client, walk.clone()).await?;
                walk.page_token = page.end.next_page_token;
            }
            // A token is bound to filter and sort, not to the page size.
            request.page_token = walk.page_token;
        }
    }

    println!(
        "| query | (a) gRPC first hit p50 / p95 ms | (a) gRPC page p50 / p95 ms | (b) SQL read model p50 / p95 ms | (b') psql p50 / p95 ms | (c) base-table JOIN p50 / p95 ms | a/b (p50) | a/b' (p50) | a - b' (p50) ms | c/b (p50) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut page_probes = Vec::new();
    // Per page query: its name, a - b' and b' at p50, in ms.
    let mut overheads: Vec<(&str, f64, f64)> = Vec::new();
    for query in &queries {
        let page = page_sql(organization_id, &query.probe, &keys)?;
        let (read_model_sql, base_sql) = match (&page, &query.probe) {
            (Some(page), _) => (
                page.sql.clone(),
                page.sql
                    .replace("FROM prospect_search_view", "FROM prospect_search_def")
                    .replace("FROM company_summary_view", "FROM company_summary_def"),
            ),
            (None, Probe::Count(request)) => (
                count_sql(request, "prospect_search_view"),
                count_sql(request, "prospect_search_def"),
            ),
            (None, _) => anyhow::bail!("{}: no SQL", query.name),
        };
        let params: Vec<&(dyn ToSql + Sync)> = match &page {
            Some(page) => page.param_refs().collect(),
            None => vec![&organization_id],
        };
        let literal_sql = with_literals(&admin, &read_model_sql, &params).await?;
        let mut first = Latencies::default();
        let mut last = Latencies::default();
        let mut sql = Latencies::default();
        let mut base = Latencies::default();
        let mut psql = Latencies::default();
        for run in 0..args.runs + 5 {
            let grpc = run_grpc(&mut client, &query.probe)
                .await
                .with_context(|| query.name)?;
            let bare = run_sql(&sql_client, &read_model_sql, &params).await?;
            let through_psql = psql_session
                .time(&literal_sql)
                .await
                .with_context(|| query.name)?;
            if run >= 5 {
                first.record(grpc.first);
                last.record(grpc.last);
                sql.record(bare);
                psql.record(through_psql);
            }
        }
        for run in 0..args.base_runs + 1 {
            let elapsed = run_sql(&admin, &base_sql, &params).await?;
            if run >= 1 {
                base.record(elapsed);
            }
        }
        let (a, b, b_psql, c) = (
            last.percentile_ms(0.5),
            sql.percentile_ms(0.5),
            psql.percentile_ms(0.5),
            base.percentile_ms(0.5),
        );
        println!(
            "| {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.0} / {:.0} | {:.2} | {:.2} | {:.2} | {:.0} |",
            query.name,
            first.percentile_ms(0.5),
            first.percentile_ms(0.95),
            a,
            last.percentile_ms(0.95),
            b,
            sql.percentile_ms(0.95),
            b_psql,
            psql.percentile_ms(0.95),
            c,
            base.percentile_ms(0.95),
            a / b,
            a / b_psql,
            a - b_psql,
            c / b,
        );
        if matches!(query.probe, Probe::Prospects(_)) {
            page_probes.push(query.probe.clone());
        }
        if !matches!(query.probe, Probe::Count(_)) {
            overheads.push((query.name, a - b_psql, b_psql));
        }
    }
    print_fast_page_overhead(&overheads);

    if !page_probes.is_empty() {
        throughput(&args, &search, &key, page_probes).await?;
    }
    if args.hidden_suppressions > 0 {
        hidden::run(&args, &db, &admin, organization_id, &mut client, &queries).await?;
    }
    shutdown.trigger();
    search.stopped().await?;
    Ok(())
}

/// Throughput: 32 clients, each cycling through the page queries.
async fn throughput(
    args: &SearchArgs,
    search: &lma_tests::app::RunningService,
    key: &str,
    page_probes: Vec<Probe>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.throughput_secs);
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let probes = page_probes.clone();
        let addr = search.addr;
        let key = key.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut client = clients::search_client(addr, BearerAuth::key(&key)).await;
            let mut done = 0u64;
            let mut refused = 0u64;
            let mut latencies = Latencies::default();
            let mut i = worker;
            while Instant::now() < deadline {
                match run_grpc(&mut client, &probes[i % probes.len()]).await {
                    Ok(timing) => {
                        latencies.record(timing.last);
                        done += 1;
                        i += 1;
                    }
                    // The service sheds load with these two; a well-behaved client backs off
                    // and tries the same query again.
                    Err(error) if is_retryable(&error) => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(error) => return Err(error),
                }
            }
            anyhow::Ok((done, refused, latencies))
        }));
    }
    let mut total = 0;
    let mut refusals = 0;
    let mut latencies = Latencies::default();
    for task in tasks {
        let (done, refused, samples) = task.await??;
        total += done;
        refusals += refused;
        latencies.merge(samples);
    }
    println!(
        "\nthroughput at 32 concurrent clients over {} s: {:.0} pages/s (p50 {:.1} ms, p95 {:.1} ms, \
         p99 {:.1} ms per page; {refusals} calls refused with UNAVAILABLE or RESOURCE_EXHAUSTED and \
         retried)",
        args.throughput_secs,
        total as f64 / args.throughput_secs as f64,
        latencies.percentile_ms(0.5),
        latencies.percentile_ms(0.95),
        latencies.percentile_ms(0.99),
    );
    Ok(())
}

/// The pages the database answers in under [`FAST_PAGE`] (b' at p50) and what the gRPC call adds
/// to each at p50 (a - b'), against [`FAST_PAGE_GOAL`].
fn print_fast_page_overhead(pages: &[(&str, f64, f64)]) {
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    let fast: Vec<_> = pages
        .iter()
        .filter(|(_, _, b_psql)| *b_psql < ms(FAST_PAGE))
        .collect();
    if fast.is_empty() {
        return;
    }
    let goal = ms(FAST_PAGE_GOAL);
    let met = fast
        .iter()
        .filter(|(_, overhead, _)| *overhead <= goal)
        .count();
    let listed: Vec<String> = fast
        .iter()
        .map(|(name, overhead, _)| format!("{name} {overhead:.2}"))
        .collect();
    let (least, most) = fast
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(least, most), page| {
            (least.min(page.1), most.max(page.1))
        });
    println!(
        "\npages psql answers in under {:.0} ms at p50: a - b' at p50 {least:.2}-{most:.2} ms \
         (goal <= {goal:.1} ms: {met} of {} met): {}",
        ms(FAST_PAGE),
        fast.len(),
        listed.join(", "),
    );
}

#[cfg(test)]
mod tests {
    use super::replace_placeholders;

    #[test]
    fn placeholders_are_replaced_by_their_own_values() {
        let values: Vec<String> = (1..=10).map(|n| format!("'v{n}'")).collect();
        let sql = replace_placeholders("SELECT $1, $10 WHERE a = $2 LIMIT $10", &values)
            .expect("every placeholder has a value");
        assert_eq!(sql, "SELECT 'v1', 'v10' WHERE a = 'v2' LIMIT 'v10'");
    }

    #[test]
    fn a_placeholder_without_a_value_is_an_error() {
        let values = vec!["1".to_owned()];
        assert!(replace_placeholders("SELECT $2", &values).is_err());
        assert!(replace_placeholders("SELECT $0", &values).is_err());
        assert!(replace_placeholders("SELECT $", &values).is_err());
    }
}

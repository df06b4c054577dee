//! A large company's rows are re-derived in chunks beside the applies: with a lowered threshold and
//! small chunks, a change to a large company is applied in several chunks and ends equal to the
//! definition; other companies' writes are applied meanwhile; the queue survives a killed
//! refresh-svc and resumes where it stopped; a company changed again and again during a pass
//! converges without starting over; a full rebuild of every model clears it.

use std::time::Duration;

use lma_proto::v1::{GetStatusRequest, ReadModel, RefreshMode};
use lma_tests::app::{RunningService, Service, Shutdown, Tenant, create_tenant_in};
use lma_tests::process::ServiceProcess;
use lma_tests::{TestDatabase, wait};
use tokio_postgres::Client;

use super::{refresh_client, start_refresh, wait_until_consistent};

/// More prospects than this make a company large in these tests.
const LARGE: &str = "100";
/// The phone [`change_phone`] gives a company.
const PHONE: &str = "+1 555 0100";
/// Most rows in one chunk in these tests.
const CHUNK_ROWS: i64 = 50;

/// refresh-svc's flags for a small threshold and small chunks.
fn chunking(chunk_rows: i64) -> [String; 4] {
    [
        "--large-company-prospects".to_owned(),
        LARGE.to_owned(),
        "--rederive-chunk-rows".to_owned(),
        chunk_rows.to_string(),
    ]
}

/// Starts a refresh-svc replica named `name` with the small threshold and chunks of at most
/// `chunk_rows`.
async fn start_chunking(
    db: &TestDatabase,
    shutdown: &Shutdown,
    name: &str,
    chunk_rows: i64,
) -> RunningService {
    let flags = chunking(chunk_rows);
    start_refresh(
        db,
        shutdown,
        name,
        &flags.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await
}

/// Inserts the company `domain` of `tenant` and `prospects` prospects of it, one statement each
/// (a bulk write: the change log names the company whole); returns the company's id.
async fn insert_company(client: &Client, tenant: &Tenant, domain: &str, prospects: i64) -> i64 {
    let company_id: i64 = client
        .query_one(
            "INSERT INTO company (organization_id, domain, name, industry) \
             VALUES ($1, $2, $2, 'Software') RETURNING id",
            &[&tenant.organization_id, &domain],
        )
        .await
        .expect("inserting a company")
        .get(0);
    client
        .execute(
            "INSERT INTO prospect (organization_id, company_id, external_id, first_name, \
                 last_name, email, department) \
             SELECT $1, $2, $3 || '-' || n, 'Person', 'No' || n, 'p' || n || '@' || $3, \
                 (ARRAY['Sales', 'Engineering', 'Finance'])[1 + n % 3] \
             FROM generate_series(1, $4::bigint) AS n",
            &[&tenant.organization_id, &company_id, &domain, &prospects],
        )
        .await
        .expect("inserting prospects");
    company_id
}

/// Changes the company's phone to [`PHONE`], which no search hit shows.
async fn change_phone(client: &Client, company_id: i64) {
    client
        .execute(
            "UPDATE company SET phone = $2 WHERE id = $1",
            &[&company_id, &PHONE],
        )
        .await
        .expect("changing the phone");
}

/// Renames a company in its own transaction; returns that transaction's id (the write's token).
async fn rename(client: &mut Client, company_id: i64, name: &str) -> u64 {
    let transaction = client.transaction().await.expect("begin");
    transaction
        .execute(
            "UPDATE company SET name = $2 WHERE id = $1",
            &[&company_id, &name],
        )
        .await
        .expect("renaming the company");
    let xid: String = transaction
        .query_one("SELECT pg_current_xact_id()::text", &[])
        .await
        .expect("the transaction id")
        .get(0);
    transaction.commit().await.expect("commit");
    xid.parse().expect("an xid8 is a number")
}

/// The company's queued work as the search role sees it (it may read the queue): its organization,
/// `pending_since`, the passes done and how far the current pass is (`None`: all rows done).
async fn queued_work(
    search_role: &Client,
    company_id: i64,
) -> Option<(i64, u64, i32, Option<i64>)> {
    search_role
        .query_opt(
            "SELECT organization_id, pending_since::text, passes, done_up_to \
             FROM company_rederivation WHERE company_id = $1",
            &[&company_id],
        )
        .await
        .expect("reading company_rederivation as lma_search")
        .map(|row| {
            let pending_since: String = row.get(1);
            (
                row.get(0),
                pending_since.parse().expect("an xid8 is a number"),
                row.get(2),
                row.get(3),
            )
        })
}

/// Waits until the company's work is queued and a pass is under way, and returns it.
async fn wait_until_mid_pass(
    search_role: &Client,
    company_id: i64,
) -> (i64, u64, i32, Option<i64>) {
    wait::until(
        "a pass of the large company to be under way",
        Duration::from_secs(20),
        || async {
            match queued_work(search_role, company_id).await {
                Some(work @ (_, _, _, Some(done))) if done > 0 => Ok(work),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}

/// Chunk refreshes of company_prospect_view logged after `after`: (rows written) each. An apply
/// of the change itself names the company and re-derives nothing of it, so every entry is a
/// chunk (the tests write nothing else meanwhile, unless they say so).
async fn chunks_logged(client: &Client, after: i64) -> Vec<i64> {
    client
        .query(
            "SELECT rows_affected FROM materialized_view_log \
             WHERE id > $1 AND view_name = 'company_prospect_view' ORDER BY id",
            &[&after],
        )
        .await
        .expect("reading the refresh log")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn last_log_id(client: &Client) -> i64 {
    client
        .query_one(
            "SELECT coalesce(max(id), 0) FROM materialized_view_log",
            &[],
        )
        .await
        .expect("reading the refresh log")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_a_large_company_is_applied_in_chunks_and_ends_equal_to_its_definition() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let other = create_tenant_in(&db, "globex").await;
    let shutdown = Shutdown::default();
    let refresh = start_chunking(&db, &shutdown, "chunks", CHUNK_ROWS).await;
    let mut admin = db.connect().await;
    let search_role = db.connect_as("lma_search").await;
    const PROSPECTS: i64 = 2_000;
    let big = insert_company(&admin, &tenant, "big.example", PROSPECTS).await;
    insert_company(&admin, &tenant, "small.example", 3).await;
    wait_until_consistent(&db).await;

    let before = last_log_id(&admin).await;
    let token = rename(&mut admin, big, "Big Renamed").await;
    let (organization, pending_since, _, _) = wait_until_mid_pass(&search_role, big).await;
    assert_eq!(organization, tenant.organization_id);
    assert!(
        pending_since <= token,
        "pending_since {pending_since} is a lower bound of the write {token}"
    );
    // GetStatus shows the pending work to its organization only.
    let status = refresh_client(&refresh, &tenant.api_key)
        .await
        .get_status(GetStatusRequest {})
        .await
        .expect("GetStatus")
        .into_inner();
    // Rows exist from queueing to the end of the work: one still there was there during the call.
    if queued_work(&search_role, big).await.is_some() {
        assert_eq!(status.rederiving_companies, 1, "{status:?}");
        let lag = status.rederiving_lag.expect("a lag");
        assert!(lag.seconds > 0 || lag.nanos > 0, "{status:?}");
    }
    let elsewhere = refresh_client(&refresh, &other.api_key)
        .await
        .get_status(GetStatusRequest {})
        .await
        .expect("GetStatus")
        .into_inner();
    assert_eq!(elsewhere.rederiving_companies, 0);

    wait_until_consistent(&db).await;
    assert!(queued_work(&search_role, big).await.is_none());
    let chunks = chunks_logged(&admin, before).await;
    assert!(
        chunks.len() as i64 >= PROSPECTS / CHUNK_ROWS,
        "{} chunks for {PROSPECTS} prospects of at most {CHUNK_ROWS}: {chunks:?}",
        chunks.len()
    );
    assert!(
        chunks.iter().all(|rows| *rows <= CHUNK_ROWS),
        "a chunk wrote more than {CHUNK_ROWS} rows: {chunks:?}"
    );
    assert!(chunks.iter().sum::<i64>() >= PROSPECTS, "{chunks:?}");
    let renamed: i64 = admin
        .query_one(
            "SELECT count(*) FROM prospect_search_view \
             WHERE company_id = $1 AND company_name = 'Big Renamed'",
            &[&big],
        )
        .await
        .expect("counting renamed rows")
        .get(0);
    assert_eq!(renamed, PROSPECTS);
    super::consistency::row_counts_match_in(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_companys_write_is_applied_while_a_large_company_is_pending() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let _refresh = start_chunking(&db, &shutdown, "interleaved", CHUNK_ROWS).await;
    let mut admin = db.connect().await;
    let search_role = db.connect_as("lma_search").await;
    let big = insert_company(&admin, &tenant, "big.example", 5_000).await;
    let small = insert_company(&admin, &tenant, "small.example", 3).await;
    wait_until_consistent(&db).await;

    rename(&mut admin, big, "Big Renamed").await;
    wait_until_mid_pass(&search_role, big).await;
    let written = std::time::Instant::now();
    rename(&mut admin, small, "Small Renamed").await;
    let applied = wait::until(
        "the small company's rename to be applied",
        Duration::from_secs(10),
        || async {
            let renamed: i64 = admin
                .query_one(
                    "SELECT count(*) FROM company_prospect_view \
                     WHERE company_id = $1 AND company_name = 'Small Renamed'",
                    &[&small],
                )
                .await
                .map_err(|error| error.to_string())?
                .get(0);
            if renamed == 3 {
                Ok(written.elapsed())
            } else {
                Err(format!("{renamed} of 3 rows renamed"))
            }
        },
    )
    .await;
    assert!(
        queued_work(&search_role, big).await.is_some(),
        "the large company was still pending when the small one's write was applied \
         (after {applied:?})"
    );
    assert!(applied < Duration::from_secs(2), "took {applied:?}");
    wait_until_consistent(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_changed_during_its_pass_converges_without_starting_over() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let _refresh = start_chunking(&db, &shutdown, "coalescing", 20).await;
    let mut admin = db.connect().await;
    let search_role = db.connect_as("lma_search").await;
    let big = insert_company(&admin, &tenant, "big.example", 3_000).await;
    wait_until_consistent(&db).await;

    let first = rename(&mut admin, big, "Version 0").await;
    let (_, first_bound, _, _) = wait_until_mid_pass(&search_role, big).await;
    assert!(first_bound <= first);
    // Renamed every 100 ms while the pass runs; meanwhile no pass may go back to its start.
    let mut seen = Vec::new();
    let observe = async |seen: &mut Vec<(i32, i64, u64)>| {
        let work = queued_work(&search_role, big).await;
        if let Some((_, pending_since, passes, done)) = work {
            seen.push((passes, done.unwrap_or(i64::MAX), pending_since));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        work.is_some()
    };
    for version in 1..=10 {
        rename(&mut admin, big, &format!("Version {version}")).await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        while tokio::time::Instant::now() < deadline {
            observe(&mut seen).await;
        }
    }
    // And on until the work is done.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while observe(&mut seen).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {seen:?}"
        );
    }
    wait_until_consistent(&db).await;
    for pair in seen.windows(2) {
        let ((passes, done, bound), (next_passes, next_done, next_bound)) = (pair[0], pair[1]);
        assert!(next_passes >= passes, "{seen:?}");
        assert!(next_bound >= bound, "pending_since went back: {seen:?}");
        if next_passes == passes {
            assert!(next_done >= done, "a pass started over: {seen:?}");
            assert_eq!(next_bound, bound, "pending_since moved mid-pass: {seen:?}");
        }
    }
    let passes_seen = seen.iter().map(|(passes, _, _)| *passes).max().unwrap_or(0);
    assert!(
        passes_seen >= 1,
        "changes during the first pass were followed by another: {seen:?}"
    );
    let name: String = admin
        .query_one(
            "SELECT DISTINCT company_name FROM company_prospect_view WHERE company_id = $1",
            &[&big],
        )
        .await
        .expect("one name across the company's rows")
        .get(0);
    assert_eq!(name, "Version 10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_work_survives_a_killed_refresh_svc_and_resumes_where_it_stopped() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let mut admin = db.connect().await;
    let search_role = db.connect_as("lma_search").await;
    const PROSPECTS: i64 = 3_000;
    const ROWS: i64 = 20;
    let env = [
        ("LMA_LARGE_COMPANY_PROSPECTS", LARGE),
        ("LMA_REDERIVE_CHUNK_ROWS", "20"),
        ("LMA_LEADER_RETRY_MS", "200"),
        ("LMA_RECONCILE_INTERVAL_SECS", "0"),
    ];
    let refresh = ServiceProcess::start(Service::Refresh, &db.url(), &env)
        .await
        .expect("starting refresh-svc");
    let big = insert_company(&admin, &tenant, "big.example", PROSPECTS).await;
    wait_until_consistent(&db).await;

    let before = last_log_id(&admin).await;
    rename(&mut admin, big, "Big Renamed").await;
    wait_until_mid_pass(&search_role, big).await;
    refresh.kill().await.expect("SIGKILL refresh-svc");
    let (_, _, passes, done) = queued_work(&search_role, big)
        .await
        .expect("the queued work outlives the process");
    let done = done.expect("killed mid-pass");
    let done_before_kill = chunks_logged(&admin, before).await.len() as i64;
    let remaining: i64 = admin
        .query_one(
            "SELECT count(*) FROM prospect WHERE company_id = $1 AND id > $2",
            &[&big, &done],
        )
        .await
        .expect("counting the prospects left")
        .get(0);
    assert!(remaining > 0 && remaining < PROSPECTS, "{remaining} left");

    let restarted_at = last_log_id(&admin).await;
    let refresh = ServiceProcess::start(Service::Refresh, &db.url(), &env)
        .await
        .expect("restarting refresh-svc");
    wait_until_consistent(&db).await;
    let after_restart = chunks_logged(&admin, restarted_at).await.len() as i64;
    // Resumed at `done`: the chunks left, and the one open-ended last chunk. Starting over
    // would have taken every chunk again.
    assert!(
        after_restart <= remaining / ROWS + 2,
        "{after_restart} chunks after the restart for {remaining} rows left \
         ({done_before_kill} before it, pass {passes})"
    );
    let renamed: i64 = admin
        .query_one(
            "SELECT count(*) FROM company_prospect_view \
             WHERE company_id = $1 AND company_name = 'Big Renamed'",
            &[&big],
        )
        .await
        .expect("counting renamed rows")
        .get(0);
    assert_eq!(renamed, PROSPECTS);
    refresh.kill().await.expect("stopping refresh-svc");
}

/// A full rebuild of every read model (RefreshNow FULL, waited for), which must succeed.
async fn rebuild_every_model(refresh: &RunningService, tenant: &Tenant) {
    let response = refresh_client(refresh, &tenant.api_key)
        .await
        .refresh_now(lma_proto::v1::RefreshNowRequest {
            mode: RefreshMode::Full as i32,
            read_model: ReadModel::Unspecified as i32,
            wait: true,
        })
        .await
        .expect("RefreshNow FULL")
        .into_inner();
    assert!(
        response
            .results
            .iter()
            .all(|result| result.error.is_empty()),
        "{response:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_rebuild_of_every_model_clears_the_work_it_covers() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    // One row per chunk: the pass lasts far longer than the rebuild.
    let refresh = start_chunking(&db, &shutdown, "rebuilt", 1).await;
    let admin = db.connect().await;
    let search_role = db.connect_as("lma_search").await;
    let big = insert_company(&admin, &tenant, "big.example", 3_000).await;
    wait_until_mid_pass(&search_role, big).await;

    rebuild_every_model(&refresh, &tenant).await;
    assert_eq!(
        queued_work(&search_role, big).await,
        None,
        "the rebuild covered the queued work"
    );
    wait_until_consistent(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_hands_a_drifted_large_company_to_chunks() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let refresh = start_chunking(&db, &shutdown, "reconciling", CHUNK_ROWS).await;
    let admin = db.connect().await;
    let big = insert_company(&admin, &tenant, "big.example", 2_000).await;
    let small = insert_company(&admin, &tenant, "small.example", 3).await;
    wait_until_consistent(&db).await;
    admin
        .execute(
            "UPDATE company_prospect_view SET company_name = 'Drifted' \
             WHERE company_id = ANY($1)",
            &[&vec![big, small]],
        )
        .await
        .expect("drifting both companies");

    let response = refresh_client(&refresh, &tenant.api_key)
        .await
        .refresh_now(lma_proto::v1::RefreshNowRequest {
            mode: RefreshMode::Reconcile as i32,
            read_model: ReadModel::CompanyProspect as i32,
            wait: true,
        })
        .await
        .expect("RefreshNow RECONCILE")
        .into_inner();
    let result = &response.results[0];
    assert_eq!(result.error, "", "{result:?}");
    assert_eq!(
        result.keys, 1,
        "the reconcile repaired the small company itself, the large one in chunks: {result:?}"
    );
    wait_until_consistent(&db).await;
}

/// The prospects of `domain` that `search` returns with `min_token`, every page, and the
/// watermark the first page reported.
async fn search_company(
    search: &mut lma_tests::clients::SearchClient,
    domain: &str,
    min_token: &str,
) -> (Vec<lma_proto::v1::ProspectSummary>, u64) {
    let mut request = lma_proto::v1::SearchProspectsRequest {
        filter: Some(lma_proto::v1::ProspectFilter {
            company_domains: vec![domain.to_owned()],
            ..Default::default()
        }),
        page_size: 1_000,
        min_token: min_token.to_owned(),
        ..Default::default()
    };
    let mut prospects = Vec::new();
    let mut watermark = None;
    loop {
        let page = lma_tests::app::search_prospects(search, request.clone())
            .await
            .expect("a search");
        let reported: u64 = page
            .end
            .freshness
            .as_ref()
            .expect("freshness")
            .watermark
            .parse()
            .expect("a watermark is a number");
        watermark.get_or_insert(reported);
        prospects.extend(page.hits.into_iter().filter_map(|hit| hit.prospect));
        if page.end.next_page_token.is_empty() {
            return (prospects, watermark.unwrap_or_default());
        }
        request.page_token = page.end.next_page_token;
    }
}

/// search-svc's side of `pending_since`: a `min_token` wait for a write to a large company lasts
/// until every chunk is done, the company's organization is told a watermark no higher than the
/// pending work's, and another organization is held back by none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_a_large_company_lasts_until_its_chunks_are_done_and_only_for_its_organization()
{
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let other = create_tenant_in(&db, "globex").await;
    let shutdown = Shutdown::default();
    let _refresh = start_chunking(&db, &shutdown, "search-contract", CHUNK_ROWS).await;
    let search = lma_tests::app::start_service(Service::Search, &db.url(), &shutdown, &[]).await;
    lma_tests::app::wait_for_health(
        &search,
        tonic_health::pb::health_check_response::ServingStatus::Serving,
    )
    .await;
    let mut acme =
        lma_tests::clients::search_client(search.addr, lma_tests::BearerAuth::key(&tenant.api_key))
            .await;
    let mut globex =
        lma_tests::clients::search_client(search.addr, lma_tests::BearerAuth::key(&other.api_key))
            .await;
    let mut admin = db.connect().await;
    let search_role = db.connect_as("lma_search").await;
    const PROSPECTS: i64 = 3_000;
    let big = insert_company(&admin, &tenant, "big.example", PROSPECTS).await;
    let elsewhere = insert_company(&admin, &other, "elsewhere.example", 3).await;
    wait_until_consistent(&db).await;

    let token = rename(&mut admin, big, "Big Renamed").await;
    let (_, pending_since, _, _) = wait_until_mid_pass(&search_role, big).await;

    // Mid-pass, without min_token: acme is told at most the pending bound.
    let (_, told) = search_company(&mut acme, "big.example", "").await;
    if queued_work(&search_role, big).await.is_some() {
        assert!(
            told <= pending_since,
            "told {told}, pending since {pending_since}"
        );
    }
    // Meanwhile globex writes and reads its write at once, past the bound acme is held to.
    let other_token = rename(&mut admin, elsewhere, "Elsewhere Renamed").await;
    let started = std::time::Instant::now();
    let (rows, other_told) =
        search_company(&mut globex, "elsewhere.example", &other_token.to_string()).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        rows.iter().all(|p| p.company_name == "Elsewhere Renamed"),
        "{rows:?}"
    );
    assert!(other_told > other_token && other_told > pending_since);
    assert!(
        queued_work(&search_role, big).await.is_some(),
        "the large company was still pending while globex was answered"
    );

    // acme's wait for its rename ends only when every prospect row shows it.
    let (rows, waited_to) = search_company(&mut acme, "big.example", &token.to_string()).await;
    assert!(waited_to > token, "{waited_to} > {token}");
    assert_eq!(rows.len() as i64, PROSPECTS);
    assert!(
        rows.iter().all(|p| p.company_name == "Big Renamed"),
        "a min_token answer showed a prospect of the large company before its chunk"
    );
}

/// The same contract for the company summary, which a large company's pass rewrites last: a
/// `min_token` GetCompany for the write returns the company as written, never the summary from
/// before the pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_a_large_company_summary_lasts_until_its_pass_is_done() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let _refresh = start_chunking(&db, &shutdown, "summary-contract", CHUNK_ROWS).await;
    let search = lma_tests::app::start_service(Service::Search, &db.url(), &shutdown, &[]).await;
    lma_tests::app::wait_for_health(
        &search,
        tonic_health::pb::health_check_response::ServingStatus::Serving,
    )
    .await;
    let mut acme =
        lma_tests::clients::search_client(search.addr, lma_tests::BearerAuth::key(&tenant.api_key))
            .await;
    let mut admin = db.connect().await;
    let search_role = db.connect_as("lma_search").await;
    const PROSPECTS: i64 = 3_000;
    let big = insert_company(&admin, &tenant, "big.example", PROSPECTS).await;
    wait_until_consistent(&db).await;

    let token = rename(&mut admin, big, "Big Renamed").await;
    wait_until_mid_pass(&search_role, big).await;
    let company = acme
        .get_company(lma_proto::v1::GetCompanyRequest {
            company: Some(lma_proto::v1::get_company_request::Company::Domain(
                "big.example".into(),
            )),
            min_token: token.to_string(),
            include_suppressed: false,
        })
        .await
        .expect("GetCompany with min_token")
        .into_inner()
        .company
        .expect("the company");
    assert_eq!(
        company.name, "Big Renamed",
        "a min_token answer showed the summary from before the pass"
    );
    assert_eq!(company.prospect_count, PROSPECTS);
}

/// Incremental refreshes of `view` (applies and chunks) logged after `after`.
async fn refreshes_logged(client: &Client, after: i64, view: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM materialized_view_log \
             WHERE id > $1 AND view_name = $2 AND mode = 'incremental'",
            &[&after, &view],
        )
        .await
        .expect("reading the refresh log")
        .get(0)
}

/// The company's search rows, each as its id, version (xmin) and updated_at, in one digest.
async fn search_rows_digest(client: &Client, company_id: i64) -> (i64, String) {
    let row = client
        .query_one(
            "SELECT count(*), coalesce(md5(string_agg( \
                 prospect_id || ':' || xmin::text || ':' || updated_at::text, ',' \
                 ORDER BY prospect_id)), '') \
             FROM prospect_search_view WHERE company_id = $1",
            &[&company_id],
        )
        .await
        .expect("reading the search rows");
    (row.get(0), row.get(1))
}

/// A company's phone shows in no search hit (company.profile_updated_at stays): its chunks
/// re-derive company_prospect_view and leave prospect_search_view alone, re-deriving none of
/// its rows, and every model still equals its definition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_change_to_a_large_company_rederives_its_prospect_rows_and_no_search_row() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let _refresh = start_chunking(&db, &shutdown, "phone", CHUNK_ROWS).await;
    let admin = db.connect().await;
    const PROSPECTS: i64 = 2_000;
    let big = insert_company(&admin, &tenant, "big.example", PROSPECTS).await;
    wait_until_consistent(&db).await;
    let search_before = search_rows_digest(&admin, big).await;
    assert_eq!(search_before.0, PROSPECTS);
    let before = last_log_id(&admin).await;

    change_phone(&admin, big).await;
    wait_until_consistent(&db).await;

    let chunks = chunks_logged(&admin, before).await;
    assert!(
        chunks.len() as i64 >= PROSPECTS / CHUNK_ROWS,
        "{} chunks of company_prospect_view for {PROSPECTS} prospects: {chunks:?}",
        chunks.len()
    );
    let phones: i64 = admin
        .query_one(
            "SELECT count(*) FROM company_prospect_view \
             WHERE company_id = $1 AND company_phone = $2",
            &[&big, &PHONE],
        )
        .await
        .expect("counting the new phone")
        .get(0);
    assert_eq!(
        phones, PROSPECTS,
        "the phone reached the view that shows it"
    );
    assert_eq!(
        refreshes_logged(&admin, before, "prospect_search_view").await,
        0,
        "a chunk re-derived search rows the phone cannot change"
    );
    assert_eq!(
        search_rows_digest(&admin, big).await,
        search_before,
        "no search row was written"
    );
    super::consistency::row_counts_match_in(&db).await;
}

/// A rename (a profile change) claimed while a phone change's pass is under way: the pass goes
/// on without the search rows, the row is marked for one more pass that re-derives them, and
/// every search row ends with the new name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_during_a_phone_change_pass_reaches_every_search_row() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    // Small chunks: the phone's pass lasts well beyond the rename's apply.
    let _refresh = start_chunking(&db, &shutdown, "profile", 20).await;
    let mut admin = db.connect().await;
    let search_role = db.connect_as("lma_search").await;
    const PROSPECTS: i64 = 3_000;
    let big = insert_company(&admin, &tenant, "big.example", PROSPECTS).await;
    wait_until_consistent(&db).await;
    let before = last_log_id(&admin).await;

    change_phone(&admin, big).await;
    wait_until_mid_pass(&search_role, big).await;
    rename(&mut admin, big, "Renamed Inc").await;
    wait::until(
        "the rename to be claimed",
        Duration::from_secs(10),
        || async {
            match super::pending_changes(&admin).await? {
                0 => Ok(()),
                pending => Err(format!("{pending} change-log rows pending")),
            }
        },
    )
    .await;
    let marks = admin
        .query_opt(
            "SELECT passes, profile, dirty_profile FROM company_rederivation \
             WHERE company_id = $1",
            &[&big],
        )
        .await
        .expect("reading the queued work")
        .map(|row| {
            (
                row.get::<_, i32>(0),
                row.get::<_, bool>(1),
                row.get::<_, bool>(2),
            )
        });
    assert_eq!(
        marks,
        Some((0, false, true)),
        "the phone's pass (passes, profile, dirty_profile) was still under way, leaving the \
         search rows out, and the rename marked the next pass to re-derive them"
    );
    wait_until_consistent(&db).await;

    let (prospect_chunks, search_chunks) = (
        refreshes_logged(&admin, before, "company_prospect_view").await,
        refreshes_logged(&admin, before, "prospect_search_view").await,
    );
    assert!(
        search_chunks > 0 && search_chunks < prospect_chunks,
        "search chunks {search_chunks}, prospect chunks {prospect_chunks}: the phone's pass \
         should have left the search rows alone, the rename's pass not"
    );
    let renamed: i64 = admin
        .query_one(
            "SELECT count(*) FROM prospect_search_view \
             WHERE company_id = $1 AND company_name = 'Renamed Inc'",
            &[&big],
        )
        .await
        .expect("counting renamed search rows")
        .get(0);
    assert_eq!(renamed, PROSPECTS, "every search row shows the new name");
    super::consistency::row_counts_match_in(&db).await;
}

/// Prospects of the company whose summary the tests below catch being computed: enough for the
/// aggregate to take a while (a hundred milliseconds or more).
const SLOW_SUMMARY_PROSPECTS: i64 = 100_000;

/// How often the tests below may race a write against the summary's aggregate before failing.
const SUMMARY_RACE_TRIES: usize = 30;

/// Inserts a company of [`SLOW_SUMMARY_PROSPECTS`] and has a full rebuild take the place of its
/// first pass, which would take longer than the tests' patience; returns the company's id.
async fn insert_rebuilt_company(
    db: &TestDatabase,
    refresh: &RunningService,
    tenant: &Tenant,
    domain: &str,
) -> i64 {
    let admin = db.connect().await;
    let search_role = db.connect_as("lma_search").await;
    let company_id = insert_company(&admin, tenant, domain, SLOW_SUMMARY_PROSPECTS).await;
    wait_until_mid_pass(&search_role, company_id).await;
    rebuild_every_model(refresh, tenant).await;
    company_id
}

/// Changes one prospect of the company (a single prospect's change: its summary is queued), and
/// waits, polling tightly, until a backend computes the company summary's definition without
/// holding the apply lock; returns that backend's pid and query start. `None` when none was seen
/// within a few seconds (the aggregate ended between two polls).
async fn summary_computed_unlocked(
    client: &Client,
    company_id: i64,
    department: &str,
) -> Option<(i32, String)> {
    client
        .execute(
            "UPDATE prospect SET department = $2 \
             WHERE id = (SELECT min(id) FROM prospect WHERE company_id = $1)",
            &[&company_id, &department],
        )
        .await
        .expect("changing a prospect of the large company");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let seen = client
            .query_opt(
                "SELECT a.pid, a.query_start::text FROM pg_stat_activity a \
                 WHERE a.state = 'active' AND a.pid <> pg_backend_pid() \
                     AND a.query LIKE '%company_summary_def%' \
                     AND NOT EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid \
                         AND l.granted AND l.relation = 'refresh_apply_lock'::regclass) \
                 LIMIT 1",
                &[],
            )
            .await
            .expect("reading pg_stat_activity");
        if let Some(row) = seen {
            return Some((row.get(0), row.get(1)));
        }
    }
    None
}

/// Whether the backend `pid` is still running the statement it started at `query_start`.
async fn still_running(client: &Client, (pid, query_start): &(i32, String)) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1 AND state = 'active' \
                 AND query_start::text = $2)",
            &[pid, query_start],
        )
        .await
        .expect("reading pg_stat_activity")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_companys_write_is_applied_while_a_large_company_summary_is_computed() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let refresh = start_chunking(&db, &shutdown, "summary-beside", 10_000).await;
    let mut admin = db.connect().await;
    let watcher = db.connect().await;
    let big = insert_rebuilt_company(&db, &refresh, &tenant, "big.example").await;
    let small = insert_company(&admin, &tenant, "small.example", 3).await;
    wait_until_consistent(&db).await;

    // The aggregate may end before the small write is applied, the more often the busier the
    // machine (about one try in two with both cores taken): enough tries that a pass does not
    // hang on luck, and a failure says which of the two races was lost.
    let (mut applied_during, mut not_seen, mut ended_first) = (false, 0, 0);
    for attempt in 0..SUMMARY_RACE_TRIES {
        let Some(summary) =
            summary_computed_unlocked(&watcher, big, &format!("Dept{attempt}")).await
        else {
            not_seen += 1;
            continue;
        };
        let name = format!("Small {attempt}");
        rename(&mut admin, small, &name).await;
        loop {
            let renamed: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM company_summary_view WHERE company_id = $1 \
                     AND name = $2",
                    &[&small, &name],
                )
                .await
                .expect("reading the small company's summary")
                .get(0);
            if renamed == 1 {
                break;
            }
            if !still_running(&watcher, &summary).await {
                break;
            }
        }
        if still_running(&watcher, &summary).await {
            applied_during = true;
            break;
        }
        ended_first += 1;
        wait_until_consistent(&db).await;
    }
    assert!(
        applied_during,
        "no write of another company was applied while the large company's summary was \
         computed: in {not_seen} tries the summary was not seen computed unlocked, in \
         {ended_first} it ended before the write was applied"
    );
    wait_until_consistent(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prospect_change_claimed_while_the_summary_is_computed_reaches_the_summary() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let refresh = start_chunking(&db, &shutdown, "summary-raced", 10_000).await;
    let admin = db.connect().await;
    let watcher = db.connect().await;
    let big = insert_rebuilt_company(&db, &refresh, &tenant, "big.example").await;
    wait_until_consistent(&db).await;

    // At least five rounds, more until one raced.
    let mut raced = 0;
    for attempt in 0..SUMMARY_RACE_TRIES {
        if raced > 0 && attempt >= 5 {
            break;
        }
        let Some(summary) =
            summary_computed_unlocked(&watcher, big, &format!("Before{attempt}")).await
        else {
            continue;
        };
        // A department no prospect had: the summary computed so far cannot show it.
        let department = format!("Raced{attempt}");
        admin
            .execute(
                "UPDATE prospect SET department = $2 \
                 WHERE id = (SELECT max(id) FROM prospect WHERE company_id = $1)",
                &[&big, &department],
            )
            .await
            .expect("changing another prospect of the large company");
        if still_running(&watcher, &summary).await {
            raced += 1;
        }
        // Compares every model with its definition, once the queue is empty.
        wait_until_consistent(&db).await;
        let departments: Vec<String> = watcher
            .query_one(
                "SELECT departments::text[] FROM company_summary_view WHERE company_id = $1",
                &[&big],
            )
            .await
            .expect("reading the summary")
            .get(0);
        assert!(
            departments.contains(&department),
            "the summary misses {department}: {departments:?}"
        );
    }
    assert!(
        raced > 0,
        "no change arrived while the summary was computed"
    );
}

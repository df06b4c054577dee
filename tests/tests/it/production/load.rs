//! 32 concurrent searchers over real sockets while full rebuilds of every read model repeat and
//! CSV imports stream in: no search fails, every page is well formed, and no count falls below
//! what the import had committed before the count was asked for (the count waits for that
//! commit through its consistency token) or below what the same searcher saw before.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use lma_proto::v1::import_csv_request::Part;
use lma_proto::v1::import_csv_response::Message;
use lma_proto::v1::{
    CountProspectsRequest, CsvImportOptions, ImportCsvRequest, ProspectFilter, ReadModel,
    RefreshMode, RefreshNowRequest, SearchProspectsRequest,
};
use lma_tests::app::{
    Service, Shutdown, create_tenant_in, search_prospects, start_service, wait_for_health,
};
use lma_tests::clients::{self, BearerAuth, IngestClient};
use lma_tests::latency::Latencies;
use lma_tests::{TestDatabase, bulk};
use tokio::sync::watch;
use tonic_health::pb::health_check_response::ServingStatus;

const SEARCHERS: usize = 32;
/// Prospects present before the load starts.
const PRELOADED: i64 = 3_000;
/// Rows per CSV import; imports repeat, a pause apart, until the searchers stop.
const IMPORT_ROWS: usize = 300;
const IMPORT_PAUSE: Duration = Duration::from_millis(200);
/// At most this many imports: the tenant stays below search-svc's exact-count limit (20,000),
/// so every count is exact and can be checked against what was committed.
const MAX_IMPORTS: usize = 40;
/// How long the searchers run.
const LOAD_TIME: Duration = Duration::from_secs(8);
const PAGE_SIZE: u32 = 50;

/// What the imports had committed, as the searchers may rely on it.
#[derive(Clone, Debug, Default)]
struct Committed {
    /// Prospects of the tenant known to be committed.
    prospects: i64,
    /// Consistency token of that commit ("" before the first).
    token: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_stay_correct_during_full_rebuilds_and_an_import() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    bulk::insert_prospects(&db, tenant.organization_id, 300, PRELOADED).await;
    bulk::build_read_models(&db).await;
    let shutdown = Shutdown::default();
    let url = db.url();
    // Small ingest transactions: many commits, each with a token, while the load runs. A
    // search pool that 32 clients can share without waiting out the pool timeout.
    let ingest = start_service(
        Service::Ingest,
        &url,
        &shutdown,
        &["--ingest-batch-rows", "50"],
    )
    .await;
    let search = start_service(
        Service::Search,
        &url,
        &shutdown,
        &["--database-pool-size", "8"],
    )
    .await;
    let refresh = start_service(Service::Refresh, &url, &shutdown, &[]).await;
    for running in [&ingest, &search, &refresh] {
        wait_for_health(running, ServingStatus::Serving).await;
    }
    let auth = BearerAuth::key(&tenant.api_key);
    let (committed_tx, committed) = watch::channel(Committed {
        prospects: PRELOADED,
        token: String::new(),
    });

    let started = Instant::now();
    let deadline = started + LOAD_TIME;
    let mut searchers = Vec::new();
    for searcher in 0..SEARCHERS {
        let committed = committed.clone();
        let auth = auth.clone();
        let addr = search.addr;
        searchers.push(tokio::spawn(async move {
            search_until(addr, auth, committed, deadline, searcher).await
        }));
    }
    let rebuilds = {
        let mut client = clients::refresh_client(refresh.addr, auth.clone()).await;
        tokio::spawn(async move {
            let mut done = 0;
            while Instant::now() < deadline {
                client
                    .refresh_now(RefreshNowRequest {
                        mode: RefreshMode::Full as i32,
                        read_model: ReadModel::Unspecified as i32,
                        wait: true,
                    })
                    .await
                    .map_err(|status| format!("RefreshNow FULL: {status}"))?;
                done += 1;
            }
            Ok::<_, String>(done)
        })
    };
    let imports = {
        let mut client = clients::ingest_client(ingest.addr, auth.clone()).await;
        tokio::spawn(async move {
            let mut imported = 0;
            let mut batch = 0;
            while Instant::now() < deadline && batch < MAX_IMPORTS {
                imported += import(&mut client, batch, PRELOADED + imported, &committed_tx).await?;
                batch += 1;
                tokio::time::sleep(IMPORT_PAUSE).await;
            }
            Ok::<_, String>(imported)
        })
    };

    let mut latencies = Latencies::default();
    let mut errors = Vec::new();
    for searcher in searchers {
        let (samples, mut failed) = searcher.await.expect("a searcher panicked");
        latencies.merge(samples);
        errors.append(&mut failed);
    }
    let elapsed = started.elapsed();
    let rebuilds = rebuilds.await.expect("the rebuild task panicked");
    let imported = imports.await.expect("the import task panicked");
    println!(
        "{SEARCHERS} searchers during full rebuilds ({rebuilds:?}) and imports ({imported:?} \
         rows): {} calls in {:.1} s, {:.0} calls/s, {latencies}",
        latencies.count(),
        elapsed.as_secs_f64(),
        latencies.rate(elapsed)
    );
    assert!(
        errors.is_empty(),
        "{} of {} searches failed, first: {:?}",
        errors.len(),
        latencies.count() + errors.len(),
        &errors[..errors.len().min(5)]
    );
    let rebuilds = rebuilds.expect("full rebuilds failed");
    let imported = imported.expect("imports failed");
    assert!(rebuilds >= 1, "no full rebuild completed during the load");
    assert!(imported > 0, "nothing was imported during the load");
    assert!(latencies.count() >= SEARCHERS, "too few searches completed");

    // Every imported row is searchable once the last import's token is applied.
    let last = committed.borrow().clone();
    assert_eq!(last.prospects, PRELOADED + imported);
    let mut client = clients::search_client(search.addr, auth).await;
    let total = client
        .count_prospects(CountProspectsRequest {
            min_token: last.token,
            ..Default::default()
        })
        .await
        .expect("the final count")
        .into_inner()
        .total;
    assert_eq!(total, PRELOADED + imported);
    shutdown.trigger();
    for running in [ingest, search, refresh] {
        running.stopped().await.expect("a service failed");
    }
}

/// One searcher: alternates a page of SearchProspects and a CountProspects that waits for the
/// latest committed import batch, checking each answer. Returns the latencies of the calls that
/// succeeded and a description of every failed or wrong one.
async fn search_until(
    addr: std::net::SocketAddr,
    auth: BearerAuth,
    committed: watch::Receiver<Committed>,
    deadline: Instant,
    searcher: usize,
) -> (Latencies, Vec<String>) {
    let mut client = clients::search_client(addr, auth).await;
    let mut latencies = Latencies::default();
    let mut errors = Vec::new();
    let mut seen_total = 0;
    let mut call = searcher;
    while Instant::now() < deadline {
        let started = Instant::now();
        let outcome = if call.is_multiple_of(2) {
            let request = SearchProspectsRequest {
                filter: Some(ProspectFilter::default()),
                page_size: PAGE_SIZE,
                ..Default::default()
            };
            match search_prospects(&mut client, request).await {
                Ok(page) => {
                    let ids: HashSet<&str> = page
                        .hits
                        .iter()
                        .filter_map(|hit| hit.prospect.as_ref())
                        .map(|prospect| prospect.prospect_id.as_str())
                        .collect();
                    if page.hits.len() != PAGE_SIZE as usize {
                        Err(format!(
                            "a full page expected, got {} hits",
                            page.hits.len()
                        ))
                    } else if ids.len() != page.hits.len() {
                        Err("a page repeats a prospect or has a hit without one".to_owned())
                    } else if page.end.next_page_token.is_empty() {
                        Err("a full first page without a next page token".to_owned())
                    } else {
                        Ok(())
                    }
                }
                Err(status) => Err(format!("SearchProspects: {status}")),
            }
        } else {
            let floor = committed.borrow().clone();
            let request = CountProspectsRequest {
                min_token: floor.token,
                ..Default::default()
            };
            match client.count_prospects(request).await {
                Ok(response) => {
                    let response = response.into_inner();
                    let seen_before = seen_total;
                    seen_total = seen_total.max(response.total);
                    if response.total_is_estimate {
                        Err(format!(
                            "an estimate ({}) for a small tenant",
                            response.total
                        ))
                    } else if response.total < floor.prospects.max(seen_before) {
                        Err(format!(
                            "count {} went below committed {} or seen before {seen_before}",
                            response.total, floor.prospects
                        ))
                    } else {
                        Ok(())
                    }
                }
                Err(status) => Err(format!("CountProspects: {status}")),
            }
        };
        match outcome {
            Ok(()) => latencies.record(started.elapsed()),
            Err(error) => errors.push(error),
        }
        call += 1;
    }
    (latencies, errors)
}

/// Imports IMPORT_ROWS new prospects as CSV file number `batch`, publishing each committed
/// batch with its token; `before` prospects were committed before this import. Returns the
/// rows inserted.
async fn import(
    client: &mut IngestClient,
    batch: usize,
    before: i64,
    committed: &watch::Sender<Committed>,
) -> Result<i64, String> {
    let mut csv = String::from("external_id,first_name,last_name,email,company_name,domain\n");
    for row in 0..IMPORT_ROWS {
        csv.push_str(&format!(
            "load-{batch}-{row},Lee,Load {row},lee.{batch}.{row}@load{batch}-{}.com,\
             Load {batch} {},load{batch}-{}.com\n",
            row % 20,
            row % 20,
            row % 20
        ));
    }
    let mut requests = vec![ImportCsvRequest {
        part: Some(Part::Options(CsvImportOptions {
            file_name: format!("load-{batch}.csv"),
            ..Default::default()
        })),
    }];
    requests.extend(csv.as_bytes().chunks(4096).map(|chunk| ImportCsvRequest {
        part: Some(Part::Chunk(chunk.to_vec())),
    }));
    let mut stream = client
        .import_csv(tokio_stream::iter(requests))
        .await
        .map_err(|status| format!("ImportCsv: {status}"))?
        .into_inner();
    let mut report = None;
    while let Some(message) = stream
        .message()
        .await
        .map_err(|status| format!("ImportCsv stream: {status}"))?
    {
        match message.message {
            Some(Message::Progress(progress)) if !progress.consistency_token.is_empty() => {
                committed.send_replace(Committed {
                    prospects: before + progress.rows_accepted as i64,
                    token: progress.consistency_token,
                });
            }
            Some(Message::Progress(_) | Message::Header(_)) => {}
            Some(Message::Report(last)) => report = Some(last),
            None => return Err("an empty ImportCsv message".to_owned()),
        }
    }
    let summary = report
        .and_then(|report| report.summary)
        .ok_or("ImportCsv ended without a report")?;
    if summary.inserted != IMPORT_ROWS as u64 || summary.rejected != 0 {
        return Err(format!("import {batch}: {summary:?}"));
    }
    committed.send_replace(Committed {
        prospects: before + IMPORT_ROWS as i64,
        token: summary.consistency_token,
    });
    Ok(IMPORT_ROWS as i64)
}

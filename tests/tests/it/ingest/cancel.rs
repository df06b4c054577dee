//! Calls that end without a clean end of their stream: ImportCsv and IngestProspects abandoned
//! mid-record and mid-batch keep exactly the batches committed before, roll back the batch being
//! written, and never store the record that was cut; sending the same input again then completes it
//! (docs/INGEST.md, "A call that stops part way").
//!
//! Each test runs ingest-svc with batches of 2 rows and holds, in a transaction of its own, a
//! prospect key of the second batch: that batch's merge then waits on the lock, in flight,
//! when the client goes away. The service must cancel it (the lock wait ends while the test
//! still holds the lock), so every step waits on something observable, never on a sleep.

use std::net::SocketAddr;
use std::time::Duration;

use lma_proto::v1::import_csv_request::Part;
use lma_proto::v1::import_csv_response::Message;
use lma_proto::v1::{
    CsvEncoding, CsvImportOptions, ImportCsvRequest, IngestProspectsRequest, ProspectRecord,
};
use lma_tests::app::{
    RunningService, Service, Shutdown, Tenant, create_tenant_in, start_service, wait_for_health,
};
use lma_tests::{BearerAuth, TestDatabase};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic_health::pb::health_check_response::ServingStatus;

use super::count_in;

/// The progress message of the first committed batch, after the header message.
async fn first_progress(
    responses: &mut tonic::Streaming<lma_proto::v1::ImportCsvResponse>,
) -> lma_proto::v1::ImportProgress {
    let header = responses
        .message()
        .await
        .expect("the header message")
        .and_then(|message| message.message);
    assert!(matches!(header, Some(Message::Header(_))), "{header:?}");
    let first = responses
        .message()
        .await
        .expect("a progress message")
        .and_then(|message| message.message);
    let Some(Message::Progress(committed)) = first else {
        panic!("expected progress after the first batch, got {first:?}");
    };
    committed
}

const WAIT: Duration = Duration::from_secs(20);

/// ingest-svc writing batches of two rows, on a fresh database.
struct Setup {
    db: TestDatabase,
    tenant: Tenant,
    ingest: RunningService,
    shutdown: Shutdown,
}

async fn setup() -> Setup {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let ingest = start_service(
        Service::Ingest,
        &db.url(),
        &shutdown,
        &["--ingest-batch-rows", "2"],
    )
    .await;
    wait_for_health(&ingest, ServingStatus::Serving).await;
    Setup {
        db,
        tenant,
        ingest,
        shutdown,
    }
}

impl Setup {
    async fn stop(self) {
        self.shutdown.trigger();
        self.ingest
            .stopped()
            .await
            .expect("ingest-svc stops cleanly");
    }

    /// Inserts, without committing, the prospect ("crm", `external_id`): a batch that writes
    /// the same key waits for this transaction.
    async fn hold_key(&self, external_id: &str) -> tokio_postgres::Client {
        let holder = self.db.connect().await;
        holder
            .batch_execute("BEGIN")
            .await
            .expect("the holder's transaction");
        holder
            .execute(
                "WITH c AS (INSERT INTO company (organization_id, domain) \
                            VALUES ($1, 'holder.io') RETURNING id) \
                 INSERT INTO prospect (organization_id, company_id, external_source, \
                                       external_id, email) \
                 SELECT $1, id, 'crm', $2, 'held@holder.io' FROM c",
                &[&self.tenant.organization_id, &external_id],
            )
            .await
            .expect("holding the key");
        holder
    }

    /// Waits until some backend waits on a lock (`waiting`) or none does.
    async fn until_lock_waits(&self, waiting: bool) {
        let monitor = self.db.connect().await;
        let what = if waiting {
            "a batch to wait on the held key"
        } else {
            "ingest-svc to cancel the batch waiting on the held key"
        };
        lma_tests::wait::until(what, WAIT, || async {
            let waits: i64 = monitor
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .map_err(|error| error.to_string())?
                .get(0);
            if (waits > 0) == waiting {
                Ok(())
            } else {
                Err(format!("{waits} backends wait on a lock"))
            }
        })
        .await;
    }

    /// External ids of the stored prospects, and domains of the stored companies.
    async fn stored(&self) -> (Vec<String>, Vec<String>) {
        let client = self.db.connect().await;
        let column = |sql: &'static str| {
            let client = &client;
            async move {
                client
                    .query(sql, &[])
                    .await
                    .unwrap_or_else(|error| panic!("{sql}: {error}"))
                    .iter()
                    .map(|row| row.get::<_, String>(0))
                    .collect::<Vec<_>>()
            }
        };
        (
            column("SELECT external_id FROM prospect ORDER BY external_id").await,
            column("SELECT domain FROM company ORDER BY domain").await,
        )
    }
}

/// A TCP proxy in front of a service whose connections the test can cut, as when the client
/// process dies or the network drops: the service sees the connection end in mid-call, with
/// no clean end of the request stream.
struct CuttableProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
}

impl CuttableProxy {
    async fn start(upstream: SocketAddr) -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (cut, _) = watch::channel(false);
        let cut_signal = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = cut_signal.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                    // Both sockets close here.
                });
            }
        });
        CuttableProxy { addr, cut }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }
}

fn record(n: u32, domain: &str) -> ProspectRecord {
    ProspectRecord {
        external_source: "crm".into(),
        external_id: format!("p{n}"),
        email: format!("pat{n}@{domain}"),
        ..Default::default()
    }
}

fn owned(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

/// The connection of an ImportCsv dies after the first batch was committed and reported,
/// while the second is being written, the third is half filled and the last line half sent.
#[tokio::test]
async fn an_import_cut_off_mid_record_keeps_only_the_batches_reported_committed() {
    let setup = setup().await;
    let holder = setup.hold_key("p3").await;
    let proxy = CuttableProxy::start(setup.ingest.addr).await;
    let mut client =
        lma_tests::clients::ingest_client(proxy.addr, BearerAuth::key(&setup.tenant.api_key)).await;

    let (upload, requests) = mpsc::channel(8);
    let options = CsvImportOptions {
        file_name: "cut.csv".into(),
        external_source: "crm".into(),
        // Declared: an undeclared file is parsed once 64 KiB arrived or the upload ended.
        encoding: CsvEncoding::Utf8 as i32,
        ..Default::default()
    };
    // p1 p2: batch 1. p3 p4: batch 2, waits on the held p3. p5: batch 3, unfinished. p6: the
    // cut record; "pat6@six.co" would be a valid (wrong) address if it were taken as complete.
    let file = "external_id,email\n\
                p1,pat1@one.io\np2,pat2@two.io\n\
                p3,pat3@three.io\np4,pat4@four.io\n\
                p5,pat5@five.io\np6,pat6@six.co";
    for part in [
        Part::Options(options),
        Part::Chunk(file.as_bytes().to_vec()),
    ] {
        upload
            .send(ImportCsvRequest { part: Some(part) })
            .await
            .expect("queueing the upload");
    }
    let mut responses = client
        .import_csv(ReceiverStream::new(requests))
        .await
        .expect("ImportCsv starts")
        .into_inner();
    let committed = first_progress(&mut responses).await;
    assert_eq!(committed.rows_accepted, 2, "{committed:?}");
    assert!(!committed.consistency_token.is_empty(), "{committed:?}");
    setup.until_lock_waits(true).await;

    // The client goes away. `upload` stays open: the service must not see a clean end.
    proxy.cut();
    setup.until_lock_waits(false).await;
    let after = responses.message().await;
    assert!(
        after.is_err(),
        "the call ended without its report: {after:?}"
    );
    holder
        .batch_execute("ROLLBACK")
        .await
        .expect("releasing the key");
    drop(upload);

    // Exactly the batch reported committed: not the one in flight, not the unfinished one,
    // not the cut record.
    let (prospects, companies) = setup.stored().await;
    assert_eq!(prospects, owned(&["p1", "p2"]));
    assert_eq!(companies, owned(&["one.io", "two.io"]));
    assert_eq!(
        prospects.len() as u64,
        committed.rows_accepted,
        "what the progress reported"
    );
    let token: i64 = committed
        .consistency_token
        .parse()
        .expect("a numeric token");
    assert!(
        count_in(&setup.db, "SELECT max(xmin::text::bigint) FROM prospect").await <= token,
        "a row newer than the reported token"
    );

    // Resuming is importing the whole file again: what is stored comes back unchanged.
    let mut direct = lma_tests::clients::ingest_client(
        setup.ingest.addr,
        BearerAuth::key(&setup.tenant.api_key),
    )
    .await;
    let whole = file.replace("pat6@six.co", "pat6@six.com\n");
    let (report, _) = super::import_csv(
        &mut direct,
        CsvImportOptions {
            external_source: "crm".into(),
            ..Default::default()
        },
        whole.as_bytes(),
    )
    .await
    .expect("the import again");
    let summary = report.summary.expect("a summary");
    assert_eq!(
        (summary.inserted, summary.unchanged, summary.rejected),
        (4, 2, 0),
        "{summary:?}"
    );
    assert_eq!(
        count_in(
            &setup.db,
            "SELECT count(*) FROM prospect WHERE external_id = 'p6' AND email = 'pat6@six.com'"
        )
        .await,
        1
    );
    setup.stop().await;
}

/// An IngestProspects call dropped before it half-closed its stream: the batch committed
/// before stays, the one being written is rolled back, the unfinished one is never written.
#[tokio::test]
async fn an_ingest_stream_dropped_before_its_end_keeps_only_committed_batches() {
    let setup = setup().await;
    let holder = setup.hold_key("p3").await;
    let mut client = lma_tests::clients::ingest_client(
        setup.ingest.addr,
        BearerAuth::key(&setup.tenant.api_key),
    )
    .await;
    let sent = vec![
        record(1, "one.io"),
        record(2, "two.io"),
        record(3, "three.io"),
        record(4, "four.io"),
        record(5, "five.io"),
    ];
    let (records, requests) = mpsc::channel(8);
    records
        .send(IngestProspectsRequest {
            records: sent.clone(),
        })
        .await
        .expect("queueing the records");
    let call =
        tokio::spawn(async move { client.ingest_prospects(ReceiverStream::new(requests)).await });

    // The call answers only at its end: the first batch shows in the table instead.
    let monitor = setup.db.connect().await;
    lma_tests::wait::until("the first batch to commit", WAIT, || async {
        let stored: i64 = monitor
            .query_one("SELECT count(*) FROM prospect", &[])
            .await
            .map_err(|error| error.to_string())?
            .get(0);
        if stored == 2 {
            Ok(())
        } else {
            Err(format!("{stored} prospects stored"))
        }
    })
    .await;
    setup.until_lock_waits(true).await;

    // Dropping the call resets its stream; `records` stays open so that it cannot half-close.
    call.abort();
    let ended = call.await;
    assert!(
        ended
            .as_ref()
            .is_err_and(tokio::task::JoinError::is_cancelled),
        "{ended:?}"
    );
    setup.until_lock_waits(false).await;
    holder
        .batch_execute("ROLLBACK")
        .await
        .expect("releasing the key");
    drop(records);

    let (prospects, companies) = setup.stored().await;
    assert_eq!(prospects, owned(&["p1", "p2"]));
    assert_eq!(companies, owned(&["one.io", "two.io"]));

    // Resuming is sending the records again: what is stored comes back unchanged.
    let mut client = lma_tests::clients::ingest_client(
        setup.ingest.addr,
        BearerAuth::key(&setup.tenant.api_key),
    )
    .await;
    let summary = client
        .ingest_prospects(tokio_stream::iter([IngestProspectsRequest {
            records: sent,
        }]))
        .await
        .expect("sending again")
        .into_inner()
        .summary
        .expect("a summary");
    assert_eq!(
        (summary.inserted, summary.unchanged, summary.rejected),
        (3, 2, 0),
        "{summary:?}"
    );
    setup.stop().await;
}

/// A client that sets a deadline and then neither ends nor resets its upload (tonic's own
/// client does not reset a call whose answer has begun): at the deadline the service stops the
/// import itself, rolls back the batch in flight and answers DEADLINE_EXCEEDED.
#[tokio::test]
async fn an_import_past_its_deadline_keeps_only_the_batches_reported_committed() {
    let setup = setup().await;
    let holder = setup.hold_key("p3").await;
    let mut client = lma_tests::clients::ingest_client(
        setup.ingest.addr,
        BearerAuth::key(&setup.tenant.api_key),
    )
    .await;
    let (upload, requests) = mpsc::channel(8);
    let options = CsvImportOptions {
        file_name: "late.csv".into(),
        external_source: "crm".into(),
        encoding: CsvEncoding::Utf8 as i32,
        ..Default::default()
    };
    let file = "external_id,email\n\
                p1,pat1@one.io\np2,pat2@two.io\n\
                p3,pat3@three.io\np4,pat4@four.io\n\
                p5,pat5@five.io\n";
    for part in [
        Part::Options(options),
        Part::Chunk(file.as_bytes().to_vec()),
    ] {
        upload
            .send(ImportCsvRequest { part: Some(part) })
            .await
            .expect("queueing the upload");
    }
    let mut request = tonic::Request::new(ReceiverStream::new(requests));
    request.set_timeout(Duration::from_secs(3));
    let mut responses = client
        .import_csv(request)
        .await
        .expect("ImportCsv starts")
        .into_inner();
    let committed = first_progress(&mut responses).await;
    assert_eq!(committed.rows_accepted, 2, "{committed:?}");

    // The upload stays open and the second batch waits on the held key until the deadline.
    let status = loop {
        match responses.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the import ended without an error"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    setup.until_lock_waits(false).await;
    holder
        .batch_execute("ROLLBACK")
        .await
        .expect("releasing the key");
    drop(upload);
    let (prospects, _) = setup.stored().await;
    assert_eq!(prospects, owned(&["p1", "p2"]));
    setup.stop().await;
}

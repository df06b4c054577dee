//! IngestProspects and ImportCsv against real PostgreSQL: counts, re-ingestion, rejections,
//! and concurrent imports with overlapping domains.

use lma_proto::v1::{
    CompanyRecord, CsvImportOptions, ImportReport, IngestProspectsRequest, IngestSummary,
    ProspectRecord,
};
use lma_tests::clients::IngestClient;
use lma_tests::spawn_app;

use super::{count_in, import_csv};

fn record(id: u64, domain: &str) -> ProspectRecord {
    ProspectRecord {
        external_source: "crm".into(),
        external_id: format!("p{id}"),
        first_name: "Pat".into(),
        last_name: format!("N{id}"),
        email: format!("pat{id}@{domain}"),
        ..Default::default()
    }
}

async fn ingest(client: &mut IngestClient, records: Vec<ProspectRecord>) -> IngestSummary {
    let requests: Vec<IngestProspectsRequest> = records
        .chunks(100)
        .map(|chunk| IngestProspectsRequest {
            records: chunk.to_vec(),
        })
        .collect();
    client
        .ingest_prospects(tokio_stream::iter(requests))
        .await
        .unwrap_or_else(|status| panic!("IngestProspects: {status}"))
        .into_inner()
        .summary
        .expect("a summary")
}

/// ImportCsv of `csv` with default options (file name leads.csv); report and progress count.
async fn import(
    client: &mut IngestClient,
    csv: &[u8],
) -> Result<(ImportReport, usize), tonic::Status> {
    let (report, progress) = import_csv(client, CsvImportOptions::default(), csv).await?;
    Ok((report, progress.len()))
}

async fn count(app: &lma_tests::TestApp, sql: &str) -> i64 {
    count_in(&app.db, sql).await
}

#[tokio::test]
async fn reingesting_the_same_records_changes_nothing() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let records: Vec<ProspectRecord> = (0..250)
        .map(|i| record(i, &format!("firm{}.com", i % 25)))
        .collect();
    let first = ingest(&mut client, records.clone()).await;
    assert_eq!(
        (first.received, first.inserted, first.rejected),
        (250, 250, 0)
    );
    assert_eq!(first.companies_created, 25);
    assert!(!first.consistency_token.is_empty());
    let again = ingest(&mut client, records.clone()).await;
    assert_eq!(
        (again.inserted, again.updated, again.unchanged),
        (0, 0, 250)
    );
    let mut changed = records;
    changed[3].job_title = "CTO".into();
    let third = ingest(&mut client, changed).await;
    assert_eq!((third.updated, third.unchanged), (1, 249));
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 250);
    assert_eq!(count(&app, "SELECT count(*) FROM company").await, 25);
}

/// New people at companies already stored (the next file of a vendor): the import meets the
/// stored companies and merges them, while its prospects, all new, are still inserted as new;
/// every one lands once, and a company whose values changed is updated.
#[tokio::test]
async fn new_people_at_stored_companies_are_all_inserted_and_the_companies_merged() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let domain = |i: u64| format!("known{}.com", i % 40);
    let first: Vec<ProspectRecord> = (0..400).map(|i| record(i, &domain(i))).collect();
    let stored = ingest(&mut client, first).await;
    assert_eq!((stored.inserted, stored.companies_created), (400, 40));

    let mut next: Vec<ProspectRecord> = (400..2_400).map(|i| record(i, &domain(i))).collect();
    for record in next.iter_mut().filter(|r| r.email.ends_with("@known7.com")) {
        record.company = Some(CompanyRecord {
            name: "Known Seven Ltd".into(),
            ..Default::default()
        });
    }
    let summary = ingest(&mut client, next).await;
    assert_eq!(
        (
            summary.inserted,
            summary.updated,
            summary.unchanged,
            summary.rejected
        ),
        (2_000, 0, 0, 0)
    );
    assert_eq!(
        (summary.companies_created, summary.companies_updated),
        (0, 1)
    );
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 2_400);
    assert_eq!(count(&app, "SELECT count(*) FROM company").await, 40);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM prospect p JOIN company c ON c.id = p.company_id \
             WHERE c.domain = 'known7.com' AND c.name = 'Known Seven Ltd'"
        )
        .await,
        60
    );
}

/// A batch of 3,000 rows is written as two concurrent transactions split by company domain
/// (LMA_INGEST_WRITE_CONNECTIONS defaults to 2): every row lands once, a prospect moving to a
/// company of the other part moves, and the token covers both transactions.
#[tokio::test]
async fn a_batch_split_across_connections_stores_every_row_once() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let records: Vec<ProspectRecord> = (0..3_000)
        .map(|i| record(i, &format!("split{}.com", i % 300)))
        .collect();
    let first = ingest(&mut client, records.clone()).await;
    assert_eq!(
        (first.inserted, first.rejected, first.companies_created),
        (3_000, 0, 300)
    );
    let token: u64 = first.consistency_token.parse().expect("a numeric token");
    let newest_write = count(
        &app,
        "SELECT max(xmin::text::bigint) FROM (SELECT xmin FROM prospect UNION ALL SELECT xmin FROM company) w",
    )
    .await;
    assert!(
        token >= newest_write as u64,
        "token {token} is older than a write of the import ({newest_write})"
    );

    let mut changed = records;
    for record in changed.iter_mut().take(100) {
        record.job_title = "CTO".into();
    }
    // 50 prospects move to a company of their own, which may hash to either part.
    for (n, record) in changed.iter_mut().skip(100).take(50).enumerate() {
        record.email = format!("moved{n}@newhome{n}.com");
    }
    let again = ingest(&mut client, changed).await;
    assert_eq!(
        (
            again.inserted,
            again.updated,
            again.unchanged,
            again.companies_created
        ),
        (0, 150, 2_850, 50)
    );
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 3_000);
    assert_eq!(count(&app, "SELECT count(*) FROM company").await, 350);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM prospect p JOIN company c ON c.id = p.company_id \
             WHERE c.domain LIKE 'newhome%' AND p.email LIKE 'moved%@' || c.domain"
        )
        .await,
        50
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM prospect WHERE job_title = 'CTO'"
        )
        .await,
        100
    );
}

/// Until a backend of the test's database waits on a lock (the batch's insert on the other
/// writer's uncommitted row).
async fn until_a_backend_waits_on_a_lock(app: &lma_tests::TestApp) {
    let monitor = app.db.connect().await;
    lma_tests::wait::until(
        "the batch's insert to wait for the other writer",
        std::time::Duration::from_secs(10),
        || async {
            let waiting: i64 = monitor
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .map_err(|error| error.to_string())?
                .get(0);
            if waiting > 0 {
                Ok(())
            } else {
                Err("no backend waits on a lock".into())
            }
        },
    )
    .await;
}

/// The other writer, holding an uncommitted prospect with `record(id)`'s key at race.com.
async fn insert_uncommitted_prospect(
    writer: &mut tokio_postgres::Client,
    id: u64,
) -> tokio_postgres::Transaction<'_> {
    let other = writer.transaction().await.expect("a transaction");
    other
        .execute(
            "INSERT INTO prospect (organization_id, company_id, external_source, external_id, email) \
             SELECT organization_id, id, 'crm', $1, 'other@race.com' FROM company WHERE domain = 'race.com'",
            &[&format!("p{id}")],
        )
        .await
        .expect("the other writer's insert");
    other
}

/// A prospect another writer inserts while a batch is being merged: the batch looked it up as
/// new, its insert waits for that writer and then meets the row on the key; the batch is
/// written again and merges into it. Nothing fails, nothing is stored twice.
#[tokio::test]
async fn a_prospect_inserted_by_another_writer_meanwhile_is_merged_not_duplicated() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    // The company exists and is unchanged by the batch, so the batch takes no lock on it.
    ingest(&mut client, vec![record(10_000, "race.com")]).await;
    let mut writer = app.db.connect().await;
    let other = insert_uncommitted_prospect(&mut writer, 0).await;
    let records: Vec<ProspectRecord> = (0..100).map(|i| record(i, "race.com")).collect();
    let send = tokio::spawn(async move { ingest(&mut client, records).await });
    until_a_backend_waits_on_a_lock(&app).await;
    other.commit().await.expect("the other writer commits");
    let summary = send.await.expect("the send task");
    assert_eq!(summary.rejected, 0, "{:?}", summary.errors);
    assert_eq!(
        (summary.inserted, summary.updated, summary.unchanged),
        (99, 1, 0),
        "{summary:?}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 101);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM prospect WHERE external_id = 'p0' AND email = 'pat0@race.com'"
        )
        .await,
        1
    );
}

/// The same once the batch has met a stored person and is merged: its new people are still
/// copied straight into `prospect`; the one another writer inserts meanwhile makes that copy
/// fail after the writer commits, and the part is written again, merged into that person.
#[tokio::test]
async fn a_new_person_another_writer_inserts_during_a_merged_batch_is_merged_not_duplicated() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    // pat10000@ sorts before the batch's other addresses: the batch's first insert meets it at
    // once, and the batch is then merged.
    ingest(&mut client, vec![record(10_000, "race.com")]).await;
    let mut writer = app.db.connect().await;
    let other = insert_uncommitted_prospect(&mut writer, 50).await;
    let mut records: Vec<ProspectRecord> = vec![record(10_000, "race.com")];
    records.extend((20..120).map(|i| record(i, "race.com")));
    let send = tokio::spawn(async move { ingest(&mut client, records).await });
    until_a_backend_waits_on_a_lock(&app).await;
    other.commit().await.expect("the other writer commits");
    let summary = send.await.expect("the send task");
    assert_eq!(summary.rejected, 0, "{:?}", summary.errors);
    assert_eq!(
        (summary.inserted, summary.updated, summary.unchanged),
        (99, 1, 1),
        "{summary:?}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 101);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM prospect WHERE external_id = 'p50' AND email = 'pat50@race.com'"
        )
        .await,
        1
    );
    // Every key links to its person once; new people's own keys were linked by the database.
    assert_eq!(
        count(&app, "SELECT count(*) FROM prospect_source_link").await,
        101
    );
}

#[tokio::test]
async fn bad_records_are_reported_and_good_ones_stored() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let mut free_mail = record(2, "gmail.com");
    free_mail.external_id = "free".into();
    let mut missing_id = record(3, "acme.com");
    missing_id.external_id = String::new();
    let summary = ingest(
        &mut client,
        vec![
            record(1, "acme.com"),
            free_mail,
            missing_id,
            record(4, "acme.com"),
        ],
    )
    .await;
    assert_eq!((summary.inserted, summary.rejected), (2, 2));
    let errors: Vec<(u64, &str, &str)> = summary
        .errors
        .iter()
        .map(|e| (e.row, e.external_id.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(errors, [(2, "free", "email"), (3, "", "external_id")]);
    assert!(
        summary.errors[0].reason.contains("free-mail"),
        "{}",
        summary.errors[0].reason
    );
}

#[tokio::test]
async fn a_csv_file_is_imported_with_aliases_and_line_numbers() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let csv = "\u{feff}Lead ID;First Name;E-mail;Company;Website;Revenue;Notes\r\n\
               1;Jane;jane@mail.acme.co.uk;\"Acme; Ltd\";;1000;x\r\n\
               2;Max;max@gmail.com;Beta;https://www.beta.io/about;;\r\n\
               3;Bad;bad@acme.co.uk;;;-5;\r\n\
               4;Ann;ann@yahoo.com;;;;\r\n";
    let (report, progress) = import(&mut client, csv.as_bytes()).await.expect("imported");
    assert!(progress >= 1);
    assert_eq!(report.unknown_columns, ["Notes"]);
    assert_eq!(report.delimiter, ";");
    let summary = report.summary.expect("summary");
    assert_eq!((summary.inserted, summary.rejected), (2, 2));
    let lines: Vec<(u64, &str)> = summary
        .errors
        .iter()
        .map(|e| (e.row, e.field.as_str()))
        .collect();
    assert_eq!(lines, [(4, "company.revenue"), (5, "email")]);
    let domains = app
        .db
        .connect()
        .await
        .query("SELECT domain FROM company ORDER BY domain", &[])
        .await
        .expect("companies");
    let domains: Vec<String> = domains.iter().map(|row| row.get(0)).collect();
    assert_eq!(domains, ["acme.co.uk", "beta.io"]);
}

#[tokio::test]
async fn a_missing_required_column_fails_the_import_before_any_row() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let status = import(&mut client, b"first_name,external_id\nJane,j1\n")
        .await
        .expect_err("no email column");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("no email column"),
        "{}",
        status.message()
    );
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 0);
}

#[tokio::test]
async fn eight_concurrent_imports_over_overlapping_domains() {
    let app = spawn_app().await;
    let mut imports = Vec::new();
    for client_n in 0..8u64 {
        let mut client = app.ingest_client().await;
        imports.push(tokio::spawn(async move {
            let mut csv = String::from("external_id,email,company_name,industry\n");
            // 1,500 rows: one batch, large enough to be split across two connections, so
            // the 8 imports want all 16 pooled connections at once.
            for i in 0..1_500u64 {
                // 40 domains shared by every client, written in a different order by each.
                let domain = (i * 7 + client_n * 13) % 40;
                csv.push_str(&format!(
                    "c{client_n}-{i},p{i}@shared{domain}.com,Shared {domain},Industry {client_n}\n"
                ));
            }
            import(&mut client, csv.as_bytes()).await
        }));
    }
    for handle in imports {
        let (report, _) = handle.await.expect("task").expect("import succeeded");
        let summary = report.summary.expect("summary");
        assert_eq!(
            (summary.inserted, summary.rejected),
            (1_500, 0),
            "{summary:?}"
        );
    }
    assert_eq!(count(&app, "SELECT count(*) FROM company").await, 40);
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 12_000);
}

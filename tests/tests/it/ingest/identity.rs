//! Person identity: within an organization a prospect is its email address; each source's
//! (external_source, external_id) is a link to one prospect. Every ingest path resolves a
//! record by its link, then its email, else creates the person.

use lma_proto::v1::export_prospects_response::Result as ExportResult;
use lma_proto::v1::{
    CountProspectsRequest, CsvImportOptions, ExportProspectsRequest, IngestProspectsRequest,
    Prospect, ProspectFilter, ProspectRecord, SearchProspectsRequest, UpsertProspectRequest,
};
use lma_tests::app::{TestApp, search_prospects};
use lma_tests::spawn_app;
use tonic::Code;

use super::{count_in, get_prospect as get, import_csv};

fn links(prospect: &Prospect) -> Vec<(String, String)> {
    let mut links: Vec<(String, String)> = prospect
        .source_links
        .iter()
        .map(|link| (link.external_source.clone(), link.external_id.clone()))
        .collect();
    links.sort();
    links
}

fn pair(source: &str, id: &str) -> (String, String) {
    (source.to_owned(), id.to_owned())
}

/// Search hits, count and export rows of everything, as of `token`.
async fn seen(app: &TestApp, token: &str) -> (usize, i64, usize) {
    let mut search = app.search_client().await;
    let page = search_prospects(
        &mut search,
        SearchProspectsRequest {
            filter: Some(ProspectFilter::default()),
            min_token: token.to_owned(),
            ..Default::default()
        },
    )
    .await
    .expect("SearchProspects");
    let total = search
        .count_prospects(CountProspectsRequest {
            filter: Some(ProspectFilter::default()),
            min_token: token.to_owned(),
            ..Default::default()
        })
        .await
        .expect("CountProspects")
        .into_inner()
        .total;
    let mut stream = search
        .export_prospects(ExportProspectsRequest {
            filter: Some(ProspectFilter::default()),
            min_token: token.to_owned(),
        })
        .await
        .expect("ExportProspects")
        .into_inner();
    let mut exported = 0;
    while let Some(message) = stream.message().await.expect("export message") {
        if let Some(ExportResult::Prospect(_)) = message.result {
            exported += 1;
        }
    }
    (page.hits.len(), total, exported)
}

#[tokio::test]
async fn one_person_from_three_sources_is_one_prospect_with_three_links() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let crm = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(ProspectRecord {
                external_source: "salesforce".into(),
                external_id: "003A".into(),
                email: "Ann.Lee@Acme.com".into(),
                first_name: "Ann".into(),
                job_title: "CTO".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("UpsertProspect")
        .into_inner();
    let person = crm.prospect.expect("prospect");

    let summary = ingest
        .ingest_prospects(tokio_stream::iter([IngestProspectsRequest {
            records: vec![ProspectRecord {
                external_source: "apollo".into(),
                external_id: "ap-9".into(),
                email: "ANN.LEE@acme.com".into(),
                last_name: "Lee".into(),
                ..Default::default()
            }],
        }]))
        .await
        .expect("IngestProspects")
        .into_inner()
        .summary
        .expect("summary");
    assert_eq!(
        (summary.inserted, summary.updated, summary.rejected),
        (0, 1, 0)
    );

    let csv = b"external_id,email,job_title\nrow-1,ann.lee@ACME.COM,Chief Technology Officer\n";
    let (report, _) = import_csv(&mut ingest, CsvImportOptions::default(), csv)
        .await
        .expect("ImportCsv");
    let summary = report.summary.expect("summary");
    assert_eq!(
        (summary.inserted, summary.updated, summary.rejected),
        (0, 1, 0)
    );

    let stored = get(&mut ingest, &person.id).await;
    assert_eq!(
        links(&stored),
        [
            pair("apollo", "ap-9"),
            pair("csv:leads.csv", "row-1"),
            pair("salesforce", "003A")
        ]
    );
    assert_eq!(stored.email, "ann.lee@acme.com");
    assert_eq!(
        (stored.external_source.as_str(), stored.external_id.as_str()),
        ("salesforce", "003A"),
        "the key of the source that created it"
    );
    assert_eq!(stored.first_name, "Ann");
    assert_eq!(stored.last_name, "Lee");
    assert_eq!(
        stored.job_title, "Chief Technology Officer",
        "the latest value"
    );
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 1);
    assert_eq!(seen(&app, &summary.consistency_token).await, (1, 1, 1));

    // Sending a source's record again changes nothing and links nothing new.
    let again = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(ProspectRecord {
                external_source: "apollo".into(),
                external_id: "ap-9".into(),
                email: "ann.lee@acme.com".into(),
                last_name: "Lee".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("UpsertProspect")
        .into_inner();
    assert_eq!(again.prospect.expect("prospect").id, person.id);
    assert_eq!(
        count_in(&app.db, "SELECT count(*) FROM prospect_source_link").await,
        3
    );
}

#[tokio::test]
async fn an_email_change_through_the_link_updates_the_person() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let record = |email: &str| ProspectRecord {
        external_source: "hubspot".into(),
        external_id: "h-1".into(),
        email: email.into(),
        first_name: "Bo".into(),
        ..Default::default()
    };
    let first = app.upsert_prospect(record("bo@acme.com")).await;
    let id = first.prospect.expect("prospect").id;
    // Bo moves on: the same source's record with his new address.
    let moved = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record("bo@globex.com")),
        })
        .await
        .expect("UpsertProspect")
        .into_inner();
    let stored = moved.prospect.expect("prospect");
    assert_eq!(stored.id, id, "the link names the person");
    assert_eq!(stored.email, "bo@globex.com");
    assert_eq!(stored.company.expect("company").domain, "globex.com");
    assert_eq!(
        links(&get(&mut ingest, &id).await),
        [pair("hubspot", "h-1")]
    );
    assert_eq!(seen(&app, &moved.consistency_token).await, (1, 1, 1));
    // His old address is free again: a new person.
    let other = app
        .upsert_prospect(ProspectRecord {
            external_source: "hubspot".into(),
            external_id: "h-2".into(),
            email: "BO@acme.com".into(),
            ..Default::default()
        })
        .await;
    assert_ne!(other.prospect.expect("prospect").id, id);
}

#[tokio::test]
async fn a_record_whose_link_and_email_name_different_people_is_refused_alone() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let csv = b"external_id,email,first_name\nk1,kim@acme.com,Kim\nk2,lou@acme.com,Lou\n";
    import_csv(&mut ingest, CsvImportOptions::default(), csv)
        .await
        .expect("ImportCsv");
    let before = count_in(
        &app.db,
        "SELECT count(*) FROM prospect WHERE first_name IN ('Kim', 'Lou')",
    )
    .await;
    assert_eq!(before, 2);

    // Line 2: k1 is Kim's link, but the address is Lou's. Line 3 is a new person.
    let csv = b"external_id,email,first_name\nk1,lou@acme.com,Changed\nk3,max@acme.com,Max\n";
    let (report, _) = import_csv(&mut ingest, CsvImportOptions::default(), csv)
        .await
        .expect("ImportCsv");
    let summary = report.summary.expect("summary");
    assert_eq!((summary.inserted, summary.rejected), (1, 1));
    let error = &summary.errors[0];
    assert_eq!((error.row, error.field.as_str()), (2, "email"));
    assert_eq!(error.external_id, "k1");
    assert!(
        error.reason.contains("another prospect"),
        "{}",
        error.reason
    );
    assert!(error.reason.contains("MergeProspects"), "{}", error.reason);
    assert!(!error.reason.contains("lou@"), "no address in the reason");
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect WHERE first_name = 'Changed' OR \
             (first_name = 'Kim' AND email = 'kim@acme.com') OR \
             (first_name = 'Lou' AND email = 'lou@acme.com')"
        )
        .await,
        2,
        "nothing of the refused row is written"
    );
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 3);

    // UpsertProspect refuses it the same way, naming the field.
    let refused = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(ProspectRecord {
                external_source: "csv:leads.csv".into(),
                external_id: "k1".into(),
                email: "lou@acme.com".into(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("another prospect's address");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().starts_with("prospect.email: "),
        "{}",
        refused.message()
    );
}

/// Two rows of one file with the same address and different keys are one person with both
/// links.
#[tokio::test]
async fn rows_of_one_address_in_one_file_are_one_person() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let csv = b"external_id,email,first_name,job_title\n\
        a,pat@acme.com,Pat,\n\
        b,PAT@acme.com,,CFO\n";
    let (report, _) = import_csv(&mut ingest, CsvImportOptions::default(), csv)
        .await
        .expect("ImportCsv");
    let summary = report.summary.expect("summary");
    assert_eq!((summary.inserted, summary.rejected), (1, 0));
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 1);
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect p JOIN prospect_source_link l ON l.prospect_id = p.id \
             WHERE p.first_name = 'Pat' AND p.job_title = 'CFO'"
        )
        .await,
        2
    );
}

/// Eight imports at once, each from its own source, of overlapping people (the same address
/// in several files, in different cases, with different company domains, so in different
/// parts of a batch): no person is stored twice, and every row's key links to its person.
#[tokio::test]
async fn concurrent_imports_of_overlapping_people_make_no_duplicate_person() {
    let app = spawn_app().await;
    const IMPORTS: usize = 8;
    const ROWS: usize = 1_200;
    let mut imports = Vec::new();
    for import in 0..IMPORTS {
        let mut csv = String::from("external_id,email,company_domain\n");
        for row in 0..ROWS {
            let person = (import * 150 + row * 7) % 2_000;
            let local = if (import + row) % 2 == 0 {
                format!("person{person}")
            } else {
                format!("Person{person}")
            };
            let domain = format!("firm{}.com", (person + import) % 40);
            csv.push_str(&format!("r{row},{local}@people.io,{domain}\n"));
        }
        let mut ingest = app.ingest_client().await;
        imports.push(tokio::spawn(async move {
            let options = CsvImportOptions {
                external_source: format!("source-{import}"),
                ..Default::default()
            };
            import_csv(&mut ingest, options, csv.as_bytes())
                .await
                .expect("ImportCsv")
                .0
                .summary
                .expect("summary")
        }));
    }
    for import in imports {
        let summary = import.await.expect("import task");
        assert_eq!(summary.rejected, 0, "{:?}", summary.errors);
        assert_eq!(
            summary.inserted + summary.updated + summary.unchanged,
            ROWS as u64
        );
    }
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) - count(DISTINCT lower(email)) FROM prospect"
        )
        .await,
        0,
        "no duplicate person"
    );
    assert_eq!(
        count_in(&app.db, "SELECT count(*) FROM prospect_source_link").await,
        (IMPORTS * ROWS) as i64,
        "every row's key is linked"
    );
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect_source_link l JOIN prospect p ON p.id = l.prospect_id \
             WHERE p.email <> 'person' || ((substr(l.external_source, 8)::int * 150 \
                   + substr(l.external_id, 2)::int * 7) % 2000) || '@people.io'"
        )
        .await,
        0,
        "every link names the person of its row"
    );
}

//! Suppression policy HIDE: matching rows stay stored but searches, counts, facets and exports
//! leave them out by the token of the change, unless the filter includes them with a
//! privacy.admin key; rows ingested later are stored hidden; removals and policy changes show
//! them again.

use lma_proto::v1::export_prospects_response::Result as ExportResult;
use lma_proto::v1::suppression_entry::Subject;
use lma_proto::v1::{
    AddSuppressionsRequest, CompanyRecord, CountProspectsRequest, CsvImportOptions,
    ExportProspectsRequest, Facet, GetProspectRequest, IngestProspectsRequest, ProspectFilter,
    ProspectRecord, RemoveSuppressionRequest, SuppressionEntry, SuppressionPolicy,
    SuppressionReason, UpsertProspectRequest,
};
use lma_tests::app::{TestApp, search_prospects, search_request};
use lma_tests::clients::{IngestClient, SearchClient};
use lma_tests::{BearerAuth, spawn_app};
use svc_core::Scope;
use tonic::Code;

use super::import_csv;
use super::suppression::privacy_client;

fn entry(subject: Subject, policy: SuppressionPolicy) -> SuppressionEntry {
    SuppressionEntry {
        subject: Some(subject),
        reason: SuppressionReason::DoNotContact.into(),
        reason_text: String::new(),
        policy: policy.into(),
    }
}

fn record(source: &str, id: &str, email: &str, industry: &str) -> ProspectRecord {
    ProspectRecord {
        external_source: source.into(),
        external_id: id.into(),
        first_name: id.into(),
        email: email.into(),
        company: Some(CompanyRecord {
            industry: industry.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn upsert(ingest: &mut IngestClient, record: ProspectRecord) -> String {
    ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record),
        })
        .await
        .expect("UpsertProspect")
        .into_inner()
        .consistency_token
}

async fn add(app: &TestApp, entries: Vec<SuppressionEntry>) -> (Vec<String>, String) {
    let mut privacy = privacy_client(app, &app.tenant.api_key).await;
    let added = privacy
        .add_suppressions(AddSuppressionsRequest { entries })
        .await
        .expect("AddSuppressions")
        .into_inner();
    (added.ids, added.consistency_token)
}

fn filter(include_suppressed: bool) -> ProspectFilter {
    ProspectFilter {
        include_suppressed,
        ..Default::default()
    }
}

/// The external ids a search finds by `token`, sorted, with whether each is marked hidden.
async fn found(
    search: &mut SearchClient,
    token: &str,
    include_suppressed: bool,
) -> Vec<(String, bool)> {
    let mut request = search_request(filter(include_suppressed));
    request.min_token = token.to_owned();
    request.page_size = 1000;
    let page = search_prospects(search, request).await.expect("search");
    let mut ids: Vec<(String, bool)> = page
        .hits
        .iter()
        .filter_map(|hit| hit.prospect.as_ref())
        .map(|p| (p.external_id.clone(), p.suppressed))
        .collect();
    ids.sort();
    ids
}

/// The visible external ids, sorted.
async fn visible(search: &mut SearchClient, token: &str) -> Vec<String> {
    found(search, token, false)
        .await
        .into_iter()
        .map(|(id, hidden)| {
            assert!(
                !hidden,
                "{id} is hidden but was found without include_suppressed"
            );
            id
        })
        .collect()
}

/// Total and the industry facet's values of CountProspects by `token`.
async fn counted(
    search: &mut SearchClient,
    token: &str,
    include_suppressed: bool,
) -> Result<(i64, Vec<(String, i64)>), tonic::Status> {
    let response = search
        .count_prospects(CountProspectsRequest {
            filter: Some(filter(include_suppressed)),
            facets: vec![Facet::Industry.into()],
            facet_limit: 0,
            min_token: token.to_owned(),
        })
        .await?
        .into_inner();
    let mut values: Vec<(String, i64)> = response
        .facets
        .iter()
        .flat_map(|facet| &facet.values)
        .map(|value| (value.value.to_lowercase(), value.count))
        .collect();
    values.sort();
    Ok((response.total, values))
}

/// The external ids ExportProspects streams by `token`, sorted.
async fn exported(
    search: &mut SearchClient,
    token: &str,
    include_suppressed: bool,
) -> Result<Vec<String>, tonic::Status> {
    let mut stream = search
        .export_prospects(ExportProspectsRequest {
            filter: Some(filter(include_suppressed)),
            min_token: token.to_owned(),
        })
        .await?
        .into_inner();
    let mut ids = Vec::new();
    while let Some(message) = stream.message().await? {
        match message.result {
            Some(ExportResult::Prospect(prospect)) => ids.push(prospect.external_id),
            Some(ExportResult::End(end)) => assert_eq!(end.rows as usize, ids.len()),
            None => panic!("an empty export message"),
        }
    }
    ids.sort();
    Ok(ids)
}

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

#[tokio::test]
async fn a_hidden_domain_leaves_search_count_facets_and_export_until_removed() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let mut search = app.search_client().await;
    for (id, email) in [("r1", "ann@rival.io"), ("r2", "bob@rival.io")] {
        upsert(&mut ingest, record("crm", id, email, "Robotics")).await;
    }
    let mut token = String::new();
    for (id, email) in [("a1", "cy@acme.com"), ("a2", "dee@acme.com")] {
        token = upsert(&mut ingest, record("crm", id, email, "Software")).await;
    }
    assert_eq!(
        visible(&mut search, &token).await,
        ids(&["a1", "a2", "r1", "r2"])
    );

    // Hidden by the returned token, in every answer of search-svc.
    let (entry_ids, token) = add(
        &app,
        vec![entry(
            Subject::Domain("https://www.Rival.io".into()),
            SuppressionPolicy::Hide,
        )],
    )
    .await;
    assert_eq!(visible(&mut search, &token).await, ids(&["a1", "a2"]));
    assert_eq!(
        counted(&mut search, &token, false).await.expect("count"),
        (2, vec![("software".to_owned(), 2)])
    );
    assert_eq!(
        exported(&mut search, &token, false).await.expect("export"),
        ids(&["a1", "a2"])
    );
    // The rows are still stored, and the company says which entry hides it.
    let stored = ingest
        .get_prospect(GetProspectRequest {
            prospect_id: prospect_id(&app, "r1").await.to_string(),
        })
        .await
        .expect("GetProspect")
        .into_inner()
        .prospect
        .expect("prospect");
    assert_eq!(stored.company.expect("company").suppressed_by, entry_ids[0]);
    assert!(stored.suppressed_by.is_empty());

    // A privacy.admin key may include them; they come marked.
    assert_eq!(
        found(&mut search, &token, true).await,
        [
            ("a1".to_owned(), false),
            ("a2".to_owned(), false),
            ("r1".to_owned(), true),
            ("r2".to_owned(), true)
        ]
    );
    assert_eq!(
        counted(&mut search, &token, true).await.expect("count").0,
        4
    );
    assert_eq!(
        exported(&mut search, &token, true).await.expect("export"),
        ids(&["a1", "a2", "r1", "r2"])
    );

    // A search.read key may not: PERMISSION_DENIED naming the field, on every RPC.
    let reader = app.mint_key(&[Scope::SearchRead]).await;
    let mut limited = app.search_client_with(BearerAuth::key(&reader.key)).await;
    let denied = search_prospects(&mut limited, search_request(filter(true)))
        .await
        .expect_err("no privacy.admin");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied.message().contains("filter.include_suppressed"),
        "{}",
        denied.message()
    );
    let denied = counted(&mut limited, "", true).await.expect_err("count");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = exported(&mut limited, "", true).await.expect_err("export");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(visible(&mut limited, &token).await, ids(&["a1", "a2"]));

    // Rows ingested later for the domain are stored hidden, counted as written.
    let summary = ingest
        .ingest_prospects(tokio_stream::iter([IngestProspectsRequest {
            records: vec![
                record("crm", "r3", "eve@rival.io", "Robotics"),
                record("crm", "a3", "fay@acme.com", "Software"),
            ],
        }]))
        .await
        .expect("IngestProspects")
        .into_inner()
        .summary
        .expect("summary");
    assert_eq!((summary.inserted, summary.rejected), (2, 0));
    assert_eq!(
        visible(&mut search, &summary.consistency_token).await,
        ids(&["a1", "a2", "a3"])
    );

    // Removing the entry shows them again by its token.
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let removed = privacy
        .remove_suppression(RemoveSuppressionRequest {
            id: entry_ids[0].clone(),
        })
        .await
        .expect("RemoveSuppression")
        .into_inner();
    assert_eq!(
        visible(&mut search, &removed.consistency_token).await,
        ids(&["a1", "a2", "a3", "r1", "r2", "r3"])
    );
    assert_eq!(
        counted(&mut search, &removed.consistency_token, false)
            .await
            .expect("count"),
        (
            6,
            vec![("robotics".to_owned(), 3), ("software".to_owned(), 3)]
        )
    );
}

#[tokio::test]
async fn a_company_created_after_its_domain_was_hidden_is_hidden() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let mut search = app.search_client().await;
    add(
        &app,
        vec![entry(
            Subject::Domain("newco.io".into()),
            SuppressionPolicy::Hide,
        )],
    )
    .await;
    let csv = b"external_id,email,first_name\n\
        n1,ann@newco.io,Ann\n\
        o1,bob@oldco.io,Bob\n";
    let (report, _) = import_csv(&mut ingest, CsvImportOptions::default(), csv)
        .await
        .expect("ImportCsv");
    let summary = report.summary.expect("summary");
    assert_eq!((summary.inserted, summary.rejected), (2, 0));
    assert_eq!(
        visible(&mut search, &summary.consistency_token).await,
        ids(&["o1"])
    );
    assert_eq!(
        found(&mut search, &summary.consistency_token, true).await,
        [("n1".to_owned(), true), ("o1".to_owned(), false)]
    );
}

#[tokio::test]
async fn a_hidden_email_hides_that_person_only_and_later_imports_of_it() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let mut search = app.search_client().await;
    // Ann from two sources (one person, two links), and a colleague.
    upsert(&mut ingest, record("crm", "c1", "ann@acme.com", "Software")).await;
    upsert(&mut ingest, record("erp", "e1", "Ann@ACME.com", "Software")).await;
    upsert(&mut ingest, record("crm", "c2", "bob@acme.com", "Software")).await;
    let updated_at =
        |prospect: &lma_proto::v1::Prospect| prospect.updated_at.map(|at| (at.seconds, at.nanos));
    let before = super::get_prospect(&mut ingest, &prospect_id(&app, "c1").await.to_string()).await;

    let (entry_ids, token) = add(
        &app,
        vec![entry(
            Subject::Email(" ANN@acme.com ".into()),
            SuppressionPolicy::Hide,
        )],
    )
    .await;
    assert_eq!(visible(&mut search, &token).await, ids(&["c2"]));
    assert_eq!(
        counted(&mut search, &token, false).await.expect("count").0,
        1
    );
    let stored = ingest
        .get_prospect(GetProspectRequest {
            prospect_id: prospect_id(&app, "c1").await.to_string(),
        })
        .await
        .expect("GetProspect")
        .into_inner()
        .prospect
        .expect("prospect");
    assert_eq!(stored.suppressed_by, entry_ids[0]);
    // Hiding is not an update of her data: she does not become the newest prospect.
    assert_eq!(updated_at(&stored), updated_at(&before));
    // Her company is not hidden: only she is.
    assert!(stored.company.expect("company").suppressed_by.is_empty());

    // A later import of her address goes to her (stored hidden) and is counted as written,
    // not rejected.
    let csv = b"external_id,email,first_name\n\
        f1,ann@acme.com,Ann\n\
        f2,cy@acme.com,Cy\n";
    let (report, _) = import_csv(&mut ingest, CsvImportOptions::default(), csv)
        .await
        .expect("ImportCsv");
    let summary = report.summary.expect("summary");
    assert_eq!((summary.inserted, summary.rejected), (1, 0));
    assert_eq!(summary.updated + summary.unchanged, 1);
    assert_eq!(
        visible(&mut search, &summary.consistency_token).await,
        ids(&["c2", "f2"])
    );
    assert_eq!(
        found(&mut search, &summary.consistency_token, true).await,
        [
            ("c1".to_owned(), true),
            ("c2".to_owned(), false),
            ("f2".to_owned(), false)
        ]
    );

    // A prospect whose email moves to a hidden address is hidden; moving away shows it. Ann's
    // own address is hers: moving another prospect to it is refused.
    let taken = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record("crm", "c2", "ann@acme.com", "Software")),
        })
        .await
        .expect_err("another prospect's address");
    assert_eq!(taken.code(), Code::FailedPrecondition);
    assert!(
        taken.message().starts_with("prospect.email: "),
        "{}",
        taken.message()
    );
    add(
        &app,
        vec![entry(
            Subject::Email("dee@acme.com".into()),
            SuppressionPolicy::Hide,
        )],
    )
    .await;
    let token = upsert(&mut ingest, record("crm", "c2", "dee@acme.com", "Software")).await;
    assert_eq!(visible(&mut search, &token).await, ids(&["f2"]));
    let token = upsert(&mut ingest, record("crm", "c2", "bob@acme.com", "Software")).await;
    assert_eq!(visible(&mut search, &token).await, ids(&["c2", "f2"]));
}

#[tokio::test]
async fn changing_the_policy_hides_or_shows_the_stored_rows() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let mut search = app.search_client().await;
    upsert(&mut ingest, record("crm", "r1", "ann@rival.io", "Robotics")).await;
    upsert(&mut ingest, record("crm", "a1", "bob@acme.com", "Software")).await;
    let token = upsert(&mut ingest, record("crm", "a2", "cy@acme.com", "Software")).await;
    assert_eq!(visible(&mut search, &token).await, ids(&["a1", "a2", "r1"]));

    let hide = vec![
        entry(Subject::Domain("rival.io".into()), SuppressionPolicy::Hide),
        entry(
            Subject::Email("bob@acme.com".into()),
            SuppressionPolicy::Hide,
        ),
    ];
    let (hidden_ids, token) = add(&app, hide.clone()).await;
    assert_eq!(visible(&mut search, &token).await, ids(&["a2"]));

    // HIDE -> REFUSE: the same entries (same ids); the stored rows show again, and new rows
    // that match are refused.
    let refuse = vec![
        entry(
            Subject::Domain("rival.io".into()),
            SuppressionPolicy::Refuse,
        ),
        entry(
            Subject::Email("bob@acme.com".into()),
            SuppressionPolicy::Refuse,
        ),
    ];
    let (refusing_ids, token) = add(&app, refuse).await;
    assert_eq!(refusing_ids, hidden_ids);
    assert_eq!(visible(&mut search, &token).await, ids(&["a1", "a2", "r1"]));
    let refused = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record("crm", "r2", "dee@rival.io", "Robotics")),
        })
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    // Bob from another source: the same person, refused by his entry.
    let refused = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record("erp", "b2", "bob@acme.com", "Software")),
        })
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    // REFUSE -> HIDE: the stored rows are hidden again, and new ones are stored hidden.
    let (_, token) = add(&app, hide).await;
    assert_eq!(visible(&mut search, &token).await, ids(&["a2"]));
    upsert(&mut ingest, record("crm", "r2", "dee@rival.io", "Robotics")).await;
    let token = upsert(&mut ingest, record("erp", "b2", "bob@acme.com", "Software")).await;
    assert_eq!(visible(&mut search, &token).await, ids(&["a2"]));
    // Bob's second source joined him: four people.
    assert_eq!(
        found(&mut search, &token, true).await.len(),
        4,
        "every row is still stored"
    );
}

/// The id of the prospect with this external id (any source).
async fn prospect_id(app: &TestApp, external_id: &str) -> i64 {
    app.db
        .connect()
        .await
        .query_one(
            "SELECT id FROM prospect WHERE external_id = $1",
            &[&external_id],
        )
        .await
        .expect("the prospect")
        .get(0)
}

/// The domains SearchCompanies finds by `token`, sorted, with each one's prospect count and
/// whether it is marked hidden.
async fn companies(
    search: &mut SearchClient,
    token: &str,
    include_suppressed: bool,
) -> Result<Vec<(String, i64, bool)>, tonic::Status> {
    let mut stream = search
        .search_companies(lma_proto::v1::SearchCompaniesRequest {
            filter: Some(lma_proto::v1::CompanyFilter {
                include_suppressed,
                ..Default::default()
            }),
            page_size: 1000,
            min_token: token.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut found = Vec::new();
    while let Some(message) = stream.message().await? {
        if let Some(lma_proto::v1::search_companies_response::Result::Company(company)) =
            message.result
        {
            found.push((company.domain, company.prospect_count, company.suppressed));
        }
    }
    found.sort();
    Ok(found)
}

async fn get_company(
    search: &mut SearchClient,
    domain: &str,
    token: &str,
    include_suppressed: bool,
) -> Result<lma_proto::v1::CompanySummary, tonic::Status> {
    Ok(search
        .get_company(lma_proto::v1::GetCompanyRequest {
            company: Some(lma_proto::v1::get_company_request::Company::Domain(
                domain.to_owned(),
            )),
            min_token: token.to_owned(),
            include_suppressed,
        })
        .await?
        .into_inner()
        .company
        .expect("company"))
}

#[tokio::test]
async fn company_searches_leave_out_hidden_companies_and_count_no_hidden_prospect() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let mut search = app.search_client().await;
    for (id, email) in [("r1", "ann@rival.io"), ("r2", "bob@rival.io")] {
        upsert(&mut ingest, record("crm", id, email, "Robotics")).await;
    }
    let mut token = String::new();
    for (id, email) in [("a1", "cy@acme.com"), ("a2", "dee@acme.com")] {
        token = upsert(&mut ingest, record("crm", id, email, "Software")).await;
    }
    let all = |acme: i64| {
        vec![
            ("acme.com".to_owned(), acme, false),
            ("rival.io".to_owned(), 2, false),
        ]
    };
    assert_eq!(
        companies(&mut search, &token, false)
            .await
            .expect("SearchCompanies"),
        all(2)
    );

    // One hidden person: the company stays, its count leaves the person out.
    let (email_entry, token) = add(
        &app,
        vec![entry(
            Subject::Email("dee@acme.com".into()),
            SuppressionPolicy::Hide,
        )],
    )
    .await;
    assert_eq!(
        companies(&mut search, &token, false)
            .await
            .expect("SearchCompanies"),
        all(1)
    );
    assert_eq!(
        get_company(&mut search, "acme.com", &token, false)
            .await
            .expect("GetCompany")
            .prospect_count,
        1
    );

    // A hidden domain: the company leaves SearchCompanies and GetCompany.
    let (domain_entry, token) = add(
        &app,
        vec![entry(
            Subject::Domain("rival.io".into()),
            SuppressionPolicy::Hide,
        )],
    )
    .await;
    assert_eq!(
        companies(&mut search, &token, false)
            .await
            .expect("SearchCompanies"),
        (vec![("acme.com".to_owned(), 1, false)])
    );
    let missing = get_company(&mut search, "rival.io", &token, false)
        .await
        .expect_err("hidden");
    assert_eq!(missing.code(), Code::NotFound);

    // A privacy.admin key may include it; it comes marked. Hidden prospects are never counted.
    assert_eq!(
        companies(&mut search, &token, true)
            .await
            .expect("SearchCompanies"),
        (vec![
            ("acme.com".to_owned(), 1, false),
            ("rival.io".to_owned(), 2, true)
        ])
    );
    assert!(
        get_company(&mut search, "rival.io", &token, true)
            .await
            .expect("GetCompany")
            .suppressed
    );

    // A search.read key may not: PERMISSION_DENIED naming the field.
    let reader = app.mint_key(&[Scope::SearchRead]).await;
    let mut limited = app.search_client_with(BearerAuth::key(&reader.key)).await;
    let denied = companies(&mut limited, &token, true)
        .await
        .expect_err("no privacy.admin");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied.message().contains("filter.include_suppressed"),
        "{}",
        denied.message()
    );
    let denied = get_company(&mut limited, "rival.io", &token, true)
        .await
        .expect_err("no privacy.admin");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("include_suppressed"));

    // Removing the entries brings both back by their tokens.
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let mut token = String::new();
    for id in [&domain_entry[0], &email_entry[0]] {
        token = privacy
            .remove_suppression(RemoveSuppressionRequest { id: id.clone() })
            .await
            .expect("RemoveSuppression")
            .into_inner()
            .consistency_token;
    }
    assert_eq!(
        companies(&mut search, &token, false)
            .await
            .expect("SearchCompanies"),
        all(2)
    );
}

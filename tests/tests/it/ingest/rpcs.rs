//! The single-record RPCs, dual ingestion and the legacy migration against the real services.

use lma_proto::v1::{
    CompanyRecord, DeleteCompanyRequest, MigrateLegacyCustomersRequest, ProspectRecord,
    UpsertCompanyRequest, UpsertProspectRequest, WriteOutcome,
};
use lma_tests::app::{Service, Shutdown, create_tenant_in, start_service, wait_for_health};
use lma_tests::{BearerAuth, TestDatabase, spawn_app};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use super::{count_in, import_csv};

fn acme(name: &str, revenue: Option<i64>) -> CompanyRecord {
    CompanyRecord {
        domain: "https://www.Acme.co.uk/about".into(),
        name: name.into(),
        industry: "Software".into(),
        revenue,
        ..Default::default()
    }
}

fn prospect(id: &str, email: &str) -> ProspectRecord {
    ProspectRecord {
        external_source: "crm".into(),
        external_id: id.into(),
        first_name: "Pat".into(),
        last_name: "Lee".into(),
        email: email.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn upsert_company_inserts_updates_and_reports_unchanged() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let upsert = |company: CompanyRecord| UpsertCompanyRequest {
        company: Some(company),
    };

    let first = client
        .upsert_company(upsert(acme("Acme", Some(1_000))))
        .await
        .expect("UpsertCompany")
        .into_inner();
    assert_eq!(first.outcome(), WriteOutcome::Inserted);
    let company = first.company.expect("the stored company");
    assert_eq!(
        (company.domain.as_str(), company.name.as_str()),
        ("acme.co.uk", "Acme")
    );
    assert!(!first.consistency_token.is_empty());

    let second = client
        .upsert_company(upsert(acme("Acme Ltd", Some(2_000))))
        .await
        .expect("UpsertCompany")
        .into_inner();
    assert_eq!(second.outcome(), WriteOutcome::Updated);
    let updated = second.company.expect("the stored company");
    assert_eq!(updated.id, company.id, "same domain, same company");
    assert_eq!(
        (updated.name.as_str(), updated.revenue),
        ("Acme Ltd", Some(2_000))
    );

    // Empty fields never overwrite: only the domain given is no change at all.
    for record in [
        acme("Acme Ltd", Some(2_000)),
        CompanyRecord {
            domain: "acme.co.uk".into(),
            ..Default::default()
        },
    ] {
        let again = client
            .upsert_company(upsert(record))
            .await
            .expect("UpsertCompany")
            .into_inner();
        assert_eq!(again.outcome(), WriteOutcome::Unchanged);
        assert_eq!(again.company.expect("company").name, "Acme Ltd");
    }
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM company").await, 1);

    let status = client
        .upsert_company(upsert(CompanyRecord {
            domain: "gmail.com".into(),
            ..Default::default()
        }))
        .await
        .expect_err("a free-mail provider is no company");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn delete_company_refuses_while_it_has_prospects_unless_asked_to_delete_them() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let mut company_id = String::new();
    for id in ["d1", "d2"] {
        let response = client
            .upsert_prospect(UpsertProspectRequest {
                prospect: Some(prospect(id, &format!("{id}@doomed.io"))),
            })
            .await
            .expect("UpsertProspect")
            .into_inner();
        company_id = response.prospect.expect("prospect").company_id;
    }
    app.upsert_prospect(prospect("k1", "k1@kept.io")).await;

    let status = client
        .delete_company(DeleteCompanyRequest {
            company_id: company_id.clone(),
            delete_prospects: false,
        })
        .await
        .expect_err("the company has prospects");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("2 prospects"), "{status:?}");
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 3);

    let deleted = client
        .delete_company(DeleteCompanyRequest {
            company_id: company_id.clone(),
            delete_prospects: true,
        })
        .await
        .expect("DeleteCompany with delete_prospects")
        .into_inner();
    assert_eq!(deleted.prospects_deleted, 2);
    assert!(!deleted.consistency_token.is_empty());
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect WHERE email LIKE '%@doomed.io'"
        )
        .await,
        0
    );
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM company WHERE domain = 'doomed.io'"
        )
        .await,
        0
    );
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 1);

    let status = client
        .delete_company(DeleteCompanyRequest {
            company_id,
            delete_prospects: true,
        })
        .await
        .expect_err("already gone");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn dual_ingestion_mirrors_prospects_into_the_legacy_customer_table() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let ingest = start_service(Service::Ingest, &db.url(), &shutdown, &["--dual-ingest"]).await;
    wait_for_health(&ingest, ServingStatus::Serving).await;
    let mut client =
        lma_tests::clients::ingest_client(ingest.addr, BearerAuth::key(&tenant.api_key)).await;

    let mut single = prospect("s1", "sam@mirror.io");
    single.company = Some(CompanyRecord {
        name: "Mirror".into(),
        ..Default::default()
    });
    client
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(single),
        })
        .await
        .expect("UpsertProspect");
    let (report, _) = import_csv(
        &mut client,
        Default::default(),
        b"external_id,email,first_name\nc1,cam@mirror.io,Cam\nc2,kim@other.io,Kim\n",
    )
    .await
    .expect("ImportCsv");
    assert_eq!(report.summary.expect("summary").inserted, 2);

    let rows = db
        .connect()
        .await
        .query(
            "SELECT external_id, email, company_domain, coalesce(company_name, '') \
             FROM customer WHERE organization_id = $1 ORDER BY external_id",
            &[&tenant.organization_id],
        )
        .await
        .expect("reading customer");
    let rows: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect();
    let expected = [
        ("c1", "cam@mirror.io", "mirror.io", "Mirror"),
        ("c2", "kim@other.io", "other.io", ""),
        ("s1", "sam@mirror.io", "mirror.io", "Mirror"),
    ];
    assert_eq!(
        rows.iter()
            .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
            .collect::<Vec<_>>(),
        expected
    );
    shutdown.trigger();
    ingest.stopped().await.expect("ingest-svc stops cleanly");
}

#[tokio::test]
async fn migrate_legacy_customers_normalizes_rows_and_reports_integrity() {
    let app = spawn_app().await;
    let admin = app.db.connect().await;
    admin
        .execute(
            "INSERT INTO customer (organization_id, external_source, external_id, first_name, \
                 email, company_name, company_domain, revenue) VALUES \
             ($1, 'old', 'a1', 'Ann', 'ann@mail.acme.co.uk', 'Acme', NULL, 100), \
             ($1, 'old', 'a2', 'Al', 'AL@acme.co.uk ', 'Acme Ltd', NULL, NULL), \
             ($1, 'old', NULL, 'Fay', 'fay@gmail.com', 'Freelance', 'https://fay.dev', NULL), \
             ($1, 'old', 'g1', 'Gus', 'gus@gmail.com', NULL, NULL, NULL)",
            &[&app.tenant.organization_id],
        )
        .await
        .expect("seeding customer rows");
    let mut client = app.ingest_client().await;

    let dry = client
        .migrate_legacy_customers(MigrateLegacyCustomersRequest {
            dry_run: true,
            batch_size: 2,
        })
        .await;
    // A dry run either reports without writing or is refused; it never writes.
    if let Ok(response) = dry {
        assert_eq!(response.into_inner().customers_read, 4);
    }
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 0);

    let response = client
        .migrate_legacy_customers(MigrateLegacyCustomersRequest {
            dry_run: false,
            batch_size: 2,
        })
        .await
        .expect("MigrateLegacyCustomers")
        .into_inner();
    assert_eq!(response.customers_read, 4);
    assert_eq!(response.rows_without_usable_domain, 1, "gus@gmail.com");
    let summary = response.summary.expect("summary");
    assert_eq!((summary.inserted, summary.rejected), (3, 1));
    assert_eq!(summary.companies_created, 2);
    assert_eq!(summary.errors.len(), 1);
    assert_eq!(summary.errors[0].external_id, "g1");
    assert_eq!(response.prospects_without_company, 0);
    assert_eq!(
        response.customers_without_prospect, 1,
        "only the rejected row"
    );

    let companies: Vec<String> = admin
        .query("SELECT domain FROM company ORDER BY domain", &[])
        .await
        .expect("companies")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(companies, ["acme.co.uk", "fay.dev"]);
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect WHERE external_source = 'legacy_customer'"
        )
        .await,
        1,
        "the row without an external id keeps its identity"
    );

    let again = client
        .migrate_legacy_customers(MigrateLegacyCustomersRequest::default())
        .await
        .expect("MigrateLegacyCustomers again")
        .into_inner()
        .summary
        .expect("summary");
    assert_eq!((again.inserted, again.unchanged), (0, 3));
}

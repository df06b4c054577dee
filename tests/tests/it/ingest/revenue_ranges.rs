//! A company's revenue as an amount or a range: CSV cells and API records land both bounds in
//! `company` (revenue, max_revenue), and bounds that do not fit are refused naming the field.

use lma_proto::v1::{CompanyRecord, CsvImportOptions, UpsertCompanyRequest};
use lma_tests::spawn_app;
use tonic::Code;
use tonic_types::StatusExt as _;

use super::import_csv;

const M: i64 = 1_000_000;

/// Every company's (domain, revenue, max_revenue), by domain.
async fn stored_bounds(app: &lma_tests::TestApp) -> Vec<(String, Option<i64>, Option<i64>)> {
    app.db
        .connect()
        .await
        .query(
            "SELECT domain, revenue, max_revenue FROM company ORDER BY domain",
            &[],
        )
        .await
        .expect("companies")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

fn bounds(
    domain: &str,
    revenue: Option<i64>,
    max: Option<i64>,
) -> (String, Option<i64>, Option<i64>) {
    (domain.to_owned(), revenue, max)
}

#[tokio::test]
async fn csv_revenue_cells_land_their_bounds() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let csv = "external_id,email,company_domain,revenue\n\
               a,a@exact.io,exact.io,\"$2,750,000.00\"\n\
               b,b@range.io,range.io,$1M-$10M\n\
               c,c@spaced.io,spaced.io,\"1,000,000 - 5,000,000\"\n\
               d,d@open.io,open.io,$1B+\n\
               e,e@unknown.io,unknown.io,\n\
               f,f@euro.io,euro.io,\u{20ac}1M-\u{20ac}2M\n";
    let (report, _) = import_csv(&mut client, CsvImportOptions::default(), csv.as_bytes())
        .await
        .expect("ImportCsv");
    let summary = report.summary.expect("summary");
    // Only another currency is refused; ranges are stored.
    let errors: Vec<(&str, &str)> = summary
        .errors
        .iter()
        .map(|e| (e.field.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        errors,
        [(
            "company.revenue",
            "\"\u{20ac}1M-\u{20ac}2M\" is in EUR; revenue is stored in US dollars"
        )]
    );
    assert_eq!(
        stored_bounds(&app).await,
        [
            bounds("exact.io", Some(2_750_000), Some(2_750_000)),
            bounds("open.io", Some(1_000 * M), None),
            bounds("range.io", Some(M), Some(10 * M)),
            bounds("spaced.io", Some(M), Some(5 * M)),
            bounds("unknown.io", None, None),
        ]
    );

    // ZoomInfo's thousands column: a range's two bounds are both multiplied.
    let zoominfo = "ZoomInfo Contact ID,Email Address,Website,Revenue (in 000s USD)\n\
                    z1,z1@thousands.io,thousands.io,\"1,000-5,000\"\n";
    let (report, _) = import_csv(
        &mut client,
        CsvImportOptions::default(),
        zoominfo.as_bytes(),
    )
    .await
    .expect("ImportCsv");
    assert_eq!(report.summary.expect("summary").rejected, 0);
    assert!(
        stored_bounds(&app)
            .await
            .contains(&bounds("thousands.io", Some(M), Some(5 * M)))
    );

    // A later exact amount replaces the range whole, and an open range clears the old upper
    // bound: the two bounds go together.
    let again = "external_id,email,company_domain,revenue\n\
                 b,b@range.io,range.io,$3M\n\
                 a,a@exact.io,exact.io,$5M+\n";
    import_csv(&mut client, CsvImportOptions::default(), again.as_bytes())
        .await
        .expect("ImportCsv");
    let stored = stored_bounds(&app).await;
    assert!(
        stored.contains(&bounds("range.io", Some(3 * M), Some(3 * M))),
        "{stored:?}"
    );
    assert!(
        stored.contains(&bounds("exact.io", Some(5 * M), None)),
        "{stored:?}"
    );
}

#[tokio::test]
async fn api_records_give_the_bounds_and_bad_ones_are_named() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let upsert = |domain: &str, revenue, max_revenue, revenue_open_ended| UpsertCompanyRequest {
        company: Some(CompanyRecord {
            domain: domain.into(),
            revenue,
            max_revenue,
            revenue_open_ended,
            ..Default::default()
        }),
    };

    // Without max_revenue an amount is exact, as it always was.
    for (domain, revenue, max, open, expected_max) in [
        ("exact.io", Some(7 * M), None, false, Some(7 * M)),
        ("range.io", Some(M), Some(10 * M), false, Some(10 * M)),
        ("open.io", Some(1_000 * M), None, true, None),
    ] {
        let company = client
            .upsert_company(upsert(domain, revenue, max, open))
            .await
            .unwrap_or_else(|status| panic!("UpsertCompany {domain}: {status}"))
            .into_inner()
            .company
            .expect("the stored company");
        assert_eq!(
            (company.revenue, company.max_revenue),
            (revenue, expected_max),
            "{domain}"
        );
    }
    assert_eq!(
        stored_bounds(&app).await,
        [
            bounds("exact.io", Some(7 * M), Some(7 * M)),
            bounds("open.io", Some(1_000 * M), None),
            bounds("range.io", Some(M), Some(10 * M)),
        ]
    );

    for (case, request, field) in [
        (
            "upper bound below the lower",
            upsert("bad.io", Some(10 * M), Some(M), false),
            "company.max_revenue",
        ),
        (
            "upper bound without revenue",
            upsert("bad.io", None, Some(M), false),
            "company.max_revenue",
        ),
        (
            "upper bound on an open range",
            upsert("bad.io", Some(M), Some(2 * M), true),
            "company.max_revenue",
        ),
        (
            "open range without revenue",
            upsert("bad.io", None, None, true),
            "company.revenue_open_ended",
        ),
    ] {
        let status = client.upsert_company(request).await.expect_err(case);
        assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
        let fields: Vec<String> = status
            .get_details_bad_request()
            .unwrap_or_else(|| panic!("{case}: no BadRequest details"))
            .field_violations
            .iter()
            .map(|violation| violation.field.clone())
            .collect();
        assert_eq!(fields, [field], "{case}");
        assert!(
            status.message().contains(field),
            "{case}: {}",
            status.message()
        );
    }
    assert_eq!(stored_bounds(&app).await.len(), 3, "nothing bad was stored");
}

//! Bad input: INVALID_ARGUMENT with a field violation naming the field, before any SQL runs.

use lma_proto::v1::{
    CountProspectsRequest, GetCompanyRequest, Int32Range, Int64Range, ProspectFilter,
    SearchCompaniesRequest, SearchProspectsRequest, get_company_request,
};
use lma_tests::spawn_app;
use tonic::Code;
use tonic_types::StatusExt;

fn fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_input_names_its_field() {
    let app = spawn_app().await;
    app.upsert_prospect(lma_tests::fixtures::jane_doe()).await;
    let mut client = app.search_client().await;
    let f = ProspectFilter::default;
    let request = |filter: ProspectFilter| SearchProspectsRequest {
        filter: Some(filter),
        ..Default::default()
    };
    let cases: Vec<(&str, SearchProspectsRequest, &str)> = vec![
        (
            "unknown sort",
            SearchProspectsRequest {
                sort: 99,
                ..Default::default()
            },
            "sort",
        ),
        (
            "relevance without a query",
            SearchProspectsRequest {
                sort: 1,
                ..Default::default()
            },
            "sort",
        ),
        (
            "unknown job title level",
            request(ProspectFilter {
                job_title_levels: vec![42],
                ..f()
            }),
            "filter.job_title_levels[0]",
        ),
        (
            "inverted revenue range",
            request(ProspectFilter {
                revenue: Some(Int64Range {
                    min: Some(10),
                    max: Some(1),
                }),
                ..f()
            }),
            "filter.revenue",
        ),
        (
            "negative revenue",
            request(ProspectFilter {
                revenue: Some(Int64Range {
                    min: Some(-5),
                    max: None,
                }),
                ..f()
            }),
            "filter.revenue.min",
        ),
        (
            "inverted employee range",
            request(ProspectFilter {
                employees: Some(Int32Range {
                    min: Some(500),
                    max: Some(10),
                }),
                ..f()
            }),
            "filter.employees",
        ),
        (
            "oversized domain list",
            request(ProspectFilter {
                company_domains: vec!["a.com".into(); 1001],
                ..f()
            }),
            "filter.company_domains",
        ),
        (
            "over-long query",
            request(ProspectFilter {
                query: "x".repeat(257),
                ..f()
            }),
            "filter.query",
        ),
        (
            "over-long prefix",
            request(ProspectFilter {
                company_name_prefix: "x".repeat(301),
                ..f()
            }),
            "filter.company_name_prefix",
        ),
        (
            "forged page token",
            SearchProspectsRequest {
                page_token: "00ff".repeat(10),
                ..Default::default()
            },
            "page_token",
        ),
        (
            "page size over the maximum",
            SearchProspectsRequest {
                page_size: 1001,
                ..Default::default()
            },
            "page_size",
        ),
        (
            "malformed min_token",
            SearchProspectsRequest {
                min_token: "yesterday".into(),
                ..Default::default()
            },
            "min_token",
        ),
    ];
    for (case, request, field) in cases {
        let status = lma_tests::app::search_prospects(&mut client, request)
            .await
            .expect_err(case);
        assert_eq!(fields(&status), [field], "{case}");
    }

    // A token from another filter (stale for this query) is refused, not misapplied.
    let first = lma_tests::app::search_prospects(
        &mut client,
        SearchProspectsRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .expect("a search");
    app.upsert_prospect(lma_tests::fixtures::prospect_with_revenue("second", None))
        .await;
    let token = if first.end.next_page_token.is_empty() {
        // Only one row was visible yet: make a token from a two-row page.
        app.wait_until_visible(f(), "second").await;
        lma_tests::app::search_prospects(
            &mut client,
            SearchProspectsRequest {
                page_size: 1,
                ..Default::default()
            },
        )
        .await
        .expect("a search")
        .end
        .next_page_token
    } else {
        first.end.next_page_token
    };
    assert!(!token.is_empty());
    let status = lma_tests::app::search_prospects(
        &mut client,
        SearchProspectsRequest {
            filter: Some(lma_tests::fixtures::industries(&["Robotics"])),
            page_token: token,
            ..Default::default()
        },
    )
    .await
    .expect_err("a token of another query");
    assert_eq!(fields(&status), ["page_token"]);

    // The other RPCs validate the same way.
    let status = client
        .count_prospects(CountProspectsRequest {
            facets: vec![0],
            ..Default::default()
        })
        .await
        .expect_err("unknown facet");
    assert_eq!(fields(&status), ["facets[0]"]);
    let status = client
        .count_prospects(CountProspectsRequest {
            facet_limit: 201,
            ..Default::default()
        })
        .await
        .expect_err("facet limit");
    assert_eq!(fields(&status), ["facet_limit"]);
    let status = client
        .search_companies(SearchCompaniesRequest {
            filter: Some(lma_proto::v1::CompanyFilter {
                min_prospects: Some(-1),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect_err("negative min_prospects");
    assert_eq!(fields(&status), ["filter.min_prospects"]);
    let status = client
        .get_company(GetCompanyRequest {
            company: Some(get_company_request::Company::CompanyId("acme".into())),
            min_token: String::new(),
            include_suppressed: false,
        })
        .await
        .expect_err("a company id that is not one");
    assert_eq!(fields(&status), ["company_id"]);
}

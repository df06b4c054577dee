//! Read your writes: min_token on every search RPC; freshness in every answer.

use std::time::{Duration, Instant};

use lma_proto::v1::export_prospects_response::Result as ExportResult;
use lma_proto::v1::search_companies_response::Result as CompanyResult;
use lma_proto::v1::{
    CountProspectsRequest, ExportProspectsRequest, GetCompanyRequest, SearchCompaniesRequest,
    SearchProspectsRequest, get_company_request,
};
use lma_tests::{fixtures, spawn_app};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_with_the_token_of_a_just_committed_write_sees_it() {
    let app = spawn_app().await;
    let mut client = app.search_client().await;
    for round in 0..3 {
        let mut record = fixtures::prospect_with_revenue(&format!("ryw-{round}"), Some(7));
        record.last_name = format!("Readback{round}");
        let token = app.upsert_prospect(record).await.consistency_token;
        assert!(!token.is_empty());

        // No polling: the first search carrying the token must see the write.
        let page = lma_tests::app::search_prospects(
            &mut client,
            SearchProspectsRequest {
                filter: Some(fixtures::query(&format!("readback{round}"))),
                min_token: token.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("SearchProspects with min_token");
        assert_eq!(super::data::ids(&page), [format!("ryw-{round}")]);
        let watermark: u64 = page
            .end
            .freshness
            .expect("freshness")
            .watermark
            .parse()
            .expect("xid");
        assert!(watermark > token.parse::<u64>().expect("token is an xid"));

        let count = client
            .count_prospects(CountProspectsRequest {
                filter: Some(fixtures::query(&format!("readback{round}"))),
                min_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("CountProspects with min_token")
            .into_inner();
        assert_eq!(count.total, 1);

        let company = client
            .get_company(GetCompanyRequest {
                company: Some(get_company_request::Company::Domain(format!(
                    "ryw-{round}-corp.com"
                ))),
                min_token: token.clone(),
                include_suppressed: false,
            })
            .await
            .expect("GetCompany with min_token")
            .into_inner();
        assert_eq!(company.company.expect("company").prospect_count, 1);
        assert!(company.freshness.is_some());

        let mut companies = client
            .search_companies(SearchCompaniesRequest {
                filter: Some(lma_proto::v1::CompanyFilter {
                    domains: vec![format!("ryw-{round}-corp.com")],
                    ..Default::default()
                }),
                min_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("SearchCompanies with min_token")
            .into_inner();
        let first = companies
            .message()
            .await
            .expect("a message")
            .expect("a result");
        assert!(matches!(first.result, Some(CompanyResult::Company(_))));

        let mut export = client
            .export_prospects(ExportProspectsRequest {
                filter: Some(fixtures::query(&format!("readback{round}"))),
                min_token: token,
            })
            .await
            .expect("ExportProspects with min_token")
            .into_inner();
        let first = export
            .message()
            .await
            .expect("a message")
            .expect("a result");
        assert!(matches!(first.result, Some(ExportResult::Prospect(_))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_not_reached_within_the_deadline_is_deadline_exceeded() {
    let app = spawn_app().await;
    let mut client = app.search_client().await;
    let mut request = tonic::Request::new(SearchProspectsRequest {
        // Far beyond any transaction this database will run.
        min_token: "900000000000".into(),
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(400));
    let started = Instant::now();
    let status = match client.search_prospects(request).await {
        Err(status) => status,
        Ok(response) => response
            .into_inner()
            .message()
            .await
            .expect_err("no answer before the token is reached"),
    };
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the wait honours the deadline"
    );
}

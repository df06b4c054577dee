//! SearchCompanies and GetCompany from company_summary_view.

use lma_proto::v1::search_companies_response::Result as CompanyResult;
use lma_proto::v1::{
    CompanyFilter, CompanySort, GetCompanyRequest, SearchCompaniesRequest, get_company_request,
};
use lma_tests::spawn_app;
use tonic::Code;

use super::data::load_people;

/// Every company a search returns, page after page.
pub(super) async fn all_companies(
    client: &mut lma_tests::clients::SearchClient,
    mut request: SearchCompaniesRequest,
) -> Vec<lma_proto::v1::CompanySummary> {
    let mut found = Vec::new();
    loop {
        let mut stream = client
            .search_companies(request.clone())
            .await
            .expect("SearchCompanies")
            .into_inner();
        let mut token = None;
        while let Some(message) = stream.message().await.expect("a message") {
            match message.result {
                Some(CompanyResult::Company(company)) => found.push(company),
                Some(CompanyResult::End(end)) => token = Some(end.next_page_token),
                None => panic!("empty message"),
            }
        }
        match token.expect("PageEnd") {
            token if token.is_empty() => return found,
            token => request.page_token = token,
        }
    }
}

async fn company_domains(
    client: &mut lma_tests::clients::SearchClient,
    request: SearchCompaniesRequest,
) -> Vec<String> {
    all_companies(client, request)
        .await
        .into_iter()
        .map(|company| company.domain)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn companies_are_searched_sorted_and_fetched_with_their_counts() {
    let app = spawn_app().await;
    load_people(&app).await;
    let mut client = app.search_client().await;
    let request = |filter: CompanyFilter, sort: CompanySort| SearchCompaniesRequest {
        filter: Some(filter),
        sort: sort as i32,
        page_size: 1,
        ..Default::default()
    };
    let f = CompanyFilter::default;
    let cases = [
        (
            "by name",
            request(f(), CompanySort::Name),
            vec![
                "acme-robotics.com",
                "bolt-retail.fr",
                "quiet.io",
                "zeta-health.com",
            ],
        ),
        (
            "by revenue",
            request(f(), CompanySort::Revenue),
            vec![
                "acme-robotics.com",
                "bolt-retail.fr",
                "quiet.io",
                "zeta-health.com",
            ],
        ),
        (
            "at least two prospects",
            request(
                CompanyFilter {
                    min_prospects: Some(2),
                    ..f()
                },
                CompanySort::ProspectCount,
            ),
            vec!["zeta-health.com", "acme-robotics.com"],
        ),
        (
            "text",
            request(
                CompanyFilter {
                    query: "health".into(),
                    ..f()
                },
                CompanySort::Unspecified,
            ),
            vec!["zeta-health.com"],
        ),
        (
            "industry and country",
            request(
                CompanyFilter {
                    industries: vec!["retail".into()],
                    countries: vec!["France".into()],
                    ..f()
                },
                CompanySort::Name,
            ),
            vec!["bolt-retail.fr"],
        ),
        (
            "name prefix",
            request(
                CompanyFilter {
                    name_prefix: "ac".into(),
                    ..f()
                },
                CompanySort::Name,
            ),
            vec!["acme-robotics.com"],
        ),
    ];
    for (case, request, expected) in cases {
        assert_eq!(
            company_domains(&mut client, request).await,
            expected,
            "{case}"
        );
    }

    let acme = client
        .get_company(GetCompanyRequest {
            company: Some(get_company_request::Company::Domain(
                "ACME-robotics.com".into(),
            )),
            min_token: String::new(),
            include_suppressed: false,
        })
        .await
        .expect("GetCompany by domain")
        .into_inner()
        .company
        .expect("company");
    assert_eq!(acme.prospect_count, 2);
    assert_eq!(acme.departments, ["Engineering", "Sales"]);
    assert!(acme.last_prospect_updated_at.is_some());
    let by_id = client
        .get_company(GetCompanyRequest {
            company: Some(get_company_request::Company::CompanyId(
                acme.company_id.clone(),
            )),
            min_token: String::new(),
            include_suppressed: false,
        })
        .await
        .expect("GetCompany by id")
        .into_inner();
    assert_eq!(by_id.company.expect("company").domain, "acme-robotics.com");

    // Another tenant cannot fetch it.
    let other = app.create_tenant("other").await;
    let status = app
        .search_client_with(lma_tests::BearerAuth::key(&other.api_key))
        .await
        .get_company(GetCompanyRequest {
            company: Some(get_company_request::Company::CompanyId(acme.company_id)),
            min_token: String::new(),
            include_suppressed: false,
        })
        .await
        .expect_err("another tenant's company");
    assert_eq!(status.code(), Code::NotFound);
}

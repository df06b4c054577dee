//! Page tokens are sealed: a client can read nothing in one, and an altered, cut or
//! cross-tenant token is `INVALID_ARGUMENT` on `page_token`, never another page.

use lma_proto::v1::search_companies_response::Result as CompanyResult;
use lma_proto::v1::{CompanySort, SearchCompaniesRequest, SearchProspectsRequest};
use lma_tests::app::search_prospects;
use lma_tests::clients::{BearerAuth, SearchClient};
use lma_tests::{TestApp, spawn_app};
use tonic::Code;
use tonic_types::StatusExt as _;

fn named_field(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|violation| violation.field)
        .collect()
}

/// The token after the first prospect of a page of one.
async fn first_page_token(client: &mut SearchClient) -> String {
    let page = search_prospects(
        client,
        SearchProspectsRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .expect("a first page");
    assert!(!page.end.next_page_token.is_empty(), "more than one page");
    page.end.next_page_token
}

async fn second_page(
    client: &mut SearchClient,
    page_token: String,
) -> Result<usize, tonic::Status> {
    search_prospects(
        client,
        SearchProspectsRequest {
            page_size: 1,
            page_token,
            ..Default::default()
        },
    )
    .await
    .map(|page| page.hits.len())
}

async fn two_prospects(app: &TestApp, organization_id: i64) {
    lma_tests::bulk::insert_prospects(&app.db, organization_id, 2, 3).await;
    lma_tests::bulk::build_read_models(&app.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_cut_and_foreign_tokens_are_refused() {
    let app = spawn_app().await;
    let other = app.create_tenant("globex").await;
    two_prospects(&app, app.tenant.organization_id).await;
    two_prospects(&app, other.organization_id).await;
    let mut client = app.search_client().await;
    let mut other_client = app
        .search_client_with(BearerAuth::key(&other.api_key))
        .await;

    let token = first_page_token(&mut client).await;
    assert_eq!(
        second_page(&mut client, token.clone())
            .await
            .map_err(|s| s.code()),
        Ok(1)
    );

    let mut altered = Vec::new();
    let middle = token.len() / 2;
    for at in [0, middle, token.len() - 2] {
        let mut bytes = token.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        altered.push(String::from_utf8(bytes).expect("ASCII"));
    }
    let cases = altered.into_iter().chain([
        token[..token.len() / 2].to_owned(),
        token[1..].to_owned(),
        format!("{token}AA"),
    ]);
    for (case, bad) in cases.enumerate() {
        let status = second_page(&mut client, bad).await.expect_err("refused");
        assert_eq!(named_field(&status), ["page_token"], "case {case}");
    }

    // The same filter and sort in another organization: the token does not open there.
    let status = second_page(&mut other_client, token)
        .await
        .expect_err("another organization's token");
    assert_eq!(named_field(&status), ["page_token"]);
    assert!(!status.message().contains("acme"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_sort_token_does_not_show_the_company_name() {
    let app = spawn_app().await;
    two_prospects(&app, app.tenant.organization_id).await;
    let mut client = app.search_client().await;
    let mut stream = client
        .search_companies(SearchCompaniesRequest {
            sort: CompanySort::Name as i32,
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("SearchCompanies")
        .into_inner();
    let mut name = None;
    let mut token = None;
    while let Some(message) = stream.message().await.expect("a message") {
        match message.result {
            Some(CompanyResult::Company(company)) => name = Some(company.name),
            Some(CompanyResult::End(end)) => token = Some(end.next_page_token),
            None => {}
        }
    }
    let (name, token) = (name.expect("a company"), token.expect("a PageEnd"));
    assert!(!token.is_empty(), "two companies, pages of one");
    let lower = name.to_lowercase();
    let hex: String = lower.bytes().map(|byte| format!("{byte:02x}")).collect();
    for shown in [&name, &lower, &hex] {
        assert!(!token.contains(shown.as_str()), "{token} shows {shown}");
    }
}

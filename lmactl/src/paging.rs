//! Searches answered in pages (SearchProspects, SearchCompanies): one page, or every page to
//! the last by following `PageEnd.next_page_token`, each row handed on as it arrives.

use anyhow::Context as _;
use lma_proto::v1::search_companies_response::Result as CompanyResult;
use lma_proto::v1::search_prospects_response::Result as ProspectResult;
use lma_proto::v1::{
    CompanySummary, PageEnd, ProspectSummary, SearchCompaniesRequest, SearchCompaniesResponse,
    SearchProspectsRequest, SearchProspectsResponse,
};
use tonic::Streaming;

use crate::grpc::SearchClient;

/// One row of a page, or the page's end.
pub enum Item<Row> {
    Row(Row),
    End(PageEnd),
}

/// A search request that pages.
pub trait PagedSearch: Clone {
    type Response;
    type Row;
    /// The RPC's name, for errors.
    const RPC: &'static str;

    fn page_token(&self) -> &str;
    fn set_page_token(&mut self, token: String);
    async fn open(
        client: &mut SearchClient,
        request: Self,
    ) -> Result<Streaming<Self::Response>, tonic::Status>;
    fn item(response: Self::Response) -> Option<Item<Self::Row>>;
}

impl PagedSearch for SearchProspectsRequest {
    type Response = SearchProspectsResponse;
    type Row = ProspectSummary;
    const RPC: &'static str = "SearchProspects";

    fn page_token(&self) -> &str {
        &self.page_token
    }

    fn set_page_token(&mut self, token: String) {
        self.page_token = token;
    }

    async fn open(
        client: &mut SearchClient,
        request: Self,
    ) -> Result<Streaming<Self::Response>, tonic::Status> {
        Ok(client.search_prospects(request).await?.into_inner())
    }

    fn item(response: Self::Response) -> Option<Item<Self::Row>> {
        match response.result? {
            // A hit without its prospect would be a server bug; it shows as an empty row.
            ProspectResult::Hit(hit) => Some(Item::Row(hit.prospect.unwrap_or_default())),
            ProspectResult::End(end) => Some(Item::End(end)),
        }
    }
}

impl PagedSearch for SearchCompaniesRequest {
    type Response = SearchCompaniesResponse;
    type Row = CompanySummary;
    const RPC: &'static str = "SearchCompanies";

    fn page_token(&self) -> &str {
        &self.page_token
    }

    fn set_page_token(&mut self, token: String) {
        self.page_token = token;
    }

    async fn open(
        client: &mut SearchClient,
        request: Self,
    ) -> Result<Streaming<Self::Response>, tonic::Status> {
        Ok(client.search_companies(request).await?.into_inner())
    }

    fn item(response: Self::Response) -> Option<Item<Self::Row>> {
        match response.result? {
            CompanyResult::Company(company) => Some(Item::Row(company)),
            CompanyResult::End(end) => Some(Item::End(end)),
        }
    }
}

/// Runs `request` (from its page token), handing each row to `row`; with `all`, follows the
/// page tokens to the last page. Returns the token of the next page, empty when there is none.
pub async fn each_row<S: PagedSearch>(
    client: &mut SearchClient,
    mut request: S,
    all: bool,
    mut row: impl FnMut(S::Row) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    loop {
        let mut stream = S::open(client, request.clone()).await.context(S::RPC)?;
        let mut end = None;
        while let Some(response) = stream.message().await.context(S::RPC)? {
            match S::item(response) {
                Some(Item::Row(found)) if end.is_none() => row(found)?,
                Some(Item::End(page_end)) if end.is_none() => end = Some(page_end),
                Some(_) => anyhow::bail!("{} sent a message after its PageEnd", S::RPC),
                None => anyhow::bail!("{} sent a message with no result", S::RPC),
            }
        }
        let end = end.with_context(|| format!("{} ended without a PageEnd", S::RPC))?;
        // A token handed back unchanged would page forever.
        anyhow::ensure!(
            end.next_page_token.is_empty() || end.next_page_token != request.page_token(),
            "{} returned the page token it was given",
            S::RPC
        );
        if end.next_page_token.is_empty() || !all {
            return Ok(end.next_page_token);
        }
        request.set_page_token(end.next_page_token);
    }
}

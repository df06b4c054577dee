//! The `lma.v1.SearchService` gRPC handlers. Results are streamed: a task reads rows from
//! PostgreSQL and feeds a bounded channel, so a slow client slows the query and a client that
//! goes away stops it.

use std::pin::Pin;
use std::time::SystemTime;

use futures_util::{Stream, StreamExt};
use lma_proto::v1::search_prospects_response::Result as SearchResult;
use lma_proto::v1::search_service_server::SearchService;
use lma_proto::v1::{
    CountProspectsRequest, CountProspectsResponse, ExportProspectsRequest, ExportProspectsResponse,
    Freshness, GetCompanyRequest, GetCompanyResponse, JobTitleLevel, PageEnd, ProspectHit,
    ProspectSort, ProspectSummary, SearchCompaniesRequest, SearchCompaniesResponse,
    SearchProspectsRequest, SearchProspectsResponse,
};
use svc_core::Pool;
use tokio::sync::mpsc;
use tokio_postgres::Row;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::SearchError;
use crate::page_token::{self, UpdatedAtCursor};
use crate::query;

/// Hits buffered between the database and a client: enough to keep both busy, small enough
/// that a slow client holds the query back instead of filling memory.
const STREAM_BUFFER: usize = 64;

pub struct SearchApi {
    pool: Pool,
}

impl SearchApi {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn not_implemented(rpc: &str) -> Status {
    SearchError::NotImplemented(format!("{rpc} is not implemented yet")).into()
}

fn page_size(requested: u32) -> Result<u32, SearchError> {
    match requested {
        0 => Ok(query::DEFAULT_PAGE_SIZE),
        size if size > query::MAX_PAGE_SIZE => Err(SearchError::invalid(
            "page_size",
            format!("is {size}; at most {} are allowed", query::MAX_PAGE_SIZE),
        )),
        size => Ok(size),
    }
}

#[tonic::async_trait]
impl SearchService for SearchApi {
    type SearchProspectsStream = ResponseStream<SearchProspectsResponse>;

    async fn search_prospects(
        &self,
        request: Request<SearchProspectsRequest>,
    ) -> Result<Response<Self::SearchProspectsStream>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let request = request.into_inner();
        let sort = ProspectSort::try_from(request.sort).map_err(|_| {
            SearchError::invalid("sort", format!("{} is not a known sort", request.sort))
        })?;
        if !matches!(sort, ProspectSort::Unspecified | ProspectSort::UpdatedAt) {
            return Err(SearchError::NotImplemented(format!(
                "sort {} is not implemented yet",
                sort.as_str_name()
            ))
            .into());
        }
        let page_size = page_size(request.page_size)?;
        let filter = request.filter.unwrap_or_default();
        let fingerprint = page_token::fingerprint(&filter, request.sort);
        let cursor = if request.page_token.is_empty() {
            None
        } else {
            Some(
                page_token::decode(&request.page_token, fingerprint)
                    .map_err(|error| SearchError::invalid("page_token", error.to_string()))?,
            )
        };
        let sql = query::search_prospects(caller.organization_id, &filter, page_size, cursor)?;

        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let outcome = stream_page(&pool, sql, page_size, fingerprint, &sender).await;
            if let Err(error) = outcome {
                // The client may be gone already; then there is nobody left to tell.
                let _ = sender.send(Err(error.into())).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    type SearchCompaniesStream = ResponseStream<SearchCompaniesResponse>;

    async fn search_companies(
        &self,
        _request: Request<SearchCompaniesRequest>,
    ) -> Result<Response<Self::SearchCompaniesStream>, Status> {
        Err(not_implemented("SearchCompanies"))
    }

    async fn get_company(
        &self,
        _request: Request<GetCompanyRequest>,
    ) -> Result<Response<GetCompanyResponse>, Status> {
        Err(not_implemented("GetCompany"))
    }

    async fn count_prospects(
        &self,
        _request: Request<CountProspectsRequest>,
    ) -> Result<Response<CountProspectsResponse>, Status> {
        Err(not_implemented("CountProspects"))
    }

    type ExportProspectsStream = ResponseStream<ExportProspectsResponse>;

    async fn export_prospects(
        &self,
        _request: Request<ExportProspectsRequest>,
    ) -> Result<Response<Self::ExportProspectsStream>, Status> {
        Err(not_implemented("ExportProspects"))
    }
}

/// Streams the rows of one page, then the PageEnd. Returns early, without error, when the
/// client has gone away.
async fn stream_page(
    pool: &Pool,
    sql: query::SqlQuery,
    page_size: u32,
    fingerprint: [u8; 8],
    sender: &mpsc::Sender<Result<SearchProspectsResponse, Status>>,
) -> Result<(), SearchError> {
    let client = pool.get().await.map_err(svc_core::DbError::from)?;
    let freshness = freshness(&client, "prospect_search_view").await?;
    let rows = client.query_raw(sql.sql.as_str(), sql.param_refs()).await?;
    futures_util::pin_mut!(rows);
    let mut returned = 0;
    let mut last: Option<UpdatedAtCursor> = None;
    let mut more = false;
    while let Some(row) = rows.next().await {
        let row = row?;
        if returned == page_size {
            more = true;
            break;
        }
        let (hit, cursor) = hit_from_row(&row)?;
        last = Some(cursor);
        returned += 1;
        let message = SearchProspectsResponse {
            result: Some(SearchResult::Hit(hit)),
        };
        if sender.send(Ok(message)).await.is_err() {
            return Ok(());
        }
    }
    let next_page_token = match (more, last) {
        (true, Some(cursor)) => page_token::encode(cursor, fingerprint),
        _ => String::new(),
    };
    let end = PageEnd {
        next_page_token,
        returned,
        freshness: Some(freshness),
    };
    let _ = sender
        .send(Ok(SearchProspectsResponse {
            result: Some(SearchResult::End(end)),
        }))
        .await;
    Ok(())
}

/// How far a read model is applied (DESIGN.md section 3).
async fn freshness(
    client: &tokio_postgres::Client,
    read_model: &str,
) -> Result<Freshness, SearchError> {
    let row = client
        .query_one(
            "SELECT watermark::text, watermark_at FROM read_model_state WHERE read_model = $1",
            &[&read_model],
        )
        .await?;
    Ok(Freshness {
        watermark: row.try_get(0)?,
        refreshed_at: Some(row.try_get::<_, SystemTime>(1)?.into()),
    })
}

fn text(row: &Row, column: &str) -> Result<String, tokio_postgres::Error> {
    Ok(row
        .try_get::<_, Option<String>>(column)?
        .unwrap_or_default())
}

fn hit_from_row(row: &Row) -> Result<(ProspectHit, UpdatedAtCursor), SearchError> {
    let prospect_id: i64 = row.try_get("prospect_id")?;
    let updated_at: SystemTime = row.try_get("updated_at")?;
    let custom_fields = match row.try_get::<_, serde_json::Value>("custom_fields")? {
        serde_json::Value::Object(object) => object
            .into_iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => (key, text),
                other => (key, other.to_string()),
            })
            .collect(),
        _ => Default::default(),
    };
    let prospect = ProspectSummary {
        prospect_id: prospect_id.to_string(),
        company_id: row.try_get::<_, i64>("company_id")?.to_string(),
        salutation: text(row, "salutation")?,
        first_name: text(row, "first_name")?,
        last_name: text(row, "last_name")?,
        full_name: text(row, "full_name")?,
        email: row.try_get("email")?,
        job_title: text(row, "job_title")?,
        job_title_level: JobTitleLevel::from_stored(row.try_get("job_title_level")?).into(),
        department: text(row, "department")?,
        city: text(row, "city")?,
        state: text(row, "state")?,
        country: text(row, "country")?,
        tags: row.try_get("tags")?,
        custom_fields,
        company_domain: row.try_get("company_domain")?,
        company_name: text(row, "company_name")?,
        industry: text(row, "industry")?,
        min_employees: row.try_get("min_employees")?,
        max_employees: row.try_get("max_employees")?,
        revenue: row.try_get("revenue")?,
        formatted_revenue: row.try_get("formatted_revenue")?,
        company_context: text(row, "company_context")?,
        external_source: row.try_get("external_source")?,
        external_id: row.try_get("external_id")?,
        updated_at: Some(updated_at.into()),
    };
    let hit = ProspectHit {
        prospect: Some(prospect),
        score: row.try_get("score")?,
    };
    let cursor = UpdatedAtCursor {
        updated_at_micros: query::micros_since_epoch(updated_at),
        prospect_id,
    };
    Ok((hit, cursor))
}

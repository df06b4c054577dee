//! The `lma.v1.SearchService` gRPC handlers: validate, then stream what the work produces (see
//! `stream`, `paging` and `export`).

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::ClientWrapper;
use lma_proto::v1::Freshness;
use lma_proto::v1::search_companies_response::Result as CompanyResult;
use lma_proto::v1::search_prospects_response::Result as ProspectResult;
use lma_proto::v1::search_service_server::SearchService;
use lma_proto::v1::{
    CountProspectsRequest, CountProspectsResponse, ExportProspectsRequest, ExportProspectsResponse,
    GetCompanyRequest, GetCompanyResponse, ProspectHit, SearchCompaniesRequest,
    SearchCompaniesResponse, SearchProspectsRequest, SearchProspectsResponse, get_company_request,
};
use svc_core::db::{DbOperation, traced};
use tokio::time::Instant;
use tokio_postgres::types::ToSql;
use tonic::{Request, Response, Status};

use crate::connections::Connections;
use crate::error::SearchError;
use crate::filter::{self, ProspectConditions};
use crate::freshness::{self, MinToken, ReadModel};
use crate::page_token::{PageTokenKeys, TextMode};
use crate::paging::{self, PageShape};
use crate::query::{self, PageRequest};
use crate::stream::{ResponseStream, stream_of};
use crate::watermark::{Wait, WatermarkWatch};
use crate::{count, export, rows};

pub struct SearchApi {
    connections: Connections,
    watermarks: Arc<WatermarkWatch>,
    page_token_keys: Arc<PageTokenKeys>,
    min_token_max_wait: Duration,
}

impl SearchApi {
    pub fn new(
        connections: Connections,
        watermarks: Arc<WatermarkWatch>,
        page_token_keys: Arc<PageTokenKeys>,
        min_token_max_wait: Duration,
    ) -> Self {
        Self {
            connections,
            watermarks,
            page_token_keys,
            min_token_max_wait,
        }
    }

    fn deadline<T>(&self, request: &Request<T>) -> Instant {
        freshness::deadline(request.metadata(), self.min_token_max_wait)
    }
}

/// Runs `work` and, unless it is already known, reads the freshness of `model` for
/// `organization_id` pipelined with it on the same connection (the freshness statement is sent
/// first).
async fn with_freshness<T>(
    client: &ClientWrapper,
    model: ReadModel,
    organization_id: i64,
    known: Option<Freshness>,
    work: impl Future<Output = Result<T, SearchError>>,
) -> Result<(Freshness, T), SearchError> {
    match known {
        Some(freshness) => Ok((freshness, work.await?)),
        None => {
            let read = freshness::read_cached(client, model, organization_id);
            let ((_, freshness), done) = futures_util::future::try_join(read, work).await?;
            Ok((freshness, done))
        }
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
        let deadline = self.deadline(&request);
        let request = request.into_inner();
        let tokens = self
            .page_token_keys
            .for_organization(caller.organization_id);
        let page = PageRequest::prospects(&request, &tokens)?;
        page.conditions.authorize(&caller, "filter")?;
        let wait = Wait {
            watermarks: Arc::clone(&self.watermarks),
            model: ReadModel::ProspectSearch,
            min_token: MinToken::parse(&request.min_token, "min_token")?,
            caller: caller.clone(),
            deadline,
        };
        let shape = PageShape {
            read_model: ReadModel::ProspectSearch,
            organization_id: caller.organization_id,
            id_column: "prospect_id",
            order: page.order,
            page_size: page.page_size,
            fingerprint: page.fingerprint,
            tokens,
            message: |row| {
                Ok(SearchProspectsResponse {
                    result: Some(ProspectResult::Hit(ProspectHit {
                        prospect: Some(rows::prospect_from_row(row)?),
                        score: rows::score(row)?,
                    })),
                })
            },
            end: |end| SearchProspectsResponse {
                result: Some(ProspectResult::End(end)),
            },
        };
        let connections = self.connections.clone();
        let organization_id = caller.organization_id;
        let messages = stream_of(move |mut outbox| async move {
            let mut freshness = wait.awaited().await?;
            let client = connections.get(caller.api_key_id).await?;
            let text_mode = page
                .cursor
                .as_ref()
                .map(|c| c.text_mode)
                .unwrap_or_default();
            // The first page of a text search that full text cannot match falls back to
            // trigram matching (see `query::text_mode`); the page token carries the choice to
            // the next pages. Full text is tried first because it usually matches: the probe
            // runs only when the page comes back empty.
            let may_fall_back = page.cursor.is_none() && page.conditions.query.is_some();
            let sql = page.sql(organization_id, text_mode);
            let streamed = paging::stream_page(
                &client,
                sql,
                &shape,
                text_mode,
                &mut freshness,
                !may_fall_back,
                &mut outbox,
            )
            .await?;
            if streamed == 0 && may_fall_back {
                match query::text_mode(&**client, organization_id, &page.conditions).await? {
                    TextMode::Trigram => {
                        let sql = page.sql(organization_id, TextMode::Trigram);
                        paging::stream_page(
                            &client,
                            sql,
                            &shape,
                            TextMode::Trigram,
                            &mut freshness,
                            true,
                            &mut outbox,
                        )
                        .await?;
                    }
                    TextMode::FullText => {
                        paging::send_end(&shape, String::new(), 0, &freshness, &mut outbox).await;
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(Response::new(messages))
    }

    type SearchCompaniesStream = ResponseStream<SearchCompaniesResponse>;

    async fn search_companies(
        &self,
        request: Request<SearchCompaniesRequest>,
    ) -> Result<Response<Self::SearchCompaniesStream>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let deadline = self.deadline(&request);
        let request = request.into_inner();
        let tokens = self
            .page_token_keys
            .for_organization(caller.organization_id);
        let page = PageRequest::companies(&request, &tokens)?;
        page.conditions.authorize(&caller, "filter")?;
        let wait = Wait {
            watermarks: Arc::clone(&self.watermarks),
            model: ReadModel::CompanySummary,
            min_token: MinToken::parse(&request.min_token, "min_token")?,
            caller: caller.clone(),
            deadline,
        };
        let shape = PageShape {
            read_model: ReadModel::CompanySummary,
            organization_id: caller.organization_id,
            id_column: "company_id",
            order: page.order,
            page_size: page.page_size,
            fingerprint: page.fingerprint,
            tokens,
            message: |row| {
                Ok(SearchCompaniesResponse {
                    result: Some(CompanyResult::Company(rows::company_from_row(row)?)),
                })
            },
            end: |end| SearchCompaniesResponse {
                result: Some(CompanyResult::End(end)),
            },
        };
        let connections = self.connections.clone();
        let organization_id = caller.organization_id;
        let messages = stream_of(move |mut outbox| async move {
            let mut freshness = wait.awaited().await?;
            let client = connections.get(caller.api_key_id).await?;
            let sql = page.sql(organization_id);
            paging::stream_page(
                &client,
                sql,
                &shape,
                TextMode::FullText,
                &mut freshness,
                true,
                &mut outbox,
            )
            .await?;
            Ok(())
        })
        .await?;
        Ok(Response::new(messages))
    }

    async fn get_company(
        &self,
        request: Request<GetCompanyRequest>,
    ) -> Result<Response<GetCompanyResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let deadline = self.deadline(&request);
        let request = request.into_inner();
        filter::authorize_hidden(request.include_suppressed, &caller, "include_suppressed")?;
        let wait = Wait {
            watermarks: Arc::clone(&self.watermarks),
            model: ReadModel::CompanySummary,
            min_token: MinToken::parse(&request.min_token, "min_token")?,
            caller: caller.clone(),
            deadline,
        };
        let (condition, key): (&str, Box<dyn ToSql + Sync + Send>) = match request.company {
            Some(get_company_request::Company::CompanyId(id)) => {
                let id = id.trim().parse::<i64>().map_err(|_| {
                    SearchError::invalid(
                        "company_id",
                        format!("{} is not a company id", svc_core::error::quoted(&id)),
                    )
                })?;
                ("company_id = $2", Box::new(id))
            }
            Some(get_company_request::Company::Domain(domain)) => {
                let domain = domain.trim().to_lowercase();
                if domain.is_empty() {
                    return Err(SearchError::invalid("domain", "must not be empty").into());
                }
                if let Some(problem) = svc_core::error::unstorable_text(&domain) {
                    return Err(SearchError::invalid("domain", problem).into());
                }
                ("domain = $2", Box::new(domain))
            }
            None => {
                return Err(SearchError::invalid("company", "give company_id or domain").into());
            }
        };
        let awaited = wait.awaited().await?;
        let client = self.connections.get(caller.api_key_id).await?;
        let visible = if request.include_suppressed {
            String::new()
        } else {
            format!(" AND {}", filter::VISIBLE)
        };
        let sql = format!(
            "SELECT {} FROM company_summary_view WHERE organization_id = $1 AND {condition}{visible}",
            query::COMPANY_COLUMNS
        );
        let company = traced(
            DbOperation::new("SELECT", ReadModel::CompanySummary.name()),
            async {
                Ok::<_, SearchError>(
                    client
                        .query_opt(&sql, &[&caller.organization_id, key.as_ref()])
                        .await?,
                )
            },
        );
        let (freshness, row) = with_freshness(
            &client,
            ReadModel::CompanySummary,
            caller.organization_id,
            awaited,
            company,
        )
        .await?;
        let row = row.ok_or_else(|| SearchError::NotFound("company".to_owned()))?;
        Ok(Response::new(GetCompanyResponse {
            company: Some(rows::company_from_row(&row)?),
            freshness: Some(freshness),
        }))
    }

    async fn count_prospects(
        &self,
        request: Request<CountProspectsRequest>,
    ) -> Result<Response<CountProspectsResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let deadline = self.deadline(&request);
        let request = request.into_inner();
        let conditions = ProspectConditions::parse(&request.filter.unwrap_or_default(), "filter")?;
        conditions.authorize(&caller, "filter")?;
        let facets = count::facets(&request.facets)?;
        let facet_limit = count::facet_limit(request.facet_limit)?;
        let wait = Wait {
            watermarks: Arc::clone(&self.watermarks),
            model: ReadModel::ProspectSearch,
            min_token: MinToken::parse(&request.min_token, "min_token")?,
            caller: caller.clone(),
            deadline,
        };
        let awaited = wait.awaited().await?;
        let client = self.connections.get(caller.api_key_id).await?;
        let text_mode = query::text_mode(&**client, caller.organization_id, &conditions);
        let (freshness, text_mode) = with_freshness(
            &client,
            ReadModel::ProspectSearch,
            caller.organization_id,
            awaited,
            text_mode,
        )
        .await?;
        let counted = count::count(
            &client,
            caller.organization_id,
            &conditions,
            text_mode,
            &facets,
            facet_limit,
            freshness,
        );
        let operation = DbOperation::new("COUNT", ReadModel::ProspectSearch.name());
        let response = traced(operation, counted).await?;
        Ok(Response::new(response))
    }

    type ExportProspectsStream = ResponseStream<ExportProspectsResponse>;

    async fn export_prospects(
        &self,
        request: Request<ExportProspectsRequest>,
    ) -> Result<Response<Self::ExportProspectsStream>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let deadline = self.deadline(&request);
        let request = request.into_inner();
        let conditions = ProspectConditions::parse(&request.filter.unwrap_or_default(), "filter")?;
        conditions.authorize(&caller, "filter")?;
        let export = export::Export {
            organization_id: caller.organization_id,
            api_key_id: caller.api_key_id,
            conditions,
            wait: Wait {
                watermarks: Arc::clone(&self.watermarks),
                model: ReadModel::ProspectSearch,
                min_token: MinToken::parse(&request.min_token, "min_token")?,
                caller,
                deadline,
            },
        };
        let connections = self.connections.clone();
        let messages = stream_of(move |outbox| async move {
            let operation = DbOperation::new("EXPORT", ReadModel::ProspectSearch.name());
            traced(operation, export::run(&connections, export, outbox)).await
        })
        .await?;
        Ok(Response::new(messages))
    }
}

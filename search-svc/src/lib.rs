//! search-svc: answers searches from the read models only (its database role can read nothing
//! else) and streams the results, each answer saying how fresh it is.

mod allocator;
mod api;
pub mod config;
mod connections;
mod count;
mod error;
mod export;
mod filter;
mod freshness;
#[cfg(test)]
mod fuzz;
mod page_token;
mod paging;
mod query;
mod rows;
mod sql;
mod stream;
mod watermark;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lma_proto::v1::search_service_server::SearchServiceServer;
use svc_core::{GrpcServer, Scope, ServiceSpec};
use tonic::service::Routes;

pub use config::Config;
pub use page_token::PageTokenKeys;
pub use sql::SqlQuery;

/// The SQL of the page `request` asks for (its page token, sealed with `keys`, included),
/// exactly as `SearchProspects` runs it with full-text matching: for EXPLAIN checks and for
/// benchmarks that compare the service with the bare query.
pub fn prospect_search_sql(
    organization_id: i64,
    request: &lma_proto::v1::SearchProspectsRequest,
    keys: &Arc<PageTokenKeys>,
) -> Result<SqlQuery, tonic::Status> {
    let tokens = keys.for_organization(organization_id);
    let page = query::PageRequest::prospects(request, &tokens)?;
    let text_mode = page
        .cursor
        .as_ref()
        .map(|c| c.text_mode)
        .unwrap_or_default();
    Ok(page.sql(organization_id, text_mode))
}

/// The SQL of the page of companies `request` asks for, as `SearchCompanies` runs it.
pub fn company_search_sql(
    organization_id: i64,
    request: &lma_proto::v1::SearchCompaniesRequest,
    keys: &Arc<PageTokenKeys>,
) -> Result<SqlQuery, tonic::Status> {
    let tokens = keys.for_organization(organization_id);
    Ok(query::PageRequest::companies(request, &tokens)?.sql(organization_id))
}

const SPEC: ServiceSpec = ServiceSpec {
    name: "search-svc",
    grpc_services: &["lma.v1.SearchService"],
    required_scope: Scope::SearchRead,
    scoped_services: &[],
    file_descriptor_set: lma_proto::FILE_DESCRIPTOR_SET,
};

pub struct Application {
    server: GrpcServer,
    routes: Routes,
}

impl Application {
    /// Binds the listener (port 0 picks a free one). The database need not be up: health
    /// reports NOT_SERVING until it answers.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = svc_core::db::build_pool(&config.common.database, SPEC.name)?;
        let control_pool = svc_core::db::build_control_pool(&config.common.database, SPEC.name)?;
        let keys = match config.page_token_keys()? {
            Some(keys) => keys,
            None => {
                tracing::warn!(
                    "no LMA_PAGE_TOKEN_KEY: page tokens are sealed with a random key of this \
                     process and stop working on a restart or on another replica"
                );
                PageTokenKeys::ephemeral()
            }
        };
        let connections = connections::Connections::new(
            pool,
            config.pool_share_per_key(),
            Duration::from_millis(config.common.database.connect_timeout_ms),
        );
        let watermarks = watermark::WatermarkWatch::start(
            config.common.database.clone(),
            SPEC.name,
            config.wait_settings(),
        );
        let max_message_bytes = config.common.server.max_message_bytes;
        let routes = Routes::new(
            SearchServiceServer::new(api::SearchApi::new(
                connections,
                Arc::new(watermarks),
                Arc::new(keys),
                config.min_token_max_wait(),
            ))
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes),
        );
        let server = GrpcServer::bind(SPEC, &config.common.server, control_pool).await?;
        Ok(Self { server, routes })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains in-flight calls within the grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.server.serve(self.routes, shutdown).await?;
        Ok(())
    }
}

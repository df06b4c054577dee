//! ingest-svc: takes prospect records, derives and de-duplicates their companies by domain, and
//! writes normalized `company` and `prospect` rows. Every write returns a consistency token.

mod abort;
mod api;
pub mod config;
mod csv_import;
mod error;
mod legacy;
mod normalize;
mod persistence;
mod pipeline;
mod privacy_api;
mod suppression;
mod validate;
pub mod values;

use std::future::Future;
use std::net::SocketAddr;

use std::sync::Arc;

use lma_proto::v1::ingest_service_server::IngestServiceServer;
use lma_proto::v1::privacy_service_server::PrivacyServiceServer;
use svc_core::{GrpcServer, Scope, ServiceSpec};
use tonic::service::Routes;

pub use config::Config;

const SPEC: ServiceSpec = ServiceSpec {
    name: "ingest-svc",
    grpc_services: &["lma.v1.IngestService"],
    required_scope: Scope::IngestWrite,
    // Suppressions lift and impose limits on what ingest.write may do: a scope of their own.
    scoped_services: &[("lma.v1.PrivacyService", Scope::PrivacyAdmin)],
    file_descriptor_set: lma_proto::FILE_DESCRIPTOR_SET,
};

/// The running service: bound in [`Application::build`], served by
/// [`Application::run_until_stopped`].
pub struct Application {
    server: GrpcServer,
    routes: Routes,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and prepares the service. The database need
    /// not be up: health reports NOT_SERVING until it answers.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = svc_core::db::build_pool(&config.common.database, SPEC.name)?;
        let control_pool = svc_core::db::build_control_pool(&config.common.database, SPEC.name)?;
        let max_message_bytes = config.common.server.max_message_bytes;
        let store = Arc::new(persistence::Store::new(
            pool.clone(),
            config.ingest.dual_ingest,
        ));
        let privacy = privacy_api::PrivacyApi::new(store.clone());
        let api = api::IngestApi::new(
            store,
            config.ingest.batch_rows as usize,
            config.ingest.write_connections as usize,
        );
        let routes = Routes::new(
            IngestServiceServer::new(api)
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
        )
        .add_service(
            PrivacyServiceServer::new(privacy)
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

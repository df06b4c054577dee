//! refresh-svc: keeps the read models fresh. Triggers record changed companies in the change log
//! and NOTIFY; this service wakes on the notification (or a fallback timer), re-derives the
//! affected rows from each read model's definition, and advances the consistency watermark.

mod api;
pub mod apply;
pub mod config;
mod error;
mod listener;
mod worker;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use lma_proto::v1::refresh_service_server::RefreshServiceServer;
use svc_core::{GrpcServer, Scope, ServiceSpec};
use tokio::sync::{Notify, watch};
use tonic::service::Routes;

pub use config::Config;

const SPEC: ServiceSpec = ServiceSpec {
    name: "refresh-svc",
    grpc_services: &["lma.v1.RefreshService"],
    required_scope: Scope::RefreshAdmin,
    file_descriptor_set: lma_proto::FILE_DESCRIPTOR_SET,
};

pub struct Application {
    server: GrpcServer,
    routes: Routes,
    applier: worker::Applier,
    database: svc_core::config::DatabaseArgs,
}

impl Application {
    /// Binds the listener (port 0 picks a free one). The database need not be up: the change-log
    /// listener reconnects with backoff and health reports NOT_SERVING until it answers.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = svc_core::db::build_pool(&config.common.database, SPEC.name)?;
        let max_message_bytes = config.common.server.max_message_bytes;
        let routes = Routes::new(
            RefreshServiceServer::new(api::RefreshApi)
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
        );
        let applier = worker::Applier {
            pool: pool.clone(),
            wake: Arc::new(Notify::new()),
            drain_interval: config.drain_interval(),
            batch_size: config.apply_batch_size,
            replica: replica_name(),
        };
        let server = GrpcServer::bind(SPEC, &config.common.server, pool).await?;
        Ok(Self {
            server,
            routes,
            applier,
            database: config.common.database,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves gRPC and keeps the read models fresh until `shutdown` resolves.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let listener = tokio::spawn(listener::run(
            self.database,
            self.applier.wake.clone(),
            stopped.clone(),
        ));
        let applier = tokio::spawn(self.applier.run(stopped));
        let served = self
            .server
            .serve(self.routes, async move {
                shutdown.await;
                // Stop applying as the server starts draining: an apply in flight finishes its
                // transaction, nothing new starts.
                let _ = stop.send(true);
            })
            .await;
        for task in [listener, applier] {
            if let Err(error) = task.await {
                tracing::error!(%error, "refresh task failed");
            }
        }
        served?;
        Ok(())
    }
}

/// Names this replica in logs, status and the refresh log: host name and process id.
fn replica_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "refresh-svc".to_owned());
    format!("{host}/{}", std::process::id())
}

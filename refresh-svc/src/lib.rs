//! refresh-svc: keeps the read models fresh. Triggers record changed companies in the change log
//! and NOTIFY; the leading replica wakes on the notification (or a fallback timer), re-derives
//! the affected rows from each read model's definition, and advances the consistency watermark.
//! Full rebuilds and reconciles repair what incremental apply cannot (docs/REFRESH.md).

mod api;
pub mod apply;
pub mod config;
mod error;
mod leader;
mod listener;
mod metrics;
mod model_apply;
pub mod read_model;
pub mod rebuild;
pub mod reconcile;
pub mod rederivation;
mod refresher;
mod status;
mod worker;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use lma_proto::v1::refresh_service_server::RefreshServiceServer;
use svc_core::{GrpcServer, Scope, ServiceSpec};
use tokio::sync::watch;
use tonic::service::Routes;

pub use config::Config;
pub use refresher::clear_change_signal;

const SPEC: ServiceSpec = ServiceSpec {
    name: "refresh-svc",
    grpc_services: &["lma.v1.RefreshService"],
    required_scope: Scope::RefreshAdmin,
    scoped_services: &[],
    file_descriptor_set: lma_proto::FILE_DESCRIPTOR_SET,
};

pub struct Application {
    server: GrpcServer,
    routes: Routes,
    refresher: Arc<refresher::Refresher>,
    config: Config,
}

impl Application {
    /// Binds the listener (port 0 picks a free one). The database need not be up: the change-log
    /// listener reconnects with backoff and health reports NOT_SERVING until it answers.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = svc_core::db::build_pool(&config.common.database, SPEC.name)?;
        let control_pool = svc_core::db::build_control_pool(&config.common.database, SPEC.name)?;
        let max_message_bytes = config.common.server.max_message_bytes;
        let refresher = Arc::new(refresher::Refresher::new(
            pool.clone(),
            config.replica(),
            refresher::Sizes {
                batch_size: config.apply_batch_size,
                large_company_prospects: config.large_company_prospects,
                max_chunk_rows: config.rederive_chunk_rows,
            },
            config.rebuild_timeout_secs.saturating_mul(1000),
        ));
        let routes = Routes::new(
            RefreshServiceServer::new(api::RefreshApi::new(refresher.clone()))
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
        );
        let server = GrpcServer::bind(SPEC, &config.common.server, control_pool).await?;
        Ok(Self {
            server,
            routes,
            refresher,
            config,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves gRPC and, while this replica leads, keeps the read models fresh until `shutdown`
    /// resolves.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let (leading_sender, leading) = watch::channel(false);
        let database = self.config.common.database.clone();
        let mut tasks = vec![
            tokio::spawn(leader::run(
                database.clone(),
                self.refresher.replica.clone(),
                self.config.leader_retry(),
                leading_sender,
                stopped.clone(),
            )),
            tokio::spawn(listener::run(
                database,
                self.refresher.wake.clone(),
                stopped.clone(),
            )),
            tokio::spawn(metrics::sample_backlog(
                self.refresher.pool.clone(),
                stopped.clone(),
            )),
            tokio::spawn(
                worker::Applier {
                    refresher: self.refresher.clone(),
                    drain_interval: self.config.drain_interval(),
                    change_probe: self.config.change_probe(),
                    leading: leading.clone(),
                }
                .run(stopped.clone()),
            ),
        ];
        if let Some(interval) = self.config.gin_merge_interval() {
            tasks.push(tokio::spawn(worker::merge_gin_pending_lists(
                self.refresher.pool.clone(),
                interval,
                leading.clone(),
                stopped.clone(),
            )));
        }
        if let Some(interval) = self.config.reconcile_interval() {
            tasks.push(tokio::spawn(worker::reconcile_on_schedule(
                self.refresher.clone(),
                interval,
                leading,
                stopped,
            )));
        }
        let served = self
            .server
            .serve(self.routes, async move {
                shutdown.await;
                // Stop applying as the server starts draining: an apply in flight finishes its
                // transaction, nothing new starts.
                let _ = stop.send(true);
            })
            .await;
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "refresh task failed");
            }
        }
        served?;
        Ok(())
    }
}

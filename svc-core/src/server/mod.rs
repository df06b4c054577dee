//! The gRPC server bootstrap every service uses: bind early (so tests can use port 0), serve
//! the service's routes plus health and reflection behind tracing, a concurrency limit,
//! authentication and a per-key rate limit, over TLS when configured; track readiness, and
//! drain gracefully on shutdown.

mod client_faults;
mod limit;
mod tls;

pub use client_faults::UNDECODABLE_REQUEST_MESSAGE;
pub use tls::TlsError;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tonic::service::Routes;
use tonic::transport::server::{ServerTlsConfig, TcpIncoming};
use tonic::transport::{Server, server::Router};
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use crate::auth::{AuthLayer, Authenticator, RateLimiter, Scope};
use crate::config::ServerArgs;
use crate::db::Pool;
use crate::migrations;
use crate::telemetry::TraceContextLayer;

/// Readiness is re-checked this often while the service is not ready...
const NOT_READY_INTERVAL: Duration = Duration::from_secs(1);
/// ...and this often once it is.
const READY_INTERVAL: Duration = Duration::from_secs(5);
/// Upper bound on one readiness check, in case the database stops answering mid-query.
const READINESS_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 pings detect dead clients (and keep idle connections through proxies alive).
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP keepalive for accepted connections.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// How long the plaintext health listener gets to stop once the main server has.
const HEALTH_LISTENER_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// A health-service name that reports SERVING for as long as the process serves, whatever the
/// database says: the target of liveness probes, which must not restart every replica during a
/// database outage. Readiness probes check the server ("") instead.
pub const LIVENESS_SERVICE: &str = "liveness";

/// What a service tells the bootstrap about itself.
#[derive(Clone, Copy)]
pub struct ServiceSpec {
    /// The service's name, e.g. "ingest-svc"; used in logs.
    pub name: &'static str,
    /// Fully qualified gRPC service names it serves, e.g. `&["lma.v1.IngestService"]`; each gets
    /// a health status.
    pub grpc_services: &'static [&'static str],
    /// The scope every call to this service needs, unless `scoped_services` names another.
    pub required_scope: Scope,
    /// gRPC services of this process that need another scope than `required_scope`, with
    /// that scope (ingest-svc's PrivacyService needs privacy.admin, not ingest.write). Each
    /// also gets a health status and is advertised by reflection.
    pub scoped_services: &'static [(&'static str, Scope)],
    /// Encoded `FileDescriptorSet` of its API, published through reflection.
    pub file_descriptor_set: &'static [u8],
}

impl ServiceSpec {
    /// Every gRPC service of the API this process serves.
    fn served(&self) -> impl Iterator<Item = &'static str> + use<> {
        let scoped = self.scoped_services.iter().map(|(name, _)| *name);
        self.grpc_services.iter().copied().chain(scoped)
    }
}

impl fmt::Debug for ServiceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceSpec")
            .field("name", &self.name)
            .field("grpc_services", &self.grpc_services)
            .field("required_scope", &self.required_scope)
            .field("scoped_services", &self.scoped_services)
            .field("file_descriptor_set_len", &self.file_descriptor_set.len())
            .finish()
    }
}

/// Why the server could not start or stopped unexpectedly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound (in use, not permitted, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The descriptor set for reflection is invalid.
    #[error("invalid file descriptor set for reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A TLS certificate, key or CA file could not be read or used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The server failed while serving.
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A bound, not yet serving, gRPC server.
pub struct GrpcServer {
    spec: ServiceSpec,
    args: ServerArgs,
    /// The control pool (`db::build_control_pool`): authentication and readiness.
    control_pool: Pool,
    incoming: TcpIncoming,
    local_addr: SocketAddr,
    health: HealthReporter,
    tls: Option<ServerTlsConfig>,
    health_listener: Option<(TcpIncoming, SocketAddr)>,
}

impl fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcServer")
            .field("spec", &self.spec)
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .field("health_addr", &self.health_addr())
            .finish_non_exhaustive()
    }
}

impl GrpcServer {
    /// Binds the listener now (port 0 picks a free one), and the plaintext health listener if
    /// one is configured; loads the TLS certificates if configured, and reports NOT_SERVING
    /// for the server ("") and every service until [`serve`](Self::serve) finds the database
    /// ready. `control_pool` (see `db::build_control_pool`) serves authentication and the
    /// readiness checks, never the service's calls.
    pub async fn bind(
        spec: ServiceSpec,
        args: &ServerArgs,
        control_pool: Pool,
    ) -> Result<Self, ServerError> {
        // Fail at startup, not at the first reflection request or handshake, if the
        // descriptors or the certificates are broken.
        reflection(&spec).build_v1()?;
        let tls = tls::server_config(&args.tls)?;

        let (incoming, local_addr) = bind_tcp(args.listen_addr)?;
        let health_listener = args.health_listen_addr.map(bind_tcp).transpose()?;

        let health = HealthReporter::new();
        set_health(&health, &spec, ServingStatus::NotServing).await;
        tracing::info!(
            service = spec.name,
            %local_addr,
            tls = tls.is_some(),
            mutual_tls = args.tls.tls_client_ca.is_some(),
            health_addr = health_listener.as_ref().map(|(_, addr)| addr.to_string()),
            "listening"
        );
        Ok(Self {
            spec,
            args: args.clone(),
            control_pool,
            incoming,
            local_addr,
            health,
            tls,
            health_listener,
        })
    }

    /// The address actually bound (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the plaintext health listener, when one is configured.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_listener.as_ref().map(|(_, addr)| *addr)
    }

    /// Serves `routes` plus `grpc.health.v1.Health` and server reflection (v1 and v1alpha)
    /// until `shutdown` resolves; then reports NOT_SERVING, stops accepting connections and
    /// lets in-flight calls finish for at most `shutdown_grace_secs` before returning.
    pub async fn serve(
        self,
        routes: Routes,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let GrpcServer {
            spec,
            args,
            control_pool,
            incoming,
            local_addr,
            health,
            tls,
            health_listener,
        } = self;

        let reflection_v1 = reflection(&spec).build_v1()?;
        let reflection_v1alpha = reflection(&spec).build_v1alpha()?;
        let routes = routes
            .add_service(HealthServer::new(HealthService::from_health_reporter(
                health.clone(),
            )))
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        let authenticator = Arc::new(Authenticator::new(
            control_pool.clone(),
            Duration::from_secs(args.auth_cache_ttl_secs),
        ));
        let rate_limiter =
            RateLimiter::new(args.rate_limit_rps, args.rate_limit_burst).map(Arc::new);
        // Outermost first: every call is traced (with its final status, so after an oversized
        // message's status is rewritten), including those refused by the limit or by
        // authentication; authentication only runs for calls that got a slot.
        let layers = tower::ServiceBuilder::new()
            .layer(TraceContextLayer)
            .layer(client_faults::ClientFaultStatusLayer)
            .layer(limit::ConcurrencyLimitLayer::new(
                args.concurrency_limit,
                limit::MAX_PERMIT_WAIT,
            ))
            .layer(
                AuthLayer::new(authenticator, spec.required_scope)
                    .with_scoped_services(spec.scoped_services)
                    .with_rate_limit(rate_limiter),
            )
            .layer(limit::KeyConcurrencyLimitLayer::new(
                args.key_concurrency_limit
                    .unwrap_or_else(|| limit::default_key_limit(args.concurrency_limit)),
            ))
            .into_inner();
        let mut builder = Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).map_err(tls::TlsError::Config)?;
        }
        let router = builder
            // Ignored for a custom listener (set on TcpIncoming in bind); kept for clarity.
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
            .layer(layers)
            .add_routes(routes);

        health
            .set_service_status(LIVENESS_SERVICE, ServingStatus::Serving)
            .await;
        let health_server = health_listener.map(|(incoming, addr)| {
            tracing::info!(service = spec.name, %addr, "serving plaintext health checks");
            HealthListener::spawn(health_only_router(&health), incoming)
        });
        let readiness = tokio::spawn(track_readiness(control_pool, health.clone(), spec));
        let (stop_accepting, stop_accepting_rx) = tokio::sync::oneshot::channel::<()>();
        let server = router.serve_with_incoming_shutdown(incoming, async {
            // A dropped sender also means stop.
            let _ = stop_accepting_rx.await;
        });
        let mut server = std::pin::pin!(server);
        let mut shutdown = std::pin::pin!(shutdown);
        tracing::info!(service = spec.name, %local_addr, "serving gRPC");

        tokio::select! {
            result = &mut server => {
                readiness.abort();
                if let Some(health_server) = health_server {
                    health_server.stop().await;
                }
                tracing::error!(service = spec.name, "gRPC server stopped before shutdown was requested");
                return result.map_err(ServerError::from);
            }
            () = &mut shutdown => {}
        }

        tracing::info!(service = spec.name, "shutting down: reporting NOT_SERVING");
        readiness.abort();
        // Wait for the task to be gone so it cannot flip the status back to SERVING.
        let _ = readiness.await;
        set_health(&health, &spec, ServingStatus::NotServing).await;

        let grace = Duration::from_secs(args.shutdown_grace_secs);
        tracing::info!(
            service = spec.name,
            grace_secs = args.shutdown_grace_secs,
            "no longer accepting connections; draining in-flight calls"
        );
        // The receiver lives inside `server`, which is still pending, so this cannot fail.
        let _ = stop_accepting.send(());
        let drained = tokio::time::timeout(grace, &mut server).await;
        // Probes keep seeing NOT_SERVING (not a refused connection) until the drain is over.
        if let Some(health_server) = health_server {
            health_server.stop().await;
        }
        match drained {
            Ok(Ok(())) => {
                tracing::info!(service = spec.name, "all calls drained; server stopped");
                Ok(())
            }
            Ok(Err(error)) => Err(error.into()),
            Err(_) => {
                // The connections' tasks end when the runtime does.
                tracing::warn!(
                    service = spec.name,
                    grace_secs = args.shutdown_grace_secs,
                    "grace period elapsed with calls still in flight; abandoning them"
                );
                Ok(())
            }
        }
    }
}

fn bind_tcp(addr: SocketAddr) -> Result<(TcpIncoming, SocketAddr), ServerError> {
    let incoming = TcpIncoming::bind(addr)
        .map_err(|source| ServerError::Bind { addr, source })?
        .with_nodelay(Some(true))
        .with_keepalive(Some(TCP_KEEPALIVE));
    let local_addr = incoming
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    Ok((incoming, local_addr))
}

/// Only `grpc.health.v1.Health`, sharing the main server's statuses; no TLS, no auth (health
/// needs none anyway), no tracing (probes every few seconds would drown the logs).
fn health_only_router(health: &HealthReporter) -> Router {
    Server::builder().add_service(HealthServer::new(HealthService::from_health_reporter(
        health.clone(),
    )))
}

/// The plaintext health listener's task and the switch that stops it.
struct HealthListener {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl HealthListener {
    fn spawn(router: Router, incoming: TcpIncoming) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(HEALTH_LISTENER_STOP_TIMEOUT, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "the health listener failed"),
            Ok(Err(error)) => tracing::warn!(%error, "the health listener task failed"),
            // A probe holding its connection open must not delay the exit.
            Err(_) => task.abort(),
        }
    }
}

/// Reflection over the service's API plus the health service's own descriptors, so that
/// `grpcurl list` shows grpc.health.v1.Health as well. Only what this server serves is
/// advertised: the descriptor set describes every lma.v1 service, but each process serves one.
fn reflection(spec: &ServiceSpec) -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(spec.file_descriptor_set)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    spec.served()
        .chain(ADVERTISED_INFRASTRUCTURE)
        .fold(builder, |builder, name| builder.with_service_name(name))
}

/// Served by every process besides its own API.
const ADVERTISED_INFRASTRUCTURE: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

async fn set_health(health: &HealthReporter, spec: &ServiceSpec, status: ServingStatus) {
    health.set_service_status("", status).await;
    for service in spec.served() {
        health.set_service_status(service, status).await;
    }
}

/// Keeps the health status in line with the database: SERVING only while it answers and the
/// schema is at least the version this build needs. Logs only when the verdict changes.
async fn track_readiness(pool: Pool, health: HealthReporter, spec: ServiceSpec) {
    let mut last: Option<Result<(), String>> = None;
    loop {
        let verdict = match tokio::time::timeout(READINESS_CHECK_TIMEOUT, check_ready(&pool)).await
        {
            Ok(verdict) => verdict,
            Err(_) => Err("the database did not answer the readiness check in time".to_owned()),
        };
        if last.as_ref() != Some(&verdict) {
            match &verdict {
                Ok(()) => tracing::info!(service = spec.name, "ready: SERVING"),
                Err(reason) => {
                    tracing::warn!(service = spec.name, reason = %reason, "not ready: NOT_SERVING");
                }
            }
            let was_ready = last.as_ref().is_some_and(Result::is_ok);
            if last.is_none() || was_ready != verdict.is_ok() {
                let status = if verdict.is_ok() {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                set_health(&health, &spec, status).await;
            }
            last = Some(verdict);
        }
        let ready = last.as_ref().is_some_and(Result::is_ok);
        tokio::time::sleep(if ready {
            READY_INTERVAL
        } else {
            NOT_READY_INTERVAL
        })
        .await;
    }
}

async fn check_ready(pool: &Pool) -> Result<(), String> {
    let client = pool
        .get()
        .await
        .map_err(|e| format!("no database connection: {e}"))?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| format!("the database does not answer: {e}"))?;
    let required = migrations::latest_version();
    match migrations::current_version(&client).await {
        Ok(Some(current)) if current >= required => Ok(()),
        Ok(Some(current)) => Err(format!(
            "schema version {current} is older than the required {required}; run the migrations"
        )),
        Ok(None) => Err(format!(
            "the database has no schema (required version {required}); run the migrations"
        )),
        Err(e) => Err(format!("cannot read the schema version: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_accepts_the_health_descriptors() {
        let spec = ServiceSpec {
            name: "test-svc",
            grpc_services: &["grpc.health.v1.Health"],
            required_scope: Scope::SearchRead,
            scoped_services: &[],
            file_descriptor_set: tonic_health::pb::FILE_DESCRIPTOR_SET,
        };
        assert!(reflection(&spec).build_v1().is_ok());
        assert!(reflection(&spec).build_v1alpha().is_ok());
    }

    #[test]
    fn serve_future_is_send() {
        // Services spawn `serve` on the runtime; keep it spawnable.
        fn assert_send<T: Send>(_: &T) {}
        fn check(server: GrpcServer) {
            let future = server.serve(Routes::default(), std::future::pending());
            assert_send(&future);
        }
        let _ = check;
    }
}

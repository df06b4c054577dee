//! The server bootstrap against a database that is down: it must start, report NOT_SERVING,
//! serve health and reflection without credentials, refuse unauthenticated calls, and shut
//! down promptly. Runs without PostgreSQL.

use std::net::SocketAddr;
use std::time::Duration;

use svc_core::auth::Scope;
use svc_core::config::{DatabaseArgs, ServerArgs};
use svc_core::server::{GrpcServer, ServiceSpec};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const SPEC: ServiceSpec = ServiceSpec {
    name: "test-svc",
    grpc_services: &["grpc.health.v1.Health"],
    required_scope: Scope::SearchRead,
    file_descriptor_set: tonic_health::pb::FILE_DESCRIPTOR_SET,
};

fn database_args() -> DatabaseArgs {
    DatabaseArgs {
        // Nothing listens on port 1: every connection attempt is refused at once.
        database_url: "postgres://nobody@127.0.0.1:1/none".to_owned(),
        database_role: None,
        pool_size: 2,
        statement_timeout_ms: 1_000,
        connect_timeout_ms: 500,
    }
}

fn server_args() -> ServerArgs {
    ServerArgs {
        listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_message_bytes: 1024 * 1024,
        concurrency_limit: 8,
        shutdown_grace_secs: 5,
        auth_cache_ttl_secs: 0,
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect()
        .await
        .expect("server accepts connections")
}

/// Calls `path` with the health request message, so any path can be exercised without
/// generated code.
async fn call_path(
    channel: Channel,
    path: &'static str,
    bearer: Option<&str>,
) -> Result<HealthCheckResponse, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("channel ready");
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    if let Some(key) = bearer {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {key}").parse().expect("ascii"),
        );
    }
    grpc.unary(
        request,
        http::uri::PathAndQuery::from_static(path),
        tonic_prost::ProstCodec::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn serves_infrastructure_while_the_database_is_down() {
    let pool = svc_core::db::build_pool(&database_args(), "test-svc").expect("lazy pool");
    let server = GrpcServer::bind(SPEC, &server_args(), pool)
        .await
        .expect("binds");
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(tonic::service::Routes::default(), async {
        let _ = stopped.await;
    }));
    let channel = channel(addr).await;

    // Health answers without credentials, and says NOT_SERVING because the database is down.
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "grpc.health.v1.Health"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health check answers")
            .into_inner()
            .status;
        assert_eq!(
            status,
            ServingStatus::NotServing as i32,
            "service {service:?}"
        );
    }

    // Reflection (v1) lists the registered services without credentials.
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection answers")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("reflection stream")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n == "grpc.reflection.v1.ServerReflection"),
        "{names:?}"
    );

    // Everything else needs a key; with one, the unreachable database makes it UNAVAILABLE.
    let missing = call_path(channel.clone(), "/lma.v1.Nothing/Call", None)
        .await
        .expect_err("refused");
    assert_eq!(missing.code(), Code::Unauthenticated);
    let unavailable = call_path(channel.clone(), "/lma.v1.Nothing/Call", Some("lma_x"))
        .await
        .expect_err("refused");
    assert_eq!(unavailable.code(), Code::Unavailable);

    // Shutdown completes well within the grace period once the client is gone.
    drop(health);
    drop(reflection);
    drop(channel);
    stop.send(()).expect("server still running");
    let result = tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("server stops within the grace period")
        .expect("serve task did not panic");
    assert!(result.is_ok(), "{result:?}");
}

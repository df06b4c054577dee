//! The server bootstrap against a database that is down: it must start, report NOT_SERVING,
//! serve health and reflection without credentials, refuse unauthenticated calls, and shut
//! down promptly. Runs without PostgreSQL.

use std::time::Duration;

mod common;

use common::{SPEC, channel, database_args, server_args};
use svc_core::server::{GrpcServer, LIVENESS_SERVICE};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

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
    let health_addr = server
        .health_addr()
        .expect("a health listener was asked for");
    assert_ne!(health_addr.port(), 0);
    assert_ne!(health_addr, addr);

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

    // The separate health listener (for kubelet probes) shares the statuses, and liveness is
    // SERVING although the database is down: an outage must not get the process restarted.
    let mut probe = HealthClient::new(common::channel(health_addr).await);
    for (service, expected) in [
        ("", ServingStatus::NotServing),
        ("grpc.health.v1.Health", ServingStatus::NotServing),
        (LIVENESS_SERVICE, ServingStatus::Serving),
    ] {
        let status = probe
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("the health listener answers")
            .into_inner()
            .status;
        assert_eq!(
            status, expected as i32,
            "service {service:?} on the health port"
        );
    }
    // It serves health and nothing else.
    let elsewhere = call_path(
        common::channel(health_addr).await,
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        None,
    )
    .await
    .expect_err("not served on the health port");
    assert_eq!(elsewhere.code(), Code::Unimplemented);
    drop(probe);

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

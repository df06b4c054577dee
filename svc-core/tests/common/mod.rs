//! What the server tests share: a service spec, a database that is down, and server arguments.

// Each test file is its own crate and uses a different subset.
#![allow(dead_code)]

use std::net::SocketAddr;

use svc_core::auth::Scope;
use svc_core::config::{DatabaseArgs, ServerArgs, TlsArgs};
use svc_core::server::ServiceSpec;
use tonic::transport::Channel;

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "test-svc",
    grpc_services: &["grpc.health.v1.Health"],
    required_scope: Scope::SearchRead,
    scoped_services: &[],
    file_descriptor_set: tonic_health::pb::FILE_DESCRIPTOR_SET,
};

pub fn database_args() -> DatabaseArgs {
    DatabaseArgs {
        // Nothing listens on port 1: every connection attempt is refused at once.
        database_url: "postgres://nobody@127.0.0.1:1/none".to_owned(),
        database_role: None,
        pool_size: 2,
        statement_timeout_ms: 1_000,
        work_mem_kb: svc_core::config::DEFAULT_WORK_MEM_KB,
        connect_timeout_ms: 500,
    }
}

pub fn server_args() -> ServerArgs {
    ServerArgs {
        listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_message_bytes: 1024 * 1024,
        concurrency_limit: 8,
        key_concurrency_limit: None,
        shutdown_grace_secs: 5,
        auth_cache_ttl_secs: 0,
        rate_limit_rps: 0,
        rate_limit_burst: 0,
        health_listen_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        tls: TlsArgs::default(),
    }
}

pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect()
        .await
        .expect("server accepts connections")
}

//! Integration-test harness for the LMA services: a real PostgreSQL (a throwaway cluster
//! started once per test process, or `DATABASE_URL`), a fresh database per test copied from a
//! migrated template, the three real services on 127.0.0.1:0, generated gRPC clients that carry
//! a bearer key, and the real grpcurl.
//!
//! Set `LMA_TEST_LOG=debug` (an EnvFilter) to see the services' logs.

pub mod app;
pub mod bulk;
pub mod clients;
pub mod database;
pub mod fixtures;
pub mod grpcurl;
pub mod latency;
pub mod postgres;
pub mod process;
pub mod raw;
pub mod replica;
pub mod schema;
pub mod tools;
pub mod wait;

pub use app::{Service, TestApp, spawn_app};
pub use clients::BearerAuth;
pub use database::TestDatabase;

use std::sync::OnceLock;

/// Installs the services' log subscriber once when `LMA_TEST_LOG` is set; otherwise the tests
/// stay quiet (the subscriber writes to stdout, which the test harness does not capture).
pub fn init_test_logging() {
    static GUARD: OnceLock<Option<svc_core::telemetry::TelemetryGuard>> = OnceLock::new();
    GUARD.get_or_init(|| {
        let filter = std::env::var("LMA_TEST_LOG").ok()?;
        let args = svc_core::config::TelemetryArgs {
            log_format: svc_core::config::LogFormat::Pretty,
            log_filter: filter,
        };
        match svc_core::telemetry::init("lma-tests", &args) {
            Ok(guard) => Some(guard),
            Err(error) => panic!("LMA_TEST_LOG: {error}"),
        }
    });
}

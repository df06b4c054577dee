//! Shared plumbing of the LMA services: configuration, telemetry, the
//! database pool and migrations, API-key authentication, error-to-status mapping, shutdown
//! signals and the gRPC server bootstrap (health, reflection, auth, limits, graceful drain).
//!
//! Nothing here knows about companies or prospects; domain code lives in the service crates.

pub mod auth;
pub mod config;
pub mod db;
pub mod deadline;
pub mod error;
pub mod fairness;
pub mod metrics;
mod middleware;
pub mod migrations;
pub mod server;
pub mod shutdown;
pub mod telemetry;

pub use auth::{Caller, Scope};
pub use config::CommonArgs;
pub use db::{DbError, Pool};
pub use error::FieldViolation;
pub use server::{GrpcServer, ServerError, ServiceSpec};

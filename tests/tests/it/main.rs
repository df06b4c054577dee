//! The integration tests: one binary, so the PostgreSQL cluster starts once per run.

mod auth;
mod buf;
mod clients;
mod docs;
mod end_to_end;
mod grpcurl;
mod health;
mod hostile;
mod ingest;
mod layering;
mod lmactl;
mod production;
mod refresh;
mod replica;
mod roles_and_migrations;
mod schema_snapshot;
mod search;

//! Production hardening through the real services. TLS is tested in svc-core/tests/tls.rs (where
//! the certificates are made) and secrets in logs in tests/tests/production_logs.rs (a process of
//! its own). Load and faults are here too, except the restart of PostgreSQL, which needs a cluster
//! of its own: tests/tests/postgres_restart.rs.

mod disconnect;
mod drain;
mod load;
mod message_size;
mod rate_limit;
mod refresh_kill;

//! Production hardening through the real services. TLS is tested in svc-core/tests/tls.rs
//! (where the certificates are made) and secrets in logs in tests/tests/production_logs.rs (a
//! process of its own).

mod rate_limit;

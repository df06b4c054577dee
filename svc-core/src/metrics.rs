//! OpenTelemetry metrics every service shares: per-RPC requests, errors and latency (recorded by
//! the server span layer), and the use of each database pool. Exported over OTLP when
//! [`crate::telemetry::init`] enabled export; otherwise the instruments are no-ops.
//!
//! Instruments are created on first use from the global meter provider, so `telemetry::init`
//! must run before the first call is served (every `main` and the trace test do so).

use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::metrics::{Meter, ObservableGauge};
use tonic::Code;

// The instrument types, so the services record metrics without depending on opentelemetry.
pub use opentelemetry::KeyValue;
pub use opentelemetry::metrics::{Counter, Gauge, Histogram};

/// The meter of the LMA services' own instruments (the services' crates use it too).
pub fn meter() -> Meter {
    opentelemetry::global::meter("lma")
}

/// Per-RPC instruments, with the OpenTelemetry RPC attributes.
struct RpcInstruments {
    requests: Counter<u64>,
    errors: Counter<u64>,
    duration: Histogram<f64>,
}

static RPC: LazyLock<RpcInstruments> = LazyLock::new(|| {
    let meter = meter();
    RpcInstruments {
        requests: meter
            .u64_counter("rpc.server.requests")
            .with_unit("{request}")
            .with_description("Finished gRPC calls, by method and status code.")
            .build(),
        errors: meter
            .u64_counter("rpc.server.errors")
            .with_unit("{request}")
            .with_description("gRPC calls that ended with a status other than OK.")
            .build(),
        duration: meter
            .f64_histogram("rpc.server.call.duration")
            .with_unit("s")
            .with_description("Time from receiving a gRPC call to its final status.")
            .build(),
    }
});

/// Records one finished call of `service`/`method`.
pub(crate) fn record_rpc(service: &str, method: &str, code: Code, elapsed: Duration) {
    let attributes = [
        KeyValue::new("rpc.system", "grpc"),
        KeyValue::new("rpc.service", service.to_owned()),
        KeyValue::new("rpc.method", method.to_owned()),
        KeyValue::new("rpc.grpc.status_code", code as i64),
    ];
    RPC.requests.add(1, &attributes);
    if code != Code::Ok {
        RPC.errors.add(1, &attributes);
    }
    RPC.duration.record(elapsed.as_secs_f64(), &attributes);
}

/// The pools whose use is reported, by name; weak, so a dropped pool simply stops reporting.
static POOLS: Mutex<Vec<(String, deadpool_postgres::WeakPool)>> = Mutex::new(Vec::new());

/// Values read from a pool's status, each with its `db.client.connection.state`, if any.
type PoolReading = Vec<(u64, Option<&'static str>)>;

/// The pool gauges, registered once; their callbacks read every registered pool.
static POOL_GAUGES: LazyLock<[ObservableGauge<u64>; 3]> = LazyLock::new(|| {
    let meter = meter();
    let gauge = |name: &'static str,
                 description: &'static str,
                 read: fn(&deadpool_postgres::Status) -> PoolReading| {
        meter
            .u64_observable_gauge(name)
            .with_unit("{connection}")
            .with_description(description)
            .with_callback(move |observer| {
                let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
                pools.retain(|(_, pool)| pool.upgrade().is_some());
                for (pool_name, pool) in pools.iter() {
                    let Some(pool) = pool.upgrade() else { continue };
                    for (value, state) in read(&pool.status()) {
                        let mut attributes = vec![KeyValue::new(
                            "db.client.connection.pool.name",
                            pool_name.clone(),
                        )];
                        if let Some(state) = state {
                            attributes.push(KeyValue::new("db.client.connection.state", state));
                        }
                        observer.observe(value, &attributes);
                    }
                }
            })
            .build()
    };
    [
        gauge(
            "db.client.connection.count",
            "Open connections of the pool, idle or used.",
            |status| {
                let idle = status.available as u64;
                let used = status.size.saturating_sub(status.available) as u64;
                vec![(idle, Some("idle")), (used, Some("used"))]
            },
        ),
        gauge(
            "db.client.connection.max",
            "Most connections the pool opens.",
            |status| vec![(status.max_size as u64, None)],
        ),
        gauge(
            "db.client.connection.pending_requests",
            "Callers waiting for a connection.",
            |status| vec![(status.waiting as u64, None)],
        ),
    ]
});

/// Reports the use of `pool` under `name` from now on.
pub(crate) fn observe_pool(pool: &deadpool_postgres::Pool, name: &str) {
    LazyLock::force(&POOL_GAUGES);
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    // Without export the callbacks never run; drop dropped pools here too.
    pools.retain(|(_, pool)| pool.upgrade().is_some());
    pools.push((name.to_owned(), pool.weak()));
}

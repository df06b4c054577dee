//! refresh-svc's metrics: how far the read models trail the base tables (backlog and lag of
//! the change log) and how long each refresh of a read model takes.

use std::sync::LazyLock;
use std::time::Duration;

use svc_core::Pool;
use svc_core::metrics::{Gauge, Histogram, KeyValue};
use tokio::sync::watch;

use crate::read_model::Outcome;
use crate::status;

/// How often each replica samples the backlog, so the gauges move without anyone calling
/// GetStatus.
const BACKLOG_SAMPLE_INTERVAL: Duration = Duration::from_secs(15);

struct Instruments {
    backlog: Gauge<u64>,
    lag: Gauge<f64>,
    duration: Histogram<f64>,
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let meter = svc_core::metrics::meter();
    Instruments {
        backlog: meter
            .u64_gauge("lma.refresh.backlog")
            .with_unit("{change}")
            .with_description("Change-log rows not yet applied to the read models.")
            .build(),
        lag: meter
            .f64_gauge("lma.refresh.lag")
            .with_unit("s")
            .with_description("Age of the oldest change not yet applied; 0 when none is pending.")
            .build(),
        duration: meter
            .f64_histogram("lma.refresh.duration")
            .with_unit("s")
            .with_description("Time one refresh of one read model took, by mode.")
            .build(),
    }
});

/// Records the whole change log's backlog and lag (every organization's: an operator's figure).
fn record_backlog(pending: status::Pending) {
    INSTRUMENTS
        .backlog
        .record(u64::try_from(pending.count).unwrap_or(0), &[]);
    let lag = if pending.count > 0 {
        pending.age
    } else {
        Duration::ZERO
    };
    INSTRUMENTS.lag.record(lag.as_secs_f64(), &[]);
}

/// Records how long one read model's refresh took, and whether it failed.
pub fn record_refresh(outcome: &Outcome) {
    INSTRUMENTS.duration.record(
        outcome.duration.as_secs_f64(),
        &[
            KeyValue::new("lma.read_model", outcome.model.table),
            KeyValue::new("lma.refresh.mode", outcome.mode.as_str()),
            KeyValue::new("lma.refresh.failed", outcome.error.is_some()),
        ],
    );
}

/// Samples the backlog every [`BACKLOG_SAMPLE_INTERVAL`] until `shutdown` flips to true.
pub async fn sample_backlog(pool: Pool, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(BACKLOG_SAMPLE_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
        let sampled = async {
            let client = pool.get().await?;
            status::backlog(&client, None).await
        };
        match sampled.await {
            Ok(pending) => record_backlog(pending),
            Err(error) => tracing::debug!(%error, "could not sample the change-log backlog"),
        }
    }
}

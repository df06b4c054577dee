//! Logging and tracing: `tracing` with readable or JSON logs, OTLP span and metric export when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, W3C trace context carried through gRPC metadata and the
//! change log ([`context`]), and one server span per call ([`rpc_span`]).

mod context;
mod logs;
mod rpc_span;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use context::{
    current_traceparent, extract_context, inject_context, link_to_traceparent, spawn_traced,
};
#[cfg(feature = "test-support")]
pub use logs::{LogSink, log_to_sink_on_this_thread};
pub use rpc_span::{TraceContextLayer, TraceContextService};

use crate::config::TelemetryArgs;
use logs::log_layer;

/// Set once the global subscriber is ours; later `init` calls (many services in one test
/// process) become no-ops.
static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// How long the guard waits for buffered spans to be exported at shutdown.
const EXPORT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter is not valid EnvFilter syntax.
    #[error("invalid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// An OTLP exporter could not be built (bad endpoint, headers, ...).
    #[error("building the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// OTLP export was requested outside a Tokio runtime; its gRPC client needs one.
    #[error("telemetry must be initialised inside a Tokio runtime when OTLP export is enabled")]
    NoRuntime,
}

/// Keeps span and metric export running; dropping it flushes what is buffered and shuts the
/// exporters down. The guard of a repeated [`init`] call owns nothing and does nothing.
#[must_use = "dropping the guard shuts span export down"]
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    providers: Option<Providers>,
}

/// The SDK providers [`init`] installed globally.
#[derive(Clone, Debug)]
struct Providers {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
}

impl TelemetryGuard {
    /// Exports every finished span and the current metric values now. Runs off the caller's
    /// task, so it works on a current-thread runtime too (see [`shutdown_providers`]).
    pub async fn flush(&self) {
        let Some(providers) = self.providers.clone() else {
            return;
        };
        let flushed = tokio::task::spawn_blocking(move || {
            (
                providers.tracer.force_flush(),
                providers.meter.force_flush(),
            )
        })
        .await;
        match flushed {
            Ok((Ok(()), Ok(()))) => {}
            Ok((spans, metrics)) => {
                tracing::warn!(?spans, ?metrics, "telemetry export did not flush cleanly");
            }
            Err(error) => tracing::warn!(%error, "the telemetry flush task failed"),
        }
    }

    /// Flushes and stops export while the runtime keeps running: what a short-lived program
    /// (lmactl, on a current-thread runtime) calls before it exits.
    pub async fn shutdown(mut self) {
        if let Some(providers) = self.providers.take() {
            // The blocking thread waits for exports that this runtime drives meanwhile.
            let stopped = tokio::task::spawn_blocking(move || shutdown_providers(providers)).await;
            if let Err(error) = stopped {
                tracing::warn!(%error, "the telemetry shutdown task failed");
            }
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(providers) = self.providers.take() {
            shutdown_providers(providers);
        }
    }
}

/// Flushes and stops the providers on a plain thread: the flush blocks until the export
/// finishes, and the export needs the Tokio runtime, which a blocked worker of a
/// current-thread runtime could never drive.
fn shutdown_providers(providers: Providers) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("otel-shutdown".to_owned())
        .spawn(move || {
            let spans = providers
                .tracer
                .shutdown_with_timeout(EXPORT_SHUTDOWN_TIMEOUT);
            let metrics = providers
                .meter
                .shutdown_with_timeout(EXPORT_SHUTDOWN_TIMEOUT);
            // The receiver may have given up waiting; nothing else to report to then.
            let _ = done_tx.send((spans, metrics));
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the telemetry shutdown thread; spans may be lost");
        return;
    }
    match done_rx.recv_timeout(2 * EXPORT_SHUTDOWN_TIMEOUT + Duration::from_secs(1)) {
        Ok((Ok(()), Ok(()))) => {}
        Ok((spans, metrics)) => {
            tracing::warn!(
                ?spans,
                ?metrics,
                "telemetry export did not shut down cleanly"
            );
        }
        Err(_) => tracing::warn!("telemetry export shutdown timed out; spans may be lost"),
    }
}

/// Where OTLP export goes.
#[derive(Clone, Debug, Default)]
pub struct OtlpExport {
    /// The collector's OTLP/gRPC address; `None` leaves it to the standard `OTEL_EXPORTER_OTLP_*`
    /// variables, which the exporters read themselves.
    pub endpoint: Option<String>,
}

/// Installs the global `tracing` subscriber: an EnvFilter, a log formatter (compact lines for
/// [`LogFormat::Pretty`], JSON objects for [`LogFormat::Json`]) on stdout, and, when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or a signal-specific `OTEL_EXPORTER_OTLP_*_ENDPOINT`) is set,
/// an OpenTelemetry layer exporting spans, and a meter provider exporting metrics, over
/// OTLP/gRPC. Always installs the W3C trace-context propagator.
///
/// Call it inside a Tokio runtime. Only the first call in a process installs anything; later
/// calls return a guard that does nothing.
pub fn init(
    service_name: &'static str,
    args: &TelemetryArgs,
) -> Result<TelemetryGuard, TelemetryError> {
    let export = otlp_export_configured().then(OtlpExport::default);
    install(service_name, args, export)
}

/// [`init`] with the export given rather than read from the environment (`None`: no export):
/// how a test points export at its own collector.
#[cfg(feature = "test-support")]
pub fn init_with_export(
    service_name: &'static str,
    args: &TelemetryArgs,
    export: Option<OtlpExport>,
) -> Result<TelemetryGuard, TelemetryError> {
    install(service_name, args, export)
}

fn install(
    service_name: &'static str,
    args: &TelemetryArgs,
    export: Option<OtlpExport>,
) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = EnvFilter::try_new(&args.log_filter)?;
    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return Ok(TelemetryGuard::default());
    }

    let providers = if let Some(export) = export {
        match build_providers(service_name, &export) {
            Ok(providers) => Some(providers),
            Err(error) => {
                // Let a later call try again, e.g. after the caller fixed the environment.
                INITIALIZED.store(false, Ordering::SeqCst);
                return Err(error);
            }
        }
    } else {
        None
    };

    // The log filter applies to the log output only, so that lowering log verbosity (say to
    // "warn") does not silently stop request spans from being exported.
    let ansi = std::io::stdout().is_terminal();
    let log_layer = log_layer(args.log_format, std::io::stdout, ansi).with_filter(filter);
    // Spans at INFO and above are exported, except those of the exporter's own gRPC client,
    // which would otherwise feed back into the exporter.
    let otel_layer = providers.as_ref().map(|providers| {
        tracing_opentelemetry::layer()
            .with_tracer(providers.tracer.tracer(service_name))
            .with_filter(filter_fn(|metadata| {
                *metadata.level() <= tracing::Level::INFO
                    && !is_exporter_internal(metadata.target())
            }))
    });

    let installed = tracing_subscriber::registry()
        .with(log_layer)
        .with(otel_layer)
        .try_init();
    match installed {
        Ok(()) => {
            if providers.is_some() {
                tracing::info!(
                    service = service_name,
                    "exporting spans and metrics over OTLP"
                );
            }
            Ok(TelemetryGuard { providers })
        }
        // Someone else (a test harness) installed a subscriber first: keep theirs.
        Err(_) => {
            if let Some(providers) = providers {
                shutdown_providers(providers);
            }
            Ok(TelemetryGuard::default())
        }
    }
}

fn otlp_export_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

fn is_exporter_internal(target: &str) -> bool {
    ["opentelemetry", "tonic", "h2", "hyper", "tower"]
        .iter()
        .any(|prefix| {
            target.strip_prefix(prefix).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with("::") || rest.starts_with('_')
            })
        })
}

fn build_providers(
    service_name: &'static str,
    export: &OtlpExport,
) -> Result<Providers, TelemetryError> {
    // The tonic clients spawn their connection tasks on the current runtime.
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TelemetryError::NoRuntime);
    }
    let resource = Resource::builder().with_service_name(service_name).build();
    let mut spans = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    let mut metrics = opentelemetry_otlp::MetricExporter::builder().with_tonic();
    if let Some(endpoint) = &export.endpoint {
        spans = spans.with_endpoint(endpoint);
        metrics = metrics.with_endpoint(endpoint);
    }
    let tracer = SdkTracerProvider::builder()
        .with_batch_exporter(spans.build()?)
        .with_resource(resource.clone())
        .build();
    let meter = SdkMeterProvider::builder()
        .with_periodic_exporter(metrics.build()?)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_tracer_provider(tracer.clone());
    opentelemetry::global::set_meter_provider(meter.clone());
    Ok(Providers { tracer, meter })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;

    #[test]
    fn exporter_internals_are_recognised() {
        assert!(is_exporter_internal("h2::codec"));
        assert!(is_exporter_internal("opentelemetry_sdk"));
        assert!(is_exporter_internal("tonic"));
        assert!(!is_exporter_internal("svc_core::server"));
        assert!(!is_exporter_internal("hyperion"));
    }

    #[tokio::test]
    async fn repeated_init_is_a_no_op() {
        let args = TelemetryArgs {
            log_format: LogFormat::Json,
            log_filter: "warn".to_owned(),
        };
        let first = init("test-svc", &args).expect("first init");
        let second = init("test-svc", &args).expect("second init");
        drop(second);
        drop(first);
        let bad = TelemetryArgs {
            log_format: LogFormat::Pretty,
            log_filter: "svc_core=loud".to_owned(),
        };
        assert!(matches!(
            init("test-svc", &bad),
            Err(TelemetryError::Filter(_))
        ));
    }
}

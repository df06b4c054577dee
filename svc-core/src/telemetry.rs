//! Logging and tracing (DESIGN.md section 6): `tracing` with readable or JSON logs, OTLP span
//! and metric export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace context read from
//! and written to gRPC metadata (and, as a `traceparent` string, to the change log).

use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{SpanContext, TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic::Code;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::body::{BodyObserver, ObservedBody};
use crate::config::{LogFormat, TelemetryArgs};

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
/// current-thread runtime could never drive (DESIGN.md section 9).
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
    init_with_export(service_name, args, export)
}

/// [`init`] with the export given rather than read from the environment (`None`: no export).
pub fn init_with_export(
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

/// The log lines: compact text for [`LogFormat::Pretty`], one JSON object per line for
/// [`LogFormat::Json`], written to `writer`.
fn log_layer<S, W>(
    format: LogFormat,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    }
}

/// Log output kept in memory, for checking what reaches the logs.
#[derive(Clone, Debug, Default)]
pub struct LogSink(Arc<Mutex<Vec<u8>>>);

impl LogSink {
    /// Everything written so far.
    pub fn contents(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for LogSink {
    type Writer = LogSink;

    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

/// Writes the services' log lines, exactly as [`init`] formats them, to `sink` for the current
/// thread only, until the guard is dropped. For checking what reaches the logs (a test on a
/// current-thread runtime sees every task's lines); export is not involved.
pub fn log_to_sink_on_this_thread(
    args: &TelemetryArgs,
    sink: &LogSink,
) -> Result<tracing::subscriber::DefaultGuard, TelemetryError> {
    let filter = EnvFilter::try_new(&args.log_filter)?;
    let subscriber = tracing_subscriber::registry()
        .with(log_layer(args.log_format, sink.clone(), false).with_filter(filter));
    Ok(tracing::subscriber::set_default(subscriber))
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

/// Reads propagation fields from HTTP headers (gRPC metadata on the server side).
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Writes propagation fields into outgoing gRPC metadata.
struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // traceparent/tracestate are always valid ASCII metadata; skip anything that is not.
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// The remote trace context (W3C `traceparent`/`tracestate`) carried by request headers.
pub fn extract_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    })
}

/// Writes the current span's W3C trace context into outgoing metadata, so the server's spans
/// join the caller's trace.
pub fn inject_context(metadata: &mut MetadataMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(metadata));
    });
}

/// The current span's W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), when it belongs to a
/// sampled trace: what a writer stores with its change-log rows so a later refresh can link to
/// the write's trace.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    (span_context.is_valid() && span_context.is_sampled()).then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}

/// Links `span` to the span a stored `traceparent` names (say, the write a refresh applies);
/// a malformed or invalid one is skipped. Returns whether a link was added.
pub fn link_to_traceparent(span: &tracing::Span, traceparent: &str) -> bool {
    let Some(linked) = parse_traceparent(traceparent) else {
        return false;
    };
    span.add_link(linked);
    true
}

/// The span context a `traceparent` names; `None` when malformed or invalid.
fn parse_traceparent(traceparent: &str) -> Option<SpanContext> {
    let carrier =
        std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// Spawns `task` inside the current span, so that the spans and writes it makes stay in the
/// caller's trace (a plain `tokio::spawn` starts the task outside any span).
pub fn spawn_traced<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(task.in_current_span())
}

/// Tower layer creating one server span per gRPC call (see [`TraceContextService`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextLayer;

impl<S> Layer<S> for TraceContextLayer {
    type Service = TraceContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceContextService { inner }
    }
}

/// Wraps every call in a server span named after the gRPC method, whose parent is the trace
/// context sent by the client, and records the final gRPC status and an access-log line
/// once the response (including a streamed body) is complete.
#[derive(Clone, Debug)]
pub struct TraceContextService<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, ResBody> Service<http::Request<B>> for TraceContextService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let mut record = CallRecord::start(request.uri().path(), request.headers());
        let span = record.span.clone();
        let response = span.in_scope(|| self.inner.call(request));
        Box::pin(
            async move {
                match response.await {
                    Ok(response) => {
                        // A trailers-only response (every error tonic sends before streaming)
                        // carries the status in its headers; otherwise it comes in the trailers.
                        if let Some(code) = grpc_status(response.headers()) {
                            record.finish(code);
                        }
                        Ok(response.map(|body| ObservedBody::wrap(body, record)))
                    }
                    Err(error) => {
                        record.finish(Code::Internal);
                        Err(error)
                    }
                }
            }
            .instrument(span),
        )
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

/// Splits `/package.Service/Method` into its service and method.
fn split_grpc_path(path: &str) -> (&str, &str) {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split_once('/').unwrap_or((path, ""))
}

/// Codes that mean the server failed, per the OpenTelemetry gRPC conventions for server spans;
/// the others are the caller's problem and leave the span status unset.
fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// The span and timing of one call, finished when its status is known.
struct CallRecord {
    span: tracing::Span,
    /// `/package.Service/Method`, for the RPC metrics.
    path: String,
    started: Instant,
    /// Health checks and reflection log at debug: probes would otherwise flood the logs.
    quiet: bool,
    finished: bool,
}

impl CallRecord {
    fn start(path: &str, headers: &http::HeaderMap) -> Self {
        let (service, method) = split_grpc_path(path);
        let span = tracing::info_span!(
            "grpc.request",
            otel.name = %path.strip_prefix('/').unwrap_or(path),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            rpc.grpc.status_code = Empty,
            otel.status_code = Empty,
            organization_id = Empty,
        );
        // Fails only when no OpenTelemetry layer is installed (export disabled) or the span
        // is filtered out; then there is no trace to join.
        let _ = span.set_parent(extract_context(headers));
        Self {
            span,
            path: path.to_owned(),
            started: Instant::now(),
            quiet: crate::server::is_infrastructure_path(path),
            finished: false,
        }
    }

    fn finish(&mut self, code: Code) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.span.record("rpc.grpc.status_code", code as i32);
        let server_error = is_server_error(code);
        if server_error {
            self.span.record("otel.status_code", "ERROR");
        }
        let elapsed = self.started.elapsed();
        let (service, method) = split_grpc_path(&self.path);
        crate::metrics::record_rpc(service, method, code, elapsed);
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let _entered = self.span.enter();
        if self.quiet {
            tracing::debug!(grpc.code = ?code, elapsed_ms, "rpc finished");
        } else if server_error {
            tracing::warn!(grpc.code = ?code, elapsed_ms, "rpc failed");
        } else {
            tracing::info!(grpc.code = ?code, elapsed_ms, "rpc finished");
        }
    }
}

impl BodyObserver for CallRecord {
    fn poll_with<R>(&mut self, poll: impl FnOnce() -> R) -> R {
        self.span.in_scope(poll)
    }

    fn on_trailers(&mut self, trailers: &mut http::HeaderMap) {
        if let Some(code) = grpc_status(trailers) {
            self.finish(code);
        }
    }

    fn on_error(&mut self, error: &tonic::Status) {
        self.finish(error.code());
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        // The response ended without a status: the client cancelled or the connection died.
        self.finish(Code::Cancelled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn extracts_w3c_context_from_headers() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", http::HeaderValue::from_static(TRACEPARENT));
        let context = extract_context(&headers);
        let span = context.span();
        let span_context = span.span_context();
        assert!(span_context.is_remote());
        assert_eq!(
            span_context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(span_context.span_id().to_string(), "00f067aa0ba902b7");
        assert!(span_context.is_sampled());
    }

    #[test]
    fn missing_or_malformed_context_yields_no_parent() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let mut headers = http::HeaderMap::new();
        assert!(!extract_context(&headers).span().span_context().is_valid());
        headers.insert("traceparent", http::HeaderValue::from_static("garbage"));
        assert!(!extract_context(&headers).span().span_context().is_valid());
    }

    #[test]
    fn injector_writes_metadata() {
        let propagator = TraceContextPropagator::new();
        let mut incoming = http::HeaderMap::new();
        incoming.insert("traceparent", http::HeaderValue::from_static(TRACEPARENT));
        let context = {
            use opentelemetry::propagation::TextMapPropagator as _;
            propagator.extract(&HeaderExtractor(&incoming))
        };
        let mut metadata = MetadataMap::new();
        {
            use opentelemetry::propagation::TextMapPropagator as _;
            propagator.inject_context(&context, &mut MetadataInjector(&mut metadata));
        }
        assert_eq!(
            metadata.get("traceparent").and_then(|v| v.to_str().ok()),
            Some(TRACEPARENT)
        );
    }

    #[test]
    fn stored_traceparents_parse_and_malformed_ones_are_skipped() {
        let parsed = parse_traceparent(TRACEPARENT).expect("a valid traceparent");
        assert_eq!(
            parsed.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parsed.span_id().to_string(), "00f067aa0ba902b7");
        let span = tracing::Span::none();
        assert!(link_to_traceparent(&span, TRACEPARENT));
        for malformed in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            assert!(!link_to_traceparent(&span, malformed), "{malformed:?}");
        }
    }

    #[test]
    fn no_traceparent_outside_a_traced_span() {
        assert_eq!(current_traceparent(), None);
    }

    #[test]
    fn grpc_paths_split_into_service_and_method() {
        assert_eq!(
            split_grpc_path("/lma.v1.SearchService/SearchProspects"),
            ("lma.v1.SearchService", "SearchProspects")
        );
        assert_eq!(split_grpc_path("/odd"), ("odd", ""));
    }

    #[test]
    fn status_is_read_from_headers() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(grpc_status(&headers), None);
        headers.insert("grpc-status", http::HeaderValue::from_static("14"));
        assert_eq!(grpc_status(&headers), Some(Code::Unavailable));
        assert!(is_server_error(Code::Unavailable));
        assert!(!is_server_error(Code::InvalidArgument));
    }

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

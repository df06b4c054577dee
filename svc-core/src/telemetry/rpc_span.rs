//! One server span and one access-log line per gRPC call, finished when the call's status is
//! known (for a streamed response, at its last frame), and the RPC metrics.

use std::task::{Context, Poll};
use std::time::Instant;

use tonic::Code;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::context::extract_context;
use crate::middleware::{BodyObserver, BoxFuture, ObservedBody};

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
            quiet: crate::middleware::is_infrastructure_path(path),
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
}

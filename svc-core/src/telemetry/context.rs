//! W3C trace context read from and written to gRPC metadata, and, as a `traceparent` string,
//! stored with change-log rows so that a later refresh can link to the write's trace.

use std::future::Future;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

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
}

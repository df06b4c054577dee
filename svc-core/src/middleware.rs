//! What the tower layers (authentication, limits, client faults, telemetry) share, and nothing
//! else of the crate: which paths are infrastructure, the boxed future of a layer's service, and
//! a response-body wrapper for per-call state that must live as long as the response stream
//! rather than just until the headers are sent (a streaming RPC is still in flight, holding its
//! concurrency permit and its span open, until its last frame).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::Bytes;

/// The future a layer's service returns.
pub(crate) type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// The paths served without authentication or concurrency limit: health checks and
/// reflection.
pub(crate) fn is_infrastructure_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// Hooks into the life of a response body. Dropping the observer marks the end of the call.
pub(crate) trait BodyObserver: Send + Unpin + 'static {
    /// Runs one poll of the inner body, e.g. inside a span.
    fn poll_with<R>(&mut self, poll: impl FnOnce() -> R) -> R {
        poll()
    }

    /// The body produced its trailers (where gRPC puts the final status), which the observer
    /// may amend.
    fn on_trailers(&mut self, _trailers: &mut http::HeaderMap) {}

    /// The body failed before completing.
    fn on_error(&mut self, _error: &Status) {}
}

/// `inner`, with `observer` kept alive until the body is dropped.
pub(crate) struct ObservedBody<O> {
    inner: Body,
    observer: O,
}

impl<O: BodyObserver> ObservedBody<O> {
    /// Wraps `inner` into a type-erased tonic body.
    pub(crate) fn wrap<B>(inner: B, observer: O) -> Body
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<tonic::codegen::StdError>,
    {
        // An already-finished body is returned as is (tonic::body::Body::new does the same
        // check), which drops the observer: nothing remains in flight.
        Body::new(ObservedBody {
            inner: Body::new(inner),
            observer,
        })
    }
}

impl<O: BodyObserver> HttpBody for ObservedBody<O> {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let inner = &mut this.inner;
        let mut poll = this.observer.poll_with(|| Pin::new(inner).poll_frame(cx));
        match &mut poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_mut() {
                    this.observer.on_trailers(trailers);
                }
            }
            Poll::Ready(Some(Err(error))) => this.observer.on_error(error),
            Poll::Ready(None) | Poll::Pending => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A plain guard (for example a semaphore permit) needs no hooks.
impl BodyObserver for tokio::sync::OwnedSemaphorePermit {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infrastructure_paths() {
        assert!(is_infrastructure_path("/grpc.health.v1.Health/Check"));
        assert!(is_infrastructure_path("/grpc.health.v1.Health/Watch"));
        assert!(is_infrastructure_path(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
        ));
        assert!(is_infrastructure_path(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!is_infrastructure_path(
            "/lma.v1.SearchService/SearchProspects"
        ));
        assert!(!is_infrastructure_path("/grpc.health.v1.HealthX/Check"));
    }
}

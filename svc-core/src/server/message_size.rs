//! tonic refuses a request message over `LMA_MAX_MESSAGE_BYTES` with `OUT_OF_RANGE`, which
//! clients read as a bad argument value. The request broke a limit of the service, and gRPC's
//! code for that is `RESOURCE_EXHAUSTED` (like the rate and concurrency limits): this layer
//! rewrites exactly that refusal, in the headers of a trailers-only answer or in the trailers
//! of a stream, and nothing else.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::{Code, Status};
use tower::{Layer, Service};

use crate::body::{BodyObserver, ObservedBody};

/// What tonic's decoder says when a message exceeds the limit.
const TONIC_OVERSIZE_MESSAGE: &str = "decoded message length too large";

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OversizeAsExhaustedLayer;

impl<S> Layer<S> for OversizeAsExhaustedLayer {
    type Service = OversizeAsExhausted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OversizeAsExhausted { inner }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct OversizeAsExhausted<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, ResBody> Service<http::Request<B>> for OversizeAsExhausted<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
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
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            rewrite_oversize_status(response.headers_mut());
            Ok(response.map(|body| ObservedBody::wrap(body, OversizeTrailers)))
        })
    }
}

/// Rewrites the final status of a streamed answer.
struct OversizeTrailers;

impl BodyObserver for OversizeTrailers {
    fn on_trailers(&mut self, trailers: &mut http::HeaderMap) {
        rewrite_oversize_status(trailers);
    }
}

/// Turns tonic's `OUT_OF_RANGE` for an oversized message in `headers` into
/// `RESOURCE_EXHAUSTED` with the same explanation; leaves anything else alone.
fn rewrite_oversize_status(headers: &mut http::HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    if status.code() != Code::OutOfRange || !status.message().contains(TONIC_OVERSIZE_MESSAGE) {
        return;
    }
    let exhausted = Status::resource_exhausted(format!(
        "the request message is larger than the service accepts (LMA_MAX_MESSAGE_BYTES); split \
         it into smaller messages: {}",
        status.message()
    ));
    headers.remove("grpc-status");
    headers.remove("grpc-message");
    headers.remove("grpc-status-details-bin");
    if exhausted.add_header(headers).is_err() {
        // Cannot happen for a plain status; keep the original rather than no status at all.
        let _ = status.add_header(headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(status: &Status) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        status.add_header(&mut headers).expect("a plain status");
        headers
    }

    #[test]
    fn an_oversized_message_becomes_resource_exhausted() {
        let mut headers = headers_of(&Status::out_of_range(
            "Error, decoded message length too large: found 17000000 bytes, the limit is: \
             16777216 bytes",
        ));
        rewrite_oversize_status(&mut headers);
        let status = Status::from_header_map(&headers).expect("a status");
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(
            status.message().contains("16777216"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn other_statuses_are_left_alone() {
        for original in [
            Status::out_of_range("page 7 is past the end"),
            Status::invalid_argument("bad"),
            Status::ok(""),
        ] {
            let mut headers = headers_of(&original);
            let before = headers.clone();
            rewrite_oversize_status(&mut headers);
            assert_eq!(headers, before, "{original:?}");
        }
    }
}

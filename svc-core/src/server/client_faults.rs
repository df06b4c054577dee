//! Statuses tonic itself gives for a caller's faulty request, rewritten to the codes and texts
//! docs/API.md promises. tonic answers an undecodable request (malformed or truncated protobuf,
//! a string that is not UTF-8, nesting past prost's recursion limit, a frame cut short, a unary
//! call without its message, a compression flag without an encoding) with `INTERNAL` and the
//! decoder's own text; `INTERNAL` is reserved for bugs in our code, so such a status becomes
//! `INVALID_ARGUMENT` with one fixed message. A request message over `LMA_MAX_MESSAGE_BYTES` is
//! refused with `OUT_OF_RANGE`, which clients read as a bad value; the request broke a limit of
//! the service, and gRPC's code for that is `RESOURCE_EXHAUSTED` (like the rate and concurrency
//! limits). The rewrite applies to the headers of a trailers-only answer and to the trailers of
//! a stream, and touches nothing else.

use std::task::{Context, Poll};

use tonic::{Code, Status};
use tower::{Layer, Service};

use crate::middleware::{BodyObserver, BoxFuture, ObservedBody};

/// What tonic's decoder says when a message exceeds the limit.
const TONIC_OVERSIZE_MESSAGE: &str = "decoded message length too large";

/// Texts of the `INTERNAL` statuses tonic (and prost, through tonic-prost's codec) gives for a
/// request it cannot decode. The raw-HTTP/2 tests (tests/tests/it/hostile.rs) send each kind of
/// malformed body, so a tonic release that rewords one fails there rather than in production.
const TONIC_UNDECODABLE_MESSAGES: [&str; 5] = [
    // prost::DecodeError's Display: bad wire data, invalid UTF-8, recursion limit, truncation.
    "failed to decode Protobuf message",
    // The body ended inside a length-prefixed frame.
    "Unexpected EOF decoding stream",
    // A unary call whose body held no message.
    "Missing request message",
    // The compressed flag without a grpc-encoding, or a flag other than 0 and 1.
    "protocol error: received message",
    "Error decompressing",
];

/// The one text a client gets for an undecodable request: no decoder internals.
pub const UNDECODABLE_REQUEST_MESSAGE: &str = "the request could not be decoded as this \
     method's protobuf request message (malformed or truncated bytes, a string that is not \
     UTF-8, or nesting too deep)";

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ClientFaultStatusLayer;

impl<S> Layer<S> for ClientFaultStatusLayer {
    type Service = ClientFaultStatus<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientFaultStatus { inner }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ClientFaultStatus<S> {
    inner: S,
}

impl<S, B, ResBody> Service<http::Request<B>> for ClientFaultStatus<S>
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
            rewrite_client_fault(response.headers_mut());
            Ok(response.map(|body| ObservedBody::wrap(body, ClientFaultTrailers)))
        })
    }
}

/// Rewrites the final status of a streamed answer.
struct ClientFaultTrailers;

impl BodyObserver for ClientFaultTrailers {
    fn on_trailers(&mut self, trailers: &mut http::HeaderMap) {
        rewrite_client_fault(trailers);
    }
}

/// The status a client gets instead of `status`, when `status` is tonic's answer to a faulty
/// request.
fn client_fault(status: &Status) -> Option<Status> {
    match status.code() {
        Code::OutOfRange if status.message().contains(TONIC_OVERSIZE_MESSAGE) => {
            Some(Status::resource_exhausted(format!(
                "the request message is larger than the service accepts (LMA_MAX_MESSAGE_BYTES); \
                 split it into smaller messages: {}",
                status.message()
            )))
        }
        Code::Internal
            if TONIC_UNDECODABLE_MESSAGES
                .iter()
                .any(|text| status.message().contains(text)) =>
        {
            tracing::debug!(
                decoder = status.message(),
                "refusing an undecodable request"
            );
            Some(Status::invalid_argument(UNDECODABLE_REQUEST_MESSAGE))
        }
        _ => None,
    }
}

/// Replaces the status in `headers` when it is tonic's answer to a faulty request; leaves
/// anything else alone.
fn rewrite_client_fault(headers: &mut http::HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let Some(rewritten) = client_fault(&status) else {
        return;
    };
    headers.remove("grpc-status");
    headers.remove("grpc-message");
    headers.remove("grpc-status-details-bin");
    if rewritten.add_header(headers).is_err() {
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
        rewrite_client_fault(&mut headers);
        let status = Status::from_header_map(&headers).expect("a status");
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(
            status.message().contains("16777216"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn decoder_failures_become_invalid_argument_without_their_text() {
        for original in [
            "failed to decode Protobuf message: ProspectRecord.email: invalid string value: data \
             is not UTF-8 encoded",
            "failed to decode Protobuf message: recursion limit reached",
            "Unexpected EOF decoding stream.",
            "Missing request message.",
        ] {
            let mut headers = headers_of(&Status::internal(original));
            rewrite_client_fault(&mut headers);
            let status = Status::from_header_map(&headers).expect("a status");
            assert_eq!(status.code(), Code::InvalidArgument, "{original}");
            assert_eq!(status.message(), UNDECODABLE_REQUEST_MESSAGE);
        }
    }

    #[test]
    fn other_statuses_are_left_alone() {
        for original in [
            Status::out_of_range("page 7 is past the end"),
            Status::invalid_argument("bad"),
            Status::internal("internal database error"),
            Status::ok(""),
        ] {
            let mut headers = headers_of(&original);
            let before = headers.clone();
            rewrite_client_fault(&mut headers);
            assert_eq!(headers, before, "{original:?}");
        }
    }
}

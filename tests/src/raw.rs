//! gRPC calls with hand-made bodies over a real HTTP/2 connection: for requests no generated
//! client would send (malformed protobuf, cut frames) and for messages built from the
//! descriptors rather than the generated types.

use std::net::SocketAddr;

use http_body_util::{BodyExt as _, Full};
use tonic::Status;
use tonic::codegen::Bytes;
use tower::ServiceExt as _;

use crate::clients;

/// One gRPC frame: uncompressed, `message` as is.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let length = u32::try_from(message.len()).expect("test messages are small");
    let mut framed = Vec::with_capacity(5 + message.len());
    framed.push(0);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

/// What came back: the messages (unframed) and the final status.
#[derive(Debug)]
pub struct RawResponse {
    pub messages: Vec<Bytes>,
    pub status: Status,
}

/// Calls `path` ("/lma.v1.SearchService/GetCompany") on `addr` with `body` as the whole
/// request body (frames and all), authenticated with `key`.
pub async fn call(addr: SocketAddr, path: &str, key: &str, body: Vec<u8>) -> RawResponse {
    let channel = clients::channel(addr).await;
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {key}"))
        .body(tonic::body::Body::new(Full::new(Bytes::from(body))))
        .expect("a valid request");
    let response = channel
        .oneshot(request)
        .await
        .unwrap_or_else(|error| panic!("calling {path}: {error}"));
    let (parts, body) = response.into_parts();
    // A trailers-only answer carries its status in the headers.
    let header_status = Status::from_header_map(&parts.headers);
    let collected = body
        .collect()
        .await
        .unwrap_or_else(|error| panic!("reading the answer of {path}: {error}"));
    let trailers = collected.trailers().cloned();
    let mut bytes = collected.to_bytes();
    let mut messages = Vec::new();
    while bytes.len() >= 5 {
        let length = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let message = bytes.slice(5..5 + length);
        bytes = bytes.slice(5 + length..);
        messages.push(message);
    }
    let status = header_status
        .or_else(|| trailers.as_ref().and_then(Status::from_header_map))
        .unwrap_or_else(|| panic!("{path} answered without a gRPC status"));
    RawResponse { messages, status }
}

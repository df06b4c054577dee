//! Request bodies that are not the method's message, sent over a real HTTP/2 connection: each
//! is `INVALID_ARGUMENT` with one fixed message, never `INTERNAL` with the decoder's text.

use lma_tests::raw::{self, frame};
use lma_tests::spawn_app;
use prost_reflect::MessageDescriptor;
use svc_core::server::UNDECODABLE_REQUEST_MESSAGE;
use tonic::Code;

use super::descriptors;

const LENGTH_DELIMITED: u32 = 2;
const START_GROUP: u32 = 3;
const END_GROUP: u32 = 4;

fn tag(field: u32, wire_type: u32) -> Vec<u8> {
    varint(u64::from((field << 3) | wire_type))
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn field_number(message: &MessageDescriptor, name: &str) -> u32 {
    message
        .get_field_by_name(name)
        .unwrap_or_else(|| panic!("{} has no field {name}", message.full_name()))
        .number()
}

/// A length-delimited field `number` holding `bytes` as they are.
fn length_delimited(number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = tag(number, LENGTH_DELIMITED);
    out.extend(varint(bytes.len() as u64));
    out.extend_from_slice(bytes);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_requests_are_invalid_argument_with_a_fixed_message() {
    let app = spawn_app().await;
    let pool = descriptors();
    let search_request = pool
        .get_message_by_name("lma.v1.SearchProspectsRequest")
        .expect("SearchProspectsRequest");
    let page_token = field_number(&search_request, "page_token");
    let filter = field_number(&search_request, "filter");

    let mut truncated_sub_message = tag(filter, LENGTH_DELIMITED);
    truncated_sub_message.extend(varint(40));
    truncated_sub_message.extend_from_slice(b"abc");
    // Unknown groups nested past prost's recursion limit (100).
    let mut nested = Vec::new();
    for _ in 0..150 {
        nested.extend(tag(99, START_GROUP));
    }
    for _ in 0..150 {
        nested.extend(tag(99, END_GROUP));
    }
    let mut cut_frame = vec![0, 0, 0, 0, 100];
    cut_frame.extend_from_slice(&[0; 10]);
    let mut compressed_without_encoding = frame(&length_delimited(page_token, b"x"));
    compressed_without_encoding[0] = 1;

    let search = "/lma.v1.SearchService/SearchProspects";
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "a string that is not UTF-8",
            search,
            frame(&length_delimited(page_token, &[0xff, 0xfe, 0x41])),
        ),
        (
            "a sub-message cut short",
            search,
            frame(&truncated_sub_message),
        ),
        ("nesting past the recursion limit", search, frame(&nested)),
        ("a frame cut short", search, cut_frame),
        (
            "a unary call without its message",
            "/lma.v1.SearchService/GetCompany",
            Vec::new(),
        ),
        (
            "a compressed flag without an encoding",
            search,
            compressed_without_encoding,
        ),
        (
            "a bad message inside a client stream",
            "/lma.v1.IngestService/IngestProspects",
            [
                frame(&[]),
                frame(&length_delimited(1, &length_delimited(4, &[0xc3, 0x28]))),
            ]
            .concat(),
        ),
    ];
    for (case, path, body) in cases {
        let addr = if path.contains("Ingest") {
            app.ingest.addr
        } else {
            app.search.addr
        };
        let answer = raw::call(addr, path, &app.tenant.api_key, body).await;
        assert_eq!(
            answer.status.code(),
            Code::InvalidArgument,
            "{case}: {:?}",
            answer.status
        );
        assert_eq!(
            answer.status.message(),
            UNDECODABLE_REQUEST_MESSAGE,
            "{case}"
        );
    }

    // The services go on serving well-formed calls.
    let page = app.search(Default::default()).await;
    assert!(page.hits.is_empty());
}

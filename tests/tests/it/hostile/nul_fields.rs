//! A NUL character (which PostgreSQL cannot store) in every string field of every RPC, the
//! cases generated from the contract's descriptors rather than listed by hand: each is refused
//! before any SQL, naming the field: `INVALID_ARGUMENT` with a `BadRequest` violation, or, for
//! a record of a bulk write, a rejected row whose error names it.

use std::collections::HashMap;

use lma_tests::raw::{self, frame};
use lma_tests::{Service, spawn_app};
use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, MapKey, MessageDescriptor, ReflectMessage, Value};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::descriptors;

const NUL: &str = "a\u{0}b";

/// Nesting deeper than the contract's messages go: a guard against recursive types.
const MAX_DEPTH: usize = 6;

/// One request with a NUL in exactly one string field.
struct Case {
    /// Path of the field in the request ("filter.custom_fields{value}").
    path: String,
    /// The field's own name, which the error must contain.
    name: String,
    request: DynamicMessage,
}

/// Every way to put a NUL into one string field of `message`, however deeply nested: plain
/// and repeated strings, map keys and values, and the strings of nested messages. The
/// well-known types (timestamps, durations) hold no text of ours.
fn cases(message: &MessageDescriptor, depth: usize) -> Vec<Case> {
    let mut out = Vec::new();
    if depth > MAX_DEPTH {
        return out;
    }
    for field in message.fields() {
        let name = field.name().to_owned();
        let with = |value: Value| {
            let mut request = DynamicMessage::new(message.clone());
            request.set_field(&field, value);
            request
        };
        match field.kind() {
            Kind::String if field.is_list() => out.push(Case {
                path: format!("{name}[0]"),
                name: name.clone(),
                request: with(Value::List(vec![Value::String(NUL.to_owned())])),
            }),
            Kind::String => out.push(Case {
                path: name.clone(),
                name: name.clone(),
                request: with(Value::String(NUL.to_owned())),
            }),
            Kind::Message(entry) if field.is_map() => {
                let key = entry.map_entry_key_field();
                let value = entry.map_entry_value_field();
                if key.kind() == Kind::String && value.kind() == Kind::String {
                    for (which, k, v) in [("key", NUL, "v"), ("value", "k", NUL)] {
                        let map = HashMap::from([(
                            MapKey::String(k.to_owned()),
                            Value::String(v.to_owned()),
                        )]);
                        out.push(Case {
                            path: format!("{name}{{{which}}}"),
                            name: name.clone(),
                            request: with(Value::Map(map)),
                        });
                    }
                }
            }
            Kind::Message(inner) if !inner.full_name().starts_with("google.protobuf.") => {
                for case in cases(&inner, depth + 1) {
                    let nested = Value::Message(case.request);
                    let value = if field.is_list() {
                        Value::List(vec![nested])
                    } else {
                        nested
                    };
                    out.push(Case {
                        path: format!("{name}.{}", case.path),
                        name: case.name,
                        request: with(value),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Every `lma.v1.RowError.field` in a message, however deeply nested.
fn row_error_fields(message: &DynamicMessage, out: &mut Vec<String>) {
    if message.descriptor().full_name() == "lma.v1.RowError" {
        if let Some(Value::String(field)) = message.get_field_by_name("field").as_deref() {
            out.push(field.clone());
        }
        return;
    }
    for (_, value) in message.fields() {
        walk_value(value, out);
    }
}

fn walk_value(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Message(message) => row_error_fields(message, out),
        Value::List(values) => values.iter().for_each(|value| walk_value(value, out)),
        Value::Map(map) => map.values().for_each(|value| walk_value(value, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_any_string_field_of_any_rpc_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let pool = descriptors();
    let mut checked = 0;
    let mut failures = Vec::new();
    for service in Service::ALL {
        let descriptor = pool
            .get_service_by_name(service.grpc_service())
            .expect("the service is in the contract");
        for method in descriptor.methods() {
            let path = format!("/{}/{}", descriptor.full_name(), method.name());
            for case in cases(&method.input(), 0) {
                let body = frame(&case.request.encode_to_vec());
                let answer = raw::call(app.addr(service), &path, &app.tenant.api_key, body).await;
                let what = format!("{path} with a NUL in {}", case.path);
                let named = match answer.status.code() {
                    Code::InvalidArgument => answer
                        .status
                        .get_details_bad_request()
                        .unwrap_or_else(|| panic!("{what}: no BadRequest details"))
                        .field_violations
                        .iter()
                        .map(|violation| violation.field.clone())
                        .collect::<Vec<_>>(),
                    Code::Ok => {
                        let mut fields = Vec::new();
                        for message in &answer.messages {
                            let decoded = DynamicMessage::decode(method.output(), message.clone())
                                .unwrap_or_else(|e| panic!("{what}: undecodable answer: {e}"));
                            row_error_fields(&decoded, &mut fields);
                        }
                        fields
                    }
                    _ => {
                        failures.push(format!("{what}: {:?}", answer.status));
                        continue;
                    }
                };
                if !named.iter().any(|field| field.contains(&case.name)) {
                    failures.push(format!("{what}: the error names {named:?}"));
                }
                checked += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The contract has dozens of string fields; a generator that found none tested nothing.
    assert!(checked > 60, "only {checked} cases generated");
    let client = app.db.connect().await;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM prospect", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 0, "no request with a NUL wrote a prospect");
}

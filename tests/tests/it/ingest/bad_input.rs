//! Input the database cannot take, and oversized input: every such value is `INVALID_ARGUMENT` (or
//! a row error of a bulk write) naming its field before any SQL, never `INTERNAL`, and errors quote
//! a caller's value only cut short.

use lma_proto::v1::import_csv_request::Part;
use lma_proto::v1::import_csv_response::Message;
use lma_proto::v1::{
    CompanyRecord, CsvEncoding, CsvImportOptions, DeleteCompanyRequest, DeleteProspectRequest,
    GetProspectRequest, ImportCsvRequest, IngestProspectsRequest, ProspectRecord, RowError,
    UpsertCompanyRequest, UpsertProspectRequest,
};
use lma_tests::clients::IngestClient;
use lma_tests::spawn_app;
use prost::Message as _;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_types::field_descriptor_proto::{Label, Type};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::{count_in, import_csv};

/// A value PostgreSQL refuses in any text or jsonb column.
const NUL: &[u8] = b"a\0b";

/// Longest error text a 2 MB value may produce: its quote is cut to 64 characters.
const SHORT: usize = 400;

/// The string fields of an `lma.v1` message, from the contract's descriptors: (name, number,
/// kind). Maps are listed as their entry's key and value.
fn string_fields(message: &str) -> Vec<(String, u32, FieldKind)> {
    let files = prost_types::FileDescriptorSet::decode(lma_proto::FILE_DESCRIPTOR_SET)
        .expect("the contract's descriptors decode");
    let descriptor = files
        .file
        .iter()
        .filter(|file| file.package() == "lma.v1")
        .flat_map(|file| &file.message_type)
        .find(|candidate| candidate.name() == message)
        .unwrap_or_else(|| panic!("no message lma.v1.{message}"));
    let mut fields = Vec::new();
    for field in &descriptor.field {
        let number = u32::try_from(field.number()).expect("a positive field number");
        let name = field.name().to_owned();
        match field.r#type() {
            Type::String => fields.push((name, number, FieldKind::Text)),
            Type::Message => {
                let entry = descriptor.nested_type.iter().find(|nested| {
                    field.type_name().ends_with(&format!(".{}", nested.name()))
                        && nested.options.as_ref().is_some_and(|o| o.map_entry())
                });
                match entry {
                    Some(_) => {
                        fields.push((name.clone(), number, FieldKind::MapKey));
                        fields.push((name, number, FieldKind::MapValue));
                    }
                    None if field.type_name() == ".lma.v1.CompanyRecord" => {
                        fields.push((name, number, FieldKind::Company));
                    }
                    None => panic!("{message}.{name}: an unexpected message field"),
                }
            }
            _ if field.label() == Label::Repeated => {}
            _ => {}
        }
    }
    fields
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum FieldKind {
    /// A string, or a repeated string (tags).
    Text,
    MapKey,
    MapValue,
    /// The prospect's company: its own string fields are set through it.
    Company,
}

fn length_delimited(buffer: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    encode_key(number, WireType::LengthDelimited, buffer);
    encode_varint(bytes.len() as u64, buffer);
    buffer.extend_from_slice(bytes);
}

/// `message` with one more occurrence of field `number` holding `value` (or, for maps, an
/// entry with `value` as key or value), as the wire format merges it: a string is replaced,
/// a repeated string gets one more element, a map one more entry, a message is merged.
fn with_field<M: prost::Message + Default>(
    message: &M,
    number: u32,
    kind: FieldKind,
    value: &[u8],
) -> M {
    let mut encoded = message.encode_to_vec();
    match kind {
        FieldKind::Text => length_delimited(&mut encoded, number, value),
        FieldKind::MapKey | FieldKind::MapValue => {
            let mut entry = Vec::new();
            let (key, entry_value) = if kind == FieldKind::MapKey {
                (value, &b"ok"[..])
            } else {
                (&b"k"[..], value)
            };
            length_delimited(&mut entry, 1, key);
            length_delimited(&mut entry, 2, entry_value);
            length_delimited(&mut encoded, number, &entry);
        }
        FieldKind::Company => unreachable!("set through the company's own fields"),
    }
    M::decode(encoded.as_slice()).expect("a valid message")
}

fn valid_record(n: usize) -> ProspectRecord {
    ProspectRecord {
        external_source: "crm".into(),
        external_id: format!("x{n}"),
        email: format!("pat{n}@acme.io"),
        first_name: "Pat".into(),
        company: Some(CompanyRecord {
            domain: "acme.io".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One record per string field of ProspectRecord and of its company, each valid but for that
/// field: (the field's path below the record, the record).
fn records_with_a_bad(value: &[u8]) -> Vec<(String, ProspectRecord)> {
    let company_fields = string_fields("CompanyRecord");
    let mut cases = Vec::new();
    for (name, number, kind) in string_fields("ProspectRecord") {
        let base = valid_record(cases.len());
        if kind == FieldKind::Company {
            for (company_field, company_number, company_kind) in &company_fields {
                let mut record = base.clone();
                record.company = Some(with_field(
                    record.company.as_ref().expect("a company"),
                    *company_number,
                    *company_kind,
                    value,
                ));
                cases.push((format!("{name}.{company_field}"), record));
            }
        } else {
            cases.push((name, with_field(&base, number, kind, value)));
        }
    }
    cases
}

/// The field paths of a status's `BadRequest` details.
fn violated_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest details: {status:?}"))
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect()
}

/// `status` is INVALID_ARGUMENT naming `path` (the exact field, or one inside it such as
/// `tags[0]` or `custom_fields["k"]`), with a message that is not a database's.
fn assert_names_field(status: &tonic::Status, path: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
    let fields = violated_fields(status);
    assert!(
        fields
            .iter()
            .any(|field| field == path || field.starts_with(&format!("{path}["))),
        "{path}: violations name {fields:?}"
    );
    assert!(!status.message().contains('\0'), "{status:?}");
}

#[tokio::test]
async fn a_nul_in_any_string_field_of_a_record_is_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let cases = records_with_a_bad(NUL);
    assert!(
        cases.len() >= 30,
        "the descriptors gave {} fields",
        cases.len()
    );

    for (path, record) in &cases {
        let status = client
            .upsert_prospect(UpsertProspectRequest {
                prospect: Some(record.clone()),
            })
            .await
            .expect_err(path);
        assert_names_field(&status, &format!("prospect.{path}"));
    }
    for (name, number, kind) in string_fields("CompanyRecord") {
        let company = with_field(
            &CompanyRecord {
                domain: "acme.io".into(),
                ..Default::default()
            },
            number,
            kind,
            NUL,
        );
        let status = client
            .upsert_company(UpsertCompanyRequest {
                company: Some(company),
            })
            .await
            .expect_err(&name);
        assert_names_field(&status, &format!("company.{name}"));
    }

    // Streamed, each bad record is a row error naming the field; the good one is stored.
    let mut records: Vec<ProspectRecord> = cases.iter().map(|(_, record)| record.clone()).collect();
    records.push(valid_record(10_000));
    let summary = client
        .ingest_prospects(tokio_stream::iter([IngestProspectsRequest { records }]))
        .await
        .expect("IngestProspects")
        .into_inner()
        .summary
        .expect("a summary");
    assert_eq!(
        (summary.inserted, summary.rejected),
        (1, cases.len() as u64),
        "{summary:?}"
    );
    for (index, (path, _)) in cases.iter().enumerate() {
        let row = index as u64 + 1;
        let errors: Vec<&RowError> = summary.errors.iter().filter(|e| e.row == row).collect();
        assert!(
            errors
                .iter()
                .any(|e| e.field.starts_with(path.as_str()) && e.reason.contains("NUL")),
            "row {row} ({path}): {errors:?}"
        );
    }
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 1);
}

#[tokio::test]
async fn a_nul_in_an_id_or_an_import_option_is_invalid_argument_naming_it() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let id = "1\0".to_owned();
    let status = client
        .get_prospect(GetProspectRequest {
            prospect_id: id.clone(),
        })
        .await
        .expect_err("GetProspect");
    assert_names_field(&status, "prospect_id");
    let status = client
        .delete_prospect(DeleteProspectRequest {
            prospect_id: id.clone(),
        })
        .await
        .expect_err("DeleteProspect");
    assert_names_field(&status, "prospect_id");
    let status = client
        .delete_company(DeleteCompanyRequest {
            company_id: id,
            delete_prospects: true,
        })
        .await
        .expect_err("DeleteCompany");
    assert_names_field(&status, "company_id");

    let file = b"external_id,email\nx1,x1@acme.io\n";
    let bad = "a\0b".to_owned();
    for (field, options) in [
        (
            "options.file_name",
            CsvImportOptions {
                file_name: bad.clone(),
                ..Default::default()
            },
        ),
        (
            "options.delimiter",
            CsvImportOptions {
                delimiter: "\0".into(),
                ..Default::default()
            },
        ),
        (
            "options.external_source",
            CsvImportOptions {
                external_source: bad.clone(),
                ..Default::default()
            },
        ),
    ] {
        let status = import_csv(&mut client, options, file)
            .await
            .expect_err(field);
        assert_names_field(&status, field);
    }
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 0);
}

#[tokio::test]
async fn a_nul_in_a_csv_value_is_a_row_error_and_in_the_header_a_file_error() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;

    // UTF-16 files hold zero bytes in every ASCII character; only a decoded NUL is refused.
    let text = "External ID,E-mail,Given Name,custom.tier\r\n\
                u1,ann@acme.io,Ann,gold\r\n\
                u2,bob@acme.io,B\0b,\r\n\
                u3,cy@acme.io,Cy,pl\0tinum\r\n";
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    for file in [text.as_bytes().to_vec(), utf16] {
        let (report, _) = import_csv(&mut client, CsvImportOptions::default(), &file)
            .await
            .expect("ImportCsv");
        let summary = report.summary.expect("a summary");
        assert_eq!(
            (summary.rejected, summary.errors.len()),
            (2, 2),
            "{summary:?}"
        );
        let errors: Vec<(u64, &str, &str)> = summary
            .errors
            .iter()
            .map(|e| (e.row, e.external_id.as_str(), e.field.as_str()))
            .collect();
        assert_eq!(
            errors,
            [
                (3, "u2", "first_name"),
                (4, "u3", "custom_fields[\"tier\"]")
            ]
        );
        assert!(
            summary.errors[0]
                .reason
                .starts_with("column \"Given Name\": contains a NUL"),
            "{:?}",
            summary.errors[0]
        );
        assert!(
            summary.errors[1]
                .reason
                .starts_with("column \"custom.tier\": contains a NUL"),
            "{:?}",
            summary.errors[1]
        );
    }
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect WHERE external_id = 'u1'"
        )
        .await,
        1
    );

    let status = import_csv(
        &mut client,
        CsvImportOptions::default(),
        b"external_id,email,first\0name\nx1,x1@acme.io,X\n",
    )
    .await
    .expect_err("a NUL in the header");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains("column 3 of the header contains a NUL"),
        "{status:?}"
    );
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 1);
}

/// Values that passed validation and then failed in the database: an email that grows when
/// lower-cased (INTERNAL: too long for its column), addresses the email check refuses
/// (FAILED_PRECONDITION), and a file name too long to be the default external_source (every
/// row rejected).
#[tokio::test]
async fn values_the_database_would_refuse_are_invalid_arguments_naming_the_field() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let explicit_company = |email: String| ProspectRecord {
        external_id: "e1".into(),
        email,
        company: Some(CompanyRecord {
            domain: "acme.io".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    for email in [
        // 250 characters sent, 450 stored: "İ" is "i̇" in lower case.
        format!("{}@acme.io", "İ".repeat(242)),
        "pat@acme.io/x y".to_owned(),
        "pat@[::1]".to_owned(),
    ] {
        let status = client
            .upsert_prospect(UpsertProspectRequest {
                prospect: Some(explicit_company(email.clone())),
            })
            .await
            .expect_err(&email);
        assert_names_field(&status, "prospect.email");
    }

    let status = import_csv(
        &mut client,
        CsvImportOptions {
            file_name: format!("{}.csv", "n".repeat(120)),
            ..Default::default()
        },
        b"external_id,email\nx1,x1@acme.io\n",
    )
    .await
    .expect_err("a file name too long for the default external_source");
    assert_names_field(&status, "options.file_name");

    // Numbers beyond what the column can hold are row errors that say so.
    let (report, _) = import_csv(
        &mut client,
        CsvImportOptions::default(),
        b"external_id,email,max_employees\nx1,x1@acme.io,3000000000\n",
    )
    .await
    .expect("ImportCsv");
    let summary = report.summary.expect("a summary");
    assert_eq!(summary.errors.len(), 1, "{summary:?}");
    assert_eq!(summary.errors[0].field, "company.max_employees");
    assert!(
        summary.errors[0]
            .reason
            .contains("more than 10,000,000 employees"),
        "{:?}",
        summary.errors[0]
    );
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 0);
}

/// The status message and every violation of `status` are short.
fn assert_short(status: &tonic::Status) {
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.code());
    assert!(
        status.message().len() < SHORT,
        "a message of {} bytes",
        status.message().len()
    );
    let details = status
        .get_details_bad_request()
        .expect("BadRequest details");
    for violation in &details.field_violations {
        assert!(
            violation.field.len() + violation.description.len() < SHORT,
            "a violation of {} + {} bytes",
            violation.field.len(),
            violation.description.len()
        );
    }
}

async fn upsert_status(client: &mut IngestClient, record: ProspectRecord) -> tonic::Status {
    client
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record),
        })
        .await
        .expect_err("an oversized value")
}

#[tokio::test]
async fn two_megabyte_values_give_short_errors() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let huge = "k".repeat(2 * 1024 * 1024);

    let mut custom_key = valid_record(1);
    custom_key.custom_fields.insert(huge.clone(), "v".into());
    assert_short(&upsert_status(&mut client, custom_key.clone()).await);
    let mut email = valid_record(2);
    email.email = format!("{huge}@acme.io");
    assert_short(&upsert_status(&mut client, email.clone()).await);
    let mut id = valid_record(3);
    id.external_id.clone_from(&huge);
    assert_short(&upsert_status(&mut client, id.clone()).await);
    let mut domain = valid_record(4);
    domain.company = Some(CompanyRecord {
        domain: format!("https://{huge}"),
        ..Default::default()
    });
    assert_short(&upsert_status(&mut client, domain.clone()).await);
    let status = client
        .get_prospect(GetProspectRequest {
            prospect_id: huge.clone(),
        })
        .await
        .expect_err("not an id");
    assert_short(&status);

    // Streamed: each rejected record's row errors are short, and name no oversized id.
    let mut everything = valid_record(5);
    everything.external_id.clone_from(&huge);
    everything.email = format!("{huge}@acme.io");
    everything.custom_fields.insert(huge.clone(), huge.clone());
    let summary = client
        .ingest_prospects(tokio_stream::iter([
            IngestProspectsRequest {
                records: vec![custom_key, email, id],
            },
            IngestProspectsRequest {
                records: vec![domain, everything],
            },
        ]))
        .await
        .expect("IngestProspects")
        .into_inner()
        .summary
        .expect("a summary");
    assert_eq!(summary.rejected, 5, "{}", summary.errors.len());
    for error in &summary.errors {
        assert!(
            error.encoded_len() < SHORT,
            "a row error of {} bytes",
            error.encoded_len()
        );
    }
    assert!(
        summary
            .errors
            .iter()
            .any(|e| e.row == 5 && e.field == "external_id")
    );

    // A file's oversized values too (sent in one chunk: 300,000 chunks of 7 bytes would be
    // refused by HTTP/2's flood protection), and an oversized option.
    let mut file = b"external_id,email,revenue\nr1,r1@acme.io,".to_vec();
    file.extend_from_slice(huge.as_bytes());
    file.push(b'\n');
    let requests = [
        Part::Options(CsvImportOptions {
            encoding: CsvEncoding::Utf8 as i32,
            ..Default::default()
        }),
        Part::Chunk(file),
    ]
    .map(|part| ImportCsvRequest { part: Some(part) });
    let mut responses = client
        .import_csv(tokio_stream::iter(requests))
        .await
        .expect("ImportCsv")
        .into_inner();
    let mut row_errors = Vec::new();
    let mut report = None;
    while let Some(message) = responses.message().await.expect("ImportCsv") {
        match message.message {
            Some(Message::Progress(progress)) => row_errors.extend(progress.row_errors),
            Some(Message::Report(last)) => report = Some(last),
            Some(Message::Header(_)) | None => {}
        }
    }
    let summary = report.and_then(|r| r.summary).expect("a summary");
    assert_eq!(summary.rejected, 1);
    for error in summary.errors.iter().chain(&row_errors) {
        assert!(
            error.encoded_len() < SHORT,
            "a row error of {} bytes",
            error.encoded_len()
        );
    }
    let status = import_csv(
        &mut client,
        CsvImportOptions {
            delimiter: huge.clone(),
            ..Default::default()
        },
        b"external_id,email\n",
    )
    .await
    .expect_err("not one character");
    assert_short(&status);
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 0);
}

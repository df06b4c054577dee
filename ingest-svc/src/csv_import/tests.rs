use super::*;

fn options() -> CsvOptions {
    CsvOptions {
        delimiter: None,
        encoding: CsvEncoding::Unspecified,
        external_source: "csv:test.csv".into(),
        source_overrides: false,
        batch_rows: 100,
    }
}

/// Parses `bytes` and returns the report and every batch.
fn parse_all(bytes: &[u8]) -> (Result<HeaderReport, CsvError>, Vec<Batch>) {
    let (sender, mut receiver) = mpsc::channel(1_000);
    let result = parse(bytes, &options(), &sender, &RowsRead::default());
    drop(sender);
    let mut batches = Vec::new();
    while let Ok(batch) = receiver.try_recv() {
        batches.push(batch);
    }
    (result, batches)
}

#[test]
fn aliases_quotes_crlf_bom_and_semicolons() {
    let file = "\u{feff}Lead ID;First Name;lastName;E-mail;Company;Notes\r\n\
                1;Jane;\"Doe; Jr.\";jane@acme.com;\"Acme \"\"The\"\" Corp\";x\r\n\
                2;\"Multi\nLine\";Roe;max@beta.io;Beta;\r\n";
    let (report, batches) = parse_all(file.as_bytes());
    let report = report.expect("importable");
    assert_eq!(report.delimiter, ";");
    assert_eq!(report.unknown_columns, ["Notes"]);
    assert_eq!(report.column_mapping["E-mail"], "email");
    let rows: Vec<&StagedRow> = batches.iter().flat_map(|b| &b.rows).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].record.last_name.as_deref(), Some("Doe; Jr."));
    assert_eq!(
        rows[0].record.company.name.as_deref(),
        Some("Acme \"The\" Corp")
    );
    assert_eq!(rows[0].record.external_source, "csv:test.csv");
    assert_eq!(rows[1].record.first_name.as_deref(), Some("Multi\nLine"));
    assert_eq!((rows[0].row, rows[1].row), (2, 3));
}

#[test]
fn a_missing_email_column_fails_before_any_row() {
    let (report, batches) = parse_all(b"first_name,external_id\nJane,j1\n");
    let error = report.expect_err("no email column");
    assert!(error.to_string().contains("no email column"), "{error}");
    assert!(batches.is_empty());
}

#[test]
fn without_an_id_column_the_lower_case_email_is_the_key() {
    let (report, batches) = parse_all(b"First Name,Email\nJane,Jane@Acme.com\nJo,\n");
    let report = report.expect("importable");
    assert_eq!(report.column_mapping["Email"], "email");
    let rows: Vec<&StagedRow> = batches.iter().flat_map(|b| &b.rows).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].record.external_id, "jane@acme.com");
    assert_eq!(rows[0].record.email, "jane@acme.com");
    assert_eq!(rows[0].record.external_source, "csv:test.csv");
    // A row without email has no key either.
    let fields: Vec<&str> = batches
        .iter()
        .flat_map(|b| &b.rejected)
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(fields[..2], ["external_id", "email"]);
}

#[test]
fn a_tools_export_takes_the_tools_name_as_source_unless_told_otherwise() {
    let file = "Apollo Contact Id,Email\nc1,ann@acme.com\n";
    let (_, batches) = parse_all(file.as_bytes());
    assert_eq!(batches[0].rows[0].record.external_source, "apollo");

    // The call's source wins...
    let (sender, mut receiver) = mpsc::channel(10);
    let options = CsvOptions {
        external_source: "crm".into(),
        source_overrides: true,
        ..options()
    };
    parse(file.as_bytes(), &options, &sender, &RowsRead::default()).expect("importable");
    drop(sender);
    let batch = receiver.try_recv().expect("a batch");
    assert_eq!(batch.rows[0].record.external_source, "crm");

    // ...and so does the row's own.
    let file = "Apollo Contact Id,Email,external_source\nc1,ann@acme.com,apollo-eu\n";
    let (_, batches) = parse_all(file.as_bytes());
    assert_eq!(batches[0].rows[0].record.external_source, "apollo-eu");
}

#[test]
fn a_head_count_sets_both_bounds_and_thousands_are_multiplied() {
    let file = "ZoomInfo Contact ID,Email Address,Employees,Revenue (in 000s USD)\n\
                z1,a@acme.com,\"1,250\",\"48,000\"\n\
                z2,b@acme.com,,\n\
                z3,c@acme.com,50-99,\n\
                z4,d@acme.com,,9999999999999999\n";
    let (report, batches) = parse_all(file.as_bytes());
    let report = report.expect("importable");
    assert_eq!(report.column_mapping["Employees"], "company.employees");
    let rows: Vec<&StagedRow> = batches.iter().flat_map(|b| &b.rows).collect();
    let company = &rows[0].record.company;
    assert_eq!(
        (company.min_employees, company.max_employees),
        (Some(1_250), Some(1_250))
    );
    assert_eq!(company.revenue, Some(48_000_000));
    assert_eq!(rows[1].record.company.revenue, None);
    let errors: Vec<(u64, &str)> = batches
        .iter()
        .flat_map(|b| &b.rejected)
        .map(|e| (e.row, e.field.as_str()))
        .collect();
    assert_eq!(errors, [(4, "company.employees"), (5, "company.revenue")]);
}

#[test]
fn bad_values_are_rejected_with_line_and_field() {
    let file = "external_id,email,revenue,min_employees,max_employees\n\
                a,a@acme.com,12abc,,\n\
                b,b@acme.com,-5,,\n\
                c,c@acme.com,,50,10\n\
                d,not-an-email,,,\n\
                e,e@gmail.com,,,\n\
                f,f@acme.com,\"1,000\",1,2\n";
    let (report, batches) = parse_all(file.as_bytes());
    report.expect("importable");
    let errors: Vec<(u64, String)> = batches
        .iter()
        .flat_map(|b| &b.rejected)
        .map(|e| (e.row, e.field.clone()))
        .collect();
    assert_eq!(
        errors,
        [
            (2, "company.revenue".to_owned()),
            (3, "company.revenue".to_owned()),
            (4, "company.min_employees".to_owned()),
            (5, "email".to_owned()),
            (6, "email".to_owned()),
        ]
    );
    let rows: Vec<&StagedRow> = batches.iter().flat_map(|b| &b.rows).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].record.company.revenue, Some(1_000));
}

#[test]
fn duplicate_field_columns_are_refused() {
    let error = columns::map_header(&["email".into(), "E-Mail".into(), "id".into()])
        .err()
        .expect("two email columns");
    assert!(error.contains("both map to email"), "{error}");
}

#[test]
fn delimiters_are_detected_outside_quotes() {
    assert_eq!(detect_delimiter("a;b;c"), b';');
    assert_eq!(detect_delimiter("\"a;b\",c,d"), b',');
    assert_eq!(detect_delimiter("a\tb"), b'\t');
    assert_eq!(detect_delimiter("single"), b',');
}

/// Parses an upload of `chunks`, ended cleanly or not.
fn parse_upload(chunks: &[&str], clean_end: bool) -> (Result<HeaderReport, CsvError>, Vec<Batch>) {
    let (sender, receiver) = mpsc::channel(chunks.len() + 1);
    for chunk in chunks {
        sender
            .try_send(upload::Upload::Chunk(chunk.as_bytes().to_vec()))
            .expect("room for every chunk");
    }
    if clean_end {
        sender
            .try_send(upload::Upload::End)
            .expect("room for the end");
    }
    drop(sender);
    let (batches, mut received) = mpsc::channel(1_000);
    let options = CsvOptions {
        batch_rows: 2,
        // Declared, so that parsing starts without waiting for 64 KiB to sniff.
        encoding: CsvEncoding::Utf8,
        ..options()
    };
    let result = parse(
        upload::ChunkReader::new(receiver),
        &options,
        &batches,
        &RowsRead::default(),
    );
    drop(batches);
    let mut sent = Vec::new();
    while let Ok(batch) = received.try_recv() {
        sent.push(batch);
    }
    (result, sent)
}

fn external_ids(batches: &[Batch]) -> Vec<&str> {
    batches
        .iter()
        .flat_map(|b| &b.rows)
        .map(|row| row.record.external_id.as_str())
        .collect()
}

#[test]
fn an_upload_that_breaks_off_sends_no_cut_record_and_no_unfinished_batch() {
    let chunks = [
        "external_id,email\na1,a1@acme.com\na2,a2@acme.com\n",
        "a3,a3@acme.com\na4,a4@acme.co",
    ];
    let (result, batches) = parse_upload(&chunks, false);
    assert!(matches!(result, Err(CsvError::Aborted)), "{result:?}");
    // The full batch went out; a3 (unfinished batch) and a4 (cut) did not.
    assert_eq!(external_ids(&batches), ["a1", "a2"]);

    // The same bytes ended cleanly are a whole file whose last line has no line break (so
    // a4@acme.com cut after "acme.co" would be stored as a valid, wrong address).
    let (result, batches) = parse_upload(&chunks, true);
    result.expect("a complete file");
    assert_eq!(external_ids(&batches), ["a1", "a2", "a3", "a4"]);
    let last = &batches.last().expect("batches").rows[1].record;
    assert_eq!(last.email, "a4@acme.co");
}

#[test]
fn an_upload_that_breaks_off_inside_the_header_imports_nothing() {
    let (result, batches) = parse_upload(&["external_id,em"], false);
    assert!(matches!(result, Err(CsvError::Aborted)), "{result:?}");
    assert!(batches.is_empty());
}

#[test]
fn a_nul_in_a_value_is_a_row_error_naming_line_and_column() {
    let file = "external_id,E-Mail,Given Name,custom.tier\n\
                a,a@acme.com,Ann,gold\n\
                b,b@acme.com,B\0b,\n\
                c\0,c@acme.com,Cy,\n\
                d,d@acme.com,Dee,pl\0tinum\n";
    let (report, batches) = parse_all(file.as_bytes());
    report.expect("importable");
    assert_eq!(external_ids(&batches), ["a"]);
    let errors: Vec<(u64, &str, &str, &str)> = batches
        .iter()
        .flat_map(|b| &b.rejected)
        .map(|e| {
            (
                e.row,
                e.external_id.as_str(),
                e.field.as_str(),
                e.reason.as_str(),
            )
        })
        .collect();
    let nul = "contains a NUL character (U+0000), which cannot be stored";
    assert_eq!(
        errors,
        [
            (
                3,
                "b",
                "first_name",
                format!("column \"Given Name\": {nul}").as_str()
            ),
            (
                4,
                "",
                "external_id",
                format!("column \"external_id\": {nul}").as_str()
            ),
            (
                5,
                "d",
                "custom_fields[\"tier\"]",
                format!("column \"custom.tier\": {nul}").as_str()
            ),
        ]
    );
}

#[test]
fn a_nul_in_the_header_fails_the_file() {
    let (report, batches) = parse_all(b"external_id,em\0ail\na,a@acme.com\n");
    let error = report.expect_err("an unstorable header").to_string();
    assert!(
        error.contains("column 2 of the header contains a NUL"),
        "{error}"
    );
    assert!(batches.is_empty());
}

#[test]
fn numbers_out_of_range_say_so() {
    let file = "external_id,email,min_employees,revenue\n\
                a,a@acme.com,99999999999,\n\
                b,b@acme.com,,99999999999999999999\n";
    let (_, batches) = parse_all(file.as_bytes());
    let reasons: Vec<&str> = batches
        .iter()
        .flat_map(|b| &b.rejected)
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "\"99999999999\" is out of range (-2147483648 to 2147483647)",
            "\"99999999999999999999\" is out of range (-9223372036854775808 to 9223372036854775807)",
        ]
    );
}

#[test]
fn header_errors_quote_names_cut_short() {
    let long = "x".repeat(100_000);
    let header: Vec<String> = (0..50).map(|i| format!("{long}{i}")).collect();
    let error = columns::map_header(&header)
        .err()
        .expect("no required column");
    assert!(error.len() < 2_000, "{}", error.len());
    assert!(error.contains("and 40 more"), "{error}");
    let dashes = "-".repeat(100_000);
    let error = columns::map_header(&["id".into(), "email".into(), format!("e-mail{dashes}")])
        .err()
        .expect("two email columns");
    assert!(error.len() < 300, "{}", error.len());
}

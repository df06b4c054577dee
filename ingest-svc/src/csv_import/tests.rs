use super::*;
use crate::persistence::StagedRow;
use lma_proto::v1::ColumnSource;

fn options() -> CsvOptions {
    CsvOptions {
        delimiter: None,
        encoding: CsvEncoding::Unspecified,
        external_source: "csv:test.csv".into(),
        source_overrides: false,
        batch_rows: 100,
        columns: ColumnPlan::default(),
    }
}

/// Parses `bytes` and returns the report and every batch.
fn parse_all(bytes: &[u8]) -> (Result<HeaderReport, CsvError>, Vec<Batch>) {
    let (sender, mut receiver) = mpsc::channel(1_000);
    let result = parse(bytes, &options(), &sender, &RowsRead::default(), |_| {});
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
    parse(
        file.as_bytes(),
        &options,
        &sender,
        &RowsRead::default(),
        |_| {},
    )
    .expect("importable");
    drop(sender);
    let batch = receiver.try_recv().expect("a batch");
    assert_eq!(batch.rows[0].record.external_source, "crm");

    // ...and so does the row's own.
    let file = "Apollo Contact Id,Email,external_source\nc1,ann@acme.com,apollo-eu\n";
    let (_, batches) = parse_all(file.as_bytes());
    assert_eq!(batches[0].rows[0].record.external_source, "apollo-eu");
}

#[test]
fn a_head_count_or_range_sets_the_bounds_and_thousands_are_multiplied() {
    let file = "ZoomInfo Contact ID,Email Address,Employees,Revenue (in 000s USD)\n\
                z1,a@acme.com,\"1,250\",\"48,000\"\n\
                z2,b@acme.com,,\n\
                z3,c@acme.com,50-99,\n\
                z4,d@acme.com,,9999999999999999\n\
                z5,e@acme.com,\"10,001+\",$1.2M\n\
                z6,f@acme.com,201-500 employees,1000-5000\n\
                z7,g@acme.com,many,\n";
    let (report, batches) = parse_all(file.as_bytes());
    let report = report.expect("importable");
    assert_eq!(report.column_mapping["Employees"], "company.employees");
    let rows: Vec<&StagedRow> = batches.iter().flat_map(|b| &b.rows).collect();
    let bounds: Vec<(&str, Option<i32>, Option<i32>)> = rows
        .iter()
        .map(|row| {
            let company = &row.record.company;
            (
                row.record.external_id.as_str(),
                company.min_employees,
                company.max_employees,
            )
        })
        .collect();
    assert_eq!(
        bounds,
        [
            ("z1", Some(1_250), Some(1_250)),
            ("z2", None, None),
            ("z3", Some(50), Some(99)),
            ("z5", Some(10_001), None),
            ("z6", Some(201), Some(500)),
        ]
    );
    let revenue = |row: &StagedRow| (row.record.company.revenue, row.record.company.max_revenue);
    assert_eq!(revenue(rows[0]), (Some(48_000_000), Some(48_000_000)));
    assert_eq!(revenue(rows[1]), (None, None));
    // A value with its own multiplier means what it says, whatever the column's unit.
    assert_eq!(revenue(rows[3]), (Some(1_200_000), Some(1_200_000)));
    // A range in thousands: both bounds multiplied.
    assert_eq!(revenue(rows[4]), (Some(1_000_000), Some(5_000_000)));
    let errors: Vec<(u64, &str)> = batches
        .iter()
        .flat_map(|b| &b.rejected)
        .map(|e| (e.row, e.field.as_str()))
        .collect();
    assert_eq!(errors, [(5, "company.revenue"), (8, "company.employees")]);
}

#[test]
fn revenue_and_levels_are_read_as_exports_write_them() {
    let file = "external_id,email,Annual Revenue,Seniority\n\
                a,a@acme.com,\"$2,750,000.00\",Vp\n\
                b,b@acme.com,$1.2M,C-Level\n\
                c,c@acme.com,12500000,VP-Level Exec\n\
                d,d@acme.com,\u{20ac}3M,director\n\
                e,e@acme.com,$1M-$10M,manager\n\
                f,f@acme.com,,chief wizard\n\
                g,g@acme.com,$1B+,\n\
                h,h@acme.com,\"1,000,000 - 5,000,000\",\n\
                i,i@acme.com,,\n";
    let (report, batches) = parse_all(file.as_bytes());
    report.expect("importable");
    let rows: Vec<_> = batches
        .iter()
        .flat_map(|b| &b.rows)
        .map(|row| {
            (
                row.record.external_id.as_str(),
                row.record.company.revenue,
                row.record.company.max_revenue,
                row.record.job_title_level,
            )
        })
        .collect();
    const M: i64 = 1_000_000;
    assert_eq!(
        rows,
        [
            // An exact amount is both bounds.
            ("a", Some(2_750_000), Some(2_750_000), Some("vp")),
            ("b", Some(1_200_000), Some(1_200_000), Some("c_suite")),
            ("c", Some(12_500_000), Some(12_500_000), Some("vp")),
            ("e", Some(M), Some(10 * M), Some("manager")),
            // An open range has no upper bound.
            ("g", Some(1_000 * M), None, None),
            ("h", Some(M), Some(5 * M), None),
            ("i", None, None, None),
        ]
    );
    let errors: Vec<(u64, &str, &str)> = batches
        .iter()
        .flat_map(|b| &b.rejected)
        .map(|e| (e.row, e.field.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            (
                5,
                "company.revenue",
                "\"\u{20ac}3M\" is in EUR; revenue is stored in US dollars"
            ),
            (
                7,
                "job_title_level",
                "\"chief wizard\" is not a known seniority or management level"
            ),
        ]
    );
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
    let error = columns::map_header(
        &["email".into(), "E-Mail".into(), "id".into()],
        &ColumnPlan::default(),
    )
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
        |_| {},
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
            "\"99999999999\" is more than 10,000,000 employees",
            "\"99999999999999999999\" is more than 100 trillion",
        ]
    );
}

#[test]
fn header_errors_quote_names_cut_short() {
    let long = "x".repeat(100_000);
    let header: Vec<String> = (0..50).map(|i| format!("{long}{i}")).collect();
    let ignore_unknown = ColumnPlan::new(&HashMap::new(), UnknownColumns::Ignore).expect("a plan");
    let error = columns::map_header(&header, &ignore_unknown)
        .err()
        .expect("no required column");
    assert!(error.len() < 2_000, "{}", error.len());
    assert!(error.contains("and 40 more"), "{error}");
    // Kept, the first is too long a custom-field key.
    let error = columns::map_header(&header, &ColumnPlan::default())
        .err()
        .expect("too long a key");
    assert!(error.len() < 2_000, "{}", error.len());
    assert!(
        error.contains("cannot be kept as a custom field"),
        "{error}"
    );
    let dashes = "-".repeat(100_000);
    let error = columns::map_header(
        &["id".into(), "email".into(), format!("e-mail{dashes}")],
        &ColumnPlan::default(),
    )
    .err()
    .expect("two email columns");
    assert!(error.len() < 300, "{}", error.len());
}

/// Parses `file` with the call's column map and unknown-column policy.
fn parse_planned(
    file: &str,
    map: &[(&str, &str)],
    unknown: UnknownColumns,
) -> (Result<HeaderReport, CsvError>, Vec<Batch>) {
    let map: HashMap<String, String> = map
        .iter()
        .map(|(header, target)| ((*header).to_owned(), (*target).to_owned()))
        .collect();
    let options = CsvOptions {
        columns: ColumnPlan::new(&map, unknown).expect("a valid plan"),
        ..options()
    };
    let (sender, mut receiver) = mpsc::channel(1_000);
    let result = parse(
        file.as_bytes(),
        &options,
        &sender,
        &RowsRead::default(),
        |_| {},
    );
    drop(sender);
    let mut batches = Vec::new();
    while let Ok(batch) = receiver.try_recv() {
        batches.push(batch);
    }
    (result, batches)
}

fn destinations(report: &HeaderReport) -> Vec<(&str, &str, ColumnSource)> {
    report
        .columns
        .iter()
        .map(|d| {
            (
                d.column.as_str(),
                d.field.as_str(),
                ColumnSource::try_from(d.source).expect("a source"),
            )
        })
        .collect()
}

#[test]
fn unknown_columns_are_kept_as_custom_fields_by_default() {
    let file = "email,Owner,Lead Score,\na@acme.com,Jane,87,x\n";
    let (report, batches) = parse_planned(file, &[], UnknownColumns::Keep);
    let report = report.expect("importable");
    assert_eq!(
        destinations(&report),
        [
            ("email", "email", ColumnSource::Recognized),
            ("Owner", "custom_fields[\"Owner\"]", ColumnSource::Kept),
            (
                "Lead Score",
                "custom_fields[\"Lead Score\"]",
                ColumnSource::Kept
            ),
            ("", "", ColumnSource::Ignored),
        ]
    );
    assert_eq!(report.unknown_columns, ["Owner", "Lead Score"]);
    let record = &batches[0].rows[0].record;
    assert_eq!(
        record.custom_fields,
        serde_json::json!({"Owner": "Jane", "Lead Score": "87"})
    );
}

#[test]
fn unknown_columns_can_be_ignored_or_refused() {
    let file = "email,Owner\na@acme.com,Jane\n";
    let (report, batches) = parse_planned(file, &[], UnknownColumns::Ignore);
    let report = report.expect("importable");
    assert_eq!(
        destinations(&report)[1],
        ("Owner", "", ColumnSource::Ignored)
    );
    assert_eq!(
        batches[0].rows[0].record.custom_fields,
        serde_json::json!({})
    );

    let (report, batches) = parse_planned(file, &[], UnknownColumns::Refuse);
    let error = report.expect_err("refused");
    assert!(error.to_string().contains("\"Owner\""), "{error}");
    assert!(batches.is_empty());
}

#[test]
fn the_calls_map_overrides_recognized_names_and_names_custom_fields() {
    let file = "email,Headcount,Owner,Title,Notes\na@acme.com,\"1,200\",Jane,Ms.,call\n";
    let (report, batches) = parse_planned(
        file,
        &[
            ("headcount", "employees"),
            ("Owner", "custom:owner"),
            ("Title", "salutation"),
            ("Notes", "ignore"),
        ],
        UnknownColumns::Refuse,
    );
    let report = report.expect("importable: every unknown column is mapped");
    assert_eq!(
        destinations(&report),
        [
            ("email", "email", ColumnSource::Recognized),
            ("Headcount", "company.employees", ColumnSource::Mapped),
            ("Owner", "custom_fields[\"owner\"]", ColumnSource::Mapped),
            ("Title", "salutation", ColumnSource::Mapped),
            ("Notes", "", ColumnSource::Ignored),
        ]
    );
    let record = &batches[0].rows[0].record;
    assert_eq!(
        (record.company.min_employees, record.company.max_employees),
        (Some(1_200), Some(1_200))
    );
    assert_eq!(record.salutation.as_deref(), Some("Ms."));
    assert_eq!(record.custom_fields, serde_json::json!({"owner": "Jane"}));
}

#[test]
fn a_map_naming_a_missing_column_or_no_field_is_refused() {
    let (report, _) = parse_planned(
        "email\na@acme.com\n",
        &[("Headcount", "employees")],
        UnknownColumns::Keep,
    );
    let error = report.expect_err("refused").to_string();
    assert!(
        error.contains("options.column_map names \"Headcount\""),
        "{error}"
    );

    let map = HashMap::from([("Headcount".to_owned(), "staff size".to_owned())]);
    let violations = ColumnPlan::new(&map, UnknownColumns::Keep).expect_err("no such field");
    assert_eq!(violations[0].field, "options.column_map[\"Headcount\"]");
    assert!(
        violations[0].description.contains("is not a field"),
        "{violations:?}"
    );
}

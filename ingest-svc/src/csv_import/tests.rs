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
fn a_missing_required_column_fails_before_any_row() {
    let (report, batches) = parse_all(b"first_name,email\nJane,jane@acme.com\n");
    let error = report.expect_err("no external_id column");
    assert!(error.to_string().contains("external_id"), "{error}");
    assert!(batches.is_empty());
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

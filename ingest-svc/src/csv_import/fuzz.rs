//! Fuzzing of the CSV reader, run with every `cargo test`: whatever bytes a file
//! holds, in whatever declared encoding, parsing never panics, every data row ends staged or
//! rejected exactly once, nothing staged holds text PostgreSQL cannot store, and no error text
//! grows with the input. The committed corpus (`fuzz/corpus/csv-files.hex`, one hex-encoded
//! file per line) is replayed first, then `LMA_FUZZ_CASES` random cases (default 256;
//! `.ci/run` runs more). Failures shrink to a minimal file, which proptest records in
//! `proptest-regressions/` and replays on every later run.

use proptest::prelude::*;

use super::*;

fn cases() -> u32 {
    std::env::var("LMA_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256)
}

/// Parses `bytes` declared as `encoding` and checks what came out.
fn check(bytes: &[u8], encoding: CsvEncoding) -> Result<(), TestCaseError> {
    let options = CsvOptions {
        delimiter: None,
        encoding,
        external_source: "csv:fuzz.csv".into(),
        source_overrides: false,
        batch_rows: 7,
        columns: ColumnPlan::default(),
    };
    let (sender, mut receiver) = mpsc::channel(100_000);
    let rows_read = RowsRead::default();
    let result = parse(bytes, &options, &sender, &rows_read, |_| {});
    drop(sender);
    let mut staged = 0u64;
    let mut rejected = 0u64;
    while let Ok(batch) = receiver.try_recv() {
        for row in &batch.rows {
            prop_assert!(row.row >= 2, "data rows start on line 2: {}", row.row);
            let record = &row.record;
            for text in [&record.external_id, &record.email, &record.external_source]
                .into_iter()
                .chain(record.first_name.as_ref())
                .chain(record.last_name.as_ref())
                .chain(record.job_title.as_ref())
                .chain(record.company.name.as_ref())
                .chain(&record.tags)
            {
                prop_assert!(svc_core::error::unstorable_text(text).is_none(), "{text:?}");
            }
            prop_assert!(
                svc_core::error::unstorable_text(&record.custom_fields.to_string()).is_none()
            );
        }
        for error in &batch.rejected {
            prop_assert!(
                error.reason.chars().count() <= 1_000,
                "{}",
                error.reason.len()
            );
            prop_assert!(error.field.chars().count() <= 600, "{}", error.field.len());
        }
        staged += batch.rows.len() as u64;
        rejected += batch.rejected_records;
    }
    match result {
        Ok(_) => prop_assert_eq!(
            staged + rejected,
            rows_read.load(std::sync::atomic::Ordering::Relaxed),
            "every row read is staged or rejected"
        ),
        Err(error) => {
            prop_assert!(error.to_string().chars().count() <= 2_000, "{error}");
        }
    }
    Ok(())
}

fn encoding() -> impl Strategy<Value = CsvEncoding> {
    prop::sample::select(vec![
        CsvEncoding::Unspecified,
        CsvEncoding::Utf8,
        CsvEncoding::Utf16,
        CsvEncoding::Windows1252,
    ])
}

/// A cell as people (and hostile callers) write them.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.@_-]{0,12}",
        "\\PC{0,10}",
        "[\\x00\"',;\\t\\r\\n ]{0,4}",
        "[a-z]{1,6}@[a-z]{1,6}\\.(com|io|de)",
        "-?[0-9,.]{1,12}",
    ]
}

fn file() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![",", ";", "\t"]),
        prop::collection::vec(prop::collection::vec(cell(), 0..6), 0..12),
        any::<bool>(),
    )
        .prop_map(|(delimiter, rows, crlf)| {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut text =
                format!("external_id{delimiter}email{delimiter}first_name{delimiter}tags{end}");
            for row in rows {
                text.push_str(&row.join(delimiter));
                text.push_str(end);
            }
            text.into_bytes()
        })
}

#[test]
fn the_corpus_of_files_parses_or_is_refused() {
    let path = format!("{}/fuzz/corpus/csv-files.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bytes: Vec<u8> = (0..line.len() / 2)
            .map(|i| u8::from_str_radix(&line[2 * i..2 * i + 2], 16))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        for encoding in [CsvEncoding::Unspecified, CsvEncoding::Utf16] {
            check(&bytes, encoding).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Files with the required header and rows of hostile cells.
    #[test]
    fn shaped_files_parse_row_by_row(bytes in file(), encoding in encoding()) {
        check(&bytes, encoding)?;
    }

    /// Any bytes at all.
    #[test]
    fn arbitrary_bytes_parse_or_are_refused(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        encoding in encoding(),
    ) {
        check(&bytes, encoding)?;
    }
}

//! ImportCsv with files as they arrive: Windows-1252 and UTF-16, and a dry run.

use lma_proto::v1::{CsvEncoding, CsvImportOptions};
use lma_tests::spawn_app;

use super::{count_in, import_csv};

/// The stored (first_name, last_name, company name) of each prospect, by external id.
async fn stored_names(app: &lma_tests::TestApp) -> Vec<(String, String, String, String)> {
    app.db
        .connect()
        .await
        .query(
            "SELECT p.external_id, p.first_name, p.last_name, coalesce(c.name, '') \
             FROM prospect p JOIN company c ON c.id = p.company_id ORDER BY p.external_id",
            &[],
        )
        .await
        .expect("reading prospects")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

fn owned(rows: &[(&str, &str, &str, &str)]) -> Vec<(String, String, String, String)> {
    rows.iter()
        .map(|(a, b, c, d)| ((*a).into(), (*b).into(), (*c).into(), (*d).into()))
        .collect()
}

#[tokio::test]
async fn a_windows_1252_file_is_detected_and_decoded() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    // "Zoë", "Müller", "Bräu € GmbH" in Windows-1252: ë 0xEB, ü 0xFC, ä 0xE4, € 0x80.
    let mut csv = b"external_id;first_name;last_name;email;company_name\r\n".to_vec();
    csv.extend_from_slice(b"w1;Zo\xeb;M\xfcller;zoe@brau.de;Br\xe4u \x80 GmbH\r\n");
    csv.extend_from_slice(b"w2;Ren\xe9;Fa\xdf;rene@@brau.de;\r\n");
    let (report, _) = import_csv(&mut client, CsvImportOptions::default(), &csv)
        .await
        .expect("ImportCsv");
    assert_eq!(report.encoding(), CsvEncoding::Windows1252);
    let summary = report.summary.expect("summary");
    assert_eq!((summary.inserted, summary.rejected), (1, 1));
    assert_eq!(
        (summary.errors[0].row, summary.errors[0].field.as_str()),
        (3, "email")
    );
    assert_eq!(
        stored_names(&app).await,
        owned(&[("w1", "Zoë", "Müller", "Bräu € GmbH")])
    );
}

#[tokio::test]
async fn a_utf16_file_with_byte_order_mark_is_decoded_with_line_numbers() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let text = "First Name,Last Name,E-mail,External ID,Company\r\n\
                Zoë,Øberg,zoe@nord.se,u1,\"Nord, AB\"\r\n\
                Kim,,not-an-email,u2,\r\n\
                李,王,li@nord.se,u3,\r\n";
    let mut csv = vec![0xFF, 0xFE];
    csv.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let (report, _) = import_csv(&mut client, CsvImportOptions::default(), &csv)
        .await
        .expect("ImportCsv");
    assert_eq!(report.encoding(), CsvEncoding::Utf16);
    let summary = report.summary.expect("summary");
    assert_eq!((summary.inserted, summary.rejected), (2, 1));
    assert_eq!(
        (
            summary.errors[0].row,
            summary.errors[0].external_id.as_str()
        ),
        (3, "u2")
    );
    assert_eq!(
        stored_names(&app).await,
        owned(&[
            ("u1", "Zoë", "Øberg", "Nord, AB"),
            ("u3", "李", "王", "Nord, AB")
        ])
    );

    // UTF-16 declared but the bytes are no UTF-16 with BOM: a clear error, nothing written.
    let status = import_csv(
        &mut client,
        CsvImportOptions {
            encoding: CsvEncoding::Utf16 as i32,
            ..Default::default()
        },
        b"external_id,email\nx1,x@nord.se\n",
    )
    .await
    .expect_err("no byte-order mark");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 2);
}

#[tokio::test]
async fn a_dry_run_validates_and_reports_but_writes_nothing() {
    let app = spawn_app().await;
    let mut client = app.ingest_client().await;
    let csv = b"external_id,email,company_name,revenue\n\
                d1,a@dry.io,Dry,100\n\
                d2,b@dry.io,Dry,-5\n\
                d3,c@other.io,Other,\n";
    let options = CsvImportOptions {
        dry_run: true,
        ..Default::default()
    };
    let (report, progress) = import_csv(&mut client, options, csv)
        .await
        .expect("ImportCsv dry run");
    let summary = report.summary.expect("summary");
    assert_eq!(summary.validated, 2);
    assert_eq!(summary.rejected, 1);
    assert_eq!(
        (summary.inserted, summary.updated, summary.unchanged),
        (0, 0, 0)
    );
    assert_eq!(summary.companies_created, 0);
    assert_eq!(summary.errors[0].field, "company.revenue");
    let last = progress.last().expect("progress");
    assert_eq!((last.rows_read, last.rows_rejected), (3, 1));
    for table in ["prospect", "company", "customer"] {
        assert_eq!(
            count_in(&app.db, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
}

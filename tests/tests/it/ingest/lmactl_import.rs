//! `lmactl import` end to end: lmactl (in-process, as its main runs it) streams a file to the
//! real ingest-svc, prints the report and writes the rejected rows for fixing and re-import.

use clap::Parser as _;
use lma_tests::app::{Service, Shutdown, create_tenant_in, start_service, wait_for_health};
use lma_tests::{TestDatabase, spawn_app};
use tonic_health::pb::health_check_response::ServingStatus;

use super::count_in;

/// Runs `lmactl import FILE` against the app's ingest-svc in-process, as lmactl's main does;
/// returns what it printed on stdout and stderr, or panics with it when lmactl failed.
async fn lmactl_import(
    app: &lma_tests::TestApp,
    file: &std::path::Path,
    extra: &[&str],
) -> (String, String) {
    let (result, stdout, stderr) = try_lmactl_import(app, file, extra).await;
    if let Err(error) = result {
        panic!("lmactl import failed: {error:#}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    }
    (stdout, stderr)
}

async fn try_lmactl_import(
    app: &lma_tests::TestApp,
    file: &std::path::Path,
    extra: &[&str],
) -> (anyhow::Result<()>, String, String) {
    try_lmactl_import_to(app.addr(Service::Ingest), &app.tenant.api_key, file, extra).await
}

async fn try_lmactl_import_to(
    ingest: std::net::SocketAddr,
    api_key: &str,
    file: &std::path::Path,
    extra: &[&str],
) -> (anyhow::Result<()>, String, String) {
    let url = format!("http://{ingest}");
    let file = file.to_str().expect("temporary paths are UTF-8");
    let args = [
        "lmactl",
        "import",
        file,
        "--ingest-url",
        &url,
        "--api-key",
        api_key,
        "--quiet",
    ];
    let cli = lmactl::Cli::try_parse_from(args.iter().chain(extra))
        .unwrap_or_else(|error| panic!("{args:?} {extra:?} does not parse: {error}"));
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let result = lmactl::run(cli, &mut stdout, &mut stderr).await;
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("lmactl prints UTF-8");
    (result, text(stdout), text(stderr))
}

#[tokio::test]
async fn lmactl_import_stores_reports_and_writes_fixable_rejects() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = dir.path().join("leads.csv");
    let rejects = dir.path().join("rejects.csv");
    std::fs::write(
        &input,
        "external_id;Work Email;First Name;Company;revenue\r\n\
         r1;ann@acme.io;Ann;\"Acme; Inc\";100\r\n\
         r2;bob(at)acme.io;\"Bob\nthe builder\";Acme;200\r\n\
         r3;cy@acme.io;Cy;Acme;-1\r\n\
         r4;dee@beta.io;Dee;Beta;\r\n",
    )
    .expect("writing the input");

    let rejects_arg = rejects.to_str().expect("UTF-8 path");
    let (stdout, stderr) = lmactl_import(&app, &input, &["--rejects", rejects_arg]).await;
    assert!(
        stdout.contains("inserted 2 ") && stdout.contains("rejected 2 "),
        "{stdout}"
    );
    assert!(stderr.contains("wrote 2 rejected rows"), "{stderr}");
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 2);

    // The input's header and delimiter, each rejected row as it was (quoted newline kept),
    // then the reasons with the row's line.
    let written = std::fs::read_to_string(&rejects).expect("reading the rejects");
    assert!(
        written.starts_with("external_id;Work Email;First Name;Company;revenue;lma_errors\n"),
        "{written}"
    );
    let row_with_reasons = |row: &str, reasons: &str| {
        let at = written
            .find(row)
            .unwrap_or_else(|| panic!("{row:?} missing from\n{written}"));
        let rest = &written[at + row.len()..];
        let reason = rest.split('\n').next().unwrap_or_default();
        assert!(
            reason.trim_start_matches('"').starts_with(reasons),
            "{row:?} has {reason:?}"
        );
    };
    row_with_reasons(
        "\nr2;bob(at)acme.io;\"Bob\nthe builder\";Acme;200;",
        "line 3: email: ",
    );
    row_with_reasons("\nr3;cy@acme.io;Cy;Acme;-1;", "line 5: company.revenue: ");
    assert!(
        !written.contains("r1;") && !written.contains("r4;"),
        "{written}"
    );

    // Fixed, the rejects file imports as it is: the errors column is ignored.
    let fixed = written
        .replace("bob(at)acme.io", "bob@acme.io")
        .replace(";-1;", ";1;");
    let fixed_path = dir.path().join("fixed.csv");
    std::fs::write(&fixed_path, fixed).expect("writing the fixed file");
    let (stdout, stderr) = lmactl_import(&app, &fixed_path, &[]).await;
    assert!(
        stdout.contains("inserted 2 ") && stdout.contains("rejected 0 "),
        "{stdout}"
    );
    assert!(stderr.contains("lma_errors -> - (ignored)"), "{stderr}");
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 4);
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect WHERE custom_fields ? 'lma_errors'"
        )
        .await,
        0
    );
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect WHERE first_name = E'Bob\\nthe builder'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn lmactl_import_dry_run_and_a_missing_file() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = dir.path().join("dry.csv");
    std::fs::write(&input, "external_id,email\nx1,x@dry.io\n").expect("writing the input");
    let (stdout, stderr) = lmactl_import(&app, &input, &["--dry-run"]).await;
    assert!(stdout.contains("validated 1"), "{stdout}");
    assert!(
        stderr.starts_with(
            "columns:\n  external_id -> external_id (recognized)\n  email -> email (recognized)\n"
        ),
        "a dry run shows the mapping: {stderr}"
    );
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 0);

    let missing = dir.path().join("missing.csv");
    let (result, _, _) = try_lmactl_import(&app, &missing, &[]).await;
    let error = result.expect_err("no such file");
    assert!(format!("{error:#}").contains("missing.csv"), "{error:#}");

    // A file that opens but cannot be read: lmactl reports the read error (ingest-svc is
    // left an upload that never ended cleanly, so it writes nothing).
    let (result, _, stderr) = try_lmactl_import(&app, dir.path(), &[]).await;
    let error = format!("{:#}", result.expect_err("a directory cannot be read"));
    assert!(error.starts_with("reading "), "{error}");
    assert!(
        stderr.contains("before ingest-svc reported a batch committed"),
        "{stderr}"
    );
}

/// An import that fails in mid-file (here bytes that are not the declared UTF-8, after several
/// committed batches): lmactl says how much ingest-svc committed before the failure, which is
/// exactly what the database holds, and how to finish.
#[tokio::test]
async fn lmactl_import_failing_mid_way_reports_what_was_committed() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let ingest = start_service(
        Service::Ingest,
        &db.url(),
        &shutdown,
        &["--ingest-batch-rows", "500"],
    )
    .await;
    wait_for_health(&ingest, ServingStatus::Serving).await;

    // About 100 KB of good rows, then one that is not UTF-8: the decoder reads 16 KiB at a
    // time, so the rows before the bad piece are parsed and written first.
    let mut file = b"external_id,email\n".to_vec();
    for i in 0..4_000 {
        file.extend_from_slice(format!("m{i},pat{i}@firm{}.io\n", i % 50).as_bytes());
    }
    file.extend_from_slice(b"bad,caf\xe9@firm1.io\n");
    file.extend_from_slice(b"m-last,last@firm1.io\n");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = dir.path().join("broken.csv");
    std::fs::write(&input, &file).expect("writing the input");

    let (result, _, stderr) = try_lmactl_import_to(
        ingest.addr,
        &tenant.api_key,
        &input,
        &["--encoding", "utf8"],
    )
    .await;
    let error = result.expect_err("the file is not UTF-8");
    assert!(
        format!("{error:#}").contains("not valid UTF-8"),
        "{error:#}"
    );
    let stored = count_in(&db, "SELECT count(*) FROM prospect").await;
    assert!(stored >= 500, "some batches were committed first: {stored}");
    assert!(
        stderr.contains(&format!(
            "committed the batches of {stored} rows read: {stored} stored"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("import the same file again"), "{stderr}");
    // The mapping was printed when the header was read, before any row: a failed import,
    // which never gets a report, shows it too, ahead of what was committed.
    let columns = stderr
        .find("columns:\n  external_id -> external_id (recognized)\n  email -> email (recognized)");
    let committed = stderr.find("committed the batches");
    assert!(
        matches!((columns, committed), (Some(c), Some(b)) if c < b),
        "{stderr}"
    );
    shutdown.trigger();
    ingest.stopped().await.expect("ingest-svc stops cleanly");
}

#[tokio::test]
async fn lmactl_import_maps_columns_keeps_unknown_ones_and_prints_where_each_went() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = dir.path().join("crm.csv");
    std::fs::write(
        &input,
        "Email,Headcount,Owner,Notes\nann@acme.io,\"1,200\",Jane,call back\n",
    )
    .expect("writing the input");

    // Refused before anything is written while a column is unknown.
    let (result, _, _) = try_lmactl_import(&app, &input, &["--unknown-columns", "refuse"]).await;
    let error = format!("{:#}", result.expect_err("refused"));
    assert!(
        error.contains("Headcount") && error.contains("unknown columns are refused"),
        "{error}"
    );
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 0);

    let (stdout, stderr) = lmactl_import(
        &app,
        &input,
        &[
            "--map",
            "Headcount=employees",
            "--map",
            "Owner=custom:owner",
        ],
    )
    .await;
    assert!(stdout.contains("inserted 1 "), "{stdout}");
    for line in [
        "Email -> email (recognized)",
        "Headcount -> company.employees (mapped)",
        "Owner -> custom_fields[\"owner\"] (mapped)",
        "Notes -> custom_fields[\"Notes\"] (unknown, kept)",
    ] {
        assert!(stderr.contains(line), "{line} in {stderr}");
    }
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect p JOIN company c ON c.id = p.company_id \
             WHERE p.custom_fields = '{\"owner\": \"Jane\", \"Notes\": \"call back\"}' \
               AND c.min_employees = 1200 AND c.max_employees = 1200"
        )
        .await,
        1
    );
}

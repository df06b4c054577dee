//! lmactl's admin commands against a fresh, empty database produce a key the services accept;
//! its privacy commands are in `privacy`, its read commands in `read`, its operator commands and
//! exit codes in `ops`.

mod ops;
mod privacy;
mod read;

use clap::Parser as _;
use lma_proto::v1::ProspectFilter;
use lma_tests::app::{
    Service, Shutdown, search_prospects, search_request, start_service, wait_for_health,
};
use lma_tests::{BearerAuth, TestDatabase};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// What one lmactl run printed.
struct Run {
    result: anyhow::Result<()>,
    stdout: String,
    stderr: String,
}

/// Runs lmactl in-process exactly as its `main` does, with stdout and stderr captured.
async fn lmactl(args: &[&str]) -> Run {
    let cli = lmactl::Cli::try_parse_from(std::iter::once("lmactl").chain(args.iter().copied()))
        .unwrap_or_else(|error| panic!("lmactl {args:?} does not parse: {error}"));
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let result = lmactl::run(cli, &mut stdout, &mut stderr).await;
    Run {
        result,
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

/// Runs lmactl and panics unless it succeeded.
async fn lmactl_ok(args: &[&str]) -> Run {
    let run = lmactl(args).await;
    if let Err(error) = &run.result {
        panic!(
            "lmactl {args:?} failed: {error:#}\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
    }
    run
}

/// Where cargo built the lmactl binary.
async fn lmactl_path() -> std::path::PathBuf {
    lma_tests::process::workspace_binary("lmactl")
        .await
        .unwrap_or_else(|error| panic!("the lmactl binary: {error:#}"))
}

/// `command` (lmactl, or a program that starts it) as a person's shell would start it: `env`
/// set and nothing inherited from the caller's `LMA_*` or `OTEL_*` variables; stdin empty,
/// stdout and stderr piped, killed when dropped.
fn shell_environment(command: &mut tokio::process::Command, env: &[(&str, &str)]) {
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("LMA_") || text.starts_with("OTEL_") {
            command.env_remove(&name);
        }
    }
    command
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
}

/// The real lmactl binary with `env`, as [`shell_environment`] starts it.
async fn lmactl_binary(env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(lmactl_path().await);
    shell_environment(&mut command, env);
    command
}

fn is_api_key(text: &str) -> bool {
    text.strip_prefix("lma_").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lmactl_migrates_creates_an_organization_and_mints_a_working_key() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create_empty().await;
    let url = db.url();
    let latest = svc_core::migrations::latest_version();

    let migrated = lmactl_ok(&["migrate", "--database-url", &url]).await;
    let applied: Vec<&str> = migrated
        .stdout
        .lines()
        .filter(|line| line.starts_with("applied V"))
        .collect();
    assert!(
        applied
            .first()
            .is_some_and(|l| l.starts_with("applied V1__"))
            && applied
                .last()
                .is_some_and(|l| l.starts_with(&format!("applied V{latest}__"))),
        "every migration applied, in order:\n{}",
        migrated.stdout
    );
    assert_eq!(
        migrated.stdout.lines().last(),
        Some(format!("schema version {latest}").as_str())
    );

    let again = lmactl_ok(&["migrate", "--database-url", &url]).await;
    assert_eq!(
        again.stdout,
        format!("nothing to apply\nschema version {latest}\n")
    );

    let created = lmactl_ok(&["org", "create", "acme", "--database-url", &url]).await;
    let org_id: i64 = created
        .stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("org create prints the id alone: {:?}", created.stdout));
    let again = lmactl_ok(&["org", "create", "acme", "--database-url", &url]).await;
    assert_eq!(
        again.stdout.trim(),
        org_id.to_string(),
        "idempotent by name"
    );

    let missing = lmactl(&[
        "key",
        "create",
        "--org",
        "no-such-org",
        "--name",
        "ci",
        "--scope",
        "search.read",
        "--database-url",
        &url,
    ])
    .await;
    let error = missing
        .result
        .expect_err("an unknown organization is an error");
    assert!(format!("{error:#}").contains("does not exist"), "{error:#}");
    assert!(missing.stdout.is_empty(), "no key printed on failure");

    let minted = lmactl_ok(&[
        "key",
        "create",
        "--org",
        "acme",
        "--name",
        "ci",
        "--scope",
        "search.read",
        "--scope",
        "ingest.write",
        "--database-url",
        &url,
    ])
    .await;
    // stdout is the key alone, so `KEY=$(lmactl key create ...)` works.
    let key = minted
        .stdout
        .strip_suffix('\n')
        .expect("the key ends with a newline");
    assert!(
        is_api_key(key),
        "stdout is exactly one key: {:?}",
        minted.stdout
    );
    let key_id: i64 = minted
        .stderr
        .split("key id ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("stderr names the key id: {:?}", minted.stderr));

    // The key works against a real service on that database.
    let shutdown = Shutdown::default();
    let search = start_service(Service::Search, &url, &shutdown, &[]).await;
    wait_for_health(&search, ServingStatus::Serving).await;
    let mut client = lma_tests::clients::search_client(search.addr, BearerAuth::key(key)).await;
    let page = search_prospects(&mut client, search_request(ProspectFilter::default()))
        .await
        .expect("the minted key may search");
    assert!(page.hits.is_empty(), "a new organization has no prospects");

    lmactl_ok(&["key", "revoke", &key_id.to_string(), "--database-url", &url]).await;
    let status = search_prospects(&mut client, search_request(ProspectFilter::default()))
        .await
        .expect_err("a revoked key is refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status}");
    let twice = lmactl(&["key", "revoke", &key_id.to_string(), "--database-url", &url]).await;
    assert!(twice.result.is_err(), "revoking twice is reported");

    shutdown.trigger();
    search.stopped().await.expect("search-svc stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lmactl_normalize_brings_rows_stored_before_into_canonical_form_once() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = lma_tests::app::create_tenant_in(&db, "normalize").await;
    let client = db.connect().await;
    // As ingest stored them before it normalized values.
    client
        .execute(
            "WITH c AS (
                 INSERT INTO company (organization_id, domain, industry, state, country, phone)
                 VALUES ($1, 'old.com', 'COMPUTER_SOFTWARE', 'Ontario', 'Canada',
                         '416 555 0199')
                 RETURNING id)
             INSERT INTO prospect (organization_id, company_id, external_source, external_id,
                                   email, country, state, phone)
             SELECT $1, c.id, 'crm', 'old', 'old@old.com', 'USA', 'California',
                    '(415) 555-2671' FROM c",
            &[&tenant.organization_id],
        )
        .await
        .expect("rows as stored before");
    let url = db.url();

    let run = lmactl_ok(&["normalize", "--database-url", &url, "--batch-size", "1"]).await;
    assert_eq!(run.stdout.trim(), "normalized 1 companies, 1 prospects");
    let company = client
        .query_one(
            "SELECT industry, state, country, phone, country_code FROM company \
             WHERE domain = 'old.com'",
            &[],
        )
        .await
        .expect("the company");
    let company: Vec<String> = (0..5).map(|i| company.get(i)).collect();
    assert_eq!(
        company,
        ["computer software", "ON", "Canada", "+14165550199", "CA"]
    );
    let prospect = client
        .query_one(
            "SELECT country, state, phone, country_code FROM prospect WHERE external_id = 'old'",
            &[],
        )
        .await
        .expect("the prospect");
    let prospect: Vec<String> = (0..4).map(|i| prospect.get(i)).collect();
    assert_eq!(
        prospect,
        ["United States of America", "CA", "+14155552671", "US"]
    );

    let again = lmactl_ok(&["normalize", "--database-url", &url]).await;
    assert_eq!(again.stdout.trim(), "normalized 0 companies, 0 prospects");
}

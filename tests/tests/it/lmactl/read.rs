//! lmactl's read commands (`search`, `count`, `export`, `company`) against the real services,
//! with data written through ingest-svc: every output format parses back, every filter flag
//! filters, `--all` pages to the end, counts match the rows, exports neutralize spreadsheet
//! formulas, the real binary exits with the code of each failure, and a 100,000-row export
//! keeps its memory flat.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use clap::CommandFactory as _;
use clap::Parser as _;
use lma_proto::v1::{CompanyRecord, JobTitleLevel, ProspectRecord};
use lma_tests::{TestApp, spawn_app};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor};

use super::{Run, lmactl, lmactl_ok};

/// Exit codes lmactl documents (`lmactl --help`).
const NOT_FOUND: u8 = 3;
const INVALID_ARGUMENT: u8 = 4;

/// The people every test here starts from: each differs from the others in the attributes a
/// filter flag tests. `eve`'s name starts like two spreadsheet formulas.
fn people() -> Vec<ProspectRecord> {
    let company =
        |domain: &str, name: &str, industry: &str, employees: Option<(i32, i32)>| CompanyRecord {
            domain: domain.to_owned(),
            name: name.to_owned(),
            industry: industry.to_owned(),
            min_employees: employees.map(|(min, _)| min),
            max_employees: employees.map(|(_, max)| max),
            ..Default::default()
        };
    let alpha = CompanyRecord {
        revenue: Some(5_000_000),
        city: "Berlin".to_owned(),
        country: "Germany".to_owned(),
        ..company("alpha.io", "Alpha Robotics", "Robotics", Some((11, 50)))
    };
    let beta = CompanyRecord {
        revenue: Some(2_000_000_000),
        ..company("beta.com", "Beta Retail", "Retail", Some((1001, 5000)))
    };
    let gamma = company("gamma.fr", "Gamma Energy", "Energy", Some((201, 1000)));
    let delta = company("delta.net", "Delta Media", "Media", None);
    let person = |id: &str,
                  (first, last): (&str, &str),
                  email: &str,
                  (title, level, department): (&str, JobTitleLevel, &str),
                  (city, state, country): (&str, &str, &str),
                  tags: &[&str],
                  company: &CompanyRecord| ProspectRecord {
        external_source: "crm".to_owned(),
        external_id: id.to_owned(),
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        email: email.to_owned(),
        job_title: title.to_owned(),
        job_title_level: level as i32,
        department: department.to_owned(),
        city: city.to_owned(),
        state: state.to_owned(),
        country: country.to_owned(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        company: Some(company.clone()),
        ..Default::default()
    };
    let mut ana = person(
        "ana",
        ("Ana", "Alvarez"),
        "ana@alpha.io",
        ("CTO", JobTitleLevel::CSuite, "Engineering"),
        ("Berlin", "", "Germany"),
        &["vip", "webinar"],
        &alpha,
    );
    ana.custom_fields = [("tier".to_owned(), "gold".to_owned())].into();
    let mut ben = person(
        "ben",
        ("Ben", "Brown"),
        "ben@beta.com",
        ("VP Sales", JobTitleLevel::Vp, "Sales"),
        ("Austin", "TX", "United States"),
        &["webinar"],
        &beta,
    );
    ben.custom_fields = [("tier".to_owned(), "silver".to_owned())].into();
    vec![
        ana,
        ben,
        person(
            "cho",
            ("Chloe", "Chen"),
            "chloe@gamma.fr",
            ("Engineer", JobTitleLevel::Senior, "Engineering"),
            ("Paris", "", "France"),
            &[],
            &gamma,
        ),
        person(
            "dan",
            ("Dan", "Dunn"),
            "dan@alpha.io",
            ("Finance Manager", JobTitleLevel::Manager, "Finance"),
            ("Houston", "TX", "United States"),
            &["vip"],
            &alpha,
        ),
        person(
            "eve",
            ("=HYPERLINK(\"http://evil.test\",\"x\")", "-2+3"),
            "eve@delta.net",
            ("Analyst", JobTitleLevel::Entry, "Legal"),
            ("Madrid", "", "Spain"),
            &[],
            &delta,
        ),
    ]
}

/// Every external id `people` writes.
const EVERYONE: [&str; 5] = ["ana", "ben", "cho", "dan", "eve"];

/// Writes `people` through ingest-svc and returns the last write's consistency token.
async fn load_people(app: &TestApp) -> String {
    let mut token = String::new();
    for record in people() {
        token = app.upsert_prospect(record).await.consistency_token;
    }
    token
}

/// Runs lmactl as the test tenant against the app's search-svc.
async fn read(app: &TestApp, args: &[&str]) -> Run {
    let url = format!("http://{}", app.search.addr);
    lmactl(&with_connection(args, &url, &app.tenant.api_key)).await
}

async fn read_ok(app: &TestApp, args: &[&str]) -> Run {
    let url = format!("http://{}", app.search.addr);
    lmactl_ok(&with_connection(args, &url, &app.tenant.api_key)).await
}

fn with_connection<'a>(args: &[&'a str], url: &'a str, key: &'a str) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--search-url", url, "--api-key", key]);
    all
}

/// The exit code a failed run ends with, as lmactl's `main` computes it.
fn exit_code(run: &Run) -> u8 {
    match &run.result {
        Ok(()) => 0,
        Err(error) => lmactl::failure::Exit::of(error).code(),
    }
}

/// The JSON objects of JSON-lines output.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

/// The external ids of JSON-lines rows, sorted.
fn external_ids(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = json_lines(text)
        .iter()
        .map(|row| row["external_id"].as_str().expect("external_id").to_owned())
        .collect();
    ids.sort_unstable();
    ids
}

/// CSV output as its header and rows of named cells.
fn csv_rows(text: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            let record = record.expect("a CSV record");
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

fn contract() -> DescriptorPool {
    DescriptorPool::decode(lma_proto::FILE_DESCRIPTOR_SET).expect("the contract's descriptors")
}

fn message(pool: &DescriptorPool, name: &str) -> MessageDescriptor {
    pool.get_message_by_name(name)
        .unwrap_or_else(|| panic!("{name} is in the contract"))
}

/// The field names of a message, in field order.
fn field_names(descriptor: &MessageDescriptor) -> Vec<String> {
    descriptor.fields().map(|f| f.name().to_owned()).collect()
}

/// The flag ids a filter message's fields need: a field's own name, or `<name>_min` and
/// `<name>_max` for a range.
fn filter_flag_ids(descriptor: &MessageDescriptor) -> Vec<String> {
    descriptor
        .fields()
        .flat_map(|field| match field.kind() {
            Kind::Message(inner) if inner.name().ends_with("Range") => {
                vec![
                    format!("{}_min", field.name()),
                    format!("{}_max", field.name()),
                ]
            }
            _ => vec![field.name().to_owned()],
        })
        .collect()
}

/// Fails unless `subcommand` (a path such as ["company", "search"]) has a flag for every id.
fn assert_has_flags(subcommand: &[&str], ids: &[String]) {
    let mut command = lmactl::Cli::command();
    command.build();
    let mut current = &command;
    for name in subcommand {
        current = current
            .find_subcommand(name)
            .unwrap_or_else(|| panic!("lmactl has no {subcommand:?}"));
    }
    let flags: BTreeSet<&str> = current
        .get_arguments()
        .map(|a| a.get_id().as_str())
        .collect();
    for id in ids {
        assert!(
            flags.contains(id.as_str()),
            "lmactl {subcommand:?} has no flag for the contract's {id}; it has {flags:?}"
        );
    }
}

/// Fails unless every field of `encoded`, a message of `descriptor`, is set.
fn assert_every_field_set(descriptor: &MessageDescriptor, encoded: &[u8]) {
    let decoded = DynamicMessage::decode(descriptor.clone(), encoded).expect("decodes");
    for field in descriptor.fields() {
        assert!(
            decoded.has_field(&field),
            "the flags left {}.{} unset: a flag that does not reach the request",
            descriptor.name(),
            field.name()
        );
    }
}

/// Every field of ProspectFilter and CompanyFilter has a flag on each command that takes the
/// filter, and every flag reaches its field.
#[test]
fn every_filter_field_of_the_contract_has_a_flag_that_reaches_it() {
    let pool = contract();
    let prospect_filter = message(&pool, "lma.v1.ProspectFilter");
    let ids = filter_flag_ids(&prospect_filter);
    for command in [&["search"][..], &["count"], &["export"]] {
        assert_has_flags(command, &ids);
    }
    let company_filter = message(&pool, "lma.v1.CompanyFilter");
    assert_has_flags(&["company", "search"], &filter_flag_ids(&company_filter));

    let cli = lmactl::Cli::try_parse_from([
        "lmactl",
        "search",
        "--query",
        "cto",
        "--industry",
        "Retail",
        "--job-title-level",
        "vp",
        "--department",
        "Sales",
        "--company-domain",
        "beta.com",
        "--country",
        "US",
        "--state",
        "TX",
        "--city",
        "Austin",
        "--revenue-min",
        "1",
        "--revenue-max",
        "2",
        "--employees-min",
        "1",
        "--employees-max",
        "2",
        "--company-name-prefix",
        "be",
        "--tag-any",
        "a",
        "--tag-all",
        "b",
        "--custom-field",
        "tier=gold=ish",
        "--updated-since",
        "2026-01-31T00:00:00Z",
        "--include-suppressed",
        "--api-key",
        "k",
    ])
    .expect("every filter flag parses");
    let lmactl::cli::Command::Search(args) = cli.command else {
        panic!("parsed as another command");
    };
    let filter = args.filter.to_proto();
    assert_eq!(
        filter.custom_fields["tier"], "gold=ish",
        "split at the first ="
    );
    assert_eq!(filter.job_title_levels, [JobTitleLevel::Vp as i32]);
    assert_every_field_set(&prospect_filter, &filter.encode_to_vec());

    let cli = lmactl::Cli::try_parse_from([
        "lmactl",
        "company",
        "search",
        "--query",
        "x",
        "--industry",
        "Retail",
        "--country",
        "US",
        "--domain",
        "beta.com",
        "--name-prefix",
        "be",
        "--revenue-min",
        "1",
        "--revenue-max",
        "2",
        "--employees-min",
        "1",
        "--employees-max",
        "2",
        "--min-prospects",
        "0",
        "--include-suppressed",
        "--api-key",
        "k",
    ])
    .expect("every company filter flag parses");
    let lmactl::cli::Command::Company(lmactl::cli::CompanyArgs {
        command: lmactl::cli::CompanyCommand::Search(args),
    }) = cli.command
    else {
        panic!("parsed as another command");
    };
    assert_every_field_set(&company_filter, &args.filter.to_proto().encode_to_vec());

    for bad in [
        &["search", "--job-title-level", "admiral"][..],
        &["search", "--updated-since", "yesterday"],
        &["search", "--custom-field", "novalue"],
        &["search", "--sort", "colour"],
        &["count", "--facet", "colour"],
        &["export", "--output", "table", "-o", "-"],
        &["export"],
    ] {
        let line = std::iter::once("lmactl")
            .chain(bad.iter().copied())
            .chain(["--api-key", "k"]);
        assert!(
            lmactl::Cli::try_parse_from(line).is_err(),
            "{bad:?} is refused"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_flag_filters_and_every_format_parses_back() {
    let app = spawn_app().await;
    let token = load_people(&app).await;
    let everyone = read_ok(
        &app,
        &["search", "--output", "jsonl", "--min-token", &token],
    )
    .await;
    assert_eq!(external_ids(&everyone.stdout), EVERYONE);

    // Each case must match some, but not all, people: a flag that is ignored matches everyone.
    let cases: [(&[&str], &[&str]); 18] = [
        (&["--query", "alvarez"], &["ana"]),
        (&["-q", "\"finance manager\""], &["dan"]),
        (&["--industry", "Retail"], &["ben"]),
        (
            &["--industry", "retail", "--industry", "Energy"],
            &["ben", "cho"],
        ),
        (&["--job-title-level", "c-suite"], &["ana"]),
        (
            &["--job-title-level", "vp", "--job-title-level", "MANAGER"],
            &["ben", "dan"],
        ),
        (&["--department", "Finance"], &["dan"]),
        (&["--company-domain", "gamma.fr"], &["cho"]),
        (&["--country", "France"], &["cho"]),
        (&["--state", "TX"], &["ben", "dan"]),
        (&["--city", "Austin"], &["ben"]),
        (&["--revenue-min", "1000000000"], &["ben"]),
        (&["--revenue-max", "10000000"], &["ana", "dan"]),
        (&["--employees-min", "1001"], &["ben"]),
        (&["--employees-max", "50"], &["ana", "dan"]),
        (&["--company-name-prefix", "gam"], &["cho"]),
        (
            &["--tag-any", "vip", "--tag-any", "webinar"],
            &["ana", "ben", "dan"],
        ),
        (&["--tag-all", "vip", "--tag-all", "webinar"], &["ana"]),
    ];
    for (flags, expected) in cases {
        assert!(!expected.is_empty() && expected.len() < EVERYONE.len());
        let mut args = vec!["search", "--output", "jsonl"];
        args.extend_from_slice(flags);
        let run = read_ok(&app, &args).await;
        assert_eq!(
            external_ids(&run.stdout),
            expected,
            "lmactl search {flags:?}"
        );
    }
    let run = read_ok(
        &app,
        &["search", "--output", "jsonl", "--custom-field", "tier=gold"],
    )
    .await;
    assert_eq!(external_ids(&run.stdout), ["ana"], "--custom-field");

    // --updated-since: only what changed after the mark.
    let mark = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut cho = people().remove(2);
    cho.job_title = "Lead Engineer".to_owned();
    let token = app.upsert_prospect(cho).await.consistency_token;
    let since = prost_types::Timestamp::from(mark).to_string();
    let run = read_ok(
        &app,
        &[
            "search",
            "--output",
            "jsonl",
            "--updated-since",
            &since,
            "--min-token",
            &token,
        ],
    )
    .await;
    assert_eq!(
        external_ids(&run.stdout),
        ["cho"],
        "--updated-since {since}"
    );

    // --sort: company name A-Z (Alpha, Alpha, Beta, Delta, Gamma).
    let run = read_ok(
        &app,
        &["search", "--output", "jsonl", "--sort", "company-name"],
    )
    .await;
    let companies: Vec<String> = json_lines(&run.stdout)
        .iter()
        .map(|row| {
            row["company_name"]
                .as_str()
                .expect("company_name")
                .to_owned()
        })
        .collect();
    assert_eq!(
        companies,
        [
            "Alpha Robotics",
            "Alpha Robotics",
            "Beta Retail",
            "Delta Media",
            "Gamma Energy"
        ]
    );

    // CSV: the header is the contract's ProspectSummary fields, in order; values read back.
    let pool = contract();
    let summary_fields = field_names(&message(&pool, "lma.v1.ProspectSummary"));
    let run = read_ok(
        &app,
        &["search", "--output", "csv", "--sort", "company-name"],
    )
    .await;
    let (header, rows) = csv_rows(&run.stdout);
    assert_eq!(header, summary_fields);
    assert_eq!(rows.len(), EVERYONE.len());
    let ana = rows
        .iter()
        .find(|r| r["external_id"] == "ana")
        .expect("ana");
    assert_eq!(ana["job_title_level"], "c-suite");
    assert_eq!(ana["tags"], r#"["vip","webinar"]"#);
    assert_eq!(ana["custom_fields"], r#"{"tier":"gold"}"#);
    assert_eq!(ana["revenue"], "5000000");
    assert_eq!(ana["company_domain"], "alpha.io");
    let eve = rows
        .iter()
        .find(|r| r["external_id"] == "eve")
        .expect("eve");
    assert!(
        eve["first_name"].starts_with("'="),
        "search CSV neutralizes: {eve:?}"
    );

    // JSON: one array of objects with the same values.
    let run = read_ok(&app, &["search", "--output", "json"]).await;
    let array: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).expect("a JSON array");
    assert_eq!(array.len(), EVERYONE.len());
    assert!(
        array
            .iter()
            .any(|row| row["email"] == "ana@alpha.io" && row["full_name"] == "Ana Alvarez")
    );
    assert!(
        array
            .iter()
            .any(|row| row["first_name"] == "=HYPERLINK(\"http://evil.test\",\"x\")"),
        "JSON is exact"
    );

    // Table (not a terminal: tab-separated): the main columns only.
    let run = read_ok(&app, &["search", "--country", "Germany"]).await;
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    let header: Vec<&str> = lines[0].split('\t').collect();
    assert!(
        header.contains(&"full_name") && header.contains(&"email"),
        "{header:?}"
    );
    assert!(!header.contains(&"custom_fields"), "{header:?}");
    assert!(lines[1].contains("Ana Alvarez") && lines[1].contains("ana@alpha.io"));

    // A bad argument the service refuses exits 4 and names the field.
    let run = read(
        &app,
        &["search", "--revenue-min", "10", "--revenue-max", "1"],
    )
    .await;
    assert_eq!(exit_code(&run), INVALID_ARGUMENT, "{:?}", run.result);
    let described = lmactl::failure::describe(run.result.as_ref().expect_err("refused"));
    assert!(
        described.contains("INVALID_ARGUMENT") && described.contains("filter.revenue"),
        "{described}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_pages_return_every_match_once_and_page_tokens_continue() {
    let app = spawn_app().await;
    let mut token = load_people(&app).await;
    // 5 people plus 12 more: 17 matches, 6 pages of 3.
    for i in 0..12 {
        let mut record = people().remove(0);
        record.external_id = format!("more-{i:02}");
        record.email = format!("more{i}@alpha.io");
        record.first_name = format!("More{i}");
        token = app.upsert_prospect(record).await.consistency_token;
    }
    let run = read_ok(
        &app,
        &[
            "search",
            "--all",
            "--page-size",
            "3",
            "--output",
            "jsonl",
            "--min-token",
            &token,
        ],
    )
    .await;
    let ids: Vec<String> = json_lines(&run.stdout)
        .iter()
        .map(|row| row["prospect_id"].as_str().expect("prospect_id").to_owned())
        .collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 17, "every match: {ids:?}");
    assert_eq!(distinct.len(), 17, "each once: {ids:?}");
    assert!(!run.stderr.contains("more matches"), "{}", run.stderr);

    // One page, then the next through the token printed on stderr.
    let first = read_ok(&app, &["search", "--page-size", "3", "--output", "jsonl"]).await;
    assert_eq!(json_lines(&first.stdout).len(), 3);
    let page_token = first
        .stderr
        .split("--page-token ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("stderr names the next page: {:?}", first.stderr))
        .to_owned();
    let second = read_ok(
        &app,
        &[
            "search",
            "--page-size",
            "3",
            "--output",
            "jsonl",
            "--page-token",
            &page_token,
        ],
    )
    .await;
    let first_ids = external_ids(&first.stdout);
    let second_ids = external_ids(&second.stdout);
    assert_eq!(second_ids.len(), 3);
    assert!(
        first_ids.iter().all(|id| !second_ids.contains(id)),
        "{first_ids:?} {second_ids:?}"
    );

    // company search pages the same way: 4 companies, pages of 1.
    let run = read_ok(
        &app,
        &[
            "company",
            "search",
            "--all",
            "--page-size",
            "1",
            "--output",
            "jsonl",
        ],
    )
    .await;
    let mut domains: Vec<String> = json_lines(&run.stdout)
        .iter()
        .map(|row| row["domain"].as_str().expect("domain").to_owned())
        .collect();
    domains.sort_unstable();
    assert_eq!(domains, ["alpha.io", "beta.com", "delta.net", "gamma.fr"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_totals_and_facets_match_the_rows() {
    let app = spawn_app().await;
    let token = load_people(&app).await;
    let run = read_ok(
        &app,
        &[
            "count",
            "--facet",
            "industry",
            "--facet",
            "job-title-level",
            "--output",
            "json",
            "--min-token",
            &token,
        ],
    )
    .await;
    let counted: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(counted["total"], 5, "{counted}");
    assert_eq!(counted["total_is_estimate"], false);
    assert!(counted["freshness"]["watermark"].is_string(), "{counted}");

    // The facets are what the rows say.
    let rows = json_lines(&read_ok(&app, &["search", "--output", "jsonl"]).await.stdout);
    let tally = |column: &str| {
        let mut tally: BTreeMap<String, i64> = BTreeMap::new();
        for row in &rows {
            *tally
                .entry(row[column].as_str().expect("text").to_owned())
                .or_default() += 1;
        }
        tally
    };
    let facets = counted["facets"].as_array().expect("facets");
    assert_eq!(facets.len(), 2, "{counted}");
    for (facet, column) in facets.iter().zip(["industry", "job_title_level"]) {
        assert_eq!(facet["is_estimate"], false);
        let got: BTreeMap<String, i64> = facet["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| {
                (
                    v["value"].as_str().expect("value").to_owned(),
                    v["count"].as_i64().expect("count"),
                )
            })
            .collect();
        assert_eq!(got, tally(column), "facet {column}: {counted}");
    }

    // The filter applies to the count; text output for people.
    let run = read_ok(&app, &["count", "--state", "TX", "--facet", "department"]).await;
    assert!(run.stdout.starts_with("total: 2\n"), "{}", run.stdout);
    assert!(run.stdout.contains("department:\n"), "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("Finance") && l.ends_with(" 1")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("estimate"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_every_match_and_neutralizes_formulas_unless_told_not_to() {
    let app = spawn_app().await;
    let token = load_people(&app).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("people.csv");
    let path_text = path.to_str().expect("UTF-8 path");

    let run = read_ok(
        &app,
        &["export", "-o", path_text, "--min-token", &token, "--quiet"],
    )
    .await;
    assert!(
        run.stdout.is_empty(),
        "the rows went to the file: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("exported 5 prospects"),
        "{}",
        run.stderr
    );
    assert!(
        !dir.path().join("people.csv.partial").exists(),
        "no partial file left"
    );
    let (_, rows) = csv_rows(&std::fs::read_to_string(&path).expect("the file"));
    let eve = rows
        .iter()
        .find(|r| r["external_id"] == "eve")
        .expect("eve");
    assert_eq!(eve["first_name"], "'=HYPERLINK(\"http://evil.test\",\"x\")");
    assert_eq!(eve["last_name"], "'-2+3");
    assert!(eve["full_name"].starts_with("'="), "{eve:?}");
    assert_eq!(eve["email"], "eve@delta.net", "other cells are left alone");

    let run = read_ok(
        &app,
        &[
            "export",
            "-o",
            "-",
            "--no-neutralize-formulas",
            "--country",
            "Spain",
        ],
    )
    .await;
    let (_, rows) = csv_rows(&run.stdout);
    assert_eq!(rows.len(), 1, "the filter applies: {}", run.stdout);
    assert_eq!(
        rows[0]["first_name"],
        "=HYPERLINK(\"http://evil.test\",\"x\")"
    );
    assert_eq!(rows[0]["last_name"], "-2+3");

    // JSON lines are exact: no spreadsheet reads them.
    let run = read_ok(&app, &["export", "--output", "jsonl", "-o", "-"]).await;
    let lines = json_lines(&run.stdout);
    assert_eq!(external_ids(&run.stdout), EVERYONE);
    assert!(lines.iter().any(|row| row["last_name"] == "-2+3"));

    // A refused export leaves no file behind.
    let refused = dir.path().join("refused.csv");
    let run = read(
        &app,
        &[
            "export",
            "-o",
            refused.to_str().expect("UTF-8"),
            "--min-token",
            "not-a-token",
        ],
    )
    .await;
    assert_eq!(exit_code(&run), INVALID_ARGUMENT, "{:?}", run.result);
    assert!(!refused.exists() && !dir.path().join("refused.csv.partial").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_get_by_domain_and_id_and_not_found_exits_3() {
    let app = spawn_app().await;
    let token = load_people(&app).await;
    let run = read_ok(
        &app,
        &[
            "company",
            "get",
            "alpha.io",
            "--output",
            "json",
            "--min-token",
            &token,
        ],
    )
    .await;
    let alpha: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(alpha["domain"], "alpha.io");
    assert_eq!(alpha["name"], "Alpha Robotics");
    assert_eq!(alpha["prospect_count"], "2");
    assert_eq!(alpha["departments"], r#"["Engineering","Finance"]"#);
    let id = alpha["company_id"].as_str().expect("an id").to_owned();

    let run = read_ok(&app, &["company", "get", &id]).await;
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("domain") && l.ends_with("  alpha.io")),
        "by id, one field a line:\n{}",
        run.stdout
    );

    for missing in ["nowhere.example", "999999999"] {
        let run = read(&app, &["company", "get", missing]).await;
        assert_eq!(exit_code(&run), NOT_FOUND, "{missing}: {:?}", run.result);
        let described = lmactl::failure::describe(run.result.as_ref().expect_err("not found"));
        assert!(described.contains("NOT_FOUND"), "{described}");
    }

    // company search: filters, and CSV that parses back.
    let run = read_ok(
        &app,
        &[
            "company",
            "search",
            "--min-prospects",
            "2",
            "--output",
            "csv",
        ],
    )
    .await;
    let (header, rows) = csv_rows(&run.stdout);
    let pool = contract();
    assert_eq!(
        header,
        field_names(&message(&pool, "lma.v1.CompanySummary"))
    );
    assert_eq!(rows.len(), 1, "{}", run.stdout);
    assert_eq!(rows[0]["domain"], "alpha.io");
    let run = read_ok(
        &app,
        &[
            "company",
            "search",
            "--industry",
            "Energy",
            "--output",
            "jsonl",
        ],
    )
    .await;
    let found = json_lines(&run.stdout);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["domain"], "gamma.fr");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_token_reads_your_writes_and_include_suppressed_shows_hidden_rows() {
    let app = spawn_app().await;
    load_people(&app).await;
    // Written and searched at once: the token makes the search wait for the read model.
    for i in 0..5 {
        let mut record = people().remove(1);
        record.external_id = format!("fresh-{i}");
        record.email = format!("fresh{i}@beta.com");
        record.last_name = format!("Freshman{i}");
        let token = app.upsert_prospect(record).await.consistency_token;
        let query = format!("freshman{i}");
        let run = read_ok(
            &app,
            &[
                "search",
                "--query",
                &query,
                "--output",
                "jsonl",
                "--min-token",
                &token,
            ],
        )
        .await;
        assert_eq!(external_ids(&run.stdout), [format!("fresh-{i}")]);
    }
    let run = read(&app, &["count", "--min-token", "nope"]).await;
    assert_eq!(
        exit_code(&run),
        INVALID_ARGUMENT,
        "the token reaches the service"
    );

    // A HIDE entry of a domain: left out unless --include-suppressed (privacy.admin key).
    let ingest_url = format!("http://{}", app.ingest.addr);
    let added = lmactl_ok(&[
        "suppress",
        "add",
        "--domain",
        "gamma.fr",
        "--reason",
        "other",
        "--policy",
        "hide",
        "--ingest-url",
        &ingest_url,
        "--api-key",
        &app.tenant.api_key,
    ])
    .await;
    let token = added
        .stdout
        .trim()
        .rsplit_once(" token ")
        .map(|(_, token)| token.to_owned())
        .unwrap_or_else(|| panic!("a token: {:?}", added.stdout));
    let run = read_ok(
        &app,
        &["search", "--output", "jsonl", "--min-token", &token],
    )
    .await;
    assert!(
        !external_ids(&run.stdout).contains(&"cho".to_owned()),
        "{}",
        run.stdout
    );
    let run = read_ok(&app, &["search", "--output", "jsonl", "--include-hidden"]).await;
    let rows = json_lines(&run.stdout);
    let cho = rows
        .iter()
        .find(|row| row["external_id"] == "cho")
        .expect("cho, hidden");
    assert_eq!(cho["suppressed"], "true");
    let run = read(&app, &["company", "get", "gamma.fr"]).await;
    assert_eq!(exit_code(&run), NOT_FOUND, "a hidden company is not found");
    read_ok(
        &app,
        &["company", "get", "gamma.fr", "--include-suppressed"],
    )
    .await;
}

/// The real lmactl binary against `search_url` as `key` (through `LMA_SEARCH_URL` and
/// `LMA_API_KEY`), with nothing from the caller's `LMA_*` or `OTEL_*` environment.
async fn binary_command(search_url: &str, key: &str) -> tokio::process::Command {
    super::lmactl_binary(&[("LMA_SEARCH_URL", search_url), ("LMA_API_KEY", key)]).await
}

/// The exit code and stderr of the real binary running `args`.
async fn binary_exit(search_url: &str, key: &str, args: &[&str]) -> (i32, String) {
    let output = binary_command(search_url, key)
        .await
        .args(args)
        .output()
        .await
        .expect("lmactl runs");
    (
        output.status.code().expect("lmactl exited, not killed"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The binary's exit codes for the failures of the read commands, as `lmactl --help` lists
/// them, and what it prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_with_the_code_of_each_failure() {
    let app = spawn_app().await;
    let token = load_people(&app).await;
    let url = format!("http://{}", app.search.addr);
    let key = app.tenant.api_key.as_str();
    let (code, stderr) = binary_exit(
        &url,
        key,
        &["company", "get", "nowhere.example", "--min-token", &token],
    )
    .await;
    assert_eq!(code, i32::from(NOT_FOUND), "{stderr}");
    assert!(
        stderr.starts_with("error: GetCompany: NOT_FOUND"),
        "{stderr}"
    );
    let (code, stderr) = binary_exit(
        &url,
        key,
        &["search", "--revenue-min", "10", "--revenue-max", "1"],
    )
    .await;
    assert_eq!(code, i32::from(INVALID_ARGUMENT), "{stderr}");
    assert!(
        stderr.contains("\n  filter.revenue: "),
        "one line per violation: {stderr}"
    );
    let (code, stderr) = binary_exit(&url, "lma_unknown", &["count"]).await;
    assert_eq!(code, 6, "an unknown key: {stderr}");
    let search_only = app.mint_key(&[svc_core::Scope::SearchRead]).await;
    let (code, stderr) =
        binary_exit(&url, &search_only.key, &["count", "--include-suppressed"]).await;
    assert_eq!(
        code, 6,
        "include-suppressed without privacy.admin: {stderr}"
    );
    // Nothing listens on a port just freed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let (code, stderr) = binary_exit(&format!("http://{closed}"), key, &["search"]).await;
    assert_eq!(code, 5, "unreachable: {stderr}");
    let (code, stderr) = binary_exit(&url, key, &["search", "--sort", "colour"]).await;
    assert_eq!(code, 2, "usage: {stderr}");
}

/// Peak resident memory (VmHWM, KiB) of the real lmactl binary exporting `args`' matches to
/// `file`, read from /proc while it runs; and how many rows it wrote.
async fn export_peak_kib(app: &TestApp, args: &[&str], file: &std::path::Path) -> u64 {
    let mut child = binary_command(&format!("http://{}", app.search.addr), &app.tenant.api_key)
        .await
        .arg("export")
        .args(args)
        .arg("-o")
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lmactl starts");
    let pid = child.id().expect("a running child");
    let mut peak = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let status = loop {
        // VmHWM only grows; the last reading before the exit is the peak (the process image is
        // gone once it has exited).
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kib) = text
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        {
            peak = kib;
        }
        if let Some(status) = child.try_wait().expect("checking lmactl") {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the export took over 300 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let output = child.wait_with_output().await.expect("lmactl's stderr");
    assert!(
        status.success(),
        "lmactl export {args:?}: {status}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(peak > 0, "read lmactl's VmHWM");
    peak
}

/// An export of 100,000 rows needs no more memory than one of 10,000: rows are written as they
/// arrive. Reported (both peaks printed), not timed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_100000_rows_keeps_the_peak_memory_of_10000() {
    let app = spawn_app().await;
    // Set-based, straight into the base tables: 100,000 prospects at 1,000 companies, each
    // tagged batch-(n % 10), so one tag is 10,000 of them.
    lma_tests::bulk::insert_prospects(&app.db, app.tenant.organization_id, 1_000, 100_000).await;
    lma_tests::bulk::build_read_models(&app.db).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let small = dir.path().join("10k.csv");
    let large = dir.path().join("100k.csv");

    let small_peak = export_peak_kib(&app, &["--tag-any", "batch-0"], &small).await;
    let large_peak = export_peak_kib(&app, &[], &large).await;
    let count = |path: &std::path::Path| {
        let mut reader = csv::Reader::from_path(path).expect("the export");
        let mut rows = 0;
        for record in reader.records() {
            record.expect("a CSV record");
            rows += 1;
        }
        rows
    };
    assert_eq!(count(&small), 10_000);
    assert_eq!(count(&large), 100_000);
    println!("lmactl export peak RSS: 10,000 rows {small_peak} KiB, 100,000 rows {large_peak} KiB");
    // 1.5 times the small export's peak plus 4 MiB of slack for allocator noise.
    let limit = small_peak * 3 / 2 + 4 * 1024;
    assert!(
        large_peak < limit,
        "100,000 rows peaked at {large_peak} KiB, 10,000 at {small_peak} KiB (limit {limit})"
    );
}

//! The ingest benchmark, all in one run on a throwaway PostgreSQL cluster (lma-tests).
//!
//! For each file size a deterministic CSV is generated under `--data-dir`: a HubSpot-style
//! contact export with values as such exports write them (website URLs, employee ranges,
//! revenue with symbols, separators and suffixes, mixed country and state spellings, typed
//! phone numbers; `generate::write_vendor_csv`) and a small share of messy rows (quoted
//! company names with commas and quotes, one row in 1,000 with an invalid email), then `--rounds` rounds alternate, each into a fresh migrated database:
//!
//! (a) the SQL-only baseline: one `psql` run that `\copy`s the file into a staging table and
//!     merges it the way a hand-written loader would (companies first with
//!     `INSERT ... SELECT DISTINCT ON (domain) ... ON CONFLICT`, then prospects `ON CONFLICT`),
//!     skipping rows whose email fails the schema's check, in one transaction;
//! (b) `lmactl import` through ImportCsv, against ingest-svc started as its own process (role
//!     lma_ingest) so its peak RSS (VmHWM) can be read; lmactl's peak RSS comes from
//!     `/usr/bin/time -f %M`.
//!
//! With `--suppressions N`, both loaders first get the same N email suppression entries, half
//! of them addresses of the file (spread over it), half addresses it does not hold: (a) as a
//! plain list its SQL deletes from the staging table, (b) through `lmactl suppress add` (keyed
//! hashes, untimed, before the import), so ingest-svc screens every row against them.
//!
//! With `--overlap-percent P`, both databases first hold P% of the file's people, spread
//! evenly over it ([`overlaps`]), as another source stored them: source `crm` with ids of its
//! own, the same addresses (every other one with its local part capitalized, as a CRM keeps
//! what people typed), names, departments and cities, every third job title another, and their
//! companies by domain and name only. Both get them the same way, untimed, before the timed
//! load: one psql script ([`EXISTING_SQL`]) and `VACUUM ANALYZE`, as a database that has held
//! them for a while would be. The same SQL in both rather than an import through ingest-svc in
//! both: one path, identical rows (ingest-svc would lower-case the addresses, and the case
//! difference is part of what is measured), and no service needed for (a). The timed loads then
//! meet people they must not create twice (the unique index on `(organization_id,
//! lower(email))`): (a) takes the identity step a hand-written loader in this schema needs
//! ([`BASELINE_IDENTITY_SQL`]: look the file's addresses up once, update those people and link
//! the rows' keys to them, insert the rest); (b) is the same `lmactl import`, whose ingest-svc
//! resolves every row by link, then email. Without the option (a) runs the plain merge as
//! before.
//!
//! Both databases must end with the same prospect, company and source-link counts, and the
//! prospects and links the file and the lists imply. Run the release build of the measured
//! binaries: `cargo build --release -p ingest-svc -p lmactl`.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use lma_tests::TestDatabase;
use lma_tests::app::{create_tenant_in, health_status};
use tokio::process::{Child, Command};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::{generate, stats};

#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// Data rows of each generated file (comma-separated); every size gets `--rounds` rounds.
    #[arg(long, value_delimiter = ',', default_value = "200000,1000000")]
    pub sizes: Vec<u64>,
    /// Prospects per company: 10 gives 100,000 companies in the 1,000,000-row file.
    #[arg(long, default_value_t = 10)]
    pub prospects_per_company: u64,
    /// Rounds of (a) and (b), alternating; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the CSV files go (gitignored); an existing file of the right name is reused.
    #[arg(long, default_value = "bench/data")]
    pub data_dir: PathBuf,
    /// Directory of the ingest-svc and lmactl binaries to measure.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// psql of the baseline.
    #[arg(long, default_value = "psql")]
    pub psql: PathBuf,
    /// Valid rows per ingest-svc transaction (LMA_INGEST_BATCH_ROWS); the service's default
    /// when omitted.
    #[arg(long)]
    pub batch_rows: Option<u32>,
    /// Email suppression entries (policy refuse) both loaders apply, half of them matching rows
    /// of the file; none when 0.
    #[arg(long, default_value_t = 0)]
    pub suppressions: u64,
    /// Percent of the file's people both databases already hold from another source before
    /// each timed load (stored untimed, the same way in both); none when 0.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub overlap_percent: u64,
}

/// How long ingest-svc may take to report SERVING.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One measured load.
#[derive(Debug, Clone, Copy)]
struct Load {
    seconds: f64,
    stored: Counts,
}

/// What a database holds after a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    prospects: i64,
    companies: i64,
    links: i64,
}

/// One round of (b): the load and the peak RSS (KiB) of both processes.
#[derive(Debug, Clone, Copy)]
struct Import {
    load: Load,
    service_kib: u64,
    client_kib: u64,
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    ensure!(
        args.prospects_per_company > 0,
        "--prospects-per-company must be at least 1"
    );
    let ingest_svc = args.bin_dir.join("ingest-svc");
    let lmactl = args.bin_dir.join("lmactl");
    for binary in [&ingest_svc, &lmactl] {
        ensure!(
            binary.is_file(),
            "{} is missing: cargo build --release -p ingest-svc -p lmactl",
            binary.display()
        );
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let mut summary = Vec::new();
    for &rows in &args.sizes {
        let file = generated_file(&args, rows)?;
        let suppressions = suppression_file(&args, &file, rows)?;
        let existing = existing_people_file(&args, &file, suppressions.as_ref())?;
        if let Some(existing) = &existing {
            println!(
                "{rows} rows: both databases hold {} of the file's people from another source \
                 before each load",
                existing.people
            );
        }
        let refused = suppressions.as_ref().map_or(0, |list| list.matching);
        let expected = expected_counts(
            rows - generate::invalid_rows(rows, true) - refused,
            existing.as_ref(),
        );
        let mut baseline = Vec::new();
        let mut imports = Vec::new();
        for round in 0..args.rounds {
            let list = suppressions.as_ref().map(|list| list.path.as_path());
            let people = existing.as_ref().map(|existing| existing.path.as_path());
            let a = sql_baseline(&args, &file, list, people).await?;
            let b = lmactl_import(&args, &ingest_svc, &lmactl, &file, list, people).await?;
            let (stored_a, stored_b) = (a.stored, b.load.stored);
            ensure!(
                stored_a.prospects == expected.prospects
                    && stored_b.prospects == stored_a.prospects,
                "prospects stored: expected {}, (a) {}, (b) {}",
                expected.prospects,
                stored_a.prospects,
                stored_b.prospects
            );
            ensure!(
                stored_a.companies == stored_b.companies,
                "companies stored: (a) {}, (b) {}",
                stored_a.companies,
                stored_b.companies
            );
            ensure!(
                stored_a.links == expected.links && stored_b.links == stored_a.links,
                "source links stored: expected {}, (a) {}, (b) {}",
                expected.links,
                stored_a.links,
                stored_b.links
            );
            println!(
                "{rows} rows, round {round}: (a) {:.1} s {:.0} rows/s | (b) {:.1} s {:.0} rows/s, \
                 ingest-svc {} MiB, lmactl {} MiB | {} prospects, {} companies, {} source links",
                a.seconds,
                rows as f64 / a.seconds,
                b.load.seconds,
                rows as f64 / b.load.seconds,
                b.service_kib / 1024,
                b.client_kib / 1024,
                stored_a.prospects,
                stored_a.companies,
                stored_a.links
            );
            baseline.push(a.seconds);
            imports.push(b);
        }
        let a_seconds = stats::median(baseline);
        let b_seconds = stats::median(imports.iter().map(|b| b.load.seconds).collect());
        let service_mib = max_mib(imports.iter().map(|b| b.service_kib));
        let client_mib = max_mib(imports.iter().map(|b| b.client_kib));
        summary.push((
            rows,
            rows as f64 / a_seconds,
            rows as f64 / b_seconds,
            service_mib,
            client_mib,
        ));
    }
    println!(
        "\n| rows | (a) psql \\copy + merge SQL, rows/s | (b) lmactl import, rows/s | b/a | \
         ingest-svc peak RSS | lmactl peak RSS |\n|---|---|---|---|---|---|"
    );
    for (rows, a, b, service_mib, client_mib) in summary {
        println!(
            "| {rows} | {a:.0} | {b:.0} | {:.2} | {service_mib} MiB | {client_mib} MiB |",
            b / a
        );
    }
    Ok(())
}

/// The size's CSV file, generated unless it is already there.
fn generated_file(args: &IngestArgs, rows: u64) -> anyhow::Result<PathBuf> {
    let path = args
        .data_dir
        .join(format!("ingest-{rows}-seed{}-vendor.csv", args.seed));
    if path.is_file() {
        return Ok(path);
    }
    let companies = (rows / args.prospects_per_company).max(1);
    let partial = path.with_extension("csv.partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut sink = std::io::BufWriter::with_capacity(1 << 20, file);
    generate::write_vendor_csv(&mut sink, rows, companies, args.seed)?;
    std::io::Write::flush(&mut sink)?;
    drop(sink);
    std::fs::rename(&partial, &path)?;
    println!(
        "generated {} ({rows} rows, {companies} companies)",
        path.display()
    );
    Ok(path)
}

/// A suppression list written for one data file.
struct SuppressionList {
    path: PathBuf,
    /// Entries naming an address of the file: rows both loaders must refuse.
    matching: u64,
    /// Those addresses, lower-cased.
    refused: HashSet<String>,
}

/// The list of `--suppressions` entries for `file`, unless none were asked for: every
/// `rows / matching`-th valid address of the file, then addresses it does not hold.
fn suppression_file(
    args: &IngestArgs,
    file: &Path,
    rows: u64,
) -> anyhow::Result<Option<SuppressionList>> {
    if args.suppressions == 0 {
        return Ok(None);
    }
    let wanted = args.suppressions / 2;
    let every = (rows / wanted.max(1)).max(1);
    let mut reader =
        csv::Reader::from_path(file).with_context(|| format!("reading {}", file.display()))?;
    let email_column = reader
        .headers()?
        .iter()
        .position(|name| name == "Email")
        .context("the data file has no Email column")?;
    let mut emails = Vec::with_capacity(args.suppressions as usize);
    for (index, record) in reader.records().enumerate() {
        if emails.len() as u64 == wanted {
            break;
        }
        let record = record?;
        let email = record.get(email_column).unwrap_or_default();
        if (index as u64).is_multiple_of(every) && email.contains('@') {
            emails.push(email.to_owned());
        }
    }
    let matching = emails.len() as u64;
    let refused = emails.iter().map(|email| email.to_lowercase()).collect();
    emails
        .extend((matching..args.suppressions).map(|n| format!("opted.out.{n}@elsewhere.example")));
    let path = args.data_dir.join(format!(
        "suppressions-{}-{}.csv",
        args.suppressions,
        file.file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("data")
    ));
    let mut out = String::from("email\n");
    for email in &emails {
        out.push_str(email);
        out.push('\n');
    }
    std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(SuppressionList {
        path,
        matching,
        refused,
    }))
}

/// Whether data row `index` (0-based) is one of the `percent`% of a file's rows that both
/// databases hold before the load: spread evenly, exactly `n * percent / 100` (rounded down)
/// of any first `n` rows.
fn overlaps(index: u64, percent: u64) -> bool {
    (index + 1) * percent / 100 > index * percent / 100
}

/// The people of one data file both databases hold before each load.
struct ExistingPeople {
    path: PathBuf,
    /// People written to the file: one per overlapping row with a valid address.
    people: u64,
    /// Of them, those whose row the suppression list refuses: the load leaves them as stored.
    refused: u64,
}

/// A file's row as the other source keeps the person: its own key (`crm-<n>`), the address with
/// every other local part capitalized ("Anna.Brown.12@company5.com"), every third job title
/// another, and no phone or region.
fn existing_person(n: u64, row: &ExistingRow<'_>) -> [String; 9] {
    let (local, domain) = row.email.split_once('@').unwrap_or((row.email, ""));
    let local = if n % 2 == 1 {
        local
            .split('.')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_uppercase().chain(chars).collect()
                })
            })
            .collect::<Vec<_>>()
            .join(".")
    } else {
        local.to_owned()
    };
    let job_title = if n % 3 == 2 {
        format!("Interim {}", row.job_title)
    } else {
        row.job_title.to_owned()
    };
    [
        format!("crm-{n}"),
        row.first_name.to_owned(),
        row.last_name.to_owned(),
        format!("{local}@{}", domain.to_lowercase()),
        job_title,
        row.department.to_owned(),
        row.city.to_owned(),
        row.company_name.to_owned(),
        domain.to_lowercase(),
    ]
}

/// The columns of a data row an existing person is made from.
struct ExistingRow<'a> {
    first_name: &'a str,
    last_name: &'a str,
    email: &'a str,
    job_title: &'a str,
    department: &'a str,
    city: &'a str,
    company_name: &'a str,
}

/// The people both databases hold before each load with `--overlap-percent`, written for
/// [`EXISTING_SQL`]; `None` without the option. Rows without a valid address are no person.
fn existing_people_file(
    args: &IngestArgs,
    file: &Path,
    suppressions: Option<&SuppressionList>,
) -> anyhow::Result<Option<ExistingPeople>> {
    if args.overlap_percent == 0 {
        return Ok(None);
    }
    let mut reader =
        csv::Reader::from_path(file).with_context(|| format!("reading {}", file.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|header| header == name)
            .with_context(|| format!("the data file has no {name} column"))
    };
    let columns = [
        column("First Name")?,
        column("Last Name")?,
        column("Email")?,
        column("Job Title")?,
        column("Department")?,
        column("City")?,
        column("Company Name")?,
    ];
    let path = args.data_dir.join(format!(
        "existing-{}pct-{}.csv",
        args.overlap_percent,
        file.file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("data")
    ));
    let mut out =
        csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    out.write_record([
        "external_id",
        "first_name",
        "last_name",
        "email",
        "job_title",
        "department",
        "city",
        "company_name",
        "domain",
    ])?;
    let (mut people, mut refused) = (0, 0);
    for (index, record) in reader.records().enumerate() {
        let record = record?;
        let [
            first_name,
            last_name,
            email,
            job_title,
            department,
            city,
            company_name,
        ] = columns.map(|at| record.get(at).unwrap_or_default());
        if !overlaps(index as u64, args.overlap_percent) || !email.contains('@') {
            continue;
        }
        let row = ExistingRow {
            first_name,
            last_name,
            email,
            job_title,
            department,
            city,
            company_name,
        };
        out.write_record(existing_person(people, &row))?;
        people += 1;
        if suppressions.is_some_and(|list| list.refused.contains(&email.to_lowercase())) {
            refused += 1;
        }
    }
    out.flush()?;
    Ok(Some(ExistingPeople {
        path,
        people,
        refused,
    }))
}

/// What both databases must hold after a load (companies are only compared between them).
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    prospects: i64,
    links: i64,
}

/// The prospects and source links both databases must hold after a load that stores
/// `from_file` of the file's rows (valid, not refused), over the `existing` people.
fn expected_counts(from_file: u64, existing: Option<&ExistingPeople>) -> Expected {
    let (people, left_alone) =
        existing.map_or((0, 0), |existing| (existing.people, existing.refused));
    Expected {
        // A stored row is a person of its own unless it is an existing one (updated, linked);
        // the existing people whose rows are refused stay as they were.
        prospects: (from_file + left_alone) as i64,
        // Every stored row's key, and each existing person's own.
        links: (from_file + people) as i64,
    }
}

/// The hand-written loader: staging table, `\copy`, set-based merges, one transaction. It
/// reads the export's values as a loader written for this one file would: the domain from the
/// website URL, employee bounds from the range, revenue without its symbol, separators and "M";
/// countries, states and phones are stored as written.
const BASELINE_SQL: &str = r#"
BEGIN;
CREATE TEMP TABLE staging (
    external_id text, first_name text, last_name text, email text, job_title text,
    department text, city text, state text, country text, phone text, company_name text,
    website text, industry text, employees text, revenue text
) ON COMMIT DROP;
\copy staging FROM 'FILE' WITH (FORMAT csv, HEADER true)
DELETE FROM staging WHERE email !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$';
-- SUPPRESSIONS
CREATE TEMP TABLE parsed ON COMMIT DROP AS
SELECT s.*,
    regexp_replace(lower(website), '^(https?://)?(www\.)?([^/]+).*$', '\3') AS domain,
    split_part(e.bounds, '-', 1)::integer AS min_employees,
    coalesce(nullif(split_part(e.bounds, '-', 2), ''), split_part(e.bounds, '-', 1))::integer
        AS max_employees,
    CASE WHEN revenue LIKE '%M'
        THEN (regexp_replace(revenue, '[$,M]', '', 'g')::numeric * 1000000)::bigint
        ELSE regexp_replace(revenue, '[$,]', '', 'g')::numeric::bigint
    END AS revenue_usd
FROM staging s,
    LATERAL (SELECT regexp_replace(employees, '[^0-9-]', '', 'g') AS bounds) e;
INSERT INTO company AS c
    (organization_id, domain, name, industry, min_employees, max_employees, revenue)
SELECT DISTINCT ON (domain)
    :org, domain, company_name, industry, min_employees, max_employees, revenue_usd
FROM parsed
ORDER BY domain, external_id DESC
ON CONFLICT (organization_id, domain) DO UPDATE SET
    name = EXCLUDED.name, industry = EXCLUDED.industry,
    min_employees = EXCLUDED.min_employees, max_employees = EXCLUDED.max_employees,
    revenue = EXCLUDED.revenue, updated_at = now()
WHERE (c.name, c.industry, c.min_employees, c.max_employees, c.revenue)
    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.industry, EXCLUDED.min_employees,
                      EXCLUDED.max_employees, EXCLUDED.revenue);
-- IDENTITY
INSERT INTO prospect AS p
    (organization_id, company_id, external_source, external_id, first_name, last_name, email,
     job_title, department, city, state, country, phone)
SELECT :org, c.id, 'csv', s.external_id, s.first_name, s.last_name, s.email,
       s.job_title, s.department, s.city, s.state, s.country, s.phone
FROM parsed s
JOIN company c ON c.organization_id = :org AND c.domain = s.domain
-- NEW ONLY
ON CONFLICT (organization_id, external_source, external_id) DO UPDATE SET
    company_id = EXCLUDED.company_id, first_name = EXCLUDED.first_name,
    last_name = EXCLUDED.last_name, email = EXCLUDED.email, job_title = EXCLUDED.job_title,
    department = EXCLUDED.department, city = EXCLUDED.city, state = EXCLUDED.state,
    country = EXCLUDED.country, phone = EXCLUDED.phone, updated_at = now()
WHERE (p.company_id, p.first_name, p.last_name, p.email, p.job_title, p.department, p.city,
       p.state, p.country, p.phone)
    IS DISTINCT FROM (EXCLUDED.company_id, EXCLUDED.first_name, EXCLUDED.last_name,
                      EXCLUDED.email, EXCLUDED.job_title, EXCLUDED.department, EXCLUDED.city,
                      EXCLUDED.state, EXCLUDED.country, EXCLUDED.phone);
COMMIT;
"#;

/// The baseline's identity step with `--overlap-percent` (replacing `-- IDENTITY`): the file's
/// addresses looked up once among the stored people (the unique index on `(organization_id,
/// lower(email))`), those people updated with the row's values and the row's key linked to
/// them; the prospect insert then takes only the rows whose address nobody has
/// (`-- NEW ONLY`), whose keys the database links.
const BASELINE_IDENTITY_SQL: &str = r#"CREATE TEMP TABLE matched ON COMMIT DROP AS
SELECT s.external_id, p.id AS prospect_id
FROM parsed s
JOIN prospect p ON p.organization_id = :org AND lower(p.email) = lower(s.email);
UPDATE prospect AS p SET
    company_id = c.id, first_name = s.first_name, last_name = s.last_name, email = s.email,
    job_title = s.job_title, department = s.department, city = s.city, state = s.state,
    country = s.country, phone = s.phone, updated_at = now()
FROM matched m
JOIN parsed s ON s.external_id = m.external_id
JOIN company c ON c.organization_id = :org AND c.domain = s.domain
WHERE p.id = m.prospect_id
  AND (p.company_id, p.first_name, p.last_name, p.email, p.job_title, p.department, p.city,
       p.state, p.country, p.phone)
    IS DISTINCT FROM (c.id, s.first_name, s.last_name, s.email, s.job_title, s.department,
                      s.city, s.state, s.country, s.phone);
INSERT INTO prospect_source_link (organization_id, external_source, external_id, prospect_id)
SELECT :org, 'csv', external_id, prospect_id FROM matched
ON CONFLICT DO NOTHING;"#;

/// The condition `-- NEW ONLY` becomes with [`BASELINE_IDENTITY_SQL`].
const BASELINE_NEW_ONLY_SQL: &str =
    "WHERE NOT EXISTS (SELECT FROM matched m WHERE m.external_id = s.external_id)";

/// The people another source stored, loaded into a database before its timed load (both
/// loaders' databases alike): their companies by domain and name, then the people, whose own
/// keys the database links; then statistics and the visibility map, as a database that has held
/// them for a while has them.
const EXISTING_SQL: &str = r#"
BEGIN;
CREATE TEMP TABLE existing (
    external_id text, first_name text, last_name text, email text, job_title text,
    department text, city text, company_name text, domain text
) ON COMMIT DROP;
\copy existing FROM 'FILE' WITH (FORMAT csv, HEADER true)
INSERT INTO company (organization_id, domain, name)
SELECT DISTINCT ON (domain) :org, domain, company_name FROM existing ORDER BY domain, external_id;
INSERT INTO prospect
    (organization_id, company_id, external_source, external_id, first_name, last_name, email,
     job_title, department, city)
SELECT :org, c.id, 'crm', e.external_id, e.first_name, e.last_name, e.email, e.job_title,
       e.department, e.city
FROM existing e
JOIN company c ON c.organization_id = :org AND c.domain = e.domain;
COMMIT;
VACUUM ANALYZE company;
VACUUM ANALYZE prospect;
VACUUM ANALYZE prospect_source_link;
"#;

/// The baseline's suppression step: the list copied in, matching rows deleted.
const BASELINE_SUPPRESSIONS_SQL: &str = r#"CREATE TEMP TABLE suppressed (email text) ON COMMIT DROP;
\copy suppressed FROM 'LIST' WITH (FORMAT csv, HEADER true)
DELETE FROM staging s USING suppressed x WHERE lower(s.email) = lower(x.email);"#;

/// A path quoted for a psql script (psql does not interpolate variables into \copy).
fn quoted_path(path: &Path) -> anyhow::Result<String> {
    let path = std::path::absolute(path)?;
    let path = path.to_str().context("a data file's path is not UTF-8")?;
    Ok(format!("'{}'", path.replace('\'', "''")))
}

/// (a): the whole psql process, timed, into a fresh database (holding the `existing` people,
/// stored untimed first).
async fn sql_baseline(
    args: &IngestArgs,
    file: &Path,
    suppressions: Option<&Path>,
    existing: Option<&Path>,
) -> anyhow::Result<Load> {
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "bench").await;
    if let Some(people) = existing {
        store_existing_people(args, &db, tenant.organization_id, people).await?;
    }
    let suppression_step = match suppressions {
        Some(list) => BASELINE_SUPPRESSIONS_SQL.replace("'LIST'", &quoted_path(list)?),
        None => String::new(),
    };
    let (identity_step, new_only) = match existing {
        Some(_) => (BASELINE_IDENTITY_SQL, BASELINE_NEW_ONLY_SQL),
        None => ("", ""),
    };
    let script = args.data_dir.join("ingest-baseline.sql");
    std::fs::write(
        &script,
        BASELINE_SQL
            .replace("'FILE'", &quoted_path(file)?)
            .replace("-- SUPPRESSIONS", &suppression_step)
            .replace("-- IDENTITY", identity_step)
            .replace("-- NEW ONLY", new_only),
    )
    .with_context(|| format!("writing {}", script.display()))?;
    let started = Instant::now();
    run_psql(args, &db, tenant.organization_id, &script)
        .await
        .context("the baseline failed")?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Load {
        seconds,
        stored: counts(&db).await?,
    })
}

/// Stores the existing people of `file` ([`EXISTING_SQL`]) in `db`'s organization, untimed.
async fn store_existing_people(
    args: &IngestArgs,
    db: &TestDatabase,
    organization_id: i64,
    file: &Path,
) -> anyhow::Result<()> {
    let script = args.data_dir.join("ingest-existing.sql");
    std::fs::write(&script, EXISTING_SQL.replace("'FILE'", &quoted_path(file)?))
        .with_context(|| format!("writing {}", script.display()))?;
    run_psql(args, db, organization_id, &script)
        .await
        .context("storing the existing people failed")
}

/// Runs a psql script against `db` with `:org` set, stopping at its first error.
async fn run_psql(
    args: &IngestArgs,
    db: &TestDatabase,
    organization_id: i64,
    script: &Path,
) -> anyhow::Result<()> {
    let output = Command::new(&args.psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(db.url())
        .arg("-v")
        .arg(format!("org={organization_id}"))
        .arg("-f")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", args.psql.display()))?;
    if !output.status.success() {
        bail!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// (b): ingest-svc as its own process, lmactl import timed, both peak RSS read.
async fn lmactl_import(
    args: &IngestArgs,
    ingest_svc: &Path,
    lmactl: &Path,
    file: &Path,
    suppressions: Option<&Path>,
    existing: Option<&Path>,
) -> anyhow::Result<Import> {
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "bench").await;
    if let Some(people) = existing {
        store_existing_people(args, &db, tenant.organization_id, people).await?;
    }
    let addr = free_local_addr()?;
    let mut service = Command::new(ingest_svc);
    service
        .env("LMA_DATABASE_URL", db.url())
        .env("LMA_DATABASE_ROLE", "lma_ingest")
        .env("LMA_LISTEN_ADDR", addr.to_string())
        .env("LMA_LOG_FILTER", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    if let Some(batch_rows) = args.batch_rows {
        service.env("LMA_INGEST_BATCH_ROWS", batch_rows.to_string());
    }
    let mut service = service
        .spawn()
        .with_context(|| format!("starting {}", ingest_svc.display()))?;
    let result = import_against(
        &mut service,
        addr,
        &tenant.api_key,
        lmactl,
        file,
        suppressions,
    )
    .await;
    service.start_kill().ok();
    service.wait().await.ok();
    let (seconds, service_kib, client_kib) = result?;
    Ok(Import {
        load: Load {
            seconds,
            stored: counts(&db).await?,
        },
        service_kib,
        client_kib,
    })
}

async fn import_against(
    service: &mut Child,
    addr: SocketAddr,
    api_key: &str,
    lmactl: &Path,
    file: &Path,
    suppressions: Option<&Path>,
) -> anyhow::Result<(f64, u64, u64)> {
    let pid = service.id().context("ingest-svc exited at once")?;
    let deadline = Instant::now() + READY_TIMEOUT;
    // health_status panics when nothing listens yet: first wait for the port, then SERVING.
    while tokio::net::TcpStream::connect(addr).await.is_err()
        || health_status(addr, "").await != Ok(ServingStatus::Serving)
    {
        if let Some(status) = service.try_wait()? {
            bail!("ingest-svc exited before serving: {status}");
        }
        ensure!(
            Instant::now() < deadline,
            "ingest-svc did not serve within {READY_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(list) = suppressions {
        let output = against_service(Command::new(lmactl), addr, api_key)
            .args(["suppress", "add", "--reason", "opted-out", "--file"])
            .arg(list)
            .output()
            .await
            .context("running lmactl suppress add")?;
        ensure!(
            output.status.success(),
            "lmactl suppress add failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let rss_file = std::env::temp_dir().join(format!("lma-bench-lmactl-rss-{pid}"));
    let started = Instant::now();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(lmactl);
    let output = against_service(timed, addr, api_key)
        .arg("import")
        .arg(file)
        .arg("--quiet")
        .output()
        .await
        .context("running /usr/bin/time lmactl import")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "lmactl import failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let service_kib = vm_hwm_kib(pid)?;
    let client_kib = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|text| text.trim().lines().last()?.trim().parse::<u64>().ok())
        .context("reading lmactl's peak RSS from /usr/bin/time")?;
    std::fs::remove_file(&rss_file).ok();
    Ok((seconds, service_kib, client_kib))
}

/// `command` (lmactl, or a wrapper about to run it) pointed at ingest-svc at `addr` with the
/// key, no stdin.
fn against_service(mut command: Command, addr: SocketAddr, api_key: &str) -> Command {
    command
        .env("LMA_INGEST_URL", format!("http://{addr}"))
        .env("LMA_API_KEY", api_key)
        .stdin(Stdio::null());
    command
}

/// Peak resident set size of a running process, in KiB.
fn vm_hwm_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/<pid>/status")
}

/// A loopback address nobody listens on right now.
fn free_local_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

async fn counts(db: &TestDatabase) -> anyhow::Result<Counts> {
    let client = db.connect().await;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM prospect), (SELECT count(*) FROM company), \
                 (SELECT count(*) FROM prospect_source_link)",
            &[],
        )
        .await?;
    Ok(Counts {
        prospects: row.try_get(0)?,
        companies: row.try_get(1)?,
        links: row.try_get(2)?,
    })
}

fn max_mib(kib: impl Iterator<Item = u64>) -> u64 {
    kib.max().unwrap_or(0).div_ceil(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_rows_are_the_percentage_spread_evenly() {
        let taken = |percent, rows| (0..rows).filter(|&i| overlaps(i, percent)).count() as u64;
        assert_eq!(taken(30, 1_000_000), 300_000);
        assert_eq!(taken(0, 1_000), 0);
        assert_eq!(taken(100, 1_000), 1_000);
        assert_eq!(taken(7, 1_000), 70);
        // Every stretch of ten rows holds three of 30%: spread, not a block at either end.
        for start in (0..1_000).step_by(10) {
            assert_eq!(
                (start..start + 10).filter(|&i| overlaps(i, 30)).count(),
                3,
                "rows {start}.."
            );
        }
    }

    #[test]
    fn an_existing_person_is_the_row_as_another_source_keeps_it() {
        let row = ExistingRow {
            first_name: "Anna",
            last_name: "O'Brien",
            email: "anna.obrien.12@company5.co.uk",
            job_title: "VP Sales",
            department: "Sales",
            city: "Paris",
            company_name: "Company 5, \"Holdings\" SA",
        };
        let first = existing_person(0, &row);
        assert_eq!(first[0], "crm-0");
        assert_eq!(first[3], "anna.obrien.12@company5.co.uk");
        assert_eq!(first[4], "VP Sales");
        assert_eq!(first[8], "company5.co.uk");
        let second = existing_person(1, &row);
        assert_eq!(second[3], "Anna.Obrien.12@company5.co.uk");
        assert_eq!(second[3].to_lowercase(), row.email, "the same address");
        assert_eq!(existing_person(2, &row)[4], "Interim VP Sales");
    }

    #[test]
    fn expected_counts_follow_identity_by_email() {
        assert_eq!(
            expected_counts(999_000, None),
            Expected {
                prospects: 999_000,
                links: 999_000
            }
        );
        // 300 people stored; the load stores 990 rows, 290 of them theirs (10 of their rows are
        // refused and leave them as they were): 700 new people, each stored row linked.
        let existing = ExistingPeople {
            path: PathBuf::new(),
            people: 300,
            refused: 10,
        };
        assert_eq!(
            expected_counts(990, Some(&existing)),
            Expected {
                prospects: 1_000,
                links: 1_290
            }
        );
    }
}

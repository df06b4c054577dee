//! Keeps the documentation honest: the configuration table in docs/OPERATIONS.md against the
//! binaries' own flag definitions, the OpenTelemetry variables against svc-core's source, and
//! docs/API.md against the RPCs of the compiled contract. A renamed flag, a changed default or a
//! new RPC fails here until the documents say so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use lma_proto::v1::ProspectFilter;
use lma_tests::{Service, grpcurl, spawn_app};
use prost::Message as _;

const SERVICES: [&str; 3] = ["ingest-svc", "search-svc", "refresh-svc"];

/// What one binary's flag says about the environment variable it reads.
#[derive(Debug)]
struct EnvReading {
    binary: &'static str,
    default: Option<String>,
    required: bool,
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = repository_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every environment variable of every flag of every binary, through all subcommands.
fn env_readings() -> BTreeMap<String, Vec<EnvReading>> {
    let commands = [
        ("ingest-svc", ingest_svc::Config::command()),
        ("search-svc", search_svc::Config::command()),
        ("refresh-svc", refresh_svc::Config::command()),
        ("lmactl", lmactl::Cli::command()),
    ];
    let mut readings = BTreeMap::new();
    for (binary, command) in &commands {
        collect_env(binary, command, &mut readings);
    }
    readings
}

fn collect_env(
    binary: &'static str,
    command: &clap::Command,
    readings: &mut BTreeMap<String, Vec<EnvReading>>,
) {
    for arg in command.get_arguments() {
        let Some(env) = arg.get_env() else { continue };
        let default = arg
            .get_default_values()
            .first()
            .map(|value| value.to_string_lossy().into_owned());
        let entry: &mut Vec<EnvReading> = readings
            .entry(env.to_string_lossy().into_owned())
            .or_default();
        // lmactl's subcommands share flags (the database URL): one reading per binary.
        if entry.iter().all(|reading| reading.binary != binary) {
            entry.push(EnvReading {
                binary,
                default,
                required: arg.is_required_set(),
            });
        }
    }
    for subcommand in command.get_subcommands() {
        collect_env(binary, subcommand, readings);
    }
}

/// The `## Configuration` section of docs/OPERATIONS.md, up to the next `## ` heading.
fn configuration_section(document: &str) -> &str {
    let start = document
        .find("\n## Configuration\n")
        .expect("docs/OPERATIONS.md has a \"## Configuration\" section");
    let rest = &document[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |end| end + 3);
    &rest[..end]
}

/// One row of the configuration table: `| `LMA_X` | read by | default | meaning |`.
struct TableRow {
    variable: String,
    read_by: BTreeSet<String>,
    default: String,
}

fn configuration_rows(document: &str) -> Vec<TableRow> {
    document
        .lines()
        .filter(|line| line.starts_with("| `LMA_"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            assert!(cells.len() >= 6, "a configuration row has 4 cells: {line}");
            let read_by = cells[2]
                .split(',')
                .map(str::trim)
                .flat_map(|reader| {
                    if reader == "all services" {
                        SERVICES.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
                    } else {
                        vec![reader.to_owned()]
                    }
                })
                .collect();
            TableRow {
                variable: cells[1].trim_matches('`').to_owned(),
                read_by,
                default: cells[3].to_owned(),
            }
        })
        .collect()
}

#[test]
fn every_lma_variable_is_documented_with_its_default() {
    let readings = env_readings();
    assert!(
        readings.len() > 20 && readings.contains_key("LMA_DATABASE_URL"),
        "the flag definitions were not found: {:?}",
        readings.keys()
    );
    let operations = read("docs/OPERATIONS.md");
    let rows = configuration_rows(configuration_section(&operations));

    let mut documented = BTreeSet::new();
    for row in &rows {
        assert!(
            documented.insert(row.variable.clone()),
            "{} has two rows in docs/OPERATIONS.md",
            row.variable
        );
        assert!(
            readings.contains_key(&row.variable),
            "docs/OPERATIONS.md documents {}, which no binary reads",
            row.variable
        );
    }

    for (variable, readers) in &readings {
        assert!(
            variable.starts_with("LMA_"),
            "{variable} does not follow the LMA_* convention"
        );
        let row = rows
            .iter()
            .find(|row| &row.variable == variable)
            .unwrap_or_else(|| {
                panic!("{variable} is missing from the table in docs/OPERATIONS.md")
            });
        let binaries: BTreeSet<String> = readers.iter().map(|r| r.binary.to_owned()).collect();
        assert_eq!(
            row.read_by, binaries,
            "{variable}: the \"read by\" column disagrees with the binaries"
        );
        for reader in readers {
            let (expected, shown) = match (&reader.default, reader.required) {
                (Some(default), _) => (format!("`{default}`"), "its default"),
                (None, true) => ("required".to_owned(), "that it is required"),
                (None, false) => ("unset".to_owned(), "that it is unset by default"),
            };
            assert!(
                row.default.contains(&expected),
                "{variable} ({}): the default column {:?} should show {shown}, {expected}",
                reader.binary,
                row.default
            );
        }
    }
}

/// `LMA_*` names in `text`, skipping patterns such as `LMA_*` and `LMA_STACK_*_PORT`.
fn lma_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices("LMA_") {
        let rest = &text[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        let is_pattern = name.ends_with('_') || rest[end..].starts_with('*');
        if !is_pattern {
            names.insert(name.to_owned());
        }
    }
    names
}

fn files_under(relative: &str, extension: &str) -> Vec<PathBuf> {
    let mut pending = vec![repository_root().join(relative)];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// README.md and every docs/*.md, with their text.
fn documents() -> Vec<(PathBuf, String)> {
    let mut paths = vec![repository_root().join("README.md")];
    paths.extend(files_under("docs", "md"));
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("documents are UTF-8");
            (path, text)
        })
        .collect()
}

#[test]
fn documents_and_manifests_name_only_variables_that_exist() {
    let mut known: BTreeSet<String> = env_readings().into_keys().collect();
    // Read by the scripts and the test harness, not by the binaries.
    for script in ["deploy/local/stack", "tests/run", ".ci/check-deploy"] {
        known.extend(lma_names(&read(script)));
    }
    // Read by the client examples docs/CLIENTS.md shows (and tests/tests/it/clients.rs runs).
    let clients = read("docs/CLIENTS.md");
    for block in ["clients_example", "clients_ts_example"] {
        known.extend(lma_names(lma_tests::tools::tested_block(&clients, block)));
    }
    for source in files_under("tests/src", "rs") {
        let text = std::fs::read_to_string(&source).expect("test sources are UTF-8");
        known.extend(lma_names(&text));
    }

    let manifests = files_under("deploy/k8s", "yaml").into_iter().map(|path| {
        let text = std::fs::read_to_string(&path).expect("manifests are UTF-8");
        (path, text)
    });
    for (path, text) in documents().into_iter().chain(manifests) {
        for name in lma_names(&text) {
            assert!(
                known.contains(&name),
                "{} names {name}, which nothing reads",
                path.display()
            );
        }
    }
}

#[test]
fn the_opentelemetry_variables_svc_core_reads_are_documented() {
    let telemetry = read("svc-core/src/telemetry/mod.rs");
    let operations = read("docs/OPERATIONS.md");
    let read_in_source: BTreeSet<&str> = telemetry
        .split('"')
        .filter(|literal| {
            literal.starts_with("OTEL_")
                && literal
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(
        read_in_source.contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "svc-core no longer names OTEL_EXPORTER_OTLP_ENDPOINT: {read_in_source:?}"
    );
    for variable in read_in_source {
        assert!(
            operations.contains(&format!("`{variable}`")),
            "{variable} (svc-core/src/telemetry/mod.rs) is not documented in docs/OPERATIONS.md"
        );
    }
}

/// `lma.v1.Service/Method` of every RPC in the compiled contract.
fn contract_rpcs() -> BTreeSet<String> {
    let descriptors = prost_types::FileDescriptorSet::decode(lma_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    let mut rpcs = BTreeSet::new();
    for file in descriptors.file {
        let package = file.package().to_owned();
        if !package.starts_with("lma.") {
            continue;
        }
        for service in &file.service {
            for method in &service.method {
                rpcs.insert(format!("{package}.{}/{}", service.name(), method.name()));
            }
        }
    }
    rpcs
}

/// The text of each ```sh block of a Markdown document, in order.
fn shell_blocks(document: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in document.lines() {
        match current.as_mut() {
            Some(block) if line.trim_start().starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None if line.trim_start() == "```sh" => current = Some(String::new()),
            None => {}
        }
    }
    blocks
}

/// `lma.v1.X/Y` method paths mentioned in `text`.
fn method_paths(text: &str) -> BTreeSet<String> {
    text.match_indices("lma.v1.")
        .filter_map(|(start, _)| {
            let rest = &text[start..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '/' || c == '_'))
                .unwrap_or(rest.len());
            let path = rest[..end].trim_end_matches('.');
            path.contains('/').then(|| path.to_owned())
        })
        .collect()
}

#[test]
fn every_rpc_has_a_grpcurl_example_in_the_api_guide() {
    let rpcs = contract_rpcs();
    assert!(
        rpcs.len() >= 16 && rpcs.contains("lma.v1.SearchService/SearchProspects"),
        "the contract's RPCs were not found: {rpcs:?}"
    );
    let api = read("docs/API.md");
    let examples = shell_blocks(&api).concat();
    for rpc in &rpcs {
        assert!(
            examples.contains(&format!("{rpc}\n")) || examples.contains(&format!("{rpc} ")),
            "docs/API.md has no grpcurl example (```sh block) calling {rpc}"
        );
    }

    for (path, text) in documents() {
        for mentioned in method_paths(&text) {
            assert!(
                rpcs.contains(&mentioned),
                "{} mentions {mentioned}, which is not an RPC of the contract",
                path.display()
            );
        }
    }
}

/// grpcurl's exit status for a call that ended with DEADLINE_EXCEEDED (64 + the code).
const GRPCURL_DEADLINE_EXCEEDED: i32 = 68;

/// A shell like the user's in front of the local stack: `grpcurl` on PATH, the API key in `KEY`,
/// a scratch working directory, and the stack's ports mapped to the test services.
struct ExampleShell {
    workdir: tempfile::TempDir,
    path: std::ffi::OsString,
    key: String,
    ports: Vec<(&'static str, String)>,
}

impl ExampleShell {
    fn new(app: &lma_tests::TestApp) -> Self {
        let workdir = tempfile::tempdir().expect("a temporary directory");
        let bin = workdir.path().join("bin");
        std::fs::create_dir(&bin).expect("create bin/");
        std::os::unix::fs::symlink(grpcurl::binary(), bin.join("grpcurl")).expect("link grpcurl");
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&inherited)))
                .expect("a valid PATH");
        let ports = [
            ("localhost:50051", Service::Ingest),
            ("localhost:50052", Service::Search),
            ("localhost:50053", Service::Refresh),
        ]
        .map(|(documented, service)| (documented, app.addr(service).to_string()))
        .to_vec();
        Self {
            workdir,
            path,
            key: app.tenant.api_key.clone(),
            ports,
        }
    }

    /// Runs `script` with bash (`pipefail` on), `vars` in its environment.
    async fn run(&self, script: &str, vars: &[(&str, &str)]) -> std::process::Output {
        let mut script = script.to_owned();
        for (documented, actual) in &self.ports {
            script = script.replace(documented, actual);
        }
        let output = tokio::process::Command::new("bash")
            .args(["-o", "pipefail", "-c", &script])
            .current_dir(self.workdir.path())
            .env("KEY", &self.key)
            .env("PATH", &self.path)
            .envs(vars.iter().copied())
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(std::time::Duration::from_secs(120), output)
            .await
            .unwrap_or_else(|_| panic!("did not finish in 2 minutes:\n{script}"))
            .expect("bash runs")
    }
}

/// Runs every ```sh block of docs/API.md, in order, as a user would on a freshly started
/// `deploy/local/stack`: after the same sample data, loaded the same way (so the ids the guide
/// shows are the ones handed out here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_guide_examples_run_against_the_services() {
    let app = spawn_app().await;
    let shell = ExampleShell::new(&app);
    let sample: Vec<serde_json::Value> =
        serde_json::from_str(&read("deploy/local/sample-prospects.json"))
            .expect("the sample data is a JSON array");
    // What deploy/local/stack does for each sample record.
    let load = r#"grpcurl -plaintext -max-time 20 -H "authorization: Bearer $KEY" -d "$RECORD" \
        localhost:50051 lma.v1.IngestService/UpsertProspect"#;
    for record in &sample {
        let output = shell.run(load, &[("RECORD", &record.to_string())]).await;
        assert!(
            output.status.success(),
            "loading {record}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let last = sample
        .last()
        .and_then(|record| record["prospect"]["externalId"].as_str())
        .expect("sample records have an externalId");
    app.wait_until_visible(ProspectFilter::default(), last)
        .await;

    let mut ran = 0;
    for block in shell_blocks(&read("docs/API.md")) {
        if block.contains("deploy/local/stack") {
            continue; // starting the stack is what this test replaces
        }
        let output = shell.run(&block, &[]).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // WatchStatus streams until the deadline the example sets.
        let expected = if block.contains("RefreshService/WatchStatus") {
            GRPCURL_DEADLINE_EXCEEDED
        } else {
            0
        };
        assert_eq!(
            output.status.code(),
            Some(expected),
            "example failed:\n{block}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        let wrote_a_file = block.contains("> ");
        assert!(
            wrote_a_file || stdout.contains('{') || stdout.contains("lma.v1"),
            "example printed no answer:\n{block}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        ran += 1;
    }
    assert!(ran >= 15, "only {ran} examples found in docs/API.md");
    app.stop().await;
}

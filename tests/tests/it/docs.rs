//! Keeps the documentation honest: the configuration table in docs/OPERATIONS.md against the
//! binaries' own flag definitions, the OpenTelemetry variables against svc-core's source, and
//! docs/API.md against the RPCs of the compiled contract. A renamed flag, a changed default or a
//! new RPC fails here until the documents say so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
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
    let telemetry = read("svc-core/src/telemetry.rs");
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
            "{variable} (svc-core/src/telemetry.rs) is not documented in docs/OPERATIONS.md"
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

/// The text of every ```sh block of a Markdown document.
fn shell_blocks(document: &str) -> String {
    let mut blocks = String::new();
    let mut inside = false;
    for line in document.lines() {
        if inside {
            if line.trim_start().starts_with("```") {
                inside = false;
            } else {
                blocks.push_str(line);
                blocks.push('\n');
            }
        } else if line.trim_start() == "```sh" {
            inside = true;
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
    let examples = shell_blocks(&api);
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

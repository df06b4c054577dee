//! lmactl's operator commands (`status`, `status --watch`, `refresh`, `completions`, `man`) and
//! its exit codes, as a person runs them: the real lmactl binary as a child process (stdout a
//! pipe, not a terminal) against the real services.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use clap::CommandFactory as _;
use lma_tests::{TestApp, fixtures, spawn_app};
use lmactl::failure::Exit;
use svc_core::Scope;
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// How long one lmactl run may take before the test gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// What one lmactl process did.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// Panics unless lmactl exited with `code`.
    fn expect_code(self, code: u8) -> Self {
        assert_eq!(
            self.code,
            i32::from(code),
            "lmactl exited with {} instead of {code}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    fn ok(self) -> Self {
        self.expect_code(0)
    }
}

/// The lmactl binary with `args`, reaching the app's services as the environment would tell it
/// (see [`environment`]).
async fn command(app: &TestApp, key: &str, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(super::lmactl_path().await);
    command.args(args);
    environment(&mut command, app, key);
    command
}

/// `LMA_REFRESH_URL`, `LMA_INGEST_URL` and `LMA_API_KEY` as a person's shell would set them.
fn environment(command: &mut tokio::process::Command, app: &TestApp, key: &str) {
    let refresh_url = format!("http://{}", app.refresh.addr);
    let ingest_url = format!("http://{}", app.ingest.addr);
    super::shell_environment(
        command,
        &[
            ("LMA_REFRESH_URL", &refresh_url),
            ("LMA_INGEST_URL", &ingest_url),
            ("LMA_API_KEY", key),
        ],
    );
}

async fn lmactl_as(app: &TestApp, key: &str, args: &[&str]) -> Ran {
    let child = command(app, key, args)
        .await
        .spawn()
        .expect("lmactl starts");
    let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("lmactl {args:?} did not finish in {RUN_TIMEOUT:?}"))
        .expect("lmactl runs");
    Ran {
        code: output.status.code().expect("lmactl exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs lmactl as the test tenant (a key with every scope).
async fn lmactl(app: &TestApp, args: &[&str]) -> Ran {
    lmactl_as(app, &app.tenant.api_key, args).await
}

/// `lmactl status --output json`, parsed.
async fn status_json(app: &TestApp) -> serde_json::Value {
    let ran = lmactl(app, &["status", "--output", "json"]).await.ok();
    serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|error| panic!("status is not JSON ({error}):\n{}", ran.stdout))
}

/// The read models of a status document by table name.
fn models(status: &serde_json::Value) -> Vec<(String, &serde_json::Value)> {
    status["read_models"]
        .as_array()
        .unwrap_or_else(|| panic!("no read_models array: {status}"))
        .iter()
        .map(|model| {
            let table = model["table_name"]
                .as_str()
                .unwrap_or_else(|| panic!("no table_name: {model}"));
            (table.to_owned(), model)
        })
        .collect()
}

/// Every read model refresh-svc keeps, by table.
fn read_model_tables() -> BTreeSet<String> {
    refresh_svc::read_model::READ_MODELS
        .iter()
        .map(|model| model.table.to_owned())
        .collect()
}

/// Rows of the test tenant in `prospect_search_view`, read directly.
async fn searchable_rows(app: &TestApp) -> i64 {
    app.db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM prospect_search_view WHERE organization_id = $1",
            &[&app.tenant.organization_id],
        )
        .await
        .expect("counting prospect_search_view")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_every_read_model_shows_a_held_back_write_and_refresh_wait_applies_it() {
    let app = spawn_app().await;
    let status = status_json(&app).await;
    let listed: BTreeSet<String> = models(&status).into_iter().map(|(t, _)| t).collect();
    assert_eq!(listed, read_model_tables(), "one entry per read model");
    for (table, model) in models(&status) {
        assert_eq!(model["backlog"], 0, "{table}: {model}");
        assert_eq!(model["row_count"], 0, "{table}: {model}");
        assert!(model["watermark"].is_string(), "{table}: {model}");
        assert!(model["lag"].is_number(), "{table}: {model}");
    }
    assert!(status["replica"].is_string(), "{status}");

    // The default table on a pipe: a header and a tab-separated row per read model on stdout,
    // the service's line on stderr.
    let ran = lmactl(&app, &["status"]).await.ok();
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 1 + read_model_tables().len(), "{}", ran.stdout);
    let header: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(header.first(), Some(&"read_model"), "{}", lines[0]);
    assert!(header.contains(&"backlog") && header.contains(&"last_error"));
    assert!(
        lines[1..]
            .iter()
            .all(|row| row.split('\t').count() == header.len()),
        "{}",
        ran.stdout
    );
    assert!(ran.stderr.starts_with("leader "), "{}", ran.stderr);

    // Hold the apply lock: the write waits in the change log.
    let mut locker = app.db.connect().await;
    let held = locker.transaction().await.expect("begin");
    held.batch_execute("LOCK TABLE refresh_apply_lock IN EXCLUSIVE MODE")
        .await
        .expect("holding the apply lock");
    app.upsert_prospect(fixtures::jane_doe()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let status = status_json(&app).await;
    for (table, model) in models(&status) {
        assert!(
            model["backlog"].as_i64().is_some_and(|backlog| backlog > 0),
            "{table}: {model}"
        );
        assert!(
            model["lag"].as_f64().is_some_and(|lag| lag > 0.0),
            "{table}: {model}"
        );
    }

    // A wait that cannot end while the lock is held runs out, with its own exit code.
    let ran = lmactl(&app, &["refresh", "--wait", "--timeout-secs", "1"])
        .await
        .expect_code(Exit::Timeout.code());
    assert!(
        ran.stderr.contains("not done within 1 s") && ran.stderr.contains("lmactl status"),
        "{}",
        ran.stderr
    );
    assert_eq!(searchable_rows(&app).await, 0, "still held back");

    // A wait that began while the write was held back returns only once it is applied
    // (by this refresh or by the leader's own drain, whichever takes the lock first).
    let child = command(
        &app,
        &app.tenant.api_key,
        &["refresh", "--wait", "--output", "jsonl"],
    )
    .await
    .spawn()
    .expect("lmactl starts");
    let mut waiting = std::pin::pin!(tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output()));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
        "refresh --wait returned while the apply lock was held"
    );
    held.rollback().await.expect("releasing the apply lock");
    let output = waiting
        .await
        .expect("refresh --wait returned once the lock was released")
        .expect("lmactl runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(
        searchable_rows(&app).await,
        1,
        "applied when --wait returned"
    );
    for line in stdout.lines() {
        let result: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(result["mode"], "incremental", "{result}");
        assert_eq!(result["error"], "", "{result}");
    }
    let status = status_json(&app).await;
    for (table, model) in models(&status) {
        assert_eq!(model["backlog"], 0, "{table}: {model}");
        assert!(
            model["row_count"].as_i64().is_some_and(|rows| rows >= 1),
            "{table}: {model}"
        );
    }

    // Without --wait it is only queued; a full rebuild of one model, waited for, names it.
    let ran = lmactl(&app, &["refresh"]).await.ok();
    assert_eq!(
        ran.stdout.trim(),
        "queued incremental refresh of every read model"
    );
    let ran = lmactl(
        &app,
        &[
            "refresh",
            "--full",
            "--view",
            "prospect_search_view",
            "--wait",
            "--output",
            "csv",
        ],
    )
    .await
    .ok();
    let mut reader = csv::Reader::from_reader(ran.stdout.as_bytes());
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("CSV rows");
    assert_eq!(rows.len(), 1, "{}", ran.stdout);
    assert_eq!(&rows[0][0], "prospect-search");
    assert_eq!(&rows[0][1], "full");
    assert_eq!(searchable_rows(&app).await, 1, "the rebuild kept the row");
}

/// Lines of `lmactl status --watch` (with `extra` flags) until `wanted` came, within a bound;
/// the process is killed then, as Ctrl-C or a closed pipe would end it.
async fn watched_lines(app: &TestApp, extra: &[&str], wanted: usize) -> Vec<String> {
    let mut args = vec!["status", "--watch", "--interval-ms", "200"];
    args.extend_from_slice(extra);
    let mut child = command(app, &app.tenant.api_key, &args)
        .await
        .spawn()
        .expect("lmactl starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut reader = BufReader::new(stdout).lines();
    let mut lines = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while lines.len() < wanted {
            match reader.next_line().await.expect("reading lmactl's stdout") {
                Some(line) => lines.push(line),
                None => break,
            }
        }
    })
    .await;
    child.kill().await.expect("stopping lmactl");
    assert!(
        read.is_ok() && lines.len() == wanted,
        "{} of {wanted} updates within 30 s: {lines:?}",
        lines.len()
    );
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_on_a_pipe_prints_each_update() {
    let app = spawn_app().await;
    // A change held back in the log: its lag grows, so every interval brings an update.
    let mut locker = app.db.connect().await;
    let held = locker.transaction().await.expect("begin");
    held.batch_execute("LOCK TABLE refresh_apply_lock IN EXCLUSIVE MODE")
        .await
        .expect("holding the apply lock");
    app.upsert_prospect(fixtures::jane_doe()).await;

    let lines = watched_lines(&app, &[], 3).await;
    for line in &lines {
        assert!(
            !line.contains('\x1b'),
            "no terminal codes on a pipe: {line:?}"
        );
        assert!(
            line.contains(" backlog=") && !line.contains(" backlog=0 "),
            "the held-back write is pending: {line}"
        );
        for name in ["company-prospect", "company-summary", "prospect-search"] {
            assert!(line.contains(&format!("| {name}: ")), "{line}");
        }
    }
    let distinct: BTreeSet<&String> = lines.iter().collect();
    assert_eq!(
        distinct.len(),
        lines.len(),
        "each update differs: {lines:?}"
    );

    let lines = watched_lines(&app, &["--output", "jsonl"], 3).await;
    let lags: Vec<f64> = lines
        .iter()
        .map(|line| {
            let status: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"));
            assert_eq!(models(&status).len(), read_model_tables().len(), "{line}");
            status["read_models"][0]["lag"]
                .as_f64()
                .unwrap_or_else(|| panic!("no lag: {line}"))
        })
        .collect();
    assert!(
        lags.windows(2).all(|pair| pair[1] > pair[0]),
        "the held-back change ages from update to update: {lags:?}"
    );

    // A reader that goes away (`| head -1`) ends the watch quietly, as a success.
    let mut child = command(
        &app,
        &app.tenant.api_key,
        &["status", "--watch", "--interval-ms", "200"],
    )
    .await
    .spawn()
    .expect("lmactl starts");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let first = tokio::time::timeout(RUN_TIMEOUT, reader.next_line())
        .await
        .expect("a first update")
        .expect("reading lmactl's stdout");
    assert!(first.is_some());
    drop(reader);
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("lmactl ends once nobody reads its updates")
        .expect("lmactl runs");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    held.rollback().await.expect("releasing the apply lock");
}

/// Cursor up one row and clear it: what a redraw erases the previous display with.
const UP_AND_CLEAR: &str = "\x1b[1A\x1b[2K";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_on_a_terminal_redraws_in_place_counting_wrapped_rows() {
    let app = spawn_app().await;
    let mut locker = app.db.connect().await;
    let held = locker.transaction().await.expect("begin");
    held.batch_execute("LOCK TABLE refresh_apply_lock IN EXCLUSIVE MODE")
        .await
        .expect("holding the apply lock");
    app.upsert_prospect(fixtures::jane_doe()).await;

    // util-linux `script` runs lmactl on a pseudo-terminal, 100 columns wide: narrower than
    // the table, so its lines wrap.
    const COLUMNS: usize = 100;
    let inner = format!(
        "stty cols {COLUMNS} rows 60 && exec {} status --watch --interval-ms 200",
        super::lmactl_path().await.display()
    );
    let mut script = tokio::process::Command::new("script");
    script.args(["-qfec", &inner, "/dev/null"]);
    environment(&mut script, &app, &app.tenant.api_key);
    let mut child = script.spawn().expect("script starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        use tokio::io::AsyncReadExt as _;
        let mut buffer = [0u8; 4096];
        // Three displays: the first, and two redraws after it.
        while String::from_utf8_lossy(&seen)
            .split(UP_AND_CLEAR)
            .filter(|piece| !piece.is_empty())
            .count()
            < 3
        {
            let read = stdout
                .read(&mut buffer)
                .await
                .expect("reading the terminal");
            if read == 0 {
                break;
            }
            seen.extend_from_slice(&buffer[..read]);
        }
    })
    .await;
    child.kill().await.expect("stopping script");
    held.rollback().await.expect("releasing the apply lock");
    // The terminal turns each newline into CR LF.
    let screen = String::from_utf8_lossy(&seen).replace('\r', "");
    assert!(read.is_ok(), "three displays within 30 s:\n{screen:?}");

    let first = screen.split(UP_AND_CLEAR).next().expect("a first display");
    assert!(first.starts_with("leader "), "{first:?}");
    assert!(
        first.contains("READ_MODEL") && first.contains("prospect-search"),
        "{first:?}"
    );
    let rows: usize = first
        .lines()
        .map(|line| line.chars().count().div_ceil(COLUMNS).max(1))
        .sum();
    assert!(
        rows > first.lines().count(),
        "the table is wider than the terminal: {first:?}"
    );
    let erased = screen.as_bytes()[first.len()..]
        .chunks(UP_AND_CLEAR.len())
        .take_while(|chunk| *chunk == UP_AND_CLEAR.as_bytes())
        .count();
    assert_eq!(
        erased, rows,
        "the redraw erases exactly the rows the first display took"
    );
}

/// Names of the subcommands of `command` (its man pages' names: `lmactl-suppress-add`), all
/// the way down.
fn page_names(command: &clap::Command, prefix: &str, names: &mut BTreeSet<String>) {
    let name = format!("{prefix}{}", command.get_name());
    for subcommand in command.get_subcommands() {
        page_names(subcommand, &format!("{name}-"), names);
    }
    names.insert(name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_man_pages_cover_every_subcommand() {
    let app = spawn_app().await;
    let cli = lmactl::Cli::command();
    let subcommands: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    assert!(subcommands.contains(&"status") && subcommands.contains(&"completions"));
    let shells: Vec<String> = cli
        .find_subcommand("completions")
        .and_then(|c| c.get_arguments().find(|a| a.get_id() == "shell"))
        .expect("completions SHELL")
        .get_possible_values()
        .iter()
        .map(|value| value.get_name().to_owned())
        .collect();
    assert_eq!(shells, ["bash", "elvish", "fish", "powershell", "zsh"]);
    for shell in &shells {
        let ran = lmactl(&app, &["completions", shell]).await.ok();
        for subcommand in &subcommands {
            assert!(
                ran.stdout.contains(subcommand),
                "{shell} completions do not mention {subcommand}"
            );
        }
    }

    let dir = tempfile::tempdir().expect("a temporary directory");
    let out_dir = dir.path().to_str().expect("UTF-8 path");
    let ran = lmactl(&app, &["man", "--out-dir", out_dir]).await.ok();
    let mut expected = BTreeSet::new();
    page_names(&cli, "", &mut expected);
    let written: BTreeSet<String> = ran
        .stdout
        .lines()
        .map(|path| {
            Path::new(path)
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_else(|| panic!("not a page: {path}"))
        })
        .collect();
    assert_eq!(written, expected, "one page per subcommand");
    for name in &expected {
        let page = std::fs::read_to_string(dir.path().join(format!("{name}.1")))
            .unwrap_or_else(|error| panic!("{name}.1: {error}"));
        assert!(page.starts_with('.'), "{name}.1 is not roff");
        assert!(
            page.lines()
                .any(|line| line.starts_with(&format!(".TH {name} 1"))),
            "{name}.1 has no title header"
        );
    }
    let main = lmactl(&app, &["man"]).await.ok();
    assert!(main.stdout.contains(".TH lmactl 1"), "{}", main.stdout);
    assert!(
        main.stdout.contains("Exit codes"),
        "the main page lists them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_failure_exits_with_its_code() {
    let app = spawn_app().await;
    let usage = Exit::Usage.code();
    let ran = lmactl(&app, &["status", "--refresh-url", "not a url"])
        .await
        .expect_code(usage);
    assert!(
        ran.stderr.contains("invalid --refresh-url"),
        "{}",
        ran.stderr
    );
    lmactl(&app, &["status", "--refresh-url", "127.0.0.1:50053"])
        .await
        .expect_code(usage);
    lmactl(&app, &["refresh", "--view", "no-such-model"])
        .await
        .expect_code(usage);
    lmactl(&app, &["refresh", "--full", "--reconcile"])
        .await
        .expect_code(usage);

    // Nothing listens on a port just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let ran = lmactl(
        &app,
        &["status", "--refresh-url", &format!("http://{closed}")],
    )
    .await
    .expect_code(Exit::Unavailable.code());
    assert!(
        ran.stderr.contains("connecting to refresh-svc"),
        "{}",
        ran.stderr
    );

    // An incremental refresh of one model: refresh-svc refuses it, naming the field.
    let ran = lmactl(&app, &["refresh", "--view", "prospect-search"])
        .await
        .expect_code(Exit::InvalidArgument.code());
    assert!(ran.stderr.contains("INVALID_ARGUMENT"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .lines()
            .any(|line| line.starts_with("  read_model: ")),
        "the field violation on its own line: {}",
        ran.stderr
    );

    let ran = lmactl(&app, &["suppress", "remove", "987654321"])
        .await
        .expect_code(Exit::NotFound.code());
    assert!(ran.stderr.contains("NOT_FOUND"), "{}", ran.stderr);

    let search_only = app.mint_key(&[Scope::SearchRead]).await;
    let ran = lmactl_as(&app, &search_only.key, &["status"])
        .await
        .expect_code(Exit::Permission.code());
    assert!(ran.stderr.contains("PERMISSION_DENIED"), "{}", ran.stderr);
    let unknown = format!("lma_{}", "0".repeat(64));
    lmactl_as(&app, &unknown, &["refresh"])
        .await
        .expect_code(Exit::Permission.code());
}

/// The rows of every exit-code table (`| exit code | meaning |`) in `document`, backquotes
/// dropped from the meanings.
fn exit_code_tables(document: &str) -> Vec<Vec<(u8, String)>> {
    let mut tables = Vec::new();
    let mut lines = document.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "| exit code | meaning |" {
            continue;
        }
        let rows = lines
            .by_ref()
            .skip(1)
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let code = cells[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("not an exit code: {line}"));
                (code, cells[2].replace('`', ""))
            })
            .collect();
        tables.push(rows);
    }
    tables
}

#[test]
fn the_exit_code_tables_of_the_docs_are_lmactls_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root");
    let expected: Vec<(u8, String)> = std::iter::once((0, "success".to_owned()))
        .chain(
            Exit::ALL
                .iter()
                .map(|(_, code, meaning)| (*code, (*meaning).to_owned())),
        )
        .collect();
    for document in ["README.md", "docs/LMACTL.md"] {
        let text = std::fs::read_to_string(root.join(document))
            .unwrap_or_else(|error| panic!("{document}: {error}"));
        let tables = exit_code_tables(&text);
        assert!(!tables.is_empty(), "{document} has no exit-code table");
        for table in tables {
            assert_eq!(table, expected, "{document} disagrees with Exit::ALL");
        }
    }
}

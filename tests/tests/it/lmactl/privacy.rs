//! lmactl's privacy commands (`suppress`, `erase`, `person export`) as a person runs them: the
//! real lmactl binary as a child process (its exit code, its stdin and stdout not terminals)
//! against the real services.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use lma_tests::{TestApp, spawn_app};
use svc_core::Scope;
use tokio::io::AsyncWriteExt as _;

/// What one lmactl process did.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// Panics unless lmactl exited with `code`.
    fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "lmactl exited with {} instead of {code}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    fn ok(self) -> Self {
        self.expect_code(0)
    }
}

/// Exit codes lmactl documents (`lmactl --help`).
const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const INVALID_ARGUMENT: i32 = 4;
const UNAVAILABLE: i32 = 5;
const PERMISSION: i32 = 6;

/// Runs the lmactl binary with `args` against `ingest_url` as `key` (through `LMA_INGEST_URL`
/// and `LMA_API_KEY`, as a person's shell would set them), `stdin` fed to it or else empty.
async fn lmactl_at(ingest_url: &str, key: &str, args: &[&str], stdin: Option<&[u8]>) -> Ran {
    let mut command =
        super::lmactl_binary(&[("LMA_INGEST_URL", ingest_url), ("LMA_API_KEY", key)]).await;
    command.args(args);
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().expect("lmactl starts");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(bytes).await.expect("writing lmactl's stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("lmactl {args:?} did not finish in 60 s"))
        .expect("lmactl runs");
    Ran {
        code: output.status.code().expect("lmactl exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs lmactl against the app's ingest-svc as the test tenant (a key with every scope).
async fn lmactl(app: &TestApp, args: &[&str]) -> Ran {
    lmactl_as(app, &app.tenant.api_key, args).await
}

async fn lmactl_as(app: &TestApp, key: &str, args: &[&str]) -> Ran {
    lmactl_at(&ingest_url(app), key, args, None).await
}

async fn lmactl_with_stdin(app: &TestApp, args: &[&str], stdin: &[u8]) -> Ran {
    lmactl_at(&ingest_url(app), &app.tenant.api_key, args, Some(stdin)).await
}

fn ingest_url(app: &TestApp) -> String {
    format!("http://{}", app.ingest.addr)
}

/// The entries `suppress list --all --output jsonl` prints, one JSON object each.
async fn listed(app: &TestApp) -> Vec<serde_json::Value> {
    let ran = lmactl(app, &["suppress", "list", "--all", "--output", "jsonl"])
        .await
        .ok();
    ran.stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
        })
        .collect()
}

/// The token an `added N token T` / `removed ID token T` line ends with.
fn token_of(line: &str) -> &str {
    line.trim()
        .rsplit_once(" token ")
        .map(|(_, token)| token)
        .filter(|token| !token.is_empty() && token.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no consistency token in {line:?}"))
}

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writing the file");
    path.to_str().expect("UTF-8 path").to_owned()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let client = app.db.connect().await;
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .get(0)
}

fn is_hash_prefix(text: &str) -> bool {
    text.len() == 12 && text.chars().all(|c| c.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppress_add_from_flags_and_a_file_lists_domains_and_only_hash_prefixes() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a temporary directory");

    let ran = lmactl(
        &app,
        &[
            "suppress",
            "add",
            "--email",
            "Ann@Acme.COM",
            "--domain",
            "rival.io",
            "--reason",
            "opted-out",
            "--reason-text",
            "asked by phone",
        ],
    )
    .await
    .ok();
    assert!(ran.stdout.starts_with("added 2 token "), "{}", ran.stdout);
    token_of(&ran.stdout);

    // Header names in any case and order; the row's own reason and policy win over the flags.
    let file = write_file(
        &dir,
        "list.csv",
        "Policy,EMAIL,Domain,Reason\n\
         ,bob@beta.io,,DO_NOT_CONTACT\n\
         refuse,,https://www.gamma.com/about,\n",
    );
    let ran = lmactl(
        &app,
        &["suppress", "add", "--file", &file, "--reason", "competitor"],
    )
    .await
    .ok();
    assert!(ran.stdout.starts_with("added 2 token "), "{}", ran.stdout);

    // CSV, parsed back with a CSV reader.
    let ran = lmactl(&app, &["suppress", "list", "--output", "csv"])
        .await
        .ok();
    assert!(
        !ran.stdout.contains('@'),
        "no address printed:\n{}",
        ran.stdout
    );
    let mut reader = csv::Reader::from_reader(ran.stdout.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "id",
            "kind",
            "domain",
            "email_hash_prefix",
            "reason",
            "reason_text",
            "policy",
            "created_at",
            "updated_at"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .map(|record| record.expect("a CSV record"))
        .collect();
    let column = |row: &csv::StringRecord, name: &str| {
        let i = header.iter().position(|h| h == name).expect("a column");
        row.get(i).expect("a value").to_owned()
    };
    // Oldest first: the flags' email, the flags' domain, then the file's rows in order.
    let shown: Vec<[String; 4]> = rows
        .iter()
        .map(|row| {
            [
                column(row, "kind"),
                column(row, "domain"),
                column(row, "reason"),
                column(row, "policy"),
            ]
        })
        .collect();
    let expected = [
        ["email", "", "opted-out", "refuse"],
        ["domain", "rival.io", "opted-out", "refuse"],
        ["email", "", "do-not-contact", "refuse"],
        ["domain", "gamma.com", "competitor", "refuse"],
    ];
    assert_eq!(shown, expected.map(|row| row.map(str::to_owned)));
    for row in &rows {
        let prefix = column(row, "email_hash_prefix");
        if column(row, "kind") == "email" {
            assert!(is_hash_prefix(&prefix), "{prefix:?}");
        } else {
            assert_eq!(prefix, "");
        }
        assert!(!column(row, "created_at").is_empty());
    }
    assert_eq!(column(&rows[0], "reason_text"), "asked by phone");
    assert_eq!(column(&rows[3], "reason_text"), "");

    // JSON lines, parsed back with serde_json: the same entries.
    let entries = listed(&app).await;
    let ids: Vec<String> = rows.iter().map(|row| column(row, "id")).collect();
    let json_ids: Vec<&str> = entries
        .iter()
        .map(|entry| entry["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(json_ids, ids);
    assert_eq!(entries[1]["domain"], "rival.io");
    assert!(is_hash_prefix(
        entries[2]["email_hash_prefix"].as_str().expect("a prefix")
    ));
    assert!(
        entries.iter().all(|entry| !entry.to_string().contains('@')),
        "{entries:?}"
    );

    // A JSON array, and a table (tab-separated when stdout is not a terminal).
    let ran = lmactl(&app, &["suppress", "list", "--output", "json"])
        .await
        .ok();
    let array: Vec<serde_json::Value> = serde_json::from_str(&ran.stdout).expect("a JSON array");
    assert_eq!(array, entries);
    let ran = lmactl(&app, &["suppress", "list"]).await.ok();
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", ran.stdout);
    assert!(lines[0].starts_with("id\tkind\tdomain\t"), "{}", lines[0]);
    assert!(lines[2].contains("\trival.io\t"), "{}", ran.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppress_add_names_a_bad_row_by_row_and_column_and_sends_nothing() {
    let app = spawn_app().await;
    // From stdin; rows 3 and 4 are bad. Nothing of the file may be sent, not even row 2.
    let file = "email,domain,reason,policy\n\
                ok@acme.io,,opted-out,refuse\n\
                ,rival.io,opted-out,sometimes\n\
                carl at acme.io,,erased,refuse\n";
    let ran = lmactl_with_stdin(&app, &["suppress", "add", "--file", "-"], file.as_bytes())
        .await
        .expect_code(INVALID_ARGUMENT);
    assert!(
        ran.stderr
            .contains("row 3, column policy: \"sometimes\" is not a policy"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("row 4, column email: is not an email address"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("nothing was sent"), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("carl"),
        "no address quoted: {}",
        ran.stderr
    );
    assert!(ran.stdout.is_empty(), "{}", ran.stdout);
    assert!(listed(&app).await.is_empty(), "the list stays empty");

    // Policy HIDE goes to the service as given, and is listed as such.
    let ran = lmactl(
        &app,
        &[
            "suppress", "add", "--domain", "acme.io", "--reason", "other", "--policy", "hide",
        ],
    )
    .await
    .ok();
    assert!(ran.stdout.starts_with("added 1 token "), "{}", ran.stdout);
    let entries = listed(&app).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["domain"], "acme.io", "{entries:?}");
    assert_eq!(entries[0]["policy"], "hide", "{entries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppress_list_pages_with_all_and_remove_takes_an_entry_out() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut file = String::from("domain\n");
    for i in 1..=25 {
        file.push_str(&format!("firm{i:02}.io\n"));
    }
    let file = write_file(&dir, "domains.csv", &file);
    let ran = lmactl(
        &app,
        &["suppress", "add", "--file", &file, "--reason", "competitor"],
    )
    .await
    .ok();
    assert!(ran.stdout.starts_with("added 25 token "), "{}", ran.stdout);

    // One page, and a note on how to get the rest.
    let ran = lmactl(
        &app,
        &["suppress", "list", "--page-size", "10", "--output", "jsonl"],
    )
    .await
    .ok();
    assert_eq!(ran.stdout.lines().count(), 10, "{}", ran.stdout);
    assert!(ran.stderr.contains("--all"), "{}", ran.stderr);

    // Every page: each entry exactly once, in order.
    let ran = lmactl(
        &app,
        &[
            "suppress",
            "list",
            "--all",
            "--page-size",
            "10",
            "--output",
            "jsonl",
        ],
    )
    .await
    .ok();
    let entries: Vec<serde_json::Value> = ran
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let domains: Vec<&str> = entries
        .iter()
        .map(|entry| entry["domain"].as_str().expect("a domain"))
        .collect();
    let expected: Vec<String> = (1..=25).map(|i| format!("firm{i:02}.io")).collect();
    assert_eq!(domains, expected);
    let ids: BTreeSet<&str> = entries
        .iter()
        .map(|entry| entry["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids.len(), 25, "no entry twice");

    let first = entries[0]["id"].as_str().expect("an id");
    let ran = lmactl(&app, &["suppress", "remove", first]).await.ok();
    assert!(
        ran.stdout.starts_with(&format!("removed {first} token ")),
        "{}",
        ran.stdout
    );
    token_of(&ran.stdout);
    let left = listed(&app).await;
    assert_eq!(left.len(), 24);
    assert!(left.iter().all(|entry| entry["id"] != first));

    let ran = lmactl(&app, &["suppress", "remove", first])
        .await
        .expect_code(NOT_FOUND);
    assert!(ran.stderr.contains("NOT_FOUND"), "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_after_suppress_add_refuses_the_suppressed_row() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    lmactl(
        &app,
        &[
            "suppress",
            "add",
            "--email",
            "pat@delta.io",
            "--reason",
            "opted-out",
        ],
    )
    .await
    .ok();
    let file = write_file(
        &dir,
        "leads.csv",
        "external_id,email\np1,Pat@Delta.io\np2,quinn@delta.io\n",
    );
    let ran = lmactl(&app, &["import", &file, "--quiet"]).await.ok();
    assert!(
        ran.stdout.contains("inserted 1 ") && ran.stdout.contains("rejected 1 "),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr.contains("line 2 p1 email: suppressed"),
        "the refused row is named: {}",
        ran.stderr
    );
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_commands_exit_with_the_code_of_each_failure() {
    let app = spawn_app().await;
    // A key that may write and search, but not touch privacy.
    let writer = app.mint_key(&[Scope::IngestWrite, Scope::SearchRead]).await;
    for args in [
        &["suppress", "list"][..],
        &[
            "suppress",
            "add",
            "--domain",
            "rival.io",
            "--reason",
            "competitor",
        ],
        &["suppress", "remove", "1"],
        &["person", "export", "--email", "ann@acme.io"],
        &["erase", "--email", "ann@acme.io", "--yes"],
    ] {
        let ran = lmactl_as(&app, &writer.key, args)
            .await
            .expect_code(PERMISSION);
        assert!(
            ran.stderr.starts_with("error: ") && ran.stderr.contains("PERMISSION_DENIED"),
            "{args:?}: {}",
            ran.stderr
        );
    }
    let revoked = app.mint_key(&[Scope::PrivacyAdmin]).await;
    app.revoke_key(revoked.api_key_id).await;
    let ran = lmactl_as(&app, &revoked.key, &["suppress", "list"])
        .await
        .expect_code(PERMISSION);
    assert!(ran.stderr.contains("UNAUTHENTICATED"), "{}", ran.stderr);

    // A key with only privacy.admin is enough.
    let privacy = app.mint_key(&[Scope::PrivacyAdmin]).await;
    lmactl_as(&app, &privacy.key, &["suppress", "list"])
        .await
        .ok();

    // Bad ids are the service's INVALID_ARGUMENT, named by field.
    let ran = lmactl(&app, &["suppress", "remove", "abc"])
        .await
        .expect_code(INVALID_ARGUMENT);
    assert!(
        ran.stderr.contains("INVALID_ARGUMENT") && ran.stderr.contains("\n  id: "),
        "{}",
        ran.stderr
    );

    // Nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let url = format!("http://{}", closed.local_addr().expect("an address"));
    drop(closed);
    lmactl_at(&url, &app.tenant.api_key, &["suppress", "list"], None)
        .await
        .expect_code(UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_without_yes_refuses_when_stdin_is_not_a_terminal() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = write_file(&dir, "one.csv", "external_id,email\ne1,eve@epsilon.io\n");
    lmactl(&app, &["import", &file, "--quiet"]).await.ok();

    let ran = lmactl(&app, &["erase", "--email", "eve@epsilon.io"])
        .await
        .expect_code(USAGE);
    assert!(ran.stderr.contains("--yes"), "{}", ran.stderr);
    assert!(ran.stderr.contains("nothing was erased"), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("eve@"),
        "no address printed: {}",
        ran.stderr
    );
    assert!(ran.stdout.is_empty());
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 1);
    assert!(listed(&app).await.is_empty());
}

/// Depends on ExportPersonData and ErasePerson in ingest-svc (issue 19): asserts what the
/// contract (proto/lma/v1/privacy.proto) promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_export_shows_an_imported_person_and_after_erase_only_the_suppression() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = write_file(
        &dir,
        "people.csv",
        "external_id,email,first_name,last_name\n\
         a1,ann@acme.io,Ann,Archer\n\
         b1,bob@acme.io,Bob,Baker\n",
    );
    lmactl(&app, &["import", &file, "--quiet"]).await.ok();

    let ran = lmactl(&app, &["person", "export", "--email", "ann@acme.io"])
        .await
        .ok();
    let export: serde_json::Value = serde_json::from_str(&ran.stdout).expect("one JSON document");
    let prospects = export["prospects"].as_array().expect("prospects");
    assert_eq!(prospects.len(), 1, "{export}");
    assert_eq!(prospects[0]["external_id"], "a1");
    assert_eq!(prospects[0]["email"], "ann@acme.io");
    assert_eq!(prospects[0]["first_name"], "Ann");
    assert_eq!(prospects[0]["company"]["domain"], "acme.io");
    assert_eq!(export["suppressions"], serde_json::json!([]));
    let ann = prospects[0]["id"].as_str().expect("an id").to_owned();
    let ran = lmactl(
        &app,
        &[
            "person",
            "export",
            "--email",
            "ann@acme.io",
            "--output",
            "jsonl",
        ],
    )
    .await
    .ok();
    assert_eq!(ran.stdout.lines().count(), 1);
    let line: serde_json::Value = serde_json::from_str(&ran.stdout).expect("one JSON line");
    assert_eq!(line, export);

    // Erased by address: the prospect's id, no legacy rows, an ERASED entry and a token.
    let ran = lmactl(&app, &["erase", "--email", "ann@acme.io", "--yes"])
        .await
        .ok();
    let words: Vec<&str> = ran.stdout.split_whitespace().collect();
    assert_eq!(words.len(), 9, "{}", ran.stdout);
    assert_eq!(
        [words[0], words[1], words[3], words[5], words[7]],
        [
            "erased",
            "prospects",
            "legacy_customers",
            "suppression",
            "token"
        ],
        "{}",
        ran.stdout
    );
    assert_eq!(words[2], ann, "{}", ran.stdout);
    assert_eq!(words[4], "0");
    let suppression_id = words[6].to_owned();
    token_of(&ran.stdout);

    // What is left of the person: the entry that keeps the address out, nothing else.
    let ran = lmactl(&app, &["person", "export", "--email", "ann@acme.io"])
        .await
        .ok();
    let export: serde_json::Value = serde_json::from_str(&ran.stdout).expect("one JSON document");
    assert_eq!(export["prospects"], serde_json::json!([]), "{export}");
    assert_eq!(export["legacy_customers"], serde_json::json!([]));
    let suppressions = export["suppressions"].as_array().expect("suppressions");
    assert_eq!(suppressions.len(), 1, "{export}");
    assert_eq!(suppressions[0]["id"], suppression_id.as_str());
    assert_eq!(suppressions[0]["kind"], "email");
    assert_eq!(suppressions[0]["reason"], "erased");
    assert_eq!(suppressions[0]["policy"], "refuse");
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 1);

    // Erased by prospect id, found through its export.
    let ran = lmactl(&app, &["person", "export", "--email", "bob@acme.io"])
        .await
        .ok();
    let export: serde_json::Value = serde_json::from_str(&ran.stdout).expect("one JSON document");
    let bob = export["prospects"][0]["id"]
        .as_str()
        .expect("bob's id")
        .to_owned();
    let ran = lmactl(&app, &["erase", "--prospect-id", &bob, "--yes"])
        .await
        .ok();
    assert!(
        ran.stdout.starts_with(&format!("erased prospects {bob} ")),
        "{}",
        ran.stdout
    );
    assert_eq!(count(&app, "SELECT count(*) FROM prospect").await, 0);
    let reasons: Vec<String> = listed(&app)
        .await
        .iter()
        .map(|entry| entry["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(reasons, ["erased", "erased"]);

    // The erased address is refused by the next import.
    let ran = lmactl(&app, &["import", &file, "--quiet"]).await.ok();
    assert!(ran.stdout.contains("rejected 2 "), "{}", ran.stdout);
    assert!(ran.stderr.contains("suppressed (erased)"), "{}", ran.stderr);

    // Nothing held of someone never imported.
    let ran = lmactl(&app, &["person", "export", "--email", "nobody@acme.io"])
        .await
        .expect_code(NOT_FOUND);
    assert!(ran.stderr.contains("NOT_FOUND"), "{}", ran.stderr);
}

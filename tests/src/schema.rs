//! The committed schema snapshot, `migrations/schema.sql`: what `pg_dump --schema-only` prints
//! for a freshly migrated database, so that a review sees the whole schema a migration leaves
//! behind, not only the statements that changed it.
//!
//! The dump is normalized to depend on the migrations alone: without refinery's bookkeeping
//! table, without pg_dump's version lines and `\restrict` keys (random in every run), and with
//! the role that ran the migrations written as [`MIGRATOR`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use crate::TestDatabase;
use crate::postgres::find_client_program;

/// The snapshot, relative to the repository root.
pub const SNAPSHOT: &str = "migrations/schema.sql";

/// The command that rewrites the snapshot from the migrations (it runs the snapshot test with
/// [`WRITE_VARIABLE`] set).
pub const REGENERATE_COMMAND: &str = "bash migrations/snapshot";

/// Set to 1, the snapshot test writes the snapshot instead of comparing with it.
pub const WRITE_VARIABLE: &str = "LMA_WRITE_SCHEMA_SNAPSHOT";

/// Stands for the role that ran the migrations (it owns every object not handed to a service
/// role): the test harness migrates as its superuser, whose name depends on the server.
pub const MIGRATOR: &str = "<migrator>";

/// refinery's own table, created and filled by the migration runner rather than by a migration.
const BOOKKEEPING_TABLE: &str = "public.refinery_schema_history";

/// The snapshot's first lines, ahead of pg_dump's output.
fn header() -> String {
    format!(
        "-- The schema the migrations in this directory create, as pg_dump --schema-only prints it.\n\
         -- Generated: do not edit. Regenerate with `{REGENERATE_COMMAND}` after adding a migration.\n\
         -- {MIGRATOR} stands for the role that ran the migrations.\n"
    )
}

/// Where the snapshot lives in this checkout.
pub fn snapshot_path() -> PathBuf {
    let tests_crate = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests_crate.parent().unwrap_or(tests_crate).join(SNAPSHOT)
}

/// Whether the caller asked for the snapshot to be written ([`WRITE_VARIABLE`]=1).
pub fn write_requested() -> bool {
    std::env::var(WRITE_VARIABLE).is_ok_and(|value| value.trim() == "1")
}

/// The normalized schema dump of `db`, as the superuser that migrated it.
pub async fn dump(db: &TestDatabase) -> anyhow::Result<String> {
    let client = db.connect().await;
    let row = client
        .query_one("SELECT current_user::text, quote_ident(current_user)", &[])
        .await
        .context("asking who migrated the database")?;
    let migrator: String = row.try_get(0)?;
    let migrator_ident: String = row.try_get(1)?;
    drop(client);

    let pg_dump = pg_dump()?;
    let mut command = Command::new(&pg_dump);
    command
        .arg("--schema-only")
        .arg(format!("--exclude-table={BOOKKEEPING_TABLE}"))
        .arg("--no-password")
        .arg("--dbname")
        .arg(db.url())
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .context("the pg_dump task failed")?
        .with_context(|| format!("running {}", pg_dump.display()))?;
    if !output.status.success() {
        // The connection string is not shown: it may hold a password.
        bail!(
            "pg_dump of {} exited with {}:\n{}",
            db.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let raw = String::from_utf8(output.stdout).context("pg_dump printed something not UTF-8")?;
    Ok(normalize(&raw, &migrator, &migrator_ident))
}

/// pg_dump, found like the harness's other PostgreSQL programs.
pub fn pg_dump() -> anyhow::Result<PathBuf> {
    find_client_program("pg_dump").context(
        "pg_dump not found (LMA_PG_BINDIR, pg_config --bindir, /usr/lib/postgresql/*/bin, PATH): \
         install PostgreSQL 15 (apt-get install postgresql-15)",
    )
}

/// `pg_dump --version`, for messages: a pg_dump of another major version prints another dump.
pub fn pg_dump_version() -> String {
    pg_dump()
        .ok()
        .and_then(|program| Command::new(program).arg("--version").output().ok())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "pg_dump version unknown".to_owned())
}

/// pg_dump's output with what varies between runs and servers taken out: the version lines,
/// the `\restrict`/`\unrestrict` lines (a random key each run, printed only by recent minor
/// versions) with the blank line after each, and the migrating role's name (`migrator`, spelt
/// `migrator_ident` where pg_dump quotes identifiers) in ownership.
pub fn normalize(raw: &str, migrator: &str, migrator_ident: &str) -> String {
    let owner_comment = format!("; Owner: {migrator}");
    let owner_statement = format!(" OWNER TO {migrator_ident};");
    let mut out = header();
    let mut skip_blank = false;
    for line in raw.lines() {
        if skip_blank && line.is_empty() {
            skip_blank = false;
            continue;
        }
        skip_blank = false;
        if line.starts_with("\\restrict ")
            || line.starts_with("\\unrestrict ")
            || line.starts_with("-- Dumped by pg_dump version ")
        {
            skip_blank = true;
            continue;
        }
        if line.starts_with("-- Dumped from database version ") {
            continue;
        }
        if let Some(head) = line.strip_suffix(&owner_comment) {
            out.push_str(head);
            out.push_str("; Owner: ");
            out.push_str(MIGRATOR);
        } else if let Some(head) = line.strip_suffix(&owner_statement) {
            out.push_str(head);
            out.push_str(" OWNER TO ");
            out.push_str(MIGRATOR);
            out.push(';');
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// How `actual` differs from `expected`: a unified diff (`diff -u`) when diff is at hand, else
/// the first line that differs.
pub fn describe_difference(expected: &str, actual: &str) -> String {
    if let Some(diff) = unified_diff(expected, actual) {
        return diff;
    }
    let mut expected_lines = expected.lines();
    let mut actual_lines = actual.lines();
    let mut number = 1;
    loop {
        match (expected_lines.next(), actual_lines.next()) {
            (Some(e), Some(a)) if e == a => number += 1,
            (e, a) => {
                return format!(
                    "first difference at line {number}:\n- {}\n+ {}",
                    e.unwrap_or("(end of file)"),
                    a.unwrap_or("(end of file)")
                );
            }
        }
    }
}

fn unified_diff(expected: &str, actual: &str) -> Option<String> {
    let dir = tempfile::tempdir().ok()?;
    let committed = dir.path().join("committed-schema.sql");
    let migrated = dir.path().join("migrated-schema.sql");
    std::fs::write(&committed, expected).ok()?;
    std::fs::write(&migrated, actual).ok()?;
    let output = Command::new("diff")
        .arg("-u")
        .arg(format!("--label={SNAPSHOT} (committed)"))
        .arg("--label=the migrated database")
        .arg(&committed)
        .arg(&migrated)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    // diff exits with 1 when the files differ, 2 on trouble.
    (output.status.code() == Some(1)).then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "\
--
-- PostgreSQL database dump
--

\\restrict AbC123

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;

--
-- Name: organization; Type: TABLE; Schema: public; Owner: admin
--

CREATE TABLE public.organization (
    id bigint NOT NULL
);


ALTER TABLE public.organization OWNER TO admin;
ALTER TABLE public.company_prospect_view OWNER TO lma_refresh;

--
-- PostgreSQL database dump complete
--

\\unrestrict AbC123

";

    #[test]
    fn normalizing_removes_what_varies_between_runs() {
        let normalized = normalize(RAW, "admin", "admin");
        let expected = header()
            + "\
--
-- PostgreSQL database dump
--

SET statement_timeout = 0;

--
-- Name: organization; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.organization (
    id bigint NOT NULL
);


ALTER TABLE public.organization OWNER TO <migrator>;
ALTER TABLE public.company_prospect_view OWNER TO lma_refresh;

--
-- PostgreSQL database dump complete
--
";
        assert_eq!(normalized, expected);
    }

    #[test]
    fn a_pg_dump_without_restrict_lines_gives_the_same_snapshot() {
        let older = RAW
            .replace("\\restrict AbC123\n\n", "")
            .replace("\\unrestrict AbC123\n\n", "");
        assert_eq!(
            normalize(&older, "admin", "admin"),
            normalize(RAW, "admin", "admin")
        );
    }

    #[test]
    fn a_quoted_migrator_is_recognized() {
        let raw = "ALTER TABLE public.organization OWNER TO \"Admin\";\n";
        assert!(normalize(raw, "Admin", "\"Admin\"").ends_with("OWNER TO <migrator>;\n"));
    }

    #[test]
    fn the_difference_names_the_first_changed_line() {
        let described = describe_difference("a\nb\nc\n", "a\nx\nc\n");
        assert!(
            described.contains("-b") || described.contains("- b"),
            "{described}"
        );
        assert!(
            described.contains("+x") || described.contains("+ x"),
            "{described}"
        );
    }
}

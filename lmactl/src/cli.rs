//! The command line. Every flag also reads an `LMA_*` environment variable, like the services.

mod read;

use std::fmt;

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};
use lma_proto::v1::{ReadModel, SuppressionPolicy, SuppressionReason};
use svc_core::Scope;

use crate::failure::Exit;
use crate::output::{DocumentFormat, Format, StatusFormat};
use crate::read_models;
use crate::suppression;

pub use read::*;

/// Command-line client and admin tool of the LMA prospect services.
#[derive(Parser)]
#[command(name = "lmactl", version, propagate_version = true, after_help = Exit::help())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply pending database migrations (talks to the database directly).
    Migrate(MigrateArgs),
    /// Manage organizations (tenants) (talks to the database directly).
    Org(OrgArgs),
    /// Manage API keys (talks to the database directly).
    Key(KeyArgs),
    /// Import a CSV file of prospects through ingest-svc (ImportCsv), with a progress bar.
    Import(ImportArgs),
    /// Bring stored companies and prospects into the normalized form ingest stores now
    /// (countries, states, phones, industries); a one-off after upgrading, safe to repeat
    /// (talks to the database directly).
    Normalize(NormalizeArgs),
    /// Suppression lists: addresses and domains that ingest refuses (PrivacyService; the key
    /// needs the privacy.admin scope).
    Suppress(SuppressArgs),
    /// Erase everything held about one person and suppress the address, so that no import
    /// brings it back (ErasePerson; privacy.admin).
    Erase(EraseArgs),
    /// What is held about one person (ExportPersonData; privacy.admin).
    Person(PersonArgs),
    /// How fresh each read model is: last refresh, lag, backlog, watermark, last error
    /// (refresh-svc's GetStatus, or WatchStatus with --watch; refresh.admin).
    Status(StatusArgs),
    /// Refresh the read models now: apply the pending changes, or rebuild or reconcile
    /// (refresh-svc's RefreshNow; refresh.admin).
    Refresh(RefreshArgs),
    /// Print a shell completion script for lmactl.
    Completions(CompletionsArgs),
    /// Write lmactl's man pages (one per subcommand) into a directory, or print the main page.
    Man(ManArgs),
    /// Search prospects (SearchProspects): a page, or every page with --all.
    Search(SearchArgs),
    /// Count prospects matching a filter, broken down by facets (CountProspects).
    Count(CountArgs),
    /// Export every prospect matching a filter to a CSV or JSON-lines file (ExportProspects),
    /// streaming, with a progress bar.
    Export(ExportArgs),
    /// Companies: one by domain or id, or a search.
    Company(CompanyArgs),
}

/// How commands that call ingest-svc reach it and authenticate: `import` and the privacy
/// commands.
#[derive(Args, Clone)]
pub struct IngestConnection {
    /// ingest-svc address.
    #[arg(
        long = "ingest-url",
        env = "LMA_INGEST_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub ingest_url: String,

    /// API key of the organization: `import` needs the ingest.write scope; `suppress`, `erase`
    /// and `person` need privacy.admin.
    #[arg(long = "api-key", env = "LMA_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

// Hand-written: the key is a secret.
impl fmt::Debug for IngestConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestConnection")
            .field("ingest_url", &self.ingest_url)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

/// How `status` and `refresh` reach refresh-svc and authenticate.
#[derive(Args, Clone)]
pub struct RefreshConnection {
    /// refresh-svc address.
    #[arg(
        long = "refresh-url",
        env = "LMA_REFRESH_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub refresh_url: String,

    /// API key of the organization, with the refresh.admin scope.
    #[arg(long = "api-key", env = "LMA_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

// Hand-written: the key is a secret.
impl fmt::Debug for RefreshConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshConnection")
            .field("refresh_url", &self.refresh_url)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Keep watching: redraw in place on a terminal, otherwise print each update (one line,
    /// or one JSON document); ends on Ctrl-C or when refresh-svc ends the stream.
    #[arg(long = "watch")]
    pub watch: bool,

    /// With --watch: the least time between two updates, in milliseconds (refresh-svc sends
    /// an update only when something changed).
    #[arg(long = "interval-ms", value_name = "MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub interval_ms: u64,

    /// Output format.
    #[arg(long = "output", value_enum, default_value_t = StatusFormat::Table)]
    pub output: StatusFormat,

    #[command(flatten)]
    pub refresh: RefreshConnection,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("mode").args(["full", "reconcile"])))]
pub struct RefreshArgs {
    /// Rebuild beside the live table and swap it in (after a schema change of a read model),
    /// instead of applying the pending changes.
    #[arg(long = "full")]
    pub full: bool,

    /// Compare with the definition and repair any drift, instead of applying the pending
    /// changes.
    #[arg(long = "reconcile")]
    pub reconcile: bool,

    #[arg(long = "view", value_name = "VIEW", value_parser = read_models::parse_read_model,
          help = format!("Only this read model (with --full or --reconcile; the pending changes                           are applied to all at once): {}", read_models::read_model_names()))]
    pub view: Option<ReadModel>,

    /// Wait until the refresh is done and print what each read model's refresh did, instead
    /// of returning once it is queued.
    #[arg(long = "wait")]
    pub wait: bool,

    /// With --wait: give up waiting after this many seconds (the refresh goes on in
    /// refresh-svc) and exit with the timeout code; without it, wait as long as it takes.
    #[arg(long = "timeout-secs", value_name = "N", requires = "wait",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout_secs: Option<u64>,

    /// Output format of the results (with --wait).
    #[arg(long = "output", value_enum, default_value_t = Format::Table)]
    pub output: Format,

    #[command(flatten)]
    pub refresh: RefreshConnection,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write lmactl.1 and one page per subcommand (lmactl-status.1, lmactl-suppress-add.1, ...)
    /// into this directory, printing each file's path; without it, the main page goes to
    /// stdout.
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `lmactl import FILE`: streams the file to ingest-svc and prints the final report.
#[derive(Args)]
pub struct ImportArgs {
    /// The CSV file to import.
    pub file: std::path::PathBuf,

    #[command(flatten)]
    pub ingest: IngestConnection,

    /// Field delimiter (one character); detected from the header line when omitted.
    #[arg(long = "delimiter")]
    pub delimiter: Option<char>,

    /// Text encoding: utf8, utf16 or windows-1252; detected when omitted.
    #[arg(long = "encoding", value_parser = ["utf8", "utf16", "windows-1252"])]
    pub encoding: Option<String>,

    /// external_source of every row (default: each row's own, else the tool's name for a
    /// recognized export, else "csv:<file name>").
    #[arg(long = "external-source")]
    pub external_source: Option<String>,

    /// Validate and report without writing anything.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Where a header column goes, as HEADER=TARGET (repeatable): a field ("employees",
    /// "company.revenue"), "custom:KEY" for a custom field, or "ignore".
    #[arg(long = "map", value_name = "HEADER=TARGET", value_parser = parse_column_map)]
    pub map: Vec<(String, String)>,

    /// What becomes of columns that map to no field: kept as custom fields under their header
    /// name, ignored, or the import refused before anything is written.
    #[arg(long = "unknown-columns", default_value = "keep", value_parser = ["keep", "ignore", "refuse"])]
    pub unknown_columns: String,

    /// Write the rejected rows to this CSV file for fixing and re-import: the file's header and
    /// each rejected row's original fields, plus an `lma_errors` column with line and reasons.
    #[arg(long = "rejects")]
    pub rejects: Option<std::path::PathBuf>,

    /// Hide the progress bar (it is drawn on stderr only when that is a terminal).
    #[arg(long = "quiet")]
    pub quiet: bool,
}

impl fmt::Debug for ImportArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportArgs")
            .field("file", &self.file)
            .field("ingest", &self.ingest)
            .finish_non_exhaustive()
    }
}

#[derive(Args, Debug)]
pub struct SuppressArgs {
    #[command(subcommand)]
    pub command: SuppressCommand,
}

#[derive(Subcommand, Debug)]
pub enum SuppressCommand {
    /// Add entries, or update the reason and policy of listed ones, from flags and a CSV file.
    /// Every entry is checked before anything is sent; prints how many were added and the
    /// consistency token.
    Add(SuppressAddArgs),
    /// Remove one entry by its id (as `suppress list` shows it).
    Remove(SuppressRemoveArgs),
    /// List the organization's entries, oldest first. Email entries show only the first digits
    /// of their keyed hash: no address is stored.
    List(SuppressListArgs),
}

#[derive(Args)]
#[command(group(
    ArgGroup::new("entries").required(true).multiple(true).args(["emails", "domains", "file"])
))]
pub struct SuppressAddArgs {
    /// An email address to suppress; repeat for several. Only a keyed hash of it is stored.
    #[arg(long = "email", value_name = "ADDR")]
    pub emails: Vec<String>,

    /// A company domain (or website) to suppress; repeat for several.
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,

    /// A CSV file of entries ("-" reads stdin). Its header names the columns, in any order and
    /// case: email or domain (one per row), and optionally reason, reason_text and policy,
    /// which override the flags for their row.
    #[arg(long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    #[arg(long = "reason", value_name = "REASON", value_parser = suppression::parse_reason,
          help = format!("Why, for every entry without a reason of its own: {}", suppression::reason_names()))]
    pub reason: Option<SuppressionReason>,

    /// Free text for every entry without a reason_text of its own (at most 500 characters;
    /// never personal data).
    #[arg(long = "reason-text", value_name = "TEXT")]
    pub reason_text: Option<String>,

    #[arg(long = "policy", value_name = "POLICY", default_value = "refuse",
          value_parser = suppression::parse_policy,
          help = format!("What a match does, for every entry without a policy of its own: {} \
                          (refuse: ingest rejects the row; hide: the row is kept but searches, \
                          counts and exports leave it out)", suppression::policy_names()))]
    pub policy: SuppressionPolicy,

    #[command(flatten)]
    pub ingest: IngestConnection,
}

// Hand-written: the addresses are personal data and never reach a log.
impl fmt::Debug for SuppressAddArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SuppressAddArgs")
            .field("emails", &self.emails.len())
            .field("domains", &self.domains)
            .field("file", &self.file)
            .field("reason", &self.reason)
            .field("policy", &self.policy)
            .field("ingest", &self.ingest)
            .finish_non_exhaustive()
    }
}

#[derive(Args, Debug)]
pub struct SuppressRemoveArgs {
    /// Id of the entry.
    pub id: String,

    #[command(flatten)]
    pub ingest: IngestConnection,
}

#[derive(Args, Debug)]
pub struct SuppressListArgs {
    /// Follow the page tokens to the end of the list.
    #[arg(long = "all")]
    pub all: bool,

    /// Entries per call (the service's default when omitted, 50; at most 1,000).
    #[arg(long = "page-size", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: Option<u32>,

    /// Start after the page this token ends (as a previous list printed it).
    #[arg(long = "page-token", value_name = "TOKEN")]
    pub page_token: Option<String>,

    /// Output format.
    #[arg(long = "output", value_enum, default_value_t = Format::Table)]
    pub output: Format,

    #[command(flatten)]
    pub ingest: IngestConnection,
}

#[derive(Args)]
#[command(group(ArgGroup::new("person").required(true).args(["email", "prospect_id"])))]
pub struct EraseArgs {
    /// The person's email address: every prospect with it is erased.
    #[arg(long = "email", value_name = "ADDR")]
    pub email: Option<String>,

    /// A prospect's id: it and every other prospect with its address are erased.
    #[arg(long = "prospect-id", value_name = "ID")]
    pub prospect_id: Option<String>,

    /// Erase without asking. Required when stdin is not a terminal.
    #[arg(long = "yes")]
    pub yes: bool,

    #[command(flatten)]
    pub ingest: IngestConnection,
}

// Hand-written: the address is personal data and never reaches a log.
impl fmt::Debug for EraseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EraseArgs")
            .field("email", &self.email.as_ref().map(|_| "<redacted>"))
            .field("prospect_id", &self.prospect_id)
            .field("yes", &self.yes)
            .field("ingest", &self.ingest)
            .finish()
    }
}

#[derive(Args, Debug)]
pub struct PersonArgs {
    #[command(subcommand)]
    pub command: PersonCommand,
}

#[derive(Subcommand, Debug)]
pub enum PersonCommand {
    /// Print everything held about one person as JSON: the prospects with the address (each
    /// with its company), the legacy customer rows, and the suppression entries that match.
    Export(PersonExportArgs),
}

#[derive(Args)]
pub struct PersonExportArgs {
    /// The person's email address.
    #[arg(long = "email", value_name = "ADDR")]
    pub email: String,

    /// Output format.
    #[arg(long = "output", value_enum, default_value_t = DocumentFormat::Json)]
    pub output: DocumentFormat,

    #[command(flatten)]
    pub ingest: IngestConnection,
}

// Hand-written: the address is personal data and never reaches a log.
impl fmt::Debug for PersonExportArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonExportArgs")
            .field("email", &"<redacted>")
            .field("output", &self.output)
            .field("ingest", &self.ingest)
            .finish()
    }
}

/// How admin commands reach the database: as a role that owns the schema (the migration role),
/// not as one of the service roles, which cannot touch organizations or keys.
#[derive(Args, Clone)]
pub struct AdminDatabaseArgs {
    /// PostgreSQL connection string: a URL (postgres://user:pass@host/db) or key=value pairs.
    #[arg(
        long = "database-url",
        env = "LMA_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Timeout for connecting to the database, in milliseconds.
    #[arg(
        long = "database-connect-timeout-ms",
        env = "LMA_DATABASE_CONNECT_TIMEOUT_MS",
        default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub connect_timeout_ms: u64,
}

// Hand-written: the URL usually carries a password.
impl fmt::Debug for AdminDatabaseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminDatabaseArgs")
            .field("database_url", &"<redacted>")
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .finish()
    }
}

#[derive(Args, Debug)]
pub struct NormalizeArgs {
    #[command(flatten)]
    pub database: AdminDatabaseArgs,

    /// Rows read per statement.
    #[arg(long = "batch-size", default_value_t = 1_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub batch_size: i64,
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: AdminDatabaseArgs,
}

#[derive(Args, Debug)]
pub struct OrgArgs {
    #[command(subcommand)]
    pub command: OrgCommand,
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an organization, or find the existing one of that name; prints its id.
    Create(OrgCreateArgs),
}

#[derive(Args, Debug)]
pub struct OrgCreateArgs {
    /// Organization name, unique across the installation.
    pub name: String,
    #[command(flatten)]
    pub database: AdminDatabaseArgs,
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Mint an API key. Prints the key (shown only this once) on stdout and its id on stderr.
    Create(KeyCreateArgs),
    /// Revoke an API key by id. Services may accept it for up to their auth cache TTL.
    Revoke(KeyRevokeArgs),
}

#[derive(Args, Debug)]
pub struct KeyCreateArgs {
    /// Name of the organization the key belongs to; it must exist (see `lmactl org create`).
    #[arg(long = "org", env = "LMA_ORG")]
    pub org: String,

    /// A label for people ("ci", "crm-sync"); not secret and not unique.
    #[arg(long = "name")]
    pub name: String,

    // The help lists Scope::ALL, so a new scope shows without editing this text.
    #[arg(long = "scope", value_name = "SCOPE", required = true, value_parser = parse_scope,
          help = format!("A scope to grant; repeat for several: {}", Scope::names()))]
    pub scopes: Vec<Scope>,

    #[command(flatten)]
    pub database: AdminDatabaseArgs,
}

#[derive(Args, Debug)]
pub struct KeyRevokeArgs {
    /// Id of the key, as printed by `lmactl key create`.
    pub id: i64,
    #[command(flatten)]
    pub database: AdminDatabaseArgs,
}

fn parse_scope(value: &str) -> Result<Scope, svc_core::auth::UnknownScope> {
    value.parse()
}

/// `HEADER=TARGET`, split at the last `=` (a header may contain one; a target never does).
fn parse_column_map(text: &str) -> Result<(String, String), String> {
    match text.rsplit_once('=') {
        Some((header, target)) if !header.trim().is_empty() && !target.trim().is_empty() => {
            Ok((header.to_owned(), target.to_owned()))
        }
        _ => Err(format!("{text:?} is not HEADER=TARGET")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_create_parses_repeated_scopes() {
        let cli = Cli::try_parse_from([
            "lmactl",
            "key",
            "create",
            "--org",
            "acme",
            "--name",
            "ci",
            "--scope",
            "ingest.write",
            "--scope",
            "search.read",
            "--database-url",
            "postgres://localhost/lma",
        ])
        .expect("valid command line");
        let Command::Key(KeyArgs {
            command: KeyCommand::Create(args),
        }) = cli.command
        else {
            panic!("parsed as another command");
        };
        assert_eq!(args.scopes, vec![Scope::IngestWrite, Scope::SearchRead]);
        assert_eq!(args.org, "acme");
    }

    #[test]
    fn unknown_scopes_and_missing_scopes_are_rejected() {
        let base = [
            "lmactl",
            "key",
            "create",
            "--org",
            "acme",
            "--name",
            "ci",
            "--database-url",
            "postgres://localhost/lma",
        ];
        let mut unknown = base.to_vec();
        unknown.extend(["--scope", "admin.all"]);
        assert!(Cli::try_parse_from(unknown).is_err());
        assert!(Cli::try_parse_from(base).is_err(), "a key needs a scope");
    }

    #[test]
    fn privacy_commands_parse_and_need_what_they_act_on() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["lmactl"].iter().chain(args).chain(&["--api-key", "lma_x"]))
        };
        let cli = parse(&[
            "suppress",
            "add",
            "--file",
            "-",
            "--reason",
            "OPTED_OUT",
            "--policy",
            "hide",
        ])
        .expect("a file alone is enough");
        let Command::Suppress(SuppressArgs {
            command: SuppressCommand::Add(args),
        }) = cli.command
        else {
            panic!("parsed as another command");
        };
        assert_eq!(args.reason, Some(SuppressionReason::OptedOut));
        assert_eq!(args.policy, SuppressionPolicy::Hide);
        assert!(
            parse(&["suppress", "add", "--reason", "erased"]).is_err(),
            "no entries"
        );
        assert!(parse(&["suppress", "add", "--domain", "a.io", "--reason", "why"]).is_err());
        let cli = parse(&["suppress", "add", "--domain", "a.io"]).expect("defaults");
        let Command::Suppress(SuppressArgs {
            command: SuppressCommand::Add(args),
        }) = cli.command
        else {
            panic!("parsed as another command");
        };
        assert_eq!(args.policy, SuppressionPolicy::Refuse);
        assert!(!format!("{args:?}").contains("lma_x"));

        assert!(parse(&["erase", "--yes"]).is_err(), "erase needs a person");
        assert!(parse(&["erase", "--email", "a@b.io", "--prospect-id", "1"]).is_err());
        let cli = parse(&["erase", "--email", "ann@acme.com"]).expect("one person");
        let Command::Erase(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert!(
            !format!("{args:?}").contains("ann@"),
            "the address is not logged"
        );
        assert!(
            parse(&["person", "export"]).is_err(),
            "export needs --email"
        );
        assert!(parse(&["suppress", "list", "--output", "yaml"]).is_err());
        assert!(parse(&["suppress", "list", "--page-size", "0"]).is_err());
    }

    #[test]
    fn the_help_lists_the_exit_codes_and_the_privacy_scope() {
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains("Exit codes:") && help.contains("  6  permission"),
            "{help}"
        );
        let mut command = Cli::command();
        let key_create = command
            .find_subcommand_mut("key")
            .and_then(|key| key.find_subcommand_mut("create"))
            .expect("key create")
            .render_help()
            .to_string();
        assert!(key_create.contains("privacy.admin"), "{key_create}");
    }

    #[test]
    fn operator_commands_parse_with_their_defaults_and_constraints() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["lmactl"].iter().chain(args).chain(&["--api-key", "lma_x"]))
        };
        let cli = parse(&["status"]).expect("defaults");
        let Command::Status(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert!(!args.watch);
        assert_eq!(args.interval_ms, 1_000);
        assert_eq!(args.output, StatusFormat::Table);
        assert_eq!(args.refresh.refresh_url, "http://127.0.0.1:50053");
        assert!(
            !format!("{args:?}").contains("lma_x"),
            "the key is not logged"
        );
        assert!(parse(&["status", "--watch", "--interval-ms", "99"]).is_err());
        assert!(parse(&["status", "--output", "csv"]).is_err());

        let cli = parse(&[
            "refresh",
            "--full",
            "--view",
            "prospect_search_view",
            "--wait",
        ])
        .expect("a full refresh of one model");
        let Command::Refresh(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert!(args.full && !args.reconcile && args.wait);
        assert_eq!(args.view, Some(ReadModel::ProspectSearch));
        assert_eq!(args.timeout_secs, None, "no timeout unless asked");
        assert!(parse(&["refresh", "--full", "--reconcile"]).is_err());
        assert!(
            parse(&["refresh", "--timeout-secs", "5"]).is_err(),
            "needs --wait"
        );
        assert!(parse(&["refresh", "--view", "nope"]).is_err());

        for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
            assert!(
                Cli::try_parse_from(["lmactl", "completions", shell]).is_ok(),
                "{shell}"
            );
        }
        assert!(Cli::try_parse_from(["lmactl", "completions", "tcsh"]).is_err());
        assert!(Cli::try_parse_from(["lmactl", "man", "--out-dir", "/tmp/man"]).is_ok());
    }

    #[test]
    fn debug_output_hides_the_database_url() {
        let args = AdminDatabaseArgs {
            database_url: "postgres://admin:hunter2@db/lma".to_owned(),
            connect_timeout_ms: 5_000,
        };
        assert!(!format!("{args:?}").contains("hunter2"));
    }
}

//! `lmactl` as a library: the command-line definition and the commands, so that the
//! integration tests can drive exactly what the binary runs, with its output captured.
//!
//! Output contract: the one value a script wants (an id, a key) goes to stdout alone;
//! everything meant for people goes to stderr. A failure prints the status code, the message
//! and each field violation, and exits with a code that says what kind of failure it was
//! ([`failure::Exit`]).

pub mod admin;
pub mod cli;
mod commands;
mod db;
pub mod failure;
mod grpc;
mod json;
mod live;
mod output;
mod paging;
mod read_models;
mod summary;
mod suppression;
mod words;

use std::io::Write;

use tracing::Instrument as _;
use tracing::field::Empty;

pub use cli::Cli;
pub use commands::Output;

/// Runs one parsed command line, writing results to `stdout` and notes to `stderr` (buffers,
/// never a terminal).
pub async fn run(cli: Cli, stdout: &mut dyn Write, stderr: &mut dyn Write) -> anyhow::Result<()> {
    let out = Output {
        stdout,
        stderr,
        stdout_is_terminal: false,
    };
    run_with(cli, out).await
}

/// Runs one parsed command line inside a root span named after the command (`lmactl import`),
/// which the services' spans join.
pub async fn run_with(cli: Cli, mut out: Output<'_>) -> anyhow::Result<()> {
    let name = match &cli.command {
        cli::Command::Migrate(_) => "lmactl migrate",
        cli::Command::Org(_) => "lmactl org",
        cli::Command::Key(_) => "lmactl key",
        cli::Command::Import(_) => "lmactl import",
        cli::Command::Normalize(_) => "lmactl normalize",
        cli::Command::Suppress(_) => "lmactl suppress",
        cli::Command::Erase(_) => "lmactl erase",
        cli::Command::Person(_) => "lmactl person",
        cli::Command::Status(_) => "lmactl status",
        cli::Command::Refresh(_) => "lmactl refresh",
        cli::Command::Completions(_) => "lmactl completions",
        cli::Command::Man(_) => "lmactl man",
        cli::Command::Search(_) => "lmactl search",
        cli::Command::Count(_) => "lmactl count",
        cli::Command::Export(_) => "lmactl export",
        cli::Command::Company(_) => "lmactl company",
    };
    let span = tracing::info_span!("lmactl", otel.name = name, otel.status_code = Empty);
    let out = &mut out;
    let result = async {
        match cli.command {
            cli::Command::Migrate(args) => commands::migrate::run(args, out).await,
            cli::Command::Org(args) => commands::org::run(args, out).await,
            cli::Command::Key(args) => commands::key::run(args, out).await,
            cli::Command::Import(args) => commands::import::run(args, out).await,
            cli::Command::Normalize(args) => commands::normalize::run(args, out).await,
            cli::Command::Suppress(args) => commands::suppress::run(args, out).await,
            cli::Command::Erase(args) => commands::erase::run(args, out).await,
            cli::Command::Person(args) => commands::person::run(args, out).await,
            cli::Command::Status(args) => commands::status::run(args, out).await,
            cli::Command::Refresh(args) => commands::refresh::run(args, out).await,
            cli::Command::Completions(args) => commands::completions::completions(args, out),
            cli::Command::Man(args) => commands::completions::man(args, out),
            cli::Command::Search(args) => commands::search::run(args, out).await,
            cli::Command::Count(args) => commands::count::run(args, out).await,
            cli::Command::Export(args) => commands::export::run(args, out).await,
            cli::Command::Company(args) => commands::company::run(args, out).await,
        }
    }
    .instrument(span.clone())
    .await;
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    result
}

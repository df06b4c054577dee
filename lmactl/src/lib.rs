//! `lmactl` as a library: the command-line definition and the commands, so that the
//! integration tests can drive exactly what the binary runs, with its output captured.
//!
//! Output contract: the one value a script wants (an id, a key) goes to stdout alone;
//! everything meant for people goes to stderr.

pub mod cli;
mod commands;
mod db;

use std::io::Write;

pub use cli::Cli;

/// Runs one parsed command line, writing results to `stdout` and notes to `stderr`.
pub async fn run(cli: Cli, stdout: &mut dyn Write, stderr: &mut dyn Write) -> anyhow::Result<()> {
    let mut out = commands::Output { stdout, stderr };
    match cli.command {
        cli::Command::Migrate(args) => commands::migrate::run(args, &mut out).await,
        cli::Command::Org(args) => commands::org::run(args, &mut out).await,
        cli::Command::Key(args) => commands::key::run(args, &mut out).await,
        cli::Command::Import(args) => commands::import::run(args, &mut out).await,
    }
}

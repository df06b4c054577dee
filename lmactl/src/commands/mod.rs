//! One module per subcommand group.

pub mod company;
pub mod completions;
pub mod count;
pub mod erase;
pub mod export;
pub mod import;
pub mod key;
pub mod migrate;
pub mod normalize;
pub mod org;
pub mod person;
pub mod refresh;
pub mod search;
pub mod status;
pub mod suppress;

use std::io::Write;

/// Where a command writes: results for scripts on `stdout`, notes for people on `stderr`.
pub struct Output<'a> {
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    /// Whether `stdout` is a terminal (a table is then aligned).
    pub stdout_is_terminal: bool,
}

/// After a page of a search: how to get the next one, when there is one (on stderr, so that
/// stdout holds only rows).
fn print_next_page(next_page_token: &str, out: &mut Output<'_>) -> anyhow::Result<()> {
    if !next_page_token.is_empty() {
        writeln!(
            out.stderr,
            "more matches: --all lists them all; --page-token {next_page_token} the next page"
        )?;
    }
    Ok(())
}

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

use crate::cli::{FormulaArgs, SearchConnection};
use crate::output::{Format, RowWriter};
use crate::paging::PagedSearch;
use crate::summary::{Column, Selected};

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

/// Writes the rows of a paged search (`search`, `company search`) as `format` says, as they
/// arrive: one page, or every page with `all`; then how to get the next page.
async fn print_pages<S: PagedSearch>(
    connection: &SearchConnection,
    request: S,
    all: bool,
    columns: &'static [Column<S::Row>],
    format: Format,
    formulas: &FormulaArgs,
    out: &mut Output<'_>,
) -> anyhow::Result<()> {
    let mut client = crate::grpc::search_client(connection).await?;
    let columns = Selected::for_format(columns, format);
    let mut writer = RowWriter::new(
        &mut *out.stdout,
        format,
        columns.names(),
        out.stdout_is_terminal,
    )?
    .neutralizing_formulas(formulas.neutralize());
    let next = crate::paging::each_row(&mut client, request, all, |row| {
        writer.row(columns.values(&row))
    })
    .await?;
    writer.finish()?;
    print_next_page(&next, out)
}

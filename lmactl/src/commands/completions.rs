//! `lmactl completions SHELL` and `lmactl man`: generated from the clap definitions, so they
//! list every subcommand and flag there is.

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::Output;
use crate::cli::{Cli, CompletionsArgs, ManArgs};

/// The name the scripts complete and the pages are titled by.
const BINARY: &str = "lmactl";

pub fn completions(args: CompletionsArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    clap_complete::generate(args.shell, &mut Cli::command(), BINARY, out.stdout);
    out.stdout.flush()?;
    Ok(())
}

pub fn man(args: ManArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let Some(dir) = args.out_dir else {
        clap_mangen::Man::new(Cli::command().name(BINARY))
            .render(out.stdout)
            .context("writing the man page")?;
        out.stdout.flush()?;
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Built, so that every subcommand knows its full name ("lmactl-suppress-add"), which
    // titles its page and names its file.
    let mut command = Cli::command().name(BINARY).disable_help_subcommand(true);
    command.build();
    let mut pages = Vec::new();
    write_pages(&command, &dir, &mut pages)
        .with_context(|| format!("writing the man pages into {}", dir.display()))?;
    // The files written, one per line, for scripts that install them.
    for page in pages {
        writeln!(out.stdout, "{}", page.display())?;
    }
    out.stdout.flush()?;
    Ok(())
}

/// A page for `command` and for each of its subcommands, depth first.
fn write_pages(
    command: &clap::Command,
    dir: &std::path::Path,
    pages: &mut Vec<std::path::PathBuf>,
) -> std::io::Result<()> {
    pages.push(clap_mangen::Man::new(command.clone()).generate_to(dir)?);
    for subcommand in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_pages(subcommand, dir, pages)?;
    }
    Ok(())
}

//! One module per subcommand group.

pub mod completions;
pub mod erase;
pub mod import;
pub mod key;
pub mod migrate;
pub mod normalize;
pub mod org;
pub mod person;
pub mod refresh;
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

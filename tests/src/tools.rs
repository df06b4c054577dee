//! External tools that the test setup installs besides grpcurl (buf, a Python with gRPC), found
//! through the `LMA_*` variables `tests/run` and `.ci/run` export, and the tested code blocks of
//! the documents that use them.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

/// The repository's root directory (the parent of `tests/`).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// The tool named by the environment variable `variable`, which the script `installer`
/// (relative to the repository root) prints. `None` when it is unset outside CI: the caller
/// then skips with the message printed here. In CI (`CI=true`) a missing tool fails the test,
/// so CI never passes by skipping.
pub fn from_env(variable: &str, installer: &str) -> Option<PathBuf> {
    match std::env::var_os(variable).filter(|value| !value.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.exists(),
                "{variable}={} does not exist; run `export {variable}=$(bash {installer})`",
                path.display()
            );
            Some(path)
        }
        None if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
            "{variable} is not set, and CI must run this test: .ci/run exports it from \
             `bash {installer}`"
        ),
        None => {
            eprintln!(
                "SKIPPED: {variable} is not set; run the tests through ./tests/run, or \
                 `export {variable}=$(bash {installer})`"
            );
            None
        }
    }
}

/// The body of the fenced code block that follows the line `<!-- tested: NAME -->` in a
/// Markdown document: the code a test runs is the code the document shows, never a copy.
pub fn tested_block<'a>(document: &'a str, name: &str) -> &'a str {
    let marker = format!("<!-- tested: {name} -->\n");
    let mut found = document.match_indices(&marker);
    let (start, _) = found
        .next()
        .unwrap_or_else(|| panic!("no `{}` in the document", marker.trim_end()));
    assert!(
        found.next().is_none(),
        "`{}` marks more than one block",
        marker.trim_end()
    );
    let after = &document[start + marker.len()..];
    assert!(
        after.starts_with("```"),
        "`{}` must be followed directly by a fenced code block",
        marker.trim_end()
    );
    let body_start = after
        .find('\n')
        .map(|newline| newline + 1)
        .expect("the fence line ends");
    let body = &after[body_start..];
    let end = body
        .find("\n```")
        .unwrap_or_else(|| panic!("the block after `{}` is not closed", marker.trim_end()));
    &body[..end + 1]
}

/// What one run of a tool printed, and whether it succeeded.
#[derive(Debug)]
pub struct ToolOutput {
    pub description: String,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    /// Panics with everything the tool printed unless it exited successfully.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success,
            "{} failed:\nstdout:\n{}\nstderr:\n{}",
            self.description, self.stdout, self.stderr
        );
        self
    }
}

/// Runs `command` without stdin, killing it after `timeout`; never panics on a failed run.
pub async fn run(mut command: tokio::process::Command, timeout: Duration) -> ToolOutput {
    let description = format!("{:?}", command.as_std());
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("starting {description}: {error}"));
    let output: Output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{description} did not finish within {timeout:?}"))
        .unwrap_or_else(|error| panic!("waiting for {description}: {error}"));
    ToolOutput {
        description,
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::tested_block;

    #[test]
    fn tested_block_is_the_fenced_body_after_its_marker() {
        let document = "text\n<!-- tested: one -->\n```sh\necho 1\necho 2\n```\n\
                        <!-- tested: two -->\n```python\nprint(2)\n```\n";
        assert_eq!(tested_block(document, "one"), "echo 1\necho 2\n");
        assert_eq!(tested_block(document, "two"), "print(2)\n");
    }

    #[test]
    #[should_panic(expected = "no `<!-- tested: three -->`")]
    fn a_missing_marker_fails() {
        tested_block("```sh\necho\n```\n", "three");
    }
}

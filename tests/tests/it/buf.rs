//! The contract's checks with the real buf (`.ci/ensure-buf`, `LMA_BUF`): `buf lint` passes on
//! `proto/`, the breaking-change check passes against the recorded baseline, and it fails,
//! naming the change, when a copy of the contract deletes a field or changes a field's type.

use std::path::Path;
use std::time::Duration;

use lma_tests::tools::{self, ToolOutput};

/// Upper bound on one buf run.
const BUF_TIMEOUT: Duration = Duration::from_secs(120);

/// The recorded contract the breaking check compares with, relative to the module (`proto/`).
const BASELINE: &str = "baseline/lma.v1.binpb";

async fn buf(binary: &Path, dir: &Path, args: &[&str]) -> ToolOutput {
    let mut command = tokio::process::Command::new(binary);
    command.args(args).current_dir(dir);
    tools::run(command, BUF_TIMEOUT).await
}

/// `buf breaking . --against <baseline>` inside a module directory.
async fn breaking(binary: &Path, module: &Path) -> ToolOutput {
    buf(binary, module, &["breaking", ".", "--against", BASELINE]).await
}

/// Copies what buf reads of the module (its configuration, baseline and .proto files).
fn copy_module(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the copy's directory");
    for entry in std::fs::read_dir(from).expect("the module directory is readable") {
        let entry = entry.expect("a directory entry");
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            // The Rust crate's sources are not part of the buf module.
            if entry.file_name() != "src" {
                copy_module(&path, &target);
            }
        } else if path
            .extension()
            .is_some_and(|ext| ext == "proto" || ext == "yaml" || ext == "binpb")
        {
            std::fs::copy(&path, &target).expect("copying a module file");
        }
    }
}

/// A copy of `proto/` in a new temporary directory with `line` of `file` replaced by
/// `replacement` (an empty replacement deletes it). The line must occur exactly once, so a
/// changed contract fails here rather than testing nothing.
fn changed_copy(file: &str, line: &str, replacement: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("a temporary directory");
    copy_module(&tools::repository_root().join("proto"), copy.path());
    let path = copy.path().join(file);
    let text = std::fs::read_to_string(&path).expect("reading the copied proto");
    let wanted = format!("\n{line}\n");
    assert_eq!(
        text.matches(&wanted).count(),
        1,
        "{file} must hold the line {line:?} exactly once"
    );
    let changed = text.replacen(&wanted, &format!("\n{replacement}\n"), 1);
    std::fs::write(&path, changed).expect("writing the changed proto");
    copy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buf_lint_passes_and_the_breaking_check_catches_incompatible_changes() {
    let Some(binary) = tools::from_env("LMA_BUF", ".ci/ensure-buf") else {
        return;
    };
    let root = tools::repository_root();

    // The contract as committed: lint-clean and compatible with its baseline (CI's commands).
    buf(&binary, &root, &["lint", "proto"])
        .await
        .assert_success();
    buf(
        &binary,
        &root,
        &[
            "breaking",
            "proto",
            "--against",
            &format!("proto/{BASELINE}"),
        ],
    )
    .await
    .assert_success();

    // An unchanged copy passes, so the failures below come from the changes alone.
    let unchanged = tempfile::tempdir().expect("a temporary directory");
    copy_module(&root.join("proto"), unchanged.path());
    breaking(&binary, unchanged.path()).await.assert_success();

    // A deleted field: old clients still send it, and its number could be reused.
    let deleted = changed_copy("lma/v1/common.proto", "  string department = 9;", "");
    let output = breaking(&binary, deleted.path()).await;
    assert!(!output.success, "deleting a field passed: {output:?}");
    assert!(
        output.stdout.contains(
            "Previously present field \"9\" with name \"department\" on message \
             \"ProspectRecord\" was deleted."
        ),
        "{output:?}"
    );

    // A field's type changed: the same bytes would decode differently.
    let retyped = changed_copy(
        "lma/v1/search.proto",
        "  string company_name_prefix = 11;",
        "  int32 company_name_prefix = 11;",
    );
    let output = breaking(&binary, retyped.path()).await;
    assert!(
        !output.success,
        "changing a field's type passed: {output:?}"
    );
    assert!(
        output.stdout.contains(
            "Field \"11\" with name \"company_name_prefix\" on message \"ProspectFilter\" \
             changed type from \"string\" to \"int32\"."
        ),
        "{output:?}"
    );
}

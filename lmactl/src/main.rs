//! `lmactl`: the command-line client and admin tool of the LMA services.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;
use svc_core::config::{LogFormat, TelemetryArgs};

fn main() -> ExitCode {
    let cli = lmactl::Cli::parse();
    // One short-lived command at a time: a current-thread runtime is all it needs.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let result = runtime.block_on(async {
        // Spans go to OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; log lines are off, since
        // stdout carries the command's result.
        let logs = TelemetryArgs {
            log_format: LogFormat::Pretty,
            log_filter: "off".to_owned(),
        };
        let telemetry = svc_core::telemetry::init("lmactl", &logs)?;
        let out = lmactl::Output {
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdout_is_terminal,
        };
        let result = lmactl::run_with(cli, out).await;
        // Exported before the process exits, while the runtime still drives the export.
        telemetry.shutdown().await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => ExitCode::from(lmactl::failure::report(&error, &mut stderr)),
    }
}

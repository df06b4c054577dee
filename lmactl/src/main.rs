//! `lmactl`: the command-line client and admin tool of the LMA services.

use std::process::ExitCode;

use clap::Parser;

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
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    match runtime.block_on(lmactl::run(cli, &mut stdout, &mut stderr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

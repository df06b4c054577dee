//! ingest-svc configuration: flags that also read `LMA_*` environment variables.

use svc_core::CommonArgs;

#[derive(clap::Parser, Clone, Debug)]
#[command(
    name = "ingest-svc",
    version,
    about = "Writes companies and prospects into the base tables"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonArgs,
}

//! search-svc configuration: flags that also read `LMA_*` environment variables.

use svc_core::CommonArgs;

#[derive(clap::Parser, Clone, Debug)]
#[command(
    name = "search-svc",
    version,
    about = "Answers searches from the read models"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonArgs,
}

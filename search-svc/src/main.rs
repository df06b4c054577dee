use clap::Parser;
use search_svc::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = svc_core::telemetry::init("search-svc", &config.common.telemetry)?;
    let application = Application::build(config).await?;
    tracing::info!(address = %application.local_addr(), "search-svc listening");
    application
        .run_until_stopped(svc_core::shutdown::signal())
        .await
}

use clap::Parser;
use ingest_svc::{Application, Config};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = svc_core::telemetry::init("ingest-svc", &config.common.telemetry)?;
    let application = Application::build(config).await?;
    tracing::info!(address = %application.local_addr(), "ingest-svc listening");
    application
        .run_until_stopped(svc_core::shutdown::signal())
        .await
}

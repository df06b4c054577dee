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

    #[command(flatten)]
    pub ingest: IngestArgs,
}

#[derive(clap::Args, Clone, Debug)]
pub struct IngestArgs {
    /// Also write every stored prospect, flattened with its company, into the legacy
    /// `customer` table (dual ingestion, for consumers that still read it).
    #[arg(long = "dual-ingest", env = "LMA_DUAL_INGEST", default_value_t = false)]
    pub dual_ingest: bool,

    /// Valid rows per transaction of a bulk write (IngestProspects, ImportCsv, migrations).
    #[arg(
        long = "ingest-batch-rows",
        env = "LMA_INGEST_BATCH_ROWS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub batch_rows: u32,

    /// Database connections one bulk write uses at once: each batch is split by company
    /// domain into this many transactions written concurrently. Extra connections are only
    /// taken when the pool has them free.
    #[arg(
        long = "ingest-write-connections",
        env = "LMA_INGEST_WRITE_CONNECTIONS",
        default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(1..=8)
    )]
    pub write_connections: u32,
}

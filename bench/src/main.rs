//! Benchmark tooling: deterministic data (CSV files and data sets loaded by SQL; same seed, same
//! data, so runs compare like with like) and the benchmarks whose results docs/BENCHMARKS.md
//! records, each on a throwaway PostgreSQL cluster of its own.

mod dataset;
mod generate;
mod ingest;
mod load;
mod refresh;
mod search;
mod stats;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lma-bench",
    about = "Data generators and benchmarks of the LMA services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// shared_buffers of the throwaway PostgreSQL cluster the benchmarks start: sized for the
    /// million-row data sets as a production server would be, not PostgreSQL's 128MB default
    /// (under which every benchmark measures buffer eviction more than its subject).
    #[arg(long, global = true, default_value = "1GB")]
    pg_shared_buffers: String,
    /// Runs that cluster durably, as production does (fsync, synchronous commit and full-page
    /// writes on), instead of with the fast settings of throwaway test clusters: for measuring
    /// what a write costs in production rather than its CPU-bound worst case.
    #[arg(long, global = true)]
    pg_durable: bool,
    /// Another `name=value` setting of that cluster, after the others (repeatable): for
    /// diagnosing a run, e.g. `log_min_duration_statement=0` with a `log_directory` outside the
    /// cluster, which is removed when the benchmark ends.
    #[arg(long = "pg-setting", global = true, value_parser = parse_setting)]
    pg_settings: Vec<(String, String)>,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected name=value, got {text:?}")),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Writes a CSV of synthetic prospects spread over synthetic companies.
    GenerateCsv {
        /// Data rows to write.
        #[arg(long, default_value_t = 1_000_000)]
        prospects: u64,
        /// Distinct company domains the prospects are spread over.
        #[arg(long, default_value_t = 100_000)]
        companies: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output file; standard output when omitted.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Loads a synthetic data set into a migrated, empty database and builds the read models.
    Dataset {
        /// Superuser connection to the target database.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[command(flatten)]
        size: dataset::DatasetSize,
    },
    /// Refresh benchmark: freshness under steady writes, full rebuild against REFRESH MATERIALIZED
    /// VIEW CONCURRENTLY, and the cost of change capture.
    Refresh(refresh::RefreshArgs),
    /// Ingest benchmark: psql \copy plus merge SQL against lmactl import through ImportCsv, rows/s
    /// and peak RSS of ingest-svc and lmactl at several file sizes.
    Ingest(ingest::IngestArgs),
    /// Search benchmark: business queries over gRPC, as bare SQL on the read model and as the
    /// base-table JOIN, and throughput at 32 clients.
    Search(search::SearchArgs),
    /// Load benchmark: searches/s and p50/p95/p99 at 32 clients idle, during full rebuilds and
    /// during an import, and each service's memory, all three as release processes.
    Load(load::LoadArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    lma_tests::postgres::add_server_settings(&[("shared_buffers", &cli.pg_shared_buffers)]);
    if cli.pg_durable {
        lma_tests::postgres::add_server_settings(&[
            ("fsync", "on"),
            ("synchronous_commit", "on"),
            ("full_page_writes", "on"),
        ]);
    }
    let extra: Vec<(&str, &str)> = cli
        .pg_settings
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    lma_tests::postgres::add_server_settings(&extra);
    // Stopped by a signal, the benchmark returns instead of dying: what it started is dropped,
    // so its service processes are killed (kill on drop) rather than outliving it with the
    // benchmark lock's descriptor, and its clusters go away with it.
    tokio::select! {
        result = run(cli.command) => result,
        () = svc_core::shutdown::signal() => anyhow::bail!("stopped by a signal"),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::GenerateCsv {
            prospects,
            companies,
            seed,
            out,
        } => {
            anyhow::ensure!(companies > 0, "--companies must be at least 1");
            let sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut sink = std::io::BufWriter::with_capacity(1 << 20, sink);
            generate::write_csv(&mut sink, prospects, companies, seed)?;
            sink.flush()?;
        }
        Command::Dataset { database_url, size } => {
            let (mut client, connection) =
                tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
                    .await
                    .context("connecting to the benchmark database")?;
            let connection = tokio::spawn(connection);
            let dataset = dataset::load(&mut client, size).await?;
            println!(
                "organization {} loaded; other tenant {}",
                dataset.organization_id, dataset.other_organization_id
            );
            drop(client);
            connection.await??;
        }
        Command::Refresh(args) => refresh::run(args).await?,
        Command::Ingest(args) => ingest::run(args).await?,
        Command::Search(args) => search::run(args).await?,
        Command::Load(args) => load::run(args).await?,
    }
    Ok(())
}

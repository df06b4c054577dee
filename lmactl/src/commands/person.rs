//! `lmactl person export`: everything held about one person (ExportPersonData) as JSON.

use anyhow::Context as _;
use lma_proto::v1::ExportPersonDataRequest;

use super::Output;
use crate::cli::{PersonArgs, PersonCommand};

pub async fn run(args: PersonArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    match args.command {
        PersonCommand::Export(args) => {
            let mut client = crate::grpc::privacy_client(&args.ingest).await?;
            let response = client
                .export_person_data(ExportPersonDataRequest {
                    email: args.email.clone(),
                })
                .await
                .context("ExportPersonData")?
                .into_inner();
            crate::output::write_document(
                out.stdout,
                args.output,
                &crate::json::person_export(&response),
            )
        }
    }
}

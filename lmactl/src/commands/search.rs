//! `lmactl search`: prospects matching a filter (SearchProspects), one page or with `--all`
//! every page, written as they arrive.

use lma_proto::v1::SearchProspectsRequest;

use super::Output;
use crate::cli::SearchArgs;
use crate::output::RowWriter;
use crate::summary::{PROSPECT, Selected};

pub async fn run(args: SearchArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let request = SearchProspectsRequest {
        filter: Some(args.filter.to_proto()),
        sort: args.sort.unwrap_or_default(),
        page_size: args.page.page_size.unwrap_or_default(),
        page_token: args.page.page_token.clone().unwrap_or_default(),
        min_token: args.consistency.min_token.clone().unwrap_or_default(),
    };
    let mut client = crate::grpc::search_client(&args.search).await?;
    let columns = Selected::for_format(PROSPECT, args.output);
    let mut writer = RowWriter::new(
        &mut *out.stdout,
        args.output,
        columns.names(),
        out.stdout_is_terminal,
    )?
    .neutralizing_formulas(args.formulas.neutralize());
    let next = crate::paging::each_row(&mut client, request, args.page.all, |prospect| {
        writer.row(columns.values(&prospect))
    })
    .await?;
    writer.finish()?;
    super::print_next_page(&next, out)
}

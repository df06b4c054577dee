//! `lmactl search`: prospects matching a filter (SearchProspects), one page or with `--all`
//! every page, written as they arrive.

use lma_proto::v1::SearchProspectsRequest;

use super::Output;
use crate::cli::SearchArgs;
use crate::summary::PROSPECT;

pub async fn run(args: SearchArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let request = SearchProspectsRequest {
        filter: Some(args.filter.to_proto()),
        sort: args.sort.unwrap_or_default(),
        page_size: args.page.page_size.unwrap_or_default(),
        page_token: args.page.page_token.clone().unwrap_or_default(),
        min_token: args.consistency.min_token.clone().unwrap_or_default(),
    };
    super::print_pages(
        &args.search,
        request,
        args.page.all,
        PROSPECT,
        args.output,
        &args.formulas,
        out,
    )
    .await
}

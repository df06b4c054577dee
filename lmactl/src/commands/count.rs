//! `lmactl count`: the total of a filter and its facets' most frequent values
//! (CountProspects), estimates marked as the service marks them.

use anyhow::Context as _;
use lma_proto::v1::{CountProspectsRequest, CountProspectsResponse, Facet, FacetCounts};
use serde_json::{Value, json};

use super::Output;
use crate::cli::CountArgs;
use crate::words;

/// How a facet's bucket of prospects without a value (the service's "") reads in text.
const NO_VALUE: &str = "(none)";

pub async fn run(args: CountArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let request = CountProspectsRequest {
        filter: Some(args.filter.to_proto()),
        facets: args.facets.clone(),
        facet_limit: args.facet_limit.unwrap_or_default(),
        min_token: args.consistency.min_token.clone().unwrap_or_default(),
    };
    let mut client = crate::grpc::search_client(&args.search).await?;
    let response = client
        .count_prospects(request)
        .await
        .context("CountProspects")?
        .into_inner();
    match args.output {
        Some(format) => {
            crate::output::write_document(&mut *out.stdout, format, &document(&response))
        }
        None => write_text(&response, out),
    }
}

/// A facet value as lmactl words it: the job title level `JOB_TITLE_LEVEL_VP` is `vp`, as
/// `--job-title-level` takes it; other values are the stored ones.
fn value(facet: &FacetCounts, value: &str) -> String {
    if facet.facet == Facet::JobTitleLevel as i32 {
        words::JOB_TITLE_LEVEL.word_of_text(value)
    } else {
        value.to_owned()
    }
}

fn document(response: &CountProspectsResponse) -> Value {
    let freshness = response.freshness.as_ref().map(|freshness| {
        json!({
            "watermark": freshness.watermark,
            "refreshed_at": freshness.refreshed_at.map(|at| at.to_string()),
        })
    });
    json!({
        "total": response.total,
        "total_is_estimate": response.total_is_estimate,
        "facets": response.facets.iter().map(|facet| json!({
            "facet": words::FACET.word(facet.facet),
            "is_estimate": facet.is_estimate,
            "values": facet.values.iter().map(|v| json!({
                "value": value(facet, &v.value),
                "count": v.count,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "freshness": freshness,
    })
}

fn estimate(is_estimate: bool) -> &'static str {
    if is_estimate { " (estimate)" } else { "" }
}

fn write_text(response: &CountProspectsResponse, out: &mut Output<'_>) -> anyhow::Result<()> {
    writeln!(
        out.stdout,
        "total: {}{}",
        response.total,
        estimate(response.total_is_estimate)
    )?;
    for facet in &response.facets {
        writeln!(
            out.stdout,
            "{}{}:",
            words::FACET.word(facet.facet),
            estimate(facet.is_estimate)
        )?;
        let values: Vec<String> = facet
            .values
            .iter()
            .map(|v| match value(facet, &v.value) {
                text if text.is_empty() => NO_VALUE.to_owned(),
                text => text,
            })
            .collect();
        let width = values.iter().map(|v| v.chars().count()).max().unwrap_or(0);
        for (text, counted) in values.iter().zip(&facet.values) {
            writeln!(out.stdout, "  {text:<width$}  {}", counted.count)?;
        }
    }
    out.stdout.flush()?;
    Ok(())
}

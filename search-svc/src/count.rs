//! `CountProspects`: the total and facet counts of a filter. Up to [`EXACT_COUNT_LIMIT`]
//! matches everything is counted exactly; above it, counting every match of a broad filter
//! would cost a scan of most of the tenant, so the counts are estimated from a block sample of
//! about [`SAMPLE_ROWS`] rows of the read model and say so. See [`count`] for how the choice is
//! made without reading the matches first.

use std::collections::HashMap;

use lma_proto::v1::{
    CountProspectsResponse, Facet, FacetCounts, FacetValue, Freshness, JobTitleLevel,
};

use crate::error::SearchError;
use crate::filter::ProspectConditions;
use crate::page_token::TextMode;
use crate::sql::SqlQuery;

/// Filters matching at most this many prospects are counted exactly.
pub const EXACT_COUNT_LIMIT: i64 = 20_000;
/// Rows an estimate samples (a share of the read model's blocks, by its row estimate).
pub const SAMPLE_ROWS: f64 = 50_000.0;
pub const DEFAULT_FACET_LIMIT: u32 = 20;
pub const MAX_FACET_LIMIT: u32 = 200;

/// The facets requested, validated, in request order without repeats.
pub fn facets(requested: &[i32]) -> Result<Vec<Facet>, SearchError> {
    let mut facets = Vec::with_capacity(requested.len());
    for (index, value) in requested.iter().enumerate() {
        match Facet::try_from(*value) {
            Ok(Facet::Unspecified) | Err(_) => {
                return Err(SearchError::invalid(
                    format!("facets[{index}]"),
                    format!("{value} is not a facet"),
                ));
            }
            Ok(facet) if !facets.contains(&facet) => facets.push(facet),
            Ok(_) => {}
        }
    }
    Ok(facets)
}

pub fn facet_limit(requested: u32) -> Result<usize, SearchError> {
    match requested {
        0 => Ok(DEFAULT_FACET_LIMIT as usize),
        limit if limit > MAX_FACET_LIMIT => Err(SearchError::invalid(
            "facet_limit",
            format!("is {limit}; at most {MAX_FACET_LIMIT} are allowed"),
        )),
        limit => Ok(limit as usize),
    }
}

/// The read-model expression a facet groups by.
fn facet_expression(facet: Facet) -> &'static str {
    match facet {
        // Unreachable after validation; grouping by a constant would be harmless.
        Facet::Unspecified => "''",
        Facet::Industry => "industry",
        Facet::Country => "country",
        Facet::JobTitleLevel => "job_title_level",
        Facet::Department => "department",
        Facet::EmployeeSize => "employee_size_bucket(min_employees, max_employees)",
    }
}

/// How a stored facet value is shown: levels by their API enum name, missing values as "".
fn facet_value(facet: Facet, stored: Option<String>) -> String {
    match facet {
        Facet::JobTitleLevel => match JobTitleLevel::from_stored(stored.as_deref()) {
            JobTitleLevel::Unspecified => String::new(),
            level => level.as_str_name().to_owned(),
        },
        _ => stored.unwrap_or_default(),
    }
}

/// Counts the prospects matching `conditions` and breaks them down by `facets`.
///
/// Whether to count exactly is decided without reading matches where possible: when the
/// planner expects more than [`EXACT_COUNT_LIMIT`] matches, the block sample is taken straight
/// away. Only when the planner expects few, or the sample finds few (the planner can
/// overestimate a combination of correlated filters), are the matches counted, up to
/// `EXACT_COUNT_LIMIT + 1` of them: within the limit that count is the exact answer, in the
/// same pass; beyond it the answer is the sample's. Every facet and the total come from one
/// GROUPING SETS pass.
pub async fn count(
    client: &tokio_postgres::Client,
    organization_id: i64,
    conditions: &ProspectConditions,
    text_mode: TextMode,
    facets: &[Facet],
    facet_limit: usize,
    freshness: Freshness,
) -> Result<CountProspectsResponse, SearchError> {
    let respond = |tally: Tally, is_estimate: bool| CountProspectsResponse {
        total: tally.total,
        total_is_estimate: is_estimate,
        facets: facets
            .iter()
            .enumerate()
            .map(|(index, facet)| {
                let mut values = tally.values.get(&index).cloned().unwrap_or_default();
                values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                values.truncate(facet_limit);
                FacetCounts {
                    facet: *facet as i32,
                    values,
                    is_estimate,
                }
            })
            .collect(),
        freshness: Some(freshness.clone()),
    };

    let counted = |pass| tally(client, organization_id, conditions, text_mode, facets, pass);
    let mut sampled = None;
    if planner_rows(client, organization_id, conditions, text_mode).await?
        > EXACT_COUNT_LIMIT as f64
    {
        let sample = counted(Pass::Sample).await?;
        if sample.total > EXACT_COUNT_LIMIT {
            return Ok(respond(sample, true));
        }
        sampled = Some(sample);
    }

    let bounded = counted(Pass::Bounded).await?;
    if bounded.total <= EXACT_COUNT_LIMIT {
        return Ok(respond(bounded, false));
    }
    let mut sample = match sampled {
        Some(sample) => sample,
        None => counted(Pass::Sample).await?,
    };
    // A sample can miss a small, broad-filter tenant's rows; never estimate below what is known
    // to match.
    sample.total = sample.total.max(bounded.total);
    Ok(respond(sample, true))
}

/// The planner's estimate of the rows `conditions` match: costs a plan, reads no rows.
async fn planner_rows(
    client: &tokio_postgres::Client,
    organization_id: i64,
    conditions: &ProspectConditions,
    text_mode: TextMode,
) -> Result<f64, SearchError> {
    let mut query = SqlQuery::default();
    let rendered = conditions.render(&mut query, organization_id, text_mode);
    query.sql = format!(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM prospect_search_view WHERE {}",
        rendered.all()
    );
    let plan: serde_json::Value = client
        .query_one(query.sql.as_str(), &query.param_refs().collect::<Vec<_>>())
        .await?
        .try_get(0)?;
    Ok(plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0))
}

/// The total and the facet values of one GROUPING SETS pass (see [`Pass`]).
struct Tally {
    total: i64,
    values: HashMap<usize, Vec<FacetValue>>,
}

/// What a tally counts.
#[derive(Clone, Copy)]
enum Pass {
    /// A block sample of the read model, scaled up to the whole.
    Sample,
    /// The matches, but no more than `EXACT_COUNT_LIMIT + 1` of them: exact when the total
    /// stays within the limit, and never reading much more than an exact count would.
    Bounded,
}

async fn tally(
    client: &tokio_postgres::Client,
    organization_id: i64,
    conditions: &ProspectConditions,
    text_mode: TextMode,
    facets: &[Facet],
    pass: Pass,
) -> Result<Tally, SearchError> {
    let mut query = SqlQuery::default();
    let rendered = conditions.render(&mut query, organization_id, text_mode);
    let (source, scale, limit) = match pass {
        Pass::Sample => {
            let percent = sample_percent(client).await?;
            (
                // Computed here, never from input, so it may be SQL text.
                format!("prospect_search_view TABLESAMPLE SYSTEM ({percent:.4})"),
                100.0 / percent,
                String::new(),
            )
        }
        Pass::Bounded => (
            "prospect_search_view".to_owned(),
            1.0,
            format!(" LIMIT {}", query.bind(EXACT_COUNT_LIMIT + 1)),
        ),
    };
    // A grouping set per facet, plus () for the total.
    let keys: Vec<String> = facets
        .iter()
        .enumerate()
        .map(|(i, facet)| format!("({})::text AS f{i}", facet_expression(*facet)))
        .collect();
    let sets: Vec<String> = (0..facets.len())
        .map(|i| format!("(f{i})"))
        .chain(std::iter::once("()".to_owned()))
        .collect();
    let grouping = if facets.is_empty() {
        "0".to_owned()
    } else {
        format!(
            "GROUPING({})",
            (0..facets.len())
                .map(|i| format!("f{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    query.sql = format!(
        "SELECT {grouping}::int AS grouping, count(*) AS n{keys} \
         FROM (SELECT {select} FROM {source} WHERE {conditions}{limit}) AS matched \
         GROUP BY GROUPING SETS ({sets})",
        keys = (0..facets.len())
            .map(|i| format!(", f{i}"))
            .collect::<String>(),
        select = if keys.is_empty() {
            "1".to_owned()
        } else {
            keys.join(", ")
        },
        conditions = rendered.all(),
        sets = sets.join(", "),
    );
    let rows = client
        .query(query.sql.as_str(), &query.param_refs().collect::<Vec<_>>())
        .await?;

    let scaled = |n: i64| (n as f64 * scale).round() as i64;
    let all_grouped = (1i32 << facets.len()) - 1;
    let mut tally = Tally {
        total: 0,
        values: HashMap::new(),
    };
    for row in &rows {
        let grouping: i32 = row.try_get("grouping")?;
        let n: i64 = row.try_get("n")?;
        if grouping == all_grouped {
            tally.total = scaled(n);
            continue;
        }
        // GROUPING() sets the bit of each key that is *not* grouped; the one clear bit (the
        // leftmost key is the highest bit) names the facet of this row.
        let Some(index) = (0..facets.len()).find(|i| grouping & (1 << (facets.len() - 1 - i)) == 0)
        else {
            continue;
        };
        tally.values.entry(index).or_default().push(FacetValue {
            value: facet_value(facets[index], row.try_get(format!("f{index}").as_str())?),
            count: scaled(n),
        });
    }
    Ok(tally)
}

/// The share of the read model's blocks (in percent) that holds about [`SAMPLE_ROWS`] rows.
async fn sample_percent(client: &tokio_postgres::Client) -> Result<f64, SearchError> {
    let rows: f32 = client
        .query_one(
            "SELECT reltuples FROM pg_class WHERE oid = 'prospect_search_view'::regclass",
            &[],
        )
        .await?
        .try_get(0)?;
    let rows = f64::from(rows);
    Ok(if rows <= SAMPLE_ROWS {
        100.0
    } else {
        (SAMPLE_ROWS / rows * 100.0).clamp(0.01, 100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facets_are_validated_and_deduplicated() {
        assert_eq!(
            facets(&[1, 2, 1]).expect("valid"),
            [Facet::Industry, Facet::Country]
        );
        assert!(facets(&[0]).is_err());
        assert!(facets(&[99]).is_err());
        assert_eq!(facet_limit(0).expect("default"), 20);
        assert!(facet_limit(201).is_err());
    }

    #[test]
    fn job_title_levels_are_shown_by_their_api_names() {
        assert_eq!(
            facet_value(Facet::JobTitleLevel, Some("vp".into())),
            "JOB_TITLE_LEVEL_VP"
        );
        assert_eq!(facet_value(Facet::JobTitleLevel, None), "");
        assert_eq!(
            facet_value(Facet::Industry, Some("Retail".into())),
            "Retail"
        );
    }
}

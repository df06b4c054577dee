//! Revenue ranges in search: the revenue filter matches companies whose range overlaps it, the
//! revenue sort orders by the lower bound, and hits and company summaries show both bounds and
//! the range formatted.

use lma_proto::v1::{
    CompanyFilter, CompanyRecord, CompanySort, CompanySummary, Int64Range, ProspectFilter,
    ProspectRecord, ProspectSort, SearchCompaniesRequest, SearchProspectsRequest,
};
use lma_tests::{BearerAuth, TestApp, spawn_app};

use super::data::all_pages;

const K: i64 = 1_000;
const M: i64 = 1_000_000;

/// One prospect per company; the prospect's external id is the company's name.
/// (name, revenue, max_revenue, revenue_open_ended)
const COMPANIES: [(&str, Option<i64>, Option<i64>, bool); 6] = [
    ("exact", Some(5 * M), None, false),
    ("range", Some(M), Some(10 * M), false),
    ("open", Some(1_000 * M), None, true),
    ("unknown", None, None, false),
    ("small", Some(500 * K), None, false),
    ("mid", Some(20 * M), Some(50 * M), false),
];

async fn load(app: &TestApp) {
    for (name, revenue, max_revenue, revenue_open_ended) in COMPANIES {
        app.upsert_prospect(ProspectRecord {
            external_source: "crm".into(),
            external_id: name.into(),
            first_name: name.into(),
            email: format!("pat@{name}.io"),
            company: Some(CompanyRecord {
                domain: format!("{name}.io"),
                name: name.into(),
                revenue,
                max_revenue,
                revenue_open_ended,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    }
    app.search_until(
        BearerAuth::key(&app.tenant.api_key),
        ProspectFilter::default(),
        |page| match page.hits.len() {
            6 => Ok(()),
            n => Err(format!("{n} of 6 prospects visible")),
        },
    )
    .await;
}

fn range(min: Option<i64>, max: Option<i64>) -> Option<Int64Range> {
    Some(Int64Range { min, max })
}

/// (case, filter range, the companies it matches, sorted)
fn overlap_cases() -> Vec<(&'static str, Option<Int64Range>, Vec<&'static str>)> {
    vec![
        (
            "inside a range only",
            range(Some(2 * M), Some(3 * M)),
            vec!["range"],
        ),
        (
            "an exact amount and the range around it",
            range(Some(5 * M), Some(5 * M)),
            vec!["exact", "range"],
        ),
        (
            "above every closed range: the open one reaches it",
            range(Some(2_000 * M), None),
            vec!["open"],
        ),
        (
            "below every range",
            range(None, Some(600 * K)),
            vec!["small"],
        ),
        (
            "in the gap between two ranges",
            range(Some(11 * M), Some(19 * M)),
            vec![],
        ),
        (
            "bounds are inclusive on both sides",
            range(Some(10 * M), Some(20 * M)),
            vec!["mid", "range"],
        ),
        (
            "any known revenue, never the unknown",
            range(Some(0), None),
            vec!["exact", "mid", "open", "range", "small"],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revenue_filter_matches_overlapping_ranges() {
    let app = spawn_app().await;
    load(&app).await;
    for (case, revenue, expected) in overlap_cases() {
        let page = app
            .search(ProspectFilter {
                revenue,
                ..Default::default()
            })
            .await;
        let mut got: Vec<&str> = page
            .hits
            .iter()
            .filter_map(|hit| hit.prospect.as_ref())
            .map(|p| p.external_id.as_str())
            .collect();
        got.sort_unstable();
        assert_eq!(got, expected, "prospects: {case}");
    }
    let mut client = app.search_client().await;
    for (case, revenue, expected) in overlap_cases() {
        let mut got: Vec<String> = companies(
            &mut client,
            CompanyFilter {
                revenue,
                ..Default::default()
            },
            CompanySort::Name,
        )
        .await
        .into_iter()
        .map(|company| company.name)
        .collect();
        got.sort_unstable();
        assert_eq!(got, expected, "companies: {case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_and_summaries_show_the_bounds_formatted_and_sort_by_the_lower_one() {
    let app = spawn_app().await;
    load(&app).await;
    let page = app.search(ProspectFilter::default()).await;
    // (name, max_revenue, formatted_revenue, revenue in company_context)
    let expected = [
        ("exact", Some(5 * M), "5.0M", Some("5.0M revenue")),
        (
            "range",
            Some(10 * M),
            "1.0M-10.0M",
            Some("1.0M-10.0M revenue"),
        ),
        ("open", None, "1.0B+", Some("1.0B+ revenue")),
        ("unknown", None, "NA", None),
        ("small", Some(500 * K), "500.0K", Some("500.0K revenue")),
        (
            "mid",
            Some(50 * M),
            "20.0M-50.0M",
            Some("20.0M-50.0M revenue"),
        ),
    ];
    for (name, max_revenue, formatted, context) in expected {
        let hit = page
            .by_external_id(name)
            .and_then(|hit| hit.prospect.as_ref())
            .unwrap_or_else(|| panic!("{name} is missing"));
        assert_eq!(hit.max_revenue, max_revenue, "{name}");
        assert_eq!(hit.formatted_revenue, formatted, "{name}");
        match context {
            Some(context) => assert!(
                hit.company_context.contains(context),
                "{name}: {}",
                hit.company_context
            ),
            None => assert!(
                !hit.company_context.contains("revenue"),
                "{name}: {}",
                hit.company_context
            ),
        }
    }

    // The lower bound orders: the open range's billion first, unknown revenue last.
    let order = ["open", "mid", "exact", "range", "small", "unknown"];
    let mut client = app.search_client().await;
    let by_revenue = all_pages(
        &mut client,
        SearchProspectsRequest {
            filter: Some(ProspectFilter::default()),
            sort: ProspectSort::Revenue as i32,
            page_size: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_revenue, order);

    let summaries = companies(&mut client, CompanyFilter::default(), CompanySort::Revenue).await;
    let names: Vec<&str> = summaries.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, order);
    for (name, max_revenue, formatted, context) in expected {
        let summary = summaries
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} is missing"));
        assert_eq!(summary.max_revenue, max_revenue, "{name}");
        assert_eq!(summary.formatted_revenue, formatted, "{name}");
        if let Some(context) = context {
            assert!(summary.company_context.contains(context), "{name}");
        }
    }
}

/// Every company a search returns, page after page (pages of two, so the keyset cursor of
/// the sort is used).
async fn companies(
    client: &mut lma_tests::clients::SearchClient,
    filter: CompanyFilter,
    sort: CompanySort,
) -> Vec<CompanySummary> {
    let request = SearchCompaniesRequest {
        filter: Some(filter),
        sort: sort as i32,
        page_size: 2,
        ..Default::default()
    };
    super::companies::all_companies(client, request).await
}

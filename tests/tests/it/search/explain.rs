//! The read models' indexes serve selective filters: EXPLAIN of the exact SQL search-svc runs
//! shows no sequential scan of prospect_search_view. The table is loaded and ANALYZEd so the
//! planner chooses on real statistics; enable_seqscan stays on.

use lma_proto::v1::{JobTitleLevel, ProspectFilter, ProspectSort, SearchProspectsRequest};
use lma_tests::spawn_app;

use super::data::load_bulk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selective_filters_do_not_scan_the_read_model() {
    let app = spawn_app().await;
    let organization_id = app.tenant.organization_id;
    load_bulk(&app, organization_id, 2_000, 40_000).await;
    let db = app.db.connect().await;
    db.batch_execute("ANALYZE prospect_search_view")
        .await
        .expect("ANALYZE");

    let f = ProspectFilter::default;
    let cases: Vec<(&str, ProspectFilter, ProspectSort)> = vec![
        (
            "company domain",
            ProspectFilter {
                company_domains: vec!["bulk17.com".into()],
                ..f()
            },
            ProspectSort::UpdatedAt,
        ),
        (
            "full text",
            ProspectFilter {
                query: "person1234".into(),
                ..f()
            },
            ProspectSort::Unspecified,
        ),
        (
            "tags",
            ProspectFilter {
                tags_all: vec!["batch-3".into(), "nope".into()],
                ..f()
            },
            ProspectSort::UpdatedAt,
        ),
        (
            "company name prefix",
            ProspectFilter {
                company_name_prefix: "bulk 123".into(),
                ..f()
            },
            ProspectSort::CompanyName,
        ),
        (
            "city and level, by revenue",
            ProspectFilter {
                cities: vec!["paris".into()],
                job_title_levels: vec![JobTitleLevel::Manager as i32],
                ..f()
            },
            ProspectSort::Revenue,
        ),
        ("no filter, newest first", f(), ProspectSort::UpdatedAt),
        (
            "updated since",
            ProspectFilter {
                updated_since: Some(std::time::SystemTime::now().into()),
                ..f()
            },
            ProspectSort::UpdatedAt,
        ),
    ];
    for (case, filter, sort) in cases {
        let request = SearchProspectsRequest {
            filter: Some(filter),
            sort: sort as i32,
            ..Default::default()
        };
        let (sql, plan) = explain(&db, organization_id, &request, case).await;
        assert!(
            !plan.contains("Seq Scan on prospect_search_view"),
            "{case}: sequential scan\n{sql}\n{plan}",
        );
    }

    // Berlin lies in Germany: France and Berlin together match nothing. The extended statistics on
    // the read model tell the planner so, and it fetches the (no) matches through the filter
    // indexes instead of walking the whole revenue index hoping to meet 51 of them early.
    let request = SearchProspectsRequest {
        filter: Some(ProspectFilter {
            countries: vec!["France".into()],
            cities: vec!["Berlin".into()],
            ..f()
        }),
        sort: ProspectSort::Revenue as i32,
        ..Default::default()
    };
    let (sql, plan) = explain(&db, organization_id, &request, "correlated filters").await;
    assert!(
        !plan.contains("prospect_search_view_revenue_idx"),
        "correlated filters by revenue walk the sort index\n{sql}\n{plan}"
    );
}

/// The SQL search-svc runs for `request`, and its plan.
async fn explain(
    db: &tokio_postgres::Client,
    organization_id: i64,
    request: &SearchProspectsRequest,
    case: &str,
) -> (String, String) {
    let keys = std::sync::Arc::new(search_svc::PageTokenKeys::ephemeral());
    let query = search_svc::prospect_search_sql(organization_id, request, &keys).expect("valid");
    let params: Vec<_> = query.param_refs().collect();
    let plan: Vec<String> = db
        .query(&format!("EXPLAIN {}", query.sql), &params)
        .await
        .unwrap_or_else(|error| panic!("{case}: EXPLAIN failed: {error}"))
        .iter()
        .map(|row| row.get(0))
        .collect();
    (query.sql.clone(), plan.join("\n"))
}

/// Whether the trigram fallback runs depends on a probe (`prospect_text_known`) that first looks
/// for the words in a sample of about 1,000 rows and only then asks the full-text index. A word of
/// one row in 20,000 is usually not in the sample: it must still be found; words no row holds, or
/// that only another organization holds, must not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_probe_finds_rare_words_its_sample_misses() {
    let app = spawn_app().await;
    let organization_id = app.tenant.organization_id;
    load_bulk(&app, organization_id, 1_000, 20_000).await;
    let db = app.db.connect().await;
    let known = |organization: i64, text: &'static str| {
        let db = &db;
        async move {
            db.query_one(
                "SELECT prospect_text_known($1, $2)",
                &[&organization, &text],
            )
            .await
            .unwrap_or_else(|error| panic!("probe {text:?}: {error}"))
            .get::<_, bool>(0)
        }
    };
    // Repeated: each call draws another sample.
    for _ in 0..5 {
        assert!(
            known(organization_id, "person12345").await,
            "one row's word"
        );
        assert!(
            known(organization_id, "chloe analyst").await,
            "common words"
        );
        assert!(!known(organization_id, "person99999").await, "no such row");
        assert!(
            !known(organization_id + 1, "person12345").await,
            "another organization"
        );
    }
}

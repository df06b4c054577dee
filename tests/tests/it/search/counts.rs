//! CountProspects: totals and facets against a direct SQL count, exact and estimated.

use std::collections::HashMap;

use lma_proto::v1::{CountProspectsRequest, CountProspectsResponse, Facet, ProspectFilter};
use lma_tests::spawn_app;

use super::data::load_bulk;

fn facet_map(
    response: &lma_proto::v1::CountProspectsResponse,
    facet: Facet,
) -> HashMap<String, i64> {
    response
        .facets
        .iter()
        .find(|f| f.facet == facet as i32)
        .unwrap_or_else(|| panic!("facet {facet:?} missing"))
        .values
        .iter()
        .map(|v| (v.value.clone(), v.count))
        .collect()
}

/// Counts of `column` among `organization_id`'s bulk prospects over the base tables.
async fn direct_counts(
    client: &tokio_postgres::Client,
    expression: &str,
    condition: &str,
    organization_id: i64,
) -> HashMap<String, i64> {
    client
        .query(
            &format!(
                "SELECT coalesce(({expression})::text, ''), count(*) FROM prospect p \
                 JOIN company c ON c.id = p.company_id \
                 WHERE p.organization_id = $1 AND {condition} GROUP BY 1"
            ),
            &[&organization_id],
        )
        .await
        .expect("direct count")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_and_facets_match_a_direct_sql_count() {
    let app = spawn_app().await;
    let organization_id = app.tenant.organization_id;
    load_bulk(&app, organization_id, 30, 3_000).await;
    let db = app.db.connect().await;
    let mut client = app.search_client().await;

    let filter = ProspectFilter {
        industries: vec!["software".into(), "Energy".into()],
        ..Default::default()
    };
    let response = client
        .count_prospects(CountProspectsRequest {
            filter: Some(filter),
            facets: vec![
                Facet::Industry as i32,
                Facet::Country as i32,
                Facet::JobTitleLevel as i32,
                Facet::Department as i32,
                Facet::EmployeeSize as i32,
            ],
            facet_limit: 50,
            min_token: String::new(),
        })
        .await
        .expect("CountProspects")
        .into_inner();
    let condition = "lower(c.industry) IN ('software', 'energy')";
    let total: i64 = direct_counts(&db, "'all'", condition, organization_id)
        .await
        .values()
        .sum();
    assert!(total > 0);
    assert_eq!(response.total, total);
    assert!(!response.total_is_estimate);
    assert!(response.freshness.is_some());
    for (facet, expression) in [
        (Facet::Industry, "c.industry"),
        (Facet::Country, "coalesce(p.country, c.country)"),
        (Facet::Department, "p.department"),
        (
            Facet::EmployeeSize,
            "employee_size_bucket(c.min_employees, c.max_employees)",
        ),
    ] {
        assert_eq!(
            facet_map(&response, facet),
            direct_counts(&db, expression, condition, organization_id).await,
            "{facet:?}"
        );
    }
    let levels: HashMap<String, i64> =
        direct_counts(&db, "p.job_title_level", condition, organization_id)
            .await
            .into_iter()
            .map(|(level, n)| (format!("JOB_TITLE_LEVEL_{}", level.to_uppercase()), n))
            .collect();
    assert_eq!(facet_map(&response, Facet::JobTitleLevel), levels);
    for facet in &response.facets {
        assert!(!facet.is_estimate);
        assert!(
            facet.values.windows(2).all(|w| w[0].count >= w[1].count),
            "most frequent first"
        );
    }

    // facet_limit keeps the most frequent values only.
    let limited = client
        .count_prospects(CountProspectsRequest {
            facets: vec![Facet::Industry as i32],
            facet_limit: 1,
            ..Default::default()
        })
        .await
        .expect("CountProspects")
        .into_inner();
    assert_eq!(limited.facets[0].values.len(), 1);
    assert_eq!(limited.total, 3_000);
}

/// The tenant's counts by industry, which must say they are estimates.
async fn estimated_industry_counts(app: &lma_tests::TestApp) -> CountProspectsResponse {
    let response = app
        .search_client()
        .await
        .count_prospects(CountProspectsRequest {
            facets: vec![Facet::Industry as i32],
            ..Default::default()
        })
        .await
        .expect("CountProspects")
        .into_inner();
    assert!(response.total_is_estimate);
    assert!(response.facets[0].is_estimate);
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_above_the_threshold_are_estimates_and_say_so() {
    let app = spawn_app().await;
    let organization_id = app.tenant.organization_id;
    // Above the documented exact-count limit (20,000).
    load_bulk(&app, organization_id, 100, 24_000).await;
    let response = estimated_industry_counts(&app).await;
    // A block sample: close, not exact. Never below what is known to match.
    assert!(
        (20_001..=36_000).contains(&response.total),
        "estimate {} for 24,000",
        response.total
    );
    let sum: i64 = response.facets[0].values.iter().map(|v| v.count).sum();
    assert!((16_000..=36_000).contains(&sum), "facet sum {sum}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_the_planner_thought_few_are_estimated_once_they_pass_the_threshold() {
    let app = spawn_app().await;
    let organization_id = app.tenant.organization_id;
    // Statistics of the empty read model, and no newer ones: the planner expects few matches,
    // so the exact count is tried first and finds more than the limit.
    let admin = app.db.connect().await;
    admin
        .batch_execute(
            "ALTER TABLE prospect_search_view SET (autovacuum_enabled = false); \
             ANALYZE prospect_search_view",
        )
        .await
        .expect("stale statistics");
    load_bulk(&app, organization_id, 100, 24_000).await;
    let plan: serde_json::Value = admin
        .query_one(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM prospect_search_view WHERE organization_id = $1",
            &[&organization_id],
        )
        .await
        .expect("EXPLAIN")
        .get(0);
    let expected = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(f64::MAX);
    assert!(expected <= 20_000.0, "the planner expects {expected} rows");

    let response = estimated_industry_counts(&app).await;
    assert!(
        (20_001..=36_000).contains(&response.total),
        "estimate {} for 24,000",
        response.total
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_facet_shows_no_value_as_the_empty_bucket() {
    let app = spawn_app().await;
    let mut token = String::new();
    for id in ["bare-1", "bare-2"] {
        let mut record = lma_tests::fixtures::prospect_with_revenue(id, None);
        let company = record.company.as_mut().expect("a company");
        company.industry.clear();
        company.country.clear();
        token = app.upsert_prospect(record).await.consistency_token;
    }
    let mut client = app.search_client().await;
    let all = [
        Facet::Industry,
        Facet::Country,
        Facet::JobTitleLevel,
        Facet::Department,
        Facet::EmployeeSize,
    ];
    let response = client
        .count_prospects(CountProspectsRequest {
            facets: all.iter().map(|facet| *facet as i32).collect(),
            min_token: token,
            ..Default::default()
        })
        .await
        .expect("CountProspects")
        .into_inner();
    assert_eq!(response.total, 2);
    for facet in all {
        assert_eq!(
            facet_map(&response, facet),
            HashMap::from([(String::new(), 2)]),
            "{facet:?}"
        );
    }
}

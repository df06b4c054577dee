//! Thousands of prospects written straight into the base tables with set-based SQL (as a
//! superuser): the data the search, load and fault tests need in seconds rather than through
//! the API. Change capture stays on, so the writes land in the change log like any other write.

use std::time::Duration;

use crate::TestDatabase;

/// statement_timeout of the rebuilds below; the data sets of the tests are small.
const REBUILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Inserts `prospects` prospects (external source "bulk", ids "p1".., names "Person<j>")
/// spread over `companies` companies (domains "bulk<i>.com") of `organization_id`, with a few
/// values cycling through industries, sizes, revenues, cities, titles and departments.
pub async fn insert_prospects(
    db: &TestDatabase,
    organization_id: i64,
    companies: i64,
    prospects: i64,
) {
    let client = db.connect().await;
    client
        .execute(
            "INSERT INTO company (organization_id, domain, name, industry, min_employees, \
                 max_employees, revenue, city, country, external_source, external_id) \
             SELECT $1, 'bulk' || i || '.com', 'Bulk ' || i, \
                 (ARRAY['Software','Retail','Energy','Media'])[1 + i % 4], \
                 (ARRAY[1, 51, 1001])[1 + i % 3], (ARRAY[10, 200, 5000])[1 + i % 3], \
                 CASE WHEN i % 5 = 0 THEN NULL ELSE i * 1000 END, \
                 (ARRAY['Berlin','Paris','Austin'])[1 + i % 3], \
                 (ARRAY['Germany','France','United States'])[1 + i % 3], 'bulk', 'c' || i \
             FROM generate_series(1, $2::bigint) AS i",
            &[&organization_id, &companies],
        )
        .await
        .expect("loading companies");
    client
        .execute(
            "INSERT INTO prospect (organization_id, company_id, external_source, external_id, \
                 first_name, last_name, email, job_title, job_title_level, department, tags) \
             SELECT $1, c.id, 'bulk', 'p' || j, \
                 (ARRAY['Anna','Ben','Chloe','David','Emma'])[1 + j % 5], 'Person' || j, \
                 'person' || j || '@' || c.domain, \
                 (ARRAY['Engineer','Sales Manager','Analyst'])[1 + j % 3], \
                 (ARRAY['senior','manager','entry'])[1 + j % 3], \
                 (ARRAY['Engineering','Sales','Finance','Legal'])[1 + j % 4], \
                 ARRAY['batch-' || (j % 10)] \
             FROM generate_series(1, $2::bigint) AS j \
             JOIN company c ON c.organization_id = $1 AND c.external_source = 'bulk' \
                 AND c.external_id = 'c' || (1 + j % $3::bigint)",
            &[&organization_id, &prospects, &companies],
        )
        .await
        .expect("loading prospects");
}

/// Builds every read model from its definition with refresh-svc's full rebuild, so a test
/// starts from current read models without waiting for the change log to be applied.
pub async fn build_read_models(db: &TestDatabase) {
    let mut client = db.connect().await;
    for model in refresh_svc::read_model::READ_MODELS {
        refresh_svc::rebuild::rebuild(
            &mut client,
            model,
            "lma-tests",
            REBUILD_TIMEOUT.as_millis() as u64,
        )
        .await
        .unwrap_or_else(|error| panic!("rebuilding {}: {error}", model.table));
    }
}

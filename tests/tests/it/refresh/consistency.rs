//! The read models equal their definitions: after random changes, after a full rebuild (which
//! keeps indexes, grants and owner), and after a reconcile repairs drift.

use lma_proto::v1::{ReadModel, RefreshMode};
use lma_tests::fixtures::{self, query};
use lma_tests::{TestApp, spawn_app};

use super::{drift, refresh_now, wait_until_consistent};

/// A small deterministic generator (64-bit LCG): the same operations on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Random inserts, updates and deletes of companies and prospects, as ingest-svc's role, some
/// statements touching many rows and some transactions several statements.
async fn random_changes(app: &TestApp, operations: usize) {
    let mut client = app.db.connect_as("lma_ingest").await;
    let org = app.tenant.organization_id;
    let mut random = Lcg(7);
    let mut statement = 0;
    for step in 0..operations {
        let company = random.below(15) as i64;
        let other = random.below(15) as i64;
        let transaction = client.transaction().await.expect("BEGIN");
        let statements = 1 + random.below(3);
        for _ in 0..statements {
            statement += 1;
            let sql = match random.below(8) {
                0 | 1 => format!(
                    "INSERT INTO company (organization_id, domain, name, industry, revenue, country) \
                     VALUES ({org}, 'c{company}.example', 'Company {company}', 'Software', \
                             {step} * 1000, 'Germany') \
                     ON CONFLICT (organization_id, domain) DO UPDATE SET name = excluded.name"
                ),
                2 => format!(
                    "UPDATE company SET revenue = {step} * 997, industry = \
                         (ARRAY['Retail','Media','Energy'])[1 + {step} % 3], \
                         city = CASE WHEN {step} % 2 = 0 THEN 'Berlin' END \
                     WHERE organization_id = {org} AND domain = 'c{company}.example'"
                ),
                3 => format!(
                    "WITH gone AS (DELETE FROM prospect WHERE company_id IN \
                         (SELECT id FROM company WHERE organization_id = {org} \
                          AND domain = 'c{company}.example')) \
                     SELECT 1"
                ),
                4 => format!(
                    "DELETE FROM company WHERE organization_id = {org} \
                     AND domain = 'c{company}.example' \
                     AND NOT EXISTS (SELECT 1 FROM prospect p WHERE p.company_id = company.id)"
                ),
                5 | 6 => format!(
                    "INSERT INTO prospect (organization_id, company_id, external_id, first_name, \
                         last_name, email, department) \
                     SELECT {org}, id, 'p{statement}-' || n, 'First{step}', 'Last' || n, \
                         'p{statement}.' || n || '@c{company}.example', \
                         (ARRAY['Sales','Finance',NULL])[1 + n % 3] \
                     FROM company, generate_series(1, 1 + {step} % 4) AS n \
                     WHERE organization_id = {org} AND domain = 'c{company}.example'"
                ),
                _ => format!(
                    "UPDATE prospect SET company_id = (SELECT id FROM company \
                         WHERE organization_id = {org} AND domain = 'c{other}.example'), \
                         department = 'Moved' \
                     WHERE id IN (SELECT p.id FROM prospect p JOIN company c ON c.id = p.company_id \
                         WHERE c.domain = 'c{company}.example' LIMIT 2) \
                     AND EXISTS (SELECT 1 FROM company WHERE organization_id = {org} \
                         AND domain = 'c{other}.example')"
                ),
            };
            transaction
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|error| panic!("step {step}: {sql}: {error:?}"));
        }
        transaction.commit().await.expect("COMMIT");
    }
}

async fn row_counts_match(app: &TestApp) {
    row_counts_match_in(&app.db).await;
}

/// Every read model's kept row counts, in all and per organization, equal its rows.
pub(crate) async fn row_counts_match_in(db: &lma_tests::TestDatabase) {
    let client = db.connect().await;
    for model in refresh_svc::read_model::READ_MODELS {
        let row = client
            .query_one(
                format!(
                    "SELECT (SELECT count(*) FROM {}), \
                     (SELECT row_count FROM read_model_state WHERE read_model = $1)",
                    model.table
                )
                .as_str(),
                &[&model.table],
            )
            .await
            .expect("counting");
        let (actual, kept): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(actual, kept, "row_count of {}", model.table);
    }
    assert_eq!(
        organization_row_counts(&client).await,
        Vec::<String>::new(),
        "per-organization row counts differ from the read models"
    );
}

/// Organizations whose kept row count of a read model differs from its rows, as
/// "table/organization: kept vs counted".
pub(crate) async fn organization_row_counts(client: &tokio_postgres::Client) -> Vec<String> {
    let mut differing = Vec::new();
    for model in refresh_svc::read_model::READ_MODELS {
        let rows = client
            .query(
                format!(
                    "SELECT coalesce(k.organization_id, c.organization_id), \
                         coalesce(k.row_count, 0), coalesce(c.n, 0) \
                     FROM (SELECT organization_id, row_count FROM read_model_organization_state \
                           WHERE read_model = $1) k \
                     FULL JOIN (SELECT organization_id, count(*) AS n FROM {} \
                                GROUP BY organization_id) c \
                         ON c.organization_id = k.organization_id \
                     WHERE coalesce(k.row_count, 0) <> coalesce(c.n, 0)",
                    model.table
                )
                .as_str(),
                &[&model.table],
            )
            .await
            .expect("comparing per-organization row counts");
        for row in rows {
            let (organization, kept, counted): (i64, i64, i64) =
                (row.get(0), row.get(1), row.get(2));
            differing.push(format!(
                "{}/{organization}: {kept} vs {counted}",
                model.table
            ));
        }
    }
    differing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_model_equals_its_definition_after_random_changes() {
    let app = spawn_app().await;
    random_changes(&app, 250).await;
    wait_until_consistent(&app.db).await;
    let client = app.db.connect().await;
    let prospects: i64 = client
        .query_one("SELECT count(*) FROM prospect_search_view", &[])
        .await
        .expect("counting")
        .get(0);
    assert!(prospects > 0, "the random changes left some prospects");
    row_counts_match(&app).await;
}

/// Index definitions, grants, owner and storage parameters of a table, comparable across a
/// swap, and its oid.
async fn table_shape(app: &TestApp, table: &str) -> (Vec<String>, String, String, String, u32) {
    let client = app.db.connect().await;
    let indexes = client
        .query(
            "SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname",
            &[&table],
        )
        .await
        .expect("reading indexes")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let row = client
        .query_one(
            "SELECT relacl::text, pg_get_userbyid(relowner)::text, \
                 coalesce(reloptions::text, ''), oid FROM pg_class \
             WHERE oid = $1::text::regclass",
            &[&table],
        )
        .await
        .expect("reading the table");
    (indexes, row.get(0), row.get(1), row.get(2), row.get(3))
}

/// Definitions of a table's extended statistics, by name.
async fn statistics(app: &TestApp, table: &str) -> Vec<String> {
    app.db
        .connect()
        .await
        .query(
            "SELECT pg_get_statisticsobjdef(oid) FROM pg_statistic_ext \
             WHERE stxrelid = $1::text::regclass ORDER BY stxname",
            &[&table],
        )
        .await
        .expect("reading extended statistics")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_rebuild_swaps_in_an_equal_table_with_the_same_indexes_and_grants() {
    let app = spawn_app().await;
    random_changes(&app, 60).await;
    app.upsert_prospect(fixtures::jane_doe()).await;
    wait_until_consistent(&app.db).await;
    let mut before = Vec::new();
    for model in refresh_svc::read_model::READ_MODELS {
        before.push(table_shape(&app, model.table).await);
    }
    let statistics_before = statistics(&app, "prospect_search_view").await;
    assert!(
        !statistics_before.is_empty(),
        "the search model has extended statistics"
    );
    // Far more drift than a repair in place is for: the rebuild must build beside and swap.
    let admin = app.db.connect().await;
    for model in refresh_svc::read_model::READ_MODELS {
        admin
            .batch_execute(&format!("DELETE FROM {}", model.table))
            .await
            .expect("emptying a read model");
    }

    let response = refresh_now(&app, RefreshMode::Full, ReadModel::Unspecified).await;
    assert!(response.completed);
    assert_eq!(response.results.len(), 3);
    for result in &response.results {
        assert_eq!(result.error, "", "{result:?}");
        assert_eq!(result.mode(), RefreshMode::Full);
        assert!(result.rows > 0, "{result:?}");
        assert!(!result.watermark.is_empty());
    }

    for (model, (indexes, acl, owner, storage, oid)) in
        refresh_svc::read_model::READ_MODELS.iter().zip(before)
    {
        let (new_indexes, new_acl, new_owner, new_storage, new_oid) =
            table_shape(&app, model.table).await;
        // The models updated in place keep room on their pages for HOT updates.
        if model.table != "prospect_search_view" {
            assert_eq!(new_storage, "{fillfactor=85}", "storage of {}", model.table);
        }
        assert_eq!(
            storage, new_storage,
            "storage parameters of {}",
            model.table
        );
        assert_ne!(oid, new_oid, "{} was swapped for a new table", model.table);
        assert_eq!(indexes, new_indexes, "indexes of {}", model.table);
        assert_eq!(owner, new_owner, "owner of {}", model.table);
        // The ACL names the granting owner; both name the same one.
        assert_eq!(acl, new_acl, "grants of {}", model.table);
    }
    assert_eq!(
        statistics(&app, "prospect_search_view").await,
        statistics_before,
        "extended statistics survive the swap"
    );
    assert!(drift(&app.db).await.is_empty());
    row_counts_match(&app).await;
    // search-svc, with only its grants, still reads the swapped-in table.
    let page = app.search(query("Jane")).await;
    assert!(page.by_external_id("crm-jane-doe").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_repairs_drift() {
    let app = spawn_app().await;
    random_changes(&app, 60).await;
    wait_until_consistent(&app.db).await;
    let client = app.db.connect().await;
    // Drift the way a bug or a manual edit would: a changed row, a lost row.
    client
        .batch_execute(
            "UPDATE prospect_search_view SET full_name = 'Wrong' \
                 WHERE prospect_id = (SELECT min(prospect_id) FROM prospect_search_view); \
             DELETE FROM company_summary_view \
                 WHERE company_id = (SELECT min(company_id) FROM company_summary_view)",
        )
        .await
        .expect("corrupting the read models");
    assert_eq!(drift(&app.db).await.len(), 2);

    let response = refresh_now(&app, RefreshMode::Reconcile, ReadModel::Unspecified).await;
    assert!(response.completed);
    let repaired: Vec<(ReadModel, i64)> = response
        .results
        .iter()
        .map(|result| (result.read_model(), result.keys))
        .collect();
    assert_eq!(
        repaired,
        vec![
            (ReadModel::CompanyProspect, 0),
            (ReadModel::CompanySummary, 1),
            (ReadModel::ProspectSearch, 1),
        ]
    );
    assert!(
        drift(&app.db).await.is_empty(),
        "{:?}",
        drift(&app.db).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_rebuild_with_little_drift_repairs_in_place() {
    let app = spawn_app().await;
    random_changes(&app, 60).await;
    app.upsert_prospect(fixtures::jane_doe()).await;
    wait_until_consistent(&app.db).await;
    let (_, _, _, _, oid_before) = table_shape(&app, "prospect_search_view").await;
    let admin = app.db.connect().await;
    admin
        .execute(
            "UPDATE prospect_search_view SET full_name = 'Drifted' WHERE external_id = 'crm-jane-doe'",
            &[],
        )
        .await
        .expect("corrupting one row");
    assert_eq!(drift(&app.db).await.len(), 1, "one model drifted");

    let response = refresh_now(&app, RefreshMode::Full, ReadModel::ProspectSearch).await;
    let result = &response.results[0];
    assert_eq!(result.error, "", "{result:?}");
    assert_eq!(result.mode(), RefreshMode::Full);
    assert_eq!(
        result.keys, 1,
        "only the drifted company is re-derived: {result:?}"
    );
    let (_, _, _, _, oid_after) = table_shape(&app, "prospect_search_view").await;
    assert_eq!(oid_before, oid_after, "repaired in place, not swapped");
    assert!(drift(&app.db).await.is_empty());
}

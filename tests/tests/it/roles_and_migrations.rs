//! The database roles enforce which service may touch what, and migrations are idempotent.

use lma_tests::TestDatabase;
use tokio_postgres::error::SqlState;

const READ_MODELS: [&str; 3] = [
    "prospect_search_view",
    "company_prospect_view",
    "company_summary_view",
];

/// Runs `sql` and expects SQLSTATE 42501 (insufficient_privilege).
async fn assert_denied(client: &tokio_postgres::Client, role: &str, sql: &str) {
    match client.batch_execute(sql).await {
        Ok(()) => panic!("{role} may run `{sql}`, but must not"),
        Err(error) => assert_eq!(
            error.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{role} running `{sql}`: {error}"
        ),
    }
}

async fn assert_allowed(client: &tokio_postgres::Client, role: &str, sql: &str) {
    if let Err(error) = client.batch_execute(sql).await {
        panic!("{role} must be allowed to run `{sql}`: {error}");
    }
}

async fn connect_as(db: &TestDatabase, role: &str) -> tokio_postgres::Client {
    let client = db.connect_as(role).await;
    let current: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .expect("current_user")
        .get(0);
    assert_eq!(current, role, "the session runs as the service role");
    client
}

#[tokio::test]
async fn search_role_reads_only_the_read_models() {
    let db = TestDatabase::create().await;
    let search = connect_as(&db, "lma_search").await;
    for table in [
        "company",
        "prospect",
        "customer",
        "organization",
        "api_key",
        "change_log",
    ] {
        assert_denied(
            &search,
            "lma_search",
            &format!("SELECT 1 FROM {table} LIMIT 1"),
        )
        .await;
    }
    for view in READ_MODELS {
        assert_allowed(
            &search,
            "lma_search",
            &format!("SELECT 1 FROM {view} LIMIT 1"),
        )
        .await;
        assert_denied(&search, "lma_search", &format!("DELETE FROM {view}")).await;
    }
}

#[tokio::test]
async fn ingest_role_cannot_touch_the_read_models() {
    let db = TestDatabase::create().await;
    let ingest = connect_as(&db, "lma_ingest").await;
    assert_allowed(&ingest, "lma_ingest", "SELECT 1 FROM company LIMIT 1").await;
    assert_allowed(&ingest, "lma_ingest", "SELECT 1 FROM prospect LIMIT 1").await;
    for view in READ_MODELS {
        assert_denied(
            &ingest,
            "lma_ingest",
            &format!("SELECT 1 FROM {view} LIMIT 1"),
        )
        .await;
        assert_denied(&ingest, "lma_ingest", &format!("DELETE FROM {view}")).await;
        assert_denied(&ingest, "lma_ingest", &format!("TRUNCATE {view}")).await;
    }
    assert_denied(&ingest, "lma_ingest", "SELECT 1 FROM api_key LIMIT 1").await;
    // Capture runs as the writer, which may append to the change log and nothing more.
    for statement in [
        "SELECT 1 FROM change_log LIMIT 1",
        "DELETE FROM change_log",
        "UPDATE change_signal SET pending = false",
    ] {
        assert_denied(&ingest, "lma_ingest", statement).await;
    }
}

#[tokio::test]
async fn refresh_role_reads_but_does_not_write_the_base_tables() {
    let db = TestDatabase::create().await;
    let refresh = connect_as(&db, "lma_refresh").await;
    assert_allowed(&refresh, "lma_refresh", "SELECT 1 FROM company LIMIT 1").await;
    assert_allowed(
        &refresh,
        "lma_refresh",
        "SELECT 1 FROM prospect_search_view LIMIT 1",
    )
    .await;
    assert_denied(&refresh, "lma_refresh", "DELETE FROM company").await;
    assert_denied(&refresh, "lma_refresh", "DELETE FROM prospect").await;
    assert_denied(&refresh, "lma_refresh", "SELECT 1 FROM api_key LIMIT 1").await;
}

#[tokio::test]
async fn migrations_are_idempotent_and_current() {
    let db = TestDatabase::create().await;
    let mut client = db.connect().await;
    let latest = svc_core::migrations::latest_version();
    assert_eq!(
        svc_core::migrations::current_version(&client)
            .await
            .expect("read the schema version"),
        Some(latest)
    );
    let report = svc_core::migrations::run(&mut client)
        .await
        .expect("running the migrations again");
    assert!(
        report.applied.is_empty(),
        "a migrated database needs nothing: {report:?}"
    );
    assert_eq!(report.current_version, Some(latest));
}

#[tokio::test]
async fn an_empty_database_has_no_schema_version() {
    let db = TestDatabase::create_empty().await;
    let client = db.connect().await;
    assert_eq!(
        svc_core::migrations::current_version(&client)
            .await
            .expect("an empty database is not an error"),
        None
    );
}

/// The text of migration `version`.
fn migration_file(version: u32) -> String {
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let prefix = format!("V{version}__");
    let entry = std::fs::read_dir(&migrations)
        .expect("migrations/")
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .unwrap_or_else(|| panic!("no migration {prefix}"));
    std::fs::read_to_string(entry.path()).expect("a migration")
}

/// Applies migrations 1 to `last` to an empty database, as the runner would.
async fn migrate_up_to(client: &tokio_postgres::Client, last: u32) {
    // What the runner creates (V7 grants on it).
    client
        .batch_execute("CREATE TABLE refinery_schema_history (version integer PRIMARY KEY)")
        .await
        .expect("refinery_schema_history");
    for version in 1..=last {
        client
            .batch_execute(&migration_file(version))
            .await
            .unwrap_or_else(|error| panic!("V{version}: {error}"));
    }
}

/// V15 (person identity) on a database holding the same person twice (two sources, the address
/// in two cases) and someone else: one prospect per address survives, the lowest id, holding
/// every source's link and each column's most recently updated value; the other is deleted
/// (and logged, so refresh-svc removes it), and a second prospect of an address is refused.
#[tokio::test]
async fn the_identity_migration_merges_prospects_of_one_address() {
    let db = TestDatabase::create_empty().await;
    let client = db.connect().await;
    migrate_up_to(&client, 14).await;
    client
        .batch_execute(
            "INSERT INTO organization (name) VALUES ('acme'), ('other');
             INSERT INTO company (organization_id, domain, name)
             SELECT id, 'acme.com', 'Acme' FROM organization;
             INSERT INTO prospect (organization_id, company_id, external_source, external_id,
                                   email, first_name, job_title, phone, tags, custom_fields,
                                   updated_at)
             SELECT c.organization_id, c.id, v.source, v.id, v.email, v.first_name, v.title,
                    v.phone, v.tags, v.fields, v.updated_at
             FROM company c, (VALUES
                 ('sf', 's-1', 'ann@acme.com', 'Ann', 'CTO', NULL, '{sf}'::text[],
                  '{\"tier\": \"gold\", \"owner\": \"kim\"}'::jsonb, now() - interval '2 days'),
                 ('apollo', 'a-1', 'ANN@acme.com', NULL, 'CEO', '+14155552671', '{}',
                  '{\"tier\": \"silver\"}', now() - interval '1 day'),
                 ('sf', 's-2', 'bob@acme.com', 'Bob', NULL, NULL, '{}', '{}', now()))
                 AS v(source, id, email, first_name, title, phone, tags, fields, updated_at);
             DELETE FROM change_log;",
        )
        .await
        .expect("data before V15");

    client
        .batch_execute(&migration_file(15))
        .await
        .expect("V15");

    let people: i64 = client
        .query_one(
            "SELECT count(*) - count(DISTINCT (organization_id, lower(email))) FROM prospect",
            &[],
        )
        .await
        .expect("prospects")
        .get(0);
    assert_eq!(people, 0, "one prospect per address");
    let rows = client
        .query(
            "SELECT p.organization_id, p.external_source, p.first_name, p.job_title, p.phone,
                    p.tags, p.custom_fields::text,
                    (SELECT string_agg(l.external_source || '/' || l.external_id, ','
                                       ORDER BY l.external_source, l.external_id)
                     FROM prospect_source_link l WHERE l.prospect_id = p.id)
             FROM prospect p WHERE lower(p.email) = 'ann@acme.com'
             ORDER BY p.organization_id",
            &[],
        )
        .await
        .expect("Ann");
    assert_eq!(rows.len(), 2, "Ann once in each organization");
    for ann in &rows {
        assert_eq!(
            ann.get::<_, &str>(1),
            "sf",
            "the lowest id survives with its key"
        );
        assert_eq!(
            ann.get::<_, Option<&str>>(2),
            Some("Ann"),
            "kept where the newer is empty"
        );
        assert_eq!(
            ann.get::<_, Option<&str>>(3),
            Some("CEO"),
            "the newer value"
        );
        assert_eq!(ann.get::<_, Option<&str>>(4), Some("+14155552671"));
        assert_eq!(ann.get::<_, Vec<String>>(5), ["sf"]);
        assert_eq!(
            ann.get::<_, &str>(6),
            r#"{"tier": "silver", "owner": "kim"}"#,
            "custom fields merged key by key"
        );
        assert_eq!(
            ann.get::<_, &str>(7),
            "apollo/a-1,sf/s-1",
            "every source's link"
        );
    }
    let links: i64 = client
        .query_one("SELECT count(*) FROM prospect_source_link", &[])
        .await
        .expect("links")
        .get(0);
    assert_eq!(links, 6, "no link lost");
    let deleted: i64 = client
        .query_one(
            "SELECT count(*) FROM change_log WHERE prospect_id IS NOT NULL \
             AND prospect_id NOT IN (SELECT id FROM prospect)",
            &[],
        )
        .await
        .expect("change_log")
        .get(0);
    assert_eq!(
        deleted, 2,
        "the merged-away prospects are logged for refresh-svc"
    );
    let duplicate = client
        .execute(
            "INSERT INTO prospect (organization_id, company_id, external_source, external_id, email)
             SELECT organization_id, id, 'csv', 'x', 'Bob@ACME.com' FROM company LIMIT 1",
            &[],
        )
        .await
        .expect_err("a second prospect of an address");
    assert_eq!(
        duplicate.as_db_error().and_then(|db| db.constraint()),
        Some("prospect_organization_email_unique")
    );
    // A new prospect is linked from its own key by the database.
    client
        .execute(
            "INSERT INTO prospect (organization_id, company_id, external_source, external_id, email)
             SELECT organization_id, id, 'csv', 'x', 'cy@acme.com' FROM company LIMIT 1",
            &[],
        )
        .await
        .expect("a new person");
    let linked: i64 = client
        .query_one(
            "SELECT count(*) FROM prospect_source_link l JOIN prospect p ON p.id = l.prospect_id \
             WHERE l.external_source = 'csv' AND l.external_id = 'x'",
            &[],
        )
        .await
        .expect("the new link")
        .get(0);
    assert_eq!(linked, 1);
}

/// V11 (revenue ranges) on a database holding data: every stored revenue was an exact amount,
/// so it gets max_revenue = revenue, in the base tables and the read models alike, without
/// moving updated_at or logging a change; and the read models still equal their definitions.
#[tokio::test]
async fn the_revenue_range_migration_keeps_stored_amounts_exact() {
    let db = TestDatabase::create_empty().await;
    let client = db.connect().await;
    let file = migration_file;
    migrate_up_to(&client, 10).await;
    client
        .batch_execute(
            "INSERT INTO organization (name) VALUES ('acme');
             INSERT INTO company (organization_id, domain, name, revenue)
             SELECT id, 'exact.io', 'Exact', 1250000000 FROM organization;
             INSERT INTO company (organization_id, domain, name)
             SELECT id, 'unknown.io', 'Unknown' FROM organization;
             INSERT INTO prospect (organization_id, company_id, external_id, email)
             SELECT organization_id, id, 'p-' || domain, 'pat@' || domain FROM company;
             INSERT INTO company_prospect_view SELECT * FROM company_prospect_def;
             INSERT INTO prospect_search_view SELECT * FROM prospect_search_def;
             INSERT INTO company_summary_view SELECT * FROM company_summary_def;
             DELETE FROM change_log;",
        )
        .await
        .expect("data before V11");
    let updated_at = "SELECT string_agg(updated_at::text, ',' ORDER BY id) FROM company";
    let before: String = client
        .query_one(updated_at, &[])
        .await
        .expect("updated_at")
        .get(0);

    client.batch_execute(&file(11)).await.expect("V11");

    let bounds: Vec<(String, Option<i64>, Option<i64>)> = client
        .query(
            "SELECT domain, revenue, max_revenue FROM company ORDER BY domain",
            &[],
        )
        .await
        .expect("companies")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert_eq!(
        bounds,
        [
            (
                "exact.io".to_owned(),
                Some(1_250_000_000),
                Some(1_250_000_000)
            ),
            ("unknown.io".to_owned(), None, None),
        ]
    );
    let after: String = client
        .query_one(updated_at, &[])
        .await
        .expect("updated_at")
        .get(0);
    assert_eq!(after, before, "filling max_revenue changes no company");
    let logged: i64 = client
        .query_one("SELECT count(*) FROM change_log", &[])
        .await
        .expect("change_log")
        .get(0);
    assert_eq!(logged, 0, "filling max_revenue logs no change");
    for model in READ_MODELS {
        let definition = model.replace("_view", "_def");
        let differing: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM ((TABLE {model} EXCEPT ALL TABLE {definition}) \
                     UNION ALL (TABLE {definition} EXCEPT ALL TABLE {model})) AS d"
                ),
                &[],
            )
            .await
            .unwrap_or_else(|error| panic!("{model}: {error}"))
            .get(0);
        assert_eq!(differing, 0, "{model} equals its definition after V11");
        let exact: Option<i64> = client
            .query_one(
                &format!("SELECT max_revenue FROM {model} WHERE revenue IS NOT NULL LIMIT 1"),
                &[],
            )
            .await
            .unwrap_or_else(|error| panic!("{model}: {error}"))
            .get(0);
        assert_eq!(exact, Some(1_250_000_000), "{model}");
    }
    // A range is formatted with both bounds.
    client
        .batch_execute("UPDATE company SET max_revenue = 2000000000 WHERE domain = 'exact.io'")
        .await
        .expect("a range");
    let formatted: String = client
        .query_one(
            "SELECT formatted_revenue FROM company_summary_def WHERE domain = 'exact.io'",
            &[],
        )
        .await
        .expect("formatted")
        .get(0);
    assert_eq!(formatted, "1.3B-2.0B");
    // The upper bound is part of the profile a search hit shows: its change re-derives the hits.
    let profile_changed: bool = client
        .query_one(
            "SELECT bool_and(NOT profile_unchanged) AND count(*) = 1 FROM change_log",
            &[],
        )
        .await
        .expect("change_log")
        .get(0);
    assert!(profile_changed, "a max_revenue change is a profile change");
}

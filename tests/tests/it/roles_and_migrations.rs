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

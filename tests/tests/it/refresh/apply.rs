//! Changes reach the read models by themselves: through NOTIFY, after a restart, and after the
//! listener's connection is killed.

use std::time::Duration;

use lma_proto::v1::{GetStatusRequest, ProspectFilter, ReadModel, RefreshMode};
use lma_tests::app::{Service, Shutdown, create_tenant_in, start_service, wait_for_health};
use lma_tests::clients::{self, BearerAuth};
use lma_tests::fixtures::{self, industries};
use lma_tests::{TestDatabase, spawn_app, wait};
use tonic_health::pb::health_check_response::ServingStatus;

use super::{pending_changes, start_refresh, wait_until_consistent, wait_until_searchable};

/// Long enough that the fallback drain cannot be what applied a change in these tests.
const NO_FALLBACK_DRAIN: &str = "600000";
/// Likewise for the change-log probe that picks up writes which skipped their NOTIFY.
const NO_PROBE: &str = "60000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_becomes_visible_without_any_manual_refresh() {
    let app = spawn_app().await;
    app.upsert_prospect(fixtures::jane_doe()).await;

    app.wait_until_visible(industries(&["Robotics"]), "crm-jane-doe")
        .await;
    wait_until_consistent(&app.db).await;
    let status = app
        .refresh_client()
        .await
        .get_status(GetStatusRequest {})
        .await
        .expect("GetStatus")
        .into_inner();
    let search_view = status
        .read_models
        .iter()
        .find(|model| model.read_model() == ReadModel::ProspectSearch)
        .expect("prospect_search_view is reported");
    assert_eq!(search_view.last_mode(), RefreshMode::Incremental);
    assert_eq!(search_view.row_count, 1);
    assert_eq!(search_view.backlog, 0);
    assert!(search_view.last_error.is_none(), "{search_view:?}");
    assert!(!status.leader.is_empty(), "the only replica leads");
}

/// Jane Doe's colleague number `n`, at the same company.
fn colleague(n: usize) -> lma_proto::v1::ProspectRecord {
    let mut record = fixtures::jane_doe();
    record.external_id = format!("colleague-{n}");
    record.email = format!("colleague{n}@acme-robotics.com");
    record
}

/// A running app whose read models hold Jane Doe's company with ten colleagues (0 to 9).
async fn app_with_ten_colleagues() -> lma_tests::TestApp {
    let app = spawn_app().await;
    for n in 0..10 {
        app.upsert_prospect(colleague(n)).await;
    }
    wait_until_consistent(&app.db).await;
    app
}

/// Renames Jane Doe's company, a change every one of its prospects' rows shows.
async fn rename_acme(client: &tokio_postgres::Client) {
    client
        .execute(
            "UPDATE company SET name = 'Acme Robotics Group' WHERE domain = 'acme-robotics.com'",
            &[],
        )
        .await
        .expect("rename the company");
}

/// A write to one prospect of a company with ten writes only the rows that changed: one
/// prospect row updated in place, not all ten rewritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_writes_only_the_rows_that_changed() {
    let app = app_with_ten_colleagues().await;
    let client = app.db.connect().await;
    let before: i64 = client
        .query_one(
            "SELECT coalesce(max(id), 0) FROM materialized_view_log",
            &[],
        )
        .await
        .expect("the refresh log")
        .get(0);

    let mut promoted = colleague(3);
    promoted.job_title = "Chief Revenue Officer".into();
    app.upsert_prospect(promoted).await;
    wait_until_consistent(&app.db).await;

    let rows = client
        .query(
            "SELECT view_name, sum(rows_affected)::bigint FROM materialized_view_log \
             WHERE id > $1 AND mode = 'incremental' GROUP BY view_name ORDER BY view_name",
            &[&before],
        )
        .await
        .expect("the refresh log");
    let touched: Vec<(String, i64)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(
        touched,
        [
            ("company_prospect_view".to_owned(), 1),
            ("company_summary_view".to_owned(), 1),
            ("prospect_search_view".to_owned(), 1),
        ],
        "one row updated per read model"
    );
}

/// The change log names the prospect a write changed: the apply re-derives that prospect's rows,
/// not its whole company's; a company's change still re-derives every row of the company; and a
/// statement writing many prospects is recorded per company.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prospect_change_rederives_its_own_rows_and_a_company_change_the_whole_company() {
    let app = app_with_ten_colleagues().await;
    let client = app.db.connect().await;
    let title_of = |external_id: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT job_title FROM prospect_search_view WHERE external_id = $1",
                    &[&external_id],
                )
                .await
                .map(|row| row.get::<_, Option<String>>(0).unwrap_or_default())
                .map_err(|error| error.to_string())
        }
    };
    // Drift that only a re-derivation of colleague-5's own row would repair.
    client
        .execute(
            "UPDATE prospect_search_view SET job_title = 'planted' \
             WHERE external_id = 'colleague-5'",
            &[],
        )
        .await
        .expect("plant drift");

    let mut promoted = colleague(3);
    promoted.job_title = "Chief Revenue Officer".into();
    app.upsert_prospect(promoted).await;
    wait::until(
        "the promotion to be applied",
        Duration::from_secs(20),
        || async {
            let title = title_of("colleague-3").await?;
            let pending = pending_changes(&client).await?;
            if title == "Chief Revenue Officer" && pending == 0 {
                Ok(())
            } else {
                Err(format!(
                    "title {title:?}, {pending} change-log rows pending"
                ))
            }
        },
    )
    .await;
    assert_eq!(
        title_of("colleague-5").await.as_deref(),
        Ok("planted"),
        "a colleague's change re-derived only the colleague"
    );

    // A company's change reaches all its prospects' rows: the planted drift is re-derived away.
    rename_acme(&client).await;
    wait_until_consistent(&app.db).await;

    // More than 64 prospects in one statement are recorded as their company, and a single
    // prospect in the same transaction as itself.
    let mut admin = app.db.connect().await;
    let transaction = admin.transaction().await.expect("begin");
    transaction
        .execute(
            "INSERT INTO prospect (organization_id, company_id, external_id, first_name, email) \
             SELECT organization_id, id, 'bulk-' || n, 'Bulk', 'bulk' || n || '@acme-robotics.com' \
             FROM company, generate_series(1, 100) AS n WHERE domain = 'acme-robotics.com'",
            &[],
        )
        .await
        .expect("insert 100 prospects");
    transaction
        .execute(
            "UPDATE prospect SET job_title = 'VP Sales' WHERE external_id = 'colleague-1'",
            &[],
        )
        .await
        .expect("update one prospect");
    let logged = transaction
        .query_one(
            "SELECT count(*), count(prospect_id) FROM change_log \
             WHERE xid = pg_current_xact_id()",
            &[],
        )
        .await
        .expect("this transaction's change log");
    assert_eq!(
        (logged.get::<_, i64>(0), logged.get::<_, i64>(1)),
        (2, 1),
        "one row for the bulk insert's company, one for the single prospect"
    );
    transaction.commit().await.expect("commit");
    wait_until_consistent(&app.db).await;
}

/// A search hit changes with what it shows: a company's phone, which no hit shows, reaches
/// company_prospect_view but leaves the company's search rows unwritten; a rename moves their
/// updated_at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_change_no_search_hit_shows_leaves_the_search_rows_alone() {
    let app = app_with_ten_colleagues().await;
    let client = app.db.connect().await;
    // Each row's version (xmin) and updated_at.
    let search_rows = || async {
        client
            .query(
                "SELECT prospect_id, xmin::text, updated_at FROM prospect_search_view \
                 ORDER BY prospect_id",
                &[],
            )
            .await
            .expect("search rows")
            .iter()
            .map(|row| {
                (
                    row.get::<_, i64>(0),
                    row.get::<_, String>(1),
                    row.get::<_, std::time::SystemTime>(2),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = search_rows().await;
    assert_eq!(before.len(), 10);
    let last_log = || async {
        client
            .query_one(
                "SELECT coalesce(max(id), 0) FROM materialized_view_log \
                 WHERE view_name = 'prospect_search_view' AND mode = 'incremental'",
                &[],
            )
            .await
            .expect("the refresh log")
            .get::<_, i64>(0)
    };
    let logged_before = last_log().await;

    client
        .execute(
            "UPDATE company SET phone = '+49 30 1234567' WHERE domain = 'acme-robotics.com'",
            &[],
        )
        .await
        .expect("change the company's phone");
    wait_until_consistent(&app.db).await;
    let phones: i64 = client
        .query_one(
            "SELECT count(*) FROM company_prospect_view WHERE company_phone = '+49 30 1234567'",
            &[],
        )
        .await
        .expect("company_prospect_view")
        .get(0);
    assert_eq!(phones, 10, "the phone reached the view that shows it");
    assert_eq!(search_rows().await, before, "no search row was written");
    assert_eq!(
        last_log().await,
        logged_before,
        "nor were the company's search rows re-derived"
    );

    rename_acme(&client).await;
    wait_until_consistent(&app.db).await;
    let renamed = search_rows().await;
    assert_eq!(renamed.len(), 10);
    for ((id, _, updated_before), (_, _, updated_after)) in before.iter().zip(&renamed) {
        assert!(
            updated_after > updated_before,
            "prospect {id}: the rename moved its hit's updated_at"
        );
    }
}

/// `change_log.profile_unchanged`, which lets the applies skip the search rows: true exactly for
/// a company update that left every column a search hit shows as it was, however the
/// transaction that made it is timed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_log_marks_a_company_update_that_left_the_profile_alone() {
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    // No refresh-svc: the change log keeps every row.
    let mut first = db.connect().await;
    let mut second = db.connect().await;
    let organization = tenant.organization_id;
    let companies: Vec<i64> = first
        .query(
            "INSERT INTO company (organization_id, domain, name) \
             VALUES ($1, 'one.example', 'One'), ($1, 'two.example', 'Two') RETURNING id",
            &[&organization],
        )
        .await
        .expect("two companies")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let (one, two) = (companies[0], companies[1]);
    // What the transaction logged so far, in order: (company, profile_unchanged).
    async fn marks(transaction: &tokio_postgres::Transaction<'_>) -> Vec<(i64, bool)> {
        transaction
            .query(
                "SELECT company_id, profile_unchanged FROM change_log \
                 WHERE xid = pg_current_xact_id() ORDER BY id",
                &[],
            )
            .await
            .expect("this transaction's change log")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }
    async fn logged(client: &mut tokio_postgres::Client, statements: &[&str]) -> Vec<(i64, bool)> {
        let transaction = client.transaction().await.expect("begin");
        for statement in statements {
            transaction
                .batch_execute(statement)
                .await
                .unwrap_or_else(|error| panic!("{statement}: {error}"));
        }
        let marks = marks(&transaction).await;
        transaction.commit().await.expect("commit");
        marks
    }
    let phone = format!("UPDATE company SET phone = '+1 555 0100' WHERE id = {one}");
    let rename = format!("UPDATE company SET name = 'One Renamed' WHERE id = {one}");

    assert_eq!(
        logged(&mut first, &[&phone]).await,
        [(one, true)],
        "a phone"
    );
    assert_eq!(
        logged(
            &mut first,
            &[&format!(
                "UPDATE company SET phone = phone WHERE id = {one}"
            )]
        )
        .await,
        [(one, true)],
        "an update that changes nothing"
    );
    assert_eq!(
        logged(&mut first, &[&rename]).await,
        [(one, false)],
        "a rename"
    );
    // profile_updated_at is the transaction's start, however long before the update that is.
    assert_eq!(
        logged(
            &mut first,
            &[
                "SELECT pg_sleep(0.05)",
                &format!("UPDATE company SET industry = 'Media' WHERE id = {one}")
            ]
        )
        .await,
        [(one, false)],
        "a profile change in a transaction that began earlier"
    );
    // After a profile change in the same transaction, any update of the company counts as one:
    // more than needed, never less.
    assert_eq!(
        logged(
            &mut first,
            &[
                &format!("UPDATE company SET city = 'Berlin' WHERE id = {one}"),
                &format!("UPDATE company SET phone = '+1 555 0101' WHERE id = {one}")
            ]
        )
        .await,
        [(one, false), (one, false)],
        "a phone after a profile change in the same transaction"
    );
    // One statement, two rows: each marked for itself.
    assert_eq!(
        logged(
            &mut first,
            &[&format!(
                "UPDATE company SET phone = '+1 555 0102', \
                     name = CASE WHEN id = {two} THEN 'Two Renamed' ELSE name END \
                 WHERE id IN ({one}, {two})"
            )]
        )
        .await
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>(),
        [(one, true), (two, false)].into_iter().collect(),
        "a statement that renames one of two companies"
    );
    // A transaction that began before another's rename committed, updating only the phone
    // after it: the rename is the other transaction's to mark.
    let older = first
        .transaction()
        .await
        .expect("begin the older transaction");
    older
        .batch_execute("SELECT 1")
        .await
        .expect("the older transaction runs");
    assert_eq!(
        logged(
            &mut second,
            &[&format!(
                "UPDATE company SET name = 'One Again' WHERE id = {one}"
            )]
        )
        .await,
        [(one, false)]
    );
    older
        .batch_execute(&format!(
            "UPDATE company SET phone = '+1 555 0103' WHERE id = {one}"
        ))
        .await
        .expect("the older transaction's phone change");
    assert_eq!(
        marks(&older).await,
        [(one, true)],
        "a phone change in a transaction older than the rename before it"
    );
    older.commit().await.expect("commit");
    // An upsert's update is marked like any update; inserts and deletes are never unchanged.
    assert_eq!(
        logged(
            &mut first,
            &[&format!(
                "INSERT INTO company (organization_id, domain, name, phone) \
                 VALUES ({organization}, 'two.example', 'ignored', '+1 555 0104') \
                 ON CONFLICT (organization_id, domain) DO UPDATE SET phone = excluded.phone"
            )]
        )
        .await,
        [(two, true)],
        "an upsert of the phone"
    );
    let inserted = logged(
        &mut first,
        &[&format!(
            "INSERT INTO company (organization_id, domain, name) \
             VALUES ({organization}, 'three.example', 'Three')"
        )],
    )
    .await;
    assert_eq!(inserted.len(), 1);
    assert!(!inserted[0].1, "an insert: {inserted:?}");
    assert_eq!(
        logged(
            &mut first,
            &[&format!("DELETE FROM company WHERE id = {two}")]
        )
        .await,
        [(two, false)],
        "a delete"
    );
}

/// Capture runs as the writer: the ingest role's update names every prospect it changed, however
/// many, and a prospect that moves names its old company as well, whose summary loses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_names_each_prospect_it_changed_and_a_move_the_old_company_too() {
    let app = app_with_ten_colleagues().await;
    app.db
        .connect()
        .await
        .execute(
            "INSERT INTO company (organization_id, domain, name) \
             SELECT organization_id, 'beta-dynamics.com', 'Beta Dynamics' FROM company \
             WHERE domain = 'acme-robotics.com'",
            &[],
        )
        .await
        .expect("a second company");
    wait_until_consistent(&app.db).await;

    let mut ingest = app.db.connect_as("lma_ingest").await;
    let transaction = ingest.transaction().await.expect("begin");
    let promoted = transaction
        .execute(
            "UPDATE prospect SET job_title = 'Account Executive' \
             WHERE external_id LIKE 'colleague-%' AND external_id <> 'colleague-0'",
            &[],
        )
        .await
        .expect("the ingest role updates nine prospects");
    assert_eq!(promoted, 9);
    transaction
        .execute(
            "UPDATE prospect SET company_id = \
                 (SELECT id FROM company WHERE domain = 'beta-dynamics.com') \
             WHERE external_id = 'colleague-0'",
            &[],
        )
        .await
        .expect("the ingest role moves a prospect");
    // The writer may append to the change log but not read it; the session's superuser may.
    transaction
        .batch_execute("SET LOCAL ROLE postgres")
        .await
        .expect("read this transaction's change log as the superuser");
    let logged = transaction
        .query_one(
            "SELECT count(*), count(prospect_id), count(DISTINCT company_id), \
                 count(*) FILTER (WHERE company_id = \
                     (SELECT id FROM company WHERE domain = 'acme-robotics.com')) \
             FROM change_log WHERE xid = pg_current_xact_id()",
            &[],
        )
        .await
        .expect("this transaction's change log");
    assert_eq!(
        (0..4).map(|n| logged.get::<_, i64>(n)).collect::<Vec<_>>(),
        vec![11, 11, 2, 10],
        "nine updated prospects, the moved one at its new company, and at its old one"
    );
    transaction.commit().await.expect("commit");
    wait_until_consistent(&app.db).await;
    let acme_prospects: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT prospect_count FROM company_summary_view WHERE domain = 'acme-robotics.com'",
            &[],
        )
        .await
        .expect("Acme's summary")
        .get(0);
    assert_eq!(
        acme_prospects, 9,
        "the old company's summary lost the moved prospect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_refresh_is_stopped_is_applied_when_it_starts() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let ingest = start_service(Service::Ingest, &db.url(), &shutdown, &[]).await;
    let search = start_service(Service::Search, &db.url(), &shutdown, &[]).await;
    for running in [&ingest, &search] {
        wait_for_health(running, ServingStatus::Serving).await;
    }
    let auth = BearerAuth::key(&tenant.api_key);
    clients::ingest_client(ingest.addr, auth.clone())
        .await
        .upsert_prospect(lma_proto::v1::UpsertProspectRequest {
            prospect: Some(fixtures::jane_doe()),
        })
        .await
        .expect("UpsertProspect");
    let client = db.connect().await;
    let pending = pending_changes(&client).await.expect("counting the log");
    assert!(pending > 0, "the write is waiting in the change log");
    let applied: i64 = client
        .query_one("SELECT count(*) FROM prospect_search_view", &[])
        .await
        .expect("counting the read model")
        .get(0);
    assert_eq!(applied, 0, "nobody applied it yet");

    let _refresh = start_refresh(
        &db,
        &shutdown,
        "late",
        &[
            "--drain-interval-ms",
            NO_FALLBACK_DRAIN,
            "--change-probe-ms",
            NO_PROBE,
        ],
    )
    .await;
    wait_until_searchable(
        "the write to be searchable",
        search.addr,
        &auth,
        ProspectFilter::default(),
        "crm-jane-doe",
    )
    .await;
    wait_until_consistent(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_listener_backend_loses_nothing() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let ingest = start_service(Service::Ingest, &db.url(), &shutdown, &[]).await;
    wait_for_health(&ingest, ServingStatus::Serving).await;
    let _refresh = start_refresh(
        &db,
        &shutdown,
        "listener",
        &[
            "--drain-interval-ms",
            NO_FALLBACK_DRAIN,
            "--change-probe-ms",
            NO_PROBE,
        ],
    )
    .await;
    let admin = db.connect().await;
    let listener_pid = || async {
        admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'refresh-svc listener' \
                 AND query ILIKE 'LISTEN%'",
                &[],
            )
            .await
            .map_err(|error| error.to_string())?
            .map(|row| row.get::<_, i32>(0))
            .ok_or_else(|| "no listening backend".to_owned())
    };
    let first = wait::until(
        "the listener to listen",
        Duration::from_secs(15),
        listener_pid,
    )
    .await;
    let terminated: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&first])
        .await
        .expect("terminating the listener")
        .get(0);
    assert!(terminated);

    // Written while the listener is (probably) still reconnecting: its NOTIFY may be lost.
    let mut ingest_client =
        clients::ingest_client(ingest.addr, BearerAuth::key(&tenant.api_key)).await;
    for record in [
        fixtures::jane_doe(),
        fixtures::prospect_with_revenue("during-outage", Some(5)),
    ] {
        ingest_client
            .upsert_prospect(lma_proto::v1::UpsertProspectRequest {
                prospect: Some(record),
            })
            .await
            .expect("UpsertProspect");
    }
    wait_until_consistent(&db).await;
    let second = wait::until(
        "the listener to listen again",
        Duration::from_secs(15),
        || async {
            let pid = listener_pid().await?;
            if pid == first {
                Err("still the killed backend".to_owned())
            } else {
                Ok(pid)
            }
        },
    )
    .await;
    assert_ne!(first, second);

    // And notifications work on the new connection.
    ingest_client
        .upsert_prospect(lma_proto::v1::UpsertProspectRequest {
            prospect: Some(fixtures::prospect_with_revenue("after-outage", None)),
        })
        .await
        .expect("UpsertProspect");
    wait_until_consistent(&db).await;
    let rows: i64 = admin
        .query_one("SELECT count(*) FROM prospect_search_view", &[])
        .await
        .expect("counting")
        .get(0);
    assert_eq!(rows, 3);
}

/// Pending entries of the trigram index's GIN pending list, read without merging them.
async fn trigram_pending_tuples(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT pending_tuples FROM pgstatginindex('prospect_search_view_trigram_idx')",
            &[],
        )
        .await
        .expect("reading the GIN metapage")
        .get(0)
}

/// The leader merges the read models' GIN pending lists itself, so that no apply has to. With a
/// pending list no write ever finds full, the entries of an apply stay pending while merging is
/// off, and are merged once a leader merges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_merges_gin_pending_lists_outside_the_applies() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let admin = db.connect().await;
    admin
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pgstattuple; \
             ALTER INDEX prospect_search_view_trigram_idx SET (gin_pending_list_limit = 65536)",
        )
        .await
        .expect("preparing the index");
    let shutdown = Shutdown::default();
    let ingest = start_service(Service::Ingest, &db.url(), &shutdown, &[]).await;
    wait_for_health(&ingest, ServingStatus::Serving).await;

    let not_merging = Shutdown::default();
    let first = start_refresh(
        &db,
        &not_merging,
        "not-merging",
        &["--gin-merge-interval-ms", "0"],
    )
    .await;
    clients::ingest_client(ingest.addr, BearerAuth::key(&tenant.api_key))
        .await
        .upsert_prospect(lma_proto::v1::UpsertProspectRequest {
            prospect: Some(fixtures::jane_doe()),
        })
        .await
        .expect("UpsertProspect");
    wait_until_consistent(&db).await;
    assert!(
        trigram_pending_tuples(&admin).await > 0,
        "the apply left its trigram entries pending"
    );
    not_merging.trigger();
    first.stopped().await.expect("the first replica stops");

    let _merging = start_refresh(
        &db,
        &shutdown,
        "merging",
        &["--gin-merge-interval-ms", "100"],
    )
    .await;
    wait::until(
        "the leader to merge the pending list",
        Duration::from_secs(30),
        || async {
            match trigram_pending_tuples(&admin).await {
                0 => Ok(()),
                pending => Err(format!("{pending} entries still pending")),
            }
        },
    )
    .await;
}

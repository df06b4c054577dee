//! refresh-svc killed with SIGKILL in the middle of applying a large backlog, several times,
//! then restarted: the killed transactions roll back, the new process takes over the
//! leadership, and the read models converge to their definitions.

use std::time::Duration;

use lma_tests::app::{Service, create_tenant_in};
use lma_tests::process::ServiceProcess;
use lma_tests::{TestDatabase, bulk};

use crate::refresh::wait_until_consistent;

/// Prospects (and companies) written before refresh-svc starts: a backlog whose apply takes
/// long enough to be caught in the middle.
const PROSPECTS: i64 = 20_000;
const COMPANIES: i64 = 2_000;

/// Kills attempted; each waits for an apply transaction to be open.
const KILLS: usize = 3;

/// How long refresh-svc may take to open its first apply transaction after starting.
const APPLY_START_TIMEOUT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_svc_killed_mid_apply_converges_after_restart() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    bulk::insert_prospects(&db, tenant.organization_id, COMPANIES, PROSPECTS).await;
    let admin = db.connect().await;
    let backlog: i64 = admin
        .query_one("SELECT count(*) FROM change_log", &[])
        .await
        .expect("counting the change log")
        .get(0);
    assert!(backlog > 0, "the writes left no change-log rows");

    // Small batches while killing: many apply transactions, so a kill lands inside one.
    let env = [
        ("LMA_APPLY_BATCH_SIZE", "200"),
        ("LMA_LEADER_RETRY_MS", "200"),
        ("LMA_RECONCILE_INTERVAL_SECS", "0"),
    ];
    let mut killed_mid_apply = Vec::new();
    for _ in 0..KILLS {
        let refresh = ServiceProcess::start(Service::Refresh, &db.url(), &env)
            .await
            .expect("starting refresh-svc");
        let open = open_transaction(&admin, db.name()).await;
        refresh.kill().await.expect("SIGKILL refresh-svc");
        match open {
            Some(query) => killed_mid_apply.push(query),
            None => break, // The backlog is drained: nothing left to interrupt.
        }
    }
    assert!(
        !killed_mid_apply.is_empty(),
        "refresh-svc never had an apply transaction open to kill it in"
    );
    let pending: i64 = admin
        .query_one("SELECT count(*) FROM change_log", &[])
        .await
        .expect("counting the change log")
        .get(0);
    assert!(
        pending > 0,
        "the backlog was drained before the last kill; kills landed in: {killed_mid_apply:?}"
    );

    println!(
        "killed refresh-svc {} time(s) mid-apply, {pending} change-log rows pending, in: \
         {killed_mid_apply:?}",
        killed_mid_apply.len()
    );
    // The survivor works in the default batch size: the rest of the backlog is applied well
    // within the convergence timeout, also on a busy machine.
    let refresh = ServiceProcess::start(Service::Refresh, &db.url(), &env[1..])
        .await
        .expect("restarting refresh-svc");
    wait_until_consistent(&db).await;
    let searchable: i64 = admin
        .query_one(
            "SELECT count(*) FROM prospect_search_view WHERE organization_id = $1",
            &[&tenant.organization_id],
        )
        .await
        .expect("counting the read model")
        .get(0);
    assert_eq!(
        searchable, PROSPECTS,
        "kills landed in: {killed_mid_apply:?}"
    );
    refresh.kill().await.expect("stopping refresh-svc");
}

/// Waits (bounded) until one of refresh-svc's pooled sessions on `dbname` is inside a
/// transaction, and returns its current statement; `None` when none opened one in time.
async fn open_transaction(admin: &tokio_postgres::Client, dbname: &str) -> Option<String> {
    let deadline = tokio::time::Instant::now() + APPLY_START_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        let row = admin
            .query_opt(
                "SELECT query FROM pg_stat_activity \
                 WHERE datname = $1 AND application_name = 'refresh-svc' \
                     AND xact_start IS NOT NULL AND state <> 'idle' \
                 LIMIT 1",
                &[&dbname],
            )
            .await
            .expect("reading pg_stat_activity");
        if let Some(row) = row {
            return Some(row.get(0));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

//! Replication conflicts: replaying the primary's changes may need what an export on the
//! standby still holds (rows vacuum removed on the primary, a table the primary locked). With
//! the standby settings docs/OPERATIONS.md asks for (`hot_standby_feedback`, and a
//! `max_standby_streaming_delay` longer than exports), heavy writes and a conflicting lock do
//! not cancel an export; with a short delay the conflict cancels it, and the client gets a
//! clear, retryable status.

use lma_tests::wait;
use tonic::Code;

use super::outage::EXPORT_ROWS;
use super::{
    ReplicaApp, drain_export, import, spawn_replica_app, spawn_replica_app_with, start_export,
};

/// How long the standby's replay may take to reach a state the test waits for.
const REPLAY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Takes and releases an ACCESS EXCLUSIVE lock on the prospect read model on the primary, as a
/// full rebuild's table swap does; the lock is WAL-logged, so replaying it on the standby
/// conflicts with every query there that reads the model.
async fn lock_read_model_on_primary(r: &ReplicaApp) {
    r.app
        .db
        .connect()
        .await
        .batch_execute("BEGIN; LOCK TABLE prospect_search_view IN ACCESS EXCLUSIVE MODE; COMMIT")
        .await
        .expect("locking the read model on the primary");
}

/// Waits until the standby's replay waits for a lock held by one of its sessions.
async fn wait_until_replay_blocks(r: &ReplicaApp) {
    wait::until(
        "replay to wait for the export's lock",
        REPLAY_TIMEOUT,
        || async {
            let blocked: i64 = r
                .standby_db
                .connect()
                .await
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                  WHERE backend_type = 'startup' AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .map_err(|error| error.to_string())?
                .get(0);
            if blocked > 0 {
                Ok(())
            } else {
                Err("replay is not waiting".to_owned())
            }
        },
    )
    .await;
}

/// Conflicts the standby has canceled queries for, in the test's database.
async fn canceled_by_conflicts(r: &ReplicaApp) -> i64 {
    r.standby_db
        .connect()
        .await
        .query_one(
            "SELECT confl_snapshot + confl_lock + confl_bufferpin + confl_deadlock \
               FROM pg_stat_database_conflicts WHERE datname = current_database()",
            &[],
        )
        .await
        .expect("pg_stat_database_conflicts")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_survives_heavy_writes_vacuum_and_a_conflicting_lock() {
    let r = spawn_replica_app(&[]).await;
    let token = import(&r.app, "heavy", "Heavy", EXPORT_ROWS).await;
    let mut export = start_export(&r, "Heavy", &token).await;

    // The standby reports its oldest snapshot (the export's) to the primary.
    wait::until(
        "hot_standby_feedback to reach the primary",
        REPLAY_TIMEOUT,
        || async {
            let xmin: Option<String> = r
                .replication
                .primary
                .connect_admin()
                .await
                .map_err(|error| format!("{error:#}"))?
                .query_one(
                    "SELECT backend_xmin::text FROM pg_stat_replication LIMIT 1",
                    &[],
                )
                .await
                .map_err(|error| error.to_string())?
                .get(0);
            xmin.ok_or_else(|| "no backend_xmin yet".to_owned())
        },
    )
    .await;

    // Heavy writes on the primary: every exported row rewritten in the read model, and the
    // old versions vacuumed away there.
    let updated = r
        .app
        .db
        .connect_as("lma_ingest")
        .await
        .execute(
            "UPDATE prospect SET department = 'Rewritten' WHERE external_id LIKE 'heavy-%'",
            &[],
        )
        .await
        .expect("rewriting the exported prospects");
    assert_eq!(updated as usize, EXPORT_ROWS);
    super::super::refresh::wait_until_consistent(&r.app.db).await;
    r.app
        .db
        .connect()
        .await
        .batch_execute("VACUUM prospect_search_view")
        .await
        .expect("VACUUM on the primary");

    // And the lock a rebuild's swap takes: replay waits for the export instead of canceling it.
    lock_read_model_on_primary(&r).await;
    wait_until_replay_blocks(&r).await;

    let (rows, ended) = drain_export(&mut export, 1).await;
    let end = ended.unwrap_or_else(|status| panic!("the export was canceled: {status:?}"));
    assert_eq!((rows, end.rows as usize), (EXPORT_ROWS, EXPORT_ROWS));
    assert_eq!(canceled_by_conflicts(&r).await, 0);
    // Once the export is done, replay goes on.
    r.replication
        .wait_until_replayed()
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_canceled_by_a_replay_conflict_ends_with_a_retryable_status() {
    // What the settings prevent: replay cancels conflicting queries after 100 ms.
    let r = spawn_replica_app_with(
        &[
            ("hot_standby_feedback", "off"),
            ("max_standby_streaming_delay", "100ms"),
        ],
        &[],
    )
    .await;
    let token = import(&r.app, "conflict", "Conflict", EXPORT_ROWS).await;
    let mut export = start_export(&r, "Conflict", &token).await;
    lock_read_model_on_primary(&r).await;
    // Replay cancels the export after max_standby_streaming_delay.
    wait::until("replay to cancel the export", REPLAY_TIMEOUT, || async {
        let canceled = canceled_by_conflicts(&r).await;
        if canceled > 0 {
            Ok(())
        } else {
            Err("nothing canceled yet".to_owned())
        }
    })
    .await;

    let (rows, ended) = drain_export(&mut export, 1).await;
    let status = match ended {
        Ok(end) => panic!("the export survived the conflict ({} rows)", end.rows),
        Err(status) => status,
    };
    println!("the export canceled by a replay conflict after {rows} rows: {status:?}");
    assert!(rows < EXPORT_ROWS);
    assert!(
        matches!(status.code(), Code::Unavailable | Code::Aborted),
        "a replay conflict must end an export with a retryable status, got {status:?}"
    );
    assert!(!status.message().is_empty());

    // The retry succeeds.
    let mut retried = start_export(&r, "Conflict", "").await;
    let (rows, ended) = drain_export(&mut retried, 1).await;
    let end = ended.unwrap_or_else(|status| panic!("the retried export: {status}"));
    assert_eq!((rows, end.rows as usize), (EXPORT_ROWS, EXPORT_ROWS));
}

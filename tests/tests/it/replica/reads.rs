//! Reads on the replica: `min_token` waits for replication, a paused replay ends the wait with
//! `DEADLINE_EXCEEDED` naming the replica's watermark, and every answer's freshness is the
//! replica's own.

use std::time::{Duration, SystemTime};

use lma_tests::fixtures;
use tonic::Code;

use super::{GENEROUS_DEADLINE, freshness, spawn_replica_app, stored_watermark};

/// The deadline of a search that must give up while replay is paused.
const SHORT_DEADLINE: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_token_waits_for_replay_and_reports_the_replicas_watermark() {
    let r = spawn_replica_app(&[]).await;

    // Streaming: the first search with the write's token sees it, no polling.
    let first = r
        .app
        .upsert_prospect(fixtures::prospect_with_revenue("replica-first", Some(1)))
        .await
        .consistency_token;
    let page = r
        .search_replica(fixtures::query("replica-first"), &first, GENEROUS_DEADLINE)
        .await
        .unwrap_or_else(|status| panic!("the replica's search with min_token: {status}"));
    assert!(
        page.by_external_id("replica-first").is_some(),
        "{:?}",
        page.full_names()
    );
    let (caught_up, _) = freshness(&page);
    assert!(caught_up > first.parse::<u64>().expect("a token is an xid"));

    // Replay paused: the primary moves on, the replica cannot.
    r.replication.pause_replay().await.expect("pausing replay");
    let paused_at = stored_watermark(&r.standby_db).await;
    let second = r
        .app
        .upsert_prospect(fixtures::prospect_with_revenue("replica-second", Some(2)))
        .await
        .consistency_token;
    let second_xid: u64 = second.parse().expect("a token is an xid");
    let on_primary = r
        .search_primary(
            fixtures::query("replica-second"),
            &second,
            GENEROUS_DEADLINE,
        )
        .await
        .unwrap_or_else(|status| panic!("the primary's search with min_token: {status}"));
    assert!(on_primary.by_external_id("replica-second").is_some());
    let (primary_watermark, primary_freshness) = freshness(&on_primary);
    assert!(primary_watermark > second_xid);

    let status = r
        .search_replica(fixtures::query("replica-second"), &second, SHORT_DEADLINE)
        .await
        .expect_err("the replica cannot reach the token while replay is paused");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("its watermark is {paused_at}")),
        "the status names the watermark the replica reached ({paused_at}): {status:?}"
    );

    // Without a token the replica answers at once, with its own (older) freshness.
    let stale = r
        .search_replica(fixtures::query("replica-second"), "", GENEROUS_DEADLINE)
        .await
        .unwrap_or_else(|status| panic!("the replica's search without min_token: {status}"));
    assert!(stale.hits.is_empty(), "{:?}", stale.full_names());
    let (stale_watermark, stale_freshness) = freshness(&stale);
    assert_eq!(
        stale_watermark, paused_at,
        "the replica reports what it has replayed"
    );
    assert!(stale_watermark < second_xid);
    assert_ne!(stale_watermark, primary_watermark);
    let refreshed = |f: &lma_proto::v1::Freshness| {
        SystemTime::try_from(f.refreshed_at.expect("refreshed_at")).expect("a time")
    };
    assert!(
        refreshed(&stale_freshness) < refreshed(&primary_freshness),
        "the replica's freshness time is the older one it replayed: {stale_freshness:?} vs \
         {primary_freshness:?}"
    );

    // Replay resumed: the same search succeeds.
    r.replication
        .resume_replay()
        .await
        .expect("resuming replay");
    let page = r
        .search_replica(
            fixtures::query("replica-second"),
            &second,
            GENEROUS_DEADLINE,
        )
        .await
        .unwrap_or_else(|status| panic!("the replica's search after resume: {status}"));
    assert!(page.by_external_id("replica-second").is_some());
    let (resumed, _) = freshness(&page);
    assert!(resumed > second_xid);
    assert!(resumed <= stored_watermark(&r.standby_db).await);
}

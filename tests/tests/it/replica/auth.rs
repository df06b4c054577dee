//! API keys on a replica (docs/OPERATIONS.md): keys live in the primary and arrive by
//! replication, so a new or revoked key takes effect on search-svc there after the replication
//! delay plus the auth cache's TTL, and not before replay has brought the change.

use std::time::{Duration, Instant};

use lma_tests::fixtures;
use lma_tests::wait;
use svc_core::Scope;
use tonic::Code;

use super::{GENEROUS_DEADLINE, search_at, spawn_replica_app};

/// search-svc's auth cache on the replica, as in production (there 10 s; short here).
const CACHE_TTL: Duration = Duration::from_secs(1);

/// How long a key change may take to show on the replica once replay runs: the cache's TTL
/// plus ample room for replay and a busy machine.
const TAKES_EFFECT_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_and_revoked_keys_take_effect_on_the_replica_after_replay_and_the_cache_ttl() {
    let ttl = CACHE_TTL.as_secs().to_string();
    let r = spawn_replica_app(&["--auth-cache-ttl-secs", &ttl]).await;
    let search = |addr, key: String| async move {
        search_at(addr, &key, fixtures::query("anyone"), "", GENEROUS_DEADLINE)
            .await
            .map(|_| ())
    };

    // A key minted while replay is paused is unknown to the replica.
    r.replication.pause_replay().await.expect("pausing replay");
    let key = r.app.mint_key(&[Scope::SearchRead]).await;
    search(r.app.search.addr, key.key.clone())
        .await
        .unwrap_or_else(|status| panic!("the new key on the primary: {status}"));
    let status = search(r.replica.addr, key.key.clone())
        .await
        .expect_err("the replica has not replayed the new key");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // Replayed, it works there within the TTL (the refusal above was cached).
    r.replication
        .resume_replay()
        .await
        .expect("resuming replay");
    let replica = r.replica.addr;
    wait::until(
        "the new key to work on the replica",
        TAKES_EFFECT_WITHIN,
        || {
            let key = key.key.clone();
            async move {
                search(replica, key)
                    .await
                    .map_err(|status| status.to_string())
            }
        },
    )
    .await;

    // Revoked on the primary while replay is paused: the primary refuses it at once (its
    // search-svc caches nothing), the replica still accepts it, however long past the TTL.
    r.replication.pause_replay().await.expect("pausing replay");
    r.app.revoke_key(key.api_key_id).await;
    let status = search(r.app.search.addr, key.key.clone())
        .await
        .expect_err("the primary refuses a revoked key");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // A fixed wait on purpose: what is checked is that the TTL alone revokes nothing.
    tokio::time::sleep(CACHE_TTL * 2).await;
    search(r.replica.addr, key.key.clone())
        .await
        .unwrap_or_else(|status| {
            panic!("the replica refused a key before replaying its revocation: {status}")
        });

    // Replayed, the revocation reaches the replica within the TTL.
    r.replication
        .resume_replay()
        .await
        .expect("resuming replay");
    let resumed = Instant::now();
    wait::until(
        "the revoked key to be refused on the replica",
        TAKES_EFFECT_WITHIN,
        || {
            let key = key.key.clone();
            async move {
                match search(replica, key).await {
                    Err(status) if status.code() == Code::Unauthenticated => Ok(()),
                    Err(status) => Err(format!("unexpected {status:?}")),
                    Ok(()) => Err("still accepted".to_owned()),
                }
            }
        },
    )
    .await;
    println!(
        "the revocation took effect on the replica {:?} after replay resumed (cache TTL {CACHE_TTL:?})",
        resumed.elapsed()
    );
}

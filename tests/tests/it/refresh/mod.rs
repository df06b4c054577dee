//! refresh-svc: incremental apply, rebuild, reconcile, listener, leadership, status, large
//! companies and the watermark.

mod apply;
mod consistency;
mod large_companies;
mod leadership;
mod notify;
mod status;
mod watermark;

use std::time::Duration;

use lma_proto::v1::GetStatusRequest;
use lma_tests::app::{RunningService, Service, Shutdown, start_service, wait_for_health};
use lma_tests::clients::{self, BearerAuth, RefreshClient};
use lma_tests::{TestDatabase, wait};
use tonic_health::pb::health_check_response::ServingStatus;

/// How long the read models may take to catch up with the base tables.
const CONSISTENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Read-model rows that differ from their definition, per model, as "table: n" (an `EXCEPT ALL`
/// both ways); empty when every model equals its definition exactly.
async fn drift(db: &TestDatabase) -> Vec<String> {
    let client = db.connect().await;
    let mut differing = Vec::new();
    for model in refresh_svc::read_model::READ_MODELS {
        let sql = format!(
            "SELECT count(*) FROM ((SELECT * FROM {t} EXCEPT ALL SELECT * FROM {d}) \
             UNION ALL (SELECT * FROM {d} EXCEPT ALL SELECT * FROM {t})) x",
            t = model.table,
            d = model.definition
        );
        let rows: i64 = client
            .query_one(sql.as_str(), &[])
            .await
            .unwrap_or_else(|error| panic!("diffing {}: {error}", model.table))
            .get(0);
        if rows > 0 {
            differing.push(format!("{}: {rows} rows differ", model.table));
        }
    }
    differing
}

/// Change-log rows not applied yet.
pub(crate) async fn pending_changes(client: &tokio_postgres::Client) -> Result<i64, String> {
    Ok(client
        .query_one("SELECT count(*) FROM change_log", &[])
        .await
        .map_err(|error| error.to_string())?
        .get(0))
}

/// Large companies waiting for chunked re-derivation.
pub(crate) async fn pending_rederivations(client: &tokio_postgres::Client) -> Result<i64, String> {
    Ok(client
        .query_one("SELECT count(*) FROM company_rederivation", &[])
        .await
        .map_err(|error| error.to_string())?
        .get(0))
}

/// Waits until the change log is drained, no large company waits for chunked re-derivation, and
/// every read model equals its definition.
pub(crate) async fn wait_until_consistent(db: &TestDatabase) {
    wait::until(
        "the read models to equal their definitions",
        CONSISTENT_TIMEOUT,
        || async {
            let client = db.connect().await;
            let pending = pending_changes(&client).await?;
            if pending > 0 {
                return Err(format!("{pending} change-log rows pending"));
            }
            let rederiving = pending_rederivations(&client).await?;
            if rederiving > 0 {
                return Err(format!("{rederiving} companies waiting for chunks"));
            }
            let differing = drift(db).await;
            if differing.is_empty() {
                Ok(())
            } else {
                Err(differing.join(", "))
            }
        },
    )
    .await;
}

/// Starts a refresh-svc replica named `name` and waits until it serves.
async fn start_refresh(
    db: &TestDatabase,
    shutdown: &Shutdown,
    name: &str,
    extra: &[&str],
) -> RunningService {
    let mut args = vec!["--replica-name", name, "--leader-retry-ms", "200"];
    args.extend_from_slice(extra);
    let running = start_service(Service::Refresh, &db.url(), shutdown, &args).await;
    wait_for_health(&running, ServingStatus::Serving).await;
    running
}

async fn refresh_client(running: &RunningService, key: &str) -> RefreshClient {
    clients::refresh_client(running.addr, BearerAuth::key(key)).await
}

/// Waits until `running` reports `leader` as the leading replica.
async fn wait_for_leader(running: &RunningService, key: &str, leader: &str) {
    wait_for_leader_matching(running, key, leader, |reported| reported == leader).await;
}

/// Waits until `running` reports some replica as the leader.
async fn wait_for_any_leader(running: &RunningService, key: &str) {
    wait_for_leader_matching(running, key, "any replica", |reported| !reported.is_empty()).await;
}

async fn wait_for_leader_matching(
    running: &RunningService,
    key: &str,
    what: &str,
    accept: impl Fn(&str) -> bool,
) {
    let addr = running.addr;
    let accept = &accept;
    wait::until(
        &format!("{what} to lead"),
        Duration::from_secs(15),
        || async move {
            let mut client = clients::refresh_client(addr, BearerAuth::key(key)).await;
            let status = client
                .get_status(GetStatusRequest {})
                .await
                .map_err(|status| status.to_string())?
                .into_inner();
            if accept(&status.leader) {
                Ok(())
            } else {
                Err(format!("leader is {:?}", status.leader))
            }
        },
    )
    .await;
}

/// Runs RefreshNow with `wait` and returns its answer; failures of the call itself panic.
async fn refresh_now(
    app: &lma_tests::TestApp,
    mode: lma_proto::v1::RefreshMode,
    read_model: lma_proto::v1::ReadModel,
) -> lma_proto::v1::RefreshNowResponse {
    app.refresh_client()
        .await
        .refresh_now(lma_proto::v1::RefreshNowRequest {
            mode: mode as i32,
            read_model: read_model as i32,
            wait: true,
        })
        .await
        .expect("RefreshNow")
        .into_inner()
}

/// Waits (bounded) until a search for `filter` through search-svc at `search` returns the
/// prospect `external_id`.
async fn wait_until_searchable(
    what: &str,
    search: std::net::SocketAddr,
    auth: &BearerAuth,
    filter: lma_proto::v1::ProspectFilter,
    external_id: &str,
) {
    wait::until(what, Duration::from_secs(15), || async {
        let mut search_client = clients::search_client(search, auth.clone()).await;
        let page = lma_tests::app::search_prospects(
            &mut search_client,
            lma_tests::app::search_request(filter.clone()),
        )
        .await
        .map_err(|status| status.to_string())?;
        page.by_external_id(external_id)
            .map(|_| ())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
}

//! No secret reaches a log line: the services run with the production log format at the most
//! verbose level of our own crates while they receive valid, unknown, revoked and malformed API
//! keys and connect with a database password, and the captured output must contain none of them.
//! Nor does the email address of a person whose data is exported and erased (PrivacyService).
//!
//! A test binary of its own: the capture is a thread-local subscriber, and tracing caches
//! per-callsite interest process-wide, so callsites first hit by services of concurrently
//! running tests (without a subscriber) would be invisible to it.

use std::str::FromStr as _;
use std::time::Duration;

use lma_proto::v1::erase_person_request::Person;
use lma_proto::v1::{
    ErasePersonRequest, ExportPersonDataRequest, ProspectFilter, UpsertProspectRequest,
};
use lma_tests::app::{
    Service, Shutdown, create_tenant_in, search_prospects, search_request, start_service,
    wait_for_health,
};
use lma_tests::clients::{ingest_client, privacy_client, search_client};
use lma_tests::{BearerAuth, TestDatabase, fixtures, wait};
use svc_core::config::{LogFormat, TelemetryArgs};
use svc_core::telemetry::LogSink;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

// A current-thread runtime: every task of every service runs on this thread, so the
// thread-local log sink sees all of their lines.
#[tokio::test(flavor = "current_thread")]
async fn production_logs_carry_no_api_key_or_database_password() {
    let sink = LogSink::default();
    let args = TelemetryArgs {
        log_format: LogFormat::Json,
        log_filter: "debug,svc_core=trace,ingest_svc=trace,search_svc=trace,refresh_svc=trace"
            .to_owned(),
    };
    let _logs =
        svc_core::telemetry::log_to_sink_on_this_thread(&args, &sink).expect("valid filter");

    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    // The test cluster trusts local connections, so a password in the connection string is
    // sent nowhere it matters, but it goes everywhere the services carry the string.
    let mut url = db.url();
    let password = match tokio_postgres::Config::from_str(&url)
        .expect("the harness URL parses")
        .get_password()
    {
        Some(existing) => String::from_utf8_lossy(existing).into_owned(),
        None => {
            let password = "pw-Kq3vZ9xT7mR2".to_owned();
            url.push_str(&format!(" password={password}"));
            password
        }
    };

    let shutdown = Shutdown::default();
    let ingest = start_service(Service::Ingest, &url, &shutdown, &[]).await;
    let search = start_service(Service::Search, &url, &shutdown, &[]).await;
    for running in [&ingest, &search] {
        wait_for_health(running, ServingStatus::Serving).await;
    }
    // A service whose database is unreachable logs connection errors with the same password.
    let unreachable_url = format!("host=127.0.0.1 port=1 user=lma dbname=lma password={password}");
    let unreachable = start_service(Service::Search, &unreachable_url, &shutdown, &[]).await;

    // A valid key, used for a write and a search.
    let mut writer = ingest_client(ingest.addr, BearerAuth::key(&tenant.api_key)).await;
    writer
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(fixtures::jane_doe()),
        })
        .await
        .expect("a write with a valid key");
    let mut reader = search_client(search.addr, BearerAuth::key(&tenant.api_key)).await;
    search_prospects(&mut reader, search_request(ProspectFilter::default()))
        .await
        .expect("a search with a valid key");

    // The person's data exported and erased, and an address that is none: at trace level, no
    // line may carry them.
    let person = fixtures::jane_doe().email;
    let malformed_email = "jane.doe@@acme-robotics";
    let mut privacy = privacy_client(ingest.addr, BearerAuth::key(&tenant.api_key)).await;
    privacy
        .export_person_data(ExportPersonDataRequest {
            email: person.clone(),
        })
        .await
        .expect("ExportPersonData");
    let status = privacy
        .export_person_data(ExportPersonDataRequest {
            email: malformed_email.to_owned(),
        })
        .await
        .expect_err("not an address");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    privacy
        .erase_person(ErasePersonRequest {
            person: Some(Person::Email(person.clone())),
        })
        .await
        .expect("ErasePerson");

    // Keys that are refused: well-formed but unknown, revoked, and malformed.
    let unknown_key = format!("lma_{}", "7f3a".repeat(16));
    let revoked =
        lma_tests::app::mint_key_in(&db, tenant.organization_id, &svc_core::Scope::ALL).await;
    let admin = db.connect().await;
    assert!(
        lmactl::admin::revoke_api_key(&admin, revoked.api_key_id)
            .await
            .expect("revoke")
    );
    let malformed_key = "Zx9-not-a-key-but-secret-all-the-same";
    for key in [unknown_key.as_str(), revoked.key.as_str(), malformed_key] {
        let mut client = search_client(search.addr, BearerAuth::key(key)).await;
        let status = search_prospects(&mut client, search_request(ProspectFilter::default()))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{status}");
    }

    // Wait until the logs show the refused calls and the unreachable database, so the check
    // below looks at lines that had every chance to carry a secret.
    wait::until(
        "the refused calls and the connection failure to be logged",
        Duration::from_secs(15),
        || {
            let logs = sink.contents();
            async move {
                let refused = logs.matches("Unauthenticated").count();
                let not_ready = logs.contains("not ready");
                if refused >= 3 && not_ready {
                    Ok(())
                } else {
                    Err(format!(
                        "{refused} refusals logged, not-ready logged: {not_ready}"
                    ))
                }
            }
        },
    )
    .await;
    drop(unreachable);

    let logs = sink.contents();
    assert!(
        logs.lines().count() > 20,
        "too little was logged to prove anything"
    );
    let secrets = [
        ("the database password", password.as_str()),
        ("the valid API key", tenant.api_key.as_str()),
        ("the valid key's secret part", &tenant.api_key[12..]),
        ("the unknown API key", unknown_key.as_str()),
        ("the revoked API key", revoked.key.as_str()),
        ("the malformed API key", malformed_key),
        ("the erased person's email", person.as_str()),
        ("the malformed email", malformed_email),
    ];
    for (what, secret) in secrets {
        if let Some(line) = logs.lines().find(|line| line.contains(secret)) {
            panic!("{what} reached a log line: {line}");
        }
    }
}

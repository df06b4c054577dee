//! Suppression lists (PrivacyService, served by ingest-svc): privacy.admin only, bad input named
//! by field, REFUSE enforced on every ingest path with nothing of a refused row written, no
//! readable email stored, audit rows in the same transaction, paging.

use lma_proto::v1::suppression_entry::Subject;
use lma_proto::v1::{
    AddSuppressionsRequest, CsvImportOptions, IngestProspectsRequest, ListSuppressionsRequest,
    ProspectRecord, RemoveSuppressionRequest, SuppressionEntry, SuppressionKind, SuppressionPolicy,
    SuppressionReason, UpsertProspectRequest,
};
use lma_tests::app::TestApp;
use lma_tests::clients::PrivacyClient;
use lma_tests::{BearerAuth, spawn_app};
use svc_core::Scope;
use tonic::Code;

use super::{count_in, import_csv};

pub(super) async fn privacy_client(app: &TestApp, key: &str) -> PrivacyClient {
    lma_tests::clients::privacy_client(app.ingest.addr, BearerAuth::key(key)).await
}

pub(super) fn entry(subject: Subject, reason: SuppressionReason) -> SuppressionEntry {
    SuppressionEntry {
        subject: Some(subject),
        reason: reason.into(),
        reason_text: String::new(),
        policy: SuppressionPolicy::Refuse.into(),
    }
}

fn record(id: &str, email: &str) -> ProspectRecord {
    ProspectRecord {
        external_source: "crm".into(),
        external_id: id.into(),
        first_name: "Pat".into(),
        email: email.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn refuse_entries_block_rows_on_every_path_and_store_no_email() {
    let app = spawn_app().await;
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let added = privacy
        .add_suppressions(AddSuppressionsRequest {
            entries: vec![
                entry(
                    Subject::Email("Ann@Acme.COM".into()),
                    SuppressionReason::OptedOut,
                ),
                entry(
                    Subject::Domain("https://www.rival.io/about".into()),
                    SuppressionReason::Competitor,
                ),
                // The same address again: one entry.
                entry(
                    Subject::Email("ann@acme.com".into()),
                    SuppressionReason::OptedOut,
                ),
            ],
        })
        .await
        .expect("AddSuppressions")
        .into_inner();
    assert_eq!(added.ids.len(), 3);
    assert_eq!(added.ids[0], added.ids[2]);
    assert!(!added.consistency_token.is_empty());

    // No readable email anywhere in the suppression and audit tables.
    for table in ["suppression", "privacy_audit", "suppression_secret"] {
        let found = count_in(
            &app.db,
            &format!("SELECT count(*) FROM {table} t WHERE t::text ILIKE '%ann%'"),
        )
        .await;
        assert_eq!(found, 0, "{table}");
    }
    assert_eq!(
        count_in(&app.db, "SELECT count(*) FROM suppression").await,
        2
    );
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM privacy_audit WHERE action = 'suppression_added' \
             AND api_key_id IS NOT NULL"
        )
        .await,
        2
    );
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM suppression WHERE domain = 'rival.io'"
        )
        .await,
        1
    );

    // A CSV import: the refused rows are row errors naming field and reason; the rest stored.
    let mut ingest = app.ingest_client().await;
    let csv = b"external_id,email,first_name\n\
        c1,ANN@acme.com,Ann\n\
        c2,bob@acme.com,Bob\n\
        c3,eve@rival.io,Eve\n";
    let (report, _) = import_csv(&mut ingest, CsvImportOptions::default(), csv)
        .await
        .expect("ImportCsv");
    let summary = report.summary.expect("summary");
    assert_eq!((summary.inserted, summary.rejected), (1, 2));
    let errors: Vec<(u64, &str, &str)> = summary
        .errors
        .iter()
        .map(|e| (e.row, e.field.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            (2, "email", "suppressed (opted_out)"),
            (4, "company.domain", "suppressed (competitor)"),
        ]
    );

    // A streamed record.
    let streamed = ingest
        .ingest_prospects(tokio_stream::iter([IngestProspectsRequest {
            records: vec![record("s1", "ann@acme.com"), record("s2", "cy@acme.com")],
        }]))
        .await
        .expect("IngestProspects")
        .into_inner()
        .summary
        .expect("summary");
    assert_eq!((streamed.inserted, streamed.rejected), (1, 1));
    assert_eq!(streamed.errors[0].field, "email");

    // A single upsert.
    let single = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record("u1", "Ann@acme.com")),
        })
        .await
        .expect_err("refused");
    assert_eq!(single.code(), Code::FailedPrecondition);
    assert!(
        single.message().contains("prospect.email"),
        "{}",
        single.message()
    );

    // Nothing of the refused rows was written, neither prospect nor company.
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect WHERE email = 'ann@acme.com' OR email LIKE '%rival.io'"
        )
        .await,
        0
    );
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM company WHERE domain = 'rival.io'"
        )
        .await,
        0
    );
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 2);

    // Removing the entry lets the address in again, and is audited.
    privacy
        .remove_suppression(RemoveSuppressionRequest {
            id: added.ids[0].clone(),
        })
        .await
        .expect("RemoveSuppression");
    ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record("u1", "ann@acme.com")),
        })
        .await
        .expect("no longer suppressed");
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM privacy_audit WHERE action = 'suppression_removed'"
        )
        .await,
        1
    );
    let missing = privacy
        .remove_suppression(RemoveSuppressionRequest {
            id: added.ids[0].clone(),
        })
        .await
        .expect_err("gone");
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn privacy_needs_its_own_scope_and_names_bad_fields() {
    let app = spawn_app().await;
    let ingest_only = app.mint_key(&[Scope::IngestWrite]).await;
    let mut refused = privacy_client(&app, &ingest_only.key).await;
    let status = refused
        .list_suppressions(ListSuppressionsRequest::default())
        .await
        .expect_err("ingest.write only");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("privacy.admin"));

    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    // A policy is required (REFUSE or HIDE; HIDE is tested in hidden_suppression.rs).
    let mut no_policy = entry(Subject::Domain("acme.com".into()), SuppressionReason::Other);
    no_policy.policy = SuppressionPolicy::Unspecified.into();
    let status = privacy
        .add_suppressions(AddSuppressionsRequest {
            entries: vec![
                entry(
                    Subject::Email("jo@acme.com".into()),
                    SuppressionReason::Erased,
                ),
                entry(
                    Subject::Email("not an email".into()),
                    SuppressionReason::Erased,
                ),
                no_policy,
            ],
        })
        .await
        .expect_err("bad entries");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("entries[1].email"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("entries[2].policy"),
        "{}",
        status.message()
    );
    assert_eq!(
        count_in(&app.db, "SELECT count(*) FROM suppression").await,
        0
    );

    let bad_id = privacy
        .remove_suppression(RemoveSuppressionRequest { id: "x".into() })
        .await
        .expect_err("bad id");
    assert_eq!(bad_id.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn list_suppressions_pages_through_every_entry_once() {
    let app = spawn_app().await;
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let entries: Vec<SuppressionEntry> = (0..7)
        .map(|i| {
            entry(
                Subject::Domain(format!("firm{i}.com")),
                SuppressionReason::DoNotContact,
            )
        })
        .chain([entry(
            Subject::Email("z@firm.com".into()),
            SuppressionReason::OptedOut,
        )])
        .collect();
    privacy
        .add_suppressions(AddSuppressionsRequest { entries })
        .await
        .expect("AddSuppressions");
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = privacy
            .list_suppressions(ListSuppressionsRequest {
                page_size: 3,
                page_token: token.clone(),
            })
            .await
            .expect("ListSuppressions")
            .into_inner();
        assert!(page.suppressions.len() <= 3);
        seen.extend(page.suppressions);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut ids: Vec<&str> = seen.iter().map(|s| s.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    let email = seen
        .iter()
        .find(|s| s.kind() == SuppressionKind::Email)
        .expect("the email entry");
    assert!(email.domain.is_empty());
    assert_eq!(email.email_hash_prefix.len(), 12);
    let bad = privacy
        .list_suppressions(ListSuppressionsRequest {
            page_size: 0,
            page_token: "garbage".into(),
        })
        .await
        .expect_err("bad token");
    assert_eq!(bad.code(), Code::InvalidArgument);
}

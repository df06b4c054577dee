//! Imports racing with changes of the suppression list: an erasure, a new HIDE entry or a
//! removed entry that commits between the screening of a batch and its write is not missed by
//! the write, and an erasure issued while a write is under way does not leave the person stored.
//!
//! Each race is made deterministic with row locks held by a test connection: the change under
//! test is stopped on one of them while it holds the organization's suppression lock (so it has
//! not committed), the write is started and stopped behind it (on the suppression lock, or on a
//! row lock the change holds or waits for), and only once both wait does the test let the
//! change commit.

use lma_proto::v1::erase_person_request::Person;
use lma_proto::v1::suppression_entry::Subject;
use lma_proto::v1::{
    AddSuppressionsRequest, CompanyRecord, ErasePersonRequest, IngestProspectsRequest,
    IngestSummary, ProspectRecord, RemoveSuppressionRequest, SuppressionEntry, SuppressionPolicy,
    SuppressionReason, UpsertProspectRequest,
};
use lma_tests::app::TestApp;
use lma_tests::clients::{IngestClient, PrivacyClient};
use lma_tests::{TestDatabase, spawn_app, wait};
use std::time::Duration;
use tokio::task::JoinHandle;

use super::count_in;
use super::suppression::privacy_client;

/// How long a call may take to reach the lock it is meant to wait on.
const WAIT_TIMEOUT: Duration = Duration::from_secs(20);

const EMAIL: &str = "pat@acme.com";

fn record(source: &str, id: &str, job_title: &str) -> ProspectRecord {
    ProspectRecord {
        external_source: source.into(),
        external_id: id.into(),
        first_name: "Pat".into(),
        email: EMAIL.into(),
        job_title: job_title.into(),
        ..Default::default()
    }
}

/// Stores the person through UpsertProspect; returns the prospect's id.
async fn store_person(ingest: &mut IngestClient) -> i64 {
    let stored = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record("crm", "p1", "Engineer")),
        })
        .await
        .expect("UpsertProspect")
        .into_inner();
    stored
        .prospect
        .expect("the prospect")
        .id
        .parse()
        .expect("a numeric id")
}

/// A connection that holds row locks in an open transaction until [`Holder::release`].
struct Holder(tokio_postgres::Client);

impl Holder {
    async fn begin(db: &TestDatabase) -> Holder {
        let client = db.connect().await;
        client.batch_execute("BEGIN").await.expect("BEGIN");
        Holder(client)
    }

    /// Locks the rows `select` (a `SELECT ... FOR UPDATE`) finds; there must be one.
    async fn lock(&self, select: &str) {
        let rows = self
            .0
            .query(select, &[])
            .await
            .unwrap_or_else(|error| panic!("{select}: {error}"));
        assert_eq!(rows.len(), 1, "{select}");
    }

    async fn release(self) {
        self.0.batch_execute("COMMIT").await.expect("COMMIT");
    }
}

/// Waits until `waiters` of ingest-svc's connections wait for a lock, or until `call` (one of
/// the calls meant to wait) has finished instead: without the ordering under test it need not
/// wait, and the test then finds what that leads to.
async fn until_waiting<T>(db: &TestDatabase, waiters: i64, call: &JoinHandle<T>) {
    let admin = db.connect().await;
    let admin = &admin;
    wait::until(
        &format!("{waiters} of ingest-svc's connections to wait for a lock"),
        WAIT_TIMEOUT,
        || async move {
            let waiting: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND application_name = 'ingest-svc' AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .map_err(|error| error.to_string())?
                .get(0);
            if waiting >= waiters || call.is_finished() {
                Ok(())
            } else {
                Err(format!("{waiting} waiting"))
            }
        },
    )
    .await;
}

/// Streams `records` through IngestProspects in the background.
fn ingest_later(
    ingest: &IngestClient,
    records: Vec<ProspectRecord>,
) -> JoinHandle<Result<IngestSummary, tonic::Status>> {
    let mut ingest = ingest.clone();
    tokio::spawn(async move {
        let response = ingest
            .ingest_prospects(tokio_stream::iter([IngestProspectsRequest { records }]))
            .await?;
        Ok(response.into_inner().summary.unwrap_or_default())
    })
}

fn erase_later(
    privacy: &PrivacyClient,
) -> JoinHandle<Result<lma_proto::v1::ErasePersonResponse, tonic::Status>> {
    let mut privacy = privacy.clone();
    tokio::spawn(async move {
        privacy
            .erase_person(ErasePersonRequest {
                person: Some(Person::Email(EMAIL.into())),
            })
            .await
            .map(tonic::Response::into_inner)
    })
}

fn hide_entry() -> SuppressionEntry {
    SuppressionEntry {
        subject: Some(Subject::Email(EMAIL.into())),
        reason: SuppressionReason::DoNotContact.into(),
        reason_text: String::new(),
        policy: SuppressionPolicy::Hide.into(),
    }
}

/// Prospects stored with the person's address.
async fn stored(app: &TestApp) -> i64 {
    count_in(
        &app.db,
        &format!("SELECT count(*) FROM prospect WHERE lower(email) = '{EMAIL}'"),
    )
    .await
}

/// The entry that hides the person's prospect (0: none).
async fn hidden_by(app: &TestApp) -> i64 {
    count_in(
        &app.db,
        &format!("SELECT coalesce(suppressed_by, 0) FROM prospect WHERE lower(email) = '{EMAIL}'"),
    )
    .await
}

const LOCK_PERSON: &str = "SELECT 1 FROM prospect WHERE lower(email) = 'pat@acme.com' FOR UPDATE";

#[tokio::test]
async fn an_erasure_committed_after_a_batch_was_screened_refuses_its_row() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let privacy = privacy_client(&app, &app.tenant.api_key).await;
    store_person(&mut ingest).await;
    let legacy = count_in(
        &app.db,
        &format!(
            "INSERT INTO customer (organization_id, external_source, external_id, email) \
             VALUES ({}, 'legacy', 'L1', '{EMAIL}') RETURNING id",
            app.tenant.organization_id
        ),
    )
    .await;

    // The erasure takes the list's lock, deletes the prospect and stops at the legacy row.
    let holder = Holder::begin(&app.db).await;
    holder
        .lock(&format!(
            "SELECT 1 FROM customer WHERE id = {legacy} FOR UPDATE"
        ))
        .await;
    let erasure = erase_later(&privacy);
    until_waiting(&app.db, 1, &erasure).await;

    // The import screens the person's row before the erasure commits (no entry yet), then waits
    // to write it.
    let import = ingest_later(&ingest, vec![record("vendor", "v1", "CTO")]);
    until_waiting(&app.db, 2, &import).await;
    holder.release().await;

    let erased = erasure
        .await
        .expect("the erasure task")
        .expect("ErasePerson");
    assert_eq!(erased.prospect_ids.len(), 1);
    let summary = import
        .await
        .expect("the import task")
        .expect("IngestProspects");
    assert_eq!(stored(&app).await, 0, "the erased person was stored again");
    assert_eq!((summary.inserted, summary.rejected), (0, 1));
    let error = &summary.errors[0];
    assert_eq!(
        (error.field.as_str(), error.reason.as_str()),
        ("email", "suppressed (erased)")
    );
}

#[tokio::test]
async fn a_hide_entry_added_after_a_batch_was_screened_hides_its_row() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let privacy = privacy_client(&app, &app.tenant.api_key).await;
    store_person(&mut ingest).await;

    // AddSuppressions takes the list's lock, adds the entry and stops at the stored row it
    // hides.
    let holder = Holder::begin(&app.db).await;
    holder.lock(LOCK_PERSON).await;
    let added = {
        let mut privacy = privacy.clone();
        tokio::spawn(async move {
            privacy
                .add_suppressions(AddSuppressionsRequest {
                    entries: vec![hide_entry()],
                })
                .await
                .map(tonic::Response::into_inner)
        })
    };
    until_waiting(&app.db, 1, &added).await;

    // The import screens the row before the entry commits (not hidden), then waits to write it.
    let import = ingest_later(&ingest, vec![record("vendor", "v1", "CTO")]);
    until_waiting(&app.db, 2, &import).await;
    holder.release().await;

    let added = added.await.expect("the task").expect("AddSuppressions");
    let entry: i64 = added.ids[0].parse().expect("a numeric id");
    let summary = import
        .await
        .expect("the import task")
        .expect("IngestProspects");
    assert_eq!((summary.updated, summary.rejected), (1, 0));
    assert_eq!(hidden_by(&app).await, entry, "the row was written visible");
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect WHERE job_title = 'CTO'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_entry_removed_after_a_batch_was_screened_does_not_fail_its_row() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    store_person(&mut ingest).await;
    let added = privacy
        .add_suppressions(AddSuppressionsRequest {
            entries: vec![hide_entry()],
        })
        .await
        .expect("AddSuppressions")
        .into_inner();
    let entry: i64 = added.ids[0].parse().expect("a numeric id");
    assert_eq!(hidden_by(&app).await, entry);

    // RemoveSuppression takes the list's lock, deletes the entry and stops at the row whose
    // reference the database clears.
    let holder = Holder::begin(&app.db).await;
    holder.lock(LOCK_PERSON).await;
    let removed = {
        let mut privacy = privacy.clone();
        tokio::spawn(async move {
            privacy
                .remove_suppression(RemoveSuppressionRequest {
                    id: entry.to_string(),
                })
                .await
                .map(tonic::Response::into_inner)
        })
    };
    until_waiting(&app.db, 1, &removed).await;

    // The import screens the row while the entry still stands (hidden by it), then waits to
    // write it.
    let import = ingest_later(&ingest, vec![record("vendor", "v1", "CTO")]);
    until_waiting(&app.db, 2, &import).await;
    holder.release().await;

    removed.await.expect("the task").expect("RemoveSuppression");
    let summary = import
        .await
        .expect("the import task")
        .expect("IngestProspects");
    assert_eq!((summary.updated, summary.rejected), (1, 0), "{summary:?}");
    assert_eq!(
        hidden_by(&app).await,
        0,
        "the row still names the removed entry"
    );
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect WHERE job_title = 'CTO'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_erasure_issued_while_a_write_is_under_way_waits_for_it() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let privacy = privacy_client(&app, &app.tenant.api_key).await;
    store_person(&mut ingest).await;

    // The write screens the record, then stops at the company it changes.
    let holder = Holder::begin(&app.db).await;
    holder
        .lock("SELECT 1 FROM company WHERE domain = 'acme.com' FOR UPDATE")
        .await;
    let upsert = {
        let mut ingest = ingest.clone();
        let mut changed = record("vendor", "v1", "CTO");
        changed.company = Some(CompanyRecord {
            name: "Acme Renamed".into(),
            ..Default::default()
        });
        tokio::spawn(async move {
            ingest
                .upsert_prospect(UpsertProspectRequest {
                    prospect: Some(changed),
                })
                .await
                .map(tonic::Response::into_inner)
        })
    };
    until_waiting(&app.db, 1, &upsert).await;

    // The erasure waits for the write to end; without that it would delete the person first,
    // and the write would then store it anew.
    let erasure = erase_later(&privacy);
    until_waiting(&app.db, 2, &erasure).await;
    holder.release().await;

    upsert.await.expect("the task").expect("UpsertProspect");
    let erased = erasure
        .await
        .expect("the erasure task")
        .expect("ErasePerson");
    assert_eq!(erased.prospect_ids.len(), 1);
    assert_eq!(stored(&app).await, 0, "the erased person was stored again");
}

#[tokio::test]
async fn every_change_of_the_list_moves_its_version_and_the_version_goes_with_its_organization() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let version = |organization: i64| {
        let db = &app.db;
        async move {
            count_in(
                db,
                &format!(
                    "SELECT coalesce((SELECT version FROM suppression_version \
                     WHERE organization_id = {organization}), 0)"
                ),
            )
            .await
        }
    };
    let ours = app.tenant.organization_id;
    assert_eq!(version(ours).await, 0, "no entry, no version");
    store_person(&mut ingest).await;

    let hide = privacy
        .add_suppressions(AddSuppressionsRequest {
            entries: vec![hide_entry()],
        })
        .await
        .expect("AddSuppressions")
        .into_inner();
    assert_eq!(version(ours).await, 1);
    // The same entry again changes nothing, and the version stays.
    privacy
        .add_suppressions(AddSuppressionsRequest {
            entries: vec![hide_entry()],
        })
        .await
        .expect("AddSuppressions again");
    assert_eq!(version(ours).await, 1);
    // The erasure turns the entry into ERASED / REFUSE.
    privacy
        .erase_person(ErasePersonRequest {
            person: Some(Person::Email(EMAIL.into())),
        })
        .await
        .expect("ErasePerson");
    assert_eq!(version(ours).await, 2);
    privacy
        .remove_suppression(RemoveSuppressionRequest {
            id: hide.ids[0].clone(),
        })
        .await
        .expect("RemoveSuppression");
    assert_eq!(version(ours).await, 3);

    // Another organization's list has a version of its own, and an organization with entries
    // can still be deleted: its version goes with it.
    let other = app.create_tenant("other").await;
    let mut theirs = privacy_client(&app, &other.api_key).await;
    theirs
        .add_suppressions(AddSuppressionsRequest {
            entries: vec![hide_entry()],
        })
        .await
        .expect("AddSuppressions of the other organization");
    assert_eq!(version(other.organization_id).await, 1);
    assert_eq!(version(ours).await, 3);
    app.db
        .connect()
        .await
        .execute(
            "DELETE FROM organization WHERE id = $1",
            &[&other.organization_id],
        )
        .await
        .expect("deleting the other organization");
    assert_eq!(
        count_in(
            &app.db,
            &format!(
                "SELECT count(*) FROM suppression_version WHERE organization_id = {}",
                other.organization_id
            )
        )
        .await,
        0
    );
}

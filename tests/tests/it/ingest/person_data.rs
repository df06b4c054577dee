//! A person's data (PrivacyService, served by ingest-svc): ExportPersonData returns every
//! prospect, legacy row and suppression entry of an address; ErasePerson deletes all of it in
//! one transaction, leaves no trace of the email, names or phone numbers in any column of any
//! table once refresh-svc has caught up, keeps the address out of later imports, and audits
//! both by ids and hash only. Bad or unauthorized requests change nothing.

use lma_proto::v1::erase_person_request::Person;
use lma_proto::v1::suppression_entry::Subject;
use lma_proto::v1::{
    AddSuppressionsRequest, CsvImportOptions, DeleteProspectRequest, ErasePersonRequest,
    ErasePersonResponse, ExportPersonDataRequest, ExportPersonDataResponse, ProspectFilter,
    ProspectRecord, SearchProspectsRequest, SuppressionKind, SuppressionPolicy, SuppressionReason,
    UpsertProspectRequest,
};
use lma_tests::app::{
    Service, Shutdown, TestApp, VISIBLE_TIMEOUT, create_tenant_in, search_prospects, start_service,
    wait_for_health,
};
use lma_tests::clients::PrivacyClient;
use lma_tests::{BearerAuth, TestDatabase, spawn_app, wait};
use svc_core::Scope;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt as _;

use super::suppression::{entry, privacy_client};
use super::{count_in, import_csv};

/// The person every test erases: as the CSV and the other sources write them.
const EMAIL: &str = "Quentin.Wurtzler@Zephyrcorp.io";
const STORED_EMAIL: &str = "quentin.wurtzler@zephyrcorp.io";
const FIRST_NAME: &str = "Quentin";
const LAST_NAME: &str = "Wurtzler";
const PHONE: &str = "(415) 555-2671";
const MOBILE_PHONE: &str = "415.555.2690";
/// The phone as the other sources write it.
const CRM_PHONE: &str = "+1 415 555 2671";
const LEGACY_PHONE: &str = "415-555-2671";

/// The original file: the person and two others, one at the same company.
const CSV: &str = "external_id,email,first_name,last_name,phone,mobile_phone,country,company\n\
    p1,Quentin.Wurtzler@Zephyrcorp.io,Quentin,Wurtzler,(415) 555-2671,415.555.2690,United States,Zephyr Corp\n\
    p2,ada.lovelace@zephyrcorp.io,Ada,Lovelace,,,United States,Zephyr Corp\n\
    p3,grace.hopper@bellmont.net,Grace,Hopper,,,United States,Bellmont\n";

/// The person from a second source, with personal data in its tags and custom fields too.
fn crm_record() -> ProspectRecord {
    ProspectRecord {
        external_source: "crm".into(),
        external_id: "crm-77".into(),
        first_name: FIRST_NAME.into(),
        last_name: LAST_NAME.into(),
        email: " QUENTIN.wurtzler@zephyrcorp.io".into(),
        phone: CRM_PHONE.into(),
        country: "United States".into(),
        tags: vec!["wurtzler-vip".into()],
        custom_fields: [("assistant_of".to_owned(), "Quentin Wurtzler".to_owned())].into(),
        ..Default::default()
    }
}

/// Stores the person from the CSV file and the CRM (one prospect, linked from both sources), a
/// legacy `customer` row of the person (the email in another case, padded) and one of somebody
/// else; waits until searches show the person with the CRM's values. Returns the person's
/// prospect id.
async fn store_the_person(app: &TestApp) -> String {
    let mut ingest = app.ingest_client().await;
    let (report, _) = import_csv(&mut ingest, CsvImportOptions::default(), CSV.as_bytes())
        .await
        .expect("ImportCsv");
    assert_eq!(report.summary.expect("summary").inserted, 3);
    let crm = app.upsert_prospect(crm_record()).await;
    app.db
        .connect()
        .await
        .execute(
            "INSERT INTO customer (organization_id, external_source, external_id, first_name, \
                 last_name, email, phone, company_name) VALUES \
             ($1, 'old', 'L-9', 'Quentin', 'Wurtzler', ' QUENTIN.Wurtzler@ZephyrCorp.io ', \
              '415-555-2671', 'Zephyr Corp'), \
             ($1, 'old', 'L-10', 'Ada', 'Lovelace', 'ada.lovelace@zephyrcorp.io', NULL, NULL)",
            &[&app.tenant.organization_id],
        )
        .await
        .expect("seeding customer rows");
    let page = search_prospects(
        &mut app.search_client().await,
        SearchProspectsRequest {
            filter: Some(ProspectFilter::default()),
            min_token: crm.consistency_token.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("SearchProspects");
    let csv_id = page
        .by_external_id("p1")
        .and_then(|hit| hit.prospect.as_ref())
        .map(|p| p.prospect_id.clone())
        .expect("the CSV's prospect is searchable");
    let stored = crm.prospect.expect("the stored prospect");
    assert_eq!(stored.id, csv_id, "the CRM's record is the CSV's person");
    assert_eq!(stored.source_links.len(), 2, "{:?}", stored.source_links);
    csv_id
}

async fn export(
    privacy: &mut PrivacyClient,
    email: &str,
) -> Result<ExportPersonDataResponse, tonic::Status> {
    privacy
        .export_person_data(ExportPersonDataRequest {
            email: email.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn erase(
    privacy: &mut PrivacyClient,
    person: Person,
) -> Result<ErasePersonResponse, tonic::Status> {
    privacy
        .erase_person(ErasePersonRequest {
            person: Some(person),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// `status` is INVALID_ARGUMENT whose BadRequest names exactly `field`, and quotes none of
/// `secret`.
fn assert_invalid(status: &tonic::Status, field: &str, secret: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields: Vec<String> = status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect();
    assert_eq!(fields, [field], "{status:?}");
    assert!(!format!("{status:?}").contains(secret), "{status:?}");
}

/// `needle` as a LIKE pattern matching it anywhere.
fn anywhere(needle: &str) -> String {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Every column of every table of the `public` schema (text, varchar, char and jsonb, and the
/// others too, as text: arrays, tsvectors, numbers) holding any of `needles`, compared
/// case-insensitively: `table.column: needle`, one per finding.
pub(super) async fn traces(db: &TestDatabase, needles: &[String]) -> Vec<String> {
    let client = db.connect().await;
    let columns = client
        .query(
            "SELECT c.table_name::text, c.column_name::text \
             FROM information_schema.columns c \
             JOIN information_schema.tables t USING (table_schema, table_name) \
             WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .expect("listing the columns");
    assert!(columns.len() > 100, "only {} columns found", columns.len());
    let patterns: Vec<String> = needles.iter().map(|n| anywhere(n)).collect();
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let mut found = Vec::new();
    for column in &columns {
        let (table, name): (String, String) = (column.get(0), column.get(1));
        let sql = format!(
            "SELECT n.i FROM generate_subscripts($1::text[], 1) AS n(i) WHERE EXISTS \
             (SELECT 1 FROM public.{} WHERE {}::text ILIKE ($1::text[])[n.i])",
            quote(&table),
            quote(&name)
        );
        for row in client
            .query(&sql, &[&patterns])
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
        {
            let index: i32 = row.get(0);
            found.push(format!("{table}.{name}: {}", needles[index as usize - 1]));
        }
    }
    found
}

/// Waits until every read model has applied the write behind `token`.
async fn wait_for_every_read_model(db: &TestDatabase, token: &str) {
    let client = db.connect().await;
    let client = &client;
    wait::until(
        "every read model to pass the token",
        VISIBLE_TIMEOUT,
        || async move {
            let behind: Vec<String> = client
                .query(
                    "SELECT read_model FROM read_model_state WHERE watermark <= $1::text::xid8",
                    &[&token],
                )
                .await
                .map_err(|error| error.to_string())?
                .iter()
                .map(|row| row.get(0))
                .collect();
            if behind.is_empty() {
                Ok(())
            } else {
                Err(format!("behind: {behind:?}"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn export_returns_every_prospect_legacy_row_and_entry_of_the_address() {
    let app = spawn_app().await;
    let person_id = store_the_person(&app).await;
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    privacy
        .add_suppressions(AddSuppressionsRequest {
            entries: vec![
                entry(Subject::Email(EMAIL.into()), SuppressionReason::OptedOut),
                entry(
                    Subject::Domain("zephyrcorp.io".into()),
                    SuppressionReason::DoNotContact,
                ),
                entry(
                    Subject::Domain("bellmont.net".into()),
                    SuppressionReason::Competitor,
                ),
            ],
        })
        .await
        .expect("AddSuppressions");

    // Asked in another case and padded: the address as ingest normalizes it.
    let data = export(&mut privacy, "  QUENTIN.WURTZLER@zephyrcorp.IO ")
        .await
        .expect("ExportPersonData");
    let ids: Vec<&str> = data.prospects.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [person_id.as_str()], "one person from both sources");
    for prospect in &data.prospects {
        assert_eq!(prospect.email, STORED_EMAIL);
        assert_eq!(prospect.last_name, LAST_NAME);
        let company = prospect.company.as_ref().expect("with its company");
        assert_eq!(company.domain, "zephyrcorp.io");
        assert_eq!(prospect.company_id, company.id);
    }
    let crm = &data.prospects[0];
    let links: Vec<(&str, &str)> = crm
        .source_links
        .iter()
        .map(|link| (link.external_source.as_str(), link.external_id.as_str()))
        .collect();
    assert_eq!(links.len(), 2, "{links:?}");
    assert_eq!(links[1], ("crm", "crm-77"), "the CSV's link first");
    assert_eq!(links[0].1, "p1");
    assert!(crm.source_links.iter().all(|link| link.linked_at.is_some()));
    assert_eq!(crm.phone, "+14155552671", "stored in E.164");
    assert_eq!(crm.custom_fields["assistant_of"], "Quentin Wurtzler");

    assert_eq!(
        data.legacy_customers.len(),
        1,
        "only the person's legacy row"
    );
    let legacy = &data.legacy_customers[0];
    assert_eq!(
        (legacy.external_source.as_str(), legacy.external_id.as_str()),
        ("old", "L-9")
    );
    assert_eq!(legacy.columns["email"], " QUENTIN.Wurtzler@ZephyrCorp.io ");
    assert_eq!(legacy.columns["phone"], LEGACY_PHONE);
    assert_eq!(legacy.columns["first_name"], FIRST_NAME);
    assert_eq!(legacy.columns["company_name"], "Zephyr Corp");
    assert!(
        !legacy.columns.contains_key("job_title") && !legacy.columns.contains_key("external_id"),
        "empty columns and the key are not in the map: {:?}",
        legacy.columns
    );

    // The address's entry and its domain's; not the other company's.
    let mut kinds: Vec<(i32, i32)> = data
        .suppressions
        .iter()
        .map(|s| (s.kind, s.reason))
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            (
                SuppressionKind::Email as i32,
                SuppressionReason::OptedOut as i32
            ),
            (
                SuppressionKind::Domain as i32,
                SuppressionReason::DoNotContact as i32
            ),
        ]
    );

    // Somebody the organization holds nothing of, but whose domain is listed: the entry.
    let colleague = export(&mut privacy, "nobody@zephyrcorp.io")
        .await
        .expect("a listed domain is suppression state");
    assert!(colleague.prospects.is_empty() && colleague.legacy_customers.is_empty());
    assert_eq!(colleague.suppressions.len(), 1);

    // Nothing held, nothing listed; another organization sees nothing of this one's.
    let unknown = export(&mut privacy, "nobody@elsewhere.org")
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(
        !unknown.message().contains("nobody"),
        "{}",
        unknown.message()
    );
    let other = app.create_tenant("globex").await;
    let mut other_privacy = privacy_client(&app, &other.api_key).await;
    assert_eq!(
        export(&mut other_privacy, EMAIL)
            .await
            .expect_err("another organization's person")
            .code(),
        Code::NotFound
    );

    // Bad addresses are named, never quoted.
    for garbage in ["secret.person@@zephyrcorp", "", "no-at-sign", "a\0b@x.io"] {
        let status = export(&mut privacy, garbage).await.expect_err(garbage);
        assert_invalid(&status, "email", "secret.person");
    }

    // Each disclosure is audited by ids and hash; requests that disclosed nothing are not.
    let client = app.db.connect().await;
    let records = client
        .query(
            "SELECT prospect_ids, legacy_customer_ids, email_hmac IS NOT NULL \
             FROM privacy_audit WHERE action = 'person_exported' ORDER BY id",
            &[],
        )
        .await
        .expect("audit records");
    assert_eq!(records.len(), 2, "the person's export and the colleague's");
    let mut audited: Vec<String> = records[0]
        .get::<_, Vec<i64>>(0)
        .iter()
        .map(ToString::to_string)
        .collect();
    audited.sort_unstable();
    assert_eq!(audited, std::slice::from_ref(&person_id));
    assert_eq!(records[0].get::<_, Vec<i64>>(1).len(), 1);
    assert!(records[0].get::<_, bool>(2), "the person by hash");
    assert!(records[1].get::<_, Vec<i64>>(0).is_empty());
}

#[tokio::test]
async fn erasure_leaves_no_trace_once_refreshed_and_keeps_the_person_out_of_imports() {
    let app = spawn_app().await;
    let person_id = store_the_person(&app).await;
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let before = export(&mut privacy, EMAIL).await.expect("ExportPersonData");
    let mut needles: Vec<String> = [
        STORED_EMAIL,
        "quentin.wurtzler",
        FIRST_NAME,
        LAST_NAME,
        PHONE,
        MOBILE_PHONE,
        CRM_PHONE,
        LEGACY_PHONE,
        "4155552671",
        "4155552690",
    ]
    .map(str::to_owned)
    .to_vec();
    // The phone numbers in the form they were stored in.
    for prospect in &before.prospects {
        needles.extend(
            [&prospect.phone, &prospect.mobile_phone]
                .into_iter()
                .filter(|phone| !phone.is_empty())
                .cloned(),
        );
    }
    assert!(needles.iter().any(|n| n == "+14155552671"), "{needles:?}");
    // The scan finds the person before the erasure: base tables and read models alike.
    let found = traces(&app.db, &needles).await;
    for place in [
        "prospect.email",
        "prospect.last_name",
        "prospect.phone",
        "prospect.custom_fields",
        "customer.email",
        "prospect_search_view.full_name",
        "company_prospect_view.email",
    ] {
        assert!(
            found.iter().any(|f| f.starts_with(&format!("{place}:"))),
            "{place} not among {found:?}"
        );
    }

    let erased = erase(
        &mut privacy,
        Person::Email(" QUENTIN.Wurtzler@zephyrcorp.io".into()),
    )
    .await
    .expect("ErasePerson");
    assert_eq!(erased.prospect_ids, std::slice::from_ref(&person_id));
    assert_eq!(erased.legacy_customers_erased, 1);
    assert!(!erased.suppression_id.is_empty());
    assert!(!erased.consistency_token.is_empty());

    // A search that waits for the token no longer finds the person; the others stay.
    let mut search = app.search_client().await;
    for (query, wanted) in [(LAST_NAME, 0), ("Lovelace", 1)] {
        let page = search_prospects(
            &mut search,
            SearchProspectsRequest {
                filter: Some(ProspectFilter {
                    query: query.into(),
                    ..Default::default()
                }),
                min_token: erased.consistency_token.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("SearchProspects with the erasure's token");
        assert_eq!(page.hits.len(), wanted, "{query}");
    }
    wait_for_every_read_model(&app.db, &erased.consistency_token).await;
    let left = traces(&app.db, &needles).await;
    assert!(
        left.is_empty(),
        "personal data left after the erasure: {left:?}"
    );
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 2);
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM customer").await, 1);

    // The original file again: the person's row is refused as erased, the rest imported.
    let mut ingest = app.ingest_client().await;
    let (report, _) = import_csv(&mut ingest, CsvImportOptions::default(), CSV.as_bytes())
        .await
        .expect("ImportCsv");
    let summary = report.summary.expect("summary");
    assert_eq!(summary.rejected, 1);
    assert_eq!(summary.inserted + summary.updated + summary.unchanged, 2);
    let errors: Vec<(u64, &str, &str)> = summary
        .errors
        .iter()
        .map(|e| (e.row, e.field.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(errors, [(2, "email", "suppressed (erased)")]);
    let left = traces(&app.db, &needles).await;
    assert!(left.is_empty(), "the refused row left: {left:?}");

    // What is still held of the address: its ERASED entry, nothing else.
    let after = export(&mut privacy, EMAIL)
        .await
        .expect("the entry is held");
    assert!(after.prospects.is_empty() && after.legacy_customers.is_empty());
    assert_eq!(after.suppressions.len(), 1);
    let entry = &after.suppressions[0];
    assert_eq!(entry.id, erased.suppression_id);
    assert_eq!(entry.reason(), SuppressionReason::Erased);
    assert_eq!(entry.policy(), SuppressionPolicy::Refuse);

    // The audit: what was erased, by ids and hash (the scan above found no personal data
    // there either).
    let client = app.db.connect().await;
    let actions: Vec<String> = client
        .query("SELECT action FROM privacy_audit ORDER BY id", &[])
        .await
        .expect("audit")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        actions,
        [
            "person_exported",
            "suppression_added",
            "person_erased",
            "person_exported"
        ]
    );
    let record = client
        .query_one(
            "SELECT prospect_ids, cardinality(legacy_customer_ids), suppression_id::text, \
                 octet_length(email_hmac), reason, policy, api_key_id \
             FROM privacy_audit WHERE action = 'person_erased'",
            &[],
        )
        .await
        .expect("the erasure's record");
    let mut audited: Vec<String> = record
        .get::<_, Vec<i64>>(0)
        .iter()
        .map(ToString::to_string)
        .collect();
    audited.sort_unstable();
    assert_eq!(audited, std::slice::from_ref(&person_id));
    assert_eq!(record.get::<_, i32>(1), 1);
    assert_eq!(record.get::<_, String>(2), erased.suppression_id);
    assert_eq!(record.get::<_, i32>(3), 32);
    assert_eq!(
        (record.get::<_, String>(4), record.get::<_, String>(5)),
        ("erased".to_owned(), "refuse".to_owned())
    );
    assert_eq!(record.get::<_, i64>(6), app.tenant.api_key_id);

    // Erased is erased: there is nothing left to erase.
    let again = erase(&mut privacy, Person::Email(EMAIL.into()))
        .await
        .expect_err("nothing held");
    assert_eq!(again.code(), Code::NotFound);
}

#[tokio::test]
async fn erasure_by_prospect_id_takes_every_prospect_with_its_address() {
    let app = spawn_app().await;
    let person_id = store_the_person(&app).await;
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    // Listed before: the erasure turns the entry into ERASED / REFUSE, same id.
    let listed = privacy
        .add_suppressions(AddSuppressionsRequest {
            entries: vec![entry(
                Subject::Email(EMAIL.into()),
                SuppressionReason::OptedOut,
            )],
        })
        .await
        .expect("AddSuppressions")
        .into_inner();

    let erased = erase(&mut privacy, Person::ProspectId(person_id.clone()))
        .await
        .expect("ErasePerson by prospect id");
    assert_eq!(erased.prospect_ids, std::slice::from_ref(&person_id));
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM prospect_source_link WHERE external_id IN ('p1', 'crm-77')"
        )
        .await,
        0,
        "its links went with it"
    );
    assert_eq!(erased.legacy_customers_erased, 1);
    assert_eq!(erased.suppression_id, listed.ids[0]);
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM suppression WHERE reason = 'erased' AND policy = 'refuse'"
        )
        .await,
        1
    );
    assert_eq!(
        count_in(
            &app.db,
            "SELECT count(*) FROM privacy_audit WHERE action = 'suppression_updated'"
        )
        .await,
        1
    );
    // The colleague at the same company and the other company's prospect stay.
    assert_eq!(count_in(&app.db, "SELECT count(*) FROM prospect").await, 2);

    let audit_rows = count_in(&app.db, "SELECT count(*) FROM privacy_audit").await;
    for person in [
        Person::ProspectId(person_id),
        Person::ProspectId("999999".into()),
        Person::Email("nobody@elsewhere.org".into()),
    ] {
        let status = erase(&mut privacy, person.clone())
            .await
            .expect_err("nothing held");
        assert_eq!(status.code(), Code::NotFound, "{person:?}");
    }
    assert_eq!(
        count_in(&app.db, "SELECT count(*) FROM privacy_audit").await,
        audit_rows,
        "a request that erased nothing writes nothing"
    );
}

#[tokio::test]
async fn privacy_admin_is_required_and_bad_requests_change_nothing() {
    let app = spawn_app().await;
    store_the_person(&app).await;
    let state = "SELECT (SELECT count(*) FROM prospect) + (SELECT count(*) FROM customer) \
                 + (SELECT count(*) FROM suppression) + (SELECT count(*) FROM privacy_audit) \
                 + (SELECT count(*) FROM suppression_secret)";
    let untouched = count_in(&app.db, state).await;

    let without = app.mint_key(&[Scope::IngestWrite, Scope::SearchRead]).await;
    let mut refused = privacy_client(&app, &without.key).await;
    let status = export(&mut refused, EMAIL).await.expect_err("no scope");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = erase(&mut refused, Person::Email(EMAIL.into()))
        .await
        .expect_err("no scope");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("privacy.admin"),
        "{}",
        status.message()
    );

    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let none = privacy
        .erase_person(ErasePersonRequest { person: None })
        .await
        .expect_err("no person");
    assert_invalid(&none, "email", "quentin");
    for (person, field) in [
        (Person::Email("quentin@@zephyrcorp".into()), "email"),
        (
            Person::Email(format!("{}@zephyrcorp.io", "q".repeat(300))),
            "email",
        ),
        (Person::ProspectId("abc".into()), "prospect_id"),
        (Person::ProspectId("-1".into()), "prospect_id"),
    ] {
        let status = erase(&mut privacy, person.clone()).await.expect_err("bad");
        assert_invalid(&status, field, "quentin@@");
    }
    assert_eq!(count_in(&app.db, state).await, untouched);
}

/// A failure part way through an erasure rolls all of it back: prospects, legacy rows and the
/// entry are as before, and the erasure succeeds once the failure is gone.
#[tokio::test]
async fn a_failed_erasure_changes_nothing() {
    let app = spawn_app().await;
    store_the_person(&app).await;
    let admin = app.db.connect().await;
    // The erasure's own audit record is its last write: fail it.
    admin
        .batch_execute(
            "CREATE FUNCTION refuse_erasure_record() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'the audit log is unavailable'; END $$; \
             CREATE TRIGGER refuse_erasure_record BEFORE INSERT ON privacy_audit FOR EACH ROW \
                 WHEN (NEW.action = 'person_erased') EXECUTE FUNCTION refuse_erasure_record();",
        )
        .await
        .expect("a failing trigger");
    let state = "SELECT (SELECT count(*) FROM prospect) * 1000000 \
                 + (SELECT count(*) FROM customer) * 10000 \
                 + (SELECT count(*) FROM suppression) * 100 \
                 + (SELECT count(*) FROM privacy_audit)";
    let untouched = count_in(&app.db, state).await;

    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let status = erase(&mut privacy, Person::Email(EMAIL.into()))
        .await
        .expect_err("the audit record fails");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(
        !status.message().contains("quentin"),
        "{}",
        status.message()
    );
    assert_eq!(count_in(&app.db, state).await, untouched);

    admin
        .batch_execute("DROP TRIGGER refuse_erasure_record ON privacy_audit")
        .await
        .expect("dropping the trigger");
    let erased = erase(&mut privacy, Person::Email(EMAIL.into()))
        .await
        .expect("ErasePerson");
    assert_eq!(erased.prospect_ids.len(), 1);
}

/// Under dual ingestion a prospect's `customer` mirror goes with it, through the delete path
/// DeleteProspect and ErasePerson share, even when the mirror's address no longer matches.
#[tokio::test]
async fn under_dual_ingestion_the_mirrors_go_with_their_prospects() {
    lma_tests::init_test_logging();
    let db = TestDatabase::create().await;
    let tenant = create_tenant_in(&db, "acme").await;
    let shutdown = Shutdown::default();
    let ingest = start_service(Service::Ingest, &db.url(), &shutdown, &["--dual-ingest"]).await;
    wait_for_health(&ingest, ServingStatus::Serving).await;
    let mut client =
        lma_tests::clients::ingest_client(ingest.addr, BearerAuth::key(&tenant.api_key)).await;
    let mut prospect_ids = Vec::new();
    for record in [
        crm_record(),
        ProspectRecord {
            external_source: "crm".into(),
            external_id: "crm-78".into(),
            email: "ada.lovelace@zephyrcorp.io".into(),
            ..Default::default()
        },
    ] {
        let stored = client
            .upsert_prospect(UpsertProspectRequest {
                prospect: Some(record),
            })
            .await
            .expect("UpsertProspect")
            .into_inner();
        prospect_ids.push(stored.prospect.expect("the stored prospect").id);
    }
    let admin = db.connect().await;
    // A mirror whose address went stale: found by its prospect's key, not its address.
    admin
        .execute(
            "UPDATE customer SET email = 'someone.else@zephyrcorp.io' WHERE external_id = 'crm-77'",
            &[],
        )
        .await
        .expect("aging the mirror");
    assert_eq!(count_in(&db, "SELECT count(*) FROM customer").await, 2);

    client
        .delete_prospect(DeleteProspectRequest {
            prospect_id: prospect_ids[1].clone(),
        })
        .await
        .expect("DeleteProspect");
    assert_eq!(count_in(&db, "SELECT count(*) FROM customer").await, 1);

    let mut privacy =
        lma_tests::clients::privacy_client(ingest.addr, BearerAuth::key(&tenant.api_key)).await;
    let erased = erase(&mut privacy, Person::Email(EMAIL.into()))
        .await
        .expect("ErasePerson");
    assert_eq!(erased.prospect_ids, [prospect_ids[0].clone()]);
    assert_eq!(erased.legacy_customers_erased, 1, "the stale mirror");
    assert_eq!(count_in(&db, "SELECT count(*) FROM customer").await, 0);
    shutdown.trigger();
    ingest.stopped().await.expect("ingest-svc stops cleanly");
}

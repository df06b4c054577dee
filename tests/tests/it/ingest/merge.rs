//! MergeProspects and UnmergeProspect: two prospects that are one person without sharing an
//! address become one (links, addresses, surviving values), identity then finds the person by
//! either address, and undoing the merge by a moved source link restores both.

use lma_proto::v1::erase_person_request::Person;
use lma_proto::v1::{
    CountProspectsRequest, ErasePersonRequest, GetProspectRequest, IngestProspectsRequest,
    MergeProspectsRequest, Prospect, ProspectFilter, ProspectRecord, UnmergeProspectRequest,
    UpsertProspectRequest,
};
use lma_tests::app::TestApp;
use lma_tests::clients::IngestClient;
use lma_tests::{BearerAuth, spawn_app};
use svc_core::Scope;
use tonic::Code;

use super::count_in;
use super::person_data::traces;
use super::suppression::privacy_client;

const WORK: &str = "ann.lee@acme.com";
const PERSONAL: &str = "ann@lee-family.net";

async fn upsert(ingest: &mut IngestClient, record: ProspectRecord) -> Prospect {
    ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record),
        })
        .await
        .expect("UpsertProspect")
        .into_inner()
        .prospect
        .expect("prospect")
}

async fn get(ingest: &mut IngestClient, id: &str) -> Result<Prospect, tonic::Status> {
    Ok(ingest
        .get_prospect(GetProspectRequest {
            prospect_id: id.to_owned(),
        })
        .await?
        .into_inner()
        .prospect
        .expect("prospect"))
}

fn links(prospect: &Prospect) -> Vec<String> {
    let mut links: Vec<String> = prospect
        .source_links
        .iter()
        .map(|link| format!("{}/{}", link.external_source, link.external_id))
        .collect();
    links.sort();
    links
}

fn source_of(prospect: &Prospect, field: &str) -> String {
    prospect
        .provenance
        .iter()
        .find(|entry| entry.field == field)
        .map(|entry| entry.external_source.clone())
        .unwrap_or_default()
}

async fn count(app: &TestApp, token: &str) -> i64 {
    app.search_client()
        .await
        .count_prospects(CountProspectsRequest {
            filter: Some(ProspectFilter::default()),
            min_token: token.to_owned(),
            ..Default::default()
        })
        .await
        .expect("CountProspects")
        .into_inner()
        .total
}

/// The work record (a CRM) and the personal one (a vendor), stored as two prospects.
async fn two_records_of_ann(ingest: &mut IngestClient) -> (Prospect, Prospect) {
    let work = upsert(
        ingest,
        ProspectRecord {
            external_source: "salesforce".into(),
            external_id: "003A".into(),
            email: WORK.into(),
            first_name: "Ann".into(),
            job_title: "CTO".into(),
            ..Default::default()
        },
    )
    .await;
    let personal = upsert(
        ingest,
        ProspectRecord {
            external_source: "apollo".into(),
            external_id: "ap-9".into(),
            email: PERSONAL.into(),
            last_name: "Quenby".into(),
            job_title: "Advisor".into(),
            phone: "+1 415 555 0100".into(),
            ..Default::default()
        },
    )
    .await;
    assert_ne!(work.id, personal.id);
    (work, personal)
}

#[tokio::test]
async fn a_merge_joins_two_records_and_an_unmerge_restores_both() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let (work, personal) = two_records_of_ann(&mut ingest).await;

    let merged = ingest
        .merge_prospects(MergeProspectsRequest {
            survivor_id: work.id.clone(),
            other_ids: vec![personal.id.clone()],
        })
        .await
        .expect("MergeProspects")
        .into_inner();
    let person = merged.prospect.expect("survivor");
    assert_eq!(person.id, work.id);
    assert_eq!(person.email, WORK, "the survivor keeps its address");
    assert_eq!(links(&person), ["apollo/ap-9", "salesforce/003A"]);
    // Values by the rules: what only one had, and the later-supplied title.
    assert_eq!(person.first_name, "Ann");
    assert_eq!(person.last_name, "Quenby");
    assert!(!person.phone.is_empty());
    assert_eq!(person.job_title, "Advisor");
    assert_eq!(source_of(&person, "job_title"), "apollo");
    assert_eq!(source_of(&person, "first_name"), "salesforce");
    assert_eq!(count(&app, &merged.consistency_token).await, 1);
    let gone = get(&mut ingest, &personal.id)
        .await
        .expect_err("merged away");
    assert_eq!(gone.code(), Code::NotFound);

    // Identity finds the person by either address and by every link: no new prospect.
    let summary = ingest
        .ingest_prospects(tokio_stream::iter([IngestProspectsRequest {
            records: vec![ProspectRecord {
                external_source: "hubspot".into(),
                external_id: "h-1".into(),
                email: PERSONAL.into(),
                department: "Engineering".into(),
                ..Default::default()
            }],
        }]))
        .await
        .expect("IngestProspects")
        .into_inner()
        .summary
        .expect("summary");
    assert_eq!((summary.inserted, summary.updated), (0, 1));
    assert_eq!(count(&app, &summary.consistency_token).await, 1);
    let person = get(&mut ingest, &work.id).await.expect("survivor");
    assert_eq!(
        links(&person),
        ["apollo/ap-9", "hubspot/h-1", "salesforce/003A"]
    );
    assert_eq!(person.department, "Engineering");

    // Undone by the moved link: both come back as they were.
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let unmerged = privacy
        .unmerge_prospect(UnmergeProspectRequest {
            external_source: "apollo".into(),
            external_id: "ap-9".into(),
        })
        .await
        .expect("UnmergeProspect")
        .into_inner();
    assert_eq!(
        (unmerged.survivor_id.as_str(), unmerged.restored_id.as_str()),
        (work.id.as_str(), personal.id.as_str())
    );
    let restored = get(&mut ingest, &personal.id).await.expect("restored");
    assert_eq!(restored.email, PERSONAL);
    assert_eq!(restored.last_name, "Quenby");
    assert_eq!(restored.job_title, "Advisor");
    assert_eq!(links(&restored), ["apollo/ap-9"]);
    let survivor = get(&mut ingest, &work.id).await.expect("survivor");
    assert_eq!(survivor.email, WORK);
    assert_eq!(survivor.job_title, "CTO");
    assert_eq!(source_of(&survivor, "job_title"), "salesforce");
    assert!(survivor.last_name.is_empty() && survivor.phone.is_empty());
    // What a link not moved by the merge supplied stays.
    assert_eq!(survivor.department, "Engineering");
    assert_eq!(links(&survivor), ["hubspot/h-1", "salesforce/003A"]);
    assert_eq!(count(&app, &unmerged.consistency_token).await, 2);
    assert_eq!(
        count_in(&app.db, "SELECT count(*) FROM prospect_email_alias").await,
        0
    );

    // The audit log says who did what, by ids only.
    let client = app.db.connect().await;
    let rows = client
        .query(
            "SELECT action, prospect_ids, email_hmac IS NULL FROM privacy_audit \
             WHERE action IN ('prospects_merged', 'prospect_unmerged') ORDER BY id",
            &[],
        )
        .await
        .expect("audit");
    let ids = |id: &str| id.parse::<i64>().expect("an id");
    let recorded: Vec<(String, Vec<i64>, bool)> = rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert_eq!(
        recorded,
        [
            (
                "prospects_merged".to_owned(),
                vec![ids(&work.id), ids(&personal.id)],
                true
            ),
            (
                "prospect_unmerged".to_owned(),
                vec![ids(&work.id), ids(&personal.id)],
                true
            ),
        ]
    );
}

#[tokio::test]
async fn erasing_a_merged_person_by_either_address_erases_and_suppresses_both() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let (work, personal) = two_records_of_ann(&mut ingest).await;
    ingest
        .merge_prospects(MergeProspectsRequest {
            survivor_id: work.id.clone(),
            other_ids: vec![personal.id.clone()],
        })
        .await
        .expect("MergeProspects");
    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let erased = privacy
        .erase_person(ErasePersonRequest {
            person: Some(Person::Email(PERSONAL.into())),
        })
        .await
        .expect("ErasePerson")
        .into_inner();
    assert_eq!(erased.prospect_ids, std::slice::from_ref(&work.id));
    assert_eq!(count(&app, &erased.consistency_token).await, 0);
    let needles: Vec<String> = [WORK, PERSONAL, "Quenby", "415 555", "4155550100"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(traces(&app.db, &needles).await, Vec::<String>::new());
    // Neither address comes back.
    for (id, email) in [("s-2", WORK), ("a-2", PERSONAL)] {
        let refused = ingest
            .upsert_prospect(UpsertProspectRequest {
                prospect: Some(ProspectRecord {
                    external_source: "csv".into(),
                    external_id: id.into(),
                    email: email.into(),
                    ..Default::default()
                }),
            })
            .await
            .expect_err("suppressed");
        assert_eq!(refused.code(), Code::FailedPrecondition, "{email}");
    }
}

#[tokio::test]
async fn bad_merges_and_unmerges_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let (work, personal) = two_records_of_ann(&mut ingest).await;
    let other_tenant = app.create_tenant("other").await;
    let mut other_ingest = app
        .ingest_client_with(BearerAuth::key(&other_tenant.api_key))
        .await;
    let foreign = upsert(
        &mut other_ingest,
        ProspectRecord {
            external_source: "crm".into(),
            external_id: "x".into(),
            email: "x@globex-corp.com".into(),
            ..Default::default()
        },
    )
    .await;
    for (survivor, others, code, field) in [
        (
            &work.id,
            vec![work.id.clone()],
            Code::InvalidArgument,
            "other_ids[0]",
        ),
        (&work.id, vec![], Code::InvalidArgument, "other_ids"),
        (
            &work.id,
            vec![personal.id.clone(), personal.id.clone()],
            Code::InvalidArgument,
            "other_ids[1]",
        ),
        (
            &"x".to_owned(),
            vec![personal.id.clone()],
            Code::InvalidArgument,
            "survivor_id",
        ),
        (
            &work.id,
            vec![personal.id.clone(), "999999".into()],
            Code::NotFound,
            "other_ids[1]",
        ),
        // Another tenant's prospect does not exist for this one.
        (
            &work.id,
            vec![foreign.id.clone()],
            Code::NotFound,
            "other_ids[0]",
        ),
    ] {
        let status = ingest
            .merge_prospects(MergeProspectsRequest {
                survivor_id: survivor.clone(),
                other_ids: others.clone(),
            })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), code, "{others:?}: {status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    // Nothing was merged by the refused calls.
    assert!(get(&mut ingest, &personal.id).await.is_ok());
    assert!(get(&mut other_ingest, &foreign.id).await.is_ok());

    let mut privacy = privacy_client(&app, &app.tenant.api_key).await;
    let status = privacy
        .unmerge_prospect(UnmergeProspectRequest {
            external_source: "apollo".into(),
            external_id: "ap-9".into(),
        })
        .await
        .expect_err("never merged");
    assert_eq!(status.code(), Code::NotFound);
    let status = privacy
        .unmerge_prospect(UnmergeProspectRequest {
            external_source: "apollo".into(),
            external_id: " ".into(),
        })
        .await
        .expect_err("no id");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("external_id") || format!("{status:?}").contains("external_id")
    );

    // Unmerging needs privacy.admin.
    let writer = app.mint_key(&[Scope::IngestWrite]).await;
    let mut limited = privacy_client(&app, &writer.key).await;
    let status = limited
        .unmerge_prospect(UnmergeProspectRequest {
            external_source: "apollo".into(),
            external_id: "ap-9".into(),
        })
        .await
        .expect_err("no privacy.admin");
    assert_eq!(status.code(), Code::PermissionDenied);
}

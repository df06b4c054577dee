//! Survivorship and provenance: each field of a prospect says which source and which ingest
//! supplied it; by default the most recently ingested non-empty value survives, and an
//! organization's source priority makes a higher-ranked source's value outlast later ones.

use lma_proto::v1::{
    CsvImportOptions, FieldProvenance, GetSourcePriorityRequest, IngestProspectsRequest,
    IngestSummary, Prospect, ProspectRecord, SetSourcePriorityRequest, UpsertProspectRequest,
};
use lma_tests::clients::IngestClient;
use lma_tests::spawn_app;
use tonic::Code;

use super::{get_prospect as get, import_csv};

const EMAIL: &str = "ann.lee@acme.com";

fn record(source: &str, id: &str) -> ProspectRecord {
    ProspectRecord {
        external_source: source.into(),
        external_id: id.into(),
        email: EMAIL.into(),
        ..Default::default()
    }
}

async fn upsert(ingest: &mut IngestClient, record: ProspectRecord) -> (Prospect, String) {
    let response = ingest
        .upsert_prospect(UpsertProspectRequest {
            prospect: Some(record),
        })
        .await
        .expect("UpsertProspect")
        .into_inner();
    (
        response.prospect.expect("prospect"),
        response.consistency_token,
    )
}

async fn stream(ingest: &mut IngestClient, records: Vec<ProspectRecord>) -> IngestSummary {
    ingest
        .ingest_prospects(tokio_stream::iter([IngestProspectsRequest { records }]))
        .await
        .expect("IngestProspects")
        .into_inner()
        .summary
        .expect("summary")
}

async fn set_priority(ingest: &mut IngestClient, sources: &[&str]) {
    ingest
        .set_source_priority(SetSourcePriorityRequest {
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
        })
        .await
        .expect("SetSourcePriority");
}

fn of<'a>(prospect: &'a Prospect, field: &str) -> &'a FieldProvenance {
    prospect
        .provenance
        .iter()
        .find(|entry| entry.field == field)
        .unwrap_or_else(|| panic!("no provenance for {field}: {:?}", prospect.provenance))
}

/// The source link and token that supplied `field`.
fn supplier(prospect: &Prospect, field: &str) -> (String, String, String) {
    let entry = of(prospect, field);
    (
        entry.external_source.clone(),
        entry.external_id.clone(),
        entry.consistency_token.clone(),
    )
}

fn fields(prospect: &Prospect) -> Vec<&str> {
    prospect
        .provenance
        .iter()
        .map(|entry| entry.field.as_str())
        .collect()
}

#[tokio::test]
async fn provenance_names_the_source_and_the_ingest_of_each_field() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let (created, first_token) = upsert(
        &mut ingest,
        ProspectRecord {
            first_name: "Ann".into(),
            job_title: "CTO".into(),
            ..record("salesforce", "003A")
        },
    )
    .await;
    // Only fields with a value have a provenance, in field order.
    assert_eq!(
        fields(&created),
        ["company_id", "first_name", "email", "job_title"]
    );
    assert_eq!(
        supplier(&created, "job_title"),
        ("salesforce".into(), "003A".into(), first_token.clone())
    );
    assert_eq!(of(&created, "job_title").ingested_at, created.created_at);

    let apollo = stream(
        &mut ingest,
        vec![ProspectRecord {
            last_name: "Lee".into(),
            job_title: "VP Engineering".into(),
            ..record("apollo", "ap-9")
        }],
    )
    .await;
    assert_eq!((apollo.inserted, apollo.updated), (0, 1));
    let second_token = apollo.consistency_token.clone();
    assert_ne!(first_token, second_token);
    let person = get(&mut ingest, &created.id).await;
    // Recency: the later source's title replaced the earlier one; what it did not send stays.
    assert_eq!(person.job_title, "VP Engineering");
    assert_eq!(
        supplier(&person, "job_title"),
        ("apollo".into(), "ap-9".into(), second_token.clone())
    );
    assert_eq!(
        supplier(&person, "last_name"),
        ("apollo".into(), "ap-9".into(), second_token.clone())
    );
    assert_eq!(
        supplier(&person, "first_name"),
        ("salesforce".into(), "003A".into(), first_token.clone())
    );
    let seconds = |field: &str| {
        of(&person, field)
            .ingested_at
            .map(|at| (at.seconds, at.nanos))
    };
    assert!(seconds("job_title") >= seconds("first_name"));
    assert!(seconds("job_title").is_some());

    // The same record again changes nothing, its provenance included.
    let again = stream(
        &mut ingest,
        vec![ProspectRecord {
            last_name: "Lee".into(),
            job_title: "VP Engineering".into(),
            ..record("apollo", "ap-9")
        }],
    )
    .await;
    assert_eq!((again.updated, again.unchanged), (0, 1));
    assert_eq!(
        get(&mut ingest, &created.id).await.provenance,
        person.provenance
    );

    // A source that sends the value already stored does not take it over.
    let (same, _) = upsert(
        &mut ingest,
        ProspectRecord {
            first_name: "Ann".into(),
            ..record("hubspot", "h-1")
        },
    )
    .await;
    assert_eq!(supplier(&same, "first_name").0, "salesforce");
}

#[tokio::test]
async fn a_source_priority_outranks_recency_on_every_ingest_path() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    set_priority(&mut ingest, &["salesforce", "csv:*"]).await;
    assert_eq!(
        ingest
            .get_source_priority(GetSourcePriorityRequest {})
            .await
            .expect("GetSourcePriority")
            .into_inner()
            .sources,
        ["salesforce", "csv:*"]
    );
    let (created, crm_token) = upsert(
        &mut ingest,
        ProspectRecord {
            job_title: "CTO".into(),
            ..record("salesforce", "003A")
        },
    )
    .await;

    // A CSV file (ranked below salesforce) cannot replace the title, but fills the phone.
    let csv = format!("Email,Job Title,Phone,Record Id\n{EMAIL},Engineer,+1 415 555 0100,row-1\n");
    let (report, _) = import_csv(
        &mut ingest,
        CsvImportOptions {
            file_name: "leads.csv".into(),
            ..Default::default()
        },
        csv.as_bytes(),
    )
    .await
    .expect("ImportCsv");
    assert_eq!(report.summary.as_ref().map(|s| s.rejected), Some(0));
    let person = get(&mut ingest, &created.id).await;
    assert_eq!(person.job_title, "CTO");
    assert_eq!(
        supplier(&person, "job_title"),
        ("salesforce".into(), "003A".into(), crm_token)
    );
    assert!(!person.phone.is_empty());
    assert_eq!(of(&person, "phone").external_source, "csv:leads.csv");

    // An unlisted source ranks below every listed one, streamed or single.
    stream(
        &mut ingest,
        vec![ProspectRecord {
            job_title: "Intern".into(),
            department: "Engineering".into(),
            ..record("apollo", "ap-9")
        }],
    )
    .await;
    let (after_single, _) = upsert(
        &mut ingest,
        ProspectRecord {
            job_title: "Founder".into(),
            ..record("zoominfo", "z-1")
        },
    )
    .await;
    assert_eq!(after_single.job_title, "CTO");
    assert_eq!(after_single.department, "Engineering");
    assert_eq!(of(&after_single, "department").external_source, "apollo");

    // The top source still replaces its own value.
    let (changed, ceo_token) = upsert(
        &mut ingest,
        ProspectRecord {
            job_title: "CEO".into(),
            ..record("salesforce", "003A")
        },
    )
    .await;
    assert_eq!(changed.job_title, "CEO");
    assert_eq!(supplier(&changed, "job_title").2, ceo_token);

    // Without a priority, recency again.
    set_priority(&mut ingest, &[]).await;
    let (recent, _) = upsert(
        &mut ingest,
        ProspectRecord {
            job_title: "Advisor".into(),
            ..record("apollo", "ap-9")
        },
    )
    .await;
    assert_eq!(recent.job_title, "Advisor");
}

#[tokio::test]
async fn rows_of_one_person_in_one_batch_follow_the_priority_and_keep_their_provenance() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    set_priority(&mut ingest, &["salesforce"]).await;
    let summary = stream(
        &mut ingest,
        vec![
            ProspectRecord {
                job_title: "CTO".into(),
                ..record("salesforce", "003A")
            },
            ProspectRecord {
                job_title: "Engineer".into(),
                last_name: "Lee".into(),
                ..record("apollo", "ap-9")
            },
        ],
    )
    .await;
    assert_eq!((summary.inserted, summary.rejected), (1, 0));
    let mut search = app.search_client().await;
    let hits = lma_tests::app::search_prospects(
        &mut search,
        lma_proto::v1::SearchProspectsRequest {
            filter: Some(Default::default()),
            min_token: summary.consistency_token.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("SearchProspects");
    assert_eq!(hits.hits.len(), 1);
    let id = hits.hits[0]
        .prospect
        .as_ref()
        .expect("hit")
        .prospect_id
        .clone();
    let person = get(&mut ingest, &id).await;
    assert_eq!(person.job_title, "CTO");
    assert_eq!(person.last_name, "Lee");
    assert_eq!(
        supplier(&person, "job_title"),
        (
            "salesforce".into(),
            "003A".into(),
            summary.consistency_token.clone()
        )
    );
    assert_eq!(
        supplier(&person, "last_name"),
        (
            "apollo".into(),
            "ap-9".into(),
            summary.consistency_token.clone()
        )
    );
}

/// Rows of one person from two sources in one batch, merged into a person another source
/// stored: each changed value names the row that supplied it (the first row's own key, or the
/// other row's through the fold) and the batch's token; an unchanged one keeps its supplier.
#[tokio::test]
async fn a_batch_folding_two_sources_into_a_stored_person_names_each_supplier() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    let (stored, stored_token) = upsert(
        &mut ingest,
        ProspectRecord {
            first_name: "Ann".into(),
            job_title: "Intern".into(),
            ..record("crm", "c-1")
        },
    )
    .await;
    let summary = stream(
        &mut ingest,
        vec![
            ProspectRecord {
                job_title: "CTO".into(),
                ..record("salesforce", "003A")
            },
            ProspectRecord {
                last_name: "Lee".into(),
                ..record("apollo", "ap-9")
            },
        ],
    )
    .await;
    assert_eq!(
        (summary.inserted, summary.updated, summary.rejected),
        (0, 1, 0)
    );
    let person = get(&mut ingest, &stored.id).await;
    assert_eq!(
        (
            person.first_name.as_str(),
            person.last_name.as_str(),
            person.job_title.as_str()
        ),
        ("Ann", "Lee", "CTO")
    );
    assert_eq!(
        supplier(&person, "job_title"),
        (
            "salesforce".into(),
            "003A".into(),
            summary.consistency_token.clone()
        )
    );
    assert_eq!(
        supplier(&person, "last_name"),
        (
            "apollo".into(),
            "ap-9".into(),
            summary.consistency_token.clone()
        )
    );
    assert_eq!(
        supplier(&person, "first_name"),
        ("crm".into(), "c-1".into(), stored_token)
    );
    assert_eq!(
        of(&person, "job_title").ingested_at,
        of(&person, "last_name").ingested_at
    );
}

#[tokio::test]
async fn a_bad_source_priority_is_refused_naming_the_entry() {
    let app = spawn_app().await;
    let mut ingest = app.ingest_client().await;
    for (sources, field) in [
        (vec!["salesforce", " "], "sources[1]"),
        (vec!["apollo", "salesforce", "apollo"], "sources[2]"),
        (vec!["*"], "sources[0]"),
        (vec!["a\0b"], "sources[0]"),
    ] {
        let status = ingest
            .set_source_priority(SetSourcePriorityRequest {
                sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            })
            .await
            .expect_err("a bad priority is refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{sources:?}");
        assert!(status.message().contains(field), "{sources:?}: {status:?}");
    }
    let long = "x".repeat(200);
    let status = ingest
        .set_source_priority(SetSourcePriorityRequest {
            sources: vec![long],
        })
        .await
        .expect_err("too long");
    assert_eq!(status.code(), Code::InvalidArgument);
    // Nothing was stored by the refused calls.
    assert!(
        ingest
            .get_source_priority(GetSourcePriorityRequest {})
            .await
            .expect("GetSourcePriority")
            .into_inner()
            .sources
            .is_empty()
    );
}

//! Each filter, alone and combined, selects exactly the prospects it should; and each sort
//! orders them as documented, page after page.

use std::time::SystemTime;

use lma_proto::v1::{
    CountProspectsRequest, Int32Range, Int64Range, JobTitleLevel, ProspectFilter, ProspectSort,
    SearchProspectsRequest,
};
use lma_tests::spawn_app;

use super::data::{all_pages, ids, load_people};

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_selects_exactly_its_prospects() {
    let app = spawn_app().await;
    load_people(&app).await;
    // Another tenant's identical data must never show up.
    let other = app.create_tenant("other").await;
    let mut other_ingest = app
        .ingest_client_with(lma_tests::BearerAuth::key(&other.api_key))
        .await;
    other_ingest
        .upsert_prospect(lma_proto::v1::UpsertProspectRequest {
            prospect: Some(super::data::people().remove(0)),
        })
        .await
        .expect("upsert for the other tenant");

    let f = ProspectFilter::default;
    let cases: Vec<(&str, ProspectFilter, Vec<&str>)> = vec![
        (
            "full text on a name",
            ProspectFilter {
                query: "jane".into(),
                ..f()
            },
            vec!["jane"],
        ),
        (
            "full text on a company",
            ProspectFilter {
                query: "acme".into(),
                ..f()
            },
            vec!["jane", "omar"],
        ),
        (
            "full text with a phrase and exclusion",
            ProspectFilter {
                query: "medical -nurse".into(),
                ..f()
            },
            vec!["sam"],
        ),
        (
            "trigram typo fallback",
            ProspectFilter {
                query: "robotcs".into(),
                ..f()
            },
            vec!["jane", "omar"],
        ),
        (
            "trigram substring fallback",
            ProspectFilter {
                query: "kafo".into(),
                ..f()
            },
            vec!["sam"],
        ),
        (
            "trigram substring fallback of a quoted phrase",
            ProspectFilter {
                query: "\"kafo\"".into(),
                ..f()
            },
            vec!["sam"],
        ),
        (
            "industries",
            ProspectFilter {
                industries: strings(&["retail", "HEALTHCARE"]),
                ..f()
            },
            vec!["kim", "lea", "sam"],
        ),
        (
            "job title levels",
            ProspectFilter {
                job_title_levels: vec![JobTitleLevel::Vp as i32, JobTitleLevel::Owner as i32],
                ..f()
            },
            vec!["jane", "ray"],
        ),
        (
            "departments",
            ProspectFilter {
                departments: strings(&["medical"]),
                ..f()
            },
            vec!["kim", "sam"],
        ),
        (
            "company domains",
            ProspectFilter {
                company_domains: strings(&["Quiet.io", "bolt-retail.fr"]),
                ..f()
            },
            vec!["lea", "ray"],
        ),
        (
            "countries",
            ProspectFilter {
                countries: strings(&["germany"]),
                ..f()
            },
            vec!["jane", "omar"],
        ),
        (
            "states",
            ProspectFilter {
                states: strings(&["texas", "ontario"]),
                ..f()
            },
            vec!["kim", "ray", "sam"],
        ),
        (
            "cities",
            ProspectFilter {
                cities: strings(&["Paris"]),
                ..f()
            },
            vec!["lea"],
        ),
        (
            "revenue range",
            ProspectFilter {
                revenue: Some(Int64Range {
                    min: Some(1_000_000),
                    max: Some(10_000_000),
                }),
                ..f()
            },
            vec!["lea"],
        ),
        (
            "revenue minimum excludes unknown revenue",
            ProspectFilter {
                revenue: Some(Int64Range {
                    min: Some(0),
                    max: None,
                }),
                ..f()
            },
            vec!["jane", "lea", "omar", "ray"],
        ),
        (
            "employee range overlaps",
            ProspectFilter {
                employees: Some(Int32Range {
                    min: Some(40),
                    max: Some(300),
                }),
                ..f()
            },
            vec!["kim", "lea", "sam"],
        ),
        (
            "company name prefix",
            ProspectFilter {
                company_name_prefix: "acme ro".into(),
                ..f()
            },
            vec!["jane", "omar"],
        ),
        (
            "company name prefix falls back to the domain",
            ProspectFilter {
                company_name_prefix: "quiet".into(),
                ..f()
            },
            vec!["ray"],
        ),
        (
            "prefix wildcards match literally",
            ProspectFilter {
                company_name_prefix: "%".into(),
                ..f()
            },
            vec![],
        ),
        (
            "tags any, case-insensitive",
            ProspectFilter {
                tags_any: strings(&["WEBINAR-2026", "trade-show"]),
                ..f()
            },
            vec!["jane", "kim", "omar", "ray"],
        ),
        (
            "tags all",
            ProspectFilter {
                tags_all: strings(&["vip", "trade-show"]),
                ..f()
            },
            vec!["ray"],
        ),
        (
            "custom field equality",
            ProspectFilter {
                custom_fields: [("tier".to_owned(), "gold".to_owned())].into(),
                ..f()
            },
            vec!["jane", "lea", "ray"],
        ),
        (
            "combined",
            ProspectFilter {
                tags_any: strings(&["vip"]),
                countries: strings(&["france", "canada"]),
                custom_fields: [("tier".to_owned(), "gold".to_owned())].into(),
                ..f()
            },
            vec!["lea", "ray"],
        ),
    ];
    for (case, filter, expected) in cases {
        let page = app.search(filter).await;
        let mut got = ids(&page);
        got.sort_unstable();
        assert_eq!(got, expected, "{case}");
    }

    // updated_since: only what changed after the mark.
    let mark = SystemTime::now();
    let mut kim = super::data::people().remove(4);
    kim.job_title = "Head Nurse".into();
    app.upsert_prospect(kim).await;
    let since = ProspectFilter {
        updated_since: Some(mark.into()),
        ..f()
    };
    let page = app.wait_until_visible(since.clone(), "kim").await;
    assert_eq!(ids(&page), ["kim"], "updated since");
}

/// The trigram fallback is for text full text cannot match at all. Words full text finds in
/// the tenant are not matched fuzzily when the other filters leave nothing: "jane" in France is
/// no one, not "Jana".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_full_text_knows_are_not_matched_fuzzily() {
    let app = spawn_app().await;
    load_people(&app).await;
    let mut jana = super::data::people().remove(2);
    jana.external_id = "jana".into();
    jana.first_name = "Jana".into();
    jana.email = "jana.martin@bolt-retail.fr".into();
    app.upsert_prospect(jana).await;
    let in_france = |query: &str| ProspectFilter {
        query: query.into(),
        countries: strings(&["France"]),
        ..Default::default()
    };
    app.wait_until_visible(in_france("jana"), "jana").await;

    let page = app.search(in_france("jane")).await;
    assert_eq!(ids(&page), Vec::<&str>::new(), "jane is known, in Germany");
    let count = app
        .search_client()
        .await
        .count_prospects(CountProspectsRequest {
            filter: Some(in_france("jane")),
            ..Default::default()
        })
        .await
        .expect("CountProspects")
        .into_inner();
    assert_eq!(count.total, 0, "the count agrees with the search");
    // A typo full text cannot match still finds her through trigrams.
    let page = app.search(in_france("janaa")).await;
    assert_eq!(ids(&page), ["jana"], "typo fallback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sort_orders_the_hits_and_pages_through_them() {
    let app = spawn_app().await;
    load_people(&app).await;
    let mut client = app.search_client().await;
    let sorted = |sort: ProspectSort, query: &str| SearchProspectsRequest {
        filter: Some(ProspectFilter {
            query: query.into(),
            ..Default::default()
        }),
        sort: sort as i32,
        page_size: 2,
        ..Default::default()
    };

    // Company name A-Z (the domain stands in for the unnamed company), then prospect id.
    let by_name = all_pages(&mut client, sorted(ProspectSort::CompanyName, "")).await;
    assert_eq!(by_name, ["jane", "omar", "lea", "ray", "sam", "kim"]);
    // Highest revenue first, unknown revenue last.
    let by_revenue = all_pages(&mut client, sorted(ProspectSort::Revenue, "")).await;
    assert_eq!(by_revenue, ["omar", "jane", "lea", "ray", "kim", "sam"]);
    // Most recently updated first: the order of writing, reversed.
    let by_update = all_pages(&mut client, sorted(ProspectSort::UpdatedAt, "")).await;
    assert_eq!(by_update, ["ray", "kim", "sam", "lea", "omar", "jane"]);
    // Relevance: a name match (weight A) outranks a match in the industry (weight C).
    let by_relevance = all_pages(&mut client, sorted(ProspectSort::Relevance, "robotics")).await;
    assert_eq!(by_relevance.len(), 2);
    let page =
        lma_tests::app::search_prospects(&mut client, sorted(ProspectSort::Relevance, "robotics"))
            .await
            .expect("relevance search");
    let scores: Vec<f32> = page.hits.iter().map(|hit| hit.score).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]) && scores[0] > 0.0,
        "{scores:?}"
    );
}

//! One record the whole way: UpsertProspect (ingest-svc) -> change log + NOTIFY -> refresh-svc
//! -> prospect_search_view -> SearchProspects (search-svc).

use lma_proto::v1::{ProspectFilter, WriteOutcome};
use lma_tests::fixtures::{self, countries, industries, query};
use lma_tests::{BearerAuth, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upserted_prospect_is_streamed_by_search_with_computed_columns() {
    let app = spawn_app().await;

    let response = app.upsert_prospect(fixtures::jane_doe()).await;
    assert_eq!(response.outcome(), WriteOutcome::Inserted);
    assert_eq!(response.company_outcome(), WriteOutcome::Inserted);
    assert!(
        !response.consistency_token.is_empty(),
        "a write returns a consistency token"
    );
    let stored = response.prospect.expect("the stored prospect is returned");
    let company = stored.company.as_ref().expect("with its company");
    assert_eq!(company.domain, "acme-robotics.com");
    assert_eq!(company.revenue, Some(1_250_000_000));
    assert!(!stored.id.is_empty() && stored.company_id == company.id);

    let page = app
        .wait_until_visible(industries(&["Robotics"]), "crm-jane-doe")
        .await;
    assert_eq!(page.hits.len(), 1, "{:?}", page.full_names());
    let hit = page.hits[0]
        .prospect
        .as_ref()
        .expect("a hit has a prospect");
    assert_eq!(hit.full_name, "Jane Doe");
    assert_eq!(hit.formatted_revenue, "1.3B");
    assert_eq!(hit.revenue, Some(1_250_000_000));
    assert_eq!(hit.company_name, "Acme Robotics");
    assert_eq!(hit.company_domain, "acme-robotics.com");
    assert_eq!(hit.industry, "robotics");
    assert_eq!(hit.country, "Germany");
    assert_eq!(hit.email, "jane.doe@acme-robotics.com");
    assert_eq!(hit.prospect_id, stored.id);
    assert_eq!(hit.company_id, stored.company_id);
    assert!(
        hit.company_context.contains("Acme Robotics"),
        "company_context: {:?}",
        hit.company_context
    );

    let freshness = page.end.freshness.as_ref().expect("PageEnd has freshness");
    assert!(
        !freshness.watermark.is_empty(),
        "PageEnd carries a watermark"
    );
    assert!(
        freshness.refreshed_at.is_some(),
        "PageEnd says when the watermark was reached"
    );
    assert!(page.end.next_page_token.is_empty(), "one hit fits one page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_the_prospect_or_not() {
    let app = spawn_app().await;
    app.upsert_prospect(fixtures::jane_doe()).await;
    app.upsert_prospect(fixtures::prospect_with_revenue("other", Some(10)))
        .await;
    // Both rows are in the read model before any negative assertion can mean anything.
    app.wait_until_visible(ProspectFilter::default(), "crm-jane-doe")
        .await;
    app.wait_until_visible(ProspectFilter::default(), "other")
        .await;

    let matching = [
        ("industry", industries(&["Robotics"])),
        ("industry, other case", industries(&["robotics"])),
        ("one of two industries", industries(&["Retail", "Robotics"])),
        ("country", countries(&["Germany"])),
        ("query on the first name", query("Jane")),
        ("query on the company name", query("acme")),
        (
            "industry and country",
            ProspectFilter {
                industries: vec!["Robotics".to_owned()],
                countries: vec!["Germany".to_owned()],
                ..Default::default()
            },
        ),
    ];
    for (case, filter) in matching {
        let page = app.search(filter).await;
        assert_eq!(
            page.full_names(),
            vec!["Jane Doe"],
            "{case}: expected only Jane Doe"
        );
    }

    let not_matching = [
        ("other industry", industries(&["Retail"])),
        ("other country", countries(&["Spain"])),
        ("query matching nothing", query("zyxwvut")),
        (
            "industry matches, country does not",
            ProspectFilter {
                industries: vec!["Robotics".to_owned()],
                countries: vec!["France".to_owned()],
                ..Default::default()
            },
        ),
    ];
    for (case, filter) in not_matching {
        let page = app.search(filter).await;
        assert!(
            page.by_external_id("crm-jane-doe").is_none(),
            "{case}: Jane Doe must not match; got {:?}",
            page.full_names()
        );
    }

    let everything = app.search(ProspectFilter::default()).await;
    assert_eq!(everything.hits.len(), 2, "{:?}", everything.full_names());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formatted_revenue_rounds_to_one_decimal() {
    let app = spawn_app().await;
    let cases = [
        ("rev-billions", Some(1_250_000_000), "1.3B"),
        ("rev-millions", Some(3_400_000), "3.4M"),
        ("rev-thousands", Some(5_600), "5.6K"),
        ("rev-units", Some(999), "$999"),
        ("rev-unknown", None, "NA"),
    ];
    for (external_id, revenue, _) in cases {
        app.upsert_prospect(fixtures::prospect_with_revenue(external_id, revenue))
            .await;
    }
    let page = app
        .search_until(
            BearerAuth::key(&app.tenant.api_key),
            ProspectFilter::default(),
            |page| match page.hits.len() {
                5 => Ok(()),
                n => Err(format!("{n} of 5 prospects visible")),
            },
        )
        .await;
    for (external_id, revenue, expected) in cases {
        let hit = page
            .by_external_id(external_id)
            .and_then(|hit| hit.prospect.as_ref())
            .unwrap_or_else(|| panic!("{external_id} is missing"));
        assert_eq!(hit.revenue, revenue, "{external_id}");
        assert_eq!(hit.formatted_revenue, expected, "{external_id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_reaches_search() {
    let app = spawn_app().await;
    app.upsert_prospect(fixtures::jane_doe()).await;
    app.wait_until_visible(query("Doe"), "crm-jane-doe").await;

    let mut renamed = fixtures::jane_doe();
    renamed.last_name = "Doe-Smith".to_owned();
    let response = app.upsert_prospect(renamed).await;
    assert_eq!(response.outcome(), WriteOutcome::Updated);
    assert!(!response.consistency_token.is_empty());

    let page = app
        .search_until(
            BearerAuth::key(&app.tenant.api_key),
            industries(&["Robotics"]),
            |page| {
                if page.full_names() == ["Jane Doe-Smith"] {
                    Ok(())
                } else {
                    Err("the new name is not visible yet".to_owned())
                }
            },
        )
        .await;
    assert_eq!(page.hits.len(), 1, "the update replaced the row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organization_cannot_see_the_prospect() {
    let app = spawn_app().await;
    let other = app.create_tenant("globex").await;
    app.upsert_prospect(fixtures::jane_doe()).await;
    app.wait_until_visible(ProspectFilter::default(), "crm-jane-doe")
        .await;

    // The row is in the read model (seen above); the other tenant still gets nothing.
    let mut other_search = app
        .search_client_with(BearerAuth::key(&other.api_key))
        .await;
    for filter in [
        ProspectFilter::default(),
        industries(&["Robotics"]),
        query("Jane"),
    ] {
        let page = lma_tests::app::search_prospects(
            &mut other_search,
            lma_tests::app::search_request(filter.clone()),
        )
        .await
        .expect("the other tenant may search");
        assert!(
            page.hits.is_empty(),
            "{filter:?}: another organization saw {:?}",
            page.full_names()
        );
        assert_eq!(page.end.returned, 0);
    }

    // The same person at the same company, written by the other tenant, is its own row.
    let mut ingest = app
        .ingest_client_with(BearerAuth::key(&other.api_key))
        .await;
    let mut record = fixtures::jane_doe();
    record.last_name = "Globex-Doe".to_owned();
    let response = ingest
        .upsert_prospect(lma_proto::v1::UpsertProspectRequest {
            prospect: Some(record),
        })
        .await
        .expect("the other tenant may write")
        .into_inner();
    assert_eq!(response.outcome(), WriteOutcome::Inserted);
    assert_eq!(response.company_outcome(), WriteOutcome::Inserted);

    let theirs = app
        .search_until(
            BearerAuth::key(&other.api_key),
            ProspectFilter::default(),
            |page| match page.full_names().as_slice() {
                ["Jane Globex-Doe"] => Ok(()),
                _ => Err("expected only their own prospect".to_owned()),
            },
        )
        .await;
    assert_eq!(theirs.hits.len(), 1);
    let ours = app.search(ProspectFilter::default()).await;
    assert_eq!(ours.full_names(), vec!["Jane Doe"]);
}

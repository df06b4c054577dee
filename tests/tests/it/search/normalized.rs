//! Values stored in canonical form and filters that accept any spelling of them: a country
//! filter given "usa" finds prospects imported as "United States", "USA" and "U.S.", and the
//! facets show one bucket per country and industry.

use std::collections::HashMap;

use lma_proto::v1::{CompanyRecord, CountProspectsRequest, Facet, ProspectFilter, ProspectRecord};
use lma_tests::{BearerAuth, spawn_app};

fn prospect(id: &str, country: &str, domain: &str, industry: &str) -> ProspectRecord {
    ProspectRecord {
        external_source: "crm".to_owned(),
        external_id: id.to_owned(),
        first_name: id.to_owned(),
        email: format!("{id}@{domain}"),
        country: country.to_owned(),
        company: Some(CompanyRecord {
            domain: domain.to_owned(),
            industry: industry.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_spelling_of_a_country_or_industry_finds_its_canonical_value() {
    let app = spawn_app().await;
    let mut first = prospect(
        "first",
        "United States",
        "soft-one.com",
        "COMPUTER_SOFTWARE",
    );
    first.phone = "(415) 555-2671".to_owned();
    first.state = "California".to_owned();
    app.upsert_prospect(first).await;
    app.upsert_prospect(prospect(
        "second",
        "USA",
        "soft-two.com",
        "Computer Software",
    ))
    .await;
    let token = app
        .upsert_prospect(prospect("third", "U.S.", "shop.com", "Retail"))
        .await
        .consistency_token;

    let stored = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT country, state, phone, country_code FROM prospect WHERE external_id = 'first'",
            &[],
        )
        .await
        .expect("the first prospect");
    assert_eq!(stored.get::<_, String>(0), "United States of America");
    assert_eq!(stored.get::<_, String>(1), "CA");
    assert_eq!(stored.get::<_, String>(2), "+14155552671");
    assert_eq!(stored.get::<_, String>(3), "US");

    let all = |page: &lma_tests::app::SearchPage, wanted: &[&str]| {
        let mut ids: Vec<&str> = page
            .hits
            .iter()
            .filter_map(|hit| hit.prospect.as_ref())
            .map(|p| p.external_id.as_str())
            .collect();
        ids.sort_unstable();
        if ids == wanted {
            Ok(())
        } else {
            Err(format!("{ids:?}, not {wanted:?}"))
        }
    };
    let auth = BearerAuth::key(&app.tenant.api_key);
    app.search_until(
        auth.clone(),
        ProspectFilter {
            countries: vec!["usa".to_owned()],
            ..Default::default()
        },
        |page| all(page, &["first", "second", "third"]),
    )
    .await;
    app.search_until(
        auth.clone(),
        ProspectFilter {
            industries: vec!["computer-software".to_owned()],
            ..Default::default()
        },
        |page| all(page, &["first", "second"]),
    )
    .await;
    app.search_until(
        auth,
        ProspectFilter {
            states: vec!["california".to_owned()],
            ..Default::default()
        },
        |page| all(page, &["first"]),
    )
    .await;

    let response = app
        .search_client()
        .await
        .count_prospects(CountProspectsRequest {
            facets: vec![Facet::Country as i32, Facet::Industry as i32],
            min_token: token,
            ..Default::default()
        })
        .await
        .expect("CountProspects")
        .into_inner();
    let buckets = |facet: Facet| -> HashMap<String, i64> {
        response
            .facets
            .iter()
            .find(|f| f.facet == facet as i32)
            .expect("the facet")
            .values
            .iter()
            .map(|v| (v.value.clone(), v.count))
            .collect()
    };
    assert_eq!(
        buckets(Facet::Country),
        HashMap::from([("United States of America".to_owned(), 3)])
    );
    assert_eq!(
        buckets(Facet::Industry),
        HashMap::from([
            ("computer software".to_owned(), 2),
            ("retail".to_owned(), 1)
        ])
    );
}

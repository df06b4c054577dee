//! Test data for the search tests: a handful of distinct prospects written through ingest-svc,
//! and bulk data written with set-based SQL into the base tables (change capture and
//! refresh-svc then bring it into the read models, as in production).

use std::time::Duration;

use lma_proto::v1::{CompanyRecord, JobTitleLevel, ProspectRecord, SearchProspectsRequest};
use lma_tests::clients::SearchClient;
use lma_tests::{TestApp, wait};

/// How long refresh-svc may take to apply a bulk load.
pub const BULK_VISIBLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Six prospects at four companies that differ in every filtered attribute.
pub fn people() -> Vec<ProspectRecord> {
    let company = |domain: &str,
                   name: &str,
                   industry: &str,
                   min,
                   max,
                   revenue,
                   city: &str,
                   state: &str,
                   country: &str| CompanyRecord {
        domain: domain.to_owned(),
        name: name.to_owned(),
        industry: industry.to_owned(),
        min_employees: min,
        max_employees: max,
        revenue,
        city: city.to_owned(),
        state: state.to_owned(),
        country: country.to_owned(),
        ..Default::default()
    };
    let acme = company(
        "acme-robotics.com",
        "Acme Robotics",
        "Robotics",
        Some(1001),
        Some(5000),
        Some(1_250_000_000),
        "Berlin",
        "Berlin",
        "Germany",
    );
    let bolt = company(
        "bolt-retail.fr",
        "Bolt Retail",
        "Retail",
        Some(11),
        Some(50),
        Some(4_000_000),
        "Paris",
        "Ile-de-France",
        "France",
    );
    let zeta = company(
        "zeta-health.com",
        "Zeta Health",
        "Healthcare",
        Some(201),
        Some(1000),
        None,
        "Austin",
        "Texas",
        "United States",
    );
    let unnamed = company(
        "quiet.io",
        "",
        "Software",
        None,
        None,
        Some(50_000),
        "Toronto",
        "Ontario",
        "Canada",
    );
    let person = |id: &str,
                  first: &str,
                  last: &str,
                  title: &str,
                  level: JobTitleLevel,
                  department: &str,
                  company: &CompanyRecord,
                  tags: &[&str],
                  tier: &str| ProspectRecord {
        external_source: "crm".to_owned(),
        external_id: id.to_owned(),
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        email: format!(
            "{}.{}@{}",
            first.to_lowercase(),
            last.to_lowercase(),
            company.domain
        ),
        job_title: title.to_owned(),
        job_title_level: level as i32,
        department: department.to_owned(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        custom_fields: [("tier".to_owned(), tier.to_owned())].into(),
        company: Some(company.clone()),
        ..Default::default()
    };
    vec![
        person(
            "jane",
            "Jane",
            "Doe",
            "VP Sales",
            JobTitleLevel::Vp,
            "Sales",
            &acme,
            &["Webinar-2026", "vip"],
            "gold",
        ),
        person(
            "omar",
            "Omar",
            "Haddad",
            "Robotics Engineer",
            JobTitleLevel::Senior,
            "Engineering",
            &acme,
            &["webinar-2026"],
            "silver",
        ),
        person(
            "lea",
            "Lea",
            "Martin",
            "Store Director",
            JobTitleLevel::Director,
            "Operations",
            &bolt,
            &["vip"],
            "gold",
        ),
        person(
            "sam",
            "Sam",
            "Okafor",
            "Chief Medical Officer",
            JobTitleLevel::CSuite,
            "Medical",
            &zeta,
            &[],
            "bronze",
        ),
        person(
            "kim",
            "Kim",
            "Lee",
            "Nurse Manager",
            JobTitleLevel::Manager,
            "Medical",
            &zeta,
            &["trade-show"],
            "silver",
        ),
        person(
            "ray",
            "Ray",
            "Quinn",
            "Founder",
            JobTitleLevel::Owner,
            "Management",
            &unnamed,
            &["vip", "trade-show"],
            "gold",
        ),
    ]
}

/// Writes `people()` through ingest-svc and waits until search shows all of them.
pub async fn load_people(app: &TestApp) {
    let records = people();
    let count = records.len();
    for record in records {
        app.upsert_prospect(record).await;
    }
    app.search_until(
        lma_tests::BearerAuth::key(&app.tenant.api_key),
        Default::default(),
        |page| {
            if page.hits.len() == count {
                Ok(())
            } else {
                Err(format!("{} of {count} visible", page.hits.len()))
            }
        },
    )
    .await;
}

/// Inserts `prospects` prospects spread over `companies` companies of `organization_id` with
/// set-based SQL (as a superuser), and waits until prospect_search_view holds them all.
pub async fn load_bulk(app: &TestApp, organization_id: i64, companies: i64, prospects: i64) {
    lma_tests::bulk::insert_prospects(&app.db, organization_id, companies, prospects).await;
    let client = app.db.connect().await;
    let what = format!("{prospects} bulk prospects in prospect_search_view");
    wait::until(&what, BULK_VISIBLE_TIMEOUT, || {
        let client = &client;
        async move {
            let visible: i64 = client
                .query_one(
                    "SELECT count(*) FROM prospect_search_view \
                     WHERE organization_id = $1 AND external_source = 'bulk'",
                    &[&organization_id],
                )
                .await
                .map_err(|error| error.to_string())?
                .get(0);
            if visible == prospects {
                Ok(())
            } else {
                Err(format!("{visible} visible"))
            }
        }
    })
    .await;
}

/// Every page of a search, following next_page_token; returns the external ids in order.
pub async fn all_pages(
    client: &mut SearchClient,
    mut request: SearchProspectsRequest,
) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let page = lma_tests::app::search_prospects(client, request.clone())
            .await
            .unwrap_or_else(|status| panic!("SearchProspects: {status}"));
        ids.extend(
            page.hits
                .iter()
                .filter_map(|hit| hit.prospect.as_ref())
                .map(|p| p.external_id.clone()),
        );
        if page.end.next_page_token.is_empty() {
            return ids;
        }
        request.page_token = page.end.next_page_token;
    }
}

/// The external ids of a page, in order.
pub fn ids(page: &lma_tests::app::SearchPage) -> Vec<&str> {
    page.hits
        .iter()
        .filter_map(|hit| hit.prospect.as_ref())
        .map(|p| p.external_id.as_str())
        .collect()
}

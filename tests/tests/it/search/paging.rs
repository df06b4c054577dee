//! Paging through a result set while refresh-svc applies concurrent writes: no row repeated,
//! none skipped.

use std::collections::HashSet;

use lma_proto::v1::{ProspectFilter, ProspectSort, SearchProspectsRequest};
use lma_tests::fixtures;
use lma_tests::spawn_app;

use super::data::load_bulk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_with_concurrent_refreshes_repeats_and_skips_nothing() {
    let app = spawn_app().await;
    let organization_id = app.tenant.organization_id;
    load_bulk(&app, organization_id, 40, 600).await;

    // Writers run while we page: new prospects (at new companies) and changes to existing ones
    // that move their updated_at but not their company name, the sort key of this walk.
    let writer = {
        let mut ingest = app.ingest_client().await;
        tokio::spawn(async move {
            for i in 0..40 {
                let mut record = fixtures::prospect_with_revenue(&format!("new-{i}"), Some(i));
                record.external_source = "live".into();
                ingest
                    .upsert_prospect(lma_proto::v1::UpsertProspectRequest {
                        prospect: Some(record),
                    })
                    .await
                    .expect("concurrent upsert");
            }
        })
    };
    let client_db = app.db.connect().await;
    let mut client = app.search_client().await;
    let mut request = SearchProspectsRequest {
        filter: Some(ProspectFilter::default()),
        sort: ProspectSort::CompanyName as i32,
        page_size: 25,
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = lma_tests::app::search_prospects(&mut client, request.clone())
            .await
            .expect("a page");
        seen.extend(
            page.hits
                .iter()
                .filter_map(|hit| hit.prospect.as_ref())
                .map(|p| p.external_id.clone()),
        );
        pages += 1;
        // Touch bulk rows behind and ahead of the position on every page.
        client_db
            .execute(
                "UPDATE prospect SET job_title = job_title || '!' \
                 WHERE organization_id = $1 AND external_source = 'bulk' \
                   AND external_id IN ('p' || $2::int, 'p' || (600 - $2::int))",
                &[&organization_id, &(pages * 11)],
            )
            .await
            .expect("concurrent update");
        if page.end.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.end.next_page_token;
    }
    writer.await.expect("writer task");

    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a row was repeated across pages");
    for j in 1..=600 {
        assert!(
            unique.contains(&format!("p{j}")),
            "bulk prospect p{j} was skipped"
        );
    }
    assert!(pages >= 24, "600 rows in pages of 25: {pages} pages");
}

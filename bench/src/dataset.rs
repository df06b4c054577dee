//! Loads a large synthetic data set straight into a migrated database with set-based SQL, then
//! builds the read models from their definitions: the starting point of the refresh and search
//! benchmarks. Minutes faster than ingesting through the API, and deterministic (no random()).
//!
//! Change capture is off while loading (the change log would otherwise hold one row per
//! company), so the read models are then built by refresh-svc's own full rebuild.

use std::time::Instant;

use anyhow::Context;
use lma_tests::TestDatabase;
use tokio_postgres::Client;

/// What to load.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct DatasetSize {
    /// Prospects of the benchmark organization.
    #[arg(long, default_value_t = 1_000_000)]
    pub prospects: i64,
    /// Companies the prospects are spread over.
    #[arg(long, default_value_t = 100_000)]
    pub companies: i64,
    /// Prospects of a second organization, so that tenant scoping has something to exclude.
    #[arg(long, default_value_t = 50_000)]
    pub other_tenant_prospects: i64,
}

/// Ids of the loaded organizations.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    pub organization_id: i64,
    pub other_organization_id: i64,
}

const CAPTURED_TABLES: [&str; 2] = ["company", "prospect"];

/// A fresh migrated database of the benchmark cluster with `size` loaded, a superuser
/// connection to it, and the data set; prints how long the load took.
pub async fn load_fresh(size: DatasetSize) -> anyhow::Result<(TestDatabase, Client, Dataset)> {
    let db = TestDatabase::create().await;
    let mut admin = db.connect().await;
    let started = Instant::now();
    let dataset = load(&mut admin, size).await?;
    println!(
        "loaded {} prospects / {} companies in {:.0} s",
        size.prospects,
        size.companies,
        started.elapsed().as_secs_f64()
    );
    Ok((db, admin, dataset))
}

/// Loads `size` into the (migrated, empty) database behind `client`, a superuser connection.
pub async fn load(client: &mut Client, size: DatasetSize) -> anyhow::Result<Dataset> {
    let started = Instant::now();
    for table in CAPTURED_TABLES {
        client
            .batch_execute(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
            .await?;
    }
    let organization_id = load_tenant(client, "bench", size.companies, size.prospects).await?;
    let other_organization_id = load_tenant(
        client,
        "bench-other",
        (size.companies / 10).max(1),
        size.other_tenant_prospects,
    )
    .await?;
    for table in CAPTURED_TABLES {
        client
            .batch_execute(&format!("ALTER TABLE {table} ENABLE TRIGGER USER"))
            .await?;
    }
    build_read_models(client).await?;
    client.batch_execute("VACUUM ANALYZE").await?;
    tracing::info!(
        elapsed_s = started.elapsed().as_secs_f64(),
        ?size,
        "data set loaded"
    );
    Ok(Dataset {
        organization_id,
        other_organization_id,
    })
}

async fn load_tenant(
    client: &Client,
    name: &str,
    companies: i64,
    prospects: i64,
) -> anyhow::Result<i64> {
    let organization_id: i64 = client
        .query_one(
            "INSERT INTO organization (name) VALUES ($1) RETURNING id",
            &[&name],
        )
        .await
        .with_context(|| format!("creating organization {name}"))?
        .get(0);
    // Company i: attributes cycle with different periods so combinations vary.
    client
        .execute(
            "INSERT INTO company (organization_id, domain, name, industry, min_employees, \
                 max_employees, revenue, city, state, country, external_source, external_id) \
             SELECT $1, \
                 'company' || i || '.' || (ARRAY['com','io','de','co.uk','fr','net'])[1 + i % 6], \
                 'Company ' || i || ' ' || (ARRAY['GmbH','Inc','Ltd','SA','AB'])[1 + i % 5], \
                 (ARRAY['Software','Retail','Manufacturing','Healthcare','Financial Services', \
                        'Logistics','Education','Media','Energy','Hospitality'])[1 + (i * 7) % 10], \
                 (ARRAY[1, 11, 51, 201, 1001, 5001])[1 + (i * 3) % 6], \
                 (ARRAY[10, 50, 200, 1000, 5000, 10000])[1 + (i * 3) % 6], \
                 CASE WHEN i % 17 = 0 THEN NULL ELSE ((i::bigint * 7919) % 5000000) * 1000 END, \
                 (ARRAY['Berlin','Munich','Paris','London','Austin','New York','Toronto', \
                        'Madrid','Stockholm','Tokyo'])[1 + (i * 31) % 10], \
                 (ARRAY['Berlin','Bavaria','Île-de-France','England','Texas','New York', \
                        'Ontario','Madrid','Stockholm','Tokyo'])[1 + (i * 31) % 10], \
                 (ARRAY['Germany','Germany','France','United Kingdom','United States', \
                        'United States','Canada','Spain','Sweden','Japan'])[1 + (i * 31) % 10], \
                 'bench', 'c' || i \
             FROM generate_series(1, $2::bigint) AS i",
            &[&organization_id, &companies],
        )
        .await
        .context("loading companies")?;
    // Prospect j works at company 1 + (j * a large odd number) mod companies: spread, but fixed.
    client
        .execute(
            "INSERT INTO prospect (organization_id, company_id, external_source, external_id, \
                 first_name, last_name, email, job_title, job_title_level, department, city, \
                 country, tags, custom_fields, updated_at) \
             SELECT $1, c.id, 'bench', 'p' || j, f.first_name, l.last_name, \
                 lower(f.first_name || '.' || l.last_name || '.' || j) || '@' || c.domain, \
                 t.title, t.level, t.department, \
                 CASE WHEN j % 3 = 0 THEN c.city END, CASE WHEN j % 3 = 0 THEN c.country END, \
                 ARRAY['segment-' || (j % 20), 'wave-' || (j % 7)], \
                 jsonb_build_object('tier', (ARRAY['gold','silver','bronze'])[1 + j % 3]), \
                 now() - make_interval(mins => (j % 200000)::int) \
             FROM generate_series(1, $2::bigint) AS j \
             JOIN company c ON c.organization_id = $1 AND c.external_source = 'bench' \
                 AND c.external_id = 'c' || (1 + (j * 2654435761) % $3::bigint) \
             CROSS JOIN LATERAL (SELECT (ARRAY['Anna','Ben','Chloe','David','Emma','Felix', \
                 'Grace','Hiro','Ines','Jonas','Karin','Liam','Mia','Noah','Olga','Pablo', \
                 'Quinn','Rosa','Sven','Tara','Umar','Vera','Wei','Yara','Zoe'])[1 + j % 25] \
                 AS first_name) f \
             CROSS JOIN LATERAL (SELECT (ARRAY['Andersen','Brown','Costa','Dubois','Eriksen', \
                 'Fischer','Garcia','Hansen','Ito','Jensen','Kowalski','Lopez','Muller','Novak', \
                 'OBrien','Petrov','Rossi','Schmidt','Tanaka','Weber'])[1 + (j / 25) % 20] \
                 AS last_name) l \
             CROSS JOIN LATERAL (SELECT * FROM (VALUES \
                 (0, 'Chief Executive Officer', 'c_suite', 'Management'), \
                 (1, 'VP Sales', 'vp', 'Sales'), \
                 (2, 'Director of Engineering', 'director', 'Engineering'), \
                 (3, 'Marketing Manager', 'manager', 'Marketing'), \
                 (4, 'Senior Software Engineer', 'senior', 'Engineering'), \
                 (5, 'Account Executive', 'entry', 'Sales'), \
                 (6, 'HR Business Partner', 'manager', 'Human Resources'), \
                 (7, 'Head of Finance', 'vp', 'Finance'), \
                 (8, 'Customer Success Manager', 'manager', 'Customer Success'), \
                 (9, 'Data Analyst', 'entry', 'Engineering')) \
                 AS titles(k, title, level, department) WHERE k = (j * 13) % 10) t",
            &[&organization_id, &prospects, &companies],
        )
        .await
        .context("loading prospects")?;
    Ok(organization_id)
}

/// Builds every read model with refresh-svc's full rebuild (from its definition, with the live
/// table's indexes, owner and grants), which also marks it current.
pub async fn build_read_models(client: &mut Client) -> anyhow::Result<()> {
    // As long as a rebuild of a million rows may take on a busy machine.
    const REBUILD_TIMEOUT_MS: u64 = 30 * 60 * 1000;
    for model in refresh_svc::read_model::READ_MODELS {
        refresh_svc::rebuild::rebuild(client, model, "lma-bench dataset", REBUILD_TIMEOUT_MS)
            .await
            .with_context(|| format!("building {}", model.table))?;
    }
    Ok(())
}

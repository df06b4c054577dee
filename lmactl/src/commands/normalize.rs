//! `lmactl normalize`: brings company and prospect rows stored before ingest normalized values
//! into the form ingest stores now (lma-values' `stored`): countries as ISO short names, US and
//! Canadian states as codes, the country's
//! alpha-2 code beside its name, phones in E.164 where the row's country reads them, industries in
//! canonical form. Rows are read in batches by id and only rows whose values change are
//! updated, so running it again changes nothing; change capture then brings the updates into
//! the read models as for any other write.

use lma_values::stored;

use super::Output;
use crate::cli::NormalizeArgs;

/// What a run changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Normalized {
    pub companies: u64,
    pub prospects: u64,
}

pub async fn run(args: NormalizeArgs, out: &mut Output<'_>) -> anyhow::Result<()> {
    let client = crate::db::connect(&args.database).await?;
    let normalized = normalize(&client, args.batch_size).await?;
    writeln!(
        out.stdout,
        "normalized {} companies, {} prospects",
        normalized.companies, normalized.prospects
    )?;
    Ok(())
}

/// Normalizes every stored company, then every prospect (whose phones may be read in their
/// company's country), `batch_size` rows per statement.
pub async fn normalize(
    client: &tokio_postgres::Client,
    batch_size: i64,
) -> anyhow::Result<Normalized> {
    Ok(Normalized {
        companies: companies(client, batch_size).await?,
        prospects: prospects(client, batch_size).await?,
    })
}

async fn companies(client: &tokio_postgres::Client, batch_size: i64) -> anyhow::Result<u64> {
    let select = "SELECT id, country, state, phone, mobile_phone, industry, country_code \
                  FROM company WHERE id > $1 ORDER BY id LIMIT $2";
    let update = "UPDATE company SET country = $2, state = $3, phone = $4, mobile_phone = $5, \
                  industry = $6, country_code = $7 WHERE id = $1";
    in_batches(client, batch_size, select, update, |values, _| {
        let [country, state, phone, mobile_phone, industry, country_code] = values;
        let code = stored::country(country);
        *country_code = code.map(str::to_owned);
        stored::state(state, code);
        stored::phone(phone, code);
        stored::phone(mobile_phone, code);
        stored::industry(industry);
    })
    .await
}

async fn prospects(client: &tokio_postgres::Client, batch_size: i64) -> anyhow::Result<u64> {
    let select = "SELECT p.id, p.country, p.state, p.phone, p.mobile_phone, p.country_code, \
                  c.country FROM prospect p JOIN company c ON c.id = p.company_id \
                  WHERE p.id > $1 ORDER BY p.id LIMIT $2";
    let update = "UPDATE prospect SET country = $2, state = $3, phone = $4, mobile_phone = $5, \
                  country_code = $6 WHERE id = $1";
    in_batches(client, batch_size, select, update, |values, row| {
        let [country, state, phone, mobile_phone, country_code] = values;
        let own = stored::country(country);
        *country_code = own.map(str::to_owned);
        // As ingest reads them: a prospect without a country of its own is in its company's.
        let code = own.or_else(|| stored::country_code(row.get::<_, Option<&str>>(6)));
        stored::state(state, code);
        stored::phone(phone, code);
        stored::phone(mobile_phone, code);
    })
    .await
}

/// Reads the rows of `select` (the id, then `N` text columns, then anything `normalize` reads
/// from the row) `batch_size` at a time in order of id, and runs `update` (the id, then the
/// `N` values) for each row whose values `normalize` changes. Returns how many it updated.
async fn in_batches<const N: usize>(
    client: &tokio_postgres::Client,
    batch_size: i64,
    select: &str,
    update: &str,
    normalize: impl Fn(&mut [Option<String>; N], &tokio_postgres::Row),
) -> anyhow::Result<u64> {
    let mut changed = 0;
    let mut after = 0_i64;
    loop {
        let rows = client.query(select, &[&after, &batch_size]).await?;
        let Some(last) = rows.last() else {
            return Ok(changed);
        };
        after = last.get(0);
        for row in &rows {
            let before: [Option<String>; N] = std::array::from_fn(|i| row.get(i + 1));
            let mut values = before.clone();
            normalize(&mut values, row);
            if values != before {
                let id: i64 = row.get(0);
                let mut parameters: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&id];
                parameters.extend(
                    values
                        .iter()
                        .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)),
                );
                client.execute(update, &parameters).await?;
                changed += 1;
            }
        }
    }
}

//! Full rebuild (docs/ARCHITECTURE.md, "The read models"): build a replacement of a read model
//! beside the live table from its definition, give it the live table's indexes, constraints, owner
//! and grants as the catalog describes them (so schema changes of the read models need no code
//! here), then swap names in one short step and drop the old table.
//!
//! The whole rebuild is one REPEATABLE READ transaction holding the apply lock: the replacement
//! is exactly the definition at the snapshot, and changes committed after it stay in the change
//! log for the next apply. Readers keep reading the live table until the swap, which waits for
//! at most [`SWAP_LOCK_TIMEOUT`] at a time so a long reader never queues everyone behind it.

use std::time::{Duration, Instant, SystemTime};

use svc_core::DbError;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::read_model::{self, LockWait, Mode, Outcome, ReadModel};
use crate::reconcile;

/// How long one attempt to take the live table for the swap may wait for its readers.
const SWAP_LOCK_TIMEOUT: &str = "1s";
/// Attempts to take the live table before the rebuild gives up (and is retried later).
const SWAP_ATTEMPTS: u32 = 30;
/// A full rebuild whose recomputed rows differ from the live model in at most this share of its
/// rows applies the difference in place instead of building a new table with every index and
/// swapping it in. Both leave the model equal to its definition; rebuilding all indexes only
/// pays off when much has changed.
const IN_PLACE_MAX_DRIFT_SHARE: f64 = 0.10;
/// Index builds sort in memory up to this much; rebuilds are rare and run one at a time.
const MAINTENANCE_WORK_MEM: &str = "256MB";

/// An index of the live table, as the catalog describes it.
struct IndexSpec {
    /// Quoted name.
    name: String,
    /// `pg_get_indexdef` with the name and the table replaced by placeholders' values later.
    definition_tail: String,
    unique: bool,
    /// 'p' or 'u' when the index backs a primary-key or unique constraint.
    constraint: Option<String>,
}

/// Why the live table cannot be reproduced.
fn unsupported(table: &str, what: &str) -> DbError {
    DbError::Unexpected(format!("rebuilding {table}: {what} is not supported"))
}

/// Rebuilds `model` and swaps the result in. `statement_timeout_ms` bounds each statement.
pub async fn rebuild(
    client: &mut Client,
    model: ReadModel,
    replica: &str,
    statement_timeout_ms: u64,
) -> Result<Outcome, DbError> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let table = model.table;
    let replacement = format!("{table}_rebuild");
    let retired = format!("{table}_replaced");
    let horizon = read_model::writer_horizon(&*client).await?;
    let transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .await?;
    transaction
        .batch_execute(&format!(
            "SET LOCAL statement_timeout = {statement_timeout_ms}; \
             SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'"
        ))
        .await?;
    read_model::lock_apply(&transaction, LockWait::Wait).await?;
    let watermark: String = transaction
        .query_one(read_model::WATERMARK_SQL, &horizon.params())
        .await?
        .try_get(0)?;
    let previous_rows: i64 = transaction
        .query_one(
            "SELECT row_count FROM read_model_state WHERE read_model = $1",
            &[&table],
        )
        .await?
        .try_get(0)?;

    // Compute the definition once; a model whose columns still match and that differs in few
    // rows is repaired in place, which leaves its indexes alone and never blocks readers.
    let fresh_rows = if columns_match(&transaction, model).await? {
        let drift = reconcile::drift_in(&transaction, model).await?;
        if drift.rows as f64 <= previous_rows as f64 * IN_PLACE_MAX_DRIFT_SHARE {
            return repair_in_place(
                transaction,
                model,
                replica,
                drift,
                watermark,
                started_at,
                started,
            )
            .await;
        }
        reconcile::FRESH_ROWS
    } else {
        model.definition
    };

    let indexes = live_indexes(&transaction, table).await?;
    let checks = live_check_constraints(&transaction, table).await?;
    let not_null: Vec<String> = read_model::column_list(
        &transaction,
        "SELECT quote_ident(attname) FROM pg_attribute \
         WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped AND attnotnull \
         ORDER BY attnum",
        table,
    )
    .await?;
    let owner: String = transaction
        .query_one(
            "SELECT quote_ident(pg_get_userbyid(relowner)) FROM pg_class \
             WHERE oid = $1::text::regclass",
            &[&table],
        )
        .await?
        .try_get(0)?;
    let grants = live_grants(&transaction, table).await?;
    // Storage parameters go with the table: a fillfactor below 100 leaves the room on each page
    // that lets the incremental apply update rows in place (HOT).
    let storage: String = transaction
        .query_one(
            "SELECT coalesce(' WITH (' || array_to_string(reloptions, ', ') || ')', '') \
             FROM pg_class WHERE oid = $1::text::regclass",
            &[&table],
        )
        .await?
        .try_get(0)?;

    let inserted = transaction
        .execute(
            &format!("CREATE TABLE {replacement}{storage} AS SELECT * FROM {fresh_rows}"),
            &[],
        )
        .await?;
    if !not_null.is_empty() {
        let clauses: Vec<String> = not_null
            .iter()
            .map(|column| format!("ALTER COLUMN {column} SET NOT NULL"))
            .collect();
        transaction
            .batch_execute(&format!("ALTER TABLE {replacement} {}", clauses.join(", ")))
            .await?;
    }
    let mut renames = Vec::with_capacity(indexes.len());
    for (position, index) in indexes.iter().enumerate() {
        let temporary = format!("{replacement}_{position}");
        let unique = if index.unique { "UNIQUE " } else { "" };
        transaction
            .batch_execute(&format!(
                "CREATE {unique}INDEX {temporary} ON {replacement} USING {}",
                index.definition_tail
            ))
            .await?;
        match index.constraint.as_deref() {
            Some("p") => {
                transaction
                    .batch_execute(&format!(
                        "ALTER TABLE {replacement} ADD PRIMARY KEY USING INDEX {temporary}"
                    ))
                    .await?
            }
            Some("u") => {
                transaction
                    .batch_execute(&format!(
                        "ALTER TABLE {replacement} ADD UNIQUE USING INDEX {temporary}"
                    ))
                    .await?
            }
            Some(other) => return Err(unsupported(table, &format!("constraint type {other}"))),
            None => {}
        }
        renames.push((temporary, index.name.clone()));
    }
    for (name, definition) in &checks {
        transaction
            .batch_execute(&format!(
                "ALTER TABLE {replacement} ADD CONSTRAINT {name} {definition}"
            ))
            .await?;
    }
    // Extended statistics steer the planner on correlated filters; they go with the table, so
    // the replacement needs its own copies before ANALYZE fills them.
    let statistics = live_statistics(&transaction, table).await?;
    for (position, (_, kinds, columns)) in statistics.iter().enumerate() {
        transaction
            .batch_execute(&format!(
                "CREATE STATISTICS {replacement}_stats_{position} {kinds} ON {columns} \
                 FROM {replacement}"
            ))
            .await?;
    }
    transaction
        .batch_execute(&format!(
            "ANALYZE {replacement}; ALTER TABLE {replacement} OWNER TO {owner}"
        ))
        .await?;
    for grant in &grants {
        transaction
            .batch_execute(&grant.replace("{table}", &replacement))
            .await?;
    }

    read_model::count_organizations(&transaction, model, &replacement).await?;
    take_for_swap(&transaction, table).await?;
    transaction
        .batch_execute(&format!(
            "ALTER TABLE {table} RENAME TO {retired}; \
             ALTER TABLE {replacement} RENAME TO {table}; \
             DROP TABLE {retired}"
        ))
        .await?;
    for (temporary, original) in &renames {
        transaction
            .batch_execute(&format!("ALTER INDEX {temporary} RENAME TO {original}"))
            .await?;
    }
    for (position, (original, _, _)) in statistics.iter().enumerate() {
        transaction
            .batch_execute(&format!(
                "ALTER STATISTICS {replacement}_stats_{position} RENAME TO {original}"
            ))
            .await?;
    }

    let inserted_rows = i64::try_from(inserted).unwrap_or(i64::MAX);
    transaction
        .execute(
            "UPDATE read_model_state SET row_count = $2, needs_rebuild = false \
             WHERE read_model = $1",
            &[&table, &inserted_rows],
        )
        .await?;
    read_model::advance_watermark(&transaction, &[table], &watermark).await?;
    let outcome = Outcome {
        model,
        mode: Mode::Full,
        rows: inserted + u64::try_from(previous_rows).unwrap_or(0),
        keys: 0,
        started_at,
        duration: started.elapsed(),
        watermark,
        error: None,
    };
    read_model::record_success(&transaction, &outcome, replica, None).await?;
    transaction.commit().await?;
    tracing::info!(
        read_model = table,
        rows = inserted,
        elapsed_ms = outcome.duration.as_millis() as u64,
        "rebuilt read model"
    );
    Ok(outcome)
}

/// Takes the live table exclusively for the swap, waiting at most [`SWAP_LOCK_TIMEOUT`] per
/// attempt so that queued readers are held up briefly, not for as long as the longest reader.
async fn take_for_swap(transaction: &Transaction<'_>, table: &str) -> Result<(), DbError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        transaction
            .batch_execute(&format!(
                "SAVEPOINT swap; SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'"
            ))
            .await?;
        match transaction
            .batch_execute(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            .await
        {
            Ok(()) => {
                transaction
                    .batch_execute("RELEASE SAVEPOINT swap; SET LOCAL lock_timeout = 0")
                    .await?;
                return Ok(());
            }
            Err(error)
                if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                    && attempt < SWAP_ATTEMPTS =>
            {
                transaction
                    .batch_execute("ROLLBACK TO SAVEPOINT swap")
                    .await?;
                tracing::info!(
                    table,
                    attempt,
                    "readers hold the read model; retrying the swap"
                );
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

async fn live_indexes(
    transaction: &Transaction<'_>,
    table: &str,
) -> Result<Vec<IndexSpec>, DbError> {
    let rows = transaction
        .query(
            "SELECT quote_ident(ic.relname), pg_get_indexdef(i.indexrelid), i.indisunique, \
                 con.contype::text, \
                 format('CREATE %sINDEX %s ON %s.%s USING ', \
                     CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, quote_ident(ic.relname), \
                     quote_ident(n.nspname), quote_ident(tc.relname)) \
             FROM pg_index i \
             JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_class tc ON tc.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = tc.relnamespace \
             LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid \
             WHERE i.indrelid = $1::text::regclass \
             ORDER BY ic.relname",
            &[&table],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get(0)?;
            let definition: String = row.try_get(1)?;
            let prefix: String = row.try_get(4)?;
            // pg_get_indexdef always starts this way for a plain table; anything else (a
            // partitioned table's ON ONLY) is not a read model this code knows how to copy.
            let tail = definition
                .strip_prefix(&prefix)
                .ok_or_else(|| unsupported(table, &format!("index definition {definition:?}")))?;
            Ok(IndexSpec {
                name,
                definition_tail: tail.to_owned(),
                unique: row.try_get(2)?,
                constraint: row.try_get(3)?,
            })
        })
        .collect()
}

/// CHECK constraints (name, definition); other constraint kinds that do not come with an index
/// are refused rather than silently dropped.
async fn live_check_constraints(
    transaction: &Transaction<'_>,
    table: &str,
) -> Result<Vec<(String, String)>, DbError> {
    let rows = transaction
        .query(
            "SELECT quote_ident(conname), contype::text, pg_get_constraintdef(oid) \
             FROM pg_constraint \
             WHERE conrelid = $1::text::regclass AND contype NOT IN ('p', 'u') ORDER BY conname",
            &[&table],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get(1)?;
            if kind != "c" {
                return Err(unsupported(table, &format!("constraint type {kind}")));
            }
            Ok((row.try_get(0)?, row.try_get(2)?))
        })
        .collect()
}

/// GRANT statements (with a `{table}` placeholder) reproducing every privilege others hold on
/// the live table; the owner's own privileges come with ownership.
async fn live_grants(transaction: &Transaction<'_>, table: &str) -> Result<Vec<String>, DbError> {
    let rows = transaction
        .query(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' \
                     ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
                 a.privilege_type, a.is_grantable \
             FROM pg_class c, aclexplode(c.relacl) a \
             WHERE c.oid = $1::text::regclass AND a.grantee <> c.relowner \
             ORDER BY 1, 2",
            &[&table],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let grantee: String = row.try_get(0)?;
            let privilege: String = row.try_get(1)?;
            let grantable: bool = row.try_get(2)?;
            let option = if grantable { " WITH GRANT OPTION" } else { "" };
            Ok(format!(
                "GRANT {privilege} ON {{table}} TO {grantee}{option}"
            ))
        })
        .collect()
}

/// Whether `model`'s table still has exactly its definition's columns (names and types, in
/// order): only then can the two be compared row by row.
async fn columns_match(transaction: &Transaction<'_>, model: ReadModel) -> Result<bool, DbError> {
    let row = transaction
        .query_one(
            "SELECT array(SELECT attname::text || ' ' || format_type(atttypid, atttypmod) \
                          FROM pg_attribute WHERE attrelid = $1::text::regclass \
                          AND attnum > 0 AND NOT attisdropped ORDER BY attnum) \
                  = array(SELECT attname::text || ' ' || format_type(atttypid, atttypmod) \
                          FROM pg_attribute WHERE attrelid = $2::text::regclass \
                          AND attnum > 0 AND NOT attisdropped ORDER BY attnum)",
            &[&model.table, &model.definition],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// The in-place end of a full rebuild: re-derives the drifted companies from the rows just
/// computed, in the rebuild's snapshot and under its apply lock, and publishes its watermark.
async fn repair_in_place(
    transaction: Transaction<'_>,
    model: ReadModel,
    replica: &str,
    drift: reconcile::Drift,
    watermark: String,
    started_at: SystemTime,
    started: Instant,
) -> Result<Outcome, DbError> {
    let table = model.table;
    let drifted = read_model::Affected::companies(drift.keys);
    let written =
        read_model::rederive_from(&transaction, model, reconcile::FRESH_ROWS, &drifted).await?;
    transaction
        .execute(
            "UPDATE read_model_state SET needs_rebuild = false WHERE read_model = $1",
            &[&table],
        )
        .await?;
    read_model::advance_watermark(&transaction, &[table], &watermark).await?;
    let outcome = Outcome {
        model,
        mode: Mode::Full,
        rows: written.rows(),
        keys: drifted.count(),
        started_at,
        duration: started.elapsed(),
        watermark,
        error: None,
    };
    read_model::record_success(&transaction, &outcome, replica, Some(&written)).await?;
    transaction.commit().await?;
    tracing::info!(
        read_model = table,
        drifted_rows = drift.rows,
        companies = drifted.count(),
        elapsed_ms = outcome.duration.as_millis() as u64,
        "rebuilt read model in place"
    );
    Ok(outcome)
}

/// The live table's extended statistics: quoted name, the kinds clause (empty for expression-only
/// statistics, whose kind is implied) and the column and expression list.
async fn live_statistics(
    transaction: &Transaction<'_>,
    table: &str,
) -> Result<Vec<(String, String, String)>, DbError> {
    let rows = transaction
        .query(
            "SELECT quote_ident(stxname), \
                 coalesce('(' || nullif(array_to_string(array_remove(ARRAY[ \
                     CASE WHEN 'd' = ANY(stxkind) THEN 'ndistinct' END, \
                     CASE WHEN 'f' = ANY(stxkind) THEN 'dependencies' END, \
                     CASE WHEN 'm' = ANY(stxkind) THEN 'mcv' END], NULL), ', '), '') || ')', ''), \
                 pg_get_statisticsobjdef_columns(oid) \
             FROM pg_statistic_ext WHERE stxrelid = $1::text::regclass ORDER BY stxname",
            &[&table],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect()
}

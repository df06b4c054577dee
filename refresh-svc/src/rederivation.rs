//! Chunked re-derivation of large companies (docs/REFRESH.md, "Large companies").
//!
//! A change to a whole company (a company change, or a bulk write of its prospects) re-derives
//! every prospect row of the company, and its summary aggregates every prospect. For an employer
//! of 600,000 prospects that outlasts the statement timeout, and an apply that failed would
//! leave every tenant's read models to full rebuilds. So an apply does not re-derive a large
//! company: it queues it in `company_rederivation` in the transaction that claimed its
//! changes, and the leader works the queue a step at a time between applies. A step is one
//! transaction under the apply lock: a chunk of the company's prospect rows (a prospect-id range
//! of at most a few thousand rows, sized to take about [`CHUNK_TARGET`]), or, once every chunk
//! is done, its summary, whose aggregate is computed beside the applies, outside the lock, and
//! only written under it ([`summary_step`]). A write to any other company waits for at most one
//! chunk, or one summary's write.
//!
//! The queue is durable: a crash or a new leader goes on from the last committed step. It
//! coalesces: a change claimed while a pass is under way marks the company dirty, and one more
//! pass follows this one; however often the company changes, it is re-derived at most twice
//! over from the moment of a change.
//!
//! `pending_since` is the contract with search-svc, documented with the table's definition and
//! in docs/REFRESH.md.

use std::time::{Duration, Instant};

use svc_core::DbError;
use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::model_apply::{OnCancel, apply_to_model, apply_to_model_from};
use crate::read_model::{self, Affected, LockWait, Outcome, READ_MODELS, ReadModel};

/// How long a chunk should take: what a write to another company may wait for it, on top of
/// its own apply (freshness target: p95 ≤ 250 ms).
pub const CHUNK_TARGET: Duration = Duration::from_millis(50);

/// Fewest rows a chunk is cut to however slow rows are, so that a pass always moves.
const MIN_CHUNK_ROWS: i64 = 100;

/// While other changes keep coming (the last apply claimed some), steps take at most this share
/// of the drain's time: after a step of d, the next waits (1 / share - 1) * d of applies. With
/// nothing else to apply, steps follow each other at once. The share is what the applier has
/// to spare at the write rate the freshness target is set for: the applies alone keep it more
/// than half busy there (docs/BENCHMARKS.md, Refresh, "(e)"), and an applier driven to
/// saturation makes every change wait longer for its apply.
pub const STEP_SHARE: f64 = 0.2;

/// How long the applies have after a step of `took` before the next step may run while other
/// changes keep coming (see [`STEP_SHARE`]).
pub fn pause_after(took: Duration) -> Duration {
    took.mul_f64(1.0 / STEP_SHARE - 1.0)
}

/// A step yields to the next apply while the oldest change in the log has waited longer than
/// this: everyone else's changes come first, and chunks take only the time the applies leave.
/// Applies that keep up take tens of milliseconds, so a change waits about that long; one that
/// has waited longer means the applies are falling behind, and chunks taking turns with them
/// regardless would let their batches grow until a batch outlasts the writes it holds
/// (docs/BENCHMARKS.md, Refresh, "(e)").
pub const YIELD_AFTER: Duration = Duration::from_millis(100);

/// The companies among `companies` that are large: more than `threshold` prospects in the base
/// table, or, by its summary, in the read models (a company whose prospects are being deleted
/// still has its rows there), or already queued. Each count stops at `threshold + 1`. A queued
/// company's changes are always queued, never applied beside its pass: the summary step relies
/// on every claim of the company moving `queued_by` (see [`summary_step`]).
pub async fn large_companies(
    transaction: &Transaction<'_>,
    companies: &[i64],
    threshold: i64,
) -> Result<Vec<i64>, DbError> {
    if companies.is_empty() {
        return Ok(Vec::new());
    }
    transaction
        .query(
            "SELECT c FROM unnest($1::bigint[]) AS c \
             WHERE EXISTS (SELECT FROM company_rederivation WHERE company_id = c) \
                OR (SELECT count(*) FROM (SELECT FROM prospect WHERE company_id = c \
                                          LIMIT $2::bigint + 1) AS p) > $2::bigint \
                OR (SELECT prospect_count FROM company_summary_view WHERE company_id = c) \
                    > $2::bigint",
            &[&companies, &threshold],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0).map_err(DbError::from))
        .collect()
}

/// Queues `whole` companies (every prospect row, then the summary) and `summary_only` ones (the
/// summary), in a transaction holding the apply lock that has not yet advanced the watermark.
///
/// A new row's `pending_since` is the highest watermark published so far: every write not
/// claimed when a watermark was computed has an xid at or above it (WATERMARK_SQL), and the
/// changes queued here were claimed after that. On a row already queued:
/// - before its pass has started, the pass to come covers the change: nothing moves;
/// - once the pass has started, a whole-company change is not covered by the chunks already
///   done: the row is marked dirty (with this watermark, if it is the first) for one more pass;
/// - a summary-only change is covered by the summary step, which always ends a pass: the step
///   computes the summary outside the lock and sees, by `queued_by` (every call sets it), that
///   a change was claimed meanwhile.
///
/// `profile` (a subset of `whole`) are the companies a change may have changed beyond their
/// profile columns; the others' passes leave the models that read only the profile
/// ([`ReadModel::profile_only`]) alone. A pass re-derives them if any change it covers asks.
pub async fn queue(
    transaction: &Transaction<'_>,
    whole: &[i64],
    profile: &[i64],
    summary_only: &[i64],
) -> Result<(), DbError> {
    let companies: Vec<i64> = whole.iter().chain(summary_only).copied().collect();
    let wholes: Vec<bool> = whole
        .iter()
        .map(|_| true)
        .chain(summary_only.iter().map(|_| false))
        .collect();
    let profiles: Vec<bool> = whole
        .iter()
        .map(|company| profile.contains(company))
        .chain(summary_only.iter().map(|_| false))
        .collect();
    // A deleted company's organization is still in its read-model rows; a company found nowhere
    // has no rows to re-derive.
    transaction
        .execute(
            "INSERT INTO company_rederivation AS r \
                 (company_id, organization_id, pending_since, whole, profile) \
             SELECT q.company_id, o.organization_id, w.published, q.whole, q.profile \
             FROM unnest($1::bigint[], $2::boolean[], $3::boolean[]) AS q(company_id, whole, profile) \
             CROSS JOIN (SELECT max(watermark) AS published FROM read_model_state) AS w \
             CROSS JOIN LATERAL (SELECT coalesce( \
                 (SELECT organization_id FROM company WHERE id = q.company_id), \
                 (SELECT organization_id FROM company_summary_view \
                  WHERE company_id = q.company_id), \
                 (SELECT organization_id FROM company_prospect_view \
                  WHERE company_id = q.company_id LIMIT 1)) AS organization_id) AS o \
             WHERE o.organization_id IS NOT NULL \
             ON CONFLICT (company_id) DO UPDATE SET \
                 whole = r.whole OR (excluded.whole AND r.pass_started_at IS NULL), \
                 profile = CASE WHEN r.pass_started_at IS NULL \
                     THEN r.profile OR excluded.profile ELSE r.profile END, \
                 dirty_profile = CASE WHEN r.pass_started_at IS NOT NULL \
                     THEN r.dirty_profile OR excluded.profile ELSE r.dirty_profile END, \
                 dirty_since = CASE WHEN excluded.whole AND r.pass_started_at IS NOT NULL \
                     THEN coalesce(r.dirty_since, excluded.pending_since) ELSE r.dirty_since END, \
                 dirty_at = CASE WHEN excluded.whole AND r.pass_started_at IS NOT NULL \
                     THEN coalesce(r.dirty_at, excluded.pending_at) ELSE r.dirty_at END, \
                 queued_by = excluded.queued_by",
            &[&companies, &wholes, &profiles],
        )
        .await?;
    Ok(())
}

/// What one step did.
#[derive(Debug, Default)]
pub struct Step {
    /// Per read model re-derived (successfully or not).
    pub models: Vec<Outcome>,
    /// Another writer held the apply lock and `LockWait::NoWait` was asked for.
    pub busy: bool,
    /// Work is left after this step (for this company or another).
    pub pending: bool,
    /// Changes in the log had waited longer than [`YIELD_AFTER`]: nothing was done, the next
    /// apply goes first.
    pub yielded: bool,
    /// A chunk of prospect rows: the rows it was cut to and how long re-deriving them took.
    pub chunk: Option<(i64, Duration)>,
    /// A company's summary is due: the caller runs [`summary_step`] beside the applies.
    pub summary: Option<SummaryWork>,
}

/// A company whose pass has only its summary left.
#[derive(Debug, Clone)]
pub struct SummaryWork {
    pub company_id: i64,
    /// The pass's bound, for the refresh log.
    pub pending_since: String,
}

/// The company worked least recently, and where its pass is.
struct Work {
    company_id: i64,
    pending_since: String,
    whole: bool,
    /// `None`: every prospect row is done, the summary is left.
    done_up_to: Option<i64>,
    /// The pass re-derives the models that read only the company's profile.
    profile: bool,
}

/// Works one step of the queue, if there is any: the next chunk of `chunk_rows` prospect rows of
/// the company worked least recently, or its summary.
pub async fn step(
    client: &mut Client,
    chunk_rows: i64,
    replica: &str,
    wait: LockWait,
) -> Result<Step, DbError> {
    let started = Instant::now();
    let Some(transaction) = read_model::begin_apply(client, wait).await? else {
        return Ok(Step {
            busy: true,
            ..Step::default()
        });
    };
    // The oldest change by id (a walk of the primary key) is the oldest by time, near enough.
    let next = transaction
        .query_opt(
            "SELECT company_id, pending_since::text, whole, done_up_to, profile, \
                 coalesce((SELECT created_at FROM change_log ORDER BY id LIMIT 1) \
                     < clock_timestamp() - make_interval(secs => $1), false) \
             FROM company_rederivation ORDER BY worked_at NULLS FIRST, company_id LIMIT 1",
            &[&YIELD_AFTER.as_secs_f64()],
        )
        .await?;
    let Some(next) = next else {
        transaction.commit().await?;
        return Ok(Step::default());
    };
    if next.try_get(5)? {
        transaction.commit().await?;
        return Ok(Step {
            pending: true,
            yielded: true,
            ..Step::default()
        });
    }
    let work = Work {
        company_id: next.try_get(0)?,
        pending_since: next.try_get(1)?,
        whole: next.try_get(2)?,
        done_up_to: next.try_get(3)?,
        profile: next.try_get(4)?,
    };
    let Some(after) = work.done_up_to.filter(|_| work.whole) else {
        // The summary takes most of a second at 500,000 prospects: it is computed on another
        // connection, without the apply lock, while the applies go on (see summary_step). The
        // other companies' chunks go first meanwhile.
        let pending = transaction
            .query_one(
                "WITH worked AS (UPDATE company_rederivation SET worked_at = now() \
                     WHERE company_id = $1) \
                 SELECT EXISTS (SELECT FROM company_rederivation WHERE company_id <> $1)",
                &[&work.company_id],
            )
            .await?
            .try_get(0)?;
        transaction.commit().await?;
        return Ok(Step {
            pending,
            summary: Some(SummaryWork {
                company_id: work.company_id,
                pending_since: work.pending_since,
            }),
            ..Step::default()
        });
    };
    let pending_rebuild = read_model::pending_rebuild(&transaction).await?;
    let healthy = |model: &ReadModel| !pending_rebuild.iter().any(|table| table == model.table);
    // Index ranges, as in an apply.
    transaction.batch_execute(read_model::INDEXED).await?;
    let mut step = Step::default();
    let chunk_started = Instant::now();
    let up_to = chunk_end(&transaction, work.company_id, after, chunk_rows).await?;
    let chunk = Affected {
        companies: vec![work.company_id],
        keys: Vec::new(),
        key_range: Some((after, up_to)),
    };
    for model in READ_MODELS.iter().filter(|model| is_prospect_keyed(model)) {
        if healthy(model) && (work.profile || !model.profile_only) {
            step.models.push(
                apply_to_model(
                    &transaction,
                    *model,
                    &chunk,
                    &work.pending_since,
                    replica,
                    OnCancel::Fail,
                )
                .await?,
            );
        }
    }
    step.chunk = Some((chunk_rows, chunk_started.elapsed()));
    transaction
        .execute(
            "UPDATE company_rederivation SET done_up_to = $2, \
                 pass_started_at = coalesce(pass_started_at, now()), \
                 chunks = chunks + 1, worked_at = now() \
             WHERE company_id = $1",
            &[&work.company_id, &up_to],
        )
        .await?;
    transaction.batch_execute(read_model::INDEXED_DONE).await?;
    // What each step cost and wrote, per model, beside the applies' own lines: where a large
    // company's time goes and how steps and applies interleave. Debug only: a busy pass takes
    // tens of steps a second.
    tracing::debug!(
        company_id = work.company_id,
        chunk_rows = step.chunk.map(|(rows, _)| rows),
        done_up_to = work.done_up_to,
        models = %step
            .models
            .iter()
            .map(|outcome| format!(
                "{}:{}rows/{}ms",
                outcome.model.table,
                outcome.rows,
                outcome.duration.as_millis()
            ))
            .collect::<Vec<_>>()
            .join(","),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "chunked re-derivation step"
    );
    step.pending = transaction
        .query_one("SELECT EXISTS (SELECT FROM company_rederivation)", &[])
        .await?
        .try_get(0)?;
    transaction.commit().await?;
    Ok(step)
}

/// The summary step: the company's summary row (an aggregate over all its prospects, most of a
/// second at 500,000) is computed in a snapshot of its own *without* the apply lock, into a
/// temporary table, and written from there in a short transaction under the lock. The caller
/// runs it on a connection of its own, so applies of every other company go on meanwhile.
///
/// Invariant: while a company has a queue row, every change to it that an apply claims goes
/// through [`queue`] (a queued company counts as large, [`large_companies`]), and [`queue`]
/// sets `queued_by` to its own transaction. So, under the lock:
/// - `queued_by` as the computing snapshot saw it: no change to the company was claimed since
///   that snapshot. Every claimed change was committed before its claim, so it is in the row
///   computed; the changes not yet claimed are above every published watermark, and their claim
///   queues the company again. The pass finishes as it did when the summary was computed under
///   the lock.
/// - `queued_by` moved, same pass: changes were claimed since. The row computed is still the
///   definition as of its snapshot, fresher than the stored one, and it is written; but the
///   pass does not promise more than that snapshot: `w`, the highest watermark that snapshot
///   saw, is below every change claimed after it (claims are serialized by the lock, and a
///   watermark is below every write not yet claimed when it was computed), and every change
///   claimed before it is in the row. The row stays queued, for its summary only (or for the
///   dirty pass), with `pending_since` at most `w`: one more summary step follows, each from a
///   later snapshot, so a company written to without pause still has its summary and its
///   `pending_since` move on, one summary computation behind.
/// - the row gone, or another pass: a full rebuild cleared it, or another leader's steps went
///   on. The row computed may be older than what they wrote: nothing is written.
pub async fn summary_step(
    client: &mut Client,
    work: &SummaryWork,
    replica: &str,
) -> Result<Step, DbError> {
    let (company_id, pending_since) = (work.company_id, work.pending_since.as_str());
    let summaries: Vec<ReadModel> = READ_MODELS
        .iter()
        .copied()
        .filter(|model| !is_prospect_keyed(model))
        .collect();
    let computing_started = Instant::now();
    let computing = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .await?;
    computing.batch_execute(read_model::APPLY_SETTINGS).await?;
    // The first statement fixes the snapshot: the row computed, `queued_by` and `w` are of it.
    let Some(seen) = computing
        .query_opt(
            "SELECT queued_by::text, passes, \
                 (SELECT max(watermark) FROM read_model_state)::text, now()::text \
             FROM company_rederivation \
             WHERE company_id = $1 AND (done_up_to IS NULL OR NOT whole)",
            &[&company_id],
        )
        .await?
    else {
        computing.commit().await?;
        return Ok(Step {
            pending: true,
            ..Step::default()
        });
    };
    let (queued_by, passes, seen_watermark, seen_at): (String, i32, String, String) = (
        seen.try_get(0)?,
        seen.try_get(1)?,
        seen.try_get(2)?,
        seen.try_get(3)?,
    );
    let pending_rebuild = read_model::pending_rebuild(&computing).await?;
    computing.batch_execute(read_model::INDEXED).await?;
    // Per summary model: computed here, or (a broken definition) left to the locked
    // transaction, which records the failure as before.
    let mut computed = Vec::with_capacity(summaries.len());
    for model in &summaries {
        if pending_rebuild.iter().any(|table| table == model.table) {
            continue;
        }
        let fresh = fresh_table(model);
        computing.batch_execute("SAVEPOINT summary").await?;
        let created = computing
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS pg_temp.{fresh}; \
                 CREATE TEMPORARY TABLE {fresh} AS \
                 SELECT * FROM {} WHERE company_id = {company_id}",
                model.definition
            ))
            .await
            .map_err(DbError::from);
        match created {
            Ok(()) => {
                computing.batch_execute("RELEASE SAVEPOINT summary").await?;
                computed.push(model.table);
            }
            Err(error)
                if error.sql_state() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) =>
            {
                return Err(error);
            }
            Err(error) if error.db_error().is_some() => {
                computing
                    .batch_execute("ROLLBACK TO SAVEPOINT summary")
                    .await?;
            }
            Err(error) => return Err(error),
        }
    }
    computing.batch_execute(read_model::INDEXED_DONE).await?;
    computing.commit().await?;
    let computed_in = computing_started.elapsed();

    let Some(transaction) = read_model::begin_apply(client, LockWait::Wait).await? else {
        return Err(DbError::Unexpected(
            "the apply lock was refused to a waiting caller".into(),
        ));
    };
    let now = transaction
        .query_opt(
            "SELECT queued_by::text = $2, \
                 passes = $3 AND (done_up_to IS NULL OR NOT whole) \
             FROM company_rederivation WHERE company_id = $1",
            &[&company_id, &queued_by, &passes],
        )
        .await?;
    let mut step = Step::default();
    let outcome = match now {
        Some(row) if row.try_get::<_, bool>(1)? => {
            let unchanged: bool = row.try_get(0)?;
            let pending_rebuild = read_model::pending_rebuild(&transaction).await?;
            let summary = Affected::companies(vec![company_id]);
            transaction.batch_execute(read_model::INDEXED).await?;
            for model in &summaries {
                if pending_rebuild.iter().any(|table| table == model.table) {
                    continue;
                }
                let fresh = fresh_table(model);
                let source = if computed.contains(&model.table) {
                    fresh.as_str()
                } else {
                    model.definition
                };
                step.models.push(
                    apply_to_model_from(
                        &transaction,
                        *model,
                        source,
                        &summary,
                        pending_since,
                        replica,
                        OnCancel::Fail,
                    )
                    .await?,
                );
            }
            transaction.batch_execute(read_model::INDEXED_DONE).await?;
            if unchanged {
                finish_pass(&transaction, company_id, None).await?;
                "written, pass finished"
            } else {
                finish_pass(&transaction, company_id, Some((&seen_watermark, &seen_at))).await?;
                "written, changes claimed meanwhile: one more summary step"
            }
        }
        _ => "discarded: the pass was finished or cleared meanwhile",
    };
    for model in &summaries {
        transaction
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS pg_temp.{}",
                fresh_table(model)
            ))
            .await?;
    }
    step.pending = transaction
        .query_one("SELECT EXISTS (SELECT FROM company_rederivation)", &[])
        .await?
        .try_get(0)?;
    transaction.commit().await?;
    tracing::debug!(
        company_id,
        computed_ms = computed_in.as_millis() as u64,
        outcome,
        "chunked re-derivation summary step"
    );
    Ok(step)
}

/// The temporary table a summary model's row is computed into.
fn fresh_table(model: &ReadModel) -> String {
    format!("lma_fresh_{}", model.table)
}

/// The prospect-keyed read models are chunked; the company-keyed summary is one row.
fn is_prospect_keyed(model: &ReadModel) -> bool {
    model.key == "prospect_id"
}

/// Where the chunk after `after` ends: the `rows`-th prospect id of the company after `after`,
/// in the base table or in any prospect-keyed read model, whichever comes first, so that no
/// side of the chunk holds more than `rows`; `None` when every side has fewer left (the last
/// chunk, open-ended: it also takes stored rows whose prospects are gone).
async fn chunk_end(
    transaction: &Transaction<'_>,
    company_id: i64,
    after: i64,
    rows: i64,
) -> Result<Option<i64>, DbError> {
    let ends: Vec<String> = std::iter::once(("prospect", "id"))
        .chain(
            READ_MODELS
                .iter()
                .filter(|model| is_prospect_keyed(model))
                .map(|model| (model.table, model.key)),
        )
        .map(|(table, key)| {
            format!(
                "(SELECT {key} FROM {table} WHERE company_id = $1::bigint AND {key} > $2::bigint \
                 ORDER BY {key} OFFSET $3::bigint LIMIT 1)"
            )
        })
        .collect();
    let row = transaction
        .query_one(
            &format!(
                "SELECT min(id) FROM ({}) AS ends(id)",
                ends.join(" UNION ALL ")
            ),
            &[&company_id, &after, &(rows - 1).max(0)],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Ends the company's pass after its summary step: the row goes, or, when a change to the whole
/// company came in during the pass, the next pass starts from the bound of that change.
///
/// `claimed_since`: changes were claimed after the snapshot the summary was computed in, whose
/// highest watermark and time these are (see [`summary_step`]). The row stays: for the dirty
/// pass, or else for one more summary step, with `pending_since` at most that watermark.
async fn finish_pass(
    transaction: &Transaction<'_>,
    company_id: i64,
    claimed_since: Option<(&str, &str)>,
) -> Result<(), DbError> {
    if let Some((watermark, at)) = claimed_since {
        // A new `queued_by`: a full rebuild that read the queue before this does not clear the
        // row, whose summary may be older than the rebuild's.
        transaction
            .execute(
                "UPDATE company_rederivation SET \
                     pending_since = least(dirty_since, $2::text::xid8), \
                     pending_at = least(dirty_at, $3::text::timestamptz), \
                     dirty_since = NULL, dirty_at = NULL, whole = dirty_since IS NOT NULL, \
                     done_up_to = 0, profile = dirty_profile, dirty_profile = false, \
                     pass_started_at = NULL, chunks = 0, passes = passes + 1, \
                     worked_at = now(), queued_by = pg_current_xact_id() \
                 WHERE company_id = $1",
                &[&company_id, &watermark, &at],
            )
            .await?;
        return Ok(());
    }
    let row = transaction
        .query_opt(
            "WITH done AS (DELETE FROM company_rederivation \
                 WHERE company_id = $1 AND dirty_since IS NULL RETURNING chunks, passes) \
             SELECT chunks, passes + 1 FROM done",
            &[&company_id],
        )
        .await?;
    if let Some(row) = row {
        let (chunks, passes): (i32, i32) = (row.try_get(0)?, row.try_get(1)?);
        tracing::info!(
            company_id,
            chunks,
            passes,
            "chunked re-derivation of a large company done"
        );
        return Ok(());
    }
    transaction
        .execute(
            "UPDATE company_rederivation SET pending_since = dirty_since, pending_at = dirty_at, \
                 dirty_since = NULL, dirty_at = NULL, whole = true, done_up_to = 0, \
                 profile = dirty_profile, dirty_profile = false, \
                 pass_started_at = NULL, chunks = 0, passes = passes + 1, worked_at = now() \
             WHERE company_id = $1",
            &[&company_id],
        )
        .await?;
    Ok(())
}

/// The rows of the next chunk, from how long the last one (`rows`) took: scaled towards
/// [`CHUNK_TARGET`], but by at most half or double at a time, so that one chunk slowed by
/// something else (a checkpoint, a merge of GIN lists) does not swing it, and within
/// [`MIN_CHUNK_ROWS`] and `max`.
pub fn next_chunk_rows(rows: i64, elapsed: Duration, max: i64) -> i64 {
    let elapsed = elapsed.max(Duration::from_millis(1)).as_secs_f64();
    let rows = rows as f64;
    let scaled = (rows * CHUNK_TARGET.as_secs_f64() / elapsed).clamp(rows / 2.0, rows * 2.0);
    (scaled as i64).clamp(MIN_CHUNK_ROWS.min(max), max)
}

/// The queued companies and who queued each last: what a full rebuild of every read model that
/// starts after this read will cover (see [`clear_covered`]).
pub async fn queued(client: &Client) -> Result<Vec<(i64, String)>, DbError> {
    client
        .query(
            "SELECT company_id, queued_by::text FROM company_rederivation",
            &[],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// After a full rebuild of every read model, each started after `queued` was read: drops the
/// queued work nobody has queued to since. Every change it stood for was claimed, so committed,
/// before the read, and each rebuilt model is its definition as of a later snapshot; steps
/// after that re-derive from later snapshots still. Work queued since (a new `queued_by`) stays.
pub async fn clear_covered(client: &mut Client, queued: &[(i64, String)]) -> Result<u64, DbError> {
    if queued.is_empty() {
        return Ok(0);
    }
    let (companies, queued_by): (Vec<i64>, Vec<String>) = queued.iter().cloned().unzip();
    let transaction = client.transaction().await?;
    read_model::lock_apply(&transaction, LockWait::Wait).await?;
    let cleared = transaction
        .execute(
            "DELETE FROM company_rederivation r USING unnest($1::bigint[], $2::text[]) \
                 AS q(company_id, queued_by) \
             WHERE r.company_id = q.company_id AND r.queued_by = q.queued_by::xid8",
            &[&companies, &queued_by],
        )
        .await?;
    transaction.commit().await?;
    Ok(cleared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_leave_four_fifths_of_a_busy_drain_to_the_applies() {
        assert_eq!(
            pause_after(Duration::from_millis(50)),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn chunks_grow_and_shrink_towards_the_target_by_at_most_double_or_half() {
        assert_eq!(next_chunk_rows(1000, CHUNK_TARGET, 5000), 1000);
        assert_eq!(next_chunk_rows(1000, CHUNK_TARGET / 10, 5000), 2000);
        assert_eq!(next_chunk_rows(1000, CHUNK_TARGET * 10, 5000), 500);
        assert_eq!(next_chunk_rows(4000, Duration::ZERO, 5000), 5000);
        assert_eq!(
            next_chunk_rows(150, CHUNK_TARGET * 10, 5000),
            MIN_CHUNK_ROWS
        );
        // A chunk that timed out counts as endlessly slow: halved.
        assert_eq!(next_chunk_rows(1000, Duration::MAX, 5000), 500);
        // A configured maximum below the floor wins.
        assert_eq!(next_chunk_rows(20, CHUNK_TARGET * 10, 20), 20);
    }
}

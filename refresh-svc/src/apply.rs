//! Incremental apply (docs/REFRESH.md, "Mechanism"): claim a batch of change-log rows, re-derive
//! the affected companies' rows of every read model from its definition, and advance the watermark,
//! all in one transaction.
//!
//! Each model is re-derived under its own savepoint, so one broken definition does not stop the
//! others: the broken model is marked for a full rebuild (its share of the claimed batch is lost
//! to it) and its watermark stands still until that rebuild succeeds.

use std::time::Instant;

use svc_core::DbError;
use tokio_postgres::{Client, Transaction};
use tracing::Instrument as _;

use crate::model_apply::{OnCancel, apply_to_model};
use crate::read_model::{self, Affected, LockWait, Outcome, READ_MODELS, ReadModel};
use crate::rederivation;

/// How applies are made.
#[derive(Debug, Clone, Copy)]
pub struct ApplySettings<'a> {
    /// Change-log rows claimed per transaction.
    pub batch_size: i64,
    /// Companies with more prospects than this are re-derived in chunks (crate::rederivation).
    pub large_company_prospects: i64,
    /// This replica, for the refresh log.
    pub replica: &'a str,
}

/// What one apply transaction did.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// Change-log rows claimed.
    pub claimed: i64,
    /// Per read model that was re-derived (successfully or not); empty when nothing was claimed.
    pub models: Vec<Outcome>,
    /// Published watermark; empty when the apply lock was busy.
    pub watermark: String,
    /// Another writer held the apply lock and `LockWait::NoWait` was asked for.
    pub busy: bool,
    /// Large companies handed to chunked re-derivation.
    pub queued: usize,
}

/// Most writer traces one apply links to: enough to find the writes behind a batch, bounded so a
/// batch of many small writes does not make a huge span.
const MAX_LINKS: i64 = 32;

/// Applies up to `batch_size` change-log rows, in a `refresh.apply` span linked to the traces of
/// the writes it applies (the `traceparent` stored with their change-log rows).
pub async fn apply_batch(
    client: &mut Client,
    settings: &ApplySettings<'_>,
    wait: LockWait,
) -> Result<BatchOutcome, DbError> {
    let started = Instant::now();
    // One snapshot for the claim, the re-derivation and the watermark.
    let horizon = read_model::writer_horizon(&*client).await?;
    let Some(transaction) = read_model::begin_apply(client, wait).await? else {
        return Ok(BatchOutcome {
            busy: true,
            ..BatchOutcome::default()
        });
    };
    // The claim also returns up to MAX_LINKS distinct writer traceparents, for the span links.
    let claim = transaction
        .query_one(
            "WITH claimed AS ( \
                 DELETE FROM change_log WHERE id IN ( \
                     SELECT id FROM change_log ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
                 RETURNING company_id, prospect_id, traceparent, profile_unchanged) \
             SELECT count(*), coalesce(array_agg(DISTINCT company_id), '{}'), \
                 coalesce(array_agg(DISTINCT company_id) FILTER (WHERE prospect_id IS NULL), '{}'), \
                 coalesce(array_agg(DISTINCT prospect_id) FILTER (WHERE prospect_id IS NOT NULL), '{}'), \
                 array(SELECT DISTINCT traceparent FROM claimed \
                       WHERE traceparent IS NOT NULL LIMIT $2), \
                 coalesce(array_agg(DISTINCT company_id) \
                     FILTER (WHERE prospect_id IS NULL AND NOT profile_unchanged), '{}') \
             FROM claimed",
            &[&settings.batch_size, &MAX_LINKS],
        )
        .await?;
    let claimed: i64 = claim.try_get(0)?;
    let changes = Changes {
        companies: claim.try_get(1)?,
        whole_companies: claim.try_get(2)?,
        prospects: claim.try_get(3)?,
        profile_companies: claim.try_get(5)?,
    };
    let writers: Vec<String> = claim.try_get(4)?;
    // A span only for a batch that applies something: the periodic drain of an empty log would
    // otherwise export one every second.
    let span = if claimed > 0 {
        let span = tracing::info_span!(
            "refresh.apply",
            refresh.claimed = claimed,
            refresh.companies = changes.companies.len(),
            refresh.prospects = changes.prospects.len(),
            otel.status_code = tracing::field::Empty,
        );
        for writer in &writers {
            svc_core::telemetry::link_to_traceparent(&span, writer);
        }
        span
    } else {
        tracing::Span::none()
    };
    let applied = apply_claimed(transaction, claimed, changes, &horizon, settings, started)
        .instrument(span.clone())
        .await;
    if applied.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    applied
}

/// What the claimed change-log rows changed.
struct Changes {
    /// Every company named.
    companies: Vec<i64>,
    /// Companies any row of which may have changed: company changes, and bulk prospect writes.
    whole_companies: Vec<i64>,
    /// Prospects changed one by one (their companies are in `companies`).
    prospects: Vec<i64>,
    /// Of `whole_companies`, those a change may have changed beyond the company's profile
    /// columns: only these are re-derived whole in the models that read only the profile.
    profile_companies: Vec<i64>,
}

impl Changes {
    /// Takes `large` companies out of what this batch re-derives, and returns those named whole
    /// (every prospect row and the summary are left to chunks), those of them whose profile may
    /// have changed, and those named only through single prospects (whose rows stay in the
    /// batch; only the summary, an aggregate over every prospect of the company, is left).
    fn defer(&mut self, large: &[i64]) -> Deferred {
        let (whole, summary_only): (Vec<i64>, Vec<i64>) = large
            .iter()
            .partition(|company| self.whole_companies.contains(company));
        let profile = whole
            .iter()
            .copied()
            .filter(|company| self.profile_companies.contains(company))
            .collect();
        self.companies.retain(|company| !large.contains(company));
        self.whole_companies
            .retain(|company| !large.contains(company));
        self.profile_companies
            .retain(|company| !large.contains(company));
        Deferred {
            whole,
            profile,
            summary_only,
        }
    }

    /// The rows of `model` to re-derive: a summary per company named; the prospect models'
    /// rows of whole companies and of single prospects.
    fn affected(&self, model: ReadModel) -> Affected {
        if model.key == "company_id" {
            Affected::companies(self.companies.clone())
        } else if model.profile_only {
            Affected {
                companies: self.profile_companies.clone(),
                keys: self.prospects.clone(),
                key_range: None,
            }
        } else {
            Affected {
                companies: self.whole_companies.clone(),
                keys: self.prospects.clone(),
                key_range: None,
            }
        }
    }
}

/// Large companies an apply leaves to chunked re-derivation (crate::rederivation::queue).
struct Deferred {
    whole: Vec<i64>,
    profile: Vec<i64>,
    summary_only: Vec<i64>,
}

/// Re-derives the claimed changes' rows of every read model and advances the watermark. The
/// rows of large companies are left to chunked re-derivation (crate::rederivation): queued here,
/// in the transaction that claimed their changes.
async fn apply_claimed(
    transaction: Transaction<'_>,
    claimed: i64,
    mut changes: Changes,
    horizon: &read_model::WriterHorizon,
    settings: &ApplySettings<'_>,
    started: Instant,
) -> Result<BatchOutcome, DbError> {
    let pending_rebuild = read_model::pending_rebuild(&transaction).await?;
    // Everything below the watermark has finished and, beyond this batch, nothing of it is left
    // in the log (see WATERMARK_SQL).
    let watermark: String = transaction
        .query_one(read_model::WATERMARK_SQL, &horizon.params())
        .await?
        .try_get(0)?;

    // Before advance_watermark: a queued company's pending_since is the watermark published
    // before this claim. And before read_model::INDEXED: the queue reads read_model_state, a
    // table of three rows, which has no index worth using.
    let large = rederivation::large_companies(
        &transaction,
        &changes.companies,
        settings.large_company_prospects,
    )
    .await?;
    let queued = large.len();
    if !large.is_empty() {
        let deferred = changes.defer(&large);
        rederivation::queue(
            &transaction,
            &deferred.whole,
            &deferred.profile,
            &deferred.summary_only,
        )
        .await?;
    }
    let mut models = Vec::with_capacity(READ_MODELS.len());
    let mut current: Vec<&str> = Vec::with_capacity(READ_MODELS.len());
    transaction.batch_execute(read_model::INDEXED).await?;
    for model in READ_MODELS {
        if pending_rebuild.iter().any(|table| table == model.table) {
            continue;
        }
        let affected = changes.affected(model);
        if !affected.is_empty() {
            let outcome = apply_to_model(
                &transaction,
                model,
                &affected,
                &watermark,
                settings.replica,
                OnCancel::Rebuild,
            )
            .await?;
            let failed = outcome.error.is_some();
            models.push(outcome);
            if failed {
                continue;
            }
        }
        current.push(model.table);
    }
    transaction.batch_execute(read_model::INDEXED_DONE).await?;
    read_model::advance_watermark(&transaction, &current, &watermark).await?;
    transaction.commit().await?;
    if claimed > 0 {
        tracing::info!(
            claimed,
            companies = changes.companies.len(),
            prospects = changes.prospects.len(),
            queued_large_companies = queued,
            rows = models.iter().map(|m| m.rows).sum::<u64>(),
            %watermark,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "applied change-log batch"
        );
    }
    Ok(BatchOutcome {
        claimed,
        models,
        watermark,
        busy: false,
        queued,
    })
}

//! Cuts a stream of records into batches.

use std::hash::BuildHasher;

use foldhash::HashSet;

use lma_proto::v1::RowError;

use crate::persistence::StagedRow;

/// Records of one transaction, and the rejected records that came between them.
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<StagedRow>,
    pub rejected: Vec<RowError>,
    /// Records rejected (a record may have several errors).
    pub rejected_records: u64,
    /// Fingerprints of the batch's prospect keys. Two keys with one fingerprint end a batch
    /// early, which costs a smaller batch and nothing else, and spares a copy of every key.
    keys: HashSet<u64>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.rejected_records == 0
    }
}

/// Cuts a stream of records into batches of at most `batch_rows` valid rows. A prospect key
/// seen twice ends the batch before its second occurrence, so every record is merged in input
/// order.
pub struct Batcher {
    batch_rows: usize,
    current: Batch,
}

impl Batcher {
    pub fn new(batch_rows: usize) -> Self {
        Self {
            batch_rows: batch_rows.max(1),
            current: Batch::default(),
        }
    }

    /// Adds a valid row; returns a batch that is ready to be written.
    pub fn push(&mut self, row: StagedRow) -> Option<Batch> {
        let key = foldhash::fast::FixedState::default().hash_one(row.record.key());
        // A second occurrence of a prospect goes into the next batch: one statement cannot
        // merge a row twice, and the later record must win.
        let ready = if self.current.keys.contains(&key) {
            Some(std::mem::take(&mut self.current))
        } else {
            None
        };
        self.current.keys.insert(key);
        self.current.rows.push(row);
        ready.or_else(|| self.take_if_full())
    }

    /// Adds the errors of a rejected record.
    pub fn reject(&mut self, errors: Vec<RowError>) -> Option<Batch> {
        self.current.rejected_records += 1;
        self.current.rejected.extend(errors);
        self.take_if_full()
    }

    /// The last, partial batch.
    pub fn finish(self) -> Option<Batch> {
        (!self.current.is_empty()).then_some(self.current)
    }

    fn take_if_full(&mut self) -> Option<Batch> {
        let full = self.current.rows.len() >= self.batch_rows
            || self.current.rejected.len() >= self.batch_rows;
        full.then(|| std::mem::take(&mut self.current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::plain;

    #[test]
    fn a_repeated_prospect_starts_a_new_batch() {
        let mut batcher = Batcher::new(10);
        assert!(batcher.push(plain(1, "a")).is_none());
        assert!(batcher.push(plain(2, "b")).is_none());
        let first = batcher
            .push(plain(3, "a"))
            .expect("the repeat closes the batch");
        assert_eq!(first.rows.len(), 2);
        let last = batcher.finish().expect("one row left");
        assert_eq!(last.rows[0].row, 3);
    }

    #[test]
    fn batches_close_when_full_and_rejections_are_counted() {
        let mut batcher = Batcher::new(2);
        assert!(
            batcher
                .reject(vec![RowError::default(), RowError::default()])
                .is_some()
        );
        assert!(batcher.push(plain(2, "a")).is_none());
        let full = batcher
            .push(plain(3, "b"))
            .expect("two rows fill the batch");
        assert_eq!(full.rows.len(), 2);
        assert!(batcher.finish().is_none());
    }
}

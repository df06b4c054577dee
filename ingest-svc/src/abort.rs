//! The stop signal of a bulk write.

use std::sync::Arc;

use tokio::sync::watch;

/// Set when the call behind a bulk write ended without a clean end of its stream (cancelled,
/// reset, past its deadline, or a protocol error): the batch being written is rolled back and
/// nothing more is written. Batches committed before stay.
#[derive(Clone, Debug)]
pub struct Abort(Arc<watch::Sender<bool>>);

impl Default for Abort {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl Abort {
    pub fn abort(&self) {
        self.0.send_replace(true);
    }

    pub fn is_aborted(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once [`Abort::abort`] was called.
    pub async fn aborted(&self) {
        // The sender lives in `self`, so the wait can only end by the abort.
        let _ = self.0.subscribe().wait_for(|aborted| *aborted).await;
    }

    /// A guard that aborts when dropped: a handler future that the server drops (its client
    /// cancelled or reset the call) must not leave its writer going. Aborting after the writer
    /// finished changes nothing.
    pub fn on_drop(&self) -> AbortOnDrop {
        AbortOnDrop(self.clone())
    }
}

/// See [`Abort::on_drop`].
pub struct AbortOnDrop(Abort);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

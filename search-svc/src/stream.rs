//! Server streaming. A call's work (a future that reads rows and puts messages in its
//! [`Outbox`]) is driven by the response stream itself: polling the stream polls the work, in
//! the task that writes the response. Nothing is spawned and no channel sits in between, so
//! rows reach the connection without a hop between tasks, and every message that is ready when
//! tonic polls goes out in one HTTP/2 frame.
//!
//! Flow control: the outbox holds at most [`OUTBOX_MESSAGES`]; when it is full the work waits
//! until the stream has handed messages on, which it does only as fast as HTTP/2 flow control
//! lets it write. A slow client therefore slows the query instead of filling memory, and a
//! client that goes away drops the stream and with it the work and its query.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};
use tonic::Status;
use tracing::Instrument;

use crate::error::SearchError;

/// Messages an outbox holds before the work must wait for the client: enough to keep both
/// sides busy, small enough that a slow client holds the query back.
const OUTBOX_MESSAGES: usize = 64;

pub type ResponseStream<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send>>;

/// Shared by the work and the stream, which run in one task: the lock is never contended.
type Queue<M> = Arc<Mutex<VecDeque<M>>>;

/// Where a call's work puts its messages, in order.
pub struct Outbox<M> {
    queue: Queue<M>,
}

impl<M> Outbox<M> {
    /// Queues `message`, first waiting for room if the client has not taken the earlier ones.
    pub async fn push(&mut self, message: M) {
        let mut message = Some(message);
        std::future::poll_fn(|_| {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.len() >= OUTBOX_MESSAGES {
                // No waker to register: the stream polls the work again right after it has
                // taken messages from the queue (see `WorkStream::poll_next`).
                return Poll::Pending;
            }
            if let Some(message) = message.take() {
                queue.push_back(message);
            }
            Poll::Ready(())
        })
        .await
    }
}

type Work = Pin<Box<dyn Future<Output = Result<(), SearchError>> + Send>>;

/// The response stream: the messages the work queues, then its error if it failed.
struct WorkStream<M> {
    queue: Queue<M>,
    /// `None` once the work has finished.
    work: Option<Work>,
    /// The error the work ended with, sent after the messages it queued before.
    error: Option<Status>,
}

impl<M> WorkStream<M> {
    fn pop(&self) -> Option<M> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }
}

impl<M> Stream for WorkStream<M> {
    type Item = Result<M, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(message) = this.pop() {
            return Poll::Ready(Some(Ok(message)));
        }
        if let Some(work) = this.work.as_mut() {
            // Runs the work until it waits for the database or for room in the outbox.
            if let Poll::Ready(result) = work.as_mut().poll(cx) {
                this.work = None;
                this.error = result.err().map(Status::from);
            }
            if let Some(message) = this.pop() {
                return Poll::Ready(Some(Ok(message)));
            }
            if this.work.is_some() {
                return Poll::Pending;
            }
        }
        Poll::Ready(this.error.take().map(Err))
    }
}

/// The response stream of `work`, which runs in the call's span as the stream is polled. Waits
/// for the first message: a call that fails before it has anything to send fails with its
/// status, and the response headers go out with the first messages rather than on their own
/// ahead of the query.
pub async fn stream_of<M, F>(work: impl FnOnce(Outbox<M>) -> F) -> Result<ResponseStream<M>, Status>
where
    M: Send + 'static,
    F: Future<Output = Result<(), SearchError>> + Send + 'static,
{
    let queue: Queue<M> = Arc::new(Mutex::new(VecDeque::with_capacity(OUTBOX_MESSAGES)));
    let outbox = Outbox {
        queue: Arc::clone(&queue),
    };
    let mut stream = WorkStream {
        queue,
        work: Some(Box::pin(work(outbox).in_current_span())),
        error: None,
    };
    match stream.next().await {
        Some(Ok(first)) => Ok(Box::pin(
            futures_util::stream::once(std::future::ready(Ok(first))).chain(stream),
        )),
        Some(Err(status)) => Err(status),
        // Every call ends with a message of its own; ending without one is a bug.
        None => Err(Status::internal("the call ended without an answer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn not_found(what: &str) -> SearchError {
        SearchError::NotFound(what.to_owned())
    }

    #[tokio::test]
    async fn a_failure_before_the_first_message_is_the_calls_status() {
        let result = stream_of(|_: Outbox<u32>| async { Err(not_found("company")) }).await;
        let status = result.err().map(|status| status.code());
        assert_eq!(status, Some(Code::NotFound));
    }

    #[tokio::test]
    async fn a_later_failure_ends_the_stream_after_the_messages_queued_before_it() {
        let stream = stream_of(|mut outbox| async move {
            for n in 0..3 {
                outbox.push(n).await;
            }
            Err(not_found("page"))
        })
        .await
        .expect("the first message arrives");
        let items: Vec<Result<u32, Code>> = stream
            .map(|item| item.map_err(|status| status.code()))
            .collect()
            .await;
        assert_eq!(items, vec![Ok(0), Ok(1), Ok(2), Err(Code::NotFound)]);
    }

    #[tokio::test]
    async fn the_work_waits_while_the_outbox_is_full() {
        let produced = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&produced);
        let mut stream = stream_of(move |mut outbox| async move {
            for n in 0..1_000 {
                outbox.push(n).await;
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
        .await
        .expect("the first message arrives");
        // Only the first message has been taken out: the work stopped at a full outbox.
        let ahead = produced.load(std::sync::atomic::Ordering::Relaxed);
        assert!(ahead <= OUTBOX_MESSAGES + 1, "{ahead} messages produced");
        // The first message is the stream's first item; then every other, in order.
        let mut taken = 0;
        while let Some(item) = stream.next().await {
            assert_eq!(item.ok(), Some(taken));
            taken += 1;
        }
        assert_eq!(taken, 1_000);
    }
}

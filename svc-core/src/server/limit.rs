//! Limits on in-flight RPCs. tonic's own limit is per connection and
//! queues without bound; the process-wide one here spans all connections, counts a streaming
//! call until its last frame, and refuses with `RESOURCE_EXHAUSTED` after a short wait so an
//! overloaded service sheds load instead of building an invisible queue. The per-key one keeps
//! a single API key from taking every slot: past its share its calls are refused at once, and
//! the other tenants' calls still find slots.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tonic::Status;
use tower::{Layer, Service};

use crate::auth::Caller;
use crate::fairness::{KeyPermit, PerKeyLimit};
use crate::middleware::{BodyObserver, BoxFuture, ObservedBody};

/// How long a call may wait for a free slot before it is refused.
pub(crate) const MAX_PERMIT_WAIT: Duration = Duration::from_millis(100);

const EXHAUSTED_MESSAGE: &str = "the service is at its concurrency limit, retry later";

/// The calls one API key may have in flight when `--key-concurrency-limit` is not set: a
/// quarter of the process's slots, so three quarters stay for everyone else.
pub(crate) fn default_key_limit(concurrency_limit: usize) -> usize {
    (concurrency_limit / 4).max(1)
}

#[derive(Clone, Debug)]
pub(crate) struct ConcurrencyLimitLayer {
    semaphore: Arc<Semaphore>,
    max_wait: Duration,
}

impl ConcurrencyLimitLayer {
    pub(crate) fn new(limit: usize, max_wait: Duration) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(limit.clamp(1, Semaphore::MAX_PERMITS))),
            max_wait,
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit {
            inner,
            semaphore: Arc::clone(&self.semaphore),
            max_wait: self.max_wait,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ConcurrencyLimit<S> {
    inner: S,
    semaphore: Arc<Semaphore>,
    max_wait: Duration,
}

impl<S, B, ResBody> Service<http::Request<B>> for ConcurrencyLimit<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: http_body::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Health probes and reflection must answer even when the service is saturated, and a
        // health Watch stream would otherwise hold a slot forever.
        if crate::middleware::is_infrastructure_path(request.uri().path()) {
            let response = self.inner.call(request);
            return Box::pin(async move { Ok(response.await?.map(tonic::body::Body::new)) });
        }
        match Arc::clone(&self.semaphore).try_acquire_owned() {
            Ok(permit) => {
                let response = self.inner.call(request);
                Box::pin(async move { Ok(hold_until_done(response.await?, permit)) })
            }
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {
                // Waiting is asynchronous: take the service that poll_ready prepared and leave
                // a fresh clone behind for the next call.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let semaphore = Arc::clone(&self.semaphore);
                let max_wait = self.max_wait;
                Box::pin(async move {
                    match tokio::time::timeout(max_wait, semaphore.acquire_owned()).await {
                        Ok(Ok(permit)) => Ok(hold_until_done(inner.call(request).await?, permit)),
                        Ok(Err(_)) | Err(_) => {
                            tracing::debug!("refusing a call: concurrency limit reached");
                            Ok(Status::resource_exhausted(EXHAUSTED_MESSAGE).into_http())
                        }
                    }
                })
            }
        }
    }
}

/// Keeps the permit until the response body (the whole stream) is finished or dropped.
fn hold_until_done<ResBody>(
    response: http::Response<ResBody>,
    permit: OwnedSemaphorePermit,
) -> http::Response<tonic::body::Body>
where
    ResBody: http_body::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    response.map(|body| ObservedBody::wrap(body, permit))
}

/// Caps the calls one API key has in flight (after authentication, which names the key).
#[derive(Clone, Debug)]
pub(crate) struct KeyConcurrencyLimitLayer {
    limit: Arc<PerKeyLimit>,
}

impl KeyConcurrencyLimitLayer {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: Arc::new(PerKeyLimit::new(limit)),
        }
    }
}

impl<S> Layer<S> for KeyConcurrencyLimitLayer {
    type Service = KeyConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyConcurrencyLimit {
            inner,
            limit: Arc::clone(&self.limit),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct KeyConcurrencyLimit<S> {
    inner: S,
    limit: Arc<PerKeyLimit>,
}

impl BodyObserver for KeyPermit {}

impl<S, B, ResBody> Service<http::Request<B>> for KeyConcurrencyLimit<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Unauthenticated paths (health, reflection) carry no caller and no key share.
        let Some(api_key_id) = request.extensions().get::<Caller>().map(|c| c.api_key_id) else {
            let response = self.inner.call(request);
            return Box::pin(async move { Ok(response.await?.map(tonic::body::Body::new)) });
        };
        match self.limit.try_acquire(api_key_id) {
            Some(permit) => {
                let response = self.inner.call(request);
                Box::pin(
                    async move { Ok(response.await?.map(|body| ObservedBody::wrap(body, permit))) },
                )
            }
            None => {
                tracing::debug!(
                    api_key_id,
                    "refusing a call: API key at its concurrency share"
                );
                let status = Status::resource_exhausted(format!(
                    "this API key has {} calls in flight, the most one key may have \
                     (LMA_KEY_CONCURRENCY_LIMIT); retry later",
                    self.limit.limit()
                ));
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tokio::sync::oneshot;
    use tower::ServiceExt as _;

    type Response = http::Response<tonic::body::Body>;

    fn request(path: &str) -> http::Request<()> {
        http::Request::builder()
            .uri(path)
            .body(())
            .expect("valid request")
    }

    fn code(response: &Response) -> Option<tonic::Code> {
        response
            .headers()
            .get("grpc-status")
            .map(|v| tonic::Code::from_bytes(v.as_bytes()))
    }

    /// An inner service whose responses complete only when the test says so.
    fn gated(
        gate: Arc<tokio::sync::Mutex<Vec<oneshot::Receiver<()>>>>,
    ) -> impl Service<
        http::Request<()>,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static {
        tower::service_fn(move |_request: http::Request<()>| {
            let gate = Arc::clone(&gate);
            async move {
                let receiver = gate.lock().await.pop();
                if let Some(receiver) = receiver {
                    // The sender may be dropped to release the call; either way it ends.
                    let _ = receiver.await;
                }
                Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty()))
            }
        })
    }

    #[tokio::test]
    async fn refuses_calls_beyond_the_limit_and_recovers() {
        let (release, gate_rx) = oneshot::channel();
        let gate = Arc::new(tokio::sync::Mutex::new(vec![gate_rx]));
        let layer = ConcurrencyLimitLayer::new(1, Duration::from_millis(20));
        let service = layer.layer(gated(Arc::clone(&gate)));

        // The first call takes the only slot and blocks.
        let first = tokio::spawn(service.clone().oneshot(request("/lma.v1.X/Slow")));
        tokio::task::yield_now().await;
        while layer.semaphore.available_permits() > 0 {
            tokio::task::yield_now().await;
        }

        let refused = service
            .clone()
            .oneshot(request("/lma.v1.X/Fast"))
            .await
            .expect("infallible");
        assert_eq!(code(&refused), Some(tonic::Code::ResourceExhausted));

        // Infrastructure paths bypass the limit.
        let health = service
            .clone()
            .oneshot(request("/grpc.health.v1.Health/Check"))
            .await
            .expect("infallible");
        assert_eq!(code(&health), None);

        drop(release);
        let done = first.await.expect("task").expect("infallible");
        drop(done);
        assert_eq!(layer.semaphore.available_permits(), 1);
        let again = service
            .oneshot(request("/lma.v1.X/Fast"))
            .await
            .expect("infallible");
        assert_eq!(code(&again), None);
    }

    fn as_caller(api_key_id: i64) -> http::Request<()> {
        let mut request = request("/lma.v1.X/Slow");
        request.extensions_mut().insert(Caller {
            organization_id: 1,
            api_key_id,
            scopes: Vec::new(),
        });
        request
    }

    #[tokio::test]
    async fn one_key_cannot_take_every_slot() {
        let (release, gate_rx) = oneshot::channel();
        let gate = Arc::new(tokio::sync::Mutex::new(vec![gate_rx]));
        let layer = KeyConcurrencyLimitLayer::new(1);
        let service = layer.layer(gated(Arc::clone(&gate)));

        let first = tokio::spawn(service.clone().oneshot(as_caller(1)));
        while layer.limit.held(1) == 0 {
            tokio::task::yield_now().await;
        }
        let refused = service
            .clone()
            .oneshot(as_caller(1))
            .await
            .expect("infallible");
        assert_eq!(code(&refused), Some(tonic::Code::ResourceExhausted));
        let other_key = service
            .clone()
            .oneshot(as_caller(2))
            .await
            .expect("infallible");
        assert_eq!(code(&other_key), None, "another key still gets a slot");
        let unauthenticated = service
            .clone()
            .oneshot(request("/grpc.health.v1.Health/Check"))
            .await
            .expect("infallible");
        assert_eq!(code(&unauthenticated), None);

        drop(release);
        drop(first.await.expect("task").expect("infallible"));
        assert_eq!(layer.limit.held(1), 0, "the permit went with the body");
    }
}

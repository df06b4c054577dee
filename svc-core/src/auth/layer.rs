//! The tower layer that authenticates every call before it reaches a service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tower::{Layer, Service};

use super::{Authenticator, RateLimiter, Scope, bearer_token};
use crate::middleware::BoxFuture;

pub(super) const MISSING_KEY_MESSAGE: &str = "missing bearer API key in the authorization metadata";
const INVALID_KEY_MESSAGE: &str = "invalid or revoked API key";

/// Requires a valid bearer API key with `required_scope` on every call except health checks
/// and reflection, applies the per-key rate limit if one is set, and hands the
/// [`Caller`](super::Caller) to the service through the request extensions.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
    required_scope: Scope,
    scoped_services: &'static [(&'static str, Scope)],
    rate_limiter: Option<Arc<RateLimiter>>,
}

impl AuthLayer {
    pub fn new(authenticator: Arc<Authenticator>, required_scope: Scope) -> Self {
        Self {
            authenticator,
            required_scope,
            scoped_services: &[],
            rate_limiter: None,
        }
    }

    /// gRPC services (`lma.v1.PrivacyService`) whose calls need another scope than the
    /// layer's `required_scope`.
    pub fn with_scoped_services(mut self, services: &'static [(&'static str, Scope)]) -> Self {
        self.scoped_services = services;
        self
    }

    /// Limits each API key's request rate (`None`: no limit).
    pub fn with_rate_limit(mut self, rate_limiter: Option<Arc<RateLimiter>>) -> Self {
        self.rate_limiter = rate_limiter;
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            authenticator: Arc::clone(&self.authenticator),
            required_scope: self.required_scope,
            scoped_services: self.scoped_services,
            rate_limiter: self.rate_limiter.clone(),
        }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
    required_scope: Scope,
    scoped_services: &'static [(&'static str, Scope)],
    rate_limiter: Option<Arc<RateLimiter>>,
}

impl<S, B, ResBody> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if crate::middleware::is_infrastructure_path(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let Some(key) = bearer_token(request.headers()).map(str::to_owned) else {
            return reject(Status::unauthenticated(MISSING_KEY_MESSAGE));
        };
        // The lookup is asynchronous: take the service that poll_ready prepared and leave a
        // fresh clone behind for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = Arc::clone(&self.authenticator);
        let required_scope = scope_for_path(
            request.uri().path(),
            self.required_scope,
            self.scoped_services,
        );
        let rate_limiter = self.rate_limiter.clone();
        Box::pin(async move {
            let caller = match authenticator.authenticate(&key).await {
                Ok(Some(caller)) => caller,
                Ok(None) => {
                    tracing::debug!("rejected an unknown or revoked API key");
                    return Ok(Status::unauthenticated(INVALID_KEY_MESSAGE).into_http());
                }
                // Logged by the conversion; UNAVAILABLE when the database is unreachable.
                Err(error) => return Ok(Status::from(error).into_http()),
            };
            tracing::Span::current().record("organization_id", caller.organization_id);
            if !caller.has_scope(required_scope) {
                tracing::debug!(
                    api_key_id = caller.api_key_id,
                    scope = %required_scope,
                    "API key lacks the required scope"
                );
                return Ok(Status::permission_denied(format!(
                    "the API key lacks the required scope \"{required_scope}\""
                ))
                .into_http());
            }
            if let Some(limiter) = rate_limiter
                && let Err(retry_after) = limiter.acquire(caller.api_key_id)
            {
                tracing::debug!(
                    api_key_id = caller.api_key_id,
                    retry_after_ms = retry_after.as_millis(),
                    "refusing a call: API key over its rate limit"
                );
                return Ok(limiter.exhausted(retry_after).into_http());
            }
            request.extensions_mut().insert(caller);
            inner.call(request).await
        })
    }
}

/// The scope a call to `path` (`/package.Service/Method`) needs.
fn scope_for_path(path: &str, default: Scope, scoped_services: &[(&'static str, Scope)]) -> Scope {
    let service = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    scoped_services
        .iter()
        .find(|(name, _)| *name == service)
        .map_or(default, |(_, scope)| *scope)
}

fn reject<T, E>(status: Status) -> BoxFuture<http::Response<T>, E>
where
    T: Default + Send + 'static,
    E: Send + 'static,
{
    Box::pin(std::future::ready(Ok(status.into_http())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn scoped_services_need_their_own_scope() {
        let scoped = &[("lma.v1.PrivacyService", Scope::PrivacyAdmin)];
        for (path, scope) in [
            (
                "/lma.v1.PrivacyService/AddSuppressions",
                Scope::PrivacyAdmin,
            ),
            ("/lma.v1.IngestService/UpsertProspect", Scope::IngestWrite),
            (
                "/lma.v1.PrivacyServiceX/AddSuppressions",
                Scope::IngestWrite,
            ),
            ("", Scope::IngestWrite),
        ] {
            assert_eq!(
                super::scope_for_path(path, Scope::IngestWrite, scoped),
                scope,
                "{path}"
            );
        }
    }

    use super::*;
    use std::convert::Infallible;
    use std::time::Duration;

    use tower::ServiceExt as _;

    use crate::auth::Caller;
    use crate::config::DatabaseArgs;

    type Response = http::Response<tonic::body::Body>;

    /// An authenticator whose database refuses connections (nothing listens on port 1).
    fn unreachable_authenticator() -> Arc<Authenticator> {
        let args = DatabaseArgs {
            database_url: "postgres://nobody@127.0.0.1:1/none".to_owned(),
            database_role: None,
            pool_size: 1,
            statement_timeout_ms: 1_000,
            work_mem_kb: crate::config::DEFAULT_WORK_MEM_KB,
            connect_timeout_ms: 1_000,
        };
        let pool = crate::db::build_pool(&args, "auth-test").expect("lazy pool");
        Arc::new(Authenticator::new(pool, Duration::from_secs(10)))
    }

    /// Answers OK and reports whether a caller was attached.
    fn echo() -> impl Service<
        http::Request<()>,
        Response = Response,
        Error = Infallible,
        Future = impl Send + 'static,
    > + Clone
    + Send
    + 'static {
        tower::service_fn(|request: http::Request<()>| async move {
            let mut response = http::Response::new(tonic::body::Body::empty());
            if request.extensions().get::<Caller>().is_some() {
                response
                    .headers_mut()
                    .insert("x-caller", http::HeaderValue::from_static("yes"));
            }
            Ok::<_, Infallible>(response)
        })
    }

    async fn call(path: &str, authorization: Option<&str>) -> Response {
        let service = AuthLayer::new(unreachable_authenticator(), Scope::SearchRead).layer(echo());
        let mut request = http::Request::builder().uri(path);
        if let Some(value) = authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        service
            .oneshot(request.body(()).expect("valid request"))
            .await
            .expect("infallible")
    }

    fn status(response: &Response) -> Option<Status> {
        Status::from_header_map(response.headers())
    }

    #[tokio::test]
    async fn missing_or_malformed_key_is_unauthenticated() {
        for authorization in [None, Some("Basic abc"), Some("Bearer ")] {
            let response = call("/lma.v1.SearchService/SearchProspects", authorization).await;
            let status = status(&response).expect("an error status");
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert_eq!(status.message(), MISSING_KEY_MESSAGE);
        }
    }

    #[tokio::test]
    async fn health_and_reflection_need_no_key() {
        for path in [
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            let response = call(path, None).await;
            assert!(status(&response).is_none(), "{path}");
            assert!(response.headers().get("x-caller").is_none());
        }
    }

    #[tokio::test]
    async fn unreachable_database_is_unavailable() {
        let response = call(
            "/lma.v1.SearchService/SearchProspects",
            Some("Bearer lma_x"),
        )
        .await;
        let status = status(&response).expect("an error status");
        assert_eq!(status.code(), tonic::Code::Unavailable);
    }
}

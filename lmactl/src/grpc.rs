//! Calls to the services: one channel per command, and the API key and trace context every
//! call carries.

use anyhow::Context as _;
use lma_proto::v1::ingest_service_client::IngestServiceClient;
use lma_proto::v1::privacy_service_client::PrivacyServiceClient;
use lma_proto::v1::refresh_service_client::RefreshServiceClient;
use lma_proto::v1::search_service_client::SearchServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::cli::{IngestConnection, RefreshConnection, SearchConnection};
use crate::failure::Refused;

/// A channel whose calls carry [`Credentials`].
pub type Authenticated = InterceptedService<Channel, Credentials>;

/// Adds `authorization: Bearer <key>` and the current trace context to every call, so the
/// service authenticates it and its spans join this command's trace.
#[derive(Clone)]
pub struct Credentials {
    bearer: MetadataValue<Ascii>,
}

impl Interceptor for Credentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        svc_core::telemetry::inject_context(request.metadata_mut());
        Ok(request)
    }
}

/// Connects to `service` at `url` (given as `flag`) with `api_key`. A URL that is not
/// `http://` or `https://` with a host is a usage error, told apart from a service that cannot
/// be reached.
async fn connect(
    service: &str,
    flag: &str,
    url: &str,
    api_key: &str,
) -> anyhow::Result<Authenticated> {
    let bearer = format!("Bearer {api_key}")
        .parse()
        .context("the API key is not valid header text")?;
    let endpoint =
        endpoint(url).map_err(|why| Refused::usage(format!("invalid {flag} {url:?}: {why}")))?;
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {service} at {url}"))?;
    Ok(InterceptedService::new(channel, Credentials { bearer }))
}

/// The endpoint of a service URL, or why it is none.
fn endpoint(url: &str) -> Result<Endpoint, String> {
    let uri: tonic::codegen::http::Uri = url.parse().map_err(|error| format!("{error}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("it must start with http:// or https://".to_owned()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("it names no host".to_owned());
    }
    Endpoint::from_shared(url.to_owned()).map_err(|error| error.to_string())
}

async fn ingest(args: &IngestConnection) -> anyhow::Result<Authenticated> {
    connect(
        "ingest-svc",
        "--ingest-url",
        &args.ingest_url,
        &args.api_key,
    )
    .await
}

pub async fn ingest_client(
    args: &IngestConnection,
) -> anyhow::Result<IngestServiceClient<Authenticated>> {
    Ok(IngestServiceClient::new(ingest(args).await?))
}

pub async fn privacy_client(
    args: &IngestConnection,
) -> anyhow::Result<PrivacyServiceClient<Authenticated>> {
    Ok(PrivacyServiceClient::new(ingest(args).await?))
}

pub async fn refresh_client(
    args: &RefreshConnection,
) -> anyhow::Result<RefreshServiceClient<Authenticated>> {
    let channel = connect(
        "refresh-svc",
        "--refresh-url",
        &args.refresh_url,
        &args.api_key,
    )
    .await?;
    Ok(RefreshServiceClient::new(channel))
}

pub type SearchClient = SearchServiceClient<Authenticated>;

pub async fn search_client(args: &SearchConnection) -> anyhow::Result<SearchClient> {
    let channel = connect(
        "search-svc",
        "--search-url",
        &args.search_url,
        &args.api_key,
    )
    .await?;
    Ok(SearchServiceClient::new(channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_are_endpoints() {
        assert!(endpoint("http://127.0.0.1:50053").is_ok());
        assert!(endpoint("https://refresh.lma.internal").is_ok());
        for bad in ["127.0.0.1:50053", "not a url", "ftp://host", "http://", ""] {
            assert!(endpoint(bad).is_err(), "{bad:?} was taken");
        }
    }
}

//! Calls to the services: one channel per command, and the API key and trace context every call
//! carries.

use anyhow::Context as _;
use lma_proto::v1::ingest_service_client::IngestServiceClient;
use lma_proto::v1::privacy_service_client::PrivacyServiceClient;
use lma_proto::v1::search_service_client::SearchServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::cli::{IngestConnection, SearchConnection};

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

/// Where one service is and how to authenticate there, as its connection flags say.
struct Target<'a> {
    /// The service's name in messages ("search-svc").
    service: &'static str,
    /// The flag that gave the URL ("--search-url").
    flag: &'static str,
    url: &'a str,
    api_key: &'a str,
}

/// Connects to `target`'s URL with its API key.
async fn connect(target: Target<'_>) -> anyhow::Result<Authenticated> {
    let bearer = format!("Bearer {}", target.api_key)
        .parse()
        .context("the API key is not valid header text")?;
    let channel = tonic::transport::Endpoint::from_shared(target.url.to_owned())
        .with_context(|| format!("invalid {} {:?}", target.flag, target.url))?
        .connect()
        .await
        .with_context(|| format!("connecting to {} at {}", target.service, target.url))?;
    Ok(InterceptedService::new(channel, Credentials { bearer }))
}

fn ingest(args: &IngestConnection) -> Target<'_> {
    Target {
        service: "ingest-svc",
        flag: "--ingest-url",
        url: &args.ingest_url,
        api_key: &args.api_key,
    }
}

pub async fn ingest_client(
    args: &IngestConnection,
) -> anyhow::Result<IngestServiceClient<Authenticated>> {
    Ok(IngestServiceClient::new(connect(ingest(args)).await?))
}

pub async fn privacy_client(
    args: &IngestConnection,
) -> anyhow::Result<PrivacyServiceClient<Authenticated>> {
    Ok(PrivacyServiceClient::new(connect(ingest(args)).await?))
}

pub type SearchClient = SearchServiceClient<Authenticated>;

pub async fn search_client(args: &SearchConnection) -> anyhow::Result<SearchClient> {
    let target = Target {
        service: "search-svc",
        flag: "--search-url",
        url: &args.search_url,
        api_key: &args.api_key,
    };
    Ok(SearchServiceClient::new(connect(target).await?))
}

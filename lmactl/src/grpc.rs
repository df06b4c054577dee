//! Calls to ingest-svc: one channel, and the API key and trace context every call carries.

use anyhow::Context as _;
use lma_proto::v1::ingest_service_client::IngestServiceClient;
use lma_proto::v1::privacy_service_client::PrivacyServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::cli::IngestConnection;

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

/// Connects to ingest-svc as `--ingest-url` says, with `--api-key`.
async fn connect(args: &IngestConnection) -> anyhow::Result<(Channel, Credentials)> {
    let bearer = format!("Bearer {}", args.api_key)
        .parse()
        .context("the API key is not valid header text")?;
    let channel = tonic::transport::Endpoint::from_shared(args.ingest_url.clone())
        .with_context(|| format!("invalid --ingest-url {:?}", args.ingest_url))?
        .connect()
        .await
        .with_context(|| format!("connecting to ingest-svc at {}", args.ingest_url))?;
    Ok((channel, Credentials { bearer }))
}

pub async fn ingest_client(
    args: &IngestConnection,
) -> anyhow::Result<IngestServiceClient<Authenticated>> {
    let (channel, credentials) = connect(args).await?;
    Ok(IngestServiceClient::with_interceptor(channel, credentials))
}

pub async fn privacy_client(
    args: &IngestConnection,
) -> anyhow::Result<PrivacyServiceClient<Authenticated>> {
    let (channel, credentials) = connect(args).await?;
    Ok(PrivacyServiceClient::with_interceptor(channel, credentials))
}

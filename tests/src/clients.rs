//! Generated lma.v1 clients that attach `authorization: Bearer <key>` to every call.

use std::net::SocketAddr;
use std::time::Duration;

use lma_proto::v1::ingest_service_client::IngestServiceClient;
use lma_proto::v1::privacy_service_client::PrivacyServiceClient;
use lma_proto::v1::refresh_service_client::RefreshServiceClient;
use lma_proto::v1::search_service_client::SearchServiceClient;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;

/// A channel whose calls carry a bearer key (or deliberately none).
pub type AuthChannel = InterceptedService<Channel, BearerAuth>;
pub type IngestClient = IngestServiceClient<AuthChannel>;
pub type SearchClient = SearchServiceClient<AuthChannel>;
pub type RefreshClient = RefreshServiceClient<AuthChannel>;
/// PrivacyService, served by ingest-svc.
pub type PrivacyClient = PrivacyServiceClient<AuthChannel>;

/// Sets the `authorization` metadata of every call.
#[derive(Clone, Debug)]
pub struct BearerAuth {
    header: Option<AsciiMetadataValue>,
}

impl BearerAuth {
    /// `authorization: Bearer <key>`.
    pub fn key(key: &str) -> BearerAuth {
        BearerAuth::raw(&format!("Bearer {key}"))
    }

    /// `authorization: <value>` exactly as given, for testing malformed headers.
    pub fn raw(value: &str) -> BearerAuth {
        let header = MetadataValue::try_from(value)
            .unwrap_or_else(|error| panic!("{value:?} is not a valid metadata value: {error}"));
        BearerAuth {
            header: Some(header),
        }
    }

    /// No `authorization` metadata at all.
    pub fn none() -> BearerAuth {
        BearerAuth { header: None }
    }
}

impl Interceptor for BearerAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// A plaintext HTTP/2 channel to a service on this machine.
pub async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("a socket address makes a valid URI")
        .connect_timeout(Duration::from_secs(5))
        // No test call should take long; a hung service fails the test instead of hanging it.
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap_or_else(|error| panic!("connecting to the gRPC server at {addr}: {error}"))
}

pub async fn ingest_client(addr: SocketAddr, auth: BearerAuth) -> IngestClient {
    IngestServiceClient::with_interceptor(channel(addr).await, auth)
}

pub async fn search_client(addr: SocketAddr, auth: BearerAuth) -> SearchClient {
    SearchServiceClient::with_interceptor(channel(addr).await, auth)
}

pub async fn refresh_client(addr: SocketAddr, auth: BearerAuth) -> RefreshClient {
    RefreshServiceClient::with_interceptor(channel(addr).await, auth)
}

/// PrivacyService at ingest-svc's address.
pub async fn privacy_client(addr: SocketAddr, auth: BearerAuth) -> PrivacyClient {
    PrivacyServiceClient::with_interceptor(channel(addr).await, auth)
}

/// Health needs no key.
pub async fn health_client(addr: SocketAddr) -> HealthClient<Channel> {
    HealthClient::new(channel(addr).await)
}

//! The `lma.v1.RefreshService` gRPC handlers.

use std::pin::Pin;

use futures_util::Stream;
use lma_proto::v1::refresh_service_server::RefreshService;
use lma_proto::v1::{
    GetStatusRequest, GetStatusResponse, RefreshNowRequest, RefreshNowResponse, WatchStatusRequest,
    WatchStatusResponse,
};
use tonic::{Request, Response, Status};

use crate::error::RefreshError;

pub struct RefreshApi;

type WatchStatusStream = Pin<Box<dyn Stream<Item = Result<WatchStatusResponse, Status>> + Send>>;

#[tonic::async_trait]
impl RefreshService for RefreshApi {
    async fn refresh_now(
        &self,
        _request: Request<RefreshNowRequest>,
    ) -> Result<Response<RefreshNowResponse>, Status> {
        Err(RefreshError::NotImplemented("RefreshNow").into())
    }

    async fn get_status(
        &self,
        _request: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        Err(RefreshError::NotImplemented("GetStatus").into())
    }

    type WatchStatusStream = WatchStatusStream;

    async fn watch_status(
        &self,
        _request: Request<WatchStatusRequest>,
    ) -> Result<Response<Self::WatchStatusStream>, Status> {
        Err(RefreshError::NotImplemented("WatchStatus").into())
    }
}

//! The `lma.v1.RefreshService` gRPC handlers.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use lma_proto::v1 as pb;
use lma_proto::v1::refresh_service_server::RefreshService;
use lma_proto::v1::{
    GetStatusRequest, GetStatusResponse, RefreshNowRequest, RefreshNowResponse, WatchStatusRequest,
    WatchStatusResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::RefreshError;
use crate::read_model::{self, Mode};
use crate::refresher::Refresher;
use crate::status;

const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(1);
const MIN_WATCH_INTERVAL: Duration = Duration::from_millis(100);

pub struct RefreshApi {
    refresher: Arc<Refresher>,
}

impl RefreshApi {
    pub fn new(refresher: Arc<Refresher>) -> Self {
        Self { refresher }
    }

    /// The status as a key of `organization` sees it.
    async fn status(&self, organization: i64) -> Result<GetStatusResponse, RefreshError> {
        let client = self
            .refresher
            .pool
            .get()
            .await
            .map_err(svc_core::DbError::from)?;
        Ok(status::read(&client, &self.refresher.replica, organization).await?)
    }
}

type WatchStatusStream = Pin<Box<dyn Stream<Item = Result<WatchStatusResponse, Status>> + Send>>;

/// The mode and read models a RefreshNow request asks for.
fn parse_refresh(request: &RefreshNowRequest) -> Result<(Mode, pb::ReadModel), RefreshError> {
    let mode = match pb::RefreshMode::try_from(request.mode) {
        Ok(pb::RefreshMode::Unspecified | pb::RefreshMode::Incremental) => Mode::Incremental,
        Ok(pb::RefreshMode::Full) => Mode::Full,
        Ok(pb::RefreshMode::Reconcile) => Mode::Reconcile,
        Err(_) => {
            return Err(RefreshError::invalid(
                "mode",
                format!("{} is not a RefreshMode", request.mode),
            ));
        }
    };
    let read_model = pb::ReadModel::try_from(request.read_model).map_err(|_| {
        RefreshError::invalid(
            "read_model",
            format!("{} is not a ReadModel", request.read_model),
        )
    })?;
    if mode == Mode::Incremental && read_model != pb::ReadModel::Unspecified {
        return Err(RefreshError::invalid(
            "read_model",
            "an incremental refresh applies the shared change log to every read model; \
             leave read_model unspecified or ask for a full refresh or a reconcile",
        ));
    }
    Ok((mode, read_model))
}

fn parse_watch_interval(request: &WatchStatusRequest) -> Result<Duration, RefreshError> {
    let Some(interval) = request.min_interval else {
        return Ok(DEFAULT_WATCH_INTERVAL);
    };
    let interval = Duration::try_from(interval)
        .map_err(|_| RefreshError::invalid("min_interval", "must be a non-negative duration"))?;
    if interval.is_zero() {
        return Ok(DEFAULT_WATCH_INTERVAL);
    }
    if interval < MIN_WATCH_INTERVAL {
        return Err(RefreshError::invalid(
            "min_interval",
            format!("must be at least {} ms", MIN_WATCH_INTERVAL.as_millis()),
        ));
    }
    Ok(interval)
}

#[tonic::async_trait]
impl RefreshService for RefreshApi {
    async fn refresh_now(
        &self,
        request: Request<RefreshNowRequest>,
    ) -> Result<Response<RefreshNowResponse>, Status> {
        let request = request.into_inner();
        let (mode, read_model) = parse_refresh(&request)?;
        let models = read_model::selected(read_model);
        let refresher = self.refresher.clone();
        // A task of its own: the refresh completes even when the caller stops waiting.
        let task =
            svc_core::telemetry::spawn_traced(async move { refresher.run(mode, &models).await });
        if !request.wait {
            return Ok(Response::new(RefreshNowResponse {
                completed: false,
                results: Vec::new(),
            }));
        }
        let outcomes = task.await.map_err(RefreshError::from)??;
        Ok(Response::new(RefreshNowResponse {
            completed: true,
            results: outcomes.iter().map(|outcome| outcome.to_proto()).collect(),
        }))
    }

    async fn get_status(
        &self,
        request: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        let organization = svc_core::auth::caller(&request)?.organization_id;
        Ok(Response::new(self.status(organization).await?))
    }

    type WatchStatusStream = WatchStatusStream;

    async fn watch_status(
        &self,
        request: Request<WatchStatusRequest>,
    ) -> Result<Response<Self::WatchStatusStream>, Status> {
        let organization = svc_core::auth::caller(&request)?.organization_id;
        let interval = parse_watch_interval(request.get_ref())?;
        let first = self.status(organization).await?;
        let (sender, receiver) = mpsc::channel(1);
        let api = RefreshApi::new(self.refresher.clone());
        tokio::spawn(async move {
            let mut last = first.clone();
            if sender
                .send(Ok(WatchStatusResponse {
                    status: Some(first),
                }))
                .await
                .is_err()
            {
                return;
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    // The client went away: stop polling the database for it.
                    _ = sender.closed() => return,
                }
                let update = match api.status(organization).await {
                    Ok(status) if status == last => continue,
                    Ok(status) => {
                        last = status.clone();
                        Ok(WatchStatusResponse {
                            status: Some(status),
                        })
                    }
                    Err(error) => Err(Status::from(error)),
                };
                let failed = update.is_err();
                if sender.send(update).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_refresh_of_one_model_is_refused_naming_the_field() {
        let error = parse_refresh(&RefreshNowRequest {
            mode: pb::RefreshMode::Incremental as i32,
            read_model: pb::ReadModel::ProspectSearch as i32,
            wait: true,
        })
        .expect_err("the change log is shared");
        let status = Status::from(error);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("read_model"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn unknown_enum_values_are_refused() {
        let status = Status::from(
            parse_refresh(&RefreshNowRequest {
                mode: 42,
                ..Default::default()
            })
            .expect_err("42 is no mode"),
        );
        assert!(status.message().contains("mode"), "{}", status.message());
    }

    #[test]
    fn unspecified_mode_means_incremental_of_all() {
        let (mode, model) = parse_refresh(&RefreshNowRequest::default()).expect("valid");
        assert_eq!(mode, Mode::Incremental);
        assert_eq!(model, pb::ReadModel::Unspecified);
    }

    #[test]
    fn watch_interval_has_a_floor_and_a_default() {
        let with = |millis: i32| WatchStatusRequest {
            min_interval: Some(prost_types::Duration {
                seconds: 0,
                nanos: millis * 1_000_000,
            }),
        };
        assert_eq!(
            parse_watch_interval(&WatchStatusRequest::default()).expect("default"),
            DEFAULT_WATCH_INTERVAL
        );
        assert_eq!(
            parse_watch_interval(&with(250)).expect("valid"),
            Duration::from_millis(250)
        );
        assert!(parse_watch_interval(&with(10)).is_err());
    }
}

//! The `lma.v1.PrivacyService` gRPC handlers: suppression lists. Served by ingest-svc because
//! its changes write the tables ingest screens rows against, in ingest's own transactions; the
//! auth layer requires `privacy.admin` for every call (`lib.rs`).

use std::sync::Arc;

use base64::Engine as _;
use lma_proto::v1::privacy_service_server::PrivacyService;
use lma_proto::v1::{
    AddSuppressionsRequest, AddSuppressionsResponse, ErasePersonRequest, ErasePersonResponse,
    ExportPersonDataRequest, ExportPersonDataResponse, ListSuppressionsRequest,
    ListSuppressionsResponse, RemoveSuppressionRequest, RemoveSuppressionResponse,
};
use tonic::{Request, Response, Status};

use crate::error::IngestError;
use crate::persistence::Store;
use crate::suppression::{self, EmailKey};

/// Page tokens of ListSuppressions: the last id of the page, encoded. Not sealed like search's
/// tokens: it holds only a position in the caller's own list, which every query bounds to the
/// caller's organization, so an altered token can only skip entries of its own list.
const PAGE_TOKEN_PREFIX: &str = "s1:";

fn page_token(last_id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{PAGE_TOKEN_PREFIX}{last_id}"))
}

/// The id after which a page starts; 0 for the first page.
fn page_start(token: &str) -> Result<i64, IngestError> {
    if token.is_empty() {
        return Ok(0);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(PAGE_TOKEN_PREFIX)?.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| IngestError::invalid("page_token", "is not a page token of this list"))
}

fn page_size(requested: u32) -> Result<u32, IngestError> {
    match requested {
        0 => Ok(suppression::DEFAULT_PAGE_SIZE),
        size if size <= suppression::MAX_PAGE_SIZE => Ok(size),
        size => Err(IngestError::invalid(
            "page_size",
            format!(
                "{size} is too large; at most {} are allowed",
                suppression::MAX_PAGE_SIZE
            ),
        )),
    }
}

pub struct PrivacyApi {
    store: Arc<Store>,
}

impl PrivacyApi {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl PrivacyService for PrivacyApi {
    async fn add_suppressions(
        &self,
        request: Request<AddSuppressionsRequest>,
    ) -> Result<Response<AddSuppressionsResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let entries =
            suppression::entries(&request.get_ref().entries).map_err(IngestError::Invalid)?;
        // Used only if the organization has no secret yet; cheap enough to make every time.
        let candidate = EmailKey::generate().map_err(IngestError::Secret)?;
        let (ids, consistency_token) = self
            .store
            .add_suppressions(
                caller.organization_id,
                caller.api_key_id,
                &entries,
                &candidate,
            )
            .await
            .map_err(IngestError::from)?;
        tracing::info!(
            entries = entries.len(),
            api_key_id = caller.api_key_id,
            "suppressions added"
        );
        Ok(Response::new(AddSuppressionsResponse {
            ids: ids.into_iter().map(|id| id.to_string()).collect(),
            consistency_token,
        }))
    }

    async fn remove_suppression(
        &self,
        request: Request<RemoveSuppressionRequest>,
    ) -> Result<Response<RemoveSuppressionResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let id = crate::api::parse_id("id", &request.get_ref().id)?;
        let consistency_token = self
            .store
            .remove_suppression(caller.organization_id, caller.api_key_id, id)
            .await
            .map_err(IngestError::from)?
            .ok_or(IngestError::NotFound("suppression"))?;
        tracing::info!(
            suppression_id = id,
            api_key_id = caller.api_key_id,
            "suppression removed"
        );
        Ok(Response::new(RemoveSuppressionResponse {
            consistency_token,
        }))
    }

    async fn list_suppressions(
        &self,
        request: Request<ListSuppressionsRequest>,
    ) -> Result<Response<ListSuppressionsResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let request = request.into_inner();
        let (size, after) = match (
            page_size(request.page_size),
            page_start(&request.page_token),
        ) {
            (Ok(size), Ok(after)) => (size, after),
            (Err(IngestError::Invalid(mut a)), Err(IngestError::Invalid(b))) => {
                a.extend(b);
                return Err(IngestError::Invalid(a).into());
            }
            (Err(error), _) | (_, Err(error)) => return Err(error.into()),
        };
        // One more than the page: whether there is a next page.
        let mut entries = self
            .store
            .list_suppressions(caller.organization_id, after, size + 1)
            .await
            .map_err(IngestError::from)?;
        let more = entries.len() > size as usize;
        entries.truncate(size as usize);
        let next_page_token = match entries.last() {
            Some((last, _)) if more => page_token(*last),
            _ => String::new(),
        };
        Ok(Response::new(ListSuppressionsResponse {
            suppressions: entries.into_iter().map(|(_, entry)| entry).collect(),
            next_page_token,
        }))
    }

    // Placeholders so the workspace builds while the implementation is written on the
    // issue19-suppression branch; that branch's handlers replace these when they merge.
    async fn export_person_data(
        &self,
        _request: Request<ExportPersonDataRequest>,
    ) -> Result<Response<ExportPersonDataResponse>, Status> {
        Err(Status::unimplemented(
            "ExportPersonData is not implemented yet",
        ))
    }

    async fn erase_person(
        &self,
        _request: Request<ErasePersonRequest>,
    ) -> Result<Response<ErasePersonResponse>, Status> {
        Err(Status::unimplemented("ErasePerson is not implemented yet"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_bad_ones_are_invalid() {
        assert_eq!(page_start("").expect("first page"), 0);
        assert_eq!(page_start(&page_token(42)).expect("token"), 42);
        for bad in ["x", "czE6LTE", "czE6YWJj", &page_token(0)] {
            assert!(page_start(bad).is_err(), "{bad}");
        }
        assert_eq!(
            page_size(0).expect("default"),
            suppression::DEFAULT_PAGE_SIZE
        );
        assert!(page_size(suppression::MAX_PAGE_SIZE + 1).is_err());
    }
}

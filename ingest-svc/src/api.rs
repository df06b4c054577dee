//! The `lma.v1.IngestService` gRPC handlers: authenticate, validate, call the store, answer.

use std::pin::Pin;

use futures_util::Stream;
use lma_proto::v1::ingest_service_server::IngestService;
use lma_proto::v1::{
    DeleteCompanyRequest, DeleteCompanyResponse, DeleteProspectRequest, DeleteProspectResponse,
    GetProspectRequest, GetProspectResponse, ImportCsvRequest, ImportCsvResponse,
    IngestProspectsRequest, IngestProspectsResponse, MigrateLegacyCustomersRequest,
    MigrateLegacyCustomersResponse, UpsertCompanyRequest, UpsertCompanyResponse,
    UpsertProspectRequest, UpsertProspectResponse,
};
use tonic::{Request, Response, Status, Streaming};

use crate::error::IngestError;
use crate::store::Store;
use crate::validate;

pub struct IngestApi {
    store: Store,
}

impl IngestApi {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn parse_id(field: &str, value: &str) -> Result<i64, IngestError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| IngestError::invalid(field, format!("{value:?} is not a valid id")))
}

type ImportCsvStream = Pin<Box<dyn Stream<Item = Result<ImportCsvResponse, Status>> + Send>>;

#[tonic::async_trait]
impl IngestService for IngestApi {
    async fn ingest_prospects(
        &self,
        _request: Request<Streaming<IngestProspectsRequest>>,
    ) -> Result<Response<IngestProspectsResponse>, Status> {
        Err(IngestError::NotImplemented("IngestProspects").into())
    }

    type ImportCsvStream = ImportCsvStream;

    async fn import_csv(
        &self,
        _request: Request<Streaming<ImportCsvRequest>>,
    ) -> Result<Response<Self::ImportCsvStream>, Status> {
        Err(IngestError::NotImplemented("ImportCsv").into())
    }

    async fn upsert_company(
        &self,
        _request: Request<UpsertCompanyRequest>,
    ) -> Result<Response<UpsertCompanyResponse>, Status> {
        Err(IngestError::NotImplemented("UpsertCompany").into())
    }

    async fn upsert_prospect(
        &self,
        request: Request<UpsertProspectRequest>,
    ) -> Result<Response<UpsertProspectResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let record = request
            .into_inner()
            .prospect
            .ok_or_else(|| IngestError::invalid("prospect", "is required"))?;
        let row = validate::prospect(&record)
            .map_err(|violations| IngestError::invalid_within("prospect", violations))?;
        let upserted = self
            .store
            .upsert_prospect(caller.organization_id, &row)
            .await
            .map_err(IngestError::from)?;
        tracing::info!(
            prospect_id = %upserted.prospect.id,
            outcome = ?upserted.outcome,
            company_outcome = ?upserted.company_outcome,
            "prospect upserted"
        );
        Ok(Response::new(UpsertProspectResponse {
            prospect: Some(upserted.prospect),
            outcome: upserted.outcome.into(),
            company_outcome: upserted.company_outcome.into(),
            consistency_token: upserted.consistency_token,
        }))
    }

    async fn get_prospect(
        &self,
        request: Request<GetProspectRequest>,
    ) -> Result<Response<GetProspectResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let prospect_id = parse_id("prospect_id", &request.get_ref().prospect_id)?;
        let prospect = self
            .store
            .get_prospect(caller.organization_id, prospect_id)
            .await
            .map_err(IngestError::from)?
            .ok_or(IngestError::NotFound("prospect"))?;
        Ok(Response::new(GetProspectResponse {
            prospect: Some(prospect),
        }))
    }

    async fn delete_prospect(
        &self,
        request: Request<DeleteProspectRequest>,
    ) -> Result<Response<DeleteProspectResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let prospect_id = parse_id("prospect_id", &request.get_ref().prospect_id)?;
        let consistency_token = self
            .store
            .delete_prospect(caller.organization_id, prospect_id)
            .await
            .map_err(IngestError::from)?
            .ok_or(IngestError::NotFound("prospect"))?;
        Ok(Response::new(DeleteProspectResponse { consistency_token }))
    }

    async fn delete_company(
        &self,
        _request: Request<DeleteCompanyRequest>,
    ) -> Result<Response<DeleteCompanyResponse>, Status> {
        Err(IngestError::NotImplemented("DeleteCompany").into())
    }

    async fn migrate_legacy_customers(
        &self,
        _request: Request<MigrateLegacyCustomersRequest>,
    ) -> Result<Response<MigrateLegacyCustomersResponse>, Status> {
        Err(IngestError::NotImplemented("MigrateLegacyCustomers").into())
    }
}

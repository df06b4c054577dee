//! The `lma.v1.PrivacyService` gRPC handlers: suppression lists, and a person's data exported
//! or erased. Served by ingest-svc because its changes write the tables ingest screens rows
//! against, in ingest's own transactions; the auth layer requires `privacy.admin` for every
//! call (`lib.rs`). Nothing here logs or answers an email address: ids and counts only.

use std::sync::Arc;

use base64::Engine as _;
use lma_proto::v1::erase_person_request::Person as ProtoPerson;
use lma_proto::v1::privacy_service_server::PrivacyService;
use lma_proto::v1::{
    AddSuppressionsRequest, AddSuppressionsResponse, ErasePersonRequest, ErasePersonResponse,
    ExportPersonDataRequest, ExportPersonDataResponse, ListSuppressionsRequest,
    ListSuppressionsResponse, RemoveSuppressionRequest, RemoveSuppressionResponse,
    UnmergeProspectRequest, UnmergeProspectResponse,
};
use tonic::{Request, Response, Status};

use crate::error::IngestError;
use crate::persistence::Store;
use crate::suppression::{self, EmailKey, Person};

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

/// The person an ErasePerson request names.
fn person(request: &ErasePersonRequest) -> Result<Person, IngestError> {
    match &request.person {
        None => Err(IngestError::invalid(
            "email",
            "an email or a prospect_id is required",
        )),
        Some(ProtoPerson::Email(email)) => suppression::email(email)
            .map(Person::Email)
            .map_err(|why| IngestError::invalid("email", why)),
        Some(ProtoPerson::ProspectId(id)) => {
            crate::api::parse_id("prospect_id", id).map(Person::Prospect)
        }
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

    async fn export_person_data(
        &self,
        request: Request<ExportPersonDataRequest>,
    ) -> Result<Response<ExportPersonDataResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let email = suppression::email(&request.get_ref().email)
            .map_err(|why| IngestError::invalid("email", why))?;
        let candidate = EmailKey::generate().map_err(IngestError::Secret)?;
        let data = self
            .store
            .export_person(
                caller.organization_id,
                caller.api_key_id,
                &email,
                &candidate,
            )
            .await
            .map_err(IngestError::from)?
            .ok_or(IngestError::NotFound("person"))?;
        tracing::info!(
            prospects = data.prospects.len(),
            legacy_customers = data.legacy_customers.len(),
            suppressions = data.suppressions.len(),
            api_key_id = caller.api_key_id,
            "person data exported"
        );
        Ok(Response::new(ExportPersonDataResponse {
            prospects: data.prospects,
            legacy_customers: data.legacy_customers,
            suppressions: data.suppressions,
        }))
    }

    async fn erase_person(
        &self,
        request: Request<ErasePersonRequest>,
    ) -> Result<Response<ErasePersonResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let person = person(request.get_ref())?;
        let candidate = EmailKey::generate().map_err(IngestError::Secret)?;
        let erased = self
            .store
            .erase_person(
                caller.organization_id,
                caller.api_key_id,
                &person,
                &candidate,
            )
            .await
            .map_err(IngestError::from)?
            .ok_or(IngestError::NotFound("person"))?;
        tracing::info!(
            prospects = erased.prospect_ids.len(),
            legacy_customers = erased.legacy_customers,
            suppression_id = erased.suppression_id,
            api_key_id = caller.api_key_id,
            "person erased"
        );
        Ok(Response::new(ErasePersonResponse {
            prospect_ids: erased
                .prospect_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
            legacy_customers_erased: erased.legacy_customers,
            suppression_id: erased
                .suppression_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            consistency_token: erased.consistency_token,
        }))
    }

    async fn unmerge_prospect(
        &self,
        request: Request<UnmergeProspectRequest>,
    ) -> Result<Response<UnmergeProspectResponse>, Status> {
        let caller = svc_core::auth::caller(&request)?;
        let request = request.get_ref();
        let mut violations = svc_core::error::Violations::default();
        for (field, value) in [
            ("external_source", &request.external_source),
            ("external_id", &request.external_id),
        ] {
            if violations.storable(|| field.to_owned(), value) && value.trim().is_empty() {
                violations.add(field, "is empty; name the source link a merge moved");
            }
        }
        violations.finish(()).map_err(IngestError::Invalid)?;
        let unmerged = self
            .store
            .unmerge_prospect(
                caller.organization_id,
                caller.api_key_id,
                request.external_source.trim(),
                request.external_id.trim(),
            )
            .await
            .map_err(IngestError::from)?
            .ok_or(IngestError::NotFound("merge of that source link"))?;
        tracing::info!(
            survivor_id = unmerged.survivor_id,
            restored_id = unmerged.restored_id,
            api_key_id = caller.api_key_id,
            "prospect unmerged"
        );
        Ok(Response::new(UnmergeProspectResponse {
            survivor_id: unmerged.survivor_id.to_string(),
            restored_id: unmerged.restored_id.to_string(),
            consistency_token: unmerged.consistency_token,
        }))
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

    fn field_of(error: IngestError) -> String {
        match error {
            IngestError::Invalid(violations) => violations[0].field.clone(),
            other => panic!("not a violation: {other}"),
        }
    }

    #[test]
    fn an_erasure_names_one_person_and_bad_ones_name_their_field() {
        let request = |person| ErasePersonRequest {
            person: Some(person),
        };
        assert_eq!(
            person(&request(ProtoPerson::Email(" Ann@Acme.COM ".into()))).expect("email"),
            Person::Email("ann@acme.com".into())
        );
        assert_eq!(
            person(&request(ProtoPerson::ProspectId("42".into()))).expect("id"),
            Person::Prospect(42)
        );
        let bad = person(&request(ProtoPerson::Email("secret.person@@acme".into())))
            .expect_err("not an address");
        assert!(!format!("{bad:?}").contains("secret.person"), "{bad:?}");
        assert_eq!(field_of(bad), "email");
        assert_eq!(
            field_of(person(&ErasePersonRequest { person: None }).expect_err("none")),
            "email"
        );
        assert_eq!(
            field_of(person(&request(ProtoPerson::ProspectId("x".into()))).expect_err("bad id")),
            "prospect_id"
        );
    }
}

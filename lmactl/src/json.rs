//! ExportPersonData's answer as JSON, by hand (the generated messages have no serde). Field
//! names are the contract's; every field is present, empty text as "", an unset number or time
//! as null, so a reader never has to guess whether a field was left out; times are RFC 3339.

use std::collections::BTreeMap;

use lma_proto::v1::{Company, ExportPersonDataResponse, JobTitleLevel, LegacyCustomer, Prospect};
use serde_json::{Value, json};

fn time(at: Option<prost_types::Timestamp>) -> Value {
    at.map_or(Value::Null, |at| Value::String(at.to_string()))
}

/// A map in key order, so that the same data always prints the same.
fn sorted(map: &std::collections::HashMap<String, String>) -> BTreeMap<&str, &str> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

pub fn person_export(response: &ExportPersonDataResponse) -> Value {
    json!({
        "prospects": response.prospects.iter().map(prospect).collect::<Vec<_>>(),
        "legacy_customers": response.legacy_customers.iter().map(legacy_customer).collect::<Vec<_>>(),
        "suppressions": response.suppressions.iter().map(crate::suppression::to_json).collect::<Vec<_>>(),
    })
}

fn prospect(p: &Prospect) -> Value {
    let level = JobTitleLevel::try_from(p.job_title_level)
        .ok()
        .and_then(JobTitleLevel::as_stored);
    json!({
        "id": p.id,
        "company_id": p.company_id,
        "external_source": p.external_source,
        "external_id": p.external_id,
        "salutation": p.salutation,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "email": p.email,
        "job_title": p.job_title,
        "job_title_level": level,
        "department": p.department,
        "job_title_link": p.job_title_link,
        "address": p.address,
        "city": p.city,
        "state": p.state,
        "country": p.country,
        "country_code": p.country_code,
        "zip_code": p.zip_code,
        "phone": p.phone,
        "mobile_phone": p.mobile_phone,
        "tags": p.tags,
        "custom_fields": sorted(&p.custom_fields),
        "created_at": time(p.created_at),
        "updated_at": time(p.updated_at),
        "source_links": p.source_links.iter().map(|link| json!({
            "external_source": link.external_source,
            "external_id": link.external_id,
            "linked_at": time(link.linked_at),
        })).collect::<Vec<_>>(),
        "company": p.company.as_ref().map(company),
    })
}

fn company(c: &Company) -> Value {
    json!({
        "id": c.id,
        "domain": c.domain,
        "name": c.name,
        "industry": c.industry,
        "min_employees": c.min_employees,
        "max_employees": c.max_employees,
        "employee_size_link": c.employee_size_link,
        "revenue": c.revenue,
        "max_revenue": c.max_revenue,
        "address": c.address,
        "city": c.city,
        "state": c.state,
        "country": c.country,
        "country_code": c.country_code,
        "zip_code": c.zip_code,
        "phone": c.phone,
        "mobile_phone": c.mobile_phone,
        "external_source": c.external_source,
        "external_id": c.external_id,
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
    })
}

fn legacy_customer(customer: &LegacyCustomer) -> Value {
    json!({
        "id": customer.id,
        "external_source": customer.external_source,
        "external_id": customer.external_id,
        "columns": sorted(&customer.columns),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_maps_every_part() {
        let response = ExportPersonDataResponse {
            prospects: vec![Prospect {
                id: "5".to_owned(),
                email: "ann@acme.com".to_owned(),
                job_title_level: JobTitleLevel::CSuite.into(),
                tags: vec!["vip".to_owned()],
                company: Some(Company {
                    domain: "acme.com".to_owned(),
                    revenue: Some(1_000),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            legacy_customers: vec![LegacyCustomer {
                id: "9".to_owned(),
                columns: [("phone".to_owned(), "555".to_owned())].into(),
                ..Default::default()
            }],
            suppressions: vec![],
        };
        let json = person_export(&response);
        let prospect = &json["prospects"][0];
        assert_eq!(prospect["id"], "5");
        assert_eq!(prospect["job_title_level"], "c_suite");
        assert_eq!(prospect["tags"][0], "vip");
        assert_eq!(prospect["created_at"], Value::Null);
        assert_eq!(prospect["company"]["revenue"], 1_000);
        assert_eq!(prospect["company"]["max_revenue"], Value::Null);
        assert_eq!(json["legacy_customers"][0]["columns"]["phone"], "555");
        assert_eq!(json["suppressions"], json!([]));
    }
}

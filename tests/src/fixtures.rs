//! Records the tests write.

use lma_proto::v1::{CompanyRecord, JobTitleLevel, ProspectFilter, ProspectRecord};

/// Jane Doe, VP Sales at Acme Robotics (Berlin, Germany; Robotics; revenue 1.25 billion).
pub fn jane_doe() -> ProspectRecord {
    ProspectRecord {
        external_source: "crm".to_owned(),
        external_id: "crm-jane-doe".to_owned(),
        salutation: "Ms".to_owned(),
        first_name: "Jane".to_owned(),
        last_name: "Doe".to_owned(),
        email: "jane.doe@acme-robotics.com".to_owned(),
        job_title: "VP Sales".to_owned(),
        job_title_level: JobTitleLevel::Vp as i32,
        department: "Sales".to_owned(),
        city: "Berlin".to_owned(),
        country: "Germany".to_owned(),
        tags: vec!["webinar-2026".to_owned()],
        company: Some(CompanyRecord {
            domain: "acme-robotics.com".to_owned(),
            name: "Acme Robotics".to_owned(),
            industry: "Robotics".to_owned(),
            min_employees: Some(1_001),
            max_employees: Some(5_000),
            revenue: Some(1_250_000_000),
            city: "Berlin".to_owned(),
            country: "Germany".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A prospect at a company of its own, identified by `external_id`, with `revenue`.
pub fn prospect_with_revenue(external_id: &str, revenue: Option<i64>) -> ProspectRecord {
    let domain = format!("{external_id}-corp.com");
    ProspectRecord {
        external_source: "crm".to_owned(),
        external_id: external_id.to_owned(),
        first_name: "Pat".to_owned(),
        last_name: external_id.to_owned(),
        email: format!("pat@{domain}"),
        company: Some(CompanyRecord {
            domain,
            name: format!("{external_id} Corp"),
            industry: "Consulting".to_owned(),
            revenue,
            country: "France".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A filter on industries only.
pub fn industries(values: &[&str]) -> ProspectFilter {
    ProspectFilter {
        industries: values.iter().map(|v| (*v).to_owned()).collect(),
        ..Default::default()
    }
}

/// A filter on countries only.
pub fn countries(values: &[&str]) -> ProspectFilter {
    ProspectFilter {
        countries: values.iter().map(|v| (*v).to_owned()).collect(),
        ..Default::default()
    }
}

/// A free-text filter.
pub fn query(text: &str) -> ProspectFilter {
    ProspectFilter {
        query: text.to_owned(),
        ..Default::default()
    }
}

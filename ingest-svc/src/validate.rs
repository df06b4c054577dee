//! Turns API records into rows the store can write, or into field violations that name every
//! problem of the record at once. Limits mirror the column sizes in `migrations/`.

use lma_proto::v1::{CompanyRecord, JobTitleLevel, ProspectRecord};
use svc_core::FieldViolation;
use tokio_postgres::types::ToSql;

use crate::normalize;

/// Column limits, in characters (varchar(n) in migrations/V2__base_tables.sql).
mod limit {
    pub const EXTERNAL_SOURCE: usize = 100;
    pub const EXTERNAL_ID: usize = 200;
    pub const SALUTATION: usize = 20;
    pub const NAME_PART: usize = 100;
    pub const EMAIL: usize = 254;
    pub const JOB_TITLE: usize = 200;
    pub const DEPARTMENT: usize = 100;
    pub const LINK: usize = 2048;
    pub const ADDRESS: usize = 300;
    pub const PLACE: usize = 100;
    pub const ZIP_CODE: usize = 20;
    pub const PHONE: usize = 50;
    pub const COMPANY_NAME: usize = 300;
    pub const INDUSTRY: usize = 100;
    pub const TAG: usize = 100;
    pub const TAGS: usize = 100;
    pub const CUSTOM_FIELDS: usize = 100;
    pub const CUSTOM_FIELD_KEY: usize = 100;
    pub const CUSTOM_FIELD_VALUE: usize = 1000;
}

/// A company ready to be merged into `company`. `None` means "not given": it never overwrites.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanyRow {
    pub domain: String,
    pub name: Option<String>,
    pub industry: Option<String>,
    pub min_employees: Option<i32>,
    pub max_employees: Option<i32>,
    pub employee_size_link: Option<String>,
    pub revenue: Option<i64>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub zip_code: Option<String>,
    pub phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub external_source: String,
    pub external_id: Option<String>,
}

/// A prospect ready to be merged into `prospect`, with its company.
#[derive(Debug, Clone, PartialEq)]
pub struct ProspectRow {
    pub external_source: String,
    pub external_id: String,
    pub salutation: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub job_title: Option<String>,
    pub job_title_level: Option<&'static str>,
    pub department: Option<String>,
    pub job_title_link: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub zip_code: Option<String>,
    pub phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub tags: Vec<String>,
    pub custom_fields: serde_json::Value,
    pub company: CompanyRow,
}

impl CompanyRow {
    /// The `company` columns [`CompanyRow::sql_values`] gives, in order.
    pub const COLUMNS: &'static str = "domain, name, industry, min_employees, max_employees, \
         employee_size_link, revenue, address, city, state, country, zip_code, phone, \
         mobile_phone, external_source, external_id";

    /// Parameters of [`CompanyRow::COLUMNS`]: for the single upsert and the COPY into staging.
    pub fn sql_values(&self) -> [&(dyn ToSql + Sync); 16] {
        [
            &self.domain,
            &self.name,
            &self.industry,
            &self.min_employees,
            &self.max_employees,
            &self.employee_size_link,
            &self.revenue,
            &self.address,
            &self.city,
            &self.state,
            &self.country,
            &self.zip_code,
            &self.phone,
            &self.mobile_phone,
            &self.external_source,
            &self.external_id,
        ]
    }
}

impl ProspectRow {
    /// The `prospect` columns [`ProspectRow::sql_values`] gives, in order (without the
    /// organization and company).
    pub const COLUMNS: &'static str = "external_source, external_id, salutation, first_name, \
         last_name, email, job_title, job_title_level, department, job_title_link, address, \
         city, state, country, zip_code, phone, mobile_phone, tags, custom_fields";

    /// Parameters of [`ProspectRow::COLUMNS`]: for the single upsert and the COPY into staging.
    pub fn sql_values(&self) -> [&(dyn ToSql + Sync); 19] {
        [
            &self.external_source,
            &self.external_id,
            &self.salutation,
            &self.first_name,
            &self.last_name,
            &self.email,
            &self.job_title,
            &self.job_title_level,
            &self.department,
            &self.job_title_link,
            &self.address,
            &self.city,
            &self.state,
            &self.country,
            &self.zip_code,
            &self.phone,
            &self.mobile_phone,
            &self.tags,
            &self.custom_fields,
        ]
    }
}

/// Collects violations while fields are read, so a caller learns every problem at once.
struct Checker {
    prefix: &'static str,
    violations: Vec<FieldViolation>,
}

impl Checker {
    fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            violations: Vec::new(),
        }
    }

    fn violation(&mut self, field: &str, description: impl Into<String>) {
        self.violations.push(FieldViolation::new(
            format!("{}{field}", self.prefix),
            description,
        ));
    }

    /// Trimmed text; empty is "not given".
    fn text(&mut self, field: &str, value: &str, max_chars: usize) -> Option<String> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let chars = value.chars().count();
        if chars > max_chars {
            self.violation(
                field,
                format!("is {chars} characters long; at most {max_chars} are allowed"),
            );
            return None;
        }
        Some(value.to_owned())
    }

    fn required(&mut self, field: &str, value: &str, max_chars: usize) -> Option<String> {
        let text = self.text(field, value, max_chars);
        if text.is_none() && value.trim().is_empty() {
            self.violation(field, "is required");
        }
        text
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<FieldViolation>> {
        if self.violations.is_empty() {
            Ok(value)
        } else {
            Err(self.violations)
        }
    }
}

/// Validates a company record. `derived_domain` is used when the record names no domain (the
/// domain of a prospect's email).
pub fn company(
    record: &CompanyRecord,
    prefix: &'static str,
    derived_domain: Option<Result<String, normalize::DomainError>>,
) -> Result<CompanyRow, Vec<FieldViolation>> {
    let mut check = Checker::new(prefix);
    let domain = if record.domain.trim().is_empty() {
        match derived_domain {
            Some(Ok(domain)) => Some(domain),
            // Reported on the email field by the prospect's own check.
            Some(Err(_)) => None,
            None => {
                check.violation("domain", "is required");
                None
            }
        }
    } else {
        match normalize::company_domain(&record.domain) {
            Ok(domain) => Some(domain),
            Err(error) => {
                check.violation("domain", format!("{:?} {error}", record.domain));
                None
            }
        }
    };
    if let Some(revenue) = record.revenue
        && revenue < 0
    {
        check.violation(
            "revenue",
            format!("is {revenue}; revenue cannot be negative"),
        );
    }
    for (field, value) in [
        ("min_employees", record.min_employees),
        ("max_employees", record.max_employees),
    ] {
        if let Some(count) = value
            && count < 0
        {
            check.violation(
                field,
                format!("is {count}; an employee count cannot be negative"),
            );
        }
    }
    if let (Some(min), Some(max)) = (record.min_employees, record.max_employees)
        && min > max
    {
        check.violation(
            "min_employees",
            format!("is {min}, above max_employees {max}"),
        );
    }
    let row = CompanyRow {
        domain: domain.unwrap_or_default(),
        name: check.text("name", &record.name, limit::COMPANY_NAME),
        industry: check.text("industry", &record.industry, limit::INDUSTRY),
        min_employees: record.min_employees,
        max_employees: record.max_employees,
        employee_size_link: check.text(
            "employee_size_link",
            &record.employee_size_link,
            limit::LINK,
        ),
        revenue: record.revenue,
        address: check.text("address", &record.address, limit::ADDRESS),
        city: check.text("city", &record.city, limit::PLACE),
        state: check.text("state", &record.state, limit::PLACE),
        country: check.text("country", &record.country, limit::PLACE),
        zip_code: check.text("zip_code", &record.zip_code, limit::ZIP_CODE),
        phone: check.text("phone", &record.phone, limit::PHONE),
        mobile_phone: check.text("mobile_phone", &record.mobile_phone, limit::PHONE),
        external_source: check
            .text(
                "external_source",
                &record.external_source,
                limit::EXTERNAL_SOURCE,
            )
            .unwrap_or_default(),
        external_id: check.text("external_id", &record.external_id, limit::EXTERNAL_ID),
    };
    check.finish(row)
}

/// Validates a prospect record and its company.
pub fn prospect(record: &ProspectRecord) -> Result<ProspectRow, Vec<FieldViolation>> {
    let mut check = Checker::new("");
    let external_id = check.required("external_id", &record.external_id, limit::EXTERNAL_ID);
    let email = check
        .required("email", &record.email, limit::EMAIL)
        .map(|email| email.to_lowercase());
    let email_domain = email.as_deref().map(normalize::domain_of_email);
    let default_company = CompanyRecord::default();
    let company_record = record.company.as_ref().unwrap_or(&default_company);
    let explicit_domain = !company_record.domain.trim().is_empty();
    if let (Some(email), Some(Err(error))) = (&email, &email_domain) {
        // A free-mail (or otherwise company-less) address is a valid email: it only needs the
        // company named explicitly. Prospects always belong to a company (DESIGN.md section 4).
        if !error.is_no_company() {
            check.violation("email", format!("{email:?} {error}"));
        } else if !explicit_domain {
            check.violation(
                "email",
                format!(
                    "{email:?} {error}; give the company's domain or website to attach the \
                     prospect to a company"
                ),
            );
        }
    }
    let job_title_level = match JobTitleLevel::try_from(record.job_title_level) {
        Ok(level) => level.as_stored(),
        Err(_) => {
            check.violation(
                "job_title_level",
                format!("{} is not a known level", record.job_title_level),
            );
            None
        }
    };
    let tags = tags(&mut check, &record.tags);
    let custom_fields = custom_fields(&mut check, &record.custom_fields);
    let company = company(company_record, "company.", email_domain);
    let row = ProspectRow {
        external_source: check
            .text(
                "external_source",
                &record.external_source,
                limit::EXTERNAL_SOURCE,
            )
            .unwrap_or_default(),
        external_id: external_id.unwrap_or_default(),
        salutation: check.text("salutation", &record.salutation, limit::SALUTATION),
        first_name: check.text("first_name", &record.first_name, limit::NAME_PART),
        last_name: check.text("last_name", &record.last_name, limit::NAME_PART),
        email: email.unwrap_or_default(),
        job_title: check.text("job_title", &record.job_title, limit::JOB_TITLE),
        job_title_level,
        department: check.text("department", &record.department, limit::DEPARTMENT),
        job_title_link: check.text("job_title_link", &record.job_title_link, limit::LINK),
        address: check.text("address", &record.address, limit::ADDRESS),
        city: check.text("city", &record.city, limit::PLACE),
        state: check.text("state", &record.state, limit::PLACE),
        country: check.text("country", &record.country, limit::PLACE),
        zip_code: check.text("zip_code", &record.zip_code, limit::ZIP_CODE),
        phone: check.text("phone", &record.phone, limit::PHONE),
        mobile_phone: check.text("mobile_phone", &record.mobile_phone, limit::PHONE),
        tags,
        custom_fields,
        // Company violations come last, after the prospect's own.
        company: company.unwrap_or_else(|violations| {
            check.violations.extend(violations);
            CompanyRow::default()
        }),
    };
    check.finish(row)
}

fn tags(check: &mut Checker, tags: &[String]) -> Vec<String> {
    if tags.len() > limit::TAGS {
        check.violation(
            "tags",
            format!(
                "has {} tags; at most {} are allowed",
                tags.len(),
                limit::TAGS
            ),
        );
        return Vec::new();
    }
    let mut kept: Vec<String> = Vec::with_capacity(tags.len());
    for (index, tag) in tags.iter().enumerate() {
        if let Some(tag) = check.text(&format!("tags[{index}]"), tag, limit::TAG)
            && !kept.contains(&tag)
        {
            kept.push(tag);
        }
    }
    kept
}

fn custom_fields(
    check: &mut Checker,
    fields: &std::collections::HashMap<String, String>,
) -> serde_json::Value {
    if fields.len() > limit::CUSTOM_FIELDS {
        check.violation(
            "custom_fields",
            format!(
                "has {} entries; at most {} are allowed",
                fields.len(),
                limit::CUSTOM_FIELDS
            ),
        );
        return serde_json::Value::Object(serde_json::Map::new());
    }
    let mut object = serde_json::Map::with_capacity(fields.len());
    for (key, value) in fields {
        let field = format!("custom_fields[{key:?}]");
        if key.trim().is_empty() || key.chars().count() > limit::CUSTOM_FIELD_KEY {
            check.violation(
                &field,
                format!("keys must be 1 to {} characters", limit::CUSTOM_FIELD_KEY),
            );
        } else if value.chars().count() > limit::CUSTOM_FIELD_VALUE {
            check.violation(
                &field,
                format!(
                    "values must be at most {} characters",
                    limit::CUSTOM_FIELD_VALUE
                ),
            );
        } else {
            object.insert(
                key.trim().to_owned(),
                serde_json::Value::String(value.clone()),
            );
        }
    }
    serde_json::Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ProspectRecord {
        ProspectRecord {
            external_id: "p-1".into(),
            email: "Jane.Doe@Acme.com".into(),
            first_name: " Jane ".into(),
            last_name: "Doe".into(),
            ..Default::default()
        }
    }

    fn fields(violations: &[FieldViolation]) -> Vec<&str> {
        violations.iter().map(|v| v.field.as_str()).collect()
    }

    #[test]
    fn a_valid_record_takes_its_company_from_the_email() {
        let row = prospect(&record()).expect("valid");
        assert_eq!(row.email, "jane.doe@acme.com");
        assert_eq!(row.company.domain, "acme.com");
        assert_eq!(row.first_name.as_deref(), Some("Jane"));
        assert_eq!(row.salutation, None);
    }

    #[test]
    fn an_explicit_company_domain_wins_over_the_email() {
        let mut input = record();
        input.company = Some(CompanyRecord {
            domain: "https://www.beta.io/".into(),
            ..Default::default()
        });
        assert_eq!(prospect(&input).expect("valid").company.domain, "beta.io");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let input = ProspectRecord {
            email: "not-an-email".into(),
            first_name: "x".repeat(101),
            job_title_level: 99,
            company: Some(CompanyRecord {
                revenue: Some(-5),
                min_employees: Some(10),
                max_employees: Some(5),
                ..Default::default()
            }),
            ..Default::default()
        };
        let violations = prospect(&input).expect_err("invalid");
        assert_eq!(
            fields(&violations),
            [
                "external_id",
                "email",
                "job_title_level",
                "first_name",
                "company.revenue",
                "company.min_employees"
            ]
        );
    }

    #[test]
    fn a_company_needs_a_domain_of_its_own_when_no_email_gives_one() {
        let violations = company(&CompanyRecord::default(), "", None).expect_err("invalid");
        assert_eq!(fields(&violations), ["domain"]);
    }
}

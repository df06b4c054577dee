//! Turns API records into rows the store can write, or into field violations that name every
//! problem of the record at once. Limits mirror the column sizes in `migrations/`. Every text
//! is checked before any SQL: a value PostgreSQL cannot store (a NUL) is a violation of its
//! field, never a database error. Errors quote a caller's value only cut short
//! ([`svc_core::error::quoted`]).

use lma_proto::v1::{CompanyRecord, JobTitleLevel, ProspectRecord};
use svc_core::FieldViolation;
use svc_core::error::{Violations, quoted, unstorable_text};

use crate::normalize;
use crate::values::{self, stored};

/// Column limits, in characters (varchar(n) in migrations/V2__base_tables.sql).
pub(crate) mod limit {
    pub const EXTERNAL_SOURCE: usize = 100;
    /// Entries of an organization's source priority.
    pub const SOURCE_PRIORITY: usize = 100;
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
#[derive(Debug, Clone, Default, PartialEq, Hash)]
pub struct CompanyRow {
    pub domain: String,
    pub name: Option<String>,
    pub industry: Option<String>,
    pub min_employees: Option<i32>,
    pub max_employees: Option<i32>,
    pub employee_size_link: Option<String>,
    /// The amount, or the lower bound of a range.
    pub revenue: Option<i64>,
    /// `revenue` for an exact amount, the upper bound of a range; `None` for a range open
    /// upwards or unknown revenue. Written with `revenue`, never alone.
    pub max_revenue: Option<i64>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    /// The ISO 3166-1 alpha-2 code of `country`, when it is a known one.
    pub country_code: Option<String>,
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
    /// The ISO 3166-1 alpha-2 code of `country`, when it is a known one.
    pub country_code: Option<String>,
    pub zip_code: Option<String>,
    pub phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub tags: Vec<String>,
    pub custom_fields: serde_json::Value,
    pub company: CompanyRow,
    /// The suppression entry (policy hide) of the email: set by screening, not by the record,
    /// so that a prospect whose email moves to or away from a hidden address follows.
    pub suppressed_by: Option<i64>,
}

impl ProspectRow {
    /// The prospect's identity within its organization (`prospect`'s key).
    pub fn key(&self) -> (&str, &str) {
        (&self.external_source, &self.external_id)
    }
}

/// Reads a record's fields by the column rules, collecting every violation (svc-core's one
/// collector) with its field path under `prefix`.
struct Checker {
    prefix: &'static str,
    violations: Violations,
}

impl Checker {
    fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            violations: Violations::default(),
        }
    }

    fn violation(&mut self, field: &str, description: impl Into<String>) {
        self.violations
            .add(format!("{}{field}", self.prefix), description);
    }

    /// Trimmed text; empty is "not given".
    fn text(&mut self, field: &str, value: &str, max_chars: usize) -> Option<String> {
        let value = value.trim();
        if value.is_empty() || !self.storable(field, value) {
            return None;
        }
        self.within(field, value, max_chars)
            .then(|| value.to_owned())
    }

    /// Whether PostgreSQL can store `value`; a violation of `field` when it cannot.
    fn storable(&mut self, field: &str, value: &str) -> bool {
        let prefix = self.prefix;
        self.violations
            .storable(|| format!("{prefix}{field}"), value)
    }

    /// Whether `value` has at most `max_chars` characters; a violation of `field` when not.
    fn within(&mut self, field: &str, value: &str, max_chars: usize) -> bool {
        let chars = value.chars().count();
        if chars > max_chars {
            self.violation(
                field,
                format!("is {chars} characters long; at most {max_chars} are allowed"),
            );
        }
        chars <= max_chars
    }

    fn required(&mut self, field: &str, value: &str, max_chars: usize) -> Option<String> {
        let text = self.text(field, value, max_chars);
        if text.is_none() && value.trim().is_empty() {
            self.violation(field, "is required");
        }
        text
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<FieldViolation>> {
        self.violations.finish(value)
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
    } else if check.storable("domain", &record.domain) {
        match normalize::company_domain(&record.domain) {
            Ok(domain) => Some(domain),
            Err(error) => {
                check.violation("domain", format!("{} {error}", quoted(&record.domain)));
                None
            }
        }
    } else {
        None
    };
    if let Some(revenue) = record.revenue
        && revenue < 0
    {
        check.violation(
            "revenue",
            format!("is {revenue}; revenue cannot be negative"),
        );
    }
    let max_revenue = revenue_upper_bound(&mut check, record);
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
    let mut row = CompanyRow {
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
        max_revenue,
        address: check.text("address", &record.address, limit::ADDRESS),
        city: check.text("city", &record.city, limit::PLACE),
        state: check.text("state", &record.state, limit::PLACE),
        country: check.text("country", &record.country, limit::PLACE),
        country_code: None,
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
    let country = stored::country(&mut row.country);
    row.country_code = country.map(str::to_owned);
    stored::state(&mut row.state, country);
    stored::phone(&mut row.phone, country);
    stored::phone(&mut row.mobile_phone, country);
    stored::industry(&mut row.industry);
    check.finish(row)
}

/// The stored upper bound of a record's revenue: `max_revenue` for a range, none for a range
/// open upwards, the amount itself when neither is given (an exact amount, as records without
/// the bounds have always meant). A bound without the amount, below it, or both kinds of upper
/// end at once are violations.
fn revenue_upper_bound(check: &mut Checker, record: &CompanyRecord) -> Option<i64> {
    match (
        record.revenue,
        record.max_revenue,
        record.revenue_open_ended,
    ) {
        (_, Some(_), true) => {
            check.violation(
                "max_revenue",
                "is set with revenue_open_ended; a revenue range has one upper end",
            );
            None
        }
        (None, Some(max), false) => {
            check.violation(
                "max_revenue",
                format!("is {max} without revenue; a revenue range needs its lower bound"),
            );
            None
        }
        (None, None, true) => {
            check.violation(
                "revenue_open_ended",
                "is set without revenue; an open revenue range needs its lower bound",
            );
            None
        }
        (Some(min), Some(max), false) if max < min => {
            check.violation("max_revenue", format!("is {max}, below revenue {min}"));
            None
        }
        (Some(_), Some(max), false) => Some(max),
        (Some(_), None, true) => None,
        (amount, None, false) => amount,
    }
}

/// Validates a prospect record and its company.
pub fn prospect(record: &ProspectRecord) -> Result<ProspectRow, Vec<FieldViolation>> {
    let mut check = Checker::new("");
    let external_id = check.required("external_id", &record.external_id, limit::EXTERNAL_ID);
    // Checked as RFC 5322 defines an address (values::normalize_email), then again for length
    // as stored, in lower case, which may be longer ("İ").
    let email = check
        .required("email", &record.email, limit::EMAIL)
        .and_then(|email| match values::normalize_email(&email) {
            Ok(email) => Some(email),
            Err(error) => {
                check.violation("email", format!("{} {error}", quoted(&email)));
                None
            }
        })
        .filter(|email| check.within("email", email, limit::EMAIL));
    let email_domain = match &email {
        Some(email) => Some(normalize::domain_of_email(email)),
        // Reported on the email field: no company domain is required for it as well.
        None if !record.email.trim().is_empty() => Some(Err(normalize::DomainError::NotAnEmail)),
        None => None,
    };
    let default_company = CompanyRecord::default();
    let company_record = record.company.as_ref().unwrap_or(&default_company);
    let explicit_domain = !company_record.domain.trim().is_empty();
    if let (Some(email), Some(Err(error))) = (&email, &email_domain) {
        // A free-mail (or otherwise company-less) address is a valid email: it only needs the
        // company named explicitly. Prospects always belong to a company (docs/ARCHITECTURE.md).
        if !error.is_no_company() {
            check.violation("email", format!("{} {error}", quoted(email)));
        } else if !explicit_domain {
            check.violation(
                "email",
                format!(
                    "{} {error}; give the company's domain or website to attach the prospect \
                     to a company",
                    quoted(email)
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
    let mut row = ProspectRow {
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
        country_code: None,
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
        suppressed_by: None,
    };
    // A prospect's number without a country of its own is read in its company's.
    let own = stored::country(&mut row.country);
    row.country_code = own.map(str::to_owned);
    let country = own.or(row.company.country_code.as_deref());
    stored::state(&mut row.state, country);
    stored::phone(&mut row.phone, country);
    stored::phone(&mut row.mobile_phone, country);
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
        let field = custom_field_path(key);
        if key.trim().is_empty() || key.chars().count() > limit::CUSTOM_FIELD_KEY {
            check.violation(
                &field,
                format!("keys must be 1 to {} characters", limit::CUSTOM_FIELD_KEY),
            );
        } else if let Some(why) = unstorable_text(key) {
            check.violation(&field, format!("the key {why}"));
        } else if value.chars().count() > limit::CUSTOM_FIELD_VALUE {
            check.violation(
                &field,
                format!(
                    "values must be at most {} characters",
                    limit::CUSTOM_FIELD_VALUE
                ),
            );
        } else if let Some(why) = unstorable_text(value) {
            check.violation(&field, format!("the value {why}"));
        } else {
            object.insert(
                key.trim().to_owned(),
                serde_json::Value::String(value.clone()),
            );
        }
    }
    serde_json::Value::Object(object)
}

/// The field path of a custom field in violations: `custom_fields["key"]`, the key quoted (and
/// cut short when long).
/// An organization's source priority as SetSourcePriority gives it: each entry an
/// external_source name or a prefix ending in `*`, trimmed, each once.
pub fn source_priority(sources: &[String]) -> Result<Vec<String>, Vec<FieldViolation>> {
    let mut violations = Violations::default();
    if sources.len() > limit::SOURCE_PRIORITY {
        violations.add(
            "sources",
            format!(
                "has {} entries; at most {} are allowed",
                sources.len(),
                limit::SOURCE_PRIORITY
            ),
        );
    }
    let mut seen = std::collections::HashSet::new();
    let mut priority = Vec::with_capacity(sources.len());
    for (index, source) in sources.iter().enumerate() {
        let field = || format!("sources[{index}]");
        if !violations.storable(field, source) {
            continue;
        }
        let source = source.trim();
        let chars = source.chars().count();
        if source.is_empty() || source == "*" {
            violations.add(
                field(),
                "is empty; name an external_source or a prefix ending in *",
            );
        } else if chars > limit::EXTERNAL_SOURCE + 1 {
            violations.add(
                field(),
                format!(
                    "has {chars} characters; an external_source has at most {}",
                    limit::EXTERNAL_SOURCE
                ),
            );
        } else if !seen.insert(source) {
            violations.add(field(), format!("repeats {}", quoted(source)));
        } else {
            priority.push(source.to_owned());
        }
    }
    violations.finish(priority)
}

pub fn custom_field_path(key: &str) -> String {
    format!("custom_fields[{}]", quoted(key))
}

/// The external id a row error names: the record's own when it is one that can be stored, and
/// none otherwise (the record's violation quotes it, cut short). An error never echoes an
/// oversized or unstorable id whole.
pub fn reportable_external_id(external_id: &str) -> &str {
    let external_id = external_id.trim();
    if unstorable_text(external_id).is_none() && external_id.chars().count() <= limit::EXTERNAL_ID {
        external_id
    } else {
        ""
    }
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
    fn an_email_is_an_rfc_5322_dot_atom_before_the_at() {
        for (email, reason) in [
            ("dot..dot@acme.com", "has two dots in a row before the @"),
            (
                "<script>@acme.com",
                "has a character that is not allowed before the @ ('<')",
            ),
            (
                ".jane@acme.com",
                "starts or ends the part before the @ with a dot",
            ),
            (
                "\"jane doe\"@acme.com",
                "has a quoted part before the @, which is not accepted",
            ),
        ] {
            let mut input = record();
            input.email = email.into();
            let violations = prospect(&input).expect_err(email);
            assert_eq!(fields(&violations), ["email"], "{email}");
            assert_eq!(
                violations[0].description,
                format!("{} {reason}", quoted(email)),
                "{email}"
            );
        }
        let mut input = record();
        input.email = "o'brien+sales@Acme.com".into();
        assert_eq!(
            prospect(&input).expect("valid").email,
            "o'brien+sales@acme.com"
        );
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
    fn revenue_bounds_are_stored_as_given_or_as_the_exact_amount() {
        let stored = |revenue, max_revenue, revenue_open_ended| {
            let mut input = record();
            input.company = Some(CompanyRecord {
                revenue,
                max_revenue,
                revenue_open_ended,
                ..Default::default()
            });
            prospect(&input).map(|row| (row.company.revenue, row.company.max_revenue))
        };
        assert_eq!(stored(Some(5), None, false), Ok((Some(5), Some(5))));
        assert_eq!(stored(Some(5), Some(9), false), Ok((Some(5), Some(9))));
        assert_eq!(stored(Some(5), Some(5), false), Ok((Some(5), Some(5))));
        assert_eq!(stored(Some(5), None, true), Ok((Some(5), None)));
        assert_eq!(stored(None, None, false), Ok((None, None)));
        for (revenue, max_revenue, open, field, description) in [
            (
                Some(9),
                Some(5),
                false,
                "company.max_revenue",
                "is 5, below revenue 9",
            ),
            (
                None,
                Some(5),
                false,
                "company.max_revenue",
                "is 5 without revenue; a revenue range needs its lower bound",
            ),
            (
                Some(1),
                Some(5),
                true,
                "company.max_revenue",
                "is set with revenue_open_ended; a revenue range has one upper end",
            ),
            (
                None,
                None,
                true,
                "company.revenue_open_ended",
                "is set without revenue; an open revenue range needs its lower bound",
            ),
        ] {
            let violations = stored(revenue, max_revenue, open).expect_err(field);
            assert_eq!(fields(&violations), [field]);
            assert_eq!(violations[0].description, description);
        }
    }

    /// Every text of a record is a field PostgreSQL would refuse whole with a NUL in it.
    #[test]
    fn a_nul_in_any_text_is_a_violation_of_that_field() {
        type Setter = fn(&mut ProspectRecord);
        type CompanySetter = fn(&mut CompanyRecord);
        let cases: Vec<(&str, Setter)> = vec![
            ("external_source", |r| r.external_source = "a\0".into()),
            ("external_id", |r| r.external_id = "a\0".into()),
            ("salutation", |r| r.salutation = "a\0".into()),
            ("first_name", |r| r.first_name = "a\0".into()),
            ("last_name", |r| r.last_name = "a\0".into()),
            ("email", |r| r.email = "a\0@acme.com".into()),
            ("job_title", |r| r.job_title = "a\0".into()),
            ("department", |r| r.department = "a\0".into()),
            ("job_title_link", |r| r.job_title_link = "a\0".into()),
            ("address", |r| r.address = "a\0".into()),
            ("city", |r| r.city = "a\0".into()),
            ("state", |r| r.state = "a\0".into()),
            ("country", |r| r.country = "a\0".into()),
            ("zip_code", |r| r.zip_code = "a\0".into()),
            ("phone", |r| r.phone = "a\0".into()),
            ("mobile_phone", |r| r.mobile_phone = "a\0".into()),
            ("tags[1]", |r| r.tags = vec!["ok".into(), "a\0".into()]),
            ("custom_fields[\"a\\0\"]", |r| {
                r.custom_fields.insert("a\0".into(), "ok".into());
            }),
            ("custom_fields[\"k\"]", |r| {
                r.custom_fields.insert("k".into(), "a\0".into());
            }),
        ];
        let company_cases: Vec<(&str, CompanySetter)> = vec![
            ("company.domain", |c| c.domain = "acme\0.com".into()),
            ("company.name", |c| c.name = "a\0".into()),
            ("company.industry", |c| c.industry = "a\0".into()),
            ("company.employee_size_link", |c| {
                c.employee_size_link = "a\0".into()
            }),
            ("company.address", |c| c.address = "a\0".into()),
            ("company.city", |c| c.city = "a\0".into()),
            ("company.state", |c| c.state = "a\0".into()),
            ("company.country", |c| c.country = "a\0".into()),
            ("company.zip_code", |c| c.zip_code = "a\0".into()),
            ("company.phone", |c| c.phone = "a\0".into()),
            ("company.mobile_phone", |c| c.mobile_phone = "a\0".into()),
            ("company.external_source", |c| {
                c.external_source = "a\0".into()
            }),
            ("company.external_id", |c| c.external_id = "a\0".into()),
        ];
        let mut checked = Vec::new();
        for (field, set) in cases {
            let mut input = record();
            set(&mut input);
            checked.push((field, prospect(&input)));
        }
        for (field, set) in company_cases {
            let mut input = record();
            set(input.company.get_or_insert_with(Default::default));
            checked.push((field, prospect(&input)));
        }
        for (field, result) in checked {
            let violations = result.expect_err(field);
            assert_eq!(fields(&violations), [field], "{violations:?}");
            assert!(violations[0].description.contains("NUL"), "{violations:?}");
        }
    }

    #[test]
    fn an_email_is_checked_for_length_as_stored_in_lower_case() {
        let mut input = record();
        // 223 characters as sent, 255 in lower case ("İ" is "i̇"); the part before the @ is
        // 64 octets as sent, the most RFC 5321 allows.
        let host = format!(
            "{}.{}.{}.com",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(58)
        );
        input.email = format!("{}@{host}", "İ".repeat(32));
        let violations = prospect(&input).expect_err("too long once lower-cased");
        assert_eq!(fields(&violations), ["email"]);
        assert!(
            violations[0].description.contains("at most 254"),
            "{violations:?}"
        );
    }

    #[test]
    fn errors_quote_long_values_cut_short() {
        let huge = "k".repeat(2 * 1024 * 1024);
        let mut input = record();
        input.custom_fields.insert(huge.clone(), "v".into());
        input.email = format!("{huge}@acme");
        input.company = Some(CompanyRecord {
            domain: huge.clone(),
            ..Default::default()
        });
        let violations = prospect(&input).expect_err("invalid");
        for violation in &violations {
            assert!(
                violation.field.len() + violation.description.len() < 300,
                "{} {}",
                violation.field.len(),
                violation.description.len()
            );
        }
        assert_eq!(reportable_external_id(&huge), "");
        assert_eq!(reportable_external_id("a\0"), "");
        assert_eq!(reportable_external_id(" p-1 "), "p-1");
    }

    #[test]
    fn a_company_needs_a_domain_of_its_own_when_no_email_gives_one() {
        let violations = company(&CompanyRecord::default(), "", None).expect_err("invalid");
        assert_eq!(fields(&violations), ["domain"]);
    }
}

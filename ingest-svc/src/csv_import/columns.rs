//! Header columns: aliases people use for each field, and how a cell sets a record field.

use std::collections::HashMap;

use std::num::{IntErrorKind, ParseIntError};

use lma_proto::v1::{CompanyRecord, JobTitleLevel, ProspectRecord};
use svc_core::FieldViolation;
use svc_core::error::{quoted, unstorable_text};

use crate::validate;

/// A field a CSV column fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    ExternalSource,
    ExternalId,
    Salutation,
    FirstName,
    LastName,
    Email,
    JobTitle,
    JobTitleLevel,
    Department,
    JobTitleLink,
    Address,
    City,
    State,
    Country,
    ZipCode,
    Phone,
    MobilePhone,
    Tags,
    CompanyDomain,
    CompanyName,
    Industry,
    MinEmployees,
    MaxEmployees,
    EmployeeSizeLink,
    Revenue,
    CompanyAddress,
    CompanyCity,
    CompanyState,
    CompanyCountry,
    CompanyZipCode,
    CompanyPhone,
    CompanyExternalId,
    /// `custom.<key>` or `custom_fields.<key>`.
    Custom(String),
}

/// Aliases by normalized name (lower case, letters and digits only): "First Name",
/// "first_name" and "firstName" are all "firstname".
const ALIASES: &[(&str, Column)] = &[
    ("externalsource", Column::ExternalSource),
    ("source", Column::ExternalSource),
    ("externalid", Column::ExternalId),
    ("id", Column::ExternalId),
    ("recordid", Column::ExternalId),
    ("contactid", Column::ExternalId),
    ("leadid", Column::ExternalId),
    ("prospectid", Column::ExternalId),
    ("crmid", Column::ExternalId),
    ("salutation", Column::Salutation),
    ("title", Column::Salutation),
    ("prefix", Column::Salutation),
    ("firstname", Column::FirstName),
    ("givenname", Column::FirstName),
    ("forename", Column::FirstName),
    ("lastname", Column::LastName),
    ("surname", Column::LastName),
    ("familyname", Column::LastName),
    ("email", Column::Email),
    ("emailaddress", Column::Email),
    ("workemail", Column::Email),
    ("businessemail", Column::Email),
    ("mail", Column::Email),
    ("jobtitle", Column::JobTitle),
    ("position", Column::JobTitle),
    ("role", Column::JobTitle),
    ("jobtitlelevel", Column::JobTitleLevel),
    ("seniority", Column::JobTitleLevel),
    ("level", Column::JobTitleLevel),
    ("department", Column::Department),
    ("jobtitlelink", Column::JobTitleLink),
    ("linkedin", Column::JobTitleLink),
    ("linkedinurl", Column::JobTitleLink),
    ("profileurl", Column::JobTitleLink),
    ("address", Column::Address),
    ("street", Column::Address),
    ("streetaddress", Column::Address),
    ("city", Column::City),
    ("state", Column::State),
    ("region", Column::State),
    ("province", Column::State),
    ("country", Column::Country),
    ("zipcode", Column::ZipCode),
    ("zip", Column::ZipCode),
    ("postalcode", Column::ZipCode),
    ("postcode", Column::ZipCode),
    ("phone", Column::Phone),
    ("phonenumber", Column::Phone),
    ("workphone", Column::Phone),
    ("mobilephone", Column::MobilePhone),
    ("mobile", Column::MobilePhone),
    ("cellphone", Column::MobilePhone),
    ("tags", Column::Tags),
    ("companydomain", Column::CompanyDomain),
    ("domain", Column::CompanyDomain),
    ("website", Column::CompanyDomain),
    ("companywebsite", Column::CompanyDomain),
    ("companyurl", Column::CompanyDomain),
    ("url", Column::CompanyDomain),
    ("companyname", Column::CompanyName),
    ("company", Column::CompanyName),
    ("organization", Column::CompanyName),
    ("organisation", Column::CompanyName),
    ("account", Column::CompanyName),
    ("accountname", Column::CompanyName),
    ("industry", Column::Industry),
    ("minemployees", Column::MinEmployees),
    ("employeesmin", Column::MinEmployees),
    ("maxemployees", Column::MaxEmployees),
    ("employeesmax", Column::MaxEmployees),
    ("employeesizelink", Column::EmployeeSizeLink),
    ("revenue", Column::Revenue),
    ("annualrevenue", Column::Revenue),
    ("companyaddress", Column::CompanyAddress),
    ("companycity", Column::CompanyCity),
    ("companystate", Column::CompanyState),
    ("companycountry", Column::CompanyCountry),
    ("companyzipcode", Column::CompanyZipCode),
    ("companyzip", Column::CompanyZipCode),
    ("companypostalcode", Column::CompanyZipCode),
    ("companyphone", Column::CompanyPhone),
    ("companyexternalid", Column::CompanyExternalId),
    ("companyid", Column::CompanyExternalId),
];

/// The field names used in reports and errors ("company.revenue").
impl Column {
    pub fn field(&self) -> String {
        let name = match self {
            Column::ExternalSource => "external_source",
            Column::ExternalId => "external_id",
            Column::Salutation => "salutation",
            Column::FirstName => "first_name",
            Column::LastName => "last_name",
            Column::Email => "email",
            Column::JobTitle => "job_title",
            Column::JobTitleLevel => "job_title_level",
            Column::Department => "department",
            Column::JobTitleLink => "job_title_link",
            Column::Address => "address",
            Column::City => "city",
            Column::State => "state",
            Column::Country => "country",
            Column::ZipCode => "zip_code",
            Column::Phone => "phone",
            Column::MobilePhone => "mobile_phone",
            Column::Tags => "tags",
            Column::CompanyDomain => "company.domain",
            Column::CompanyName => "company.name",
            Column::Industry => "company.industry",
            Column::MinEmployees => "company.min_employees",
            Column::MaxEmployees => "company.max_employees",
            Column::EmployeeSizeLink => "company.employee_size_link",
            Column::Revenue => "company.revenue",
            Column::CompanyAddress => "company.address",
            Column::CompanyCity => "company.city",
            Column::CompanyState => "company.state",
            Column::CompanyCountry => "company.country",
            Column::CompanyZipCode => "company.zip_code",
            Column::CompanyPhone => "company.phone",
            Column::CompanyExternalId => "company.external_id",
            Column::Custom(key) => return validate::custom_field_path(key),
        };
        name.to_owned()
    }

    /// Sets the record field from a cell; numbers and levels that do not parse are violations.
    pub fn set(&self, record: &mut ProspectRecord, value: &str) -> Result<(), FieldViolation> {
        let text = value.trim();
        let company = || CompanyRecord::default();
        match self {
            Column::ExternalSource => record.external_source = text.to_owned(),
            Column::ExternalId => record.external_id = text.to_owned(),
            Column::Salutation => record.salutation = text.to_owned(),
            Column::FirstName => record.first_name = text.to_owned(),
            Column::LastName => record.last_name = text.to_owned(),
            Column::Email => record.email = text.to_owned(),
            Column::JobTitle => record.job_title = text.to_owned(),
            Column::JobTitleLevel => {
                record.job_title_level = job_title_level(text).ok_or_else(|| {
                    self.violation(format!("{} is not a known level", quoted(text)))
                })? as i32;
            }
            Column::Department => record.department = text.to_owned(),
            Column::JobTitleLink => record.job_title_link = text.to_owned(),
            Column::Address => record.address = text.to_owned(),
            Column::City => record.city = text.to_owned(),
            Column::State => record.state = text.to_owned(),
            Column::Country => record.country = text.to_owned(),
            Column::ZipCode => record.zip_code = text.to_owned(),
            Column::Phone => record.phone = text.to_owned(),
            Column::MobilePhone => record.mobile_phone = text.to_owned(),
            Column::Tags => {
                record.tags = text
                    .split(['|', ',', ';'])
                    .map(str::trim)
                    .filter(|tag| !tag.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            Column::Custom(key) => {
                if !text.is_empty() {
                    record.custom_fields.insert(key.clone(), text.to_owned());
                }
            }
            company_column => {
                let company = record.company.get_or_insert_with(company);
                match company_column {
                    Column::CompanyDomain => company.domain = text.to_owned(),
                    Column::CompanyName => company.name = text.to_owned(),
                    Column::Industry => company.industry = text.to_owned(),
                    Column::MinEmployees => company.min_employees = self.number(text)?,
                    Column::MaxEmployees => company.max_employees = self.number(text)?,
                    Column::EmployeeSizeLink => company.employee_size_link = text.to_owned(),
                    Column::Revenue => company.revenue = self.number(text)?,
                    Column::CompanyAddress => company.address = text.to_owned(),
                    Column::CompanyCity => company.city = text.to_owned(),
                    Column::CompanyState => company.state = text.to_owned(),
                    Column::CompanyCountry => company.country = text.to_owned(),
                    Column::CompanyZipCode => company.zip_code = text.to_owned(),
                    Column::CompanyPhone => company.phone = text.to_owned(),
                    Column::CompanyExternalId => company.external_id = text.to_owned(),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn violation(&self, description: String) -> FieldViolation {
        FieldViolation::new(self.field(), description)
    }

    /// A whole number; empty is "not given". Thousands separators (`1,000` `1 000` `1_000`)
    /// are accepted, decimals and units are not.
    fn number<T>(&self, text: &str) -> Result<Option<T>, FieldViolation>
    where
        T: std::str::FromStr<Err = ParseIntError> + std::fmt::Display + Bounded,
    {
        if text.is_empty() {
            return Ok(None);
        }
        let digits: String = text
            .chars()
            .filter(|c| !matches!(c, ',' | '_' | ' ' | '\u{a0}'))
            .collect();
        digits.parse::<T>().map(Some).map_err(|error| {
            self.violation(match error.kind() {
                IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => format!(
                    "{} is out of range ({} to {})",
                    quoted(text),
                    T::MIN,
                    T::MAX
                ),
                _ => format!("{} is not a whole number", quoted(text)),
            })
        })
    }
}

/// The range of a number column's type, for its error message.
trait Bounded {
    const MIN: Self;
    const MAX: Self;
}

impl Bounded for i32 {
    const MIN: Self = i32::MIN;
    const MAX: Self = i32::MAX;
}

impl Bounded for i64 {
    const MIN: Self = i64::MIN;
    const MAX: Self = i64::MAX;
}

/// Seniority from free text: the stored names and common spellings.
fn job_title_level(text: &str) -> Option<JobTitleLevel> {
    let key: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match key.as_str() {
        "" => JobTitleLevel::Unspecified,
        "owner" | "founder" | "partner" | "cofounder" => JobTitleLevel::Owner,
        "csuite" | "clevel" | "cxo" | "executive" | "chief" => JobTitleLevel::CSuite,
        "vp" | "vicepresident" | "head" | "headof" => JobTitleLevel::Vp,
        "director" => JobTitleLevel::Director,
        "manager" => JobTitleLevel::Manager,
        "senior" | "lead" => JobTitleLevel::Senior,
        "entry" | "junior" | "associate" | "intern" => JobTitleLevel::Entry,
        "other" => JobTitleLevel::Other,
        _ => return None,
    })
}

/// How a header maps to fields.
pub struct HeaderColumns {
    /// Per column position: its field, or `None` for an unknown column.
    pub columns: Vec<Option<Column>>,
    /// Per column position: its name in the header, trimmed, for row errors.
    pub names: Vec<String>,
    pub unknown: Vec<String>,
    /// Header name -> field name, for the report.
    pub mapping: HashMap<String, String>,
}

fn normalized(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Header names listed in the error about missing columns.
const LISTED_COLUMNS: usize = 10;

/// Maps a header; fails when a required column is missing, two columns name one field, or a
/// name cannot be stored (a NUL: in a UTF-16 file without byte-order mark, for one).
pub fn map_header(header: &[String]) -> Result<HeaderColumns, String> {
    let mut columns = Vec::with_capacity(header.len());
    let mut names = Vec::with_capacity(header.len());
    let mut unknown = Vec::new();
    let mut mapping = HashMap::new();
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (index, name) in header.iter().enumerate() {
        if let Some(why) = unstorable_text(name) {
            return Err(format!(
                "column {} of the header {why} (a UTF-16 file needs a byte-order mark)",
                index + 1
            ));
        }
        let trimmed = name.trim().trim_start_matches('\u{feff}');
        let custom = ["custom.", "custom_fields.", "custom:"]
            .iter()
            .find_map(|prefix| {
                trimmed
                    .get(..prefix.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
                    .then(|| trimmed[prefix.len()..].trim())
            });
        let column = match custom {
            Some(key) if !key.is_empty() => Some(Column::Custom(key.to_owned())),
            _ => {
                let key = normalized(trimmed);
                ALIASES
                    .iter()
                    .find(|(alias, _)| *alias == key)
                    .map(|(_, column)| column.clone())
            }
        };
        match &column {
            Some(column) => {
                let field = column.field();
                if let Some(other) = seen.insert(field.clone(), trimmed) {
                    return Err(format!(
                        "columns {} and {} both map to {field}; keep one",
                        quoted(other),
                        quoted(trimmed)
                    ));
                }
                mapping.insert(trimmed.to_owned(), field);
            }
            None if !trimmed.is_empty() => unknown.push(trimmed.to_owned()),
            None => {}
        }
        columns.push(column);
        names.push(trimmed.to_owned());
    }
    let missing: Vec<&str> = ["external_id", "email"]
        .into_iter()
        .filter(|field| !seen.contains_key(*field))
        .collect();
    if !missing.is_empty() {
        let mut found: Vec<String> = names
            .iter()
            .take(LISTED_COLUMNS)
            .map(|name| quoted(name))
            .collect();
        if names.len() > LISTED_COLUMNS {
            found.push(format!("and {} more", names.len() - LISTED_COLUMNS));
        }
        return Err(format!(
            "the header has no {} column (found: {}); nothing was imported",
            missing.join(" and no "),
            found.join(", ")
        ));
    }
    Ok(HeaderColumns {
        columns,
        names,
        unknown,
        mapping,
    })
}

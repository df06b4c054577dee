//! Header columns: which field each column of a header fills ([`vocabulary`]), and how a cell
//! sets a record field.

mod vocabulary;

use std::collections::HashMap;

use std::num::{IntErrorKind, ParseIntError};

use lma_proto::v1::{CompanyRecord, JobTitleLevel, ProspectRecord};
use svc_core::FieldViolation;
use svc_core::error::{quoted, unstorable_text};

use super::CsvOptions;
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
    /// One head count ("250"): both the lower and the upper bound of the employee range.
    EmployeeCount,
    /// Revenue in thousands ("1,200" is 1,200,000).
    RevenueInThousands,
    /// The email of a file without an id column: also the record's key within its source.
    EmailAsKey,
    /// `custom.<key>` or `custom_fields.<key>`.
    Custom(String),
}

/// The field names used in reports and errors ("company.revenue").
impl Column {
    pub fn field(&self) -> String {
        let name = match self {
            Column::ExternalSource => "external_source",
            Column::ExternalId => "external_id",
            Column::Salutation => "salutation",
            Column::FirstName => "first_name",
            Column::LastName => "last_name",
            Column::Email | Column::EmailAsKey => "email",
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
            Column::Revenue | Column::RevenueInThousands => "company.revenue",
            Column::EmployeeCount => "company.employees",
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
            Column::EmailAsKey => {
                record.email = text.to_owned();
                // Lower case, as the email is stored: `Ann@acme.com` and `ann@acme.com` are one
                // record.
                record.external_id = text.to_lowercase();
            }
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
                    Column::EmployeeCount => {
                        let count = self.number(text)?;
                        company.min_employees = count;
                        company.max_employees = count;
                    }
                    Column::RevenueInThousands => {
                        company.revenue = match self.number::<i64>(text)? {
                            Some(thousands) => {
                                Some(thousands.checked_mul(1_000).ok_or_else(|| {
                                    self.violation(format!(
                                        "{} thousand is out of range (at most {})",
                                        quoted(text),
                                        i64::MAX / 1_000
                                    ))
                                })?)
                            }
                            None => None,
                        };
                    }
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
    /// The tool whose export this is, when the header says so unambiguously.
    pub vendor: Option<Vendor>,
}

pub use vocabulary::Vendor;

impl HeaderColumns {
    /// The options the rows are read with: a tool's export takes the tool's name as the
    /// external_source of rows that name none, unless the call set one.
    pub fn read_options(&self, options: &CsvOptions) -> CsvOptions {
        let mut options = options.clone();
        if let Some(vendor) = self.vendor
            && !options.source_overrides
        {
            vendor.name().clone_into(&mut options.external_source);
        }
        options
    }
}

/// Header names listed in the error about missing columns.
const LISTED_COLUMNS: usize = 10;

/// Maps a header; fails when the email column is missing, two columns name one field, or a
/// name cannot be stored (a NUL: in a UTF-16 file without byte-order mark, for one). Without an
/// external_id column the email is the record's key.
pub fn map_header(header: &[String]) -> Result<HeaderColumns, String> {
    let mut columns = Vec::with_capacity(header.len());
    let mut names = Vec::with_capacity(header.len());
    let mut unknown = Vec::new();
    let mut mapping = HashMap::new();
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut known = Vec::new();
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
            _ => vocabulary::lookup(&vocabulary::normalized(trimmed)).map(|meaning| {
                known.push(meaning);
                meaning.column.clone()
            }),
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
    if !seen.contains_key("email") {
        let mut found: Vec<String> = names
            .iter()
            .take(LISTED_COLUMNS)
            .map(|name| quoted(name))
            .collect();
        if names.len() > LISTED_COLUMNS {
            found.push(format!("and {} more", names.len() - LISTED_COLUMNS));
        }
        return Err(format!(
            "the header has no email column (found: {}); nothing was imported",
            found.join(", ")
        ));
    }
    let id = known
        .iter()
        .copied()
        .find(|meaning| meaning.column == Column::ExternalId);
    if id.is_none() {
        for column in columns.iter_mut().flatten() {
            if *column == Column::Email {
                *column = Column::EmailAsKey;
            }
        }
    }
    Ok(HeaderColumns {
        vendor: vocabulary::file_vendor(&known, id),
        columns,
        names,
        unknown,
        mapping,
    })
}

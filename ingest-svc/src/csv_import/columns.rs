//! Header columns: which field each column of a header fills ([`vocabulary`]), and how a cell
//! sets a record field.

mod vocabulary;

use std::collections::HashMap;

use lma_proto::v1::{ColumnDestination, ColumnSource, CompanyRecord, ProspectRecord};
use svc_core::FieldViolation;
use svc_core::error::{quoted, unstorable_text};

use super::CsvOptions;
use crate::{validate, values};

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
                record.job_title_level = values::parse_seniority(text)
                    .map_err(|error| self.violation(format!("{} {error}", quoted(text))))?
                    as i32;
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
                    Column::MinEmployees => {
                        company.min_employees = self.employees(text)?.map(|count| count.min);
                    }
                    Column::MaxEmployees => {
                        // A range in the max column ("10,001+") gives its upper end, if any.
                        company.max_employees = self.employees(text)?.and_then(|count| count.max);
                    }
                    Column::EmployeeSizeLink => company.employee_size_link = text.to_owned(),
                    Column::Revenue => set_revenue(company, self.revenue(text, false)?),
                    Column::EmployeeCount => {
                        let count = self.employees(text)?;
                        company.min_employees = count.map(|count| count.min);
                        company.max_employees = count.and_then(|count| count.max);
                    }
                    Column::RevenueInThousands => {
                        set_revenue(company, self.revenue(text, true)?);
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

    /// An employee count or range as exports write them ("2,300", "11-50", "10,001+");
    /// empty is "not given".
    fn employees(&self, text: &str) -> Result<Option<values::Employees>, FieldViolation> {
        if text.is_empty() {
            return Ok(None);
        }
        values::parse_employees(text)
            .map(Some)
            .map_err(|error| self.violation(format!("{} {error}", quoted(text))))
    }

    /// A yearly revenue in US dollars as exports write it: an amount ("$2,750,000.00",
    /// "$1.2M") or a range ("$1M-$10M", "$1B+"); empty is "not given". Another currency is
    /// refused rather than stored as dollars it is not.
    fn revenue(
        &self,
        text: &str,
        in_thousands: bool,
    ) -> Result<Option<values::Revenue>, FieldViolation> {
        if text.is_empty() {
            return Ok(None);
        }
        let revenue = values::parse_revenue(text, in_thousands)
            .map_err(|error| self.violation(format!("{} {error}", quoted(text))))?;
        if let Some(currency) = revenue.currency.filter(|c| *c != values::Currency::Usd) {
            return Err(self.violation(format!(
                "{} is in {}; revenue is stored in US dollars",
                quoted(text),
                currency.code()
            )));
        }
        Ok(Some(revenue))
    }
}

/// A revenue cell's bounds into the record: an exact amount is both bounds, an open range
/// ("$1B+") has none above; an empty cell gives nothing.
fn set_revenue(company: &mut CompanyRecord, revenue: Option<values::Revenue>) {
    company.revenue = revenue.map(|revenue| revenue.min);
    company.max_revenue = revenue.and_then(|revenue| revenue.max);
    company.revenue_open_ended = revenue.is_some_and(|revenue| revenue.max.is_none());
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
    /// Every column in order, and where it went, for the report.
    pub destinations: Vec<ColumnDestination>,
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

/// The column a rejects file of `lmactl import --rejects` adds (the reasons a row was
/// rejected): ignored when the fixed file is imported again, never kept as a custom field.
const REJECTS_ERRORS_COLUMN: &str = "lma_errors";

/// Header names listed in an error about the header.
const LISTED_COLUMNS: usize = 10;

/// The first [`LISTED_COLUMNS`] of `names`, and how many more.
fn listed(mut names: Vec<String>) -> String {
    let more = names.len().saturating_sub(LISTED_COLUMNS);
    names.truncate(LISTED_COLUMNS);
    if more > 0 {
        names.push(format!("and {more} more"));
    }
    names.join(", ")
}

/// What becomes of a header column that maps to no field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownColumns {
    /// Into the custom fields, under the header name: nothing in a file is lost in silence.
    #[default]
    Keep,
    Ignore,
    Refuse,
}

/// The call's own say over the header: explicit targets by header name, and what becomes of
/// the columns nothing maps.
#[derive(Debug, Clone, Default)]
pub struct ColumnPlan {
    /// Lower-case trimmed header name -> (the name as the call gave it, its column; `None`:
    /// ignore it).
    explicit: HashMap<String, (String, Option<Column>)>,
    unknown: UnknownColumns,
}

impl ColumnPlan {
    /// The plan from the call's options; every target that names nothing is a violation of
    /// `options.column_map["<header>"]`.
    pub fn new(
        column_map: &HashMap<String, String>,
        unknown: UnknownColumns,
    ) -> Result<Self, Vec<FieldViolation>> {
        let mut violations = svc_core::error::Violations::default();
        let mut explicit = HashMap::with_capacity(column_map.len());
        for (header, target) in column_map {
            let field = || format!("options.column_map[{}]", quoted(header));
            if !violations.storable(field, header) || !violations.storable(field, target) {
                continue;
            }
            match column_target(target) {
                Ok(column) => {
                    let key = header.trim().to_lowercase();
                    if let Some((other, _)) =
                        explicit.insert(key, (header.trim().to_owned(), column))
                    {
                        violations.add(
                            field(),
                            format!("names the same column as {}", quoted(&other)),
                        );
                    }
                }
                Err(why) => violations.add(field(), format!("{} {why}", quoted(target))),
            }
        }
        violations.finish(Self { explicit, unknown })
    }
}

/// A `column_map` target: "ignore", a custom field, a field name as the report writes it, or
/// a recognized header name.
fn column_target(target: &str) -> Result<Option<Column>, String> {
    let target = target.trim();
    if target.eq_ignore_ascii_case("ignore") {
        return Ok(None);
    }
    if let Some(key) = custom_key(target) {
        return custom_column(key).map(Some);
    }
    vocabulary::VOCABULARY
        .iter()
        .map(|entry| &entry.column)
        .find(|column| column.field().eq_ignore_ascii_case(target))
        .or_else(|| vocabulary::lookup(&vocabulary::normalized(target)).map(|known| &known.column))
        .map(|column| Some(column.clone()))
        .ok_or_else(|| {
            "is not a field: give a field name (\"company.employees\"), a recognized header \
             name, \"custom:<key>\" or \"ignore\""
                .to_owned()
        })
}

/// The key of a `custom.<key>`, `custom_fields.<key>` or `custom:<key>` name.
fn custom_key(name: &str) -> Option<&str> {
    ["custom.", "custom_fields.", "custom:"]
        .iter()
        .find_map(|prefix| {
            name.get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
                .then(|| name[prefix.len()..].trim())
        })
        .filter(|key| !key.is_empty())
}

/// A custom-field column, if its key is within the custom-field limits; checked once for the
/// header rather than as a violation of every row.
fn custom_column(key: &str) -> Result<Column, String> {
    let chars = key.chars().count();
    if chars > validate::limit::CUSTOM_FIELD_KEY {
        return Err(format!(
            "is {chars} characters long; custom-field keys have at most {}",
            validate::limit::CUSTOM_FIELD_KEY
        ));
    }
    Ok(Column::Custom(key.to_owned()))
}

/// Maps a header; fails when the email column is missing, two columns name one field, a
/// name cannot be stored (a NUL: in a UTF-16 file without byte-order mark, for one), the plan
/// names a column the header lacks, or its unknown columns cannot be kept or are refused.
/// Without an external_id column the email is the record's key.
pub fn map_header(header: &[String], plan: &ColumnPlan) -> Result<HeaderColumns, String> {
    let mut columns = Vec::with_capacity(header.len());
    let mut names = Vec::with_capacity(header.len());
    let mut unknown = Vec::new();
    let mut mapping = HashMap::new();
    let mut destinations = Vec::with_capacity(header.len());
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut known = Vec::new();
    let mut planned = std::collections::HashSet::new();
    for (index, name) in header.iter().enumerate() {
        if let Some(why) = unstorable_text(name) {
            return Err(format!(
                "column {} of the header {why} (a UTF-16 file needs a byte-order mark)",
                index + 1
            ));
        }
        let trimmed = name.trim().trim_start_matches('\u{feff}');
        let lower = trimmed.to_lowercase();
        let (column, source) = if let Some((_, column)) = plan.explicit.get(&lower) {
            planned.insert(lower);
            (column.clone(), ColumnSource::Mapped)
        } else if let Some(key) = custom_key(trimmed) {
            let column =
                custom_column(key).map_err(|why| format!("column {} {why}", quoted(trimmed)))?;
            (Some(column), ColumnSource::Recognized)
        } else if let Some(meaning) = vocabulary::lookup(&vocabulary::normalized(trimmed)) {
            known.push(meaning);
            (Some(meaning.column.clone()), ColumnSource::Recognized)
        } else if trimmed.is_empty() || trimmed.eq_ignore_ascii_case(REJECTS_ERRORS_COLUMN) {
            (None, ColumnSource::Ignored)
        } else {
            unknown.push(trimmed.to_owned());
            match plan.unknown {
                UnknownColumns::Keep => {
                    let column = custom_column(trimmed).map_err(|why| {
                        format!(
                            "column {} maps to no field and cannot be kept as a custom field: \
                             it {why}; map it (options.column_map) or ignore unknown columns",
                            quoted(trimmed)
                        )
                    })?;
                    (Some(column), ColumnSource::Kept)
                }
                UnknownColumns::Ignore | UnknownColumns::Refuse => (None, ColumnSource::Ignored),
            }
        };
        let field = match &column {
            Some(column) => {
                let field = column.field();
                if let Some(other) = seen.insert(field.clone(), trimmed) {
                    return Err(format!(
                        "columns {} and {} both map to {field}; keep one",
                        quoted(other),
                        quoted(trimmed)
                    ));
                }
                mapping.insert(trimmed.to_owned(), field.clone());
                field
            }
            None => String::new(),
        };
        let source = if column.is_none() {
            ColumnSource::Ignored
        } else {
            source
        };
        destinations.push(ColumnDestination {
            column: trimmed.to_owned(),
            field,
            source: source as i32,
        });
        columns.push(column);
        names.push(trimmed.to_owned());
    }
    let missing: Vec<String> = plan
        .explicit
        .iter()
        .filter(|(key, _)| !planned.contains(*key))
        .map(|(_, (name, _))| quoted(name))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "options.column_map names {}, which the header does not have; nothing was imported",
            listed(missing)
        ));
    }
    if plan.unknown == UnknownColumns::Refuse && !unknown.is_empty() {
        return Err(format!(
            "columns {} map to no field and unknown columns are refused; map them \
             (options.column_map) or keep or ignore them (options.unknown_columns); nothing was \
             imported",
            listed(unknown.iter().map(|name| quoted(name)).collect())
        ));
    }
    let custom = columns
        .iter()
        .filter(|column| matches!(column, Some(Column::Custom(_))))
        .count();
    if custom > validate::limit::CUSTOM_FIELDS {
        return Err(format!(
            "{custom} columns would be custom fields; at most {} are allowed: map or ignore some \
             (options.column_map, options.unknown_columns); nothing was imported",
            validate::limit::CUSTOM_FIELDS
        ));
    }
    if !seen.contains_key("email") {
        return Err(format!(
            "the header has no email column (found: {}); nothing was imported",
            listed(names.iter().map(|name| quoted(name)).collect())
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
        destinations,
    })
}

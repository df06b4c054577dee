//! The column tables: every column of `company` and `prospect` that ingest-svc writes or reads,
//! one line each, with its SQL type, how a batch merges it into the stored row and which field
//! of the API message it is read back into. Everything else is derived from these tables
//! ([`super::sql`]): the staging tables, the binary COPY types, the merge and upsert
//! statements with their "changes nothing" comparisons, the SELECT lists and the row readers.
//! Adding a column is one line here plus its migration (and the field of the validated row
//! that carries it, `validate::CompanyRow` or `ProspectRow`).
//!
//! Merge rule: a value that is given replaces the stored one; a value that is not given (NULL)
//! never erases one. Pairs that must agree (employee range, external source and id) are taken
//! together. A merge that would change nothing writes nothing, so re-ingesting a record leaves
//! no trace in the change log and is reported as unchanged.

use std::time::SystemTime;

use lma_proto::v1::{Company, JobTitleLevel, Prospect, ProspectRecord};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql, Type};

use crate::validate::{CompanyRow, ProspectRow};

/// How a batch merges an incoming value into the stored one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// The row's identity within its organization: inserted, never updated.
    Key,
    /// Always replaces the stored value (values every record has).
    Overwrite,
    /// Replaces the stored value when given; NULL keeps it.
    KeepWhenNull,
    /// Replaces the stored array when it has elements; an empty one keeps it.
    KeepWhenEmpty,
    /// Taken together with the named column: both are replaced when either is given.
    PairWith(&'static str),
    /// Replaced only when the named column is given (the source of an external id).
    Follows(&'static str),
    /// A JSON object merged key by key into the stored one.
    ObjectKeys,
}

/// A column as a batch writes it.
pub struct Write<R> {
    pub sql_type: Type,
    pub merge: Merge,
    /// The validated row's value, as a statement or COPY parameter.
    pub value: fn(&R) -> &(dyn ToSql + Sync),
    /// Whether the row gives a value (see [`Given`]).
    pub given: fn(&R) -> bool,
    /// Copies the value from another row of the same entity (folding a batch's companies).
    pub take: fn(&mut R, &R),
}

/// One column: `write` is `None` for columns the database fills in (ids, timestamps).
pub struct Column<R, M> {
    pub name: &'static str,
    pub write: Option<Write<R>>,
    /// Reads the column at `index` of a result row into its message field.
    pub read: fn(&Row, usize, &mut M) -> Result<(), tokio_postgres::Error>,
}

/// An entity's table: its name, the alias its statements use, and its columns.
pub struct Table<R: 'static, M: 'static> {
    pub name: &'static str,
    pub alias: &'static str,
    /// The conflict target of its upserts, after `organization_id`.
    pub key: &'static [&'static str],
    pub columns: &'static [Column<R, M>],
}

impl<R, M> Table<R, M> {
    /// The columns a batch writes, in COPY and parameter order.
    pub fn written(&self) -> impl Iterator<Item = (&'static str, &'static Write<R>)> + '_ {
        self.columns
            .iter()
            .filter_map(|column| Some((column.name, column.write.as_ref()?)))
    }

    /// The written column called `name`.
    pub fn write_of(&self, name: &str) -> Option<&'static Write<R>> {
        self.columns
            .iter()
            .find(|column| column.name == name)
            .and_then(|column| column.write.as_ref())
    }

    /// Reads the table's columns, starting at `first` in `row`, into `message`.
    pub fn read_into(
        &self,
        row: &Row,
        first: usize,
        message: &mut M,
    ) -> Result<(), tokio_postgres::Error> {
        for (offset, column) in self.columns.iter().enumerate() {
            (column.read)(row, first + offset, message)?;
        }
        Ok(())
    }
}

/// Whether a row gives a value: "not given" never overwrites a stored one.
pub trait Given {
    fn given(&self) -> bool;
}

impl<T> Given for Option<T> {
    fn given(&self) -> bool {
        self.is_some()
    }
}

impl Given for String {
    /// Always given: required values and values with a default (a company's external source,
    /// which follows its external id).
    fn given(&self) -> bool {
        true
    }
}

impl<T> Given for Vec<T> {
    fn given(&self) -> bool {
        !self.is_empty()
    }
}

impl Given for serde_json::Value {
    fn given(&self) -> bool {
        true
    }
}

/// Optional text as the API shows it: not stored is empty.
fn text(row: &Row, index: usize) -> Result<String, tokio_postgres::Error> {
    Ok(row.try_get::<_, Option<String>>(index)?.unwrap_or_default())
}

/// A value of the same type in the database and the message.
fn same<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T, tokio_postgres::Error> {
    row.try_get(index)
}

/// Ids go out as decimal text.
fn id(row: &Row, index: usize) -> Result<String, tokio_postgres::Error> {
    Ok(row.try_get::<_, i64>(index)?.to_string())
}

fn timestamp(
    row: &Row,
    index: usize,
) -> Result<Option<prost_types::Timestamp>, tokio_postgres::Error> {
    Ok(Some(row.try_get::<_, SystemTime>(index)?.into()))
}

fn level(row: &Row, index: usize) -> Result<i32, tokio_postgres::Error> {
    Ok(JobTitleLevel::from_stored(row.try_get::<_, Option<&str>>(index)?).into())
}

/// An id the database may leave NULL: empty when it does.
fn optional_id(row: &Row, index: usize) -> Result<String, tokio_postgres::Error> {
    Ok(row
        .try_get::<_, Option<i64>>(index)?
        .map(|id| id.to_string())
        .unwrap_or_default())
}

fn object(
    row: &Row,
    index: usize,
) -> Result<std::collections::HashMap<String, String>, tokio_postgres::Error> {
    Ok(lma_proto::custom_fields_from_stored(row.try_get(index)?))
}

/// One line of a column table: `name: TYPE, merge rule, reader` for a column ingest writes
/// (read back into the message field of the same name), `name, reader => field` for one the
/// database fills in.
macro_rules! column {
    ($name:ident: $type:ident, $merge:expr, $read:ident) => {
        Column {
            name: stringify!($name),
            write: Some(Write {
                sql_type: Type::$type,
                merge: $merge,
                value: |row| &row.$name,
                given: |row| Given::given(&row.$name),
                take: |into, from| into.$name.clone_from(&from.$name),
            }),
            read: |row, index, message| {
                message.$name = $read(row, index)?;
                Ok(())
            },
        }
    };
    ($name:ident, $read:ident => $field:ident) => {
        Column {
            name: stringify!($name),
            write: None,
            read: |row, index, message| {
                message.$field = $read(row, index)?;
                Ok(())
            },
        }
    };
}

use Merge::*;

pub static COMPANY: Table<CompanyRow, Company> = Table {
    name: "company",
    alias: "c",
    key: &["domain"],
    columns: &[
        column!(id, id => id),
        column!(domain: TEXT, Key, same),
        column!(name: TEXT, KeepWhenNull, text),
        column!(industry: TEXT, KeepWhenNull, text),
        column!(min_employees: INT4, PairWith("max_employees"), same),
        column!(max_employees: INT4, PairWith("min_employees"), same),
        column!(employee_size_link: TEXT, KeepWhenNull, text),
        // The revenue range goes together: a new exact amount or range replaces both bounds, and
        // an open range ("$1B+", max_revenue NULL) clears the old upper bound.
        column!(revenue: INT8, PairWith("max_revenue"), same),
        column!(max_revenue: INT8, PairWith("revenue"), same),
        column!(address: TEXT, KeepWhenNull, text),
        column!(city: TEXT, KeepWhenNull, text),
        column!(state: TEXT, KeepWhenNull, text),
        // The code goes with the name: a new country as written clears the old one's code.
        column!(country: TEXT, PairWith("country_code"), text),
        column!(country_code: TEXT, PairWith("country"), text),
        column!(zip_code: TEXT, KeepWhenNull, text),
        column!(phone: TEXT, KeepWhenNull, text),
        column!(mobile_phone: TEXT, KeepWhenNull, text),
        column!(external_source: TEXT, Follows("external_id"), same),
        column!(external_id: TEXT, KeepWhenNull, text),
        // The hide entry of the domain: set by the database (a trigger on insert and on a
        // domain change, AddSuppressions on stored rows), never by a record.
        column!(suppressed_by, optional_id => suppressed_by),
        column!(created_at, timestamp => created_at),
        column!(updated_at, timestamp => updated_at),
    ],
};

pub static PROSPECT: Table<ProspectRow, Prospect> = Table {
    name: "prospect",
    alias: "p",
    key: &["external_source", "external_id"],
    columns: &[
        column!(id, id => id),
        column!(external_source: TEXT, Key, same),
        column!(external_id: TEXT, Key, same),
        column!(salutation: TEXT, KeepWhenNull, text),
        column!(first_name: TEXT, KeepWhenNull, text),
        column!(last_name: TEXT, KeepWhenNull, text),
        column!(email: TEXT, Overwrite, same),
        column!(job_title: TEXT, KeepWhenNull, text),
        column!(job_title_level: TEXT, KeepWhenNull, level),
        column!(department: TEXT, KeepWhenNull, text),
        column!(job_title_link: TEXT, KeepWhenNull, text),
        column!(address: TEXT, KeepWhenNull, text),
        column!(city: TEXT, KeepWhenNull, text),
        column!(state: TEXT, KeepWhenNull, text),
        // The code goes with the name: a new country as written clears the old one's code.
        column!(country: TEXT, PairWith("country_code"), text),
        column!(country_code: TEXT, PairWith("country"), text),
        column!(zip_code: TEXT, KeepWhenNull, text),
        column!(phone: TEXT, KeepWhenNull, text),
        column!(mobile_phone: TEXT, KeepWhenNull, text),
        column!(tags: TEXT_ARRAY, KeepWhenEmpty, same),
        column!(custom_fields: JSONB, ObjectKeys, object),
        // The hide entry of the email, as screening found it for this record: every write
        // states it, so a prospect whose email moves to or away from a hidden address follows.
        column!(suppressed_by: INT8, Overwrite, optional_id),
        column!(created_at, timestamp => created_at),
        column!(updated_at, timestamp => updated_at),
    ],
};

/// How a prospect column's value relates to the sources that send it (docs/PRIVACY.md,
/// "Survivorship and provenance").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supplied {
    /// A source supplies it: its provenance is recorded, and the organization's source
    /// priority decides whether a value replaces the stored one.
    Ranked,
    /// A source supplies it, but the latest record's value always wins: the email, which
    /// identity resolution already decided the record belongs to.
    Latest,
    /// No source supplies it: the hide entry screening found.
    ByScreening,
}

/// How the prospect column `name` is supplied; key columns are the record's identity, never a
/// supplied value.
pub fn supplied(name: &str) -> Supplied {
    match name {
        "email" => Supplied::Latest,
        "suppressed_by" => Supplied::ByScreening,
        _ => Supplied::Ranked,
    }
}

/// A column of the legacy flat `customer` table: the prospect or company column it mirrors
/// (dual ingestion) and the record field it becomes (MigrateLegacyCustomers).
pub struct CustomerColumn {
    pub name: &'static str,
    /// The value written into it, from the prospect `p` and its company `c`.
    pub stored: &'static str,
    pub read: fn(&Row, usize, &mut ProspectRecord) -> Result<(), tokio_postgres::Error>,
}

pub struct CustomerTable {
    /// Its conflict target after `organization_id`; never updated.
    pub key: &'static [&'static str],
    pub columns: &'static [CustomerColumn],
}

/// One line of [`CUSTOMER`]: `name <- stored expression => record field` (`company.field` for
/// a field of the record's company).
macro_rules! customer {
    ($name:ident <- $stored:literal => company.$field:ident, $read:ident) => {
        CustomerColumn {
            name: stringify!($name),
            stored: $stored,
            read: |row, index, record| {
                record.company.get_or_insert_with(Default::default).$field = $read(row, index)?;
                Ok(())
            },
        }
    };
    ($name:ident <- $stored:literal => $field:ident, $read:ident) => {
        CustomerColumn {
            name: stringify!($name),
            stored: $stored,
            read: |row, index, record| {
                record.$field = $read(row, index)?;
                Ok(())
            },
        }
    };
}

/// A legacy job title level: free text, trimmed; anything unknown is unspecified.
fn legacy_level(row: &Row, index: usize) -> Result<i32, tokio_postgres::Error> {
    Ok(JobTitleLevel::from_stored(
        row.try_get::<_, Option<String>>(index)?
            .as_deref()
            .map(str::trim),
    )
    .into())
}

pub static CUSTOMER: CustomerTable = CustomerTable {
    key: &["external_source", "external_id"],
    columns: &[
        customer!(external_source <- "p.external_source" => external_source, text),
        customer!(external_id <- "p.external_id" => external_id, text),
        customer!(salutation <- "p.salutation" => salutation, text),
        customer!(first_name <- "p.first_name" => first_name, text),
        customer!(last_name <- "p.last_name" => last_name, text),
        customer!(email <- "p.email" => email, text),
        customer!(job_title <- "p.job_title" => job_title, text),
        customer!(job_title_level <- "p.job_title_level" => job_title_level, legacy_level),
        customer!(department <- "p.department" => department, text),
        customer!(job_title_link <- "p.job_title_link" => job_title_link, text),
        customer!(address <- "p.address" => address, text),
        customer!(city <- "p.city" => city, text),
        customer!(state <- "p.state" => state, text),
        customer!(country <- "p.country" => country, text),
        customer!(zip_code <- "p.zip_code" => zip_code, text),
        customer!(phone <- "p.phone" => phone, text),
        customer!(mobile_phone <- "p.mobile_phone" => mobile_phone, text),
        customer!(company_name <- "c.name" => company.name, text),
        customer!(company_domain <- "c.domain" => company.domain, text),
        customer!(industry <- "c.industry" => company.industry, text),
        customer!(min_employees <- "c.min_employees" => company.min_employees, same),
        customer!(max_employees <- "c.max_employees" => company.max_employees, same),
        customer!(employee_size_link <- "c.employee_size_link" => company.employee_size_link, text),
        customer!(revenue <- "c.revenue" => company.revenue, same),
        // NULL reads as "not given", so an exact amount: what legacy rows without it mean.
        customer!(max_revenue <- "c.max_revenue" => company.max_revenue, same),
        customer!(company_address <- "c.address" => company.address, text),
        customer!(company_city <- "c.city" => company.city, text),
        customer!(company_state <- "c.state" => company.state, text),
        customer!(company_country <- "c.country" => company.country, text),
        customer!(company_zip_code <- "c.zip_code" => company.zip_code, text),
        customer!(company_phone <- "c.phone" => company.phone, text),
    ],
};

impl CustomerTable {
    /// The legacy rows of the prospects `filter` picks, with their companies' stored values;
    /// an unchanged customer row is left alone.
    pub fn mirror(&self, filter: &str) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        let values: Vec<&str> = self.columns.iter().map(|c| c.stored).collect();
        let updated: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| !self.key.contains(name))
            .collect();
        let each = |prefix: &str| {
            updated
                .iter()
                .map(|name| format!("{prefix}{name}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let set = updated
            .iter()
            .map(|name| format!("{name} = EXCLUDED.{name}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "INSERT INTO customer AS cu (organization_id, {}) \
             SELECT p.organization_id, {} FROM prospect p JOIN company c ON c.id = p.company_id \
             WHERE {filter} \
             ON CONFLICT (organization_id, {}) DO UPDATE SET {set} \
             WHERE ({}) IS DISTINCT FROM ({})",
            names.join(", "),
            values.join(", "),
            self.key.join(", "),
            each("cu."),
            each("EXCLUDED."),
        )
    }

    /// A page of an organization's customer rows after id `$2`, at most `$3`: `id` first, then
    /// the table's columns as [`CustomerTable::read_into`] reads them.
    pub fn select_page(&self) -> String {
        format!(
            "SELECT id, {} FROM customer WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            self.columns
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// The columns ExportPersonData shows of a row, by name: the key first, then the others.
    pub fn exported(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.key.iter().copied().chain(
            self.columns
                .iter()
                .map(|column| column.name)
                .filter(|name| !self.key.contains(name)),
        )
    }

    /// The record of a customer row read by [`CustomerTable::select_page`] (after its id).
    pub fn read_into(
        &self,
        row: &Row,
        record: &mut ProspectRecord,
    ) -> Result<(), tokio_postgres::Error> {
        for (offset, column) in self.columns.iter().enumerate() {
            (column.read)(row, 1 + offset, record)?;
        }
        Ok(())
    }
}

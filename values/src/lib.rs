//! Values as CRM and data-vendor exports write them, read into their canonical form: what
//! ingest stores and what search matches a filter against, so both read a spelling the same way.
//!
//! Each parser takes the raw text of one value (plus what it needs to read it, such as a
//! country for a phone number) and returns a typed value or an error whose `Display` follows
//! the quoted value in a row error: `format!("{} {error}", quoted(raw))` gives
//! `"abc" is not an employee count or range`. Callers treat an empty cell as an absent value
//! before calling; the parsers never panic and read any text. What each accepts:
//! docs/INGEST.md, "Value formats and normalization". E-mail addresses are read in
//! ingest-svc (`values::normalize_email`), next to the domain rules they share.

mod country;
mod employees;
mod industry;
mod numbers;
mod phone;
mod revenue;
mod seniority;
pub mod stored;

pub use country::{Country, CountryError, Region, RegionError, parse_country, parse_region};
pub use employees::{Employees, EmployeesError, MAX_EMPLOYEES, parse_employees};
pub use industry::{IndustryError, canonical_industry};
pub use phone::{Phone, PhoneError, parse_phone};
pub use revenue::{Currency, MAX_REVENUE, Revenue, RevenueError, parse_revenue};
pub use seniority::{SeniorityError, parse_seniority};

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Text as names are compared: lower case, accents folded, letters and digits only, so
/// "U.S.A.", "usa" and "U S A" are one key and "Québec" is "quebec".
fn lookup_key(text: &str) -> String {
    text.nfd()
        .filter(|&c| !is_combining_mark(c) && c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

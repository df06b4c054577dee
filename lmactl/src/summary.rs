//! The read models' rows as lmactl prints them: the columns of a prospect (`ProspectSummary`)
//! and of a company (`CompanySummary`), named and ordered as the contract's fields, each with
//! how its value is written. Every value is text, the same in every format: an unset number
//! is empty, a time is RFC 3339, a level is its word (`c-suite`), and a list or map is JSON
//! (`["vip"]`, `{"tier":"gold"}`) so that it reads back exactly.

use std::collections::{BTreeMap, HashMap};

use lma_proto::v1::{CompanySummary, ProspectSummary};

use crate::output::Format;
use crate::words;

/// One column: its name, whether a table (which must fit a screen) shows it, and its value.
pub struct Column<T> {
    pub name: &'static str,
    brief: bool,
    value: fn(&T) -> String,
}

const fn column<T>(name: &'static str, brief: bool, value: fn(&T) -> String) -> Column<T> {
    Column { name, brief, value }
}

fn number<N: ToString>(value: Option<N>) -> String {
    value.map(|n| n.to_string()).unwrap_or_default()
}

fn time(at: Option<prost_types::Timestamp>) -> String {
    at.map(|at| at.to_string()).unwrap_or_default()
}

fn json_list(values: &[String]) -> String {
    serde_json::Value::from(values.to_vec()).to_string()
}

/// A map as a JSON object in key order, so that the same row always prints the same.
fn json_map(map: &HashMap<String, String>) -> String {
    let sorted: BTreeMap<&String, &String> = map.iter().collect();
    serde_json::to_string(&sorted).unwrap_or_default()
}

fn level(value: i32) -> String {
    if value == 0 {
        String::new()
    } else {
        words::JOB_TITLE_LEVEL.word(value)
    }
}

pub const PROSPECT: &[Column<ProspectSummary>] = &[
    column("prospect_id", false, |p| p.prospect_id.clone()),
    column("company_id", false, |p| p.company_id.clone()),
    column("salutation", false, |p| p.salutation.clone()),
    column("first_name", false, |p| p.first_name.clone()),
    column("last_name", false, |p| p.last_name.clone()),
    column("full_name", true, |p| p.full_name.clone()),
    column("email", true, |p| p.email.clone()),
    column("job_title", true, |p| p.job_title.clone()),
    column("job_title_level", true, |p| level(p.job_title_level)),
    column("department", false, |p| p.department.clone()),
    column("city", false, |p| p.city.clone()),
    column("state", false, |p| p.state.clone()),
    column("country", true, |p| p.country.clone()),
    column("tags", false, |p| json_list(&p.tags)),
    column("custom_fields", false, |p| json_map(&p.custom_fields)),
    column("company_domain", true, |p| p.company_domain.clone()),
    column("company_name", true, |p| p.company_name.clone()),
    column("industry", true, |p| p.industry.clone()),
    column("min_employees", false, |p| number(p.min_employees)),
    column("max_employees", false, |p| number(p.max_employees)),
    column("revenue", false, |p| number(p.revenue)),
    column("formatted_revenue", false, |p| p.formatted_revenue.clone()),
    column("company_context", false, |p| p.company_context.clone()),
    column("external_source", false, |p| p.external_source.clone()),
    column("external_id", false, |p| p.external_id.clone()),
    column("updated_at", false, |p| time(p.updated_at)),
    column("max_revenue", false, |p| number(p.max_revenue)),
    column("suppressed", false, |p| p.suppressed.to_string()),
];

pub const COMPANY: &[Column<CompanySummary>] = &[
    column("company_id", false, |c| c.company_id.clone()),
    column("domain", true, |c| c.domain.clone()),
    column("name", true, |c| c.name.clone()),
    column("industry", true, |c| c.industry.clone()),
    column("min_employees", false, |c| number(c.min_employees)),
    column("max_employees", false, |c| number(c.max_employees)),
    column("revenue", false, |c| number(c.revenue)),
    column("formatted_revenue", true, |c| c.formatted_revenue.clone()),
    column("city", false, |c| c.city.clone()),
    column("state", false, |c| c.state.clone()),
    column("country", true, |c| c.country.clone()),
    column("company_context", false, |c| c.company_context.clone()),
    column("prospect_count", true, |c| c.prospect_count.to_string()),
    column("departments", false, |c| json_list(&c.departments)),
    column("last_prospect_updated_at", false, |c| {
        time(c.last_prospect_updated_at)
    }),
    column("updated_at", false, |c| time(c.updated_at)),
    column("max_revenue", false, |c| number(c.max_revenue)),
    column("suppressed", false, |c| c.suppressed.to_string()),
];

/// The columns one output shows: a table the brief ones, every other format all of them.
pub struct Selected<T: 'static> {
    columns: Vec<&'static Column<T>>,
    names: Vec<&'static str>,
}

impl<T> Selected<T> {
    pub fn all(columns: &'static [Column<T>]) -> Self {
        Self::of(columns.iter().collect())
    }

    pub fn for_format(columns: &'static [Column<T>], format: Format) -> Self {
        match format {
            Format::Table => Self::of(columns.iter().filter(|column| column.brief).collect()),
            Format::Csv | Format::Json | Format::Jsonl => Self::all(columns),
        }
    }

    fn of(columns: Vec<&'static Column<T>>) -> Self {
        let names = columns.iter().map(|column| column.name).collect();
        Selected { columns, names }
    }

    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    pub fn values(&self, row: &T) -> Vec<String> {
        self.columns
            .iter()
            .map(|column| (column.value)(row))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_text_that_reads_back() {
        let prospect = ProspectSummary {
            full_name: "Jane Doe".to_owned(),
            job_title_level: lma_proto::v1::JobTitleLevel::CSuite as i32,
            tags: vec!["vip".to_owned(), "a;b".to_owned()],
            custom_fields: [("tier", "gold"), ("a", "1")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            revenue: Some(5),
            ..Default::default()
        };
        let all = Selected::all(PROSPECT);
        let row: HashMap<&str, String> = all
            .names()
            .iter()
            .copied()
            .zip(all.values(&prospect))
            .collect();
        assert_eq!(row["job_title_level"], "c-suite");
        assert_eq!(row["tags"], r#"["vip","a;b"]"#);
        assert_eq!(row["custom_fields"], r#"{"a":"1","tier":"gold"}"#);
        assert_eq!(row["revenue"], "5");
        assert_eq!(row["max_revenue"], "");
        assert_eq!(row["updated_at"], "");
        let table = Selected::for_format(PROSPECT, Format::Table);
        assert!(table.names().contains(&"full_name") && !table.names().contains(&"tags"));
        assert_eq!(table.names().len(), table.values(&prospect).len());
    }
}

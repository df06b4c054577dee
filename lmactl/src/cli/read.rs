//! The command line of the read commands (`search`, `count`, `export`, `company`), which call
//! search-svc. The filter flags mirror the contract's `ProspectFilter` and `CompanyFilter` field
//! by field (a flag's id is the field's name; a range is `<field>_min` and `<field>_max`), and
//! a test holds them to the contract's fields.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use lma_proto::v1::{CompanyFilter, Int32Range, Int64Range, ProspectFilter};

use crate::output::{DocumentFormat, Format};
use crate::words;

/// How the read commands reach search-svc and authenticate.
#[derive(Args, Clone)]
pub struct SearchConnection {
    /// search-svc address.
    #[arg(
        long = "search-url",
        env = "LMA_SEARCH_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub search_url: String,

    /// API key of the organization, with the search.read scope (and privacy.admin for
    /// --include-suppressed).
    #[arg(long = "api-key", env = "LMA_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

// Hand-written: the key is a secret.
impl fmt::Debug for SearchConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchConnection")
            .field("search_url", &self.search_url)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

/// Which prospects match (`ProspectFilter`): every given condition must hold; a repeated flag
/// matches any of its values.
#[derive(Args, Clone, Default)]
#[command(next_help_heading = "Filter")]
pub struct ProspectFilterArgs {
    /// Free text over names, email, job title, company and industry: words, "quoted phrases",
    /// OR, -excluded.
    #[arg(long = "query", short = 'q', value_name = "TEXT")]
    pub query: Option<String>,

    /// Industry (repeatable; any spelling ingest reads, such as computer-software).
    #[arg(long = "industry", value_name = "INDUSTRY")]
    pub industries: Vec<String>,

    #[arg(long = "job-title-level", value_name = "LEVEL", value_parser = words::parse_job_title_level,
          help = format!("Job title level (repeatable): {}", words::JOB_TITLE_LEVEL.words()))]
    pub job_title_levels: Vec<i32>,

    /// Department (repeatable).
    #[arg(long = "department", value_name = "DEPARTMENT")]
    pub departments: Vec<String>,

    /// Company domain, such as acme.com (repeatable).
    #[arg(long = "company-domain", value_name = "DOMAIN")]
    pub company_domains: Vec<String>,

    /// Country, in any spelling (repeatable).
    #[arg(long = "country", value_name = "COUNTRY")]
    pub countries: Vec<String>,

    /// State or province (repeatable).
    #[arg(long = "state", value_name = "STATE")]
    pub states: Vec<String>,

    /// City (repeatable).
    #[arg(long = "city", value_name = "CITY")]
    pub cities: Vec<String>,

    /// Company revenue in US dollars at least this (ranges overlapping it match).
    #[arg(long = "revenue-min", value_name = "USD")]
    pub revenue_min: Option<i64>,

    /// Company revenue in US dollars at most this.
    #[arg(long = "revenue-max", value_name = "USD")]
    pub revenue_max: Option<i64>,

    /// Company employees at least this (size ranges overlapping it match).
    #[arg(long = "employees-min", value_name = "N")]
    pub employees_min: Option<i32>,

    /// Company employees at most this.
    #[arg(long = "employees-max", value_name = "N")]
    pub employees_max: Option<i32>,

    /// Company name starts with this (case-insensitive).
    #[arg(long = "company-name-prefix", value_name = "TEXT")]
    pub company_name_prefix: Option<String>,

    /// The prospect has at least one of these tags (repeatable).
    #[arg(long = "tag-any", value_name = "TAG")]
    pub tags_any: Vec<String>,

    /// The prospect has all of these tags (repeatable).
    #[arg(long = "tag-all", value_name = "TAG")]
    pub tags_all: Vec<String>,

    /// A custom field equals the value exactly (repeatable).
    #[arg(long = "custom-field", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub custom_fields: Vec<(String, String)>,

    /// Changed at or after this time (RFC 3339, such as 2026-01-31T00:00:00Z).
    #[arg(long = "updated-since", value_name = "TIME", value_parser = parse_time)]
    pub updated_since: Option<prost_types::Timestamp>,

    /// Also match prospects a HIDE suppression entry hides (the key needs privacy.admin).
    #[arg(long = "include-suppressed", visible_alias = "include-hidden")]
    pub include_suppressed: bool,
}

impl ProspectFilterArgs {
    pub fn to_proto(&self) -> ProspectFilter {
        ProspectFilter {
            query: self.query.clone().unwrap_or_default(),
            industries: self.industries.clone(),
            job_title_levels: self.job_title_levels.clone(),
            departments: self.departments.clone(),
            company_domains: self.company_domains.clone(),
            countries: self.countries.clone(),
            states: self.states.clone(),
            cities: self.cities.clone(),
            revenue: int64_range(self.revenue_min, self.revenue_max),
            employees: int32_range(self.employees_min, self.employees_max),
            company_name_prefix: self.company_name_prefix.clone().unwrap_or_default(),
            tags_any: self.tags_any.clone(),
            tags_all: self.tags_all.clone(),
            custom_fields: self.custom_fields.iter().cloned().collect(),
            updated_since: self.updated_since,
            include_suppressed: self.include_suppressed,
        }
    }
}

// Hand-written: the free text and the custom fields may hold personal data.
impl fmt::Debug for ProspectFilterArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProspectFilterArgs")
            .field("query", &self.query.as_ref().map(|_| "<redacted>"))
            .field("industries", &self.industries)
            .field("countries", &self.countries)
            .field("custom_fields", &self.custom_fields.len())
            .finish_non_exhaustive()
    }
}

/// Which companies match (`CompanyFilter`); every given condition must hold.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Filter")]
pub struct CompanyFilterArgs {
    /// Free text over company name, domain and industry.
    #[arg(long = "query", short = 'q', value_name = "TEXT")]
    pub query: Option<String>,

    /// Industry (repeatable).
    #[arg(long = "industry", value_name = "INDUSTRY")]
    pub industries: Vec<String>,

    /// Country (repeatable).
    #[arg(long = "country", value_name = "COUNTRY")]
    pub countries: Vec<String>,

    /// Company domain (repeatable).
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,

    /// Company name starts with this (case-insensitive).
    #[arg(long = "name-prefix", value_name = "TEXT")]
    pub name_prefix: Option<String>,

    /// Revenue in US dollars at least this.
    #[arg(long = "revenue-min", value_name = "USD")]
    pub revenue_min: Option<i64>,

    /// Revenue in US dollars at most this.
    #[arg(long = "revenue-max", value_name = "USD")]
    pub revenue_max: Option<i64>,

    /// Employees at least this.
    #[arg(long = "employees-min", value_name = "N")]
    pub employees_min: Option<i32>,

    /// Employees at most this.
    #[arg(long = "employees-max", value_name = "N")]
    pub employees_max: Option<i32>,

    /// Companies with at least this many prospects.
    #[arg(long = "min-prospects", value_name = "N")]
    pub min_prospects: Option<i64>,

    /// Also companies a HIDE suppression entry of their domain hides (privacy.admin).
    #[arg(long = "include-suppressed", visible_alias = "include-hidden")]
    pub include_suppressed: bool,
}

impl CompanyFilterArgs {
    pub fn to_proto(&self) -> CompanyFilter {
        CompanyFilter {
            query: self.query.clone().unwrap_or_default(),
            industries: self.industries.clone(),
            countries: self.countries.clone(),
            domains: self.domains.clone(),
            name_prefix: self.name_prefix.clone().unwrap_or_default(),
            revenue: int64_range(self.revenue_min, self.revenue_max),
            employees: int32_range(self.employees_min, self.employees_max),
            min_prospects: self.min_prospects,
            include_suppressed: self.include_suppressed,
        }
    }
}

/// A range with at least one bound; none when neither is given.
fn int64_range(min: Option<i64>, max: Option<i64>) -> Option<Int64Range> {
    (min.is_some() || max.is_some()).then_some(Int64Range { min, max })
}

fn int32_range(min: Option<i32>, max: Option<i32>) -> Option<Int32Range> {
    (min.is_some() || max.is_some()).then_some(Int32Range { min, max })
}

/// Read-your-writes: `--min-token`.
#[derive(Args, Clone, Debug, Default)]
pub struct ConsistencyArgs {
    /// A consistency token a write returned: wait until the read models include that write.
    #[arg(long = "min-token", value_name = "TOKEN")]
    pub min_token: Option<String>,
}

/// Spreadsheet-formula neutralization of CSV cells (OWASP "CSV injection").
#[derive(Args, Clone, Debug, Default)]
pub struct FormulaArgs {
    /// Write CSV cells that start with =, +, -, @, tab or carriage return as they are, rather
    /// than prefixed with a single quote (') so that spreadsheets do not run them as formulas.
    #[arg(long = "no-neutralize-formulas")]
    pub no_neutralize_formulas: bool,
}

impl FormulaArgs {
    pub fn neutralize(&self) -> bool {
        !self.no_neutralize_formulas
    }
}

/// Paging of `search` and `company search`.
#[derive(Args, Clone, Debug, Default)]
pub struct PageArgs {
    /// Follow the page tokens to the last page: every match, each once.
    #[arg(long = "all")]
    pub all: bool,

    /// Matches per page (the service's default when omitted, 50; at most 1,000).
    #[arg(long = "page-size", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: Option<u32>,

    /// Start at the page this token names (as a previous search printed it).
    #[arg(long = "page-token", value_name = "TOKEN")]
    pub page_token: Option<String>,
}

/// `lmactl search`.
#[derive(Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    pub filter: ProspectFilterArgs,

    #[arg(long = "sort", value_name = "ORDER", value_parser = words::parse_prospect_sort,
          help = format!("Order of the matches: {} (default: relevance with --query, else \
                          updated-at)", words::PROSPECT_SORT.words()))]
    pub sort: Option<i32>,

    #[command(flatten)]
    pub page: PageArgs,

    #[command(flatten)]
    pub consistency: ConsistencyArgs,

    /// Output format: table shows the main columns; csv, json and jsonl show every column.
    #[arg(long = "output", value_enum, default_value_t = Format::Table)]
    pub output: Format,

    #[command(flatten)]
    pub formulas: FormulaArgs,

    #[command(flatten)]
    pub search: SearchConnection,
}

/// `lmactl count`.
#[derive(Args, Debug)]
pub struct CountArgs {
    #[command(flatten)]
    pub filter: ProspectFilterArgs,

    #[arg(long = "facet", value_name = "FACET", value_parser = words::parse_facet,
          help = format!("Break the total down by this (repeatable): {}", words::FACET.words()))]
    pub facets: Vec<i32>,

    /// Values per facet, most frequent first (the service's default when omitted, 20; at most
    /// 200).
    #[arg(long = "facet-limit", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub facet_limit: Option<u32>,

    #[command(flatten)]
    pub consistency: ConsistencyArgs,

    /// Output format (text for people when omitted).
    #[arg(long = "output", value_enum)]
    pub output: Option<DocumentFormat>,

    #[command(flatten)]
    pub search: SearchConnection,
}

/// `--output` of `lmactl export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl ExportFormat {
    pub fn rows(self) -> Format {
        match self {
            ExportFormat::Csv => Format::Csv,
            ExportFormat::Jsonl => Format::Jsonl,
        }
    }
}

/// `lmactl export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filter: ProspectFilterArgs,

    /// File format.
    #[arg(long = "output", value_enum, default_value_t = ExportFormat::Csv)]
    pub output: ExportFormat,

    /// The file to write ("-" for stdout). It appears only once the export is complete: rows go
    /// to FILE.partial first, which a failed export removes.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub formulas: FormulaArgs,

    #[command(flatten)]
    pub consistency: ConsistencyArgs,

    /// Hide the progress bar (it is drawn on stderr only when that is a terminal).
    #[arg(long = "quiet")]
    pub quiet: bool,

    #[command(flatten)]
    pub search: SearchConnection,
}

#[derive(Args, Debug)]
pub struct CompanyArgs {
    #[command(subcommand)]
    pub command: CompanyCommand,
}

#[derive(Subcommand, Debug)]
pub enum CompanyCommand {
    /// One company with its prospect count and departments (GetCompany), by domain or id.
    Get(CompanyGetArgs),
    /// Companies matching a filter (SearchCompanies).
    // Boxed: its filter makes it much larger than `Get`.
    Search(Box<CompanySearchArgs>),
}

#[derive(Args, Debug)]
pub struct CompanyGetArgs {
    /// The company's domain (acme.com) or its id (digits only).
    #[arg(value_name = "DOMAIN|ID")]
    pub company: String,

    /// Find the company also when a HIDE suppression entry of its domain hides it
    /// (privacy.admin).
    #[arg(long = "include-suppressed", visible_alias = "include-hidden")]
    pub include_suppressed: bool,

    #[command(flatten)]
    pub consistency: ConsistencyArgs,

    /// Output format: table lists each field on its own line.
    #[arg(long = "output", value_enum, default_value_t = Format::Table)]
    pub output: Format,

    #[command(flatten)]
    pub formulas: FormulaArgs,

    #[command(flatten)]
    pub search: SearchConnection,
}

#[derive(Args, Debug)]
pub struct CompanySearchArgs {
    #[command(flatten)]
    pub filter: CompanyFilterArgs,

    #[arg(long = "sort", value_name = "ORDER", value_parser = words::parse_company_sort,
          help = format!("Order of the matches: {} (default: relevance with --query, else \
                          name)", words::COMPANY_SORT.words()))]
    pub sort: Option<i32>,

    #[command(flatten)]
    pub page: PageArgs,

    #[command(flatten)]
    pub consistency: ConsistencyArgs,

    /// Output format: table shows the main columns; csv, json and jsonl show every column.
    #[arg(long = "output", value_enum, default_value_t = Format::Table)]
    pub output: Format,

    #[command(flatten)]
    pub formulas: FormulaArgs,

    #[command(flatten)]
    pub search: SearchConnection,
}

/// `KEY=VALUE`, split at the first `=` (a value may contain one).
fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn parse_time(text: &str) -> Result<prost_types::Timestamp, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not an RFC 3339 time (2026-01-31T00:00:00Z)"))
}

//! Synthetic prospects. A small deterministic PRNG (SplitMix64) keeps the generator free of
//! dependencies and its output identical across runs and machines.

use std::io::{self, Write};

const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Chloé", "David", "Emma", "Felix", "Grace", "Hiro", "Ines", "Jonas", "Karin",
    "Liam", "Mia", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wei",
    "Yara", "Zoe",
];
const LAST_NAMES: &[&str] = &[
    "Andersen", "Brown", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ito",
    "Jensen", "Kowalski", "López", "Müller", "Novak", "O'Brien", "Petrov", "Rossi", "Schmidt",
    "Tanaka", "Weber",
];
const TITLES: &[(&str, &str)] = &[
    ("Chief Executive Officer", "Management"),
    ("VP Sales", "Sales"),
    ("Director of Engineering", "Engineering"),
    ("Marketing Manager", "Marketing"),
    ("Senior Software Engineer", "Engineering"),
    ("Account Executive", "Sales"),
    ("HR Business Partner", "Human Resources"),
    ("Head of Finance", "Finance"),
    ("Customer Success Manager", "Customer Success"),
    ("Data Analyst", "Engineering"),
];
const INDUSTRIES: &[&str] = &[
    "Software",
    "Retail",
    "Manufacturing",
    "Healthcare",
    "Financial Services",
    "Logistics",
    "Education",
    "Media",
    "Energy",
    "Hospitality",
];
/// A prospect's location, with the spellings exports use for its state and country (the
/// first is the one the plain files use) and its phone numbers' calling code.
struct Place {
    city: &'static str,
    state: &'static str,
    country: &'static str,
    states: &'static [&'static str],
    countries: &'static [&'static str],
    phone: &'static str,
}

const fn place(
    city: &'static str,
    states: &'static [&'static str],
    countries: &'static [&'static str],
    phone: &'static str,
) -> Place {
    Place {
        city,
        state: states[0],
        country: countries[0],
        states,
        countries,
        phone,
    }
}

const PLACES: &[Place] = &[
    place("Berlin", &["Berlin"], &["Germany", "DE"], "+49 30"),
    place("Munich", &["Bavaria"], &["Germany", "DE"], "+49 89"),
    place("Paris", &["Île-de-France"], &["France", "FR"], "+33 1"),
    place(
        "London",
        &["England"],
        &["United Kingdom", "UK", "GB"],
        "+44 20",
    ),
    place(
        "Austin",
        &["Texas", "TX"],
        &["United States", "USA", "US", "U.S."],
        "+1",
    ),
    place(
        "New York",
        &["New York", "NY"],
        &["United States", "United States of America", "US"],
        "+1",
    ),
    place("Toronto", &["Ontario", "ON"], &["Canada", "CA"], "+1"),
    place("Madrid", &["Madrid"], &["Spain", "ES"], "+34 91"),
    place("Stockholm", &["Stockholm"], &["Sweden", "SE"], "+46 8"),
    place("Tokyo", &["Tokyo"], &["Japan", "JP"], "+81 3"),
];
const SIZES: &[(u32, u32)] = &[
    (1, 10),
    (11, 50),
    (51, 200),
    (201, 1000),
    (1001, 5000),
    (5001, 10000),
];
const SUFFIXES: &[&str] = &["com", "io", "de", "co.uk", "fr", "net"];

pub const HEADER: &str = "external_id,first_name,last_name,email,job_title,department,city,state,\
country,company_name,company_domain,industry,min_employees,max_employees,revenue";

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// One in this many companies of a messy file has a name that needs quoting (comma and quotes).
const MESSY_COMPANY_EVERY: u64 = 50;
/// One in this many rows of a messy file has an email without `@`: a row both loaders reject.
pub const INVALID_EMAIL_EVERY: u64 = 1_000;

/// Company `n`'s fixed attributes: the same for every prospect that works there.
fn company(n: u64, seed: u64, messy: bool) -> (String, String, &'static str, (u32, u32), u64) {
    let mut rng = SplitMix64(seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407));
    let suffix = rng.pick(SUFFIXES);
    let domain = format!("company{n}.{suffix}");
    let legal_form = rng.pick(&["GmbH", "Inc", "Ltd", "SA", "AB"]);
    let name = if messy && n.is_multiple_of(MESSY_COMPANY_EVERY) {
        format!("Company {n}, \"Holdings\" {legal_form}")
    } else {
        format!("Company {n} {legal_form}")
    };
    let industry = *rng.pick(INDUSTRIES);
    let size = *rng.pick(SIZES);
    let revenue = (rng.next() % 5_000_000) * 1_000;
    (domain, name, industry, size, revenue)
}

/// Quotes a CSV field when it needs it.
fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

pub fn write_csv(
    out: &mut impl Write,
    prospects: u64,
    companies: u64,
    seed: u64,
) -> io::Result<()> {
    write_csv_with(out, prospects, companies, seed, false)
}

/// [`write_csv`] with the companies numbered from `first_company` instead of 0: files with
/// disjoint ranges name no company (domain) of each other's, so importing one changes nothing
/// another stored.
pub fn write_csv_from(
    out: &mut impl Write,
    prospects: u64,
    companies: u64,
    first_company: u64,
    seed: u64,
) -> io::Result<()> {
    writeln!(out, "{HEADER}")?;
    write_rows(
        out,
        prospects,
        companies,
        first_company,
        seed,
        false,
        write_row,
    )
}

/// Rows an importer must reject in a file of `prospects` rows written with `messy`.
pub fn invalid_rows(prospects: u64, messy: bool) -> u64 {
    if messy {
        prospects / INVALID_EMAIL_EVERY
    } else {
        0
    }
}

/// [`write_csv`], and with `messy` a small share of rows as people send them: company names
/// with commas and quotes (quoted fields) and, every [`INVALID_EMAIL_EVERY`]th row, an email
/// without `@`. The same companies, prospects and random draws as without `messy`.
pub fn write_csv_with(
    out: &mut impl Write,
    prospects: u64,
    companies: u64,
    seed: u64,
    messy: bool,
) -> io::Result<()> {
    writeln!(out, "{HEADER}")?;
    write_rows(out, prospects, companies, 0, seed, messy, write_row)
}

/// One row of [`write_csv_with`]'s format.
fn write_row(out: &mut impl Write, row: &Row<'_>) -> io::Result<()> {
    let (min, max) = row.size;
    writeln!(
        out,
        "p{},{},{},{},{},{},{},{},{},{},{},{},{min},{max},{}",
        row.id,
        field(row.first),
        field(row.last),
        row.email,
        field(row.title),
        field(row.department),
        field(row.place.city),
        field(row.place.state),
        field(row.place.country),
        field(&row.company_name),
        row.domain,
        row.industry,
        row.revenue,
    )
}

/// A contact export as HubSpot writes it (its column names, docs/INGEST.md): websites as URLs,
/// employee counts as ranges with thousands separators, revenue with a currency symbol,
/// separators or a suffix, countries and states in the spellings exports mix ("USA", "U.S.",
/// "United States"; "TX", "Texas"), and phone numbers as people type them. Messy as
/// [`write_csv_with`]; the same prospects and companies as [`write_csv`] with the same seed.
pub fn write_vendor_csv(
    out: &mut impl Write,
    prospects: u64,
    companies: u64,
    seed: u64,
) -> io::Result<()> {
    writeln!(out, "{VENDOR_HEADER}")?;
    write_rows(out, prospects, companies, 0, seed, true, |out, row| {
        let variant = row.id as usize;
        let country = row.place.countries[variant % row.place.countries.len()];
        let state = row.place.states[variant % row.place.states.len()];
        writeln!(
            out,
            "p{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            row.id,
            field(row.first),
            field(row.last),
            row.email,
            field(row.title),
            field(row.department),
            field(row.place.city),
            field(state),
            field(country),
            field(&vendor_phone(row.place.phone, row.id)),
            field(&row.company_name),
            vendor_website(&row.domain, row.company),
            row.industry,
            field(&vendor_employees(row.size, row.company)),
            field(&vendor_revenue(row.revenue, row.company)),
        )
    })
}

/// The header of [`write_vendor_csv`].
pub const VENDOR_HEADER: &str = "Record ID,First Name,Last Name,Email,Job Title,Department,City,\
State/Region,Country/Region,Phone Number,Company Name,Website URL,Industry,Number of Employees,\
Annual Revenue";

/// One generated prospect and its company.
struct Row<'a> {
    id: u64,
    company: u64,
    first: &'a str,
    last: &'a str,
    email: String,
    title: &'a str,
    department: &'a str,
    place: &'a Place,
    company_name: String,
    domain: String,
    industry: &'a str,
    size: (u32, u32),
    revenue: u64,
}

fn write_rows<W: Write>(
    out: &mut W,
    prospects: u64,
    companies: u64,
    first_company: u64,
    seed: u64,
    messy: bool,
    mut write: impl FnMut(&mut W, &Row<'_>) -> io::Result<()>,
) -> io::Result<()> {
    let mut rng = SplitMix64(seed);
    for id in 0..prospects {
        let company_n = first_company + rng.next() % companies;
        let (domain, company_name, industry, size, revenue) = company(company_n, seed, messy);
        let first = rng.pick(FIRST_NAMES);
        let last = rng.pick(LAST_NAMES);
        let (title, department) = rng.pick(TITLES);
        let place = rng.pick(PLACES);
        let local: String = format!("{first}.{last}.{id}")
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let at = if messy && id % INVALID_EMAIL_EVERY == INVALID_EMAIL_EVERY - 1 {
            ".at."
        } else {
            "@"
        };
        let row = Row {
            id,
            company: company_n,
            first,
            last,
            email: format!("{local}{at}{domain}"),
            title,
            department,
            place,
            company_name,
            domain,
            industry,
            size,
            revenue,
        };
        write(out, &row)?;
    }
    Ok(())
}

/// "https://www.company1.com/", "http://company1.com" or "www.company1.com".
fn vendor_website(domain: &str, company: u64) -> String {
    match company % 3 {
        0 => format!("https://www.{domain}/"),
        1 => format!("http://{domain}"),
        _ => format!("www.{domain}"),
    }
}

/// "1,001-5,000", "1,001 - 5,000 employees" or a head count ("1,001").
fn vendor_employees((min, max): (u32, u32), company: u64) -> String {
    match company % 3 {
        0 => format!(
            "{}-{}",
            thousands(u64::from(min)),
            thousands(u64::from(max))
        ),
        1 => format!(
            "{} - {} employees",
            thousands(u64::from(min)),
            thousands(u64::from(max))
        ),
        _ => thousands(u64::from(min)),
    }
}

/// "$2,750,000.00", "2750000" or "$2.75M" (revenue is whole thousands, so the suffix form is
/// exact).
fn vendor_revenue(revenue: u64, company: u64) -> String {
    match company % 3 {
        0 => format!("${}.00", thousands(revenue)),
        1 => revenue.to_string(),
        _ => {
            let millions = format!("{}.{:03}", revenue / 1_000_000, revenue / 1_000 % 1_000);
            format!("${}M", millions.trim_end_matches('0').trim_end_matches('.'))
        }
    }
}

/// A phone number in the place's country as people type it: with the calling code and
/// spaces or dashes, or (for North America) in the national form.
fn vendor_phone(prefix: &str, id: u64) -> String {
    let line = format!("{:04}", id % 10_000);
    let exchange = 200 + id / 10_000 % 700;
    match (prefix, id % 2) {
        ("+1", 0) => format!("({}) {exchange}-{line}", 212 + id % 7 * 100),
        ("+1", _) => format!("+1 {}-{exchange}-{line}", 212 + id % 7 * 100),
        (prefix, _) => format!("{prefix} {exchange} {line}"),
    }
}

/// 1234567 as "1,234,567".
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(prospects: u64, companies: u64, seed: u64) -> String {
        let mut out = Vec::new();
        write_csv(&mut out, prospects, companies, seed).expect("writing to memory");
        String::from_utf8(out).expect("generated CSV is UTF-8")
    }

    #[test]
    fn output_is_deterministic_and_shaped_like_the_header() {
        let first = generate(200, 20, 7);
        assert_eq!(first, generate(200, 20, 7));
        assert_ne!(first, generate(200, 20, 8));
        let lines: Vec<&str> = first.lines().collect();
        assert_eq!(lines.len(), 201);
        let columns = HEADER.split(',').count();
        assert!(
            lines.iter().all(|line| line.split(',').count() == columns),
            "no field needs quoting here"
        );
    }

    #[test]
    fn files_with_disjoint_company_ranges_share_no_domain() {
        let domains = |first_company: u64, seed: u64| {
            let mut out = Vec::new();
            write_csv_from(&mut out, 500, 50, first_company, seed).expect("writing to memory");
            let csv = String::from_utf8(out).expect("generated CSV is UTF-8");
            let domain = HEADER
                .split(',')
                .position(|column| column == "company_domain")
                .expect("a company_domain column");
            csv.lines()
                .skip(1)
                .map(|line| line.split(',').nth(domain).unwrap_or_default().to_owned())
                .collect::<std::collections::HashSet<_>>()
        };
        let (first, second) = (domains(1_000, 1), domains(1_050, 2));
        assert!(first.iter().all(|domain| domain.starts_with("company1")));
        assert!(!first.is_empty() && first.is_disjoint(&second));
        // Numbered from 0, the same rows as write_csv.
        let mut from_zero = Vec::new();
        write_csv_from(&mut from_zero, 200, 20, 0, 7).expect("writing to memory");
        assert_eq!(
            String::from_utf8(from_zero).expect("UTF-8"),
            generate(200, 20, 7)
        );
    }

    #[test]
    fn messy_rows_are_quoted_and_invalid_emails_counted() {
        let mut out = Vec::new();
        write_csv_with(&mut out, 5_000, 100, 3, true).expect("writing to memory");
        let csv = String::from_utf8(out).expect("generated CSV is UTF-8");
        assert!(
            csv.contains("\"Company 0, \"\"Holdings\"\" "),
            "a quoted company name"
        );
        let without_at = csv
            .lines()
            .skip(1)
            .filter(|line| !line.contains('@'))
            .count();
        assert_eq!(without_at as u64, invalid_rows(5_000, true));
        assert_eq!(invalid_rows(5_000, false), 0);
    }

    #[test]
    fn prospects_spread_over_at_most_the_requested_companies() {
        let csv = generate(2_000, 50, 1);
        let domains: std::collections::HashSet<&str> = csv
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').nth(10))
            .collect();
        assert!(
            domains.len() <= 50 && domains.len() > 40,
            "{} domains",
            domains.len()
        );
    }

    #[test]
    fn the_vendor_file_writes_values_as_exports_do() {
        let mut out = Vec::new();
        write_vendor_csv(&mut out, 3_000, 60, 5).expect("writing to memory");
        let csv = String::from_utf8(out).expect("generated CSV is UTF-8");
        let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
        let header = reader.headers().expect("a header").clone();
        assert_eq!(header.iter().collect::<Vec<_>>().join(","), VENDOR_HEADER);
        let rows: Vec<csv::StringRecord> = reader
            .records()
            .collect::<Result<_, _>>()
            .expect("every row reads as CSV");
        assert_eq!(rows.len(), 3_000);
        let column = |name: &str| {
            let at = header.iter().position(|h| h == name).expect(name);
            rows.iter().map(move |row| row[at].to_owned())
        };
        for shape in ["https://www.", "http://", "www."] {
            assert!(
                column("Website URL").any(|w| w.starts_with(shape)),
                "{shape}"
            );
        }
        assert!(column("Number of Employees").any(|e| e.contains(" employees")));
        assert!(column("Number of Employees").any(|e| e.contains(",") && e.contains('-')));
        assert!(column("Annual Revenue").any(|r| r.starts_with('$') && r.ends_with(".00")));
        assert!(column("Annual Revenue").any(|r| r.ends_with('M')));
        for country in ["USA", "U.S.", "United States"] {
            assert!(column("Country/Region").any(|c| c == country), "{country}");
        }
        assert!(column("Phone Number").any(|p| p.starts_with('(')));
        assert_eq!(vendor_revenue(2_750_000, 2), "$2.75M");
        assert_eq!(vendor_revenue(2_000_000, 2), "$2M");
        assert_eq!(vendor_revenue(1_234_000, 0), "$1,234,000.00");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(999), "999");
    }
}

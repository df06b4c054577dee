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
const PLACES: &[(&str, &str, &str)] = &[
    ("Berlin", "Berlin", "Germany"),
    ("Munich", "Bavaria", "Germany"),
    ("Paris", "Île-de-France", "France"),
    ("London", "England", "United Kingdom"),
    ("Austin", "Texas", "United States"),
    ("New York", "New York", "United States"),
    ("Toronto", "Ontario", "Canada"),
    ("Madrid", "Madrid", "Spain"),
    ("Stockholm", "Stockholm", "Sweden"),
    ("Tokyo", "Tokyo", "Japan"),
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
    let mut rng = SplitMix64(seed);
    for id in 0..prospects {
        let company_n = rng.next() % companies;
        let (domain, company_name, industry, (min, max), revenue) = company(company_n, seed, messy);
        let first = rng.pick(FIRST_NAMES);
        let last = rng.pick(LAST_NAMES);
        let (title, department) = rng.pick(TITLES);
        let (city, state, country) = rng.pick(PLACES);
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
        writeln!(
            out,
            "p{id},{},{},{local}{at}{domain},{},{},{},{},{},{},{domain},{industry},{min},{max},{revenue}",
            field(first),
            field(last),
            field(title),
            field(department),
            field(city),
            field(state),
            field(country),
            field(&company_name),
        )?;
    }
    Ok(())
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
}

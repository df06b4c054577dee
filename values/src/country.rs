//! Countries to ISO 3166-1 ("US", "USA", "U.S.", "United States of America", "America" are one
//! country) and US states and Canadian provinces to their ISO 3166-2 codes ("California",
//! "Calif" no, "CA" yes).
//!
//! The codes, ISO short names and subdivisions come from `rust_iso3166` (current ISO data);
//! the everyday English names and aliases ("United Kingdom", "Great Britain", "Russia",
//! "South Korea", "Holland") from `celes`. Text is compared case-, accent-, space- and
//! punctuation-insensitively, so "u.s.a." and "Côte d'Ivoire" match.

use std::collections::HashMap;
use std::sync::LazyLock;

use rust_iso3166::CountryCode;

use super::lookup_key;

/// A country: its ISO 3166-1 codes and English short name ("United States of America").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    pub alpha2: &'static str,
    pub alpha3: &'static str,
    pub name: &'static str,
}

impl From<CountryCode> for Country {
    fn from(code: CountryCode) -> Self {
        Self {
            alpha2: code.alpha2,
            alpha3: code.alpha3,
            name: code.name,
        }
    }
}

/// Why a value names no country; the text follows the quoted value in a row error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CountryError {
    #[error("is not a known country or ISO 3166-1 code")]
    Unknown,
}

/// ISO short names by lookup key, each also without its qualifier ("Bolivia (Plurinational
/// State of)" is "Bolivia" too) and with it in front ("Republic of Korea") when that names only
/// one country ("Korea" names two and is left to the aliases).
static NAMES: LazyLock<HashMap<String, CountryCode>> = LazyLock::new(|| {
    let mut names = HashMap::new();
    let mut short: HashMap<String, Option<CountryCode>> = HashMap::new();
    for &code in rust_iso3166::ALL {
        names.insert(lookup_key(code.name), code);
        if let Some((base, rest)) = code.name.split_once(" (") {
            let qualifier = rest.trim_end_matches(')');
            for form in [base.to_owned(), format!("{qualifier} {base}")] {
                short
                    .entry(lookup_key(&form))
                    .and_modify(|seen| *seen = None)
                    .or_insert(Some(code));
            }
        }
    }
    for (key, code) in short {
        if let Some(code) = code {
            names.entry(key).or_insert(code);
        }
    }
    names
});

/// Reads a country from a code (alpha-2, alpha-3, numeric), an ISO name or a common name.
pub fn parse_country(raw: &str) -> Result<Country, CountryError> {
    let key = lookup_key(raw);
    let found = country_by_key(&key);
    // "The United States", "the Netherlands": the article is no part of the name.
    let article = raw
        .trim_start()
        .get(..4)
        .is_some_and(|start| start.eq_ignore_ascii_case("the "));
    match found {
        Err(_) if article => country_by_key(key.strip_prefix("the").unwrap_or(&key)),
        found => found,
    }
}

fn country_by_key(key: &str) -> Result<Country, CountryError> {
    let upper = key.to_ascii_uppercase();
    let code = match key.len() {
        // "UK" is reserved by ISO for the United Kingdom, whose code is GB.
        2 if upper == "UK" => rust_iso3166::from_alpha2("GB"),
        2 => rust_iso3166::from_alpha2(&upper),
        3 if key.bytes().all(|b| b.is_ascii_digit()) => rust_iso3166::from_numeric_str(key),
        3 => rust_iso3166::from_alpha3(&upper),
        _ => None,
    };
    code.or_else(|| NAMES.get(key).copied())
        .or_else(|| {
            let alias = celes::Country::from_name(key).or_else(|_| celes::Country::from_alias(key));
            alias
                .ok()
                .and_then(|country| rust_iso3166::from_alpha2(country.alpha2))
        })
        .map(Country::from)
        .ok_or(CountryError::Unknown)
}

/// A US state, district or territory, or a Canadian province or territory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// The code within the country ("CA", "QC"): the ISO 3166-2 code without its country.
    pub code: &'static str,
    /// The country's alpha-2 code, "US" or "CA".
    pub country: &'static str,
    pub name: &'static str,
}

/// Why a value names no region of a country whose regions are normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("is not a US state, district or territory")]
    NotAUsState,
    #[error("is not a Canadian province or territory")]
    NotACanadianProvince,
}

/// The countries whose regions are normalized, in the order a value without a country is
/// tried; their codes do not overlap.
const REGION_COUNTRIES: [&str; 2] = ["US", "CA"];

/// Reads a US state or Canadian province by code ("CA", "US-CA") or name ("California").
///
/// `country` is the row's alpha-2 code, if known. For the US and Canada the value must be one of
/// their regions; without a country a match in either is taken and anything else is `Ok(None)`;
/// for any other country the value is `Ok(None)`: such regions are kept as written.
pub fn parse_region(raw: &str, country: Option<&str>) -> Result<Option<Region>, RegionError> {
    let country = country.map(str::to_ascii_uppercase);
    let candidates: &[&str] = match country.as_deref() {
        None => &REGION_COUNTRIES,
        Some("US") => &["US"],
        Some("CA") => &["CA"],
        Some(_) => return Ok(None),
    };
    let matches = REGIONS.get(&lookup_key(raw));
    let found = candidates.iter().find_map(|&alpha2| {
        matches?
            .iter()
            .find(|region| region.country == alpha2)
            .copied()
    });
    match (found, country.as_deref()) {
        (Some(region), _) => Ok(Some(region)),
        (None, Some("US")) => Err(RegionError::NotAUsState),
        (None, Some("CA")) => Err(RegionError::NotACanadianProvince),
        (None, _) => Ok(None),
    }
}

/// The regions of [`REGION_COUNTRIES`] by the lookup key of each of their forms (code, ISO
/// 3166-2 code, name), in ISO order within each country: built once, as every row with a
/// state is read by it.
static REGIONS: LazyLock<HashMap<String, Vec<Region>>> = LazyLock::new(|| {
    let mut regions: HashMap<String, Vec<Region>> = HashMap::new();
    for alpha2 in REGION_COUNTRIES {
        let Some(country) = rust_iso3166::from_alpha2(alpha2) else {
            continue;
        };
        for subdivision in country.subdivisions().unwrap_or_default() {
            let region = Region {
                code: subdivision.region_code,
                country: alpha2,
                name: subdivision.name,
            };
            for form in [subdivision.region_code, subdivision.code, subdivision.name] {
                let found = regions.entry(lookup_key(form)).or_default();
                if !found.contains(&region) {
                    found.push(region);
                }
            }
        }
    }
    regions
});

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn alpha2(raw: &str) -> Result<&'static str, CountryError> {
        parse_country(raw).map(|country| country.alpha2)
    }

    #[test]
    fn vendor_forms() {
        for (raw, expected) in [
            ("US", "US"),
            ("us", "US"),
            ("USA", "US"),
            ("U.S.", "US"),
            ("U.S.A.", "US"),
            ("United States", "US"),
            ("United States of America", "US"),
            ("the united states", "US"),
            ("America", "US"),
            ("840", "US"),
            ("UK", "GB"),
            ("GB", "GB"),
            ("United Kingdom", "GB"),
            ("Great Britain", "GB"),
            ("England", "GB"),
            ("Germany", "DE"),
            ("DEU", "DE"),
            ("Netherlands", "NL"),
            ("The Netherlands", "NL"),
            ("Holland", "NL"),
            ("South Korea", "KR"),
            ("Republic of Korea", "KR"),
            ("Korea, Republic of", "KR"),
            ("Russia", "RU"),
            ("Vietnam", "VN"),
            ("Viet Nam", "VN"),
            ("Bolivia", "BO"),
            ("Iran", "IR"),
            ("Czech Republic", "CZ"),
            ("Turkey", "TR"),
            ("Türkiye", "TR"),
            ("Côte d'Ivoire", "CI"),
            ("Ivory Coast", "CI"),
            ("Taiwan", "TW"),
            ("Congo", "CG"),
            ("  canada ", "CA"),
        ] {
            assert_eq!(alpha2(raw), Ok(expected), "{raw:?}");
        }
        let us = parse_country("usa").ok();
        assert_eq!(
            us.map(|c| (c.alpha3, c.name)),
            Some(("USA", "United States of America"))
        );
    }

    #[test]
    fn unknown_countries_are_refused() {
        for raw in [
            "", "XX", "ZZZ", "Atlantis", "999", "Korea", "U.S.S.R.", "Kosovo",
        ] {
            assert_eq!(alpha2(raw), Err(CountryError::Unknown), "{raw:?}");
        }
    }

    #[test]
    fn every_iso_country_reads_back_by_code_and_name() {
        for code in rust_iso3166::ALL {
            for form in [code.alpha2, code.alpha3, code.name] {
                assert_eq!(alpha2(form), Ok(code.alpha2), "{form:?}");
                assert_eq!(alpha2(&form.to_lowercase()), Ok(code.alpha2), "{form:?}");
            }
        }
    }

    #[test]
    fn every_celes_country_is_an_iso_country() {
        // Kosovo's XK is a user-assigned code, not ISO 3166-1, so it is not a country here.
        for country in celes::Country::get_countries() {
            let iso = rust_iso3166::from_alpha2(country.alpha2);
            assert!(
                iso.is_some() || country.alpha2 == "XK",
                "{}",
                country.long_name
            );
        }
    }

    #[test]
    fn regions() {
        let region =
            |raw, country| parse_region(raw, country).map(|r| r.map(|r| (r.code, r.country)));
        assert_eq!(region("California", Some("US")), Ok(Some(("CA", "US"))));
        assert_eq!(region("ca", Some("us")), Ok(Some(("CA", "US"))));
        assert_eq!(region("US-NY", None), Ok(Some(("NY", "US"))));
        assert_eq!(region("new york", None), Ok(Some(("NY", "US"))));
        assert_eq!(
            region("District of Columbia", Some("US")),
            Ok(Some(("DC", "US")))
        );
        assert_eq!(region("Puerto Rico", Some("US")), Ok(Some(("PR", "US"))));
        assert_eq!(region("Québec", None), Ok(Some(("QC", "CA"))));
        assert_eq!(region("Quebec", Some("CA")), Ok(Some(("QC", "CA"))));
        assert_eq!(region("ON", Some("CA")), Ok(Some(("ON", "CA"))));
        assert_eq!(region("British Columbia", None), Ok(Some(("BC", "CA"))));
        assert_eq!(region("Bavaria", Some("DE")), Ok(None));
        assert_eq!(region("Bavaria", None), Ok(None));
        assert_eq!(region("Ontario", Some("US")), Err(RegionError::NotAUsState));
        assert_eq!(
            region("Texas", Some("CA")),
            Err(RegionError::NotACanadianProvince)
        );
        assert_eq!(
            format!(
                "{} {}",
                svc_core::error::quoted("Calif"),
                RegionError::NotAUsState
            ),
            "\"Calif\" is not a US state, district or territory"
        );
    }

    /// Ways people write the same country, to be dressed up with case and punctuation.
    const ALIASES: [(&str, &[&str]); 4] = [
        (
            "US",
            &[
                "US",
                "USA",
                "United States",
                "United States of America",
                "America",
                "840",
            ],
        ),
        (
            "GB",
            &[
                "GB",
                "GBR",
                "UK",
                "United Kingdom",
                "Great Britain",
                "England",
            ],
        ),
        ("DE", &["DE", "DEU", "Germany", "276"]),
        (
            "KR",
            &[
                "KR",
                "KOR",
                "South Korea",
                "Republic of Korea",
                "Korea (Republic of)",
            ],
        ),
    ];

    fn dressed(text: &str, upper: &[bool], dots: &[bool]) -> String {
        text.chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let c = if upper.get(i).copied().unwrap_or(false) {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                };
                let dot = dots.get(i).copied().unwrap_or(false) && c.is_alphanumeric();
                [Some(c), dot.then_some('.')]
            })
            .flatten()
            .collect()
    }

    proptest! {
        #[test]
        fn never_panics(raw in "\\PC{0,40}", country in prop::option::of("[A-Za-z]{2}")) {
            let _ = parse_country(&raw);
            let _ = parse_region(&raw, country.as_deref());
        }

        #[test]
        fn any_alias_yields_the_same_alpha2(
            which in 0..ALIASES.len(),
            pick in any::<prop::sample::Index>(),
            upper in prop::collection::vec(any::<bool>(), 40),
            dots in prop::collection::vec(any::<bool>(), 40),
            padding in "[ \t]{0,2}",
        ) {
            let (expected, aliases) = ALIASES[which];
            let alias = aliases[pick.index(aliases.len())];
            let written = format!("{padding}{}{padding}", dressed(alias, &upper, &dots));
            prop_assert_eq!(alpha2(&written), Ok(expected), "{:?}", written);
        }
    }
}

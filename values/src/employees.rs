//! Employee counts as exports write them: "2,300", "11-50", "1,001 - 5,000", "10,001+",
//! "201-500 employees", "1 to 10", "Self-employed".

use super::numbers::{self, RangeError, Reading};

/// More than any employer has (the largest have about 2-3 million): a typo, or another column.
pub const MAX_EMPLOYEES: i32 = 10_000_000;

/// An employee count or range; a single count is both bounds. `max` is `None` for an open
/// range ("10,001+").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Employees {
    pub min: i32,
    pub max: Option<i32>,
}

/// Why a value is no employee count; the text follows the quoted value in a row error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmployeesError {
    #[error("is not an employee count or range")]
    NotACount,
    #[error("is a negative employee count")]
    Negative,
    #[error("is not a whole number of employees")]
    Fraction,
    #[error("has a minimum above its maximum")]
    Reversed,
    #[error("is more than 10,000,000 employees")]
    TooLarge,
}

/// Words that may follow the count ("201-500 employees").
const UNITS: [&str; 7] = [
    "employees",
    "employee",
    "emps",
    "emp",
    "people",
    "staff",
    "persons",
];

/// Reads an employee count or range. Bounds are inclusive; "under 10" is 0 to 9, "over 50" is
/// 51 or more, "50+" is 50 or more. A multiplier word is allowed ("5K+"), a fraction is not.
pub fn parse_employees(raw: &str) -> Result<Employees, EmployeesError> {
    let text = raw.trim().to_lowercase();
    // LinkedIn's smallest company size: the owner alone.
    if matches!(
        text.as_str(),
        "self-employed" | "self employed" | "myself only"
    ) {
        return Ok(Employees {
            min: 1,
            max: Some(1),
        });
    }
    let mut text = text.as_str();
    for unit in UNITS {
        if let Some(count) = text.strip_suffix(unit) {
            text = count.trim_end();
            break;
        }
    }
    let reading = Reading {
        round: false,
        plain_factor: 1,
        max: i64::from(MAX_EMPLOYEES),
        money: false,
    };
    let range = numbers::range(text, reading).map_err(|error| match error {
        RangeError::NotANumber | RangeError::MixedCurrencies => EmployeesError::NotACount,
        RangeError::Negative => EmployeesError::Negative,
        RangeError::Fraction => EmployeesError::Fraction,
        RangeError::Reversed => EmployeesError::Reversed,
        RangeError::TooLarge => EmployeesError::TooLarge,
    })?;
    let bound = |value: i64| i32::try_from(value).map_err(|_| EmployeesError::TooLarge);
    Ok(Employees {
        min: bound(range.min)?,
        max: range.max.map(bound).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::numbers::grouped;
    use super::*;
    use proptest::prelude::*;

    fn employees(raw: &str) -> Result<(i32, Option<i32>), EmployeesError> {
        parse_employees(raw).map(|e| (e.min, e.max))
    }

    #[test]
    fn vendor_forms() {
        for (raw, expected) in [
            ("2,300", (2300, Some(2300))),
            ("11-50", (11, Some(50))),
            ("11 – 50", (11, Some(50))),
            ("1,001 - 5,000", (1001, Some(5000))),
            ("10,001+", (10_001, None)),
            ("201-500 employees", (201, Some(500))),
            ("5000+ employees", (5000, None)),
            ("1 to 10", (1, Some(10))),
            ("Self-employed", (1, Some(1))),
            ("0", (0, Some(0))),
            ("  42 ", (42, Some(42))),
            ("1K-5K", (1000, Some(5000))),
            ("1-5k", (1000, Some(5000))),
            ("under 10", (0, Some(9))),
            ("up to 10", (0, Some(10))),
            ("over 50", (51, None)),
            ("at least 50", (50, None)),
        ] {
            assert_eq!(employees(raw), Ok(expected), "{raw:?}");
        }
    }

    #[test]
    fn refusals_say_why() {
        for (raw, error) in [
            ("abc", EmployeesError::NotACount),
            ("", EmployeesError::NotACount),
            ("-5", EmployeesError::Negative),
            ("50-11", EmployeesError::Reversed),
            ("2.5", EmployeesError::Fraction),
            // A single dot is a decimal point, so German grouping reads as a fraction.
            ("1.001-5.000", EmployeesError::Fraction),
            ("20,000,000", EmployeesError::TooLarge),
            ("$500", EmployeesError::NotACount),
            ("1,2 Mrd €", EmployeesError::NotACount),
            ("11-", EmployeesError::NotACount),
            ("eleven", EmployeesError::NotACount),
        ] {
            assert_eq!(employees(raw), Err(error), "{raw:?}");
        }
        assert_eq!(
            format!(
                "{} {}",
                svc_core::error::quoted("abc"),
                EmployeesError::NotACount
            ),
            "\"abc\" is not an employee count or range"
        );
    }

    proptest! {
        #[test]
        fn never_panics(raw in "\\PC{0,40}") {
            let _ = parse_employees(&raw);
        }

        #[test]
        fn min_never_exceeds_max(raw in "[0-9,.+<> kK-]{0,20}") {
            if let Ok(range) = parse_employees(&raw) {
                prop_assert!(range.min >= 0);
                prop_assert!(range.max.is_none_or(|max| range.min <= max));
            }
        }

        #[test]
        fn written_counts_read_back(n in 0u64..=10_000_000, separator in prop::sample::select(vec![",", " ", "", "\u{a0}"])) {
            let written = grouped(n, separator);
            let n = i32::try_from(n).unwrap_or(i32::MAX);
            prop_assert_eq!(employees(&written), Ok((n, Some(n))));
            prop_assert_eq!(employees(&format!("{written}+ employees")), Ok((n, None)));
        }

        #[test]
        fn written_ranges_read_back(a in 0u32..5_000_000, b in 0u32..5_000_000) {
            let (low, high) = (a.min(b), a.max(b));
            let written = format!("{} - {}", grouped(low.into(), ","), grouped(high.into(), ","));
            let (low, high) = (i32::try_from(low).unwrap_or(0), i32::try_from(high).unwrap_or(0));
            prop_assert_eq!(employees(&written), Ok((low, Some(high))));
        }
    }
}

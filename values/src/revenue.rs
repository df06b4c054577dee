//! Revenue as exports write it: "$2,750,000.00", "$1.2M", "1.2 million", "12500000",
//! "€3,5 Mio", "$1M-$10M", "$1B+", "<$1M", "$5 mil. - $10 mil.", or a plain number in a
//! column declared in thousands of dollars.

pub use super::numbers::Currency;
use super::numbers::{self, RangeError, Reading};

/// Above any company's yearly revenue (the largest are under a trillion): a typo or a
/// misplaced multiplier.
pub const MAX_REVENUE: i64 = 100_000_000_000_000;

/// Revenue bounds in whole currency units; a single amount is both bounds. `max` is `None`
/// for an open range ("$1B+"); `currency` is `None` when the value names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revenue {
    pub min: i64,
    pub max: Option<i64>,
    pub currency: Option<Currency>,
}

/// Why a value is no revenue; the text follows the quoted value in a row error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RevenueError {
    #[error("is not a revenue amount or range")]
    NotAnAmount,
    #[error("is a negative revenue")]
    Negative,
    #[error("has a minimum above its maximum")]
    Reversed,
    #[error("is more than 100 trillion")]
    TooLarge,
    #[error("names two different currencies")]
    MixedCurrencies,
}

/// Reads a revenue amount or range. `in_thousands`: the column holds thousands, so a plain
/// number is multiplied by 1,000; a number with its own multiplier word ("1.2M") means what it
/// says. Fractions of a unit round half away from zero. Bounds are inclusive: "<$1M" is 0 to
/// 999,999, "$1B+" is a billion or more.
pub fn parse_revenue(raw: &str, in_thousands: bool) -> Result<Revenue, RevenueError> {
    let text = raw.trim().to_lowercase();
    let reading = Reading {
        round: true,
        plain_factor: if in_thousands { 1_000 } else { 1 },
        max: MAX_REVENUE,
        money: true,
    };
    let range = numbers::range(&text, reading).map_err(|error| match error {
        RangeError::NotANumber | RangeError::Fraction => RevenueError::NotAnAmount,
        RangeError::Negative => RevenueError::Negative,
        RangeError::Reversed => RevenueError::Reversed,
        RangeError::TooLarge => RevenueError::TooLarge,
        RangeError::MixedCurrencies => RevenueError::MixedCurrencies,
    })?;
    Ok(Revenue {
        min: range.min,
        max: range.max,
        currency: range.currency,
    })
}

#[cfg(test)]
mod tests {
    use super::super::numbers::grouped;
    use super::*;
    use proptest::prelude::*;

    fn revenue(raw: &str) -> Result<(i64, Option<i64>, Option<&'static str>), RevenueError> {
        parse_revenue(raw, false).map(|r| (r.min, r.max, r.currency.map(Currency::code)))
    }

    const M: i64 = 1_000_000;

    #[test]
    fn vendor_forms() {
        for (raw, expected) in [
            ("$2,750,000.00", (2_750_000, Some(2_750_000), Some("USD"))),
            ("$1.2M", (1_200_000, Some(1_200_000), Some("USD"))),
            ("1.2 million", (1_200_000, Some(1_200_000), None)),
            ("12500000", (12_500_000, Some(12_500_000), None)),
            ("€3,5 Mio", (3_500_000, Some(3_500_000), Some("EUR"))),
            ("3.500.000 €", (3_500_000, Some(3_500_000), Some("EUR"))),
            ("£750K", (750_000, Some(750_000), Some("GBP"))),
            ("USD 5M", (5 * M, Some(5 * M), Some("USD"))),
            ("5M USD", (5 * M, Some(5 * M), Some("USD"))),
            ("US$ 2 billion", (2_000 * M, Some(2_000 * M), Some("USD"))),
            ("$1M-$10M", (M, Some(10 * M), Some("USD"))),
            ("$1-10M", (M, Some(10 * M), Some("USD"))),
            ("$5 mil. - $10 mil.", (5 * M, Some(10 * M), Some("USD"))),
            ("$500K - $1M", (500_000, Some(M), Some("USD"))),
            ("$1B+", (1_000 * M, None, Some("USD"))),
            ("Over $5 bil.", (5_000 * M + 1, None, Some("USD"))),
            ("<$1M", (0, Some(M - 1), Some("USD"))),
            ("1,200", (1_200, Some(1_200), None)),
            ("1,25", (1, Some(1), None)),
            ("$1.5", (2, Some(2), Some("USD"))),
        ] {
            assert_eq!(revenue(raw), Ok(expected), "{raw:?}");
        }
    }

    #[test]
    fn a_thousands_column_multiplies_plain_numbers_only() {
        let thousands = |raw| parse_revenue(raw, true).map(|r| (r.min, r.max));
        assert_eq!(thousands("12,500"), Ok((12_500_000, Some(12_500_000))));
        assert_eq!(thousands("1,000-5,000"), Ok((M, Some(5 * M))));
        assert_eq!(thousands("$1.2M"), Ok((1_200_000, Some(1_200_000))));
        assert_eq!(thousands("2.5"), Ok((2_500, Some(2_500))));
    }

    #[test]
    fn refusals_say_why() {
        for (raw, error) in [
            ("abc", RevenueError::NotAnAmount),
            ("", RevenueError::NotAnAmount),
            ("$", RevenueError::NotAnAmount),
            ("5 apples", RevenueError::NotAnAmount),
            ("JPY 500", RevenueError::NotAnAmount),
            ("-$5M", RevenueError::Negative),
            ("$-5M", RevenueError::Negative),
            ("(500)", RevenueError::Negative),
            ("$10M-$1M", RevenueError::Reversed),
            ("$1M-€2M", RevenueError::MixedCurrencies),
            ("$5M EUR", RevenueError::MixedCurrencies),
            ("200T", RevenueError::TooLarge),
            (
                "99999999999999999999999999999999999",
                RevenueError::NotAnAmount,
            ),
        ] {
            assert_eq!(revenue(raw), Err(error), "{raw:?}");
        }
        assert_eq!(
            format!(
                "{} {}",
                svc_core::error::quoted("abc"),
                RevenueError::NotAnAmount
            ),
            "\"abc\" is not a revenue amount or range"
        );
    }

    proptest! {
        #[test]
        fn never_panics(raw in "\\PC{0,40}", thousands in any::<bool>()) {
            let _ = parse_revenue(&raw, thousands);
        }

        #[test]
        fn min_never_exceeds_max(raw in "[0-9,.+<>$€ kKmMbB-]{0,24}", thousands in any::<bool>()) {
            if let Ok(range) = parse_revenue(&raw, thousands) {
                prop_assert!(range.min >= 0);
                prop_assert!(range.max.is_none_or(|max| range.min <= max));
            }
        }

        #[test]
        fn written_amounts_read_back(
            n in 0u64..=MAX_REVENUE as u64,
            symbol in prop::sample::select(vec!["", "$", "€", "£", "USD "]),
            cents in any::<bool>(),
        ) {
            let written = format!("{symbol}{}{}", grouped(n, ","), if cents { ".00" } else { "" });
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            prop_assert_eq!(parse_revenue(&written, false).map(|r| (r.min, r.max)), Ok((n, Some(n))));
        }

        #[test]
        fn multiplier_words_read_back(
            whole in 0u64..1_000,
            tenths in 0u64..10,
            (word, factor) in prop::sample::select(vec![("K", 1_000u64), ("M", 1_000_000), (" million", 1_000_000), ("B", 1_000_000_000), (" bn", 1_000_000_000)]),
        ) {
            let written = format!("${whole}.{tenths}{word}");
            let expected = i64::try_from(whole * factor + tenths * factor / 10).unwrap_or(i64::MAX);
            prop_assert_eq!(parse_revenue(&written, false).map(|r| r.min), Ok(expected));
        }
    }
}

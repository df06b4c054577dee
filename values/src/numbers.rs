//! The grammar employee counts and revenue share: amounts as people write them ("2,300",
//! "$1.2M", "€3,5 Mio") and ranges of them ("11-50", "$1M-$10M", "10,001+", "<$1M").
//!
//! Separators: `,` `.` space, no-break spaces, `'` and `_` group thousands. A single `.` is a
//! decimal point; a single `,` is a decimal comma only when it is not followed by exactly three
//! digits ("3,5" is 3.5, "1,200" is 1200); with both, the last one is the decimal separator
//! ("1.234,56"). Groups after the first have exactly three digits, so "1,20,000" is refused
//! rather than guessed.

/// Why text is no amount or range; each kind turns these into its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RangeError {
    NotANumber,
    Negative,
    /// A value with a fraction where only whole numbers are meant.
    Fraction,
    Reversed,
    TooLarge,
    MixedCurrencies,
}

/// A non-negative decimal: `digits / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    digits: u128,
    scale: u32,
}

/// More digits than any real amount has; keeps `10^scale` and products within u128.
const MAX_DIGITS: usize = 30;

impl Decimal {
    fn parse(text: &str) -> Option<Self> {
        let is_group = |c: char| matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\'' | '_');
        let dots = text.matches('.').count();
        let commas = text.matches(',').count();
        let decimal = match (dots, commas) {
            (0, 0) => None,
            (1, 0) => Some('.'),
            (_, 0) | (0, _) if dots + commas > 1 => None,
            (0, 1) => {
                let after = text.rsplit(',').next().unwrap_or_default();
                (after.len() != 3).then_some(',')
            }
            // Both: the last one marks the decimals and may occur only once.
            _ => {
                let separator = if text.rfind('.') > text.rfind(',') {
                    '.'
                } else {
                    ','
                };
                if text.matches(separator).count() > 1 {
                    return None;
                }
                Some(separator)
            }
        };
        let (whole, fraction) = match decimal {
            Some(separator) => text.split_once(separator)?,
            None => (text, ""),
        };
        if !fraction.bytes().all(|b| b.is_ascii_digit())
            || (decimal.is_some() && fraction.is_empty())
        {
            return None;
        }
        let mut groups = whole.split(|c: char| is_group(c) || matches!(c, '.' | ','));
        let first = groups.next()?;
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut all = first.to_owned();
        let mut grouped = false;
        for group in groups {
            grouped = true;
            if group.len() != 3 || !group.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            all.push_str(group);
        }
        if grouped && first.len() > 3 {
            return None;
        }
        all.push_str(fraction);
        let significant = all.trim_start_matches('0');
        if significant.len() > MAX_DIGITS || fraction.len() > MAX_DIGITS {
            return None;
        }
        Some(Self {
            // Nothing is left to parse when every digit was a zero.
            digits: significant.parse().unwrap_or(0),
            scale: u32::try_from(fraction.len()).ok()?,
        })
    }

    fn times(self, factor: u64) -> Option<Self> {
        Some(Self {
            digits: self.digits.checked_mul(u128::from(factor))?,
            ..self
        })
    }

    /// The value rounded to a whole number, halves away from zero; `None` past i64.
    fn rounded(self) -> Option<i64> {
        let unit = 10u128.checked_pow(self.scale)?;
        i64::try_from(self.digits.checked_add(unit / 2)? / unit).ok()
    }

    /// The value when it is whole; `Err(Fraction)` when it is not.
    fn whole(self) -> Result<Option<i64>, RangeError> {
        let unit = 10u128.checked_pow(self.scale).ok_or(RangeError::TooLarge)?;
        if !self.digits.is_multiple_of(unit) {
            return Err(RangeError::Fraction);
        }
        Ok(i64::try_from(self.digits / unit).ok())
    }
}

/// Multipliers written after a number ("1.2M", "3,5 Mio", "$5 mil.", "2 billion").
fn multiplier(word: &str) -> Option<u64> {
    Some(match word {
        "k" | "thousand" | "thousands" | "tsd" => 1_000,
        "m" | "mm" | "mn" | "mil" | "mio" | "million" | "millions" => 1_000_000,
        "b" | "bn" | "bil" | "bln" | "mrd" | "billion" | "billions" => 1_000_000_000,
        "t" | "tn" | "trillion" | "trillions" => 1_000_000_000_000,
        _ => return None,
    })
}

/// A currency a value names by symbol or ISO 4217 code, before or after the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Currency {
    Usd,
    Eur,
    Gbp,
}

impl Currency {
    /// The ISO 4217 code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
        }
    }
}

/// Currency marks, longest first so "us$" wins over "$".
const CURRENCIES: [(&str, Currency); 7] = [
    ("us$", Currency::Usd),
    ("usd", Currency::Usd),
    ("$", Currency::Usd),
    ("eur", Currency::Eur),
    ("€", Currency::Eur),
    ("gbp", Currency::Gbp),
    ("£", Currency::Gbp),
];

/// One side of a range: "$1.2M" is 1.2, a million, dollars.
#[derive(Debug, Clone, Copy)]
struct Amount {
    value: Decimal,
    multiplier: Option<u64>,
    currency: Option<Currency>,
}

fn amount(text: &str) -> Result<Amount, RangeError> {
    let mut rest = text.trim();
    let mut currency = None;
    for (mark, code) in CURRENCIES {
        if let Some(after) = rest.strip_prefix(mark) {
            currency = Some(code);
            rest = after.trim_start();
            break;
        }
    }
    for (mark, code) in CURRENCIES {
        if let Some(before) = rest.strip_suffix(mark) {
            if currency.is_some_and(|seen| seen != code) {
                return Err(RangeError::MixedCurrencies);
            }
            currency = Some(code);
            rest = before.trim_end();
            break;
        }
    }
    if rest.starts_with(['-', '\u{2212}']) || (rest.starts_with('(') && rest.ends_with(')')) {
        return Err(RangeError::Negative);
    }
    let number_end = rest
        .find(|c: char| {
            !(c.is_ascii_digit()
                || matches!(c, ',' | '.' | ' ' | '\u{a0}' | '\u{202f}' | '\'' | '_'))
        })
        .unwrap_or(rest.len());
    let (number, word) = rest.split_at(number_end);
    let value = Decimal::parse(number.trim_end()).ok_or(RangeError::NotANumber)?;
    let word = word.trim().trim_end_matches('.');
    let multiplier = if word.is_empty() {
        None
    } else {
        Some(multiplier(word).ok_or(RangeError::NotANumber)?)
    };
    Ok(Amount {
        value,
        multiplier,
        currency,
    })
}

/// How the text bounds the value, before its sides are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape<'a> {
    Exact(&'a str),
    Between(&'a str, &'a str),
    /// `strict`: "over 50" is at least 51; "50+" is at least 50.
    AtLeast {
        side: &'a str,
        strict: bool,
    },
    AtMost {
        side: &'a str,
        strict: bool,
    },
}

const AT_MOST: [(&str, bool); 8] = [
    ("<=", false),
    ("≤", false),
    ("<", true),
    ("up to", false),
    ("less than", true),
    ("fewer than", true),
    ("under", true),
    ("below", true),
];
const AT_LEAST_BEFORE: [(&str, bool); 7] = [
    (">=", false),
    ("≥", false),
    (">", true),
    ("at least", false),
    ("more than", true),
    ("over", true),
    ("above", true),
];
const AT_LEAST_AFTER: [&str; 6] = ["+", "plus", "or more", "and more", "and above", "and over"];
/// Range dashes: hyphen, figure dash, en dash, em dash, minus sign.
const DASHES: [char; 5] = ['-', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2212}'];

fn shape(text: &str) -> Shape<'_> {
    for (word, strict) in AT_MOST {
        if let Some(side) = strip_prefix_word(text, word) {
            return Shape::AtMost { side, strict };
        }
    }
    for (word, strict) in AT_LEAST_BEFORE {
        if let Some(side) = strip_prefix_word(text, word) {
            return Shape::AtLeast { side, strict };
        }
    }
    for word in AT_LEAST_AFTER {
        if let Some(side) = strip_suffix_word(text, word) {
            return Shape::AtLeast {
                side,
                strict: false,
            };
        }
    }
    // A dash before any digit is a minus sign ("-5", "$-5M"), not a range.
    let dash = text
        .char_indices()
        .find(|&(at, c)| DASHES.contains(&c) && text[..at].contains(|d: char| d.is_ascii_digit()))
        .map(|(at, c)| (at, at + c.len_utf8()));
    let to = text.find(" to ").map(|at| (at, at + 4));
    match dash.or(to) {
        Some((start, end)) => Shape::Between(&text[..start], &text[end..]),
        None => Shape::Exact(text),
    }
}

/// `text` after `word`, for an operator or for a word that ends at a space or a digit.
fn strip_prefix_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(word)?;
    let symbol = !word.starts_with(|c: char| c.is_alphabetic());
    (symbol || rest.starts_with(|c: char| !c.is_alphabetic())).then_some(rest.trim_start())
}

fn strip_suffix_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let rest = text.strip_suffix(word)?;
    let symbol = !word.starts_with(|c: char| c.is_alphabetic());
    (symbol || rest.ends_with(|c: char| !c.is_alphabetic())).then_some(rest.trim_end())
}

/// Inclusive bounds read from a value: `max` is `None` for an open range ("10,001+").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Range {
    pub min: i64,
    pub max: Option<i64>,
    pub currency: Option<Currency>,
}

/// How one kind reads the numbers of the grammar.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reading {
    /// Fractions round to whole units (revenue) instead of being refused (head counts).
    pub round: bool,
    /// The factor for a number without a multiplier word (a column declared in thousands).
    pub plain_factor: u64,
    /// The largest value that makes sense.
    pub max: i64,
    /// Whether a currency may be named; a count with one is no count.
    pub money: bool,
}

/// Reads `text` (already lower case, trimmed) as an amount or a range of amounts.
pub(super) fn range(text: &str, reading: Reading) -> Result<Range, RangeError> {
    let value = |amount: Amount| -> Result<i64, RangeError> {
        if amount.currency.is_some() && !reading.money {
            return Err(RangeError::NotANumber);
        }
        let factor = amount.multiplier.unwrap_or(reading.plain_factor);
        let scaled = amount.value.times(factor).ok_or(RangeError::TooLarge)?;
        let whole = if reading.round {
            scaled.rounded()
        } else {
            scaled.whole()?
        };
        whole
            .filter(|&value| value <= reading.max)
            .ok_or(RangeError::TooLarge)
    };
    let currency = |a: &Amount, b: &Amount| match (a.currency, b.currency) {
        (Some(x), Some(y)) if x != y => Err(RangeError::MixedCurrencies),
        (x, y) => Ok(x.or(y)),
    };
    let range = match shape(text) {
        Shape::Exact(side) => {
            let amount = amount(side)?;
            let value = value(amount)?;
            Range {
                min: value,
                max: Some(value),
                currency: amount.currency,
            }
        }
        Shape::Between(low, high) => {
            let mut low = amount(low)?;
            let high = amount(high)?;
            // "$1-10M": a lower side without a multiplier word takes the upper side's.
            if low.multiplier.is_none() {
                low.multiplier = high.multiplier;
            }
            Range {
                min: value(low)?,
                max: Some(value(high)?),
                currency: currency(&low, &high)?,
            }
        }
        Shape::AtLeast { side, strict } => {
            let amount = amount(side)?;
            let min = value(amount)?;
            let min = if strict { min + 1 } else { min };
            Range {
                min: min.min(reading.max),
                max: None,
                currency: amount.currency,
            }
        }
        Shape::AtMost { side, strict } => {
            let amount = amount(side)?;
            let max = value(amount)?;
            Range {
                min: 0,
                max: Some(if strict { (max - 1).max(0) } else { max }),
                currency: amount.currency,
            }
        }
    };
    if range.max.is_some_and(|max| max < range.min) {
        return Err(RangeError::Reversed);
    }
    Ok(range)
}

/// `n` written with `separator` between groups of three digits, as exports write counts.
#[cfg(test)]
pub(super) fn grouped(n: u64, separator: &str) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(separator);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(text: &str) -> Option<(u128, u32)> {
        Decimal::parse(text).map(|d| (d.digits, d.scale))
    }

    #[test]
    fn separators_group_thousands_and_mark_decimals() {
        assert_eq!(decimal("2,300"), Some((2300, 0)));
        assert_eq!(decimal("1,234,567.89"), Some((123456789, 2)));
        assert_eq!(decimal("1.234.567,89"), Some((123456789, 2)));
        assert_eq!(decimal("1 234 567"), Some((1234567, 0)));
        assert_eq!(decimal("1'234'567"), Some((1234567, 0)));
        assert_eq!(decimal("1.200.000"), Some((1200000, 0)));
        assert_eq!(decimal("3,5"), Some((35, 1)));
        assert_eq!(decimal("1.2"), Some((12, 1)));
        assert_eq!(decimal("0.5"), Some((5, 1)));
        for refused in [
            "1,234.567.890",
            "",
            "1,20,000",
            "1,234,56",
            "1.234.56",
            "1..2",
            "1,",
            ".5",
            "12345,678",
            "a1",
        ] {
            assert_eq!(decimal(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(shape("11-50"), Shape::Between("11", "50"));
        assert_eq!(shape("1 to 10"), Shape::Between("1", "10"));
        assert_eq!(
            shape("10,001+"),
            Shape::AtLeast {
                side: "10,001",
                strict: false
            }
        );
        assert_eq!(
            shape("<$1m"),
            Shape::AtMost {
                side: "$1m",
                strict: true
            }
        );
        assert_eq!(shape("-5"), Shape::Exact("-5"));
        // "underwood" is no operator.
        assert_eq!(shape("underwood"), Shape::Exact("underwood"));
    }
}

//! Phone numbers to E.164 ("+14155552671") with libphonenumber's metadata (the `phonenumber`
//! crate), read in the row's country unless the number carries its own ("+44 ...").

use std::panic::{AssertUnwindSafe, catch_unwind};

use phonenumber::{Mode, PhoneNumber, country, metadata::DATABASE};

/// A phone number as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phone {
    /// A valid number in E.164 form.
    E164(String),
    /// The trimmed text as written: no country to read it in, not a valid number for its
    /// country, or with an extension E.164 cannot hold.
    AsWritten(String),
}

impl Phone {
    /// The text to store.
    pub fn as_str(&self) -> &str {
        match self {
            Phone::E164(text) | Phone::AsWritten(text) => text,
        }
    }
}

/// Why a value is no phone number; the text follows the quoted value in a row error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("has no digits, so it is not a phone number")]
    NoDigits,
}

/// Reads a phone number. `country` is the row's ISO alpha-2 code, if known. A number that
/// cannot be put in E.164 is kept as written: it may still be dialled by a person, and
/// refusing the row would lose the rest of it. Only text with no digit at all is an error.
pub fn parse_phone(raw: &str, country: Option<&str>) -> Result<Phone, PhoneError> {
    let text = raw.trim();
    if !text.chars().any(|c| c.is_numeric()) {
        return Err(PhoneError::NoDigits);
    }
    let as_written = || Ok(Phone::AsWritten(text.to_owned()));
    // The library unwraps the metadata of the country it is given, so only countries it has
    // metadata for are passed.
    let region = country
        .map(str::to_ascii_uppercase)
        .filter(|code| DATABASE.by_id(code.as_str()).is_some())
        .and_then(|code| code.parse::<country::Id>().ok());
    // A number that carries its country code is read by it alone; the library, given a region
    // as well, can refuse a valid foreign number.
    let region = region.filter(|_| !text.starts_with('+'));
    match catch_unwind(AssertUnwindSafe(|| reads_back_valid(region, text))) {
        Ok(Some(number)) => Ok(Phone::E164(number)),
        _ => as_written(),
    }
}

/// The number in E.164 if the library reads `text` (in `region`) without an extension, and
/// that E.164 form reads back as itself and is a valid number. Stored only if it reads back
/// as itself: a number valid only through its national dialling (a carrier prefix) would
/// otherwise change meaning when read again. Validity depends only on the country code and
/// national number, which the E.164 form holds, so the number read back is the one checked.
///
/// The parser has had panics on crafted input (its advisories); the caller treats one as a
/// number it cannot read, since a bad number must not stop an import.
fn reads_back_valid(region: Option<country::Id>, text: &str) -> Option<String> {
    let e164 = |number: &PhoneNumber| number.format().mode(Mode::E164).to_string();
    let first = phonenumber::parse(region, text).ok()?;
    if first.extension().is_some() {
        return None;
    }
    let number = e164(&first);
    let again = phonenumber::parse(None, &number).ok()?;
    (again.extension().is_none() && e164(&again) == number && phonenumber::is_valid(&again))
        .then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e164(raw: &str, country: Option<&str>) -> Option<String> {
        match parse_phone(raw, country) {
            Ok(Phone::E164(number)) => Some(number),
            _ => None,
        }
    }

    #[test]
    fn numbers_in_their_country_become_e164() {
        for (raw, country, expected) in [
            ("(415) 555-2671", Some("US"), "+14155552671"),
            ("415.555.2671", Some("us"), "+14155552671"),
            ("+1 415 555 2671", None, "+14155552671"),
            ("+1 (415) 555-2671", Some("DE"), "+14155552671"),
            ("020 7946 0958", Some("GB"), "+442079460958"),
            ("+44 20 7946 0958", None, "+442079460958"),
            ("030 901820", Some("DE"), "+4930901820"),
            ("0049 30 901820", Some("DE"), "+4930901820"),
            ("tel:+1-415-555-2671", None, "+14155552671"),
        ] {
            assert_eq!(
                e164(raw, country).as_deref(),
                Some(expected),
                "{raw:?} in {country:?}"
            );
        }
    }

    #[test]
    fn numbers_that_cannot_be_read_are_kept_as_written() {
        for (raw, country) in [
            ("(415) 555-2671", None),
            ("415 555 2671 ext. 12", Some("US")),
            ("12", Some("US")),
            ("555-1234", Some("US")),
            ("+999 1234", None),
            ("030 901820", Some("AQ")),
            ("030 901820", Some("XX")),
            (" 1-800-FLOWERS ", Some("ZZ")),
        ] {
            assert_eq!(
                parse_phone(raw, country),
                Ok(Phone::AsWritten(raw.trim().to_owned())),
                "{raw:?} in {country:?}"
            );
        }
    }

    #[test]
    fn text_without_digits_is_refused() {
        for raw in ["", "n/a", "call me", "+"] {
            assert_eq!(
                parse_phone(raw, Some("US")),
                Err(PhoneError::NoDigits),
                "{raw:?}"
            );
        }
        assert_eq!(
            format!(
                "{} {}",
                svc_core::error::quoted("n/a"),
                PhoneError::NoDigits
            ),
            "\"n/a\" has no digits, so it is not a phone number"
        );
    }

    proptest! {
        #[test]
        fn never_panics(raw in "\\PC{0,30}", country in prop::option::of("[A-Z]{2}")) {
            let _ = parse_phone(&raw, country.as_deref());
        }

        #[test]
        fn phone_like_text_never_panics(raw in "[+0-9 ().;=a-z:-]{0,25}", country in prop::option::of(prop::sample::select(vec!["US", "GB", "DE", "FR", "IN", "BR", "AQ"]))) {
            let _ = parse_phone(&raw, country);
        }

        /// E.164 output is a fixed point: read again, in any country, it is itself.
        #[test]
        fn e164_reparses_to_itself(
            digits in "[2-9][0-9]{6,11}",
            country in prop::sample::select(vec!["US", "GB", "DE", "FR", "IN", "BR", "JP", "AU"]),
            again in prop::option::of(prop::sample::select(vec!["US", "GB", "DE"])),
        ) {
            if let Ok(Phone::E164(number)) = parse_phone(&digits, Some(country)) {
                prop_assert!(number.starts_with('+'));
                prop_assert!(number[1..].bytes().all(|b| b.is_ascii_digit()) && number.len() <= 16);
                prop_assert_eq!(parse_phone(&number, again), Ok(Phone::E164(number.clone())));
            }
        }
    }
}

//! Values in the form ingest stores them, applied in place to a row's optional text, so
//! ingest (every record) and `lmactl normalize` (rows stored before) store the same thing.
//! A value that cannot be read is kept as written: the rest of the row is still worth having.

/// Stores a country as its ISO 3166-1 English short name ("USA", "U.S." and "United States"
/// are all "United States of America") and returns its alpha-2 code. A value that names no
/// known country is kept as written, not refused: the rest of the row is still worth having.
pub fn country(country: &mut Option<String>) -> Option<&'static str> {
    let found = crate::parse_country(country.as_deref()?).ok()?;
    *country = Some(found.name.to_owned());
    Some(found.alpha2)
}

/// Stores a US state or Canadian province as its code ("California" is "CA") when the row's
/// country is the US or Canada; any other region, or one that is not of that country, is kept
/// as written.
pub fn state(state: &mut Option<String>, country: Option<&str>) {
    if !matches!(country, Some("US" | "CA")) {
        return;
    }
    if let Some(text) = state.as_deref()
        && let Ok(Some(region)) = crate::parse_region(text, country)
    {
        *state = Some(region.code.to_owned());
    }
}

/// Stores a phone number in E.164 when it reads as a valid number of the row's country (or
/// carries its own country code); otherwise as written.
pub fn phone(phone: &mut Option<String>, country: Option<&str>) {
    if let Some(text) = phone.as_deref()
        && let Ok(crate::Phone::E164(number)) = crate::parse_phone(text, country)
    {
        *phone = Some(number);
    }
}

/// Stores an industry in its canonical form ("COMPUTER_SOFTWARE" is "computer software").
pub fn industry(industry: &mut Option<String>) {
    if let Some(text) = industry.as_deref()
        && let Ok(canonical) = crate::canonical_industry(text)
    {
        *industry = Some(canonical);
    }
}

/// The alpha-2 code of a country as stored (or written), if it is a known one.
pub fn country_code(country: Option<&str>) -> Option<&'static str> {
    crate::parse_country(country?)
        .ok()
        .map(|found| found.alpha2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn values_are_stored_canonical_or_as_written() {
        let mut value = some("U.S.");
        assert_eq!(country(&mut value), Some("US"));
        assert_eq!(value, some("United States of America"));
        let mut value = some("Narnia");
        assert_eq!(country(&mut value), None);
        assert_eq!(value, some("Narnia"));

        let mut value = some("California");
        state(&mut value, Some("US"));
        assert_eq!(value, some("CA"));
        let mut value = some("Bavaria");
        state(&mut value, Some("DE"));
        assert_eq!(value, some("Bavaria"));
        let mut value = some("Nowhere");
        state(&mut value, Some("US"));
        assert_eq!(value, some("Nowhere"));

        let mut value = some("(415) 555-2671");
        phone(&mut value, Some("US"));
        assert_eq!(value, some("+14155552671"));
        let mut value = some("(415) 555-2671");
        phone(&mut value, None);
        assert_eq!(value, some("(415) 555-2671"));

        let mut value = some("COMPUTER_SOFTWARE");
        industry(&mut value);
        assert_eq!(value, some("computer software"));
    }

    #[test]
    fn storing_twice_changes_nothing_more() {
        let mut value = some("usa");
        let code = country(&mut value);
        let once = value.clone();
        assert_eq!(country(&mut value), code);
        assert_eq!(value, once);
    }
}

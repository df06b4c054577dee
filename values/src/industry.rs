//! Industries in one canonical form, so "COMPUTER_SOFTWARE", "Computer Software" and
//! "computer-software" are one industry.

/// Why a value is no industry; the text follows the quoted value in a row error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IndustryError {
    #[error("has no letters or digits, so it names no industry")]
    Empty,
}

/// The canonical form of an industry, which is also what is stored: lower case, `&` and `+`
/// as "and", apostrophes dropped, every other run of separators (`_`, `-`, `/`, `,`, spaces)
/// one space. "Information Technology & Services" and "INFORMATION_TECHNOLOGY_AND_SERVICES"
/// are both "information technology and services". Lower case is stored, not a display form
/// guessed from the first spelling seen, so that an industry groups the same whichever export
/// came first; presenting it capitalized is for the reader.
pub fn canonical_industry(raw: &str) -> Result<String, IndustryError> {
    if !raw.chars().any(char::is_alphanumeric) {
        return Err(IndustryError::Empty);
    }
    let mut words: Vec<String> = vec![String::new()];
    for c in raw.chars() {
        match c {
            '\'' | '\u{2019}' => {}
            '&' | '+' => words.extend(["and".to_owned(), String::new()]),
            c if c.is_alphanumeric() => {
                if let Some(word) = words.last_mut() {
                    word.extend(c.to_lowercase());
                }
            }
            _ => words.push(String::new()),
        }
    }
    words.retain(|word| !word.is_empty());
    Ok(words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vendor_spellings_are_one_industry() {
        for raw in [
            "COMPUTER_SOFTWARE",
            "computer software",
            "Computer Software",
            "computer-software",
            "  Computer   Software ",
        ] {
            assert_eq!(
                canonical_industry(raw).as_deref(),
                Ok("computer software"),
                "{raw:?}"
            );
        }
        for raw in [
            "Information Technology & Services",
            "INFORMATION_TECHNOLOGY_AND_SERVICES",
            "information technology and services",
            "Information Technology+Services",
        ] {
            assert_eq!(
                canonical_industry(raw).as_deref(),
                Ok("information technology and services"),
                "{raw:?}"
            );
        }
        assert_eq!(
            canonical_industry("Children's Services").as_deref(),
            Ok("childrens services")
        );
        assert_eq!(
            canonical_industry("Retail/Wholesale").as_deref(),
            Ok("retail wholesale")
        );
        assert_eq!(
            canonical_industry("Bücher & Medien").as_deref(),
            Ok("bücher and medien")
        );
    }

    #[test]
    fn text_without_words_is_refused() {
        for raw in ["", "  ", "---", "&", "_/_"] {
            assert_eq!(
                canonical_industry(raw),
                Err(IndustryError::Empty),
                "{raw:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn canonical_form_is_a_fixed_point(raw in "\\PC{0,40}") {
            if let Ok(canonical) = canonical_industry(&raw) {
                prop_assert_eq!(canonical_industry(&canonical), Ok(canonical.clone()));
                prop_assert!(!canonical.starts_with(' ') && !canonical.ends_with(' ') && !canonical.contains("  "));
            }
        }

        #[test]
        fn case_and_separators_do_not_matter(
            words in prop::collection::vec("[a-z]{1,8}", 1..5),
            separator in prop::sample::select(vec![" ", "_", "-", "  ", " / "]),
            upper in any::<bool>(),
        ) {
            let written = words.join(separator);
            let written = if upper { written.to_uppercase() } else { written };
            prop_assert_eq!(canonical_industry(&written), Ok(words.join(" ")));
        }
    }
}

//! The contract's enums as lmactl spells them in flags and output: a value's name without the
//! enum's prefix, in lower case with `-` for `_` (`PROSPECT_SORT_COMPANY_NAME` is
//! `company-name`). The words come from the generated enums, so a value added to the contract
//! is a word here without an edit.

use lma_proto::v1::{CompanySort, Facet, JobTitleLevel, ProspectSort};

/// One enum of the contract: its values' prefix and the name of each value.
pub struct ProtoEnum {
    prefix: &'static str,
    name_of: fn(i32) -> Option<&'static str>,
}

/// Values looked at when listing an enum's words; the contract's enums are far smaller.
const MAX_VALUE: i32 = 255;

pub const JOB_TITLE_LEVEL: ProtoEnum = ProtoEnum {
    prefix: "JOB_TITLE_LEVEL_",
    name_of: |value| JobTitleLevel::try_from(value).ok().map(|v| v.as_str_name()),
};

pub const PROSPECT_SORT: ProtoEnum = ProtoEnum {
    prefix: "PROSPECT_SORT_",
    name_of: |value| ProspectSort::try_from(value).ok().map(|v| v.as_str_name()),
};

pub const COMPANY_SORT: ProtoEnum = ProtoEnum {
    prefix: "COMPANY_SORT_",
    name_of: |value| CompanySort::try_from(value).ok().map(|v| v.as_str_name()),
};

pub const FACET: ProtoEnum = ProtoEnum {
    prefix: "FACET_",
    name_of: |value| Facet::try_from(value).ok().map(|v| v.as_str_name()),
};

impl ProtoEnum {
    /// Every value but UNSPECIFIED (0), as (number, word).
    fn values(&self) -> impl Iterator<Item = (i32, String)> + '_ {
        (1..=MAX_VALUE)
            .filter_map(|value| (self.name_of)(value).map(|name| (value, self.word_of_name(name))))
    }

    fn word_of_name(&self, name: &str) -> String {
        name.strip_prefix(self.prefix)
            .unwrap_or(name)
            .to_ascii_lowercase()
            .replace('_', "-")
    }

    /// The word of `value`; the number itself for a value this build does not know.
    pub fn word(&self, value: i32) -> String {
        (self.name_of)(value).map_or_else(|| value.to_string(), |name| self.word_of_name(name))
    }

    /// The word of a value the service named in full (`JOB_TITLE_LEVEL_VP` is `vp`); any
    /// other text as it is.
    pub fn word_of_text(&self, text: &str) -> String {
        match text.strip_prefix(self.prefix) {
            Some(_) => self.word_of_name(text),
            None => text.to_owned(),
        }
    }

    /// The words, for help texts.
    pub fn words(&self) -> String {
        self.values()
            .map(|(_, word)| word)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The value a word names: `company-name`, `company_name`, `COMPANY_NAME` and the full
    /// `PROSPECT_SORT_COMPANY_NAME` are all the same value.
    pub fn parse(&self, text: &str) -> Result<i32, String> {
        let wanted = self.word_of_name(&text.trim().to_ascii_uppercase().replace('-', "_"));
        self.values()
            .find(|(_, word)| *word == wanted)
            .map(|(value, _)| value)
            .ok_or_else(|| format!("{text:?} is not one of: {}", self.words()))
    }
}

pub fn parse_job_title_level(text: &str) -> Result<i32, String> {
    JOB_TITLE_LEVEL.parse(text)
}

pub fn parse_prospect_sort(text: &str) -> Result<i32, String> {
    PROSPECT_SORT.parse(text)
}

pub fn parse_company_sort(text: &str) -> Result<i32, String> {
    COMPANY_SORT.parse(text)
}

pub fn parse_facet(text: &str) -> Result<i32, String> {
    FACET.parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_come_from_the_contract_and_parse_in_every_spelling() {
        assert_eq!(
            PROSPECT_SORT.words(),
            "relevance, company-name, revenue, updated-at"
        );
        for spelling in [
            "company-name",
            "company_name",
            "Company-Name",
            "PROSPECT_SORT_COMPANY_NAME",
        ] {
            assert_eq!(
                PROSPECT_SORT.parse(spelling),
                Ok(ProspectSort::CompanyName as i32)
            );
        }
        assert_eq!(
            JOB_TITLE_LEVEL.parse("c-suite"),
            Ok(JobTitleLevel::CSuite as i32)
        );
        assert_eq!(
            JOB_TITLE_LEVEL.word(JobTitleLevel::CSuite as i32),
            "c-suite"
        );
        assert_eq!(JOB_TITLE_LEVEL.word(0), "unspecified");
        assert_eq!(JOB_TITLE_LEVEL.word(99), "99");
        assert_eq!(JOB_TITLE_LEVEL.word_of_text("JOB_TITLE_LEVEL_VP"), "vp");
        assert_eq!(JOB_TITLE_LEVEL.word_of_text(""), "");
        assert!(JOB_TITLE_LEVEL.parse("unspecified").is_err());
        assert!(
            FACET
                .parse("colour")
                .is_err_and(|e| e.contains("employee-size"))
        );
    }
}

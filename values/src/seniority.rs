//! Seniority and management-level words to `JobTitleLevel`.
//!
//! The vocabularies of the exports: Apollo's seniorities (owner, founder, c_suite, partner, vp,
//! head, director, manager, senior, entry, intern), ZoomInfo's management levels (C-Level
//! Exec, VP-Level Exec, Director, Manager, Non-Manager), LinkedIn Sales Navigator's seniority
//! levels (Owner / Partner, CXO, Vice President, Director, Experienced Manager, Entry Level
//! Manager, Strategic, Senior, Entry Level, In Training), the words people type ("Vp",
//! "C-Level", "Junior") and the stored names ("c_suite", "JOB_TITLE_LEVEL_VP").

use lma_proto::v1::JobTitleLevel;

use super::lookup_key;

/// Why a value is no level; the text follows the quoted value in a row error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeniorityError {
    #[error("is not a known seniority or management level")]
    Unknown,
}

/// Reads a seniority or management level.
///
/// Words that say no level was given ("unknown", "n/a", "none") are UNSPECIFIED, as an empty
/// cell is. A word the vendors use that fits no level precisely (ZoomInfo's "Non-Manager",
/// "Individual Contributor", "Board Member") is OTHER: the export did give a level, and
/// refusing every such row would refuse whole files. Any other word is an error rather than
/// UNSPECIFIED: a column declared as the level holding something else is a mistake (a typo, or
/// the wrong column) that the user should see in the rejects, not lose silently.
pub fn parse_seniority(raw: &str) -> Result<JobTitleLevel, SeniorityError> {
    let key = lookup_key(raw);
    let key = key.strip_prefix("jobtitlelevel").unwrap_or(&key);
    Ok(match key {
        "" | "unknown" | "unspecified" | "na" | "none" | "notavailable" => {
            JobTitleLevel::Unspecified
        }
        "owner" | "owners" | "founder" | "founders" | "cofounder" | "partner" | "partners"
        | "ownerpartner" | "founderowner" | "managingpartner" | "proprietor" => {
            JobTitleLevel::Owner
        }
        "csuite" | "clevel" | "clevelexec" | "clevelexecutive" | "cxo" | "cxos" | "executive"
        | "executives" | "chief" | "chiefofficer" | "ceo" | "cfo" | "coo" | "cto" | "cio"
        | "cmo" | "president" => JobTitleLevel::CSuite,
        "vp"
        | "vps"
        | "vplevel"
        | "vplevelexec"
        | "vplevelexecutive"
        | "vicepresident"
        | "vicepresidents"
        | "svp"
        | "evp"
        | "avp"
        | "seniorvicepresident"
        | "executivevicepresident"
        | "head"
        | "headof"
        | "heads" => JobTitleLevel::Vp,
        "director" | "directors" | "directorlevel" | "seniordirector" => JobTitleLevel::Director,
        "manager" | "managers" | "management" | "managerlevel" | "experiencedmanager"
        | "entrylevelmanager" | "seniormanager" | "supervisor" => JobTitleLevel::Manager,
        "senior" | "seniorlevel" | "midseniorlevel" | "strategic" | "lead" | "teamlead" => {
            JobTitleLevel::Senior
        }
        "entry" | "entrylevel" | "junior" | "associate" | "intern" | "interns" | "internship"
        | "intraining" | "training" | "trainee" | "apprentice" | "unpaid" | "student" => {
            JobTitleLevel::Entry
        }
        "other"
        | "nonmanager"
        | "nonmanagement"
        | "individualcontributor"
        | "boardmember"
        | "board" => JobTitleLevel::Other,
        _ => return Err(SeniorityError::Unknown),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vendor_words() {
        use JobTitleLevel as L;
        for (raw, level) in [
            ("Vp", L::Vp),
            ("C-Level", L::CSuite),
            ("Director", L::Director),
            ("c_suite", L::CSuite),
            ("C-Level Exec", L::CSuite),
            ("VP-Level Exec", L::Vp),
            ("Non-Manager", L::Other),
            ("Owner / Partner", L::Owner),
            ("CXO", L::CSuite),
            ("Vice President", L::Vp),
            ("Experienced Manager", L::Manager),
            ("Entry Level Manager", L::Manager),
            ("Strategic", L::Senior),
            ("Entry Level", L::Entry),
            ("In Training", L::Entry),
            ("head", L::Vp),
            ("founder", L::Owner),
            ("intern", L::Entry),
            ("JOB_TITLE_LEVEL_DIRECTOR", L::Director),
            ("Unknown", L::Unspecified),
            ("N/A", L::Unspecified),
            ("", L::Unspecified),
        ] {
            assert_eq!(parse_seniority(raw), Ok(level), "{raw:?}");
        }
    }

    #[test]
    fn every_stored_name_reads_back() {
        for level in [
            JobTitleLevel::Owner,
            JobTitleLevel::CSuite,
            JobTitleLevel::Vp,
            JobTitleLevel::Director,
            JobTitleLevel::Manager,
            JobTitleLevel::Senior,
            JobTitleLevel::Entry,
            JobTitleLevel::Other,
        ] {
            let stored = level.as_stored().unwrap_or_default();
            assert_eq!(parse_seniority(stored), Ok(level), "{stored}");
            assert_eq!(parse_seniority(level.as_str_name()), Ok(level), "{level:?}");
        }
    }

    #[test]
    fn other_words_are_refused() {
        // "Staff" and "Principal" are a senior engineer or a partner depending on the trade.
        for raw in ["Ninja", "Sales", "Directr", "42", "Staff", "Principal"] {
            assert_eq!(
                parse_seniority(raw),
                Err(SeniorityError::Unknown),
                "{raw:?}"
            );
        }
        assert_eq!(
            format!(
                "{} {}",
                svc_core::error::quoted("Ninja"),
                SeniorityError::Unknown
            ),
            "\"Ninja\" is not a known seniority or management level"
        );
    }

    proptest! {
        #[test]
        fn never_panics(raw in "\\PC{0,40}") {
            let _ = parse_seniority(&raw);
        }
    }
}

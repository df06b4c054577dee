//! Person identity: which prospect a record is. A record's prospect is the one its source link
//! (`prospect_source_link`, by `(external_source, external_id)`) names; else the one with its
//! email (compared lower-cased, unique per organization); else a new one. A record whose link
//! names one prospect while its email belongs to another is refused, nothing of it written.
//!
//! The rule is applied here without the database, on what one statement looked up for a whole
//! part ([`super::sql::Statements::resolve_prospects`]), so that the rows of one person are
//! folded into one row before anything is staged, and a refused row is left out of the fold.

use std::collections::HashMap;

use super::StagedRow;
use super::columns::{Merge, PROSPECT, Supplied, Table, supplied};
use crate::validate::ProspectRow;

/// The reason of a record refused because its link and its email name different people
/// (field `email`); never quotes the address.
pub const EMAIL_OF_ANOTHER_PROSPECT: &str = "the email belongs to another prospect than the one \
     this record's external_source and external_id are linked to; MergeProspects joins two people";

/// What the database holds of one record's identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The prospect its source link names.
    pub linked: Option<i64>,
    /// The prospect with its email.
    pub owner: Option<i64>,
}

/// One person of a part: the rows that are it (indexes into the part, in input order) and the
/// stored prospect they resolved to (`None`: a new one).
#[derive(Debug, PartialEq, Eq)]
pub struct Person {
    pub target: Option<i64>,
    pub rows: Vec<usize>,
}

/// The persons of a part and the rows refused.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    pub persons: Vec<Person>,
    pub refused: Vec<usize>,
}

/// Resolves each row of a part by what was `found` for it (same order as `rows`).
///
/// Rows are grouped by email. A group whose email is held goes to that prospect; the others go
/// to the first prospect one of their links names that no other group of the part took (an
/// email change through the link), else to a new one. Two groups never take one prospect, so a
/// part never writes one prospect twice. A row whose link names another prospect than its
/// group's is refused.
pub fn resolve(rows: &[&ProspectRow], found: &[Found]) -> Resolution {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_email: HashMap<String, usize> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        let email = row.email.to_lowercase();
        match by_email.get(&email) {
            Some(&group) => groups[group].push(index),
            None => {
                by_email.insert(email, groups.len());
                groups.push(vec![index]);
            }
        }
    }
    let found_of = |index: usize| found.get(index).copied().unwrap_or_default();
    let mut targets: Vec<Option<i64>> = vec![None; groups.len()];
    let mut taken = std::collections::HashSet::new();
    // Emails held first: a prospect's own email outranks a link that would move it elsewhere.
    for (group, members) in groups.iter().enumerate() {
        if let Some(owner) = found_of(members[0]).owner {
            targets[group] = Some(owner);
            taken.insert(owner);
        }
    }
    for (group, members) in groups.iter().enumerate() {
        if targets[group].is_some() {
            continue;
        }
        targets[group] = members
            .iter()
            .filter_map(|&index| found_of(index).linked)
            .find(|linked| !taken.contains(linked));
        if let Some(target) = targets[group] {
            taken.insert(target);
        }
    }
    let mut resolution = Resolution::default();
    for (members, target) in groups.into_iter().zip(targets) {
        let (kept, refused): (Vec<usize>, Vec<usize>) =
            members
                .into_iter()
                .partition(|&index| match found_of(index).linked {
                    Some(linked) => Some(linked) == target,
                    None => true,
                });
        resolution.refused.extend(refused);
        if !kept.is_empty() {
            resolution.persons.push(Person { target, rows: kept });
        }
    }
    resolution.refused.sort_unstable();
    resolution
}

/// The rows of one person folded into one, as if merged one after the other in order of their
/// source's `rank` (lowest first; equal ranks in input order): a given value replaces an earlier
/// one by the column rules, so the highest-ranked, then latest, source's value survives, and
/// lower-ranked ones fill what it left empty. The key stays the first row's (the one a new
/// prospect is created under); the company is the surviving row's (a prospect moves to the
/// company its latest record names). With the fold comes its provenance: each supplied column
/// taken from another key than the folded row's, with that key (see
/// `sql::provenance_after`). `None` for a single row, which is written as it is.
pub fn fold(
    rows: &[&StagedRow],
    rank: impl Fn(&str) -> i32,
) -> Option<(ProspectRow, Option<serde_json::Value>)> {
    let (first, later) = rows.split_first()?;
    if later.is_empty() {
        return None;
    }
    let mut ordered: Vec<&StagedRow> = rows.to_vec();
    ordered.sort_by_key(|staged| rank(&staged.record.external_source));
    let mut folded = first.record.clone();
    let mut supplier: HashMap<&'static str, &ProspectRow> = HashMap::new();
    for staged in &ordered {
        for name in fold_into(&PROSPECT, &mut folded, &staged.record) {
            supplier.insert(name, &staged.record);
        }
        folded.company.clone_from(&staged.record.company);
        supplier.insert(COMPANY_ID, &staged.record);
    }
    let key = first.record.key();
    let entries: serde_json::Map<String, serde_json::Value> = supplier
        .into_iter()
        .filter(|(name, record)| {
            record.key() != key && (*name == COMPANY_ID || supplied(name) != Supplied::ByScreening)
        })
        .map(|(name, record)| {
            let (source, id) = record.key();
            (name.to_owned(), serde_json::json!([source, id]))
        })
        .collect();
    let provenance = (!entries.is_empty()).then_some(serde_json::Value::Object(entries));
    Some((folded, provenance))
}

/// The column naming a prospect's company, as provenance names it.
const COMPANY_ID: &str = "company_id";

/// Folds `later` into `earlier` by the merge rules of `table`; the columns it took.
pub fn fold_into<R, M>(table: &Table<R, M>, earlier: &mut R, later: &R) -> Vec<&'static str> {
    let given = |name: &str| {
        table
            .write_of(name)
            .is_some_and(|write| (write.given)(later))
    };
    let mut taken_columns = Vec::new();
    for (name, write) in table.written() {
        let taken = match write.merge {
            Merge::Key => false,
            Merge::Overwrite | Merge::ObjectKeys => true,
            Merge::KeepWhenNull | Merge::KeepWhenEmpty => (write.given)(later),
            Merge::PairWith(other) => given(name) || given(other),
            Merge::Follows(other) => given(other),
        };
        if taken {
            (write.take)(earlier, later);
            taken_columns.push(name);
        }
    }
    taken_columns
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::plain;

    fn rows_with(emails: &[&str]) -> Vec<StagedRow> {
        emails
            .iter()
            .enumerate()
            .map(|(n, email)| {
                let mut row = plain(n as u64 + 1, &format!("k{n}"));
                row.record.email = (*email).to_owned();
                row
            })
            .collect()
    }

    fn found(linked: Option<i64>, owner: Option<i64>) -> Found {
        Found { linked, owner }
    }

    #[test]
    fn rows_of_one_email_are_one_person_whatever_their_case() {
        let rows = rows_with(&["a@acme.com", "A@acme.com", "b@acme.com"]);
        let records: Vec<&ProspectRow> = rows.iter().map(|r| &r.record).collect();
        let resolution = resolve(&records, &[Found::default(); 3]);
        assert_eq!(
            resolution.persons,
            [
                Person {
                    target: None,
                    rows: vec![0, 1]
                },
                Person {
                    target: None,
                    rows: vec![2]
                }
            ]
        );
        assert!(resolution.refused.is_empty());
    }

    #[test]
    fn a_link_wins_unless_the_email_is_another_prospects() {
        let rows = rows_with(&["new@acme.com", "held@acme.com", "held@acme.com"]);
        let records: Vec<&ProspectRow> = rows.iter().map(|r| &r.record).collect();
        let resolution = resolve(
            &records,
            &[
                // An email change through the link: prospect 7 takes the new address.
                found(Some(7), None),
                // Linked to 8, but the email is 9's: refused.
                found(Some(8), Some(9)),
                // A new source for 9's email: linked to 9.
                found(None, Some(9)),
            ],
        );
        assert_eq!(
            resolution.persons,
            [
                Person {
                    target: Some(7),
                    rows: vec![0]
                },
                Person {
                    target: Some(9),
                    rows: vec![2]
                }
            ]
        );
        assert_eq!(resolution.refused, [1]);
    }

    #[test]
    fn two_groups_never_take_one_prospect() {
        // Row 1 keeps prospect 5 at its address; row 0 would move 5 to another one.
        let rows = rows_with(&["moved@acme.com", "kept@acme.com"]);
        let records: Vec<&ProspectRow> = rows.iter().map(|r| &r.record).collect();
        let resolution = resolve(&records, &[found(Some(5), None), found(Some(5), Some(5))]);
        assert_eq!(
            resolution.persons,
            [Person {
                target: Some(5),
                rows: vec![1]
            }]
        );
        assert_eq!(resolution.refused, [0]);
    }

    #[test]
    fn a_fold_keeps_the_first_key_and_takes_later_given_values() {
        let mut rows = rows_with(&["a@acme.com", "a@acme.com"]);
        rows[0].record.first_name = Some("Ann".into());
        rows[0].record.job_title = Some("CTO".into());
        rows[1].record.job_title = Some("CEO".into());
        rows[1].record.company.domain = "beta.io".into();
        let staged: Vec<&StagedRow> = rows.iter().collect();
        let (folded, provenance) = fold(&staged, |_| 0).expect("two rows fold");
        assert_eq!(folded.key(), ("csv", "k0"));
        assert_eq!(folded.first_name.as_deref(), Some("Ann"));
        assert_eq!(folded.job_title.as_deref(), Some("CEO"));
        assert_eq!(folded.company.domain, "beta.io");
        assert!(fold(&staged[..1], |_| 0).is_none());
        // The later row's key supplied the title and the company; the first's the name.
        let provenance = provenance.expect("another key supplied values");
        assert_eq!(provenance["job_title"], serde_json::json!(["csv", "k1"]));
        assert_eq!(provenance["company_id"], serde_json::json!(["csv", "k1"]));
        assert!(provenance.get("first_name").is_none());
    }

    #[test]
    fn a_fold_lets_the_higher_ranked_source_win_and_the_lower_fill_gaps() {
        let mut rows = rows_with(&["a@acme.com", "a@acme.com"]);
        rows[0].record.external_source = "salesforce".into();
        rows[0].record.job_title = Some("CTO".into());
        rows[1].record.external_source = "apollo".into();
        rows[1].record.job_title = Some("Engineer".into());
        rows[1].record.last_name = Some("Lee".into());
        let staged: Vec<&StagedRow> = rows.iter().collect();
        let rank = |source: &str| i32::from(source == "salesforce");
        let (folded, provenance) = fold(&staged, rank).expect("two rows fold");
        assert_eq!(folded.key(), ("salesforce", "k0"));
        assert_eq!(folded.job_title.as_deref(), Some("CTO"));
        assert_eq!(folded.last_name.as_deref(), Some("Lee"));
        let provenance = provenance.expect("apollo supplied the last name");
        assert_eq!(provenance["last_name"], serde_json::json!(["apollo", "k1"]));
        assert!(provenance.get("job_title").is_none());
        // Without a priority the later row wins.
        let (recent, _) = fold(&staged, |_| 0).expect("two rows fold");
        assert_eq!(recent.job_title.as_deref(), Some("Engineer"));
    }
}

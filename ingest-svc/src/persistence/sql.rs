//! Every statement of the store, derived once from the column tables ([`super::columns`]).

use std::fmt::Write as _;
use std::sync::LazyLock;

use tokio_postgres::types::{Kind, Type};

use super::columns::{COMPANY, CUSTOMER, Merge, PROSPECT, Supplied, Table, supplied};

/// How a prospect refers to its company: written by every merge (a prospect moves to the
/// company its latest record names), resolved by the store from the company's domain.
const COMPANY_ID: (&str, Merge) = ("company_id", Merge::Overwrite);

/// The statements, built on first use.
pub static SQL: LazyLock<Statements> = LazyLock::new(Statements::build);

pub struct Statements {
    /// Creates the session's staging tables unless they exist; emptied at every commit.
    pub create_staging: String,
    /// Binary COPY of a batch's companies to merge into their staging table.
    pub copy_company_stage: Copy,
    /// Inserts the staged companies, all taken to be new; their domains and ids.
    pub insert_companies: String,
    /// Merges the staged companies; one row per staged company: its domain, its id, and
    /// whether it was inserted (true), updated (false) or left unchanged (NULL).
    pub merge_companies: String,
    /// Ids of companies by domain (`$2`), for staged companies a concurrent writer changed
    /// between the merge's look-up and its insert.
    pub company_ids: String,
    /// Binary COPY of prospects, all taken to be new, straight into `prospect`.
    pub copy_new_prospects: Copy,
    /// Binary COPY of prospects into their staging table, each with the prospect it resolved
    /// to (`target_id`, NULL for a new person).
    pub copy_prospect_stage: Copy,
    /// Merges the staged prospects into their resolved prospects, inserting the new ones;
    /// counts of inserted and updated prospects, and of resolved prospects that vanished.
    pub merge_prospects: String,
    /// The identity of records: for the keys `$2`, `$3` and emails `$4`, in order, the
    /// prospect each key's source link names and the prospect holding each email.
    pub resolve_prospects: String,
    /// Links the keys `$2`, `$3` to the prospects `$5`, or where that is NULL (a person the
    /// part created, whose id the COPY did not return) to the prospect holding the email `$4`;
    /// a key already linked keeps its link.
    pub link_keys: String,
    pub upsert_company: String,
    /// Inserts one new prospect (its own key is linked by the database); its id.
    pub insert_prospect: String,
    /// Merges one record into the prospect of id `$last`; its id when that changed it.
    pub update_prospect: String,
    pub company_id_by_domain: String,
    pub select_company: String,
    pub select_prospect: String,
    /// Dual ingestion of the prospects the keys `$2`, `$3` are linked to.
    pub mirror_keys_to_customer: String,
    /// Dual ingestion of one prospect by id (`$2`).
    pub mirror_prospect_to_customer: String,
    pub select_customers: String,
    /// Deletes the prospects of the ids `$2`; each one's id and key.
    pub delete_prospects: String,
    /// Deletes the `customer` rows of the keys `$2`, `$3`, ...; their ids.
    pub delete_customers_by_key: String,
    /// The prospects of a person: the organization's prospects of the email `$2`, with their
    /// companies, as [`Statements::select_prospect`] reads them.
    pub select_prospects_by_email: String,
    /// Locks and names the prospects of a person: of the email `$2` (NULL: none) or the id `$3`.
    pub lock_person_prospects: String,
    /// The `customer` rows of the email `$2`: id, key, then every other column as text, as
    /// [`super::columns::CustomerTable::exported`] names them.
    pub select_customers_by_email: String,
    /// Deletes the `customer` rows of the email `$2`; their ids.
    pub delete_customers_by_email: String,
    /// Locks the organization's prospects of the ids `$2`, in id order; their ids.
    pub lock_prospects: String,
    /// Records the merge of prospect `$3` into `$2`: both rows as they are, the merged one's
    /// links and addresses; the record's id.
    pub record_merge: String,
    /// Gives the survivor `$2` the values of the merged prospect `$3` that survive by the
    /// rules, with their provenance.
    pub combine_prospects: String,
    /// Moves the source links, merge records and addresses of prospect `$3` to `$2`.
    pub move_links: String,
    pub move_merges: String,
    pub move_aliases: String,
    /// Gives prospect `$2` the address `$3` of a prospect merged into it.
    pub add_alias: String,
    /// The latest merge that moved the source link `$2`, `$3`, locked.
    pub find_merge: String,
    /// Sets the survivor `$2`'s address back to `$3` when it is the merged one's `$4`.
    pub restore_survivor_email: String,
    /// Removes the addresses `$3` from prospect `$2`.
    pub remove_aliases: String,
    /// Unlinks the keys `$3`, `$4` from prospect `$2`; the keys unlinked.
    pub unlink_keys: String,
    /// Inserts the merged prospect `$2` (a merge record's row) again, under its own id.
    pub restore_prospect: String,
    /// Links the keys `$3`, `$4` to prospect `$2`.
    pub relink_keys: String,
    /// Gives the survivor back, from its row before the merge `$2`, the values the unlinked
    /// keys `$3`, `$4` supplied, with their provenance.
    pub revert_survivor: String,
    /// Deletes merge record `$2`.
    pub delete_merge: String,
    /// The rank of each source `$2` under the organization's source priority (0: not listed).
    pub source_ranks: String,
    /// Sets the organization's source priority to `$2`.
    pub set_source_priority: String,
    /// Removes the organization's source priority.
    pub clear_source_priority: String,
    /// The organization's source priority, when it has one.
    pub select_source_priority: String,
}

/// Whether a prospect `p` has the email `$2` (normalized, so lower case): compared lower-cased,
/// as the unique index `prospect_organization_email_unique` has it, so rows stored before emails
/// were normalized match too; or has it as the address of a prospect merged into it.
const PROSPECT_HAS_EMAIL: &str = "p.organization_id = $1 AND (lower(p.email) = $2 \
     OR p.id IN (SELECT a.prospect_id FROM prospect_email_alias a \
                 WHERE a.organization_id = $1 AND a.email = $2))";

/// The prospect holding the address `k.email`: as its own, else as the address of a prospect
/// merged into it.
const OWNER_OF_K_EMAIL: &str = "coalesce(\
     (SELECT o.id FROM prospect o WHERE o.organization_id = $1 AND lower(o.email) = lower(k.email)), \
     (SELECT a.prospect_id FROM prospect_email_alias a \
      WHERE a.organization_id = $1 AND a.email = lower(k.email)))";

/// A prospect `p`'s source links, oldest first, as three arrays (NULL when it has none): read
/// after the prospect's and its company's columns ([`super::store::prospect_from_row`]).
const JOIN_LINKS_OF_P: &str = "LEFT JOIN LATERAL (SELECT \
     array_agg(l.external_source ORDER BY l.linked_at, l.external_source, l.external_id) AS sources, \
     array_agg(l.external_id ORDER BY l.linked_at, l.external_source, l.external_id) AS ids, \
     array_agg(l.linked_at ORDER BY l.linked_at, l.external_source, l.external_id) AS linked_at \
     FROM prospect_source_link l \
     WHERE l.organization_id = p.organization_id AND l.prospect_id = p.id) links ON true";
const LINKS_OF_P: &str = "links.sources, links.ids, links.linked_at";

/// After the links, the provenance of `p`'s values ([`super::store::prospect_from_row`]): the
/// supplied columns that hold a value (in column order), the provenance entries and the token
/// of the prospect's creation.
fn provenance_of_p(merged: &Merged) -> String {
    let p = PROSPECT.alias;
    let present: Vec<String> = merged
        .columns
        .iter()
        .filter(|(name, merge)| *merge != Merge::Key && supplied(name) != Supplied::ByScreening)
        .map(|(name, merge)| {
            let has_value = match merge {
                Merge::KeepWhenEmpty => format!("cardinality({p}.{name}) > 0"),
                Merge::ObjectKeys => format!("{p}.{name} <> '{{}}'"),
                _ => format!("{p}.{name} IS NOT NULL"),
            };
            format!("CASE WHEN {has_value} THEN '{name}' END")
        })
        .collect();
    format!(
        "array_remove(ARRAY[{}]::text[], NULL), {p}.provenance, {p}.created_token::text",
        present.join(", ")
    )
}

/// Whether a `customer` row has the email `$2`: legacy values are dirty, so trimmed and
/// compared case-insensitively (the index `customer_organization_email_idx`).
const CUSTOMER_HAS_EMAIL: &str = "organization_id = $1 AND lower(btrim(email)) = $2";

/// A binary COPY statement and the types of its columns, in order.
pub struct Copy {
    pub statement: String,
    pub types: Vec<Type>,
}

impl Copy {
    fn new(into: &str, columns: &[(&str, Type)]) -> Self {
        Self {
            statement: format!(
                "COPY {into} ({}) FROM STDIN (FORMAT binary)",
                columns
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            types: columns
                .iter()
                .map(|(_, sql_type)| sql_type.clone())
                .collect(),
        }
    }
}

/// The columns a merge writes, in order, with their rule; for prospects, with the survivorship
/// of supplied values.
struct Merged {
    columns: Vec<(&'static str, Merge)>,
    survivorship: bool,
}

/// The columns of `table` a batch merges, in order, with their rule.
fn merged<R, M>(table: &Table<R, M>) -> Merged {
    Merged {
        columns: table
            .written()
            .map(|(name, write)| (name, write.merge))
            .collect(),
        survivorship: false,
    }
}

fn prospect_merged() -> Merged {
    let mut columns = vec![COMPANY_ID];
    columns.extend(merged(&PROSPECT).columns);
    Merged {
        columns,
        survivorship: true,
    }
}

/// The provenance a batch gives a row: for rows of one person folded into one
/// (`identity::fold`), the key that supplied each value taken from another row than the
/// folded row's own; NULL otherwise.
const PROVENANCE: (&str, Type) = ("provenance", Type::JSONB);

/// The organization's source priority (NULL: none), evaluated once per statement.
const PRIORITY: &str =
    "(SELECT sources FROM organization_source_priority WHERE organization_id = $1)";

/// The column whose provenance entry stands for `name`: a pair shares one, so its two values
/// are always ranked and replaced together.
fn provenance_key(name: &str, merge: Merge) -> &str {
    match merge {
        Merge::PairWith(other) if other < name => other,
        _ => name,
    }
}

/// The source that supplied the value of `key` in the row `row`: its provenance entry's, else
/// the row's own key's.
fn supplier(row: &str, key: &str, element: usize, own: &str) -> String {
    format!("coalesce({row}.provenance->'{key}'->>{element}, {row}.{own})")
}

/// Whether the incoming row's value of `key` may replace the stored one under the source
/// priority: no priority, or the incoming supplier ranks at least as high.
fn outranks(key: &str, stored: &str, incoming: &str) -> String {
    format!(
        "({PRIORITY} IS NULL OR source_rank({PRIORITY}, {}) >= source_rank({PRIORITY}, {}))",
        supplier(incoming, key, 0, "external_source"),
        supplier(stored, key, 0, "external_source"),
    )
}

/// What merging the incoming row (`incoming`) into the stored one (`stored`) gives for one
/// column; `None` for key columns, which are never updated. Under survivorship a supplied
/// value fills an empty one from any source, and replaces a stored one only from a source
/// ranked at least as high as the one that supplied it.
fn merge_expression(
    name: &str,
    merge: Merge,
    stored: &str,
    incoming: &str,
    survivorship: bool,
) -> Option<String> {
    let ranked = survivorship && supplied(name) == Supplied::Ranked;
    let rank = || outranks(provenance_key(name, merge), stored, incoming);
    Some(match merge {
        Merge::Key => return None,
        Merge::Overwrite if ranked => format!(
            "CASE WHEN {} THEN {incoming}.{name} ELSE {stored}.{name} END",
            rank()
        ),
        Merge::Overwrite => format!("{incoming}.{name}"),
        Merge::KeepWhenNull if ranked => format!(
            "CASE WHEN {incoming}.{name} IS NOT NULL AND ({stored}.{name} IS NULL OR {}) \
             THEN {incoming}.{name} ELSE {stored}.{name} END",
            rank()
        ),
        Merge::KeepWhenNull => format!("coalesce({incoming}.{name}, {stored}.{name})"),
        Merge::KeepWhenEmpty if ranked => format!(
            "CASE WHEN cardinality({incoming}.{name}) > 0 \
             AND (cardinality({stored}.{name}) = 0 OR {}) \
             THEN {incoming}.{name} ELSE {stored}.{name} END",
            rank()
        ),
        Merge::KeepWhenEmpty => format!(
            "CASE WHEN cardinality({incoming}.{name}) = 0 THEN {stored}.{name} \
             ELSE {incoming}.{name} END"
        ),
        Merge::PairWith(other) if ranked => format!(
            "CASE WHEN ({incoming}.{name} IS NOT NULL OR {incoming}.{other} IS NOT NULL) \
             AND (({stored}.{name} IS NULL AND {stored}.{other} IS NULL) OR {}) \
             THEN {incoming}.{name} ELSE {stored}.{name} END",
            rank()
        ),
        Merge::PairWith(other) => format!(
            "CASE WHEN {incoming}.{name} IS NULL AND {incoming}.{other} IS NULL \
             THEN {stored}.{name} ELSE {incoming}.{name} END"
        ),
        Merge::Follows(other) => format!(
            "CASE WHEN {incoming}.{other} IS NULL THEN {stored}.{name} ELSE {incoming}.{name} END"
        ),
        // Keys the stored object lacks are filled from any source; a key it has keeps the
        // value of the higher-ranked source.
        Merge::ObjectKeys if ranked => format!(
            "CASE WHEN {} THEN {stored}.{name} || {incoming}.{name} \
             ELSE {incoming}.{name} || {stored}.{name} END",
            rank()
        ),
        Merge::ObjectKeys => format!("{stored}.{name} || {incoming}.{name}"),
    })
}

/// The stored columns and the merge's results, for the updated (non-key) columns.
fn stored_and_merged(
    merged: &Merged,
    stored: &str,
    incoming: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut stored_columns = Vec::new();
    let mut set = Vec::new();
    for (name, merge) in &merged.columns {
        if let Some(expression) =
            merge_expression(name, *merge, stored, incoming, merged.survivorship)
        {
            stored_columns.push(format!("{stored}.{name}"));
            set.push(((*name).to_owned(), expression));
        }
    }
    (stored_columns, set)
}

/// What an entry of provenance says of the ingest that wrote the value: when (seconds since
/// the epoch) and by which transaction (its consistency token).
const INGEST_TIME_AND_TOKEN: &str = "extract(epoch FROM now()), pg_current_xact_id()::text";

/// The column of an incoming row holding its own key's provenance entry
/// ([`ingest_stamp`]), which [`provenance_after`] reads.
const INGEST_STAMP: &str = "ingest_stamp";

/// The select-list item giving an incoming row `row` its [`INGEST_STAMP`]: built once per row
/// rather than once per changed column (the merge's largest cost after the writes themselves).
fn ingest_stamp(row: &str) -> String {
    format!(
        "jsonb_build_array({row}.external_source, {row}.external_id, {INGEST_TIME_AND_TOKEN}) AS {INGEST_STAMP}"
    )
}

/// The stored row's provenance after the merge: an entry for each supplied column whose value
/// the merge changed, naming the incoming row's supplier of it and this ingest (time, token).
/// Entries without time and token come from rows folded in this ingest (see
/// `identity::fold`). NULL while every value is the prospect's own key's at its creation.
/// `incoming` has the column [`INGEST_STAMP`] ([`ingest_stamp`]).
fn provenance_after(merged: &Merged, stored: &str, incoming: &str) -> String {
    let mut entries = Vec::new();
    for (name, merge) in &merged.columns {
        let Some(expression) = merge_expression(name, *merge, stored, incoming, true) else {
            continue;
        };
        if supplied(name) == Supplied::ByScreening {
            continue;
        }
        let key = provenance_key(name, *merge);
        // A pair changes together: both its columns name the supplier of the pair.
        let changed = match merge {
            Merge::PairWith(other) => {
                let other_expression = merged
                    .columns
                    .iter()
                    .find(|(column, _)| column == other)
                    .and_then(|(column, merge)| {
                        merge_expression(column, *merge, stored, incoming, true)
                    })
                    .unwrap_or_else(|| format!("{stored}.{other}"));
                format!(
                    "({expression}, {other_expression}) IS DISTINCT FROM ({stored}.{name}, {stored}.{other})"
                )
            }
            _ => format!("({expression}) IS DISTINCT FROM {stored}.{name}"),
        };
        // A value the incoming row's own key supplied (no entry of a fold) shares the row's
        // one stamp; only a folded row's other suppliers get an entry of their own.
        entries.push(format!(
            "'{name}', CASE WHEN {changed} \
             THEN CASE WHEN {incoming}.provenance->'{key}' IS NULL THEN {incoming}.{INGEST_STAMP} \
             ELSE jsonb_build_array({}, {}, {INGEST_TIME_AND_TOKEN}) END END",
            supplier(incoming, key, 0, "external_source"),
            supplier(incoming, key, 1, "external_id"),
        ));
    }
    format!(
        "NULLIF(coalesce({stored}.provenance, '{{}}') || jsonb_strip_nulls(jsonb_build_object({})), '{{}}')",
        entries.join(", ")
    )
}

/// `name = <merge>, ...` of an UPDATE of the stored row `stored` by the row `incoming` (with
/// the provenance under survivorship).
fn update_set(merged: &Merged, stored: &str, incoming: &str) -> String {
    let (_, set) = stored_and_merged(merged, stored, incoming);
    let mut assignments: Vec<String> = set
        .iter()
        .map(|(name, expression)| format!("{name} = {expression}"))
        .collect();
    if merged.survivorship {
        assignments.push(format!(
            "provenance = {}",
            provenance_after(merged, stored, incoming)
        ));
    }
    assignments.join(", ")
}

/// `ON CONFLICT ... DO UPDATE SET <merge> WHERE <stored row differs from the merge>`: a merge
/// that would change nothing is skipped.
fn merge_clause(merged: &Merged, stored: &str) -> String {
    let (stored_columns, set) = stored_and_merged(merged, stored, "EXCLUDED");
    format!(
        "DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})",
        update_set(merged, stored, "EXCLUDED"),
        stored_columns.join(", "),
        set.iter()
            .map(|(_, expression)| expression.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// True when the stored row already equals what merging the `incoming` row into it would give:
/// the bulk merges leave such rows out before `ON CONFLICT`, which would otherwise lock (and so
/// write) every stored row a batch names, changed or not.
fn changes_nothing(merged: &Merged, stored: &str, incoming: &str) -> String {
    let (stored_columns, set) = stored_and_merged(merged, stored, incoming);
    format!(
        "({}) IS NOT DISTINCT FROM ({})",
        stored_columns.join(", "),
        set.iter()
            .map(|(_, expression)| expression.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The SQL name of a column type, for the staging tables.
fn type_name(sql_type: &Type) -> String {
    match sql_type.kind() {
        Kind::Array(element) => format!("{}[]", element.name()),
        _ => sql_type.name().to_owned(),
    }
}

/// `a, b, c` with each name formatted by `each`.
fn list(names: &[&str], each: impl Fn(&str) -> String) -> String {
    names
        .iter()
        .map(|name| each(name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names(columns: &[(&'static str, Merge)]) -> Vec<&'static str> {
    columns.iter().map(|(name, _)| *name).collect()
}

/// The supplied columns of a prospect merge with their rules: every merged column but keys,
/// the email (the survivor keeps its own) and the hide entry (screening's).
fn combined(merged: &Merged) -> impl Iterator<Item = (&'static str, Merge)> + '_ {
    merged
        .columns
        .iter()
        .copied()
        .filter(|(name, merge)| *merge != Merge::Key && supplied(name) == Supplied::Ranked)
}

/// Whether `row`'s column `name` holds a value, by its rule.
fn has_value(row: &str, name: &str, merge: Merge) -> String {
    match merge {
        Merge::KeepWhenEmpty => format!("cardinality({row}.{name}) > 0"),
        Merge::ObjectKeys => format!("{row}.{name} <> '{{}}'"),
        Merge::PairWith(other) => {
            format!("({row}.{name} IS NOT NULL OR {row}.{other} IS NOT NULL)")
        }
        _ => format!("{row}.{name} IS NOT NULL"),
    }
}

/// The provenance entry of `row`'s column `key` with its time and token: the stored entry,
/// completed from the row's creation when it has none of its own.
fn full_entry(row: &str, key: &str) -> String {
    let entry = format!(
        "coalesce({row}.provenance->'{key}', jsonb_build_array({row}.external_source, {row}.external_id))"
    );
    format!(
        "CASE WHEN jsonb_array_length({entry}) >= 4 THEN {entry} \
         ELSE {entry} || jsonb_build_array(extract(epoch FROM {row}.created_at), {row}.created_token::text) END"
    )
}

/// `(rank, time)` of the supplier of `row`'s column `key`, for the survivorship of a merge.
fn standing(row: &str, key: &str) -> String {
    format!(
        "(coalesce(source_rank({PRIORITY}, {}), 0), (({})->>2)::float8)",
        supplier(row, key, 0, "external_source"),
        full_entry(row, key),
    )
}

/// MergeProspects: the survivor `s` takes, column by column, the merged prospect `o`'s value
/// when the survivor has none, or when `o`'s supplier ranks higher, or ranks the same and
/// supplied it later; the entries of the values taken move with them.
fn combine_statement(merged: &Merged) -> String {
    let mut set = Vec::new();
    let mut entries = Vec::new();
    for (name, merge) in combined(merged) {
        let key = provenance_key(name, merge);
        let taken = format!(
            "({} AND (NOT {} OR {} > {}))",
            has_value("o", name, merge),
            has_value("s", name, merge),
            standing("o", key),
            standing("s", key),
        );
        let value = match merge {
            Merge::ObjectKeys => {
                format!("CASE WHEN {taken} THEN s.{name} || o.{name} ELSE o.{name} || s.{name} END")
            }
            _ => format!("CASE WHEN {taken} THEN o.{name} ELSE s.{name} END"),
        };
        set.push(format!("{name} = {value}"));
        entries.push(format!(
            "'{name}', CASE WHEN {taken} THEN {} END",
            full_entry("o", key)
        ));
    }
    format!(
        "UPDATE prospect s SET {}, provenance = NULLIF(coalesce(s.provenance, '{{}}') \
         || jsonb_strip_nulls(jsonb_build_object({})), '{{}}') \
         FROM prospect o \
         WHERE s.organization_id = $1 AND s.id = $2 AND o.organization_id = $1 AND o.id = $3",
        set.join(", "),
        entries.join(", ")
    )
}

/// UnmergeProspect: the survivor `s` takes back from its row before the merge `b` each column
/// whose value one of the unlinked keys (`$3`, `$4`) supplied, with that column's entry.
fn revert_statement(merged: &Merged) -> String {
    let mut set = Vec::new();
    let mut moved_keys = Vec::new();
    let mut entries = Vec::new();
    for (name, merge) in combined(merged) {
        let key = provenance_key(name, merge);
        let moved = format!(
            "(({}, {}) IN (SELECT * FROM unnest($3::text[], $4::text[])))",
            supplier("s", key, 0, "external_source"),
            supplier("s", key, 1, "external_id"),
        );
        set.push(format!(
            "{name} = CASE WHEN {moved} THEN b.{name} ELSE s.{name} END"
        ));
        moved_keys.push(format!("CASE WHEN {moved} THEN '{name}' END"));
        entries.push(format!(
            "'{name}', CASE WHEN {moved} THEN b.provenance->'{name}' END"
        ));
    }
    format!(
        "UPDATE prospect s SET {}, provenance = NULLIF((coalesce(s.provenance, '{{}}') \
         - array_remove(ARRAY[{}]::text[], NULL)) \
         || jsonb_strip_nulls(jsonb_build_object({})), '{{}}') \
         FROM jsonb_populate_record(NULL::prospect, $2::jsonb) b \
         WHERE s.organization_id = $1 AND s.id = b.id",
        set.join(", "),
        moved_keys.join(", "),
        entries.join(", ")
    )
}

/// `$first, $first+1, ...` for `count` parameters.
fn parameters(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SELECT list of a table's columns in table order, as [`Table::read_into`] reads them.
fn select_list<R, M>(table: &Table<R, M>) -> String {
    list(
        &table.columns.iter().map(|c| c.name).collect::<Vec<_>>(),
        |name| format!("{}.{name}", table.alias),
    )
}

fn staging_ddl(name: &str, columns: &[(&str, Type)]) -> String {
    let mut ddl = format!("CREATE TEMP TABLE IF NOT EXISTS {name} (");
    for (index, (column, sql_type)) in columns.iter().enumerate() {
        let separator = if index == 0 { "" } else { ", " };
        let _ = write!(ddl, "{separator}{column} {}", type_name(sql_type));
    }
    ddl.push_str(") ON COMMIT DELETE ROWS;");
    ddl
}

/// `(k1, k2) IN (SELECT * FROM unnest($first::t1[], ...))`-style pieces for a table's key:
/// the unnest call over one array parameter per key column.
fn unnest_keys<R, M>(table: &Table<R, M>, first: usize) -> String {
    let arrays: Vec<String> = table
        .key
        .iter()
        .enumerate()
        .map(|(offset, key)| {
            let sql_type = table
                .write_of(key)
                .map_or_else(|| "text".to_owned(), |write| type_name(&write.sql_type));
            format!("${}::{sql_type}[]", first + offset)
        })
        .collect();
    format!("unnest({})", arrays.join(", "))
}

/// `alias.key = other.key AND ...` over a table's key.
fn key_matches<R, M>(table: &Table<R, M>, other: &str) -> String {
    table
        .key
        .iter()
        .map(|key| format!("{}.{key} = {other}.{key}", table.alias))
        .collect::<Vec<_>>()
        .join(" AND ")
}

impl Statements {
    fn build() -> Self {
        let company = merged(&COMPANY);
        let company_columns = names(&company.columns);
        let prospect = merged(&PROSPECT);
        let prospect_columns = names(&prospect.columns);
        let prospect_all = prospect_merged();
        let provenance = provenance_of_p(&prospect_all);
        let (c, p) = (COMPANY.alias, PROSPECT.alias);

        let written = |table_columns: Vec<(&'static str, Type)>, first: &[(&'static str, Type)]| {
            let mut columns = first.to_vec();
            columns.extend(table_columns);
            columns
        };
        let company_typed: Vec<(&str, Type)> = COMPANY
            .written()
            .map(|(name, write)| (name, write.sql_type.clone()))
            .collect();
        let prospect_typed: Vec<(&str, Type)> = PROSPECT
            .written()
            .map(|(name, write)| (name, write.sql_type.clone()))
            .collect();
        let prospect_stage = written(
            prospect_typed.clone(),
            &[(COMPANY_ID.0, Type::INT8), ("target_id", Type::INT8)],
        );
        let mut prospect_stage = prospect_stage;
        prospect_stage.push(PROVENANCE);
        // A JIT compilation takes longer than a batch's statements run: the tables'
        // statistics, which lag behind a large import, can make them look costly enough.
        // The session's force_custom_plan would plan the foreign-key checks (saved plans that
        // probe a primary key) anew for every inserted row; under auto they keep one plan,
        // while this transaction's own statements, each prepared once, are still planned for
        // their values.
        // A part joins a few thousand staged rows to the organization's tables by key: index
        // look-ups, never a hash or merge join over the whole table, which the planner picks
        // from statistics that lag behind a large import (a temporary table has none).
        let create_staging = format!(
            "SET LOCAL client_min_messages = warning; SET LOCAL jit = off; \
             SET LOCAL plan_cache_mode = auto; SET LOCAL enable_hashjoin = off; \
             SET LOCAL enable_mergejoin = off; {} {}",
            staging_ddl("ingest_company_stage", &company_typed),
            staging_ddl("ingest_prospect_stage", &prospect_stage),
        );
        let company_list = company_columns.join(", ");
        let prospect_list = prospect_columns.join(", ");
        let company_key = COMPANY.key.join(", ");
        let prospect_key = PROSPECT.key.join(", ");

        let insert_companies = format!(
            "INSERT INTO company AS {c} (organization_id, {company_list})
             SELECT $1, {company_list} FROM ingest_company_stage ORDER BY {company_key}
             RETURNING {}, {c}.id",
            list(COMPANY.key, |key| format!("{c}.{key}")),
        );
        // Companies the batch would not change are left out of the insert, so they are
        // neither written nor locked.
        let merge_companies = format!(
            "WITH staged AS MATERIALIZED (
                 SELECT s.*, {c}.id AS stored_id,
                        {c}.id IS NOT NULL AND {} AS unchanged
                 FROM ingest_company_stage s
                 LEFT JOIN company {c} ON {c}.organization_id = $1 AND {}),
             written AS (
                 INSERT INTO company AS {c} (organization_id, {company_list})
                 SELECT $1, {company_list} FROM staged WHERE NOT unchanged
                 ORDER BY {company_key}
                 ON CONFLICT (organization_id, {company_key}) {}
                 RETURNING {}, {c}.id, (xmax = 0) AS inserted)
             SELECT {company_key}, id, inserted FROM written
             UNION ALL
             SELECT {company_key}, stored_id, NULL FROM staged WHERE unchanged",
            changes_nothing(&company, c, "s"),
            key_matches(&COMPANY, "s"),
            merge_clause(&company, c),
            list(COMPANY.key, |key| format!("{c}.{key}")),
        );
        let company_ids = format!(
            "SELECT {company_key}, id FROM company WHERE organization_id = $1 AND ({company_key}) IN \
             (SELECT * FROM {})",
            unnest_keys(&COMPANY, 2)
        );
        // Each staged prospect names the stored prospect it resolved to (by its source link,
        // else by its email; `target_id`); new people are copied into `prospect` instead.
        // Resolved ones the merge would change are updated by id, unchanged ones are left alone
        // (neither written nor locked). A resolved prospect deleted meanwhile is counted, and
        // the part retried.
        let merge_prospects = format!(
            "WITH looked_up AS MATERIALIZED (
                 SELECT s.*, {},
                        CASE WHEN {p}.id IS NULL THEN 'vanished'
                             WHEN {} THEN 'unchanged'
                             ELSE 'changed' END AS stored_as
                 FROM ingest_prospect_stage s
                 LEFT JOIN prospect {p} ON {p}.organization_id = $1 AND {p}.id = s.target_id),
             updated AS (
                 UPDATE prospect AS {p} SET {}
                 FROM looked_up s
                 WHERE s.stored_as = 'changed' AND {p}.organization_id = $1 AND {p}.id = s.target_id
                 RETURNING 1)
             SELECT (SELECT count(*) FROM updated),
                    (SELECT count(*) FROM looked_up WHERE stored_as = 'vanished')",
            ingest_stamp("s"),
            changes_nothing(&prospect_all, p, "s"),
            update_set(&prospect_all, p, "s"),
        );
        // Each key is looked up on its own (a subquery per key, by index): as a join, a part's
        // few thousand keys were planned as a scan of the organization's whole tables.
        let resolve_prospects = format!(
            "SELECT (SELECT l.prospect_id FROM prospect_source_link l
                     WHERE l.organization_id = $1 AND l.external_source = k.external_source
                       AND l.external_id = k.external_id),
                    {OWNER_OF_K_EMAIL}
             FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY
                  AS k(external_source, external_id, email, n)
             ORDER BY k.n"
        );
        let link_keys = format!(
            "INSERT INTO prospect_source_link \
             (organization_id, external_source, external_id, prospect_id) \
             SELECT $1, k.external_source, k.external_id, o.id \
             FROM unnest($2::text[], $3::text[], $4::text[], $5::int8[]) \
                  AS k(external_source, external_id, email, prospect_id), \
             LATERAL (SELECT coalesce(k.prospect_id, {OWNER_OF_K_EMAIL}) AS id) o \
             WHERE o.id IS NOT NULL \
             ORDER BY 2, 3 \
             ON CONFLICT (organization_id, external_source, external_id) DO NOTHING"
        );

        let upsert_company = format!(
            "INSERT INTO company AS {c} (organization_id, {company_list}) VALUES ($1, {}) \
             ON CONFLICT (organization_id, {company_key}) {} \
             RETURNING id, (xmax = 0) AS inserted",
            parameters(2, company_columns.len()),
            merge_clause(&company, c),
        );
        let insert_prospect = format!(
            "INSERT INTO prospect (organization_id, {}, {prospect_list}) VALUES ($1, $2, {}) \
             RETURNING id",
            COMPANY_ID.0,
            parameters(3, prospect_columns.len()),
        );
        let target = 3 + prospect_columns.len();
        let update_prospect = format!(
            "UPDATE prospect AS {p} SET {} \
             FROM (SELECT i.*, {} FROM (SELECT $2::int8 AS {}, {}, NULL::jsonb AS provenance) i) AS s \
             WHERE {p}.organization_id = $1 AND {p}.id = ${target} AND NOT ({}) \
             RETURNING {p}.id",
            update_set(&prospect_all, p, "s"),
            ingest_stamp("i"),
            COMPANY_ID.0,
            PROSPECT
                .written()
                .enumerate()
                .map(|(offset, (name, write))| format!(
                    "${}::{} AS {name}",
                    3 + offset,
                    type_name(&write.sql_type)
                ))
                .collect::<Vec<_>>()
                .join(", "),
            changes_nothing(&prospect_all, p, "s"),
        );
        let by_key = |table_name: &str, key: &[&str]| {
            format!(
                "SELECT id FROM {table_name} WHERE organization_id = $1 AND {}",
                key.iter()
                    .enumerate()
                    .map(|(offset, key)| format!("{key} = ${}", offset + 2))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            )
        };
        let mut new_prospect = vec![("organization_id", Type::INT8), (COMPANY_ID.0, Type::INT8)];
        new_prospect.extend(prospect_typed);
        new_prospect.push(PROVENANCE);
        Self {
            create_staging,
            copy_company_stage: Copy::new("ingest_company_stage", &company_typed),
            insert_companies,
            merge_companies,
            company_ids,
            copy_new_prospects: Copy::new("prospect", &new_prospect),
            copy_prospect_stage: Copy::new("ingest_prospect_stage", &prospect_stage),
            merge_prospects,
            resolve_prospects,
            link_keys,
            upsert_company,
            insert_prospect,
            update_prospect,
            company_id_by_domain: by_key(COMPANY.name, COMPANY.key),
            select_company: format!(
                "SELECT {} FROM company {c} WHERE {c}.organization_id = $1 AND {c}.id = $2",
                select_list(&COMPANY)
            ),
            select_prospect: format!(
                "SELECT {}, {}, {LINKS_OF_P}, {provenance} FROM prospect {p} \
                 JOIN company {c} ON {c}.id = {p}.{} \
                 {JOIN_LINKS_OF_P} WHERE {p}.organization_id = $1 AND {p}.id = $2",
                select_list(&PROSPECT),
                select_list(&COMPANY),
                COMPANY_ID.0,
            ),
            // The mirror is the person's: one `customer` row under the prospect's own key.
            mirror_keys_to_customer: CUSTOMER.mirror(&format!(
                "p.organization_id = $1 AND p.id IN (SELECT l.prospect_id \
                 FROM prospect_source_link l WHERE l.organization_id = $1 \
                 AND (l.external_source, l.external_id) IN (SELECT * FROM {}))",
                unnest_keys(&PROSPECT, 2)
            )),
            mirror_prospect_to_customer: CUSTOMER.mirror("p.organization_id = $1 AND p.id = $2"),
            select_customers: CUSTOMER.select_page(),
            delete_prospects: format!(
                "DELETE FROM prospect WHERE organization_id = $1 AND id = ANY($2::int8[]) \
                 RETURNING id, {prospect_key}"
            ),
            // A mirror has its prospect's key: the arrays are the prospects' key columns.
            delete_customers_by_key: format!(
                "DELETE FROM customer WHERE organization_id = $1 AND ({}) IN (SELECT * FROM {}) \
                 RETURNING id",
                CUSTOMER.key.join(", "),
                unnest_keys(&PROSPECT, 2)
            ),
            select_prospects_by_email: format!(
                "SELECT {}, {}, {LINKS_OF_P}, {provenance} FROM prospect {p} \
                 JOIN company {c} ON {c}.id = {p}.{} \
                 {JOIN_LINKS_OF_P} WHERE {PROSPECT_HAS_EMAIL} ORDER BY {p}.id",
                select_list(&PROSPECT),
                select_list(&COMPANY),
                COMPANY_ID.0,
            ),
            lock_person_prospects: format!(
                "SELECT {p}.id FROM prospect {p} WHERE ({PROSPECT_HAS_EMAIL}) \
                 OR ({p}.organization_id = $1 AND {p}.id = $3) ORDER BY {p}.id FOR UPDATE"
            ),
            select_customers_by_email: format!(
                "SELECT id, {} FROM customer WHERE {CUSTOMER_HAS_EMAIL} ORDER BY id",
                CUSTOMER
                    .exported()
                    .map(|name| format!("{name}::text"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            delete_customers_by_email: format!(
                "DELETE FROM customer WHERE {CUSTOMER_HAS_EMAIL} RETURNING id"
            ),
            lock_prospects: "SELECT id, email FROM prospect \
                 WHERE organization_id = $1 AND id = ANY($2::int8[]) ORDER BY id FOR UPDATE"
                .to_owned(),
            record_merge: "INSERT INTO prospect_merge (organization_id, survivor_id, merged_id, \
                 merged, survivor_before, link_sources, link_ids, addresses) \
                 SELECT $1, s.id, o.id, to_jsonb(o), to_jsonb(s), \
                 coalesce(l.sources, '{}'), coalesce(l.ids, '{}'), \
                 ARRAY[lower(o.email)] || coalesce((SELECT array_agg(a.email ORDER BY a.email) \
                     FROM prospect_email_alias a WHERE a.organization_id = $1 AND a.prospect_id = o.id), '{}') \
                 FROM prospect s, prospect o, LATERAL (SELECT \
                     array_agg(k.external_source ORDER BY k.external_source, k.external_id) AS sources, \
                     array_agg(k.external_id ORDER BY k.external_source, k.external_id) AS ids \
                     FROM prospect_source_link k \
                     WHERE k.organization_id = $1 AND k.prospect_id = o.id) l \
                 WHERE s.organization_id = $1 AND s.id = $2 AND o.organization_id = $1 AND o.id = $3 \
                 RETURNING id"
                .to_owned(),
            combine_prospects: combine_statement(&prospect_all),
            move_links: "UPDATE prospect_source_link SET prospect_id = $2 \
                 WHERE organization_id = $1 AND prospect_id = $3"
                .to_owned(),
            move_merges: "UPDATE prospect_merge SET survivor_id = $2 \
                 WHERE organization_id = $1 AND survivor_id = $3"
                .to_owned(),
            move_aliases: "UPDATE prospect_email_alias SET prospect_id = $2 \
                 WHERE organization_id = $1 AND prospect_id = $3"
                .to_owned(),
            add_alias: "INSERT INTO prospect_email_alias (organization_id, email, prospect_id) \
                 VALUES ($1, lower($3), $2) ON CONFLICT DO NOTHING"
                .to_owned(),
            find_merge: "SELECT id, survivor_id, merged_id, merged, survivor_before, link_sources, \
                 link_ids, addresses FROM prospect_merge m \
                 WHERE organization_id = $1 AND $3 = ANY(link_ids) AND EXISTS (SELECT 1 \
                     FROM unnest(m.link_sources, m.link_ids) AS l(source, id) \
                     WHERE l.source = $2 AND l.id = $3) \
                 ORDER BY id DESC LIMIT 1 FOR UPDATE"
                .to_owned(),
            restore_survivor_email: "UPDATE prospect SET email = $3 \
                 WHERE organization_id = $1 AND id = $2 AND lower(email) = lower($4)"
                .to_owned(),
            remove_aliases: "DELETE FROM prospect_email_alias \
                 WHERE organization_id = $1 AND prospect_id = $2 AND email = ANY($3::text[])"
                .to_owned(),
            unlink_keys: "DELETE FROM prospect_source_link \
                 WHERE organization_id = $1 AND prospect_id = $2 \
                 AND (external_source, external_id) IN (SELECT * FROM unnest($3::text[], $4::text[])) \
                 RETURNING external_source, external_id"
                .to_owned(),
            // A hide entry removed since the merge hides the restored prospect no more.
            restore_prospect: "INSERT INTO prospect OVERRIDING SYSTEM VALUE \
                 SELECT * FROM jsonb_populate_record(NULL::prospect, $2::jsonb \
                     || jsonb_build_object('suppressed_by', (SELECT id FROM suppression \
                         WHERE organization_id = $1 AND id = ($2::jsonb->>'suppressed_by')::bigint))) \
                 RETURNING id"
                .to_owned(),
            relink_keys: "INSERT INTO prospect_source_link \
                 (organization_id, external_source, external_id, prospect_id) \
                 SELECT $1, k.source, k.id, $2 FROM unnest($3::text[], $4::text[]) AS k(source, id) \
                 ON CONFLICT (organization_id, external_source, external_id) DO NOTHING"
                .to_owned(),
            revert_survivor: revert_statement(&prospect_all),
            delete_merge: "DELETE FROM prospect_merge WHERE id = $1".to_owned(),
            source_ranks: format!(
                "SELECT u.source, source_rank(coalesce({PRIORITY}, '{{}}'), u.source) \
                 FROM unnest($2::text[]) AS u(source)"
            ),
            set_source_priority:
                "INSERT INTO organization_source_priority (organization_id, sources) \
                 VALUES ($1, $2) ON CONFLICT (organization_id) \
                 DO UPDATE SET sources = EXCLUDED.sources, updated_at = now()"
                    .to_owned(),
            clear_source_priority:
                "DELETE FROM organization_source_priority WHERE organization_id = $1".to_owned(),
            select_source_priority:
                "SELECT sources FROM organization_source_priority WHERE organization_id = $1"
                    .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_merge_skips_updates_that_change_nothing() {
        let clause = merge_clause(
            &Merged {
                columns: vec![("name", Merge::KeepWhenNull)],
                survivorship: false,
            },
            "c",
        );
        assert_eq!(
            clause,
            "DO UPDATE SET name = coalesce(EXCLUDED.name, c.name) \
             WHERE (c.name) IS DISTINCT FROM (coalesce(EXCLUDED.name, c.name))"
        );
    }

    #[test]
    fn the_unchanged_check_reads_the_incoming_row_where_the_merge_reads_excluded() {
        let check = changes_nothing(
            &Merged {
                columns: vec![
                    ("domain", Merge::Key),
                    ("name", Merge::KeepWhenNull),
                    ("id", Merge::Overwrite),
                ],
                survivorship: false,
            },
            "c",
            "s",
        );
        assert_eq!(
            check,
            "(c.name, c.id) IS NOT DISTINCT FROM (coalesce(s.name, c.name), s.id)"
        );
    }

    #[test]
    fn every_statement_builds_and_staging_types_are_sql() {
        let sql = &*SQL;
        assert!(
            sql.create_staging.contains("tags text[]"),
            "{}",
            sql.create_staging
        );
        assert!(sql.create_staging.contains("min_employees int4"));
        assert_eq!(sql.copy_new_prospects.types[0], Type::INT8);
        // The organization, the company's id and the prospect's written columns (with
        // suppressed_by).
        assert!(
            sql.insert_prospect.contains("$23)"),
            "{}",
            sql.insert_prospect
        );
        // The organization and the company's written columns (with country_code and
        // max_revenue), no more.
        assert!(
            sql.upsert_company.contains("$19)"),
            "{}",
            sql.upsert_company
        );
        assert!(
            !sql.upsert_company.contains("$20"),
            "{}",
            sql.upsert_company
        );
    }
}

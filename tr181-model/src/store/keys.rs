//! Unique keys: a per-table index of key values, so a commit checks only the rows it touched.
//!
//! A table's [`KeyIndex`] holds, for every checked unique key and every row, a hash of the
//! row's key values as of the last commit that touched the row (or of when the index was
//! built). A transaction changes the tree in place, so during it the rows it touched may
//! differ from the index; every other row still matches it. A check therefore compares each
//! touched row with the other touched rows directly and with the rows the index names under
//! the same hash, verifying their current values (an entry may be stale: the row was deleted
//! or changed since). Entries are only added, at commit, over the final state, so rolling a
//! transaction back needs no index undo; the index is rebuilt when stale entries outnumber the
//! rows. A table without an index (a new or loaded store) is checked by a full scan once and
//! indexed at its first commit.

use core::hash::{Hash, Hasher};
use std::collections::{BTreeSet, HashMap};
use std::hash::DefaultHasher;
use std::vec::Vec;

use super::tree::{self, Node, Step, Table, View, route_path};
use crate::error::Error;
use crate::schema::{Access, UniqueKey};
use crate::value::Value;

/// A table's index of unique-key values (see the module docs); a cache, so two tables are
/// equal whatever their indexes hold.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyIndex(Option<BTreeSet<(u64, u32)>>);

impl PartialEq for KeyIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl KeyIndex {
    /// The rows indexed under `hash` (possibly stale), `None` if the table has no index yet.
    fn rows(&self, hash: u64) -> Option<impl Iterator<Item = u32> + '_> {
        let entries = self.0.as_ref()?;
        Some(entries.range((hash, 0)..=(hash, u32::MAX)).map(|(_, n)| *n))
    }
}

/// The unique keys of `table` the store checks, with their positions: keys made only of
/// read-only parameters are the device's to assign.
fn checked_keys(table: &Table) -> impl Iterator<Item = (usize, &'static UniqueKey)> {
    let def = table.def();
    def.main
        .unique_keys()
        .iter()
        .enumerate()
        .filter(move |(_, key)| {
            !key.parameters().iter().all(|name| {
                def.param(name, View::Any)
                    .is_none_or(|p| p.access() == Access::ReadOnly)
            })
        })
}

/// The hash of key `position`'s values `values`.
fn hash_of<'v>(position: usize, values: impl Iterator<Item = &'v Value>) -> u64 {
    let mut hasher = DefaultHasher::new();
    position.hash(&mut hasher);
    values.for_each(|v| v.hash(&mut hasher));
    hasher.finish()
}

/// The hash of `row`'s values of key `position`, `None` if the row lacks one of them.
fn row_hash(row: &Node, position: usize, key: &UniqueKey) -> Option<u64> {
    let values: Option<Vec<&Value>> = key.parameters().iter().map(|p| row.param(p)).collect();
    Some(hash_of(position, values?.into_iter()))
}

/// Whether two rows have the same values of `key`.
fn same_key(a: &Node, b: &Node, key: &UniqueKey) -> bool {
    key.parameters().iter().all(|p| a.param(p) == b.param(p))
}

/// Checks every unique key of `table` at `route` (TR-106: a functional key of a table with
/// an enable parameter only among enabled rows). `touched` are the rows this transaction
/// added or changed, in number order; a duplicate is reported on a touched row.
pub(super) fn check(table: &Table, route: &[Step], touched: &BTreeSet<u32>) -> Result<(), Error> {
    let def = table.def().main;
    for (position, key) in checked_keys(table) {
        let enable = def.enable_parameter().filter(|_| key.functional());
        let bound = |row: &Node| enable.is_none_or(|e| row.param(e) == Some(&Value::Boolean(true)));
        let duplicate = |dup: u32, existing: u32| {
            let row_path = |n: u32| {
                let mut path = route_path(route);
                tree::push_step(&mut path, Step::Inst(n));
                path
            };
            Error::DuplicateKey {
                path: row_path(dup),
                key: key.parameters().join(","),
                existing: row_path(existing),
            }
        };
        // The touched rows among themselves.
        let mut seen: HashMap<u64, Vec<(u32, &Node)>> = HashMap::new();
        for &number in touched {
            let Some(row) = table.rows.get(&number).filter(|r| bound(r)) else {
                continue;
            };
            let Some(hash) = row_hash(row, position, key) else {
                continue;
            };
            let same = seen.entry(hash).or_default();
            if let Some((other, _)) = same.iter().find(|(_, r)| same_key(r, row, key)) {
                return Err(duplicate(number, *other));
            }
            same.push((number, row));
        }
        // The touched rows against the others.
        for (hash, same) in &seen {
            let others: Box<dyn Iterator<Item = u32>> = match table.keys.rows(*hash) {
                Some(indexed) => Box::new(indexed),
                None => Box::new(table.rows.into_iter().map(|(n, _)| *n)),
            };
            for other in others.filter(|n| !touched.contains(n)) {
                let Some(row) = table.rows.get(&other).filter(|r| bound(r)) else {
                    continue;
                };
                if let Some((number, _)) = same.iter().find(|(_, r)| same_key(r, row, key)) {
                    return Err(duplicate(*number, other));
                }
            }
        }
    }
    Ok(())
}

/// Records the committed values of the `touched` rows of `table` in its index (building the
/// index on first use, rebuilding it when stale entries outnumber the rows).
pub(super) fn record(table: &mut Table, touched: &BTreeSet<u32>) {
    let keys: Vec<(usize, &'static UniqueKey)> = checked_keys(table).collect();
    let limit = table
        .rows
        .len()
        .saturating_add(16)
        .saturating_mul(keys.len().saturating_mul(2));
    let rebuild = table.keys.0.as_ref().is_none_or(|e| e.len() > limit);
    let entries = |rows: &mut dyn Iterator<Item = (u32, &Node)>| {
        let mut out = Vec::new();
        for (number, row) in rows {
            for (position, key) in &keys {
                if let Some(hash) = row_hash(row, *position, key) {
                    out.push((hash, number));
                }
            }
        }
        out
    };
    let new = if rebuild {
        entries(&mut table.rows.into_iter().map(|(n, r)| (*n, r)))
    } else {
        entries(
            &mut touched
                .iter()
                .filter_map(|n| Some((*n, table.rows.get(n)?))),
        )
    };
    match &mut table.keys.0 {
        Some(index) if !rebuild => index.extend(new),
        slot => *slot = Some(new.into_iter().collect()),
    }
}

/// Whether `name` is a unique key of `table` on its own, writable and not functional: a
/// label the store may assign.
pub(super) fn is_label(table: &Table, name: &str) -> bool {
    checked_keys(table).any(|(_, key)| !key.functional() && key.parameters().iter().eq([name]))
}

/// Whether a row of `table` has `value` as its label `name` (at parameter position `at`),
/// given the rows `touched` so far by the open transaction.
pub(super) fn label_taken(
    table: &Table,
    name: &str,
    at: usize,
    value: &str,
    touched: &BTreeSet<u32>,
) -> bool {
    let has = |n: &u32| {
        table
            .rows
            .get(n)
            .is_some_and(|r| matches!(r.value_at(at), Some(Value::String(s)) if s == value))
    };
    let indexed = checked_keys(table).find(|(_, key)| key.parameters().iter().eq([name]));
    let candidates = indexed.and_then(|(position, _)| {
        let value = Value::String(value.into());
        table.keys.rows(hash_of(position, core::iter::once(&value)))
    });
    match candidates {
        Some(mut indexed) => indexed.any(|n| has(&n)) || touched.iter().any(has),
        None => table.rows.into_iter().any(|(n, _)| has(n)),
    }
}

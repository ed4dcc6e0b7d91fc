//! Persisted lists and maps read one entry at a time.
//!
//! A power cut or a worn flash can leave a well-formed document with one damaged entry in
//! it: a number where a string was stored, an object where a list was. Read as one value,
//! such an entry fails the whole document, and a restart loses every entry beside it. Read
//! through [`Lenient`], each entry stands alone: the malformed ones are skipped and counted,
//! the others kept. The store (`Store`'s `Deserialize`) and the persisted sections and files
//! of the other crates read their lists this way.
//!
//! An entry is first taken as raw JSON text (serde_json's [`RawValue`], which only checks
//! that it is JSON), then read on its own. Reading it in place cannot skip it once its
//! reader has failed half-way, and serde's untagged enums, which can, buffer each entry in
//! a generic tree that costs a second copy of every entry type's reader in the binary.

use std::fmt;
use std::marker::PhantomData;
use std::vec::Vec;

use serde::de::{DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// One entry of a persisted list or map: [`Lenient::Read`] when it has the expected shape,
/// else [`Lenient::Malformed`]. Its `Deserialize` works with serde_json's deserializers
/// only (the JSON the sections are written in, or a `serde_json::Value`); an entry that is
/// not JSON at all still fails the document.
#[derive(Debug)]
#[allow(clippy::exhaustive_enums)] // Complete by definition: an entry reads or it does not.
pub enum Lenient<T> {
    /// The entry as expected.
    Read(T),
    /// An entry of another shape, skipped.
    Malformed,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        // `from_slice`, like the readers of the persisted files, so that each entry type
        // has one reader in the binary.
        Ok(serde_json::from_slice(raw.get().as_bytes()).map_or(Self::Malformed, Self::Read))
    }
}

impl<T> Lenient<T> {
    /// The entry, or `None` when it is malformed, which `malformed` then counts.
    pub fn keep(self, malformed: &mut usize) -> Option<T> {
        match self {
            Self::Read(entry) => Some(entry),
            Self::Malformed => {
                *malformed = malformed.saturating_add(1);
                None
            }
        }
    }
}

/// A persisted map read as its entries, in the document's order, for a map that is only
/// walked once ([`keep_read_values`], the store's load): a `BTreeMap` read instead links its
/// insertion and rebalancing code into the binary once more for each entry type. Keys are
/// not deduplicated (the writers never repeat one).
#[derive(Debug)]
pub struct Entries<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for Entries<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K, V> IntoIterator for Entries<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

/// Reads a map into [`Entries`].
struct EntriesVisitor<K, V>(PhantomData<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<K, V> {
    type Value = Entries<K, V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Entries(entries))
    }
}

/// A persisted list read one entry at a time ([`Lenient`]) straight into the entries of the
/// expected shape, in their order, counting the others ([`keep_read`]). A `Vec<Lenient<T>>`
/// filtered afterwards costs a second vector type and its collecting code in the binary for
/// each entry type.
#[derive(Debug)]
pub struct LenientList<T> {
    kept: Vec<T>,
    malformed: usize,
}

impl<T> Default for LenientList<T> {
    fn default() -> Self {
        Self {
            kept: Vec::new(),
            malformed: 0,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for LenientList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ListVisitor(PhantomData))
    }
}

/// Reads a list into a [`LenientList`].
struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for ListVisitor<T> {
    type Value = LenientList<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = LenientList::default();
        while let Some(entry) = seq.next_element::<Lenient<T>>()? {
            if let Some(entry) = entry.keep(&mut list.malformed) {
                list.kept.push(entry);
            }
        }
        Ok(list)
    }
}

/// The well-formed entries of `list`, in their order; `malformed` counts the others.
pub fn keep_read<T>(list: LenientList<T>, malformed: &mut usize) -> Vec<T> {
    *malformed = malformed.saturating_add(list.malformed);
    list.kept
}

/// The well-formed entries of the map `entries`, with their keys; `malformed` counts the
/// others. They are added one by one (`Extend`): a `BTreeMap` collected instead would sort
/// them first, with a sort of its own in the binary for each entry type.
pub fn keep_read_values<K, V, C: Default + Extend<(K, V)>>(
    entries: impl IntoIterator<Item = (K, Lenient<V>)>,
    malformed: &mut usize,
) -> C {
    let mut kept = C::default();
    kept.extend(
        entries
            .into_iter()
            .filter_map(|(key, entry)| Some((key, entry.keep(malformed)?))),
    );
    kept
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;
    use std::string::String;
    use std::vec::Vec;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Entry {
        name: String,
        count: u32,
    }

    #[test]
    fn one_malformed_entry_costs_itself_only() {
        let text = r#"[{"name":"a","count":1},{"name":2,"count":1},{"name":"c"},
            {"name":"d","count":4294967296},7,{"name":"e","count":5}]"#;
        let entries: LenientList<Entry> = serde_json::from_str(text).unwrap();
        let mut malformed = 0;
        let kept: Vec<Entry> = keep_read(entries, &mut malformed);
        let names: Vec<&str> = kept.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "e"]);
        assert_eq!(malformed, 4);
    }

    #[test]
    fn map_values_stand_alone() {
        let text = r#"{"a":"x","b":3,"c":"z","d":null}"#;
        let map: BTreeMap<String, Lenient<String>> = serde_json::from_str(text).unwrap();
        let mut malformed = 0;
        let kept: BTreeMap<String, String> = keep_read_values(map, &mut malformed);
        assert_eq!(
            kept.keys().map(String::as_str).collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert_eq!(malformed, 2);
    }

    #[test]
    fn entries_of_a_json_value_stand_alone_too() {
        let value = serde_json::json!([{"name": "a", "count": 1}, {"name": "b"}, "c"]);
        let entries: LenientList<Entry> = serde_json::from_value(value).unwrap();
        let mut malformed = 0;
        let kept: Vec<Entry> = keep_read(entries, &mut malformed);
        assert_eq!(
            kept,
            [Entry {
                name: "a".into(),
                count: 1
            }]
        );
        assert_eq!(malformed, 2);
    }

    #[test]
    fn a_document_that_is_not_json_still_fails() {
        assert!(serde_json::from_str::<LenientList<Entry>>(r#"[{"name":"a""#).is_err());
    }
}

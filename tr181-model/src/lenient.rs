//! Persisted lists and maps read one entry at a time.
//!
//! A power cut or a worn flash can leave a well-formed document with one damaged entry in
//! it: a number where a string was stored, an object where a list was. Read as one value,
//! such an entry fails the whole document, and a restart loses every entry beside it. Read
//! through [`Lenient`], each entry stands alone: the malformed ones are skipped and counted,
//! the others kept. The store (`Store`'s `Deserialize`) and the persisted sections and files
//! of the other crates read their lists this way.

use serde::Deserialize;
use serde::de::IgnoredAny;

/// One entry of a persisted list or map: [`Lenient::Read`] when it has the expected shape,
/// else [`Lenient::Malformed`] (whatever it held is skipped). It relies on serde's buffering
/// of untagged enums, so it needs a self-describing format (the JSON the sections are
/// written in).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(clippy::exhaustive_enums)] // Complete by definition: an entry reads or it does not.
pub enum Lenient<T> {
    /// The entry as expected.
    Read(T),
    /// An entry of another shape, skipped.
    Malformed(IgnoredAny),
}

impl<T> Lenient<T> {
    /// The entry, or `None` when it is malformed, which `malformed` then counts.
    pub fn keep(self, malformed: &mut usize) -> Option<T> {
        match self {
            Self::Read(entry) => Some(entry),
            Self::Malformed(_) => {
                *malformed = malformed.saturating_add(1);
                None
            }
        }
    }
}

/// The well-formed entries of `entries`, in their order; `malformed` counts the others.
pub fn keep_read<T, C: FromIterator<T>>(
    entries: impl IntoIterator<Item = Lenient<T>>,
    malformed: &mut usize,
) -> C {
    entries
        .into_iter()
        .filter_map(|entry| entry.keep(malformed))
        .collect()
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
        let entries: Vec<Lenient<Entry>> = serde_json::from_str(text).unwrap();
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
        let kept: BTreeMap<String, String> = map
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.keep(&mut malformed)?)))
            .collect();
        assert_eq!(
            kept.keys().map(String::as_str).collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert_eq!(malformed, 2);
    }

    #[test]
    fn a_document_that_is_not_json_still_fails() {
        assert!(serde_json::from_str::<Vec<Lenient<Entry>>>(r#"[{"name":"a""#).is_err());
    }
}

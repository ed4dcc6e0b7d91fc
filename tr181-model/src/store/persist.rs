//! Saving and loading the store with serde.
//!
//! The document is
//!
//! ```json
//! {
//!   "format": 1,
//!   "next_instance": { "Device.WiFi.SSID.": 3 },
//!   "objects": { "Device.WiFi.SSID.1.": { "Alias": "cpe-1", "Enable": "true" } }
//! }
//! ```
//!
//! `next_instance` holds every table whose counter has moved; `objects` every object instance
//! with its parameter values in canonical text. See the [store docs](super) for the load rules.

use std::string::String;

use serde::de::Error as _;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::tree::{self, Child, Node, Shape, Step, View};
use super::{ChangeLog, Store};
use crate::lenient::{Entries, Lenient};
use crate::limits::Limits;
use crate::path::{InstancePath, InstanceSegment};
use crate::value::{Value, validate};

/// The document format written by this version.
const FORMAT: u32 = 1;

/// The document as read; writing streams the same shape straight from the tree (see
/// `Serialize for Store`). Each counter, object and value is read on its own ([`Lenient`]):
/// one of another JSON type is dropped and counted ([`Store::malformed_on_load`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: u32,
    #[serde(default)]
    next_instance: Entries<String, Lenient<u32>>,
    #[serde(default)]
    objects: Entries<String, Lenient<Entries<String, Lenient<String>>>>,
}

/// Writes the document while walking the tree, in tree order, without building it in memory
/// first: a copy of every value as text, with its name and its object's path, was the
/// largest allocation of the agent while it saved a store of many rows.
impl Serialize for Store {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut doc = serializer.serialize_struct("Document", 3)?;
        doc.serialize_field("format", &FORMAT)?;
        doc.serialize_field("next_instance", &Saved::Counters(&self.root))?;
        doc.serialize_field("objects", &Saved::Objects(&self.root))?;
        doc.end()
    }
}

/// A map of the document, written from the tree below a root.
enum Saved<'a> {
    /// `next_instance`: every table whose counter has moved.
    Counters(&'a Node),
    /// `objects`: every object instance with its values in canonical text.
    Objects(&'a Node),
    /// The values of one object.
    Values(&'a Node),
}

impl Serialize for Saved<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Values(node) => {
                serializer.collect_map(node.params().map(|(name, value)| (name, Text(value))))
            }
            Self::Counters(root) | Self::Objects(root) => {
                let objects = matches!(self, Self::Objects(_));
                let mut map = serializer.serialize_map(None)?;
                let mut path = String::from("Device.");
                visit(root, &mut path, &mut |path, item| match item {
                    Item::Object(node) if objects => {
                        map.serialize_entry(path, &Saved::Values(node))
                    }
                    Item::Table(next) if !objects && next > 1 => map.serialize_entry(path, &next),
                    Item::Object(_) | Item::Table(_) => Ok(()),
                })?;
                map.end()
            }
        }
    }
}

/// A value written as its canonical text.
struct Text<'a>(&'a Value);

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// What [`visit`] reports at a path.
enum Item<'a> {
    /// An object instance.
    Object(&'a Node),
    /// A table, with its next instance number.
    Table(u32),
}

/// Calls `f` for `node` (at `path`) and every object and table below it, in tree order.
fn visit<E>(
    node: &Node,
    path: &mut String,
    f: &mut dyn FnMut(&str, Item<'_>) -> Result<(), E>,
) -> Result<(), E> {
    f(path, Item::Object(node))?;
    for (name, child) in node.children() {
        let len = path.len();
        tree::push_step(path, Step::Name(name));
        match child {
            Child::Single(child) => visit(child, path, f)?,
            Child::Table(table) => {
                f(path, Item::Table(table.next))?;
                let table_len = path.len();
                for (n, row) in &table.rows {
                    tree::push_step(path, Step::Inst(*n));
                    visit(row, path, f)?;
                    path.truncate(table_len);
                }
            }
        }
        path.truncate(len);
    }
    Ok(())
}

impl<'de> Deserialize<'de> for Store {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let doc = Document::deserialize(deserializer)?;
        if doc.format != FORMAT {
            return Err(D::Error::custom(std::format!(
                "unsupported store format {} (expected {FORMAT})",
                doc.format
            )));
        }
        Ok(load(doc))
    }
}

/// Builds a store from a document, dropping what the schema does not know and what is
/// malformed.
fn load(doc: Document) -> Store {
    let mut root = Node::new(Shape::root());
    let limits = Limits::DEFAULT;
    let mut malformed = 0;
    for (path, params) in doc.objects {
        let Some(params) = params.keep(&mut malformed) else {
            continue;
        };
        let Ok(addr) = InstancePath::split(&path, &limits) else {
            continue;
        };
        if addr.item.is_some() {
            continue;
        }
        let Some(node) = ensure(&mut root, &addr.segments) else {
            continue;
        };
        for (name, text) in params {
            let Some(text) = text.keep(&mut malformed) else {
                continue;
            };
            let Some(parameter) = node.def().param(&name, View::Any) else {
                continue;
            };
            let Some(slot) = node.param_mut(name.as_str()) else {
                continue;
            };
            if let Ok(value) = Value::parse(&text, parameter.syntax()) {
                if validate(&value, parameter.syntax()).is_ok() {
                    *slot = value;
                }
            }
        }
    }
    for (path, next) in doc.next_instance {
        let Some(next) = next.keep(&mut malformed) else {
            continue;
        };
        let Ok(addr) = InstancePath::split(&path, &limits) else {
            continue;
        };
        let Ok((tree::Place::Table(_), route)) = tree::walk(&root, &path, &addr, View::Any) else {
            continue;
        };
        if let Some(table) = tree::table_at_mut(&mut root, &route) {
            table.next = table.next.max(next);
        }
    }
    root.recount();
    Store {
        root,
        log: ChangeLog::new(),
        limits,
        malformed,
    }
}

/// The object at `segs`, creating missing rows and optional single-instance objects.
fn ensure<'a>(mut node: &'a mut Node, segs: &[InstanceSegment<'_>]) -> Option<&'a mut Node> {
    let mut index = 0;
    while let Some(seg) = segs.get(index) {
        let InstanceSegment::Name(name) = *seg else {
            return None;
        };
        if node.child(name).is_none() {
            let (_, shape) = node
                .shape
                .child(name)
                .filter(|(_, s)| !s.def.main.is_table())?;
            node.set_child(name, Some(Child::Single(Node::new(shape))));
        }
        match node.child_mut(name)? {
            Child::Single(child) => node = child,
            Child::Table(table) => {
                let Some(InstanceSegment::Instance(n)) = segs.get(index + 1) else {
                    return None;
                };
                let full = table.def().main.max_entries().is_some_and(|max| {
                    table.rows.len() >= usize::try_from(max).unwrap_or(usize::MAX)
                });
                if !table.rows.contains_key(n) {
                    if full {
                        return None;
                    }
                    table.rows.insert(*n, Node::new(table.shape));
                    table.next = table.next.max(n.saturating_add(1));
                }
                node = table.rows.get_mut(n)?;
                index += 1;
            }
        }
        index += 1;
    }
    Some(node)
}

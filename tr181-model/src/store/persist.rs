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

use std::collections::BTreeMap;
use std::string::{String, ToString};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::tree::{self, Child, Node, Route, Shape, Step, View};
use super::{ChangeLog, Store};
use crate::limits::Limits;
use crate::path::{InstancePath, InstanceSegment};
use crate::value::{Value, validate};

/// The document format written by this version.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: u32,
    #[serde(default)]
    next_instance: BTreeMap<String, u32>,
    #[serde(default)]
    objects: BTreeMap<String, BTreeMap<String, String>>,
}

impl Serialize for Store {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut doc = Document {
            format: FORMAT,
            next_instance: BTreeMap::new(),
            objects: BTreeMap::new(),
        };
        save(&self.root, &mut Route::new(), &mut doc);
        doc.serialize(serializer)
    }
}

fn save(node: &Node, route: &mut Route, doc: &mut Document) {
    let params = node
        .params()
        .map(|(name, value)| ((*name).to_string(), value.to_string()))
        .collect();
    doc.objects.insert(tree::route_path(route), params);
    for (name, child) in node.children() {
        route.push(Step::Name(name));
        match child {
            Child::Single(child) => save(child, route, doc),
            Child::Table(table) => {
                if table.next > 1 {
                    doc.next_instance
                        .insert(tree::route_path(route), table.next);
                }
                for (n, row) in &table.rows {
                    route.push(Step::Inst(*n));
                    save(row, route, doc);
                    route.pop();
                }
            }
        }
        route.pop();
    }
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
        Ok(load(&doc))
    }
}

/// Builds a store from a document, dropping what the schema does not know.
fn load(doc: &Document) -> Store {
    let mut root = Node::new(Shape::root());
    let limits = Limits::DEFAULT;
    for (path, params) in &doc.objects {
        let Ok(addr) = InstancePath::split(path, &limits) else {
            continue;
        };
        if addr.item.is_some() {
            continue;
        }
        let Some(node) = ensure(&mut root, &addr.segments) else {
            continue;
        };
        for (name, text) in params {
            let Some(parameter) = node.def().param(name, View::Any) else {
                continue;
            };
            let Some(slot) = node.param_mut(name.as_str()) else {
                continue;
            };
            if let Ok(value) = Value::parse(text, parameter.syntax) {
                if validate(&value, parameter.syntax).is_ok() {
                    *slot = value;
                }
            }
        }
    }
    for (path, next) in &doc.next_instance {
        let Ok(addr) = InstancePath::split(path, &limits) else {
            continue;
        };
        let Ok((tree::Place::Table(_), route)) = tree::walk(&root, path, &addr, View::Any) else {
            continue;
        };
        if let Some(table) = tree::table_at_mut(&mut root, &route) {
            table.next = table.next.max(*next);
        }
    }
    root.recount();
    Store {
        root,
        log: ChangeLog::new(),
        limits,
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
                let full = table.def().main.max_entries.is_some_and(|max| {
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

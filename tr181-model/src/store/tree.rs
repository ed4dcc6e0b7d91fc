//! The instance tree: nodes and tables linked to their schema, and concrete-path navigation.
//!
//! A [`Node`] is one object instance (a single-instance object or a table row). It holds its
//! parameter values by name and its child objects by name; a child is either a single-instance
//! object (`Child::Single`) or a table (`Child::Table`) holding rows by instance number. All names
//! are `&'static str` slices of the schema tables, so the tree allocates nothing per name.

use core::fmt;
use std::collections::BTreeMap;
use std::string::String;
use std::vec::Vec;

use crate::error::Error;
use crate::path::{InstancePath, InstanceSegment};
use crate::schema::{
    self, Access, DefaultKind, Object, Parameter, Protocol, Protocols, Status, Version,
};
use crate::value::Value;

/// Which model variant a read or write is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    /// A controller of this protocol: only that variant's items exist.
    Proto(Protocol),
    /// The device itself: items of either variant exist (USP's definition wins).
    Any,
}

/// Stand-in root used while the generated schema has no `Device.` object.
static EMPTY_ROOT: Object = Object {
    path: "Device.",
    access: Access::ReadOnly,
    min_entries: 1,
    max_entries: Some(1),
    num_entries_parameter: None,
    enable_parameter: None,
    unique_keys: &[],
    status: Status::Current,
    version: Version {
        major: 2,
        minor: 0,
        patch: 0,
    },
    protocols: Protocols::BOTH,
    parameters: &[],
    commands: &[],
    events: &[],
};

/// The schema of one object: its definition in each model variant.
#[derive(Clone, Copy)]
pub(crate) struct Def {
    /// The USP definition if there is one, else the CWMP one.
    pub(crate) main: &'static Object,
    cwmp: Option<&'static Object>,
    usp: Option<&'static Object>,
}

impl fmt::Debug for Def {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.main.path)
    }
}

impl PartialEq for Def {
    fn eq(&self, other: &Self) -> bool {
        self.main.path == other.main.path
    }
}

impl Def {
    /// The definitions of the object at schema path `path`, if either variant has it.
    pub(crate) fn lookup(path: &str) -> Option<Self> {
        let cwmp = schema::object(path, Protocol::Cwmp);
        let usp = schema::object(path, Protocol::Usp);
        Some(Self {
            main: usp.or(cwmp)?,
            cwmp,
            usp,
        })
    }

    /// The root `Device.` object (an empty stand-in if the schema has none).
    pub(crate) fn root() -> Self {
        Self::lookup("Device.").unwrap_or(Self {
            main: &EMPTY_ROOT,
            cwmp: None,
            usp: None,
        })
    }

    /// The definition `view` sees, `None` if the object does not exist there.
    pub(crate) fn object(&self, view: View) -> Option<&'static Object> {
        match view {
            View::Proto(Protocol::Cwmp) => self.cwmp,
            View::Proto(Protocol::Usp) => self.usp,
            View::Any => Some(self.main),
        }
    }

    /// Whether the object exists in `view`.
    pub(crate) fn visible(&self, view: View) -> bool {
        self.object(view).is_some()
    }

    /// The parameter `name` as `view` sees it.
    pub(crate) fn param(&self, name: &str, view: View) -> Option<&'static Parameter> {
        match view {
            View::Proto(protocol) => self.object(view)?.parameter(name, protocol),
            View::Any => self
                .usp
                .and_then(|o| o.parameter(name, Protocol::Usp))
                .or_else(|| self.cwmp.and_then(|o| o.parameter(name, Protocol::Cwmp))),
        }
    }

    /// Every parameter of either variant (a name may appear twice).
    fn all_params(&self) -> impl Iterator<Item = &'static Parameter> {
        let usp = self
            .usp
            .into_iter()
            .flat_map(|o| o.parameters(Protocol::Usp));
        let cwmp = self
            .cwmp
            .into_iter()
            .flat_map(|o| o.parameters(Protocol::Cwmp));
        usp.chain(cwmp)
    }

    /// The child objects of either variant, with their names, sorted by path.
    pub(crate) fn children(&self) -> Vec<(&'static str, Self)> {
        let mut paths: Vec<&'static str> = self
            .main
            .children(Protocol::Usp)
            .chain(self.main.children(Protocol::Cwmp))
            .map(|o| o.path)
            .collect();
        paths.sort_unstable();
        paths.dedup();
        paths
            .into_iter()
            .filter_map(|path| Some((child_name(self.main.path, path)?, Self::lookup(path)?)))
            .collect()
    }

    /// The child object `name` (single or table) as `view` sees it, looked up in the schema.
    pub(crate) fn child(&self, name: &str, view: View) -> Option<Self> {
        let mut path = String::with_capacity(self.main.path.len() + name.len() + 5);
        path.push_str(self.main.path);
        path.push_str(name);
        path.push('.');
        let single = Self::lookup(&path).filter(|d| d.visible(view));
        single.or_else(|| {
            path.push_str("{i}.");
            Self::lookup(&path).filter(|d| d.visible(view))
        })
    }
}

/// The name of child object `child` (`Device.WiFi.SSID.{i}.`) below `parent` (`Device.WiFi.`).
fn child_name(parent: &str, child: &'static str) -> Option<&'static str> {
    let rest = child.get(parent.len()..)?;
    let rest = rest.strip_suffix("{i}.").unwrap_or(rest);
    rest.strip_suffix('.')
}

/// The last name of a single-instance object's schema path (`WebSocket` for
/// `Device.LocalAgent.MTP.{i}.WebSocket.`).
pub(crate) fn last_name(path: &'static str) -> &'static str {
    let path = path.strip_suffix('.').unwrap_or(path);
    path.rsplit('.').next().unwrap_or(path)
}

/// A child object of a node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Child {
    /// A single-instance object.
    Single(Node),
    /// A multi-instance object.
    Table(Table),
}

/// A table: its rows and the next instance number to hand out.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Table {
    /// The schema of the rows (`...{i}.`).
    pub(crate) def: Def,
    /// One more than the highest instance number ever used (R-ARC.8: never reused).
    pub(crate) next: u32,
    /// The rows by instance number.
    pub(crate) rows: BTreeMap<u32, Node>,
}

impl Table {
    fn new(def: Def) -> Self {
        Self {
            def,
            next: 1,
            rows: BTreeMap::new(),
        }
    }
}

/// One object instance.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    /// The schema of the object.
    pub(crate) def: Def,
    /// Parameter values by name (those of both variants).
    pub(crate) params: BTreeMap<&'static str, Value>,
    /// Child objects by name. Every table is present (possibly empty); single-instance
    /// children are present when they exist.
    pub(crate) children: BTreeMap<&'static str, Child>,
}

impl Node {
    /// A new instance of `def` with default values, its tables empty and its always-present
    /// single-instance children (`minEntries` ≥ 1) created the same way.
    pub(crate) fn new(def: Def) -> Self {
        let mut params = BTreeMap::new();
        for parameter in def.all_params() {
            params
                .entry(parameter.name)
                .or_insert_with(|| initial_value(parameter));
        }
        let mut children = BTreeMap::new();
        for (name, child) in def.children() {
            if child.main.is_table() {
                children.insert(name, Child::Table(Table::new(child)));
            } else if child.main.min_entries >= 1 {
                children.insert(name, Child::Single(Self::new(child)));
            }
        }
        Self {
            def,
            params,
            children,
        }
    }

    /// Whether parameter `name` is the `*NumberOfEntries` counter of one of the child tables.
    pub(crate) fn is_counter(&self, name: &str) -> bool {
        self.children.values().any(|child| match child {
            Child::Table(table) => table.def.main.num_entries_parameter == Some(name),
            Child::Single(_) => false,
        })
    }
}

/// The value a new instance starts with: the schema's object or factory default when it
/// parses and validates, otherwise the zero value of the type.
pub(crate) fn initial_value(parameter: &Parameter) -> Value {
    let default = parameter
        .syntax
        .default
        .filter(|d| matches!(d.kind, DefaultKind::Object | DefaultKind::Factory))
        .and_then(|_| Value::schema_default(parameter.syntax));
    default.unwrap_or_else(|| Value::default_for(parameter.syntax))
}

/// One step from an object to a child: a child object's name or a row's instance number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Step {
    /// A child object (single or table).
    Name(&'static str),
    /// A row of the table named by the previous step.
    Inst(u32),
}

/// The steps from `Device.` to an object or table.
pub(crate) type Route = Vec<Step>;

/// The instance path of `route`: `Device.` plus one `name.` or `number.` per step.
pub(crate) fn route_path(route: &[Step]) -> String {
    let mut path = String::with_capacity(8 + route.len() * 12);
    path.push_str("Device.");
    for step in route {
        push_step(&mut path, *step);
    }
    path
}

/// Appends one step and its dot to an instance path.
pub(crate) fn push_step(path: &mut String, step: Step) {
    match step {
        Step::Name(name) => path.push_str(name),
        Step::Inst(n) => push_number(path, n),
    }
    path.push('.');
}

/// Appends `n` in decimal. Paths are written once per result of every read, and this is
/// several times cheaper than going through `core::fmt`.
fn push_number(path: &mut String, n: u32) {
    let mut scale = 1;
    while n / scale >= 10 {
        scale *= 10;
    }
    loop {
        // A digit, 0 to 9.
        path.push(char::from(b'0' + (n / scale % 10) as u8));
        if scale == 1 {
            return;
        }
        scale /= 10;
    }
}

pub(crate) fn unknown(path: &str) -> Error {
    Error::UnknownPath { path: path.into() }
}

pub(crate) fn no_such(path: &str) -> Error {
    Error::NoSuchInstance { path: path.into() }
}

/// What a concrete path names.
#[derive(Debug)]
pub(crate) enum Place<'a> {
    /// An object instance (`Device.WiFi.`, `Device.WiFi.SSID.1.`).
    Object(&'a Node),
    /// A table (`Device.WiFi.SSID.`).
    Table(&'a Table),
    /// A parameter: its object, its interned name and its value.
    Param(&'a Node, &'static str, &'a Value),
}

/// Finds `addr` (split from `path`) below `root` as `view` sees it, with the route to the
/// object or table (for a parameter: to its object).
pub(crate) fn walk<'a>(
    root: &'a Node,
    path: &str,
    addr: &InstancePath<'_>,
    view: View,
) -> Result<(Place<'a>, Route), Error> {
    if !root.def.visible(view) {
        return Err(unknown(path));
    }
    let mut node = root;
    let mut route = Route::with_capacity(addr.segments.len());
    let mut index = 0;
    while let Some(seg) = addr.segments.get(index) {
        let InstanceSegment::Name(name) = *seg else {
            return Err(unknown(path));
        };
        match node.children.get_key_value(name) {
            Some((key, Child::Single(child))) if child.def.visible(view) => {
                route.push(Step::Name(key));
                node = child;
            }
            Some((key, Child::Table(table))) if table.def.visible(view) => {
                route.push(Step::Name(key));
                match addr.segments.get(index + 1) {
                    None if addr.item.is_none() => return Ok((Place::Table(table), route)),
                    Some(InstanceSegment::Instance(n)) => {
                        node = table.rows.get(n).ok_or_else(|| no_such(path))?;
                        route.push(Step::Inst(*n));
                        index += 1;
                    }
                    _ => return Err(unknown(path)),
                }
            }
            Some(_) => return Err(unknown(path)),
            None if node.def.child(name, view).is_some() => return Err(no_such(path)),
            None => return Err(unknown(path)),
        }
        index += 1;
    }
    match addr.item {
        None => Ok((Place::Object(node), route)),
        Some(name) => match node.params.get_key_value(name) {
            Some((key, value)) if node.def.param(name, view).is_some() => {
                Ok((Place::Param(node, key, value), route))
            }
            _ => Err(unknown(path)),
        },
    }
}

/// The object at `route` (which must end at an object, not a table).
pub(crate) fn node_at<'a>(mut node: &'a Node, route: &[Step]) -> Option<&'a Node> {
    let mut index = 0;
    while let Some(step) = route.get(index) {
        let Step::Name(name) = step else {
            return None;
        };
        match node.children.get(name)? {
            Child::Single(child) => node = child,
            Child::Table(table) => {
                let Some(Step::Inst(n)) = route.get(index + 1) else {
                    return None;
                };
                node = table.rows.get(n)?;
                index += 1;
            }
        }
        index += 1;
    }
    Some(node)
}

/// The object at `route`, mutably.
pub(crate) fn node_at_mut<'a>(mut node: &'a mut Node, route: &[Step]) -> Option<&'a mut Node> {
    let mut index = 0;
    while let Some(step) = route.get(index) {
        let Step::Name(name) = step else {
            return None;
        };
        match node.children.get_mut(name)? {
            Child::Single(child) => node = child,
            Child::Table(table) => {
                let Some(Step::Inst(n)) = route.get(index + 1) else {
                    return None;
                };
                node = table.rows.get_mut(n)?;
                index += 1;
            }
        }
        index += 1;
    }
    Some(node)
}

/// Splits a table route into the route of the parent object and the table's name.
pub(crate) fn split_table(route: &[Step]) -> Option<(&[Step], &'static str)> {
    match route.split_last()? {
        (Step::Name(name), parent) => Some((parent, name)),
        (Step::Inst(_), _) => None,
    }
}

/// The table at `route` (which ends with the table's name).
pub(crate) fn table_at<'a>(root: &'a Node, route: &[Step]) -> Option<&'a Table> {
    let (parent, name) = split_table(route)?;
    match node_at(root, parent)?.children.get(name)? {
        Child::Table(table) => Some(table),
        Child::Single(_) => None,
    }
}

/// The table at `route`, mutably.
pub(crate) fn table_at_mut<'a>(root: &'a mut Node, route: &[Step]) -> Option<&'a mut Table> {
    let (parent, name) = split_table(route)?;
    match node_at_mut(root, parent)?.children.get_mut(name)? {
        Child::Table(table) => Some(table),
        Child::Single(_) => None,
    }
}

/// Calls `f` for every object below `node` (not `node` itself) in tree order, with the route
/// extended to it; `f` returns whether to descend into the object.
pub(crate) fn for_each_object<'a>(
    node: &'a Node,
    route: &mut Route,
    f: &mut dyn FnMut(&'a Node, &Route) -> bool,
) {
    for (name, child) in &node.children {
        route.push(Step::Name(name));
        match child {
            Child::Single(child) => {
                if f(child, route) {
                    for_each_object(child, route, f);
                }
            }
            Child::Table(table) => {
                for (n, row) in &table.rows {
                    route.push(Step::Inst(*n));
                    if f(row, route) {
                        for_each_object(row, route, f);
                    }
                    route.pop();
                }
            }
        }
        route.pop();
    }
}

/// The value a controller is shown: hidden and secured parameters (passwords, keys) read as
/// the zero value of their type.
pub(crate) fn shown<'a>(value: &'a Value, parameter: &Parameter) -> std::borrow::Cow<'a, Value> {
    if parameter.syntax.hidden || parameter.syntax.secured {
        std::borrow::Cow::Owned(Value::default_for(parameter.syntax))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_write_names_and_numbers() {
        let mut path = String::from("Device.");
        for step in [
            Step::Name("WiFi"),
            Step::Inst(0),
            Step::Inst(9),
            Step::Inst(10),
            Step::Inst(407),
            Step::Inst(u32::MAX),
        ] {
            push_step(&mut path, step);
        }
        assert_eq!(path, "Device.WiFi.0.9.10.407.4294967295.");
    }
}

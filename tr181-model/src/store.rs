//! The in-memory instance store: one tree of object instances and typed values, serving both
//! the CWMP and the USP stack.
//!
//! # What it keeps right
//!
//! - **Instance numbers** are handed out per table from a counter that only grows and is saved
//!   with the store, so a deleted number is never reused, not even after a reboot (TR-369
//!   R-ARC.8).
//! - **`Alias`**: a new row of a table with an `Alias` parameter that gets none is assigned
//!   `cpe-<n>`; aliases must be non-empty and start with a letter. So is a `Name` that is a
//!   writable, non-functional unique key of its own (a label, as of `Device.MQTT.Client.{i}.`),
//!   so that rows added without one do not collide.
//! - **Unique keys** are checked when a transaction commits, over its final state (TR-106: a
//!   functional key of a table with an enable parameter only among enabled rows). Keys made only
//!   of read-only parameters are assigned by the device and not checked.
//! - **`*NumberOfEntries`** parameters follow every add and delete; nobody can write them.
//! - **References** written by controllers are checked (TR-106 `pathRef`: an absolute path in
//!   one of the target tables, of the target kind, existing for strong references;
//!   `enumerationRef`: one of the values the target list offers, once the device fills it),
//!   and key-addressed paths are stored with instance numbers (R-ARC.11). Failures are
//!   [`Error::InvalidValue`] with [`ValueRule::Reference`](crate::ValueRule::Reference).
//!   Strong references to a deleted row are cleared (R-ARC.12).
//! - **Access**: controllers see and write only their protocol's model variant and only
//!   writable parameters (write-once ones only in the transaction that creates the row); the
//!   device (the HAL side) may also write read-only ones and manage read-only tables. See
//!   [`Origin`].
//! - **Existence**: single-instance objects with `minEntries` ≥ 1 always exist. Optional ones
//!   (`minEntries` 0, such as `Device.LocalAgent.MTP.{i}.WebSocket.`) are created and removed
//!   by the device ([`Transaction::create_object`]). Tables start empty: rows of tables with
//!   `minEntries` ≥ 1 are the device's to add at start-up; controllers cannot delete below
//!   `minEntries` or add beyond `maxEntries`.
//!
//! # Transactions and the change log
//!
//! All changes go through a [`Transaction`] ([`Store::transaction`]): its operations apply at
//! once (reads through it see them) and are undone as a whole on rollback, drop or a failed
//! commit, leaving no trace. A commit appends one [`ChangeRecord`] per change to the change log,
//! numbered by a sequence number that only grows: [`Change::ValueChanged`] (one per parameter
//! per transaction, old and new value), [`Change::ObjectCreated`] (with the unique-key values),
//! [`Change::ObjectDeleted`]. Consumers (CWMP value-change notification, USP ValueChange /
//! ObjectCreation / ObjectDeletion) remember the last sequence number they handled and read
//! [`Store::changes_since`]. The log is bounded ([`Store::set_change_log_capacity`], default
//! [`DEFAULT_CHANGE_LOG_CAPACITY`] records): the oldest records are dropped first, and a
//! consumer sees that it missed some when [`Store::oldest_seq`] is past its position. Hidden
//! and secured parameters (passwords, keys) appear in the log with empty values.
//!
//! # Reading
//!
//! [`Store::resolve`] turns any [`Path`](crate::path::Path) (wildcards, search expressions,
//! unique-key addressing, reference following) into the concrete objects, tables, parameters,
//! commands and events it addresses. [`Store::parameters`], [`Store::instances`] and
//! [`Store::names`] serve USP Get / GetInstances and CWMP GetParameterValues /
//! GetParameterNames for one concrete path. Every read for a controller takes its
//! [`Protocol`] and shows hidden and secured parameters as empty (a USP controller with a
//! secured role reads the real value with [`Store::value`]; [`ParamValue::parameter`] says
//! which parameters are secured). [`Store::get`] reads a typed [`Key`](crate::key::Key)/[`InstanceKey`](crate::key::InstanceKey) as the
//! device sees it.
//!
//! # Data layout
//!
//! A tree of nodes, one per object instance, shaped like a table: every object of the schema
//! has one shared layout (built once per process from the schema) that lists its parameters
//! of both variants and its child objects by name, and a node holds its values in a
//! `Box<[Value]>` and its children in a `Box<[Option<Child>]>`, both by position in that
//! layout. A child is a single-instance object or a table (its rows in a vector sorted by
//! instance number, plus the next instance number). A row therefore costs its values and a
//! few words, and a read over a table finds a parameter's position once and then indexes each
//! row. Names are the schema's own `&'static str`s. Layout order is name order, which is the
//! path order that GetParameterNames and Get expect (parameters by name, then children by
//! name, rows by number). `Store::new` creates every always-present single-instance object
//! with its defaults (201 objects and about 1,200 values for the full model). Rows get their
//! single-instance children when added.
//!
//! # Persistence
//!
//! `Store` implements serde's `Serialize` and `Deserialize` as a document of instance paths
//! to parameter texts plus the tables' next instance numbers (the change log is not saved).
//! Loading is lenient so that a configuration survives a firmware update with a changed model:
//! objects and parameters that the schema no longer has are dropped, values that no longer
//! parse or validate keep their default, next instance numbers are raised above every loaded
//! row, and `*NumberOfEntries` are recomputed. A value, object or counter of the wrong JSON type
//! (a damaged entry) is dropped alone and counted (`Store::malformed_on_load`). A document of
//! another format version is an error.

use core::ops::Range;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::string::String;
use std::vec::Vec;

use crate::error::Error;
use crate::key::{TypedPath, TypedValue};
use crate::limits::Limits;
use crate::path::InstancePath;
use crate::schema::{Access, Parameter, Protocol};
use crate::value::Value;

mod keys;
mod persist;
mod refs;
mod resolve;
mod tree;
mod txn;

#[cfg(test)]
mod tests;

pub use resolve::{Resolution, Resolved, RouteId, RouteWriter};
pub use txn::{Savepoint, Transaction};

use tree::{Child, Node, Place, Route, Step, View, route_path, walk};

/// Who makes a change, which decides the checks applied and is recorded in the change log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// A remote controller speaking `Protocol`: sees only that protocol's model variant and
    /// may write only what it makes writable.
    Controller(Protocol),
    /// The device itself (HAL, local applications): sees both variants and may write read-only
    /// parameters and add or delete rows of read-only tables.
    Device,
}

impl Origin {
    fn view(self) -> View {
        match self {
            Self::Controller(protocol) => View::Proto(protocol),
            Self::Device => View::Any,
        }
    }
}

/// One committed change.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// A parameter changed value (`old` ≠ `new`). Not recorded for the parameters of a row
    /// created in the same transaction.
    ValueChanged {
        /// The parameter's instance path.
        path: String,
        /// The value before the transaction (empty for hidden and secured parameters).
        old: Value,
        /// The value after it (empty for hidden and secured parameters).
        new: Value,
    },
    /// A row was added.
    ObjectCreated {
        /// The row's instance path, with trailing dot.
        path: String,
        /// The row's unique-key parameter values at commit, for USP ObjectCreation.
        keys: Vec<(&'static str, Value)>,
    },
    /// A row was deleted; one record for the row, then one for each row that was nested in
    /// it.
    ObjectDeleted {
        /// The row's instance path, with trailing dot.
        path: String,
    },
}

/// A change-log entry.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ChangeRecord {
    /// Sequence number: 1 for the first record of a store, then one more per record.
    pub seq: u64,
    /// Who made the change.
    pub origin: Origin,
    /// What changed.
    pub change: Change,
}

/// The default bound of the change log, in records.
pub const DEFAULT_CHANGE_LOG_CAPACITY: usize = 4096;

/// The bounded change log.
#[derive(Clone, Debug)]
struct ChangeLog {
    records: VecDeque<ChangeRecord>,
    next_seq: u64,
    capacity: usize,
}

impl ChangeLog {
    fn new() -> Self {
        Self {
            records: VecDeque::new(),
            next_seq: 1,
            capacity: DEFAULT_CHANGE_LOG_CAPACITY,
        }
    }

    fn append(&mut self, origin: Origin, changes: Vec<Change>) -> Range<u64> {
        let start = self.next_seq;
        for change in changes {
            self.records.push_back(ChangeRecord {
                seq: self.next_seq,
                origin,
                change,
            });
            self.next_seq = self.next_seq.saturating_add(1);
        }
        self.trim();
        start..self.next_seq
    }

    fn trim(&mut self) {
        let excess = self.records.len().saturating_sub(self.capacity);
        self.records.drain(..excess);
    }
}

/// A parameter and its value as a controller sees it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ParamValue<'a> {
    /// The instance path (`Device.WiFi.SSID.1.SSID`).
    pub path: String,
    /// The value; hidden and secured parameters show the zero value of their type.
    pub value: Cow<'a, Value>,
    /// The parameter's definition in the controller's model variant.
    pub parameter: &'static Parameter,
}

/// An instance and its unique keys (USP GetInstances `CurrInstance`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct InstanceInfo {
    /// The instance path, with trailing dot.
    pub path: String,
    /// The unique-key parameter values (each name once).
    pub keys: Vec<(&'static str, Value)>,
}

/// A parameter or object name (CWMP GetParameterNames `ParameterInfoStruct`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NameInfo {
    /// The path: a parameter, or an object, table or row with trailing dot.
    pub path: String,
    /// Parameters: writable by the controller. Tables: rows may be added. Rows: may be
    /// deleted. Other objects: `false`.
    pub writable: bool,
}

/// The instance tree with its change log; see the [module docs](self).
///
/// `PartialEq` compares the data (values, rows and instance counters), not the change log or
/// the limits.
#[derive(Clone, Debug)]
pub struct Store {
    root: Node,
    log: ChangeLog,
    limits: Limits,
    /// Entries of the loaded document of the wrong JSON type, dropped.
    malformed: usize,
}

impl PartialEq for Store {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// A store holding every always-present single-instance object of the model (both
    /// variants) with its default values, and empty tables.
    pub fn new() -> Self {
        Self {
            root: Node::new(tree::Shape::root()),
            log: ChangeLog::new(),
            limits: Limits::DEFAULT,
            malformed: 0,
        }
    }

    /// How many entries of the document this store was loaded from (its `Deserialize`) were
    /// dropped as malformed: a value, an object or a counter of the wrong JSON type (a number
    /// where a value's text is stored). Each costs itself only; the rest loads. 0 for a
    /// store not loaded.
    pub fn malformed_on_load(&self) -> usize {
        self.malformed
    }

    /// The limits applied to paths and values.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the limits applied to paths and values.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Starts a transaction; every change goes through one.
    pub fn transaction(&mut self, origin: Origin) -> Transaction<'_> {
        Transaction::new(self, origin)
    }

    /// The value of parameter `path` (a concrete instance path) as the device sees it.
    ///
    /// Errors: [`Error::UnknownPath`], [`Error::NoSuchInstance`].
    pub fn value(&self, path: &str) -> Result<&Value, Error> {
        let addr = InstancePath::split(path, &self.limits)?;
        match walk(&self.root, path, &addr, View::Any)? {
            (Place::Param(_, _, value), _) => Ok(value),
            _ => Err(tree::unknown(path)),
        }
    }

    /// The typed value of a parameter as the device sees it:
    /// `store.get(keys::DeviceInfo::SOFTWARE_VERSION)` for a single-instance object,
    /// `store.get(keys::WiFiSSID::SSID.at(&[1])?)` for a table row.
    ///
    /// Errors: those of [`Store::value`]; [`Error::ApiMisuse`] if a [`Key`](crate::key::Key) still has `{i}`
    /// slots (fill them with [`Key::at`](crate::key::Key::at)) or the value's type does not match.
    pub fn get<K: TypedPath>(&self, key: K) -> Result<K::Value, Error> {
        typed(self.value(key.path())?)
    }

    /// The parameters at or below concrete path `path`, as `protocol`'s controller sees them,
    /// in path order (USP Get, CWMP GetParameterValues).
    ///
    /// `path` is a parameter, an object (`Device.WiFi.`, `Device.WiFi.SSID.1.`) or a table
    /// (`Device.WiFi.SSID.`, meaning all its rows). `max_depth` limits how many path segments
    /// may lie between `path` and a parameter's object: `Some(1)` gives only the object's own
    /// parameters, `Some(2)` adds those of its child objects (or, for a table path, of its
    /// rows), and so on; a row counts as two segments (`SSID.1.`). `None` is unlimited.
    pub fn parameters(
        &self,
        path: &str,
        protocol: Protocol,
        max_depth: Option<u32>,
    ) -> Result<Vec<ParamValue<'_>>, Error> {
        let mut out = Vec::new();
        self.each_parameter(path, protocol, max_depth, |object, value, parameter| {
            let mut path = String::with_capacity(object.len() + parameter.name().len());
            path.push_str(object);
            path.push_str(parameter.name());
            out.push(ParamValue {
                path,
                value: Cow::Borrowed(value),
                parameter,
            });
        })?;
        Ok(out)
    }

    /// Calls `f` with each parameter [`Store::parameters`] gives, without writing a path per
    /// parameter: `f` receives its object instance path (with trailing dot; the parameter's
    /// path is that followed by [`Parameter::name`]), the value as `protocol`'s controller
    /// sees it, and its definition.
    pub fn each_parameter<'a>(
        &'a self,
        path: &str,
        protocol: Protocol,
        max_depth: Option<u32>,
        mut f: impl FnMut(&str, &'a Value, &'static Parameter),
    ) -> Result<(), Error> {
        let view = View::Proto(protocol);
        let addr = InstancePath::split(path, &self.limits)?;
        let (place, route) = walk(&self.root, path, &addr, view)?;
        let mut buf = route_path(&route);
        match place {
            Place::Param(node, name, value) => {
                if let Some(parameter) = node.def().param(name, view) {
                    f(&buf, tree::shown(value, parameter), parameter);
                }
            }
            Place::Object(node) => collect_params(node, &mut buf, 0, max_depth, view, &mut f),
            Place::Table(table) => {
                for (n, row) in &table.rows {
                    let len = buf.len();
                    tree::push_step(&mut buf, Step::Inst(*n));
                    collect_params(row, &mut buf, 1, max_depth, view, &mut f);
                    buf.truncate(len);
                }
            }
        }
        Ok(())
    }

    /// The rows at or below concrete object path `path`, with their unique keys, as
    /// `protocol`'s controller sees them (USP GetInstances).
    ///
    /// When `path` is itself a row it comes first. With `first_level_only`, rows nested in
    /// other rows below `path` are left out.
    pub fn instances(
        &self,
        path: &str,
        protocol: Protocol,
        first_level_only: bool,
    ) -> Result<Vec<InstanceInfo>, Error> {
        let view = View::Proto(protocol);
        let addr = InstancePath::split(path, &self.limits)?;
        let (place, mut route) = walk(&self.root, path, &addr, view)?;
        let mut out = Vec::new();
        let mut push = |row: &Node, route: &Route| {
            out.push(InstanceInfo {
                path: route_path(route),
                keys: instance_keys(row, view),
            });
        };
        let below = |node: &Node, route: &mut Route, push: &mut dyn FnMut(&Node, &Route)| {
            tree::for_each_object(node, route, &mut |child, route| {
                if !child.def().visible(view) {
                    return false;
                }
                if let Some(Step::Inst(_)) = route.last() {
                    push(child, route);
                    return !first_level_only;
                }
                true
            });
        };
        match place {
            Place::Param(..) => return Err(tree::unknown(path)),
            Place::Object(node) => {
                if let Some(Step::Inst(_)) = route.last() {
                    push(node, &route);
                }
                below(node, &mut route, &mut push);
            }
            Place::Table(table) => {
                for (n, row) in &table.rows {
                    route.push(Step::Inst(*n));
                    push(row, &route);
                    if !first_level_only {
                        below(row, &mut route, &mut push);
                    }
                    route.pop();
                }
            }
        }
        Ok(out)
    }

    /// The names at or below concrete path `path` as `protocol`'s controller sees them (CWMP
    /// GetParameterNames), in path order.
    ///
    /// With `next_level`, only the items one level down: an object's parameters, child objects
    /// and tables, or a table's rows. Without, `path` itself and everything below it (objects,
    /// tables, rows and parameters). A parameter path gives just the parameter either way
    /// (CWMP answers `NextLevel=true` on a parameter with fault 9003; that is for the caller).
    pub fn names(
        &self,
        path: &str,
        protocol: Protocol,
        next_level: bool,
    ) -> Result<Vec<NameInfo>, Error> {
        let view = View::Proto(protocol);
        let addr = InstancePath::split(path, &self.limits)?;
        let (place, route) = walk(&self.root, path, &addr, view)?;
        let mut out = Vec::new();
        let mut buf = route_path(&route);
        match place {
            Place::Param(node, name, _) => {
                buf.push_str(name);
                out.push(NameInfo {
                    path: buf,
                    writable: param_writable(node.def().param(name, view)),
                });
            }
            Place::Object(node) => {
                if !next_level {
                    let writable = matches!(route.last(), Some(Step::Inst(_)))
                        && self.row_deletable(&route, view);
                    out.push(NameInfo {
                        path: buf.clone(),
                        writable,
                    });
                }
                collect_names(node, &mut buf, next_level, view, &mut out);
            }
            Place::Table(table) => {
                let writable = table_writable(table, view);
                if !next_level {
                    out.push(NameInfo {
                        path: buf.clone(),
                        writable,
                    });
                }
                collect_rows(table, &mut buf, next_level, view, writable, &mut out);
            }
        }
        Ok(out)
    }

    fn row_deletable(&self, row: &[Step], view: View) -> bool {
        row.split_last()
            .and_then(|(_, table)| tree::table_at(&self.root, table))
            .is_some_and(|t| table_writable(t, view))
    }

    /// The change records after sequence number `seq` (all of them for 0), oldest first.
    pub fn changes_since(&self, seq: u64) -> impl Iterator<Item = &ChangeRecord> + '_ {
        let start = self.log.records.partition_point(|r| r.seq <= seq);
        self.log.records.range(start..)
    }

    /// The sequence number of the last change record ever appended (0 if none).
    pub fn last_seq(&self) -> u64 {
        self.log.next_seq.saturating_sub(1)
    }

    /// The sequence number of the oldest record still in the log, `None` if it is empty. A
    /// consumer whose last handled number is below `oldest_seq() - 1` missed records.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.log.records.front().map(|r| r.seq)
    }

    /// Drops the records up to and including `seq` (e.g. once every consumer has handled
    /// them).
    pub fn discard_changes_through(&mut self, seq: u64) {
        let end = self.log.records.partition_point(|r| r.seq <= seq);
        self.log.records.drain(..end);
    }

    /// Bounds the change log to `capacity` records, dropping the oldest beyond it now and on
    /// every later commit.
    pub fn set_change_log_capacity(&mut self, capacity: usize) {
        self.log.capacity = capacity;
        self.log.trim();
    }
}

/// Converts a stored value to a key's type.
fn typed<T: TypedValue>(value: &Value) -> Result<T, Error> {
    T::from_value(value).ok_or(Error::ApiMisuse("the key's type does not match the value"))
}

fn param_writable(parameter: Option<&Parameter>) -> bool {
    parameter.is_some_and(|p| p.access() == Access::ReadWrite)
}

fn table_writable(table: &tree::Table, view: View) -> bool {
    table
        .def()
        .object(view)
        .is_some_and(|o| o.access() == Access::ReadWrite)
}

/// The unique-key values of `row` in `view`'s variant (each name once, secrets masked).
fn instance_keys(row: &Node, view: View) -> Vec<(&'static str, Value)> {
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    let Some(def) = row.def().object(view) else {
        return out;
    };
    for name in def.unique_keys().iter().flat_map(|k| k.parameters()) {
        if out.iter().any(|(n, _)| *n == name) {
            continue;
        }
        if let (Some((name, value)), Some(p)) = (row.param_entry(name), row.def().param(name, view))
        {
            out.push((name, tree::shown(value, p).clone()));
        }
    }
    out
}

/// Pushes the parameters of `node` (at depth `depth`) and below onto `out`; `buf` holds the
/// node's path and is restored.
fn collect_params<'a>(
    node: &'a Node,
    buf: &mut String,
    depth: u32,
    max_depth: Option<u32>,
    view: View,
    f: &mut impl FnMut(&str, &'a Value, &'static Parameter),
) {
    if max_depth.is_some_and(|max| depth >= max) {
        return;
    }
    let len = buf.len();
    for (_, value, parameter) in node.params_in(view) {
        f(buf, tree::shown(value, parameter), parameter);
    }
    for (name, child) in node.children() {
        tree::push_step(buf, Step::Name(name));
        match child {
            Child::Single(child) if child.def().visible(view) => {
                collect_params(child, buf, depth.saturating_add(1), max_depth, view, f);
            }
            Child::Table(table) if table.def().visible(view) => {
                let table_len = buf.len();
                for (n, row) in &table.rows {
                    tree::push_step(buf, Step::Inst(*n));
                    collect_params(row, buf, depth.saturating_add(2), max_depth, view, f);
                    buf.truncate(table_len);
                }
            }
            _ => {}
        }
        buf.truncate(len);
    }
}

/// Pushes the names below `node` onto `out` (only one level with `next_level`).
fn collect_names(
    node: &Node,
    buf: &mut String,
    next_level: bool,
    view: View,
    out: &mut Vec<NameInfo>,
) {
    let len = buf.len();
    for (name, _, parameter) in node.params_in(view) {
        buf.push_str(name);
        out.push(NameInfo {
            path: buf.clone(),
            writable: param_writable(Some(parameter)),
        });
        buf.truncate(len);
    }
    for (name, child) in node.children() {
        tree::push_step(buf, Step::Name(name));
        match child {
            Child::Single(child) if child.def().visible(view) => {
                out.push(NameInfo {
                    path: buf.clone(),
                    writable: false,
                });
                if !next_level {
                    collect_names(child, buf, false, view, out);
                }
            }
            Child::Table(table) if table.def().visible(view) => {
                let writable = table_writable(table, view);
                out.push(NameInfo {
                    path: buf.clone(),
                    writable,
                });
                if !next_level {
                    collect_rows(table, buf, false, view, writable, out);
                }
            }
            _ => {}
        }
        buf.truncate(len);
    }
}

/// Pushes the rows of `table` (and, without `next_level`, everything below them).
fn collect_rows(
    table: &tree::Table,
    buf: &mut String,
    next_level: bool,
    view: View,
    writable: bool,
    out: &mut Vec<NameInfo>,
) {
    let len = buf.len();
    for (n, row) in &table.rows {
        tree::push_step(buf, Step::Inst(*n));
        out.push(NameInfo {
            path: buf.clone(),
            writable,
        });
        if !next_level {
            collect_names(row, buf, false, view, out);
        }
        buf.truncate(len);
    }
}

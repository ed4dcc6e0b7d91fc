//! Transactions: staged changes applied in place with an undo log.
//!
//! Every operation checks its input, applies it to the tree at once and records how to undo
//! it. Reads through the transaction (it dereferences to the [`Store`]) therefore see the
//! staged state. `commit` checks the unique keys of every touched table over that final state
//! and then turns the undo log into change-log records; a failed commit, `rollback` or drop
//! replays the undo log backwards, which restores the tree, the instance counters and the
//! `*NumberOfEntries` values exactly, and appends nothing to the change log.

use core::ops::{Deref, Range};
use std::collections::{BTreeMap, BTreeSet};
use std::string::{String, ToString};
use std::vec::Vec;

use super::tree::{
    self, Child, Node, Place, Route, Step, View, node_at, node_at_mut, route_path, split_table,
    table_at, table_at_mut, walk,
};
use super::{Change, Origin, Store, keys};
use crate::error::{Error, ValueRule};
use crate::key::{TypedPath, TypedValue};
use crate::path::{InstancePath, InstanceSegment};
use crate::schema::{Access, Parameter};
use crate::value::{Value, validate_parameter};

/// A position in a transaction to roll back to with [`Transaction::rollback_to`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Savepoint(usize);

/// How to undo one applied operation.
#[derive(Debug)]
enum Undo {
    /// A parameter had value `old`.
    Value {
        object: Route,
        name: &'static str,
        old: Value,
    },
    /// Row `number` was inserted into `table`, whose counter was `old_next`.
    Inserted {
        table: Route,
        number: u32,
        old_next: u32,
    },
    /// Row `number` was removed from `table`.
    Removed {
        table: Route,
        number: u32,
        node: Node,
    },
    /// Optional single-instance object `name` was created in the object at `parent`.
    SingleInserted { parent: Route, name: &'static str },
    /// Optional single-instance object `name` was removed from the object at `parent`.
    SingleRemoved {
        parent: Route,
        name: &'static str,
        node: Node,
    },
}

/// A set of changes to a [`Store`] that takes effect as a whole or not at all.
///
/// Created by [`Store::transaction`]. Each operation is checked and applied immediately, so
/// reads through the transaction (it dereferences to the store) see the staged state; an
/// operation that fails changes nothing, and the transaction stays usable (USP
/// `allow_partial`). [`commit`](Self::commit) checks the unique keys of every touched table
/// and records the changes in the change log; [`rollback`](Self::rollback), a failed commit,
/// or dropping the transaction undoes everything: no value, instance counter or change-log
/// entry is left behind.
///
/// The [`Origin`] decides the checks: a controller sees only its protocol's model variant and
/// may write only what that variant makes writable; the device (HAL) may write read-only
/// parameters and add or delete rows of read-only tables. Nobody writes `*NumberOfEntries`
/// counters; the store keeps them right.
#[derive(Debug)]
#[must_use = "a transaction that is dropped is rolled back"]
pub struct Transaction<'s> {
    store: &'s mut Store,
    origin: Origin,
    undo: Vec<Undo>,
    done: bool,
}

impl Deref for Transaction<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.store
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.undo_to(0);
        }
    }
}

impl<'s> Transaction<'s> {
    pub(super) fn new(store: &'s mut Store, origin: Origin) -> Self {
        Self {
            store,
            origin,
            undo: Vec::new(),
            done: false,
        }
    }

    /// Who makes the changes.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    fn view(&self) -> View {
        self.origin.view()
    }

    /// Sets parameter `path` (a concrete instance path) from its wire text.
    ///
    /// Errors: [`Error::UnknownPath`] if `path` is not a parameter of the origin's model,
    /// [`Error::NoSuchInstance`] if an instance on the way does not exist,
    /// [`Error::NotWritable`] if the origin may not write it, [`Error::InvalidValue`] or
    /// [`Error::LimitExceeded`] if the text is not a valid value for it.
    pub fn set(&mut self, path: &str, text: &str) -> Result<(), Error> {
        let (route, name, parameter) = self.writable(path)?;
        let value = Value::parse_for(text, parameter, path, &self.store.limits)?;
        self.write_checked(path, route, name, parameter, value)
    }

    /// Sets parameter `path` to a typed value; like [`set`](Self::set).
    pub fn set_value(&mut self, path: &str, value: Value) -> Result<(), Error> {
        let (route, name, parameter) = self.writable(path)?;
        let value = value.conform(parameter.syntax());
        validate_parameter(&value, parameter, path)?;
        self.write_checked(path, route, name, parameter, value)
    }

    /// Sets the parameter of a typed key: a [`Key`](crate::key::Key) of a single-instance
    /// object or an [`InstanceKey`](crate::key::InstanceKey) of a table row.
    pub fn set_key<K: TypedPath>(&mut self, key: K, value: K::Value) -> Result<(), Error> {
        self.set_value(key.path(), value.into_value())
    }

    /// Adds a row to table `table_path` (`Device.NAT.PortMapping.`) and returns its instance
    /// number, which is the table's next unused one (numbers are never reused).
    ///
    /// `params` are initial values as (relative path, wire text): `Enable`, or
    /// `Security.ModeEnabled` for a parameter of a single-instance child. Parameters not
    /// given get their default. A controller may give only writable (including write-once)
    /// parameters. If the table has an `Alias` parameter and none is given, the store assigns
    /// `cpe-<number>` (or another unused `cpe-` value), and so for a `Name` that is a label
    /// (see the [module docs](super)). Unique keys are checked at commit.
    ///
    /// Errors: [`Error::NotATable`] if the path is not a table, [`Error::NotCreatable`] if a
    /// controller may not add rows to it, [`Error::TableFull`] at `maxEntries` (or when the
    /// instance numbers are used up), and the errors of [`set`](Self::set) for `params`.
    pub fn add(&mut self, table_path: &str, params: &[(&str, &str)]) -> Result<u32, Error> {
        self.add_row(table_path, None, params)
    }

    /// Adds a row with a given instance number; only for the device, e.g. to mirror a
    /// number the system already uses. The number must not be in use; the table's next
    /// number becomes at least `number + 1`.
    pub fn add_numbered(
        &mut self,
        table_path: &str,
        number: u32,
        params: &[(&str, &str)],
    ) -> Result<(), Error> {
        if self.origin != Origin::Device {
            return Err(Error::ApiMisuse(
                "only the device may choose instance numbers",
            ));
        }
        self.add_row(table_path, Some(number), params).map(drop)
    }

    /// Deletes the row `path` (`Device.NAT.PortMapping.2.`) with everything below it.
    ///
    /// Strong references to the row or anything below it (TR-106 `refType="strong"`) are
    /// cleared (R-ARC.12): a single path becomes empty, a list loses the item.
    ///
    /// Errors: [`Error::NotATable`] if the path is not a row, [`Error::NotCreatable`] if a
    /// controller may not delete rows of the table or it is at `minEntries`.
    pub fn delete(&mut self, path: &str) -> Result<(), Error> {
        let addr = InstancePath::split(path, &self.store.limits)?;
        let (place, route) = walk(&self.store.root, path, &addr, self.view())?;
        let (Place::Object(_), Some((&Step::Inst(number), table_route))) =
            (place, route.split_last())
        else {
            return Err(Error::NotATable { path: path.into() });
        };
        let table = table_at(&self.store.root, table_route).ok_or_else(|| tree::no_such(path))?;
        if let Origin::Controller(_) = self.origin {
            let def = table
                .def()
                .object(self.view())
                .unwrap_or_else(|| table.def().main);
            let at_minimum = table.rows.len() <= usize::try_from(def.min_entries()).unwrap_or(0);
            if def.access() != Access::ReadWrite || at_minimum {
                return Err(Error::NotCreatable {
                    path: route_path(table_route),
                });
            }
        }
        let table_route = table_route.to_vec();
        let removed = table_at_mut(&mut self.store.root, &table_route)
            .and_then(|table| table.rows.remove(&number));
        let Some(node) = removed else {
            return Err(tree::no_such(path));
        };
        self.undo.push(Undo::Removed {
            table: table_route.clone(),
            number,
            node,
        });
        self.update_counter(&table_route);
        self.clear_references(&route_path(&route));
        Ok(())
    }

    /// Creates an optional single-instance object (`minEntries` 0, e.g.
    /// `Device.LocalAgent.MTP.1.WebSocket.` once the MTP's protocol is WebSocket) with its
    /// default values; only for the device. Not recorded in the change log (TR-369 notifies
    /// only about table rows).
    ///
    /// Errors: [`Error::UnknownPath`] if the path is not such an object,
    /// [`Error::NoSuchInstance`] if its parent does not exist, [`Error::ApiMisuse`] if it
    /// exists already or the origin is a controller.
    pub fn create_object(&mut self, path: &str) -> Result<(), Error> {
        let (parent, name) = self.optional_object(path)?;
        let Some(node) = node_at(&self.store.root, &parent) else {
            return Err(tree::no_such(path));
        };
        if node.child(name).is_some() {
            return Err(Error::ApiMisuse("the object exists already"));
        }
        let Some((_, shape)) = node.shape.child(name) else {
            return Err(tree::unknown(path));
        };
        let Some(node) = node_at_mut(&mut self.store.root, &parent) else {
            return Err(tree::no_such(path));
        };
        node.set_child(name, Some(Child::Single(Node::new(shape))));
        self.undo.push(Undo::SingleInserted { parent, name });
        Ok(())
    }

    /// Removes an optional single-instance object created with
    /// [`create_object`](Self::create_object), with everything below it; only for the
    /// device.
    pub fn remove_object(&mut self, path: &str) -> Result<(), Error> {
        let (parent, name) = self.optional_object(path)?;
        let removed =
            node_at_mut(&mut self.store.root, &parent).and_then(|node| node.set_child(name, None));
        match removed {
            Some(Child::Single(node)) => {
                self.undo.push(Undo::SingleRemoved { parent, name, node });
                Ok(())
            }
            Some(table) => {
                // Not reachable for an optional object's name; put it back untouched.
                if let Some(node) = node_at_mut(&mut self.store.root, &parent) {
                    node.set_child(name, Some(table));
                }
                Err(tree::unknown(path))
            }
            None => Err(tree::no_such(path)),
        }
    }

    /// The parent route and interned name of the optional single-instance object `path`.
    fn optional_object(&self, path: &str) -> Result<(Route, &'static str), Error> {
        if self.origin != Origin::Device {
            return Err(Error::ApiMisuse(
                "only the device creates and removes optional objects",
            ));
        }
        let addr = InstancePath::split(path, &self.store.limits)?;
        let (Some((InstanceSegment::Name(name), parent_segs)), None) =
            (addr.segments.split_last(), addr.item)
        else {
            return Err(tree::unknown(path));
        };
        let parent_addr = InstancePath {
            segments: parent_segs.to_vec(),
            item: None,
        };
        let (place, route) = walk(&self.store.root, path, &parent_addr, View::Any)?;
        let Place::Object(parent) = place else {
            return Err(tree::unknown(path));
        };
        let Some(def) = parent.def().child(name, View::Any) else {
            return Err(tree::unknown(path));
        };
        if def.main.is_table() || def.main.min_entries() >= 1 {
            return Err(tree::unknown(path));
        }
        Ok((route, tree::last_name(def.main.path())))
    }

    /// Marks the current state, to undo later operations with [`rollback_to`](Self::rollback_to).
    pub fn savepoint(&self) -> Savepoint {
        Savepoint(self.undo.len())
    }

    /// Undoes every operation after `savepoint` (e.g. one failed object of a USP Set with
    /// `allow_partial`); the transaction stays open.
    pub fn rollback_to(&mut self, savepoint: Savepoint) {
        self.undo_to(savepoint.0);
    }

    /// Checks the unique keys of every table touched so far, over the staged state, without
    /// committing; [`commit`](Self::commit) does the same check.
    pub fn check(&self) -> Result<(), Error> {
        self.check_keys()
    }

    /// Checks unique keys and applies everything, appending the changes to the change log.
    ///
    /// Returns the sequence numbers given to this commit's change records (empty if nothing
    /// changed). On error ([`Error::DuplicateKey`]) nothing is applied.
    pub fn commit(mut self) -> Result<Range<u64>, Error> {
        if let Err(error) = self.check_keys() {
            self.undo_to(0);
            self.done = true;
            return Err(error);
        }
        let touched: Vec<(Route, BTreeSet<u32>)> = self
            .touched()
            .into_iter()
            .map(|(table, rows)| (table.to_vec(), rows))
            .collect();
        for (route, rows) in &touched {
            if let Some(table) = table_at_mut(&mut self.store.root, route) {
                keys::record(table, rows);
            }
        }
        let changes = self.changes();
        self.done = true;
        self.undo.clear();
        Ok(self.store.log.append(self.origin, changes))
    }

    /// Discards everything (same as dropping the transaction).
    pub fn rollback(mut self) {
        self.undo_to(0);
        self.done = true;
    }

    // -----------------------------------------------------------------------------------------

    /// Finds a parameter the origin may write: its object's route, name and definition.
    fn writable(&self, path: &str) -> Result<(Route, &'static str, &'static Parameter), Error> {
        let view = self.view();
        let addr = InstancePath::split(path, &self.store.limits)?;
        let (place, route) = walk(&self.store.root, path, &addr, view)?;
        let Place::Param(node, name, _) = place else {
            return Err(tree::unknown(path));
        };
        let parameter = node
            .def()
            .param(name, view)
            .ok_or_else(|| tree::unknown(path))?;
        let allowed = match (self.origin, parameter.access()) {
            (_, _) if node.is_counter(name) => false,
            (Origin::Device, _) | (_, Access::ReadWrite) => true,
            (_, Access::WriteOnceReadOnly) => self.created_here(&route),
            (_, Access::ReadOnly) => false,
        };
        if !allowed {
            return Err(Error::NotWritable { path: path.into() });
        }
        Ok((route, name, parameter))
    }

    /// Whether a row containing the object at `route` was added in this transaction.
    fn created_here(&self, route: &[Step]) -> bool {
        self.undo.iter().any(|undo| match undo {
            Undo::Inserted { table, number, .. } => route
                .strip_prefix(table.as_slice())
                .is_some_and(|rest| rest.first() == Some(&Step::Inst(*number))),
            _ => false,
        })
    }

    fn write_checked(
        &mut self,
        path: &str,
        route: Route,
        name: &'static str,
        parameter: &Parameter,
        value: Value,
    ) -> Result<(), Error> {
        let value = self.checked(&route, path, name, parameter, value)?;
        self.write(route, name, value);
        Ok(())
    }

    /// The store's own value rules: `Alias`, and references written by controllers.
    fn checked(
        &self,
        object: &[Step],
        path: &str,
        name: &str,
        parameter: &Parameter,
        value: Value,
    ) -> Result<Value, Error> {
        check_alias(path, name, &value)?;
        match self.origin {
            Origin::Controller(protocol) => self
                .store
                .check_reference(object, parameter, path, value, protocol),
            Origin::Device => Ok(value),
        }
    }

    /// Writes a value, recording the old one (nothing if unchanged).
    fn write(&mut self, object: Route, name: &'static str, value: Value) {
        let Some(node) = node_at_mut(&mut self.store.root, &object) else {
            return;
        };
        let Some(slot) = node.param_mut(name) else {
            return;
        };
        if *slot == value {
            return;
        }
        let old = core::mem::replace(slot, value);
        self.undo.push(Undo::Value { object, name, old });
    }

    fn add_row(
        &mut self,
        table_path: &str,
        number: Option<u32>,
        params: &[(&str, &str)],
    ) -> Result<u32, Error> {
        let view = self.view();
        let addr = InstancePath::split(table_path, &self.store.limits)?;
        let (place, route) = walk(&self.store.root, table_path, &addr, view)?;
        let Place::Table(table) = place else {
            return Err(Error::NotATable {
                path: table_path.into(),
            });
        };
        let def = table.def().object(view).unwrap_or_else(|| table.def().main);
        if matches!(self.origin, Origin::Controller(_)) && def.access() != Access::ReadWrite {
            return Err(Error::NotCreatable {
                path: table_path.into(),
            });
        }
        let full = def
            .max_entries()
            .is_some_and(|max| table.rows.len() >= usize::try_from(max).unwrap_or(usize::MAX));
        let number = number.unwrap_or(table.next);
        let Some(after) = number.checked_add(1).filter(|_| !full) else {
            return Err(Error::TableFull {
                path: table_path.into(),
            });
        };
        if number == 0 {
            return Err(Error::ApiMisuse("instance numbers start at 1"));
        }
        if table.rows.contains_key(&number) {
            return Err(Error::ApiMisuse("instance number in use"));
        }
        let next = after.max(table.next);

        let mut row = Node::new(table.shape);
        let mut row_path = String::from(table_path);
        tree::push_step(&mut row_path, Step::Inst(number));
        for (relative, text) in params {
            let mut row_route = route.clone();
            row_route.push(Step::Inst(number));
            self.initial_value(&mut row, row_route, &row_path, relative, text)?;
        }
        // Listing the rows this transaction touched walks its undo log: only for a new row
        // that needs a label, so that adding many rows in one transaction stays linear.
        let unlabelled = unlabelled(table, &row);
        if !unlabelled.is_empty() {
            let touched = self.touched().remove(route.as_slice()).unwrap_or_default();
            for (name, at) in unlabelled {
                let label = free_label(table, name, at, number, &touched);
                if let (Some(label), Some(slot)) = (label, row.param_mut(name)) {
                    *slot = Value::String(label);
                }
            }
        }

        let old_next = table.next;
        let Some(table) = table_at_mut(&mut self.store.root, &route) else {
            return Err(tree::no_such(table_path));
        };
        table.rows.insert(number, row);
        table.next = next;
        self.undo.push(Undo::Inserted {
            table: route.clone(),
            number,
            old_next,
        });
        self.update_counter(&route);
        Ok(number)
    }

    /// Applies one initial value of a new row (not yet in the tree).
    fn initial_value(
        &self,
        row: &mut Node,
        mut object: Route,
        row_path: &str,
        relative: &str,
        text: &str,
    ) -> Result<(), Error> {
        let view = self.view();
        let mut path = String::from(row_path);
        path.push_str(relative);
        let (objects, name) = match relative.rsplit_once('.') {
            Some((objects, name)) => (Some(objects), name),
            None => (None, relative),
        };
        let mut node = row;
        for segment in objects.into_iter().flat_map(|o| o.split('.')) {
            node = match node.child_mut(segment) {
                Some(Child::Single(child)) if child.def().visible(view) => {
                    object.push(Step::Name(tree::last_name(child.def().main.path())));
                    child
                }
                _ => return Err(tree::unknown(&path)),
            };
        }
        let parameter = node
            .def()
            .param(name, view)
            .ok_or_else(|| tree::unknown(&path))?;
        let writable = match self.origin {
            Origin::Device => true,
            Origin::Controller(_) => parameter.access() != Access::ReadOnly,
        };
        if !writable || node.is_counter(name) {
            return Err(Error::NotWritable { path });
        }
        let value = Value::parse_for(text, parameter, &path, &self.store.limits)?;
        let value = self.checked(&object, &path, name, parameter, value)?;
        if let Some(slot) = node.param_mut(name) {
            *slot = value;
        }
        Ok(())
    }

    /// Sets the `*NumberOfEntries` parameter of the table at `table` to its row count.
    fn update_counter(&mut self, table: &[Step]) {
        let Some((parent, name)) = split_table(table) else {
            return;
        };
        let Some(node) = node_at(&self.store.root, parent) else {
            return;
        };
        let Some(Child::Table(t)) = node.child(name) else {
            return;
        };
        let Some(counter) = t.def().main.num_entries_parameter() else {
            return;
        };
        let Some((counter, _)) = node.param_entry(counter) else {
            return;
        };
        let count = u32::try_from(t.rows.len()).unwrap_or(u32::MAX);
        let value = match node.def().param(counter, View::Any) {
            Some(p) => {
                Value::parse(&count.to_string(), p.syntax()).unwrap_or(Value::UnsignedInt(count))
            }
            None => Value::UnsignedInt(count),
        };
        self.write(parent.to_vec(), counter, value);
    }

    /// Clears strong references to `deleted` (an instance path with trailing dot) or below.
    fn clear_references(&mut self, deleted: &str) {
        let mut updates: Vec<(Route, &'static str, Value)> = Vec::new();
        let root = &self.store.root;
        let mut visit = |node: &Node, route: &Route| {
            for (name, value) in node.strong_refs() {
                if let Some(cleared) = without_refs(value, deleted) {
                    updates.push((route.clone(), name, cleared));
                }
            }
            true
        };
        visit(root, &Route::new());
        tree::for_each_object(root, &mut Route::new(), &mut visit);
        for (route, name, value) in updates {
            self.write(route, name, value);
        }
    }

    fn undo_to(&mut self, len: usize) {
        while self.undo.len() > len {
            let Some(undo) = self.undo.pop() else {
                break;
            };
            let root = &mut self.store.root;
            match undo {
                Undo::Value { object, name, old } => {
                    if let Some(slot) = node_at_mut(root, &object).and_then(|n| n.param_mut(name)) {
                        *slot = old;
                    }
                }
                Undo::Inserted {
                    table,
                    number,
                    old_next,
                } => {
                    if let Some(table) = table_at_mut(root, &table) {
                        table.rows.remove(&number);
                        table.next = old_next;
                    }
                }
                Undo::Removed {
                    table,
                    number,
                    node,
                } => {
                    if let Some(table) = table_at_mut(root, &table) {
                        table.rows.insert(number, node);
                    }
                }
                Undo::SingleInserted { parent, name } => {
                    if let Some(parent) = node_at_mut(root, &parent) {
                        parent.set_child(name, None);
                    }
                }
                Undo::SingleRemoved { parent, name, node } => {
                    if let Some(parent) = node_at_mut(root, &parent) {
                        parent.set_child(name, Some(Child::Single(node)));
                    }
                }
            }
        }
    }

    /// Checks the unique keys of every table this transaction touched.
    fn check_keys(&self) -> Result<(), Error> {
        for (route, rows) in self.touched() {
            if let Some(table) = table_at(&self.store.root, route) {
                keys::check(table, route, &rows)?;
            }
        }
        Ok(())
    }

    /// The rows this transaction added or changed a parameter of, by table.
    fn touched(&self) -> BTreeMap<&[Step], BTreeSet<u32>> {
        let mut out: BTreeMap<&[Step], BTreeSet<u32>> = BTreeMap::new();
        for undo in &self.undo {
            let (table, number) = match undo {
                Undo::Value { object, .. } => {
                    match innermost_row(object).and_then(|r| r.split_last()) {
                        Some((Step::Inst(number), table)) => (table, *number),
                        _ => continue,
                    }
                }
                Undo::Inserted { table, number, .. } => (table.as_slice(), *number),
                Undo::Removed { .. } | Undo::SingleInserted { .. } | Undo::SingleRemoved { .. } => {
                    continue;
                }
            };
            out.entry(table).or_default().insert(number);
        }
        out
    }

    /// The change records of the undo log, in order, coalesced per parameter.
    fn changes(&self) -> Vec<Change> {
        let root = &self.store.root;
        // Objects created by this transaction (rows and optional single-instance objects).
        let created: BTreeSet<Route> = self
            .undo
            .iter()
            .filter_map(|u| match u {
                Undo::Inserted { table, number, .. } => Some(row_route(table, *number)),
                Undo::SingleInserted { parent, name } => {
                    let mut route = parent.clone();
                    route.push(Step::Name(name));
                    Some(route)
                }
                _ => None,
            })
            .collect();
        let inside_created = |route: &[Step]| {
            (1..=route.len()).any(|end| route.get(..end).is_some_and(|p| created.contains(p)))
        };
        let mut seen: BTreeSet<(&[Step], &str)> = BTreeSet::new();
        let mut out = Vec::new();
        for (index, undo) in self.undo.iter().enumerate() {
            let earlier = self.undo.get(..index).unwrap_or(&[]);
            let later = self.undo.get(index + 1..).unwrap_or(&[]);
            match undo {
                Undo::Value { object, name, old } => {
                    if !seen.insert((object.as_slice(), name)) || inside_created(object) {
                        continue;
                    }
                    let Some(node) = node_at(root, object) else {
                        continue;
                    };
                    let Some(new) = node.param(name) else {
                        continue;
                    };
                    if new == old {
                        continue;
                    }
                    let mut path = route_path(object);
                    path.push_str(name);
                    let (old, new) = match node.def().param(name, View::Any) {
                        Some(p) => (tree::shown(old, p).clone(), tree::shown(new, p).clone()),
                        None => (old.clone(), new.clone()),
                    };
                    out.push(Change::ValueChanged { path, old, new });
                }
                Undo::Inserted { table, number, .. } => {
                    // Reported once, for the row that exists at commit.
                    if later.iter().any(|u| u.removes(table, *number)) {
                        continue;
                    }
                    let row = row_route(table, *number);
                    if let Some(node) = node_at(root, &row) {
                        out.push(Change::ObjectCreated {
                            path: route_path(&row),
                            keys: key_values(node),
                        });
                    }
                }
                Undo::Removed {
                    table,
                    number,
                    node,
                } => {
                    // A row added earlier in this transaction was never visible.
                    if earlier.iter().any(|u| u.inserts(table, *number)) {
                        continue;
                    }
                    let row = row_route(table, *number);
                    out.push(Change::ObjectDeleted {
                        path: route_path(&row),
                    });
                    let mut nested = row;
                    tree::for_each_object(node, &mut nested, &mut |_, route| {
                        if matches!(route.last(), Some(Step::Inst(_))) && !created.contains(route) {
                            out.push(Change::ObjectDeleted {
                                path: route_path(route),
                            });
                        }
                        true
                    });
                }
                Undo::SingleInserted { .. } | Undo::SingleRemoved { .. } => {}
            }
        }
        out
    }
}

/// The route of row `number` of the table at `table`.
fn row_route(table: &[Step], number: u32) -> Route {
    let mut row = table.to_vec();
    row.push(Step::Inst(number));
    row
}

impl Undo {
    fn inserts(&self, at: &[Step], n: u32) -> bool {
        matches!(self, Self::Inserted { table, number, .. } if table == at && *number == n)
    }

    fn removes(&self, at: &[Step], n: u32) -> bool {
        matches!(self, Self::Removed { table, number, .. } if table == at && *number == n)
    }
}

/// The route of the innermost row containing the object at `route`.
fn innermost_row(route: &[Step]) -> Option<&[Step]> {
    let last = route.iter().rposition(|s| matches!(s, Step::Inst(_)))?;
    route.get(..=last)
}

/// The unique-key parameter values of a row (each name once, in key order; hidden and
/// secured values masked), for `ObjectCreated`.
pub(super) fn key_values(row: &Node) -> Vec<(&'static str, Value)> {
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    for key in row.def().main.unique_keys() {
        for name in key.parameters() {
            if out.iter().any(|(n, _)| *n == name) {
                continue;
            }
            if let (Some((name, value)), Some(p)) =
                (row.param_entry(name), row.def().param(name, View::Any))
            {
                out.push((name, tree::shown(value, p).clone()));
            }
        }
    }
    out
}

/// `Alias` rules (TR-181 `_AliasCWMP`/`_AliasUSP`): not empty, starts with a letter.
fn check_alias(path: &str, name: &str, value: &Value) -> Result<(), Error> {
    if name != "Alias" {
        return Ok(());
    }
    match value {
        Value::String(s) if s.starts_with(|c: char| c.is_ascii_alphabetic()) => Ok(()),
        _ => Err(Error::InvalidValue {
            path: path.into(),
            rule: ValueRule::Pattern,
        }),
    }
}

/// The labels a new row leaves empty that the store assigns, with their parameter
/// positions: `Alias` in a table with one, and `Name` where it is a writable unique key of its
/// own that is not functional (a label, as of MQTT clients and brokers or firewall chains and
/// levels): TR-106 has the device choose unique initial values for the keys a controller
/// does not set, and two rows left without a `Name` would collide.
fn unlabelled(table: &tree::Table, row: &Node) -> Vec<(&'static str, usize)> {
    ["Alias", "Name"]
        .into_iter()
        .filter_map(|name| {
            let at = table.shape.param_index(name)?;
            let empty = matches!(row.value_at(at)?, Value::String(s) if s.is_empty());
            (empty && (name == "Alias" || keys::is_label(table, name))).then_some((name, at))
        })
        .collect()
}

/// The label `name` (at parameter position `at`) to assign to new row `number`:
/// `cpe-<number>`, or `cpe-<number>-<k>` if a controller already took that.
/// `touched` lists the table's rows that the transaction added or changed.
fn free_label(
    table: &tree::Table,
    name: &str,
    at: usize,
    number: u32,
    touched: &BTreeSet<u32>,
) -> Option<String> {
    let taken = |candidate: &str| keys::label_taken(table, name, at, candidate, touched);
    let base = std::format!("cpe-{number}");
    if !taken(&base) {
        return Some(base);
    }
    (2..=table.rows.len().saturating_add(2))
        .map(|k| std::format!("{base}-{k}"))
        .find(|candidate| !taken(candidate))
}

/// `value` without the references to `deleted` (an object path with trailing dot) or below,
/// `None` if it has none.
fn without_refs(value: &Value, deleted: &str) -> Option<Value> {
    let target = deleted.strip_suffix('.').unwrap_or(deleted);
    let hits = |s: &str| {
        s.strip_prefix(target)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    match value {
        Value::String(s) if hits(s) => Some(Value::String(String::new())),
        Value::List(items)
            if items
                .iter()
                .any(|i| matches!(i, Value::String(s) if hits(s))) =>
        {
            Some(Value::List(
                items
                    .iter()
                    .filter(|i| !matches!(i, Value::String(s) if hits(s)))
                    .cloned()
                    .collect(),
            ))
        }
        _ => None,
    }
}

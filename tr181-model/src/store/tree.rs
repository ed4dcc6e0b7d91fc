//! The instance tree: nodes and tables linked to their schema, and concrete-path navigation.
//!
//! A [`Node`] is one object instance (a single-instance object or a table row). It holds its
//! parameter values and its child objects by position in its object's [`Shape`], the layout
//! that every instance of the object shares; a child is either a single-instance object
//! (`Child::Single`) or a table (`Child::Table`) holding rows by instance number. All names
//! are `&'static str` slices of the schema tables, so the tree allocates nothing per name.

use core::fmt;
use std::boxed::Box;
use std::string::String;
use std::sync::OnceLock;
use std::vec::Vec;

use crate::error::Error;
use crate::path::{InstancePath, InstanceSegment};
use crate::schema::{
    self, BaseType, DefaultKind, Object, Parameter, Protocol, RefType, Reference, Syntax,
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
static EMPTY_ROOT: Object = Object::of(crate::generated::DEVICE, &schema::NO_GROUP);

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
        f.write_str(self.main.path())
    }
}

impl PartialEq for Def {
    fn eq(&self, other: &Self) -> bool {
        self.main.path() == other.main.path()
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
            .map(|o| o.path())
            .collect();
        paths.sort_unstable();
        paths.dedup();
        paths
            .into_iter()
            .filter_map(|path| Some((child_name(self.main.path(), path)?, Self::lookup(path)?)))
            .collect()
    }

    /// The child object `name` (single or table) as `view` sees it, looked up in the schema.
    pub(crate) fn child(&self, name: &str, view: View) -> Option<Self> {
        let mut path = String::with_capacity(self.main.path().len() + name.len() + 5);
        path.push_str(self.main.path());
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

/// The layout shared by every instance of one object: its parameters (of both variants) and
/// its child objects, each sorted by name. A [`Node`] keeps its values in a slice indexed by
/// the parameter's position here and its children by the child's position, so a read finds a
/// value by index (the resolver looks the position up once per table) and a row costs its
/// values and three words instead of two ordered maps.
pub(crate) struct Shape {
    /// The object's definitions.
    pub(crate) def: Def,
    /// The parameters, sorted by name.
    params: Box<[Slot]>,
    /// A new instance's values, by parameter position.
    initial: Box<[Value]>,
    /// The positions of the strong path references (TR-106 `refType="strong"`), which a
    /// delete clears: most objects have none, so a delete skips their instances.
    strong_refs: Box<[usize]>,
    /// The child objects, sorted by name.
    children: Box<[ChildSlot]>,
}

/// One parameter of a [`Shape`] with its definition in each variant.
struct Slot {
    name: &'static str,
    usp: Option<&'static Parameter>,
    cwmp: Option<&'static Parameter>,
}

/// One child object of a [`Shape`].
struct ChildSlot {
    name: &'static str,
    /// The child's shape (for a table, that of its rows).
    shape: usize,
    /// Whether the child is a table.
    table: bool,
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.def.fmt(f)
    }
}

impl PartialEq for Shape {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self, other) || self.def == other.def
    }
}

/// The shapes of every object of the schema, built once on first use (a few milliseconds for
/// the full model) and shared by every store.
struct Registry {
    /// `Device.` (a stand-in if the schema has none).
    root: Shape,
    /// Every other object, sorted by schema path.
    all: Box<[Shape]>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut paths: Vec<&'static str> = schema::groups()
            .iter()
            .flat_map(|g| g.objects())
            .map(|o| o.path())
            .filter(|path| *path != "Device.")
            .collect();
        paths.sort_unstable();
        paths.dedup();
        let defs: Vec<Def> = paths.iter().filter_map(|path| Def::lookup(path)).collect();
        let index = |path: &str| defs.binary_search_by(|d| d.main.path().cmp(path)).ok();
        Registry {
            root: Shape::build(Def::root(), &index),
            all: defs.iter().map(|def| Shape::build(*def, &index)).collect(),
        }
    })
}

impl Shape {
    fn build(def: Def, index: &dyn Fn(&str) -> Option<usize>) -> Self {
        let mut params: Vec<Slot> = Vec::new();
        for parameter in def.all_params() {
            if params.iter().any(|s| s.name == parameter.name()) {
                continue;
            }
            params.push(Slot {
                name: parameter.name(),
                usp: def
                    .usp
                    .and_then(|o| o.parameter(parameter.name(), Protocol::Usp)),
                cwmp: def
                    .cwmp
                    .and_then(|o| o.parameter(parameter.name(), Protocol::Cwmp)),
            });
        }
        params.sort_unstable_by_key(|s| s.name);
        let initial = params
            .iter()
            .filter_map(|s| s.usp.or(s.cwmp))
            .map(initial_value)
            .collect();
        let strong_refs = (0..params.len())
            .filter(|i| {
                params
                    .get(*i)
                    .and_then(|s| s.usp.or(s.cwmp))
                    .is_some_and(|p| {
                        matches!(
                            p.syntax().reference(),
                            Some(Reference::Path(r)) if r.ref_type() == RefType::Strong
                        )
                    })
            })
            .collect();
        let mut children: Vec<ChildSlot> = Vec::new();
        for (name, child) in def.children() {
            let Some(shape) = index(child.main.path()) else {
                continue;
            };
            // A name that is both a single object and a table is the table (sorted last).
            children.retain(|c| c.name != name);
            children.push(ChildSlot {
                name,
                shape,
                table: child.main.is_table(),
            });
        }
        children.sort_unstable_by_key(|c| c.name);
        Self {
            def,
            params: params.into_boxed_slice(),
            initial,
            strong_refs,
            children: children.into_boxed_slice(),
        }
    }

    /// The shape of `Device.`.
    pub(crate) fn root() -> &'static Self {
        &registry().root
    }

    /// The position of parameter `name`.
    pub(crate) fn param_index(&self, name: &str) -> Option<usize> {
        self.params.binary_search_by(|s| s.name.cmp(name)).ok()
    }

    /// The parameter at position `index` as `view` sees it.
    pub(crate) fn param_at(&self, index: usize, view: View) -> Option<&'static Parameter> {
        let slot = self.params.get(index)?;
        match view {
            View::Proto(Protocol::Usp) => slot.usp,
            View::Proto(Protocol::Cwmp) => slot.cwmp,
            View::Any => slot.usp.or(slot.cwmp),
        }
    }

    /// The position of child object `name`.
    fn child_index(&self, name: &str) -> Option<usize> {
        self.children.binary_search_by(|c| c.name.cmp(name)).ok()
    }

    /// The interned name and the shape of child object `name` (for a table, of its rows).
    pub(crate) fn child(&self, name: &str) -> Option<(&'static str, &'static Self)> {
        let slot = self.children.get(self.child_index(name)?)?;
        Some((slot.name, registry().all.get(slot.shape)?))
    }
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
    /// The shape of the rows (`...{i}.`).
    pub(crate) shape: &'static Shape,
    /// One more than the highest instance number ever used (R-ARC.8: never reused).
    pub(crate) next: u32,
    /// The rows by instance number.
    pub(crate) rows: Rows,
    /// The rows' unique-key values, kept by commits.
    pub(crate) keys: super::keys::KeyIndex,
}

impl Table {
    fn new(shape: &'static Shape) -> Self {
        Self {
            shape,
            next: 1,
            rows: Rows::default(),
            keys: super::keys::KeyIndex::default(),
        }
    }

    /// The definitions of the rows.
    pub(crate) fn def(&self) -> &'static Def {
        &self.shape.def
    }
}

/// A table's rows sorted by instance number in one vector: rows are mostly added with a
/// growing number (an append) and read in order, and a vector of rows is a third of the
/// memory of an ordered map of them and walks without pointer chasing.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Rows(Vec<(u32, Node)>);

impl Rows {
    fn position(&self, number: u32) -> Result<usize, usize> {
        match self.0.last() {
            Some((last, _)) if *last < number => Err(self.0.len()),
            _ => self.0.binary_search_by_key(&number, |(n, _)| *n),
        }
    }

    /// The row `number`.
    pub(crate) fn get(&self, number: &u32) -> Option<&Node> {
        let at = self.position(*number).ok()?;
        self.0.get(at).map(|(_, row)| row)
    }

    /// The row `number`, mutably.
    pub(crate) fn get_mut(&mut self, number: &u32) -> Option<&mut Node> {
        let at = self.position(*number).ok()?;
        self.0.get_mut(at).map(|(_, row)| row)
    }

    /// Whether row `number` exists.
    pub(crate) fn contains_key(&self, number: &u32) -> bool {
        self.position(*number).is_ok()
    }

    /// Inserts (or replaces) row `number`.
    pub(crate) fn insert(&mut self, number: u32, row: Node) {
        match self.position(number) {
            Ok(at) => {
                if let Some(slot) = self.0.get_mut(at) {
                    slot.1 = row;
                }
            }
            Err(at) => self.0.insert(at, (number, row)),
        }
    }

    /// Removes row `number`.
    pub(crate) fn remove(&mut self, number: &u32) -> Option<Node> {
        let at = self.position(*number).ok()?;
        Some(self.0.remove(at).1)
    }

    /// The number of rows.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The rows in instance-number order, mutably.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Node> {
        self.0.iter_mut().map(|(_, row)| row)
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = (&'a u32, &'a Node);
    type IntoIter = core::iter::Map<
        core::slice::Iter<'a, (u32, Node)>,
        fn(&'a (u32, Node)) -> (&'a u32, &'a Node),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(n, row)| (n, row))
    }
}

/// One object instance.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    /// The object's layout and schema.
    pub(crate) shape: &'static Shape,
    /// Parameter values (those of both variants) by position in the shape.
    values: Box<[Value]>,
    /// Child objects by position in the shape. Every table is present (possibly empty);
    /// single-instance children are present when they exist.
    children: Box<[Option<Child>]>,
}

impl Node {
    /// A new instance of `shape` with default values, its tables empty and its always-present
    /// single-instance children (`minEntries` ≥ 1) created the same way.
    pub(crate) fn new(shape: &'static Shape) -> Self {
        let children = shape
            .children
            .iter()
            .map(|slot| {
                let child = registry().all.get(slot.shape)?;
                if slot.table {
                    Some(Child::Table(Table::new(child)))
                } else if child.def.main.min_entries() >= 1 {
                    Some(Child::Single(Self::new(child)))
                } else {
                    None
                }
            })
            .collect();
        Self {
            shape,
            values: shape.initial.clone(),
            children,
        }
    }

    /// The object's definitions.
    pub(crate) fn def(&self) -> &'static Def {
        &self.shape.def
    }

    /// The value of parameter `name` (of either variant).
    pub(crate) fn param(&self, name: &str) -> Option<&Value> {
        self.values.get(self.shape.param_index(name)?)
    }

    /// The interned name and value of parameter `name`.
    pub(crate) fn param_entry(&self, name: &str) -> Option<(&'static str, &Value)> {
        let index = self.shape.param_index(name)?;
        Some((self.shape.params.get(index)?.name, self.values.get(index)?))
    }

    /// The value of parameter `name`, mutably.
    pub(crate) fn param_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.values.get_mut(self.shape.param_index(name)?)
    }

    /// The value and the definition as `view` sees it of parameter `name`.
    pub(crate) fn param_in(&self, name: &str, view: View) -> Option<(&Value, &'static Parameter)> {
        let index = self.shape.param_index(name)?;
        Some((self.values.get(index)?, self.shape.param_at(index, view)?))
    }

    /// The parameters that `view` sees, with their values and definitions, by name.
    pub(crate) fn params_in(
        &self,
        view: View,
    ) -> impl Iterator<Item = (&'static str, &Value, &'static Parameter)> {
        self.values
            .iter()
            .enumerate()
            .filter_map(move |(index, value)| {
                let parameter = self.shape.param_at(index, view)?;
                Some((self.shape.params.get(index)?.name, value, parameter))
            })
    }

    /// The value at parameter position `index` (see [`Shape::param_index`]).
    pub(crate) fn value_at(&self, index: usize) -> Option<&Value> {
        self.values.get(index)
    }

    /// The parameters with their values, by name.
    pub(crate) fn params(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.shape
            .params
            .iter()
            .map(|s| s.name)
            .zip(self.values.iter())
    }

    /// The strong path references (TR-106 `refType="strong"`) with their values.
    pub(crate) fn strong_refs(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.shape.strong_refs.iter().filter_map(|&index| {
            Some((self.shape.params.get(index)?.name, self.values.get(index)?))
        })
    }

    /// The child object `name` with its interned name, if it exists.
    pub(crate) fn child_entry(&self, name: &str) -> Option<(&'static str, &Child)> {
        let index = self.shape.child_index(name)?;
        let child = self.children.get(index)?.as_ref()?;
        Some((self.shape.children.get(index)?.name, child))
    }

    /// The child object `name`, if it exists.
    pub(crate) fn child(&self, name: &str) -> Option<&Child> {
        self.children.get(self.shape.child_index(name)?)?.as_ref()
    }

    /// The child object `name`, mutably.
    pub(crate) fn child_mut(&mut self, name: &str) -> Option<&mut Child> {
        self.children
            .get_mut(self.shape.child_index(name)?)?
            .as_mut()
    }

    /// The existing child objects, by name.
    pub(crate) fn children(&self) -> impl Iterator<Item = (&'static str, &Child)> {
        self.shape
            .children
            .iter()
            .zip(self.children.iter())
            .filter_map(|(slot, child)| Some((slot.name, child.as_ref()?)))
    }

    /// Puts `child` in place as child object `name`, returning what was there; `None` and
    /// nothing changed if the object has no such child.
    pub(crate) fn set_child(&mut self, name: &str, child: Option<Child>) -> Option<Child> {
        let index = self.shape.child_index(name)?;
        let slot = self.children.get_mut(index)?;
        core::mem::replace(slot, child)
    }

    /// Whether parameter `name` is the `*NumberOfEntries` counter of one of the child tables.
    pub(crate) fn is_counter(&self, name: &str) -> bool {
        self.children().any(|(_, child)| match child {
            Child::Table(table) => table.def().main.num_entries_parameter() == Some(name),
            Child::Single(_) => false,
        })
    }

    /// Sets every `*NumberOfEntries` parameter here and below to its table's row count.
    pub(crate) fn recount(&mut self) {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for child in self.children.iter_mut().flatten() {
            match child {
                Child::Single(child) => child.recount(),
                Child::Table(table) => {
                    if let Some(name) = table.def().main.num_entries_parameter() {
                        counts.push((name, table.rows.len()));
                    }
                    table.rows.values_mut().for_each(Self::recount);
                }
            }
        }
        for (name, count) in counts {
            if let Some(slot) = self.param_mut(name) {
                *slot = Value::UnsignedInt(u32::try_from(count).unwrap_or(u32::MAX));
            }
        }
    }
}

/// The value a new instance starts with: the schema's object or factory default when it
/// parses and validates, otherwise the zero value of the type.
pub(crate) fn initial_value(parameter: &Parameter) -> Value {
    let default = parameter
        .syntax()
        .default()
        .filter(|d| matches!(d.kind(), DefaultKind::Object | DefaultKind::Factory))
        .and_then(|_| Value::schema_default(parameter.syntax()));
    default.unwrap_or_else(|| Value::default_for(parameter.syntax()))
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
    // The last decimal digit of `n`.
    let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
    // Instance numbers are mostly small: divisions by constants, no loop.
    if n < 10 {
        return path.push(digit(n));
    }
    if n < 100 {
        path.push(digit(n / 10));
        return path.push(digit(n));
    }
    if n < 1000 {
        path.push(digit(n / 100));
        path.push(digit(n / 10));
        return path.push(digit(n));
    }
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
    if !root.def().visible(view) {
        return Err(unknown(path));
    }
    let mut node = root;
    let mut route = Route::with_capacity(addr.segments.len());
    let mut index = 0;
    while let Some(seg) = addr.segments.get(index) {
        let InstanceSegment::Name(name) = *seg else {
            return Err(unknown(path));
        };
        match node.child_entry(name) {
            Some((key, Child::Single(child))) if child.def().visible(view) => {
                route.push(Step::Name(key));
                node = child;
            }
            Some((key, Child::Table(table))) if table.def().visible(view) => {
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
            None if node.def().child(name, view).is_some() => return Err(no_such(path)),
            None => return Err(unknown(path)),
        }
        index += 1;
    }
    match addr.item {
        None => Ok((Place::Object(node), route)),
        Some(name) => match node.param_entry(name) {
            Some((key, value)) if node.def().param(name, view).is_some() => {
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
        match node.child(name)? {
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
        match node.child_mut(name)? {
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
    match node_at(root, parent)?.child(name)? {
        Child::Table(table) => Some(table),
        Child::Single(_) => None,
    }
}

/// The table at `route`, mutably.
pub(crate) fn table_at_mut<'a>(root: &'a mut Node, route: &[Step]) -> Option<&'a mut Table> {
    let (parent, name) = split_table(route)?;
    match node_at_mut(root, parent)?.child_mut(name)? {
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
    for (name, child) in node.children() {
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
pub(crate) fn shown<'a>(value: &'a Value, parameter: &Parameter) -> &'a Value {
    masked(parameter).unwrap_or(value)
}

/// What a controller is shown instead of the value of `parameter` if it is hidden or secured.
pub(crate) fn masked(parameter: &Parameter) -> Option<&'static Value> {
    let syntax = parameter.syntax();
    (syntax.hidden() || syntax.secured()).then(|| zero_of(syntax))
}

/// [`Value::default_for`] `syntax` as a constant, so that masking a value allocates nothing.
fn zero_of(syntax: &Syntax) -> &'static Value {
    macro_rules! constant {
        ($value:expr) => {{
            static ZERO: Value = $value;
            &ZERO
        }};
    }
    if syntax.list().is_some() {
        return constant!(Value::List(Vec::new()));
    }
    match syntax.base() {
        BaseType::String => constant!(Value::zero(BaseType::String)),
        BaseType::Boolean => constant!(Value::zero(BaseType::Boolean)),
        BaseType::Int => constant!(Value::zero(BaseType::Int)),
        BaseType::UnsignedInt => constant!(Value::zero(BaseType::UnsignedInt)),
        BaseType::Long => constant!(Value::zero(BaseType::Long)),
        BaseType::UnsignedLong => constant!(Value::zero(BaseType::UnsignedLong)),
        BaseType::DateTime => constant!(Value::zero(BaseType::DateTime)),
        BaseType::Base64 => constant!(Value::zero(BaseType::Base64)),
        BaseType::HexBinary => constant!(Value::zero(BaseType::HexBinary)),
        BaseType::Decimal => constant!(Value::zero(BaseType::Decimal)),
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
            Step::Inst(99),
            Step::Inst(100),
            Step::Inst(407),
            Step::Inst(999),
            Step::Inst(1000),
            Step::Inst(20_305),
            Step::Inst(u32::MAX),
        ] {
            push_step(&mut path, step);
        }
        assert_eq!(
            path,
            "Device.WiFi.0.9.10.99.100.407.999.1000.20305.4294967295."
        );
        // Every number as `core::fmt` writes it, around each boundary of the short forms.
        for n in (0..1100).chain([9_999, 10_000, 65_535, 999_999_999, 1_000_000_000]) {
            let mut text = String::new();
            push_step(&mut text, Step::Inst(n));
            assert_eq!(text, std::format!("{n}."));
        }
    }
}

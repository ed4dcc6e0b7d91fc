//! The resolver: from a parsed [`Path`] to the concrete items it addresses.

use std::collections::BTreeSet;
use std::string::{String, ToString};
use std::vec::Vec;

use super::Store;
use super::tree::{self, Child, Node, Route, Shape, Step, Table, View, push_step};
use crate::error::Error;
use crate::path::{
    self, Comparison, Filter, Follow, FollowIndex, InstancePath, Path, PathKind, Segment, Term,
};
use crate::schema::{self, Command, Event, Object, Protocol};
use crate::value::Value;

/// The concrete items a path addresses ([`Store::resolve`]), in path order.
///
/// The items do not carry their path text: a wildcard over a large table gives one item per
/// row, and rendering and owning a `String` per item cost several times what finding it does.
/// Instead the resolution keeps the routes it walked as a tree of steps shared by the items
/// (a table's rows share their table's prefix), and each item names its route with a
/// [`RouteId`]. Callers that need an item's path write it on demand, once, into the buffer it
/// ends up in: [`Resolution::write_path`] appends it to a `String`, [`Resolution::path`]
/// returns a new one. Items of one object instance share one [`RouteId`], so grouping
/// parameters by object needs no path comparison.
#[derive(Clone, Debug)]
pub struct Resolution<'a> {
    routes: Routes,
    items: Vec<Resolved<'a>>,
}

/// The route of a [`Resolved`] item within its [`Resolution`]: the object instance or table
/// the item is (objects, tables) or belongs to (parameters, commands, events). Equal route
/// ids within one resolution mean the same instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteId(u32);

/// One concrete item a path addresses, an entry of a [`Resolution`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Resolved<'a> {
    /// An object instance: a single-instance object or a table row.
    Object {
        /// The instance (its path has a trailing dot).
        route: RouteId,
        /// The object's definition in the protocol's model variant.
        object: &'static Object,
    },
    /// A table as a whole (the path ended with the table's name), e.g. for USP Add.
    Table {
        /// The table (its path has a trailing dot and no instance: `Device.WiFi.SSID.`).
        route: RouteId,
        /// The definition of its rows (`...{i}.`) in the protocol's model variant.
        object: &'static Object,
    },
    /// A parameter with its value.
    Parameter {
        /// The parameter's object instance.
        route: RouteId,
        /// The value as the controller sees it: hidden and secured parameters show the zero
        /// value of their type.
        value: &'a Value,
        /// The parameter's definition in the protocol's model variant.
        parameter: &'static schema::Parameter,
        /// The definition of its object in the protocol's model variant (its schema path,
        /// `Device.WiFi.SSID.{i}.`, is [`Object::path`]).
        object: &'static Object,
    },
    /// A command of an object instance.
    Command {
        /// The command's object instance.
        route: RouteId,
        /// Its definition.
        command: &'static Command,
    },
    /// An event of an object instance.
    Event {
        /// The event's object instance.
        route: RouteId,
        /// Its definition.
        event: &'static Event,
    },
}

impl Resolved<'_> {
    /// The object instance or table the item is or belongs to.
    pub fn route(&self) -> RouteId {
        match self {
            Self::Object { route, .. }
            | Self::Table { route, .. }
            | Self::Parameter { route, .. }
            | Self::Command { route, .. }
            | Self::Event { route, .. } => *route,
        }
    }

    /// The item's name after its object's path: the parameter's name, the command's with
    /// `()`, the event's with `!`; empty for objects and tables.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Object { .. } | Self::Table { .. } => "",
            Self::Parameter { parameter, .. } => parameter.name(),
            Self::Command { command, .. } => command.name(),
            Self::Event { event, .. } => event.name(),
        }
    }
}

impl<'a> Resolution<'a> {
    /// The items, in path order.
    pub fn items(&self) -> &[Resolved<'a>] {
        &self.items
    }

    /// The items, in path order.
    pub fn iter(&self) -> core::slice::Iter<'_, Resolved<'a>> {
        self.items.iter()
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the path addressed nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends the instance path of `route` (`Device.WiFi.SSID.1.`, with trailing dot) to
    /// `out`.
    pub fn write_route(&self, route: RouteId, out: &mut String) {
        self.routes.write(route.0, out);
    }

    /// Appends the path of `item` to `out`: its route's path followed by
    /// [`Resolved::name`] (`Device.WiFi.SSID.1.SSID`, `Device.WiFi.Radio.1.Reset()`).
    pub fn write_path(&self, item: &Resolved<'_>, out: &mut String) {
        self.write_route(item.route(), out);
        out.push_str(item.name());
    }

    /// The path of `item` as a new string (see [`Resolution::write_path`]).
    pub fn path(&self, item: &Resolved<'_>) -> String {
        let mut out = String::with_capacity(64);
        self.write_path(item, &mut out);
        out
    }

    /// A [`RouteWriter`] for this resolution's routes.
    pub fn route_writer(&self) -> RouteWriter<'_> {
        RouteWriter {
            routes: &self.routes,
            chain: Vec::new(),
            text: String::with_capacity(64),
            scratch: Vec::new(),
        }
    }
}

/// Writes the instance paths of a [`Resolution`]'s routes one after another, keeping the
/// text the next route shares with the previous one: the rows of a table differ only in their
/// last step, so a wildcard over a table writes one number per row instead of every row's
/// whole path ([`Resolution::write_route`] walks the route from `Device.` each time).
#[derive(Clone, Debug)]
pub struct RouteWriter<'r> {
    routes: &'r Routes,
    /// The routes of the steps written in `text`, from the first after `Device.`, each with
    /// the length of the text up to and including its step.
    chain: Vec<(u32, usize)>,
    text: String,
    /// The route being written and its ancestors, deepest first (kept to reuse its buffer).
    scratch: Vec<u32>,
}

impl RouteWriter<'_> {
    /// The instance path of `route` (`Device.WiFi.SSID.1.`, with trailing dot), valid until
    /// the next call.
    pub fn route(&mut self, route: RouteId) -> &str {
        let steps = &self.routes.steps;
        // The next row of the table last written, or the same route again: no walk.
        if let [.., (parent_at, parent_len), last] = self.chain.as_mut_slice()
            && let Some(&(parent, step)) = steps.get(route.0 as usize)
        {
            if last.0 == route.0 {
                return &self.text;
            }
            if parent == *parent_at && parent < route.0 {
                self.text.truncate(*parent_len);
                push_step(&mut self.text, step);
                *last = (route.0, self.text.len());
                return &self.text;
            }
        }
        self.scratch.clear();
        let mut at = route.0;
        while let Some(&(parent, _)) = steps.get(at as usize) {
            if at == Routes::ROOT || parent >= at {
                break;
            }
            self.scratch.push(at);
            at = parent;
        }
        let kept = self
            .chain
            .iter()
            .zip(self.scratch.iter().rev())
            .take_while(|((written, _), wanted)| written == *wanted)
            .count();
        self.chain.truncate(kept);
        match self.chain.last() {
            Some(&(_, len)) => self.text.truncate(len),
            None => {
                self.text.clear();
                self.text.push_str("Device.");
            }
        }
        for &index in self.scratch.iter().rev().skip(kept) {
            if let Some(&(_, step)) = steps.get(index as usize) {
                push_step(&mut self.text, step);
                self.chain.push((index, self.text.len()));
            }
        }
        &self.text
    }
}

impl<'r, 'a> IntoIterator for &'r Resolution<'a> {
    type Item = &'r Resolved<'a>;
    type IntoIter = core::slice::Iter<'r, Resolved<'a>>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// One object (or table) in the resolver's working set, with the index of its route in the
/// [`Routes`] arena.
#[derive(Clone, Copy, Debug)]
enum Cur<'a> {
    Node(&'a Node, u32),
    Table(&'a Table, u32),
}

impl Cur<'_> {
    /// The same object at route `route`.
    fn at(self, route: u32) -> Self {
        match self {
            Self::Node(node, _) => Self::Node(node, route),
            Self::Table(table, _) => Self::Table(table, route),
        }
    }
}

/// The routes of the working set as a tree of steps: each entry is a step and the index of
/// the route it extends (entry 0 is `Device.`), so that a table's rows share their prefix and
/// selecting a row costs no allocation. Paths are written out only when asked for.
#[derive(Clone, Debug)]
struct Routes {
    steps: Vec<(u32, Step)>,
}

impl Routes {
    const ROOT: u32 = 0;

    fn new() -> Self {
        Self {
            // The root's entry is never read as a step.
            steps: std::vec![(0, Step::Inst(0))],
        }
    }

    /// The route `parent` extended by `step`.
    #[inline]
    fn push(&mut self, parent: u32, step: Step) -> u32 {
        let index = u32::try_from(self.steps.len()).unwrap_or(u32::MAX);
        self.steps.push((parent, step));
        index
    }

    /// Adds a complete route from the root.
    fn push_route(&mut self, route: &Route) -> u32 {
        route
            .iter()
            .fold(Self::ROOT, |parent, step| self.push(parent, *step))
    }

    /// Appends the instance path of route `index` to `out`. A route's parent always has a
    /// smaller index, so the recursion ends, at most one level per step of the path.
    fn write(&self, index: u32, out: &mut String) {
        match self.steps.get(index as usize) {
            Some(&(parent, step)) if index != Self::ROOT && parent < index => {
                self.write(parent, out);
                push_step(out, step);
            }
            _ => out.push_str("Device."),
        }
    }
}

/// Looks a parameter up once per object shape: the rows of a table share theirs, so a
/// wildcard over a table finds the parameter's position and definition, and whether its value
/// is masked, once and then reads each row's value by index.
#[derive(Default)]
struct ParamCache {
    last: Option<(&'static Shape, Option<Found>)>,
}

/// A parameter's position in its shape, its definition, and the value shown instead of the
/// real one if it is hidden or secured.
#[derive(Clone, Copy)]
struct Found {
    index: usize,
    parameter: &'static schema::Parameter,
    masked: Option<&'static Value>,
    object: &'static Object,
}

impl ParamCache {
    /// The value as `view` sees it and the definitions of parameter `name` of `node` and of
    /// `node`'s object.
    fn param<'a>(
        &mut self,
        node: &'a Node,
        name: &str,
        view: View,
    ) -> Option<(&'a Value, &'static schema::Parameter, &'static Object)> {
        let found = match self.last {
            Some((shape, found)) if core::ptr::eq(shape, node.shape) => found,
            _ => {
                let found = node.shape.param_index(name).and_then(|index| {
                    let parameter = node.shape.param_at(index, view)?;
                    Some(Found {
                        index,
                        parameter,
                        masked: tree::masked(parameter),
                        object: node.def().object(view)?,
                    })
                });
                self.last = Some((node.shape, found));
                found
            }
        };
        let found = found?;
        let value = found.masked.or_else(|| node.value_at(found.index))?;
        Some((value, found.parameter, found.object))
    }
}

impl Store {
    /// The concrete items `path` addresses for `protocol`'s controller, in path order. The
    /// items carry no path text; [`Resolution::write_path`] writes an item's path when a caller
    /// needs it.
    ///
    /// Wildcards (`*`) and search or unique-key expressions (`[...]`) select the rows of a
    /// table whose current values match (hidden and secured parameters compare as empty); reference
    /// follows (`Ref+`, `Ref#N+`, `Ref#*+`, also inside expressions) continue from the
    /// object(s) a reference parameter names, skipping empty and dangling references. A path
    /// ending with a table name gives [`Resolved::Table`]; the empty path means `Device.`.
    /// Duplicates (two references to the same object) are given once.
    ///
    /// Matching nothing is success with no items. Errors: [`Error::UnknownPath`] if the path is
    /// not in the protocol's model, [`Error::NoSuchInstance`] if a path without wildcards,
    /// expressions or follows names a missing instance, [`Error::InvalidPath`] for `{i}` or an
    /// operator that does not suit the compared parameter's type, [`Error::LimitExceeded`] for
    /// more reference follows than [`Limits::max_reference_follows`](crate::Limits).
    pub fn resolve(&self, path: &Path, protocol: Protocol) -> Result<Resolution<'_>, Error> {
        let view = View::Proto(protocol);
        let text = || path.to_string();
        let root_only = Path::root();
        let path = if path.is_empty() { &root_only } else { path };
        if !path.is_absolute() || !self.root.def().visible(view) {
            return Err(Error::UnknownPath { path: text() });
        }
        check_schema(path, protocol)?;
        let strict = path.is_plain();
        let mut follows = 0usize;
        let mut leaves = Leaves::default();
        let mut routes = Routes::new();
        let mut current = std::vec![Cur::Node(&self.root, Routes::ROOT)];
        for segment in path.segments.iter().skip(1) {
            let mut next = Vec::with_capacity(current.len());
            match segment {
                Segment::Name(name) => {
                    for cur in current {
                        let Cur::Node(node, route) = cur else {
                            return Err(Error::UnknownPath { path: text() });
                        };
                        match node.child_entry(name.as_str()) {
                            Some((key, Child::Single(child))) if child.def().visible(view) => {
                                let route = routes.push(route, Step::Name(key));
                                next.push(Cur::Node(child, route));
                            }
                            Some((key, Child::Table(table))) if table.def().visible(view) => {
                                let route = routes.push(route, Step::Name(key));
                                next.push(Cur::Table(table, route));
                            }
                            Some(_) => return Err(Error::UnknownPath { path: text() }),
                            None if node.def().child(name, view).is_some() => {
                                if strict {
                                    return Err(Error::NoSuchInstance { path: text() });
                                }
                            }
                            None => return Err(Error::UnknownPath { path: text() }),
                        }
                    }
                }
                Segment::Instance(n) => {
                    for cur in current {
                        let Cur::Table(table, route) = cur else {
                            return Err(Error::UnknownPath { path: text() });
                        };
                        match table.rows.get(n) {
                            Some(row) => {
                                let route = routes.push(route, Step::Inst(*n));
                                next.push(Cur::Node(row, route));
                            }
                            None if strict => return Err(Error::NoSuchInstance { path: text() }),
                            None => {}
                        }
                    }
                }
                Segment::Placeholder => {
                    return Err(Error::InvalidPath {
                        path: text(),
                        position: 0,
                        reason: "{i} does not address instances",
                    });
                }
                Segment::Wildcard | Segment::Filter(_) => {
                    let filter = match segment {
                        Segment::Filter(filter) => Some(filter),
                        _ => None,
                    };
                    if filter.is_none() {
                        // Every row is selected: size the arena and the next set once.
                        let rows = current
                            .iter()
                            .map(|cur| match cur {
                                Cur::Table(table, _) => table.rows.len(),
                                Cur::Node(..) => 0,
                            })
                            .fold(0usize, usize::saturating_add);
                        routes.steps.reserve(rows);
                        next.reserve(rows);
                    }
                    for cur in current {
                        let Cur::Table(table, route) = cur else {
                            return Err(Error::UnknownPath { path: text() });
                        };
                        for (n, row) in &table.rows {
                            if let Some(filter) = filter {
                                if !self.filter_holds(
                                    row,
                                    filter,
                                    view,
                                    &mut follows,
                                    &mut leaves,
                                )? {
                                    continue;
                                }
                            }
                            next.push(Cur::Node(row, routes.push(route, Step::Inst(*n))));
                        }
                    }
                }
                Segment::Follow(follow) => {
                    self.count_follow(&mut follows)?;
                    let mut seen = BTreeSet::new();
                    for cur in current {
                        let Cur::Node(node, _) = cur else {
                            return Err(Error::UnknownPath { path: text() });
                        };
                        for (target, route) in self.follow(node, follow, view)? {
                            if seen.insert(route.clone()) {
                                next.push(target.at(routes.push_route(&route)));
                            }
                        }
                    }
                }
            }
            current = next;
        }
        let items = self.finish(path, current, view, protocol)?;
        Ok(Resolution { routes, items })
    }

    /// Turns the final working set into items according to the path's kind.
    fn finish<'a>(
        &'a self,
        path: &Path,
        current: Vec<Cur<'a>>,
        view: View,
        protocol: Protocol,
    ) -> Result<Vec<Resolved<'a>>, Error> {
        let mut out = Vec::with_capacity(current.len());
        let mut params = ParamCache::default();
        for cur in current {
            match (&path.kind, cur) {
                (PathKind::Object, Cur::Node(node, route)) => {
                    if let Some(object) = node.def().object(view) {
                        out.push(Resolved::Object {
                            route: RouteId(route),
                            object,
                        });
                    }
                }
                (PathKind::Object, Cur::Table(table, route)) => {
                    if let Some(object) = table.def().object(view) {
                        out.push(Resolved::Table {
                            route: RouteId(route),
                            object,
                        });
                    }
                }
                (PathKind::Parameter(name), Cur::Node(node, route)) => {
                    if let Some((value, parameter, object)) = params.param(node, name, view) {
                        out.push(Resolved::Parameter {
                            route: RouteId(route),
                            value,
                            parameter,
                            object,
                        });
                    }
                }
                (PathKind::Command(name), Cur::Node(node, route)) => {
                    let full = std::format!("{name}()");
                    if let Some(command) = node
                        .def()
                        .object(view)
                        .and_then(|o| o.command(&full, protocol))
                    {
                        out.push(Resolved::Command {
                            route: RouteId(route),
                            command,
                        });
                    }
                }
                (PathKind::Event(name), Cur::Node(node, route)) => {
                    let full = std::format!("{name}!");
                    if let Some(event) = node
                        .def()
                        .object(view)
                        .and_then(|o| o.event(&full, protocol))
                    {
                        out.push(Resolved::Event {
                            route: RouteId(route),
                            event,
                        });
                    }
                }
                (_, Cur::Table(..)) => {
                    return Err(Error::UnknownPath {
                        path: path.to_string(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn count_follow(&self, follows: &mut usize) -> Result<(), Error> {
        *follows = follows.saturating_add(1);
        if *follows > self.limits.max_reference_follows {
            return Err(Error::LimitExceeded {
                what: "reference follows",
                limit: self.limits.max_reference_follows,
            });
        }
        Ok(())
    }

    /// The objects the reference parameter `follow.name` of `node` points to, with their
    /// routes.
    fn follow<'a>(
        &'a self,
        node: &'a Node,
        follow: &Follow,
        view: View,
    ) -> Result<Vec<(Cur<'a>, Route)>, Error> {
        let Some(value) = node.param(follow.name.as_str()) else {
            return Err(Error::UnknownPath {
                path: follow.name.clone(),
            });
        };
        if node.def().param(&follow.name, view).is_none() {
            return Err(Error::UnknownPath {
                path: follow.name.clone(),
            });
        }
        let items: Vec<String> = match value {
            Value::List(items) => items.iter().map(ToString::to_string).collect(),
            Value::String(s) => s.split(',').map(|item| item.trim().into()).collect(),
            other => std::vec![other.to_string()],
        };
        let chosen: Vec<&String> = match follow.index {
            FollowIndex::All => items.iter().collect(),
            FollowIndex::Nth(n) => usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| items.get(i))
                .into_iter()
                .collect(),
        };
        let mut out = Vec::new();
        for item in chosen {
            if let Some(target) = self.target(item, view) {
                out.push(target);
            }
        }
        Ok(out)
    }

    /// The object or table a reference value names, with its route; `None` if empty,
    /// malformed or dangling.
    fn target(&self, reference: &str, view: View) -> Option<(Cur<'_>, Route)> {
        if reference.is_empty() {
            return None;
        }
        let text = if reference.ends_with('.') {
            std::borrow::Cow::Borrowed(reference)
        } else {
            std::borrow::Cow::Owned(std::format!("{reference}."))
        };
        let addr = InstancePath::split(&text, &self.limits).ok()?;
        match tree::walk(&self.root, &text, &addr, view).ok()? {
            (tree::Place::Object(node), route) => Some((Cur::Node(node, Routes::ROOT), route)),
            (tree::Place::Table(table), route) => Some((Cur::Table(table, Routes::ROOT), route)),
            (tree::Place::Param(..), _) => None,
        }
    }

    /// Whether every term of `filter` holds for `row`.
    fn filter_holds<'p>(
        &self,
        row: &Node,
        filter: &'p Filter,
        view: View,
        follows: &mut usize,
        leaves: &mut Leaves<'p>,
    ) -> Result<bool, Error> {
        for term in &filter.terms {
            if !self.term_holds(row, term, view, follows, leaves)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether `term` holds for some value its relative path reaches from `row`.
    fn term_holds<'p>(
        &self,
        row: &Node,
        term: &'p Term,
        view: View,
        follows: &mut usize,
        leaves: &mut Leaves<'p>,
    ) -> Result<bool, Error> {
        let unknown = || Error::UnknownPath {
            path: term.to_string(),
        };
        let Some((last, steps)) = term.relpath.split_last() else {
            return Err(unknown());
        };
        if steps.is_empty() {
            // The usual `[Name<op>literal]`: the row's own parameter, nothing to walk.
            let path::Step::Name(name) = last else {
                return Err(unknown());
            };
            return leaves.holds(row, name, term, view);
        }
        let mut nodes: Vec<&Node> = std::vec![row];
        for step in steps {
            let mut next = Vec::new();
            match step {
                path::Step::Name(name) => {
                    for node in nodes {
                        match node.child(name.as_str()) {
                            Some(Child::Single(child)) if child.def().visible(view) => {
                                next.push(child);
                            }
                            None if node.def().child(name, view).is_some() => {}
                            _ => return Err(unknown()),
                        }
                    }
                }
                path::Step::Follow(follow) => {
                    self.count_follow(follows)?;
                    for node in nodes {
                        for (target, _) in self.follow(node, follow, view)? {
                            if let Cur::Node(target, _) = target {
                                next.push(target);
                            }
                        }
                    }
                }
            }
            nodes = next;
        }
        let path::Step::Name(name) = last else {
            return Err(unknown());
        };
        for node in nodes {
            if leaf_holds(node, name, term, view)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The search terms that compare a parameter of the row itself (`[Name<op>literal]`, the usual
/// form), each prepared once per row shape: the parameter's position and definition are looked
/// up and the literal is read once per table, not once per row.
#[derive(Default)]
struct Leaves<'p> {
    prepared: Vec<Leaf<'p>>,
}

/// One prepared term of [`Leaves`].
struct Leaf<'p> {
    term: &'p Term,
    shape: &'static Shape,
    index: usize,
    /// What hidden and secured parameters compare as.
    masked: Option<&'static Value>,
    comparison: Comparison,
}

impl<'p> Leaves<'p> {
    /// Whether `term` holds for parameter `name` of `row`, as [`leaf_holds`] says.
    fn holds(&mut self, row: &Node, name: &str, term: &'p Term, view: View) -> Result<bool, Error> {
        let unknown = || Error::UnknownPath {
            path: term.to_string(),
        };
        let known = self
            .prepared
            .iter()
            .position(|l| core::ptr::eq(l.term, term) && core::ptr::eq(l.shape, row.shape));
        let leaf = match known.and_then(|at| self.prepared.get(at)) {
            Some(leaf) => leaf,
            None => {
                let index = row.shape.param_index(name).ok_or_else(unknown)?;
                let parameter = row.shape.param_at(index, view).ok_or_else(unknown)?;
                let comparison = term.comparison(parameter.syntax())?;
                self.prepared.push(Leaf {
                    term,
                    shape: row.shape,
                    index,
                    masked: tree::masked(parameter),
                    comparison,
                });
                self.prepared.last().ok_or_else(unknown)?
            }
        };
        let value = leaf
            .masked
            .or_else(|| row.value_at(leaf.index))
            .ok_or_else(unknown)?;
        Ok(leaf.comparison.holds(value))
    }
}

/// Whether `term` holds for parameter `name` of `node`.
fn leaf_holds(node: &Node, name: &str, term: &Term, view: View) -> Result<bool, Error> {
    let Some((value, parameter)) = node.param_in(name, view) else {
        return Err(Error::UnknownPath {
            path: term.to_string(),
        });
    };
    term.matches(tree::shown(value, parameter), parameter.syntax())
}

/// Checks a path without reference follows against `protocol`'s schema, so that a wrong
/// name is reported even when no instance exists to walk through.
fn check_schema(path: &Path, protocol: Protocol) -> Result<(), Error> {
    let Some(schema_path) = path.schema_path() else {
        return Ok(());
    };
    let known = match &path.kind {
        PathKind::Object => {
            schema::object(&schema_path, protocol).is_some()
                || schema::object(&std::format!("{schema_path}{{i}}."), protocol).is_some()
        }
        PathKind::Parameter(_) => schema::parameter(&schema_path, protocol).is_some(),
        PathKind::Command(_) => schema::command(&schema_path, protocol).is_some(),
        PathKind::Event(_) => schema::event(&schema_path, protocol).is_some(),
    };
    if known {
        Ok(())
    } else {
        Err(Error::UnknownPath {
            path: path.to_string(),
        })
    }
}

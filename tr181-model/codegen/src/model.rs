//! Expanding a `<model>` (with its base model and every `<component>` it pulls in) into a flat
//! map of objects, the way the Broadband Forum's report tool reads the XML.
//!
//! Rules implemented (TR-106 Annex A / the BBF `report.pl` conventions):
//! - `<component ref=... path=...>` inserts the component's items in the current context: at
//!   model level objects are named relative to `path`; inside an object, parameters join that
//!   object and objects are named relative to it; inside a command's `<input>`/`<output>` or an
//!   event, everything becomes an argument relative to the current argument prefix.
//! - `name=` defines an item, `base=` modifies an existing one (attributes override; syntax facets
//!   override, enumerations and patterns merge by value).
//! - A reference to a `virtual` component is resolved in the top-level document, which is how
//!   the CWMP and USP models pick their own `Alias` and `InterfaceStatsReset`; data type names
//!   bound by the top-level document take precedence for the same reason.
//! - An item's version is its own (or its parent's), raised to the version on the component
//!   reference that brought it in. Items whose status is `deleted` are dropped.

use std::collections::BTreeMap;

use roxmltree::Node;

use crate::xml::{Docs, Kind};

/// `major.minor.patch`.
pub(crate) type Version = (u8, u8, u8);

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Size {
    pub(crate) min: Option<u32>,
    pub(crate) max: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Range {
    pub(crate) min: Option<i64>,
    pub(crate) max: Option<i64>,
    pub(crate) step: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct List {
    pub(crate) min_items: u32,
    pub(crate) max_items: Option<u32>,
    pub(crate) max_length: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Reference {
    Path {
        ref_type: String,
        target_type: String,
        target_parents: Vec<String>,
    },
    Enumeration {
        target_param: String,
        null_value: Option<String>,
    },
}

/// A parameter's syntax with every facet resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Syntax {
    /// The TR-106 primitive type element name (`string`, `unsignedInt`, ...).
    pub(crate) base: String,
    pub(crate) data_type: Option<String>,
    pub(crate) list: Option<List>,
    pub(crate) sizes: Vec<Size>,
    pub(crate) ranges: Vec<Range>,
    pub(crate) enumerations: Vec<String>,
    pub(crate) patterns: Vec<String>,
    pub(crate) reference: Option<Reference>,
    pub(crate) units: Option<String>,
    pub(crate) default: Option<(String, String)>,
    pub(crate) hidden: bool,
    pub(crate) secured: bool,
    pub(crate) command: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Param {
    pub(crate) access: String,
    pub(crate) syntax: Syntax,
    pub(crate) status: String,
    pub(crate) version: Version,
    pub(crate) forced_inform: bool,
    pub(crate) active_notify: String,
    pub(crate) mandatory: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Command {
    pub(crate) is_async: bool,
    pub(crate) input: BTreeMap<String, Param>,
    pub(crate) output: BTreeMap<String, Param>,
    pub(crate) status: String,
    pub(crate) version: Version,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) arguments: BTreeMap<String, Param>,
    pub(crate) status: String,
    pub(crate) version: Version,
}

/// Object-level facts (everything but the children), compared when merging the variants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ObjectInfo {
    pub(crate) access: String,
    pub(crate) min_entries: u32,
    pub(crate) max_entries: Option<u32>,
    pub(crate) num_entries_parameter: Option<String>,
    pub(crate) enable_parameter: Option<String>,
    pub(crate) unique_keys: Vec<(bool, Vec<String>)>,
    pub(crate) status: String,
    pub(crate) version: Version,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Object {
    pub(crate) info: ObjectInfo,
    pub(crate) params: BTreeMap<String, Param>,
    pub(crate) commands: BTreeMap<String, Command>,
    pub(crate) events: BTreeMap<String, Event>,
}

/// A fully expanded model: object path → object.
pub(crate) type Model = BTreeMap<String, Object>;

/// Where the items being read go.
#[derive(Clone)]
enum Target {
    /// Model level: objects are named relative to `prefix`.
    Top { prefix: String },
    /// Inside an object.
    Object { path: String, version: Version },
    /// Arguments of a command (input or output) or an event, relative to `prefix`.
    Args {
        slot: ArgSlot,
        prefix: String,
        version: Version,
    },
}

#[derive(Clone)]
struct ArgSlot {
    object: String,
    item: String,
    which: Which,
}

#[derive(Clone, Copy)]
enum Which {
    Input,
    Output,
    Event,
}

#[derive(Clone, Copy)]
struct Ctx {
    /// The document the items are read from (names resolve here).
    doc: usize,
    /// The version of the component reference that brought the items in, if any.
    clamp: Option<Version>,
}

/// Reads the model `name` defined in the entry document `top`.
pub(crate) fn expand(docs: &Docs, top: usize, name: &str) -> Result<Model, String> {
    let mut expander = Expander {
        docs,
        top,
        model: Model::new(),
    };
    let def = docs.resolve(top, Kind::Model, name)?;
    expander.model_def(def.doc, def.node)?;
    expander.drop_deleted();
    Ok(expander.model)
}

struct Expander<'d> {
    docs: &'d Docs,
    top: usize,
    model: Model,
}

impl Expander<'_> {
    fn model_def(&mut self, doc: usize, node: Node<'_, 'static>) -> Result<(), String> {
        if let Some(base) = node.attribute("base") {
            let def = self.docs.resolve(doc, Kind::Model, base)?;
            self.model_def(def.doc, def.node)?;
        }
        let ctx = Ctx { doc, clamp: None };
        self.items(
            ctx,
            node,
            &Target::Top {
                prefix: String::new(),
            },
        )
    }

    fn items(&mut self, ctx: Ctx, node: Node<'_, 'static>, target: &Target) -> Result<(), String> {
        for child in node.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "component" => self.component(ctx, child, target)?,
                "object" => self.object(ctx, child, target)?,
                "parameter" => self.parameter(ctx, child, &self.item_target(target)?)?,
                "command" => self.command(ctx, child, &self.item_target(target)?)?,
                "event" => self.event(ctx, child, &self.item_target(target)?)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Items of a component inserted with `path="Device.X."` at model level join that object.
    fn item_target(&self, target: &Target) -> Result<Target, String> {
        match target {
            Target::Top { prefix } => {
                let object = self
                    .model
                    .get(prefix)
                    .ok_or_else(|| format!("no object {prefix:?} for items"))?;
                Ok(Target::Object {
                    path: prefix.clone(),
                    version: object.info.version,
                })
            }
            other => Ok(other.clone()),
        }
    }

    fn component(
        &mut self,
        ctx: Ctx,
        node: Node<'_, 'static>,
        target: &Target,
    ) -> Result<(), String> {
        let name = node.attribute("ref").ok_or("component without ref")?;
        let mut def = self.docs.resolve(ctx.doc, Kind::Component, name)?;
        if def.node.attribute("virtual") == Some("true")
            && self.docs.binds(self.top, Kind::Component, name)
        {
            def = self.docs.resolve(self.top, Kind::Component, name)?;
        }
        // The reference's version, or the one it inherits from its object, is the floor.
        let own = node.attribute("version").map(parse_version).transpose()?;
        let inherited = match target {
            Target::Object { version, .. } | Target::Args { version, .. } => Some(*version),
            Target::Top { .. } => None,
        };
        let clamp = max_version(ctx.clamp, own.or(inherited));
        let path = node.attribute("path").unwrap_or("");
        let target = match target {
            Target::Top { prefix } => Target::Top {
                prefix: format!("{prefix}{path}"),
            },
            Target::Object { path: object, .. } if !path.is_empty() => Target::Top {
                prefix: format!("{object}{path}"),
            },
            Target::Args {
                slot,
                prefix,
                version,
            } => Target::Args {
                slot: slot.clone(),
                prefix: format!("{prefix}{path}"),
                version: *version,
            },
            other @ Target::Object { .. } => other.clone(),
        };
        self.items(
            Ctx {
                doc: def.doc,
                clamp,
            },
            def.node,
            &target,
        )
    }

    fn object(&mut self, ctx: Ctx, node: Node<'_, 'static>, target: &Target) -> Result<(), String> {
        let (name, is_base) = name_or_base(node)?;
        let prefix = match target {
            Target::Top { prefix } => prefix.as_str(),
            Target::Object { path, .. } => path.as_str(),
            Target::Args {
                slot,
                prefix,
                version,
            } => {
                // Argument objects only structure the argument names.
                let version = item_version(ctx, node, *version)?;
                let inner = Target::Args {
                    slot: slot.clone(),
                    prefix: format!("{prefix}{name}"),
                    version,
                };
                return self.items(ctx, node, &inner);
            }
        };
        let path = if name.starts_with("Device.") {
            name.to_owned()
        } else {
            format!("{prefix}{name}")
        };
        let parent_version = parent_path(&path)
            .and_then(|p| self.model.get(p))
            .map_or((2, 0, 0), |o| o.info.version);
        let info = match (self.model.get(&path), is_base) {
            (Some(existing), _) => {
                self.object_info(ctx, node, Some(&existing.info), parent_version)?
            }
            (None, true) => return Err(format!("object base {path} does not exist")),
            (None, false) => self.object_info(ctx, node, None, parent_version)?,
        };
        let version = info.version;
        let object = self.model.entry(path.clone()).or_insert_with(|| Object {
            info: info.clone(),
            params: BTreeMap::new(),
            commands: BTreeMap::new(),
            events: BTreeMap::new(),
        });
        object.info = info;
        self.items(ctx, node, &Target::Object { path, version })
    }

    fn object_info(
        &self,
        ctx: Ctx,
        node: Node<'_, 'static>,
        existing: Option<&ObjectInfo>,
        parent_version: Version,
    ) -> Result<ObjectInfo, String> {
        let inherited = existing.map_or(parent_version, |e| e.version);
        let mut info = existing.cloned().unwrap_or_else(|| ObjectInfo {
            access: "readOnly".into(),
            min_entries: 1,
            max_entries: Some(1),
            num_entries_parameter: None,
            enable_parameter: None,
            unique_keys: Vec::new(),
            status: "current".into(),
            version: inherited,
        });
        if let Some(a) = node.attribute("access") {
            info.access = a.into();
        }
        if let Some(m) = node.attribute("minEntries") {
            info.min_entries = m.parse().map_err(|_| format!("bad minEntries {m}"))?;
        }
        if let Some(m) = node.attribute("maxEntries") {
            info.max_entries = if m == "unbounded" {
                None
            } else {
                Some(m.parse().map_err(|_| format!("bad maxEntries {m}"))?)
            };
        }
        if let Some(p) = node.attribute("numEntriesParameter") {
            info.num_entries_parameter = Some(p.into());
        }
        if let Some(p) = node.attribute("enableParameter") {
            info.enable_parameter = Some(p.into());
        }
        if let Some(s) = node.attribute("status") {
            info.status = s.into();
        }
        info.version = item_version(ctx, node, inherited)?;
        for key in node.children().filter(|c| c.has_tag_name("uniqueKey")) {
            let functional = key.attribute("functional") != Some("false");
            let params: Vec<String> = key
                .children()
                .filter(|c| c.has_tag_name("parameter"))
                .filter_map(|c| c.attribute("ref").map(str::to_owned))
                .collect();
            if !info.unique_keys.iter().any(|(_, p)| *p == params) {
                info.unique_keys.push((functional, params));
            }
        }
        Ok(info)
    }

    fn parameter(
        &mut self,
        ctx: Ctx,
        node: Node<'_, 'static>,
        target: &Target,
    ) -> Result<(), String> {
        let (name, is_base) = name_or_base(node)?;
        let (docs, top) = (self.docs, self.top);
        let (map, key, inherited) = match target {
            Target::Top { .. } => return Err(format!("parameter {name} outside an object")),
            Target::Object { path, version } => {
                let object = self
                    .model
                    .get_mut(path)
                    .ok_or_else(|| format!("no object {path}"))?;
                (&mut object.params, name.to_owned(), *version)
            }
            Target::Args {
                slot,
                prefix,
                version,
            } => (self.args(slot)?, format!("{prefix}{name}"), *version),
        };
        let existing = map.get(&key).cloned();
        if is_base && existing.is_none() {
            return Err(format!("parameter base {key} does not exist"));
        }
        let param = param_def(docs, top, ctx, node, existing.as_ref(), inherited)?;
        map.insert(key, param);
        Ok(())
    }

    fn args(&mut self, slot: &ArgSlot) -> Result<&mut BTreeMap<String, Param>, String> {
        let object = self
            .model
            .get_mut(&slot.object)
            .ok_or("argument of a missing object")?;
        let missing = || format!("no command or event {}{}", slot.object, slot.item);
        Ok(match slot.which {
            Which::Input => {
                &mut object
                    .commands
                    .get_mut(&slot.item)
                    .ok_or_else(missing)?
                    .input
            }
            Which::Output => {
                &mut object
                    .commands
                    .get_mut(&slot.item)
                    .ok_or_else(missing)?
                    .output
            }
            Which::Event => {
                &mut object
                    .events
                    .get_mut(&slot.item)
                    .ok_or_else(missing)?
                    .arguments
            }
        })
    }

    fn command(
        &mut self,
        ctx: Ctx,
        node: Node<'_, 'static>,
        target: &Target,
    ) -> Result<(), String> {
        let (name, is_base) = name_or_base(node)?;
        let Target::Object { path, version } = target else {
            return Err(format!("command {name} outside an object"));
        };
        let object = self
            .model
            .get_mut(path)
            .ok_or_else(|| format!("no object {path}"))?;
        let existing = object.commands.get(name);
        if is_base && existing.is_none() {
            return Err(format!("command base {path}{name} does not exist"));
        }
        let inherited = existing.map_or(*version, |c| c.version);
        let mut command = existing.cloned().unwrap_or_else(|| Command {
            is_async: false,
            input: BTreeMap::new(),
            output: BTreeMap::new(),
            status: "current".into(),
            version: inherited,
        });
        if let Some(a) = node.attribute("async") {
            command.is_async = a == "true";
        }
        if let Some(s) = node.attribute("status") {
            command.status = s.into();
        }
        command.version = item_version(ctx, node, inherited)?;
        let version = command.version;
        object.commands.insert(name.to_owned(), command);
        for (tag, which) in [("input", Which::Input), ("output", Which::Output)] {
            for part in node.children().filter(|c| c.has_tag_name(tag)) {
                let slot = ArgSlot {
                    object: path.clone(),
                    item: name.to_owned(),
                    which,
                };
                self.items(
                    ctx,
                    part,
                    &Target::Args {
                        slot,
                        prefix: String::new(),
                        version,
                    },
                )?;
            }
        }
        Ok(())
    }

    fn event(&mut self, ctx: Ctx, node: Node<'_, 'static>, target: &Target) -> Result<(), String> {
        let (name, is_base) = name_or_base(node)?;
        let Target::Object { path, version } = target else {
            return Err(format!("event {name} outside an object"));
        };
        let object = self
            .model
            .get_mut(path)
            .ok_or_else(|| format!("no object {path}"))?;
        let existing = object.events.get(name);
        if is_base && existing.is_none() {
            return Err(format!("event base {path}{name} does not exist"));
        }
        let inherited = existing.map_or(*version, |e| e.version);
        let mut event = existing.cloned().unwrap_or_else(|| Event {
            arguments: BTreeMap::new(),
            status: "current".into(),
            version: inherited,
        });
        if let Some(s) = node.attribute("status") {
            event.status = s.into();
        }
        event.version = item_version(ctx, node, inherited)?;
        let version = event.version;
        object.events.insert(name.to_owned(), event);
        let slot = ArgSlot {
            object: path.clone(),
            item: name.to_owned(),
            which: Which::Event,
        };
        self.items(
            ctx,
            node,
            &Target::Args {
                slot,
                prefix: String::new(),
                version,
            },
        )
    }

    fn drop_deleted(&mut self) {
        self.model.retain(|_, o| o.info.status != "deleted");
        for object in self.model.values_mut() {
            object.params.retain(|_, p| p.status != "deleted");
            object.events.retain(|_, e| e.status != "deleted");
            object.commands.retain(|_, c| c.status != "deleted");
            for command in object.commands.values_mut() {
                command.input.retain(|_, p| p.status != "deleted");
                command.output.retain(|_, p| p.status != "deleted");
            }
            for event in object.events.values_mut() {
                event.arguments.retain(|_, p| p.status != "deleted");
            }
        }
    }
}

/// Reads a `<parameter>` (a definition, or a modification of `existing`).
fn param_def(
    docs: &Docs,
    top: usize,
    ctx: Ctx,
    node: Node<'_, 'static>,
    existing: Option<&Param>,
    inherited: Version,
) -> Result<Param, String> {
    let inherited = existing.map_or(inherited, |p| p.version);
    let mut param = existing.cloned().unwrap_or_else(|| Param {
        access: "readOnly".into(),
        syntax: Syntax::default(),
        status: "current".into(),
        version: inherited,
        forced_inform: false,
        active_notify: "normal".into(),
        mandatory: false,
    });
    if let Some(a) = node.attribute("access") {
        param.access = a.into();
    }
    if let Some(s) = node.attribute("status") {
        param.status = s.into();
    }
    if let Some(f) = node.attribute("forcedInform") {
        param.forced_inform = f == "true";
    }
    if let Some(a) = node.attribute("activeNotify") {
        param.active_notify = a.into();
    }
    if let Some(m) = node.attribute("mandatory") {
        param.mandatory = m == "true";
    }
    param.version = item_version(ctx, node, inherited)?;
    if let Some(syntax) = node.children().find(|c| c.has_tag_name("syntax")) {
        let mut resolver = SyntaxReader {
            docs,
            top,
            doc: ctx.doc,
        };
        resolver.syntax(syntax, &mut param.syntax)?;
    }
    if param.syntax.base.is_empty() {
        return Err(format!(
            "parameter {:?} has no type",
            node.attribute("name").or_else(|| node.attribute("base"))
        ));
    }
    Ok(param)
}

const BASE_TYPES: [&str; 10] = [
    "string",
    "boolean",
    "int",
    "unsignedInt",
    "long",
    "unsignedLong",
    "dateTime",
    "base64",
    "hexBinary",
    "decimal",
];

struct SyntaxReader<'d> {
    docs: &'d Docs,
    top: usize,
    doc: usize,
}

impl SyntaxReader<'_> {
    /// Applies a `<syntax>` element to `syn` (which holds the existing syntax for a `base=`).
    fn syntax(&mut self, node: Node<'_, 'static>, syn: &mut Syntax) -> Result<(), String> {
        if let Some(v) = node.attribute("hidden") {
            syn.hidden = v == "true";
        }
        if let Some(v) = node.attribute("secured") {
            syn.secured = v == "true";
        }
        if let Some(v) = node.attribute("command") {
            syn.command = v == "true";
        }
        self.body(node, syn)
    }

    /// The children of a `<syntax>` or `<dataType>` definition.
    fn body(&mut self, node: Node<'_, 'static>, syn: &mut Syntax) -> Result<(), String> {
        for child in node.children().filter(Node::is_element) {
            let tag = child.tag_name().name();
            match tag {
                "list" => {
                    let mut list = syn.list.clone().unwrap_or_default();
                    if let Some(m) = child.attribute("minItems") {
                        list.min_items = m.parse().map_err(|_| format!("bad minItems {m}"))?;
                    }
                    if let Some(m) = child.attribute("maxItems") {
                        list.max_items = Some(m.parse().map_err(|_| format!("bad maxItems {m}"))?);
                    }
                    if let Some(size) = child.children().find(|c| c.has_tag_name("size")) {
                        list.max_length = size_facet(size)?.max;
                    }
                    syn.list = Some(list);
                }
                "dataType" => {
                    let name = child
                        .attribute("ref")
                        .or_else(|| child.attribute("base"))
                        .ok_or("dataType without ref")?;
                    let mut base = self.data_type(name)?;
                    // The parameter's own facets refine the data type's.
                    self.facets(child, &mut base)?;
                    base.list = syn.list.clone().or(base.list);
                    base.hidden |= syn.hidden;
                    base.secured |= syn.secured;
                    base.command |= syn.command;
                    base.default = syn.default.clone().or(base.default);
                    *syn = base;
                }
                "default" => {
                    let kind = child.attribute("type").unwrap_or("object").to_owned();
                    let value = child.attribute("value").unwrap_or("").to_owned();
                    syn.default = Some((kind, value));
                }
                t if BASE_TYPES.contains(&t) => {
                    if syn.base != t {
                        // A new type: facets of the old one no longer apply.
                        let keep = (
                            syn.list.clone(),
                            syn.default.clone(),
                            syn.hidden,
                            syn.secured,
                            syn.command,
                        );
                        *syn = Syntax {
                            base: t.to_owned(),
                            ..Syntax::default()
                        };
                        (syn.list, syn.default, syn.hidden, syn.secured, syn.command) = keep;
                    }
                    self.facets(child, syn)?;
                }
                _ => {}
            }
        }
        // Loose facets directly in a derived `<dataType base=...>`.
        self.facets(node, syn)
    }

    /// Resolves a named data type to its full syntax.
    fn data_type(&mut self, name: &str) -> Result<Syntax, String> {
        let from = if self.docs.binds(self.top, Kind::DataType, name) {
            self.top
        } else {
            self.doc
        };
        let def = self.docs.resolve(from, Kind::DataType, name)?;
        let mut syn = match def.node.attribute("base") {
            Some(base) => {
                let mut inner = SyntaxReader {
                    docs: self.docs,
                    top: self.top,
                    doc: def.doc,
                };
                inner.data_type(base)?
            }
            None => Syntax::default(),
        };
        let mut inner = SyntaxReader {
            docs: self.docs,
            top: self.top,
            doc: def.doc,
        };
        inner.body(def.node, &mut syn)?;
        syn.data_type = Some(public_type_name(name));
        Ok(syn)
    }

    /// Facet children of `node`: replace sizes/ranges, merge enumerations/patterns by value.
    fn facets(&mut self, node: Node<'_, 'static>, syn: &mut Syntax) -> Result<(), String> {
        let sizes = node
            .children()
            .filter(|c| c.has_tag_name("size"))
            .map(size_facet)
            .collect::<Result<Vec<_>, _>>()?;
        if !sizes.is_empty() {
            syn.sizes = sizes
                .into_iter()
                .filter(|s| s.min.is_some() || s.max.is_some())
                .collect();
        }
        let ranges = node
            .children()
            .filter(|c| c.has_tag_name("range"))
            .map(range_facet)
            .collect::<Result<Vec<_>, _>>()?;
        if !ranges.is_empty() {
            syn.ranges = ranges;
        }
        for (tag, values) in [
            ("enumeration", &mut syn.enumerations),
            ("pattern", &mut syn.patterns),
        ] {
            for item in node.children().filter(|c| c.has_tag_name(tag)) {
                let value = item
                    .attribute("value")
                    .ok_or("facet without value")?
                    .to_owned();
                let deleted = item.attribute("status") == Some("deleted");
                values.retain(|v| *v != value);
                if !deleted {
                    values.push(value);
                }
            }
        }
        for child in node.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "units" => syn.units = child.attribute("value").map(str::to_owned),
                "pathRef" | "instanceRef" => {
                    let target_parents = child
                        .attribute("targetParent")
                        .map(|t| t.split_whitespace().map(str::to_owned).collect())
                        .unwrap_or_default();
                    let target_type = match child.tag_name().name() {
                        "instanceRef" => "row".to_owned(),
                        _ => child.attribute("targetType").unwrap_or("any").to_owned(),
                    };
                    syn.reference = Some(Reference::Path {
                        ref_type: child.attribute("refType").unwrap_or("weak").to_owned(),
                        target_type,
                        target_parents,
                    });
                }
                "enumerationRef" => {
                    syn.reference = Some(Reference::Enumeration {
                        target_param: child
                            .attribute("targetParam")
                            .ok_or("enumerationRef without targetParam")?
                            .to_owned(),
                        null_value: child.attribute("nullValue").map(str::to_owned),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// `_AliasUSP` and `_AliasCWMP` are variants of the public `Alias` type.
fn public_type_name(name: &str) -> String {
    match name.strip_prefix('_') {
        Some(rest) => rest
            .trim_end_matches("Common")
            .trim_end_matches("CWMP")
            .trim_end_matches("USP")
            .to_owned(),
        None => name.to_owned(),
    }
}

fn size_facet(node: Node<'_, '_>) -> Result<Size, String> {
    Ok(Size {
        min: num_attr(node, "minLength")?,
        max: num_attr(node, "maxLength")?,
    })
}

fn range_facet(node: Node<'_, '_>) -> Result<Range, String> {
    Ok(Range {
        min: num_attr(node, "minInclusive")?,
        max: num_attr(node, "maxInclusive")?,
        step: num_attr(node, "step")?,
    })
}

fn num_attr<T: std::str::FromStr>(node: Node<'_, '_>, name: &str) -> Result<Option<T>, String> {
    node.attribute(name)
        .map(|v| v.parse().map_err(|_| format!("bad {name}={v:?}")))
        .transpose()
}

fn name_or_base<'a>(node: Node<'a, 'static>) -> Result<(&'a str, bool), String> {
    match (node.attribute("name"), node.attribute("base")) {
        (Some(name), _) => Ok((name, false)),
        (None, Some(base)) => Ok((base, true)),
        (None, None) => Err(format!("{} without name or base", node.tag_name().name())),
    }
}

pub(crate) fn parse_version(text: &str) -> Result<Version, String> {
    let mut parts = text.split('.').map(|p| p.parse::<u8>());
    let bad = || format!("bad version {text:?}");
    let major = parts.next().ok_or_else(bad)?.map_err(|_| bad())?;
    let minor = parts.next().transpose().map_err(|_| bad())?.unwrap_or(0);
    let patch = parts.next().transpose().map_err(|_| bad())?.unwrap_or(0);
    Ok((major, minor, patch))
}

/// The item's own version (or the inherited one), raised to the component reference's.
fn item_version(ctx: Ctx, node: Node<'_, 'static>, inherited: Version) -> Result<Version, String> {
    let own = node
        .attribute("version")
        .map(parse_version)
        .transpose()?
        .unwrap_or(inherited);
    Ok(max_version(Some(own), ctx.clamp).unwrap_or(own))
}

fn max_version(a: Option<Version>, b: Option<Version>) -> Option<Version> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// `Device.A.B.{i}.` → `Device.A.`; `Device.A.` → `Device.`.
pub(crate) fn parent_path(path: &str) -> Option<&str> {
    let trimmed = path.strip_suffix('.')?;
    let trimmed = trimmed.strip_suffix(".{i}").unwrap_or(trimmed);
    trimmed.rfind('.').map(|i| &path[..=i])
}

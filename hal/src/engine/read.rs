//! Reads: Get, GetParameterNames, GetInstances, GetSupportedDM, and the refresh from the
//! hardware (live values, discovered rows) that precedes them.

use std::collections::{BTreeMap, BTreeSet};
use std::string::{String, ToString};
use std::vec::Vec;

use tr181_model::path::Path;
use tr181_model::schema::{self, Object, Parameter, Protocol};
use tr181_model::store::{InstanceInfo, NameInfo, Origin, Resolution, Resolved, Store};
use tr181_model::value::Value;

use super::gate::Guard;
use super::response::GetBuilder;
use super::{
    Engine, Failure, GetInstancesRequest, GetInstancesResponse, GetNamesRequest, GetRequest,
    GetResponse, PathResult, Principal, SupportedRequest, SupportedResponse, Target, parse_path,
    parse_read_path, schema_path_of, shown,
};
use crate::error::EngineError;
use crate::traits::{DiscoveredRow, Parameters};

/// The schema-path prefix a requested path lies under: its text up to the first search,
/// wildcard or reference follow, instance numbers turned into `{i}`.
fn schema_prefix(path: &str) -> String {
    let end = path.find(['[', '*', '+', '#']).unwrap_or(path.len());
    let head = path.get(..end).unwrap_or(path);
    let head = match head.rfind('.') {
        Some(dot) if end < path.len() => head.get(..=dot).unwrap_or(head),
        _ => head,
    };
    let prefix = schema_path_of(head);
    if prefix.is_empty() {
        "Device.".into()
    } else {
        prefix
    }
}

/// Whether two schema paths lie on one branch (one is a prefix of the other).
fn related(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

impl Engine {
    /// Brings the parts of the store that `paths` touch up to date with the hardware:
    /// discovered tables first (rows may appear), then live values. Called with the gate held.
    async fn refresh(&self, protocol: Protocol, paths: &[&str], max_depth: Option<u32>) {
        self.refresh_tables(protocol, paths).await;
        let live = self.live_objects(protocol, paths, max_depth);
        self.read_live(live.objects).await;
    }

    /// Brings the discovered tables that `paths` touch up to date (rows may appear or go).
    async fn refresh_tables(&self, protocol: Protocol, paths: &[&str]) {
        let prefixes: Vec<String> = paths.iter().map(|p| schema_prefix(p)).collect();
        let tables = self.hal.tables.discovered_tables();
        for table in tables {
            let table_prefix = table.strip_suffix("{i}.").unwrap_or(table);
            if !prefixes.iter().any(|p| related(p, table_prefix)) {
                continue;
            }
            for concrete in self.table_instances(table_prefix, protocol) {
                self.discover_table(&concrete, protocol).await;
            }
        }
    }

    /// Reads the live parameters `live` (object instance, names) from the hardware into the
    /// store.
    async fn read_live(&self, live: Vec<(String, Vec<&'static str>)>) {
        for (object, names) in live {
            let Ok(values) = self.hal.parameters.read(&object, &names).await else {
                continue;
            };
            let mut store = self.store();
            let mut txn = store.transaction(Origin::Device);
            for (name, value) in values {
                // A value the model refuses is the hardware's bug; keep the stored one.
                let _ = txn.set_value(&std::format!("{object}{name}"), value);
            }
            let _ = txn.commit();
        }
    }

    /// The concrete paths of the table with schema path `table` (`Device.Hosts.Host.`,
    /// `Device.WiFi.AccessPoint.{i}.AssociatedDevice.`).
    fn table_instances(&self, table: &str, protocol: Protocol) -> Vec<String> {
        let store = self.store();
        let search = table.replace("{i}", "*");
        let Ok(path) = Path::parse(&search, store.limits()) else {
            return Vec::new();
        };
        match store.resolve(&path, protocol) {
            Ok(found) => found
                .iter()
                .filter(|item| matches!(item, Resolved::Table { .. }))
                .map(|item| found.path(item))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The object instances under `paths` with live parameters, and those parameters' names.
    fn live_objects(
        &self,
        protocol: Protocol,
        paths: &[&str],
        max_depth: Option<u32>,
    ) -> LiveParams {
        let store = self.store();
        let mut live = LiveParams::default();
        for path in paths {
            // Only a refresh: the read itself decides whether its paths may hold wildcards.
            let Ok(parsed) = parse_read_path(path, protocol, true, store.limits()) else {
                continue;
            };
            let Ok(found) = store.resolve(&parsed, protocol) else {
                continue;
            };
            let _ = each_param(&store, &found, protocol, max_depth, |found| {
                live.note(
                    self.hal.parameters.as_ref(),
                    found.object,
                    found.name,
                    found.schema,
                );
                Ok(())
            });
        }
        live
    }

    /// Calls [`Tables::discover`](crate::traits::Tables::discover) for the concrete table
    /// `table` and makes the store's rows match.
    pub(super) async fn discover_table(&self, table: &str, protocol: Protocol) {
        let Ok(rows) = self.hal.tables.discover(table).await else {
            return;
        };
        let mut store = self.store();
        reconcile(&mut store, table, protocol, rows);
    }

    /// Checks a read of `paths`, takes the write gate (returned: hold it while reading the
    /// store) and refreshes what the paths touch from the hardware.
    async fn enter_read<S: AsRef<str>>(
        &self,
        protocol: Protocol,
        paths: &[S],
        max_depth: Option<u32>,
    ) -> Result<Guard<'_>, EngineError> {
        self.require_started()?;
        self.check_items(paths.len())?;
        let gate = self.gate.enter().await;
        let paths: Vec<&str> = paths.iter().map(AsRef::as_ref).collect();
        self.refresh(protocol, &paths, max_depth).await;
        Ok(gate)
    }

    /// Reads parameter values (CWMP GetParameterValues, USP Get).
    ///
    /// Each requested path gets its own result: a failure (unknown path, bad syntax, a
    /// parameter named directly that the principal may not read) fails only that path. A
    /// search that matches nothing is success with no objects; parameters the principal may
    /// not read are left out. Live parameters are read from the hardware first. Hidden and
    /// secured values read as empty (see [`access`](super::access)).
    pub async fn get(
        &self,
        principal: &Principal,
        request: &GetRequest,
    ) -> Result<GetResponse, EngineError> {
        self.require_started()?;
        self.check_items(request.paths.len())?;
        let _gate = self.gate.enter().await;
        let paths: Vec<&str> = request.paths.iter().map(String::as_str).collect();
        self.refresh_tables(principal.protocol, &paths).await;
        // One resolution gives both the answer and the live parameters in it; their values
        // are read from the hardware afterwards and put into the answer.
        let mut live = LiveParams::default();
        let mut response = GetBuilder::default();
        let reads_secured = {
            let store = self.store();
            let reads_secured = self.reads_secured(&store, principal);
            for path in &request.paths {
                response.begin_path();
                let slots = live.slots.len();
                let outcome = self.get_one(
                    &store,
                    principal,
                    path,
                    request,
                    reads_secured,
                    &mut live,
                    &mut response,
                );
                if outcome.is_err() {
                    live.slots.truncate(slots);
                }
                response.finish_path(path, outcome);
            }
            reads_secured
        };
        if !live.objects.is_empty() {
            self.read_live(std::mem::take(&mut live.objects)).await;
            let store = self.store();
            for index in live.slots {
                if let Some((path, parameter, value)) = response.param_mut(index)
                    && let Ok(stored) = store.value(path)
                {
                    let stored = schema::variant_value(path, parameter, stored, principal.protocol)
                        .unwrap_or_else(|| stored.clone());
                    *value = shown(parameter, stored, reads_secured);
                }
            }
        }
        Ok(response.finish())
    }

    /// Answers one requested path of a Get into `response`.
    #[allow(clippy::too_many_arguments)] // The Get's state, passed down once per path.
    fn get_one(
        &self,
        store: &Store,
        principal: &Principal,
        path: &str,
        request: &GetRequest,
        reads_secured: bool,
        live: &mut LiveParams,
        response: &mut GetBuilder,
    ) -> Result<(), EngineError> {
        let wildcards = request.instance_wildcards;
        let parsed = parse_read_path(path, principal.protocol, wildcards, store.limits())?;
        let direct = parsed.is_plain() && !parsed.is_object();
        let found = store.resolve(&parsed, principal.protocol)?;
        if !parsed.is_object() {
            // Every item of a parameter path is one parameter.
            response.reserve(found.len());
        }
        let max_depth = request.max_depth;
        each_param(store, &found, principal.protocol, max_depth, |found| {
            let Addressed {
                object,
                new_object,
                value,
                parameter,
                name,
                schema,
            } = found;
            let is_live = live.note(self.hal.parameters.as_ref(), object, name, schema);
            let full = response.stage(object, name);
            if !self
                .permissions(store, principal, full, Target::Parameter)
                .read
            {
                if direct {
                    return Err(EngineError::PermissionDenied { path: full.into() });
                }
                return Ok(());
            }
            // The store shows secured values as empty; this principal may read them.
            let value = if parameter.syntax().secured() && reads_secured {
                store.value(full).map_or_else(
                    |_| value.clone(),
                    |value| shown(parameter, value.clone(), reads_secured),
                )
            } else {
                schema::variant_value(full, parameter, value, principal.protocol)
                    .unwrap_or_else(|| value.clone())
            };
            let index = response.push(value, parameter, new_object);
            if is_live {
                live.slots.push(index);
            }
            Ok(())
        })
    }

    /// Reads parameter and object names with their writability (CWMP GetParameterNames).
    ///
    /// The empty path means `Device.`. `next_level` on a parameter path is
    /// [`EngineError::InvalidArguments`] (CWMP 9003). A path with instance wildcards gives the
    /// names of each object or parameter it matches in turn (none when it matches nothing).
    /// Items the principal may not read are left out.
    pub async fn get_names(
        &self,
        principal: &Principal,
        request: &GetNamesRequest,
    ) -> Result<Vec<NameInfo>, EngineError> {
        let path = if request.path.is_empty() {
            "Device."
        } else {
            request.path.as_str()
        };
        let _gate = self.enter_read(principal.protocol, &[path], None).await?;
        let store = self.store();
        let wildcards = request.instance_wildcards;
        let parsed = parse_read_path(path, principal.protocol, wildcards, store.limits())?;
        if request.next_level && !parsed.is_object() {
            return Err(EngineError::InvalidArguments {
                path: path.into(),
                reason: "NextLevel is true for a parameter path",
                command: false,
            });
        }
        let names = if parsed.is_plain() {
            store.names(path, principal.protocol, request.next_level)?
        } else {
            let found = store.resolve(&parsed, principal.protocol)?;
            let mut names = Vec::new();
            for item in &found {
                let item = found.path(item);
                names.extend(store.names(&item, principal.protocol, request.next_level)?);
            }
            names
        };
        Ok(names
            .into_iter()
            .filter(|n| {
                let target = if n.path.ends_with('.') {
                    Target::Object
                } else {
                    Target::Parameter
                };
                self.permissions(&store, principal, &n.path, target).read
            })
            .collect())
    }

    /// Lists the rows at or below each path with their unique keys (USP GetInstances). Rows
    /// the principal may not read are left out.
    pub async fn get_instances(
        &self,
        principal: &Principal,
        request: &GetInstancesRequest,
    ) -> Result<GetInstancesResponse, EngineError> {
        let _gate = self
            .enter_read(principal.protocol, &request.paths, Some(0))
            .await?;
        let store = self.store();
        let results = per_path(&request.paths, |path| {
            self.instances_one(&store, principal, path, request.first_level_only)
        });
        Ok(GetInstancesResponse { results })
    }

    fn instances_one(
        &self,
        store: &Store,
        principal: &Principal,
        path: &str,
        first_level_only: bool,
    ) -> Result<Vec<InstanceInfo>, EngineError> {
        let parsed = parse_path(path, principal.protocol, store.limits())?;
        if !parsed.is_object() {
            return Err(tr181_model::Error::UnknownPath { path: path.into() }.into());
        }
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let found = store.resolve(&parsed, principal.protocol)?;
        for item in &found {
            let (Resolved::Object { .. } | Resolved::Table { .. }) = item else {
                continue;
            };
            let object = found.path(item);
            for info in store.instances(&object, principal.protocol, first_level_only)? {
                if seen.insert(info.path.clone())
                    && self
                        .permissions(store, principal, &info.path, Target::Instance)
                        .read
                {
                    out.push(info);
                }
            }
        }
        Ok(out)
    }

    /// The supported data model below each path, from the schema (USP GetSupportedDM).
    /// Objects the principal may not read are left out.
    pub fn get_supported(
        &self,
        principal: &Principal,
        request: &SupportedRequest,
    ) -> Result<SupportedResponse, EngineError> {
        self.check_items(request.paths.len())?;
        let store = self.store();
        let results = per_path(&request.paths, |path| {
            self.supported_one(&store, principal, path, request.first_level_only)
        });
        Ok(SupportedResponse { results })
    }

    fn supported_one(
        &self,
        store: &Store,
        principal: &Principal,
        path: &str,
        first_level_only: bool,
    ) -> Result<Vec<&'static Object>, EngineError> {
        let protocol = principal.protocol;
        let parsed = parse_path(path, protocol, store.limits())?;
        let unknown = || EngineError::from(tr181_model::Error::UnknownPath { path: path.into() });
        if !parsed.is_object() {
            return Err(unknown());
        }
        let schema_path = parsed.schema_path().ok_or_else(unknown)?;
        let schema_path = if schema_path.is_empty() {
            "Device.".to_string()
        } else {
            schema_path
        };
        let root = schema::object(&schema_path, protocol)
            .or_else(|| schema::object(&std::format!("{schema_path}{{i}}."), protocol))
            .ok_or_else(unknown)?;
        let mut out = std::vec![root];
        if first_level_only {
            out.extend(root.children(protocol));
        } else {
            out.extend(schema::objects(protocol).filter(|o| {
                o.path().len() > root.path().len() && o.path().starts_with(root.path())
            }));
        }
        out.retain(|o| {
            self.permissions(store, principal, o.path(), Target::Object)
                .read
        });
        Ok(out)
    }
}

/// The live parameters a read meets: the object instances to read from the hardware with
/// their parameters' names (each once), and, for a Get, which parameters of the answer hold
/// live values.
#[derive(Default)]
struct LiveParams {
    objects: Vec<(String, Vec<&'static str>)>,
    /// Indexes of a Get's parameters ([`GetBuilder::push`]).
    slots: Vec<usize>,
    /// The last object instance asked about and its schema path (results come grouped by
    /// object: one schema path per object, not per parameter).
    last: Option<(String, String)>,
    /// The last object definition and parameter name given by the caller and whether the
    /// hardware provides the parameter live: the rows of a table ask the same question.
    known: Option<(&'static Object, &'static str, bool)>,
}

impl LiveParams {
    /// Notes parameter `name` of object instance `object` (with trailing dot) if the hardware
    /// provides it live; returns whether it does. `schema` is the object's definition if the
    /// caller knows it (otherwise its schema path is worked out from `object`).
    fn note(
        &mut self,
        hal: &dyn Parameters,
        object: &str,
        name: &'static str,
        schema: Option<&'static Object>,
    ) -> bool {
        let live = match (schema, self.known, &self.last) {
            (Some(schema), Some((known, known_name, live)), _)
                if core::ptr::eq(schema, known) && core::ptr::eq(name, known_name) =>
            {
                live
            }
            (Some(schema), ..) => {
                let live = hal.is_live(schema.path(), name);
                self.known = Some((schema, name, live));
                live
            }
            (None, _, Some((last, schema))) if last == object => hal.is_live(schema, name),
            (None, ..) => {
                let (_, schema) = self
                    .last
                    .insert((object.to_string(), schema_path_of(object)));
                hal.is_live(schema, name)
            }
        };
        if !live {
            return false;
        }
        match self.objects.iter_mut().find(|(o, _)| o == object) {
            Some((_, names)) => {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            None => self.objects.push((object.to_string(), std::vec![name])),
        }
        true
    }
}

/// One result per requested path, in request order, each from `one`.
fn per_path<T>(
    paths: &[String],
    mut one: impl FnMut(&str) -> Result<T, EngineError>,
) -> Vec<PathResult<T>> {
    paths
        .iter()
        .map(|path| PathResult::new(path, one(path).map_err(Failure::new)))
        .collect()
}

/// One parameter a requested path addresses, as [`each_param`] gives it.
struct Addressed<'a> {
    /// Its object instance's path, with trailing dot; the parameter's path is this followed
    /// by `name`.
    object: &'a str,
    /// Whether it starts a new object instance, when known without comparing paths.
    new_object: Option<bool>,
    /// The value as the controller sees it.
    value: &'a Value,
    parameter: &'static Parameter,
    /// [`Parameter::name`].
    name: &'static str,
    /// Its object's definition, when the resolver gives it.
    schema: Option<&'static Object>,
}

/// Calls `f` with each parameter the items `found` of a requested path address, in path
/// order; stops at `f`'s first error.
fn each_param<'s>(
    store: &'s Store,
    found: &Resolution<'s>,
    protocol: Protocol,
    max_depth: Option<u32>,
    mut f: impl FnMut(Addressed<'_>) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let mut routes = found.route_writer();
    let mut last_route = None;
    // The parameter items of one resolution share a definition: its name is read once.
    let mut last_name: Option<(&'static Parameter, &'static str)> = None;
    for item in found {
        match item {
            Resolved::Object { .. } | Resolved::Table { .. } => {
                let mut outcome = Ok(());
                store.each_parameter(
                    &found.path(item),
                    protocol,
                    max_depth,
                    |object, value, parameter| {
                        if outcome.is_ok() {
                            outcome = f(Addressed {
                                object,
                                new_object: None,
                                value,
                                parameter,
                                name: parameter.name(),
                                schema: None,
                            });
                        }
                    },
                )?;
                outcome?;
            }
            Resolved::Parameter {
                route,
                value,
                parameter,
                object,
            } => {
                // The parameter items of one resolution share a name, and the resolver gives
                // no duplicates: another route is another object instance.
                let new_object = last_route != Some(*route);
                last_route = Some(*route);
                let name = match last_name {
                    Some((known, name)) if core::ptr::eq(known, *parameter) => name,
                    _ => last_name.insert((parameter, parameter.name())).1,
                };
                f(Addressed {
                    object: routes.route(*route),
                    new_object: Some(new_object),
                    value,
                    parameter,
                    name,
                    schema: Some(object),
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The text of the value of parameter `name` among `values`, if both are there.
fn key_text<N: AsRef<str>>(name: Option<&str>, values: &[(N, Value)]) -> Option<String> {
    let name = name?;
    values
        .iter()
        .find(|(n, _)| n.as_ref() == name)
        .map(|(_, v)| v.canonical_text())
}

/// Rewrites the items of a path-reference `value` of parameter `schema_path` that name their
/// target by unique key (`Device.Hosts.Host.[PhysAddress=="AA:BB:CC:00:00:01"]`: a device
/// knows a LAN host by its MAC, not by the number the store gave its row) to instance numbers;
/// an item that names no existing row is left out (an empty single value).
fn number_references(store: &Store, schema_path: &str, value: &mut Value, protocol: Protocol) {
    let keyed = |item: &Value| matches!(item, Value::String(text) if text.contains('['));
    let has_keys = match &*value {
        Value::List(items) => items.iter().any(keyed),
        single => keyed(single),
    };
    let is_path_reference = has_keys
        && schema::parameter(schema_path, protocol)
            .and_then(|p| p.syntax().reference())
            .is_some_and(|r| matches!(r, schema::Reference::Path(_)));
    if !is_path_reference {
        return;
    }
    let numbered = |item: &str| store.numbered_reference(item, protocol);
    match value {
        Value::List(items) => items.retain_mut(|item| match item {
            Value::String(text) if text.contains('[') => {
                numbered(text).map(|number| *text = number).is_some()
            }
            _ => true,
        }),
        Value::String(item) => *item = numbered(item).unwrap_or_default(),
        _ => {}
    }
}

/// Makes the rows of `table` match `rows`: matched by instance number when the device gives
/// one, else by the table's unique key (its first key not made only of `Alias`).
fn reconcile(store: &mut Store, table: &str, protocol: Protocol, mut rows: Vec<DiscoveredRow>) {
    let Ok(existing) = store.instances(table, protocol, true) else {
        return;
    };
    let row_schema = std::format!("{}{{i}}.", schema_path_of(table));
    let key: Vec<&'static str> = schema::object(&row_schema, protocol)
        .and_then(|o| {
            o.unique_keys()
                .iter()
                .find(|k| k.parameters().iter().any(|p| p != "Alias"))
        })
        .map(|k| k.parameters().iter().collect())
        .unwrap_or_default();
    let number_of =
        |path: &str| -> Option<u32> { path.strip_prefix(table)?.strip_suffix('.')?.parse().ok() };
    let matches = |info: &InstanceInfo, row: &DiscoveredRow| {
        !key.is_empty()
            && key.iter().all(|name| {
                let stored = info.keys.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                let given = row.values.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                stored.is_some() && stored == given
            })
    };
    // Indexes over the existing rows, so that matching each discovered row is not a scan:
    // their numbers, and the rows by the text of their first key value (candidates only; the
    // values are then compared as before, the first matching row in order wins).
    let numbers: BTreeSet<u32> = existing.iter().filter_map(|i| number_of(&i.path)).collect();
    let first_key = key.first().copied();
    let mut by_key: BTreeMap<String, Vec<&InstanceInfo>> = BTreeMap::new();
    for info in &existing {
        if let Some(text) = key_text(first_key, &info.keys) {
            by_key.entry(text).or_default().push(info);
        }
    }
    for (name, value) in rows.iter_mut().flat_map(|row| row.values.iter_mut()) {
        number_references(store, &std::format!("{row_schema}{name}"), value, protocol);
    }
    let mut txn = store.transaction(Origin::Device);
    let mut kept: BTreeSet<u32> = BTreeSet::new();
    for row in rows {
        let number = match row.number {
            Some(n) => {
                if !numbers.contains(&n) && txn.add_numbered(table, n, &[]).is_err() {
                    continue;
                }
                n
            }
            None => match key_text(first_key, &row.values)
                .and_then(|text| by_key.get(&text))
                .and_then(|candidates| candidates.iter().find(|info| matches(info, &row)))
                .and_then(|info| number_of(&info.path))
            {
                Some(n) => n,
                None => match txn.add(table, &[]) {
                    Ok(n) => n,
                    Err(_) => continue,
                },
            },
        };
        kept.insert(number);
        for (name, value) in row.values {
            let _ = txn.set_value(&std::format!("{table}{number}.{name}"), value);
        }
    }
    for info in &existing {
        if number_of(&info.path).is_some_and(|n| !kept.contains(&n)) {
            let _ = txn.delete(&info.path);
        }
    }
    let _ = txn.commit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_prefixes_stop_at_searches() {
        assert_eq!(schema_prefix("Device.Hosts."), "Device.Hosts.");
        assert_eq!(
            schema_prefix("Device.WiFi.SSID.1.SSID"),
            "Device.WiFi.SSID.{i}.SSID"
        );
        assert_eq!(
            schema_prefix("Device.WiFi.AccessPoint.*.AssociatedDevice."),
            "Device.WiFi.AccessPoint."
        );
        assert_eq!(schema_prefix(""), "Device.");
        assert!(related("Device.", "Device.Hosts.Host."));
        assert!(!related("Device.WiFi.", "Device.Hosts.Host."));
    }
}

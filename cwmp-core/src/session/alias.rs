//! Alias-based addressing (TR-069 §3.6.1 and Appendix II, CWMP 1.2+): `[alias]` in place of
//! an instance number, `Device.NAT.PortMapping.[web].Enable`.
//!
//! | `Device.ManagementServer.` | Here |
//! |---|---|
//! | `AliasBasedAddressing` true (the device says the CPE supports it) | the names of GetParameterValues, SetParameterValues, GetParameterNames, Get/SetParameterAttributes, AddObject and DeleteObject may hold `[alias]` segments, each the row of that table whose `Alias` is `alias`; instance numbers keep working |
//! | `InstanceMode` `InstanceAlias` | the names GetParameterValues, GetParameterNames and GetParameterAttributes return use `[alias]` for every row that has an Alias (rows without one keep their number) |
//! | `AutoCreateInstances` true | SetParameterValues creates each row an alias names that does not exist, with that `Alias`, outer rows first, then sets the values |
//!
//! | Case | Fault |
//! |---|---|
//! | an alias names no row (GetParameterValues, GetParameterNames, attributes, DeleteObject) | 9005 |
//! | the same in SetParameterValues without `AutoCreateInstances` | 9003, with a 9005 `SetParameterValuesFault` for that parameter |
//! | AddObject `Table.[alias].` with an alias a row of that table has already | 9003 |
//! | more than [`MAX_AUTO_CREATED`] rows to create for one SetParameterValues | 9004 |
//! | `[...]` that is no valid Alias (TR-181 rules, [`tr181_model::path::is_alias`]) | the engine's 9005 for a malformed name |
//! | an `[alias]` after an instance wildcard `*` (`Table.*.Sub.[alias].`): each row would need its own lookup | 9005 |
//!
//! An ACS request that needs aliases first reads every row's unique keys from the engine
//! (`GetInstances` of `Device.`, one read for the whole request), then runs with instance
//! numbers. AddObject `Table.[alias].` creates the row with that `Alias`. Each row
//! `AutoCreateInstances` creates is one `Add`, and joins the aliases already read from the
//! `Add`'s answer. When the SetParameterValues then fails (any fault, its values or the
//! creation of a later row), the rows it created are deleted again, innermost first, before
//! the fault is answered: a failed SetParameterValues leaves the model as it was. (A session
//! that ends before the answer, e.g. the ACS gone, leaves the rows created so far.) The
//! Inform's names keep instance numbers.
//!
//! Sources: the TR-181 descriptions of `AliasBasedAddressing`, `InstanceMode` and
//! `AutoCreateInstances`, the `Alias` data type, and FACTS §11 for the fault codes; the
//! TR-069 §3.6.1 and Appendix II text itself was not at hand, so the fault for a duplicate
//! alias in AddObject (9003) and the Inform keeping numbers are our reading.

use hal::engine::{
    AddRequest, DeleteRequest, EngineRequest, EngineResult, GetInstancesRequest,
    GetInstancesResponse, ObjectCreation, ParamSetting,
};
use tr181_model::path::instance_alias;
use tr181_model::value::Value;

use super::rpc::{engine_fault, invalid_arguments};
use super::{Pending, Phase, Session, SessionError, fault_body};
use crate::codec::{Body, CwmpNamespace, Envelope, SetParameterValuesFault};

/// Most rows one SetParameterValues may create with `AutoCreateInstances`.
pub const MAX_AUTO_CREATED: usize = 16;

/// The rows that have an Alias, as read for one ACS request.
#[derive(Debug, Default)]
pub(crate) struct AliasMap {
    /// (row path with instance numbers and trailing dot, its Alias); a list rather than a
    /// map, which would cost the agent binary more than the scans cost time for the few
    /// hundred rows of a CPE.
    rows: Vec<(String, String)>,
}

/// An alias that names no row.
#[derive(Debug)]
struct Missing {
    /// The table path, instance numbers only.
    table: String,
    /// The alias.
    alias: String,
}

impl AliasMap {
    fn from_instances(response: GetInstancesResponse) -> Self {
        let rows = response
            .results
            .into_iter()
            .filter_map(|r| r.outcome.ok())
            .flatten()
            .filter_map(|info| Some((info.path, alias_key(&info.keys)?)))
            .collect();
        Self { rows }
    }

    /// The row of `table` whose Alias is `alias`.
    fn row(&self, table: &str, alias: &str) -> Option<&str> {
        self.rows
            .iter()
            .find(|(row, a)| a == alias && is_row_of(row, table))
            .map(|(row, _)| row.as_str())
    }

    /// `path` with each `[alias]` segment replaced by its row's instance number.
    fn resolve(&self, path: &str) -> Result<String, Missing> {
        let mut out = String::with_capacity(path.len());
        let mut pieces = path.split('.').peekable();
        while let Some(piece) = pieces.next() {
            let last = pieces.peek().is_none();
            match instance_alias(piece).filter(|_| !last) {
                Some(alias) => {
                    let row = self.row(&out, alias).ok_or_else(|| Missing {
                        table: out.clone(),
                        alias: alias.to_owned(),
                    })?;
                    out = row.to_owned();
                }
                None => {
                    out.push_str(piece);
                    if !last {
                        out.push('.');
                    }
                }
            }
        }
        Ok(out)
    }

    /// `path` with the instance number of each row that has an Alias replaced by `[alias]`.
    fn alias_form(&self, path: &str) -> String {
        let mut numeric = String::with_capacity(path.len());
        let mut out = String::with_capacity(path.len());
        let mut pieces = path.split('.').peekable();
        while let Some(piece) = pieces.next() {
            numeric.push_str(piece);
            if pieces.peek().is_none() {
                out.push_str(piece);
                break;
            }
            numeric.push('.');
            let number = !piece.is_empty() && piece.bytes().all(|b| b.is_ascii_digit());
            let row_alias = self.rows.iter().find(|(row, _)| *row == numeric);
            match row_alias.filter(|_| number).map(|(_, alias)| alias) {
                Some(alias) => {
                    out.push('[');
                    out.push_str(alias);
                    out.push(']');
                }
                None => out.push_str(piece),
            }
            out.push('.');
        }
        out
    }
}

/// The non-empty `Alias` among a row's unique keys.
fn alias_key(keys: &[(&str, Value)]) -> Option<String> {
    let (_, alias) = keys.iter().find(|(name, _)| *name == "Alias")?;
    Some(alias.canonical_text()).filter(|alias| !alias.is_empty())
}

/// Whether `row` is `table` plus one instance number and a dot.
fn is_row_of(row: &str, table: &str) -> bool {
    row.strip_prefix(table)
        .and_then(|rest| rest.strip_suffix('.'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The names of an ACS request that may hold aliases.
fn request_names(body: &mut Body) -> Vec<&mut String> {
    match body {
        Body::GetParameterValues(r) => r.parameter_names.iter_mut().collect(),
        Body::GetParameterAttributes(r) => r.parameter_names.iter_mut().collect(),
        Body::SetParameterValues(r) => r.parameter_list.iter_mut().map(|p| &mut p.name).collect(),
        Body::SetParameterAttributes(r) => {
            r.parameter_list.iter_mut().map(|p| &mut p.name).collect()
        }
        Body::GetParameterNames(r) => vec![&mut r.parameter_path],
        Body::AddObject(r) => vec![&mut r.object_name],
        Body::DeleteObject(r) => vec![&mut r.object_name],
        _ => Vec::new(),
    }
}

/// Whether the request needs the rows' aliases: a name holds an `[alias]` segment, or the
/// response returns names and `alias_mode` asks for them in alias form.
fn needs_aliases(body: &mut Body, alias_mode: bool) -> bool {
    let returns_names = matches!(
        body,
        Body::GetParameterValues(_) | Body::GetParameterNames(_) | Body::GetParameterAttributes(_)
    );
    (alias_mode && returns_names)
        || request_names(body)
            .iter()
            .any(|name| name.split('.').any(|p| instance_alias(p).is_some()))
}

/// Renames the names of a response to their alias form.
pub(crate) fn alias_response(body: &mut Body, map: &AliasMap) {
    let names: Vec<&mut String> = match body {
        Body::GetParameterValuesResponse(r) => {
            r.parameter_list.iter_mut().map(|p| &mut p.name).collect()
        }
        Body::GetParameterNamesResponse(r) => {
            r.parameter_list.iter_mut().map(|p| &mut p.name).collect()
        }
        Body::GetParameterAttributesResponse(r) => {
            r.parameter_list.iter_mut().map(|p| &mut p.name).collect()
        }
        _ => Vec::new(),
    };
    for name in names {
        *name = map.alias_form(name);
    }
}

/// An ACS request waiting for the rows' aliases (or for a row it auto-creates).
#[derive(Debug)]
pub(crate) struct AliasStep {
    envelope: Envelope,
    /// The rows' aliases: read once, then kept up to date with the rows created for it.
    map: AliasMap,
    /// The rows auto-created for it, outer rows first.
    created: Vec<String>,
    /// The parameter whose alias names the row being created (for its fault).
    creating: String,
}

/// What [`Session::run_rpc`] gets from alias resolution besides the resolved names.
#[derive(Debug, Default)]
pub(crate) struct Resolution {
    /// The rows' aliases, when the response's names go in alias form.
    pub(crate) aliases: Option<AliasMap>,
    /// The Alias of the row AddObject adds.
    pub(crate) new_alias: Option<String>,
    /// The rows auto-created for a SetParameterValues, outer rows first: deleted again when
    /// it fails.
    pub(crate) created: Vec<String>,
}

/// A fault waiting for the rows auto-created for its SetParameterValues to be deleted.
#[derive(Debug)]
pub(crate) struct Undo {
    namespace: CwmpNamespace,
    id: Option<String>,
    fault: Body,
}

/// SetParameterValues fault 9003 with one `fault_code` entry for `name`.
fn set_fault(name: String, fault_code: u32, text: &str) -> Body {
    invalid_arguments(vec![SetParameterValuesFault {
        parameter_name: name,
        fault_code,
        fault_string: text.to_owned(),
    }])
}

impl Session {
    /// Starts an ACS request, first reading the rows' aliases when it needs them.
    pub(super) fn start_rpc(&mut self, mut envelope: Envelope) {
        if self.settings.alias_based_addressing
            && needs_aliases(&mut envelope.body, self.settings.instance_alias_mode)
        {
            self.phase = Phase::Executing;
            self.engine_request(
                EngineRequest::GetInstances(GetInstancesRequest::new(["Device."], false)),
                Pending::Aliases(Box::new(AliasStep {
                    envelope,
                    map: AliasMap::default(),
                    created: Vec::new(),
                    creating: String::new(),
                })),
            );
        } else {
            self.run_rpc(envelope, Resolution::default());
        }
    }

    /// Answers `body`; when it is a fault and the request auto-created rows, first deletes
    /// them, innermost first, so that a failed SetParameterValues leaves the model as it
    /// was (TR-069: all or nothing).
    pub(super) fn answer_undoing(
        &mut self,
        namespace: CwmpNamespace,
        id: Option<String>,
        body: Body,
        created: Vec<String>,
    ) {
        if created.is_empty() || !matches!(body, Body::Fault(_)) {
            return self.answer(namespace, id, body);
        }
        self.engine_request(
            EngineRequest::Delete(DeleteRequest::new(created.into_iter().rev())),
            Pending::Undo(Box::new(Undo {
                namespace,
                id,
                fault: body,
            })),
        );
    }

    /// The auto-created rows are deleted (or could not be: nothing more to try): answer the
    /// fault.
    pub(super) fn on_undone(
        &mut self,
        undo: Undo,
        result: EngineResult,
    ) -> Result<(), SessionError> {
        if self.phase == Phase::Executing {
            self.answer(undo.namespace, undo.id, undo.fault);
        }
        match result {
            EngineResult::Delete(_) => Ok(()),
            _ => Err(SessionError::MismatchedResult),
        }
    }

    /// The rows' aliases, or a row auto-created, are in: resolve and run the request.
    pub(super) fn on_alias_step(
        &mut self,
        mut step: AliasStep,
        result: EngineResult,
    ) -> Result<(), SessionError> {
        if self.phase != Phase::Executing {
            return Ok(());
        }
        let (namespace, id) = (step.envelope.namespace, step.envelope.header.id.clone());
        let added = match result {
            EngineResult::GetInstances(Ok(response)) => {
                step.map = AliasMap::from_instances(response);
                None
            }
            EngineResult::Add(Ok(response)) => response.results.into_iter().next(),
            EngineResult::GetInstances(Err(error)) => {
                self.answer(namespace, id, engine_fault(&error));
                return Ok(());
            }
            EngineResult::Add(Err(failure)) => {
                let code = u32::from(failure.error.cwmp_fault());
                let text = crate::error::shorten(&failure.error.to_string());
                let fault = set_fault(step.creating, code, &text);
                self.answer_undoing(namespace, id, fault, step.created);
                return Ok(());
            }
            _ => {
                let fault = fault_body(9002, Some("internal error"));
                self.answer_undoing(namespace, id, fault, step.created);
                return Err(SessionError::MismatchedResult);
            }
        };
        if let Some(added) = added {
            match added.outcome {
                Ok(row) => {
                    if let Some(alias) = alias_key(&row.unique_keys) {
                        step.map.rows.push((row.path.clone(), alias));
                    }
                    step.created.push(row.path);
                }
                Err(failure) => {
                    self.answer_undoing(namespace, id, engine_fault(&failure.error), step.created);
                    return Ok(());
                }
            }
        }
        self.resolve_step(step);
        Ok(())
    }

    /// Resolves the request's aliases with the map: runs it, creates the next row it names,
    /// or answers its fault.
    fn resolve_step(&mut self, step: AliasStep) {
        let AliasStep {
            mut envelope,
            map,
            created,
            ..
        } = step;
        let (namespace, id) = (envelope.namespace, envelope.header.id.clone());
        let mut new_alias = None;
        if let Body::AddObject(request) = &mut envelope.body {
            if let Some((table, alias)) = split_new_alias(&request.object_name) {
                let taken = map.resolve(&table).ok().and_then(|t| map.row(&t, &alias));
                if taken.is_some() {
                    let fault = fault_body(9003, Some("a row of this table has this alias"));
                    self.answer(namespace, id, fault);
                    return;
                }
                request.object_name = table;
                new_alias = Some(alias);
            }
        }
        let mut missing = None;
        for name in request_names(&mut envelope.body) {
            match map.resolve(name) {
                Ok(resolved) => *name = resolved,
                Err(m) => {
                    missing = Some((name.clone(), m));
                    break;
                }
            }
        }
        let Some((name, missing)) = missing else {
            let aliases = self.settings.instance_alias_mode.then_some(map);
            let resolution = Resolution {
                aliases,
                new_alias,
                created,
            };
            return self.run_rpc(envelope, resolution);
        };
        let is_set = matches!(envelope.body, Body::SetParameterValues(_));
        let body = if is_set && self.settings.auto_create_instances {
            if created.len() >= MAX_AUTO_CREATED {
                fault_body(9004, Some("too many rows to create"))
            } else {
                let row = ObjectCreation::new(
                    missing.table,
                    vec![ParamSetting::new("Alias", missing.alias)],
                );
                self.engine_request(
                    EngineRequest::Add(AddRequest::new(vec![row])),
                    Pending::Aliases(Box::new(AliasStep {
                        envelope,
                        map,
                        created,
                        creating: name,
                    })),
                );
                return;
            }
        } else if is_set {
            set_fault(name, 9005, "no instance has this alias")
        } else {
            fault_body(9005, Some("no instance has this alias"))
        };
        self.answer_undoing(namespace, id, body, created);
    }
}

/// `Table.[alias].` split into the table path and the alias (AddObject naming its row).
fn split_new_alias(name: &str) -> Option<(String, String)> {
    let (table, last) = name.strip_suffix('.')?.rsplit_once('.')?;
    let alias = instance_alias(last)?;
    Some((format!("{table}."), alias.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rows: &[(&str, &str)]) -> AliasMap {
        AliasMap {
            rows: rows
                .iter()
                .map(|(r, a)| ((*r).to_owned(), (*a).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn aliases_resolve_to_rows_and_back() {
        let m = map(&[
            ("Device.Bridging.Bridge.1.", "br-lan"),
            ("Device.Bridging.Bridge.1.Port.2.", "lan1"),
            ("Device.Bridging.Bridge.12.", "br-guest"),
            ("Device.Bridging.Bridge.12.Port.1.", "lan1"),
        ]);
        assert_eq!(
            m.resolve("Device.Bridging.Bridge.[br-guest].Port.[lan1].Enable")
                .unwrap(),
            "Device.Bridging.Bridge.12.Port.1.Enable"
        );
        assert_eq!(
            m.resolve("Device.Bridging.Bridge.[br-lan].Port.[lan1].")
                .unwrap(),
            "Device.Bridging.Bridge.1.Port.2."
        );
        assert_eq!(
            m.resolve("Device.Bridging.Bridge.1.Name").unwrap(),
            "Device.Bridging.Bridge.1.Name"
        );
        let missing = m
            .resolve("Device.Bridging.Bridge.[br-lan].Port.[wan].Enable")
            .unwrap_err();
        assert_eq!(missing.table, "Device.Bridging.Bridge.1.Port.");
        assert_eq!(missing.alias, "wan");
        // A trailing `[alias]` without its dot is no row: left for the engine to refuse.
        assert_eq!(
            m.resolve("Device.Bridging.Bridge.[br-lan]").unwrap(),
            "Device.Bridging.Bridge.[br-lan]"
        );
        assert_eq!(
            m.alias_form("Device.Bridging.Bridge.12.Port.1.Enable"),
            "Device.Bridging.Bridge.[br-guest].Port.[lan1].Enable"
        );
        assert_eq!(
            m.alias_form("Device.Bridging.Bridge.12.Port.3."),
            "Device.Bridging.Bridge.[br-guest].Port.3."
        );
        assert_eq!(m.alias_form("Device."), "Device.");
    }

    #[test]
    fn add_object_names_its_alias() {
        assert_eq!(
            split_new_alias("Device.NAT.PortMapping.[web]."),
            Some(("Device.NAT.PortMapping.".to_owned(), "web".to_owned()))
        );
        assert_eq!(split_new_alias("Device.NAT.PortMapping."), None);
        assert_eq!(split_new_alias("Device.NAT.PortMapping.[web]"), None);
    }
}

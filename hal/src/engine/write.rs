//! Writes: Set, Add and Delete, atomic across the store and the HAL (see the
//! [engine docs](super) for the three phases).

use std::collections::BTreeSet;
use std::string::{String, ToString};
use std::vec::Vec;

use tr181_model::path::Path;
use tr181_model::store::{Origin, Resolved, Store, Transaction};
use tr181_model::value::Value;

use super::{
    AddRequest, AddResponse, AddedInstance, DeleteRequest, DeleteResponse, Deleted, Engine,
    Failure, ObjectCreation, ObjectSettings, ParamError, PathResult, Principal, SetRequest,
    SetResponse, Target, UpdatedInstance, object_of,
};
use crate::error::{EngineError, HalError};
use crate::traits::{Applied, ApplyError, ParamChange};

/// Per requested item: what staging gave.
type Staged<T> = Vec<Result<T, Failure>>;

/// Changes for the HAL, per object instance.
type Batches = Vec<(String, Vec<ParamChange>)>;

/// A row's parameter values by relative name.
type RowValues = Vec<(String, Value)>;

/// One instance a Set staged.
#[derive(Debug)]
struct StagedInstance {
    path: String,
    updated: Vec<(String, Value)>,
    param_errors: Vec<ParamError>,
    batches: Batches,
}

/// One row an Add staged.
#[derive(Debug)]
struct StagedRow {
    path: String,
    number: u32,
    values: Vec<(String, Value)>,
    param_errors: Vec<ParamError>,
}

/// What one Delete path staged: the top-level rows (with their values, to re-add them to the
/// HAL on rollback), everything removed, and the rows that could not be.
#[derive(Debug, Default)]
struct StagedDelete {
    rows: Vec<(String, Vec<(String, Value)>)>,
    affected: Vec<String>,
    unaffected: Vec<ParamError>,
}

/// A failure of a whole object, reported against each of its parameters too (CWMP lists a
/// fault per parameter).
fn object_failure(
    object: &str,
    names: impl Iterator<Item = String>,
    error: EngineError,
) -> Failure {
    Failure {
        param_errors: names
            .map(|name| ParamError::new(std::format!("{object}{name}"), error.clone()))
            .collect(),
        error,
    }
}

/// The request-level failure of an all-or-nothing request: the first object's error, and
/// every parameter error of every object.
fn combine<T>(outcomes: &Staged<T>) -> Option<Failure> {
    let mut first: Option<EngineError> = None;
    let mut param_errors = Vec::new();
    for failure in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        if first.is_none() {
            first = Some(failure.error.clone());
        }
        param_errors.extend(failure.param_errors.iter().cloned());
    }
    first.map(|error| Failure {
        error,
        param_errors,
    })
}

/// The failure of an apply, as parameter errors.
fn apply_failure(object: &str, changes: &[ParamChange], error: ApplyError) -> Failure {
    let param_errors: Vec<ParamError> = if error.failures.is_empty() {
        let hal = HalError::Failed {
            path: object.into(),
            reason: "the device could not apply the changes".into(),
        };
        changes
            .iter()
            .map(|c| ParamError::new(std::format!("{object}{}", c.name), hal.clone().into()))
            .collect()
    } else {
        error
            .failures
            .into_iter()
            .map(|f| ParamError::new(std::format!("{object}{}", f.name), f.error.into()))
            .collect()
    };
    let error = match param_errors.as_slice() {
        [one] => one.error.clone(),
        _ => EngineError::RequiredParameterFailed {
            path: object.into(),
        },
    };
    Failure {
        error,
        param_errors,
    }
}

/// Writes the agent's own values as the device in one transaction (validated in phase one,
/// committed in phase three).
fn agent_writes(
    store: &mut Store,
    writes: &[(String, String)],
    commit: bool,
) -> Result<(), Failure> {
    if writes.is_empty() {
        return Ok(());
    }
    let mut txn = store.transaction(Origin::Device);
    for (path, value) in writes {
        txn.set(path, value)
            .map_err(|e| Failure::new(EngineError::ApiMisuse(agent_write_error(&e))))?;
    }
    if commit {
        txn.commit()
            .map_err(|e| Failure::new(EngineError::ApiMisuse(agent_write_error(&e))))?;
    } else {
        txn.rollback();
    }
    Ok(())
}

/// Whether an object instance path names a table row (its last segment is a number).
fn is_row(path: &str) -> bool {
    path.strip_suffix('.')
        .and_then(|p| p.rsplit('.').next())
        .is_some_and(|last| !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
}

fn agent_write_error(_: &tr181_model::Error) -> &'static str {
    "an agent write (e.g. ParameterKey) was refused by the model"
}

impl Engine {
    /// Undoes applied HAL changes, newest first (apply with old and new swapped).
    async fn undo_applied(&self, applied: &[(String, Vec<ParamChange>)]) {
        for (object, changes) in applied.iter().rev() {
            let swapped: Vec<ParamChange> = changes
                .iter()
                .map(|c| ParamChange {
                    name: c.name,
                    old: c.new.clone(),
                    new: c.old.clone(),
                })
                .collect();
            // Nothing better to do if the undo fails too: the next Get re-reads live values.
            let _ = self.hal.parameters.apply(object, &swapped).await;
        }
    }

    // -----------------------------------------------------------------------------------------
    // Set

    /// Writes parameter values (CWMP SetParameterValues, USP Set), atomically across the
    /// store and the hardware.
    ///
    /// Without `allow_partial`: if any object or required parameter fails — in the model
    /// (unknown path, not writable, invalid value, duplicate key, permission) or in the
    /// hardware — nothing is applied anywhere and `Err` lists every failure. With it, each
    /// requested object succeeds or fails on its own. A failed non-required parameter only adds
    /// a parameter error. A search path is one unit (R-SET.2a).
    pub async fn set(
        &self,
        principal: &Principal,
        request: &SetRequest,
    ) -> Result<SetResponse, Failure> {
        self.require_started()?;
        self.check_items(request.objects.len())?;
        let _gate = self.gate.enter().await;
        let origin = Origin::Controller(principal.protocol);
        let none = BTreeSet::new();

        // Phase 1: stage in the store, then roll back.
        let mut outcomes = {
            let mut store = self.store();
            agent_writes(&mut store, &request.agent_writes, false)?;
            let mut txn = store.transaction(origin);
            let staged = self.stage_set(&mut txn, principal, request, &none);
            txn.rollback();
            staged?
        };

        // Phase 2: the hardware, object by object.
        let mut skip = BTreeSet::new();
        let mut applied_all: Batches = Vec::new();
        let mut reboot_required = false;
        for (index, outcome) in outcomes.iter_mut().enumerate() {
            let Ok(instances) = outcome else {
                continue;
            };
            let mut applied_here: Batches = Vec::new();
            let mut failure = None;
            for (object, changes) in instances.iter().flat_map(|i| i.batches.iter()) {
                match self.hal.parameters.apply(object, changes).await {
                    Ok(applied) => {
                        reboot_required |= applied == Applied::RebootRequired;
                        applied_here.push((object.clone(), changes.clone()));
                    }
                    Err(error) => {
                        failure = Some(apply_failure(object, changes, error));
                        break;
                    }
                }
            }
            match failure {
                None => applied_all.extend(applied_here),
                Some(failure) => {
                    self.undo_applied(&applied_here).await;
                    if !request.allow_partial {
                        self.undo_applied(&applied_all).await;
                        return Err(failure);
                    }
                    skip.insert(index);
                    *outcome = Err(failure);
                }
            }
        }

        // Phase 3: replay and commit.
        let committed = {
            let mut store = self.store();
            let mut txn = store.transaction(origin);
            let replay = self.stage_set(&mut txn, principal, request, &skip);
            let diverged = match &replay {
                Ok(replay) => replay
                    .iter()
                    .zip(&outcomes)
                    .any(|(r, o)| r.is_ok() != o.is_ok()),
                Err(_) => true,
            };
            if diverged {
                txn.rollback();
                Err(Failure::new(EngineError::ApiMisuse(
                    "the store changed between validation and commit",
                )))
            } else {
                txn.commit()
                    .map(drop)
                    .map_err(|e| Failure::new(e.into()))
                    .and_then(|()| agent_writes(&mut store, &request.agent_writes, true))
            }
        };
        if let Err(failure) = committed {
            self.undo_applied(&applied_all).await;
            return Err(failure);
        }
        // The change is in effect; a failed save is retried by the next one.
        let _ = self.save_store().await;

        let results = request
            .objects
            .iter()
            .zip(outcomes)
            .map(|(object, outcome)| {
                let outcome = outcome.map(|instances| {
                    instances
                        .into_iter()
                        .map(|i| UpdatedInstance {
                            path: i.path,
                            updated: i.updated,
                            param_errors: i.param_errors,
                        })
                        .collect()
                });
                PathResult::new(&object.path, outcome)
            })
            .collect();
        Ok(SetResponse {
            results,
            reboot_required,
        })
    }

    /// Stages every object of a Set not in `skip`. `Err` is the request-level failure of an
    /// all-or-nothing request.
    fn stage_set(
        &self,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        request: &SetRequest,
        skip: &BTreeSet<usize>,
    ) -> Result<Staged<Vec<StagedInstance>>, Failure> {
        let mut outcomes = Vec::with_capacity(request.objects.len());
        for (index, object) in request.objects.iter().enumerate() {
            if skip.contains(&index) {
                outcomes.push(Err(Failure::new(EngineError::ApiMisuse("skipped"))));
                continue;
            }
            let savepoint = txn.savepoint();
            let mut outcome = self.stage_object(txn, principal, object, request.allow_partial);
            if outcome.is_ok() && request.allow_partial {
                if let Err(error) = txn.check() {
                    outcome = Err(object_failure(
                        &object.path,
                        object.params.iter().map(|p| p.name.clone()),
                        error.into(),
                    ));
                }
            }
            if outcome.is_err() {
                txn.rollback_to(savepoint);
            }
            outcomes.push(outcome);
        }
        if !request.allow_partial {
            if let Some(failure) = combine(&outcomes) {
                return Err(failure);
            }
            txn.check().map_err(|e| Failure::new(e.into()))?;
        }
        Ok(outcomes)
    }

    fn stage_object(
        &self,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        object: &ObjectSettings,
        allow_partial: bool,
    ) -> Result<Vec<StagedInstance>, Failure> {
        let names = || object.params.iter().map(|p| p.name.clone());
        let fail = |error: EngineError| object_failure(&object.path, names(), error);
        let parsed = Path::parse(&object.path, txn.limits()).map_err(|e| fail(e.into()))?;
        let unknown = || {
            fail(
                tr181_model::Error::UnknownPath {
                    path: object.path.clone(),
                }
                .into(),
            )
        };
        if !parsed.is_object() || parsed.is_empty() {
            return Err(unknown());
        }
        let mut rows = Vec::new();
        for item in txn
            .resolve(&parsed, principal.protocol)
            .map_err(|e| fail(e.into()))?
        {
            match item {
                Resolved::Object { path, .. } => rows.push(path),
                _ => return Err(unknown()),
            }
        }
        let mut instances = Vec::with_capacity(rows.len());
        let mut required = Vec::new();
        for row in rows {
            let mut instance = StagedInstance {
                path: row,
                updated: Vec::new(),
                param_errors: Vec::new(),
                batches: Vec::new(),
            };
            for param in &object.params {
                let full = std::format!("{}{}", instance.path, param.name);
                match self.stage_param(txn, principal, &full, &param.value) {
                    Ok((shown, change)) => {
                        instance.updated.push((param.name.clone(), shown));
                        if let Some(change) = change {
                            let owner = object_of(&full);
                            match instance.batches.iter_mut().find(|(o, _)| o == owner) {
                                Some((_, changes)) => changes.push(change),
                                None => instance
                                    .batches
                                    .push((owner.to_string(), std::vec![change])),
                            }
                        }
                    }
                    Err(error) => {
                        let error = ParamError::new(full, error);
                        if param.required {
                            required.push(error);
                        } else {
                            instance.param_errors.push(error);
                        }
                    }
                }
            }
            instances.push(instance);
        }
        if required.is_empty() {
            return Ok(instances);
        }
        let error = match (allow_partial, required.as_slice()) {
            (false, [one]) => one.error.clone(),
            _ => EngineError::RequiredParameterFailed {
                path: object.path.clone(),
            },
        };
        Err(Failure {
            error,
            param_errors: required,
        })
    }

    /// Sets one parameter in the transaction: the value to report and the change for the HAL
    /// (`None` when the value did not change and setting it triggers nothing).
    fn stage_param(
        &self,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        full: &str,
        text: &str,
    ) -> Result<(Value, Option<ParamChange>), EngineError> {
        let parameter = txn
            .parameters(full, principal.protocol, None)?
            .into_iter()
            .next()
            .map(|p| p.parameter)
            .ok_or_else(|| tr181_model::Error::UnknownPath { path: full.into() })?;
        if !self.allowed(txn, principal, full, Target::Parameter, |p| p.write) {
            return Err(EngineError::PermissionDenied { path: full.into() });
        }
        let old = txn.value(full)?.clone();
        txn.set(full, text)?;
        let new = txn.value(full)?.clone();
        let shown = if parameter.syntax.hidden {
            Value::zero(parameter.syntax.base)
        } else {
            new.clone()
        };
        let change = (old != new || parameter.syntax.command).then_some(ParamChange {
            name: parameter.name,
            old,
            new,
        });
        Ok((shown, change))
    }

    // -----------------------------------------------------------------------------------------
    // Add

    /// Adds rows (CWMP AddObject, USP Add), atomically across the store and the hardware.
    ///
    /// Each row takes the table's next instance number (never reused). The hardware may refuse
    /// a row ([`Tables::added`](crate::traits::Tables::added)); without `allow_partial` that,
    /// or any model error, adds nothing at all.
    pub async fn add(
        &self,
        principal: &Principal,
        request: &AddRequest,
    ) -> Result<AddResponse, Failure> {
        self.require_started()?;
        self.check_items(request.objects.len())?;
        let _gate = self.gate.enter().await;
        let origin = Origin::Controller(principal.protocol);
        let none = BTreeSet::new();

        let mut outcomes = {
            let mut store = self.store();
            agent_writes(&mut store, &request.agent_writes, false)?;
            let mut txn = store.transaction(origin);
            let staged = self.stage_add(&mut txn, principal, request, &none);
            txn.rollback();
            staged?
        };

        let mut skip = BTreeSet::new();
        let mut added: Vec<(String, Vec<(String, Value)>)> = Vec::new();
        for (index, outcome) in outcomes.iter_mut().enumerate() {
            let Ok(row) = outcome else {
                continue;
            };
            if let Err(error) = self.hal.tables.added(&row.path, &row.values).await {
                let failure = Failure {
                    error: error.clone().into(),
                    param_errors: std::vec![ParamError::new(row.path.clone(), error.into())],
                };
                if !request.allow_partial {
                    self.undo_added(&added).await;
                    return Err(failure);
                }
                skip.insert(index);
                *outcome = Err(failure);
            } else {
                added.push((row.path.clone(), row.values.clone()));
            }
        }

        let committed = {
            let mut store = self.store();
            let mut txn = store.transaction(origin);
            match self.stage_add(&mut txn, principal, request, &skip) {
                Ok(_) => txn
                    .commit()
                    .map(drop)
                    .map_err(|e| Failure::new(e.into()))
                    .and_then(|()| agent_writes(&mut store, &request.agent_writes, true)),
                Err(failure) => Err(failure),
            }
        };
        if let Err(failure) = committed {
            self.undo_added(&added).await;
            return Err(failure);
        }
        let _ = self.save_store().await;

        let store = self.store();
        let results = request
            .objects
            .iter()
            .zip(outcomes)
            .map(|(object, outcome)| {
                let outcome = outcome.map(|row| {
                    let unique_keys = store
                        .instances(&row.path, principal.protocol, true)
                        .ok()
                        .and_then(|infos| infos.into_iter().next())
                        .map(|info| info.keys)
                        .unwrap_or_default();
                    AddedInstance {
                        path: row.path,
                        number: row.number,
                        unique_keys,
                        param_errors: row.param_errors,
                    }
                });
                PathResult::new(&object.path, outcome)
            })
            .collect();
        Ok(AddResponse { results })
    }

    async fn undo_added(&self, added: &[(String, Vec<(String, Value)>)]) {
        for (row, _) in added.iter().rev() {
            let _ = self.hal.tables.deleted(row).await;
        }
    }

    /// Stages every row of an Add. Rows in `skip` (refused by the hardware) are added and
    /// deleted again, so that the later rows get the same numbers as when validated.
    fn stage_add(
        &self,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        request: &AddRequest,
        skip: &BTreeSet<usize>,
    ) -> Result<Staged<StagedRow>, Failure> {
        let mut outcomes = Vec::with_capacity(request.objects.len());
        for (index, object) in request.objects.iter().enumerate() {
            let savepoint = txn.savepoint();
            let mut outcome = self.stage_row(txn, principal, object);
            if outcome.is_ok() && request.allow_partial {
                if let Err(error) = txn.check() {
                    outcome = Err(Failure::new(error.into()));
                }
            }
            match &outcome {
                Err(_) => txn.rollback_to(savepoint),
                Ok(row) if skip.contains(&index) => {
                    let _ = txn.delete(&row.path);
                }
                Ok(_) => {}
            }
            outcomes.push(outcome);
        }
        if !request.allow_partial {
            if let Some(failure) = combine(&outcomes) {
                return Err(failure);
            }
            txn.check().map_err(|e| Failure::new(e.into()))?;
        }
        Ok(outcomes)
    }

    fn stage_row(
        &self,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        object: &ObjectCreation,
    ) -> Result<StagedRow, Failure> {
        let parsed = Path::parse(&object.path, txn.limits()).map_err(|e| Failure::new(e.into()))?;
        let not_a_table = || {
            Failure::new(
                tr181_model::Error::NotATable {
                    path: object.path.clone(),
                }
                .into(),
            )
        };
        if !parsed.is_object() {
            return Err(not_a_table());
        }
        let mut tables = Vec::new();
        for item in txn
            .resolve(&parsed, principal.protocol)
            .map_err(|e| Failure::new(e.into()))?
        {
            match item {
                Resolved::Table { path, .. } => tables.push(path),
                _ => return Err(not_a_table()),
            }
        }
        let table = match tables.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(Failure::new(
                    tr181_model::Error::NoSuchInstance {
                        path: object.path.clone(),
                    }
                    .into(),
                ));
            }
            _ => {
                return Err(Failure::new(EngineError::InvalidArguments {
                    path: object.path.clone(),
                    reason: "the path resolves to more than one table",
                    command: false,
                }));
            }
        };
        if !self.allowed(txn, principal, &table, Target::Object, |p| p.write) {
            return Err(Failure::new(EngineError::PermissionDenied { path: table }));
        }
        let number = txn.add(&table, &[]).map_err(|e| Failure::new(e.into()))?;
        let path = std::format!("{table}{number}.");
        let mut param_errors = Vec::new();
        for param in &object.params {
            let full = std::format!("{path}{}", param.name);
            let savepoint = txn.savepoint();
            let result = if self.allowed(txn, principal, &full, Target::Parameter, |p| p.write) {
                txn.set(&full, &param.value).map_err(EngineError::from)
            } else {
                Err(EngineError::PermissionDenied { path: full.clone() })
            };
            if let Err(error) = result {
                txn.rollback_to(savepoint);
                let error = ParamError::new(full, error);
                if param.required {
                    return Err(Failure {
                        error: EngineError::RequiredParameterFailed {
                            path: object.path.clone(),
                        },
                        param_errors: std::vec![error],
                    });
                }
                param_errors.push(error);
            }
        }
        let values = txn
            .parameters(&path, principal.protocol, None)
            .map_err(|e| Failure::new(e.into()))?
            .into_iter()
            .filter_map(|p| {
                let value = txn.value(&p.path).ok()?.clone();
                let name = p.path.get(path.len()..)?.to_string();
                Some((name, value))
            })
            .collect();
        Ok(StagedRow {
            path,
            number,
            values,
            param_errors,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Delete

    /// Deletes rows and everything below them (CWMP DeleteObject, USP Delete), atomically
    /// across the store and the hardware.
    ///
    /// A search path matching nothing is success with nothing affected. The hardware may
    /// refuse a row ([`Tables::deleted`](crate::traits::Tables::deleted)); without
    /// `allow_partial` that, or any model error, deletes nothing; with it the row is reported
    /// as unaffected.
    pub async fn delete(
        &self,
        principal: &Principal,
        request: &DeleteRequest,
    ) -> Result<DeleteResponse, Failure> {
        self.require_started()?;
        self.check_items(request.paths.len())?;
        let _gate = self.gate.enter().await;
        let origin = Origin::Controller(principal.protocol);
        let none = BTreeSet::new();

        let mut outcomes = {
            let mut store = self.store();
            agent_writes(&mut store, &request.agent_writes, false)?;
            let mut txn = store.transaction(origin);
            let staged = self.stage_delete(&mut txn, principal, request, &none);
            txn.rollback();
            staged?
        };

        let mut skip: BTreeSet<String> = BTreeSet::new();
        let mut deleted: Vec<(String, Vec<(String, Value)>)> = Vec::new();
        for outcome in outcomes.iter_mut() {
            let Ok(staged) = outcome else {
                continue;
            };
            for (row, values) in &staged.rows {
                match self.hal.tables.deleted(row).await {
                    Ok(()) => deleted.push((row.clone(), values.clone())),
                    Err(error) => {
                        if !request.allow_partial {
                            self.undo_deleted(&deleted).await;
                            return Err(Failure {
                                error: error.clone().into(),
                                param_errors: std::vec![ParamError::new(row.clone(), error.into())],
                            });
                        }
                        skip.insert(row.clone());
                        staged
                            .unaffected
                            .push(ParamError::new(row.clone(), error.into()));
                        staged.affected.retain(|p| !p.starts_with(row.as_str()));
                    }
                }
            }
        }

        let committed = {
            let mut store = self.store();
            let mut txn = store.transaction(origin);
            match self.stage_delete(&mut txn, principal, request, &skip) {
                Ok(_) => txn
                    .commit()
                    .map(drop)
                    .map_err(|e| Failure::new(e.into()))
                    .and_then(|()| agent_writes(&mut store, &request.agent_writes, true)),
                Err(failure) => Err(failure),
            }
        };
        if let Err(failure) = committed {
            self.undo_deleted(&deleted).await;
            return Err(failure);
        }
        let _ = self.save_store().await;

        let results = request
            .paths
            .iter()
            .zip(outcomes)
            .map(|(path, outcome)| {
                let outcome = outcome.map(|s| Deleted {
                    affected: s.affected,
                    unaffected: s.unaffected,
                });
                PathResult::new(path, outcome)
            })
            .collect();
        Ok(DeleteResponse { results })
    }

    async fn undo_deleted(&self, deleted: &[(String, Vec<(String, Value)>)]) {
        for (row, values) in deleted.iter().rev() {
            let _ = self.hal.tables.added(row, values).await;
        }
    }

    fn stage_delete(
        &self,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        request: &DeleteRequest,
        skip: &BTreeSet<String>,
    ) -> Result<Staged<StagedDelete>, Failure> {
        let mut outcomes = Vec::with_capacity(request.paths.len());
        for path in &request.paths {
            let savepoint = txn.savepoint();
            let outcome = self.stage_delete_path(txn, principal, path, request.allow_partial, skip);
            if outcome.is_err() {
                txn.rollback_to(savepoint);
            }
            outcomes.push(outcome);
        }
        if !request.allow_partial {
            if let Some(failure) = combine(&outcomes) {
                return Err(failure);
            }
        }
        Ok(outcomes)
    }

    fn stage_delete_path(
        &self,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        path: &str,
        allow_partial: bool,
        skip: &BTreeSet<String>,
    ) -> Result<StagedDelete, Failure> {
        let parsed = Path::parse(path, txn.limits()).map_err(|e| Failure::new(e.into()))?;
        let not_a_row = || Failure::new(tr181_model::Error::NotATable { path: path.into() }.into());
        if !parsed.is_object() {
            return Err(not_a_row());
        }
        let mut rows = Vec::new();
        for item in txn
            .resolve(&parsed, principal.protocol)
            .map_err(|e| Failure::new(e.into()))?
        {
            match item {
                Resolved::Object { path, .. } if is_row(&path) => rows.push(path),
                _ => return Err(not_a_row()),
            }
        }
        let mut staged = StagedDelete::default();
        for row in rows {
            if skip.contains(&row) {
                continue;
            }
            match self.stage_delete_row(txn, principal, &row) {
                Ok((values, affected)) => {
                    staged.rows.push((row, values));
                    staged.affected.extend(affected);
                }
                Err(error) if allow_partial => staged.unaffected.push(ParamError::new(row, error)),
                Err(error) => {
                    return Err(Failure {
                        error: error.clone(),
                        param_errors: std::vec![ParamError::new(row, error)],
                    });
                }
            }
        }
        Ok(staged)
    }

    /// Deletes one row in the transaction: its values and every row removed with it.
    fn stage_delete_row(
        &self,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        row: &str,
    ) -> Result<(RowValues, Vec<String>), EngineError> {
        if !self.allowed(txn, principal, row, Target::Instance, |p| p.write) {
            return Err(EngineError::PermissionDenied { path: row.into() });
        }
        let affected: Vec<String> = txn
            .instances(row, principal.protocol, false)?
            .into_iter()
            .map(|i| i.path)
            .collect();
        let values = txn
            .parameters(row, principal.protocol, Some(1))?
            .into_iter()
            .filter_map(|p| {
                let value = txn.value(&p.path).ok()?.clone();
                let name = p.path.get(row.len()..)?.to_string();
                Some((name, value))
            })
            .collect();
        txn.delete(row)?;
        Ok((values, affected))
    }
}

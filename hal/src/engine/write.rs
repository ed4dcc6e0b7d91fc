//! Writes: Set, Add and Delete, atomic across the store and the HAL (see the
//! [engine docs](super) for the three phases).
//!
//! The three phases are one piece of code, [`Engine::three_phase`], generic over
//! [`WriteOp`]. An operation supplies only how it stages one requested item in a
//! transaction, the hardware steps ([`HalStep`]) a staged item takes, what a refusal by the
//! hardware does to the item, and how its response is built. Every step knows its own undo
//! ([`HalStep::inverse`]).

use std::collections::BTreeSet;
use std::string::{String, ToString};
use std::vec::Vec;

use tr181_model::store::{Origin, Resolved, Savepoint, Store, Transaction};
use tr181_model::value::Value;

use super::diagnostics::{self, DiagnosticWrite};
use super::request::WriteRequest;
use super::{
    AddRequest, AddResponse, AddedInstance, DeleteRequest, DeleteResponse, Deleted, Engine,
    Failure, ObjectCreation, ObjectSettings, ParamError, PathResult, Principal, SetRequest,
    SetResponse, Target, UpdatedInstance, object_of, parse_path, require, shown,
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
    /// What the Set does to the instance's diagnostic test, if it is a diagnostics object.
    diagnostic: Option<DiagnosticWrite>,
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
    rows: Vec<(String, RowValues)>,
    affected: Vec<String>,
    unaffected: Vec<ParamError>,
}

/// One call to the hardware in phase two.
#[derive(Clone, Debug)]
enum HalStep {
    /// [`Parameters::apply`](crate::traits::Parameters::apply) of one object's changes.
    Apply {
        object: String,
        changes: Vec<ParamChange>,
    },
    /// [`Tables::added`](crate::traits::Tables::added).
    Add { row: String, values: RowValues },
    /// [`Tables::deleted`](crate::traits::Tables::deleted); the values re-add the row on undo.
    Delete { row: String, values: RowValues },
}

impl HalStep {
    /// The step that takes this one back: apply with old and new swapped, delete what was
    /// added, re-add what was deleted.
    fn inverse(&self) -> Self {
        match self {
            Self::Apply { object, changes } => Self::Apply {
                object: object.clone(),
                changes: changes
                    .iter()
                    .map(|c| ParamChange {
                        name: c.name,
                        old: c.new.clone(),
                        new: c.old.clone(),
                    })
                    .collect(),
            },
            Self::Add { row, values } => Self::Delete {
                row: row.clone(),
                values: values.clone(),
            },
            Self::Delete { row, values } => Self::Add {
                row: row.clone(),
                values: values.clone(),
            },
        }
    }
}

/// A part of a staged item the hardware takes as a whole, or undoes: a whole item (a Set's
/// objects, an Add's row) or one row of it (Delete).
#[derive(Debug)]
enum Unit {
    /// The whole item; refused, the item fails.
    Item,
    /// One row; refused, what that means is up to [`WriteOp::refused_row`].
    Row(String),
}

/// What the hardware refused in phase two (with `allow_partial`), left out in phase three.
#[derive(Debug, Default)]
struct Refused {
    /// Items refused as a whole, by index.
    items: BTreeSet<usize>,
    /// Rows refused.
    rows: BTreeSet<String>,
}

/// A Set, Add or Delete request, as [`Engine::three_phase`] runs it.
trait WriteOp: WriteRequest + Sync {
    /// What staging one item gives.
    type Item: Send;
    /// What a committed item gives in the response.
    type Done;
    /// The response.
    type Response;

    /// Stages one item in `txn`, leaving out the `refused` rows.
    fn stage_item(
        &self,
        engine: &Engine,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        requested: &Self::Requested,
        refused: &BTreeSet<String>,
    ) -> Result<Self::Item, Failure>;

    /// Whether staging runs the store's deferred checks (unique keys): after each item with
    /// `allow_partial`, after all of them without. Delete does not.
    fn checks_keys() -> bool {
        true
    }

    /// The failure of an item after which the store's check failed.
    fn check_failure(requested: &Self::Requested, error: EngineError) -> Failure {
        let _ = requested;
        Failure::new(error)
    }

    /// Takes an item the hardware refused out of the replay. By default as if never staged;
    /// Add deletes the row instead, so that later rows get the numbers they were validated
    /// with.
    fn withdraw(txn: &mut Transaction<'_>, savepoint: Savepoint, item: &Self::Item) {
        let _ = item;
        txn.rollback_to(savepoint);
    }

    /// The hardware units of a staged item, in order.
    fn units(item: &Self::Item) -> Vec<(Unit, Vec<HalStep>)>;

    /// Records that the hardware refused row `row` of an item (with `allow_partial`). By
    /// default the item fails.
    fn refused_row(outcome: &mut Result<Self::Item, Failure>, row: &str, failure: Failure) {
        let _ = row;
        *outcome = Err(failure);
    }

    /// Records what a committed item means beyond the store (the diagnostic tests a Set
    /// requested or ended).
    fn committed(engine: &Engine, item: &Self::Item) {
        let _ = (engine, item);
    }

    /// The path an item was requested with.
    fn path_of(requested: &Self::Requested) -> &str;

    /// What a committed item gives in the response (read from the committed store).
    fn done(store: &Store, principal: &Principal, item: Self::Item) -> Self::Done;

    /// The response.
    fn respond(results: Vec<PathResult<Self::Done>>, reboot_required: bool) -> Self::Response;
}

/// What phase two did to the hardware.
#[derive(Debug, Default)]
struct HardwareDone {
    /// What was refused (with `allow_partial`).
    refused: Refused,
    /// Every step applied and kept, oldest first (undone if the commit fails).
    steps: Vec<HalStep>,
    /// Some applied change takes effect only after a reboot.
    reboot_required: bool,
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

/// The deferred checks of staged writes to `paths`: the store's unique keys, and the bulk
/// data capabilities when a path is under `Device.BulkData.`.
fn check_staged<'p>(
    txn: &Transaction<'_>,
    mut paths: impl Iterator<Item = &'p str>,
) -> Result<(), EngineError> {
    txn.check()?;
    if paths.any(|path| path.starts_with("Device.BulkData.")) {
        crate::bulkdata::check_capabilities(txn)?;
    }
    Ok(())
}

/// The failure of a table hook for `row`, reported against the row.
fn row_failure(row: &str, error: HalError) -> Failure {
    Failure {
        error: error.clone().into(),
        param_errors: std::vec![ParamError::new(row, error.into())],
    }
}

impl Engine {
    // -----------------------------------------------------------------------------------------
    // The three phases

    /// Runs a write in three phases under the write gate: (1) stage every item in a store
    /// transaction, then roll it back; (2) hand the staged items to the hardware unit by unit,
    /// undoing what a failed unit applied (and, without `allow_partial`, everything); (3)
    /// replay the request without the refused units, commit, and persist the store.
    async fn three_phase<W: WriteOp>(
        &self,
        principal: &Principal,
        op: &W,
    ) -> Result<W::Response, Failure> {
        self.require_started()?;
        self.check_items(op.requested().len())?;
        let _gate = self.gate.enter().await;
        let origin = Origin::Controller(principal.protocol);

        // Phase 1: stage in the store, then roll back.
        let mut outcomes = {
            let mut store = self.store();
            agent_writes(&mut store, op.agent_writes(), false)?;
            let mut txn = store.transaction(origin);
            let staged = self.stage_all(op, &mut txn, principal, &Refused::default());
            txn.rollback();
            staged?
        };

        // Phase 2: the hardware.
        let done = self.apply_to_hardware(op, &mut outcomes).await?;

        // Phase 3: replay and commit.
        let committed = {
            let mut store = self.store();
            let mut txn = store.transaction(origin);
            match self.stage_all(op, &mut txn, principal, &done.refused) {
                Ok(replay)
                    if replay
                        .iter()
                        .zip(&outcomes)
                        .any(|(r, o)| r.is_ok() != o.is_ok()) =>
                {
                    txn.rollback();
                    Err(Failure::new(EngineError::ApiMisuse(
                        "the store changed between validation and commit",
                    )))
                }
                Ok(_) => txn
                    .commit()
                    .map(drop)
                    .map_err(|e| Failure::new(e.into()))
                    .and_then(|()| agent_writes(&mut store, op.agent_writes(), true)),
                Err(failure) => Err(failure),
            }
        };
        if let Err(failure) = committed {
            self.undo(&done.steps).await;
            return Err(failure);
        }
        for item in outcomes.iter().flatten() {
            W::committed(self, item);
        }
        // The change is in effect; a failed save is retried by the next one.
        let _ = self.save_store().await;

        let store = self.store();
        let results = op
            .requested()
            .iter()
            .zip(outcomes)
            .map(|(requested, outcome)| {
                let outcome = outcome.map(|item| W::done(&store, principal, item));
                PathResult::new(W::path_of(requested), outcome)
            })
            .collect();
        Ok(W::respond(results, done.reboot_required))
    }

    /// Stages every item of `op`, leaving out what the hardware `refused`. `Err` is the
    /// request-level failure of an all-or-nothing request.
    fn stage_all<W: WriteOp>(
        &self,
        op: &W,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        refused: &Refused,
    ) -> Result<Staged<W::Item>, Failure> {
        let mut outcomes = Vec::with_capacity(op.requested().len());
        for (index, requested) in op.requested().iter().enumerate() {
            let savepoint = txn.savepoint();
            let mut outcome = op.stage_item(self, txn, principal, requested, &refused.rows);
            if W::checks_keys() && op.allow_partial() && outcome.is_ok() {
                if let Err(error) = check_staged(txn, core::iter::once(W::path_of(requested))) {
                    outcome = Err(W::check_failure(requested, error));
                }
            }
            match &outcome {
                Err(_) => txn.rollback_to(savepoint),
                Ok(item) if refused.items.contains(&index) => {
                    W::withdraw(txn, savepoint, item);
                    outcome = Err(Failure::new(EngineError::ApiMisuse(
                        "refused by the device",
                    )));
                }
                Ok(_) => {}
            }
            outcomes.push(outcome);
        }
        if !op.allow_partial() {
            if let Some(failure) = combine(&outcomes) {
                return Err(failure);
            }
            if W::checks_keys() {
                let paths = op.requested().iter().map(W::path_of);
                check_staged(txn, paths).map_err(Failure::new)?;
            }
        }
        Ok(outcomes)
    }

    /// Phase two: hands every staged item to the hardware, unit by unit. A failed unit is
    /// undone; without `allow_partial` so is everything before it and the request fails.
    /// With it the unit is refused: a whole item fails, a row is up to
    /// [`WriteOp::refused_row`]; when its item fails, the item's other units are undone too.
    async fn apply_to_hardware<W: WriteOp>(
        &self,
        op: &W,
        outcomes: &mut Staged<W::Item>,
    ) -> Result<HardwareDone, Failure> {
        let mut done = HardwareDone::default();
        for (index, outcome) in outcomes.iter_mut().enumerate() {
            let units = match outcome {
                Ok(item) => W::units(item),
                Err(_) => continue,
            };
            let mut item_steps: Vec<HalStep> = Vec::new();
            for (unit, steps) in units {
                let mut unit_steps: Vec<HalStep> = Vec::new();
                let mut failure = None;
                for step in steps {
                    match self.run(&step).await {
                        Ok(applied) => {
                            done.reboot_required |= applied == Applied::RebootRequired;
                            unit_steps.push(step);
                        }
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    }
                }
                let Some(failure) = failure else {
                    item_steps.extend(unit_steps);
                    continue;
                };
                self.undo(&unit_steps).await;
                if !op.allow_partial() {
                    self.undo(&item_steps).await;
                    self.undo(&done.steps).await;
                    return Err(failure);
                }
                match unit {
                    Unit::Item => {
                        *outcome = Err(failure);
                        done.refused.items.insert(index);
                    }
                    Unit::Row(row) => {
                        W::refused_row(outcome, &row, failure);
                        done.refused.rows.insert(row);
                    }
                }
                if outcome.is_err() {
                    self.undo(&item_steps).await;
                    item_steps.clear();
                    break;
                }
            }
            done.steps.extend(item_steps);
        }
        Ok(done)
    }

    /// Runs one hardware step.
    async fn run(&self, step: &HalStep) -> Result<Applied, Failure> {
        match step {
            HalStep::Apply { object, changes } => self
                .hal
                .parameters
                .apply(object, changes)
                .await
                .map_err(|error| apply_failure(object, changes, error)),
            HalStep::Add { row, values } => self
                .hal
                .tables
                .added(row, values)
                .await
                .map(|()| Applied::Done)
                .map_err(|error| row_failure(row, error)),
            HalStep::Delete { row, .. } => self
                .hal
                .tables
                .deleted(row)
                .await
                .map(|()| Applied::Done)
                .map_err(|error| row_failure(row, error)),
        }
    }

    /// Undoes applied steps, newest first.
    async fn undo(&self, steps: &[HalStep]) {
        for step in steps.iter().rev() {
            // Nothing better to do if the undo fails too: the next Get re-reads live values.
            let _ = self.run(&step.inverse()).await;
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
    ///
    /// A Set on a CWMP diagnostics object follows the `DiagnosticsState` rules (see
    /// [`diagnostics`]).
    pub async fn set(
        &self,
        principal: &Principal,
        request: &SetRequest,
    ) -> Result<SetResponse, Failure> {
        let mut response = self.three_phase(principal, request).await?;
        self.cancel_ended_diagnostics().await;
        response.diagnostics_requested = self.diagnostics_waiting();
        Ok(response)
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
        let parsed = parse_path(&object.path, principal.protocol, txn.limits()).map_err(fail)?;
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
        let found = txn
            .resolve(&parsed, principal.protocol)
            .map_err(|e| fail(e.into()))?;
        let mut rows = Vec::with_capacity(found.len());
        for item in &found {
            match item {
                Resolved::Object { .. } => rows.push(found.path(item)),
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
                diagnostic: None,
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
            let written: Vec<&str> = instance.updated.iter().map(|(n, _)| n.as_str()).collect();
            match Self::stage_diagnostic(txn, &instance.path, &written) {
                Ok(diagnostic) => instance.diagnostic = diagnostic,
                Err(error) => required.push(ParamError::new(
                    std::format!("{}DiagnosticsState", instance.path),
                    error,
                )),
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
        require(
            self.permissions(txn, principal, full, Target::Parameter)
                .write,
            full,
        )?;
        let old = txn.value(full)?.clone();
        diagnostics::check_state_write(full, parameter.name(), text)?;
        txn.set(full, text)?;
        crate::bulkdata::check_param(txn, full)?;
        let new = txn.value(full)?.clone();
        let reads_secured = parameter.syntax().secured() && self.reads_secured(txn, principal);
        let shown = shown(parameter, new.clone(), reads_secured);
        let change = (old != new || parameter.syntax().command()).then_some(ParamChange {
            name: parameter.name(),
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
        self.three_phase(principal, request).await
    }

    fn stage_row(
        &self,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        object: &ObjectCreation,
    ) -> Result<StagedRow, Failure> {
        let parsed =
            parse_path(&object.path, principal.protocol, txn.limits()).map_err(Failure::new)?;
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
        let found = txn
            .resolve(&parsed, principal.protocol)
            .map_err(|e| Failure::new(e.into()))?;
        let mut tables = Vec::with_capacity(found.len());
        for item in &found {
            match item {
                Resolved::Table { .. } => tables.push(found.path(item)),
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
        require(
            self.permissions(txn, principal, &table, Target::Object)
                .write,
            &table,
        )?;
        let number = txn.add(&table, &[]).map_err(|e| Failure::new(e.into()))?;
        let path = std::format!("{table}{number}.");
        let mut param_errors = Vec::new();
        for param in &object.params {
            let full = std::format!("{path}{}", param.name);
            let savepoint = txn.savepoint();
            let writable = self
                .permissions(txn, principal, &full, Target::Parameter)
                .write;
            let result = require(writable, &full)
                .and_then(|()| txn.set(&full, &param.value).map_err(EngineError::from))
                .and_then(|()| crate::bulkdata::check_param(txn, &full));
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
        self.three_phase(principal, request).await
    }

    fn stage_delete_path(
        &self,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        path: &str,
        allow_partial: bool,
        refused: &BTreeSet<String>,
    ) -> Result<StagedDelete, Failure> {
        let parsed = parse_path(path, principal.protocol, txn.limits()).map_err(Failure::new)?;
        let not_a_row = || Failure::new(tr181_model::Error::NotATable { path: path.into() }.into());
        if !parsed.is_object() {
            return Err(not_a_row());
        }
        let found = txn
            .resolve(&parsed, principal.protocol)
            .map_err(|e| Failure::new(e.into()))?;
        let mut rows = Vec::with_capacity(found.len());
        for item in &found {
            let path = found.path(item);
            match item {
                Resolved::Object { .. } if is_row(&path) => rows.push(path),
                _ => return Err(not_a_row()),
            }
        }
        let mut staged = StagedDelete::default();
        for row in rows {
            if refused.contains(&row) {
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
        require(
            self.permissions(txn, principal, row, Target::Instance)
                .write,
            row,
        )?;
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

impl WriteOp for SetRequest {
    type Item = Vec<StagedInstance>;
    type Done = Vec<UpdatedInstance>;
    type Response = SetResponse;

    fn stage_item(
        &self,
        engine: &Engine,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        object: &ObjectSettings,
        _: &BTreeSet<String>,
    ) -> Result<Vec<StagedInstance>, Failure> {
        engine.stage_object(txn, principal, object, self.allow_partial)
    }

    fn check_failure(object: &ObjectSettings, error: EngineError) -> Failure {
        object_failure(
            &object.path,
            object.params.iter().map(|p| p.name.clone()),
            error,
        )
    }

    fn units(instances: &Vec<StagedInstance>) -> Vec<(Unit, Vec<HalStep>)> {
        let steps = instances
            .iter()
            .flat_map(|i| i.batches.iter())
            .map(|(object, changes)| HalStep::Apply {
                object: object.clone(),
                changes: changes.clone(),
            })
            .collect();
        std::vec![(Unit::Item, steps)]
    }

    fn committed(engine: &Engine, instances: &Vec<StagedInstance>) {
        engine.diagnostics_written(
            instances
                .iter()
                .filter_map(|i| Some((i.path.clone(), i.diagnostic?))),
        )
    }

    fn path_of(object: &ObjectSettings) -> &str {
        &object.path
    }

    fn done(_: &Store, _: &Principal, instances: Vec<StagedInstance>) -> Vec<UpdatedInstance> {
        instances
            .into_iter()
            .map(|i| UpdatedInstance {
                path: i.path,
                updated: i.updated,
                param_errors: i.param_errors,
            })
            .collect()
    }

    fn respond(
        results: Vec<PathResult<Vec<UpdatedInstance>>>,
        reboot_required: bool,
    ) -> SetResponse {
        SetResponse {
            results,
            reboot_required,
            diagnostics_requested: false,
        }
    }
}

impl WriteOp for AddRequest {
    type Item = StagedRow;
    type Done = AddedInstance;
    type Response = AddResponse;

    fn stage_item(
        &self,
        engine: &Engine,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        object: &ObjectCreation,
        _: &BTreeSet<String>,
    ) -> Result<StagedRow, Failure> {
        engine.stage_row(txn, principal, object)
    }

    fn withdraw(txn: &mut Transaction<'_>, _: Savepoint, row: &StagedRow) {
        let _ = txn.delete(&row.path);
    }

    fn units(row: &StagedRow) -> Vec<(Unit, Vec<HalStep>)> {
        let step = HalStep::Add {
            row: row.path.clone(),
            values: row.values.clone(),
        };
        std::vec![(Unit::Item, std::vec![step])]
    }

    fn path_of(object: &ObjectCreation) -> &str {
        &object.path
    }

    fn done(store: &Store, principal: &Principal, row: StagedRow) -> AddedInstance {
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
    }

    fn respond(results: Vec<PathResult<AddedInstance>>, _: bool) -> AddResponse {
        AddResponse { results }
    }
}

impl WriteOp for DeleteRequest {
    type Item = StagedDelete;
    type Done = Deleted;
    type Response = DeleteResponse;

    fn stage_item(
        &self,
        engine: &Engine,
        txn: &mut Transaction<'_>,
        principal: &Principal,
        path: &String,
        refused: &BTreeSet<String>,
    ) -> Result<StagedDelete, Failure> {
        engine.stage_delete_path(txn, principal, path, self.allow_partial, refused)
    }

    fn checks_keys() -> bool {
        false
    }

    fn units(staged: &StagedDelete) -> Vec<(Unit, Vec<HalStep>)> {
        staged
            .rows
            .iter()
            .map(|(row, values)| {
                let step = HalStep::Delete {
                    row: row.clone(),
                    values: values.clone(),
                };
                (Unit::Row(row.clone()), std::vec![step])
            })
            .collect()
    }

    /// A refused row stays, reported as unaffected; the path's other rows go.
    fn refused_row(outcome: &mut Result<StagedDelete, Failure>, row: &str, failure: Failure) {
        if let Ok(staged) = outcome {
            staged.affected.retain(|p| !p.starts_with(row));
            staged.unaffected.extend(failure.param_errors);
        }
    }

    fn path_of(path: &String) -> &str {
        path
    }

    fn done(_: &Store, _: &Principal, staged: StagedDelete) -> Deleted {
        Deleted {
            affected: staged.affected,
            unaffected: staged.unaffected,
        }
    }

    fn respond(results: Vec<PathResult<Deleted>>, _: bool) -> DeleteResponse {
        DeleteResponse { results }
    }
}

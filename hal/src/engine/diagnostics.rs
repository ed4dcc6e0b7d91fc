//! CWMP diagnostics run on the HAL commands USP controllers operate.
//!
//! A vendor implements a diagnostic once, as a command
//! ([`Commands::invoke`](crate::traits::Commands::invoke): `Device.IP.Diagnostics.IPPing()`).
//! The CWMP variant of TR-181 has no commands: there the same test is an object with a
//! writable `DiagnosticsState`, the inputs as writable parameters and the results as
//! read-only ones. The engine bridges the two, driven by the schema: a CWMP object `X.` with a
//! `DiagnosticsState` parameter is bridged when the USP model has the command `X()`. Its
//! writable parameters that the command has as input arguments (by name) are the inputs; the
//! output arguments go to the read-only parameters of the same name, and the output `Status`
//! becomes `DiagnosticsState` (`Complete`, `Error_...`).
//!
//! # The `DiagnosticsState` rules (TR-106 data type `DiagnosticsState`)
//!
//! | Set (committed, atomically with the rest of the request) | Effect |
//! |---|---|
//! | `DiagnosticsState` to `Requested` | the test starts at [`Engine::start_diagnostics`] with the inputs as they are then, replacing one running (the inputs' values are checked when set, as parameters of the object) |
//! | `DiagnosticsState` to `Canceled` (where the enumeration has it) | the test is cancelled ([`Commands::cancel`](crate::traits::Commands::cancel)), the state becomes `None` |
//! | `DiagnosticsState` to anything else | refused (9007): only `Requested` and `Canceled` may be written |
//! | any other writable parameter of the object | a test requested or running is cancelled; the state becomes `None` |
//!
//! TR-106 says the CPE *should wait until after completion of the communication session
//! with the ACS* before starting the test: a Set only marks it requested
//! ([`SetResponse::diagnostics_requested`](super::SetResponse::diagnostics_requested)), and the
//! CWMP session asks the engine to start what is requested once it has ended
//! ([`EngineRequest::StartDiagnostics`](super::EngineRequest::StartDiagnostics)).
//!
//! When the command completes, its outputs are written (a command the hardware fails or
//! refuses leaves `Error_Internal`, or the object's nearest error value) and a persistent
//! [`Notice::DiagnosticsComplete`] is queued, from which
//! the CWMP session makes the event `8 DIAGNOSTICS COMPLETE` (a cancelled test gives none).
//! The session acknowledges the notice at the InformResponse to the Inform that carried the
//! event, so it survives a restart like the others until the ACS has it. TR-069 drops a
//! pending `8 DIAGNOSTICS COMPLETE` at a reboot because a CPE need not keep results across
//! one; this engine does (they are in the persisted store), so the ACS still learns of them.
//! A restart ends running tests (commands are not persisted): [`Engine::start`] sets the
//! `DiagnosticsState` still `Requested` to `None`, as TR-106 asks of a CPE that has no
//! results after a reboot (and those never set, which the factory store leaves empty).

//! # What is bridged
//!
//! Every pair the schema has (the test `bridged_pairs` lists them): the IP diagnostics
//! `IPPing`, `TraceRoute`, `DownloadDiagnostics`, `UploadDiagnostics`, `UDPEchoDiagnostics`,
//! `ServerSelectionDiagnostics`, `DNS.Diagnostics.NSLookupDiagnostics`,
//! `SelfTestDiagnostics`, `PacketCaptureDiagnostics`, `Users.CheckCredentialsDiagnostics`,
//! `WiFi.NeighboringWiFiDiagnostic`, the DSL, ATM, HPNA, G.hn and UPA ones, and
//! `MoCA.Interface.{i}.Aca.`, whose command is the object's own (`Aca.Aca()`, not `Aca()`)
//! and reports `success`, `fail` and `failBADCHANNEL` where the object has `Complete`,
//! `Error` and `Error_BadChannel`. Not bridged, as their USP command is not the same test:
//! `IP.Diagnostics.IPLayerCapacityMetrics.` (USP `IP.Diagnostics.IPLayerCapacity()` reads
//! the key table `IP.Diagnostics.IPLayerCapacityAuthCode.{i}.`, the CWMP object has its own
//! below it), `WiFi.CCAMeasurementDiagnostic.` and `WiFi.RemoteMeasurementDiagnostic.` (the
//! USP commands are a radio's, `Radio.{i}.InitiateCCAMeasurement()`, and the CWMP objects
//! do not say which radio).
//!
//! Outputs that are rows (TraceRoute's `RouteHops.{i}.`, NSLookup's `Result.{i}.`, the
//! throughput tests' `IncrementalResult.{i}.`) become rows of the object's table of that name
//! (one level of rows, numbered as the device numbers them); they replace the previous
//! test's rows, and the table's `NumberOfEntries` follows. Input arguments the CWMP object
//! does not have (USP-only options) are not passed, so the command's default applies.

use std::string::{String, ToString};
use std::vec::Vec;

use tr181_model::ValueRule;
use tr181_model::path::{Path, schema_path_of};
use tr181_model::schema::{self, Access, Command, Object, Protocol, StrList};
use tr181_model::store::{Origin, Store, Transaction};
use tr181_model::value::Value;

use super::notice::Notice;
use super::{Engine, EngineError};
use crate::error::HalError;
use crate::feed::CallId;
use crate::traits::{CommandCall, Invoked};

/// The parameter that drives a diagnostics object.
const STATE: &str = "DiagnosticsState";

/// The values of [`STATE`] a controller may write.
const REQUESTED: &str = "Requested";
const CANCELED: &str = "Canceled";

/// A CWMP diagnostics object and the USP command that runs its test.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bridge {
    /// The CWMP object (`Device.IP.Diagnostics.IPPing.`).
    object: &'static Object,
    /// The USP command (`Device.IP.Diagnostics.IPPing()`).
    command: &'static Command,
    /// Whether the command is the object's own (MoCA's `Aca.Aca()`) rather than its
    /// parent's (`IPPing()`).
    own: bool,
}

impl Bridge {
    /// The bridge of the object instance `instance` (`Device.IP.Diagnostics.IPPing.`), if its
    /// object is a diagnostics object whose command the USP model has.
    pub(crate) fn of(instance: &str) -> Option<Self> {
        Self::of_schema(&schema_path_of(instance))
    }

    /// The bridge of schema object path `path`: its command is `X()` for object `X.`, or
    /// `X.X()` (MoCA's `Aca.Aca()`); a table row (`X.{i}.`) has none.
    fn of_schema(path: &str) -> Option<Self> {
        let object = schema::object(path, Protocol::Cwmp)?;
        object.parameter(STATE, Protocol::Cwmp)?;
        let base = path.strip_suffix('.')?;
        let (_, name) = base.rsplit_once('.')?;
        if name == "{i}" {
            return None;
        }
        let (command, own) = match schema::command(&std::format!("{base}()"), Protocol::Usp) {
            Some(command) => (command, false),
            None => (
                schema::command(&std::format!("{path}{name}()"), Protocol::Usp)?,
                true,
            ),
        };
        Some(Self {
            object,
            command,
            own,
        })
    }

    /// The command's input arguments from the object's current values in `store`. A value
    /// the argument refuses is left out, so that the command's default applies: the object's
    /// inputs hold such values only where the ACS never set them (a parameter without a
    /// default in the CWMP model, `ProtocolVersion` empty rather than `Any`), since what the
    /// ACS sets is checked against the same restrictions.
    fn input(self, store: &Store, instance: &str) -> Result<Vec<(String, Value)>, EngineError> {
        let mut input = Vec::new();
        for arg in self.command.input() {
            let name = arg.name();
            let writable = self
                .object
                .parameter(name, Protocol::Cwmp)
                .is_some_and(|p| p.access() == Access::ReadWrite);
            if !writable {
                continue;
            }
            let path = std::format!("{instance}{name}");
            let text = store.value(&path)?.canonical_text();
            if let Ok(value) = Value::parse_for(&text, arg, &path, store.limits()) {
                input.push((name.to_string(), value));
            }
        }
        Ok(input)
    }

    /// The command path of object instance `instance` of this bridge.
    fn command_path(self, instance: &str) -> Option<String> {
        Some(if self.own {
            std::format!("{instance}{}", self.command.name())
        } else {
            std::format!("{}()", instance.strip_suffix('.')?)
        })
    }

    /// Writes a completed test's outputs to `instance` as the device: `Status` to
    /// `DiagnosticsState` ([`state_of`]), every other output to the parameter of that name,
    /// the outputs of a row (`RouteHops.2.Host`) to that row. The previous test's rows go
    /// first, also when this one has none (TR-181: a new test clears the previous results);
    /// every row below a diagnostics object is a result (the test `rows_are_outputs`). A
    /// value the model refuses (the hardware's bug) is left out; a `Status` it has no value
    /// for becomes the object's generic error value.
    fn write_results(
        self,
        txn: &mut Transaction<'_>,
        instance: &str,
        result: Result<Vec<(String, Value)>, HalError>,
    ) {
        let rows = txn.instances(instance, Protocol::Cwmp, true);
        for row in rows.unwrap_or_default() {
            let _ = txn.delete(&row.path);
        }
        let mut status = String::new();
        // A failed command has no outputs: its state becomes the error value below.
        for (name, value) in result.unwrap_or_default() {
            if name == "Status" {
                status = value.canonical_text();
                continue;
            }
            if let Some((table, number)) = row_of(&name) {
                // The row's first output adds it; the others find it there.
                let _ = txn.add_numbered(&std::format!("{instance}{table}"), number, &[]);
            } else if self.object.parameter(&name, Protocol::Cwmp).is_none() {
                continue;
            }
            let _ = txn.set_value(&std::format!("{instance}{name}"), value);
        }
        let Some(parameter) = self.object.parameter(STATE, Protocol::Cwmp) else {
            return;
        };
        let values = parameter.syntax().enumerations();
        let state = state_of(&status, values)
            .or_else(|| {
                ["Error_Internal", "Error_Other", "Error"]
                    .into_iter()
                    .find(|e| values.contains(e))
            })
            .unwrap_or("None");
        let _ = txn.set(&std::format!("{instance}{STATE}"), state);
    }
}

/// The `DiagnosticsState` value (of `values`) of the command's `Status` `status`: the same
/// value, or the object's name for it where the command names it otherwise: MoCA's `Aca()`
/// (`success` is `Complete`, `fail` `Error`, `failBADCHANNEL` `Error_BadChannel`) and
/// `CheckCredentialsDiagnostics()` (`Credentials_Bad_Requested_Password_Incorrect` is
/// `Credentials_Bad_Password_Incorrect`).
fn state_of(status: &str, values: StrList) -> Option<&'static str> {
    let failure = status.strip_prefix("fail");
    let unrequested = status.replacen("_Requested", "", 1);
    values.into_iter().find(|value| {
        *value == unrequested
            || (status == "success" && *value == "Complete")
            || failure
                .zip(value.strip_prefix("Error"))
                .is_some_and(|(f, e)| e.trim_start_matches('_').eq_ignore_ascii_case(f))
    })
}

/// The table (`RouteHops.`) and row number of a row's output (`RouteHops.2.Host`); `None`
/// for an output of the object itself.
fn row_of(name: &str) -> Option<(&str, u32)> {
    let (table, rest) = name.split_once('.')?;
    let (number, _) = rest.split_once('.')?;
    Some((name.get(..=table.len())?, number.parse().ok()?))
}

/// Every diagnostics object of the CWMP model the engine bridges, in path order.
pub(crate) fn bridges() -> impl Iterator<Item = Bridge> {
    schema::objects(Protocol::Cwmp).filter_map(|object| Bridge::of_schema(object.path()))
}

/// Whether `text` may be written to a `DiagnosticsState` parameter (TR-106: only `Requested`
/// and `Canceled`; the enumeration then says whether `Canceled` is supported). `Err` is the
/// model's invalid-value error (9007).
pub(crate) fn check_state_write(path: &str, name: &str, text: &str) -> Result<(), EngineError> {
    if name == STATE && text != REQUESTED && text != CANCELED {
        return Err(tr181_model::Error::InvalidValue {
            path: path.into(),
            rule: ValueRule::Enumeration,
        }
        .into());
    }
    Ok(())
}

/// What a Set did to a diagnostics object, acted on once it is committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DiagnosticWrite {
    /// The test was cancelled (`Canceled`, or an input written): drop it.
    Cancel,
    /// `Requested`: start the test (again) after the session.
    Request,
}

/// The tests the engine knows of, by object instance: a few at most, so a `Vec` (a `BTreeMap`
/// of its own costs the router build several KB).
#[derive(Debug, Default)]
pub(crate) struct Tests(Vec<(String, Diagnostic)>);

impl Tests {
    /// Sets the test of `instance`; returns the one it replaces.
    fn insert(&mut self, instance: String, test: Diagnostic) -> Option<Diagnostic> {
        match self.0.iter_mut().find(|(i, _)| *i == instance) {
            Some((_, old)) => Some(core::mem::replace(old, test)),
            None => {
                self.0.push((instance, test));
                None
            }
        }
    }

    /// Forgets the test of `instance`; returns it.
    fn remove(&mut self, instance: &str) -> Option<Diagnostic> {
        let index = self.0.iter().position(|(i, _)| i == instance)?;
        Some(self.0.swap_remove(index).1)
    }

    fn iter(&self) -> impl Iterator<Item = &(String, Diagnostic)> {
        self.0.iter()
    }

    /// Forgets every test (a restart ended them).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// A test the engine knows of (not persisted: a restart ends it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Diagnostic {
    /// Requested, waiting for [`Engine::start_diagnostics`].
    Requested,
    /// Running as HAL command invocation `CallId`.
    Running(CallId),
}

impl Engine {
    /// Applies the `DiagnosticsState` rules to the Set of `written` (relative names) on
    /// object instance `instance`, in the Set's transaction; `None` when the object is no
    /// [`Bridge`] or the Set leaves its test alone.
    pub(crate) fn stage_diagnostic(
        txn: &mut Transaction<'_>,
        instance: &str,
        written: &[&str],
    ) -> Result<Option<DiagnosticWrite>, EngineError> {
        if written.is_empty() {
            return Ok(None);
        }
        if Bridge::of(instance).is_none() {
            return Ok(None);
        }
        let state = std::format!("{instance}{STATE}");
        let requested = written.contains(&STATE);
        if requested && txn.value(&state)?.canonical_text() == REQUESTED {
            return Ok(Some(DiagnosticWrite::Request));
        }
        if txn.value(&state)?.canonical_text() != "None" {
            txn.set(&state, "None")?;
        }
        Ok(Some(DiagnosticWrite::Cancel))
    }

    /// Records committed diagnostics writes; the running tests they end wait for
    /// [`cancel_ended_diagnostics`](Self::cancel_ended_diagnostics).
    pub(crate) fn diagnostics_written(
        &self,
        writes: impl Iterator<Item = (String, DiagnosticWrite)>,
    ) {
        let mut state = self.state();
        for (instance, write) in writes {
            let before = match write {
                DiagnosticWrite::Request => {
                    state.diagnostics.insert(instance, Diagnostic::Requested)
                }
                DiagnosticWrite::Cancel => state.diagnostics.remove(&instance),
            };
            if let Some(Diagnostic::Running(call)) = before {
                state.ended_diagnostics.push(call);
            }
        }
    }

    /// Cancels on the hardware the running tests a Set ended. A test that finished meanwhile
    /// has nothing to cancel; its completion is ignored, as it is no test any more.
    pub(crate) async fn cancel_ended_diagnostics(&self) {
        let ended = std::mem::take(&mut self.state().ended_diagnostics);
        for call in ended {
            let _ = self.hal.commands.cancel(call).await;
        }
    }

    /// Whether a diagnostic test waits for [`start_diagnostics`](Self::start_diagnostics).
    pub(crate) fn diagnostics_waiting(&self) -> bool {
        self.state()
            .diagnostics
            .iter()
            .any(|(_, d)| *d == Diagnostic::Requested)
    }

    /// Starts every diagnostic test a CWMP Set requested (see the
    /// [module docs](self)): the HAL command runs with the object's current inputs. A
    /// command the hardware refuses completes the test with an error state at the next
    /// [`handle_device_inputs`](Self::handle_device_inputs). Returns how many tests started.
    pub async fn start_diagnostics(&self) -> Result<usize, EngineError> {
        self.require_started()?;
        let _gate = self.gate.enter().await;
        let requested: Vec<String> = self
            .state()
            .diagnostics
            .iter()
            .filter(|(_, d)| *d == Diagnostic::Requested)
            .map(|(instance, _)| instance.clone())
            .collect();
        for instance in &requested {
            let Some((bridge, path)) =
                Bridge::of(instance).and_then(|b| Some((b, b.command_path(instance)?)))
            else {
                self.state().diagnostics.remove(instance);
                continue;
            };
            let call = {
                let mut state = self.state();
                state.next_call = state.next_call.saturating_add(1);
                let call = CallId(state.next_call);
                state
                    .diagnostics
                    .insert(instance.clone(), Diagnostic::Running(call));
                call
            };
            let input = bridge.input(&self.store(), instance);
            let invoked = match input {
                Ok(input) => {
                    let invocation = CommandCall {
                        id: call,
                        path,
                        command: bridge.command,
                        input,
                        command_key: String::new(),
                    };
                    let reporter = self.sink.command_reporter(call);
                    self.hal.commands.invoke(&invocation, reporter).await
                }
                Err(error) => Err(HalError::Failed {
                    path,
                    reason: error.to_string(),
                }),
            };
            // A test that ended at once (or could not start) completes as any other, through
            // the device inputs, which write and persist its results.
            let reporter = self.sink.command_reporter(call);
            match invoked {
                Ok(Invoked::Running) => {}
                Ok(Invoked::Done(output)) => reporter.complete(Ok(output)),
                Err(error) => reporter.complete(Err(error)),
            }
        }
        Ok(requested.len())
    }

    /// The object instance whose test runs as `call`, which that test then no longer is.
    pub(crate) fn take_diagnostic(&self, call: CallId) -> Option<String> {
        let mut state = self.state();
        let instance = state
            .diagnostics
            .iter()
            .find(|(_, d)| *d == Diagnostic::Running(call))
            .map(|(instance, _)| instance.clone())?;
        state.diagnostics.remove(&instance);
        Some(instance)
    }

    /// Ends the test of `instance`: writes its results and queues
    /// [`Notice::DiagnosticsComplete`]. The caller saves the store and the events.
    pub(crate) fn finish_diagnostic(
        &self,
        instance: String,
        result: Result<Vec<(String, Value)>, HalError>,
    ) {
        if let Some(bridge) = Bridge::of(&instance) {
            let mut store = self.store();
            let mut txn = store.transaction(Origin::Device);
            bridge.write_results(&mut txn, &instance, result);
            let _ = txn.commit();
        }
        self.push_notice(Notice::DiagnosticsComplete(instance));
    }
}

/// Sets every `DiagnosticsState` still `Requested` to `None` (a restart ended the tests), and
/// those never set (empty in a factory store, as the CWMP model gives them no default).
pub(crate) fn reset_states(store: &mut Store) {
    let mut stale = Vec::new();
    for bridge in bridges() {
        let pattern = std::format!("{}{STATE}", bridge.object.path()).replace("{i}", "*");
        let Ok(path) = Path::parse(&pattern, store.limits()) else {
            continue;
        };
        let Ok(found) = store.resolve(&path, Protocol::Cwmp) else {
            continue;
        };
        for item in &found {
            let path = found.path(item);
            let text = store.value(&path).map(Value::canonical_text);
            if text.is_ok_and(|t| t == REQUESTED || t.is_empty()) {
                stale.push(path);
            }
        }
    }
    if stale.is_empty() {
        return;
    }
    let mut txn = store.transaction(Origin::Device);
    for path in &stale {
        let _ = txn.set(path, "None");
    }
    let _ = txn.commit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridged_pairs() {
        let bridged: Vec<&str> = bridges().map(|b| b.object.path()).collect();
        assert_eq!(
            bridged,
            [
                "Device.ATM.Diagnostics.F5Loopback.",
                "Device.DNS.Diagnostics.NSLookupDiagnostics.",
                "Device.DSL.Diagnostics.ADSLLineTest.",
                "Device.DSL.Diagnostics.SELTP.",
                "Device.DSL.Diagnostics.SELTQLN.",
                "Device.DSL.Diagnostics.SELTUER.",
                "Device.Ghn.Diagnostics.PHYThroughput.",
                "Device.Ghn.Diagnostics.PerformanceMonitoring.",
                "Device.HPNA.Diagnostics.PHYThroughput.",
                "Device.HPNA.Diagnostics.PerformanceMonitoring.",
                "Device.IP.Diagnostics.DownloadDiagnostics.",
                "Device.IP.Diagnostics.IPPing.",
                "Device.IP.Diagnostics.ServerSelectionDiagnostics.",
                "Device.IP.Diagnostics.TraceRoute.",
                "Device.IP.Diagnostics.UDPEchoDiagnostics.",
                "Device.IP.Diagnostics.UploadDiagnostics.",
                "Device.MoCA.Interface.{i}.Aca.",
                "Device.PacketCaptureDiagnostics.",
                "Device.SelfTestDiagnostics.",
                "Device.UPA.Diagnostics.InterfaceMeasurement.",
                "Device.Users.CheckCredentialsDiagnostics.",
                "Device.WiFi.NeighboringWiFiDiagnostic.",
            ]
        );
        // CWMP diagnostics objects whose USP command is another test (see the module docs).
        for object in [
            "Device.IP.Diagnostics.IPLayerCapacityMetrics.",
            "Device.WiFi.CCAMeasurementDiagnostic.",
            "Device.WiFi.RemoteMeasurementDiagnostic.",
        ] {
            let cwmp = schema::object(object, Protocol::Cwmp).unwrap();
            assert!(cwmp.parameter(STATE, Protocol::Cwmp).is_some(), "{object}");
            assert!(Bridge::of_schema(object).is_none(), "{object}");
        }
    }

    /// Every table below a bridged object holds the command's outputs, so that the rows a
    /// test's results replace are results, never inputs.
    #[test]
    fn rows_are_outputs() {
        for bridge in bridges() {
            let object = bridge.object.path();
            let tables = schema::objects(Protocol::Cwmp)
                .map(Object::path)
                .filter(|p| p.len() > object.len() && p.starts_with(object));
            for table in tables {
                let relative = &table[object.len()..];
                assert!(
                    bridge
                        .command
                        .output()
                        .iter()
                        .any(|arg| arg.name().starts_with(relative)),
                    "{table}"
                );
            }
        }
    }

    /// Every `Status` a bridged command may report gives a `DiagnosticsState` of its own, but
    /// errors the object has no name for (`Error_Invalid_Input` becomes `Error`) and MoCA's
    /// `inPROGRESS` ("not used").
    #[test]
    fn every_status_has_its_state() {
        let mut missing = Vec::new();
        for bridge in bridges() {
            let states = bridge
                .object
                .parameter(STATE, Protocol::Cwmp)
                .unwrap()
                .syntax()
                .enumerations();
            let status = bridge
                .command
                .output()
                .iter()
                .find(|a| a.name() == "Status");
            for value in status.unwrap().syntax().enumerations() {
                let generic = value.starts_with("Error_") || value == "inPROGRESS";
                if !generic && state_of(value, states).is_none() {
                    missing.push((bridge.object.path(), value));
                }
            }
        }
        assert_eq!(missing, []);
    }

    /// MoCA's `Aca.Aca()`: its instance's command path and its `Status` in CWMP's words.
    #[test]
    fn moca_aca_reports_in_the_cwmp_names() {
        let object = "Device.MoCA.Interface.1.Aca.";
        let bridge = Bridge::of(object).unwrap();
        assert_eq!(
            bridge.command_path(object).unwrap(),
            "Device.MoCA.Interface.1.Aca.Aca()"
        );
        let ping = Bridge::of("Device.IP.Diagnostics.IPPing.").unwrap();
        assert_eq!(
            ping.command_path("Device.IP.Diagnostics.IPPing.").unwrap(),
            "Device.IP.Diagnostics.IPPing()"
        );

        let mut store = Store::new();
        let mut txn = store.transaction(Origin::Device);
        txn.add_numbered("Device.MoCA.Interface.", 1, &[]).unwrap();
        txn.commit().unwrap();
        let run = |store: &mut Store, status: &str| {
            let mut txn = store.transaction(Origin::Device);
            let output = std::vec![
                ("Status".to_string(), Value::String(status.into())),
                ("TotalRxPower".to_string(), Value::Int(-40)),
            ];
            bridge.write_results(&mut txn, object, Ok(output));
            txn.commit().unwrap();
            store
                .value(&std::format!("{object}{STATE}"))
                .unwrap()
                .canonical_text()
        };
        assert_eq!(run(&mut store, "success"), "Complete");
        assert_eq!(
            store
                .value(&std::format!("{object}TotalRxPower"))
                .unwrap()
                .canonical_text(),
            "-40"
        );
        assert_eq!(run(&mut store, "failBADCHANNEL"), "Error_BadChannel");
        assert_eq!(run(&mut store, "failNOEVMPROBE"), "Error_NoEvmProbe");
        assert_eq!(run(&mut store, "fail"), "Error");
        assert_eq!(run(&mut store, "inPROGRESS"), "Error");
    }
}

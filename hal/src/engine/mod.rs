//! The engine: executes protocol-neutral requests against the `tr181-model` store and the HAL.
//!
//! # Shape
//!
//! One [`Engine`] per device, shared as `Arc<Engine>` by the CWMP and USP drivers. Every
//! request method is `async` (it may await the HAL) and takes the [`Principal`] that sent it.
//! Rules that belong to the model live here once, for both protocols: access checks, value
//! validation, unique keys, instance numbering (all through the store), atomic writes with HAL
//! rollback, the change log.
//!
//! ```text
//!   cwmp-core / usp-core ──request──▶ Engine ──▶ Store (tr181-model)
//!          ▲                           │  ▲
//!          └──── responses, notices ───┘  └── DeviceSink ◀── hardware (events, value feed)
//!                                      │
//!                                      └──▶ HAL traits (read, apply, tables, commands, ...)
//! ```
//!
//! The protocol crates never call the engine themselves: they hand their driver an
//! [`EngineRequest`], which [`EngineRequest::execute`] runs (see [`driver`]).
//!
//! # Atomic writes
//!
//! Set, Add and Delete run in three phases under the engine's write gate (an async lock, so no
//! other writer interleaves): (1) stage every operation in a store transaction, collecting the
//! per-object changes and the errors, then roll the transaction back; (2) hand the changes to
//! the HAL object by object (`Parameters::apply`, `Tables::added`, `Tables::deleted`), undoing
//! the objects already applied if one fails (apply with old and new swapped, delete what was
//! added, re-add what was deleted); (3) replay the same operations on the store and commit.
//! Nothing is half-applied: a failure in (1) or (2) leaves the store untouched and the device
//! as it was. No lock is held across an `.await`. The three phases are one generic routine;
//! Set, Add and Delete supply only their staging, their per-object hardware steps and how a
//! refusal by the hardware affects their result, and every hardware step knows its undo.
//!
//! # Access control
//!
//! Every request, the CWMP lifecycle RPCs ([`Engine::reboot`], [`Engine::factory_reset`],
//! [`Engine::transfer`]) included, is checked against the [`AccessControl`] policy; see
//! [`access`] for what each request needs and how hidden and secured values are shown.
//!
//! # Asynchronous commands and notices
//!
//! An asynchronous command gets a `Device.LocalAgent.Request.{i}.` row and returns
//! [`OperateOutcome::Started`]; the hardware later reports completion through the
//! [`DeviceSink`], and [`Engine::handle_device_inputs`] deletes the row and queues a
//! [`Notice::OperationComplete`]. Notices are drained with [`Engine::poll_notice`] and stay
//! pending (and persisted) until [`Engine::acknowledge`]d.
//!
//! A CWMP ACS runs the same commands through the diagnostics objects of the CWMP model
//! (`DiagnosticsState` `Requested`), which [`diagnostics`] bridges to them; their end is a
//! [`Notice::DiagnosticsComplete`].
//!
//! # Persistence
//!
//! The store is saved (JSON, [`Section::Store`]) after every committed controller change;
//! pending notices and the next boot's cause ([`Section::Events`]) and transfers in progress
//! ([`Section::Transfers`]) whenever they change. [`Engine::start`] loads them, or builds the
//! factory store with [`Lifecycle::factory_defaults`](crate::traits::Lifecycle::factory_defaults);
//! a section that does not read (a worn flash, a cut write) is started without and reported
//! ([`BootInfo::discarded`]).

pub mod access;
pub mod diagnostics;
pub mod driver;
mod gate;
pub mod notice;
mod operate;
mod read;
pub mod request;
pub mod response;
mod running;
mod write;

use std::string::{String, ToString};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use litemap::LiteMap;
use serde::{Deserialize, Serialize};
use tr181_model::Limits;
use tr181_model::lenient::{LenientList, keep_read};
pub(crate) use tr181_model::path::schema_path_of;
use tr181_model::path::{Path, Segment};
use tr181_model::schema::{Parameter, Protocol, Protocols};
use tr181_model::store::{ChangeRecord, Origin, Resolved, Store, Transaction};
use tr181_model::value::{DateTime, Value};

pub use access::{AccessControl, AllowAll, PathRule, PathRules, Permissions, Principal, Target};
pub use driver::{DeviceUpdate, EngineRequest, EngineResult};
pub use notice::{BootInfo, CommandFailure, Notice, NoticeId, OperationComplete};
pub use request::{
    AddRequest, DeleteRequest, GetInstancesRequest, GetNamesRequest, GetRequest, ObjectCreation,
    ObjectSettings, OperateRequest, ParamSetting, SetRequest, SupportedRequest,
};
pub use response::{
    AddResponse, AddedInstance, DeleteResponse, Deleted, Failure, GetInstancesResponse,
    GetResponse, GotObject, GotObjects, GotParam, GotPath, OperateOutcome, OperateResponse,
    OperateResult, ParamError, PathResult, SetResponse, SupportedResponse, UpdatedInstance,
};

use crate::error::{EngineError, HalError};
use crate::feed::{CallId, DeviceInput, DeviceSink};
use crate::traits::{BootCause, Hal, Section, Storage};
use crate::transfer::{Direction, TransferFault, TransferId, TransferResult};

/// Settings and limits of an [`Engine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Limits on paths and values, applied to the store. Default [`Limits::DEFAULT`].
    pub limits: Limits,
    /// Most paths, objects or rows in one request. Default 4096 (STYLE §2.5); more is
    /// [`EngineError::LimitExceeded`] (CWMP 9004, USP 7005).
    pub max_request_items: usize,
    /// Most device inputs queued in the [`DeviceSink`]; the oldest is dropped beyond. Default
    /// 1024: a flood of device events (a flapping link, a stuck button) must not grow memory
    /// between two calls of [`Engine::handle_device_inputs`].
    pub max_device_inputs: usize,
    /// Most pending notices; the oldest is dropped beyond. Default 1024: notices wait for the
    /// protocol stacks' acknowledgements, which an unreachable ACS or controller may never
    /// send.
    pub max_notices: usize,
    /// Most file transfers in progress (CWMP Download/Upload, USP `Download()` and the
    /// like); beyond, [`EngineError::LimitExceeded`] (CWMP 9004, USP 7005). Default 64: four
    /// times CWMP's queue, as USP controllers start theirs too; each is persisted until its
    /// result comes in, and a restart reports every one of them.
    pub max_transfers: usize,
    /// The protocol stacks that each acknowledge notices ([`Engine::acknowledge_for`]); a
    /// notice stays pending (and persisted) until all of them have. `None` (the default): the
    /// first acknowledgement forgets it, which suits a device running one stack.
    pub notice_consumers: Option<Protocols>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            limits: Limits::DEFAULT,
            max_request_items: 4096,
            max_device_inputs: 1024,
            max_notices: 1024,
            max_transfers: 64,
            notice_consumers: None,
        }
    }
}

impl EngineConfig {
    /// Sets the path and value limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the most items per request.
    pub fn with_max_request_items(mut self, max: usize) -> Self {
        self.max_request_items = max;
        self
    }

    /// Sets the protocol stacks that must each acknowledge a notice (a device running both
    /// CWMP and USP passes both, so that a boot acknowledged by the ACS still reaches the USP
    /// controllers).
    pub fn with_notice_consumers(mut self, consumers: Protocols) -> Self {
        self.notice_consumers = Some(consumers);
        self
    }
}

/// The cause of the next boot, persisted before a reboot or reset is asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct BootIntent {
    cause: BootCause,
    command_key: String,
}

/// The [`Section::Events`] document.
#[derive(Debug, Default, Serialize)]
struct EventsDoc {
    next_id: u64,
    pending: Vec<(NoticeId, Notice)>,
    /// Consumers that acknowledged a pending notice already (absent in older files).
    #[serde(default)]
    acknowledged: Vec<(NoticeId, Vec<ProtocolName>)>,
    boot: Option<BootIntent>,
}

/// [`EventsDoc`] as read: each entry on its own ([`LenientList`]).
#[derive(Deserialize)]
struct EventsRead {
    next_id: u64,
    pending: LenientList<(NoticeId, Notice)>,
    #[serde(default)]
    acknowledged: LenientList<(NoticeId, Vec<ProtocolName>)>,
    boot: Option<BootIntent>,
}

impl EventsRead {
    /// The document, without its malformed entries (counted in `malformed`).
    fn keep_read(self, malformed: &mut usize) -> EventsDoc {
        EventsDoc {
            next_id: self.next_id,
            pending: keep_read(self.pending, malformed),
            acknowledged: keep_read(self.acknowledged, malformed),
            boot: self.boot,
        }
    }
}

/// A [`Protocol`] in the events file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum ProtocolName {
    Cwmp,
    Usp,
}

impl From<Protocol> for ProtocolName {
    fn from(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Cwmp => Self::Cwmp,
            Protocol::Usp => Self::Usp,
        }
    }
}

impl From<ProtocolName> for Protocol {
    fn from(name: ProtocolName) -> Self {
        match name {
            ProtocolName::Cwmp => Self::Cwmp,
            ProtocolName::Usp => Self::Usp,
        }
    }
}

/// The USP operation a transfer belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct OperationRef {
    command: String,
    request: Option<String>,
    originator: String,
}

/// A transfer in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RunningTransfer {
    id: TransferId,
    direction: Direction,
    command_key: String,
    start_time: Option<DateTime>,
    operation: Option<OperationRef>,
}

/// The [`Section::Transfers`] document.
#[derive(Debug, Default, Serialize)]
struct TransfersDoc {
    next_id: u32,
    running: Vec<RunningTransfer>,
}

/// [`TransfersDoc`] as read: each transfer on its own ([`LenientList`]).
#[derive(Deserialize)]
struct TransfersRead {
    next_id: u32,
    running: LenientList<RunningTransfer>,
}

/// An asynchronous command in progress (not persisted: a reboot ends it).
#[derive(Clone, Debug)]
struct RunningCall {
    command: String,
    command_key: String,
    request: Option<String>,
    originator: String,
}

#[derive(Debug, Default)]
struct State {
    started: bool,
    notices: notice::Notices,
    boot: Option<BootIntent>,
    transfers: TransfersDoc,
    calls: LiteMap<CallId, RunningCall>,
    next_call: u32,
    /// Diagnostic tests requested or running, by object instance.
    diagnostics: diagnostics::Tests,
    /// Running tests a committed Set ended, to cancel on the hardware.
    ended_diagnostics: Vec<CallId>,
}

/// The protocol-neutral request executor; see the [module docs](self).
pub struct Engine {
    hal: Hal,
    access: Arc<dyn AccessControl>,
    config: EngineConfig,
    store: Mutex<Store>,
    gate: gate::Gate,
    sink: DeviceSink,
    state: Mutex<State>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The object part of a parameter path (up to and including the last dot).
pub(crate) fn object_of(path: &str) -> &str {
    path.rfind('.')
        .and_then(|dot| path.get(..=dot))
        .unwrap_or("")
}

fn storage_error(error: &serde_json::Error) -> EngineError {
    EngineError::Hal(HalError::Storage {
        reason: error.to_string(),
    })
}

impl Engine {
    /// An engine over `hal`, with `access` deciding what each principal may do. Call
    /// [`start`](Self::start) before any request.
    pub fn new(hal: Hal, access: Arc<dyn AccessControl>, config: EngineConfig) -> Self {
        let mut store = Store::new();
        store.set_limits(config.limits);
        Self {
            hal,
            access,
            config,
            store: Mutex::new(store),
            gate: gate::Gate::default(),
            sink: DeviceSink::new(config.max_device_inputs),
            state: Mutex::new(State {
                notices: notice::Notices {
                    capacity: config.max_notices,
                    consumers: config.notice_consumers,
                    ..notice::Notices::default()
                },
                ..State::default()
            }),
        }
    }

    /// The handle the hardware feeds events and changes through.
    pub fn sink(&self) -> DeviceSink {
        self.sink.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn require_started(&self) -> Result<(), EngineError> {
        if self.state().started {
            Ok(())
        } else {
            Err(EngineError::ApiMisuse("the engine has not been started"))
        }
    }

    fn check_items(&self, count: usize) -> Result<(), EngineError> {
        if count > self.config.max_request_items {
            return Err(EngineError::LimitExceeded {
                what: "items in one request",
                limit: self.config.max_request_items,
            });
        }
        Ok(())
    }

    fn now(&self) -> Option<DateTime> {
        self.hal.clock.now()
    }

    // -----------------------------------------------------------------------------------------
    // Start and persistence

    /// Loads the persisted state (or builds the factory store), clears requests a reboot
    /// ended, and queues the [`Notice::Booted`] of this boot, which it also returns.
    ///
    /// A persisted section that cannot be read (cut short or garbled) is started without and
    /// named in [`BootInfo::discarded`]: the store is replaced by the factory store (and
    /// reported as a bootstrap), pending notices and running transfers are forgotten, so that
    /// a corrupt flash does not brick the management plane. One that reads but holds more
    /// notices or transfers than [`EngineConfig`] lets the engine keep while running is cut
    /// to those bounds, keeping the newest (the oldest are what running drops), and named in
    /// [`BootInfo::trimmed`]. One that reads but holds entries of the wrong JSON type (a
    /// stored value, a notice, a transfer) loses those alone, counted in
    /// [`BootInfo::malformed`].
    pub async fn start(&self) -> Result<BootInfo, EngineError> {
        let _gate = self.gate.enter().await;
        let storage = &self.hal.storage;
        let mut discarded = Vec::new();
        let loaded: Option<Store> = read_section(&mut discarded, Section::Store, storage).await?;
        let events: Option<EventsRead> =
            read_section(&mut discarded, Section::Events, storage).await?;
        let transfers: Option<TransfersRead> =
            read_section(&mut discarded, Section::Transfers, storage).await?;
        let mut malformed = Vec::new();
        let mut count = |section, n: usize| {
            if n > 0 {
                malformed.push((section, n));
            }
        };
        count(
            Section::Store,
            loaded.as_ref().map_or(0, Store::malformed_on_load),
        );
        let (mut in_events, mut in_transfers) = (0, 0);
        let events = events.map(|doc| doc.keep_read(&mut in_events));
        let transfers = transfers.map(|doc| TransfersDoc {
            next_id: doc.next_id,
            running: keep_read(doc.running, &mut in_transfers),
        });
        count(Section::Events, in_events);
        count(Section::Transfers, in_transfers);
        let bootstrap = loaded.is_none();
        let mut store = match loaded {
            Some(store) => store,
            None => self.factory_store()?,
        };
        store.set_limits(self.config.limits);
        clear_requests(&mut store);
        diagnostics::reset_states(&mut store);
        *self.store() = store;

        let mut events = events.unwrap_or_default();
        let mut transfers = transfers.unwrap_or_default();
        let mut trimmed = Vec::new();
        if keep_newest(&mut events.pending, self.config.max_notices.max(1)) {
            trimmed.push(Section::Events);
        }
        events
            .acknowledged
            .retain(|(id, _)| events.pending.iter().any(|(p, _)| p == id));
        if keep_newest(&mut transfers.running, self.config.max_transfers) {
            trimmed.push(Section::Transfers);
        }
        let report = self.hal.lifecycle.boot_report();
        let cause = match &events.boot {
            Some(intent) => intent.cause,
            None if report.local_factory_reset => BootCause::LocalFactoryReset,
            None => BootCause::LocalReboot,
        };
        let info = BootInfo {
            cause,
            command_key: events
                .boot
                .as_ref()
                .map(|b| b.command_key.clone())
                .unwrap_or_default(),
            bootstrap,
            firmware_updated: report.firmware_updated,
            discarded,
            trimmed,
            malformed,
        };
        {
            let mut state = self.state();
            state.notices.next_id = events.next_id;
            state.notices.pending = events.pending.into_iter().collect();
            state.notices.acknowledged = events
                .acknowledged
                .into_iter()
                .map(|(id, by)| (id, by.into_iter().map(Protocol::from).collect()))
                .collect();
            state.notices.delivered_below = 0;
            state.boot = None;
            state.transfers = transfers;
            state.calls.clear();
            state.diagnostics.clear();
            state.notices.push(Notice::Booted(info.clone()));
            state.started = true;
        }
        self.save_store().await?;
        self.save_events().await?;
        // The store and the events are saved above; unreadable or trimmed transfers are
        // replaced too, so that the next boot does not report them again.
        if info.discarded.contains(&Section::Transfers)
            || info.trimmed.contains(&Section::Transfers)
        {
            self.save_transfers().await?;
        }
        Ok(info)
    }

    /// A store holding the vendor's factory configuration.
    fn factory_store(&self) -> Result<Store, EngineError> {
        let mut store = Store::new();
        store.set_limits(self.config.limits);
        let mut txn = store.transaction(Origin::Device);
        self.hal.lifecycle.factory_defaults(&mut txn)?;
        txn.commit()?;
        Ok(store)
    }

    /// Streams the store to storage ([`Storage::save_with`]): its text, megabytes with many rows,
    /// is not built in memory first. The store is locked while it is written.
    async fn save_store(&self) -> Result<(), EngineError> {
        let write = |out: &mut dyn std::io::Write| {
            serde_json::to_writer(out, &*self.store()).map_err(std::io::Error::from)
        };
        self.hal.storage.save_with(Section::Store, &write).await?;
        Ok(())
    }

    async fn save_events(&self) -> Result<(), EngineError> {
        let bytes = {
            let state = self.state();
            let doc = EventsDoc {
                next_id: state.notices.next_id,
                pending: state
                    .notices
                    .pending
                    .iter()
                    .filter(|(_, n)| n.is_persistent())
                    .cloned()
                    .collect(),
                acknowledged: state
                    .notices
                    .acknowledged
                    .iter()
                    .map(|(id, by)| (*id, by.iter().copied().map(ProtocolName::from).collect()))
                    .collect(),
                boot: state.boot.clone(),
            };
            serde_json::to_vec(&doc).map_err(|e| storage_error(&e))?
        };
        self.hal.storage.save(Section::Events, &bytes).await?;
        Ok(())
    }

    async fn save_transfers(&self) -> Result<(), EngineError> {
        let bytes = serde_json::to_vec(&self.state().transfers).map_err(|e| storage_error(&e))?;
        self.hal.storage.save(Section::Transfers, &bytes).await?;
        Ok(())
    }

    /// Saves the store, notices and transfers now (e.g. before a local reboot).
    pub async fn persist(&self) -> Result<(), EngineError> {
        let _gate = self.gate.enter().await;
        self.save_store().await?;
        self.save_events().await?;
        self.save_transfers().await
    }

    /// Saves the protocol layers' own state ([`Section::Subscriptions`]).
    pub async fn save_subscriptions(&self, data: &[u8]) -> Result<(), EngineError> {
        self.hal.storage.save(Section::Subscriptions, data).await?;
        Ok(())
    }

    /// Loads the protocol layers' own state.
    pub async fn load_subscriptions(&self) -> Result<Option<Vec<u8>>, EngineError> {
        Ok(self.hal.storage.load(Section::Subscriptions).await?)
    }

    /// Saves the bulk data driver's retained reports ([`Section::BulkData`], written by
    /// [`bulkdata::saved`](crate::bulkdata::saved)); `None` removes them.
    pub async fn save_bulk_data(&self, data: Option<&[u8]>) -> Result<(), EngineError> {
        match data {
            Some(data) => self.hal.storage.save(Section::BulkData, data).await?,
            None => self.hal.storage.remove(Section::BulkData).await?,
        }
        Ok(())
    }

    /// Loads the bulk data driver's retained reports, for
    /// [`bulkdata::restore`](crate::bulkdata::restore).
    pub async fn load_bulk_data(&self) -> Result<Option<Vec<u8>>, EngineError> {
        Ok(self.hal.storage.load(Section::BulkData).await?)
    }

    // -----------------------------------------------------------------------------------------
    // Reading the store, the change log and notices

    /// Runs `f` on the store (locked for the duration: keep it short, do not call the engine).
    pub fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&self.store())
    }

    /// Changes the store as the device (local applications, the vendor's own configuration
    /// agents) in one transaction, committed when `f` succeeds. Not passed to the HAL.
    pub async fn device_update<R>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, tr181_model::Error>,
    ) -> Result<R, EngineError> {
        let _gate = self.gate.enter().await;
        let result = {
            let mut store = self.store();
            let mut txn = store.transaction(Origin::Device);
            let result = f(&mut txn)?;
            txn.commit()?;
            result
        };
        self.save_store().await?;
        Ok(result)
    }

    /// The change records after sequence number `seq` (value changes, object creation and
    /// deletion), for notifications.
    pub fn changes_since(&self, seq: u64) -> Vec<ChangeRecord> {
        self.store().changes_since(seq).cloned().collect()
    }

    /// The last change-log sequence number.
    pub fn last_seq(&self) -> u64 {
        self.store().last_seq()
    }

    /// The next notice not yet returned by this method (in order). Persistent notices stay
    /// pending until [`acknowledge`](Self::acknowledge)d; after a restart every pending
    /// notice is returned again.
    pub fn poll_notice(&self) -> Option<(NoticeId, Notice)> {
        self.state().notices.poll()
    }

    /// Every pending (unacknowledged) notice, oldest first.
    pub fn pending_notices(&self) -> Vec<(NoticeId, Notice)> {
        self.state().notices.pending.iter().cloned().collect()
    }

    /// Marks a notice as delivered to the peer (CWMP InformResponse or TransferCompleteResponse,
    /// USP NotifyResp) and forgets it, whatever [`EngineConfig::notice_consumers`] says.
    /// Returns whether it was pending.
    pub async fn acknowledge(&self, id: NoticeId) -> Result<bool, EngineError> {
        let _gate = self.gate.enter().await;
        let found = self.state().notices.acknowledge(id);
        if found {
            self.save_events().await?;
        }
        Ok(found)
    }

    /// Records that `protocol`'s stack delivered a notice; it is forgotten once every one of
    /// [`EngineConfig::notice_consumers`] has (at once when none are configured). Returns
    /// whether it was pending.
    pub async fn acknowledge_for(
        &self,
        id: NoticeId,
        protocol: Protocol,
    ) -> Result<bool, EngineError> {
        let _gate = self.gate.enter().await;
        let found = self.state().notices.acknowledge_for(id, protocol);
        if found {
            self.save_events().await?;
        }
        Ok(found)
    }

    fn push_notice(&self, notice: Notice) -> NoticeId {
        self.state().notices.push(notice)
    }

    // -----------------------------------------------------------------------------------------
    // Device inputs

    /// Applies everything the hardware pushed into the [`DeviceSink`]: value changes and
    /// discovered rows go into the store (and so the change log), events and completions
    /// become notices. Returns how many inputs were handled.
    pub async fn handle_device_inputs(&self) -> Result<usize, EngineError> {
        self.require_started()?;
        let inputs = self.sink.drain();
        if inputs.is_empty() {
            return Ok(0);
        }
        let _gate = self.gate.enter().await;
        let count = inputs.len();
        let mut events_changed = false;
        let mut transfers_changed = false;
        let mut store_changed = false;
        for input in inputs {
            match input {
                DeviceInput::ValueChanged { object, values } => {
                    let mut store = self.store();
                    let mut txn = store.transaction(Origin::Device);
                    for (name, value) in values {
                        let path = std::format!("{object}{name}");
                        // A value the model refuses is the hardware's bug; keep the old one.
                        let _ = txn.set_value(&path, value);
                    }
                    let _ = txn.commit();
                }
                DeviceInput::TableChanged { table } => {
                    // In the model that has the table: `ManagementServer.ManageableDevice`
                    // is CWMP's only.
                    let row = std::format!("{}{{i}}.", schema_path_of(&table));
                    let protocol = if tr181_model::schema::object(&row, Protocol::Usp).is_some() {
                        Protocol::Usp
                    } else {
                        Protocol::Cwmp
                    };
                    self.discover_table(&table, protocol).await;
                }
                DeviceInput::Event { path, args } => {
                    self.push_notice(Notice::Event { path, args });
                    events_changed = true;
                }
                DeviceInput::Progress { call, percent } => {
                    self.push_notice(Notice::Progress { call, percent });
                }
                DeviceInput::CommandDone { call, result } => {
                    if let Some(instance) = self.take_diagnostic(call) {
                        self.finish_diagnostic(instance, result);
                        events_changed = true;
                        store_changed = true;
                    } else {
                        let result = result.map_err(EngineError::Hal);
                        events_changed |= self.finish_call(call, result);
                    }
                }
                DeviceInput::TransferDone {
                    id,
                    start_time,
                    result,
                } => {
                    if self.finish_transfer(id, start_time, result) {
                        events_changed = true;
                        transfers_changed = true;
                    }
                }
                DeviceInput::NetworkUp => {
                    self.push_notice(Notice::NetworkUp);
                }
            }
        }
        if store_changed {
            self.save_store().await?;
        }
        if events_changed {
            self.save_events().await?;
        }
        if transfers_changed {
            self.save_transfers().await?;
        }
        Ok(count)
    }

    /// Ends asynchronous command `call`: deletes its request row and queues the notice.
    /// Returns whether the call was known.
    fn finish_call(&self, call: CallId, result: Result<Vec<(String, Value)>, EngineError>) -> bool {
        let Some(running) = self.state().calls.remove(&call) else {
            return false;
        };
        if let Some(request) = &running.request {
            delete_row(&mut self.store(), request);
        }
        let result = result
            .map(|out| {
                out.into_iter()
                    .map(|(name, value)| (name, value.canonical_text()))
                    .collect()
            })
            .map_err(|e| CommandFailure::from(&e));
        self.push_notice(Notice::OperationComplete(OperationComplete {
            command: running.command,
            command_key: running.command_key,
            request: running.request,
            originator: running.originator,
            result,
        }));
        true
    }

    /// Ends transfer `id`; returns whether it was known.
    fn finish_transfer(
        &self,
        id: TransferId,
        start_time: Option<DateTime>,
        result: Result<(), (TransferFault, String)>,
    ) -> bool {
        let running = {
            let mut state = self.state();
            let index = state.transfers.running.iter().position(|t| t.id == id);
            match index {
                Some(index) => state.transfers.running.remove(index),
                None => return false,
            }
        };
        match running.operation {
            Some(op) => {
                if let Some(request) = &op.request {
                    delete_row(&mut self.store(), request);
                }
                let result = result.map(|()| Vec::new()).map_err(|(fault, reason)| {
                    CommandFailure::from(&EngineError::Hal(HalError::Transfer { fault, reason }))
                });
                self.push_notice(Notice::OperationComplete(OperationComplete {
                    command: op.command,
                    command_key: running.command_key,
                    request: op.request,
                    originator: op.originator,
                    result,
                }));
            }
            None => {
                self.push_notice(Notice::TransferComplete(TransferResult {
                    id,
                    command_key: running.command_key,
                    direction: running.direction,
                    fault: result.err(),
                    start_time: start_time.or(running.start_time),
                    complete_time: self.now(),
                }));
            }
        }
        true
    }

    /// What `principal` may do with the item at `path` (ask [`require`] to turn a missing
    /// right into an error).
    fn permissions(
        &self,
        store: &Store,
        principal: &Principal,
        path: &str,
        target: Target,
    ) -> Permissions {
        self.access.permissions(principal, path, target, store)
    }

    /// Whether `principal` reads the real values of `secured` parameters: only a USP
    /// controller the policy lets ([`AccessControl::reads_secured`]).
    fn reads_secured(&self, store: &Store, principal: &Principal) -> bool {
        principal.protocol == Protocol::Usp && self.access.reads_secured(principal, store)
    }
}

/// Parses a path a principal sent, in its protocol's syntax. USP paths may hold wildcards,
/// search expressions and reference follows; a CWMP ACS names items by name and instance
/// number only (reads aside, see [`parse_read_path`]), so for it such a path is
/// [`InvalidPath`](tr181_model::Error::InvalidPath) (CWMP 9005; the hostile-input suites found
/// that a search matching nothing was answered as success, and that a wildcard write would
/// have set every row). Every request path goes through here or [`parse_read_path`], once.
fn parse_path(path: &str, protocol: Protocol, limits: &Limits) -> Result<Path, EngineError> {
    parse_read_path(path, protocol, false, limits)
}

/// [`parse_path`] for a read whose CWMP names may also hold instance wildcards when
/// `instance_wildcards` (`*` in place of an instance number: TR-069 Amendment 6, for
/// GetParameterValues, GetParameterNames and GetParameterAttributes on a CPE that supports
/// them); search expressions and reference follows stay USP-only.
fn parse_read_path(
    path: &str,
    protocol: Protocol,
    instance_wildcards: bool,
    limits: &Limits,
) -> Result<Path, EngineError> {
    let parsed = Path::parse(path, limits)?;
    let cwmp_name = |segment: &Segment| match segment {
        Segment::Name(_) | Segment::Instance(_) => true,
        Segment::Wildcard => instance_wildcards,
        _ => false,
    };
    if protocol == Protocol::Cwmp && !parsed.segments.iter().all(cwmp_name) {
        return Err(tr181_model::Error::InvalidPath {
            path: path.into(),
            position: path.find(['*', '[', '+', '#']).unwrap_or(0),
            reason: "not a CWMP name (wildcard, search expression or reference follow)",
        }
        .into());
    }
    Ok(parsed)
}

/// `Ok` if `allowed`, else [`EngineError::PermissionDenied`] for `path` (CWMP 9001, USP 7006).
fn require(allowed: bool, path: &str) -> Result<(), EngineError> {
    if allowed {
        Ok(())
    } else {
        Err(EngineError::PermissionDenied { path: path.into() })
    }
}

/// The value of `parameter` a principal is shown (see [`access`], "Hidden and secured
/// values"): `hidden` ones read as empty for everyone, `secured` ones unless `reads_secured`
/// ([`Engine::reads_secured`]).
fn shown(parameter: &Parameter, value: Value, reads_secured: bool) -> Value {
    let masked = parameter.syntax().hidden() || (parameter.syntax().secured() && !reads_secured);
    if masked {
        Value::default_for(parameter.syntax())
    } else {
        value
    }
}

/// Deletes a row as the device, ignoring errors (it may be gone already).
fn delete_row(store: &mut Store, row: &str) {
    let mut txn = store.transaction(Origin::Device);
    if txn.delete(row).is_ok() {
        let _ = txn.commit();
    }
}

/// Section `section` as read from `storage`: `None` when there is none, or when it does not
/// read as JSON of `T` (then it is added to `discarded`).
async fn read_section<T: serde::de::DeserializeOwned>(
    discarded: &mut Vec<Section>,
    section: Section,
    storage: &Arc<dyn Storage>,
) -> Result<Option<T>, EngineError> {
    let Some(bytes) = storage.load(section).await? else {
        return Ok(None);
    };
    let read = serde_json::from_slice(&bytes).ok();
    if read.is_none() {
        discarded.push(section);
    }
    Ok(read)
}

/// Drops the oldest entries of `list` beyond `max` (as running drops them); whether any went.
fn keep_newest<T>(list: &mut Vec<T>, max: usize) -> bool {
    let excess = list.len().saturating_sub(max);
    list.drain(..excess);
    excess > 0
}

/// Deletes every `Device.LocalAgent.Request.{i}.` row: a reboot ended their commands.
fn clear_requests(store: &mut Store) {
    let Ok(path) = Path::parse("Device.LocalAgent.Request.*.", store.limits()) else {
        return;
    };
    let rows: Vec<String> = match store.resolve(&path, Protocol::Usp) {
        Ok(found) => found
            .iter()
            .filter(|item| matches!(item, Resolved::Object { .. }))
            .map(|item| found.path(item))
            .collect(),
        Err(_) => return,
    };
    if rows.is_empty() {
        return;
    }
    let mut txn = store.transaction(Origin::Device);
    for row in &rows {
        let _ = txn.delete(row);
    }
    let _ = txn.commit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_of_parameters() {
        assert_eq!(object_of("Device.DeviceInfo.UpTime"), "Device.DeviceInfo.");
        assert_eq!(object_of("Device."), "Device.");
    }
}

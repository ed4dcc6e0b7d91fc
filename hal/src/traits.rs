//! The traits a vendor implements, batched per object instance rather than per parameter, and
//! the [`Hal`] bundle that hands them to the [`Engine`](crate::engine::Engine).
//!
//! | Trait | What it covers | Default |
//! |---|---|---|
//! | [`Parameters`] | live (hardware-backed) values; applying validated changes | nothing is live, every change is accepted |
//! | [`Tables`] | rows added / deleted by a controller (may refuse); rows that appear on their own | accept, nothing discovered |
//! | [`Commands`] | every TR-181 command other than the lifecycle ones | [`HalError::Unsupported`] |
//! | [`Lifecycle`] | factory defaults, boot report, reboot, factory reset, file transfers, firmware activation | required |
//! | [`Storage`] | the persisted store, pending events, transfers, subscriptions and retained bulk data reports | required ([`MemoryStorage`] for tests) |
//! | [`Clock`] | wall-clock time, `None` before NTP sync | [`NoHardware`]: always `None` |
//!
//! Events, the value-change feed, command progress and completion, transfer completion and the
//! network-up signal go the other way, from the hardware into the engine, through the
//! [`DeviceSink`](crate::feed::DeviceSink).
//!
//! Every trait is `Send + Sync + 'static` and held as `Arc<dyn Trait>`. The engine never holds
//! a lock while it awaits a HAL call, so an implementation may call back into the engine (for
//! example read it) from inside a call.

use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, PoisonError};
use std::vec::Vec;

use async_trait::async_trait;
use tr181_model::schema::Command;
use tr181_model::store::Transaction;
use tr181_model::value::{DateTime, Value};

use crate::error::HalError;
use crate::feed::{CallId, CommandReporter, TransferReporter};
use crate::transfer::{FileTransfer, TransferId};

// ---------------------------------------------------------------------------------------------
// Live parameters

/// One validated parameter change of an object instance.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ParamChange {
    /// The parameter's name within its object.
    pub name: &'static str,
    /// The value before the change.
    pub old: Value,
    /// The new value (already parsed and validated against the schema).
    pub new: Value,
}

/// A successful [`Parameters::apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)] // CWMP SetParameterValuesResponse Status 0 or 1.
pub enum Applied {
    /// The change is in effect.
    Done,
    /// The change takes effect after a reboot (CWMP Status 1).
    RebootRequired,
}

/// One parameter the hardware refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParamFailure {
    /// The parameter's name within its object.
    pub name: String,
    /// Why.
    pub error: HalError,
}

/// A failed [`Parameters::apply`]: the parameters that failed (empty when the failure concerns
/// the object as a whole). The implementation promises that the object is as before the call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyError {
    /// The failed parameters.
    pub failures: Vec<ParamFailure>,
}

impl ApplyError {
    /// One parameter failed.
    pub fn parameter(name: impl Into<String>, error: HalError) -> Self {
        Self {
            failures: std::vec![ParamFailure {
                name: name.into(),
                error,
            }],
        }
    }

    /// Several parameters failed.
    pub fn parameters(failures: Vec<ParamFailure>) -> Self {
        Self { failures }
    }
}

impl ParamFailure {
    /// A failure of parameter `name`.
    pub fn new(name: impl Into<String>, error: HalError) -> Self {
        Self {
            name: name.into(),
            error,
        }
    }
}

/// Hardware-backed parameter values.
///
/// Reads: on a Get, for every object instance in the answer, the engine asks
/// [`is_live`](Self::is_live) for each parameter and then calls [`read`](Self::read) once per
/// instance with the live ones, writing what comes back into the store (so the change log and
/// thus value-change notifications see it). Writes: every committed change of a Set reaches
/// [`apply`](Self::apply), once per object instance, before the store commits.
///
/// **Atomicity contract**: `apply` changes all of its object's parameters or none. When a later
/// object of the same request fails, the engine undoes an applied object by calling `apply`
/// again with `old` and `new` swapped.
#[async_trait]
pub trait Parameters: Send + Sync + 'static {
    /// Whether parameter `name` of objects at schema path `object` (`Device.WiFi.Radio.{i}.`)
    /// comes from the hardware. Called often: keep it a table lookup.
    fn is_live(&self, object: &str, name: &str) -> bool {
        let _ = (object, name);
        false
    }

    /// The current values of the live parameters `names` of the object instance `object`
    /// (`Device.WiFi.Radio.1.`). Parameters left out keep their stored value.
    async fn read(
        &self,
        object: &str,
        names: &[&'static str],
    ) -> Result<Vec<(String, Value)>, HalError> {
        let _ = (object, names);
        Ok(Vec::new())
    }

    /// Applies validated changes to the object instance `object`, all or none.
    async fn apply(&self, object: &str, changes: &[ParamChange]) -> Result<Applied, ApplyError> {
        let _ = (object, changes);
        Ok(Applied::Done)
    }
}

// ---------------------------------------------------------------------------------------------
// Tables

/// A row the hardware reports for a table whose rows appear on their own.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DiscoveredRow {
    /// The instance number the device uses, or `None` to match existing rows by the table's
    /// unique key and number new ones from the store's counter.
    pub number: Option<u32>,
    /// Parameter values by name (relative to the row; `Stats.BytesSent` for a child object).
    /// A path reference may name a row of a discovered table by its unique key, since the
    /// device does not know the number the store gave it: the `Host` of a
    /// `ManagementServer.ManageableDevice` row (learnt from DHCP option 125) as
    /// `Device.Hosts.Host.[PhysAddress=="AA:BB:CC:00:00:01"]`. The engine writes the row's
    /// number instead, or leaves the item out while no such row exists (so report the
    /// referenced table's change first).
    pub values: Vec<(String, Value)>,
}

impl DiscoveredRow {
    /// A row identified by its unique-key values among `values`.
    pub fn new(values: Vec<(String, Value)>) -> Self {
        Self {
            number: None,
            values,
        }
    }

    /// A row with the device's own instance number.
    pub fn numbered(number: u32, values: Vec<(String, Value)>) -> Self {
        Self {
            number: Some(number),
            values,
        }
    }
}

/// Table hooks: rows a controller adds or deletes, and rows that appear on their own.
#[async_trait]
pub trait Tables: Send + Sync + 'static {
    /// A controller adds row `row` (`Device.NAT.PortMapping.3.`) with these initial values
    /// (every parameter of the row, relative names). Called before the store commits; an error
    /// refuses the row and nothing is added.
    async fn added(&self, row: &str, values: &[(String, Value)]) -> Result<(), HalError> {
        let _ = (row, values);
        Ok(())
    }

    /// A controller deletes row `row`. Called before the store commits; an error refuses it.
    async fn deleted(&self, row: &str) -> Result<(), HalError> {
        let _ = row;
        Ok(())
    }

    /// The schema paths of the tables whose rows appear on their own (`Device.Hosts.Host.{i}.`,
    /// `Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.`). A Get that touches one of them
    /// first calls [`discover`](Self::discover); [`DeviceSink::table_changed`] makes the engine
    /// do so at once (for ObjectCreation/ObjectDeletion notifications).
    ///
    /// [`DeviceSink::table_changed`]: crate::feed::DeviceSink::table_changed
    fn discovered_tables(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// The current rows of the table `table` (an instance path of the table, `Device.Hosts.Host.`
    /// or `Device.WiFi.AccessPoint.1.AssociatedDevice.`). The engine adds, updates and deletes
    /// rows of the store to match.
    async fn discover(&self, table: &str) -> Result<Vec<DiscoveredRow>, HalError> {
        let _ = table;
        Ok(Vec::new())
    }
}

// ---------------------------------------------------------------------------------------------
// Commands

/// One command invocation for the hardware.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CommandCall {
    /// The engine's number for the invocation (asynchronous completions name it).
    pub id: CallId,
    /// The concrete command path (`Device.IP.Diagnostics.IPPing()`).
    pub path: String,
    /// The command's definition.
    pub command: &'static Command,
    /// The input arguments (relative names, validated against the schema; defaults filled).
    pub input: Vec<(String, Value)>,
    /// The controller's tag.
    pub command_key: String,
}

impl CommandCall {
    /// The value of input argument `name`, if given.
    pub fn arg(&self, name: &str) -> Option<&Value> {
        self.input.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// What [`Commands::invoke`] did.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::exhaustive_enums)] // A command either finished or is still running.
pub enum Invoked {
    /// Finished, with these output arguments (relative names).
    Done(Vec<(String, Value)>),
    /// Still running (asynchronous commands only); the completion comes through the
    /// [`CommandReporter`].
    Running,
}

/// Every TR-181 command except the lifecycle ones the engine routes to [`Lifecycle`]
/// (`Device.Reboot()`, `Device.FactoryReset()`, `Device.DeviceInfo.FirmwareImage.{i}.Download()`
/// and `Activate()`).
#[async_trait]
pub trait Commands: Send + Sync + 'static {
    /// Runs `call`. A synchronous command (schema `is_async == false`) must return
    /// [`Invoked::Done`]; an asynchronous one may return either, and when it returns
    /// [`Invoked::Running`] it reports progress and completion through `reporter` later.
    async fn invoke(
        &self,
        call: &CommandCall,
        reporter: CommandReporter,
    ) -> Result<Invoked, HalError> {
        let _ = reporter;
        Err(HalError::Unsupported {
            path: call.path.clone(),
        })
    }

    /// Cancels running asynchronous command `call` (USP `Request.{i}.Cancel()`). On `Ok` the
    /// engine completes the command as cancelled (USP 7023); the implementation must not
    /// report a completion for it afterwards.
    async fn cancel(&self, call: CallId) -> Result<(), HalError> {
        let _ = call;
        Err(HalError::Unsupported {
            path: "Device.LocalAgent.Request.{i}.Cancel()".into(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

/// Why the device booted (TR-181 `Device.Boot!` `Cause`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum BootCause {
    /// Power-on or a reboot the management protocols did not ask for.
    LocalReboot,
    /// A controller or ACS asked for the reboot.
    RemoteReboot,
    /// A factory reset the management protocols did not ask for.
    LocalFactoryReset,
    /// A controller or ACS asked for the factory reset.
    RemoteFactoryReset,
}

impl BootCause {
    /// The `Device.Boot!` `Cause` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LocalReboot => "LocalReboot",
            Self::RemoteReboot => "RemoteReboot",
            Self::LocalFactoryReset => "LocalFactoryReset",
            Self::RemoteFactoryReset => "RemoteFactoryReset",
        }
    }
}

/// What the hardware knows about the current boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BootReport {
    /// The running firmware differs from the one before the boot.
    pub firmware_updated: bool,
    /// The device reset itself to factory defaults (a reset button), if it knows.
    pub local_factory_reset: bool,
}

impl BootReport {
    /// A report.
    pub fn new(firmware_updated: bool, local_factory_reset: bool) -> Self {
        Self {
            firmware_updated,
            local_factory_reset,
        }
    }
}

/// Factory defaults, reboot, factory reset, file transfers and firmware activation.
#[async_trait]
pub trait Lifecycle: Send + Sync + 'static {
    /// Fills a fresh store with the device's factory configuration (rows of its interfaces,
    /// radios, ..., and their values). Called at first boot and after a factory reset, with a
    /// device transaction the engine commits.
    fn factory_defaults(&self, txn: &mut Transaction<'_>) -> Result<(), tr181_model::Error>;

    /// What the hardware knows about this boot.
    fn boot_report(&self) -> BootReport {
        BootReport::default()
    }

    /// Reboots the device (after the engine has persisted everything). Returning is fine: the
    /// reboot may happen later.
    async fn reboot(&self) -> Result<(), HalError> {
        Err(HalError::Unsupported {
            path: "Device.Reboot()".into(),
        })
    }

    /// Resets the device to factory defaults and reboots it. The engine has already removed
    /// the persisted store.
    async fn factory_reset(&self) -> Result<(), HalError> {
        Err(HalError::Unsupported {
            path: "Device.FactoryReset()".into(),
        })
    }

    /// Starts a file transfer and returns; the outcome goes through `reporter` (also after a
    /// reboot, by building a reporter from the [`DeviceSink`](crate::feed::DeviceSink) and the
    /// transfer id, which the engine persists).
    async fn transfer(
        &self,
        id: TransferId,
        transfer: &FileTransfer,
        reporter: TransferReporter,
    ) -> Result<(), HalError> {
        let _ = (id, reporter);
        Err(HalError::Unsupported {
            path: transfer.url.clone(),
        })
    }

    /// Makes firmware bank `image` (the `FirmwareImage.{i}` instance number) the active one,
    /// normally by rebooting into it.
    async fn activate(&self, image: u32) -> Result<(), HalError> {
        let _ = image;
        Err(HalError::Unsupported {
            path: "Device.DeviceInfo.FirmwareImage.{i}.Activate()".into(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Storage and clock

/// What the engine persists, one blob each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Section {
    /// The instance store (values, rows, instance counters): JSON.
    Store,
    /// Notices not yet acknowledged (boot, events, operation and transfer completions) and the
    /// cause of the next boot: JSON.
    Events,
    /// File transfers in progress, whose results are still to come: JSON.
    Transfers,
    /// The protocol crates' own state (CWMP notification attributes, USP subscription
    /// bookkeeping), opaque to the engine.
    Subscriptions,
    /// The failed bulk data reports of the profiles with `HTTP.PersistAcrossReboot`
    /// ([`bulkdata::saved`](crate::bulkdata::saved)): JSON.
    BulkData,
}

impl Section {
    /// Every section.
    pub const ALL: [Self; 5] = [
        Self::Store,
        Self::Events,
        Self::Transfers,
        Self::Subscriptions,
        Self::BulkData,
    ];

    /// A stable name for file names and keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::Events => "events",
            Self::Transfers => "transfers",
            Self::Subscriptions => "subscriptions",
            Self::BulkData => "bulkdata",
        }
    }
}

/// Persistent storage (flash). Each save replaces the section as a whole; an implementation
/// should make it atomic (write a temporary file, then rename).
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The section's last saved contents, `None` if never saved or removed.
    async fn load(&self, section: Section) -> Result<Option<Vec<u8>>, HalError>;

    /// Replaces the section's contents.
    async fn save(&self, section: Section, data: &[u8]) -> Result<(), HalError>;

    /// Replaces the section's contents with the bytes `write` writes. The default collects
    /// them and calls [`save`](Self::save); storage that writes a file may stream them instead,
    /// so that a large section (the store of a device with many rows) is never one buffer.
    async fn save_with(
        &self,
        section: Section,
        write: &(dyn for<'w> Fn(&'w mut (dyn std::io::Write + 'w)) -> std::io::Result<()> + Sync),
    ) -> Result<(), HalError> {
        let mut data = Vec::new();
        write(&mut data).map_err(|e| HalError::Storage {
            reason: e.to_string(),
        })?;
        self.save(section, &data).await
    }

    /// Forgets the section (factory reset).
    async fn remove(&self, section: Section) -> Result<(), HalError>;
}

/// Wall-clock time. `None` while the device does not know it (before NTP sync): CWMP sends
/// the unknown time then.
pub trait Clock: Send + Sync + 'static {
    /// The current UTC time, if known.
    fn now(&self) -> Option<DateTime>;
}

/// Storage in memory, lost with the process: for tests and examples.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    sections: Mutex<BTreeMap<Section, Vec<u8>>>,
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn load(&self, section: Section) -> Result<Option<Vec<u8>>, HalError> {
        let sections = self.sections.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(sections.get(&section).cloned())
    }

    async fn save(&self, section: Section, data: &[u8]) -> Result<(), HalError> {
        let mut sections = self.sections.lock().unwrap_or_else(PoisonError::into_inner);
        sections.insert(section, data.to_vec());
        Ok(())
    }

    async fn remove(&self, section: Section) -> Result<(), HalError> {
        let mut sections = self.sections.lock().unwrap_or_else(PoisonError::into_inner);
        sections.remove(&section);
        Ok(())
    }
}

/// The do-nothing hardware: no live parameters, every change and row accepted, no commands,
/// no clock. The defaults of [`Hal::new`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHardware;

impl Parameters for NoHardware {}
impl Tables for NoHardware {}
impl Commands for NoHardware {}

impl Clock for NoHardware {
    fn now(&self) -> Option<DateTime> {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// The bundle

/// The vendor's implementations, as handed to [`Engine::new`](crate::engine::Engine::new).
#[derive(Clone)]
#[non_exhaustive]
pub struct Hal {
    /// Live values and applying changes.
    pub parameters: Arc<dyn Parameters>,
    /// Table hooks and discovery.
    pub tables: Arc<dyn Tables>,
    /// Commands.
    pub commands: Arc<dyn Commands>,
    /// Factory defaults, reboot, reset, transfers.
    pub lifecycle: Arc<dyn Lifecycle>,
    /// Persistence.
    pub storage: Arc<dyn Storage>,
    /// Wall clock.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Hal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hal { .. }")
    }
}

impl Hal {
    /// A HAL with the required parts; the others do nothing ([`NoHardware`]).
    pub fn new(lifecycle: Arc<dyn Lifecycle>, storage: Arc<dyn Storage>) -> Self {
        Self {
            parameters: Arc::new(NoHardware),
            tables: Arc::new(NoHardware),
            commands: Arc::new(NoHardware),
            lifecycle,
            storage,
            clock: Arc::new(NoHardware),
        }
    }

    /// One object implementing every trait (like the simulated device).
    pub fn from_device<D>(device: Arc<D>) -> Self
    where
        D: Parameters + Tables + Commands + Lifecycle + Storage + Clock,
    {
        Self {
            parameters: device.clone(),
            tables: device.clone(),
            commands: device.clone(),
            lifecycle: device.clone(),
            storage: device.clone(),
            clock: device,
        }
    }

    /// Replaces the live-parameter implementation.
    pub fn with_parameters(mut self, parameters: Arc<dyn Parameters>) -> Self {
        self.parameters = parameters;
        self
    }

    /// Replaces the table hooks.
    pub fn with_tables(mut self, tables: Arc<dyn Tables>) -> Self {
        self.tables = tables;
        self
    }

    /// Replaces the command implementation.
    pub fn with_commands(mut self, commands: Arc<dyn Commands>) -> Self {
        self.commands = commands;
        self
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

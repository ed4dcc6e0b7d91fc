//! A simulated device implementing every HAL trait, for tests, examples and fuzzing.
//!
//! - **Model**: a small home gateway ([`populate`](self) describes it): DeviceInfo with two
//!   firmware banks, ManagementServer, LocalAgent, Ethernet, IP, Wi-Fi radios/SSIDs/access
//!   points, DHCPv4, NAT port mappings, Time and a QoS classification. TR-104
//!   `Device.Services.VoiceService.` is not in TR-181 2.19, so there is no voice service.
//! - **Live values**: `DeviceInfo.UpTime`, `Time.CurrentLocalTime`, interface `Status` and
//!   SSID byte counters come from the simulated hardware ([`SimDevice::advance`] moves time);
//!   `Time.Status` is `Synchronized` while the device has a time ([`SimDevice::set_time`])
//!   and `Time.Enable` is true, `Disabled` while it is false.
//! - **Discovery**: `Hosts.Host`, `WiFi.AccessPoint.{i}.AssociatedDevice` and
//!   `DHCPv4.Server.Pool.{i}.Client` follow the simulated clients
//!   ([`SimDevice::connect_client`]); so does `ManagementServer.ManageableDevice` (TR-069
//!   Annex F device-gateway association), whose rows are the clients that gave their identity
//!   in DHCP option 125 ([`Client::with_identity`]), each naming its `Hosts.Host` row by MAC
//!   (`Device.Hosts.Host.[PhysAddress=="…"]`, which the engine turns into the row's number).
//! - **Commands**: `IP.Diagnostics.IPPing()`, `IP.Diagnostics.TraceRoute()` (`MaxHopCount`
//!   hops, at most three) and `SelfTestDiagnostics()` run asynchronously
//!   and finish when the test calls [`SimDevice::run_jobs`]; the `Reset()` commands of
//!   interfaces are synchronous; reboot, factory reset, download and activate are recorded.
//! - **Software modules**: `SoftwareModules.InstallDU()`, `DeploymentUnit.{i}.Update()` and
//!   `Uninstall()` run asynchronously too and really add, change and remove deployment and
//!   execution units, reporting each change with `DUStateChange!` (see `software.rs`).
//! - **Persistence**: in memory, or in a directory, a file per section
//!   ([`SimDevice::with_dir`]).
//! - **Faults**: [`SimDevice::inject`] makes a chosen call fail or be slow ([`faults`]).
//! - **Time**: the wall clock is simulated, starting at 2025-01-01T00:00:00Z; no real clock
//!   is read.

pub mod faults;
mod populate;
mod software;
mod storage;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use async_trait::async_trait;
use tr181_model::store::Transaction;
use tr181_model::value::{DateTime, Value};

pub use faults::{Fault, FaultAction, HalCall};

use crate::engine::schema_path_of;
use crate::error::HalError;
use crate::feed::{CallId, CommandReporter, DeviceSink, TransferReporter};
use crate::traits::{
    Applied, ApplyError, BootReport, Clock, CommandCall, Commands, DiscoveredRow, Hal, Invoked,
    Lifecycle, ParamChange, Parameters, Section, Storage, Tables,
};
use crate::transfer::{FileTransfer, TransferFault, TransferId};

/// The parameters the simulated hardware provides live: (schema object, name).
const LIVE: &[(&str, &str)] = &[
    ("Device.DeviceInfo.", "UpTime"),
    ("Device.Ethernet.Interface.{i}.", "Status"),
    ("Device.IP.Interface.{i}.", "Status"),
    ("Device.Time.", "CurrentLocalTime"),
    ("Device.Time.", "Status"),
    ("Device.WiFi.Radio.{i}.", "Status"),
    ("Device.WiFi.SSID.{i}.", "Status"),
    ("Device.WiFi.SSID.{i}.Stats.", "BytesReceived"),
    ("Device.WiFi.SSID.{i}.Stats.", "BytesSent"),
];

/// The tables whose rows follow the simulated clients.
const DISCOVERED: &[&str] = &[
    "Device.DHCPv4.Server.Pool.{i}.Client.{i}.",
    "Device.Hosts.Host.{i}.",
    "Device.ManagementServer.ManageableDevice.{i}.",
    "Device.SoftwareModules.DeploymentUnit.{i}.",
    "Device.SoftwareModules.ExecutionUnit.{i}.",
    "Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.",
];

/// The simulated gateway's Wi-Fi access points are `Device.WiFi.AccessPoint.1.` to this one
/// (a [`Client::wifi`] on another is a host with no `AssociatedDevice` row).
pub const ACCESS_POINTS: u32 = 2;

/// 2025-01-01T00:00:00Z.
const START_TIME: i64 = 1_735_689_600;

/// A LAN client of the simulated gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Client {
    /// MAC address (`AA:BB:CC:00:00:01`).
    pub mac: String,
    /// IPv4 address leased from pool 1.
    pub ip: String,
    /// Host name.
    pub hostname: String,
    /// The Wi-Fi access point it is associated with, `None` for a wired client.
    pub access_point: Option<u32>,
    /// Signal strength in dBm (Wi-Fi clients).
    pub signal: i32,
    /// What it told the DHCP server about itself in option 125, if it did.
    pub identity: Option<DeviceIdentity>,
}

/// A LAN device's identity from DHCP option 125 (V-I Vendor-Specific Information,
/// enterprise 3561, sub-options 1–3 or 4–6 of TR-069 Annex F): it is manageable by an ACS
/// itself, and the gateway lists it in `Device.ManagementServer.ManageableDevice.{i}.`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceIdentity {
    /// `ManufacturerOUI`: six upper-case hexadecimal digits.
    pub oui: String,
    /// `SerialNumber`.
    pub serial_number: String,
    /// `ProductClass` (empty when the device gave none).
    pub product_class: String,
}

impl DeviceIdentity {
    /// An identity.
    pub fn new(oui: &str, serial_number: &str, product_class: &str) -> Self {
        Self {
            oui: oui.into(),
            serial_number: serial_number.into(),
            product_class: product_class.into(),
        }
    }
}

impl Client {
    /// A Wi-Fi client on access point `access_point`.
    pub fn wifi(mac: &str, ip: &str, hostname: &str, access_point: u32) -> Self {
        Self {
            mac: mac.into(),
            ip: ip.into(),
            hostname: hostname.into(),
            access_point: Some(access_point),
            signal: -55,
            identity: None,
        }
    }

    /// The same client, having given `identity` in DHCP option 125.
    #[must_use]
    pub fn with_identity(mut self, identity: DeviceIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// A wired client.
    pub fn wired(mac: &str, ip: &str, hostname: &str) -> Self {
        Self {
            access_point: None,
            ..Self::wifi(mac, ip, hostname, 0)
        }
    }
}

/// What the simulated hardware has been told, for tests to compare before and after.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HardwareState {
    /// Applied values per object instance (only what controllers changed since boot; of an
    /// added row, only the `Enable` of a row whose `Status` is live).
    pub config: BTreeMap<String, BTreeMap<String, Value>>,
    /// Rows controllers added since boot.
    pub rows: BTreeSet<String>,
    /// Rows controllers deleted since boot.
    pub deleted_rows: BTreeSet<String>,
    /// Reboots asked for.
    pub reboots: u32,
    /// Factory resets asked for.
    pub factory_resets: u32,
    /// The active firmware bank.
    pub active_image: u32,
    /// Synchronous commands run (paths).
    pub commands: Vec<String>,
    /// Files transferred (URLs).
    pub transfers: Vec<String>,
}

/// Work that finishes when the test says so.
#[derive(Debug)]
enum Job {
    Command {
        call: CommandCall,
        reporter: CommandReporter,
    },
    Transfer {
        transfer: FileTransfer,
        reporter: TransferReporter,
    },
}

#[derive(Debug)]
struct Inner {
    hardware: HardwareState,
    clients: Vec<Client>,
    uptime: u32,
    now: Option<DateTime>,
    jobs: VecDeque<Job>,
    sink: Option<DeviceSink>,
    firmware_updated: bool,
    software: software::Software,
}

/// The simulated device; see the [module docs](self).
#[derive(Debug)]
pub struct SimDevice {
    serial: String,
    inner: Mutex<Inner>,
    faults: faults::Faults,
    storage: storage::FileStorage,
}

impl SimDevice {
    /// A device with serial number `serial` and storage in memory.
    pub fn new(serial: &str) -> Arc<Self> {
        Arc::new(Self::build(serial, storage::FileStorage::memory()))
    }

    /// A device whose storage is the directory `dir` (created if missing), a file per
    /// [`Section`] named after it, each replaced atomically (a temporary file, then a
    /// rename); what it holds is loaded, as after a reboot.
    pub fn with_dir(serial: &str, dir: impl Into<PathBuf>) -> Result<Arc<Self>, HalError> {
        Ok(Arc::new(Self::build(
            serial,
            storage::FileStorage::directory(dir.into())?,
        )))
    }

    fn build(serial: &str, storage: storage::FileStorage) -> Self {
        Self {
            serial: serial.into(),
            inner: Mutex::new(Inner {
                hardware: HardwareState {
                    active_image: 1,
                    ..HardwareState::default()
                },
                clients: Vec::new(),
                uptime: 0,
                now: DateTime::from_unix_seconds(START_TIME),
                jobs: VecDeque::new(),
                sink: None,
                firmware_updated: false,
                software: software::Software::default(),
            }),
            faults: faults::Faults::default(),
            storage,
        }
    }

    /// The HAL bundle for [`Engine::new`](crate::engine::Engine::new).
    pub fn hal(self: &Arc<Self>) -> Hal {
        Hal::from_device(self.clone())
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connects the device to the engine's sink, so that client changes and raised events
    /// reach the engine without a Get.
    pub fn attach(&self, sink: DeviceSink) {
        self.inner().sink = Some(sink);
    }

    /// Arms a fault.
    pub fn inject(&self, fault: Fault) {
        self.faults.inject(fault);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.faults.clear();
    }

    /// A copy of what the hardware has been told.
    pub fn hardware(&self) -> HardwareState {
        self.inner().hardware.clone()
    }

    /// Moves simulated time (uptime, wall clock, traffic counters) forward.
    pub fn advance(&self, seconds: u32) {
        let mut inner = self.inner();
        inner.uptime = inner.uptime.saturating_add(seconds);
        inner.now = inner
            .now
            .and_then(|now| now.unix_seconds())
            .and_then(|s| DateTime::from_unix_seconds(s.saturating_add(i64::from(seconds))));
    }

    /// Sets the wall clock (`None`: not synchronised yet).
    pub fn set_time(&self, now: Option<DateTime>) {
        self.inner().now = now;
    }

    /// A client joins the LAN.
    pub fn connect_client(&self, client: Client) {
        let sink = {
            let mut inner = self.inner();
            inner.clients.retain(|c| c.mac != client.mac);
            inner.clients.push(client);
            inner.sink.clone()
        };
        notify_tables(sink.as_ref());
    }

    /// A client leaves: its rows go from every table. TR-181 makes keeping an inactive
    /// `Hosts.Host` row (`Active` false) optional, asking for it only while the row has
    /// `WANStats` of the past seven days, which this device does not collect; a
    /// `ManagementServer.ManageableDevice` row stands for a LAN device that gave option 125
    /// (TR-181's text; TR-069 Annex F's was not at hand), and the DHCP lease and the Wi-Fi
    /// association end with the client.
    pub fn disconnect_client(&self, mac: &str) {
        let sink = {
            let mut inner = self.inner();
            inner.clients.retain(|c| c.mac != mac);
            inner.sink.clone()
        };
        notify_tables(sink.as_ref());
    }

    /// Raises a device event (e.g. a vendor button event), if attached.
    pub fn raise_event(&self, path: &str, args: Vec<(String, String)>) {
        let sink = self.inner().sink.clone();
        if let Some(sink) = sink {
            sink.event(path, args);
        }
    }

    /// Finishes every asynchronous command and transfer in progress, reporting their
    /// completion; returns how many.
    pub fn run_jobs(&self) -> usize {
        let jobs: Vec<Job> = self.inner().jobs.drain(..).collect();
        let count = jobs.len();
        for job in jobs {
            match job {
                Job::Command { call, reporter } => {
                    let schema = schema_path_of(&call.path);
                    if software::is_du_command(&schema) {
                        let (result, args, sink) = {
                            let mut inner = self.inner();
                            let now = inner.now;
                            let (result, args) = inner.software.finish(&call, &schema, now);
                            (result, args, inner.sink.clone())
                        };
                        if let Some(sink) = sink {
                            sink.table_changed(software::DU_TABLE);
                            sink.table_changed(software::EU_TABLE);
                            sink.event(software::DU_STATE_CHANGE, args);
                        }
                        reporter.complete(result.map(|()| Vec::new()));
                        continue;
                    }
                    reporter.progress(100);
                    reporter.complete(Ok(command_output(&call)));
                }
                Job::Transfer { transfer, reporter } => {
                    let start = self.inner().now;
                    if transfer.url.contains("fail") {
                        reporter.complete(
                            start,
                            Err((TransferFault::ContactServer, "server unreachable".into())),
                        );
                    } else {
                        self.inner().hardware.transfers.push(transfer.url.clone());
                        reporter.complete(start, Ok(()));
                    }
                }
            }
        }
        count
    }

    /// How many asynchronous jobs are waiting for [`run_jobs`](Self::run_jobs).
    pub fn pending_jobs(&self) -> usize {
        self.inner().jobs.len()
    }

    /// Runs the fault for one occurrence of `call`.
    async fn fault(&self, call: HalCall) -> Result<(), HalError> {
        match self.faults.tick(call) {
            Some(FaultAction::Fail(error)) => Err(error),
            Some(FaultAction::Delay(delay)) => {
                faults::Sleep::new(delay).await;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The live value of `name` of `object`, if the hardware has one.
    fn live_value(&self, object: &str, name: &str) -> Option<Value> {
        let inner = self.inner();
        let schema = schema_path_of(object);
        let enabled = inner
            .hardware
            .config
            .get(object)
            .and_then(|c| c.get("Enable"))
            .is_none_or(|v| *v == Value::Boolean(true));
        let up = || Value::String(if enabled { "Up" } else { "Down" }.into());
        match (schema.as_str(), name) {
            ("Device.DeviceInfo.", "UpTime") => Some(Value::UnsignedInt(inner.uptime)),
            ("Device.Time.", "CurrentLocalTime") => Some(Value::DateTime(inner.now?)),
            // Time.Enable off stops the time client: real time is then unknown.
            ("Device.Time.", "Status") => Some(Value::String(
                match (enabled, inner.now.is_some()) {
                    (false, _) => "Disabled",
                    (true, true) => "Synchronized",
                    (true, false) => "Unsynchronized",
                }
                .into(),
            )),
            ("Device.WiFi.SSID.{i}.Stats.", "BytesSent") => Some(Value::UnsignedLong(
                u64::from(inner.uptime).saturating_mul(1500),
            )),
            ("Device.WiFi.SSID.{i}.Stats.", "BytesReceived") => Some(Value::UnsignedLong(
                u64::from(inner.uptime).saturating_mul(900),
            )),
            (_, "Status") => Some(up()),
            _ => None,
        }
    }
}

/// Tells the engine that the discovered tables changed.
fn notify_tables(sink: Option<&DeviceSink>) {
    if let Some(sink) = sink {
        sink.table_changed("Device.Hosts.Host.");
        for ap in 1..=ACCESS_POINTS {
            sink.table_changed(std::format!(
                "Device.WiFi.AccessPoint.{ap}.AssociatedDevice."
            ));
        }
        sink.table_changed("Device.DHCPv4.Server.Pool.1.Client.");
        // After `Hosts.Host`: its rows name theirs.
        sink.table_changed("Device.ManagementServer.ManageableDevice.");
    }
}

/// The simulated outputs of an asynchronous command.
fn command_output(call: &CommandCall) -> Vec<(String, Value)> {
    match schema_path_of(&call.path).as_str() {
        "Device.IP.Diagnostics.IPPing()" => {
            let count = match call.arg("NumberOfRepetitions") {
                Some(Value::UnsignedInt(n)) => *n,
                _ => 3,
            };
            std::vec![
                ("Status".into(), Value::String("Complete".into())),
                ("IPAddressUsed".into(), Value::String("203.0.113.7".into())),
                ("SuccessCount".into(), Value::UnsignedInt(count)),
                ("FailureCount".into(), Value::UnsignedInt(0)),
                ("AverageResponseTime".into(), Value::UnsignedInt(12)),
                ("MinimumResponseTime".into(), Value::UnsignedInt(9)),
                ("MaximumResponseTime".into(), Value::UnsignedInt(17)),
            ]
        }
        "Device.IP.Diagnostics.TraceRoute()" => {
            let hops = match call.arg("MaxHopCount") {
                Some(Value::UnsignedInt(n)) => (*n).clamp(1, 3),
                _ => 3,
            };
            let mut out = std::vec![
                ("Status".into(), Value::String("Complete".into())),
                ("ResponseTime".into(), Value::UnsignedInt(21)),
            ];
            for hop in 1..=hops {
                out.push((
                    std::format!("RouteHops.{hop}.HostAddress"),
                    Value::String(std::format!("198.51.100.{hop}")),
                ));
            }
            out
        }
        "Device.SelfTestDiagnostics()" => std::vec![
            ("Status".into(), Value::String("Complete".into())),
            ("Results".into(), Value::String("all tests passed".into())),
        ],
        _ => Vec::new(),
    }
}

#[async_trait]
impl Parameters for SimDevice {
    fn is_live(&self, object: &str, name: &str) -> bool {
        LIVE.iter().any(|(o, n)| *o == object && *n == name)
    }

    async fn read(
        &self,
        object: &str,
        names: &[&'static str],
    ) -> Result<Vec<(String, Value)>, HalError> {
        self.fault(HalCall::Read).await?;
        Ok(names
            .iter()
            .filter_map(|name| Some(((*name).to_string(), self.live_value(object, name)?)))
            .collect())
    }

    async fn apply(&self, object: &str, changes: &[ParamChange]) -> Result<Applied, ApplyError> {
        // All or nothing: stage the object's new values, commit only when every parameter
        // went through.
        let mut staged: BTreeMap<String, Value> = self
            .inner()
            .hardware
            .config
            .get(object)
            .cloned()
            .unwrap_or_default();
        for change in changes {
            match self.faults.tick(HalCall::Apply) {
                Some(FaultAction::Fail(error)) => {
                    return Err(ApplyError::parameter(change.name, error));
                }
                Some(FaultAction::Delay(delay)) => faults::Sleep::new(delay).await,
                None => {}
            }
            if change.name == "Channel" && change.new == Value::UnsignedInt(14) {
                return Err(ApplyError::parameter(
                    change.name,
                    HalError::InvalidValue {
                        path: std::format!("{object}Channel"),
                        reason: "channel 14 is not allowed in this regulatory domain".into(),
                    },
                ));
            }
            staged.insert(change.name.into(), change.new.clone());
        }
        self.inner().hardware.config.insert(object.into(), staged);
        Ok(Applied::Done)
    }
}

#[async_trait]
impl Tables for SimDevice {
    async fn added(&self, row: &str, values: &[(String, Value)]) -> Result<(), HalError> {
        self.fault(HalCall::Added).await?;
        // Of a new row's values the hardware keeps what it reads back: the `Enable` behind a
        // live `Status`. A copy of every value of every row cost the reference agent about
        // 1.5 KB a row (15 MB for 10,000 port mappings) that nothing read.
        let enable = self
            .is_live(&schema_path_of(row), "Status")
            .then(|| values.iter().find(|(name, _)| name == "Enable"))
            .flatten();
        let mut inner = self.inner();
        inner.hardware.rows.insert(row.into());
        inner.hardware.deleted_rows.remove(row);
        if let Some(enable) = enable {
            inner
                .hardware
                .config
                .insert(row.into(), BTreeMap::from([enable.clone()]));
        }
        Ok(())
    }

    async fn deleted(&self, row: &str) -> Result<(), HalError> {
        self.fault(HalCall::Deleted).await?;
        let mut inner = self.inner();
        inner.hardware.rows.remove(row);
        inner.hardware.deleted_rows.insert(row.into());
        inner
            .hardware
            .config
            .retain(|object, _| !object.starts_with(row));
        Ok(())
    }

    fn discovered_tables(&self) -> Vec<&'static str> {
        DISCOVERED.to_vec()
    }

    async fn discover(&self, table: &str) -> Result<Vec<DiscoveredRow>, HalError> {
        self.fault(HalCall::Discover).await?;
        // Rows are built under the lock from the clients that belong to the table, so that
        // discovering one of many tables does not copy every client.
        let inner = self.inner();
        let clients = &inner.clients;
        let schema = schema_path_of(table);
        let text = |s: &str| Value::String(s.into());
        let rows = match schema.as_str() {
            "Device.Hosts.Host." => clients
                .iter()
                .map(|c| {
                    DiscoveredRow::new(std::vec![
                        ("PhysAddress".into(), text(&c.mac)),
                        ("IPAddress".into(), text(&c.ip)),
                        ("HostName".into(), text(&c.hostname)),
                        ("Active".into(), Value::Boolean(true)),
                    ])
                })
                .collect(),
            "Device.WiFi.AccessPoint.{i}.AssociatedDevice." => {
                let ap: Option<u32> = table
                    .strip_prefix("Device.WiFi.AccessPoint.")
                    .and_then(|rest| rest.split('.').next())
                    .and_then(|n| n.parse().ok());
                clients
                    .iter()
                    .filter(|c| c.access_point.is_some() && c.access_point == ap)
                    .map(|c| {
                        DiscoveredRow::new(std::vec![
                            ("MACAddress".into(), text(&c.mac)),
                            ("SignalStrength".into(), Value::Int(c.signal)),
                            ("Active".into(), Value::Boolean(true)),
                        ])
                    })
                    .collect()
            }
            "Device.ManagementServer.ManageableDevice." => clients
                .iter()
                .filter_map(|c| {
                    let id = c.identity.as_ref()?;
                    let host = std::format!("Device.Hosts.Host.[PhysAddress==\"{}\"]", c.mac);
                    Some(DiscoveredRow::new(std::vec![
                        ("ManufacturerOUI".into(), text(&id.oui)),
                        ("SerialNumber".into(), text(&id.serial_number)),
                        ("ProductClass".into(), text(&id.product_class)),
                        ("Host".into(), Value::List(std::vec![text(&host)])),
                    ]))
                })
                .collect(),
            software::DU_TABLE | software::EU_TABLE => inner.software.rows(schema.as_str()),
            "Device.DHCPv4.Server.Pool.{i}.Client." => clients
                .iter()
                .map(|c| {
                    DiscoveredRow::new(std::vec![
                        ("Chaddr".into(), text(&c.mac)),
                        ("Active".into(), Value::Boolean(true)),
                    ])
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(rows)
    }
}

#[async_trait]
impl Commands for SimDevice {
    async fn invoke(
        &self,
        call: &CommandCall,
        reporter: CommandReporter,
    ) -> Result<Invoked, HalError> {
        self.fault(HalCall::Invoke).await?;
        let schema = schema_path_of(&call.path);
        match schema.as_str() {
            "Device.IP.Diagnostics.IPPing()"
            | "Device.IP.Diagnostics.TraceRoute()"
            | "Device.SelfTestDiagnostics()" => {
                reporter.progress(0);
                self.inner().jobs.push_back(Job::Command {
                    call: call.clone(),
                    reporter,
                });
                Ok(Invoked::Running)
            }
            _ if software::is_du_command(&schema) => {
                self.inner().jobs.push_back(Job::Command {
                    call: call.clone(),
                    reporter,
                });
                Ok(Invoked::Running)
            }
            _ if schema.ends_with(".Reset()") => {
                self.inner().hardware.commands.push(call.path.clone());
                Ok(Invoked::Done(Vec::new()))
            }
            _ => Err(HalError::Unsupported {
                path: call.path.clone(),
            }),
        }
    }

    async fn cancel(&self, call: CallId) -> Result<(), HalError> {
        let mut inner = self.inner();
        let before = inner.jobs.len();
        inner
            .jobs
            .retain(|job| !matches!(job, Job::Command { reporter, .. } if reporter.call() == call));
        if inner.jobs.len() == before {
            return Err(HalError::Refused {
                path: "Device.LocalAgent.Request.{i}.Cancel()".into(),
                reason: "the command is not running".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Lifecycle for SimDevice {
    fn factory_defaults(&self, txn: &mut Transaction<'_>) -> Result<(), tr181_model::Error> {
        populate::factory_defaults(txn, &self.serial)
    }

    fn boot_report(&self) -> BootReport {
        BootReport::new(self.inner().firmware_updated, false)
    }

    async fn reboot(&self) -> Result<(), HalError> {
        self.fault(HalCall::Reboot).await?;
        self.inner().hardware.reboots += 1;
        Ok(())
    }

    async fn factory_reset(&self) -> Result<(), HalError> {
        self.fault(HalCall::FactoryReset).await?;
        self.inner().hardware.factory_resets += 1;
        Ok(())
    }

    async fn transfer(
        &self,
        id: TransferId,
        transfer: &FileTransfer,
        reporter: TransferReporter,
    ) -> Result<(), HalError> {
        let _ = id;
        self.fault(HalCall::Transfer).await?;
        if !transfer.url.starts_with("http://") && !transfer.url.starts_with("https://") {
            return Err(HalError::Transfer {
                fault: TransferFault::UnsupportedProtocol,
                reason: std::format!("unsupported URL {}", transfer.url),
            });
        }
        self.inner().jobs.push_back(Job::Transfer {
            transfer: transfer.clone(),
            reporter,
        });
        Ok(())
    }

    async fn activate(&self, image: u32) -> Result<(), HalError> {
        self.fault(HalCall::Activate).await?;
        let mut inner = self.inner();
        inner.hardware.active_image = image;
        inner.firmware_updated = true;
        Ok(())
    }
}

#[async_trait]
impl Storage for SimDevice {
    async fn load(&self, section: Section) -> Result<Option<Vec<u8>>, HalError> {
        self.storage.load(section)
    }

    async fn save(&self, section: Section, data: &[u8]) -> Result<(), HalError> {
        self.fault(HalCall::Save).await?;
        self.storage.save(section, &|out| out.write_all(data))
    }

    async fn save_with(
        &self,
        section: Section,
        write: &(dyn for<'w> Fn(&'w mut (dyn std::io::Write + 'w)) -> std::io::Result<()> + Sync),
    ) -> Result<(), HalError> {
        self.fault(HalCall::Save).await?;
        self.storage.save(section, write)
    }

    async fn remove(&self, section: Section) -> Result<(), HalError> {
        self.storage.remove(section)
    }
}

impl Clock for SimDevice {
    fn now(&self) -> Option<DateTime> {
        self.inner().now
    }
}

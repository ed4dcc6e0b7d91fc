//! What the stateful targets share: a tiny executor for the engine's async calls, the reader
//! of fuzz bytes, a vocabulary of real paths, and the store consistency check.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use hal::bulkdata::{self, Limits, Profile};
use hal::engine::SetRequest;
use hal::sim::{Client, DeviceIdentity, SimDevice};
use hal::traits::Section;
use hal::{Engine, Principal};
use libfuzzer_sys::arbitrary::Unstructured;
use tr181_model::schema::{self, Protocol};
use tr181_model::store::Store;
use tr181_model::value::Value;

/// Most outputs one drain may take before the target reports a livelock.
pub const STEP_BOUND: usize = 20_000;

/// Most steps (inputs) one fuzz case runs.
pub const MAX_STEPS: usize = 48;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread. The simulated device's calls finish at once;
/// anything that waits is woken through the thread's park token.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// Real paths of the simulated device (objects, tables, rows, parameters, commands), so that
/// structured requests reach the engine's deeper code.
pub const PATHS: &[&str] = &[
    "Device.",
    "Device.DeviceInfo.",
    "Device.DeviceInfo.SerialNumber",
    "Device.DeviceInfo.ProvisioningCode",
    "Device.DeviceInfo.FirmwareImage.",
    "Device.DeviceInfo.FirmwareImage.1.",
    "Device.DeviceInfo.FirmwareImage.2.Download()",
    "Device.ManagementServer.",
    "Device.ManagementServer.URL",
    "Device.ManagementServer.PeriodicInformEnable",
    "Device.ManagementServer.PeriodicInformInterval",
    "Device.ManagementServer.PeriodicInformTime",
    "Device.ManagementServer.CWMPRetryMinimumWaitInterval",
    "Device.ManagementServer.CWMPRetryIntervalMultiplier",
    "Device.ManagementServer.ConnectionRequestUsername",
    "Device.ManagementServer.EnableCWMP",
    "Device.ManagementServer.LightweightNotificationProtocolsUsed",
    "Device.ManagementServer.LightweightNotificationTriggerInterval",
    "Device.ManagementServer.UDPLightweightNotificationHost",
    "Device.ManagementServer.InformParameter.",
    "Device.ManagementServer.InformParameter.1.",
    "Device.ManagementServer.InformParameter.1.ParameterName",
    "Device.ManagementServer.InformParameter.1.Enable",
    "Device.ManagementServer.InformParameterNumberOfEntries",
    "Device.WiFi.SSID.",
    "Device.WiFi.SSID.1.",
    "Device.WiFi.SSID.1.SSID",
    "Device.WiFi.SSID.2.Enable",
    "Device.WiFi.SSID.*.SSID",
    "Device.WiFi.SSID.[SSID==\"Acme-5G\"].Enable",
    "Device.WiFi.AccessPoint.1.AssociatedDevice.",
    "Device.WiFi.Radio.1.Channel",
    "Device.NAT.PortMapping.",
    "Device.NAT.PortMapping.1.",
    "Device.NAT.PortMapping.1.ExternalPort",
    "Device.NAT.PortMapping.1.Enable",
    "Device.NAT.PortMapping.[ExternalPort==8080].Description",
    "Device.NAT.PortMappingNumberOfEntries",
    "Device.Hosts.Host.",
    "Device.Hosts.Host.1.HostName",
    "Device.Hosts.HostNumberOfEntries",
    "Device.IP.Interface.",
    "Device.IP.Interface.1.IPv4Address.1.IPAddress",
    "Device.IP.Interface.1.Stats.",
    "Device.IP.Interface.1.LowerLayers",
    "Device.IP.Interface.1.LowerLayers#.Name",
    "Device.Time.NTPServer1",
    "Device.LocalAgent.",
    "Device.LocalAgent.Subscription.",
    "Device.LocalAgent.Subscription.1.",
    "Device.LocalAgent.Subscription.1.Enable",
    "Device.LocalAgent.Subscription.1.NotifRetry",
    "Device.LocalAgent.Subscription.1.TimeToLive",
    "Device.LocalAgent.Controller.",
    "Device.LocalAgent.ControllerTrust.Role.",
    "Device.Reboot()",
    "Device.FactoryReset()",
    "Device.SelfTestDiagnostics()",
    "Device.Boot!",
    "Device.X_ACME-COM_Button.Pressed!",
    // Added later: at the end, so that the committed seeds keep their paths.
    "Device.ManagementServer.UDPLightweightNotificationPort",
    "Device.ManagementServer.LightweightNotificationTriggerTime",
    "Device.ManagementServer.ManageableDevice.",
    "Device.ManagementServer.ManageableDevice.1.Host",
    "Device.ManagementServer.ManageableDeviceNumberOfEntries",
    "Device.ManagementServer.ManageableDeviceNotificationLimit",
];

/// Values that parse as the types of the paths above, and some that do not.
pub const VALUES: &[&str] = &[
    "",
    "UDP",
    "true",
    "false",
    "0",
    "1",
    "60",
    "8080",
    "4294967296",
    "-1",
    "Acme",
    "TCP",
    "ValueChange",
    "ObjectCreation",
    "ObjectDeletion",
    "OperationComplete",
    "Event",
    "2025-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "Device.WiFi.SSID.1.",
    "Device.NAT.PortMapping.",
    "Device.LocalAgent.Subscription.1.",
    "https://acs.example.net/cwmp",
];

/// A byte-driven reader over the fuzz input.
pub struct Reader<'a> {
    u: Unstructured<'a>,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            u: Unstructured::new(data),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.u.is_empty()
    }

    /// One byte (0 once the input is used up).
    pub fn byte(&mut self) -> u8 {
        self.u.arbitrary().unwrap_or(0)
    }

    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// One of `items` (the first once the input is used up).
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        let i = usize::from(self.byte()) % items.len().max(1);
        items[i].clone()
    }

    /// `len` bytes (a u16 length first), fewer when the input runs out.
    pub fn bytes(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16());
        let len = len.min(self.u.len());
        self.u.bytes(len).unwrap_or(&[])
    }

    /// Text: from `vocabulary` (most of the time) or raw bytes made UTF-8 lossily (one length
    /// byte).
    pub fn text(&mut self, vocabulary: &[&str]) -> String {
        let choice = self.byte();
        if choice < 200 {
            return vocabulary[usize::from(choice) % vocabulary.len()].to_owned();
        }
        let len = usize::from(self.byte()).min(self.u.len());
        let raw = self.u.bytes(len).unwrap_or(&[]);
        if choice < 230 {
            // A vocabulary word with a fuzzed tail: near-valid paths.
            let base = vocabulary[usize::from(choice) % vocabulary.len()];
            return format!("{base}{}", String::from_utf8_lossy(raw));
        }
        String::from_utf8_lossy(raw).into_owned()
    }

    /// A path from [`PATHS`] or fuzzed.
    pub fn path(&mut self) -> String {
        self.text(PATHS)
    }

    /// A value from [`VALUES`] or fuzzed.
    pub fn value(&mut self) -> String {
        self.text(VALUES)
    }

    /// `bytes` garbled as a power cut or a worn flash might leave them: cut short at an
    /// offset, or with bytes of the input written over part of them.
    pub fn garble(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
        let at = usize::from(self.u16()) % bytes.len().max(1);
        if self.bool() {
            bytes.truncate(at);
        } else {
            let patch = self.bytes();
            let end = at.saturating_add(patch.len()).min(bytes.len());
            bytes.splice(at..end, patch.iter().copied());
        }
        bytes
    }

    /// Up to `max` items made by `f` (one count byte).
    pub fn list<T>(&mut self, max: usize, mut f: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let n = usize::from(self.byte()) % (max + 1);
        (0..n).map(|_| f(self)).collect()
    }
}

/// A change the session under test did not make: a write by the other protocol's
/// `principal`, a LAN client joining or leaving, a device event, asynchronous jobs finishing.
pub fn device_change(sim: &SimDevice, engine: &Engine, principal: &Principal, r: &mut Reader<'_>) {
    match r.byte() % 5 {
        0 => {
            let request = SetRequest::from_parameters([(r.path(), r.value())]);
            let _ = block_on(engine.set(principal, &request));
        }
        1 => {
            let n = r.byte() % 8;
            let (mac, ip) = (
                format!("02:00:00:00:00:0{n}"),
                format!("192.168.1.{}", 100 + n),
            );
            // Wired, or on access point 1, 2 or one the gateway does not have.
            let mut client = match r.byte() % 4 {
                0 => Client::wired(&mac, &ip, "fuzz"),
                ap => Client::wifi(&mac, &ip, "fuzz", u32::from(ap)),
            };
            // Some give a DHCP option-125 identity (a ManageableDevice row): serial numbers
            // that other clients may share, OUIs the model may refuse.
            if r.bool() {
                let oui = if r.bool() {
                    "00D09F".to_owned()
                } else {
                    r.value()
                };
                let serial = format!("SN{}", r.byte() % 4);
                client = client.with_identity(DeviceIdentity::new(&oui, &serial, &r.value()));
            }
            sim.connect_client(client);
        }
        2 => {
            let n = r.byte() % 8;
            sim.disconnect_client(&format!("02:00:00:00:00:0{n}"));
        }
        3 => sim.raise_event("Device.X_ACME-COM_Button.Pressed!", Vec::new()),
        _ => {
            sim.run_jobs();
        }
    }
}

/// Garbles one section of the simulated device's flash ([`Reader::garble`]), as found at the
/// next boot.
pub fn garble_section(sim: &Arc<SimDevice>, r: &mut Reader<'_>) {
    let section = r.pick(&Section::ALL);
    let storage = sim.hal().storage;
    let bytes = block_on(storage.load(section))
        .expect("the simulated flash reads")
        .unwrap_or_default();
    let bytes = r.garble(bytes);
    block_on(storage.save(section, &bytes)).expect("the simulated flash writes");
}

/// Restores the retained bulk data reports the flash holds (garbled or not) for the store's
/// profiles, as the agent does at boot: no panic, no profile over its
/// `NumberOfRetainedFailedReports` or without `PersistAcrossReboot`, and what is restored
/// saves and restores back the same.
pub fn restore_bulk_data(engine: &Engine) {
    let limits = Limits::DEFAULT;
    let Some(bytes) = block_on(engine.load_bulk_data()).expect("the simulated flash reads") else {
        return;
    };
    let profiles: Vec<Profile> = engine
        .read(|store| bulkdata::profiles(store, &limits))
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    let Ok(restored) = bulkdata::restore(&bytes, &profiles, &limits) else {
        return;
    };
    for (path, retained) in &restored.retained {
        let profile = profiles.iter().find(|p| &p.path == path);
        let profile = profile.expect("restored for a running profile only");
        assert!(profile.persists() && retained.failed().len() <= profile.retained);
    }
    let kept = profiles
        .iter()
        .filter_map(|p| Some((p, restored.retained.get(&p.path)?)));
    let again = bulkdata::saved(kept, &limits).unwrap_or_default();
    let back = bulkdata::restore(&again, &profiles, &limits);
    match back {
        Ok(back) => assert_eq!(back.retained, restored.retained),
        Err(_) => assert!(
            restored.retained.is_empty(),
            "nothing saved: nothing restored"
        ),
    }
}

/// The schema path of an instance path: instance numbers become `{i}`.
fn schema_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    for segment in path.trim_end_matches('.').split('.') {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{i}");
        } else {
            out.push_str(segment);
        }
        out.push('.');
    }
    out
}

/// The store's invariants as `protocol`'s controller sees them: every table's
/// `NumberOfEntries` parameter equals its number of rows, and every row lies in a table.
pub fn check_store(store: &Store, protocol: Protocol) {
    let names = store
        .names("Device.", protocol, false)
        .expect("the whole tree is readable");
    let mut rows: BTreeMap<&str, u32> = BTreeMap::new();
    let mut tables = Vec::new();
    for info in &names {
        let Some(object) = info.path.strip_suffix('.') else {
            continue;
        };
        let (parent, last) = object.rsplit_once('.').unwrap_or(("", object));
        if last.bytes().all(|b| b.is_ascii_digit()) {
            let table = &info.path[..parent.len() + 1];
            *rows.entry(table).or_default() += 1;
        } else if let Some(def) =
            schema::object(&format!("{}{{i}}.", schema_path(&info.path)), protocol)
        {
            if def.is_table() {
                tables.push((info.path.as_str(), parent, def));
            }
        }
    }
    for (table, row_table) in rows.keys().map(|t| (*t, *t)) {
        assert!(
            tables.iter().any(|(t, _, _)| *t == row_table),
            "rows of {table} outside any table"
        );
    }
    for (table, parent, def) in tables {
        let count = rows.get(table).copied().unwrap_or(0);
        if let Some(max) = def.max_entries() {
            assert!(count <= max, "{table} holds {count} rows, more than {max}");
        }
        let Some(param) = def.num_entries_parameter() else {
            continue;
        };
        let counter = format!("{parent}.{param}");
        match store.value(&counter) {
            Ok(Value::UnsignedInt(n)) => {
                assert_eq!(*n, count, "{counter} is {n}, {table} has {count} rows")
            }
            Ok(other) => panic!("{counter} is not an unsignedInt: {other:?}"),
            // A counter the protocol's model variant does not show.
            Err(_) => {}
        }
    }
}

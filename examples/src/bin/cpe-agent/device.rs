//! The simulated device and its engine: persistence in the state directory, real downloads
//! and uploads ([`Downloads`]), real diagnostics ([`AgentCommands`]: reachability and TR-143
//! throughput tests), the hardware tick, and the fan-out of device inputs (changes, events,
//! command completions) to the protocol drivers.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use hal::engine::{BootInfo, DeviceUpdate, GetRequest, Notice, NoticeId};
use hal::feed::{CallId, CommandReporter};
use hal::sim::SimDevice;
use hal::traits::{Clock, CommandCall, Commands, Invoked, Section};
use hal::{Engine, EngineConfig, HalError, Principal};
use tokio::sync::{Notify, mpsc, watch};
use tr181_model::path::schema_path_of;
use tr181_model::schema::{Protocol, Protocols};
use tr181_model::value::DateTime;
use usp_core::agent::ControllerTrust;

use crate::bulkdata::ForceCollection;
use crate::config::LanClient;
use crate::download::Downloads;
use crate::mqtt_stats::{MqttStats, StatsParameters};
use crate::mtp::text;
use crate::reachability::{self, Reachability};
use crate::throughput::{self, Throughput};
use crate::tls::Trust;

/// The directory in the state directory that holds the device's flash, a file per section.
pub(crate) const FLASH_DIR: &str = "device";
/// The file earlier versions kept every section of the flash in (a JSON map from section
/// name to text), taken over at boot ([`take_over_flash_file`]).
const FLASH_FILE: &str = "device.json";

/// What the device tells a protocol driver.
#[derive(Debug)]
pub(crate) enum DeviceEvent {
    /// The store changed outside the driver's own requests: read the change log.
    Changed,
    /// A notice (boot, event, operation complete) for the driver.
    Notice(NoticeId, Notice),
}

/// The simulated gateway, booted.
pub(crate) struct Device {
    /// The simulated hardware.
    pub(crate) sim: Arc<SimDevice>,
    /// The engine on it.
    pub(crate) engine: Arc<Engine>,
    /// How this boot happened.
    pub(crate) boot: BootInfo,
    /// The downloads and uploads, journalled.
    pub(crate) downloads: Arc<Downloads>,
    /// The MQTT clients' counts, live as `Device.MQTT.Client.{i}.Stats.`.
    pub(crate) mqtt_stats: Arc<MqttStats>,
    /// The bulk data profiles `ForceCollection()` was called on, for the bulk data task.
    pub(crate) force_collection: mpsc::Receiver<String>,
}

/// Sets `values` (full path, wire text) as the device in one transaction: the tasks that
/// publish their own state share this one copy of the engine's generic update.
pub(crate) async fn set_as_device(
    engine: &Engine,
    values: Vec<(String, String)>,
) -> Result<(), hal::EngineError> {
    let update = DeviceUpdate::setting(values);
    engine.device_update(|txn| update.apply(txn)).await
}

/// The wall clock, if the system has one past the epoch.
pub(crate) fn wall_clock() -> Option<DateTime> {
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    DateTime::from_unix_seconds(i64::try_from(seconds).ok()?)
}

/// The wall clock to the microsecond (TR-143's test times), if the system has one past the
/// epoch.
pub(crate) fn precise_wall_clock() -> Option<DateTime> {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?;
    DateTime::from_unix_micros(i64::try_from(since.as_micros()).ok()?)
}

/// The engine's clock: the host's wall clock, read when asked. The simulated device's own
/// clock follows it once per tick only, so the engine's times (a transfer's CompleteTime)
/// could otherwise come before those the agent reads itself (its StartTime).
struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Option<DateTime> {
        wall_clock()
    }
}

/// The simulated device's commands, but for the diagnostics the agent runs itself.
struct AgentCommands {
    device: Arc<dyn Commands>,
    reachability: Reachability,
    throughput: Throughput,
}

#[async_trait]
impl Commands for AgentCommands {
    async fn invoke(
        &self,
        call: &CommandCall,
        reporter: CommandReporter,
    ) -> Result<Invoked, HalError> {
        match schema_path_of(&call.path).as_str() {
            reachability::IP_PING | reachability::UDP_ECHO | reachability::SERVER_SELECTION => {
                self.reachability.invoke(call, reporter)
            }
            throughput::DOWNLOAD | throughput::UPLOAD => self.throughput.invoke(call, reporter),
            _ => self.device.invoke(call, reporter).await,
        }
    }

    async fn cancel(&self, call: CallId) -> Result<(), HalError> {
        if self.reachability.cancel(call) || self.throughput.cancel(call) {
            return Ok(());
        }
        self.device.cancel(call).await
    }
}

/// Boots the simulated device with its state in `state_dir` (created if missing), its
/// downloads checking `https://` servers against `trust`, those of `clients` that join at
/// the start on its LAN. Each of `stacks` must acknowledge a notice (a boot, a transfer
/// result) before the engine forgets it.
pub(crate) async fn boot(
    state_dir: &Path,
    serial: &str,
    stacks: Protocols,
    trust: Option<Trust>,
    clients: &[LanClient],
) -> Result<Device, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(state_dir)
        .map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
    take_over_flash_file(state_dir)?;
    let sim = SimDevice::with_dir(serial, state_dir.join(FLASH_DIR))?;
    sim.set_time(wall_clock());
    let mut hal = sim.hal();
    hal.clock = Arc::new(WallClock);
    let downloads = Arc::new(Downloads::new(
        hal.lifecycle.clone(),
        hal.storage.clone(),
        state_dir,
        trust.clone(),
    ));
    hal.lifecycle = downloads.clone();
    let commands = AgentCommands {
        device: hal.commands.clone(),
        reachability: Reachability::default(),
        throughput: Throughput::new(trust),
    };
    let (commands, force_collection) = ForceCollection::new(Arc::new(commands));
    hal.commands = Arc::new(commands);
    let mqtt_stats = Arc::new(MqttStats::default());
    hal.parameters = Arc::new(StatsParameters::new(hal.parameters, mqtt_stats.clone()));
    // USP controllers get what ControllerTrust gives them (`controller_trust.rs` has the
    // factory defaults); the agent's Endpoint ID is the store's.
    let engine = Arc::new(Engine::new(
        hal,
        Arc::new(ControllerTrust::default()),
        EngineConfig::default().with_notice_consumers(stacks),
    ));
    let boot = engine.start().await?;
    let mut capabilities = reachability::capabilities();
    capabilities.extend(throughput::capabilities());
    set_as_device(&engine, capabilities).await?;
    if !boot.discarded.is_empty() || !boot.trimmed.is_empty() {
        tracing::error!(
            discarded = ?boot.discarded,
            trimmed = ?boot.trimmed,
            "flash sections unreadable (cut short or garbled) were started without; those \
             holding more than the engine's limits lost their oldest entries"
        );
    }
    if !boot.malformed.is_empty() {
        tracing::warn!(
            malformed = ?boot.malformed,
            "flash sections held entries of the wrong type: those were dropped, the rest kept"
        );
    }
    sim.attach(engine.sink());
    // The LAN clients there from the start are in the store before any session reads it.
    let mut joined = false;
    for lan in clients.iter().filter(|lan| lan.join_after_s == 0) {
        sim.connect_client(lan.client.clone());
        joined = true;
    }
    // Transfers of the previous run that the engine may not have heard the end of.
    let recovered = downloads.recover(&engine.sink(), &engine.running_transfers()) > 0;
    if recovered || joined {
        let reported = downloads.reported();
        engine.handle_device_inputs().await?;
        downloads.forget(&reported);
    }
    Ok(Device {
        sim,
        engine,
        boot,
        downloads,
        mqtt_stats,
        force_collection,
    })
}

/// Moves the sections of an earlier version's flash file into the flash directory: they are
/// written into a temporary directory, which is renamed into place before the file is
/// removed, so that a crash at any point leaves one whole copy to start from. Names that
/// are no section are left out.
fn take_over_flash_file(state_dir: &Path) -> Result<(), String> {
    let file = state_dir.join(FLASH_FILE);
    let dir = state_dir.join(FLASH_DIR);
    let failed = |e: &dyn std::fmt::Display| format!("cannot take over {}: {e}", file.display());
    match std::fs::symlink_metadata(&file) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(failed(&error)),
        Ok(_) => {}
    }
    if !dir.exists() {
        let bytes = std::fs::read(&file).map_err(|e| failed(&e))?;
        let sections: BTreeMap<String, String> =
            serde_json::from_slice(&bytes).map_err(|e| failed(&e))?;
        let temporary = state_dir.join(format!("{FLASH_DIR}.tmp"));
        let _ = std::fs::remove_dir_all(&temporary);
        std::fs::create_dir(&temporary).map_err(|e| failed(&e))?;
        for section in Section::ALL {
            if let Some(text) = sections.get(section.name()) {
                std::fs::write(temporary.join(section.name()), text).map_err(|e| failed(&e))?;
            }
        }
        std::fs::rename(&temporary, &dir).map_err(|e| failed(&e))?;
    }
    std::fs::remove_file(&file).map_err(|e| failed(&e))
}

/// `Device.Time.Status`: `Synchronized` once the device has real time.
const TIME_STATUS: &str = "Device.Time.Status";
const TRUST: &str = "Device.LocalAgent.ControllerTrust.";

/// Tells `trust` what ControllerTrust says of certificates of no trusted CA: `TOFUAllowed`
/// and `TOFUInactivityTimer` (see `tls.rs`).
pub(crate) fn follow_tofu(engine: &Engine, trust: &Trust) {
    let (allowed, inactivity) = engine.read(|store| {
        (
            text(store, &format!("{TRUST}TOFUAllowed")) == "true",
            text(store, &format!("{TRUST}TOFUInactivityTimer"))
                .parse()
                .unwrap_or(0),
        )
    });
    trust.set_tofu_allowed(allowed, inactivity);
}

/// Tells `trust` whether real time is known: `Device.Time.Status` (read from the hardware,
/// as the agent itself) is `Synchronized` (TR-369 R-MTP.2/3; see `tls.rs`).
pub(crate) async fn follow_time(engine: &Engine, trust: &Trust) {
    let agent = engine.read(|store| text(store, "Device.LocalAgent.EndpointID"));
    let principal = Principal::controller(agent, Vec::new());
    let status = engine
        .get(&principal, &GetRequest::new([TIME_STATUS]))
        .await;
    let synchronized = status.is_ok_and(|got| {
        got.value(TIME_STATUS)
            .is_some_and(|v| v.canonical_text() == "Synchronized")
    });
    trust.set_real_time(synchronized);
}

/// The enabled `Device.LocalAgent.Controller.{i}.EndpointID`s of the store.
pub(crate) fn stored_controllers(engine: &Engine) -> Vec<String> {
    engine.read(|store| {
        let rows = store
            .instances("Device.LocalAgent.Controller.", Protocol::Usp, true)
            .unwrap_or_default();
        rows.into_iter()
            .filter(|row| {
                store
                    .value(&format!("{}Enable", row.path))
                    .is_ok_and(|v| v.canonical_text() == "true")
            })
            .filter_map(|row| {
                let id = store.value(&format!("{}EndpointID", row.path)).ok()?;
                Some(id.canonical_text())
            })
            .filter(|id| !id.is_empty())
            .collect()
    })
}

/// Reads the files of `trust` again (`why`: what asked) and, when they are all good, makes
/// the certificate rows those of the new CA file; else the trust stays as it was.
pub(crate) async fn reload_trust(engine: &Engine, trust: &Trust, why: &str) {
    if let Err(error) = trust.reload() {
        tracing::warn!(error, "TLS trust not reloaded ({why}): kept as it was");
        return;
    }
    tracing::info!("TLS trust reloaded ({why}): new connections use it");
    let synced = engine
        .device_update(|txn| crate::controller_trust::sync_certificates(txn, Some(trust)))
        .await;
    if let Err(error) = synced {
        tracing::warn!(%error, "certificate rows not updated to the reloaded CA file");
    }
}

/// Runs the hardware until `shutdown`: every `tick` the simulated clock moves, the LAN
/// clients of `comings_and_goings` join and leave when their second has come, and finished
/// asynchronous commands report; whenever the device's sink wakes, its inputs are applied and
/// the resulting notices go to every driver in `drivers` (in order). `trust` follows the
/// data model: real time every tick, trust on first use whenever the store changed; and its
/// files: reloaded when one changed.
#[allow(clippy::too_many_arguments)] // Each is a distinct piece of the task's context.
pub(crate) async fn run(
    device: Arc<SimDevice>,
    comings_and_goings: Vec<LanClient>,
    downloads: Arc<Downloads>,
    engine: Arc<Engine>,
    tick: Duration,
    drivers: Vec<mpsc::Sender<DeviceEvent>>,
    wake: Arc<Notify>,
    trust: Option<Trust>,
    mut shutdown: watch::Receiver<bool>,
) {
    let waker = wake.clone();
    // Changes made through one protocol (an ACS's SetParameterValues) reach the other stack's
    // subscriptions and notification attributes: the drivers wake this task after their
    // engine requests, and it tells every driver when the change log moved.
    let mut seen = engine.last_seq();
    engine.sink().set_waker(move || waker.notify_one());
    let started = Instant::now();
    let mut advanced: u64 = 0;
    let mut ticks = tokio::time::interval(tick.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            () = wake.notified() => {}
            _ = ticks.tick() => {
                let elapsed = started.elapsed().as_secs();
                let step = u32::try_from(elapsed.saturating_sub(advanced)).unwrap_or(u32::MAX);
                if step > 0 {
                    device.advance(step);
                    come_and_go(&device, &comings_and_goings, advanced, elapsed);
                    advanced = elapsed;
                }
                device.set_time(wall_clock());
                if let Some(trust) = &trust {
                    follow_time(&engine, trust).await;
                    if trust.files_changed() {
                        reload_trust(&engine, trust, "a file changed").await;
                    }
                }
                let finished = device.run_jobs();
                if finished > 0 {
                    tracing::debug!(finished, "simulated device finished asynchronous jobs");
                }
            }
        }
        // Downloads reported before this call are persisted by the engine once it returns.
        let reported = downloads.reported();
        match engine.handle_device_inputs().await {
            Ok(inputs) => {
                downloads.forget(&reported);
                if inputs > 0 {
                    tracing::debug!(inputs, "device inputs applied");
                }
            }
            Err(error) => tracing::warn!(%error, "device inputs failed"),
        }
        let seq = engine.last_seq();
        if seq != seen {
            seen = seq;
            if let Some(trust) = &trust {
                follow_tofu(&engine, trust);
            }
            for driver in &drivers {
                // A driver that is gone is shutting down.
                let _ = driver.send(DeviceEvent::Changed).await;
            }
        }
        while let Some((id, notice)) = engine.poll_notice() {
            tracing::debug!(?id, ?notice, "device notice");
            for driver in &drivers {
                let _ = driver.send(DeviceEvent::Notice(id, notice.clone())).await;
            }
        }
    }
}

/// Connects the clients of `lan` that join, and disconnects those that leave, in the
/// seconds `(from, to]` after the start; the device tells the engine, whose change log gives
/// both stacks their notifications.
fn come_and_go(device: &SimDevice, lan: &[LanClient], from: u64, to: u64) {
    let within = |at: u32| from < u64::from(at) && u64::from(at) <= to;
    for lan in lan {
        let mac = &lan.client.mac;
        if within(lan.join_after_s) {
            tracing::info!(%mac, "LAN client joined");
            device.connect_client(lan.client.clone());
        }
        if lan.leave_after_s.is_some_and(within) {
            tracing::info!(%mac, "LAN client left");
            device.disconnect_client(mac);
        }
    }
}

#[cfg(test)]
mod tests {
    use hal::sim::Client;
    use hal::traits::Tables;

    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn lan_clients_come_and_go_in_their_second() {
        let sim = SimDevice::new("S1");
        let lan = [LanClient {
            client: Client::wired("02:00:00:00:00:01", "192.168.1.100", "pc"),
            join_after_s: 2,
            leave_after_s: Some(4),
        }];
        for (from, to, hosts) in [(0, 1, 0), (1, 2, 1), (2, 3, 1), (3, 5, 0), (5, 6, 0)] {
            come_and_go(&sim, &lan, from, to);
            let rows = sim.discover("Device.Hosts.Host.").await.unwrap();
            assert_eq!(rows.len(), hosts, "after ({from}, {to}]");
        }
        // A step over both (the agent stalled): joined and gone.
        come_and_go(&sim, &lan, 0, 9);
        assert!(sim.discover("Device.Hosts.Host.").await.unwrap().is_empty());
    }

    #[test]
    fn the_flash_file_of_earlier_versions_is_taken_over() {
        let state = tempfile::tempdir().unwrap();
        let file = state.path().join(FLASH_FILE);
        std::fs::write(
            &file,
            r#"{"events": "{\"pending\":[]}", "store": "{\"format\":1}", "../x": "y"}"#,
        )
        .unwrap();
        take_over_flash_file(state.path()).unwrap();
        let dir = state.path().join(FLASH_DIR);
        assert_eq!(
            std::fs::read(dir.join("events")).unwrap(),
            br#"{"pending":[]}"#
        );
        assert_eq!(
            std::fs::read(dir.join("store")).unwrap(),
            br#"{"format":1}"#
        );
        let mut names: Vec<_> = std::fs::read_dir(state.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, [FLASH_DIR], "the file is gone, nothing else written");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        // Nothing to take over: nothing changes.
        take_over_flash_file(state.path()).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);

        // A garbled file is an error that names it, and stays.
        std::fs::write(&file, b"{\"store\": ").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let error = take_over_flash_file(state.path()).unwrap_err();
        assert!(error.contains("device.json"), "{error}");
        assert!(file.exists() && !dir.exists());
    }
}

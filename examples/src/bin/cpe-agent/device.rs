//! The simulated device and its engine: persistence in the state directory, real downloads
//! ([`Downloads`]), the hardware tick, and the fan-out of device inputs (changes, events,
//! command completions) to the protocol drivers.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hal::engine::{AllowAll, BootInfo, Notice, NoticeId};
use hal::sim::SimDevice;
use hal::{Engine, EngineConfig};
use tokio::sync::{Notify, mpsc, watch};
use tr181_model::schema::{Protocol, Protocols};
use tr181_model::value::DateTime;

use crate::download::Downloads;
use crate::mqtt_stats::{MqttStats, StatsParameters};
use crate::tls::Trust;

/// The file in the state directory that holds the device's flash.
pub(crate) const STATE_FILE: &str = "device.json";

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
    /// The downloads, journalled.
    pub(crate) downloads: Arc<Downloads>,
    /// The MQTT clients' counts, live as `Device.MQTT.Client.{i}.Stats.`.
    pub(crate) mqtt_stats: Arc<MqttStats>,
}

/// The wall clock, if the system has one past the epoch.
pub(crate) fn wall_clock() -> Option<DateTime> {
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    DateTime::from_unix_seconds(i64::try_from(seconds).ok()?)
}

/// Boots the simulated device with its state in `state_dir` (created if missing), its
/// downloads checking `https://` servers against `trust`. Each of `stacks` must acknowledge a
/// notice (a boot, a transfer result) before the engine forgets it.
pub(crate) async fn boot(
    state_dir: &Path,
    serial: &str,
    stacks: Protocols,
    trust: Option<Trust>,
) -> Result<Device, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(state_dir)
        .map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
    let sim = SimDevice::with_file(serial, state_dir.join(STATE_FILE))?;
    sim.set_time(wall_clock());
    let mut hal = sim.hal();
    let downloads = Arc::new(Downloads::new(hal.lifecycle.clone(), state_dir, trust));
    hal.lifecycle = downloads.clone();
    let mqtt_stats = Arc::new(MqttStats::default());
    hal.parameters = Arc::new(StatsParameters::new(hal.parameters, mqtt_stats.clone()));
    // The simulated device has no ControllerTrust roles: every controller may do everything.
    let engine = Arc::new(Engine::new(
        hal,
        Arc::new(AllowAll),
        EngineConfig::default().with_notice_consumers(stacks),
    ));
    let boot = engine.start().await?;
    sim.attach(engine.sink());
    // Transfers of the previous run that the engine may not have heard the end of.
    if downloads.recover(&engine.sink(), &engine.running_transfers()) > 0 {
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
    })
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

/// Runs the hardware until `shutdown`: every `tick` the simulated clock moves and finished
/// asynchronous commands report; whenever the device's sink wakes, its inputs are applied and
/// the resulting notices go to every driver in `drivers` (in order).
pub(crate) async fn run(
    device: Arc<SimDevice>,
    downloads: Arc<Downloads>,
    engine: Arc<Engine>,
    tick: Duration,
    drivers: Vec<mpsc::Sender<DeviceEvent>>,
    wake: Arc<Notify>,
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
                    advanced = elapsed;
                }
                device.set_time(wall_clock());
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

//! Restarts: the simulated device's flash keeps instance numbers, values, pending
//! notices and the cause of the next boot; a factory reset starts over.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{acs, pending, poll_all, set_one, start, usp};
use hal::Engine;
use hal::engine::{
    AddRequest, AllowAll, BootInfo, DeleteRequest, GetRequest, Notice, ObjectCreation, ParamSetting,
};
use hal::sim::SimDevice;
use hal::traits::BootCause;
use hal::transfer::{Direction, TransferId};

/// A fresh flash directory in the temp directory, removed when dropped.
struct TempFlash(PathBuf);

impl TempFlash {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("hal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for TempFlash {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Boots a device (new process, same flash).
async fn boot(file: &TempFlash) -> (Arc<SimDevice>, Engine, BootInfo) {
    let sim = SimDevice::with_dir("SIM0100", &file.0).unwrap();
    let (engine, info) = start(&sim, Arc::new(AllowAll)).await;
    (sim, engine, info)
}

fn port_mapping(port: &str) -> ObjectCreation {
    ObjectCreation::new(
        "Device.NAT.PortMapping.",
        vec![
            ParamSetting::new("Enable", "true"),
            ParamSetting::new("ExternalPort", port),
            ParamSetting::new("Protocol", "UDP"),
            ParamSetting::new("InternalClient", "192.168.1.30"),
        ],
    )
}

#[tokio::test]
async fn restart_keeps_instance_numbers_values_and_pending_events() {
    let file = TempFlash::new("restart");
    {
        let (sim, engine, info) = boot(&file).await;
        assert!(info.bootstrap, "first boot starts from factory defaults");
        let added = engine
            .add(
                &usp(),
                &AddRequest::new(vec![port_mapping("5000"), port_mapping("5001")]),
            )
            .await
            .unwrap();
        let numbers: Vec<u32> = added
            .results
            .iter()
            .map(|r| r.outcome.as_ref().unwrap().number)
            .collect();
        assert_eq!(numbers, [2, 3]);
        engine
            .delete(&usp(), &DeleteRequest::new(["Device.NAT.PortMapping.3."]))
            .await
            .unwrap();
        let ssid = set_one(
            "Device.WiFi.SSID.1.",
            vec![ParamSetting::new("SSID", "Persisted")],
        );
        engine.set(&usp(), &ssid).await.unwrap();
        // A device event that the controller never acknowledged.
        sim.raise_event(
            "Device.X_ACME-COM_Button.Pressed!",
            vec![("Long".into(), "true".into())],
        );
        engine.handle_device_inputs().await.unwrap();
        // Acknowledge the boot notice; the event stays pending.
        let (boot_id, _) = engine.poll_notice().unwrap();
        assert!(engine.acknowledge(boot_id).await.unwrap());
        // The process dies here (no explicit save: every change was persisted as it happened).
    }

    let (_sim, engine, info) = boot(&file).await;
    assert!(!info.bootstrap);
    assert_eq!(info.cause, BootCause::LocalReboot);
    let got = engine
        .get(
            &usp(),
            &GetRequest::new([
                "Device.NAT.PortMapping.2.ExternalPort",
                "Device.WiFi.SSID.1.SSID",
            ]),
        )
        .await
        .unwrap();
    assert_eq!(got.first_error(), None);
    assert_eq!(
        got.value("Device.NAT.PortMapping.2.ExternalPort")
            .unwrap()
            .canonical_text(),
        "5000"
    );
    assert_eq!(
        got.value("Device.WiFi.SSID.1.SSID")
            .unwrap()
            .canonical_text(),
        "Persisted"
    );
    let gone = engine
        .get(&usp(), &GetRequest::new(["Device.NAT.PortMapping.3."]))
        .await
        .unwrap();
    assert_eq!(gone.first_error().unwrap().usp_error(), 7016);

    // Instance numbers are never reused, not even after a restart.
    let added = engine
        .add(&usp(), &AddRequest::new(vec![port_mapping("6000")]))
        .await
        .unwrap();
    assert_eq!(
        added.results[0].outcome.as_ref().unwrap().path,
        "Device.NAT.PortMapping.4."
    );

    // The unacknowledged event is delivered again, then the new boot.
    let notices = poll_all(&engine);
    assert!(matches!(
        &notices[0],
        Notice::Event { path, args } if path == "Device.X_ACME-COM_Button.Pressed!" && args.len() == 1
    ));
    assert!(matches!(&notices[1], Notice::Booted(b) if !b.bootstrap));
    assert_eq!(notices.len(), 2);
}

#[tokio::test]
async fn remote_reboot_and_factory_reset_are_reported_at_next_boot() {
    let file = TempFlash::new("reboot");
    {
        let (sim, engine, _) = boot(&file).await;
        engine
            .add(&usp(), &AddRequest::new(vec![port_mapping("7000")]))
            .await
            .unwrap();
        engine.reboot(&acs(), "reboot-42").await.unwrap();
        assert_eq!(sim.hardware().reboots, 1);
    }
    {
        let (sim, engine, info) = boot(&file).await;
        assert_eq!(info.cause, BootCause::RemoteReboot);
        assert_eq!(info.command_key, "reboot-42");
        assert!(!info.bootstrap);
        engine.factory_reset(&acs()).await.unwrap();
        assert_eq!(sim.hardware().factory_resets, 1);
    }
    let (_sim, engine, info) = boot(&file).await;
    assert_eq!(info.cause, BootCause::RemoteFactoryReset);
    assert!(info.bootstrap, "factory defaults again");
    let count = engine.read(|s| {
        s.value("Device.NAT.PortMappingNumberOfEntries")
            .unwrap()
            .canonical_text()
    });
    assert_eq!(count, "1", "only the factory port mapping");
}

#[tokio::test]
async fn a_transfer_in_progress_survives_restart() {
    let file = TempFlash::new("transfer");
    {
        let (_sim, engine, _) = boot(&file).await;
        let mut transfer = hal::transfer::FileTransfer::download(
            hal::transfer::FileType::FirmwareImage,
            "https://fw.example.net/new.bin",
        );
        transfer.command_key = "dl-1".into();
        engine.transfer(&acs(), transfer).await.unwrap();
        // The device reboots into the new image before reporting.
    }
    let (_sim, engine, _) = boot(&file).await;
    let download = (TransferId(1), Direction::Download);
    assert_eq!(engine.running_transfers(), [download]);
    // After the reboot the vendor reports the outcome for the persisted transfer id.
    engine
        .sink()
        .transfer_reporter(TransferId(1))
        .complete(None, Ok(()));
    engine.handle_device_inputs().await.unwrap();
    assert!(engine.running_transfers().is_empty());
    let result = pending(&engine, |n| match n {
        Notice::TransferComplete(r) => Some(r),
        _ => None,
    });
    assert_eq!(result.command_key, "dl-1");
    assert!(result.fault.is_none());
    assert!(result.start_time.is_some(), "the persisted start time");
}

#[tokio::test]
async fn a_notice_waits_for_every_protocol_stack_across_a_restart() {
    use hal::EngineConfig;
    use tr181_model::schema::{Protocol, Protocols};

    let file = TempFlash::new("consumers");
    let sim = SimDevice::with_dir("SIM0101", &file.0).unwrap();
    let both = || EngineConfig::default().with_notice_consumers(Protocols::BOTH);
    let boot_id = {
        let engine = Engine::new(sim.hal(), Arc::new(AllowAll), both());
        engine.start().await.unwrap();
        let (boot_id, notice) = engine.poll_notice().unwrap();
        assert!(matches!(notice, Notice::Booted(_)));
        // The ACS got the Inform with 1 BOOT; the USP controller has not seen Boot! yet.
        assert!(
            engine
                .acknowledge_for(boot_id, Protocol::Cwmp)
                .await
                .unwrap()
        );
        assert!(
            engine
                .pending_notices()
                .iter()
                .any(|(id, _)| *id == boot_id)
        );
        boot_id
    };

    // Power cut: the CWMP acknowledgement survives, the notice is still owed to USP.
    let engine = Engine::new(sim.hal(), Arc::new(AllowAll), both());
    engine.start().await.unwrap();
    assert!(
        engine
            .pending_notices()
            .iter()
            .any(|(id, _)| *id == boot_id)
    );
    assert!(
        engine
            .acknowledge_for(boot_id, Protocol::Usp)
            .await
            .unwrap()
    );
    assert!(
        !engine
            .pending_notices()
            .iter()
            .any(|(id, _)| *id == boot_id)
    );
    assert!(
        !engine
            .acknowledge_for(boot_id, Protocol::Cwmp)
            .await
            .unwrap()
    );
}

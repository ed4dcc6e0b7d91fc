//! Download, Upload and their TransferComplete, kept until acknowledged; a power cut between
//! the transfer's end and the TransferCompleteResponse (persisted session state + engine
//! notices); Reboot after the session and `M Reboot`; the ACS faulting a TransferComplete.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{
    Body, Download, GetParameterValues, Reboot, Status, TransferState, UNKNOWN_TIME, Upload,
};
use cwmp_core::session::SessionConfig;
use hal::engine::Notice;
use support::{Cpe, ScriptedAcs, codes};

fn download(key: &str, url: &str) -> Body {
    Body::Download(Download {
        command_key: key.into(),
        file_type: "1 Firmware Upgrade Image".into(),
        url: url.into(),
        username: "fw".into(),
        password: "secret".into(),
        file_size: 4096,
        target_file_name: "image.bin".into(),
        delay_seconds: 0,
        success_url: String::new(),
        failure_url: String::new(),
    })
}

fn transfer_completes(acs: &ScriptedAcs) -> Vec<cwmp_core::codec::TransferComplete> {
    acs.cpe_messages()
        .into_iter()
        .filter_map(|b| match b {
            Body::TransferComplete(tc) => Some(tc),
            _ => None,
        })
        .collect()
}

fn pending_engine_transfer_completes(cpe: &Cpe) -> usize {
    cpe.engine
        .pending_notices()
        .iter()
        .filter(|(_, n)| matches!(n, Notice::TransferComplete(_)))
        .count()
}

#[tokio::test(flavor = "current_thread")]
async fn download_then_transfer_complete_in_a_later_session() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(download("dl-1", "https://fw.example.net/a.bin"));
    acs.push(Body::GetAllQueuedTransfers);
    acs.push(Body::Upload(Upload {
        command_key: "up-1".into(),
        file_type: "2 Vendor Log File".into(),
        url: "ftp://logs.example.net/".into(),
        username: String::new(),
        password: String::new(),
        delay_seconds: 0,
    }));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let messages = acs.cpe_messages();
    let Body::DownloadResponse(response) = &messages[0] else {
        panic!("{:?}", messages[0]);
    };
    assert_eq!(response.status, Status::Pending);
    assert_eq!(response.start_time, UNKNOWN_TIME);
    let Body::GetAllQueuedTransfersResponse(queued) = &messages[1] else {
        panic!("{:?}", messages[1]);
    };
    assert_eq!(queued.transfer_list.len(), 1);
    assert_eq!(queued.transfer_list[0].command_key, "dl-1");
    assert_eq!(queued.transfer_list[0].state, TransferState::InProgress);
    assert!(queued.transfer_list[0].is_download);
    assert_eq!(queued.transfer_list[0].target_file_name, "image.bin");
    let Body::Fault(fault) = &messages[2] else {
        panic!("{:?}", messages[2]);
    };
    assert_eq!(fault.code(), Some(9013), "the engine refuses ftp");

    // The transfer ends; the engine's notice starts a session.
    assert_eq!(cpe.sim.run_jobs(), 1);
    cpe.sync().await;
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 2);
    assert_eq!(
        codes(&informs[1].1),
        ["7 TRANSFER COMPLETE", "M Download:dl-1"]
    );
    let tcs = transfer_completes(&acs);
    assert_eq!(tcs.len(), 1);
    assert_eq!(tcs[0].command_key, "dl-1");
    assert_eq!(tcs[0].fault_struct.fault_code, 0);
    assert_ne!(tcs[0].start_time, UNKNOWN_TIME);
    assert_eq!(
        cpe.sim.hardware().transfers,
        ["https://fw.example.net/a.bin"]
    );
    // Acknowledged: gone from the engine and from the session state.
    assert_eq!(pending_engine_transfer_completes(&cpe), 0);
    let saved = cpe.saved.clone().unwrap();
    assert!(saved.transfer_completes.is_empty());
    assert!(saved.transfers.is_empty());
}

/// A transfer that ends while the session that asked for it goes on is reported in a later
/// session, whose Inform carries `7 TRANSFER COMPLETE` (TR-069 A.3.3.2), not in the same one.
#[tokio::test(flavor = "current_thread")]
async fn a_transfer_ending_during_the_session_is_reported_in_the_next() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(download("dl-1", "https://fw.example.net/a.bin"));
    acs.push(Body::GetParameterValues(GetParameterValues {
        parameter_names: vec!["Device.DeviceInfo.SerialNumber".into()],
    }));
    let sim = cpe.sim.clone();
    acs.on_message = Some(Box::new(move |body| {
        if matches!(body, Body::DownloadResponse(_)) {
            // The download finishes before the ACS's next request.
            assert_eq!(sim.run_jobs(), 1);
        }
    }));
    cpe.run(&mut acs, Duration::from_secs(5)).await;

    let informs = acs.informs();
    assert_eq!(
        informs.len(),
        2,
        "a second session for the TransferComplete"
    );
    assert_eq!(
        codes(&informs[1].1),
        ["7 TRANSFER COMPLETE", "M Download:dl-1"]
    );
    let order: Vec<&str> = acs
        .received
        .iter()
        .filter_map(|r| match r.envelope.as_ref().map(|e| &e.body) {
            Some(Body::Inform(_)) => Some("Inform"),
            Some(Body::TransferComplete(_)) => Some("TransferComplete"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["Inform", "Inform", "TransferComplete"]);
    assert_eq!(pending_engine_transfer_completes(&cpe), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn download_reboot_power_cut_then_transfer_complete() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let sim = cpe.sim.clone();
    let origin = cpe.origin;
    let mut acs = ScriptedAcs::new();
    acs.push(download("dl-7", "https://fail.example.net/b.bin"));
    acs.push(Body::Reboot(Reboot {
        command_key: "rb-1".into(),
    }));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    assert_eq!(
        sim.hardware().reboots,
        1,
        "the Reboot ran after the session"
    );
    let messages = acs.cpe_messages();
    assert!(matches!(messages[1], Body::RebootResponse));

    // The transfer ends (with a failure) while the device goes down; the power is cut before
    // any session could report it.
    assert_eq!(sim.run_jobs(), 1);
    cpe.engine.handle_device_inputs().await.unwrap();
    let saved = cpe.saved.clone().unwrap();
    assert_eq!(saved.transfers.len(), 1, "the queued download is persisted");
    let json = serde_json::to_string(&saved).unwrap();
    drop(cpe);

    // Power returns: a new engine on the same storage, a session from the saved state.
    let restored = serde_json::from_str(&json).unwrap();
    let later = origin + Duration::from_secs(600);
    let mut cpe = Cpe::boot_on(sim.clone(), SessionConfig::default(), Some(restored), later).await;
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 2);
    assert_eq!(
        codes(&informs[1].1),
        [
            "1 BOOT",
            "7 TRANSFER COMPLETE",
            "M Reboot:rb-1",
            "M Download:dl-7"
        ]
    );
    let tcs = transfer_completes(&acs);
    assert_eq!(tcs.len(), 1);
    assert_eq!(tcs[0].command_key, "dl-7");
    assert_eq!(tcs[0].fault_struct.fault_code, 9015);
    assert_eq!(pending_engine_transfer_completes(&cpe), 0);
    assert!(
        cpe.engine.pending_notices().is_empty(),
        "Booted acknowledged too"
    );

    // Nothing left: no further session until the periodic inform.
    cpe.run(&mut acs, Duration::from_secs(600)).await;
    assert_eq!(acs.informs().len(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_transfer_complete_is_retried_later() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let quiet = cpe
        .session
        .settings()
        .clone()
        .with_periodic(false, 3600, None);
    cpe.session
        .handle_input(cwmp_core::session::Input::Settings(quiet))
        .unwrap();
    let mut acs = ScriptedAcs::new();
    acs.push(download("dl-2", "https://fw.example.net/c.bin"));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    cpe.sim.run_jobs();
    cpe.sync().await;
    acs.fault_transfer_completes = 1;
    cpe.run(&mut acs, Duration::from_secs(60)).await;
    let informs = acs.informs();
    assert_eq!(
        informs.len(),
        3,
        "a session with a fault, then a retry after a wait"
    );
    let wait = informs[2].0 - informs[1].0;
    assert!(
        wait >= Duration::from_secs(5) && wait <= Duration::from_secs(10),
        "{wait:?}"
    );
    assert_eq!(transfer_completes(&acs).len(), 2);
    assert_eq!(pending_engine_transfer_completes(&cpe), 0);
}

/// A transfer keeps its slot until the ACS confirms its TransferComplete, so that unconfirmed
/// completions are bounded without one ever being dropped: while the ACS holds the CPE's
/// requests (its TransferComplete among them), a Download beyond the queue is fault 9004;
/// once the TransferComplete is confirmed, the slot is free again.
#[tokio::test(flavor = "current_thread")]
async fn an_unconfirmed_transfer_complete_keeps_its_slot() {
    let mut limits = cwmp_core::session::SessionLimits::default();
    limits.max_transfers = 1;
    let mut cpe = Cpe::boot(SessionConfig::default().with_limits(limits)).await;
    let mut acs = ScriptedAcs::new();
    acs.push(download("dl-a", "https://fw.example.net/a.bin"));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    cpe.sim.run_jobs();
    cpe.sync().await;

    acs.hold_on_inform = true;
    acs.hold_with_requests = true;
    acs.push(download("dl-b", "https://fw.example.net/b.bin"));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let faults: Vec<Option<u32>> = acs
        .cpe_messages()
        .iter()
        .filter_map(|b| match b {
            Body::Fault(f) => Some(f.code()),
            _ => None,
        })
        .collect();
    assert_eq!(faults, [Some(9004)], "dl-b finds no slot");

    acs.hold_on_inform = false;
    acs.hold_with_requests = false;
    acs.push(download("dl-c", "https://fw.example.net/c.bin"));
    cpe.session
        .handle_input(cwmp_core::session::Input::ConnectionRequest)
        .unwrap();
    cpe.run(&mut acs, Duration::from_secs(60)).await;
    let completed: Vec<String> = transfer_completes(&acs)
        .into_iter()
        .map(|tc| tc.command_key)
        .collect();
    assert_eq!(completed, ["dl-a"]);
    let accepted = acs
        .cpe_messages()
        .iter()
        .filter(|b| matches!(b, Body::DownloadResponse(_)))
        .count();
    assert_eq!(accepted, 2, "dl-a, then dl-c once dl-a's slot was free");
}

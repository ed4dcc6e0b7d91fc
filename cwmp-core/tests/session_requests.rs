//! The CPE's own requests: RequestDownload (`9 REQUEST DOWNLOAD`) and
//! AutonomousTransferComplete (`10 AUTONOMOUS TRANSFER COMPLETE`), sent after the Inform (not
//! under HoldRequests), kept across a failed session and a restart until the ACS answers, then
//! forgotten.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::Input;
use cwmp_core::codec::{AutonomousTransferComplete, Body, TransferFault};
use cwmp_core::session::{SessionConfig, SessionError};
use support::{Cpe, ScriptedAcs, codes};

fn autonomous(url: &str) -> AutonomousTransferComplete {
    AutonomousTransferComplete {
        announce_url: String::new(),
        transfer_url: url.into(),
        is_download: true,
        file_type: "1 Firmware Upgrade Image".into(),
        file_size: 1_048_576,
        target_file_name: "image.bin".into(),
        fault_struct: TransferFault {
            fault_code: 0,
            fault_string: String::new(),
        },
        start_time: "2025-01-01T00:00:00Z".into(),
        complete_time: "2025-01-01T00:01:00Z".into(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn request_download_goes_once_after_the_inform_and_not_under_hold() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(2)).await;
    let sessions = acs.informs().len();
    acs.hold_on_inform = true;
    cpe.session
        .handle_input(Input::RequestDownload {
            file_type: "2 Web Content".into(),
            args: vec![("Version".into(), "4.2".into())],
        })
        .unwrap();
    cpe.run(&mut acs, Duration::from_secs(60)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), sessions + 1, "one session");
    assert_eq!(codes(&informs.last().unwrap().1), ["9 REQUEST DOWNLOAD"]);
    let requests: Vec<_> = acs
        .cpe_messages()
        .into_iter()
        .filter_map(|b| match b {
            Body::RequestDownload(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].file_type, "2 Web Content");
    assert_eq!(requests[0].file_type_arg[0].name, "Version");
    assert_eq!(requests[0].file_type_arg[0].value, "4.2");
    assert!(cpe.session.persisted_state().request_downloads.is_empty());
    // Nothing left: no further session.
    cpe.run(&mut acs, Duration::from_secs(600)).await;
    assert_eq!(acs.informs().len(), sessions + 1);
    // The queue is bounded.
    for _ in 0..16 {
        cpe.session
            .handle_input(Input::RequestDownload {
                file_type: "3 Vendor Configuration File".into(),
                args: Vec::new(),
            })
            .unwrap();
    }
    assert_eq!(
        cpe.session.handle_input(Input::RequestDownload {
            file_type: "3 Vendor Configuration File".into(),
            args: Vec::new(),
        }),
        Err(SessionError::QueueFull)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn autonomous_transfer_complete_survives_a_failed_session_and_a_restart() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(2)).await;
    acs.fail_informs = 1;
    cpe.session
        .handle_input(Input::AutonomousTransferComplete(Box::new(autonomous(
            "http://fw.example.net/auto.bin",
        ))))
        .unwrap();
    cpe.run(&mut acs, Duration::from_secs(1)).await;
    assert!(cpe.ends().last().unwrap().failure.is_some());
    let saved = cpe.saved.clone().unwrap();
    assert_eq!(saved.autonomous_transfers.len(), 1);

    let mut cpe = cpe.power_cycle().await;
    cpe.run(&mut acs, Duration::from_secs(120)).await;
    let inform = acs.informs().last().unwrap().1.clone();
    assert!(
        codes(&inform).contains(&"10 AUTONOMOUS TRANSFER COMPLETE".to_owned()),
        "{:?}",
        codes(&inform)
    );
    let sent: Vec<_> = acs
        .cpe_messages()
        .into_iter()
        .filter_map(|b| match b {
            Body::AutonomousTransferComplete(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![autonomous("http://fw.example.net/auto.bin")]);
    assert!(
        cpe.session
            .persisted_state()
            .autonomous_transfers
            .is_empty()
    );
}

//! End to end: uploads, through CWMP and USP.
//!
//! CWMP Upload: the scripted ACS sends, in the bootstrap session, Uploads of the
//! vendor configuration file and of the vendor log file to a file server of the test (raw
//! TCP on a free loopback port), and two that fail: one to a server answering 500 (fault
//! 9011, "Upload failure") and one to a server answering 401 (9012). Each is answered as
//! pending; an `ftp://` URL is refused at once with 9013 and a file type the agent has not
//! with 9003; the server must receive the files by HTTP PUT with the Upload's Basic
//! credentials, or with Digest ones where it answers them with a Digest challenge: the configuration is the agent's persisted data model (JSON naming the
//! device's serial number and `VendorConfigFile.1`), the log its recent log lines. Every
//! TransferComplete comes with its fault and real start and complete times.
//!
//! USP: a controller over WebSocket operates `VendorConfigFile.1.Backup()` (the same JSON
//! arrives by PUT) and `VendorLogFile.1.Upload()` to a server answering 401, each completed
//! by an OperationComplete, a success and a failure. Every wait is bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The test bounds its waits on the real clock, as the agent it drives does.
    clippy::disallowed_methods,
    missing_docs
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use cwmp_core::codec::{Body, UNKNOWN_TIME};
use rusp_lib::usp_builder::OperateBuilder;
use tokio::sync::mpsc;

use common::files::{Received, upload, upload_pending, upload_server};
use common::{Acs, AgentProcess, Controller, WAIT, s};

async fn next_request(requests: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, requests.recv())
        .await
        .expect("no upload in time")
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn uploads_reach_the_server_and_failures_have_their_faults() {
    common::within(Duration::from_secs(120), scenario()).await;
}

async fn scenario() {
    let mut acs = Acs::start().await;
    let (server, mut requests) = upload_server().await;
    let uploads = [
        (
            "config",
            "/ok/config.json",
            "1 Vendor Configuration File",
            0,
        ),
        ("log", "/ok/agent.log", "2 Vendor Log File", 0),
        (
            "digest",
            "/digest/config.json",
            "1 Vendor Configuration File",
            0,
        ),
        (
            "fail",
            "/fail/config.json",
            "1 Vendor Configuration File",
            9011,
        ),
        ("auth", "/auth/agent.log", "2 Vendor Log File", 9012),
    ];
    for (key, path, file_type, _) in uploads {
        acs.push(upload(&format!("{server}{path}"), key, file_type));
    }
    // Refused at once: a URL of no protocol the agent has, a file it does not have.
    let refused = [
        (
            upload("ftp://127.0.0.1/x", "ftp", "2 Vendor Log File"),
            9013,
        ),
        (
            upload(&format!("{server}/ok/x"), "x", "X 00D09E Dump"),
            9003,
        ),
    ];
    for (request, _) in &refused {
        acs.push(request.clone());
    }
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &["--acs-url", &acs.url, "--cr-port", "0"]).await;
    acs.next_inform().await;
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    for _ in uploads {
        upload_pending(&mut acs).await;
    }
    for (_, code) in refused {
        match acs.next_post().await.map(|e| e.body) {
            Some(Body::Fault(fault)) => assert_eq!(fault.code(), Some(code), "{fault:?}"),
            other => panic!("expected a Fault {code}, got {other:?}"),
        }
    }

    let mut received = BTreeMap::new();
    for _ in uploads {
        let request = next_request(&mut requests).await;
        let path = request.line.split(' ').nth(1).unwrap().to_owned();
        received.insert(path, request);
    }
    let basic = base64::engine::general_purpose::STANDARD.encode("up:secret");
    for (path, request) in &received {
        assert!(request.line.starts_with("PUT "), "{path}: {request:?}");
        let authorization = request.header("authorization").unwrap();
        if path.starts_with("/digest/") {
            // Answered to the server's challenge (the server let only valid ones through).
            assert!(authorization.starts_with("Digest "), "{authorization}");
            assert!(authorization.contains("username=\"up\""), "{authorization}");
        } else {
            assert_eq!(authorization, format!("Basic {basic}"), "{path}");
        }
    }
    let config = &received["/ok/config.json"];
    assert_eq!(config.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&config.body).unwrap();
    let text = json.to_string();
    assert!(text.contains("SIM0001"), "{text}");
    assert!(text.contains("cpe-agent-store.json"), "{text}");
    let log = String::from_utf8(received["/ok/agent.log"].body.clone()).unwrap();
    assert!(log.contains("CWMP client informing the ACS at "), "{log}");
    assert!(!log.contains('\x1b'), "no colours: {log}");
    assert_eq!(received["/fail/config.json"].body, config.body);
    assert_eq!(received["/digest/config.json"].body, config.body);

    // The TransferCompletes, in one session or more.
    let mut completes = BTreeMap::new();
    while completes.len() < uploads.len() {
        match acs.next_post().await.map(|e| e.body) {
            Some(Body::TransferComplete(t)) => {
                completes.insert(t.command_key.clone(), t);
            }
            None | Some(Body::Inform(_)) => {}
            other => panic!("expected a TransferComplete, got {other:?}"),
        }
    }
    for (key, _, _, fault) in uploads {
        let complete = &completes[key];
        assert_eq!(complete.fault_struct.fault_code, fault, "{complete:?}");
        assert_ne!(complete.start_time, UNKNOWN_TIME, "{complete:?}");
        assert!(
            complete.complete_time >= complete.start_time,
            "{complete:?}"
        );
    }
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn usp_backup_and_upload_are_uploads() {
    common::within(Duration::from_secs(120), usp_scenario()).await;
}

async fn usp_scenario() {
    const BACKUP: &str = "Device.DeviceInfo.VendorConfigFile.1.Backup()";
    const UPLOAD: &str = "Device.DeviceInfo.VendorLogFile.1.Upload()";
    let (server, mut requests) = upload_server().await;
    let state = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(state.path(), &[]).await;
    let mut ctrl = Controller::connect(&agent.url).await;
    common::subscribe_completions(&mut ctrl, "uploads", &[BACKUP, UPLOAD]).await;
    for (command, path) in [(BACKUP, "/ok/backup.json"), (UPLOAD, "/auth/agent.log")] {
        let operate = OperateBuilder::new(s(command))
            .with_command_key(s(path))
            .with_send_resp(true)
            .with_input_args(vec![
                (s("URL"), format!("{server}{path}")),
                (s("Username"), s("up")),
                (s("Password"), s("secret")),
            ])
            .build()
            .unwrap();
        let body = ctrl.request(operate).await;
        let result = &body["Response"]["OperateResp"]["operation_results"][0];
        assert_eq!(result["executed_command"], command, "{body}");
        let request = next_request(&mut requests).await;
        assert!(
            request.line.starts_with(&format!("PUT {path} ")),
            "{request:?}"
        );
        let done = ctrl
            .notify(|n| n["oper_complete"]["command_key"] == path)
            .await;
        if command == BACKUP {
            let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            assert!(json.to_string().contains("cpe-agent-store.json"));
            assert!(
                done["oper_complete"]["req_output_args"].is_object(),
                "{done}"
            );
        } else {
            assert!(done["oper_complete"]["cmd_failure"].is_object(), "{done}");
        }
    }
    drop(ctrl);
    agent.stop().await;
}

//! Restart safety: every file the agent persists, cut short at several offsets (a power cut on
//! a flash that does not keep write order, a worn sector), and the agent started again on it.
//!
//! A first run makes the agent write everything it keeps: the CWMP session state
//! (`cwmp.json`, bootstrapped), the device's flash sections (`device/store` with a changed
//! SSID, `device/events`, `device/transfers`, `device/subscriptions` holding a NotifRetry
//! Notify left unanswered) and the download journal (`downloads.json`, empty). Then, for each
//! file and each cut, the state directory is put back as the first run left it, that one file
//! is cut, and the agent restarts. It must come up (USP served, a CWMP session held), stop
//! cleanly, and lose only what the cut file held: a cut store is the factory store
//! (`0 BOOTSTRAP`), a cut `cwmp.json` is a fresh CWMP session (`0 BOOTSTRAP`) with the cut
//! file kept as `cwmp.json.invalid`, a cut `subscriptions` section drops the saved Notify, a
//! cut events, transfers or journal file is started without (and logged); whatever the other
//! files held is still there. A `cwmp.json` that reads but holds entries of the wrong JSON
//! type loses those alone. Every wait is bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The shared helpers bound their waits on the real clock.
    clippy::disallowed_methods,
    missing_docs
)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    Acs, AgentProcess, Controller, add, added_path, codes, get, get_params, set, transfer_complete,
};
use serde_json::json;

/// The SSID the first run sets.
const KEPT: &str = "Kept-SSID";
/// The simulated device's factory SSID.
const FACTORY: &str = "Acme-2G";

/// Every file under `dir`, by path relative to it.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

/// Puts `dir` back to `files` exactly (files written since are removed).
fn restore(dir: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) {
    std::fs::remove_dir_all(dir).unwrap();
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

fn agent_args(acs: &Acs) -> [&str; 4] {
    ["--acs-url", &acs.url, "--cr-port", "0"]
}

/// The agent's bootstrap session (InformResponse, then the CPE's empty POST ends it); the
/// Inform's event codes.
async fn session(acs: &mut Acs, agent: &mut AgentProcess) -> Vec<String> {
    let inform = acs.next_inform().await;
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;
    codes(&inform)
}

/// The first run: a bootstrapped CWMP session, a changed SSID and an unanswered NotifRetry
/// Notify about it.
async fn first_run(dir: &Path, acs: &mut Acs) {
    let mut agent = AgentProcess::start(dir, &agent_args(acs)).await;
    assert!(
        session(acs, &mut agent)
            .await
            .contains(&"0 BOOTSTRAP".to_owned())
    );
    let mut ctrl = Controller::connect(&agent.url).await;
    let onboarded = set(
        "Device.LocalAgent.Controller.1.",
        "OnBoardingComplete",
        "true",
    );
    assert!(ctrl.request(onboarded).await["Response"]["SetResp"].is_object());
    let subscription = add(
        "Device.LocalAgent.Subscription.",
        &[
            ("ID", "retried"),
            ("NotifType", "ValueChange"),
            ("ReferenceList", "Device.WiFi.SSID.1.SSID"),
            ("NotifRetry", "true"),
            ("Persistent", "true"),
            ("Enable", "true"),
        ],
    );
    added_path(&ctrl.request(subscription).await);
    let body = ctrl.request(set("Device.WiFi.SSID.1.", "SSID", KEPT)).await;
    assert!(body["Response"]["SetResp"].is_object(), "{body}");
    ctrl.notify_msg(|n| n["value_change"]["param_value"] == KEPT)
        .await;
    drop(ctrl);
    agent.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn every_persisted_file_cut_short_still_boots() {
    common::within(Duration::from_secs(300), cut_files()).await;
}

async fn cut_files() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path();
    let mut acs = Acs::start().await;
    first_run(dir, &mut acs).await;
    let whole = snapshot(dir);
    let names: Vec<String> = whole.keys().map(|p| p.display().to_string()).collect();
    for expected in [
        "cwmp.json",
        "device/store",
        "device/events",
        "device/transfers",
        "device/subscriptions",
        "downloads.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }

    for (name, bytes) in &whole {
        let file = name.display().to_string();
        let len = bytes.len();
        for cut in [0, len / 2, len - 1] {
            restore(dir, &whole);
            std::fs::write(dir.join(name), &bytes[..cut]).unwrap();
            let what = format!("{file} cut to {cut} of {len} bytes");
            let mut agent = AgentProcess::start(dir, &agent_args(&acs)).await;
            let codes = session(&mut acs, &mut agent).await;
            let fresh = file == "device/store" || file == "cwmp.json";
            assert_eq!(
                codes.contains(&"0 BOOTSTRAP".to_owned()),
                fresh,
                "{what}: {codes:?}"
            );
            assert!(codes.contains(&"1 BOOT".to_owned()), "{what}: {codes:?}");
            let mut ctrl = Controller::connect(&agent.url).await;
            let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
            let ssid = if file == "device/store" {
                FACTORY
            } else {
                KEPT
            };
            assert_eq!(get_params(&body)["SSID"], ssid, "{what}: {body}");
            if file != "device/store" && file != "device/subscriptions" {
                // The saved Notify is sent again.
                ctrl.notify_msg(|n| n["value_change"]["param_value"] == KEPT)
                    .await;
            }
            if file == "cwmp.json" {
                let kept = std::fs::read(dir.join("cwmp.json.invalid")).unwrap();
                assert_eq!(kept, &bytes[..cut], "{what}: the cut file is kept aside");
            }
            drop(ctrl);
            agent.stop().await;
        }
    }
}

/// A `cwmp.json` holding entries of the wrong JSON type among good ones (a pending event whose
/// code is a number, a TransferComplete without its fault code: a power cut or a worn flash)
/// loses those alone: the agent restarts bootstrapped, with the good pending event and
/// TransferComplete, and logs how many entries it dropped.
#[tokio::test(flavor = "current_thread")]
async fn a_wrong_type_entry_in_cwmp_json_costs_itself_only() {
    common::within(Duration::from_secs(120), wrong_type_entries()).await;
}

async fn wrong_type_entries() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path();
    let mut acs = Acs::start().await;
    let mut agent = AgentProcess::start(dir, &agent_args(&acs)).await;
    assert!(
        session(&mut acs, &mut agent)
            .await
            .contains(&"0 BOOTSTRAP".to_owned())
    );
    agent.stop().await;

    let path = dir.join("cwmp.json");
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let complete = json!({"notice": null, "transfer_id": null, "command_key": "kept-result",
        "origin": "Download", "fault_code": 0, "fault_string": "",
        "start_time": "0001-01-01T00:00:00Z", "complete_time": "0001-01-01T00:00:00Z"});
    let mut incomplete = complete.clone();
    incomplete.as_object_mut().unwrap().remove("fault_code");
    saved["events"] =
        json!([{"code": 7, "command_key": ""}, {"code": "M Reboot", "command_key": "kept"}]);
    saved["transfer_completes"] = json!([incomplete, complete]);
    std::fs::write(&path, serde_json::to_vec(&saved).unwrap()).unwrap();

    let mut agent = AgentProcess::start(dir, &agent_args(&acs)).await;
    let warning = agent.skipped_line("the saved CWMP state held");
    assert!(
        warning.is_some_and(|line| line.contains("malformed=2")),
        "{warning:?}"
    );
    let inform = acs.next_inform().await;
    let codes = codes(&inform);
    for code in ["1 BOOT", "M Reboot", "7 TRANSFER COMPLETE", "M Download"] {
        assert!(codes.contains(&code.to_owned()), "{code} in {codes:?}");
    }
    assert!(!codes.contains(&"0 BOOTSTRAP".to_owned()), "{codes:?}");
    assert!(inform.event.iter().any(|e| e.command_key == "kept"));
    assert_eq!(transfer_complete(&mut acs).await.command_key, "kept-result");
    assert!(acs.next_post().await.is_none(), "the CPE's empty POST");
    agent.wait_line("CWMP session ended").await;
    assert!(
        !dir.join("cwmp.json.invalid").exists(),
        "nothing moved aside"
    );
    agent.stop().await;
}

//! ChangeDUState through the engine on the simulated device: units really appear, change and
//! disappear; the results come back in DUStateChangeComplete with `11 DU STATE CHANGE
//! COMPLETE` + `M ChangeDUState`, per-operation faults (9022 bad UUID, 9028 unknown unit,
//! 9026 duplicate, 9015 unreachable file server), kept across a failed session and a power cut
//! until the ACS acknowledges them; a change the device makes on its own is reported with
//! AutonomousDUStateChangeComplete (`12`).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{
    AutonomousDuStateChangeComplete, Body, ChangeDuState, DeploymentUnitState, DuOperation,
    DuStateChangeComplete, InstallOp, OpResult, UninstallOp, UpdateOp,
};
use cwmp_core::session::SessionConfig;
use hal::Principal;
use hal::engine::{GetRequest, Notice};
use support::{Cpe, ScriptedAcs, codes};

const UUID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

fn install(url: &str, uuid: Option<&str>) -> DuOperation {
    DuOperation::Install(InstallOp {
        url: url.into(),
        uuid: uuid.map(Into::into),
        username: None,
        password: None,
        execution_env_ref: None,
    })
}

fn uninstall(uuid: &str) -> DuOperation {
    DuOperation::Uninstall(UninstallOp {
        uuid: uuid.into(),
        version: None,
        execution_env_ref: None,
    })
}

fn change(key: &str, operations: Vec<DuOperation>) -> Body {
    Body::ChangeDuState(ChangeDuState {
        operations,
        command_key: Some(key.into()),
    })
}

/// Runs sessions and finishes the device's jobs until nothing is left to do.
async fn settle(cpe: &mut Cpe, acs: &mut ScriptedAcs) {
    for _ in 0..10 {
        cpe.run(acs, Duration::from_secs(2)).await;
        if cpe.sim.run_jobs() == 0 {
            return;
        }
        cpe.sync().await;
    }
    panic!("jobs never settled");
}

fn reports(acs: &ScriptedAcs) -> Vec<DuStateChangeComplete> {
    acs.cpe_messages()
        .into_iter()
        .filter_map(|b| match b {
            Body::DuStateChangeComplete(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// Every AutonomousDUStateChangeComplete the CPE sent.
fn autonomous_reports(acs: &ScriptedAcs) -> Vec<AutonomousDuStateChangeComplete> {
    acs.cpe_messages()
        .into_iter()
        .filter_map(|b| match b {
            Body::AutonomousDuStateChangeComplete(a) => Some(a),
            _ => None,
        })
        .collect()
}

/// `(row, UUID, Version)` of every deployment unit, as the ACS reads them.
async fn units(cpe: &Cpe) -> Vec<(String, String, String)> {
    let response = cpe
        .engine
        .get(
            &Principal::acs("http://acs"),
            &GetRequest::new(vec![String::from("Device.SoftwareModules.DeploymentUnit.")]),
        )
        .await
        .unwrap();
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for p in response.params() {
        let Some((row, name)) = p.path().rsplit_once('.') else {
            continue;
        };
        let row = format!("{row}.");
        if !rows.iter().any(|r| r.0 == row) {
            rows.push((row.clone(), String::new(), String::new()));
        }
        let entry = rows.iter_mut().find(|r| r.0 == row).unwrap();
        match name {
            "UUID" => entry.1 = p.value().canonical_text(),
            "Version" => entry.2 = p.value().canonical_text(),
            _ => {}
        }
    }
    rows
}

fn ok(result: &OpResult, state: DeploymentUnitState) {
    assert_eq!(result.fault.fault_code, 0, "{result:?}");
    assert_eq!(result.current_state, state, "{result:?}");
    assert!(result.resolved);
}

#[tokio::test(flavor = "current_thread")]
async fn change_du_state_installs_updates_uninstalls_and_reports() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(change(
        "cdu-1",
        vec![
            install("http://sw.example.net/app.ipk", Some(UUID)),
            install("http://sw.example.net/other.ipk", Some("not-a-uuid")),
            uninstall("00000000-0000-4000-8000-000000000000"),
            DuOperation::Update(UpdateOp {
                uuid: Some(UUID.into()),
                version: None,
                url: Some("http://sw.example.net/app-2.ipk".into()),
                username: None,
                password: None,
            }),
            install("http://sw.example.net/again.ipk", Some(UUID)),
        ],
    ));
    settle(&mut cpe, &mut acs).await;

    let messages = acs.cpe_messages();
    assert_eq!(messages[0], Body::ChangeDuStateResponse);
    assert_eq!(
        units(&cpe).await,
        vec![(
            "Device.SoftwareModules.DeploymentUnit.1.".into(),
            UUID.into(),
            "2.0".into()
        )]
    );

    let informs = acs.informs();
    let last = &informs.last().unwrap().1;
    let events = codes(last);
    assert!(
        events.contains(&"11 DU STATE CHANGE COMPLETE".to_owned()),
        "{events:?}"
    );
    assert!(
        events.contains(&"M ChangeDUState:cdu-1".to_owned()),
        "{events:?}"
    );
    let reports = reports(&acs);
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.command_key.as_deref(), Some("cdu-1"));
    let r = &report.results;
    assert_eq!(r.len(), 5);
    ok(&r[0], DeploymentUnitState::Installed);
    assert_eq!(r[0].uuid, UUID);
    assert_eq!(
        r[0].deployment_unit_ref,
        "Device.SoftwareModules.DeploymentUnit.1"
    );
    assert_eq!(
        r[0].execution_unit_ref_list,
        "Device.SoftwareModules.ExecutionUnit.1"
    );
    assert_eq!(r[0].version, "1.0");
    assert_eq!(r[1].fault.fault_code, 9022, "malformed UUID");
    assert_eq!(r[2].fault.fault_code, 9028, "unknown unit");
    ok(&r[3], DeploymentUnitState::Installed);
    assert_eq!(r[3].version, "2.0");
    assert_eq!(r[4].fault.fault_code, 9026, "duplicate unit");

    // Acknowledged: nothing pending in the session or the engine, no more sessions.
    assert!(cpe.session.persisted_state().du_changes.is_empty());
    let leftover = cpe
        .engine
        .pending_notices()
        .iter()
        .filter(|(_, n)| matches!(n, Notice::OperationComplete(_) | Notice::Event { .. }))
        .count();
    assert_eq!(leftover, 0);
    let sessions = informs.len();
    cpe.run(&mut acs, Duration::from_secs(60)).await;
    assert_eq!(acs.informs().len(), sessions);

    // Uninstall it, and try a file server that does not answer.
    acs.push(change(
        "cdu-2",
        vec![
            uninstall(UUID),
            install("http://sw.example.net/fail.ipk", None),
        ],
    ));
    cpe.session
        .handle_input(cwmp_core::Input::ConnectionRequest)
        .unwrap();
    settle(&mut cpe, &mut acs).await;
    assert!(units(&cpe).await.is_empty());
    let reports = self::reports(&acs);
    let r = &reports.last().unwrap().results;
    ok(&r[0], DeploymentUnitState::Uninstalled);
    assert_eq!(r[0].uuid, UUID);
    assert_eq!(r[1].fault.fault_code, 9015);
    assert_eq!(r[1].current_state, DeploymentUnitState::Failed);
}

#[tokio::test(flavor = "current_thread")]
async fn results_survive_a_failed_session_and_a_power_cut() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(change(
        "cdu-p",
        vec![install("http://sw.example.net/app.ipk", None)],
    ));
    cpe.run(&mut acs, Duration::from_secs(2)).await;
    // The unit installs; the next session fails at its Inform, then the power goes.
    acs.fail_informs = 1;
    assert_eq!(cpe.sim.run_jobs(), 1);
    cpe.sync().await;
    cpe.run(&mut acs, Duration::from_secs(1)).await;
    assert!(reports(&acs).is_empty());
    let saved = cpe.saved.clone().unwrap();
    assert_eq!(saved.du_changes.len(), 1);
    assert!(saved.du_changes[0].is_complete());

    let mut cpe = cpe.power_cycle().await;
    cpe.run(&mut acs, Duration::from_secs(120)).await;
    let reports = reports(&acs);
    assert_eq!(reports.len(), 1, "reported once after the power cut");
    ok(&reports[0].results[0], DeploymentUnitState::Installed);
    assert_eq!(
        reports[0].results[0].deployment_unit_ref,
        "Device.SoftwareModules.DeploymentUnit.1"
    );
    let inform = acs.informs().last().unwrap().1.clone();
    let events = codes(&inform);
    assert!(events.contains(&"1 BOOT".to_owned()), "{events:?}");
    assert!(events.contains(&"M ChangeDUState:cdu-p".to_owned()));
    assert!(cpe.session.persisted_state().du_changes.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn an_operation_cut_by_a_reboot_fails_and_the_next_one_runs() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(change(
        "cdu-r",
        vec![
            install("http://sw.example.net/app.ipk", None),
            install("http://sw.example.net/next.ipk", None),
        ],
    ));
    cpe.run(&mut acs, Duration::from_secs(2)).await;
    assert_eq!(cpe.sim.pending_jobs(), 1, "the first install runs");
    let mut cpe = cpe.power_cycle().await;
    // The engine forgot the call across the restart: the first install fails, the second
    // runs.
    settle(&mut cpe, &mut acs).await;
    let reports = reports(&acs);
    assert_eq!(reports.len(), 1);
    let r = &reports[0].results;
    assert_eq!(r[0].fault.fault_code, 9001, "{:?}", r[0]);
    assert_eq!(r[0].fault.fault_string, "interrupted by a reboot");
    ok(&r[1], DeploymentUnitState::Installed);
}

#[tokio::test(flavor = "current_thread")]
async fn another_unit_changing_meanwhile_is_reported_apart() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(change(
        "cdu-a",
        vec![install("http://sw.example.net/app.ipk", Some(UUID))],
    ));
    cpe.run(&mut acs, Duration::from_secs(2)).await;
    cpe.sim.raise_event(
        "Device.SoftwareModules.DUStateChange!",
        vec![
            ("UUID".into(), "11111111-2222-4333-8444-555555555555".into()),
            ("CurrentState".into(), "Uninstalled".into()),
            ("OperationPerformed".into(), "Uninstall".into()),
        ],
    );
    cpe.sync().await;
    settle(&mut cpe, &mut acs).await;
    let reports = reports(&acs);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].results[0].uuid, UUID);
    ok(&reports[0].results[0], DeploymentUnitState::Installed);
    let autonomous = autonomous_reports(&acs);
    assert_eq!(autonomous.len(), 1);
    assert_eq!(
        autonomous[0].results[0].uuid,
        "11111111-2222-4333-8444-555555555555"
    );
    assert_eq!(
        autonomous[0].results[0].current_state,
        DeploymentUnitState::Uninstalled
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_change_the_device_made_itself_is_autonomous() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(2)).await;
    let args = [
        ("UUID", UUID),
        (
            "DeploymentUnitRef",
            "Device.SoftwareModules.DeploymentUnit.7",
        ),
        ("Version", "3.1"),
        ("CurrentState", "Installed"),
        ("Resolved", "true"),
        ("ExecutionUnitRefList", ""),
        ("StartTime", "2025-01-01T00:00:00Z"),
        ("CompleteTime", "2025-01-01T00:00:05Z"),
        ("OperationPerformed", "Install"),
        ("Fault.FaultCode", "0"),
        ("Fault.FaultString", ""),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    cpe.sim
        .raise_event("Device.SoftwareModules.DUStateChange!", args);
    cpe.sync().await;
    cpe.run(&mut acs, Duration::from_secs(120)).await;
    let inform = acs.informs().last().unwrap().1.clone();
    assert!(codes(&inform).contains(&"12 AUTONOMOUS DU STATE CHANGE COMPLETE".to_owned()));
    let autonomous = autonomous_reports(&acs);
    assert_eq!(autonomous.len(), 1);
    let result = &autonomous[0].results[0];
    assert_eq!(result.operation_performed, "Install");
    assert_eq!(result.version, "3.1");
    assert_eq!(result.current_state, DeploymentUnitState::Installed);
    assert!(
        cpe.session
            .persisted_state()
            .autonomous_du_changes
            .is_empty()
    );
}

//! ControllerTrust roles and permissions enforced through the engine on every message, the
//! untrusted role for unknown controllers, and the notify right on notifications.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/harness.rs"]
mod harness;

use std::sync::Arc;

use hal::Principal;
use hal::engine::SetRequest;
use harness::{AGENT, CTRL, Harness, error, operate, resp};
use usp_core::agent::ControllerTrust;
use usp_core::usp::{
    self, notify::Notification, operate_resp::operation_result::OperationResp, request::ReqType,
    response::RespType,
};

const STRANGER: &str = "self::stranger";

async fn setup() -> Harness {
    let config = harness::config().with_unknown_controllers(true);
    let mut h = Harness::with(Arc::new(ControllerTrust::new(AGENT)), config).await;
    h.engine
        .device_update(|txn| {
            // Role 1 "reader": read and notify everything.
            harness::add_role(txn, "reader", &[("Device.", "r--n")])?;
            // Role 2 "admin": everything, but no notify right below Device.Time.
            harness::add_role(
                txn,
                "admin",
                &[("Device.", "rwxn"), ("Device.Time.", "rwx-")],
            )?;
            txn.set(
                "Device.LocalAgent.ControllerTrust.UntrustedRole",
                "Device.LocalAgent.ControllerTrust.Role.1",
            )?;
            txn.set(
                "Device.LocalAgent.Controller.1.AssignedRole",
                "Device.LocalAgent.ControllerTrust.Role.2",
            )
        })
        .await
        .unwrap();
    h.sync_changes();
    h
}

fn set(path: &str, param: &str, value: &str) -> ReqType {
    ReqType::Set(usp::Set {
        allow_partial: false,
        update_objs: vec![usp::set::UpdateObject {
            obj_path: path.into(),
            param_settings: vec![usp::set::UpdateParamSetting {
                param: param.into(),
                value: value.into(),
                required: true,
            }],
        }],
    })
}

#[tokio::test]
async fn untrusted_controller_reads_but_cannot_write_or_operate() {
    let mut h = setup().await;
    let get = ReqType::Get(usp::Get {
        param_paths: vec!["Device.DeviceInfo.SerialNumber".into()],
        max_depth: 0,
    });
    let reply = h.request_from(STRANGER, "g", get).await.unwrap();
    let RespType::GetResp(r) = resp(&reply) else {
        panic!()
    };
    assert_eq!(
        r.req_path_results[0].resolved_path_results[0].result_params["SerialNumber"],
        "SIM0001"
    );
    // The reply went to the stranger, on the MTP it came from.
    assert_eq!(h.sent.last().unwrap().to, STRANGER);

    let e = error(
        &h.request_from(STRANGER, "s", set("Device.WiFi.SSID.1.", "SSID", "x"))
            .await
            .unwrap(),
    );
    assert_eq!(e.err_code, 7006);
    let add = ReqType::Add(usp::Add {
        allow_partial: false,
        create_objs: vec![usp::add::CreateObject {
            obj_path: "Device.NAT.PortMapping.".into(),
            param_settings: Vec::new(),
        }],
    });
    let e = error(&h.request_from(STRANGER, "a", add).await.unwrap());
    assert_eq!(e.err_code, 7006);
    assert_eq!(
        stranger_operate_failure(&mut h, "Device.IP.Interface.1.Reset()").await,
        7006
    );
}

/// The `cmd_failure` code of the stranger's Operate of `command`.
async fn stranger_operate_failure(h: &mut Harness, command: &str) -> u32 {
    let reply = h.request_from(STRANGER, "o", operate(command)).await;
    let RespType::OperateResp(r) = resp(&reply.unwrap()) else {
        panic!()
    };
    let Some(OperationResp::CmdFailure(f)) = &r.operation_results[0].operation_resp else {
        panic!("{r:?}")
    };
    f.err_code
}

#[tokio::test]
async fn agent_commands_need_the_execute_right() {
    let mut h = setup().await;
    let onboarded = "Device.LocalAgent.Controller.1.OnBoardingComplete";
    h.device_set(onboarded, "true").await;
    let command = "Device.LocalAgent.Controller.1.SendOnBoardRequest()";
    assert_eq!(stranger_operate_failure(&mut h, command).await, 7006);
    assert!(h.notifies().is_empty(), "no OnBoardRequest sent");
    assert_eq!(h.value(onboarded), "true");
    let before = h.sent.len();
    let command = "Device.LocalAgent.Controller.1.E2ESession.Reset()";
    assert_eq!(stranger_operate_failure(&mut h, command).await, 7006);
    assert_eq!(
        h.sent.len(),
        before + 1,
        "only the OperateResp: no session started"
    );
}

#[tokio::test]
async fn assigned_role_writes_and_notify_right_filters_notifications() {
    let mut h = setup().await;
    let RespType::SetResp(_) = resp(
        &h.request("s", set("Device.WiFi.SSID.1.", "SSID", "x"))
            .await,
    ) else {
        panic!("the admin role may write")
    };
    h.subscribe("wifi", "ValueChange", "Device.WiFi.SSID.1.SSID", &[])
        .await;
    h.subscribe("time", "ValueChange", "Device.Time.LocalTimeZone", &[])
        .await;
    let acs = Principal::acs("https://acs");
    h.engine
        .set(
            &acs,
            &SetRequest::from_parameters([
                ("Device.WiFi.SSID.1.SSID", "y"),
                ("Device.Time.LocalTimeZone", "UTC"),
            ]),
        )
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
    let ids: Vec<String> = h
        .notifies()
        .into_iter()
        .filter(|(_, n)| matches!(n.notification, Some(Notification::ValueChange(_))))
        .map(|(_, n)| n.subscription_id)
        .collect();
    assert_eq!(ids, ["wifi"], "no `n` right below Device.Time.");
    assert_eq!(h.value("Device.LocalAgent.Subscription.1.Recipient"), CTRL);
}

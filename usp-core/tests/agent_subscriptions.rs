//! Subscriptions and notifications against the simulated device: the cross-protocol
//! ValueChange, object creation and deletion, OperationComplete, events and Boot!,
//! NotifRetry with its backoff, NotifExpiration, TimeToLive, persistence, OnBoardRequest,
//! `Device.LocalAgent.Periodic!`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hal::engine::{AllowAll, SetRequest};
use hal::{Engine, EngineConfig, Principal};
use harness::{CTRL, Harness};
use usp_core::agent::{Agent, AgentEvent};
use usp_core::usp::{self, notify::Notification, request::ReqType};

fn value_changes(h: &Harness) -> Vec<(String, String, String)> {
    h.notifies()
        .into_iter()
        .filter_map(|(_, n)| match n.notification {
            Some(Notification::ValueChange(v)) => {
                Some((n.subscription_id, v.param_path, v.param_value))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn value_change_fires_on_a_cwmp_set() {
    let mut h = Harness::new().await;
    let row = h
        .subscribe("vc", "ValueChange", "Device.WiFi.SSID.*.SSID", &[])
        .await;
    assert_eq!(row, "Device.LocalAgent.Subscription.1.");
    assert_eq!(
        h.value(&format!("{row}Recipient")),
        CTRL,
        "Recipient set by the agent"
    );

    // The ACS changes the SSID through the engine, as cwmp-core would.
    let acs = Principal::acs("https://acs.example.net/cwmp");
    h.engine
        .set(
            &acs,
            &SetRequest::from_parameters([("Device.WiFi.SSID.1.SSID", "from-cwmp")]),
        )
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
    assert_eq!(
        value_changes(&h),
        [(
            "vc".to_string(),
            "Device.WiFi.SSID.1.SSID".to_string(),
            "from-cwmp".to_string()
        )]
    );
    let (_, notify) = h.notifies().pop().unwrap();
    assert!(!notify.send_resp, "no NotifRetry: no NotifyResp asked for");

    // A parameter outside the ReferenceList does not fire; the subscriber's own Set does.
    h.engine
        .set(
            &acs,
            &SetRequest::from_parameters([("Device.WiFi.SSID.1.Enable", "false")]),
        )
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
    assert_eq!(value_changes(&h).len(), 1);
    let set = ReqType::Set(usp::Set {
        allow_partial: false,
        update_objs: vec![usp::set::UpdateObject {
            obj_path: "Device.WiFi.SSID.2.".into(),
            param_settings: vec![usp::set::UpdateParamSetting {
                param: "SSID".into(),
                value: "from-usp".into(),
                required: true,
            }],
        }],
    });
    let _ = h.request("s", set).await;
    assert_eq!(value_changes(&h)[1].1, "Device.WiFi.SSID.2.SSID");
}

#[tokio::test]
async fn value_change_on_a_search_path() {
    let mut h = Harness::new().await;
    h.subscribe(
        "s",
        "ValueChange",
        "Device.WiFi.SSID.[Enable==true].SSID",
        &[],
    )
    .await;
    let acs = Principal::acs("https://acs");
    // SSID 1 is disabled first: its SSID no longer matches the search.
    h.engine
        .set(
            &acs,
            &SetRequest::from_parameters([("Device.WiFi.SSID.1.Enable", "false")]),
        )
        .await
        .unwrap();
    h.engine
        .set(
            &acs,
            &SetRequest::from_parameters([
                ("Device.WiFi.SSID.1.SSID", "off"),
                ("Device.WiFi.SSID.2.SSID", "on"),
            ]),
        )
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
    let paths: Vec<String> = value_changes(&h).into_iter().map(|(_, p, _)| p).collect();
    assert_eq!(paths, ["Device.WiFi.SSID.2.SSID"]);
}

#[tokio::test]
async fn object_creation_and_deletion() {
    let mut h = Harness::new().await;
    h.subscribe("c", "ObjectCreation", "Device.NAT.PortMapping.", &[])
        .await;
    h.subscribe("d", "ObjectDeletion", "Device.NAT.PortMapping.*.", &[])
        .await;
    let add = ReqType::Add(usp::Add {
        allow_partial: false,
        create_objs: vec![usp::add::CreateObject {
            obj_path: "Device.NAT.PortMapping.".into(),
            param_settings: vec![usp::add::CreateParamSetting {
                param: "ExternalPort".into(),
                value: "2022".into(),
                required: true,
            }],
        }],
    });
    let _ = h.request("a", add).await;
    let delete = ReqType::Delete(usp::Delete {
        allow_partial: false,
        obj_paths: vec!["Device.NAT.PortMapping.1.".into()],
    });
    let _ = h.request("d", delete).await;
    let got: Vec<(String, Notification)> = h
        .notifies()
        .into_iter()
        .filter_map(|(_, n)| Some((n.subscription_id, n.notification?)))
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    let (id, Notification::ObjCreation(created)) = &got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(id, "c");
    assert_eq!(created.obj_path, "Device.NAT.PortMapping.2.");
    assert_eq!(created.unique_keys["ExternalPort"], "2022");
    let (id, Notification::ObjDeletion(deleted)) = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(id, "d");
    assert_eq!(deleted.obj_path, "Device.NAT.PortMapping.1.");
}

fn ping(key: &str) -> ReqType {
    let args: BTreeMap<String, String> = [
        ("Host", "192.0.2.1"),
        ("NumberOfRepetitions", "4"),
        ("DataBlockSize", "64"),
        ("ProtocolVersion", "Any"),
        ("Timeout", "1000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    ReqType::Operate(usp::Operate {
        command: "Device.IP.Diagnostics.IPPing()".into(),
        command_key: key.into(),
        send_resp: true,
        input_args: args,
    })
}

fn completions(h: &Harness) -> Vec<usp::notify::OperationComplete> {
    h.notifies()
        .into_iter()
        .filter_map(|(_, n)| match n.notification {
            Some(Notification::OperComplete(c)) => Some(c),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn operation_complete_and_cancel() {
    use usp::notify::operation_complete::OperationResp;
    let mut h = Harness::new().await;
    h.subscribe(
        "oc",
        "OperationComplete",
        "Device.IP.Diagnostics.IPPing()",
        &[],
    )
    .await;
    let _ = h.request("o1", ping("first")).await;
    assert_eq!(h.sim.run_jobs(), 1);
    h.device_inputs().await;
    let done = completions(&h);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].obj_path, "Device.IP.Diagnostics.");
    assert_eq!(done[0].command_name, "IPPing()");
    assert_eq!(done[0].command_key, "first");
    let Some(OperationResp::ReqOutputArgs(out)) = &done[0].operation_resp else {
        panic!("{done:?}")
    };
    assert_eq!(out.output_args["SuccessCount"], "4");
    assert!(
        h.engine
            .read(|s| s.value("Device.LocalAgent.Request.1.Status").is_err())
    );
    assert!(h.engine.pending_notices().is_empty(), "acknowledged");

    // Cancelled: OperationComplete with cmd_failure 7023.
    let _ = h.request("o2", ping("second")).await;
    let cancel = ReqType::Operate(usp::Operate {
        command: "Device.LocalAgent.Request.2.Cancel()".into(),
        send_resp: true,
        ..Default::default()
    });
    let _ = h.request("o3", cancel).await;
    h.device_inputs().await;
    let done = completions(&h);
    assert_eq!(done.len(), 2, "{done:?}");
    let Some(OperationResp::CmdFailure(f)) = &done[1].operation_resp else {
        panic!("{done:?}")
    };
    assert_eq!(f.err_code, 7023);
}

#[tokio::test]
async fn events_from_the_device() {
    let mut h = Harness::new().await;
    h.subscribe("ev", "Event", "Device.LocalAgent.", &[]).await;
    h.sim.raise_event(
        "Device.LocalAgent.TransferComplete!",
        vec![("Command".into(), "x".into())],
    );
    h.sim.raise_event("Device.DeviceInfo.Other!", Vec::new());
    h.device_inputs().await;
    let events: Vec<usp::notify::Event> = h
        .notifies()
        .into_iter()
        .filter_map(|(_, n)| match n.notification {
            Some(Notification::Event(e)) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].obj_path, "Device.LocalAgent.");
    assert_eq!(events[0].event_name, "TransferComplete!");
    assert_eq!(events[0].params["Command"], "x");
}

/// Reboot: a new engine and agent over the same device and storage (the agent's saved
/// NotifRetry state restored from it); the device's inputs are not applied yet.
async fn restart(h: &mut Harness) {
    let engine = Arc::new(Engine::new(
        h.sim.hal(),
        Arc::new(AllowAll),
        EngineConfig::default(),
    ));
    engine.start().await.unwrap();
    h.sim.attach(engine.sink());
    h.engine = engine;
    h.agent = Agent::new(harness::config());
    h.seq = h.engine.last_seq();
    h.agent.skip_changes_through(h.seq);
    h.sent.clear();
    h.events.clear();
    if let Some(saved) = h.engine.load_subscriptions().await.unwrap() {
        h.agent.restore_notifications(h.now, &saved).unwrap();
    }
}

/// Saves the agent's NotifRetry state where the engine keeps the protocol layers' state.
async fn save_notifications(h: &Harness) {
    let saved = h.agent.save_notifications(h.now);
    h.engine.save_subscriptions(&saved).await.unwrap();
}

#[tokio::test]
async fn boot_event_and_persistence() {
    let mut h = Harness::new().await;
    h.subscribe("boot", "Event", "Device.Boot!", &[("Persistent", "true")])
        .await;
    h.subscribe("gone", "ValueChange", "Device.", &[("Persistent", "false")])
        .await;
    // The controller's BootParameter table: a wildcard, a search that matches nothing, and a
    // disabled row.
    for (name, enable) in [
        ("Device.Ethernet.Interface.*.Name", "true"),
        ("Device.Ethernet.Interface.[Name==\"none\"].Enable", "true"),
        ("Device.DeviceInfo.SerialNumber", "false"),
    ] {
        let add = ReqType::Add(usp::Add {
            allow_partial: false,
            create_objs: vec![usp::add::CreateObject {
                obj_path: "Device.LocalAgent.Controller.1.BootParameter.".into(),
                param_settings: [("ParameterName", name), ("Enable", enable)]
                    .iter()
                    .map(|(p, v)| usp::add::CreateParamSetting {
                        param: (*p).into(),
                        value: (*v).into(),
                        required: true,
                    })
                    .collect(),
            }],
        });
        let reply = h.request(&format!("bp-{name}"), add).await;
        harness::add_resp(&reply);
    }
    h.engine.persist().await.unwrap();
    restart(&mut h).await;
    h.device_inputs().await;

    let boots: Vec<(String, usp::notify::Event)> = h
        .notifies()
        .into_iter()
        .filter_map(|(_, n)| match n.notification {
            Some(Notification::Event(e)) => Some((n.subscription_id, e)),
            _ => None,
        })
        .collect();
    assert_eq!(boots.len(), 1, "{boots:?}");
    assert_eq!(boots[0].0, "boot");
    assert_eq!(boots[0].1.event_name, "Boot!");
    assert_eq!(boots[0].1.params["Cause"], "LocalReboot");
    assert_eq!(
        boots[0].1.params["ParameterMap"],
        r#"{"Device.Ethernet.Interface.1.Name":"eth0","Device.Ethernet.Interface.2.Name":"eth1"}"#
    );
    // The non-persistent subscription is gone, the persistent one stays.
    let rows = h.engine.read(|s| {
        s.instances(
            "Device.LocalAgent.Subscription.",
            tr181_model::schema::Protocol::Usp,
            true,
        )
        .unwrap()
        .into_iter()
        .map(|i| i.path)
        .collect::<Vec<_>>()
    });
    assert_eq!(rows, ["Device.LocalAgent.Subscription.1."]);
}

#[tokio::test]
async fn notif_retry_backoff_and_notify_resp() {
    let mut h = Harness::new().await;
    h.subscribe(
        "r",
        "ValueChange",
        "Device.Time.LocalTimeZone",
        &[("NotifRetry", "true")],
    )
    .await;
    let acs = Principal::acs("https://acs");
    h.engine
        .set(
            &acs,
            &SetRequest::from_parameters([("Device.Time.LocalTimeZone", "UTC")]),
        )
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
    let sent = h.notifies();
    assert_eq!(sent.len(), 1);
    let (msg_id, notify) = sent[0].clone();
    assert!(notify.send_resp);
    // Retry 1 comes between m and m·k/1000 (5 s and 10 s with the defaults).
    let first = h.timeout.unwrap() - h.now;
    assert!(
        (Duration::from_secs(5)..=Duration::from_secs(10)).contains(&first),
        "{first:?}"
    );
    h.advance(Duration::from_secs(4)).await;
    assert_eq!(h.notifies().len(), 1, "not yet");
    h.advance(first - Duration::from_secs(4)).await;
    let sent = h.notifies();
    assert_eq!(sent.len(), 2, "retried");
    assert_eq!(sent[1].0, msg_id, "the same Notify");
    // Retry 2 waits between 10 s and 20 s.
    let second = h.timeout.unwrap() - h.now;
    assert!(
        (Duration::from_secs(10)..=Duration::from_secs(20)).contains(&second),
        "{second:?}"
    );

    h.notify_resp(&msg_id, "r").await;
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, AgentEvent::NotifyAcknowledged { .. }))
    );
    assert_eq!(h.timeout, None, "nothing left to retry");
    h.advance(Duration::from_secs(3600)).await;
    assert_eq!(h.notifies().len(), 2);
}

#[tokio::test]
async fn notif_retry_survives_a_restart() {
    let mut h = Harness::new().await;
    h.subscribe(
        "r",
        "ValueChange",
        "Device.Time.LocalTimeZone",
        &[
            ("NotifRetry", "true"),
            ("NotifExpiration", "600"),
            ("Persistent", "true"),
        ],
    )
    .await;
    let acs = Principal::acs("https://acs");
    let set_zone = async |h: &mut Harness, zone: &str| {
        h.engine
            .set(
                &acs,
                &SetRequest::from_parameters([("Device.Time.LocalTimeZone", zone)]),
            )
            .await
            .unwrap();
        h.sync_changes();
        h.drive().await;
    };
    set_zone(&mut h, "UTC").await;
    let (msg_id, notify) = h.notifies()[0].clone();
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, AgentEvent::NotificationsChanged))
    );
    save_notifications(&h).await;
    h.engine.persist().await.unwrap();

    // 100 s later the agent restarts, the Notify still unanswered.
    h.advance(Duration::from_secs(100)).await;
    save_notifications(&h).await;
    restart(&mut h).await;
    h.drive().await;
    let resent = h.notifies();
    assert_eq!(resent.len(), 1, "sent again at once");
    assert_eq!(resent[0].0, msg_id);
    assert_eq!(resent[0].1, notify);
    // The retry count restarts (R-NOT.1): the next retry is 5-10 s away.
    let next = h.timeout.unwrap() - h.now;
    assert!(
        (Duration::from_secs(5)..=Duration::from_secs(10)).contains(&next),
        "{next:?}"
    );

    // New Notifies never reuse a saved msg_id.
    h.device_inputs().await;
    set_zone(&mut h, "CET").await;
    let ids: Vec<String> = h.notifies().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[1], msg_id);

    // NotifExpiration kept its remaining 500 s across the restart.
    let expired = |h: &Harness, id: &str| {
        h.events
            .iter()
            .any(|e| matches!(e, AgentEvent::NotifyExpired { msg_id: m, .. } if m == id))
    };
    h.advance(Duration::from_secs(499)).await;
    assert!(!expired(&h, &msg_id));
    h.advance(Duration::from_secs(2)).await;
    assert!(expired(&h, &msg_id));
    assert!(!expired(&h, &ids[1]));

    // A NotifyResp answers the other; nothing is left to save.
    h.notify_resp(&ids[1], "r").await;
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, AgentEvent::NotifyAcknowledged { msg_id: m, .. } if *m == ids[1]))
    );
    let saved = h.agent.save_notifications(h.now);
    let mut fresh = Agent::new(harness::config());
    assert_eq!(fresh.restore_notifications(h.now, &saved), Ok(0));
    assert!(fresh.restore_notifications(h.now, b"\xff\xff").is_err());
}

#[tokio::test]
async fn notif_expiration_and_time_to_live() {
    let mut h = Harness::new().await;
    h.subscribe(
        "x",
        "ValueChange",
        "Device.Time.LocalTimeZone",
        &[
            ("NotifRetry", "true"),
            ("NotifExpiration", "30"),
            ("TimeToLive", "100"),
        ],
    )
    .await;
    let acs = Principal::acs("https://acs");
    h.engine
        .set(
            &acs,
            &SetRequest::from_parameters([("Device.Time.LocalTimeZone", "UTC")]),
        )
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
    for _ in 0..10 {
        h.advance(Duration::from_secs(10)).await;
    }
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, AgentEvent::NotifyExpired { .. })),
        "retries stop after NotifExpiration"
    );
    let retries = h.notifies().len();
    assert!((2..=4).contains(&retries), "{retries}");
    // TimeToLive: the subscription removed itself after 100 s.
    assert!(
        h.engine
            .read(|s| s.value("Device.LocalAgent.Subscription.1.ID").is_err())
    );
    assert_eq!(h.timeout, None);
}

#[tokio::test]
async fn onboard_request_is_retried_until_answered() {
    let mut h = Harness::new().await;
    h.agent
        .send_onboard_request(h.now, CTRL, "00D09E", "HG", "SIM0001");
    h.drive().await;
    let sent = h.notifies();
    let (msg_id, notify) = sent[0].clone();
    assert!(notify.send_resp);
    let Some(Notification::OnBoardReq(req)) = notify.notification else {
        panic!()
    };
    assert_eq!(req.oui, "00D09E");
    assert_eq!(
        req.agent_supported_protocol_versions,
        "1.0,1.1,1.2,1.3,1.4,1.5"
    );
    // Never expires: still retried after a day.
    for _ in 0..30 {
        h.advance(Duration::from_secs(3600)).await;
    }
    assert!(h.notifies().len() > 10);
    h.notify_resp(&msg_id, "").await;
    assert_eq!(h.timeout, None);
}

#[tokio::test]
async fn send_onboard_request_command() {
    let mut h = Harness::new().await;
    h.device_set("Device.LocalAgent.Controller.1.OnBoardingComplete", "true")
        .await;
    let before = h.sent.len();
    let command = "Device.LocalAgent.Controller.*.SendOnBoardRequest()";
    let reply = h.request("o", harness::operate(command)).await;
    let usp::response::RespType::OperateResp(r) = harness::resp(&reply) else {
        panic!("{reply:?}")
    };
    assert_eq!(
        r.operation_results[0].executed_command,
        "Device.LocalAgent.Controller.1.SendOnBoardRequest()"
    );
    assert!(matches!(
        r.operation_results[0].operation_resp,
        Some(usp::operate_resp::operation_result::OperationResp::ReqOutputArgs(_))
    ));
    // The OperateResp first, then the OnBoardRequest from the data model.
    let msgs: Vec<_> = h.sent[before..].iter().filter_map(|s| s.msg()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(msgs[0].header.as_ref().unwrap().msg_id, "o");
    let (msg_id, notify) = h.notifies().pop().unwrap();
    assert!(notify.send_resp, "R-NOT.5: always send_resp");
    let Some(Notification::OnBoardReq(req)) = notify.notification else {
        panic!("{notify:?}")
    };
    assert_eq!(
        (
            req.oui.as_str(),
            req.product_class.as_str(),
            req.serial_number.as_str()
        ),
        ("00D09E", "HG", "SIM0001")
    );
    assert_eq!(
        req.agent_supported_protocol_versions,
        "1.0,1.1,1.2,1.3,1.4,1.5"
    );
    assert_eq!(
        h.value("Device.LocalAgent.Controller.1.OnBoardingComplete"),
        "false"
    );
    // Retried until answered, like any OnBoardRequest.
    h.advance(Duration::from_secs(3600)).await;
    assert_eq!(h.notifies().len(), 2);
    h.notify_resp(&msg_id, "").await;
    assert_eq!(h.timeout, None);
}

#[tokio::test]
async fn trigger_action_config_applies_settings() {
    let mut h = Harness::new().await;
    h.subscribe(
        "cfg",
        "ValueChange",
        "Device.DeviceInfo.ProvisioningCode",
        &[
            ("TriggerAction", "Config"),
            (
                "TriggerConfigSettings",
                r#"Device.Time.LocalTimeZone="EST5EDT,M3.2.0,M11.1.0",Device.WiFi.SSID.1.Enable=false"#,
            ),
        ],
    )
    .await;
    h.subscribe(
        "both",
        "ValueChange",
        "Device.Time.LocalTimeZone",
        &[
            ("TriggerAction", "NotifyAndConfig"),
            // Writes the parameter it watches: a second change, then none (same value).
            (
                "TriggerConfigSettings",
                r#"Device.Time.LocalTimeZone="UTC""#,
            ),
        ],
    )
    .await;
    h.subscribe(
        "bad",
        "ValueChange",
        "Device.DeviceInfo.ProvisioningCode",
        &[
            ("TriggerAction", "Config"),
            (
                "TriggerConfigSettings",
                "Device.WiFi.SSID.2.Enable=maybe,Device.WiFi.SSID.2.SSID=\"never\"",
            ),
        ],
    )
    .await;
    let acs = Principal::acs("https://acs");
    h.engine
        .set(
            &acs,
            &SetRequest::from_parameters([("Device.DeviceInfo.ProvisioningCode", "p1")]),
        )
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;

    let ids: Vec<String> = h
        .notifies()
        .into_iter()
        .map(|(_, n)| n.subscription_id)
        .collect();
    // "cfg" and "bad" only configure; "both" notified twice: EST, then its own UTC.
    assert_eq!(ids, ["both", "both"]);
    assert_eq!(h.value("Device.WiFi.SSID.1.Enable"), "false");
    assert_eq!(h.value("Device.Time.LocalTimeZone"), "UTC");
    // The bad settings were all-or-nothing: nothing applied, the failure reported.
    assert_ne!(h.value("Device.WiFi.SSID.2.SSID"), "never");
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, AgentEvent::InternalRequestFailed { .. }))
    );
}

/// The `Periodic!` events sent so far, by subscription ID.
fn periodic_events(h: &Harness) -> Vec<String> {
    h.notifies()
        .into_iter()
        .filter_map(|(_, n)| match n.notification {
            Some(Notification::Event(e))
                if e.obj_path == "Device.LocalAgent." && e.event_name == "Periodic!" =>
            {
                Some(n.subscription_id)
            }
            _ => None,
        })
        .collect()
}

/// Sets the known controller's `PeriodicNotifInterval` and `PeriodicNotifTime` (the USP
/// model: as a controller).
async fn periodic_settings(h: &mut Harness, interval: &str, time: &str) {
    h.engine
        .set(
            &Principal::controller(CTRL, Vec::new()),
            &SetRequest::from_parameters([
                (
                    "Device.LocalAgent.Controller.1.PeriodicNotifInterval",
                    interval,
                ),
                ("Device.LocalAgent.Controller.1.PeriodicNotifTime", time),
            ]),
        )
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
}

#[tokio::test]
async fn periodic_event_without_a_time_reference() {
    let mut h = Harness::new().await;
    periodic_settings(&mut h, "60", "0001-01-01T00:00:00Z").await;
    assert_eq!(h.timeout, None, "nobody subscribed: no timer");
    let start = h.now;
    h.subscribe("p", "Event", "Device.LocalAgent.Periodic!", &[])
        .await;
    // Unknown Time: one interval from when the agent saw the subscription.
    assert_eq!(h.timeout, Some(start + Duration::from_secs(60)));
    h.advance(Duration::from_secs(59)).await;
    assert!(periodic_events(&h).is_empty());
    h.advance(Duration::from_secs(1)).await;
    assert_eq!(periodic_events(&h), ["p"]);
    assert_eq!(h.timeout, Some(start + Duration::from_secs(120)));
    // Learning the real time does not move a schedule without a time reference.
    h.advance(Duration::from_secs(10)).await;
    let wall = tr181_model::value::DateTime::parse("2026-11-25T12:00:10Z");
    h.agent.set_wall_clock(h.now, wall);
    h.drive().await;
    assert_eq!(h.timeout, Some(start + Duration::from_secs(120)));
    // A late timer call sends one event, not a burst, and keeps the phase.
    h.advance(Duration::from_secs(180)).await;
    assert_eq!(periodic_events(&h).len(), 2);
    assert_eq!(h.timeout, Some(start + Duration::from_secs(300)));
    // A new interval restarts the schedule from the change.
    h.advance(Duration::from_secs(10)).await;
    let changed = h.now;
    periodic_settings(&mut h, "30", "0001-01-01T00:00:00Z").await;
    assert_eq!(h.timeout, Some(changed + Duration::from_secs(30)));
    // Disabling the subscription stops the events.
    h.engine
        .set(
            &Principal::controller(CTRL, Vec::new()),
            &SetRequest::from_parameters([("Device.LocalAgent.Subscription.1.Enable", "false")]),
        )
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
    assert_eq!(h.timeout, None);
    h.advance(Duration::from_secs(3600)).await;
    assert_eq!(periodic_events(&h).len(), 2);
}

#[tokio::test]
async fn periodic_event_aligned_on_the_time_reference() {
    use tr181_model::value::DateTime;
    let mut h = Harness::new().await;
    // 10 s past a minute, with a reference on a whole minute years ago: the first event is
    // 50 s away, then every minute.
    let wall = DateTime::parse("2026-11-25T12:00:10Z").unwrap();
    h.agent.set_wall_clock(h.now, Some(wall));
    periodic_settings(&mut h, "60", "2020-01-01T00:00:00Z").await;
    h.subscribe("p", "Event", "Device.LocalAgent.", &[]).await;
    let start = h.now;
    assert_eq!(h.timeout, Some(start + Duration::from_secs(50)));
    h.advance(Duration::from_secs(50)).await;
    assert_eq!(periodic_events(&h), ["p"]);
    assert_eq!(h.timeout, Some(start + Duration::from_secs(110)));
    // The clock counted forward needs no re-alignment ...
    h.agent
        .set_wall_clock(h.now, DateTime::parse("2026-11-25T12:01:01Z"));
    h.drive().await;
    assert_eq!(h.timeout, Some(start + Duration::from_secs(110)));
    // ... a step of the real time does: 12:01:30 is 30 s before the next minute.
    h.agent
        .set_wall_clock(h.now, DateTime::parse("2026-11-25T12:01:30Z"));
    h.drive().await;
    assert_eq!(h.timeout, Some(h.now + Duration::from_secs(30)));
    // A reference in the future sets the phase all the same.
    periodic_settings(&mut h, "3600", "2030-01-01T00:20:00Z").await;
    assert_eq!(
        h.timeout,
        Some(h.now + Duration::from_secs(18 * 60 + 30)),
        "12:01:30 -> 12:20:00"
    );
}

#[tokio::test]
async fn periodic_event_only_for_its_subscribers() {
    let mut h = Harness::new().await;
    periodic_settings(&mut h, "60", "0001-01-01T00:00:00Z").await;
    // A subscription to another event does not get Periodic!.
    h.subscribe("boot", "Event", "Device.Boot!", &[]).await;
    h.advance(Duration::from_secs(600)).await;
    assert!(periodic_events(&h).is_empty());
    assert_eq!(h.timeout, None);
}

/// Adds a bulk data profile as the controller and configures it for `Push!`.
async fn push_profile(h: &mut Harness) -> String {
    let settings = [
        ("Protocol", "USPEventNotif"),
        ("EncodingType", "JSON"),
        ("Enable", "true"),
    ];
    let row = h
        .add_object("bd-add", "Device.BulkData.Profile.", &settings)
        .await;
    h.engine
        .device_update(|txn| {
            txn.add(
                &format!("{row}Parameter."),
                &[("Reference", "Device.DeviceInfo.SerialNumber")],
            )?;
            txn.set(&format!("{row}JSONEncoding.ReportTimestamp"), "None")
        })
        .await
        .unwrap();
    h.sync_changes();
    row
}

/// What the driver does when a `USPEventNotif` profile is due: collect, encode, raise
/// `Push!` with the report as `Data`.
async fn push_reports(h: &mut Harness) -> Vec<String> {
    let limits = hal::bulkdata::Limits::DEFAULT;
    let profiles = h.engine.read(|s| hal::bulkdata::profiles(s, &limits));
    let mut bodies = Vec::new();
    for profile in profiles {
        let profile = profile.unwrap();
        let owner = Principal::controller(profile.controller.clone(), Vec::new());
        let stamp = hal::bulkdata::Stamp::new(None, 0);
        let collection = hal::bulkdata::collect(&h.engine, &owner, &profile, stamp, &limits)
            .await
            .unwrap();
        let report = hal::bulkdata::Retained::new()
            .report(&profile, &collection, &limits)
            .unwrap();
        h.sim.raise_event(
            &profile.push_event(),
            vec![("Data".into(), report.body.clone())],
        );
        bodies.push(report.body);
    }
    h.device_inputs().await;
    bodies
}

fn pushes(h: &Harness) -> Vec<(String, usp::notify::Event)> {
    h.notifies()
        .into_iter()
        .filter_map(|(_, n)| match n.notification {
            Some(Notification::Event(e)) if e.event_name == "Push!" => Some((n.subscription_id, e)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn bulk_data_push_reaches_the_profile_owner() {
    let mut h = Harness::new().await;
    h.subscribe("bd", "Event", "Device.BulkData.Profile.", &[])
        .await;
    let row = push_profile(&mut h).await;
    assert_eq!(
        h.value(&format!("{row}Controller")),
        CTRL,
        "set by the agent"
    );

    let bodies = push_reports(&mut h).await;
    assert_eq!(
        bodies,
        [r#"{"Report":[{"Device":{"DeviceInfo":{"SerialNumber":"SIM0001"}}}]}"#],
        "ObjectHierarchy, the default format"
    );
    let pushed = pushes(&h);
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    let (subscription, event) = &pushed[0];
    assert_eq!(subscription, "bd");
    assert_eq!(event.obj_path, row);
    assert_eq!(event.params["Data"], bodies[0]);

    // A profile another controller owns pushes to that controller only.
    h.device_set(&format!("{row}Controller"), "proto::other-controller")
        .await;
    push_reports(&mut h).await;
    assert_eq!(pushes(&h).len(), 1, "no second Push! to a non-owner");
}

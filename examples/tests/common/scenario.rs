//! The USP requests every MTP's end-to-end test walks through, whatever carries them: Get,
//! Set, Add (a persistent OperationComplete subscription and a NAT port mapping), Delete,
//! GetSupportedDM, GetInstances, and an asynchronous Operate whose OperationComplete Notify
//! the subscription brings back.

use rusp_lib::usp_builder::{
    DeleteBuilder, GetInstancesBuilder, GetSupportedDMBuilder, OperateBuilder,
};

use super::{Controller, add, added_path, get, get_params, s, set};

/// What the walk left on the agent.
pub(crate) struct Walked {
    /// The subscription row (`Device.LocalAgent.Subscription.{i}.`), persistent.
    pub(crate) subscription: String,
    /// The deleted port mapping's path.
    pub(crate) mapping: String,
}

/// Walks through every request against the simulated device and checks each answer.
pub(crate) async fn manage(ctrl: &mut Controller) -> Walked {
    // Get
    let body = ctrl
        .request(get(&[
            "Device.DeviceInfo.SerialNumber",
            "Device.LocalAgent.EndpointID",
        ]))
        .await;
    assert_eq!(get_params(&body)["SerialNumber"], "SIM0001", "{body}");

    // Set, then Get it back
    let body = ctrl
        .request(set("Device.WiFi.SSID.1.", "SSID", "e2e-ssid"))
        .await;
    assert!(body["Response"]["SetResp"].is_object(), "{body}");
    let body = ctrl.request(get(&["Device.WiFi.SSID.1.SSID"])).await;
    assert_eq!(get_params(&body)["SSID"], "e2e-ssid", "{body}");

    // Add a persistent subscription to IPPing()'s completion
    let body = ctrl
        .request(add(
            "Device.LocalAgent.Subscription.",
            &[
                ("ID", "e2e-op"),
                ("NotifType", "OperationComplete"),
                ("ReferenceList", "Device.IP.Diagnostics.IPPing()"),
                ("Persistent", "true"),
                ("Enable", "true"),
            ],
        ))
        .await;
    let subscription = added_path(&body);

    // Add and Delete a row
    let body = ctrl
        .request(add("Device.NAT.PortMapping.", &[("Description", "e2e")]))
        .await;
    let mapping = added_path(&body);
    let delete = DeleteBuilder::new()
        .with_obj_paths(vec![mapping.clone()])
        .build()
        .unwrap();
    let body = ctrl.request(delete).await;
    let deleted = &body["Response"]["DeleteResp"]["deleted_obj_results"][0];
    assert_eq!(
        deleted["oper_status"]["oper_success"]["affected_paths"][0],
        mapping.as_str(),
        "{body}"
    );

    // GetSupportedDM: IPPing() is an asynchronous command
    let gsdm = GetSupportedDMBuilder::new()
        .with_obj_paths(vec![s("Device.IP.Diagnostics.")])
        .with_first_level_only(true)
        .with_return_commands(true)
        .with_return_params(true)
        .build()
        .unwrap();
    let body = ctrl.request(gsdm).await;
    let objects = &body["Response"]["GetSupportedDMResp"]["req_obj_results"][0]["supported_objs"];
    let commands = objects[0]["supported_commands"].as_array().unwrap();
    let ping = commands
        .iter()
        .find(|c| c["command_name"] == "IPPing()")
        .unwrap_or_else(|| panic!("no IPPing() in {body}"));
    assert_eq!(ping["command_type"], "CMD_ASYNC", "{body}");

    // GetInstances
    let instances = GetInstancesBuilder::new()
        .with_obj_paths(vec![s("Device.LocalAgent.Subscription.")])
        .with_first_level_only(true)
        .build()
        .unwrap();
    let body = ctrl.request(instances).await;
    let rows = body["Response"]["GetInstancesResp"]["req_path_results"][0]["curr_insts"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        rows.iter()
            .any(|r| r["instantiated_obj_path"] == subscription.as_str()),
        "{body}"
    );

    // Operate IPPing() asynchronously, then its OperationComplete
    let operate = OperateBuilder::new(s("Device.IP.Diagnostics.IPPing()"))
        .with_command_key(s("e2e-ping"))
        .with_send_resp(true)
        .with_input_args(vec![
            (s("Host"), s("127.0.0.1")),
            (s("NumberOfRepetitions"), s("2")),
            (s("DataBlockSize"), s("64")),
            (s("ProtocolVersion"), s("Any")),
            (s("Timeout"), s("1000")),
        ])
        .build()
        .unwrap();
    let body = ctrl.request(operate).await;
    let result = &body["Response"]["OperateResp"]["operation_results"][0];
    assert_eq!(
        result["executed_command"], "Device.IP.Diagnostics.IPPing()",
        "{body}"
    );
    assert!(
        result["req_obj_path"]
            .as_str()
            .is_some_and(|p| p.starts_with("Device.LocalAgent.Request.")),
        "{body}"
    );
    let done = ctrl
        .notify(|n| n["oper_complete"]["command_key"] == "e2e-ping")
        .await;
    assert_eq!(done["subscription_id"], "e2e-op", "{done}");
    let output = &done["oper_complete"]["req_output_args"]["output_args"];
    assert_eq!(output["SuccessCount"], "2", "{done}");
    assert_eq!(output["Status"], "Complete", "{done}");

    Walked {
        subscription,
        mapping,
    }
}

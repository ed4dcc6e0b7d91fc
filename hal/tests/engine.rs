//! The engine driven against the simulated device: reads, writes, atomicity under injected
//! HAL failures, typed errors, commands, discovery and access control.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    acs, add_one, operate_one, pending, poll_all, refuse_next, run_jobs, set_one, start, stored,
    text, usp,
};
use hal::engine::{
    AddRequest, AllowAll, DeleteRequest, DeviceUpdate, GetInstancesRequest, GetNamesRequest,
    GetRequest, Notice, ObjectCreation, ObjectSettings, OperateOutcome, OperateRequest,
    ParamSetting, PathRule, PathRules, Permissions, SetRequest, SupportedRequest, Target,
};
use hal::sim::{Client, DeviceIdentity, Fault, HalCall, SimDevice};
use hal::{Engine, EngineConfig, EngineError, HalError, Principal};
use tr181_model::store::{Change, Origin};
use tr181_model::value::{DateTime, Value};

async fn setup() -> (Arc<SimDevice>, Engine) {
    let sim = SimDevice::new("SIM0001");
    let (engine, _) = start(&sim, Arc::new(AllowAll)).await;
    (sim, engine)
}

#[tokio::test]
async fn get_answers_each_path_with_its_own_objects() {
    let (_sim, engine) = setup().await;
    let got = engine
        .get(
            &usp(),
            &GetRequest::new([
                "Device.DeviceInfo.SerialNumber",
                "Device.DeviceInfo.Manufacturer",
                "Device.Nope.",
                "Device.DeviceInfo.SerialNumber",
                "Device.WiFi.SSID.1.",
            ]),
        )
        .await
        .unwrap();
    // Per requested path: the objects' paths with their parameters' names, or None.
    type Objects<'a> = Option<Vec<(&'a str, Vec<&'a str>)>>;
    let shape: Vec<(&str, Objects<'_>)> = got
        .results()
        .map(|r| {
            let objects = r.outcome.ok().map(|objects| {
                objects
                    .iter()
                    .map(|o| (o.path(), o.params().map(|p| p.name()).collect()))
                    .collect()
            });
            (r.requested_path, objects)
        })
        .collect();
    let info = |name| Some(vec![("Device.DeviceInfo.", vec![name])]);
    assert_eq!(
        shape[0],
        ("Device.DeviceInfo.SerialNumber", info("SerialNumber"))
    );
    assert_eq!(
        shape[1],
        ("Device.DeviceInfo.Manufacturer", info("Manufacturer"))
    );
    assert_eq!(shape[2], ("Device.Nope.", None));
    assert_eq!(
        shape[3],
        ("Device.DeviceInfo.SerialNumber", info("SerialNumber"))
    );
    // An object and its sub-object, each with its parameters named relative to it.
    let ssid = shape[4].1.as_ref().unwrap();
    let paths: Vec<&str> = ssid.iter().map(|(path, _)| *path).collect();
    assert_eq!(paths, ["Device.WiFi.SSID.1.", "Device.WiFi.SSID.1.Stats."]);
    assert!(ssid[0].1.contains(&"SSID") && ssid[1].1.contains(&"BytesSent"));
    // Flattened: every parameter of the successful paths, full paths in order.
    let flat: Vec<&str> = got.params().map(|p| p.path()).collect();
    assert_eq!(
        flat[..3],
        [
            "Device.DeviceInfo.SerialNumber",
            "Device.DeviceInfo.Manufacturer",
            "Device.DeviceInfo.SerialNumber"
        ]
    );
    assert_eq!(flat.len(), 3 + ssid[0].1.len() + ssid[1].1.len());
    assert!(
        flat[3..]
            .iter()
            .all(|p| p.starts_with("Device.WiFi.SSID.1."))
    );
}

#[tokio::test]
async fn get_partial_path_with_depth_live_values_and_search() {
    let (sim, engine) = setup().await;
    sim.advance(42);

    let got = engine
        .get(
            &usp(),
            &GetRequest::new(["Device.DeviceInfo."]).with_max_depth(1),
        )
        .await
        .unwrap();
    assert_eq!(got.first_error(), None);
    assert_eq!(
        text(got.value("Device.DeviceInfo.SoftwareVersion").unwrap()),
        "1.0.0"
    );
    // Live: read from the hardware at Get time.
    assert_eq!(
        got.value("Device.DeviceInfo.UpTime"),
        Some(&Value::UnsignedInt(42))
    );
    assert!(
        got.value("Device.DeviceInfo.FirmwareImage.1.Name")
            .is_none(),
        "depth 1"
    );
    let objects = got.results().next().unwrap().outcome.unwrap();
    let object = objects.iter().next().unwrap();
    assert_eq!(object.path(), "Device.DeviceInfo.");
    assert!(object.params().any(|p| p.name() == "SerialNumber"));

    let deep = engine
        .get(
            &usp(),
            &GetRequest::new(["Device.DeviceInfo."]).with_max_depth(3),
        )
        .await
        .unwrap();
    assert_eq!(
        text(
            deep.value("Device.DeviceInfo.FirmwareImage.1.Name")
                .unwrap()
        ),
        "bank-a"
    );

    // Search path, empty match, hidden value, CWMP flat form.
    let got = engine
        .get(
            &usp(),
            &GetRequest::new([
                "Device.WiFi.SSID.[SSID==\"Acme-5G\"].Enable",
                "Device.WiFi.SSID.[SSID==\"nope\"].",
                "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
            ]),
        )
        .await
        .unwrap();
    assert_eq!(got.first_error(), None);
    let first = got.results().next().unwrap().outcome.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        first.params().map(|p| p.path()).collect::<Vec<_>>(),
        ["Device.WiFi.SSID.2.Enable"]
    );
    assert!(
        got.results().nth(1).unwrap().outcome.unwrap().is_empty(),
        "empty match is success"
    );
    assert_eq!(
        text(
            got.value("Device.WiFi.AccessPoint.1.Security.KeyPassphrase")
                .unwrap()
        ),
        "",
        "secured parameters read empty without the right to read them"
    );

    let cwmp = engine
        .get(&acs(), &GetRequest::new(["Device.WiFi.Radio.1."]))
        .await
        .unwrap();
    let names: Vec<&str> = cwmp.params().map(|p| p.path()).collect();
    assert!(names.contains(&"Device.WiFi.Radio.1.Channel"));
    assert!(names.contains(&"Device.WiFi.Radio.1.Status"));
}

#[tokio::test]
async fn names_instances_and_supported_model() {
    let (_sim, engine) = setup().await;
    let names = engine
        .get_names(&acs(), &GetNamesRequest::new("Device.NAT.", true))
        .await
        .unwrap();
    let table = names
        .iter()
        .find(|n| n.path == "Device.NAT.PortMapping.")
        .unwrap();
    assert!(table.writable, "rows may be added");
    let error = engine
        .get_names(
            &acs(),
            &GetNamesRequest::new("Device.DeviceInfo.UpTime", true),
        )
        .await
        .unwrap_err();
    assert_eq!(error.cwmp_fault(), 9003);

    let instances = engine
        .get_instances(
            &usp(),
            &GetInstancesRequest::new(["Device.WiFi.SSID."], true),
        )
        .await
        .unwrap();
    let rows = instances.results[0].outcome.as_ref().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].path, "Device.WiFi.SSID.1.");

    let supported = engine
        .get_supported(&usp(), &SupportedRequest::new(["Device.NAT."], true))
        .unwrap();
    let objects = supported.results[0].outcome.as_ref().unwrap();
    assert_eq!(objects[0].path(), "Device.NAT.");
    assert!(
        objects
            .iter()
            .any(|o| o.path() == "Device.NAT.PortMapping.{i}.")
    );
}

#[tokio::test]
async fn set_applies_to_store_hardware_and_change_log() {
    let (_sim, engine) = setup().await;
    let seq = engine.last_seq();
    let response = engine
        .set(
            &usp(),
            &SetRequest::new(vec![
                ObjectSettings::new(
                    "Device.WiFi.SSID.1.",
                    vec![ParamSetting::new("SSID", "Home")],
                ),
                ObjectSettings::new(
                    "Device.WiFi.Radio.1.",
                    vec![ParamSetting::new("Channel", "11")],
                ),
            ]),
        )
        .await
        .unwrap();
    let updated = response.results[0].outcome.as_ref().unwrap();
    assert_eq!(
        updated[0].updated[0],
        ("SSID".into(), Value::String("Home".into()))
    );
    assert_eq!(stored(&engine, "Device.WiFi.SSID.1.SSID"), "Home");
    let hardware = _sim.hardware();
    assert_eq!(
        hardware.config["Device.WiFi.Radio.1."]["Channel"],
        Value::UnsignedInt(11)
    );
    let changes = engine.changes_since(seq);
    assert_eq!(changes.len(), 2);
    assert!(matches!(
        &changes[0].change,
        Change::ValueChanged { path, .. } if path == "Device.WiFi.SSID.1.SSID"
    ));
    assert_eq!(
        changes[0].origin,
        Origin::Controller(tr181_model::schema::Protocol::Usp)
    );

    // CWMP form: flat list, agent write of ParameterKey in the same transaction.
    engine
        .set(
            &acs(),
            &SetRequest::from_parameters([("Device.Time.LocalTimeZone", "UTC0")])
                .with_agent_write("Device.ManagementServer.ParameterKey", "pk-1"),
        )
        .await
        .unwrap();
    assert_eq!(stored(&engine, "Device.Time.LocalTimeZone"), "UTC0");
    assert_eq!(
        stored(&engine, "Device.ManagementServer.ParameterKey"),
        "pk-1"
    );
}

#[tokio::test]
async fn atomic_set_rolls_back_after_hal_failure_on_nth_parameter() {
    let (sim, engine) = setup().await;
    let store_before = engine.read(Clone::clone);
    let hardware_before = sim.hardware();
    let seq = engine.last_seq();

    // Three objects, one parameter each; the HAL fails on the third parameter applied, after
    // the first two objects were applied.
    sim.inject(Fault::fail(
        HalCall::Apply,
        3,
        HalError::Failed {
            path: "Device.WiFi.Radio.1.Channel".into(),
            reason: "radio firmware crashed".into(),
        },
    ));
    let request = SetRequest::new(vec![
        ObjectSettings::new("Device.WiFi.SSID.1.", vec![ParamSetting::new("SSID", "A")]),
        ObjectSettings::new("Device.WiFi.SSID.2.", vec![ParamSetting::new("SSID", "B")]),
        ObjectSettings::new(
            "Device.WiFi.Radio.1.",
            vec![ParamSetting::new("Channel", "1")],
        ),
    ]);
    let failure = engine.set(&usp(), &request).await.unwrap_err();
    assert_eq!(failure.param_errors.len(), 1);
    assert_eq!(failure.param_errors[0].path, "Device.WiFi.Radio.1.Channel");
    assert_eq!(failure.error.usp_error(), 7003);
    assert_eq!(failure.error.cwmp_fault(), 9002);

    assert!(engine.read(|s| *s == store_before), "store unchanged");
    assert_eq!(engine.last_seq(), seq, "nothing in the change log");
    let hardware = sim.hardware();
    for object in ["Device.WiFi.SSID.1.", "Device.WiFi.SSID.2."] {
        // The objects applied before the failure were undone (old values re-applied).
        assert_eq!(
            hardware.config[object]["SSID"],
            Value::String(
                if object.contains(".1.") {
                    "Acme-2G"
                } else {
                    "Acme-5G"
                }
                .into()
            )
        );
    }
    assert!(!hardware.config.contains_key("Device.WiFi.Radio.1."));
    assert_eq!(hardware.rows, hardware_before.rows);

    // Within one object the HAL is atomic too: failing on its second parameter.
    sim.inject(Fault::fail(
        HalCall::Apply,
        2,
        HalError::Timeout { path: "x".into() },
    ));
    let radio = set_one(
        "Device.WiFi.Radio.2.",
        vec![
            ParamSetting::new("Channel", "40"),
            ParamSetting::new("Enable", "false"),
        ],
    );
    let failure = engine.set(&usp(), &radio).await.unwrap_err();
    assert_eq!(failure.param_errors[0].path, "Device.WiFi.Radio.2.Enable");
    assert!(!sim.hardware().config.contains_key("Device.WiFi.Radio.2."));
    assert!(engine.read(|s| *s == store_before));

    // Without the fault the same request goes through.
    engine.set(&usp(), &request).await.unwrap();
    assert_eq!(stored(&engine, "Device.WiFi.Radio.1.Channel"), "1");
}

#[tokio::test]
async fn allow_partial_fails_only_the_object_the_hardware_refused() {
    let (sim, engine) = setup().await;
    let request = SetRequest::new(vec![
        ObjectSettings::new("Device.WiFi.SSID.1.", vec![ParamSetting::new("SSID", "A")]),
        // The simulated radio refuses channel 14 (a hardware rule the schema does not know).
        ObjectSettings::new(
            "Device.WiFi.Radio.1.",
            vec![ParamSetting::new("Channel", "14")],
        ),
        ObjectSettings::new(
            "Device.WiFi.SSID.2.",
            vec![
                ParamSetting::new("SSID", "B"),
                ParamSetting::optional("Bogus", "1"),
            ],
        ),
    ])
    .with_allow_partial(true);
    let response = engine.set(&usp(), &request).await.unwrap();
    assert!(response.results[0].outcome.is_ok());
    let failed = response.results[1].outcome.as_ref().unwrap_err();
    assert_eq!(failed.error.usp_error(), 7012, "the device's InvalidValue");
    let third = response.results[2].outcome.as_ref().unwrap();
    assert_eq!(third[0].param_errors[0].path, "Device.WiFi.SSID.2.Bogus");
    assert_eq!(third[0].param_errors[0].error.usp_error(), 7026);
    assert_eq!(stored(&engine, "Device.WiFi.SSID.1.SSID"), "A");
    assert_eq!(stored(&engine, "Device.WiFi.SSID.2.SSID"), "B");
    assert_eq!(stored(&engine, "Device.WiFi.Radio.1.Channel"), "6");
    assert!(!sim.hardware().config.contains_key("Device.WiFi.Radio.1."));
}

#[tokio::test]
async fn read_only_and_unknown_paths_get_typed_errors() {
    let (_sim, engine) = setup().await;
    let store_before = engine.read(Clone::clone);
    let failure = engine
        .set(
            &acs(),
            &SetRequest::from_parameters([
                ("Device.DeviceInfo.UpTime", "5"),
                ("Device.DeviceInfo.NoSuchThing", "x"),
                ("Device.Time.LocalTimeZone", "UTC0"),
            ]),
        )
        .await
        .unwrap_err();
    // CWMP renders 9003 with one SetParameterValuesFault per bad parameter.
    assert_eq!(failure.error.cwmp_fault(), 9003);
    let faults: Vec<(&str, u16, u32)> = failure
        .param_errors
        .iter()
        .map(|e| (e.path.as_str(), e.error.cwmp_fault(), e.error.usp_error()))
        .collect();
    assert_eq!(
        faults,
        [
            ("Device.DeviceInfo.UpTime", 9008, 7013),
            ("Device.DeviceInfo.NoSuchThing", 9005, 7026),
        ]
    );
    assert!(matches!(
        failure.param_errors[0].error,
        EngineError::Model(tr181_model::Error::NotWritable { .. })
    ));
    assert!(engine.read(|s| *s == store_before), "all or nothing");

    let got = engine
        .get(
            &usp(),
            &GetRequest::new(["Device.Nope.", "Device.WiFi.SSID.9.", "Device.Time."]),
        )
        .await
        .unwrap();
    let codes: Vec<Option<u32>> = got
        .results()
        .map(|r| r.outcome.err().map(|f| f.error.usp_error()))
        .collect();
    assert_eq!(codes, [Some(7026), Some(7016), None]);

    let failure = engine
        .add(&usp(), &add_one("Device.Hosts.Host.", vec![]))
        .await
        .unwrap_err();
    assert_eq!(failure.error.usp_error(), 7019, "not creatable");
    let failure = engine
        .delete(&usp(), &DeleteRequest::new(["Device.DeviceInfo."]))
        .await
        .unwrap_err();
    assert_eq!(failure.error.usp_error(), 7018, "not a table row");
}

#[tokio::test]
async fn add_and_delete_rows_with_numbering_and_hal_refusal() {
    let (sim, engine) = setup().await;
    let ssh = add_one(
        "Device.NAT.PortMapping.",
        vec![
            ParamSetting::new("Enable", "true"),
            ParamSetting::new("ExternalPort", "2222"),
            ParamSetting::new("InternalPort", "22"),
            ParamSetting::new("Protocol", "TCP"),
            ParamSetting::new("InternalClient", "192.168.1.20"),
            ParamSetting::optional("NotAParameter", "1"),
        ],
    );
    let added = engine.add(&usp(), &ssh).await.unwrap();
    let row = added.results[0].outcome.as_ref().unwrap();
    assert_eq!(row.path, "Device.NAT.PortMapping.2.");
    assert_eq!(row.number, 2);
    assert_eq!(
        row.param_errors.len(),
        1,
        "a non-required failure only adds an error"
    );
    assert!(
        row.unique_keys
            .iter()
            .any(|(k, v)| *k == "ExternalPort" && *v == Value::UnsignedInt(2222))
    );
    assert!(sim.hardware().rows.contains("Device.NAT.PortMapping.2."));
    assert_eq!(
        stored(&engine, "Device.NAT.PortMappingNumberOfEntries"),
        "2"
    );

    // The same row again: a duplicate unique key, refused by the model (7025).
    let failure = engine.add(&usp(), &ssh).await.unwrap_err();
    assert_eq!(failure.error.usp_error(), 7025);

    // The hardware refuses the next row: nothing is added and the number is not used up.
    sim.inject(refuse_next(
        HalCall::Added,
        "Device.NAT.PortMapping.3.",
        "NAT table full in hardware",
    ));
    let cwmp_add = add_one("Device.NAT.PortMapping.", vec![]);
    let failure = engine.add(&acs(), &cwmp_add).await.unwrap_err();
    assert_eq!(failure.error.cwmp_fault(), 9001);
    assert_eq!(
        stored(&engine, "Device.NAT.PortMappingNumberOfEntries"),
        "2"
    );
    let again = engine.add(&acs(), &cwmp_add).await.unwrap();
    assert_eq!(again.results[0].outcome.as_ref().unwrap().number, 3);

    // Delete by search path; a search matching nothing is success.
    let deleted = engine
        .delete(
            &usp(),
            &DeleteRequest::new([
                "Device.NAT.PortMapping.[ExternalPort==2222].",
                "Device.NAT.PortMapping.[ExternalPort==1].",
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        deleted.results[0].outcome.as_ref().unwrap().affected,
        ["Device.NAT.PortMapping.2."]
    );
    assert!(
        deleted.results[1]
            .outcome
            .as_ref()
            .unwrap()
            .affected
            .is_empty()
    );
    assert!(
        sim.hardware()
            .deleted_rows
            .contains("Device.NAT.PortMapping.2.")
    );

    // The hardware refuses a delete: with allow_partial the row is unaffected, still there.
    sim.inject(refuse_next(
        HalCall::Deleted,
        "Device.NAT.PortMapping.1.",
        "in use",
    ));
    let deleted = engine
        .delete(
            &usp(),
            &DeleteRequest::new(["Device.NAT.PortMapping.*."]).with_allow_partial(true),
        )
        .await
        .unwrap();
    let outcome = deleted.results[0].outcome.as_ref().unwrap();
    assert_eq!(outcome.unaffected[0].path, "Device.NAT.PortMapping.1.");
    assert_eq!(outcome.affected, ["Device.NAT.PortMapping.3."]);
    assert_eq!(
        stored(&engine, "Device.NAT.PortMapping.1.InternalClient"),
        "192.168.1.10"
    );
    assert_eq!(
        stored(&engine, "Device.NAT.PortMappingNumberOfEntries"),
        "1"
    );
}

#[tokio::test]
async fn an_added_rows_live_status_follows_its_enable() {
    let (sim, engine) = setup().await;
    let mut numbers = Vec::new();
    for enable in ["false", "true"] {
        let add = add_one(
            "Device.IP.Interface.",
            vec![ParamSetting::new("Enable", enable)],
        );
        let added = engine.add(&usp(), &add).await.unwrap();
        numbers.push(added.results[0].outcome.as_ref().unwrap().number);
    }
    let status = |number: u32| format!("Device.IP.Interface.{number}.Status");
    let got = engine
        .get(
            &usp(),
            &GetRequest::new([status(numbers[0]), status(numbers[1])]),
        )
        .await
        .unwrap();
    assert_eq!(text(got.value(&status(numbers[0])).unwrap()), "Down");
    assert_eq!(text(got.value(&status(numbers[1])).unwrap()), "Up");

    // A row without live values leaves the hardware only its path.
    let mapping = add_one(
        "Device.NAT.PortMapping.",
        vec![ParamSetting::new("ExternalPort", "8080")],
    );
    let added = engine.add(&usp(), &mapping).await.unwrap();
    let row = &added.results[0].outcome.as_ref().unwrap().path;
    let hardware = sim.hardware();
    assert!(hardware.rows.contains(row));
    assert!(!hardware.config.contains_key(row));
}

#[tokio::test]
async fn operate_sync_and_async_with_completion() {
    let (sim, engine) = setup().await;
    let sync = operate_one(
        &engine,
        &usp(),
        OperateRequest::new("Device.IP.Interface.1.Reset()", "k0"),
    )
    .await;
    assert_eq!(sync, OperateOutcome::Done(Vec::new()));
    assert_eq!(sim.hardware().commands, ["Device.IP.Interface.1.Reset()"]);
    while engine.poll_notice().is_some() {}

    let ping = OperateRequest::new("Device.IP.Diagnostics.IPPing()", "ping-1")
        .with_arg("Host", "192.0.2.1")
        .with_arg("NumberOfRepetitions", "4")
        .with_arg("DataBlockSize", "64")
        .with_arg("ProtocolVersion", "Any")
        .with_arg("Timeout", "1000");
    let started = operate_one(&engine, &usp(), ping).await;
    let OperateOutcome::Started { request, .. } = &started else {
        panic!("IPPing() is asynchronous: {started:?}");
    };
    let request = request.clone().unwrap();
    assert_eq!(request, "Device.LocalAgent.Request.1.");
    assert_eq!(
        stored(&engine, "Device.LocalAgent.Request.1.Status"),
        "Active"
    );
    assert_eq!(
        stored(&engine, "Device.LocalAgent.Request.1.CommandKey"),
        "ping-1"
    );

    assert_eq!(sim.run_jobs(), 1);
    assert!(engine.handle_device_inputs().await.unwrap() >= 2);
    let notices = poll_all(&engine);
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::Progress { percent: 100, .. }))
    );
    let complete = notices
        .iter()
        .find_map(|n| match n {
            Notice::OperationComplete(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(complete.command, "Device.IP.Diagnostics.IPPing()");
    assert_eq!(complete.command_key, "ping-1");
    assert_eq!(
        complete.request.as_deref(),
        Some("Device.LocalAgent.Request.1.")
    );
    let outputs = complete.result.unwrap();
    assert!(outputs.contains(&("SuccessCount".into(), "4".into())));
    assert!(
        engine.read(|s| s.value("Device.LocalAgent.Request.1.Status").is_err()),
        "the request row is gone"
    );

    // Bad arguments and unknown commands.
    let bad = OperateRequest::new("Device.IP.Diagnostics.IPPing()", "").with_arg("Bogus", "1");
    let OperateOutcome::Failed(error) = operate_one(&engine, &usp(), bad).await else {
        panic!("unknown argument must fail");
    };
    assert_eq!(error.usp_error(), 7027);
    let unknown = engine
        .operate(&usp(), &OperateRequest::new("Device.NoSuch()", ""))
        .await
        .unwrap_err();
    assert_eq!(unknown.usp_error(), 7026);
}

#[tokio::test]
async fn cancel_an_async_command() {
    let (sim, engine) = setup().await;
    let started = operate_one(
        &engine,
        &usp(),
        OperateRequest::new("Device.SelfTestDiagnostics()", "st"),
    )
    .await;
    let OperateOutcome::Started {
        request: Some(row), ..
    } = &started
    else {
        panic!("started");
    };
    let cancel = operate_one(
        &engine,
        &usp(),
        OperateRequest::new(format!("{row}Cancel()"), ""),
    )
    .await;
    assert_eq!(cancel, OperateOutcome::Done(Vec::new()));
    assert_eq!(sim.pending_jobs(), 0);
    let failure = pending(&engine, |n| match n {
        Notice::OperationComplete(c) => c.result.err(),
        _ => None,
    });
    assert_eq!(failure.usp_error, 7023);
}

#[tokio::test]
async fn firmware_download_and_activate_through_operate_and_cwmp() {
    let (sim, engine) = setup().await;
    let download = OperateRequest::new("Device.DeviceInfo.FirmwareImage.2.Download()", "fw-1")
        .with_arg("URL", "https://fw.example.net/image.bin")
        .with_arg("AutoActivate", "false")
        .with_arg("FileSize", "1024");
    let started = operate_one(&engine, &usp(), download).await;
    assert!(matches!(started, OperateOutcome::Started { .. }));
    run_jobs(&sim, &engine).await;
    let done = pending(&engine, |n| match n {
        Notice::OperationComplete(c) => Some(c),
        _ => None,
    });
    assert_eq!(done.command, "Device.DeviceInfo.FirmwareImage.2.Download()");
    assert_eq!(done.command_key, "fw-1");
    assert!(done.result.is_ok());
    assert_eq!(
        sim.hardware().transfers,
        ["https://fw.example.net/image.bin"]
    );

    let activate = OperateRequest::new("Device.DeviceInfo.FirmwareImage.2.Activate()", "");
    let activated = operate_one(&engine, &usp(), activate).await;
    assert!(matches!(activated, OperateOutcome::Started { .. }));
    assert_eq!(sim.hardware().active_image, 2);

    // CWMP Download: a TransferComplete notice, with the fault on failure.
    let mut transfer = hal::transfer::FileTransfer::download(
        hal::transfer::FileType::FirmwareImage,
        "https://fail.example.net/x.bin",
    );
    transfer.command_key = "dl-9".into();
    engine.transfer(&acs(), transfer).await.unwrap();
    run_jobs(&sim, &engine).await;
    let result = pending(&engine, |n| match n {
        Notice::TransferComplete(r) => Some(r),
        _ => None,
    });
    assert_eq!(result.command_key, "dl-9");
    assert_eq!(result.fault.as_ref().unwrap().0.cwmp_fault(), 9015);
    assert!(result.start_time.is_some() && result.complete_time.is_some());

    let unsupported = hal::transfer::FileTransfer::download(
        hal::transfer::FileType::FirmwareImage,
        "ftp://old.example.net/x.bin",
    );
    let error = engine.transfer(&acs(), unsupported).await.unwrap_err();
    assert_eq!(error.cwmp_fault(), 9013);
}

/// USP `VendorConfigFile.{i}.Backup()` and `VendorLogFile.{i}.Upload()` are uploads through
/// `Lifecycle::transfer`, completed as the operation's OperationComplete.
#[tokio::test]
async fn vendor_file_backup_and_upload_are_upload_transfers() {
    let (sim, engine) = setup().await;
    engine
        .device_update(|txn| {
            txn.add("Device.DeviceInfo.VendorConfigFile.", &[("Name", "config")])?;
            txn.add("Device.DeviceInfo.VendorLogFile.", &[("Name", "log")])
        })
        .await
        .unwrap();
    for (command, url) in [
        (
            "Device.DeviceInfo.VendorConfigFile.1.Backup()",
            "https://files.example.net/config",
        ),
        (
            "Device.DeviceInfo.VendorLogFile.1.Upload()",
            "https://fail.example.net/log",
        ),
    ] {
        let request = OperateRequest::new(command, "up-1")
            .with_arg("URL", url)
            .with_arg("Username", "cpe")
            .with_arg("Password", "secret");
        let started = operate_one(&engine, &usp(), request).await;
        assert!(matches!(started, OperateOutcome::Started { .. }));
        let running = engine.running_transfers();
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].1, hal::transfer::Direction::Upload);
        run_jobs(&sim, &engine).await;
        let done = pending(&engine, |n| match n {
            Notice::OperationComplete(c) if c.command == command => Some(c),
            _ => None,
        });
        assert_eq!(done.command_key, "up-1");
        // The simulated device fails URLs with "fail" in them.
        assert_eq!(done.result.is_ok(), !url.contains("fail"), "{done:?}");
    }
    assert_eq!(
        sim.hardware().transfers,
        ["https://files.example.net/config"]
    );

    // Without its mandatory URL, Backup() is refused before any transfer starts.
    let request = OperateRequest::new("Device.DeviceInfo.VendorConfigFile.1.Backup()", "")
        .with_arg("Username", "")
        .with_arg("Password", "");
    let outcome = operate_one(&engine, &usp(), request).await;
    assert!(matches!(outcome, OperateOutcome::Failed(_)), "{outcome:?}");
    assert!(engine.running_transfers().is_empty());
}

#[tokio::test]
async fn discovered_rows_follow_the_hardware() {
    let (sim, engine) = setup().await;
    sim.connect_client(Client::wifi(
        "AA:BB:CC:00:00:01",
        "192.168.1.100",
        "phone",
        1,
    ));
    sim.connect_client(Client::wired("AA:BB:CC:00:00:02", "192.168.1.101", "nas"));

    // Event-driven: the sink tells the engine, the change log gets ObjectCreated.
    let seq = engine.last_seq();
    engine.handle_device_inputs().await.unwrap();
    let created: Vec<String> = engine
        .changes_since(seq)
        .into_iter()
        .filter_map(|r| match r.change {
            Change::ObjectCreated { path, .. } => Some(path),
            _ => None,
        })
        .collect();
    assert!(created.contains(&"Device.Hosts.Host.1.".to_string()));
    assert!(created.contains(&"Device.Hosts.Host.2.".to_string()));
    assert!(created.contains(&"Device.WiFi.AccessPoint.1.AssociatedDevice.1.".to_string()));

    let got = engine
        .get(&usp(), &GetRequest::new(["Device.Hosts.Host.*.HostName"]))
        .await
        .unwrap();
    let hosts: Vec<String> = got.params().map(|p| text(p.value())).collect();
    assert_eq!(hosts, ["phone", "nas"]);

    sim.disconnect_client("AA:BB:CC:00:00:01");
    engine.handle_device_inputs().await.unwrap();
    let rows = engine
        .get_instances(
            &usp(),
            &GetInstancesRequest::new(["Device.Hosts.Host."], true),
        )
        .await
        .unwrap();
    let rows = rows.results[0].outcome.as_ref().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].path, "Device.Hosts.Host.2.",
        "numbers are kept, never reused"
    );
}

#[tokio::test]
async fn manageable_devices_follow_the_clients_that_gave_option_125() {
    let (sim, engine) = setup().await;
    let table = "Device.ManagementServer.ManageableDevice.";
    let count = "Device.ManagementServer.ManageableDeviceNumberOfEntries";
    sim.connect_client(Client::wired("AA:BB:CC:00:00:01", "192.168.1.100", "pc"));
    let stb = Client::wired("AA:BB:CC:00:00:02", "192.168.1.101", "stb")
        .with_identity(DeviceIdentity::new("00D09F", "STB0001", "STB"));
    sim.connect_client(stb.clone());
    let read = |name: &'static str| {
        let engine = &engine;
        async move {
            let got = engine.get(&acs(), &GetRequest::new([table])).await.unwrap();
            got.value(&format!("{table}1.{name}")).map(text)
        }
    };

    // A read of the table alone discovers it before its Hosts rows exist: the key names no
    // row yet, so `Host` is empty rather than wrong.
    assert_eq!(read("Host").await.as_deref(), Some(""));

    // The sink's inputs: Hosts first, then the table again, now with the reference.
    engine.handle_device_inputs().await.unwrap();
    assert_eq!(
        stored(&engine, count),
        "1",
        "only the client with option 125"
    );
    assert_eq!(read("ManufacturerOUI").await.as_deref(), Some("00D09F"));
    assert_eq!(read("SerialNumber").await.as_deref(), Some("STB0001"));
    assert_eq!(read("ProductClass").await.as_deref(), Some("STB"));
    assert_eq!(read("Host").await.as_deref(), Some("Device.Hosts.Host.2"));
    assert_eq!(stored(&engine, "Device.Hosts.Host.2.PhysAddress"), stb.mac);

    // The row goes with the client; USP has no such table.
    sim.disconnect_client(&stb.mac);
    engine.handle_device_inputs().await.unwrap();
    assert_eq!(stored(&engine, count), "0");
    let got = engine.get(&usp(), &GetRequest::new([table])).await.unwrap();
    assert!(got.first_error().is_some());
}

#[tokio::test]
async fn value_change_feed_and_device_events() {
    let (sim, engine) = setup().await;
    let seq = engine.last_seq();
    engine.sink().value_changed(
        "Device.WiFi.Radio.2.",
        vec![("Channel".into(), Value::UnsignedInt(44))],
    );
    sim.raise_event(
        "Device.LocalAgent.TransferComplete!",
        vec![("Command".into(), "x".into())],
    );
    engine.sink().network_up();
    engine.handle_device_inputs().await.unwrap();
    let changes = engine.changes_since(seq);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].origin, Origin::Device);
    assert_eq!(stored(&engine, "Device.WiFi.Radio.2.Channel"), "44");
    let notices = poll_all(&engine);
    assert!(notices.iter().any(
        |n| matches!(n, Notice::Event { path, .. } if path == "Device.LocalAgent.TransferComplete!")
    ));
    assert!(notices.contains(&Notice::NetworkUp));
    // NetworkUp is transient; the event stays pending until acknowledged.
    assert!(
        !engine
            .pending_notices()
            .iter()
            .any(|(_, n)| *n == Notice::NetworkUp)
    );
}

#[tokio::test]
async fn access_control_filters_reads_and_refuses_writes() {
    let sim = SimDevice::new("SIM0002");
    let rules = PathRules::new(
        Permissions::ALL,
        vec![
            PathRule::new("Device.Time.", None, Permissions::NONE).for_principal("self::guest"),
            PathRule::new(
                "Device.WiFi.",
                Some(Target::Parameter),
                Permissions::READ_ONLY,
            )
            .for_principal("self::guest"),
            PathRule::new(
                "Device.NAT.PortMapping.",
                Some(Target::Object),
                Permissions::READ_ONLY,
            )
            .for_principal("self::guest"),
            PathRule::new("Device.Reboot()", None, Permissions::NONE).for_principal("self::guest"),
        ],
    );
    let (engine, _) = start(&sim, Arc::new(rules)).await;
    let guest = Principal::controller(
        "self::guest",
        vec!["Device.LocalAgent.ControllerTrust.Role.2".into()],
    );

    let got = engine
        .get(
            &guest,
            &GetRequest::new(["Device.Time.", "Device.Time.LocalTimeZone"]),
        )
        .await
        .unwrap();
    assert!(
        got.results().next().unwrap().outcome.unwrap().is_empty(),
        "filtered out"
    );
    assert_eq!(
        got.results()
            .nth(1)
            .unwrap()
            .outcome
            .unwrap_err()
            .error
            .usp_error(),
        7006
    );
    let full = engine
        .get(&usp(), &GetRequest::new(["Device.Time.LocalTimeZone"]))
        .await
        .unwrap();
    assert!(
        full.value("Device.Time.LocalTimeZone").is_some(),
        "others still read it"
    );

    let ssid = set_one(
        "Device.WiFi.SSID.1.",
        vec![ParamSetting::new("SSID", "mine")],
    );
    let failure = engine.set(&guest, &ssid).await.unwrap_err();
    assert_eq!(failure.param_errors[0].error.usp_error(), 7006);
    let failure = engine
        .add(&guest, &add_one("Device.NAT.PortMapping.", vec![]))
        .await
        .unwrap_err();
    assert_eq!(failure.error.usp_error(), 7006);
    let reboot = operate_one(&engine, &guest, OperateRequest::new("Device.Reboot()", "")).await;
    assert!(matches!(&reboot, OperateOutcome::Failed(e) if e.usp_error() == 7006));
    assert_eq!(sim.hardware().reboots, 0);
}

#[tokio::test]
async fn cwmp_lifecycle_rpcs_need_execute_permission() {
    let sim = SimDevice::new("SIM0005");
    let rogue = Principal::acs("https://rogue.example.net/acs");
    let rules = PathRules::new(
        Permissions::ALL,
        vec![
            PathRule::new("Device.Reboot()", None, Permissions::NONE).for_principal(&rogue.id),
            PathRule::new("Device.FactoryReset()", None, Permissions::NONE)
                .for_principal(&rogue.id),
            PathRule::new(
                "Device.DeviceInfo.FirmwareImage.",
                Some(Target::Command),
                Permissions::READ_ONLY,
            )
            .for_principal(&rogue.id),
        ],
    );
    let (engine, _) = start(&sim, Arc::new(rules)).await;
    let firmware = || {
        hal::transfer::FileTransfer::download(
            hal::transfer::FileType::FirmwareImage,
            "https://fw.example.net/image.bin",
        )
    };

    let denied = [
        engine.reboot(&rogue, "r-1").await.unwrap_err(),
        engine.factory_reset(&rogue).await.unwrap_err(),
        engine.transfer(&rogue, firmware()).await.unwrap_err(),
    ];
    for error in &denied {
        assert!(
            matches!(error, EngineError::PermissionDenied { .. }),
            "{error:?}"
        );
        assert_eq!((error.cwmp_fault(), error.usp_error()), (9001, 7006));
    }
    let hardware = sim.hardware();
    assert_eq!((hardware.reboots, hardware.factory_resets), (0, 0));
    assert_eq!(sim.pending_jobs(), 0, "no transfer started");
    assert!(engine.read(|s| s.value("Device.DeviceInfo.SerialNumber").is_ok()));

    // An ACS the policy allows goes through.
    engine.transfer(&acs(), firmware()).await.unwrap();
    engine.reboot(&acs(), "r-2").await.unwrap();
    assert_eq!(sim.hardware().reboots, 1);
    assert_eq!(sim.pending_jobs(), 1);
}

#[tokio::test]
async fn secured_values_are_shown_only_to_principals_allowed_to_read_them() {
    let sim = SimDevice::new("SIM0006");
    let admin_role = "Device.LocalAgent.ControllerTrust.Role.1";
    let rules = PathRules::new(Permissions::ALL, Vec::new())
        .with_secured_reader(admin_role)
        // CWMP has no secured access: the ACS reads secured values as empty all the same.
        .with_secured_reader(acs().id);
    let (engine, _) = start(&sim, Arc::new(rules)).await;
    let admin = Principal::controller("self::admin", vec![admin_role.into()]);
    let security = "Device.WiFi.AccessPoint.1.Security.";
    let passphrase = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase";

    for (who, expected) in [
        (&admin, "correct-horse-battery"),
        (&usp(), ""),
        (&acs(), ""),
    ] {
        let got = engine
            .get(who, &GetRequest::new([passphrase, security]))
            .await
            .unwrap();
        let shown: Vec<String> = got
            .params()
            .filter(|p| p.path() == passphrase)
            .map(|p| text(p.value()))
            .collect();
        assert_eq!(shown, [expected, expected], "{}", who.id);
    }
    // Hidden values stay empty for everyone (the ACS's own password).
    let got = engine
        .get(
            &acs(),
            &GetRequest::new(["Device.ManagementServer.Password"]),
        )
        .await
        .unwrap();
    assert_eq!(
        text(got.value("Device.ManagementServer.Password").unwrap()),
        ""
    );

    // A Set reports a secured value back as a Get would show it.
    for (who, value, expected) in [
        (&admin, "passphrase-one", "passphrase-one"),
        (&usp(), "passphrase-two", ""),
    ] {
        let set = set_one(security, vec![ParamSetting::new("KeyPassphrase", value)]);
        let response = engine.set(who, &set).await.unwrap();
        let updated = &response.results[0].outcome.as_ref().unwrap()[0].updated;
        assert_eq!(updated[0].0, "KeyPassphrase");
        assert_eq!(text(&updated[0].1), expected, "{}", who.id);
    }
    assert_eq!(stored(&engine, passphrase), "passphrase-two");
}

#[tokio::test]
async fn allow_partial_add_keeps_numbers_when_the_hardware_refuses_a_row() {
    let (sim, engine) = setup().await;
    sim.inject(refuse_next(
        HalCall::Added,
        "Device.NAT.PortMapping.2.",
        "NAT table full in hardware",
    ));
    let mapping = |port: &str| {
        ObjectCreation::new(
            "Device.NAT.PortMapping.",
            vec![
                ParamSetting::new("ExternalPort", port),
                ParamSetting::new("Protocol", "UDP"),
            ],
        )
    };
    let request = AddRequest::new(vec![mapping("4000"), mapping("4001")]).with_allow_partial(true);
    let added = engine.add(&usp(), &request).await.unwrap();
    let refused = added.results[0].outcome.as_ref().unwrap_err();
    assert_eq!(refused.error.usp_error(), 7002);
    let row = added.results[1].outcome.as_ref().unwrap();
    assert_eq!(
        row.path, "Device.NAT.PortMapping.3.",
        "the number the hardware was told"
    );
    assert!(sim.hardware().rows.contains("Device.NAT.PortMapping.3."));
    assert!(!sim.hardware().rows.contains("Device.NAT.PortMapping.2."));
    assert_eq!(
        stored(&engine, "Device.NAT.PortMappingNumberOfEntries"),
        "2"
    );
    let next = engine
        .add(&usp(), &AddRequest::new(vec![mapping("4002")]))
        .await
        .unwrap();
    assert_eq!(next.results[0].outcome.as_ref().unwrap().number, 4);
}

#[tokio::test]
async fn slow_hal_calls_still_complete() {
    let (sim, engine) = setup().await;
    sim.inject(Fault::delay(HalCall::Read, 1, Duration::from_millis(20)));
    sim.advance(7);
    let got = engine
        .get(&usp(), &GetRequest::new(["Device.DeviceInfo.UpTime"]))
        .await
        .unwrap();
    assert_eq!(
        got.value("Device.DeviceInfo.UpTime"),
        Some(&Value::UnsignedInt(7))
    );
}

#[tokio::test]
async fn requests_before_start_and_oversized_requests_are_refused() {
    let sim = SimDevice::new("SIM0003");
    let engine = Engine::new(
        sim.hal(),
        Arc::new(AllowAll),
        EngineConfig::default().with_max_request_items(2),
    );
    let error = engine
        .get(&usp(), &GetRequest::new(["Device."]))
        .await
        .unwrap_err();
    assert!(matches!(error, EngineError::ApiMisuse(_)));
    engine.start().await.unwrap();
    let error = engine
        .get(&usp(), &GetRequest::new(["Device.", "Device.", "Device."]))
        .await
        .unwrap_err();
    assert_eq!((error.cwmp_fault(), error.usp_error()), (9004, 7005));
}

/// Engine futures are `Send`, so a multi-threaded driver can spawn them.
#[test]
fn engine_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let sim = SimDevice::new("SIM0004");
    let engine = Engine::new(sim.hal(), Arc::new(AllowAll), EngineConfig::default());
    let principal = usp();
    let get = GetRequest::new(["Device."]);
    let set = SetRequest::new(Vec::new());
    let add = AddRequest::new(Vec::new());
    let delete = DeleteRequest::new(Vec::<String>::new());
    let operate = OperateRequest::new("Device.Reboot()", "");
    assert_send(&engine.start());
    assert_send(&engine.get(&principal, &get));
    assert_send(&engine.set(&principal, &set));
    assert_send(&engine.add(&principal, &add));
    assert_send(&engine.delete(&principal, &delete));
    assert_send(&engine.operate(&principal, &operate));
    assert_send(&engine.handle_device_inputs());
}

#[tokio::test]
async fn time_status_says_whether_the_device_has_real_time() {
    let (sim, engine) = setup().await;
    let status = || async {
        let request = GetRequest::new(["Device.Time.Status"]);
        let got = engine.get(&usp(), &request).await.unwrap();
        text(got.value("Device.Time.Status").unwrap())
    };
    assert_eq!(status().await, "Synchronized");
    sim.set_time(None);
    assert_eq!(status().await, "Unsynchronized");
    // The time client off: Disabled, whatever the clock says.
    sim.set_time(DateTime::from_unix_seconds(1_700_000_000));
    let off = SetRequest::from_parameters([("Device.Time.Enable", "false")]);
    engine.set(&usp(), &off).await.unwrap();
    assert_eq!(status().await, "Disabled");
    let on = SetRequest::from_parameters([("Device.Time.Enable", "true")]);
    engine.set(&usp(), &on).await.unwrap();
    assert_eq!(status().await, "Synchronized");
}

#[tokio::test]
async fn a_device_update_adds_rows_to_read_only_tables() {
    let (_sim, engine) = setup().await;
    let row = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect::<Vec<_>>()
    };
    // Enabled: a unique key binds enabled rows only.
    let certificate = row(&[
        ("Enable", "true"),
        ("SerialNumber", "5E1F"),
        ("Issuer", "CN=x"),
    ]);
    let update = DeviceUpdate::adding(vec![
        ("Device.LocalAgent.Certificate.".into(), certificate.clone()),
        (
            "Device.LocalAgent.Certificate.".into(),
            row(&[("SerialNumber", "02")]),
        ),
    ]);
    engine.device_update(|txn| update.apply(txn)).await.unwrap();
    assert_eq!(
        stored(&engine, "Device.LocalAgent.CertificateNumberOfEntries"),
        "2"
    );
    assert_eq!(
        stored(&engine, "Device.LocalAgent.Certificate.1.Issuer"),
        "CN=x"
    );
    assert_eq!(
        stored(&engine, "Device.LocalAgent.Certificate.2.SerialNumber"),
        "02"
    );
    // A row the model refuses fails the whole update.
    let refused = DeviceUpdate::adding(vec![
        ("Device.LocalAgent.Certificate.".into(), certificate),
        (
            "Device.LocalAgent.Certificate.".into(),
            row(&[("NoSuchParameter", "1")]),
        ),
    ]);
    assert!(
        engine
            .device_update(|txn| refused.apply(txn))
            .await
            .is_err()
    );
    assert_eq!(
        stored(&engine, "Device.LocalAgent.CertificateNumberOfEntries"),
        "2"
    );
}

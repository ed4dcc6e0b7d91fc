//! Committed wire captures (`tests/fixtures/cwmp/`) in the styles real CPEs and ACSs send:
//! each must decode, and the decoded value must re-encode into an envelope that decodes to
//! the same value.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use cwmp_core::codec::*;

fn load(name: &str) -> Envelope {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cwmp")
        .join(name);
    let bytes = std::fs::read(&path).unwrap();
    let env =
        Envelope::decode(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut again = Vec::new();
    env.encode(&mut again).unwrap();
    // The encoder never sends the deprecated NoMoreRequests; everything else survives.
    let mut expected = env.clone();
    expected.header.no_more_requests = None;
    assert_eq!(
        Envelope::decode(&again, &Limits::default()).unwrap(),
        expected,
        "{name}"
    );
    env
}

#[test]
fn every_fixture_decodes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cwmp");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".xml") {
            load(&name);
            count += 1;
        }
    }
    assert!(count >= 12, "{count} fixtures");
}

#[test]
fn thomson_inform_with_sloppy_details() {
    let env = load("inform-thomson-1-0.xml");
    assert_eq!(env.namespace, CwmpNamespace::V1_0);
    assert_eq!(env.header.id.as_deref(), Some("3_THOM_TR69_ID"));
    assert_eq!(env.header.no_more_requests, Some(true));
    let Body::Inform(inform) = env.body else {
        panic!("not an Inform")
    };
    assert_eq!(
        inform.device_id.oui, "00a859",
        "lower-case OUI kept as sent"
    );
    assert_eq!(inform.device_id.manufacturer, "THOMSON");
    let codes: Vec<_> = inform.event.iter().map(|e| e.event_code.clone()).collect();
    assert_eq!(codes, [EventCode::Bootstrap, EventCode::Boot]);
    assert_eq!(inform.max_envelopes, 2);
    assert_eq!(
        inform.current_time, "2019-03-05T11:54::14",
        "malformed dateTime kept"
    );
    assert_eq!(inform.parameter_list.len(), 8, "padded arrayType [0008]");
    assert!(
        inform.parameter_list.iter().all(|p| p.value_type.is_none()),
        "no xsi:type"
    );
    assert_eq!(inform.parameter_list[4].value, "");
    assert_eq!(inform.parameter_list[6].value, "", "<Value/>");
    assert_eq!(inform.parameter_list[5].value, "http://10.0.0.138:51005/");
}

#[test]
fn odd_prefixes_default_namespace_and_undeclared_xsi() {
    let env = load("inform-odd-prefixes-1-0.xml");
    assert_eq!(env.namespace, CwmpNamespace::V1_0);
    assert_eq!(env.header.id.as_deref(), Some("SAGEM_ID_7589"));
    let Body::Inform(inform) = env.body else {
        panic!("not an Inform")
    };
    assert_eq!(inform.event.len(), 1, "entries named <item>, no arrayType");
    assert_eq!(inform.event[0].event_code, EventCode::ConnectionRequest);
    assert_eq!(inform.retry_count, 3, "whitespace around a number");
    let params = &inform.parameter_list;
    assert_eq!(
        params[0].value_type,
        Some(ValueType::UnsignedInt),
        "xs: prefix, i: xsi prefix"
    );
    assert_eq!(params[0].value, "86400");
    assert_eq!(
        params[1].name,
        "InternetGatewayDevice.ManagementServer.PeriodicInformEnable"
    );
    assert_eq!(
        params[1].value_type,
        Some(ValueType::Boolean),
        "undeclared xsi:/xsd:"
    );
}

#[test]
fn cwmp_1_4_inform_headers_and_negotiation() {
    let env = load("inform-1-4-headers.xml");
    assert_eq!(env.namespace, CwmpNamespace::V1_2);
    assert_eq!(env.header.session_timeout, Some(30));
    let supported = env.header.supported_cwmp_versions.clone().unwrap();
    assert_eq!(supported, CwmpVersion::ALL);
    let Body::Inform(inform) = &env.body else {
        panic!("not an Inform")
    };
    assert_eq!(inform.event[0].event_code, EventCode::Heartbeat);
    assert_eq!(inform.event[1].event_code, EventCode::MReboot);
    assert_eq!(inform.event[1].command_key, "rb-9");
    assert_eq!(
        inform.event[2].event_code,
        EventCode::Other("X 00D09E WATCHDOG".into())
    );
    // An ACS that speaks 1.0–1.4 answers 1.4.
    let chosen = version::select_version(
        env.namespace,
        env.header.session_timeout.is_some(),
        Some(&supported),
        &CwmpVersion::ALL,
    );
    assert_eq!(chosen, Some(CwmpVersion::V1_4));

    let response = load("acs-informresponse-1-4.xml");
    assert_eq!(response.header.hold_requests, Some(true));
    assert_eq!(response.header.use_cwmp_version, Some(CwmpVersion::V1_4));
    assert_eq!(
        version::confirm_version(
            &supported,
            response.namespace,
            response.header.use_cwmp_version
        ),
        Some(CwmpVersion::V1_4)
    );
    assert_eq!(
        response.body,
        Body::InformResponse(InformResponse { max_envelopes: 1 })
    );
}

#[test]
fn genieacs_get_parameter_values() {
    let env = load("acs-getparametervalues-genieacs.xml");
    assert_eq!(env.header.id.as_deref(), Some("17a3a6bdc44"));
    assert_eq!(
        env.body,
        Body::GetParameterValues(GetParameterValues {
            parameter_names: vec![
                "InternetGatewayDevice.DeviceInfo.".into(),
                "InternetGatewayDevice.ManagementServer.URL".into(),
            ],
        })
    );
}

#[test]
fn set_parameter_values_with_references_and_cdata() {
    let env = load("acs-setparametervalues-escapes.xml");
    let Body::SetParameterValues(spv) = env.body else {
        panic!("not SPV")
    };
    assert_eq!(spv.parameter_key, "1717171717");
    assert_eq!(spv.parameter_list[0].value, "Café & <Bar> \"5G\" 'x'");
    assert_eq!(spv.parameter_list[1].value, "p<a>ss&word");
    assert_eq!(
        spv.parameter_list[2].value_type,
        Some(ValueType::UnsignedInt)
    );
}

#[test]
fn cpe_fault_with_parameter_faults() {
    let env = load("cpe-fault-setparametervalues.xml");
    assert_eq!(env.namespace, CwmpNamespace::V1_0);
    let Body::Fault(fault) = env.body else {
        panic!("not a fault")
    };
    assert_eq!(
        fault.faultcode,
        SoapFaultCode::Client,
        "unprefixed faultcode"
    );
    assert_eq!(fault.code(), Some(9003));
    let detail = fault.detail.unwrap();
    assert_eq!(detail.set_parameter_values_fault.len(), 2);
    assert_eq!(detail.set_parameter_values_fault[0].fault_code, 9007);
    assert_eq!(
        detail.set_parameter_values_fault[1].fault_string, "",
        "optional FaultString"
    );
}

#[test]
fn acs_fault_without_header() {
    let env = load("acs-fault-8005.xml");
    assert_eq!(
        env.namespace,
        CwmpNamespace::V1_1,
        "namespace from detail/Fault"
    );
    assert_eq!(env.header, Header::default());
    let Body::Fault(fault) = env.body else {
        panic!("not a fault")
    };
    assert_eq!(fault.faultcode, SoapFaultCode::Server);
    assert_eq!(fault.code(), Some(8005));
}

#[test]
fn non_standard_cwmp_1_4_namespace() {
    let env = load("acs-download-cwmp-1-4-namespace.xml");
    assert_eq!(env.namespace.uri(), "urn:dslforum-org:cwmp-1-4");
    assert!(!env.namespace.is_standard());
    let Body::Download(dl) = &env.body else {
        panic!("not a Download")
    };
    assert_eq!(dl.file_size, 15_728_640);
    // The answer goes out in the namespace the ACS used.
    let mut out = Vec::new();
    Envelope::new(
        env.namespace,
        Body::DownloadResponse(DownloadResponse {
            status: Status::Pending,
            start_time: UNKNOWN_TIME.into(),
            complete_time: UNKNOWN_TIME.into(),
        }),
    )
    .with_id("dl-1")
    .encode(&mut out)
    .unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("xmlns:cwmp=\"urn:dslforum-org:cwmp-1-4\"")
    );
}

#[test]
fn change_du_state_with_other_prefixes() {
    let env = load("acs-changedustate.xml");
    let Body::ChangeDuState(cdu) = env.body else {
        panic!("not ChangeDUState")
    };
    assert_eq!(cdu.command_key.as_deref(), Some("cdu-77"));
    assert!(matches!(&cdu.operations[0], DuOperation::Install(op)
        if op.url == "http://repo.example/app.ipk" && op.uuid.is_none()));
    assert!(matches!(&cdu.operations[1], DuOperation::Uninstall(op)
        if op.uuid == "3fa85f64-5717-4562-b3fc-2c963f66afa6"));
}

#[test]
fn transfer_complete_with_bom_and_declaration() {
    let env = load("cpe-transfercomplete-bom.xml");
    let Body::TransferComplete(tc) = env.body else {
        panic!("not TransferComplete")
    };
    assert_eq!(tc.fault_struct.fault_code, 9010);
    assert_eq!(tc.start_time, UNKNOWN_TIME);
}

#[test]
fn vendor_rpc_keeps_name_and_id() {
    let env = load("acs-vendor-rpc.xml");
    assert_eq!(env.header.id.as_deref(), Some("vendor-5"));
    assert_eq!(
        env.body,
        Body::Unknown {
            name: "X_ACME_Diagnose".into()
        }
    );
}

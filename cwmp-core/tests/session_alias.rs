//! Alias-based addressing (TR-069 §3.6.1, Appendix II): `[alias]` instance segments in the
//! ACS's names, AddObject naming the alias of its row, `InstanceMode` `InstanceAlias` for the
//! names the CPE returns, `AutoCreateInstances` for SetParameterValues, and the faults.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{
    AddObject, Body, DeleteObject, GetParameterNames, GetParameterValues, ParameterValue,
    SetParameterValues, ValueType,
};
use cwmp_core::session::{Input, SessionConfig};
use support::{Cpe, ScriptedAcs, device_sets, spv};

const MAPPING: &str = "Device.NAT.PortMapping.";

fn gpv(names: &[&str]) -> Body {
    Body::GetParameterValues(GetParameterValues {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    })
}

fn add(name: &str) -> Body {
    Body::AddObject(AddObject {
        object_name: name.into(),
        parameter_key: String::new(),
    })
}

fn server_flag(name: &str, value: &str) -> Body {
    Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![ParameterValue::new(
            format!("Device.ManagementServer.{name}"),
            value,
            ValueType::String,
        )],
        parameter_key: String::new(),
    })
}

/// A CPE whose device supports alias-based addressing, after its bootstrap session.
async fn cpe() -> (Cpe, ScriptedAcs) {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    device_sets(
        &mut cpe,
        "Device.ManagementServer.AliasBasedAddressing",
        "true",
    )
    .await;
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    (cpe, acs)
}

/// Runs one session with `requests` and returns the CPE's answers to them.
async fn session(cpe: &mut Cpe, acs: &mut ScriptedAcs, requests: Vec<Body>) -> Vec<Body> {
    let before = acs.cpe_messages().len();
    for request in requests {
        acs.push(request);
    }
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(acs, Duration::from_secs(5)).await;
    acs.cpe_messages()[before..].to_vec()
}

fn fault_code(body: &Body) -> (u32, Vec<(String, u32)>) {
    let Body::Fault(fault) = body else {
        panic!("expected a fault, got {body:?}");
    };
    let detail = fault.detail.as_ref().unwrap();
    let params = detail
        .set_parameter_values_fault
        .iter()
        .map(|f| (f.parameter_name.clone(), f.fault_code))
        .collect();
    (detail.fault_code, params)
}

fn values(body: &Body) -> Vec<(String, String)> {
    let Body::GetParameterValuesResponse(response) = body else {
        panic!("expected GetParameterValuesResponse, got {body:?}");
    };
    response
        .parameter_list
        .iter()
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn aliases_name_rows_in_requests() {
    let (mut cpe, mut acs) = cpe().await;
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![
            add("Device.NAT.PortMapping.[web]."),
            spv(
                "Device.NAT.PortMapping.[web].Description",
                "web server",
                "k1",
            ),
            gpv(&[
                "Device.NAT.PortMapping.[web].Alias",
                "Device.NAT.PortMapping.[web].Description",
            ]),
            add("Device.NAT.PortMapping.[web]."),
            gpv(&["Device.NAT.PortMapping.[nosuch].Description"]),
            spv("Device.NAT.PortMapping.[ssh].Description", "ssh", "k2"),
        ],
    )
    .await;
    let Body::AddObjectResponse(added) = &answers[0] else {
        panic!("{:?}", answers[0]);
    };
    let row = format!("{MAPPING}{}.", added.instance_number);
    assert!(matches!(answers[1], Body::SetParameterValuesResponse(_)));
    // InstanceMode is InstanceNumber (the factory default): numbers come back.
    assert_eq!(
        values(&answers[2]),
        [
            (format!("{row}Alias"), "web".to_owned()),
            (format!("{row}Description"), "web server".to_owned()),
        ]
    );
    assert_eq!(fault_code(&answers[3]).0, 9003, "the alias is taken");
    assert_eq!(fault_code(&answers[4]).0, 9005, "no row has the alias");
    assert_eq!(
        fault_code(&answers[5]),
        (
            9003,
            vec![("Device.NAT.PortMapping.[ssh].Description".to_owned(), 9005)]
        ),
        "no auto-creation unless AutoCreateInstances"
    );

    // Instance numbers keep working; DeleteObject by alias.
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![
            gpv(&[&format!("{row}Description")]),
            Body::DeleteObject(DeleteObject {
                object_name: "Device.NAT.PortMapping.[web].".into(),
                parameter_key: String::new(),
            }),
            gpv(&[&format!("{row}Description")]),
        ],
    )
    .await;
    assert_eq!(values(&answers[0])[0].1, "web server");
    assert!(matches!(answers[1], Body::DeleteObjectResponse(_)));
    assert_eq!(fault_code(&answers[2]).0, 9005);
}

#[tokio::test(flavor = "current_thread")]
async fn instance_alias_mode_returns_alias_names() {
    let (mut cpe, mut acs) = cpe().await;
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![
            add("Device.NAT.PortMapping.[web]."),
            add(MAPPING),
            server_flag("InstanceMode", "InstanceAlias"),
            Body::GetParameterNames(GetParameterNames {
                parameter_path: MAPPING.into(),
                next_level: true,
            }),
            gpv(&["Device.NAT.PortMapping.[web].Alias"]),
        ],
    )
    .await;
    let Body::GetParameterNamesResponse(names) = &answers[3] else {
        panic!("{:?}", answers[3]);
    };
    let names: Vec<&str> = names
        .parameter_list
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    // The row added without an alias got one from the CPE (`cpe-…`), so it is named by it too.
    assert!(
        names.contains(&"Device.NAT.PortMapping.[web]."),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("Device.NAT.PortMapping.[cpe-")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("Device.NAT.PortMapping.["))
    );
    assert_eq!(
        values(&answers[4]),
        [(
            "Device.NAT.PortMapping.[web].Alias".to_owned(),
            "web".to_owned()
        )]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn auto_create_instances_creates_the_rows_named() {
    let (mut cpe, mut acs) = cpe().await;
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![
            server_flag("AutoCreateInstances", "true"),
            Body::SetParameterValues(SetParameterValues {
                parameter_list: vec![
                    ParameterValue::new(
                        "Device.NAT.PortMapping.[ssh].Description",
                        "ssh",
                        ValueType::String,
                    ),
                    ParameterValue::new(
                        "Device.NAT.PortMapping.[dns].Description",
                        "dns",
                        ValueType::String,
                    ),
                ],
                parameter_key: "auto".into(),
            }),
            gpv(&[
                "Device.NAT.PortMapping.[ssh].Description",
                "Device.NAT.PortMapping.[dns].Description",
            ]),
        ],
    )
    .await;
    assert!(
        matches!(answers[1], Body::SetParameterValuesResponse(_)),
        "{:?}",
        answers[1]
    );
    let got = values(&answers[2]);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, "ssh");
    assert_eq!(got[1].1, "dns");
    assert!(got[0].0.starts_with(MAPPING) && got[0].0 != got[1].0);

    // Nested: the bridge, then its port, are created outer first.
    let port = "Device.Bridging.Bridge.[br-test].Port.[uplink].Enable";
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![
            Body::SetParameterValues(SetParameterValues {
                parameter_list: vec![ParameterValue::new(port, "true", ValueType::Boolean)],
                parameter_key: "nested".into(),
            }),
            gpv(&["Device.Bridging.Bridge.[br-test].Port.[uplink].Alias", port]),
        ],
    )
    .await;
    assert!(
        matches!(answers[0], Body::SetParameterValuesResponse(_)),
        "{:?}",
        answers[0]
    );
    let got = values(&answers[1]);
    assert_eq!(got[0].1, "uplink");
    assert_eq!(got[1].1, "true");
    assert!(got[0].0.starts_with("Device.Bridging.Bridge."), "{got:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn without_alias_based_addressing_aliases_are_no_names() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![
            add("Device.NAT.PortMapping.[web]."),
            gpv(&["Device.NAT.PortMapping.[web].Alias"]),
        ],
    )
    .await;
    assert_eq!(fault_code(&answers[0]).0, 9005);
    assert_eq!(fault_code(&answers[1]).0, 9005);
}

//! Alias-based addressing (TR-069 §3.6.1, Appendix II): `[alias]` instance segments in the
//! ACS's names, AddObject naming the alias of its row, `InstanceMode` `InstanceAlias` for the
//! names the CPE returns, `AutoCreateInstances` for SetParameterValues, and the faults.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{
    AddObject, Body, DeleteObject, GetParameterNames, ParameterValue, SetParameterValues, ValueType,
};
use cwmp_core::session::alias::MAX_AUTO_CREATED;
use cwmp_core::session::{EngineRequest, SessionConfig};
use support::{Cpe, ScriptedAcs, device_sets, fault_code, gpv, session, spv, values};

const MAPPING: &str = "Device.NAT.PortMapping.";

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

/// A SetParameterValues of string `(name, value)` pairs.
fn spv_all(list: &[(&str, &str)]) -> Body {
    Body::SetParameterValues(SetParameterValues {
        parameter_list: list
            .iter()
            .map(|(name, value)| ParameterValue::new(*name, *value, ValueType::String))
            .collect(),
        parameter_key: "auto".into(),
    })
}

/// Every name under `paths` (GetParameterNames, all levels), one session each.
async fn all_names(cpe: &mut Cpe, acs: &mut ScriptedAcs, paths: &[&str]) -> Vec<String> {
    let requests = paths
        .iter()
        .map(|path| {
            Body::GetParameterNames(GetParameterNames {
                parameter_path: (*path).into(),
                next_level: false,
            })
        })
        .collect();
    let mut names = Vec::new();
    for answer in session(cpe, acs, requests).await {
        let Body::GetParameterNamesResponse(response) = answer else {
            panic!("{answer:?}");
        };
        names.extend(response.parameter_list.into_iter().map(|p| p.name));
    }
    names
}

/// A CPE with `AutoCreateInstances` on.
async fn auto_creating_cpe() -> (Cpe, ScriptedAcs) {
    let (mut cpe, mut acs) = cpe().await;
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![server_flag("AutoCreateInstances", "true")],
    )
    .await;
    assert!(matches!(answers[0], Body::SetParameterValuesResponse(_)));
    (cpe, acs)
}

#[tokio::test(flavor = "current_thread")]
async fn auto_created_rows_cost_one_read_of_the_model() {
    let (mut cpe, mut acs) = auto_creating_cpe().await;
    let aliases = ["a1", "a2", "a3", "a4", "a5", "a6"];
    let names: Vec<String> = aliases
        .iter()
        .map(|a| format!("{MAPPING}[{a}].Description"))
        .collect();
    let list: Vec<(&str, &str)> = names
        .iter()
        .zip(aliases)
        .map(|(n, a)| (n.as_str(), a))
        .collect();
    cpe.requests.clear();
    let answers = session(&mut cpe, &mut acs, vec![spv_all(&list)]).await;
    assert!(
        matches!(answers[0], Body::SetParameterValuesResponse(_)),
        "{:?}",
        answers[0]
    );
    let reads = cpe
        .requests
        .iter()
        .filter(|r| matches!(r, EngineRequest::GetInstances(_)))
        .count();
    let adds = cpe
        .requests
        .iter()
        .filter(|r| matches!(r, EngineRequest::Add(_)))
        .count();
    assert_eq!(
        (reads, adds),
        (1, aliases.len()),
        "one read of the rows, one Add per row"
    );

    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let answers = session(&mut cpe, &mut acs, vec![gpv(&names)]).await;
    let got: Vec<String> = values(&answers[0]).into_iter().map(|(_, v)| v).collect();
    assert_eq!(got, aliases);
}

#[tokio::test(flavor = "current_thread")]
async fn failed_set_deletes_the_rows_it_created() {
    let (mut cpe, mut acs) = auto_creating_cpe().await;
    let tables = [MAPPING, "Device.Bridging."];
    let before = all_names(&mut cpe, &mut acs, &tables).await;

    // Two mappings and a bridge with a port are created, then a value fails to set.
    cpe.requests.clear();
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![spv_all(&[
            ("Device.NAT.PortMapping.[ssh].Description", "ssh"),
            ("Device.Bridging.Bridge.[br-x].Port.[up].Enable", "true"),
            ("Device.NAT.PortMapping.[dns].Description", "dns"),
            ("Device.NAT.PortMapping.[dns].ExternalPort", "not a number"),
        ])],
    )
    .await;
    let (code, params) = fault_code(&answers[0]);
    assert_eq!(code, 9003);
    assert_eq!(params.len(), 1, "{params:?}");
    assert_eq!(params[0].1, 9007, "{params:?}");
    let deletes: Vec<&EngineRequest> = cpe
        .requests
        .iter()
        .filter(|r| matches!(r, EngineRequest::Delete(_) | EngineRequest::Add(_)))
        .collect();
    assert_eq!(deletes.len(), 5, "four Adds, then one Delete: {deletes:?}");
    assert!(matches!(deletes[4], EngineRequest::Delete(_)));
    assert_eq!(all_names(&mut cpe, &mut acs, &tables).await, before);

    // The limit on rows to create: the rows created up to it are deleted again.
    let names: Vec<String> = (0..=MAX_AUTO_CREATED)
        .map(|i| format!("{MAPPING}[m{i}].Description"))
        .collect();
    let list: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
    let answers = session(&mut cpe, &mut acs, vec![spv_all(&list)]).await;
    assert_eq!(fault_code(&answers[0]).0, 9004);
    assert_eq!(all_names(&mut cpe, &mut acs, &tables).await, before);

    // A row whose creation fails (Hosts.Host is a table only the device adds to) after one
    // that was created: the created one goes too.
    let host = "Device.Hosts.Host.[h1].Active";
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![spv_all(&[
            ("Device.NAT.PortMapping.[ok].Description", "ok"),
            (host, "true"),
        ])],
    )
    .await;
    let (code, params) = fault_code(&answers[0]);
    assert_eq!(code, 9003, "{:?}", answers[0]);
    assert_eq!(params.len(), 1, "{params:?}");
    assert_eq!(params[0].0, host);
    assert_eq!(all_names(&mut cpe, &mut acs, &tables).await, before);
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

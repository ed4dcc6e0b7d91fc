//! Instance wildcards (TR-069 Amendment 6): `*` in place of instance numbers in the names of
//! GetParameterValues, GetParameterNames and GetParameterAttributes while
//! `Device.ManagementServer.InstanceWildcardsSupported` is true (the simulated device's factory
//! value), fault 9005 in every other RPC and while it is false.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{
    AddObject, Body, DeleteObject, GetParameterAttributes, GetParameterNames, Notification,
    SetParameterAttributes,
};
use cwmp_core::session::SessionConfig;
use hal::sim::Client;
use support::{Cpe, ScriptedAcs, attribute, device_sets, fault_code, gpv, session, spv, values};
use tr181_model::store::Store;

fn gpn(path: &str, next_level: bool) -> Body {
    Body::GetParameterNames(GetParameterNames {
        parameter_path: path.into(),
        next_level,
    })
}

fn gpa(names: &[&str]) -> Body {
    Body::GetParameterAttributes(GetParameterAttributes {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    })
}

/// A CPE after its bootstrap session, with two Wi-Fi clients (one per access point) and a
/// wired one.
async fn cpe() -> (Cpe, ScriptedAcs) {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    cpe.sim.connect_client(Client::wifi(
        "AA:BB:CC:00:00:01",
        "192.168.1.100",
        "phone",
        1,
    ));
    cpe.sim.connect_client(Client::wifi(
        "AA:BB:CC:00:00:02",
        "192.168.1.101",
        "laptop",
        2,
    ));
    cpe.sim
        .connect_client(Client::wired("AA:BB:CC:00:00:03", "192.168.1.102", "nas"));
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    (cpe, acs)
}

fn names(body: &Body) -> Vec<String> {
    match body {
        Body::GetParameterNamesResponse(r) => {
            r.parameter_list.iter().map(|p| p.name.clone()).collect()
        }
        Body::GetParameterAttributesResponse(r) => {
            r.parameter_list.iter().map(|p| p.name.clone()).collect()
        }
        _ => panic!("expected a names or attributes response, got {body:?}"),
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn wildcards_read_a_column_in_one_request() {
    let (mut cpe, mut acs) = cpe().await;
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![
            gpv(&["Device.Hosts.Host.*.PhysAddress"]),
            gpv(&[
                "Device.WiFi.SSID.*.SSID",
                "Device.WiFi.AccessPoint.*.AssociatedDevice.*.MACAddress",
            ]),
            gpv(&["Device.BulkData.Profile.*.Enable"]),
            gpn("Device.Hosts.Host.*.", true),
            gpn("Device.WiFi.SSID.*.SSID", false),
            gpn("Device.WiFi.AccessPoint.*.AssociatedDevice.", false),
            gpa(&["Device.WiFi.SSID.*.SSID"]),
        ],
    )
    .await;
    let ssids = cpe.engine.read(|store: &Store| {
        ["Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.2.SSID"]
            .map(|p| store.value(p).unwrap().canonical_text())
    });
    assert_eq!(
        values(&answers[0]),
        pairs(&[
            ("Device.Hosts.Host.1.PhysAddress", "AA:BB:CC:00:00:01"),
            ("Device.Hosts.Host.2.PhysAddress", "AA:BB:CC:00:00:02"),
            ("Device.Hosts.Host.3.PhysAddress", "AA:BB:CC:00:00:03"),
        ])
    );
    assert_eq!(
        values(&answers[1]),
        pairs(&[
            ("Device.WiFi.SSID.1.SSID", &ssids[0]),
            ("Device.WiFi.SSID.2.SSID", &ssids[1]),
            (
                "Device.WiFi.AccessPoint.1.AssociatedDevice.1.MACAddress",
                "AA:BB:CC:00:00:01"
            ),
            (
                "Device.WiFi.AccessPoint.2.AssociatedDevice.1.MACAddress",
                "AA:BB:CC:00:00:02"
            ),
        ])
    );
    assert_eq!(values(&answers[2]), [], "no profile: an empty list");

    // NextLevel applies below each row the wildcard matches.
    let next = names(&answers[3]);
    for row in 1..=3 {
        assert!(next.contains(&format!("Device.Hosts.Host.{row}.PhysAddress")));
        assert!(!next.contains(&format!("Device.Hosts.Host.{row}.")));
    }
    assert!(
        next.iter().all(|n| n
            .strip_prefix("Device.Hosts.Host.")
            .is_some_and(|rest| { rest.trim_end_matches('.').split('.').count() == 2 })),
        "{next:?}"
    );
    assert_eq!(
        names(&answers[4]),
        ["Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.2.SSID"]
    );
    let tables = names(&answers[5]);
    for (table, row) in [(1, "1.MACAddress"), (2, "1.MACAddress")] {
        let table = format!("Device.WiFi.AccessPoint.{table}.AssociatedDevice.");
        assert!(tables.contains(&table), "{tables:?}");
        assert!(tables.contains(&format!("{table}{row}")), "{tables:?}");
    }
    assert_eq!(
        names(&answers[6]),
        ["Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.2.SSID"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn only_whole_instance_wildcards_in_reads_are_names() {
    let (mut cpe, mut acs) = cpe().await;
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![
            gpv(&["Device.WiFi.SSID.*.NoSuchParameter"]),
            gpv(&["Device.WiFi.SSID.*"]),
            gpv(&["Device.WiFi.SSID.1*.SSID"]),
            gpv(&["Device.WiFi.*.SSID.1.SSID"]),
            gpv(&["Device.WiFi.SSID.[Enable==true].SSID"]),
            gpv(&["Device.IP.Interface.1.LowerLayers+.Name"]),
            gpn("Device.WiFi.SSID.*.SSID", true),
        ],
    )
    .await;
    for (i, answer) in answers.iter().enumerate().take(6) {
        assert_eq!(fault_code(answer).0, 9005, "request {i}");
    }
    assert_eq!(fault_code(&answers[6]).0, 9003, "NextLevel on parameters");
}

#[tokio::test(flavor = "current_thread")]
async fn wildcards_are_refused_outside_the_three_reads() {
    let (mut cpe, mut acs) = cpe().await;
    let before = cpe.engine.read(Store::clone);
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![
            spv("Device.WiFi.SSID.*.SSID", "owned", "k"),
            Body::SetParameterAttributes(SetParameterAttributes {
                parameter_list: vec![attribute("Device.WiFi.SSID.*.SSID", Notification::Active)],
            }),
            Body::AddObject(AddObject {
                object_name: "Device.IP.Interface.*.IPv4Address.".into(),
                parameter_key: "k".into(),
            }),
            Body::DeleteObject(DeleteObject {
                object_name: "Device.NAT.PortMapping.*.".into(),
                parameter_key: "k".into(),
            }),
            gpa(&["Device.WiFi.SSID.1.SSID"]),
        ],
    )
    .await;
    assert_eq!(
        fault_code(&answers[0]),
        (9003, vec![("Device.WiFi.SSID.*.SSID".to_owned(), 9005)])
    );
    for (i, answer) in answers.iter().enumerate().take(4).skip(1) {
        assert_eq!(fault_code(answer).0, 9005, "request {i}");
    }
    let Body::GetParameterAttributesResponse(attributes) = &answers[4] else {
        panic!("{:?}", answers[4]);
    };
    assert_eq!(
        attributes.parameter_list[0].notification,
        Notification::Off,
        "the refused SetParameterAttributes set nothing"
    );
    assert!(
        cpe.engine.read(Store::clone) == before,
        "nothing was written"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn without_support_a_wildcard_is_an_invalid_name() {
    let (mut cpe, mut acs) = cpe().await;
    let flag = "Device.ManagementServer.InstanceWildcardsSupported";
    device_sets(&mut cpe, flag, "false").await;
    assert!(!cpe.session.settings().instance_wildcards_supported);
    let reads = || {
        vec![
            gpv(&["Device.WiFi.SSID.*.SSID"]),
            gpn("Device.WiFi.SSID.*.", false),
            gpa(&["Device.WiFi.SSID.*.SSID"]),
        ]
    };
    let answers = session(&mut cpe, &mut acs, reads()).await;
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(fault_code(answer).0, 9005, "request {i}");
    }
    device_sets(&mut cpe, flag, "true").await;
    let answers = session(&mut cpe, &mut acs, reads()).await;
    assert_eq!(values(&answers[0]).len(), 2);
    assert!(names(&answers[1]).contains(&"Device.WiFi.SSID.2.SSID".to_owned()));
    assert_eq!(names(&answers[2]).len(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn wildcards_and_aliases_mix() {
    let (mut cpe, mut acs) = cpe().await;
    device_sets(
        &mut cpe,
        "Device.ManagementServer.AliasBasedAddressing",
        "true",
    )
    .await;
    let answers = session(
        &mut cpe,
        &mut acs,
        vec![
            spv("Device.WiFi.AccessPoint.2.Alias", "guest", "k"),
            gpv(&["Device.WiFi.AccessPoint.[guest].AssociatedDevice.*.MACAddress"]),
            gpv(&["Device.WiFi.AccessPoint.*.AssociatedDevice.[nosuch].MACAddress"]),
        ],
    )
    .await;
    assert!(
        matches!(answers[0], Body::SetParameterValuesResponse(_)),
        "{:?}",
        answers[0]
    );
    assert_eq!(
        values(&answers[1]),
        pairs(&[(
            "Device.WiFi.AccessPoint.2.AssociatedDevice.1.MACAddress",
            "AA:BB:CC:00:00:02"
        )])
    );
    assert_eq!(fault_code(&answers[2]).0, 9005, "an alias after a wildcard");
}

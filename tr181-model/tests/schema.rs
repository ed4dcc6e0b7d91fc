//! Facts of TR-181 Device:2.19 read back through the generated tables, and the tables'
//! internal consistency (every reference from one item to another resolves).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use tr181_model::schema::{
    self, Access, ActiveNotify, BaseType, Protocol, Protocols, RefType, Reference, Status,
    TargetType, Version,
};

const BOTH: [Protocol; 2] = [Protocol::Cwmp, Protocol::Usp];

#[test]
fn device_info_software_version_is_a_forced_inform_string() {
    for protocol in BOTH {
        let p = schema::parameter("Device.DeviceInfo.SoftwareVersion", protocol).unwrap();
        assert_eq!(p.access(), Access::ReadOnly);
        assert_eq!(p.syntax().base(), BaseType::String);
        assert_eq!(p.syntax().sizes()[0].max_length(), Some(64));
        assert!(p.forced_inform());
        assert_eq!(p.active_notify(), ActiveNotify::ForceEnabled);
        assert_eq!(p.protocols(), Protocols::BOTH);
    }
}

/// The 9,012 parameter and 1,381 syntax entries are most of the schema's footprint in the
/// binary: rarely set syntax fields live in side tables, a name is a 4-byte range of the string
/// blob and a parameter's protocols and flags share a byte.
#[test]
fn table_entries_stay_small() {
    assert!(size_of::<schema::Parameter>() <= 10);
    assert!(size_of::<schema::Object>() <= 56);
    assert!(size_of::<schema::Syntax>() <= 28);
}

/// A list syntax points into the model's table of list facets, so only those can be given.
#[test]
fn with_list_takes_the_facets_of_the_models_lists() {
    let facet = schema::ListFacet::new(0, Some(8), None);
    let list = schema::Syntax::of(BaseType::UnsignedInt)
        .with_list(facet)
        .unwrap();
    assert_eq!(list.list(), Some(facet));
    assert_eq!(list.base(), BaseType::UnsignedInt);
    let foreign = schema::ListFacet::new(3, Some(5), Some(7));
    assert_eq!(schema::Syntax::of(BaseType::Int).with_list(foreign), None);
}

#[test]
fn alias_differs_between_the_variants() {
    let cwmp = schema::parameter("Device.WiFi.SSID.{i}.Alias", Protocol::Cwmp).unwrap();
    let usp = schema::parameter("Device.WiFi.SSID.{i}.Alias", Protocol::Usp).unwrap();
    assert_eq!(cwmp.access(), Access::ReadWrite);
    assert_eq!(usp.access(), Access::WriteOnceReadOnly);
    assert_eq!(cwmp.protocols(), Protocols::CWMP);
    assert_eq!(usp.protocols(), Protocols::USP);
    assert_eq!(usp.syntax().data_type(), Some("Alias"));
    assert_eq!(usp.syntax().sizes()[0].max_length(), Some(64));
    // Clamped to the version of the object that pulls the Alias component in.
    assert!(
        usp.version()
            >= Version {
                major: 2,
                minor: 0,
                patch: 0
            }
    );
}

#[test]
fn nat_port_mapping_has_its_composite_unique_key() {
    let table = schema::object("Device.NAT.PortMapping.{i}.", Protocol::Usp).unwrap();
    assert!(table.is_table());
    assert_eq!(table.access(), Access::ReadWrite);
    assert_eq!(table.min_entries(), 0);
    assert_eq!(table.max_entries(), None);
    assert_eq!(
        table.num_entries_parameter(),
        Some("PortMappingNumberOfEntries")
    );
    let keys: Vec<_> = table
        .unique_keys()
        .iter()
        .map(|k| (k.functional(), k.parameters().iter().collect::<Vec<_>>()))
        .collect();
    assert!(keys.contains(&(true, vec!["RemoteHost", "ExternalPort", "Protocol"])));
    assert!(keys.contains(&(false, vec!["Alias"])));
}

#[test]
fn commands_and_events_are_usp_only() {
    let reboot = schema::command("Device.Reboot()", Protocol::Usp).unwrap();
    assert!(!reboot.is_async());
    assert!(schema::command("Device.Reboot()", Protocol::Cwmp).is_none());

    let ping = schema::command("Device.IP.Diagnostics.IPPing()", Protocol::Usp).unwrap();
    assert!(ping.is_async());
    let host = ping.input().iter().find(|a| a.name() == "Host").unwrap();
    assert!(host.mandatory());
    assert!(
        ping.output()
            .iter()
            .any(|a| a.name() == "AverageResponseTime")
    );

    let download = schema::command(
        "Device.DeviceInfo.FirmwareImage.{i}.Download()",
        Protocol::Usp,
    )
    .unwrap();
    assert!(download.is_async());
    let url = download.input().iter().find(|a| a.name() == "URL").unwrap();
    assert!(url.mandatory());

    let boot = schema::event("Device.Boot!", Protocol::Usp).unwrap();
    let names: Vec<_> = boot.arguments().iter().map(|a| a.name()).collect();
    for name in ["Cause", "CommandKey", "FirmwareUpdated", "ParameterMap"] {
        assert!(names.contains(&name), "Boot! lacks {name}");
    }
    let cause = boot
        .arguments()
        .iter()
        .find(|a| a.name() == "Cause")
        .unwrap();
    assert!(cause.syntax().enumerations().contains("RemoteFactoryReset"));
}

#[test]
fn cwmp_keeps_diagnostics_objects_that_usp_replaced_by_commands() {
    let ping = schema::object("Device.IP.Diagnostics.IPPing.", Protocol::Cwmp).unwrap();
    let state = ping.parameter("DiagnosticsState", Protocol::Cwmp).unwrap();
    assert_eq!(state.access(), Access::ReadWrite);
    assert!(state.syntax().enumerations().contains("Requested"));
    assert!(
        state
            .syntax()
            .enumerations()
            .contains("Error_CannotResolveHostName")
    );
    assert!(schema::object("Device.IP.Diagnostics.IPPing.", Protocol::Usp).is_none());
    assert!(schema::object("Device.ManagementServer.", Protocol::Cwmp).is_some());
    assert!(schema::object("Device.LocalAgent.Subscription.{i}.", Protocol::Usp).is_some());
}

#[test]
fn data_types_resolve_through_their_bases() {
    let p = schema::parameter(
        "Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress",
        Protocol::Usp,
    )
    .unwrap();
    assert_eq!(p.syntax().data_type(), Some("IPv4Address"));
    assert_eq!(p.syntax().sizes()[0].max_length(), Some(15));
    assert!(
        p.syntax()
            .patterns()
            .iter()
            .any(|pat| pat.contains("25[0-5]"))
    );

    let mac = schema::parameter("Device.Ethernet.Interface.{i}.MACAddress", Protocol::Usp).unwrap();
    assert_eq!(mac.syntax().data_type(), Some("MACAddress"));

    let bytes =
        schema::parameter("Device.IP.Interface.{i}.Stats.BytesSent", Protocol::Usp).unwrap();
    assert_eq!(bytes.syntax().base(), BaseType::UnsignedLong);
    assert_eq!(bytes.syntax().data_type(), Some("StatsCounter64"));
}

#[test]
fn references_keep_their_targets() {
    let lower = schema::parameter("Device.WiFi.SSID.{i}.LowerLayers", Protocol::Usp).unwrap();
    assert_eq!(lower.syntax().list().unwrap().max_length(), Some(1024));
    let Some(Reference::Path(reference)) = lower.syntax().reference() else {
        panic!("LowerLayers is a path reference");
    };
    assert_eq!(reference.ref_type(), RefType::Strong);
    assert_eq!(reference.target_type(), TargetType::Row);
    // `#.SSID.` relative to `Device.WiFi.AccessPoint.{i}.` is resolved by the generator.
    let ssid =
        schema::parameter("Device.WiFi.AccessPoint.{i}.SSIDReference", Protocol::Usp).unwrap();
    let Some(Reference::Path(reference)) = ssid.syntax().reference() else {
        panic!("SSIDReference is a path reference");
    };
    assert_eq!(reference.target_parents(), ["Device.WiFi.SSID."]);
}

#[test]
fn deleted_items_are_gone_and_deprecated_ones_marked() {
    let protocols = schema::parameter("Device.BulkData.Protocols", Protocol::Usp).unwrap();
    assert!(!protocols.syntax().enumerations().contains("Streaming"));
    assert!(protocols.syntax().enumerations().contains("USPEventNotif"));
    let deprecated = schema::objects(Protocol::Usp)
        .flat_map(|o| o.parameters(Protocol::Usp))
        .filter(|p| p.status() != Status::Current)
        .count();
    assert!(deprecated > 0);
}

#[test]
fn every_internal_reference_resolves() {
    for protocol in BOTH {
        let mut objects = 0;
        for object in schema::objects(protocol) {
            objects += 1;
            assert_eq!(schema::object(object.path(), protocol), Some(object));
            // Parents exist, and the table counter lives in the parent.
            if object.path() != "Device." {
                let parent = parent(object.path());
                let parent = schema::object(parent, protocol)
                    .unwrap_or_else(|| panic!("{} has no parent {parent}", object.path()));
                if let Some(counter) = object.num_entries_parameter() {
                    let counter = parent.parameter(counter, protocol).unwrap_or_else(|| {
                        panic!("{}: no {counter} in {}", object.path(), parent.path())
                    });
                    assert_eq!(counter.syntax().base(), BaseType::UnsignedInt);
                }
                assert!(parent.children(protocol).any(|c| c == object));
            }
            for key in object.unique_keys() {
                for name in key.parameters() {
                    assert!(
                        object.parameter(name, protocol).is_some(),
                        "{}: unique key {name} is not a parameter",
                        object.path()
                    );
                }
            }
            if let Some(enable) = object.enable_parameter() {
                assert!(object.parameter(enable, protocol).is_some());
            }
            for p in object.parameters(protocol) {
                let path = format!("{}{}", object.path(), p.name());
                assert_eq!(schema::parameter(&path, protocol), Some(p));
                if let Some(Reference::Path(reference)) = p.syntax().reference() {
                    for target in reference.target_parents() {
                        // A row reference names the table (`Device.IP.Interface.`).
                        let table = format!("{target}{{i}}.");
                        assert!(
                            schema::object(target, protocol).is_some()
                                || schema::object(&table, protocol).is_some()
                                || target.contains("{i}"),
                            "{path}: target parent {target} is not in the model"
                        );
                    }
                }
            }
            for c in object.commands(protocol) {
                let path = format!("{}{}", object.path(), c.name());
                assert_eq!(schema::command(&path, protocol), Some(c));
            }
            for e in object.events(protocol) {
                let path = format!("{}{}", object.path(), e.name());
                assert_eq!(schema::event(&path, protocol), Some(e));
            }
        }
        let expected = match protocol {
            Protocol::Cwmp => 860,
            Protocol::Usp => 809,
        };
        assert_eq!(objects, expected);
    }
}

#[test]
fn unknown_paths_are_not_found() {
    for path in [
        "",
        "Device",
        "Device.Nope.",
        "Device.WiFi.SSID.1.",
        "Device.WiFi.SSID.{i}.Nope",
    ] {
        assert!(schema::object(path, Protocol::Usp).is_none(), "{path}");
        assert!(schema::parameter(path, Protocol::Usp).is_none(), "{path}");
    }
}

fn parent(path: &str) -> &str {
    let trimmed = path.strip_suffix('.').unwrap();
    let trimmed = trimmed.strip_suffix(".{i}").unwrap_or(trimmed);
    &path[..=trimmed.rfind('.').unwrap()]
}

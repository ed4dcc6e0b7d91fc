//! Store rules, one group per rule, against the generated TR-181 tables.

use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use super::*;
use crate::ValueRule;
use crate::keys::{DeviceInfo, WiFiSSID};
use crate::path::Path;
use crate::schema::Protocol::{Cwmp, Usp};

const USP: Origin = Origin::Controller(Usp);
const CWMP: Origin = Origin::Controller(Cwmp);
const DEVICE: Origin = Origin::Device;

fn add(store: &mut Store, origin: Origin, table: &str, params: &[(&str, &str)]) -> u32 {
    let mut txn = store.transaction(origin);
    let n = txn.add(table, params).unwrap();
    txn.commit().unwrap();
    n
}

fn set(store: &mut Store, origin: Origin, path: &str, text: &str) -> Result<(), Error> {
    let mut txn = store.transaction(origin);
    txn.set(path, text)?;
    txn.commit().map(drop)
}

fn delete(store: &mut Store, origin: Origin, path: &str) {
    let mut txn = store.transaction(origin);
    txn.delete(path).unwrap();
    txn.commit().unwrap();
}

fn text(store: &Store, path: &str) -> String {
    store.value(path).unwrap().to_string()
}

fn resolve(store: &Store, path: &str, protocol: Protocol) -> Result<Vec<String>, Error> {
    let parsed = Path::parse(path, store.limits())?;
    let found = store.resolve(&parsed, protocol)?;
    Ok(found
        .iter()
        .map(|r| match r {
            Resolved::Parameter { value, .. } => format!("{}={value}", found.path(r)),
            _ => found.path(r),
        })
        .collect())
}

fn changes(store: &Store, since: u64) -> Vec<Change> {
    store
        .changes_since(since)
        .map(|r| r.change.clone())
        .collect()
}

// --- Creation -------------------------------------------------------------------------------

#[test]
fn new_store_has_the_always_present_objects() {
    let store = Store::new();
    assert_eq!(text(&store, "Device.DeviceInfo.SoftwareVersion"), "");
    assert_eq!(text(&store, "Device.WiFi.SSIDNumberOfEntries"), "0");
    assert_eq!(text(&store, "Device.NAT.PortMappingNumberOfEntries"), "0");
    // Object defaults from the schema.
    assert_eq!(text(&store, "Device.IP.IPv4Enable"), "false");
    // Tables start empty.
    assert_eq!(
        store.names("Device.WiFi.SSID.", Usp, true).unwrap(),
        Vec::new()
    );
    // Protocol-specific objects exist only for their protocol.
    assert!(
        store
            .parameters("Device.ManagementServer.", Cwmp, None)
            .is_ok()
    );
    assert!(matches!(
        store.parameters("Device.ManagementServer.", Usp, None),
        Err(Error::UnknownPath { .. })
    ));
    assert!(store.parameters("Device.LocalAgent.", Usp, None).is_ok());
    assert!(matches!(
        store.parameters("Device.LocalAgent.", Cwmp, None),
        Err(Error::UnknownPath { .. })
    ));
    assert!(matches!(
        store.value("Device.NoSuchThing.X"),
        Err(Error::UnknownPath { .. })
    ));
}

#[test]
fn new_store_size() {
    let store = Store::new();
    let mut objects = 0usize;
    let mut values = 0usize;
    let mut count = |node: &Node, _: &Route| {
        objects += 1;
        values += node.params().count();
        true
    };
    tree::for_each_object(&store.root, &mut Route::new(), &mut count);
    // Every always-present single-instance object of the full model, and nothing more.
    assert!(objects > 100 && objects < 900, "{objects} objects");
    assert!(values > 1000 && values < 10_000, "{values} values");
}

// --- Typed access ----------------------------------------------------------------------------

#[test]
fn typed_get_with_keys() {
    let mut store = Store::new();
    let mut txn = store.transaction(DEVICE);
    txn.set_key(DeviceInfo::SOFTWARE_VERSION, "1.2.3".into())
        .unwrap();
    let n = txn.add("Device.WiFi.SSID.", &[("SSID", "home")]).unwrap();
    txn.commit().unwrap();
    let version: String = store.get(DeviceInfo::SOFTWARE_VERSION).unwrap();
    assert_eq!(version, "1.2.3");
    assert_eq!(
        store.get(&WiFiSSID::SSID.at(&[n]).unwrap()).unwrap(),
        "home"
    );
    assert!(!store.get(&WiFiSSID::ENABLE.at(&[n]).unwrap()).unwrap());

    let mut txn = store.transaction(DEVICE);
    txn.set_key(&WiFiSSID::ENABLE.at(&[n]).unwrap(), true)
        .unwrap();
    txn.commit().unwrap();
    assert!(store.get(&WiFiSSID::ENABLE.at(&[n]).unwrap()).unwrap());
    // A key with an `{i}` slot needs `at`.
    assert!(store.get(WiFiSSID::SSID).is_err());
    assert!(matches!(
        store.get(&WiFiSSID::SSID.at(&[n + 1]).unwrap()),
        Err(Error::NoSuchInstance { .. })
    ));
}

// --- Access ---------------------------------------------------------------------------------

#[test]
fn read_only_refused_for_controllers_allowed_for_the_device() {
    let mut store = Store::new();
    for origin in [USP, CWMP] {
        assert!(matches!(
            set(&mut store, origin, "Device.DeviceInfo.SoftwareVersion", "9"),
            Err(Error::NotWritable { .. })
        ));
    }
    set(&mut store, DEVICE, "Device.DeviceInfo.SoftwareVersion", "9").unwrap();
    assert_eq!(text(&store, "Device.DeviceInfo.SoftwareVersion"), "9");
    let n = add(&mut store, USP, "Device.WiFi.SSID.", &[]);
    let status = format!("Device.WiFi.SSID.{n}.Status");
    assert!(matches!(
        set(&mut store, USP, &status, "Up"),
        Err(Error::NotWritable { .. })
    ));
    set(&mut store, DEVICE, &status, "Up").unwrap();
    // Read-only tables: only the device adds and deletes rows.
    let ap = add(&mut store, USP, "Device.WiFi.AccessPoint.", &[]);
    let assoc = format!("Device.WiFi.AccessPoint.{ap}.AssociatedDevice.");
    let mut txn = store.transaction(USP);
    assert!(matches!(
        txn.add(&assoc, &[]),
        Err(Error::NotCreatable { .. })
    ));
    drop(txn);
    let d = add(
        &mut store,
        DEVICE,
        &assoc,
        &[("MACAddress", "00:11:22:33:44:55")],
    );
    let mut txn = store.transaction(CWMP);
    assert!(matches!(
        txn.delete(&format!("{assoc}{d}.")),
        Err(Error::NotCreatable { .. })
    ));
}

#[test]
fn values_are_validated() {
    let mut store = Store::new();
    let n = add(&mut store, USP, "Device.WiFi.SSID.", &[]);
    let ssid = format!("Device.WiFi.SSID.{n}.SSID");
    assert!(matches!(
        set(&mut store, USP, &ssid, &"x".repeat(33)),
        Err(Error::InvalidValue { .. })
    ));
    let enable = format!("Device.WiFi.SSID.{n}.Enable");
    assert!(matches!(
        set(&mut store, USP, &enable, "maybe"),
        Err(Error::InvalidValue { .. })
    ));
    set(&mut store, CWMP, &enable, "1").unwrap();
    assert_eq!(store.value(&enable).unwrap(), &Value::Boolean(true));
    // Objects are not parameters; `{i}` and malformed numbers are not instance paths.
    assert!(matches!(
        set(&mut store, USP, "Device.WiFi.", "x"),
        Err(Error::UnknownPath { .. })
    ));
    assert!(matches!(
        store.value("Device.WiFi.SSID.{i}.SSID"),
        Err(Error::InvalidPath { .. })
    ));
    assert!(matches!(
        store.value("Device.WiFi.SSID.01.SSID"),
        Err(Error::InvalidPath { .. })
    ));
    assert!(matches!(
        store.value("Device.WiFi.SSID.7.SSID"),
        Err(Error::NoSuchInstance { .. })
    ));
}

#[test]
fn hidden_values_read_empty_for_controllers() {
    let mut store = Store::new();
    let ap = add(&mut store, USP, "Device.WiFi.AccessPoint.", &[]);
    let key = format!("Device.WiFi.AccessPoint.{ap}.Security.KeyPassphrase");
    let since = store.last_seq();
    set(&mut store, USP, &key, "secret-passphrase").unwrap();
    assert_eq!(text(&store, &key), "secret-passphrase");
    let shown = store.parameters(&key, Usp, None).unwrap();
    assert_eq!(shown[0].value.to_string(), "");
    assert_eq!(resolve(&store, &key, Usp).unwrap(), vec![format!("{key}=")]);
    let Change::ValueChanged { old, new, .. } = &changes(&store, since)[0] else {
        panic!("expected a value change");
    };
    assert_eq!(
        (old.to_string(), new.to_string()),
        (String::new(), String::new())
    );
    // Search expressions cannot probe it either.
    let probe = "Device.WiFi.AccessPoint.[Security.KeyPassphrase==\"secret-passphrase\"].";
    assert_eq!(resolve(&store, probe, Usp).unwrap(), Vec::<String>::new());
}

// --- Instance numbers -----------------------------------------------------------------------

#[test]
fn instance_numbers_are_never_reused() {
    let mut store = Store::new();
    let a = add(&mut store, USP, "Device.WiFi.SSID.", &[]);
    let b = add(&mut store, USP, "Device.WiFi.SSID.", &[]);
    assert_eq!((a, b), (1, 2));
    delete(&mut store, USP, "Device.WiFi.SSID.2.");
    assert_eq!(add(&mut store, USP, "Device.WiFi.SSID.", &[]), 3);
    delete(&mut store, USP, "Device.WiFi.SSID.1.");
    delete(&mut store, USP, "Device.WiFi.SSID.3.");
    assert_eq!(add(&mut store, USP, "Device.WiFi.SSID.", &[]), 4);
    delete(&mut store, USP, "Device.WiFi.SSID.4.");

    // The counter survives a save/load round trip, even with no rows left.
    let json = serde_json::to_string(&store).unwrap();
    let mut loaded: Store = serde_json::from_str(&json).unwrap();
    assert_eq!(loaded, store);
    assert_eq!(add(&mut loaded, USP, "Device.WiFi.SSID.", &[]), 5);
    // Nested tables count on their own.
    let ip = add(&mut loaded, USP, "Device.IP.Interface.", &[]);
    let table = format!("Device.IP.Interface.{ip}.IPv4Address.");
    assert_eq!(add(&mut loaded, USP, &table, &[]), 1);
    assert_eq!(add(&mut loaded, USP, &table, &[]), 2);
}

#[test]
fn device_may_choose_free_instance_numbers() {
    let mut store = Store::new();
    let mut txn = store.transaction(DEVICE);
    txn.add_numbered("Device.WiFi.SSID.", 7, &[]).unwrap();
    assert!(matches!(
        txn.add_numbered("Device.WiFi.SSID.", 7, &[]),
        Err(Error::ApiMisuse(_))
    ));
    txn.commit().unwrap();
    assert_eq!(add(&mut store, USP, "Device.WiFi.SSID.", &[]), 8);
    let mut txn = store.transaction(USP);
    assert!(matches!(
        txn.add_numbered("Device.WiFi.SSID.", 20, &[]),
        Err(Error::ApiMisuse(_))
    ));
}

/// Rows are kept sorted by number in one vector: numbers chosen below existing ones go in
/// between, and a deleted row that a rollback restores goes back to its place.
#[test]
fn rows_stay_in_number_order() {
    let mut store = Store::new();
    let mut txn = store.transaction(DEVICE);
    for n in [5, 2, 9, 7] {
        txn.add_numbered(
            "Device.NAT.PortMapping.",
            n,
            &[("Description", &n.to_string())],
        )
        .unwrap();
    }
    txn.commit().unwrap();
    let rows = |store: &Store| resolve(store, "Device.NAT.PortMapping.*.Description", Usp).unwrap();
    let all = [2, 5, 7, 9].map(|n| format!("Device.NAT.PortMapping.{n}.Description={n}"));
    assert_eq!(rows(&store), all);
    assert_eq!(text(&store, "Device.NAT.PortMapping.7.Description"), "7");
    let mut txn = store.transaction(DEVICE);
    txn.delete("Device.NAT.PortMapping.5.").unwrap();
    txn.delete("Device.NAT.PortMapping.2.").unwrap();
    assert_eq!(rows(&txn).len(), 2);
    txn.rollback();
    assert_eq!(rows(&store), all);
    assert_eq!(text(&store, "Device.NAT.PortMapping.5.Description"), "5");
    assert_eq!(add(&mut store, USP, "Device.NAT.PortMapping.", &[]), 10);
}

// --- NumberOfEntries ------------------------------------------------------------------------

#[test]
fn number_of_entries_follows_add_and_delete() {
    let mut store = Store::new();
    for _ in 0..3 {
        add(&mut store, USP, "Device.NAT.PortMapping.", &[]);
    }
    assert_eq!(text(&store, "Device.NAT.PortMappingNumberOfEntries"), "3");
    delete(&mut store, CWMP, "Device.NAT.PortMapping.2.");
    assert_eq!(text(&store, "Device.NAT.PortMappingNumberOfEntries"), "2");
    let ip = add(&mut store, CWMP, "Device.IP.Interface.", &[]);
    let counter = format!("Device.IP.Interface.{ip}.IPv4AddressNumberOfEntries");
    add(
        &mut store,
        CWMP,
        &format!("Device.IP.Interface.{ip}.IPv4Address."),
        &[],
    );
    assert_eq!(text(&store, &counter), "1");
    // Nobody writes a counter, not even the device.
    for origin in [USP, DEVICE] {
        assert!(matches!(
            set(
                &mut store,
                origin,
                "Device.NAT.PortMappingNumberOfEntries",
                "9"
            ),
            Err(Error::NotWritable { .. })
        ));
    }
}

// --- Alias ----------------------------------------------------------------------------------

#[test]
fn alias_is_assigned_when_not_given() {
    let mut store = Store::new();
    let n = add(&mut store, USP, "Device.WiFi.SSID.", &[]);
    assert_eq!(
        text(&store, &format!("Device.WiFi.SSID.{n}.Alias")),
        "cpe-1"
    );
    let m = add(&mut store, USP, "Device.WiFi.SSID.", &[("Alias", "cpe-3")]);
    assert_eq!(
        text(&store, &format!("Device.WiFi.SSID.{m}.Alias")),
        "cpe-3"
    );
    // Row 3 would be cpe-3, which a controller took.
    let k = add(&mut store, USP, "Device.WiFi.SSID.", &[]);
    assert_eq!(k, 3);
    assert_eq!(text(&store, "Device.WiFi.SSID.3.Alias"), "cpe-3-2");
    // Aliases start with a letter.
    let mut txn = store.transaction(USP);
    assert!(matches!(
        txn.add("Device.WiFi.SSID.", &[("Alias", "1st")]),
        Err(Error::InvalidValue { .. })
    ));
    assert!(matches!(
        txn.add("Device.WiFi.SSID.", &[("Alias", "")]),
        Err(Error::InvalidValue { .. })
    ));
}

#[test]
fn a_name_that_is_a_label_is_assigned_when_not_given() {
    // `Device.MQTT.Client.{i}.Name` is a writable unique key of its own, not functional.
    let mut store = Store::new();
    for origin in [DEVICE, USP] {
        add(&mut store, origin, "Device.MQTT.Client.", &[]);
    }
    assert_eq!(text(&store, "Device.MQTT.Client.1.Name"), "cpe-1");
    assert_eq!(text(&store, "Device.MQTT.Client.2.Name"), "cpe-2");
    // Row 4 would be cpe-4, which a controller took for row 3 (in the same transaction too).
    add(
        &mut store,
        CWMP,
        "Device.MQTT.Client.",
        &[("Name", "cpe-4")],
    );
    assert_eq!(add(&mut store, CWMP, "Device.MQTT.Client.", &[]), 4);
    assert_eq!(text(&store, "Device.MQTT.Client.4.Name"), "cpe-4-2");
    let mut txn = store.transaction(USP);
    txn.add("Device.MQTT.Client.", &[("Name", "cpe-6")])
        .unwrap();
    assert_eq!(txn.add("Device.MQTT.Client.", &[]).unwrap(), 6);
    txn.commit().unwrap();
    assert_eq!(text(&store, "Device.MQTT.Client.6.Name"), "cpe-6-2");
    // A name given is kept; a `Name` that is no key (`Device.BulkData.Profile.{i}.`) is left
    // alone.
    add(
        &mut store,
        USP,
        "Device.MQTT.Client.",
        &[("Name", "broker-b")],
    );
    assert_eq!(text(&store, "Device.MQTT.Client.7.Name"), "broker-b");
    let profile = add(&mut store, USP, "Device.BulkData.Profile.", &[]);
    assert_eq!(
        text(&store, &format!("Device.BulkData.Profile.{profile}.Name")),
        ""
    );
}

#[test]
fn alias_is_write_once_for_usp_and_writable_for_cwmp() {
    let mut store = Store::new();
    let n = add(&mut store, USP, "Device.WiFi.SSID.", &[]);
    let alias = format!("Device.WiFi.SSID.{n}.Alias");
    assert!(matches!(
        set(&mut store, USP, &alias, "home"),
        Err(Error::NotWritable { .. })
    ));
    // Within the transaction that creates the row, USP may still set it.
    let mut txn = store.transaction(USP);
    let m = txn.add("Device.WiFi.SSID.", &[]).unwrap();
    txn.set(&format!("Device.WiFi.SSID.{m}.Alias"), "guest")
        .unwrap();
    txn.commit().unwrap();
    assert_eq!(
        text(&store, &format!("Device.WiFi.SSID.{m}.Alias")),
        "guest"
    );
    set(&mut store, CWMP, &alias, "home").unwrap();
    assert_eq!(text(&store, &alias), "home");
}

// --- Unique keys ----------------------------------------------------------------------------

#[test]
fn duplicate_alias_is_refused_at_commit() {
    let mut store = Store::new();
    add(&mut store, USP, "Device.WiFi.SSID.", &[("Alias", "home")]);
    let before = store.clone();
    let seq = store.last_seq();
    let mut txn = store.transaction(USP);
    txn.add("Device.WiFi.SSID.", &[("Alias", "home")]).unwrap();
    assert!(matches!(txn.check(), Err(Error::DuplicateKey { .. })));
    let error = txn.commit().unwrap_err();
    assert_eq!(
        error,
        Error::DuplicateKey {
            path: "Device.WiFi.SSID.2.".into(),
            key: "Alias".into(),
            existing: "Device.WiFi.SSID.1.".into(),
        }
    );
    assert_eq!(error.usp_error(), 7025);
    assert_eq!(store, before);
    assert_eq!(store.last_seq(), seq);
    // The failed row's number was not consumed.
    assert_eq!(add(&mut store, USP, "Device.WiFi.SSID.", &[]), 2);
}

#[test]
fn nat_port_mapping_composite_key() {
    let mut store = Store::new();
    let rule = [
        ("Enable", "true"),
        ("RemoteHost", ""),
        ("ExternalPort", "8080"),
        ("Protocol", "TCP"),
        ("InternalClient", "192.168.1.10"),
        ("InternalPort", "80"),
    ];
    add(&mut store, USP, "Device.NAT.PortMapping.", &rule);
    // Same three key values on another enabled row: refused.
    let mut txn = store.transaction(USP);
    txn.add("Device.NAT.PortMapping.", &rule).unwrap();
    let Err(Error::DuplicateKey { key, .. }) = txn.commit() else {
        panic!("expected a duplicate key");
    };
    assert_eq!(key, "RemoteHost,ExternalPort,Protocol");
    // One key value differs: fine.
    let mut udp = rule;
    udp[3] = ("Protocol", "UDP");
    add(&mut store, USP, "Device.NAT.PortMapping.", &udp);
    // Functional keys bind only enabled rows (the table has an Enable parameter) ...
    let mut disabled = rule;
    disabled[0] = ("Enable", "false");
    let n = add(&mut store, CWMP, "Device.NAT.PortMapping.", &disabled);
    // ... until the row is enabled.
    let enable = format!("Device.NAT.PortMapping.{n}.Enable");
    assert!(matches!(
        set(&mut store, CWMP, &enable, "true"),
        Err(Error::DuplicateKey { .. })
    ));
    // A set that makes two rows collide is checked over the final state of the transaction.
    let mut txn = store.transaction(CWMP);
    txn.set(&format!("Device.NAT.PortMapping.{n}.ExternalPort"), "8081")
        .unwrap();
    txn.set(&enable, "true").unwrap();
    txn.commit().unwrap();
    let port = format!("Device.NAT.PortMapping.{n}.ExternalPort");
    let mut txn = store.transaction(CWMP);
    txn.set(&port, "8080").unwrap();
    assert!(matches!(txn.check(), Err(Error::DuplicateKey { .. })));
    txn.set(&port, "8082").unwrap();
    txn.commit().unwrap();
    assert_eq!(text(&store, &port), "8082");
}

/// The commit checks only the rows it touched, against the table's index of key values: every
/// way a duplicate can arise is still refused, once the index exists and after it went stale.
#[test]
fn duplicate_keys_are_refused_in_every_way() {
    const TABLE: &str = "Device.NAT.PortMapping.";
    fn rule(port: &str) -> [(&'static str, String); 5] {
        [
            ("Enable", "true".into()),
            ("ExternalPort", port.into()),
            ("Protocol", "TCP".into()),
            ("InternalClient", "192.168.1.10".into()),
            ("InternalPort", "80".into()),
        ]
    }
    fn params<'r>(rule: &'r [(&'static str, String)]) -> Vec<(&'static str, &'r str)> {
        rule.iter().map(|(n, v)| (*n, v.as_str())).collect()
    }
    let refused = |result: Result<Range<u64>, Error>, dup: u32, existing: u32| match result {
        Err(Error::DuplicateKey {
            path,
            existing: other,
            ..
        }) => {
            assert_eq!(path, format!("{TABLE}{dup}."));
            assert_eq!(other, format!("{TABLE}{existing}."));
        }
        other => panic!("expected a duplicate key, got {other:?}"),
    };
    let mut store = Store::new();
    // Enough committed rows that the index holds stale entries and is rebuilt on the way.
    for port in 1..=40 {
        add(&mut store, USP, TABLE, &params(&rule(&port.to_string())));
    }
    for n in 1..=40 {
        set(
            &mut store,
            USP,
            &format!("{TABLE}{n}.ExternalPort"),
            &(1000 + n).to_string(),
        )
        .unwrap();
    }
    let before = store.clone();
    // An add that repeats a committed row's key.
    let mut txn = store.transaction(USP);
    txn.add(TABLE, &params(&rule("1007"))).unwrap();
    refused(txn.commit(), 41, 7);
    // A set of a key parameter onto a committed row's key, and an enable of a row with one.
    let mut txn = store.transaction(USP);
    txn.set(&format!("{TABLE}3.ExternalPort"), "1009").unwrap();
    refused(txn.commit(), 3, 9);
    set(&mut store, USP, &format!("{TABLE}3.Enable"), "false").unwrap();
    set(&mut store, USP, &format!("{TABLE}3.ExternalPort"), "1009").unwrap();
    let mut txn = store.transaction(USP);
    txn.set(&format!("{TABLE}3.Enable"), "true").unwrap();
    refused(txn.commit(), 3, 9);
    set(&mut store, USP, &format!("{TABLE}3.ExternalPort"), "1003").unwrap();
    set(&mut store, USP, &format!("{TABLE}3.Enable"), "true").unwrap();
    // Two new rows with the same key in one transaction, and two changed rows.
    let mut txn = store.transaction(USP);
    txn.add(TABLE, &params(&rule("5000"))).unwrap();
    txn.add(TABLE, &params(&rule("5000"))).unwrap();
    refused(txn.commit(), 42, 41);
    let mut txn = store.transaction(USP);
    txn.set(&format!("{TABLE}1.ExternalPort"), "6000").unwrap();
    txn.set(&format!("{TABLE}2.ExternalPort"), "6000").unwrap();
    refused(txn.commit(), 2, 1);
    // Swapping two rows' keys in one transaction is no duplicate.
    let mut txn = store.transaction(USP);
    txn.set(&format!("{TABLE}1.ExternalPort"), "1002").unwrap();
    txn.set(&format!("{TABLE}2.ExternalPort"), "1001").unwrap();
    txn.commit().unwrap();
    // A rolled-back row leaves nothing behind, and its key is taken again by the next add.
    let mut txn = store.transaction(USP);
    let n = txn.add(TABLE, &params(&rule("7000"))).unwrap();
    txn.rollback();
    assert_eq!(add(&mut store, USP, TABLE, &params(&rule("7000"))), n);
    let mut txn = store.transaction(USP);
    txn.add(TABLE, &params(&rule("7000"))).unwrap();
    refused(txn.commit(), n + 1, n);
    // A rolled-back key change restores the old key, which still binds.
    let mut txn = store.transaction(USP);
    txn.set(&format!("{TABLE}5.ExternalPort"), "7100").unwrap();
    txn.rollback();
    let mut txn = store.transaction(USP);
    txn.add(TABLE, &params(&rule("1005"))).unwrap();
    refused(txn.commit(), n + 1, 5);
    // A deleted row's key is free, also for a row added in the same transaction.
    delete(&mut store, USP, &format!("{TABLE}{n}."));
    let mut txn = store.transaction(USP);
    txn.delete(&format!("{TABLE}4.")).unwrap();
    let m = txn.add(TABLE, &params(&rule("1004"))).unwrap();
    txn.add(TABLE, &params(&rule("7000"))).unwrap();
    txn.commit().unwrap();
    assert_eq!(text(&store, &format!("{TABLE}{m}.ExternalPort")), "1004");
    // A loaded store has no index yet: its first commit checks by a full scan.
    let json = serde_json::to_string(&before).unwrap();
    for mut copy in [before, serde_json::from_str::<Store>(&json).unwrap()] {
        let mut txn = copy.transaction(USP);
        txn.add(TABLE, &params(&rule("1040"))).unwrap();
        refused(txn.commit(), 41, 40);
    }
}

#[test]
fn read_only_keys_are_left_to_the_device() {
    // SSID's functional key is its read-only Name, assigned by the device.
    let mut store = Store::new();
    add(&mut store, USP, "Device.WiFi.SSID.", &[("Enable", "true")]);
    add(&mut store, USP, "Device.WiFi.SSID.", &[("Enable", "true")]);
    assert_eq!(
        store
            .instances("Device.WiFi.SSID.", Usp, true)
            .unwrap()
            .len(),
        2
    );
}

// --- Transactions ---------------------------------------------------------------------------

#[test]
fn rollback_leaves_no_trace() {
    let mut store = Store::new();
    add(&mut store, USP, "Device.WiFi.SSID.", &[("SSID", "a")]);
    add(&mut store, USP, "Device.WiFi.SSID.", &[("SSID", "b")]);
    let ap = add(
        &mut store,
        USP,
        "Device.WiFi.AccessPoint.",
        &[("SSIDReference", "Device.WiFi.SSID.1")],
    );
    let before = store.clone();
    let seq = store.last_seq();
    let json = serde_json::to_string(&store).unwrap();

    let undo_all = |store: &mut Store, explicit: bool| {
        let mut txn = store.transaction(USP);
        txn.set("Device.WiFi.SSID.1.SSID", "changed").unwrap();
        let n = txn.add("Device.WiFi.SSID.", &[("SSID", "c")]).unwrap();
        txn.set(&format!("Device.WiFi.SSID.{n}.Enable"), "true")
            .unwrap();
        txn.delete("Device.WiFi.SSID.2.").unwrap();
        txn.delete("Device.WiFi.SSID.1.").unwrap(); // also clears AccessPoint.1.SSIDReference
        assert_eq!(
            txn.value(&format!("Device.WiFi.AccessPoint.{ap}.SSIDReference"))
                .unwrap()
                .to_string(),
            ""
        );
        assert_eq!(
            txn.value("Device.WiFi.SSIDNumberOfEntries")
                .unwrap()
                .to_string(),
            "1"
        );
        if explicit {
            txn.rollback();
        }
    };
    undo_all(&mut store, true);
    assert_eq!(store, before);
    assert_eq!(store.last_seq(), seq);
    assert_eq!(serde_json::to_string(&store).unwrap(), json);
    undo_all(&mut store, false); // dropped
    assert_eq!(store, before);
    assert_eq!(store.last_seq(), seq);
    assert_eq!(serde_json::to_string(&store).unwrap(), json);
    assert_eq!(add(&mut store, USP, "Device.WiFi.SSID.", &[]), 3);
}

#[test]
fn savepoints_undo_part_of_a_transaction() {
    let mut store = Store::new();
    let seq = store.last_seq();
    let mut txn = store.transaction(USP);
    let a = txn.add("Device.WiFi.SSID.", &[("SSID", "kept")]).unwrap();
    let savepoint = txn.savepoint();
    let b = txn
        .add("Device.WiFi.SSID.", &[("SSID", "dropped")])
        .unwrap();
    txn.set(&format!("Device.WiFi.SSID.{a}.SSID"), "also dropped")
        .unwrap();
    assert_eq!(b, 2);
    txn.rollback_to(savepoint);
    let range = txn.commit().unwrap();
    assert_eq!(text(&store, "Device.WiFi.SSID.1.SSID"), "kept");
    assert!(matches!(
        store.value("Device.WiFi.SSID.2.SSID"),
        Err(Error::NoSuchInstance { .. })
    ));
    assert_eq!(range, seq + 1..seq + 3); // ObjectCreated + SSIDNumberOfEntries
}

#[test]
fn failed_operations_change_nothing() {
    let mut store = Store::new();
    let before = store.clone();
    let mut txn = store.transaction(USP);
    // The second initial value is bad: no row is created.
    assert!(
        txn.add(
            "Device.WiFi.SSID.",
            &[("SSID", "ok"), ("Enable", "perhaps")]
        )
        .is_err()
    );
    assert!(matches!(
        txn.add("Device.WiFi.SSID.", &[("Status", "Up")]),
        Err(Error::NotWritable { .. })
    ));
    assert!(matches!(
        txn.add("Device.WiFi.SSID.", &[("Nope", "1")]),
        Err(Error::UnknownPath { .. })
    ));
    assert!(matches!(
        txn.add("Device.WiFi.", &[]),
        Err(Error::NotATable { .. })
    ));
    assert!(matches!(
        txn.delete("Device.WiFi.SSID."),
        Err(Error::NotATable { .. })
    ));
    assert_eq!(txn.commit().unwrap(), 1..1);
    assert_eq!(store, before);
}

#[test]
fn initial_values_may_name_child_objects() {
    let mut store = Store::new();
    let ap = add(
        &mut store,
        CWMP,
        "Device.WiFi.AccessPoint.",
        &[("Security.ModeEnabled", "WPA2-Personal")],
    );
    assert_eq!(
        text(
            &store,
            &format!("Device.WiFi.AccessPoint.{ap}.Security.ModeEnabled")
        ),
        "WPA2-Personal"
    );
}

// --- Change log -----------------------------------------------------------------------------

#[test]
fn change_log_records_commits_in_order() {
    let mut store = Store::new();
    assert_eq!(store.last_seq(), 0);
    let n = add(&mut store, USP, "Device.WiFi.SSID.", &[("SSID", "home")]);
    set(
        &mut store,
        CWMP,
        &format!("Device.WiFi.SSID.{n}.SSID"),
        "away",
    )
    .unwrap();
    set(
        &mut store,
        CWMP,
        &format!("Device.WiFi.SSID.{n}.SSID"),
        "away",
    )
    .unwrap(); // no change
    delete(&mut store, DEVICE, &format!("Device.WiFi.SSID.{n}."));
    let records: Vec<&ChangeRecord> = store.changes_since(0).collect();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let origins: Vec<Origin> = records.iter().map(|r| r.origin).collect();
    assert_eq!(origins, vec![USP, USP, CWMP, DEVICE, DEVICE]);
    let s = |t: &str| Value::String(t.into());
    let count = Value::UnsignedInt;
    assert_eq!(
        changes(&store, 0),
        vec![
            Change::ObjectCreated {
                path: "Device.WiFi.SSID.1.".into(),
                keys: vec![("Alias", s("cpe-1")), ("Name", s("")), ("BSSID", s(""))],
            },
            Change::ValueChanged {
                path: "Device.WiFi.SSIDNumberOfEntries".into(),
                old: count(0),
                new: count(1),
            },
            Change::ValueChanged {
                path: "Device.WiFi.SSID.1.SSID".into(),
                old: s("home"),
                new: s("away"),
            },
            Change::ObjectDeleted {
                path: "Device.WiFi.SSID.1.".into(),
            },
            Change::ValueChanged {
                path: "Device.WiFi.SSIDNumberOfEntries".into(),
                old: count(1),
                new: count(0),
            },
        ]
    );
    assert_eq!(store.changes_since(3).count(), 2);
    assert_eq!(store.changes_since(5).count(), 0);
    // Bounded: the oldest go first.
    store.set_change_log_capacity(2);
    assert_eq!(store.oldest_seq(), Some(4));
    store.discard_changes_through(4);
    assert_eq!(store.oldest_seq(), Some(5));
    assert_eq!(store.last_seq(), 5);
}

#[test]
fn change_log_coalesces_within_a_transaction() {
    let mut store = Store::new();
    let n = add(&mut store, USP, "Device.WiFi.SSID.", &[("SSID", "a")]);
    let since = store.last_seq();
    let ssid = format!("Device.WiFi.SSID.{n}.SSID");
    let mut txn = store.transaction(USP);
    txn.set(&ssid, "b").unwrap();
    txn.set(&ssid, "c").unwrap();
    // Added and deleted in one transaction: invisible.
    let m = txn.add("Device.WiFi.SSID.", &[]).unwrap();
    txn.set(&format!("Device.WiFi.SSID.{m}.SSID"), "tmp")
        .unwrap();
    txn.delete(&format!("Device.WiFi.SSID.{m}.")).unwrap();
    // Set back to the old value: no change.
    txn.set("Device.DeviceInfo.ProvisioningCode", "x").unwrap();
    txn.set("Device.DeviceInfo.ProvisioningCode", "").unwrap();
    txn.commit().unwrap();
    assert_eq!(
        changes(&store, since),
        vec![Change::ValueChanged {
            path: ssid,
            old: Value::String("a".into()),
            new: Value::String("c".into()),
        }]
    );
}

#[test]
fn deleting_a_row_reports_nested_rows() {
    let mut store = Store::new();
    let ap = add(&mut store, USP, "Device.WiFi.AccessPoint.", &[]);
    let assoc = format!("Device.WiFi.AccessPoint.{ap}.AssociatedDevice.");
    add(
        &mut store,
        DEVICE,
        &assoc,
        &[("MACAddress", "00:00:00:00:00:01")],
    );
    add(
        &mut store,
        DEVICE,
        &assoc,
        &[("MACAddress", "00:00:00:00:00:02")],
    );
    let since = store.last_seq();
    delete(&mut store, USP, &format!("Device.WiFi.AccessPoint.{ap}."));
    let deleted: Vec<String> = changes(&store, since)
        .into_iter()
        .filter_map(|c| match c {
            Change::ObjectDeleted { path } => Some(path),
            _ => None,
        })
        .collect();
    assert_eq!(
        deleted,
        vec![
            "Device.WiFi.AccessPoint.1.",
            "Device.WiFi.AccessPoint.1.AssociatedDevice.1.",
            "Device.WiFi.AccessPoint.1.AssociatedDevice.2.",
        ]
    );
}

#[test]
fn strong_references_are_cleared_on_delete() {
    let mut store = Store::new();
    let s = add(&mut store, USP, "Device.WiFi.SSID.", &[]);
    let ap = add(
        &mut store,
        USP,
        "Device.WiFi.AccessPoint.",
        &[("SSIDReference", &format!("Device.WiFi.SSID.{s}"))],
    );
    let link = add(&mut store, USP, "Device.Ethernet.Link.", &[]);
    let lower = format!("Device.WiFi.SSID.{s}.,Device.Ethernet.Link.{link}");
    let ip = add(
        &mut store,
        USP,
        "Device.IP.Interface.",
        &[("LowerLayers", &lower)],
    );
    let since = store.last_seq();
    delete(&mut store, USP, &format!("Device.WiFi.SSID.{s}."));
    assert_eq!(
        text(
            &store,
            &format!("Device.WiFi.AccessPoint.{ap}.SSIDReference")
        ),
        ""
    );
    assert_eq!(
        text(&store, &format!("Device.IP.Interface.{ip}.LowerLayers")),
        "Device.Ethernet.Link.1"
    );
    assert!(changes(&store, since).contains(&Change::ValueChanged {
        path: format!("Device.WiFi.AccessPoint.{ap}.SSIDReference"),
        old: Value::String("Device.WiFi.SSID.1".into()),
        new: Value::String(String::new()),
    }));
}

// --- Resolver -------------------------------------------------------------------------------

fn wifi_store() -> Store {
    let mut store = Store::new();
    add(
        &mut store,
        USP,
        "Device.WiFi.SSID.",
        &[("SSID", "home"), ("Enable", "true")],
    );
    add(
        &mut store,
        USP,
        "Device.WiFi.SSID.",
        &[("SSID", "guest"), ("Alias", "guest")],
    );
    add(
        &mut store,
        USP,
        "Device.WiFi.SSID.",
        &[("SSID", "iot"), ("Enable", "true")],
    );
    add(&mut store, USP, "Device.WiFi.AccessPoint.", &[]);
    add(
        &mut store,
        USP,
        "Device.WiFi.AccessPoint.",
        &[("SSIDReference", "Device.WiFi.SSID.3.")],
    );
    set(
        &mut store,
        USP,
        "Device.WiFi.AccessPoint.1.SSIDReference",
        "Device.WiFi.SSID.1",
    )
    .unwrap();
    store
}

#[test]
fn resolve_plain_paths() {
    let store = wifi_store();
    assert_eq!(
        resolve(&store, "Device.WiFi.SSID.2.SSID", Usp).unwrap(),
        vec!["Device.WiFi.SSID.2.SSID=guest"]
    );
    assert_eq!(
        resolve(&store, "Device.WiFi.SSID.2.", Usp).unwrap(),
        vec!["Device.WiFi.SSID.2."]
    );
    assert_eq!(
        resolve(&store, "Device.WiFi.SSID.", Usp).unwrap(),
        vec!["Device.WiFi.SSID."]
    );
    assert_eq!(resolve(&store, "Device.", Cwmp).unwrap(), vec!["Device."]);
    assert_eq!(resolve(&store, "", Cwmp).unwrap(), vec!["Device."]);
    assert!(matches!(
        resolve(&store, "Device.WiFi.SSID.9.SSID", Usp),
        Err(Error::NoSuchInstance { .. })
    ));
    assert!(matches!(
        resolve(&store, "Device.WiFi.SSID.1.Bogus", Usp),
        Err(Error::UnknownPath { .. })
    ));
    assert!(matches!(
        resolve(&store, "Device.WiFi.SSID.*.Bogus", Usp),
        Err(Error::UnknownPath { .. })
    ));
    assert!(matches!(
        resolve(&store, "Device.LocalAgent.", Cwmp),
        Err(Error::UnknownPath { .. })
    ));
    assert!(matches!(
        resolve(&store, "Device.WiFi.SSID.{i}.", Usp),
        Err(Error::InvalidPath { .. })
    ));
}

#[test]
fn resolve_wildcards_and_search_expressions() {
    let store = wifi_store();
    assert_eq!(
        resolve(&store, "Device.WiFi.SSID.*.SSID", Usp).unwrap(),
        vec![
            "Device.WiFi.SSID.1.SSID=home",
            "Device.WiFi.SSID.2.SSID=guest",
            "Device.WiFi.SSID.3.SSID=iot"
        ]
    );
    assert_eq!(
        resolve(&store, "Device.WiFi.SSID.[Enable==true].Alias", Usp).unwrap(),
        vec![
            "Device.WiFi.SSID.1.Alias=cpe-1",
            "Device.WiFi.SSID.3.Alias=cpe-3"
        ]
    );
    assert_eq!(
        resolve(
            &store,
            "Device.WiFi.SSID.[Enable==true&&SSID!=\"home\"].",
            Usp
        )
        .unwrap(),
        vec!["Device.WiFi.SSID.3."]
    );
    // Unique-key addressing.
    assert_eq!(
        resolve(&store, "Device.WiFi.SSID.[Alias==\"guest\"].SSID", Usp).unwrap(),
        vec!["Device.WiFi.SSID.2.SSID=guest"]
    );
    // Matching nothing is success.
    assert_eq!(
        resolve(&store, "Device.WiFi.SSID.[SSID==\"none\"].", Usp).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        resolve(&store, "Device.NAT.PortMapping.*.Enable", Usp).unwrap(),
        Vec::<String>::new()
    );
    // Relative paths into single-instance children, and numeric comparisons.
    assert_eq!(
        resolve(&store, "Device.WiFi.SSID.[Stats.BytesSent>=0].", Usp)
            .unwrap()
            .len(),
        3
    );
    // An operator that does not fit the type is a path error.
    assert!(matches!(
        resolve(&store, "Device.WiFi.SSID.[Enable>true].", Usp),
        Err(Error::InvalidPath { .. })
    ));
    // Commands and events of matched objects.
    let reset = resolve(&store, "Device.WiFi.SSID.*.Reset()", Usp);
    if let Ok(reset) = reset {
        assert!(reset.is_empty() || reset.len() == 3);
    }
}

#[test]
fn resolution_writes_paths_on_demand() {
    let store = wifi_store();
    let mut out = String::from(">");
    for path in ["Device.Reboot()", "Device.Boot!", "Device.WiFi.SSID.*.SSID"] {
        let parsed = Path::parse(path, store.limits()).unwrap();
        let found = store.resolve(&parsed, Usp).unwrap();
        for item in &found {
            out.push(' ');
            found.write_path(item, &mut out);
        }
    }
    assert_eq!(
        out,
        "> Device.Reboot() Device.Boot! Device.WiFi.SSID.1.SSID Device.WiFi.SSID.2.SSID \
         Device.WiFi.SSID.3.SSID"
    );
    // The parameters of one instance share its route, which writes the object's path.
    let parsed = Path::parse("Device.WiFi.SSID.2.", store.limits()).unwrap();
    let object = store.resolve(&parsed, Usp).unwrap();
    let [item @ Resolved::Object { route, .. }] = object.items() else {
        panic!("expected one object: {object:?}");
    };
    assert_eq!(
        (item.name(), object.path(item)),
        ("", "Device.WiFi.SSID.2.".into())
    );
    let mut text = String::new();
    object.write_route(*route, &mut text);
    assert_eq!(text, "Device.WiFi.SSID.2.");
    let parsed = Path::parse("Device.WiFi.SSID.*.Alias", store.limits()).unwrap();
    let aliases = store.resolve(&parsed, Usp).unwrap();
    let routes: Vec<RouteId> = aliases.iter().map(Resolved::route).collect();
    assert_eq!(routes.len(), 3);
    assert!(routes[0] != routes[1] && routes[1] != routes[2]);
    assert_eq!(aliases.items()[1].name(), "Alias");
}

#[test]
fn route_writer_keeps_shared_steps() {
    let store = wifi_store();
    // Rows of one table, items of one row, a shorter route after longer ones, and routes
    // reached through references (a second branch from `Device.`).
    for path in [
        "Device.WiFi.SSID.*.SSID",
        "Device.WiFi.SSID.*.",
        "Device.WiFi.",
        "Device.WiFi.AccessPoint.*.SSIDReference+.SSID",
        "Device.WiFi.AccessPoint.[SSIDReference+.Enable==true].SSIDReference+.",
    ] {
        let parsed = Path::parse(path, store.limits()).unwrap();
        let found = store.resolve(&parsed, Usp).unwrap();
        assert!(!found.is_empty(), "{path}");
        let mut writer = found.route_writer();
        for item in found.iter().chain(found.iter().rev()) {
            let mut expected = String::new();
            found.write_route(item.route(), &mut expected);
            assert_eq!(writer.route(item.route()), expected, "{path}");
        }
    }
}

#[test]
fn resolve_reference_following() {
    let store = wifi_store();
    assert_eq!(
        resolve(&store, "Device.WiFi.AccessPoint.*.SSIDReference+.SSID", Usp).unwrap(),
        vec![
            "Device.WiFi.SSID.1.SSID=home",
            "Device.WiFi.SSID.3.SSID=iot"
        ]
    );
    assert_eq!(
        resolve(&store, "Device.WiFi.AccessPoint.1.SSIDReference+.", Usp).unwrap(),
        vec!["Device.WiFi.SSID.1."]
    );
    assert_eq!(
        resolve(
            &store,
            "Device.WiFi.AccessPoint.[SSIDReference+.SSID==\"iot\"].",
            Usp
        )
        .unwrap(),
        vec!["Device.WiFi.AccessPoint.2."]
    );
    // Several references to one object give it once.
    let mut store = store;
    set(
        &mut store,
        USP,
        "Device.WiFi.AccessPoint.2.SSIDReference",
        "Device.WiFi.SSID.1.",
    )
    .unwrap();
    assert_eq!(
        resolve(&store, "Device.WiFi.AccessPoint.*.SSIDReference+.", Usp).unwrap(),
        vec!["Device.WiFi.SSID.1."]
    );
    // Empty and list references.
    set(
        &mut store,
        USP,
        "Device.WiFi.AccessPoint.2.SSIDReference",
        "",
    )
    .unwrap();
    assert_eq!(
        resolve(&store, "Device.WiFi.AccessPoint.2.SSIDReference+.SSID", Usp).unwrap(),
        Vec::<String>::new()
    );
    let ip = add(
        &mut store,
        USP,
        "Device.IP.Interface.",
        &[("LowerLayers", "Device.WiFi.SSID.2,Device.WiFi.SSID.3")],
    );
    let lower = |sel: &str| format!("Device.IP.Interface.{ip}.LowerLayers{sel}.SSID");
    assert_eq!(
        resolve(&store, &lower("#2+"), Usp).unwrap(),
        vec!["Device.WiFi.SSID.3.SSID=iot"]
    );
    assert_eq!(resolve(&store, &lower("#*+"), Usp).unwrap().len(), 2);
    assert_eq!(
        resolve(&store, &lower("#3+"), Usp).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn reference_follows_are_bounded() {
    let mut store = wifi_store();
    let mut limits = Limits::DEFAULT;
    limits.max_reference_follows = 1;
    let path = Path::parse(
        "Device.WiFi.AccessPoint.[SSIDReference+.Enable==true].SSIDReference+.SSID",
        &Limits::DEFAULT,
    )
    .unwrap();
    store.set_limits(limits);
    assert!(matches!(
        store.resolve(&path, Usp),
        Err(Error::LimitExceeded { .. })
    ));
}

// --- Get helpers ----------------------------------------------------------------------------

#[test]
fn parameters_with_depth() {
    let store = wifi_store();
    let all = store.parameters("Device.WiFi.SSID.1.", Usp, None).unwrap();
    assert!(
        all.iter()
            .any(|p| p.path == "Device.WiFi.SSID.1.Stats.BytesSent")
    );
    let own = store
        .parameters("Device.WiFi.SSID.1.", Usp, Some(1))
        .unwrap();
    assert!(own.iter().all(|p| !p.path.contains("Stats")));
    assert!(own.iter().any(|p| p.path == "Device.WiFi.SSID.1.SSID"));
    // Paths come in order; a table path covers its rows.
    let rows = store.parameters("Device.WiFi.SSID.", Usp, Some(2)).unwrap();
    let ssids: Vec<&str> = rows
        .iter()
        .filter(|p| p.path.ends_with(".SSID"))
        .map(|p| p.path.as_str())
        .collect();
    assert_eq!(
        ssids,
        vec![
            "Device.WiFi.SSID.1.SSID",
            "Device.WiFi.SSID.2.SSID",
            "Device.WiFi.SSID.3.SSID"
        ]
    );
    // CWMP sees CWMP-only parameters; USP does not.
    let cwmp = store.parameters("Device.WiFi.", Cwmp, Some(1)).unwrap();
    let usp = store.parameters("Device.WiFi.", Usp, Some(1)).unwrap();
    assert!(cwmp.iter().any(|p| p.path == "Device.WiFi.Reset"));
    assert!(!usp.iter().any(|p| p.path == "Device.WiFi.Reset"));
    // The whole tree.
    let everything = store.parameters("Device.", Usp, None).unwrap();
    assert!(everything.len() > 1000);
}

#[test]
fn instances_with_keys() {
    let mut store = wifi_store();
    add(
        &mut store,
        DEVICE,
        "Device.WiFi.AccessPoint.1.AssociatedDevice.",
        &[("MACAddress", "AA:BB:CC:DD:EE:FF")],
    );
    let paths = |list: Vec<InstanceInfo>| list.into_iter().map(|i| i.path).collect::<Vec<_>>();
    assert_eq!(
        paths(
            store
                .instances("Device.WiFi.AccessPoint.", Usp, true)
                .unwrap()
        ),
        vec!["Device.WiFi.AccessPoint.1.", "Device.WiFi.AccessPoint.2."]
    );
    assert_eq!(
        paths(store.instances("Device.WiFi.", Usp, false).unwrap()),
        vec![
            "Device.WiFi.AccessPoint.1.",
            "Device.WiFi.AccessPoint.1.AssociatedDevice.1.",
            "Device.WiFi.AccessPoint.2.",
            "Device.WiFi.SSID.1.",
            "Device.WiFi.SSID.2.",
            "Device.WiFi.SSID.3.",
        ]
    );
    let ssid = store.instances("Device.WiFi.SSID.2.", Usp, true).unwrap();
    assert_eq!(
        ssid,
        vec![InstanceInfo {
            path: "Device.WiFi.SSID.2.".into(),
            keys: vec![
                ("Alias", Value::String("guest".into())),
                ("Name", Value::String(String::new())),
                ("BSSID", Value::String(String::new())),
            ],
        }]
    );
}

#[test]
fn names_for_get_parameter_names() {
    let store = wifi_store();
    let next = store.names("Device.WiFi.", Cwmp, true).unwrap();
    let find = |path: &str| next.iter().find(|n| n.path == path).cloned();
    assert_eq!(
        find("Device.WiFi.SSID."),
        Some(NameInfo {
            path: "Device.WiFi.SSID.".into(),
            writable: true
        })
    );
    assert_eq!(
        find("Device.WiFi.SSIDNumberOfEntries").map(|n| n.writable),
        Some(false)
    );
    assert!(find("Device.WiFi.SSID.1.").is_none());
    let rows = store.names("Device.WiFi.SSID.", Cwmp, true).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.writable));
    let all = store.names("Device.WiFi.SSID.1.", Cwmp, false).unwrap();
    assert_eq!(
        all.first().map(|n| n.path.as_str()),
        Some("Device.WiFi.SSID.1.")
    );
    assert!(all.iter().any(|n| n.path == "Device.WiFi.SSID.1.Stats."));
    assert!(
        all.iter()
            .any(|n| n.path == "Device.WiFi.SSID.1.Stats.BytesSent")
    );
    assert!(
        all.iter()
            .any(|n| n.path == "Device.WiFi.SSID.1.SSID" && n.writable)
    );
    assert!(
        all.iter()
            .any(|n| n.path == "Device.WiFi.SSID.1.Alias" && n.writable)
    );
    // In USP the alias is write-once, so not writable afterwards.
    let usp = store.names("Device.WiFi.SSID.1.", Usp, false).unwrap();
    assert!(
        usp.iter()
            .any(|n| n.path == "Device.WiFi.SSID.1.Alias" && !n.writable)
    );
}

// --- Persistence ----------------------------------------------------------------------------

#[test]
fn save_and_load_round_trip() {
    let mut store = wifi_store();
    let ap = 1;
    set(
        &mut store,
        USP,
        &format!("Device.WiFi.AccessPoint.{ap}.Security.KeyPassphrase"),
        "secret-passphrase",
    )
    .unwrap();
    let json = serde_json::to_string(&store).unwrap();
    let loaded: Store = serde_json::from_str(&json).unwrap();
    assert_eq!(loaded, store);
    assert_eq!(serde_json::to_string(&loaded).unwrap(), json);
    // Hidden values are persisted (the device needs them back).
    assert_eq!(
        text(&loaded, "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"),
        "secret-passphrase"
    );
    assert_eq!(loaded.last_seq(), 0);
}

/// The written document is format 1 as documented: every object with its values as text,
/// and the counters of the tables that have handed out numbers.
#[test]
fn saved_document_shape() {
    let mut store = Store::new();
    add(
        &mut store,
        USP,
        "Device.NAT.PortMapping.",
        &[("Description", "web")],
    );
    add(
        &mut store,
        USP,
        "Device.NAT.PortMapping.",
        &[("ExternalPort", "8080")],
    );
    delete(&mut store, USP, "Device.NAT.PortMapping.1.");
    let doc: serde_json::Value = serde_json::to_value(&store).unwrap();
    assert_eq!(doc["format"], 1);
    assert_eq!(
        doc["next_instance"],
        serde_json::json!({ "Device.NAT.PortMapping.": 3 })
    );
    let objects = doc["objects"].as_object().unwrap();
    let row = &objects["Device.NAT.PortMapping.2."];
    assert_eq!(row["ExternalPort"], "8080");
    assert_eq!(row["Alias"], "cpe-2");
    assert_eq!(row["Enable"], "false");
    assert!(!objects.contains_key("Device.NAT.PortMapping.1."));
    assert_eq!(objects["Device.NAT."]["PortMappingNumberOfEntries"], "1");
    assert!(objects["Device."].is_object() && objects["Device.DeviceInfo."].is_object());
}

#[test]
fn load_drops_what_the_schema_does_not_know() {
    let json = r#"{
        "format": 1,
        "next_instance": { "Device.WiFi.SSID.": 9, "Device.Gone.": 3 },
        "objects": {
            "Device.WiFi.SSID.4.": { "SSID": "kept", "Enable": "not-a-bool", "Removed": "x" },
            "Device.Gone.1.": { "X": "y" },
            "not a path": {}
        }
    }"#;
    let mut store: Store = serde_json::from_str(json).unwrap();
    assert_eq!(text(&store, "Device.WiFi.SSID.4.SSID"), "kept");
    assert_eq!(text(&store, "Device.WiFi.SSID.4.Enable"), "false");
    assert_eq!(text(&store, "Device.WiFi.SSIDNumberOfEntries"), "1");
    assert_eq!(add(&mut store, USP, "Device.WiFi.SSID.", &[]), 9);
    // Rows beyond the saved counter raise it.
    let json = r#"{"format":1,"objects":{"Device.NAT.PortMapping.5.":{}}}"#;
    let mut store: Store = serde_json::from_str(json).unwrap();
    assert_eq!(add(&mut store, USP, "Device.NAT.PortMapping.", &[]), 6);
    // Another format is refused.
    assert!(serde_json::from_str::<Store>(r#"{"format":2}"#).is_err());
}

#[test]
fn one_entry_of_the_wrong_json_type_drops_alone() {
    // A number where a value's text is stored, a list where an object's values are, a text
    // where a counter is: each is dropped and counted; everything beside it loads.
    let json = r#"{
        "format": 1,
        "next_instance": { "Device.WiFi.SSID.": "9", "Device.NAT.PortMapping.": 7 },
        "objects": {
            "Device.WiFi.SSID.4.": { "SSID": "kept", "Enable": 1, "Alias": "cpe-4" },
            "Device.WiFi.SSID.5.": ["SSID", "lost"],
            "Device.WiFi.SSID.6.": { "SSID": "six" }
        }
    }"#;
    let mut store: Store = serde_json::from_str(json).unwrap();
    assert_eq!(store.malformed_on_load(), 3);
    assert_eq!(text(&store, "Device.WiFi.SSID.4.SSID"), "kept");
    assert_eq!(text(&store, "Device.WiFi.SSID.4.Alias"), "cpe-4");
    assert_eq!(text(&store, "Device.WiFi.SSID.4.Enable"), "false");
    assert_eq!(text(&store, "Device.WiFi.SSID.6.SSID"), "six");
    assert!(store.value("Device.WiFi.SSID.5.SSID").is_err());
    assert_eq!(text(&store, "Device.WiFi.SSIDNumberOfEntries"), "2");
    // The bad counter is dropped (the rows raise it), the good one kept.
    assert_eq!(add(&mut store, USP, "Device.WiFi.SSID.", &[]), 7);
    assert_eq!(add(&mut store, USP, "Device.NAT.PortMapping.", &[]), 7);
    assert_eq!(Store::new().malformed_on_load(), 0);
}

#[test]
fn optional_objects_are_created_by_the_device() {
    let mut store = Store::new();
    let mtp = add(
        &mut store,
        DEVICE,
        "Device.LocalAgent.MTP.",
        &[("Protocol", "WebSocket")],
    );
    let ws = format!("Device.LocalAgent.MTP.{mtp}.WebSocket.");
    assert!(matches!(
        store.parameters(&ws, Usp, None),
        Err(Error::NoSuchInstance { .. })
    ));
    let mut txn = store.transaction(USP);
    assert!(matches!(txn.create_object(&ws), Err(Error::ApiMisuse(_))));
    drop(txn);
    let before = store.clone();
    let mut txn = store.transaction(DEVICE);
    txn.create_object(&ws).unwrap();
    txn.set(&format!("{ws}Port"), "8443").unwrap();
    assert!(matches!(txn.create_object(&ws), Err(Error::ApiMisuse(_))));
    txn.rollback();
    assert_eq!(store, before);

    let since = store.last_seq();
    let mut txn = store.transaction(DEVICE);
    txn.create_object(&ws).unwrap();
    txn.set(&format!("{ws}Port"), "8443").unwrap();
    txn.commit().unwrap();
    assert_eq!(text(&store, &format!("{ws}Port")), "8443");
    assert_eq!(store.changes_since(since).count(), 0);
    // It is saved and loaded like any object.
    let loaded: Store = serde_json::from_str(&serde_json::to_string(&store).unwrap()).unwrap();
    assert_eq!(loaded, store);
    let mut txn = store.transaction(DEVICE);
    assert!(matches!(
        txn.create_object(&format!("Device.LocalAgent.MTP.{mtp}.")),
        Err(Error::UnknownPath { .. })
    ));
    txn.remove_object(&ws).unwrap();
    txn.commit().unwrap();
    assert!(matches!(
        store.value(&format!("{ws}Port")),
        Err(Error::NoSuchInstance { .. })
    ));
}

#[test]
fn change_log_reports_each_visible_row_once() {
    let mut store = Store::new();
    // A row and a row nested in it, created together: both are reported.
    let since = store.last_seq();
    let mut txn = store.transaction(USP);
    let ip = txn.add("Device.IP.Interface.", &[]).unwrap();
    txn.add(
        &format!("Device.IP.Interface.{ip}.IPv4Address."),
        &[("IPAddress", "192.0.2.1")],
    )
    .unwrap();
    txn.commit().unwrap();
    let created: Vec<String> = changes(&store, since)
        .into_iter()
        .filter_map(|c| match c {
            Change::ObjectCreated { path, .. } => Some(path),
            Change::ValueChanged { path, .. } => Some(path),
            Change::ObjectDeleted { .. } => None,
        })
        .collect();
    assert_eq!(
        created,
        vec![
            "Device.IP.Interface.1.",
            "Device.IP.InterfaceNumberOfEntries",
            "Device.IP.Interface.1.IPv4Address.1.",
        ]
    );
    // The device replaces a row under the same number: deleted, then created.
    let since = store.last_seq();
    let mut txn = store.transaction(DEVICE);
    txn.delete("Device.IP.Interface.1.").unwrap();
    txn.add_numbered("Device.IP.Interface.", 1, &[]).unwrap();
    txn.add_numbered("Device.IP.Interface.", 5, &[]).unwrap();
    txn.delete("Device.IP.Interface.5.").unwrap();
    txn.add_numbered("Device.IP.Interface.", 5, &[]).unwrap();
    txn.commit().unwrap();
    let kinds: Vec<(String, &str)> = changes(&store, since)
        .into_iter()
        .map(|c| match c {
            Change::ObjectCreated { path, .. } => (path, "created"),
            Change::ObjectDeleted { path } => (path, "deleted"),
            Change::ValueChanged { path, .. } => (path, "changed"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("Device.IP.Interface.1.".into(), "deleted"),
            ("Device.IP.Interface.1.IPv4Address.1.".into(), "deleted"),
            ("Device.IP.InterfaceNumberOfEntries".into(), "changed"),
            ("Device.IP.Interface.1.".into(), "created"),
            ("Device.IP.Interface.5.".into(), "created"),
        ]
    );
    assert_eq!(text(&store, "Device.IP.InterfaceNumberOfEntries"), "2");
}

#[test]
fn tables_are_bounded_by_max_entries() {
    let mut store = Store::new();
    let ap = add(&mut store, USP, "Device.WiFi.AccessPoint.", &[]);
    let ac = format!("Device.WiFi.AccessPoint.{ap}.AC.");
    let mut txn = store.transaction(DEVICE);
    for category in ["BE", "BK", "VI", "VO"] {
        txn.add(&ac, &[("AccessCategory", category)]).unwrap();
    }
    assert!(matches!(txn.add(&ac, &[]), Err(Error::TableFull { .. })));
    txn.commit().unwrap();
    // A controller cannot delete below minEntries either (and this table is read-only).
    let mut txn = store.transaction(CWMP);
    assert!(matches!(
        txn.delete(&format!("{ac}1.")),
        Err(Error::NotCreatable { .. })
    ));
}

#[test]
fn references_written_by_controllers_are_checked() {
    let mut store = Store::new();
    let s = add(&mut store, USP, "Device.WiFi.SSID.", &[("Alias", "home")]);
    let ap = add(&mut store, USP, "Device.WiFi.AccessPoint.", &[]);
    let reference = format!("Device.WiFi.AccessPoint.{ap}.SSIDReference");
    // Strong references must name an existing row of the target table.
    for bad in [
        "Device.WiFi.SSID.9",
        "Device.IP.Interface.1",
        "Device.WiFi.SSID.*",
        "WiFi.SSID.1",
    ] {
        assert!(
            matches!(
                set(&mut store, USP, &reference, bad),
                Err(Error::InvalidValue {
                    rule: ValueRule::Reference,
                    ..
                })
            ),
            "{bad}"
        );
    }
    set(
        &mut store,
        CWMP,
        &reference,
        &format!("Device.WiFi.SSID.{s}"),
    )
    .unwrap();
    set(&mut store, USP, &reference, "").unwrap();
    // Key addressing is stored with instance numbers (R-ARC.11).
    set(
        &mut store,
        USP,
        &reference,
        "Device.WiFi.SSID.[Alias==\"home\"]",
    )
    .unwrap();
    assert_eq!(text(&store, &reference), format!("Device.WiFi.SSID.{s}"));
    assert!(
        set(
            &mut store,
            USP,
            &reference,
            "Device.WiFi.SSID.[Alias==\"none\"]"
        )
        .is_err()
    );
    // The device is trusted (it may set up references before their targets).
    set(&mut store, DEVICE, &reference, "Device.WiFi.SSID.9").unwrap();

    // Enumeration references: one of the values the device offers, once it offers some.
    let mode = format!("Device.WiFi.AccessPoint.{ap}.Security.ModeEnabled");
    set(&mut store, USP, &mode, "WPA3-Personal").unwrap();
    let supported = format!("Device.WiFi.AccessPoint.{ap}.Security.ModesSupported");
    set(&mut store, DEVICE, &supported, "None,WPA2-Personal").unwrap();
    assert!(matches!(
        set(&mut store, USP, &mode, "WPA3-Personal"),
        Err(Error::InvalidValue {
            rule: ValueRule::Reference,
            ..
        })
    ));
    set(&mut store, USP, &mode, "WPA2-Personal").unwrap();
}

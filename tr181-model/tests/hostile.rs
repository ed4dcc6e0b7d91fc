//! Hostile input to the data model: paths, search expressions, reference cycles, values and
//! persisted documents built to exhaust a CPE. Each ends in a typed error with the right CWMP
//! fault and USP error code, quickly, without a panic, and leaves the store as it was.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tr181_model::path::Path;
use tr181_model::schema::{self, Protocol};
use tr181_model::store::{Origin, Store};
use tr181_model::value::Value;
use tr181_model::{Error, Limits};

/// A limit breach: CWMP 9004 "Resources exceeded", USP 7005.
fn assert_limit(e: &Error, what: &str) {
    assert!(
        matches!(e, Error::LimitExceeded { what: w, .. } if w.contains(what)),
        "{e:?}"
    );
    assert_eq!((e.cwmp_fault(), e.usp_error()), (9004, 7005), "{e:?}");
}

/// A malformed path: CWMP 9005 "Invalid parameter name", USP 7008.
fn assert_invalid_path(e: &Error) {
    assert!(matches!(e, Error::InvalidPath { .. }), "{e:?}");
    assert_eq!((e.cwmp_fault(), e.usp_error()), (9005, 7008), "{e:?}");
}

fn parse(text: &str) -> Result<Path, Error> {
    Path::parse(text, &Limits::DEFAULT)
}

/// A store with two IP interfaces whose `LowerLayers` point at each other: a reference cycle.
fn cyclic_store() -> Store {
    let mut store = Store::new();
    let mut txn = store.transaction(Origin::Device);
    txn.add("Device.IP.Interface.", &[]).unwrap();
    txn.add("Device.IP.Interface.", &[]).unwrap();
    txn.set(
        "Device.IP.Interface.1.LowerLayers",
        "Device.IP.Interface.2.",
    )
    .unwrap();
    txn.set(
        "Device.IP.Interface.2.LowerLayers",
        "Device.IP.Interface.1.",
    )
    .unwrap();
    txn.commit().unwrap();
    store
}

#[test]
fn thousands_of_search_filters_stop_at_the_limit() {
    // Thousands of `&&` terms in one expression.
    let terms = vec!["Enable==true"; 5000].join("&&");
    let text = format!("Device.IP.Interface.[{terms}].Name");
    let e = parse(&text).unwrap_err();
    assert_limit(&e, "");
    // With the length limit lifted, the term limit is what stops it.
    let mut wide = Limits::DEFAULT;
    wide.max_path_len = usize::MAX;
    assert_limit(&Path::parse(&text, &wide).unwrap_err(), "comparisons");
    // Thousands of filtered segments (tables nested in tables, repeated).
    let segments = "Interface.[Enable==true].".repeat(3000);
    let text = format!("Device.IP.{segments}Name");
    assert_limit(
        &Path::parse(&text, &wide).unwrap_err(),
        "search expressions",
    );
    // At the limits, it parses.
    let eight = "IPv4Address.[Enable==true].".repeat(7);
    assert!(
        Path::parse(
            &format!("Device.IP.Interface.[Enable==true].{eight}"),
            &wide
        )
        .is_ok()
    );
    let sixteen = vec!["Enable==true"; 16].join("&&");
    assert!(parse(&format!("Device.IP.Interface.[{sixteen}].")).is_ok());
}

#[test]
fn overlong_and_deep_paths_are_refused_before_parsing() {
    let deep = format!("Device.{}", "A.".repeat(100_000));
    assert_limit(&parse(&deep).unwrap_err(), "");
    let brackets = format!("Device.IP.Interface.{}", "[".repeat(500));
    assert!(parse(&brackets).is_err());
    // Exactly at the limit it is judged on its syntax.
    let at = format!("Device.{}", "A".repeat(1024 - "Device.".len()));
    assert_eq!(at.len(), 1024);
    assert!(parse(&at).is_ok());
    assert_limit(&parse(&format!("{at}B")).unwrap_err(), "");
}

#[test]
fn instance_numbers_past_u32_and_odd_slots_are_invalid_paths() {
    for text in [
        "Device.WiFi.SSID.4294967296.SSID",
        "Device.WiFi.SSID.01.SSID",
        "Device.WiFi.SSID.-1.SSID",
        "Device.WiFi.SSID.[SSID==\"a\".SSID",
        "Device.WiFi.SSID.[].SSID",
        "Device.WiFi.SSID.[SSID=\"a\"].SSID",
        "Device..WiFi",
        "Device.WiFi.SSID.1.SSID\u{0}",
        "Device.WiFi.SSID.1.Reboot()()",
    ] {
        assert_invalid_path(&parse(text).unwrap_err());
    }
    assert!(parse("Device.WiFi.SSID.4294967295.SSID").is_ok());
}

#[test]
fn reference_cycles_stop_at_the_follow_limit() {
    let store = cyclic_store();
    let before = store.clone();
    // Eight follows round the cycle are allowed; the ninth is refused.
    let path = |n: usize| format!("Device.IP.Interface.1.{}Name", "LowerLayers#*+.".repeat(n));
    let eight = Path::parse(&path(8), &Limits::DEFAULT).unwrap();
    assert_eq!(store.resolve(&eight, Protocol::Usp).unwrap().len(), 1);
    let e = Path::parse(&path(9), &Limits::DEFAULT).unwrap_err();
    assert_limit(&e, "follow");
    // Follows inside a search expression count too, and are resolved against the cycle.
    let inner = format!("[{}Enable==true]", "LowerLayers#*+.".repeat(4));
    let text = format!(
        "Device.IP.Interface.{inner}.{}Name",
        "LowerLayers#*+.".repeat(4)
    );
    let nested = Path::parse(&text, &Limits::DEFAULT).unwrap();
    let mut tight = Limits::DEFAULT;
    tight.max_reference_follows = 7;
    let mut limited = store.clone();
    limited.set_limits(tight);
    let e = limited.resolve(&nested, Protocol::Usp).unwrap_err();
    assert_limit(&e, "follow");
    assert!(
        store == before && limited == before,
        "resolving changes nothing"
    );
}

#[test]
fn oversized_values_and_huge_lists_are_refused() {
    let parameter = schema::parameter("Device.WiFi.SSID.{i}.SSID", Protocol::Usp).unwrap();
    let big = "x".repeat(64 * 1024 + 1);
    let e =
        Value::parse_for(&big, parameter, "Device.WiFi.SSID.1.SSID", &Limits::DEFAULT).unwrap_err();
    assert_limit(&e, "value");
    // A list declaring a million items is refused by its length before any item is parsed.
    let list = schema::parameter("Device.IP.Interface.{i}.LowerLayers", Protocol::Usp).unwrap();
    let million = vec!["Device.IP.Interface.1."; 1_000_000].join(",");
    let e = Value::parse_for(
        &million,
        list,
        "Device.IP.Interface.1.LowerLayers",
        &Limits::DEFAULT,
    )
    .unwrap_err();
    assert_limit(&e, "value");
    // A numeric literal of a thousand digits is an invalid value (9007, 7012), not a panic.
    let number = schema::parameter("Device.WiFi.SSID.{i}.LastChange", Protocol::Usp).unwrap();
    let e = Value::parse_for(&"9".repeat(1000), number, "p", &Limits::DEFAULT).unwrap_err();
    assert_eq!((e.cwmp_fault(), e.usp_error()), (9007, 7012), "{e:?}");
}

#[test]
fn failed_writes_leave_the_store_unchanged() {
    let mut store = cyclic_store();
    let before = store.clone();
    let huge = "x".repeat(70_000);
    let mut txn = store.transaction(Origin::Device);
    txn.set("Device.IP.Interface.1.Alias", "cpe-ok").unwrap();
    let e = txn.set("Device.IP.Interface.1.Alias", &huge).unwrap_err();
    assert_limit(&e, "value");
    let e = txn
        .set("Device.IP.Interface.4294967295.Alias", "x")
        .unwrap_err();
    assert_eq!((e.cwmp_fault(), e.usp_error()), (9005, 7016), "{e:?}");
    let e = txn
        .set(&format!("Device.{}", "A.".repeat(2000)), "x")
        .unwrap_err();
    assert_limit(&e, "");
    txn.rollback();
    assert!(store == before, "a rolled-back transaction changes nothing");
}

#[test]
fn a_table_cannot_be_grown_past_max_entries() {
    // The table has maxEntries 256; adding rows in a loop must stop there.
    let mut store = Store::new();
    let before = store.clone();
    let mut txn = store.transaction(Origin::Device);
    let mut last = Ok(0);
    for _ in 0..100_000 {
        last = txn.add("Device.IP.Diagnostics.IPLayerCapacityAuthCode.", &[]);
        if last.is_err() {
            break;
        }
    }
    let e = last.unwrap_err();
    assert!(matches!(e, Error::TableFull { .. }), "{e:?}");
    assert_eq!((e.cwmp_fault(), e.usp_error()), (9004, 7017));
    txn.rollback();
    assert!(store == before);
}

#[test]
fn hostile_persisted_documents_are_errors_or_dropped() {
    let errors = [
        // Truncated.
        r#"{"format":1,"objects":{"Device.WiFi.SSID.1.":{"SSID":"#.to_owned(),
        // A format from the future.
        r#"{"format":99}"#.to_owned(),
        // Nesting far deeper than the document has (serde_json's recursion limit).
        format!(
            r#"{{"format":1,"objects":{}1{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        ),
    ];
    for (i, text) in errors.iter().enumerate() {
        assert!(
            serde_json::from_str::<Store>(text).is_err(),
            "case {i} loaded"
        );
    }
    // Loading is lenient (a configuration survives a model change): what the model does not
    // have is dropped, a value that does not validate keeps its default.
    let dropped = [
        r#"{"format":1,"objects":{"Device.WiFi.SSID.4294967296.":{}}}"#,
        r#"{"format":1,"objects":{"Device.Nope.":{"A":"1"}}}"#,
        r#"{"format":1,"objects":{"Device.ManagementServer.":{"PeriodicInformInterval":"-5"}}}"#,
        r#"{"format":1,"next_instance":{"Device.Nope.":4294967295}}"#,
    ];
    for text in dropped {
        let store: Store = serde_json::from_str(text).unwrap();
        assert!(store == Store::new(), "{text} changed the factory store");
    }
    // More rows than a bounded table may hold (maxEntries 256).
    let rows = (1..=300)
        .map(|i| format!(r#""Device.IP.Diagnostics.IPLayerCapacityAuthCode.{i}.":{{}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let store: Store =
        serde_json::from_str(&format!(r#"{{"format":1,"objects":{{{rows}}}}}"#)).unwrap();
    let count = store
        .value("Device.IP.Diagnostics.IPLayerCapacityAuthCodeNumberOfEntries")
        .unwrap()
        .clone();
    assert_eq!(
        count,
        Value::UnsignedInt(256),
        "the rows past maxEntries are dropped"
    );
}

//! Bulk data collection on the simulated device: profiles configured through the engine as a
//! controller would, read back, collected (wildcards, partial paths, names, exclusions) and
//! encoded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use common::{add_one, set_one, start, stored, usp};
use hal::Engine;
use hal::bulkdata::{self, BulkDataError, Compression, Limits, Retained, Stamp, Transport};
use hal::engine::{AllowAll, DeviceUpdate, ParamSetting};
use hal::sim::SimDevice;

/// Adds a profile with `settings` and its parameter rows (`Reference`, `Name`, `Exclude`).
async fn add_profile(
    engine: &Engine,
    settings: &[(&str, &str)],
    parameters: &[(&str, &str, bool)],
) -> String {
    let principal = usp();
    let added = engine
        .add(&principal, &add_one("Device.BulkData.Profile.", Vec::new()))
        .await
        .unwrap();
    let row = added.results[0].outcome.as_ref().unwrap().path.clone();
    for (reference, name, exclude) in parameters {
        let table = format!("{row}Parameter.");
        let params = vec![
            ParamSetting::new("Reference", *reference),
            ParamSetting::new("Name", *name),
            ParamSetting::new("Exclude", exclude.to_string()),
        ];
        engine
            .add(&principal, &add_one(&table, params))
            .await
            .unwrap();
    }
    for (name, value) in settings {
        let (object, name) = match name.rsplit_once('.') {
            Some((sub, name)) => (format!("{row}{sub}."), name),
            None => (row.clone(), *name),
        };
        let params = vec![ParamSetting::new(name, *value)];
        engine
            .set(&principal, &set_one(&object, params))
            .await
            .unwrap();
    }
    row
}

async fn setup() -> Engine {
    let sim = SimDevice::new("SIM0001");
    start(&sim, Arc::new(AllowAll)).await.0
}

#[tokio::test]
async fn the_simulated_device_advertises_what_is_supported() {
    let engine = setup().await;
    for (name, value) in [
        ("Status", "Enabled"),
        ("Protocols", "HTTP,MQTT,USPEventNotif"),
        ("EncodingTypes", "CSV,JSON"),
        ("ParameterWildCardSupported", "true"),
        ("MaxNumberOfProfiles", "16"),
        ("MaxNumberOfParameterReferences", "1024"),
    ] {
        assert_eq!(stored(&engine, &format!("Device.BulkData.{name}")), value);
    }
    let row = add_profile(&engine, &[], &[]).await;
    // A new row's HTTP.MethodsSupported is the device's to fill, and Status follows Enable.
    let principal = usp();
    let disable = set_one(
        "Device.BulkData.",
        vec![ParamSetting::new("Enable", "false")],
    );
    engine.set(&principal, &disable).await.unwrap();
    let sets = engine.read(bulkdata::upkeep);
    assert_eq!(
        sets,
        [
            (
                format!("{row}HTTP.MethodsSupported"),
                "POST,PUT".to_string()
            ),
            (
                format!("{row}HTTP.CompressionsSupported"),
                "GZIP,Deflate".to_string()
            ),
            ("Device.BulkData.Status".to_string(), "Disabled".to_string()),
        ]
    );
    let update = DeviceUpdate::setting(sets);
    engine.device_update(|txn| update.apply(txn)).await.unwrap();
    assert!(engine.read(bulkdata::upkeep).is_empty());
    assert!(
        engine
            .read(|s| bulkdata::profiles(s, &Limits::DEFAULT))
            .is_empty()
    );
}

#[tokio::test]
async fn a_profile_collects_names_and_excludes_as_configured() {
    let engine = setup().await;
    let row = add_profile(
        &engine,
        &[
            ("Enable", "true"),
            ("Protocol", "USPEventNotif"),
            ("EncodingType", "JSON"),
            ("ReportingInterval", "300"),
            ("TimeReference", "2024-01-01T00:00:00Z"),
            ("JSONEncoding.ReportFormat", "NameValuePair"),
            ("JSONEncoding.ReportTimestamp", "None"),
        ],
        &[
            ("Device.Ethernet.Interface.*.Name", "Eth", false),
            ("Device.DeviceInfo.SerialNumber", "", false),
            ("Device.Time.", "", false),
            ("Device.Time.LocalTimeZone", "", true),
            ("Device.Ethernet.Interface.9.Name", "", false),
        ],
    )
    .await;
    let profiles = engine.read(|s| bulkdata::profiles(s, &Limits::DEFAULT));
    let [Ok(profile)] = profiles.as_slice() else {
        panic!("{profiles:?}")
    };
    assert_eq!(profile.path, row);
    assert_eq!(profile.transport, Transport::UspEventNotif);
    assert_eq!(profile.interval, 300);
    assert_eq!(profile.time_reference, Some(1_704_067_200));
    assert_eq!(profile.push_event(), format!("{row}Push!"));
    assert_eq!(profile.report_format(), "NameValuePair");

    let stamp = Stamp::new(None, 1_000);
    let collection = bulkdata::collect(&engine, &usp(), profile, stamp, &Limits::DEFAULT)
        .await
        .unwrap();
    let names: Vec<&str> = collection.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        &names[..3],
        ["Eth.1.Name", "Eth.2.Name", "Device.DeviceInfo.SerialNumber"]
    );
    assert!(names.contains(&"Device.Time.Enable"), "{names:?}");
    assert!(names.contains(&"Device.Time.Client.1.Enable"), "{names:?}");
    assert!(!names.contains(&"Device.Time.LocalTimeZone"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains(".9.")), "{names:?}");

    let report = Retained::new()
        .report(profile, &collection, &Limits::DEFAULT)
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.body).unwrap();
    let first = &json["Report"][0];
    assert_eq!(first["Eth.1.Name"], "eth0");
    assert_eq!(first["Device.DeviceInfo.SerialNumber"], "SIM0001");
    assert_eq!(first["Device.Time.Enable"], serde_json::Value::Bool(true));
    assert!(first.get("CollectionTime").is_none());

    // A limit below what the references expand to refuses the report.
    let small = Limits::DEFAULT.with_max_parameters(2);
    let refused = bulkdata::collect(&engine, &usp(), profile, stamp, &small).await;
    assert!(matches!(
        refused,
        Err(BulkDataError::TooManyParameters { limit: 2, .. })
    ));
}

#[tokio::test]
async fn http_profiles_read_their_settings_and_query() {
    let engine = setup().await;
    add_profile(
        &engine,
        &[
            ("Enable", "true"),
            ("Protocol", "HTTP"),
            ("EncodingType", "CSV"),
            ("HTTP.URL", "http://127.0.0.1:9/bulk"),
            ("HTTP.Method", "PUT"),
            ("HTTP.RetryEnable", "true"),
            ("CSVEncoding.RowSeparator", "&#13;&#10;"),
        ],
        &[("Device.DeviceInfo.ModelName", "", false)],
    )
    .await;
    let principal = usp();
    let table = "Device.BulkData.Profile.1.HTTP.RequestURIParameter.";
    for (name, reference) in [
        ("sn", "Device.DeviceInfo.SerialNumber"),
        ("", "Device.DeviceInfo.ModelName"),
    ] {
        let params = vec![
            ParamSetting::new("Name", name),
            ParamSetting::new("Reference", reference),
        ];
        engine
            .add(&principal, &add_one(table, params))
            .await
            .unwrap();
    }
    let profiles = engine.read(|s| bulkdata::profiles(s, &Limits::DEFAULT));
    let Ok(profile) = &profiles[0] else {
        panic!("{profiles:?}")
    };
    let Transport::Http(http) = &profile.transport else {
        panic!("{profile:?}")
    };
    assert_eq!(http.url, "http://127.0.0.1:9/bulk");
    assert_eq!(http.method, bulkdata::Method::Put);
    assert!(http.use_date_header);
    assert_eq!(http.retry, Some((5, 2000)));
    assert_eq!(
        profile.content_type(),
        "text/csv; charset=UTF-8; header=present"
    );
    assert_eq!(profile.report_format(), "ParameterPerColumn");
    let query = bulkdata::request_query(&engine, &principal, http)
        .await
        .unwrap();
    assert_eq!(query, "?sn=SIM0001&Device.DeviceInfo.ModelName=Acme%20HG-1");

    let stamp = Stamp::new(Some(1_700_000_000_000), 0);
    let collection = bulkdata::collect(&engine, &principal, profile, stamp, &Limits::DEFAULT)
        .await
        .unwrap();
    let report = Retained::new()
        .report(profile, &collection, &Limits::DEFAULT)
        .unwrap();
    assert_eq!(
        report.body,
        "ReportTimestamp,Device.DeviceInfo.ModelName\r\n1700000000000,Acme HG-1\r\n"
    );
}

#[tokio::test]
async fn mqtt_profiles_reference_an_existing_client_row() {
    let engine = setup().await;
    let principal = usp();
    let added = engine
        .add(&principal, &add_one("Device.MQTT.Client.", Vec::new()))
        .await
        .unwrap();
    let client = added.results[0].outcome.as_ref().unwrap().path.clone();
    let row = add_profile(
        &engine,
        &[
            ("Enable", "true"),
            ("Protocol", "MQTT"),
            ("EncodingType", "JSON"),
            ("MQTT.PublishTopic", "bulk/sim0001"),
            ("MQTT.PublishQoS", "2"),
            ("MQTT.PublishRetain", "true"),
        ],
        &[("Device.DeviceInfo.SerialNumber", "", false)],
    )
    .await;
    // `MQTT.Reference` is a strong reference to a `Device.MQTT.Client.{i}.` row: another
    // table's row or a missing client row is an invalid value (7012).
    let mqtt = format!("{row}MQTT.");
    for wrong in ["Device.DeviceInfo.", "Device.MQTT.Client.99"] {
        let set = set_one(&mqtt, vec![ParamSetting::new("Reference", wrong)]);
        let refused = engine.set(&principal, &set).await.unwrap_err();
        assert_eq!(refused.error.usp_error(), 7012, "{wrong}: {refused:?}");
    }
    let reference = client.trim_end_matches('.');
    let set = set_one(&mqtt, vec![ParamSetting::new("Reference", reference)]);
    engine.set(&principal, &set).await.unwrap();
    let profiles = engine.read(|s| bulkdata::profiles(s, &Limits::DEFAULT));
    let Ok(profile) = &profiles[0] else {
        panic!("{profiles:?}")
    };
    let Transport::Mqtt(settings) = &profile.transport else {
        panic!("{profile:?}")
    };
    assert_eq!(settings.client, client, "with its trailing dot");
    assert_eq!(settings.topic, "bulk/sim0001");
    assert_eq!(settings.qos, 2);
    assert!(settings.retain);
    assert_eq!(profile.content_type(), "application/json; charset=UTF-8");
}

#[tokio::test]
async fn protocols_and_encodings_not_advertised_are_refused() {
    let engine = setup().await;
    let row = add_profile(&engine, &[], &[]).await;
    // `Protocol` and `EncodingType` take their values from the capability lists.
    for (name, value) in [("Protocol", "Streaming"), ("EncodingType", "XML")] {
        let set = set_one(&row, vec![ParamSetting::new(name, value)]);
        let refused = engine.set(&usp(), &set).await.unwrap_err();
        assert_eq!(refused.error.usp_error(), 7012, "{name}: {refused:?}");
    }
    // A profile left without a protocol does not run.
    let enable = set_one(&row, vec![ParamSetting::new("Enable", "true")]);
    engine.set(&usp(), &enable).await.unwrap();
    let profiles = engine.read(|s| bulkdata::profiles(s, &Limits::DEFAULT));
    assert!(
        matches!(&profiles[..], [Err(BulkDataError::Protocol { protocol, .. })] if protocol.is_empty()),
        "{profiles:?}"
    );
}

#[tokio::test]
async fn only_the_advertised_compressions_are_taken() {
    let engine = setup().await;
    let settings = [("Protocol", "HTTP"), ("EncodingType", "JSON")];
    let row = add_profile(&engine, &settings, &[]).await;
    let http = format!("{row}HTTP.");
    let compression = |engine: &Engine| {
        let profile = engine.read(|s| bulkdata::profile(s, row.clone(), &Limits::DEFAULT));
        match profile {
            Ok(profile) => match profile.transport {
                Transport::Http(http) => Ok(http.compression),
                other => panic!("{other:?}"),
            },
            Err(error) => Err(error),
        }
    };
    assert_eq!(compression(&engine), Ok(Compression::None), "the default");
    // Before the device fills HTTP.CompressionsSupported the store takes any value (as in
    // the Add that makes the row); the profile does not run with one it cannot send.
    let lzw = set_one(&http, vec![ParamSetting::new("Compression", "Compress")]);
    engine.set(&usp(), &lzw).await.unwrap();
    assert!(
        matches!(compression(&engine), Err(BulkDataError::Compression { compression, .. }) if compression == "Compress"),
    );
    let update = DeviceUpdate::setting(engine.read(bulkdata::upkeep));
    engine.device_update(|txn| update.apply(txn)).await.unwrap();
    assert_eq!(
        stored(&engine, &format!("{http}CompressionsSupported")),
        "GZIP,Deflate"
    );
    // Then only the advertised ones and the null value "None".
    for (value, expected) in [
        ("GZIP", Compression::Gzip),
        ("Deflate", Compression::Deflate),
        ("None", Compression::None),
    ] {
        let set = set_one(&http, vec![ParamSetting::new("Compression", value)]);
        engine.set(&usp(), &set).await.unwrap();
        assert_eq!(compression(&engine), Ok(expected), "{value}");
    }
    let refused = engine.set(&usp(), &lzw).await.unwrap_err();
    let codes = (refused.error.cwmp_fault(), refused.error.usp_error());
    assert_eq!(codes, (9007, 7012), "{refused:?}");
    assert_eq!(stored(&engine, &format!("{http}Compression")), "None");
}

#[tokio::test]
async fn adds_and_sets_beyond_the_advertised_capabilities_are_refused() {
    let engine = setup().await;
    let codes =
        |failure: &hal::engine::Failure| (failure.error.cwmp_fault(), failure.error.usp_error());
    // MaxNumberOfProfiles (16): the 17th row is refused as a full table.
    let mut rows = Vec::new();
    for _ in 0..16 {
        rows.push(add_profile(&engine, &[], &[]).await);
    }
    let add = add_one("Device.BulkData.Profile.", Vec::new());
    let refused = engine.add(&usp(), &add).await.unwrap_err();
    assert_eq!(codes(&refused), (9004, 7017), "{refused:?}");
    assert_eq!(
        engine
            .read(|s| bulkdata::profiles(s, &Limits::DEFAULT))
            .len(),
        0
    );
    assert_eq!(
        stored(&engine, "Device.BulkData.ProfileNumberOfEntries"),
        "16"
    );

    // MaxNumberOfParameterReferences, across profiles and counting what partial paths
    // expand to: 3 here, so two parameters and then a partial path do not fit.
    let lower = DeviceUpdate::setting(vec![
        (
            "Device.BulkData.MaxNumberOfParameterReferences".to_string(),
            "3".to_string(),
        ),
        (
            "Device.BulkData.MinReportingInterval".to_string(),
            "60".to_string(),
        ),
    ]);
    engine.device_update(|txn| lower.apply(txn)).await.unwrap();
    let reference = |row: &str, reference: &str| {
        let params = vec![ParamSetting::new("Reference", reference)];
        add_one(&format!("{row}Parameter."), params)
    };
    let serial = reference(&rows[0], "Device.DeviceInfo.SerialNumber");
    engine.add(&usp(), &serial).await.unwrap();
    let model = reference(&rows[1], "Device.DeviceInfo.ModelName");
    engine.add(&usp(), &model).await.unwrap();
    let time = reference(&rows[1], "Device.Time.");
    let refused = engine.add(&usp(), &time).await.unwrap_err();
    assert_eq!(codes(&refused), (9004, 7005), "{refused:?}");
    // A Set that makes a reference expand beyond the bound is refused the same way.
    let widen = set_one(
        &format!("{}Parameter.1.", rows[0]),
        vec![ParamSetting::new("Reference", "Device.DeviceInfo.")],
    );
    let refused = engine.set(&usp(), &widen).await.unwrap_err();
    assert_eq!(codes(&refused), (9004, 7005), "{refused:?}");
    // The one that still fits goes in.
    let third = reference(&rows[2], "Device.DeviceInfo.Manufacturer");
    engine.add(&usp(), &third).await.unwrap();

    // MinReportingInterval (60): a shorter ReportingInterval is an invalid value, set alone
    // or with the row that has it.
    let short = set_one(&rows[0], vec![ParamSetting::new("ReportingInterval", "30")]);
    let refused = engine.set(&usp(), &short).await.unwrap_err();
    assert_eq!(codes(&refused), (9007, 7012), "{refused:?}");
    assert_eq!(
        stored(&engine, &format!("{}ReportingInterval", rows[0])),
        "86400"
    );
    let long = set_one(&rows[0], vec![ParamSetting::new("ReportingInterval", "60")]);
    engine.set(&usp(), &long).await.unwrap();
    engine
        .delete(
            &usp(),
            &hal::engine::DeleteRequest::new(vec![rows[15].clone()]),
        )
        .await
        .unwrap();
    let add = add_one(
        "Device.BulkData.Profile.",
        vec![ParamSetting::new("ReportingInterval", "59")],
    );
    let refused = engine.add(&usp(), &add).await.unwrap_err();
    assert_eq!(refused.error.usp_error(), 7021, "{refused:?}");
    assert_eq!(refused.param_errors[0].error.usp_error(), 7012);
}

//! Hostile requests to the engine, as a controller or ACS might send them: floods of items,
//! thousands of search terms, reference cycles, oversized values, a flood of device inputs
//! and cut or garbled flash sections. Each request ends in a typed error with the right CWMP
//! fault and USP error code, without a panic, and leaves the store as it was; a damaged
//! section boots without it, reported.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use common::{acs, add_one, set_one, start, stored, usp};
use hal::engine::{
    AddRequest, AllowAll, DeleteRequest, GetNamesRequest, GetRequest, Notice, ObjectCreation,
    ObjectSettings, OperateRequest, ParamSetting, SetRequest,
};
use hal::sim::SimDevice;
use hal::traits::Section;
use hal::transfer::{FileTransfer, FileType};
use hal::{Engine, EngineError};
use tr181_model::store::Store;

/// Resources exceeded: CWMP 9004, USP 7005.
fn assert_limit(e: &EngineError) {
    assert_eq!((e.cwmp_fault(), e.usp_error()), (9004, 7005), "{e:?}");
}

async fn engine() -> (Arc<SimDevice>, Engine) {
    let sim = SimDevice::new("SIM0666");
    let (engine, _) = start(&sim, Arc::new(AllowAll)).await;
    (sim, engine)
}

fn snapshot(engine: &Engine) -> Store {
    engine.read(Store::clone)
}

#[tokio::test]
async fn more_items_than_a_request_may_hold_are_refused_whole() {
    let (_sim, engine) = engine().await;
    let before = snapshot(&engine);
    let paths: Vec<String> = (0..4097)
        .map(|i| format!("Device.NAT.PortMapping.{i}."))
        .collect();
    let e = engine
        .get(&usp(), &GetRequest::new(paths.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::LimitExceeded { .. }), "{e:?}");
    assert_limit(&e);

    let settings = (0..4097)
        .map(|_| ObjectSettings::new("Device.NAT.PortMapping.1.", vec![]))
        .collect();
    let failure = engine
        .set(&usp(), &SetRequest::new(settings))
        .await
        .unwrap_err();
    assert_limit(&failure.error);

    let creations = (0..4097)
        .map(|_| ObjectCreation::new("Device.NAT.PortMapping.", vec![]))
        .collect();
    let failure = engine
        .add(&acs(), &AddRequest::new(creations))
        .await
        .unwrap_err();
    assert_limit(&failure.error);

    let failure = engine
        .delete(&usp(), &DeleteRequest::new(paths))
        .await
        .unwrap_err();
    assert_limit(&failure.error);
    assert!(snapshot(&engine) == before, "nothing was written");
}

#[tokio::test]
async fn thousands_of_search_terms_fail_the_path_not_the_engine() {
    let (_sim, engine) = engine().await;
    let before = snapshot(&engine);
    let terms = vec!["Enable==true"; 3000].join("&&");
    let path = format!("Device.NAT.PortMapping.[{terms}].Description");
    let response = engine
        .get(
            &usp(),
            &GetRequest::new([path.as_str(), "Device.NAT.PortMapping.1.Enable"]),
        )
        .await
        .unwrap();
    let failure = response.results().next().unwrap().outcome.unwrap_err();
    assert_limit(&failure.error);
    assert!(
        response.results().nth(1).unwrap().outcome.is_ok(),
        "the other path is answered"
    );

    let object = format!("Device.NAT.PortMapping.[{terms}].");
    let failure = engine
        .set(
            &usp(),
            &set_one(&object, vec![ParamSetting::new("Description", "x")]),
        )
        .await
        .unwrap_err();
    assert_limit(&failure.error);
    let failure = engine
        .delete(&usp(), &DeleteRequest::new([object]))
        .await
        .unwrap_err();
    assert_limit(&failure.error);
    assert!(snapshot(&engine) == before);
}

#[tokio::test]
async fn a_reference_cycle_stops_at_the_follow_limit() {
    let (_sim, engine) = engine().await;
    // Two IP interfaces whose LowerLayers name each other.
    for _ in 0..2 {
        engine
            .add(&acs(), &add_one("Device.IP.Interface.", vec![]))
            .await
            .unwrap();
    }
    let rows: Vec<String> = engine.read(|s| {
        s.instances(
            "Device.IP.Interface.",
            tr181_model::schema::Protocol::Usp,
            true,
        )
        .unwrap()
        .into_iter()
        .map(|i| i.path)
        .collect()
    });
    let (a, b) = (&rows[rows.len() - 2], &rows[rows.len() - 1]);
    for (row, target) in [(a, b), (b, a)] {
        engine
            .set(
                &acs(),
                &set_one(row, vec![ParamSetting::new("LowerLayers", target.as_str())]),
            )
            .await
            .unwrap();
    }
    let before = snapshot(&engine);
    let follow = |n: usize| format!("{a}{}Name", "LowerLayers#*+.".repeat(n));
    let response = engine
        .get(&usp(), &GetRequest::new([follow(8), follow(9)]))
        .await
        .unwrap();
    assert!(
        response.results().next().unwrap().outcome.is_ok(),
        "eight follows resolve"
    );
    assert_limit(
        &response
            .results()
            .nth(1)
            .unwrap()
            .outcome
            .unwrap_err()
            .error,
    );
    // Through a search expression on every row.
    let search = format!(
        "Device.IP.Interface.[{}Enable==true].Name",
        "LowerLayers#*+.".repeat(9)
    );
    let response = engine
        .get(&usp(), &GetRequest::new([search]))
        .await
        .unwrap();
    assert_limit(
        &response
            .results()
            .next()
            .unwrap()
            .outcome
            .unwrap_err()
            .error,
    );
    assert!(snapshot(&engine) == before, "reading changes nothing");
}

#[tokio::test]
async fn usp_path_syntax_from_an_acs_is_an_invalid_name() {
    let (_sim, engine) = engine().await;
    let before = snapshot(&engine);
    let invalid = |e: &EngineError, path: &str| {
        assert!(
            matches!(e, EngineError::Model(tr181_model::Error::InvalidPath { path: p, .. }) if p == path),
            "{path}: {e:?}"
        );
        assert_eq!(e.cwmp_fault(), 9005, "{path}");
    };
    for path in [
        "Device.WiFi.SSID.*.SSID",
        "Device.WiFi.SSID.[Enable==true].SSID",
        "Device.IP.Interface.1.LowerLayers+.Name",
        "Device.NAT.PortMapping.*.",
    ] {
        // A controller may use the syntax; an ACS may not, in a read or a write.
        let read = engine.get(&usp(), &GetRequest::new([path])).await.unwrap();
        assert!(
            read.results().next().unwrap().outcome.is_ok(),
            "{path}: {read:?}"
        );
        let read = engine.get(&acs(), &GetRequest::new([path])).await.unwrap();
        invalid(
            &read.results().next().unwrap().outcome.unwrap_err().error,
            path,
        );
        let names = engine
            .get_names(&acs(), &GetNamesRequest::new(path, false))
            .await
            .unwrap_err();
        invalid(&names, path);
        // A read that takes instance wildcards (TR-069 Amendment 6) takes only those.
        let read = engine
            .get(
                &acs(),
                &GetRequest::new([path]).with_instance_wildcards(true),
            )
            .await
            .unwrap();
        let read = &read.results().next().unwrap().outcome;
        let names = engine
            .get_names(
                &acs(),
                &GetNamesRequest::new(path, false).with_instance_wildcards(true),
            )
            .await;
        if path.contains('*') {
            assert!(read.is_ok(), "{path}: {read:?}");
            assert!(!names.unwrap().is_empty(), "{path}");
        } else {
            invalid(&read.as_ref().unwrap_err().error, path);
            invalid(&names.unwrap_err(), path);
        }
    }
    let failure = engine
        .set(
            &acs(),
            &SetRequest::from_parameters([("Device.WiFi.SSID.*.SSID", "owned")]),
        )
        .await
        .unwrap_err();
    invalid(&failure.error, "Device.WiFi.SSID.*.");
    assert_eq!(failure.param_errors[0].path, "Device.WiFi.SSID.*.SSID");
    let failure = engine
        .add(
            &acs(),
            &add_one("Device.IP.Interface.*.IPv4Address.", vec![]),
        )
        .await
        .unwrap_err();
    invalid(&failure.error, "Device.IP.Interface.*.IPv4Address.");
    let failure = engine
        .delete(&acs(), &DeleteRequest::new(["Device.NAT.PortMapping.*."]))
        .await
        .unwrap_err();
    invalid(&failure.error, "Device.NAT.PortMapping.*.");
    let error = engine
        .operate(
            &acs(),
            &OperateRequest::new("Device.IP.Interface.*.Reset()", "k"),
        )
        .await
        .unwrap_err();
    invalid(&error, "Device.IP.Interface.*.Reset()");
    assert!(snapshot(&engine) == before, "nothing was written");
}

#[tokio::test]
async fn one_oversized_value_fails_the_whole_write() {
    let (_sim, engine) = engine().await;
    let before = snapshot(&engine);
    let huge = "x".repeat(64 * 1024 + 1);
    let request = SetRequest::new(vec![
        ObjectSettings::new(
            "Device.NAT.PortMapping.1.",
            vec![ParamSetting::new("Description", "fine")],
        ),
        ObjectSettings::new(
            "Device.WiFi.SSID.1.",
            vec![ParamSetting::new("SSID", huge.as_str())],
        ),
    ]);
    let failure = engine.set(&acs(), &request).await.unwrap_err();
    assert_limit(&failure.error);
    // An Add with a hostile required parameter adds nothing either: the object fails with
    // 7021 "Required parameter failed", the parameter with its own 7005.
    let failure = engine
        .add(
            &usp(),
            &add_one(
                "Device.NAT.PortMapping.",
                vec![ParamSetting::new("Description", huge.as_str())],
            ),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(failure.error, EngineError::RequiredParameterFailed { .. }),
        "{failure:?}"
    );
    assert_eq!(
        (failure.error.cwmp_fault(), failure.error.usp_error()),
        (9003, 7021)
    );
    assert_eq!(failure.param_errors.len(), 1);
    assert_limit(&failure.param_errors[0].error);
    assert!(snapshot(&engine) == before, "all or nothing");
}

#[tokio::test]
async fn a_flood_of_device_inputs_is_bounded() {
    let (sim, engine) = engine().await;
    for i in 0..50_000 {
        sim.raise_event(
            "Device.X_ACME-COM_Button.Pressed!",
            vec![("n".into(), i.to_string())],
        );
    }
    let handled = engine.handle_device_inputs().await.unwrap();
    let limits = engine.config();
    assert!(
        handled <= limits.max_device_inputs,
        "{handled} inputs handled"
    );
    assert!(engine.pending_notices().len() <= limits.max_notices);
    // The newest survive: the oldest were dropped.
    let last = engine.pending_notices().pop().unwrap().1;
    assert!(format!("{last:?}").contains("49999"), "{last:?}");
}

/// A flash directory written by a device with a changed SSID, a pending device event and a
/// transfer in progress; returns each section's bytes.
async fn used_flash(dir: &std::path::Path) -> Vec<(Section, Vec<u8>)> {
    let sim = SimDevice::with_dir("SIM0667", dir).unwrap();
    let (engine, _) = start(&sim, Arc::new(AllowAll)).await;
    let ssid = set_one(
        "Device.WiFi.SSID.1.",
        vec![ParamSetting::new("SSID", "Kept")],
    );
    engine.set(&usp(), &ssid).await.unwrap();
    sim.raise_event("Device.X_ACME-COM_Button.Pressed!", Vec::new());
    engine.handle_device_inputs().await.unwrap();
    let download = FileTransfer::download(FileType::FirmwareImage, "https://fw.example/1.bin");
    engine.transfer(&acs(), download).await.unwrap();
    [Section::Store, Section::Events, Section::Transfers]
        .into_iter()
        .map(|section| (section, std::fs::read(dir.join(section.name())).unwrap()))
        .collect()
}

/// Section `s` of what [`used_flash`] saved, as JSON.
fn section_json(saved: &[(Section, Vec<u8>)], s: Section) -> serde_json::Value {
    let bytes = &saved.iter().find(|(n, _)| *n == s).unwrap().1;
    serde_json::from_slice(bytes).unwrap()
}

/// A power cut or a worn flash leaves a section cut short or garbled: the device still boots,
/// without that section only, and says which one ([`BootInfo::discarded`]); a store that does
/// not read is the factory store (a bootstrap). The next boot finds nothing to discard.
#[tokio::test]
async fn a_cut_or_garbled_flash_section_boots_without_it() {
    let path = std::env::temp_dir().join(format!("hal-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    let saved = used_flash(&path).await;
    for (section, bytes) in &saved {
        let len = bytes.len();
        let mut damaged: Vec<Vec<u8>> = [0, 1, len / 3, len / 2, len - 1]
            .into_iter()
            .map(|cut| bytes[..cut].to_vec())
            .collect();
        damaged.push(b"\xff\xfe\x00garbage".to_vec());
        damaged.push(vec![b'['; 100_000]);
        damaged.push(b"{\"format\":99}".to_vec());
        for damage in damaged {
            for (other, whole) in &saved {
                std::fs::write(path.join(other.name()), whole).unwrap();
            }
            std::fs::write(path.join(section.name()), &damage).unwrap();
            let sim = SimDevice::with_dir("SIM0667", &path).unwrap();
            let (engine, info) = start(&sim, Arc::new(AllowAll)).await;
            let what = format!("{section:?} as {:?}", String::from_utf8_lossy(&damage));
            assert_eq!(info.discarded, [*section], "{what}");
            assert_eq!(info.bootstrap, *section == Section::Store, "{what}");
            // The other sections are read as they were.
            let ssid = if *section == Section::Store {
                "Acme-2G"
            } else {
                "Kept"
            };
            assert_eq!(stored(&engine, "Device.WiFi.SSID.1.SSID"), ssid, "{what}");
            let event_kept = engine
                .pending_notices()
                .iter()
                .any(|(_, n)| matches!(n, Notice::Event { .. }));
            assert_eq!(event_kept, *section != Section::Events, "{what}");
            let running = engine.running_transfers();
            assert_eq!(
                running.len(),
                usize::from(*section != Section::Transfers),
                "{what}"
            );
            drop(engine);
            let sim = SimDevice::with_dir("SIM0667", &path).unwrap();
            let (_engine, again) = start(&sim, Arc::new(AllowAll)).await;
            assert_eq!(again.discarded, [], "{what}: replaced at the first boot");
        }
    }
    let _ = std::fs::remove_dir_all(&path);
}

/// A section that reads but holds one entry of the wrong JSON type (a number where a value's
/// text is stored, a damaged notice, a damaged transfer) loses that entry only: the others
/// are kept, and the count is named in [`BootInfo::malformed`].
#[tokio::test]
async fn one_malformed_entry_of_a_flash_section_is_dropped_alone() {
    use serde_json::json;

    let path = std::env::temp_dir().join(format!("hal-malformed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    let saved = used_flash(&path).await;
    let section = |s: Section| section_json(&saved, s);
    let mut store = section(Section::Store);
    store["objects"]["Device.WiFi.SSID.1."]["Enable"] = json!(1);
    let mut events = section(Section::Events);
    let pending = events["pending"].as_array_mut().unwrap();
    let good = pending.len();
    pending.insert(0, json!([0, {"Event": 7}]));
    let mut transfers = section(Section::Transfers);
    let running = transfers["running"].as_array_mut().unwrap();
    running.push(json!({"id": "two", "direction": []}));
    for (s, doc) in [
        (Section::Store, &store),
        (Section::Events, &events),
        (Section::Transfers, &transfers),
    ] {
        std::fs::write(path.join(s.name()), serde_json::to_vec(doc).unwrap()).unwrap();
    }

    let sim = SimDevice::with_dir("SIM0667", &path).unwrap();
    let (engine, info) = start(&sim, Arc::new(AllowAll)).await;
    assert_eq!(info.discarded, []);
    assert!(!info.bootstrap);
    assert_eq!(
        info.malformed,
        [
            (Section::Store, 1),
            (Section::Events, 1),
            (Section::Transfers, 1)
        ]
    );
    assert_eq!(stored(&engine, "Device.WiFi.SSID.1.SSID"), "Kept");
    // The good notices, and this boot's.
    assert_eq!(engine.pending_notices().len(), good + 1);
    assert!(
        engine
            .pending_notices()
            .iter()
            .any(|(_, n)| matches!(n, Notice::Event { .. }))
    );
    assert_eq!(engine.running_transfers().len(), 1);
    let _ = std::fs::remove_dir_all(&path);
}

/// A section that reads but holds more than the engine keeps while running (a garbled file
/// that still parses, or one written for larger limits) is cut to the engine's bounds as
/// running would cut it, keeping the newest notices and transfers, and named in
/// [`BootInfo::trimmed`]; the cut section is saved, so the next boot finds it within bounds.
/// A running engine refuses a transfer beyond its bound as resources exceeded.
#[tokio::test]
async fn an_oversized_flash_section_is_held_to_the_engine_bounds() {
    use serde_json::json;

    let path = std::env::temp_dir().join(format!("hal-oversized-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    let saved = used_flash(&path).await;
    let section = |s: Section| section_json(&saved, s);
    let mut events = section(Section::Events);
    let event = events["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[1].get("Event").is_some())
        .unwrap()
        .clone();
    let flood = 3000_u64;
    events["pending"] = (1..=flood)
        .map(|id| json!([id, event[1].clone()]))
        .collect();
    events["acknowledged"] = (1..=flood)
        .map(|id| json!([id + flood, ["Cwmp"]]))
        .collect();
    events["next_id"] = json!(flood + 1);
    let mut transfers = section(Section::Transfers);
    let transfer = transfers["running"][0].clone();
    transfers["running"] = (1..=500_u32)
        .map(|id| {
            let mut t = transfer.clone();
            t["id"] = json!(id);
            t
        })
        .collect();
    transfers["next_id"] = json!(500);
    for (s, doc) in [(Section::Events, &events), (Section::Transfers, &transfers)] {
        std::fs::write(path.join(s.name()), serde_json::to_vec(doc).unwrap()).unwrap();
    }

    let sim = SimDevice::with_dir("SIM0667", &path).unwrap();
    let (engine, info) = start(&sim, Arc::new(AllowAll)).await;
    let config = *engine.config();
    assert_eq!(info.discarded, []);
    assert_eq!(info.trimmed, [Section::Events, Section::Transfers]);
    let pending = engine.pending_notices();
    assert_eq!(
        pending.len(),
        config.max_notices,
        "this boot's notice pushed one more out"
    );
    assert!(matches!(pending.last(), Some((_, Notice::Booted(_)))));
    let oldest_kept = flood + 2 - u64::try_from(config.max_notices).unwrap();
    assert_eq!(pending[0].0.0, oldest_kept, "the newest are kept");
    let running = engine.running_transfers();
    assert_eq!(running.len(), config.max_transfers);
    assert_eq!(running[0].0.0, 500 - 63, "the newest are kept");
    let download = FileTransfer::download(FileType::FirmwareImage, "https://fw.example/2.bin");
    assert_limit(&engine.transfer(&acs(), download).await.unwrap_err());
    drop(engine);

    let sim = SimDevice::with_dir("SIM0667", &path).unwrap();
    let (engine, again) = start(&sim, Arc::new(AllowAll)).await;
    assert_eq!(again.trimmed, [], "saved within bounds at the first boot");
    assert_eq!(engine.running_transfers().len(), config.max_transfers);
    let _ = std::fs::remove_dir_all(&path);
}

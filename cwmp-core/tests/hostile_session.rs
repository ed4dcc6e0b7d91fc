//! Hostile input through the whole CPE session (the codec's own hostile suite is
//! `hostile.rs`): an ACS whose requests are billion-laughs documents, external entities,
//! 10,000-deep nesting, huge attribute counts, invalid UTF-8, arrays of 4097 entries or
//! declaring a billion, oversized bodies and values, search expressions and reference
//! follows (which CWMP does not have); and HTTP answers with header and cookie floods and
//! redirect loops. Each request is answered with the right CWMP fault (its ID echoed), each
//! bad HTTP answer ends the session with the right failure, and the store is unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod attacks;
mod support;

use cwmp_core::codec::{Body, Envelope, InformResponse, Limits};
use cwmp_core::session::{
    Event, HttpRequest, HttpResponse, Input, Output, SessionConfig, SessionFailure,
};
use support::{Cpe, STEP_BOUND};
use tr181_model::store::Store;

fn wrap(body: &str) -> Vec<u8> {
    attacks::envelope("hostile", body).into_bytes()
}

fn snapshot(cpe: &Cpe) -> Store {
    cpe.engine.read(Store::clone)
}

/// Drains the session, running its engine requests, until it POSTs (or waits: `None`).
async fn next_post(cpe: &mut Cpe) -> Option<HttpRequest> {
    for _ in 0..STEP_BOUND {
        match cpe.session.poll_output() {
            Output::Transmit(request) => return Some(request),
            Output::EngineRequest {
                id,
                principal,
                request,
            } => {
                let result = request.execute(&cpe.engine, &principal).await;
                cpe.session.respond(id, result).unwrap();
                cpe.sync().await;
            }
            Output::Event(event) => cpe.events.push(event),
            Output::Timeout(_) => return None,
            other => panic!("unexpected output {other:?}"),
        }
    }
    panic!("livelock");
}

fn answer(cpe: &mut Cpe, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    cpe.session
        .handle_input(Input::HttpResponse(HttpResponse::new(
            status, headers, body,
        )))
        .unwrap();
}

fn envelope_of(request: &HttpRequest) -> Envelope {
    let lax = Limits::default().with_max_array_entries(usize::MAX);
    Envelope::decode(&request.body, &lax).unwrap()
}

/// A booted CPE whose bootstrap Inform has been acknowledged: the session waits for the
/// ACS's first request (the CPE's empty POST is in flight).
async fn in_session() -> Cpe {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let inform = next_post(&mut cpe).await.expect("the bootstrap Inform");
    let inform = envelope_of(&inform);
    assert!(matches!(inform.body, Body::Inform(_)));
    let mut response = Envelope::new(
        inform.namespace,
        Body::InformResponse(InformResponse { max_envelopes: 1 }),
    );
    response.header.id = inform.header.id;
    let mut bytes = Vec::new();
    response.encode(&mut bytes).unwrap();
    answer(&mut cpe, 200, &[], &bytes);
    let empty = next_post(&mut cpe).await.expect("the empty POST");
    assert!(empty.body.is_empty());
    cpe
}

fn billion_laughs() -> Vec<u8> {
    attacks::billion_laughs("hostile").into_bytes()
}

#[tokio::test(flavor = "current_thread")]
async fn hostile_acs_requests_get_the_right_fault_and_change_nothing() {
    let mut cpe = in_session().await;
    let before = snapshot(&cpe);
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let attrs: String = (0..20_000).map(|i| format!(" a{i}=\"x\"")).collect();
    let mut bad_utf8 = wrap("<cwmp:Reboot><CommandKey>k</CommandKey></cwmp:Reboot>");
    let at = bad_utf8.iter().position(|&b| b == b'k').unwrap();
    bad_utf8[at] = 0xff;
    let many = "<ParameterValueStruct><Name>Device.WiFi.SSID.1.SSID</Name><Value>x</Value></ParameterValueStruct>"
        .repeat(4097);
    let huge_value = "v".repeat(64 * 1024 + 1);
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        ("billion laughs", billion_laughs(), 9003),
        (
            "external entity",
            [
                b"<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>".as_slice(),
                &wrap("<cwmp:Reboot><CommandKey>&xxe;</CommandKey></cwmp:Reboot>"),
            ]
            .concat(),
            9003,
        ),
        (
            "undeclared entity",
            wrap("<cwmp:Reboot><CommandKey>&xxe;</CommandKey></cwmp:Reboot>"),
            9003,
        ),
        (
            "10,000-deep nesting",
            wrap(&format!("<cwmp:X_Deep>{deep}</cwmp:X_Deep>")),
            9004,
        ),
        (
            "20,000 attributes",
            wrap(&format!("<cwmp:GetRPCMethods{attrs}/>")),
            9004,
        ),
        ("invalid UTF-8", bad_utf8, 9003),
        (
            "4097 array entries",
            wrap(&format!(
                "<cwmp:SetParameterValues><ParameterList>{many}</ParameterList>\
                 <ParameterKey>k</ParameterKey></cwmp:SetParameterValues>"
            )),
            9004,
        ),
        (
            "a value over 64 KiB",
            wrap(&format!(
                "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct>\
                 <Name>Device.WiFi.SSID.1.SSID</Name><Value>{huge_value}</Value>\
                 </ParameterValueStruct></ParameterList><ParameterKey>k</ParameterKey>\
                 </cwmp:SetParameterValues>"
            )),
            9004,
        ),
        (
            "a body over 1 MiB",
            [wrap("<cwmp:GetRPCMethods/>"), vec![b' '; 1024 * 1024]].concat(),
            9004,
        ),
        (
            "a search expression",
            wrap(
                "<cwmp:GetParameterValues><ParameterNames>\
                 <string>Device.WiFi.SSID.[SSID==\"x\"].Enable</string>\
                 </ParameterNames></cwmp:GetParameterValues>",
            ),
            9005,
        ),
        (
            "a reference follow",
            wrap(
                "<cwmp:GetParameterValues><ParameterNames>\
                 <string>Device.IP.Interface.1.LowerLayers+.Name</string>\
                 </ParameterNames></cwmp:GetParameterValues>",
            ),
            9005,
        ),
        (
            "a write of a value over 64 KiB split in two text nodes",
            wrap(&format!(
                "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct>\
                 <Name>Device.WiFi.SSID.1.SSID</Name><Value>{}<![CDATA[{}]]></Value>\
                 </ParameterValueStruct></ParameterList><ParameterKey>k</ParameterKey>\
                 </cwmp:SetParameterValues>",
                "v".repeat(40 * 1024),
                "v".repeat(40 * 1024)
            )),
            9004,
        ),
    ];
    for (what, body, fault) in cases {
        answer(&mut cpe, 200, &[("Content-Type", "text/xml")], &body);
        let reply = next_post(&mut cpe)
            .await
            .unwrap_or_else(|| panic!("{what}: no answer"));
        let envelope = envelope_of(&reply);
        let Body::Fault(f) = &envelope.body else {
            panic!("{what}: answered {:?}", envelope.body);
        };
        assert_eq!(f.code(), Some(fault), "{what}");
        // The ID is echoed when the problem lies after the header; a DOCTYPE, an oversized
        // body or invalid UTF-8 (checked over the whole body first) is refused before the
        // header is read.
        let id_read = !["1 MiB", "billion", "external", "UTF-8"]
            .iter()
            .any(|w| what.contains(w));
        let echoed = id_read.then_some("hostile");
        assert_eq!(envelope.header.id.as_deref(), echoed, "{what}: ID");
        assert!(cpe.session.in_session(), "{what}: the session goes on");
        assert!(snapshot(&cpe) == before, "{what}: the store changed");
    }
    // A wildcard write names no CWMP parameter: 9003 with 9005 for the name, nothing set.
    answer(
        &mut cpe,
        200,
        &[],
        &wrap(
            "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct>\
             <Name>Device.WiFi.SSID.*.SSID</Name><Value>owned</Value></ParameterValueStruct>\
             </ParameterList><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>",
        ),
    );
    let reply = envelope_of(&next_post(&mut cpe).await.unwrap());
    let Body::Fault(fault) = &reply.body else {
        panic!("{:?}", reply.body)
    };
    let detail = fault.detail.as_ref().unwrap();
    assert_eq!(detail.fault_code, 9003);
    assert_eq!(detail.set_parameter_values_fault[0].fault_code, 9005);
    assert_eq!(
        detail.set_parameter_values_fault[0].parameter_name,
        "Device.WiFi.SSID.*.SSID"
    );
    assert!(snapshot(&cpe) == before);
    // A SOAP array declaring a billion entries is read as the two it has.
    answer(
        &mut cpe,
        200,
        &[],
        &wrap(
            "<cwmp:GetParameterValues><ParameterNames soap-enc:arrayType=\"xsd:string[1000000000]\">\
             <string>Device.DeviceInfo.SerialNumber</string><string>Device.DeviceInfo.ProductClass</string>\
             </ParameterNames></cwmp:GetParameterValues>",
        ),
    );
    let reply = envelope_of(&next_post(&mut cpe).await.unwrap());
    let Body::GetParameterValuesResponse(values) = reply.body else {
        panic!("{:?}", reply.body)
    };
    assert_eq!(values.parameter_list.len(), 2);
    assert!(snapshot(&cpe) == before);
}

/// The failure the session ended with after `cpe`'s current POST got this answer.
async fn failure_after(
    cpe: &mut Cpe,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<SessionFailure> {
    answer(cpe, status, headers, body);
    let seen = cpe.events.len();
    assert!(
        next_post(cpe).await.is_none(),
        "the session stopped posting"
    );
    cpe.events[seen..].iter().find_map(|e| match e {
        Event::SessionEnded(end) => end.failure.clone(),
        _ => None,
    })
}

#[tokio::test(flavor = "current_thread")]
async fn hostile_http_answers_end_the_session_with_the_right_failure() {
    let mut cpe = in_session().await;
    let before = snapshot(&cpe);
    let headers: Vec<(String, String)> = (0..65).map(|i| (format!("X-{i}"), "v".into())).collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let failure = failure_after(&mut cpe, 200, &headers, b"").await;
    assert_eq!(failure, Some(SessionFailure::Limit("HTTP headers")));
    assert!(!cpe.session.in_session());

    // A header section over 8 KiB in one header.
    let mut cpe = in_session().await;
    let long = "v".repeat(9 * 1024);
    let failure = failure_after(&mut cpe, 200, &[("X-Long", &long)], b"").await;
    assert_eq!(failure, Some(SessionFailure::Limit("HTTP headers")));

    // Seventeen cookies.
    let mut cpe = in_session().await;
    let cookies: Vec<String> = (0..17).map(|i| format!("c{i}=v")).collect();
    let headers: Vec<(&str, &str)> = cookies.iter().map(|c| ("Set-Cookie", c.as_str())).collect();
    let failure = failure_after(&mut cpe, 204, &headers, b"").await;
    assert_eq!(failure, Some(SessionFailure::Limit("cookies")));

    // A redirect loop: followed five times, then the session fails.
    let mut cpe = in_session().await;
    for _ in 0..5 {
        answer(
            &mut cpe,
            307,
            &[("Location", "https://acs.example.net/loop")],
            b"",
        );
        let again = next_post(&mut cpe).await.expect("the redirect is followed");
        assert_eq!(again.url, "https://acs.example.net/loop");
    }
    let failure = failure_after(
        &mut cpe,
        307,
        &[("Location", "https://acs.example.net/loop")],
        b"",
    )
    .await;
    assert_eq!(failure, Some(SessionFailure::Redirect));

    // A billion-laughs InformResponse: the Inform is not acknowledged, the session fails
    // with the decode error (fault 9003).
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    next_post(&mut cpe).await.expect("the Inform");
    let failure = failure_after(&mut cpe, 200, &[], &billion_laughs()).await;
    let Some(SessionFailure::Decode(e)) = failure else {
        panic!("{failure:?}")
    };
    assert_eq!(e.cpe_fault(), 9003);
    assert!(snapshot(&cpe) == before, "no session changed the store");
}

/// A session started from `state`, and the state it would save at once.
fn restore(
    state: cwmp_core::session::PersistedState,
) -> (
    cwmp_core::session::Session,
    cwmp_core::session::PersistedState,
) {
    use cwmp_core::session::{ServerSettings, Session};

    let session = Session::new(
        SessionConfig::default(),
        ServerSettings::default(),
        Some(state),
        support::origin(),
    );
    let kept = session.persisted_state();
    (session, kept)
}

/// A saved state that parses yet holds more than a running session ever does (a state file
/// garbled by hand or by the flash, or written for larger limits) is held to the session's
/// limits when restored, keeping the oldest entries of what running refuses once full.
#[test]
fn a_restored_state_is_held_to_the_session_limits() {
    use cwmp_core::session::PersistedState;
    use serde_json::json;

    let limits = SessionConfig::default().limits;
    let (events, attributes, informs, transfers) = (1000, limits.max_attributes + 100, 500, 500);
    let transfer = |i: usize| {
        json!({"command_key": format!("t{i}"), "origin": "Download", "file_type": "1 Firmware Upgrade Image",
               "file_size": 0, "target_file_name": "", "transfer_id": null, "start_in_secs": null,
               "url": "", "username": "", "password": ""})
    };
    let text = json!({
        "events": (0..events).map(|i| json!({"code": "M ScheduleInform", "command_key": format!("k{i}")})).collect::<Vec<_>>(),
        "retry_count": 0, "bootstrapped": true, "acs_url": "http://acs.invalid/",
        "attributes": (0..attributes).map(|i| (format!("Device.X_{i:05}"), json!({"notification": 2,
            "access_list": if i == 0 { vec!["Subscriber"; 5000] } else { vec![] }}))).collect::<serde_json::Map<_, _>>(),
        "scheduled_informs": (0..informs).map(|i| json!({"command_key": format!("s{i}"), "remaining_secs": 60})).collect::<Vec<_>>(),
        "transfers": (0..transfers).map(transfer).collect::<Vec<_>>(),
        "du_changes": [], "transfer_completes": [],
    });
    let state: PersistedState = serde_json::from_value(text).unwrap();
    assert_eq!(state.attributes.len(), attributes, "the file parses whole");

    let (session, kept) = restore(state);
    assert_eq!(kept.events.len(), 64);
    // `M …` events go oldest first, as while running.
    assert_eq!(kept.events[0].command_key, format!("k{}", events - 64));
    assert_eq!(kept.attributes.len(), limits.max_attributes);
    assert_eq!(kept.attributes["Device.X_00000"].access_list.len(), 4096);
    assert_eq!(kept.scheduled_informs.len(), limits.max_scheduled_informs);
    assert_eq!(kept.transfers.len(), limits.max_transfers);
    assert_eq!(kept.transfers[0].command_key, "t0");
    let dropped = (events - 64)
        + 100
        + (5000 - 4096)
        + (informs - limits.max_scheduled_informs)
        + (transfers - limits.max_transfers);
    assert_eq!(session.dropped_on_restore(), dropped);
}

/// The CPE's own reports are held to their bounds too: TransferCompletes take the transfers'
/// slots before queued transfers (a result is never dropped for a transfer not yet run), the
/// requests a running session refuses once full keep their oldest entries, and the reports
/// it drops the oldest of keep their newest. Nothing beyond the bounds survives the next
/// save.
#[test]
fn a_restored_state_holds_the_cpe_reports_to_their_bounds() {
    use cwmp_core::session::PersistedState;
    use serde_json::{Value, json};

    let limits = SessionConfig::default().limits;
    let n = 500;
    let many = |f: &dyn Fn(usize) -> Value| (0..n).map(f).collect::<Vec<_>>();
    let result = |i: usize| {
        json!({"uuid": format!("u{i}"), "deployment_unit_ref": "", "version": "", "current_state": "Installed",
               "resolved": true, "execution_unit_ref_list": "", "start_time": "", "complete_time": "",
               "fault_code": 0, "fault_string": "", "operation": "Install"})
    };
    let operation = |i: usize| {
        json!({"kind": "Install", "uuid": format!("op{i}"), "version": "", "url": "", "username": "",
               "password": "", "execution_env_ref": "", "running": null, "event": null, "result": null})
    };
    let text = json!({
        "events": [], "retry_count": 0, "bootstrapped": true, "acs_url": "http://acs.invalid/",
        "attributes": {}, "scheduled_informs": [],
        "transfers": many(&|i| json!({"command_key": format!("t{i}"), "origin": "Upload", "file_type": "",
            "file_size": 0, "target_file_name": "", "transfer_id": i, "start_in_secs": null,
            "url": "", "username": "", "password": ""})),
        "transfer_completes": many(&|i| json!({"notice": null, "transfer_id": i, "command_key": format!("c{i}"),
            "origin": "Download", "fault_code": 0, "fault_string": "", "start_time": "", "complete_time": ""})),
        "du_changes": many(&|i| json!({"id": i, "command_key": format!("d{i}"),
            "operations": (0..100).map(operation).collect::<Vec<_>>(), "notices": []})),
        "autonomous_du_changes": many(&|i| json!({"notice": i, "result": result(i)})),
        "autonomous_transfers": many(&|i| json!({"id": i, "announce_url": "", "transfer_url": "",
            "is_download": true, "file_type": "", "file_size": 0, "target_file_name": "", "fault_code": 0,
            "fault_string": "", "start_time": "", "complete_time": ""})),
        "request_downloads": many(&|i| json!({"id": i, "file_type": "1 Firmware Upgrade Image", "args": []})),
    });
    let state: PersistedState = serde_json::from_value(text).unwrap();
    assert_eq!(state.du_changes.len(), n, "the file parses whole");

    let (session, kept) = restore(state);
    let max = limits.max_transfers;
    assert_eq!(kept.transfer_completes.len(), max);
    assert_eq!(kept.transfer_completes[0].command_key, "c0");
    assert!(kept.transfers.is_empty(), "the completions took every slot");
    assert_eq!(kept.du_changes.len(), max);
    assert_eq!(kept.du_changes[0].command_key, "d0");
    assert!(kept.du_changes.iter().all(|c| c.operations.len() == 16));
    assert_eq!(kept.du_changes[0].operations[0].uuid, "op0");
    assert_eq!(kept.autonomous_du_changes.len(), 64);
    assert_eq!(kept.autonomous_du_changes[0].notice, (n - 64) as u64);
    assert_eq!(kept.autonomous_transfers.len(), 64);
    assert_eq!(kept.autonomous_transfers[63].id, (n - 1) as u64);
    assert_eq!(kept.request_downloads.len(), 16);
    assert_eq!(kept.request_downloads[0].id, 0);
    let operations_dropped = max * (100 - 16) + (n - max) * 100;
    let dropped = (n - max) + n + (n - max) + operations_dropped + 2 * (n - 64) + (n - 16);
    assert_eq!(session.dropped_on_restore(), dropped);
}

/// A saved state with entries of the wrong JSON type among good ones (an event whose code is
/// a number, a TransferComplete without its fault code, and a number where an entry of each
/// list or attribute is stored: a power cut or a worn flash) loses those entries alone: the
/// good ones beside them are restored as if the bad ones had never been there, and the bad
/// ones are counted.
#[test]
fn a_wrong_type_entry_in_a_restored_state_costs_itself_only() {
    use cwmp_core::session::PersistedState;
    use serde_json::{Value, json};

    let result = json!({"uuid": "u", "deployment_unit_ref": "", "version": "", "current_state": "Installed",
        "resolved": true, "execution_unit_ref_list": "", "start_time": "", "complete_time": "",
        "fault_code": 0, "fault_string": "", "operation": "Install"});
    let good = json!({
        "events": [{"code": "M Reboot", "command_key": "kept"}],
        "retry_count": 2, "bootstrapped": true, "acs_url": "",
        "attributes": {"Device.DeviceInfo.SoftwareVersion": {"notification": 2, "access_list": []}},
        "scheduled_informs": [{"command_key": "s", "remaining_secs": 60}],
        "transfers": [{"command_key": "t", "origin": "Upload", "file_type": "", "file_size": 0,
            "target_file_name": "", "transfer_id": 3, "start_in_secs": null, "url": "",
            "username": "", "password": ""}],
        "transfer_completes": [{"notice": null, "transfer_id": 1, "command_key": "c",
            "origin": "Download", "fault_code": 0, "fault_string": "", "start_time": "",
            "complete_time": ""}],
        "du_changes": [{"id": 1, "command_key": "d", "notices": [], "operations": [{"kind": "Install",
            "uuid": "u", "version": "", "url": "", "username": "", "password": "",
            "execution_env_ref": "", "running": null, "event": null, "result": result}]}],
        "last_du_change": 1,
        "autonomous_du_changes": [{"notice": 4, "result": result}],
        "autonomous_transfers": [{"id": 1, "announce_url": "", "transfer_url": "",
            "is_download": true, "file_type": "", "file_size": 0, "target_file_name": "",
            "fault_code": 0, "fault_string": "", "start_time": "", "complete_time": ""}],
        "request_downloads": [{"id": 2, "file_type": "1 Firmware Upgrade Image", "args": []}],
        "last_request": 2,
        "lightweight_changed": ["Device.DeviceInfo.UpTime"],
        "lightweight_due": false,
    });
    let mut garbled = good.clone();
    garbled["events"]
        .as_array_mut()
        .unwrap()
        .push(json!({"code": 5, "command_key": ""}));
    let mut incomplete = good["transfer_completes"][0].clone();
    incomplete.as_object_mut().unwrap().remove("fault_code");
    garbled["transfer_completes"]
        .as_array_mut()
        .unwrap()
        .insert(0, incomplete);
    let mut lists = 0;
    for field in garbled.as_object_mut().unwrap().values_mut() {
        match field {
            Value::Array(list) => list.insert(0, json!(7)),
            Value::Object(map) => {
                map.insert("Device.DeviceInfo.UpTime".into(), json!(7));
            }
            _ => continue,
        }
        lists += 1;
    }
    assert_eq!(lists, 10, "every list and the attributes");

    let (_, expected) = restore(serde_json::from_value(good).unwrap());
    let saved = serde_json::to_value(&expected).unwrap();
    let restored = saved.as_object().unwrap().values();
    assert!(
        restored
            .filter(|v| v.is_array())
            .all(|v| v.as_array().unwrap().len() == 1),
        "the good state restores one entry of each list: {saved}"
    );
    let text = serde_json::to_vec(&garbled).unwrap();
    let state: PersistedState = serde_json::from_slice(&text).unwrap();
    assert_eq!(state.malformed_on_load(), lists + 2);
    let (session, kept) = restore(state);
    assert_eq!(kept, expected);
    assert_eq!(session.malformed_on_restore(), lists + 2);
    assert_eq!(session.dropped_on_restore(), 0);
}

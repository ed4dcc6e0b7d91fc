//! `protoc --decode` (Google's reference implementation) accepts what we encode.
//!
//! Every sample Msg (one per Msg type and Notify kind) and every record type is encoded with
//! our codec and decoded by `protoc` against the `.proto` files in `../shared/spec/usp`. The text
//! output must name the expected fields and values and hold no unknown (numbered) field.
//!
//! `protoc` comes from Debian's `protobuf-compiler`. Without it the test fails when `CI` is set
//! and is skipped with a note otherwise.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::header::MsgType;
use usp_core::usp_record::{mqtt_connect_record::MqttVersion, stomp_connect_record::StompVersion};

fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/usp")
}

/// Whether `protoc` can run; panics under CI when it cannot.
fn protoc_available() -> bool {
    match Command::new("protoc").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        result => {
            let why = match result {
                Ok(out) => format!("protoc --version failed: {}", out.status),
                Err(e) => format!("protoc not found: {e}"),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "{why}; CI must install Debian's protobuf-compiler"
            );
            eprintln!("note: skipping the protoc test ({why}); apt-get install protobuf-compiler");
            false
        }
    }
}

/// Runs `protoc --decode=<type>` on `bytes` and returns its text output.
fn protoc_decode(message_type: &str, proto: &str, bytes: &[u8]) -> String {
    let mut child = Command::new("protoc")
        .arg(format!("--decode={message_type}"))
        .arg("-I")
        .arg(spec_dir())
        .arg(proto)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "protoc --decode={message_type} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Lines such as `14: "x"` are fields protoc did not find in the schema.
fn assert_no_unknown_fields(name: &str, text: &str) {
    for line in text.lines() {
        let first = line.trim_start().chars().next();
        assert!(
            !first.is_some_and(|c| c.is_ascii_digit()),
            "{name}: protoc saw an unknown field: {line}\n{text}"
        );
    }
}

/// What the protoc text of each sample must contain, beyond its header.
fn expected_fields(name: &str) -> &'static [&'static str] {
    match name {
        "get" => &[
            "get {",
            "param_paths: \"Device.DeviceInfo.\"",
            "param_paths: \"Device.LocalAgent.EndpointID\"",
            "max_depth: 2",
        ],
        "get_resp" => &[
            "get_resp {",
            "req_path_results {",
            "resolved_path_results {",
            "result_params {",
            "key: \"Manufacturer\"",
            "value: \"ACME\"",
            "err_code: 7026",
            "err_msg: \"Invalid path\"",
        ],
        "set" => &[
            "set {",
            "allow_partial: true",
            "update_objs {",
            "obj_path: \"Device.LocalAgent.Controller.1.\"",
            "param_settings {",
            "param: \"PeriodicNotifInterval\"",
            "value: \"3600\"",
            "required: true",
        ],
        "set_resp" => &[
            "set_resp {",
            "updated_obj_results {",
            "oper_success {",
            "updated_inst_results {",
            "updated_params {",
            "oper_failure {",
            "updated_inst_failures {",
            "err_code: 7010",
        ],
        "add" => &[
            "add {",
            "create_objs {",
            "param: \"EndpointID\"",
            "value: \"proto::ctrl2\"",
        ],
        "add_resp" => &[
            "add_resp {",
            "created_obj_results {",
            "instantiated_path: \"Device.LocalAgent.Controller.2.\"",
            "unique_keys {",
            "param_errs {",
            "oper_failure {",
            "err_code: 7026",
        ],
        "delete" => &[
            "delete {",
            "allow_partial: true",
            "obj_paths: \"Device.LocalAgent.Subscription.*.\"",
        ],
        "delete_resp" => &[
            "delete_resp {",
            "affected_paths: \"Device.LocalAgent.Controller.2.\"",
            "unaffected_path_errs {",
            "err_code: 7024",
            "oper_failure {",
        ],
        "operate" => &[
            "operate {",
            "command: \"Device.IP.Diagnostics.IPPing()\"",
            "command_key: \"ping-1\"",
            "send_resp: true",
            "input_args {",
            "key: \"Host\"",
        ],
        "operate_resp" => &[
            "operate_resp {",
            "req_obj_path: \"Device.LocalAgent.Request.1.\"",
            "req_output_args {",
            "cmd_failure {",
            "err_code: 7022",
        ],
        "notify_event" => &[
            "notify {",
            "subscription_id: \"sub-boot\"",
            "event {",
            "event_name: \"Boot!\"",
            "params {",
        ],
        "notify_value_change" => &[
            "value_change {",
            "param_path: \"Device.DeviceInfo.UpTime\"",
            "param_value: \"42\"",
        ],
        "notify_obj_creation" => &["obj_creation {", "unique_keys {", "key: \"ID\""],
        "notify_obj_deletion" => &[
            "obj_deletion {",
            "obj_path: \"Device.LocalAgent.Subscription.3.\"",
        ],
        "notify_oper_complete_output" => &[
            "oper_complete {",
            "command_name: \"IPPing()\"",
            "req_output_args {",
        ],
        "notify_oper_complete_failure" => &["oper_complete {", "cmd_failure {", "err_code: 7022"],
        "notify_on_board_req" => &[
            "on_board_req {",
            "oui: \"00256D\"",
            "product_class: \"Gateway\"",
            "agent_supported_protocol_versions: \"1.3,1.4\"",
        ],
        "notify_resp" => &["notify_resp {", "subscription_id: \"sub-boot\""],
        "get_supported_dm" => &[
            "get_supported_dm {",
            "first_level_only: true",
            "return_unique_key_sets: true",
        ],
        "get_supported_dm_resp" => &[
            "get_supported_dm_resp {",
            "data_model_inst_uri: \"urn:broadband-forum-org:tr-181-2-19-1\"",
            "supported_obj_path: \"Device.WiFi.Radio.{i}.\"",
            "access: OBJ_ADD_DELETE",
            "is_multi_instance: true",
            "command_type: CMD_SYNC",
            "command_type: CMD_ASYNC",
            "output_arg_names: \"Result.{i}.SSID\"",
            "supported_events {",
            "access: PARAM_READ_WRITE",
            "value_type: PARAM_BOOLEAN",
            "value_change: VALUE_CHANGE_ALLOWED",
            "value_type: PARAM_UNSIGNED_INT",
            "divergent_paths: \"Device.WiFi.Radio.1.\"",
            "unique_key_sets {",
            "key_names: \"Alias\"",
        ],
        "get_instances" => &[
            "get_instances {",
            "obj_paths: \"Device.LocalAgent.Controller.\"",
        ],
        "get_instances_resp" => &[
            "get_instances_resp {",
            "curr_insts {",
            "instantiated_obj_path: \"Device.LocalAgent.Controller.1.MTP.1.\"",
            "unique_keys {",
        ],
        "get_supported_protocol" => &[
            "get_supported_protocol {",
            "controller_supported_protocol_versions: \"1.3,1.4,1.5\"",
        ],
        "get_supported_protocol_resp" => &[
            "get_supported_protocol_resp {",
            "agent_supported_protocol_versions: \"1.3,1.4\"",
        ],
        "register" => &[
            "register {",
            "reg_paths {",
            "path: \"Device.X_ACME_Other.\"",
        ],
        "register_resp" => &[
            "register_resp {",
            "registered_path: \"Device.X_ACME_Service.\"",
            "err_code: 7029",
        ],
        "deregister" => &["deregister {", "paths: \"Device.X_ACME_Service.\""],
        "deregister_resp" => &[
            "deregister_resp {",
            "deregistered_path: \"Device.X_ACME_Service.\"",
            "err_code: 7030",
        ],
        "error" => &[
            "error {",
            "err_code: 7004",
            "err_msg: \"Invalid arguments\"",
            "param_path: \"Device.LocalAgent.Controller.1.Alias\"",
            "err_code: 7012",
        ],
        other => panic!("no expectations for {other}"),
    }
}

#[test]
fn protoc_decodes_every_msg_we_encode() {
    if !protoc_available() {
        return;
    }
    for (name, msg) in common::samples() {
        let mut bytes = Vec::new();
        codec::encode_msg(&msg, &mut bytes);
        let text = protoc_decode("usp.Msg", "usp-msg-1-5.proto", &bytes);
        let msg_type = MsgType::try_from(msg.header.as_ref().unwrap().msg_type).unwrap();
        let kind = match msg_type {
            MsgType::Error => "error {",
            t if t.as_str_name().ends_with("_RESP") => "response {",
            _ => "request {",
        };
        let header_id = format!("msg_id: \"{name}\"");
        // ERROR is 0, the proto3 default, so it is not on the wire and protoc prints nothing.
        let header_type = if msg_type == MsgType::Error {
            "header {".to_owned()
        } else {
            format!("msg_type: {}", msg_type.as_str_name())
        };
        for want in [header_id.as_str(), header_type.as_str(), kind]
            .into_iter()
            .chain(expected_fields(name).iter().copied())
        {
            assert!(
                text.contains(want),
                "{name}: protoc output lacks `{want}`:\n{text}"
            );
        }
        assert_no_unknown_fields(name, &text);
    }
}

#[test]
fn protoc_decodes_every_record_type_we_encode() {
    if !protoc_available() {
        return;
    }
    let builder = RecordBuilder::new("proto::agent", "proto::ctrl").with_version("1.5");
    let get = common::sample("get");
    let records = [
        (
            "no_session_context",
            builder.no_session(&get),
            "no_session_context {",
        ),
        (
            "websocket_connect",
            builder.websocket_connect(),
            "websocket_connect {",
        ),
        (
            "mqtt_connect",
            builder.mqtt_connect(MqttVersion::V5, "usp/agent/reply"),
            "subscribed_topic: \"usp/agent/reply\"",
        ),
        (
            "stomp_connect",
            builder.stomp_connect(StompVersion::V12, "/queue/agent"),
            "subscribed_destination: \"/queue/agent\"",
        ),
        ("uds_connect", builder.uds_connect(), "uds_connect {"),
        (
            "disconnect",
            builder.disconnect("Session Context not allowed", 7106),
            "reason_code: 7106",
        ),
    ];
    for (name, record, want) in records {
        let mut bytes = Vec::new();
        codec::encode_record(&record, &mut bytes);
        let text = protoc_decode("usp_record.Record", "usp-record-1-5.proto", &bytes);
        for want in [
            "version: \"1.5\"",
            "to_id: \"proto::agent\"",
            "from_id: \"proto::ctrl\"",
            want,
        ] {
            assert!(
                text.contains(want),
                "{name}: protoc output lacks `{want}`:\n{text}"
            );
        }
        assert_no_unknown_fields(name, &text);
    }
    // MQTT version V5 is printed by name.
    let mut bytes = Vec::new();
    codec::encode_record(&builder.mqtt_connect(MqttVersion::V5, "t"), &mut bytes);
    assert!(
        protoc_decode("usp_record.Record", "usp-record-1-5.proto", &bytes).contains("version: V5")
    );
}

#[test]
fn protoc_sees_usp_1_5_fields_as_unknown_in_the_1_4_schema() {
    if !protoc_available() {
        return;
    }
    let record = RecordBuilder::new("proto::agent", "proto::broker")
        .with_originator_id("proto::ctrl")
        .with_destination_id("proto::service")
        .uds_connect();
    let mut bytes = Vec::new();
    codec::encode_record(&record, &mut bytes);
    let v15 = protoc_decode("usp_record.Record", "usp-record-1-5.proto", &bytes);
    assert!(v15.contains("originator_id: \"proto::ctrl\""), "{v15}");
    assert!(v15.contains("destination_id: \"proto::service\""), "{v15}");
    // A 1.4 decoder keeps going and reports the two fields by number only.
    let v14 = protoc_decode("usp_record.Record", "usp-record-1-4.proto", &bytes);
    assert!(v14.contains("14: \"proto::ctrl\""), "{v14}");
    assert!(v14.contains("15: \"proto::service\""), "{v14}");
    assert!(v14.contains("uds_connect {"), "{v14}");
}

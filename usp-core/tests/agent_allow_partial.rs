//! The `allow_partial` × `required` matrix of TR-369 ("Using Allow Partial and Required
//! Parameters"), table-driven, for Set and Add, against the simulated device.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/harness.rs"]
mod harness;

use harness::Harness;
use usp_core::usp::{
    self, add, add_resp::created_object_result::operation_status::OperStatus as AddStatus,
    body::MsgBody, request::ReqType, response::RespType, set,
    set_resp::updated_object_result::operation_status::OperStatus as SetStatus,
};

/// What the agent answers for the first object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// An Error Msg with this code and one `param_errs` entry.
    ErrorMsg(u32),
    /// `oper_failure` with this code.
    Failure(u32),
    /// `oper_success` with this many `param_errs`.
    Success(usize),
}

/// (allow_partial, required, value valid, second object present, expected for the first
/// object, whether the second object — always valid — was applied).
const MATRIX: &[(bool, bool, bool, bool, Expect, bool)] = &[
    // The value is fine: success whatever the flags.
    (false, true, true, false, Expect::Success(0), false),
    (true, true, true, false, Expect::Success(0), false),
    (false, false, true, false, Expect::Success(0), false),
    (true, false, true, false, Expect::Success(0), false),
    // A failed non-required parameter only adds param_errs.
    (false, false, false, false, Expect::Success(1), false),
    (true, false, false, false, Expect::Success(1), false),
    // A failed required parameter: Error Msg without allow_partial, oper_failure with it.
    (false, true, false, false, Expect::ErrorMsg(7012), false),
    (true, true, false, false, Expect::Failure(7021), false),
    // With a second, valid object: all-or-nothing without allow_partial ...
    (false, true, false, true, Expect::ErrorMsg(7012), false),
    // ... each object on its own with it.
    (true, true, false, true, Expect::Failure(7021), true),
];

fn body(msg: &usp::Msg) -> MsgBody {
    msg.body.clone().unwrap().msg_body.unwrap()
}

#[tokio::test]
async fn set_matrix() {
    for (row, &(allow_partial, required, valid, second, expect, applied)) in
        MATRIX.iter().enumerate()
    {
        let mut h = Harness::new().await;
        let mut update_objs = vec![set::UpdateObject {
            obj_path: "Device.WiFi.SSID.1.".into(),
            param_settings: vec![set::UpdateParamSetting {
                param: "Enable".into(),
                value: if valid { "false" } else { "maybe" }.into(),
                required,
            }],
        }];
        if second {
            update_objs.push(set::UpdateObject {
                obj_path: "Device.WiFi.SSID.2.".into(),
                param_settings: vec![set::UpdateParamSetting {
                    param: "SSID".into(),
                    value: "changed".into(),
                    required: true,
                }],
            });
        }
        let reply = h
            .request(
                "m",
                ReqType::Set(usp::Set {
                    allow_partial,
                    update_objs,
                }),
            )
            .await;
        let got = match body(&reply) {
            MsgBody::Error(e) => {
                assert_eq!(e.param_errs.len(), 1, "row {row}: {e:?}");
                assert_eq!(e.param_errs[0].param_path, "Device.WiFi.SSID.1.Enable");
                Expect::ErrorMsg(e.err_code)
            }
            MsgBody::Response(usp::Response {
                resp_type: Some(RespType::SetResp(r)),
            }) => match r.updated_obj_results[0]
                .oper_status
                .clone()
                .unwrap()
                .oper_status
                .unwrap()
            {
                SetStatus::OperSuccess(ok) => {
                    Expect::Success(ok.updated_inst_results[0].param_errs.len())
                }
                SetStatus::OperFailure(f) => {
                    assert_eq!(
                        f.updated_inst_failures[0].affected_path,
                        "Device.WiFi.SSID.1."
                    );
                    assert_eq!(f.updated_inst_failures[0].param_errs[0].param, "Enable");
                    Expect::Failure(f.err_code)
                }
            },
            other => panic!("row {row}: {other:?}"),
        };
        assert_eq!(got, expect, "row {row}");
        let enable = h.value("Device.WiFi.SSID.1.Enable");
        let first_applied = valid && !matches!(expect, Expect::ErrorMsg(_));
        assert_eq!(
            enable == "false",
            first_applied,
            "row {row}: first object applied"
        );
        assert_eq!(
            h.value("Device.WiFi.SSID.2.SSID") == "changed",
            applied,
            "row {row}: second object applied"
        );
    }
}

#[tokio::test]
async fn add_matrix() {
    for (row, &(allow_partial, required, valid, second, expect, applied)) in
        MATRIX.iter().enumerate()
    {
        let mut h = Harness::new().await;
        let mut create_objs = vec![add::CreateObject {
            obj_path: "Device.NAT.PortMapping.".into(),
            param_settings: vec![add::CreateParamSetting {
                param: "ExternalPort".into(),
                value: if valid { "7000" } else { "port" }.into(),
                required,
            }],
        }];
        if second {
            create_objs.push(add::CreateObject {
                obj_path: "Device.QoS.Classification.".into(),
                param_settings: vec![add::CreateParamSetting {
                    param: "DSCPMark".into(),
                    value: "10".into(),
                    required: true,
                }],
            });
        }
        let reply = h
            .request(
                "m",
                ReqType::Add(usp::Add {
                    allow_partial,
                    create_objs,
                }),
            )
            .await;
        let got = match body(&reply) {
            MsgBody::Error(e) => {
                assert_eq!(e.param_errs.len(), 1, "row {row}: {e:?}");
                assert_eq!(
                    e.param_errs[0].param_path,
                    "Device.NAT.PortMapping.2.ExternalPort"
                );
                assert_eq!(e.param_errs[0].err_code, 7012);
                Expect::ErrorMsg(e.err_code)
            }
            MsgBody::Response(usp::Response {
                resp_type: Some(RespType::AddResp(r)),
            }) => match r.created_obj_results[0]
                .oper_status
                .clone()
                .unwrap()
                .oper_status
                .unwrap()
            {
                AddStatus::OperSuccess(ok) => Expect::Success(ok.param_errs.len()),
                AddStatus::OperFailure(f) => Expect::Failure(f.err_code),
            },
            other => panic!("row {row}: {other:?}"),
        };
        // Without allow_partial the Error carries the failed parameter's own code, as for Set.
        assert_eq!(got, expect, "row {row}");
        let rows = h.engine.read(|s| {
            s.instances(
                "Device.NAT.PortMapping.",
                tr181_model::schema::Protocol::Usp,
                true,
            )
            .unwrap()
            .len()
        });
        let created = !matches!(expect, Expect::ErrorMsg(_) | Expect::Failure(_));
        assert_eq!(rows, if created { 2 } else { 1 }, "row {row}: rows");
        let qos = h.engine.read(|s| {
            s.instances(
                "Device.QoS.Classification.",
                tr181_model::schema::Protocol::Usp,
                true,
            )
            .unwrap()
            .len()
        });
        assert_eq!(qos == 2, applied, "row {row}: second object");
    }
}

/// Without allow_partial, two failed required parameters of a Set are reported as 7021
/// "Required parameter failed", each with its own code in `param_errs`. (The engine stops an
/// Add at its first failed parameter, so an Add reports one, with its own code: the matrix.)
#[tokio::test]
async fn several_failed_required_parameters_are_7021() {
    let mut h = Harness::new().await;
    let set = ReqType::Set(usp::Set {
        allow_partial: false,
        update_objs: vec![set::UpdateObject {
            obj_path: "Device.WiFi.SSID.1.".into(),
            param_settings: vec![
                set::UpdateParamSetting {
                    param: "Enable".into(),
                    value: "maybe".into(),
                    required: true,
                },
                set::UpdateParamSetting {
                    param: "SSID".into(),
                    value: "x".repeat(40),
                    required: true,
                },
            ],
        }],
    });
    let MsgBody::Error(e) = body(&h.request("set", set).await) else {
        panic!("expected an Error")
    };
    assert_eq!(e.err_code, 7021, "{e:?}");
    assert_eq!(e.param_errs.len(), 2, "{e:?}");
    assert!(e.param_errs.iter().all(|p| p.err_code == 7012), "{e:?}");
}

//! ControllerTrust challenges and credentials: `RequestChallenge()` and `ChallengeResponse()`
//! on every path (right value, wrong value, retries exhausted and the lockout, expiry, unknown
//! ids and rows, one outstanding challenge per controller), the roles a right answer grants
//! enforced on the next Set, and `Controller.{i}.InheritedRole` following the
//! `Credential.{i}.` of the CA an MTP says validated the controller; controllers trusted on first
//! use (`TOFUAllowed`): refused without it, else learnt with `UntrustedRole` and their
//! certificate, recognised by it afterwards, raised by a challenge.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use harness::{AGENT, CTRL, Harness, resp};
use usp_core::agent::{
    AgentConfig, AgentEvent, CertificateId, ControllerConfig, ControllerTrust, IgnoreReason, Mtp,
    MtpKind,
};
use usp_core::usp::{
    self, operate_resp::operation_result::OperationResp, request::ReqType, response::RespType,
};

const STRANGER: &str = "self::stranger";
/// A controller of the agent's configuration without a row.
const CONFIGURED: &str = "self::configured";
const READER: &str = "Device.LocalAgent.ControllerTrust.Role.1";
const ADMIN: &str = "Device.LocalAgent.ControllerTrust.Role.2";
const CHALLENGE: &str = "Device.LocalAgent.ControllerTrust.Challenge.";
const REQUEST: &str = "Device.LocalAgent.ControllerTrust.RequestChallenge()";
const RESPONSE: &str = "Device.LocalAgent.ControllerTrust.ChallengeResponse()";
const ASSIGNED: &str = "Device.LocalAgent.Controller.1.AssignedRole";
const INHERITED: &str = "Device.LocalAgent.Controller.1.InheritedRole";
/// base64 of "open sesame".
const PASSPHRASE: &str = "b3BlbiBzZXNhbWU=";
/// base64 of "Say the word".
const INSTRUCTION: &str = "U2F5IHRoZSB3b3Jk";

/// Role 1 "reader" reads everything and may run the challenge commands; role 2 "admin" may do
/// everything. The known controller and strangers are readers. Challenge 1 grants the admin
/// role for [`PASSPHRASE`], two failures locking it for a minute; challenge 2 is disabled.
async fn setup() -> Harness {
    setup_with(harness::config().with_unknown_controllers(true)).await
}

/// [`setup`] with `config`.
async fn setup_with(config: AgentConfig) -> Harness {
    let mut h = Harness::with(Arc::new(ControllerTrust::new(AGENT)), config).await;
    h.engine
        .device_update(|txn| {
            harness::add_role(
                txn,
                "reader",
                &[
                    ("Device.", "r--n"),
                    ("Device.LocalAgent.ControllerTrust.", "r-xn"),
                ],
            )?;
            harness::add_role(txn, "admin", &[("Device.", "rwxn")])?;
            txn.set("Device.LocalAgent.ControllerTrust.UntrustedRole", READER)?;
            txn.set(ASSIGNED, READER)?;
            txn.add(
                CHALLENGE,
                &[
                    ("Enable", "true"),
                    ("Role", ADMIN),
                    ("Type", "Passphrase"),
                    ("Value", PASSPHRASE),
                    ("ValueType", "text/plain"),
                    ("Instruction", INSTRUCTION),
                    ("InstructionType", "text/plain"),
                    ("Retries", "2"),
                    ("LockoutPeriod", "60"),
                ],
            )?;
            txn.add(
                CHALLENGE,
                &[("Enable", "false"), ("Role", ADMIN), ("Value", PASSPHRASE)],
            )
            .map(|_| ())
        })
        .await
        .unwrap();
    h.sync_changes();
    h
}

fn operate(command: &str, args: &[(&str, &str)]) -> ReqType {
    ReqType::Operate(usp::Operate {
        command: command.into(),
        send_resp: true,
        input_args: args
            .iter()
            .map(|(n, v)| ((*n).into(), (*v).into()))
            .collect(),
        ..Default::default()
    })
}

/// The outcome of `from`'s Operate: output arguments or the `cmd_failure` code.
async fn run(
    h: &mut Harness,
    from: &str,
    command: &str,
    args: &[(&str, &str)],
) -> Result<BTreeMap<String, String>, u32> {
    let reply = h.request_from(from, "op", operate(command, args)).await;
    let RespType::OperateResp(r) = resp(&reply.unwrap()) else {
        panic!("expected an OperateResp")
    };
    assert_eq!(r.operation_results.len(), 1);
    assert_eq!(r.operation_results[0].executed_command, command);
    match &r.operation_results[0].operation_resp {
        Some(OperationResp::ReqOutputArgs(out)) => {
            Ok(out.output_args.clone().into_iter().collect())
        }
        Some(OperationResp::CmdFailure(f)) => Err(f.err_code),
        other => panic!("unexpected {other:?}"),
    }
}

/// `from` asks for challenge `row`; its ChallengeID.
async fn request(h: &mut Harness, from: &str, row: &str, expiration: Option<&str>) -> String {
    let mut args = vec![("ChallengeRef", row)];
    args.extend(expiration.map(|e| ("RequestExpiration", e)));
    let out = run(h, from, REQUEST, &args).await.unwrap();
    out["ChallengeID"].clone()
}

async fn respond(h: &mut Harness, from: &str, id: &str, value: &str) -> Result<(), u32> {
    run(h, from, RESPONSE, &[("ChallengeID", id), ("Value", value)])
        .await
        .map(|out| assert!(out.is_empty(), "{out:?}"))
}

/// `from` answers challenge 1 right: it gets the admin role.
async fn raise(h: &mut Harness, from: &str) {
    let id = request(
        h,
        from,
        "Device.LocalAgent.ControllerTrust.Challenge.1",
        None,
    )
    .await;
    respond(h, from, &id, PASSPHRASE).await.unwrap();
}

/// A Get of the serial number, which every role here may read.
fn get_serial() -> ReqType {
    ReqType::Get(usp::Get {
        param_paths: vec!["Device.DeviceInfo.SerialNumber".into()],
        max_depth: 0,
    })
}

/// Whether `from` may write an SSID (the admin role's right).
async fn may_write(h: &mut Harness, from: &str) -> bool {
    let set = ReqType::Set(usp::Set {
        allow_partial: false,
        update_objs: vec![usp::set::UpdateObject {
            obj_path: "Device.WiFi.SSID.1.".into(),
            param_settings: vec![usp::set::UpdateParamSetting {
                param: "SSID".into(),
                value: "granted".into(),
                required: true,
            }],
        }],
    });
    let reply = h.request_from(from, "set", set).await.unwrap();
    match reply.body.and_then(|b| b.msg_body) {
        Some(usp::body::MsgBody::Response(_)) => true,
        Some(usp::body::MsgBody::Error(e)) => {
            assert_eq!(e.err_code, 7006, "{e:?}");
            false
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn the_right_value_appends_the_challenge_role_to_assigned_role() {
    let mut h = setup().await;
    assert!(!may_write(&mut h, CTRL).await);
    let out = run(
        &mut h,
        CTRL,
        REQUEST,
        &[(
            "ChallengeRef",
            "Device.LocalAgent.ControllerTrust.Challenge.1",
        )],
    )
    .await
    .unwrap();
    assert_eq!(out["Instruction"], INSTRUCTION);
    assert_eq!(out["InstructionType"], "text/plain");
    assert_eq!(out["ValueType"], "text/plain");
    let id = out["ChallengeID"].clone();
    assert!(!id.is_empty());
    // Another controller cannot answer this controller's challenge.
    assert_eq!(respond(&mut h, STRANGER, &id, PASSPHRASE).await, Err(7004));
    respond(&mut h, CTRL, &id, PASSPHRASE).await.unwrap();
    assert_eq!(h.value(ASSIGNED), format!("{READER},{ADMIN}"));
    assert!(
        may_write(&mut h, CTRL).await,
        "the granted role is enforced"
    );
    // The challenge is closed; a second grant adds no duplicate.
    assert_eq!(respond(&mut h, CTRL, &id, PASSPHRASE).await, Err(7004));
    let id = request(
        &mut h,
        CTRL,
        "Device.LocalAgent.ControllerTrust.Challenge.1.",
        None,
    )
    .await;
    respond(&mut h, CTRL, &id, PASSPHRASE).await.unwrap();
    assert_eq!(h.value(ASSIGNED), format!("{READER},{ADMIN}"));
}

#[tokio::test]
async fn wrong_values_count_until_the_lockout_which_then_ends() {
    let mut h = setup().await;
    let row = "Device.LocalAgent.ControllerTrust.Challenge.1";
    let id = request(&mut h, CTRL, row, None).await;
    // A wrong value is 7012 and the challenge stays open, up to Retries (2) failures.
    let wrong = "d3Jvbmc="; // "wrong"
    assert_eq!(respond(&mut h, CTRL, &id, wrong).await, Err(7012));
    // Not base64 at all: the engine's 7012, which reaches no challenge and counts nothing.
    assert_eq!(respond(&mut h, CTRL, &id, "not base64!").await, Err(7012));
    assert_eq!(respond(&mut h, CTRL, &id, "b3Blbg==").await, Err(7012));
    // Locked for LockoutPeriod: even the right value and a new request are denied.
    assert_eq!(respond(&mut h, CTRL, &id, PASSPHRASE).await, Err(7002));
    assert_eq!(
        run(&mut h, STRANGER, REQUEST, &[("ChallengeRef", row)]).await,
        Err(7002)
    );
    h.advance(Duration::from_secs(59)).await;
    assert_eq!(respond(&mut h, CTRL, &id, PASSPHRASE).await, Err(7002));
    assert_eq!(h.value(ASSIGNED), READER);
    // After it, the count starts over: one failure does not lock again.
    h.advance(Duration::from_secs(2)).await;
    assert_eq!(respond(&mut h, CTRL, &id, wrong).await, Err(7012));
    respond(&mut h, CTRL, &id, PASSPHRASE).await.unwrap();
    assert_eq!(h.value(ASSIGNED), format!("{READER},{ADMIN}"));
}

#[tokio::test]
async fn challenges_expire_and_unknown_ones_are_refused() {
    let mut h = setup().await;
    let row = "Device.LocalAgent.ControllerTrust.Challenge.1";
    let id = request(&mut h, CTRL, row, Some("10")).await;
    h.advance(Duration::from_secs(11)).await;
    assert_eq!(respond(&mut h, CTRL, &id, PASSPHRASE).await, Err(7004));
    // 0: never expires (a day later it still answers).
    let id = request(&mut h, CTRL, row, Some("0")).await;
    h.advance(Duration::from_secs(86_400)).await;
    // One challenge outstanding per controller: another row is denied, the same replaces it.
    let disabled = "Device.LocalAgent.ControllerTrust.Challenge.2";
    h.device_set(&format!("{disabled}.Enable"), "true").await;
    assert_eq!(
        run(&mut h, CTRL, REQUEST, &[("ChallengeRef", disabled)]).await,
        Err(7002)
    );
    let again = request(&mut h, CTRL, row, None).await;
    assert_ne!(again, id);
    assert_eq!(respond(&mut h, CTRL, &id, PASSPHRASE).await, Err(7004));
    h.device_set(&format!("{disabled}.Enable"), "false").await;
    // Unknown or disabled rows: 7012; an unknown id: 7004; a missing argument: the engine's
    // 7027.
    for missing in [
        disabled,
        "Device.LocalAgent.ControllerTrust.Challenge.9",
        "Device.WiFi.SSID.1",
    ] {
        assert_eq!(
            run(&mut h, STRANGER, REQUEST, &[("ChallengeRef", missing)]).await,
            Err(7012),
            "{missing}"
        );
    }
    assert_eq!(respond(&mut h, CTRL, "0123", PASSPHRASE).await, Err(7004));
    assert_eq!(
        run(&mut h, CTRL, RESPONSE, &[("ChallengeID", &again)]).await,
        Err(7027)
    );
    // A row disabled meanwhile closes its challenges.
    h.device_set(&format!("{row}.Enable"), "false").await;
    assert_eq!(respond(&mut h, CTRL, &again, PASSPHRASE).await, Err(7004));
    assert_eq!(h.value(ASSIGNED), READER);
}

#[tokio::test]
async fn a_controller_without_a_row_keeps_its_granted_role_in_the_agent() {
    let mut h = setup().await;
    assert!(!may_write(&mut h, STRANGER).await);
    raise(&mut h, STRANGER).await;
    assert!(may_write(&mut h, STRANGER).await);
    assert_eq!(
        h.value(ASSIGNED),
        READER,
        "the known controller's row is untouched"
    );
    assert!(!may_write(&mut h, CTRL).await);
}

/// The table of the certificates credentials reference (TR-181).
const CERTIFICATES: &str = "Device.LocalAgent.Certificate.";

/// Adds an enabled `table` row per `(issuer, serial)` of `certificates`, and an enabled
/// `MTP-and-USP` credential of the first with `role`.
async fn add_credential(h: &mut Harness, table: &str, certificates: &[(&str, &str)], role: &str) {
    h.engine
        .device_update(|txn| {
            for (issuer, serial) in certificates {
                let values = [
                    ("Enable", "true"),
                    ("Issuer", issuer),
                    ("SerialNumber", serial),
                ];
                txn.add(table, &values)?;
            }
            let first = format!("{table}1");
            txn.add(
                "Device.LocalAgent.ControllerTrust.Credential.",
                &[
                    ("Enable", "true"),
                    ("Role", role),
                    ("Credential", &first),
                    ("AllowedUses", "MTP-and-USP"),
                ],
            )
            .map(|_| ())
        })
        .await
        .unwrap();
    h.sync_changes();
}

#[tokio::test]
async fn inherited_role_follows_the_credential_of_the_validating_ca() {
    let mut h = setup().await;
    let ca = CertificateId::new("CN=Operator CA", "01AB");
    let certificates = [("CN=Operator CA", "01AB"), ("CN=Other CA", "01AB")];
    add_credential(&mut h, CERTIFICATES, &certificates, ADMIN).await;
    // No certificate checked: nothing inherited.
    assert!(!may_write(&mut h, CTRL).await);
    assert_eq!(h.value(INHERITED), "");
    // Validated by the credential's CA: its role.
    h.mtp = Mtp::new(MtpKind::WebSocket, CTRL).with_validated_by(ca.clone());
    assert!(may_write(&mut h, CTRL).await);
    assert_eq!(h.value(INHERITED), ADMIN);
    // The credential's Role changes: so does InheritedRole, at once.
    h.device_set(
        "Device.LocalAgent.ControllerTrust.Credential.1.Role",
        READER,
    )
    .await;
    h.drive().await;
    assert_eq!(h.value(INHERITED), READER);
    assert!(!may_write(&mut h, CTRL).await);
    h.device_set("Device.LocalAgent.ControllerTrust.Credential.1.Role", ADMIN)
        .await;
    h.drive().await;
    assert!(may_write(&mut h, CTRL).await);
    // MTP-only CAs authorise the connection but grant no role.
    h.device_set(
        "Device.LocalAgent.ControllerTrust.Credential.1.AllowedUses",
        "MTP-only",
    )
    .await;
    h.drive().await;
    assert_eq!(h.value(INHERITED), "");
    assert!(!may_write(&mut h, CTRL).await);
    h.device_set(
        "Device.LocalAgent.ControllerTrust.Credential.1.AllowedUses",
        "MTP-and-USP",
    )
    .await;
    h.drive().await;
    // A certificate of another CA (same serial, other issuer) inherits nothing; a Record on
    // an MTP that checked no certificate leaves InheritedRole alone.
    h.mtp = Mtp::new(MtpKind::WebSocket, CTRL)
        .with_validated_by(CertificateId::new("CN=Other CA", "01AB"));
    assert!(!may_write(&mut h, CTRL).await);
    h.mtp = Mtp::new(MtpKind::WebSocket, CTRL).with_validated_by(ca.clone());
    assert!(may_write(&mut h, CTRL).await);
    h.mtp = Mtp::new(MtpKind::Mqtt, "ctrl/reply");
    assert!(may_write(&mut h, CTRL).await);
    assert_eq!(h.value(INHERITED), ADMIN);
    // A controller without a row inherits in the agent's own record.
    h.mtp = Mtp::new(MtpKind::WebSocket, STRANGER).with_validated_by(ca);
    assert!(may_write(&mut h, STRANGER).await);
}

#[tokio::test]
async fn only_an_enabled_local_agent_certificate_row_names_the_validating_ca() {
    let mut h = setup().await;
    let ca = CertificateId::new("CN=Operator CA", "01AB");
    // Named by its Device.Security.Certificate row, not the table TR-181 references.
    add_credential(
        &mut h,
        "Device.Security.Certificate.",
        &[("CN=Operator CA", "01AB")],
        ADMIN,
    )
    .await;
    h.mtp = Mtp::new(MtpKind::WebSocket, CTRL).with_validated_by(ca.clone());
    assert!(!may_write(&mut h, CTRL).await);
    assert_eq!(h.value(INHERITED), "");
    // Its LocalAgent.Certificate row: the credential's role.
    h.engine
        .device_update(|txn| {
            let values = [
                ("Enable", "true"),
                ("Issuer", "CN=Operator CA"),
                ("SerialNumber", "01AB"),
            ];
            txn.add(CERTIFICATES, &values)?;
            txn.set(
                "Device.LocalAgent.ControllerTrust.Credential.1.Credential",
                "Device.LocalAgent.Certificate.1",
            )
        })
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
    assert_eq!(h.value(INHERITED), ADMIN);
    assert!(may_write(&mut h, CTRL).await);
    // The certificate row disabled: nothing inherited.
    h.device_set("Device.LocalAgent.Certificate.1.Enable", "false")
        .await;
    h.drive().await;
    assert_eq!(h.value(INHERITED), "");
    assert!(!may_write(&mut h, CTRL).await);
}

#[tokio::test]
async fn a_banned_controller_is_neither_answered_nor_sent_to() {
    let mut h = setup().await;
    let ca = CertificateId::new("CN=Revoked CA", "02");
    let banned = "Device.LocalAgent.ControllerTrust.Role.3";
    h.engine
        .device_update(|txn| {
            harness::add_role(txn, "banned", &[])?;
            txn.set("Device.LocalAgent.ControllerTrust.BannedRole", banned)
        })
        .await
        .unwrap();
    add_credential(&mut h, CERTIFICATES, &[("CN=Revoked CA", "02")], banned).await;
    assert!(h.request_from(CTRL, "before", get_serial()).await.is_some());
    // Validated by the banned CA: ignored, though its AssignedRole still reads.
    h.mtp = Mtp::new(MtpKind::WebSocket, CTRL).with_validated_by(ca);
    h.events.clear();
    assert!(h.request_from(CTRL, "banned", get_serial()).await.is_none());
    assert!(h.events.iter().any(|e| matches!(
        e,
        AgentEvent::RecordIgnored {
            reason: IgnoreReason::Banned,
            ..
        }
    )));
    assert_eq!(
        h.value(INHERITED),
        "Device.LocalAgent.ControllerTrust.Role.3"
    );
    // Nothing is sent to it either: a subscription's notification does not go out.
    let sent = h.sent.len();
    h.device_set("Device.LocalAgent.Controller.1.OnBoardingComplete", "false")
        .await;
    h.drive().await;
    assert_eq!(
        h.sent.len(),
        sent,
        "no OnBoardRequest to a banned controller"
    );
    // Unbanned (the credential's role changes), it is answered again.
    h.device_set(
        "Device.LocalAgent.ControllerTrust.Credential.1.Role",
        READER,
    )
    .await;
    h.drive().await;
    assert!(h.request_from(CTRL, "after", get_serial()).await.is_some());
    // A banned role in UntrustedRole bans the controllers without a row.
    h.device_set("Device.LocalAgent.ControllerTrust.UntrustedRole", banned)
        .await;
    h.mtp = Mtp::new(MtpKind::Mqtt, "ctrl/reply");
    assert!(
        h.request_from(STRANGER, "stranger", get_serial())
            .await
            .is_none()
    );
}

/// Whether the agent ignored a Record as [`IgnoreReason::Untrusted`] since the events were
/// cleared.
fn untrusted(h: &Harness) -> bool {
    h.events.iter().any(|e| {
        matches!(
            e,
            AgentEvent::RecordIgnored {
                reason: IgnoreReason::Untrusted,
                ..
            }
        )
    })
}

#[tokio::test]
async fn a_controller_trusted_on_first_use_is_learnt_untrusted_then_recognised() {
    // Strangers are not accepted: only TOFU lets one in. One controller is configured
    // without a row.
    let config = harness::config().with_controller(ControllerConfig::new(CONFIGURED));
    let mut h = setup_with(config).await;
    let mine = CertificateId::new("CN=stranger", "5E1F").with_fingerprint("aa11");
    let first_use = |certificate: &CertificateId| {
        Mtp::new(MtpKind::WebSocket, STRANGER).with_first_use(certificate.clone())
    };
    // TOFUAllowed false: ignored, nothing written.
    h.mtp = first_use(&mine);
    assert!(
        h.request_from(STRANGER, "refused", get_serial())
            .await
            .is_none()
    );
    assert!(untrusted(&h));
    assert_eq!(h.value("Device.LocalAgent.CertificateNumberOfEntries"), "0");

    h.device_set("Device.LocalAgent.ControllerTrust.TOFUAllowed", "true")
        .await;
    h.drive().await;
    // First use: answered with UntrustedRole's rights (the reader's: read, no write).
    let reply = h
        .request_from(STRANGER, "first", get_serial())
        .await
        .unwrap();
    assert!(matches!(resp(&reply), RespType::GetResp(_)));
    assert!(!may_write(&mut h, STRANGER).await);
    // Its certificate and its row, linked (R-SEC.8), its role UntrustedRole (R-SEC.6).
    let certificate = "Device.LocalAgent.Certificate.1.";
    assert_eq!(h.value(&format!("{certificate}Issuer")), "CN=stranger");
    assert_eq!(h.value(&format!("{certificate}SerialNumber")), "5E1F");
    assert_eq!(h.value(&format!("{certificate}Alias")), "cpe-sha256-aa11");
    let row = "Device.LocalAgent.Controller.2.";
    assert_eq!(h.value(&format!("{row}EndpointID")), STRANGER);
    assert_eq!(h.value(&format!("{row}Enable")), "true");
    assert_eq!(h.value(&format!("{row}AssignedRole")), READER);
    assert_eq!(
        h.value(&format!("{row}Credential")),
        "Device.LocalAgent.Certificate.1"
    );
    // Another certificate cannot speak as it, not even one of the same issuer and serial
    // number (a self-signed certificate's are its maker's to choose), nor as a controller
    // known before.
    h.events.clear();
    h.mtp = first_use(&CertificateId::new("CN=stranger", "5E1F").with_fingerprint("bb22"));
    assert!(
        h.request_from(STRANGER, "impostor", get_serial())
            .await
            .is_none()
    );
    assert!(untrusted(&h));
    for known in [CTRL, CONFIGURED] {
        h.events.clear();
        h.mtp = Mtp::new(MtpKind::WebSocket, known).with_first_use(mine.clone());
        assert!(
            h.request_from(known, "takeover", get_serial())
                .await
                .is_none()
        );
        assert!(untrusted(&h), "{known}");
    }
    assert_eq!(h.value("Device.LocalAgent.ControllerNumberOfEntries"), "2");

    // Recognised by its certificate, it raises itself with a challenge (R-SEC.7).
    h.mtp = first_use(&mine);
    raise(&mut h, STRANGER).await;
    assert_eq!(
        h.value(&format!("{row}AssignedRole")),
        format!("{READER},{ADMIN}")
    );
    assert!(may_write(&mut h, STRANGER).await);
    // TOFU switched off again: certificates of no trusted CA are refused, learnt or not.
    h.device_set("Device.LocalAgent.ControllerTrust.TOFUAllowed", "false")
        .await;
    h.drive().await;
    h.events.clear();
    assert!(
        h.request_from(STRANGER, "off", get_serial())
            .await
            .is_none()
    );
    assert!(untrusted(&h));
}

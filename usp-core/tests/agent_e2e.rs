//! E2E session contexts (TR-369 "End to End Message Exchange") against the simulated device:
//! every rule of the receive algorithm (R-E2E.20/21/25), retransmission capped by
//! `MaxRetransmitTries`, segmentation and reassembly both ways, the buffer and reassembly
//! limits, expiry, `SessionMode`, `Reset()`, payload security, and interop with rusp-lib's
//! session Records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hal::engine::AllowAll;
use harness::{AGENT, CTRL, Harness};
use usp_core::Limits;
use usp_core::Msg;
use usp_core::agent::{AgentEvent, IgnoreReason, SessionStatus};
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::{self, body::MsgBody, request::ReqType, response::RespType};
use usp_core::usp_record::record::{PayloadSecurity, RecordType};
use usp_core::usp_record::session_context_record::PayloadSarState;
use usp_core::usp_record::{Record, SessionContextRecord};

const E2E: &str = "Device.LocalAgent.Controller.1.E2ESession.";

/// The controller's end of a session.
struct Peer {
    session_id: u64,
    next_seq: u64,
    expected: u64,
}

impl Peer {
    const fn new(session_id: u64) -> Self {
        Self {
            session_id,
            next_seq: 1,
            expected: 1,
        }
    }

    /// The next Record of the session, with one payload segment.
    fn record(&mut self, payload: &[u8], sar: PayloadSarState, retransmit_id: u64) -> Vec<u8> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.record_at(seq, payload, sar, retransmit_id)
    }

    fn record_at(
        &self,
        seq: u64,
        payload: &[u8],
        sar: PayloadSarState,
        retransmit_id: u64,
    ) -> Vec<u8> {
        let record = RecordBuilder::new(AGENT, CTRL).session(SessionContextRecord {
            session_id: self.session_id,
            sequence_id: seq,
            expected_id: self.expected,
            retransmit_id,
            payload_sar_state: sar as i32,
            payloadrec_sar_state: sar as i32,
            payload: vec![Bytes::copy_from_slice(payload)],
        });
        harness::encode(&record)
    }

    /// A request Msg in one Record.
    fn request(&mut self, msg_id: &str, req: ReqType) -> Vec<u8> {
        self.record(
            &encode_msg(&codec::request_msg(msg_id, req)),
            PayloadSarState::None,
            0,
        )
    }
}

fn encode_msg(msg: &Msg) -> Vec<u8> {
    let mut bytes = Vec::new();
    codec::encode_msg(msg, &mut bytes);
    bytes
}

fn get(path: &str) -> ReqType {
    ReqType::Get(usp::Get {
        param_paths: vec![path.into()],
        max_depth: 0,
    })
}

/// The session part of a Record the agent sent.
fn context(record: &Record) -> Option<&SessionContextRecord> {
    match &record.record_type {
        Some(RecordType::SessionContext(c)) => Some(c),
        _ => None,
    }
}

/// The session Records the agent sent from index `from` on.
fn session_records(h: &Harness, from: usize) -> Vec<SessionContextRecord> {
    h.sent[from..]
        .iter()
        .filter_map(|s| context(&s.record).cloned())
        .collect()
}

/// Reassembles the Msgs carried by session Records, checking the SAR states on the way.
fn reassemble(records: &[SessionContextRecord]) -> Vec<Msg> {
    let mut msgs = Vec::new();
    let mut buffer: Option<Vec<u8>> = None;
    for r in records {
        assert_eq!(r.payload_sar_state, r.payloadrec_sar_state);
        let payload = r.payload.first().cloned().unwrap_or_default();
        let state = PayloadSarState::try_from(r.payload_sar_state).unwrap();
        match state {
            PayloadSarState::None => {
                assert!(buffer.is_none());
                if !payload.is_empty() {
                    msgs.push(codec::decode_msg(&payload, &Limits::default()).unwrap());
                }
            }
            PayloadSarState::Begin => {
                assert!(buffer.is_none());
                buffer = Some(payload.to_vec());
            }
            PayloadSarState::Inprocess => buffer.as_mut().unwrap().extend_from_slice(&payload),
            PayloadSarState::Complete => {
                let mut all = buffer.take().unwrap();
                all.extend_from_slice(&payload);
                msgs.push(codec::decode_msg(&all, &Limits::default()).unwrap());
            }
        }
    }
    msgs
}

fn msg_id(msg: &Msg) -> &str {
    &msg.header.as_ref().unwrap().msg_id
}

fn is_get_resp(msg: &Msg) -> bool {
    matches!(
        msg.body.as_ref().and_then(|b| b.msg_body.as_ref()),
        Some(MsgBody::Response(usp::Response {
            resp_type: Some(RespType::GetResp(_))
        }))
    )
}

/// Sets `E2ESession.` parameters as the controller (in a no-session Record).
async fn configure(h: &mut Harness, settings: &[(&str, &str)]) {
    let set = ReqType::Set(usp::Set {
        allow_partial: false,
        update_objs: vec![usp::set::UpdateObject {
            obj_path: E2E.into(),
            param_settings: settings
                .iter()
                .map(|(p, v)| usp::set::UpdateParamSetting {
                    param: (*p).into(),
                    value: (*v).into(),
                    required: true,
                })
                .collect(),
        }],
    });
    let reply = h.request("configure", set).await;
    assert!(matches!(harness::resp(&reply), RespType::SetResp(_)));
}

fn failed(h: &Harness) -> Vec<u32> {
    h.events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::SessionFailed { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

fn duplicates(h: &Harness) -> usize {
    h.events
        .iter()
        .filter(|e| {
            matches!(
                e,
                AgentEvent::RecordIgnored {
                    reason: IgnoreReason::SessionDuplicate,
                    ..
                }
            )
        })
        .count()
}

#[tokio::test]
async fn a_controller_session_is_answered_in_the_session() {
    let mut h = Harness::new().await;
    assert_eq!(h.value(&format!("{E2E}Status")), "Down");
    let mut peer = Peer::new(77);
    let before = h.sent.len();
    h.feed(&peer.request("g1", get("Device.DeviceInfo.SerialNumber")))
        .await;
    let records = session_records(&h, before);
    assert_eq!(records.len(), 1);
    let reply = &records[0];
    assert_eq!(
        (reply.session_id, reply.sequence_id, reply.expected_id),
        (77, 1, 2)
    );
    assert_eq!(reply.payload_sar_state, PayloadSarState::None as i32);
    let msgs = reassemble(&records);
    assert_eq!(msg_id(&msgs[0]), "g1");
    assert!(is_get_resp(&msgs[0]));
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Up);
    assert_eq!(h.value(&format!("{E2E}Status")), "Up");

    // A no-session request meanwhile is answered without a session (R-MSG.0a).
    let reply = h
        .request("plain", get("Device.DeviceInfo.SerialNumber"))
        .await;
    assert!(is_get_resp(&reply));

    // The next session reply carries the next sequence_id.
    let before = h.sent.len();
    peer.expected = 2;
    h.feed(&peer.request("g2", get("Device.DeviceInfo.SerialNumber")))
        .await;
    let records = session_records(&h, before);
    assert_eq!((records[0].sequence_id, records[0].expected_id), (2, 3));
}

#[tokio::test]
async fn ahead_records_are_buffered_then_drained_in_order() {
    let mut h = Harness::new().await;
    let mut peer = Peer::new(5);
    let first = peer.request("a", get("Device.DeviceInfo.SerialNumber"));
    let second = peer.request("b", get("Device.DeviceInfo.Manufacturer"));
    let third = peer.request("c", get("Device.DeviceInfo.ModelName"));
    let fourth = peer.request("d", get("Device.DeviceInfo.ModelName"));
    h.feed(&first).await;
    let before = h.sent.len();
    h.feed(&fourth).await;
    h.feed(&third).await;
    assert!(session_records(&h, before).is_empty(), "nothing before 2");
    h.feed(&second).await;
    let msgs = reassemble(&session_records(&h, before));
    let ids: Vec<&str> = msgs.iter().map(msg_id).collect();
    assert_eq!(ids, ["b", "c", "d"]);
    let records = session_records(&h, before);
    assert_eq!(records.last().unwrap().expected_id, 5);
    assert!(failed(&h).is_empty());
}

#[tokio::test]
async fn duplicates_and_records_behind_are_dropped() {
    let mut h = Harness::new().await;
    let mut peer = Peer::new(5);
    let first = peer.request("a", get("Device.DeviceInfo.SerialNumber"));
    let third = {
        peer.next_seq = 3;
        peer.request("c", get("Device.DeviceInfo.SerialNumber"))
    };
    h.feed(&first).await;
    let before = h.sent.len();
    h.feed(&first).await; // behind: already processed
    h.feed(&third).await;
    h.feed(&third).await; // repeated while buffered
    assert_eq!(duplicates(&h), 2);
    assert!(session_records(&h, before).is_empty());
    assert!(failed(&h).is_empty());
}

#[tokio::test]
async fn retransmission_is_capped_by_max_retransmit_tries() {
    let mut h = Harness::new().await;
    configure(&mut h, &[("MaxRetransmitTries", "2")]).await;
    let mut peer = Peer::new(9);
    let before = h.sent.len();
    h.feed(&peer.request("a", get("Device.DeviceInfo.SerialNumber")))
        .await;
    let original = h.sent[before..]
        .iter()
        .find(|s| context(&s.record).is_some())
        .unwrap()
        .record
        .clone();
    // The controller has not got sequence 1 (expected_id stays 1) and asks for it twice.
    for _ in 0..2 {
        let before = h.sent.len();
        h.feed(&peer.record(&[], PayloadSarState::None, 1)).await;
        assert_eq!(h.sent.len(), before + 1);
        assert_eq!(
            h.sent[before].record, original,
            "the kept Record, unchanged"
        );
    }
    // The third request exceeds the cap: the session restarts from the agent's side.
    let before = h.sent.len();
    h.feed(&peer.record(&[], PayloadSarState::None, 1)).await;
    assert_eq!(failed(&h), [7104]);
    let restart = session_records(&h, before);
    assert_eq!(restart.len(), 1);
    assert_ne!(restart[0].session_id, 9);
    assert!(restart[0].session_id > 1, "R-E2E.3");
    assert_eq!(restart[0].sequence_id, 1);
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Negotiating);
}

#[tokio::test]
async fn acknowledged_records_are_released() {
    let mut h = Harness::new().await;
    configure(&mut h, &[("MaxRetransmitTries", "-1")]).await;
    let mut peer = Peer::new(9);
    h.feed(&peer.request("a", get("Device.DeviceInfo.SerialNumber")))
        .await;
    // expected_id 2 acknowledges sequence 1, so it is no longer there to resend.
    peer.expected = 2;
    h.feed(&peer.record(&[], PayloadSarState::None, 1)).await;
    assert_eq!(failed(&h), [7104]);
}

#[tokio::test]
async fn default_max_retransmit_tries_restarts_at_once() {
    let mut h = Harness::new().await;
    let mut peer = Peer::new(9);
    h.feed(&peer.request("a", get("Device.DeviceInfo.SerialNumber")))
        .await;
    h.feed(&peer.record(&[], PayloadSarState::None, 1)).await;
    assert_eq!(failed(&h), [7104], "MaxRetransmitTries defaults to 0");
}

#[tokio::test]
async fn large_answers_are_segmented_to_max_usp_record_size() {
    let mut h = Harness::new().await;
    configure(&mut h, &[("MaxUSPRecordSize", "512")]).await;
    let mut peer = Peer::new(3);
    let before = h.sent.len();
    h.feed(&peer.request("all", get("Device.DeviceInfo.")))
        .await;
    let sent: Vec<_> = h.sent[before..]
        .iter()
        .filter(|s| context(&s.record).is_some())
        .collect();
    assert!(sent.len() > 2, "segmented into {} Records", sent.len());
    for s in &sent {
        assert!(harness::encode(&s.record).len() <= 512);
    }
    let records = session_records(&h, before);
    let states: Vec<i32> = records.iter().map(|r| r.payload_sar_state).collect();
    assert_eq!(states[0], PayloadSarState::Begin as i32);
    assert_eq!(*states.last().unwrap(), PayloadSarState::Complete as i32);
    assert!(
        states[1..states.len() - 1]
            .iter()
            .all(|s| *s == PayloadSarState::Inprocess as i32)
    );
    let seqs: Vec<u64> = records.iter().map(|r| r.sequence_id).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>());
    let msgs = reassemble(&records);
    assert_eq!(msgs.len(), 1);
    assert!(is_get_resp(&msgs[0]));

    // rusp-lib reads the same segments: ids, SAR states, and a GetResp once joined.
    let mut joined = Vec::new();
    for (s, ours) in sent.iter().zip(&records) {
        let rusp = rusp_lib::usp_decoder::try_decode_record(&harness::encode(&s.record)).unwrap();
        let rusp_lib::usp_record::mod_Record::OneOfrecord_type::session_context(ctx) =
            rusp.record_type
        else {
            panic!("rusp sees no session context")
        };
        assert_eq!((ctx.session_id, ctx.sequence_id), (3, ours.sequence_id));
        assert_eq!(ctx.payload_sar_state as i32, ours.payload_sar_state);
        assert_eq!(ctx.payloadrec_sar_state as i32, ours.payloadrec_sar_state);
        joined.extend_from_slice(&ctx.payload[0]);
    }
    let msg = rusp_lib::usp_decoder::try_decode_msg(&joined).unwrap();
    assert_eq!(msg.header.unwrap().msg_id, "all");
}

#[tokio::test]
async fn segmented_requests_are_reassembled() {
    let mut h = Harness::new().await;
    let mut peer = Peer::new(4);
    let payload = encode_msg(&codec::request_msg("seg", get("Device.DeviceInfo.")));
    let (a, rest) = payload.split_at(10);
    let (b, c) = rest.split_at(10);
    let before = h.sent.len();
    h.feed(&peer.record(a, PayloadSarState::Begin, 0)).await;
    h.feed(&peer.record(b, PayloadSarState::Inprocess, 0)).await;
    assert!(session_records(&h, before).is_empty());
    h.feed(&peer.record(c, PayloadSarState::Complete, 0)).await;
    let msgs = reassemble(&session_records(&h, before));
    assert_eq!(msg_id(&msgs[0]), "seg");
    assert!(failed(&h).is_empty());
}

#[tokio::test]
async fn malformed_session_records_restart_the_session() {
    let mut h = Harness::new().await;
    let peer = Peer::new(4);
    let mut broken = Vec::new();
    // R-E2E.2: neither a payload nor a retransmit_id.
    let mut record = codec::decode_record(
        &peer.record_at(1, b"", PayloadSarState::None, 0),
        &Limits::default(),
    )
    .unwrap();
    if let Some(RecordType::SessionContext(c)) = &mut record.record_type {
        c.payload.clear();
    }
    broken.push(record.clone());
    // PLAINTEXT carries one payload per Record.
    if let Some(RecordType::SessionContext(c)) = &mut record.record_type {
        c.payload = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
    }
    broken.push(record.clone());
    // The two SAR states disagree.
    if let Some(RecordType::SessionContext(c)) = &mut record.record_type {
        c.payload = vec![Bytes::new()];
        c.payloadrec_sar_state = PayloadSarState::Begin as i32;
    }
    broken.push(record.clone());
    // A session id of 0.
    if let Some(RecordType::SessionContext(c)) = &mut record.record_type {
        c.payloadrec_sar_state = PayloadSarState::None as i32;
        c.session_id = 0;
    }
    broken.push(record);
    for record in &broken {
        h.feed(&harness::encode(record)).await;
    }
    assert_eq!(failed(&h), [7104; 4]);
}

#[tokio::test]
async fn sar_out_of_order_restarts_the_session() {
    let mut h = Harness::new().await;
    let mut peer = Peer::new(4);
    h.feed(&peer.record(b"x", PayloadSarState::Inprocess, 0))
        .await;
    assert_eq!(failed(&h), [7104]);
    let mut peer = Peer::new(6);
    h.feed(&peer.record(b"x", PayloadSarState::Begin, 0)).await;
    h.feed(&peer.record(b"y", PayloadSarState::Begin, 0)).await;
    assert_eq!(failed(&h), [7104, 7104]);
}

#[tokio::test]
async fn reassembly_and_buffering_are_bounded() {
    let mut config = harness::config().with_limits(Limits::default().with_max_msg_bytes(64));
    config.max_session_buffer = 2;
    let mut h = Harness::with(Arc::new(AllowAll), config).await;
    let mut peer = Peer::new(4);
    h.feed(&peer.record(&[0; 40], PayloadSarState::Begin, 0))
        .await;
    h.feed(&peer.record(&[0; 40], PayloadSarState::Complete, 0))
        .await;
    assert_eq!(failed(&h), [7005], "80 bytes over a 64-byte Msg limit");

    let mut peer = Peer::new(8);
    let records: Vec<Vec<u8>> = (0..4)
        .map(|_| peer.record(b"", PayloadSarState::None, 0))
        .collect();
    h.feed(&records[0]).await;
    h.feed(&records[3]).await;
    h.feed(&records[2]).await;
    assert_eq!(failed(&h), [7005]);
    peer.next_seq = 5;
    h.feed(&peer.record(b"", PayloadSarState::None, 0)).await;
    assert_eq!(failed(&h), [7005, 7005], "a third Record ahead overflows");

    // Buffered payloads are bounded in bytes too (64 here).
    let mut peer = Peer::new(9);
    h.feed(&peer.record(b"", PayloadSarState::None, 0)).await;
    peer.next_seq = 3;
    h.feed(&peer.record(&[0; 40], PayloadSarState::None, 0))
        .await;
    assert_eq!(failed(&h).len(), 2);
    h.feed(&peer.record(&[0; 40], PayloadSarState::None, 0))
        .await;
    assert_eq!(failed(&h), [7005, 7005, 7005], "80 bytes buffered");
}

#[tokio::test]
async fn a_new_session_id_restarts_and_joining_mid_way_fails() {
    let mut h = Harness::new().await;
    let mut peer = Peer::new(4);
    h.feed(&peer.request("a", get("Device.DeviceInfo.SerialNumber")))
        .await;
    // R-E2E.6: a new session_id starting at 1 replaces the session.
    let mut other = Peer::new(12);
    let before = h.sent.len();
    h.feed(&other.request("b", get("Device.DeviceInfo.SerialNumber")))
        .await;
    let records = session_records(&h, before);
    assert_eq!((records[0].session_id, records[0].sequence_id), (12, 1));
    // A session the agent does not know, not starting at 1.
    let mut stranger = Peer::new(13);
    stranger.next_seq = 4;
    h.feed(&stranger.request("c", get("Device.DeviceInfo.SerialNumber")))
        .await;
    assert_eq!(failed(&h), [7104]);
}

#[tokio::test]
async fn idle_sessions_expire() {
    let mut h = Harness::new().await;
    configure(&mut h, &[("SessionExpiration", "30")]).await;
    let mut peer = Peer::new(4);
    h.feed(&peer.request("a", get("Device.DeviceInfo.SerialNumber")))
        .await;
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Up);
    h.advance(Duration::from_secs(29)).await;
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Up);
    h.advance(Duration::from_secs(2)).await;
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Down);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, AgentEvent::SessionExpired { controller } if controller == CTRL))
    );
    assert_eq!(h.value(&format!("{E2E}Status")), "Down");
    // After expiry the old session's Records are strangers; a new one starts at 1.
    let mut next = Peer::new(5);
    let before = h.sent.len();
    h.feed(&next.request("b", get("Device.DeviceInfo.SerialNumber")))
        .await;
    assert_eq!(session_records(&h, before)[0].session_id, 5);
}

#[tokio::test]
async fn forbid_refuses_with_7106_and_ends_a_running_session_with_7105() {
    let mut h = Harness::new().await;
    let mut peer = Peer::new(4);
    h.feed(&peer.request("a", get("Device.DeviceInfo.SerialNumber")))
        .await;
    let before = h.sent.len();
    configure(&mut h, &[("SessionMode", "Forbid")]).await;
    assert!(
        h.sent[before..]
            .iter()
            .any(|s| harness::is_disconnect(&s.record, 7105))
    );
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Down);
    let before = h.sent.len();
    h.feed(&Peer::new(8).request("b", get("Device.DeviceInfo.SerialNumber")))
        .await;
    assert_eq!(h.sent.len(), before + 1);
    assert!(harness::is_disconnect(&h.sent[before].record, 7106));
}

#[tokio::test]
async fn require_starts_a_session_and_refuses_no_session_records() {
    let mut h = Harness::new().await;
    configure(
        &mut h,
        &[
            ("SessionRetryMinimumWaitInterval", "10"),
            ("SessionRetryIntervalMultiplier", "2000"),
        ],
    )
    .await;
    let before = h.sent.len();
    configure(&mut h, &[("SessionMode", "Require")]).await;
    // The agent offers a session at once: sequence 1, an empty payload.
    let offer = session_records(&h, before);
    assert_eq!(offer.len(), 1);
    assert_eq!((offer[0].sequence_id, offer[0].expected_id), (1, 1));
    assert!(offer[0].payload.iter().all(Bytes::is_empty));
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Negotiating);
    assert_eq!(h.value(&format!("{E2E}Status")), "Negotiating");

    // No-session requests are not answered.
    let reply = h
        .request_from(CTRL, "plain", get("Device.DeviceInfo.SerialNumber"))
        .await;
    assert!(reply.is_none());
    assert!(h.events.iter().any(|e| matches!(
        e,
        AgentEvent::RecordIgnored {
            reason: IgnoreReason::SessionRequired,
            ..
        }
    )));

    // Unanswered, the offer is resent with the session retry backoff: 10-20 s, then 20-40 s.
    let before = h.sent.len();
    h.advance(Duration::from_secs(9)).await;
    assert!(session_records(&h, before).is_empty());
    h.advance(Duration::from_secs(11)).await;
    let resent = session_records(&h, before);
    assert_eq!(resent, offer);
    assert_eq!(h.value(&format!("{E2E}CurrentRetryCount")), "1");

    // The controller joins the agent's session: Up, and requests are answered in it.
    let mut peer = Peer::new(offer[0].session_id);
    peer.expected = 2;
    let before = h.sent.len();
    h.feed(&peer.request("s", get("Device.DeviceInfo.SerialNumber")))
        .await;
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Up);
    assert_eq!(h.value(&format!("{E2E}CurrentRetryCount")), "0");
    let records = session_records(&h, before);
    assert_eq!((records[0].sequence_id, records[0].expected_id), (2, 2));
    assert_eq!(msg_id(&reassemble(&records)[0]), "s");
}

#[tokio::test]
async fn notifications_follow_the_session() {
    let mut h = Harness::new().await;
    h.subscribe(
        "vc",
        "ValueChange",
        "Device.DeviceInfo.ProvisioningCode",
        &[],
    )
    .await;
    let mut peer = Peer::new(4);
    h.feed(&peer.request("a", get("Device.DeviceInfo.SerialNumber")))
        .await;
    let before = h.sent.len();
    h.request("set", {
        ReqType::Set(usp::Set {
            allow_partial: false,
            update_objs: vec![usp::set::UpdateObject {
                obj_path: "Device.DeviceInfo.".into(),
                param_settings: vec![usp::set::UpdateParamSetting {
                    param: "ProvisioningCode".into(),
                    value: "e2e".into(),
                    required: true,
                }],
            }],
        })
    })
    .await;
    let msgs = reassemble(&session_records(&h, before));
    assert!(msgs.iter().any(|m| matches!(
        m.body.as_ref().and_then(|b| b.msg_body.as_ref()),
        Some(MsgBody::Request(usp::Request {
            req_type: Some(ReqType::Notify(_))
        }))
    )));
}

#[tokio::test]
async fn tls12_payload_security_gets_7102() {
    let mut h = Harness::new().await;
    let peer = Peer::new(4);
    let mut record = codec::decode_record(
        &peer.record_at(1, b"", PayloadSarState::None, 0),
        &Limits::default(),
    )
    .unwrap();
    record.payload_security = PayloadSecurity::Tls12 as i32;
    let before = h.sent.len();
    h.feed(&harness::encode(&record)).await;
    assert_eq!(h.sent.len(), before + 1);
    assert!(harness::is_disconnect(&h.sent[before].record, 7102));
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Down);
}

#[tokio::test]
async fn rusp_session_records_interoperate() {
    use rusp_lib::usp_builder::{RecordBuilder as RuspRecord, SessionContextBuilder};
    use rusp_lib::usp_decoder::{try_decode_msg, try_decode_record};
    use rusp_lib::usp_record::mod_Record::OneOfrecord_type;

    let mut h = Harness::new().await;
    let payload = encode_msg(&codec::request_msg(
        "rusp-1",
        get("Device.DeviceInfo.SerialNumber"),
    ));
    let record = RuspRecord::new()
        .with_version("1.3".into())
        .with_to_id(AGENT.into())
        .with_from_id(CTRL.into())
        .with_session_context_builder(
            SessionContextBuilder::new()
                .with_session_id(42)
                .with_sequence_id(1)
                .with_expected_id(1)
                .with_payload(payload),
        )
        .build()
        .unwrap();
    let before = h.sent.len();
    h.feed(&record.to_vec().unwrap()).await;
    let reply = h.sent[before..]
        .iter()
        .find(|s| context(&s.record).is_some())
        .unwrap();
    let bytes = harness::encode(&reply.record);
    let decoded = try_decode_record(&bytes).unwrap();
    let OneOfrecord_type::session_context(ctx) = decoded.record_type else {
        panic!("rusp sees no session context")
    };
    assert_eq!(
        (ctx.session_id, ctx.sequence_id, ctx.expected_id),
        (42, 1, 2)
    );
    assert_eq!(ctx.payload.len(), 1);
    let msg = try_decode_msg(&ctx.payload[0]).unwrap();
    assert_eq!(msg.header.unwrap().msg_id, "rusp-1");
    let ours: &SessionContextRecord = context(&reply.record).unwrap();
    assert_eq!(ours.session_id, 42);
}

/// Pseudo-random session traffic (ids, SAR states, retransmit requests, payload fragments)
/// never breaks the agent: it settles after every Record (the harness bounds the steps and
/// decodes every Record the agent sends), and its session Records number up from 1 without a
/// gap per session.
#[tokio::test]
async fn random_session_traffic_keeps_the_invariants() {
    let mut config = harness::config();
    config.max_session_buffer = 4;
    let mut h = Harness::with(Arc::new(AllowAll), config).await;
    configure(
        &mut h,
        &[("MaxRetransmitTries", "3"), ("MaxUSPRecordSize", "600")],
    )
    .await;
    let get = encode_msg(&codec::request_msg("r", get("Device.DeviceInfo.")));
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let before = h.sent.len();
    for _ in 0..400 {
        let session_id = 2 + next() % 3;
        let seq = 1 + next() % 6;
        let sar = PayloadSarState::try_from((next() % 4) as i32).unwrap();
        let retransmit = if next() % 5 == 0 { next() % 4 } else { 0 };
        let cut = (next() as usize) % (get.len() + 1);
        let payload = if next() % 2 == 0 {
            &get[..cut]
        } else {
            &get[cut..]
        };
        let mut peer = Peer::new(session_id);
        peer.expected = 1 + next() % 4;
        h.feed(&peer.record_at(seq, payload, sar, retransmit)).await;
        if next() % 7 == 0 {
            h.advance(Duration::from_secs(next() % 20)).await;
        }
    }
    // Per session id, the agent's sequence_ids run 1, 2, 3, ... (retransmissions repeat one).
    let mut last: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
    for r in session_records(&h, before) {
        let previous = last.entry(r.session_id).or_insert(0);
        assert!(
            r.sequence_id <= *previous + 1,
            "session {} jumped from {} to {}",
            r.session_id,
            previous,
            r.sequence_id
        );
        *previous = (*previous).max(r.sequence_id);
    }
    // The traffic exercised both ways out: failures restarted sessions, and requests that
    // came through whole were answered.
    assert!(last.len() > 1, "{last:?}");
    assert!(!failed(&h).is_empty());
    assert!(
        session_records(&h, before)
            .iter()
            .any(|r| r.payload.iter().any(|p| !p.is_empty()))
    );
}

#[tokio::test]
async fn reset_restarts_the_session_with_a_new_id() {
    let mut h = Harness::new().await;
    let mut peer = Peer::new(77);
    h.feed(&peer.request("g1", get("Device.DeviceInfo.SerialNumber")))
        .await;
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Up);

    // Reset() asked in the session: answered in it, then a new session starts.
    let before = h.sent.len();
    peer.expected = 2;
    h.feed(&peer.request("r", harness::operate(&format!("{E2E}Reset()"))))
        .await;
    let records = session_records(&h, before);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[0].session_id, records[0].sequence_id),
        (77, 2),
        "the OperateResp in the old session"
    );
    let msgs = reassemble(&records[..1]);
    assert_eq!(msg_id(&msgs[0]), "r");
    assert!(matches!(
        msgs[0].body.as_ref().and_then(|b| b.msg_body.as_ref()),
        Some(MsgBody::Response(usp::Response {
            resp_type: Some(RespType::OperateResp(_))
        }))
    ));
    let restart = &records[1];
    assert_ne!(restart.session_id, 77);
    assert_eq!(restart.sequence_id, 1);
    assert!(restart.payload.iter().all(|p| p.is_empty()));
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Negotiating);

    // The old session's Records are no longer taken: a Record of it fails (joined mid-way).
    h.feed(&peer.request("g2", get("Device.DeviceInfo.SerialNumber")))
        .await;
    assert!(!failed(&h).is_empty());
}

#[tokio::test]
async fn reset_without_a_session_starts_one() {
    let mut h = Harness::new().await;
    let before = h.sent.len();
    let reply = h
        .request(
            "r",
            harness::operate("Device.LocalAgent.Controller.*.E2ESession.Reset()"),
        )
        .await;
    assert!(matches!(harness::resp(&reply), RespType::OperateResp(_)));
    let records = session_records(&h, before);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].sequence_id, 1);
    assert_eq!(h.agent.session_status(CTRL), SessionStatus::Negotiating);
    assert_eq!(h.value(&format!("{E2E}Status")), "Negotiating");
}

//! Hostile input to the agent on the simulated device (the codec's own hostile suite is
//! `hostile.rs`): Records declaring a gigabyte, truncated and oversized Records, invalid
//! UTF-8 in a Set, search expressions with thousands of terms, reference cycles, floods of
//! objects. Each gets the right USP error code (or is ignored when no `msg_id` can be read,
//! R-MTP.5), without a panic, and the store is unchanged afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/harness.rs"]
mod harness;

use harness::{AGENT, CTRL, Harness, error, resp};
use prost::Message as _;
use tr181_model::store::Store;
use usp_core::Limits;
use usp_core::agent::{AgentEvent, IgnoreReason};
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::{self, request::ReqType, response::RespType};

fn snapshot(h: &Harness) -> Store {
    h.engine.read(Store::clone)
}

fn last_ignored(h: &Harness) -> Option<IgnoreReason> {
    match h.events.last() {
        Some(AgentEvent::RecordIgnored { reason, .. }) => Some(reason.clone()),
        _ => None,
    }
}

fn set(object: &str, param: &str, value: &str) -> ReqType {
    ReqType::Set(usp::Set {
        allow_partial: false,
        update_objs: vec![usp::set::UpdateObject {
            obj_path: object.into(),
            param_settings: vec![usp::set::UpdateParamSetting {
                param: param.into(),
                value: value.into(),
                required: true,
            }],
        }],
    })
}

/// A protobuf length prefix.
fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(u8::try_from(n & 0x7f).unwrap() | 0x80);
        n >>= 7;
    }
    out.push(u8::try_from(n).unwrap());
}

#[tokio::test]
async fn records_declaring_a_gigabyte_or_cut_short_are_ignored() {
    let mut h = Harness::new().await;
    let before = snapshot(&h);
    // A Record whose to_id claims 1 GiB, then a payload field claiming 1 GiB.
    let mut gig = vec![0x0a, 0x03, b'1', b'.', b'4', 0x12];
    varint(1 << 30, &mut gig);
    gig.extend_from_slice(b"os::");
    h.feed(&gig).await;
    assert_eq!(last_ignored(&h), Some(IgnoreReason::Undecodable(7100)));
    // A valid Record cut at every length: never an answer, never a panic.
    let msg = codec::request_msg(
        "cut",
        ReqType::Get(usp::Get {
            param_paths: vec!["Device.DeviceInfo.".into()],
            max_depth: 1,
        }),
    );
    let full = harness::encode(&RecordBuilder::new(AGENT, CTRL).no_session(&msg));
    for cut in 0..full.len() {
        h.feed(&full[..cut]).await;
        assert!(
            matches!(
                last_ignored(&h),
                Some(IgnoreReason::Undecodable(7100 | 7104) | IgnoreReason::MsgUndecodable(_))
            ),
            "cut at {cut}: {:?}",
            h.events.last()
        );
    }
    assert!(
        h.sent.is_empty(),
        "nothing answered: no msg_id could be trusted"
    );
    // Over the Record limit: refused before decoding, 7005.
    let big = vec![0u8; Limits::DEFAULT_MAX_RECORD_BYTES + 1];
    h.feed(&big).await;
    assert_eq!(last_ignored(&h), Some(IgnoreReason::Undecodable(7005)));
    assert!(snapshot(&h) == before);
}

/// R-MTP.5: an Error goes back only when the Msg is known to carry a Request and its msg_id
/// can be read; a body that does not parse (7000) hides both, so the Record is ignored.
#[tokio::test]
async fn a_msg_whose_body_lies_about_its_length_is_ignored_as_7000() {
    let mut h = Harness::new().await;
    let before = snapshot(&h);
    // The header (msg_id "lie", type GET) is intact; the body claims 1 GiB.
    let header = usp::Header {
        msg_id: "lie".into(),
        msg_type: usp::header::MsgType::Get as i32,
    };
    let mut payload = vec![0x0a];
    let header_bytes = header.encode_to_vec();
    varint(header_bytes.len() as u64, &mut payload);
    payload.extend_from_slice(&header_bytes);
    payload.push(0x12);
    varint(1 << 30, &mut payload);
    payload.extend_from_slice(b"\x0a\x02\x0a\x00");
    h.feed(&harness::record_with_payload(payload)).await;
    assert!(h.sent.is_empty());
    assert_eq!(last_ignored(&h), Some(IgnoreReason::MsgUndecodable(7000)));
    assert!(snapshot(&h) == before);
}

#[tokio::test]
async fn invalid_utf8_in_a_set_changes_nothing() {
    let mut h = Harness::new().await;
    let before = snapshot(&h);
    let msg = codec::request_msg("utf8", set("Device.WiFi.SSID.1.", "SSID", "caf\u{e9}XX"));
    let mut payload = msg.encode_to_vec();
    let at = payload.windows(2).position(|w| w == b"XX").unwrap();
    payload[at] = 0xc3;
    payload[at + 1] = 0x28;
    h.feed(&harness::record_with_payload(payload)).await;
    // Not even the Msg's kind can be trusted (R-MTP.5): ignored as 7000.
    assert!(h.sent.is_empty());
    assert_eq!(last_ignored(&h), Some(IgnoreReason::MsgUndecodable(7000)));
    assert!(snapshot(&h) == before);
}

#[tokio::test]
async fn thousands_of_search_terms_are_7005() {
    let mut h = Harness::new().await;
    let before = snapshot(&h);
    let terms = vec!["Enable==true"; 3000].join("&&");
    let path = format!("Device.WiFi.SSID.[{terms}].SSID");
    assert!(path.len() < Limits::DEFAULT_MAX_PATH_LEN * 64);
    // Longer than the codec's path limit: the whole Msg is refused with 7005.
    let reply = h
        .request(
            "terms",
            ReqType::Get(usp::Get {
                param_paths: vec![path],
                max_depth: 0,
            }),
        )
        .await;
    assert_eq!(error(&reply).err_code, 7005);
    // Within the path length, the data model's term limit (16) answers per path.
    let terms = vec!["Enable==true"; 40].join("&&");
    let reply = h
        .request(
            "terms-2",
            ReqType::Get(usp::Get {
                param_paths: vec![
                    format!("Device.WiFi.SSID.[{terms}].SSID"),
                    "Device.WiFi.SSID.1.SSID".into(),
                ],
                max_depth: 0,
            }),
        )
        .await;
    let RespType::GetResp(get) = resp(&reply) else {
        panic!("a GetResp")
    };
    assert_eq!(get.req_path_results[0].err_code, 7005);
    assert_eq!(
        get.req_path_results[1].err_code, 0,
        "the other path is answered"
    );
    // And a Set through such a path fails whole.
    let reply = h
        .request(
            "terms-3",
            set(&format!("Device.WiFi.SSID.[{terms}]."), "SSID", "x"),
        )
        .await;
    assert_eq!(error(&reply).err_code, 7005);
    assert!(snapshot(&h) == before);
}

#[tokio::test]
async fn a_reference_cycle_is_7005_and_leaves_the_store_alone() {
    let mut h = Harness::new().await;
    // Two interfaces naming each other in LowerLayers, made by the controller.
    let add = ReqType::Add(usp::Add {
        allow_partial: false,
        create_objs: vec![
            usp::add::CreateObject {
                obj_path: "Device.IP.Interface.".into(),
                param_settings: vec![],
            };
            2
        ],
    });
    let reply = h.request("add", add).await;
    let RespType::AddResp(added) = resp(&reply) else {
        panic!("an AddResp")
    };
    let rows: Vec<String> =
        added
            .created_obj_results
            .iter()
            .map(|r| {
                match r.oper_status.as_ref().unwrap().oper_status.as_ref().unwrap() {
            usp::add_resp::created_object_result::operation_status::OperStatus::OperSuccess(s) => {
                s.instantiated_path.clone()
            }
            other => panic!("{other:?}"),
        }
            })
            .collect();
    let (a, b) = (&rows[0], &rows[1]);
    for (row, target) in [(a, b), (b, a)] {
        let reply = h.request("link", set(row, "LowerLayers", target)).await;
        assert!(matches!(resp(&reply), RespType::SetResp(_)));
    }
    let before = snapshot(&h);
    let follow = |n: usize| format!("{a}{}Name", "LowerLayers#*+.".repeat(n));
    let reply = h
        .request(
            "cycle",
            ReqType::Get(usp::Get {
                param_paths: vec![follow(8), follow(9)],
                max_depth: 0,
            }),
        )
        .await;
    let RespType::GetResp(get) = resp(&reply) else {
        panic!("a GetResp")
    };
    assert_eq!(get.req_path_results[0].err_code, 0);
    assert_eq!(get.req_path_results[1].err_code, 7005);
    let reply = h
        .request(
            "cycle-set",
            set(&format!("{a}{}", "LowerLayers#*+.".repeat(9)), "Alias", "x"),
        )
        .await;
    assert_eq!(error(&reply).err_code, 7005);
    assert!(snapshot(&h) == before);
}

#[tokio::test]
async fn a_million_entry_add_is_refused_by_size_before_decoding() {
    let mut h = Harness::new().await;
    let before = snapshot(&h);
    // Half a million empty CreateObjects fit in 1 MiB; the codec's repeated-field limit
    // (4096) refuses them with 7005, naming the msg_id.
    let add = ReqType::Add(usp::Add {
        allow_partial: true,
        create_objs: vec![usp::add::CreateObject::default(); 500_000],
    });
    let msg = codec::request_msg("flood", add);
    assert!(msg.encoded_len() < Limits::DEFAULT_MAX_MSG_BYTES);
    let reply = h
        .request_from(
            CTRL,
            "flood",
            match msg.body.unwrap().msg_body.unwrap() {
                usp::body::MsgBody::Request(usp::Request { req_type: Some(r) }) => r,
                other => panic!("{other:?}"),
            },
        )
        .await
        .expect("an Error");
    assert_eq!(error(&reply).err_code, 7005);
    // A million: past the Msg size limit, so the Record is refused before decoding.
    let add = ReqType::Add(usp::Add {
        allow_partial: true,
        create_objs: vec![usp::add::CreateObject::default(); 1_000_000],
    });
    let sent = h.sent.len();
    h.request_from(CTRL, "flood-2", add).await;
    assert_eq!(h.sent.len(), sent, "too large to read a msg_id from");
    assert!(matches!(
        last_ignored(&h),
        Some(IgnoreReason::Undecodable(7005) | IgnoreReason::MsgUndecodable(7005))
    ));
    assert!(snapshot(&h) == before);
}

/// The saved form of [`Agent::save_notifications`](usp_core::agent::Agent), as the flash
/// holds it (protobuf, then hexadecimal digits).
#[derive(Clone, PartialEq, prost::Message)]
struct SavedNotifies {
    #[prost(uint64, tag = "1")]
    next_msg: u64,
    #[prost(message, repeated, tag = "2")]
    notifies: Vec<SavedNotify>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SavedNotify {
    #[prost(string, tag = "1")]
    controller: String,
    #[prost(bytes = "vec", tag = "2")]
    msg: Vec<u8>,
    #[prost(uint64, optional, tag = "3")]
    expires_in_ms: Option<u64>,
}

/// A saved set of unanswered Notifies that still decodes yet holds more than the agent keeps
/// while running, one of them garbled: the newest `max_unacknowledged` are restored but the
/// garbled one, which alone is lost, and what was dropped is said in one event. A save cut
/// short restores nothing, without a panic.
#[tokio::test]
async fn saved_notifies_are_bounded_and_a_garbled_one_alone_is_lost() {
    let mut h = Harness::new().await;
    let notify = |i: usize| {
        let msg = usp::Msg {
            header: Some(usp::Header {
                msg_id: format!("n{i}"),
                msg_type: usp::header::MsgType::Notify.into(),
            }),
            body: Some(usp::Body {
                msg_body: Some(usp::body::MsgBody::Request(usp::Request {
                    req_type: Some(ReqType::Notify(usp::Notify {
                        subscription_id: "s".into(),
                        send_resp: true,
                        notification: Some(usp::notify::Notification::Event(usp::notify::Event {
                            obj_path: "Device.".into(),
                            event_name: "Boot!".into(),
                            params: Default::default(),
                        })),
                    })),
                })),
            }),
        };
        let mut bytes = Vec::new();
        codec::encode_msg(&msg, &mut bytes);
        SavedNotify {
            controller: CTRL.into(),
            msg: bytes,
            expires_in_ms: None,
        }
    };
    let count = 300;
    let mut saved = SavedNotifies {
        next_msg: 9,
        notifies: (0..count).map(notify).collect(),
    };
    saved.notifies[count - 1].msg = vec![0x0a, 0xff, 0xff];
    let hex: String = saved
        .encode_to_vec()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let max = harness::config().max_unacknowledged;
    let restored = h
        .agent
        .restore_notifications(h.now, hex.as_bytes())
        .unwrap();
    assert_eq!(
        restored,
        max - 1,
        "the newest kept, the garbled one left out"
    );
    h.drive().await;
    let dropped: Vec<usize> = h
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::SavedNotifiesDropped { count } => Some(*count),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, [count - max + 1]);
    let again = h.agent.save_notifications(h.now);
    let binary: Vec<u8> = again
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect();
    let kept = SavedNotifies::decode(binary.as_slice()).unwrap();
    assert_eq!(kept.notifies.len(), max - 1);
    let first = codec::decode_msg(&kept.notifies[0].msg, &Limits::default()).unwrap();
    assert_eq!(first.header.unwrap().msg_id, format!("n{}", count - max));

    let cut = &hex.as_bytes()[..hex.len() / 2];
    let mut fresh = Harness::new().await;
    assert!(fresh.agent.restore_notifications(fresh.now, cut).is_err());
}

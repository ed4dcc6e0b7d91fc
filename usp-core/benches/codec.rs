//! USP codec throughput, ours (prost plus the USP checks) against rusp-lib (quick-protobuf),
//! measured in the same run so that the ratio survives a noisy machine.
//!
//! Two messages, each inside a `no_session_context` Record as an agent sends and receives them:
//! a GetResp with 1,000 parameters (100 objects of 10 parameters) and a small Get. Both
//! codecs decode the same bytes; each encodes its own decoded value (Msg first, then the Record
//! around it). Ours also runs the USP checks on decode, rusp-lib's `try_decode_*` does not.
//! Ours decodes the Record from `Bytes`, as the reference agent's WebSocket and MQTT clients
//! deliver it (the payload becomes a slice); `decode/ours from &[u8]` is the copying entry point.
//! `decode/ours inbound` decodes the Msg as the agent does (`codec::decode_inbound_msg`), which
//! reads a GetResp's type only.
//!
//! The measured functions are never inlined, so that callgrind can count them by name.
//!
//! Run with `cargo bench -p usp-core --bench codec`; BENCHMARKS.md has the results.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rusp_lib::usp_decoder::{try_decode_msg, try_decode_record};
use rusp_lib::usp_record::mod_Record::OneOfrecord_type;
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::get_resp::{RequestedPathResult, ResolvedPathResult};
use usp_core::usp::{Get, GetResp, request::ReqType, response::RespType};
use usp_core::usp_inbound;
use usp_core::usp_record::record::RecordType;
use usp_core::{Limits, Msg, Record};

const OBJECTS: u32 = 100;
const PARAMS_PER_OBJECT: u32 = 10;

fn get_resp_1000() -> Msg {
    let names = [
        "MACAddress",
        "SignalStrength",
        "Active",
        "AuthenticationState",
        "LastDataDownlinkRate",
        "LastDataUplinkRate",
        "Noise",
        "Retransmissions",
        "OperatingStandard",
        "AssociationTime",
    ];
    let resolved = (1..=OBJECTS)
        .map(|i| ResolvedPathResult {
            resolved_path: format!("Device.WiFi.AccessPoint.1.AssociatedDevice.{i}."),
            result_params: names
                .iter()
                .take(PARAMS_PER_OBJECT as usize)
                .enumerate()
                .map(|(k, name)| ((*name).to_owned(), format!("value-{i}-{k}")))
                .collect::<BTreeMap<_, _>>(),
        })
        .collect();
    codec::response_msg(
        "get-resp-1000",
        RespType::GetResp(GetResp {
            req_path_results: vec![RequestedPathResult {
                requested_path: "Device.WiFi.AccessPoint.1.AssociatedDevice.".into(),
                err_code: 0,
                err_msg: String::new(),
                resolved_path_results: resolved,
            }],
        }),
    )
}

fn small_get() -> Msg {
    codec::request_msg(
        "get-1",
        ReqType::Get(Get {
            param_paths: vec!["Device.DeviceInfo.SoftwareVersion".into()],
            max_depth: 0,
        }),
    )
}

fn builder() -> RecordBuilder {
    RecordBuilder::new("proto::agent", "proto::controller")
}

/// The Record's wire bytes for `msg`.
fn wire(msg: &Msg) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode_record(&builder().no_session(msg), &mut out);
    out
}

/// Ours: bounded Record decode from `Bytes`, then the Msg inside, with the USP checks.
#[inline(never)]
fn ours_decode(bytes: Bytes, limits: &Limits) -> (Record, Msg) {
    let record = codec::decode_record_bytes(bytes, limits).unwrap();
    with_msg(record, limits)
}

/// Ours as the agent decodes: the Record from `Bytes`, then the Msg into `usp_inbound`.
#[inline(never)]
fn ours_decode_inbound(bytes: Bytes, limits: &Limits) -> (Record, usp_inbound::Msg) {
    let record = codec::decode_record_bytes(bytes, limits).unwrap();
    let Some(RecordType::NoSessionContext(no_session)) = &record.record_type else {
        panic!("not a no-session Record");
    };
    let msg = codec::decode_inbound_msg(&no_session.payload, limits).unwrap();
    (record, msg)
}

/// Ours from a borrowed slice, which copies the payload.
#[inline(never)]
fn ours_decode_slice(bytes: &[u8], limits: &Limits) -> (Record, Msg) {
    let record = codec::decode_record(bytes, limits).unwrap();
    with_msg(record, limits)
}

fn with_msg(record: Record, limits: &Limits) -> (Record, Msg) {
    let msg = codec::msg_from_no_session(&record, limits)
        .unwrap()
        .unwrap();
    (record, msg)
}

/// Ours: the Msg, then the Record carrying it.
fn ours_encode(builder: &RecordBuilder, msg: &Msg) -> Vec<u8> {
    let record = builder.no_session(msg);
    let mut out = Vec::with_capacity(256);
    codec::encode_record(&record, &mut out);
    out
}

#[inline(never)]
fn rusp_decode(bytes: &[u8]) -> (rusp_lib::usp_record::Record, rusp_lib::usp::Msg) {
    let record = try_decode_record(bytes).unwrap();
    let OneOfrecord_type::no_session_context(inner) = &record.record_type else {
        panic!("not a no-session Record");
    };
    let msg = try_decode_msg(&inner.payload).unwrap();
    (record, msg)
}

/// rusp-lib: the Msg, then the Record (moved in, as a caller would) carrying it.
fn rusp_encode(mut record: rusp_lib::usp_record::Record, msg: &rusp_lib::usp::Msg) -> Vec<u8> {
    let payload = msg.to_vec().unwrap();
    record.record_type =
        OneOfrecord_type::no_session_context(rusp_lib::usp_record::NoSessionContextRecord {
            payload,
        });
    record.to_vec().unwrap()
}

fn compare(c: &mut Criterion, name: &str, msg: &Msg) {
    let limits = Limits::default();
    let bytes = wire(msg);
    let shared = Bytes::from(bytes.clone());
    // Both codecs read the same bytes and agree on what they hold.
    let (_, ours) = ours_decode(shared.clone(), &limits);
    assert_eq!(&ours, msg);
    assert_eq!(ours_decode_slice(&bytes, &limits).1, ours);
    let (rusp_record, rusp_msg) = rusp_decode(&bytes);
    let ours_len = ours_encode(&builder(), &ours).len();
    let rusp_len = rusp_encode(rusp_record.clone(), &rusp_msg).len();
    assert_eq!(ours_len, bytes.len());
    // rusp-lib 1.0 speaks USP 1.4; the Record has no 1.5 fields here, so sizes match too.
    assert_eq!(rusp_len, bytes.len());

    let mut group = c.benchmark_group(format!("usp {name}"));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode/ours", |b| {
        b.iter(|| ours_decode(black_box(shared.clone()), &limits))
    });
    group.bench_function("decode/ours inbound", |b| {
        b.iter(|| ours_decode_inbound(black_box(shared.clone()), &limits))
    });
    group.bench_function("decode/ours from &[u8]", |b| {
        b.iter(|| ours_decode_slice(black_box(&bytes), &limits))
    });
    group.bench_function("decode/rusp-lib", |b| {
        b.iter(|| rusp_decode(black_box(&bytes)))
    });
    let builder = builder();
    group.bench_function("encode/ours", |b| {
        b.iter(|| ours_encode(&builder, black_box(&ours)))
    });
    group.bench_function("encode/rusp-lib", |b| {
        b.iter_batched(
            || rusp_lib::usp_record::Record {
                record_type: OneOfrecord_type::None,
                ..rusp_record.clone()
            },
            |record| rusp_encode(record, black_box(&rusp_msg)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn usp(c: &mut Criterion) {
    compare(c, "GetResp 1000 params", &get_resp_1000());
    compare(c, "Get small", &small_get());
}

criterion_group!(benches, usp);
criterion_main!(benches);

//! CWMP SOAP codec throughput against the floor: a bare quick-xml pass over the same bytes.
//!
//! * decode: [`Envelope::decode`] (UTF-8 check, bounds, namespaces, every value into owned
//!   Rust types) against a quick-xml `Reader` that only pulls the events and throws them away,
//!   which no full decoder built on quick-xml can beat;
//! * encode: [`Envelope::encode`] from the Rust value against a quick-xml `Writer` writing the
//!   already parsed (and already escaped) events of the same document.
//!
//! Messages: a GetParameterValuesResponse with 1,000 parameters and a BOOT Inform with the
//! usual inform parameters. The ratio of each pair, measured in the same run, is what
//! BENCHMARKS.md reports. Run with `cargo bench -p cwmp-core --bench codec`.
//!
//! `cwmp worst case` times the decoder alone on the hostile suite's worst-case inputs
//! (megabyte bodies of the cheapest-to-send, costliest-to-parse shapes): its throughput should
//! stay of the order of the messages' above, which a quadratic step would not.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cwmp_core::codec::{
    Body, CwmpNamespace, DeviceId, Envelope, Event, EventCode, GetParameterValuesResponse, Inform,
    Limits, ParameterValue, ValueType,
};
use quick_xml::events::Event as XmlEvent;
use quick_xml::{Reader, Writer};

#[allow(dead_code)] // The hostile suites use the rest.
#[path = "../tests/attacks/mod.rs"]
mod attacks;

fn envelope(id: &str, body: Body) -> Envelope {
    let mut envelope = Envelope::new(CwmpNamespace::V1_2, body);
    envelope.header.id = Some(id.into());
    envelope
}

/// A parameter of associated device `i`, cycling through the usual types.
fn parameter(i: u32) -> ParameterValue {
    let object = format!("Device.WiFi.AccessPoint.1.AssociatedDevice.{}.", i / 10 + 1);
    match i % 5 {
        0 => ParameterValue::new(
            format!("{object}MACAddress"),
            format!("02:00:00:00:{:02X}:{:02X}", i / 256, i % 256),
            ValueType::String,
        ),
        1 => ParameterValue::new(
            format!("{object}SignalStrength"),
            format!("-{}", 40 + i % 50),
            ValueType::Int,
        ),
        2 => ParameterValue::new(format!("{object}Active"), "true", ValueType::Boolean),
        3 => ParameterValue::new(
            format!("{object}LastDataDownlinkRate"),
            (i * 1000).to_string(),
            ValueType::UnsignedInt,
        ),
        _ => ParameterValue::new(
            format!("{object}OperatingStandard"),
            "ax & \"be\"",
            ValueType::String,
        ),
    }
}

fn get_parameter_values_response() -> Envelope {
    envelope(
        "gpv-1000",
        Body::GetParameterValuesResponse(GetParameterValuesResponse {
            parameter_list: (0..1000).map(parameter).collect(),
        }),
    )
}

fn inform() -> Envelope {
    let text = |name: &str, value: &str| ParameterValue::new(name, value, ValueType::String);
    envelope(
        "inform-1",
        Body::Inform(Inform {
            device_id: DeviceId {
                manufacturer: "ACME Networks".into(),
                oui: "00D09E".into(),
                product_class: "HGW-9000".into(),
                serial_number: "ACME0123456789".into(),
            },
            event: vec![
                Event {
                    event_code: EventCode::Boot,
                    command_key: String::new(),
                },
                Event {
                    event_code: EventCode::Bootstrap,
                    command_key: String::new(),
                },
            ],
            max_envelopes: 1,
            current_time: "2025-01-01T00:00:00Z".into(),
            retry_count: 0,
            parameter_list: vec![
                text("Device.RootDataModelVersion", "2.19"),
                text("Device.DeviceInfo.HardwareVersion", "rev-B"),
                text("Device.DeviceInfo.SoftwareVersion", "1.2.3-build.45"),
                text("Device.DeviceInfo.ProvisioningCode", ""),
                text(
                    "Device.ManagementServer.ConnectionRequestURL",
                    "http://192.0.2.10:7547/acme-cr-7f3a",
                ),
                text("Device.ManagementServer.ParameterKey", "pk-17"),
                text(
                    "Device.IP.Interface.1.IPv4Address.1.IPAddress",
                    "192.0.2.10",
                ),
                ParameterValue::new(
                    "Device.ManagementServer.PeriodicInformInterval",
                    "3600",
                    ValueType::UnsignedInt,
                ),
            ],
        }),
    )
}

/// The floor of decoding: every event pulled, nothing kept. Not inlined, so that callgrind
/// can count it (`--toggle-collect=codec::scan`).
#[inline(never)]
fn scan(bytes: &[u8]) -> usize {
    let mut reader = Reader::from_reader(bytes);
    let mut events = 0usize;
    loop {
        match reader.read_event().unwrap() {
            XmlEvent::Eof => return events,
            event => {
                black_box(&event);
                events += 1;
            }
        }
    }
}

/// The document's events, owned, for the writer floor.
fn events(bytes: &[u8]) -> Vec<XmlEvent<'static>> {
    let mut reader = Reader::from_reader(bytes);
    let mut out = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            XmlEvent::Eof => return out,
            event => out.push(event.into_owned()),
        }
    }
}

/// The floor of encoding: the same events written back.
fn write_events(events: &[XmlEvent<'static>]) -> Vec<u8> {
    let mut writer = Writer::new(Vec::with_capacity(256));
    for event in events {
        writer.write_event(event.borrow()).unwrap();
    }
    writer.into_inner()
}

fn encode(envelope: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    envelope.encode(&mut out).unwrap();
    out
}

fn compare(c: &mut Criterion, name: &str, envelope: &Envelope) {
    let limits = Limits::default();
    let bytes = encode(envelope);
    assert_eq!(&Envelope::decode(&bytes, &limits).unwrap(), envelope);
    let events = events(&bytes);
    // The writer floor reproduces the document exactly, so both sides write the same bytes.
    assert_eq!(write_events(&events), bytes);

    let mut group = c.benchmark_group(format!("cwmp {name}"));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode/ours", |b| {
        b.iter(|| Envelope::decode(black_box(&bytes), &limits).unwrap())
    });
    group.bench_function("decode/quick-xml scan", |b| {
        b.iter(|| scan(black_box(&bytes)))
    });
    group.bench_function("encode/ours", |b| b.iter(|| encode(black_box(envelope))));
    group.bench_function("encode/quick-xml writer", |b| {
        b.iter(|| write_events(black_box(&events)))
    });
    group.finish();
}

fn cwmp(c: &mut Criterion) {
    compare(
        c,
        "GetParameterValuesResponse 1000 params",
        &get_parameter_values_response(),
    );
    compare(c, "Inform", &inform());
    let mut group = c.benchmark_group("cwmp worst case");
    for (name, input) in attacks::worst_cases("bench") {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| Envelope::decode(black_box(input.as_bytes()), &Limits::default()))
        });
    }
    group.finish();
}

criterion_group!(benches, cwmp);
criterion_main!(benches);

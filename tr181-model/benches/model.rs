//! Schema lookups, and path resolution over a large Wi-Fi table (64 access points with 256
//! associated devices each), as the issue asks. Run with `cargo bench -p tr181-model`.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use tr181_model::path::Path;
use tr181_model::schema::{self, Protocol};
use tr181_model::store::{Origin, Store};

const ACCESS_POINTS: u32 = 64;
const DEVICES_PER_AP: u32 = 256;

fn schema_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("schema");
    group.bench_function("parameter lookup", |b| {
        b.iter(|| {
            schema::parameter(
                black_box("Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.SignalStrength"),
                Protocol::Usp,
            )
        })
    });
    group.bench_function("object lookup", |b| {
        b.iter(|| schema::object(black_box("Device.DeviceInfo."), Protocol::Cwmp))
    });
    group.finish();
}

/// 64 × 256 associated devices, signal strengths spread over -10 … -99 dBm.
fn populated() -> Store {
    let mut store = Store::new();
    let mut txn = store.transaction(Origin::Device);
    for ap in 0..ACCESS_POINTS {
        let n = txn.add("Device.WiFi.AccessPoint.", &[]).unwrap();
        let table = format!("Device.WiFi.AccessPoint.{n}.AssociatedDevice.");
        for dev in 0..DEVICES_PER_AP {
            let mac = format!("02:00:00:00:{ap:02X}:{dev:02X}");
            let signal = format!("-{}", 10 + (ap * DEVICES_PER_AP + dev) % 90);
            txn.add(&table, &[("MACAddress", &mac), ("SignalStrength", &signal)])
                .unwrap();
        }
    }
    txn.commit().unwrap();
    store
}

fn resolve(c: &mut Criterion) {
    let store = populated();
    let wildcard: Path = "Device.WiFi.AccessPoint.*.AssociatedDevice.*.SignalStrength"
        .parse()
        .unwrap();
    let search: Path = "Device.WiFi.AccessPoint.*.AssociatedDevice.[SignalStrength<-90].MACAddress"
        .parse()
        .unwrap();
    assert_eq!(
        store.resolve(&wildcard, Protocol::Usp).unwrap().len(),
        (ACCESS_POINTS * DEVICES_PER_AP) as usize
    );
    assert!(!store.resolve(&search, Protocol::Usp).unwrap().is_empty());

    let mut group = c.benchmark_group("resolve 64x256");
    group.sample_size(20);
    group.bench_function("wildcard", |b| {
        b.iter(|| {
            store
                .resolve(black_box(&wildcard), Protocol::Usp)
                .unwrap()
                .len()
        })
    });
    group.bench_function("search expression", |b| {
        b.iter(|| {
            store
                .resolve(black_box(&search), Protocol::Usp)
                .unwrap()
                .len()
        })
    });
    group.bench_function("parse search path", |b| {
        b.iter(|| {
            black_box("Device.WiFi.AccessPoint.*.AssociatedDevice.[SignalStrength<-90].MACAddress")
                .parse::<Path>()
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, schema_lookup, resolve);
criterion_main!(benches);

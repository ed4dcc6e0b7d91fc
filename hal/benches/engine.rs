//! The protocol-neutral engine on the simulated device: what one USP Get or Set costs before
//! any codec runs. Run with `cargo bench -p hal --bench engine`.
//!
//! * Get of `Device.` (the whole model) on the factory simulated gateway;
//! * an atomic Set of 100 parameters (50 NAT port mappings × 2), all-or-nothing, values
//!   alternating so that every Set changes all of them;
//! * resolving `Device.WiFi.AccessPoint.*.AssociatedDevice.*.SignalStrength` and the search
//!   `…AssociatedDevice.[SignalStrength<-90].MACAddress` over 64 access points × 256
//!   associated devices, at three layers: the store's resolver alone, an engine Get with the
//!   rows already in the store (a HAL without discovered tables), and an engine Get on the
//!   simulated device, which asks the HAL for the 64 tables' rows (16,384 simulated clients)
//!   before every Get, as the engine does for discovered tables.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::sync::Arc;

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use hal::engine::{AllowAll, GetRequest, SetRequest};
use hal::sim::{Client, SimDevice};
use hal::traits::Tables;
use hal::{Engine, EngineConfig, Hal, HalError, Principal};
use tokio::runtime::Runtime;
use tr181_model::path::Path;
use tr181_model::schema::Protocol;
use tr181_model::value::Value;

const ACCESS_POINTS: u32 = 64;
const DEVICES_PER_AP: u32 = 256;
const WILDCARD: &str = "Device.WiFi.AccessPoint.*.AssociatedDevice.*.SignalStrength";
const SEARCH: &str = "Device.WiFi.AccessPoint.*.AssociatedDevice.[SignalStrength<-90].MACAddress";
const PORT_MAPPINGS: u32 = 50;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn controller() -> Principal {
    Principal::controller("self::controller", Vec::new())
}

async fn start(hal: Hal, sim: &Arc<SimDevice>) -> Engine {
    let engine = Engine::new(hal, Arc::new(AllowAll), EngineConfig::default());
    engine.start().await.unwrap();
    sim.attach(engine.sink());
    engine
}

/// Table hooks of the simulated device, without discovered tables: rows stay as the store
/// has them.
struct StoredRows(Arc<dyn Tables>);

#[async_trait]
impl Tables for StoredRows {
    async fn added(&self, row: &str, values: &[(String, Value)]) -> Result<(), HalError> {
        self.0.added(row, values).await
    }

    async fn deleted(&self, row: &str) -> Result<(), HalError> {
        self.0.deleted(row).await
    }
}

/// The signal strength of device `k`: spread over -10 … -99 dBm.
fn signal(k: u32) -> i32 {
    -10 - i32::try_from(k % 90).unwrap()
}

/// Adds access points until there are 64 and returns their numbers.
async fn access_points(engine: &Engine) -> Vec<u32> {
    let numbers = || {
        engine.read(|s| {
            s.instances("Device.WiFi.AccessPoint.", Protocol::Usp, true)
                .unwrap()
                .iter()
                .map(|row| {
                    row.path
                        .strip_prefix("Device.WiFi.AccessPoint.")
                        .and_then(|n| n.strip_suffix('.'))
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .collect::<Vec<u32>>()
        })
    };
    let missing = ACCESS_POINTS as usize - numbers().len();
    engine
        .device_update(|txn| {
            (0..missing)
                .map(|_| txn.add("Device.WiFi.AccessPoint.", &[]))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();
    numbers()
}

/// An engine whose 64 × 256 associated devices are rows of the store.
async fn stored_engine() -> Engine {
    let sim = SimDevice::new("BENCH0001");
    let mut hal = sim.hal();
    hal.tables = Arc::new(StoredRows(hal.tables.clone()));
    let engine = start(hal, &sim).await;
    let aps = access_points(&engine).await;
    engine
        .device_update(|txn| {
            for (i, ap) in (0u32..).zip(&aps) {
                let table = format!("Device.WiFi.AccessPoint.{ap}.AssociatedDevice.");
                for dev in 0..DEVICES_PER_AP {
                    let k = i * DEVICES_PER_AP + dev;
                    let mac = format!("02:00:00:00:{i:02X}:{dev:02X}");
                    let strength = signal(k).to_string();
                    txn.add(
                        &table,
                        &[("MACAddress", &mac), ("SignalStrength", &strength)],
                    )?;
                }
            }
            Ok(())
        })
        .await
        .unwrap();
    engine
}

/// The simulated device with 64 × 256 Wi-Fi clients, found by discovery.
async fn discovering_engine() -> Engine {
    let sim = SimDevice::new("BENCH0002");
    let engine = start(sim.hal(), &sim).await;
    let aps = access_points(&engine).await;
    for (i, ap) in (0u32..).zip(&aps) {
        for dev in 0..DEVICES_PER_AP {
            let k = i * DEVICES_PER_AP + dev;
            let mut client = Client::wifi(
                &format!("02:00:00:00:{i:02X}:{dev:02X}"),
                &format!("10.{i}.{}.{}", dev / 256, dev % 256),
                &format!("client-{k}"),
                *ap,
            );
            client.signal = signal(k);
            sim.connect_client(client);
        }
    }
    engine
}

/// Runs a Get and returns how many parameters it gave.
async fn get(engine: &Engine, path: &str) -> usize {
    let response = engine
        .get(&controller(), &GetRequest::new([path]))
        .await
        .unwrap();
    let count = response.params().count();
    black_box(response);
    count
}

fn whole_model(c: &mut Criterion) {
    let rt = runtime();
    let sim = SimDevice::new("BENCH0003");
    let engine = rt.block_on(start(sim.hal(), &sim));
    let count = rt.block_on(get(&engine, "Device."));
    assert!(count > 1000, "{count}");
    let mut group = c.benchmark_group("engine");
    group.bench_function(format!("Get Device. ({count} parameters)"), |b| {
        b.iter(|| rt.block_on(get(&engine, black_box("Device."))))
    });
    group.finish();
}

fn atomic_set(c: &mut Criterion) {
    let rt = runtime();
    let sim = SimDevice::new("BENCH0004");
    let engine = rt.block_on(start(sim.hal(), &sim));
    let rows: Vec<u32> = rt
        .block_on(engine.device_update(|txn| {
            (0..PORT_MAPPINGS)
                .map(|_| txn.add("Device.NAT.PortMapping.", &[]))
                .collect()
        }))
        .unwrap();
    let request = |round: u32| {
        SetRequest::from_parameters(rows.iter().flat_map(|n| {
            let object = format!("Device.NAT.PortMapping.{n}.");
            [
                (format!("{object}Description"), format!("round {round}")),
                (format!("{object}LeaseDuration"), (round % 2).to_string()),
            ]
        }))
    };
    let requests = [request(0), request(1)];
    assert_eq!(
        requests[0]
            .objects
            .iter()
            .map(|o| o.params.len())
            .sum::<usize>(),
        100
    );
    let set = |request: &SetRequest| {
        let response = rt.block_on(engine.set(&controller(), request)).unwrap();
        assert_eq!(response.results.len(), PORT_MAPPINGS as usize);
        response
    };
    set(&requests[0]);
    let mut round = 0usize;
    let mut group = c.benchmark_group("engine");
    group.bench_function("atomic Set of 100 parameters", |b| {
        b.iter(|| {
            round += 1;
            set(black_box(&requests[round % 2]))
        })
    });
    group.finish();
    // The last Set wrote every value.
    let last = (round % 2).to_string();
    let stored = engine.read(|s| {
        s.value(&format!("Device.NAT.PortMapping.{}.LeaseDuration", rows[0]))
            .unwrap()
            .canonical_text()
    });
    assert_eq!(stored, last);
}

fn resolve(c: &mut Criterion) {
    let rt = runtime();
    let stored = rt.block_on(stored_engine());
    let total = (ACCESS_POINTS * DEVICES_PER_AP) as usize;
    let wildcard: Path = WILDCARD.parse().unwrap();
    let search: Path = SEARCH.parse().unwrap();
    let matching = rt.block_on(get(&stored, SEARCH));
    assert_eq!(rt.block_on(get(&stored, WILDCARD)), total);
    assert!(matching > 0 && matching < total, "{matching}");

    let mut group = c.benchmark_group("resolve 64x256");
    group.sample_size(20);
    for (name, path, parsed, count) in [
        ("wildcard", WILDCARD, &wildcard, total),
        ("search", SEARCH, &search, matching),
    ] {
        group.bench_function(format!("{name}/store resolve"), |b| {
            b.iter(|| {
                stored.read(|s| {
                    let n = s.resolve(black_box(parsed), Protocol::Usp).unwrap().len();
                    assert_eq!(n, count);
                })
            })
        });
        group.bench_function(format!("{name}/engine Get, rows stored"), |b| {
            b.iter(|| rt.block_on(get(&stored, black_box(path))))
        });
    }
    group.finish();
    drop(stored);

    let discovering = rt.block_on(discovering_engine());
    assert_eq!(rt.block_on(get(&discovering, WILDCARD)), total);
    assert_eq!(rt.block_on(get(&discovering, SEARCH)), matching);
    let mut group = c.benchmark_group("resolve 64x256");
    group.sample_size(10);
    for (name, path) in [("wildcard", WILDCARD), ("search", SEARCH)] {
        group.bench_function(format!("{name}/engine Get, sim discovery"), |b| {
            b.iter(|| rt.block_on(get(&discovering, black_box(path))))
        });
    }
    group.finish();
}

criterion_group!(benches, whole_model, atomic_set, resolve);
criterion_main!(benches);

//! The agent's receive path: one small Get Record (≈ 90 B, no session context) through
//! `Agent::handle_record`, from the bytes an MTP delivered to the engine request it queues
//! (Record and Msg decode, the checks, planning the request).
//!
//! Each iteration then answers the request with an empty GetResponse and drains the reply, so
//! that requests do not pile up; `receive` is the part to count with callgrind
//! (`--toggle-collect=agent::receive`, see BENCHMARKS.md).
//!
//! Run with `cargo bench -p usp-core --bench agent`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use hal::engine::{EngineResult, GetResponse};
use usp_core::agent::{Agent, AgentConfig, ControllerConfig, Mtp, MtpKind, Output};
use usp_core::codec::{self, RecordBuilder};
use usp_core::usp::{Get, request::ReqType};

const AGENT: &str = "proto::agent";
const CONTROLLER: &str = "proto::controller";

/// The wire bytes of a no-session Record carrying a Get of one parameter.
fn small_get_record() -> Bytes {
    let msg = codec::request_msg(
        "get-1",
        ReqType::Get(Get {
            param_paths: vec!["Device.DeviceInfo.SoftwareVersion".into()],
            max_depth: 0,
        }),
    );
    let mut out = Vec::new();
    codec::encode_record(
        &RecordBuilder::new(AGENT, CONTROLLER).no_session(&msg),
        &mut out,
    );
    Bytes::from(out)
}

/// What the driver does with a Record it received: hand it to the agent.
#[inline(never)]
fn receive(agent: &mut Agent, now: Instant, record: Bytes) {
    agent.handle_record(now, Mtp::new(MtpKind::WebSocket, "conn-1"), record);
}

/// Answers the queued Get and drains the reply; returns how many Records went out.
fn answer(agent: &mut Agent) -> usize {
    let mut sent = 0;
    loop {
        match agent.poll_output() {
            Output::EngineRequest { id, .. } => agent
                .respond(id, EngineResult::Get(Ok(GetResponse::default())))
                .unwrap(),
            Output::Transmit { .. } => sent += 1,
            Output::Idle | Output::Timeout(_) => return sent,
            other => panic!("unexpected output {other:?}"),
        }
    }
}

#[allow(clippy::disallowed_methods)] // The agent needs some `now`; its value does not matter.
fn agent(c: &mut Criterion) {
    let now = Instant::now();
    let mut agent =
        Agent::new(AgentConfig::new(AGENT).with_controller(ControllerConfig::new(CONTROLLER)));
    let record = small_get_record();
    // The Get reaches the engine and its answer goes back to the controller.
    receive(&mut agent, now, record.clone());
    assert_eq!(answer(&mut agent), 1);

    c.bench_function("agent/receive small Get", |b| {
        b.iter(|| {
            receive(&mut agent, now, black_box(record.clone()));
            answer(&mut agent)
        })
    });
}

criterion_group!(benches, agent);
criterion_main!(benches);

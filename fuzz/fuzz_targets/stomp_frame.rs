//! STOMP 1.2 frames from a broker: the frame decoder never panics, never buffers past its
//! limits, and a frame it decodes encodes back to bytes that decode again (to the same frame
//! when its headers are escaped; `CONNECT`/`CONNECTED` headers cannot carry a trailing CR).
//! The same bytes, cut where the first byte says, drive the USP Endpoint's STOMP client.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use usp_core::mtp::stomp::client::{Client, ClientConfig};
use usp_core::mtp::stomp::frame::{Command, Decoded, FrameLimits, decode_frame, encode_frame};

fuzz_target!(|data: &[u8]| {
    let limits = FrameLimits::default().with_max_body_bytes(4096);
    // Escaping may double the header section.
    let mut wide = FrameLimits::default();
    wide.max_header_bytes *= 2;
    let mut at = 0;
    while let Some(rest) = data.get(at..) {
        match decode_frame(rest, &limits) {
            Ok(Decoded::Frame { frame, consumed }) => {
                assert!(consumed > 0 && consumed <= rest.len());
                assert!(frame.body.len() <= limits.max_body_bytes);
                let mut wire = Vec::new();
                encode_frame(&frame, &mut wire);
                let Ok(Decoded::Frame {
                    frame: again,
                    consumed,
                }) = decode_frame(&wire, &wide)
                else {
                    panic!("an encoded frame does not decode: {frame:?}");
                };
                assert_eq!(consumed, wire.len());
                if !matches!(frame.command, Command::Connect | Command::Connected) {
                    assert_eq!(again, frame);
                }
                at += consumed;
            }
            Ok(Decoded::HeartBeat { consumed }) => {
                assert!(consumed > 0);
                at += consumed;
            }
            Ok(Decoded::Incomplete) | Err(_) => break,
        }
    }

    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    // Virtual time: each chunk arrives a little later.
    let start = Instant::now();
    let config = ClientConfig::new("os::fuzz", "/queue/agent")
        .with_heart_beat(1000, 1000)
        .with_limits(limits);
    let mut client = Client::new(config, start);
    let mut out = Vec::new();
    let chunk = usize::from(cut).max(1);
    for (i, piece) in input.chunks(chunk).enumerate() {
        let now = start + Duration::from_millis(u64::try_from(i).unwrap_or(u64::MAX) * 300);
        if client.handle_input(now, piece).is_err() || client.handle_timeout(now).is_err() {
            return;
        }
        while client.poll_event().is_some() {}
        if client.is_connected() {
            assert!(client.send_record(now, "/queue/ctrl", piece).is_ok());
        }
        client.poll_transmit(&mut out);
        out.clear();
        if let Some(next) = client.poll_timeout() {
            assert!(next >= start);
        }
    }
});

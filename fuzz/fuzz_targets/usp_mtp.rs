//! The USP MTP framing a peer controls: UDS frames read as a byte stream, the WebSocket
//! handshake's `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` values, MQTT 3.1.1
//! topic names with a `/reply-to=` suffix and MQTT topic filters.
//!
//! Checks: no panic; a UDS stream gives the same frames whole as in pieces of any size, every
//! frame encodes back to the bytes it was read from, "incomplete" always asks for at least one
//! byte and never for more than the frame still lacks; an Endpoint ID written into an
//! extension header reads back unchanged; a reply-to topic written into a 3.1.1 topic name
//! reads back unchanged; a topic matches itself as a filter, and `#` matches every topic not
//! starting with `$`.
//!
//! Input: one selector byte, then the bytes of the chosen case (see the match below).
#![no_main]

use libfuzzer_sys::fuzz_target;
use usp_core::mtp::{mqtt, uds, websocket};

/// A frame bound small enough that the fuzzer reaches it.
const MAX_FRAME: usize = 4096;

/// Reads the frames of `stream` in turn; the first error ends it.
fn frames(stream: &[u8]) -> (Vec<Vec<uds::Tlv<'_>>>, Option<uds::FrameError>) {
    let mut out = Vec::new();
    let mut rest = stream;
    loop {
        match uds::decode_frame(rest, MAX_FRAME) {
            Ok(uds::Decoded::Frame { frame, consumed }) => {
                assert!(consumed >= 8 && consumed <= rest.len(), "{consumed}");
                let tlvs: Vec<uds::Tlv<'_>> = frame.tlvs().collect();
                assert!(!tlvs.is_empty(), "a frame without a TLV");
                let mut again = Vec::new();
                let written = uds::encode_frame(&tlvs, &mut again).expect("a read frame encodes");
                assert_eq!(written, consumed);
                assert_eq!(again.as_slice(), &rest[..consumed], "the frame re-encodes");
                out.push(tlvs);
                rest = &rest[consumed..];
            }
            Ok(uds::Decoded::Incomplete { needed }) => {
                assert!(needed >= 1, "incomplete, needing nothing");
                assert!(needed <= 8 + MAX_FRAME, "needs {needed}");
                return (out, None);
            }
            Err(error) => return (out, Some(error)),
        }
    }
}

/// Feeds `stream` in pieces of `sizes` (cycled), as a socket would, decoding whenever a
/// piece arrives; returns the frames and the error that ended the stream, if any.
fn frames_in_pieces<'a>(
    stream: &'a [u8],
    sizes: &[u8],
) -> (Vec<Vec<uds::Tlv<'a>>>, Option<uds::FrameError>) {
    let mut out = Vec::new();
    let (mut start, mut end) = (0, 0);
    let mut sizes = sizes.iter().cycle();
    while end < stream.len() {
        let step = sizes.next().map_or(1, |s| usize::from(*s).max(1));
        end = (end + step).min(stream.len());
        loop {
            match uds::decode_frame(&stream[start..end], MAX_FRAME) {
                Ok(uds::Decoded::Frame { frame, consumed }) => {
                    out.push(frame.tlvs().collect());
                    start += consumed;
                }
                Ok(uds::Decoded::Incomplete { needed }) => {
                    assert!(needed >= 1, "incomplete, needing nothing");
                    assert!(end - start + needed <= 8 + MAX_FRAME, "needs {needed}");
                    break;
                }
                Err(error) => return (out, Some(error)),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => {
            // A UDS stream, then the sizes of the pieces it arrives in.
            let split = rest.len() * 3 / 4;
            let (stream, sizes) = rest.split_at(split);
            let (whole, error) = frames(stream);
            let (pieces, piece_error) = frames_in_pieces(stream, sizes);
            assert_eq!(whole, pieces, "pieces give the same frames");
            assert_eq!(error, piece_error, "pieces end the same way");
        }
        1 => {
            let text = String::from_utf8_lossy(rest);
            let _ = websocket::offers_subprotocol(&text);
            let _ = websocket::extension_eid(&text);
            let header = websocket::extension_header(&text);
            assert_eq!(
                websocket::extension_eid(&header).as_deref(),
                Some(&*text),
                "{header}"
            );
        }
        2 => {
            let text = String::from_utf8_lossy(rest);
            if let Some((topic, reply_to)) = mqtt::v311_split_reply_to(&text) {
                assert!(text.starts_with(topic));
                let _ = mqtt::is_valid_reply_topic(&reply_to);
            }
            // A reply-to topic without `%2F` (which the escaping does not protect) and the
            // marker survives the round trip.
            let (topic, reply_to) = text.split_once('\n').unwrap_or((&text, "usp/ctrl"));
            let name = mqtt::v311_publish_topic(topic, reply_to);
            let (back_topic, back) = mqtt::v311_split_reply_to(&name).expect("the marker is there");
            let lower = reply_to.to_ascii_lowercase();
            if !lower.contains("%2f") && !reply_to.contains(mqtt::V311_REPLY_TO_MARKER) {
                assert_eq!(back, reply_to);
                assert_eq!(back_topic, topic);
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            let (filter, topic) = text.split_once('\n').unwrap_or((&text, ""));
            let _ = mqtt::filter_matches(filter, topic);
            if !topic.contains(['+', '#']) {
                assert!(mqtt::filter_matches(topic, topic), "{topic} matches itself");
                assert_eq!(mqtt::filter_matches("#", topic), !topic.starts_with('$'));
            }
        }
    }
});

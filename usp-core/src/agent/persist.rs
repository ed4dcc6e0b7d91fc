//! NotifRetry state across restarts: the Notifies sent with `send_resp` and not yet answered
//! (R-NOT.1/5: retried until a NotifyResp or NotifExpiration), saved as bytes the driver
//! keeps beside the store, as subscriptions are kept in it.
//!
//! The saved form is ASCII: the hexadecimal digits of a protobuf message, so that storage
//! kept as text (the simulated device's JSON file) holds it unchanged.
//!
//! The driver saves [`Agent::save_notifications`] whenever the agent reports
//! [`AgentEvent::NotificationsChanged`] (the reference drivers put the bytes in
//! `hal::Engine::save_subscriptions`), and hands them to [`Agent::restore_notifications`] at
//! start. The retry count restarts at 1 after a reboot (R-NOT.1); a NotifExpiration counts the
//! time the agent was running, not the time it was off (monotonic clocks do not survive a
//! reboot).

use std::string::String;
use std::time::{Duration, Instant};
use std::vec::Vec;

use prost::Message as _;

use super::{Agent, AgentEvent};
use crate::codec::{self, DecodeError, ProtobufError};

/// The saved form (protobuf, so later versions may add fields).
#[derive(Clone, PartialEq, prost::Message)]
struct Saved {
    /// The agent's `msg_id` counter, so that new Notifies never reuse a saved `msg_id`.
    #[prost(uint64, tag = "1")]
    next_msg: u64,
    #[prost(message, repeated, tag = "2")]
    notifies: Vec<SavedNotify>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SavedNotify {
    #[prost(string, tag = "1")]
    controller: String,
    /// The encoded Notify Msg.
    #[prost(bytes = "vec", tag = "2")]
    msg: Vec<u8>,
    /// Milliseconds left before NotifExpiration; absent when it never expires.
    #[prost(uint64, optional, tag = "3")]
    expires_in_ms: Option<u64>,
}

impl Agent {
    /// The unanswered NotifRetry Notifies and the `msg_id` counter, encoded as ASCII (hex
    /// digits of a protobuf message) for the driver to keep beside the store. Save it
    /// whenever [`AgentEvent::NotificationsChanged`] comes out; at start, pass it to
    /// [`Agent::restore_notifications`]. The retry count restarts at 1 after a restart
    /// (R-NOT.1); NotifExpiration keeps the time left at `now` (the time the agent is off
    /// does not count: monotonic clocks do not survive a reboot).
    #[must_use]
    pub fn save_notifications(&self, now: Instant) -> Vec<u8> {
        let saved = Saved {
            next_msg: self.next_msg,
            notifies: self
                .unacknowledged
                .iter()
                .map(|u| {
                    let mut msg = Vec::new();
                    codec::encode_msg(&u.msg, &mut msg);
                    SavedNotify {
                        controller: u.controller.clone(),
                        msg,
                        expires_in_ms: u.expires.map(|at| {
                            u64::try_from(at.saturating_duration_since(now).as_millis())
                                .unwrap_or(u64::MAX)
                        }),
                    }
                })
                .collect(),
        };
        let mut out = Vec::with_capacity(saved.encoded_len().saturating_mul(2));
        for byte in saved.encode_to_vec() {
            out.extend_from_slice(&[hex_digit(byte >> 4), hex_digit(byte & 0x0f)]);
        }
        out
    }

    /// Takes back what [`Agent::save_notifications`] saved before a restart: each Notify is
    /// sent again at once and retried as before, except an OnBoardRequest to a controller
    /// whose onboarding the agent already restarted (then that one is the only one; one
    /// restored first is adopted by the procedure). Returns how many were restored; beyond
    /// [`AgentConfig::max_unacknowledged`](super::AgentConfig::max_unacknowledged) the oldest
    /// are dropped (as while running), and so is a Notify that does not decode within the
    /// agent's [`Limits`](crate::Limits) (a garbled save loses that one only); what was
    /// dropped is counted in one [`AgentEvent::SavedNotifiesDropped`].
    ///
    /// # Errors
    ///
    /// [`DecodeError`] if `bytes` are over the agent's `max_record_bytes` or do not decode as
    /// a whole; nothing is restored then.
    pub fn restore_notifications(
        &mut self,
        now: Instant,
        bytes: &[u8],
    ) -> Result<usize, DecodeError> {
        let limits = &self.config.limits;
        if bytes.len() > limits.max_record_bytes {
            return Err(DecodeError::RecordTooLarge {
                len: bytes.len(),
                max: limits.max_record_bytes,
            });
        }
        let unparsable = || {
            DecodeError::RecordUnparsable(ProtobufError::new(prost::DecodeError::new(
                "not hexadecimal",
            )))
        };
        let binary = bytes
            .chunks(2)
            .map(|pair| match pair {
                [high, low] => Some(hex_value(*high)? << 4 | hex_value(*low)?),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(unparsable)?;
        let saved = Saved::decode(binary.as_slice())
            .map_err(|e| DecodeError::RecordUnparsable(ProtobufError::new(e)))?;
        let keep = self.config.max_unacknowledged.max(1);
        let skip = saved.notifies.len().saturating_sub(keep);
        let mut restored = Vec::new();
        let mut dropped = skip;
        for notify in saved.notifies.into_iter().skip(skip) {
            // The agent's decoder: a Notify is a request, which it reads.
            let Some(msg) = codec::decode_inbound_msg(&notify.msg, limits)
                .ok()
                .and_then(codec::msg_from_inbound)
            else {
                dropped = dropped.saturating_add(1);
                continue;
            };
            let msg_id = msg
                .header
                .as_ref()
                .map(|h| h.msg_id.clone())
                .unwrap_or_default();
            let expires = notify
                .expires_in_ms
                .map(|ms| now.checked_add(Duration::from_millis(ms)).unwrap_or(now));
            restored.push((notify.controller, msg_id, msg, expires));
        }
        if dropped > 0 {
            self.push_event(AgentEvent::SavedNotifiesDropped { count: dropped });
        }
        self.next_msg = self.next_msg.max(saved.next_msg);
        self.now = Some(now);
        // An OnBoardRequest to a controller whose onboarding already runs would be a second.
        restored.retain(|(controller, _, msg, _)| {
            !(super::onboard::is_onboard_request(msg) && self.onboarding_runs(controller))
        });
        let count = restored.len();
        for (controller, msg_id, msg, expires) in restored {
            if !self.transmit_msg(&controller, &msg) {
                self.push_event(AgentEvent::NotifyUndeliverable {
                    controller: controller.clone(),
                });
            }
            self.keep_for_retry(now, controller, msg_id, msg, expires);
        }
        Ok(count)
    }
}

const fn hex_digit(nibble: u8) -> u8 {
    match nibble {
        0..=9 => b'0' + nibble,
        _ => b'a' + nibble - 10,
    }
}

const fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

//! UDP lightweight notifications (TR-069 Annex M, CWMP 1.4), next to the session's Informs.
//!
//! A change of a parameter whose notification attribute is
//!
//! | Value | Meaning (cwmp-1-4.xsd `ParameterAttributeNotificationValueType`) | Here |
//! |---|---|---|
//! | 3 | passive lightweight: the new value goes in the next lightweight notification | queued |
//! | 4 | passive + passive lightweight: values 1 and 3, independently | queued, and passive for the Inform |
//! | 5 | active lightweight: the new value goes in a lightweight notification sent for it | queued, sent now |
//! | 6 | passive + active lightweight: values 1 and 5, independently | queued and sent now, and passive for the Inform |
//!
//! is queued (at most [`SessionLimits::max_changed_parameters`](super::SessionLimits), the
//! oldest dropped beyond and counted) while `LightweightNotificationProtocolsUsed` contains
//! `UDP` (TR-181: empty disables lightweight notifications, whatever the attributes say). An
//! active one sends every queued parameter now, which also carries the pending passive ones;
//! the passive ones also go every `LightweightNotificationTriggerInterval` seconds, phased
//! on `LightweightNotificationTriggerTime` like periodic informs (TR-181; interval 0: only
//! with an active one). The ACS's own changes are not notified, as for Informs.
//!
//! Sources: the value meanings are the XSD's annotations and the settings TR-181's
//! `Device.ManagementServer.` descriptions; the Annex M text itself (and so its requirement
//! numbers) was not at hand, so what it may add (for example on retransmission or rate
//! limits) is not implemented.
//!
//! Sending is an engine read of the identity and the queued values, then one
//! [`Output::Datagram`] per [`Datagram`]: the
//! [`codec::lwnotif`](crate::codec::lwnotif) message for `UDPLightweightNotificationHost`
//! (empty: the ACS URL's host) and `UDPLightweightNotificationPort`, `TS` from the wall
//! clock (`xs:int` seconds; 0 while it is unknown or past 2038: our choice), `UN` the ACS
//! username, `CN` 16 random hex digits from the session's seed, and as many parameters as fit
//! in [`SessionLimits::max_datagram_bytes`](super::SessionLimits::max_datagram_bytes) (more
//! datagrams for the rest). UDP gives no acknowledgement: a datagram handed to the driver is
//! done with.
//!
//! The queue outlives a restart: it is part of the
//! [`PersistedState`](super::PersistedState) (the names only, a notification carries the
//! values current when it goes), with whether an active change was waiting to go, so that
//! it then goes at once. A restored queue is checked as one from the wire: names that are no
//! parameter of the CWMP model and repeats are dropped, the newest
//! [`SessionLimits::max_changed_parameters`](super::SessionLimits) kept, and what was dropped
//! counted in [`Session::dropped_changes`](super::Session::dropped_changes).

use std::collections::VecDeque;

use hal::engine::GetRequest;

use tr181_model::schema::{self, Protocol};

use super::{
    DEVICE_ID, EngineRequest, EngineResult, Output, Pending, Session, SessionError, http,
    random_hex, schema_path,
};
use crate::codec::lwnotif::LightweightNotification;

/// One UDP datagram to send (a lightweight notification).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Datagram {
    /// The destination host name or address (IPv6 without brackets).
    pub host: String,
    /// The destination port.
    pub port: u16,
    /// The bytes of the datagram.
    pub payload: Vec<u8>,
}

/// What a change of a parameter with notification attribute `n` means for lightweight
/// notifications: (queued, sent now).
pub(crate) fn lightweight_kind(n: u8) -> (bool, bool) {
    match n {
        3 | 4 => (true, false),
        5 | 6 => (true, true),
        _ => (false, false),
    }
}

/// Appends `path` to `queue` unless it is there, dropping (and counting) the oldest beyond
/// `max`.
pub(crate) fn queue_path(queue: &mut VecDeque<String>, path: &str, max: usize, dropped: &mut u32) {
    if queue.iter().any(|p| p == path) {
        return;
    }
    if queue.len() >= max {
        queue.pop_front();
        *dropped = dropped.saturating_add(1);
    }
    queue.push_back(path.to_owned());
}

/// The queue of a saved state, checked: names that are no parameter of the CWMP model and
/// repeats are left out, and of the rest the newest `max` kept. Returns the queue and how
/// many names were dropped.
pub(crate) fn restore_queue(saved: Vec<String>, max: usize) -> (VecDeque<String>, u32) {
    let total = saved.len();
    let mut queue = VecDeque::new();
    let mut dropped = 0;
    for path in saved {
        if schema::parameter(&schema_path(&path), Protocol::Cwmp).is_some() {
            queue_path(&mut queue, &path, max, &mut dropped);
        }
    }
    let dropped = total.saturating_sub(queue.len());
    (queue, u32::try_from(dropped).unwrap_or(u32::MAX))
}

impl Session {
    /// A changed parameter with a lightweight attribute.
    pub(super) fn on_lightweight_change(&mut self, path: &str, notification: u8) {
        let (queued, now) = lightweight_kind(notification);
        if !queued || !self.settings.lightweight_enabled() {
            return;
        }
        let max = self.config.limits.max_changed_parameters;
        queue_path(&mut self.lw_changed, path, max, &mut self.dropped_changes);
        self.lw_due |= now;
        self.dirty = true;
    }

    /// The destination of lightweight notifications, if there is one.
    fn lightweight_destination(&self) -> Option<(String, u16)> {
        let settings = &self.settings;
        let host = if settings.udp_lightweight_host.is_empty() {
            http::url_host(&settings.url)?
        } else {
            settings.udp_lightweight_host.as_str()
        };
        Some((host.to_owned(), settings.udp_lightweight_port))
    }

    /// Starts a send when one is due: reads the identity and the queued values.
    pub(super) fn maybe_send_lightweight(&mut self) {
        if !self.settings.lightweight_enabled() {
            self.dirty |= !self.lw_changed.is_empty();
            self.lw_changed.clear();
            self.lw_due = false;
            return;
        }
        if !self.lw_due || self.lw_in_flight || self.lw_changed.is_empty() {
            return;
        }
        if self.lightweight_destination().is_none() {
            // Kept until there is a host to send to.
            return;
        }
        self.lw_due = false;
        self.lw_in_flight = true;
        let sent: Vec<String> = self.lw_changed.iter().cloned().collect();
        let mut paths: Vec<String> = DEVICE_ID.iter().skip(1).map(|p| (*p).to_owned()).collect();
        paths.extend(sent.iter().cloned());
        self.engine_request(
            EngineRequest::Get(GetRequest::new(paths)),
            Pending::Lightweight(sent),
        );
    }

    /// The values came: one or more datagrams out. Parameters that could not be read (gone
    /// since) or encoded are dropped and counted.
    pub(super) fn on_lightweight_values(
        &mut self,
        sent: &[String],
        result: EngineResult,
    ) -> Result<(), SessionError> {
        self.lw_in_flight = false;
        self.lw_changed.retain(|p| !sent.contains(p));
        self.dirty = true;
        let (response, outcome) = match result {
            EngineResult::Get(Ok(response)) => (response, Ok(())),
            EngineResult::Get(Err(_)) => (Default::default(), Ok(())),
            _ => (Default::default(), Err(SessionError::MismatchedResult)),
        };
        let destination = self.lightweight_destination();
        let text = |path: &str| response.value(path).map(|v| v.canonical_text());
        let params: Vec<(String, String)> = sent
            .iter()
            .filter_map(|p| text(p).map(|v| (p.clone(), v)))
            .collect();
        let mut dropped = sent.len().saturating_sub(params.len());
        let Some((host, port)) = destination else {
            self.count_dropped(sent.len());
            return outcome;
        };
        let timestamp = self
            .wall_micros()
            .map(|micros| micros.div_euclid(1_000_000))
            .and_then(|secs| i32::try_from(secs).ok())
            .unwrap_or(0);
        let id = |name: &str| text(&format!("Device.DeviceInfo.{name}")).unwrap_or_default();
        let mut message = LightweightNotification::new(
            timestamp,
            self.settings.username.clone(),
            random_hex(&mut self.rng, 8),
            id("ManufacturerOUI"),
            id("ProductClass"),
            id("SerialNumber"),
        );
        let max = self.config.limits.max_datagram_bytes;
        let password = self.settings.password.clone();
        let encode = |message: &LightweightNotification| {
            message
                .datagram(&host, port, &password)
                .ok()
                .filter(|bytes| bytes.len() <= max)
        };
        // Greedy packing: each parameter joins the current datagram if it still fits, else
        // starts the next one (the cnonce has a fixed length, so a size does not change with
        // it).
        let mut ready: Option<Vec<u8>> = None;
        let mut payloads = Vec::new();
        for param in params {
            message.params.push(param);
            if let Some(bytes) = encode(&message) {
                ready = Some(bytes);
                continue;
            }
            let param = message.params.pop();
            if let Some(bytes) = ready.take() {
                payloads.push(bytes);
                message.params.clear();
                message.cnonce = random_hex(&mut self.rng, 8);
                message.params.extend(param);
                ready = encode(&message);
            }
            if ready.is_none() {
                message.params.clear();
                dropped = dropped.saturating_add(1);
            }
        }
        payloads.extend(ready);
        for payload in payloads {
            self.outputs.push_back(Output::Datagram(Datagram {
                host: host.clone(),
                port,
                payload,
            }));
        }
        self.count_dropped(dropped);
        outcome
    }

    fn count_dropped(&mut self, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.dropped_changes = self.dropped_changes.saturating_add(n);
    }

    /// (Re)arms the trigger of passive lightweight notifications.
    pub(super) fn schedule_lightweight(&mut self) {
        let settings = &self.settings;
        self.lw_trigger_at = (settings.lightweight_enabled()
            && settings.lightweight_trigger_interval > 0)
            .then(|| {
                self.phased_wakeup(
                    settings.lightweight_trigger_interval,
                    settings.lightweight_trigger_time,
                )
            });
    }

    /// The trigger fired: the pending passive ones go.
    pub(super) fn on_lightweight_trigger(&mut self) {
        if !self.lw_changed.is_empty() {
            self.lw_due = true;
        }
        self.schedule_lightweight();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_table() {
        let kinds: Vec<(bool, bool)> = (0..=7).map(lightweight_kind).collect();
        assert_eq!(
            kinds,
            [
                (false, false),
                (false, false),
                (false, false),
                (true, false),
                (true, false),
                (true, true),
                (true, true),
                (false, false)
            ]
        );
    }

    #[test]
    fn the_queue_is_bounded_and_deduplicated() {
        let mut queue = VecDeque::new();
        let mut dropped = 0;
        for path in ["a", "b", "a", "c"] {
            queue_path(&mut queue, path, 2, &mut dropped);
        }
        assert_eq!(queue, ["b", "c"]);
        assert_eq!(dropped, 1);
    }
}

//! Notices: what the engine tells the protocol layers on its own initiative (boot, device
//! events, completions, network up), kept until acknowledged and persisted across reboots.
//!
//! Value changes, object creation and deletion are not notices: they are in the store's change
//! log ([`Engine::changes_since`](super::Engine::changes_since)).

use std::collections::VecDeque;
use std::string::String;
use std::vec::Vec;

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

use tr181_model::schema::{Protocol, Protocols};

use crate::error::EngineError;
use crate::feed::CallId;
use crate::traits::{BootCause, Section};
use crate::transfer::TransferResult;

/// The engine's number for a notice: grows by one per notice, across restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NoticeId(pub u64);

/// Why and how the device booted: CWMP `0 BOOTSTRAP`, `1 BOOT`, `M Reboot`; USP `Boot!`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BootInfo {
    /// The cause (`Device.Boot!` `Cause`).
    pub cause: BootCause,
    /// The command key of the Reboot that caused it (CWMP `M Reboot`), else empty.
    pub command_key: String,
    /// The store started from factory defaults (first boot or factory reset): CWMP
    /// `0 BOOTSTRAP`.
    pub bootstrap: bool,
    /// The firmware changed (`Boot!` `FirmwareUpdated`).
    pub firmware_updated: bool,
    /// Persisted sections that could not be read and were started without (see
    /// [`Engine::start`](super::Engine::start)). Said at this boot only: not kept in the
    /// persisted notice.
    #[serde(skip)]
    pub discarded: Vec<Section>,
    /// Persisted sections that read but held more than the engine keeps while running (a
    /// garbled file that still parses, or one written for larger limits), cut to its bounds
    /// as running would have: the oldest notices and transfers went. Said at this boot only.
    #[serde(skip)]
    pub trimmed: Vec<Section>,
    /// Persisted sections that read but held entries of the wrong JSON type (a number where
    /// a value's text is stored, a damaged notice or transfer), with how many were dropped;
    /// every other entry was kept. Said at this boot only.
    #[serde(skip)]
    pub malformed: Vec<(Section, usize)>,
}

/// Why a command failed, kept in a form that survives a reboot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandFailure {
    /// The USP error code (`cmd_failure.err_code`).
    pub usp_error: u32,
    /// The CWMP fault code.
    pub cwmp_fault: u16,
    /// The message (`err_msg`).
    pub message: String,
}

impl From<&EngineError> for CommandFailure {
    fn from(error: &EngineError) -> Self {
        Self {
            usp_error: error.usp_error(),
            cwmp_fault: error.cwmp_fault(),
            message: std::format!("{error}"),
        }
    }
}

/// The end of an asynchronous command (USP OperationComplete).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OperationComplete {
    /// The concrete command path.
    pub command: String,
    /// The controller's tag.
    pub command_key: String,
    /// The `Device.LocalAgent.Request.{i}.` row that tracked it (now deleted).
    pub request: Option<String>,
    /// Who asked (`Request.{i}.Originator`).
    pub originator: String,
    /// Output arguments (relative names, canonical text) or the failure.
    pub result: Result<Vec<(String, String)>, CommandFailure>,
}

/// Something the protocol layers must tell their peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Notice {
    /// The device booted. Persistent.
    Booted(BootInfo),
    /// A data-model event (vendor or device) fired. Persistent.
    Event {
        /// The event path.
        path: String,
        /// Its arguments by relative name.
        args: Vec<(String, String)>,
    },
    /// An asynchronous command finished. Persistent.
    OperationComplete(OperationComplete),
    /// A transfer started through CWMP `Download`/`Upload` ended (CWMP TransferComplete).
    /// Persistent.
    TransferComplete(TransferResult),
    /// A diagnostic test an ACS requested through its CWMP object ended (CWMP
    /// `8 DIAGNOSTICS COMPLETE`); its results are in the object, the diagnostics object
    /// instance named (`Device.IP.Diagnostics.IPPing.`). Persistent. (A newtype variant: a
    /// struct variant's serde code costs the router build more.)
    DiagnosticsComplete(String),
    /// An asynchronous command made progress. Transient: gone once polled, never saved, so
    /// without serde code in the binary.
    #[serde(skip)]
    Progress {
        /// The invocation.
        call: CallId,
        /// Percent done.
        percent: u8,
    },
    /// A management interface came up; reconnect backoff may restart. Transient, never
    /// saved.
    #[serde(skip)]
    NetworkUp,
}

impl Notice {
    /// Whether the notice stays pending (and persisted) until acknowledged.
    pub fn is_persistent(&self) -> bool {
        !matches!(self, Self::Progress { .. } | Self::NetworkUp)
    }
}

/// The pending notices with a delivery cursor.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    pub(crate) next_id: u64,
    pub(crate) pending: VecDeque<(NoticeId, Notice)>,
    /// Notices with an id below this were returned by `poll`.
    pub(crate) delivered_below: u64,
    pub(crate) capacity: usize,
    pub(crate) dropped: u32,
    /// The protocols that must each acknowledge a notice before it is forgotten; `None` means
    /// the first acknowledgement does (one protocol stack).
    pub(crate) consumers: Option<Protocols>,
    /// For notices some consumers acknowledged already: which ones.
    pub(crate) acknowledged: LiteMap<NoticeId, Vec<Protocol>>,
}

impl Notices {
    pub(crate) fn push(&mut self, notice: Notice) -> NoticeId {
        let id = NoticeId(self.next_id.max(1));
        self.next_id = id.0.saturating_add(1);
        if self.pending.len() >= self.capacity.max(1) {
            self.pending.pop_front();
            self.dropped = self.dropped.saturating_add(1);
        }
        self.pending.push_back((id, notice));
        id
    }

    pub(crate) fn poll(&mut self) -> Option<(NoticeId, Notice)> {
        let index = self
            .pending
            .iter()
            .position(|(id, _)| id.0 >= self.delivered_below)?;
        let (id, notice) = self.pending.get(index)?.clone();
        self.delivered_below = id.0.saturating_add(1);
        if !notice.is_persistent() {
            self.pending.remove(index);
        }
        Some((id, notice))
    }

    pub(crate) fn acknowledge(&mut self, id: NoticeId) -> bool {
        self.acknowledged.remove(&id);
        let before = self.pending.len();
        self.pending.retain(|(n, _)| *n != id);
        before != self.pending.len()
    }

    /// Records `protocol`'s acknowledgement; the notice is forgotten once every consumer has
    /// acknowledged it. Returns whether it was pending.
    pub(crate) fn acknowledge_for(&mut self, id: NoticeId, protocol: Protocol) -> bool {
        if !self.pending.iter().any(|(n, _)| *n == id) {
            return false;
        }
        let by = self.acknowledged.entry(id).or_default();
        if !by.contains(&protocol) {
            by.push(protocol);
        }
        let all = self.consumers.is_none_or(|consumers| {
            [Protocol::Cwmp, Protocol::Usp]
                .into_iter()
                .filter(|p| consumers.contains(*p))
                .all(|p| by.contains(&p))
        });
        if all {
            self.acknowledge(id);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_notices_go_after_poll_persistent_after_ack() {
        let mut notices = Notices {
            capacity: 8,
            ..Notices::default()
        };
        let up = notices.push(Notice::NetworkUp);
        let event = notices.push(Notice::Event {
            path: "Device.X!".into(),
            args: Vec::new(),
        });
        assert_eq!(notices.poll().map(|(id, _)| id), Some(up));
        assert_eq!(notices.poll().map(|(id, _)| id), Some(event));
        assert_eq!(notices.poll(), None);
        assert_eq!(notices.pending.len(), 1);
        assert!(notices.acknowledge(event));
        assert!(notices.pending.is_empty());
    }

    #[test]
    fn every_consumer_acknowledges_before_a_notice_is_forgotten() {
        let mut notices = Notices {
            capacity: 8,
            consumers: Some(Protocols::BOTH),
            ..Notices::default()
        };
        let boot = notices.push(Notice::NetworkUp);
        let boot2 = notices.push(Notice::Event {
            path: "Device.Boot!".into(),
            args: Vec::new(),
        });
        assert!(notices.acknowledge_for(boot2, Protocol::Cwmp));
        assert!(notices.acknowledge_for(boot2, Protocol::Cwmp));
        assert_eq!(notices.pending.len(), 2, "USP has not seen it yet");
        assert!(notices.acknowledge_for(boot2, Protocol::Usp));
        assert_eq!(notices.pending.len(), 1);
        assert!(!notices.acknowledge_for(boot2, Protocol::Usp));
        // With no consumers configured the first acknowledgement is enough.
        notices.consumers = None;
        assert!(notices.acknowledge_for(boot, Protocol::Usp));
        assert!(notices.pending.is_empty());
        assert!(notices.acknowledged.is_empty());
    }
}

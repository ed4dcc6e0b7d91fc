//! Heartbeat sessions (TR-069 Annex O, CWMP 1.4): `Device.ManagementServer.HeartbeatPolicy.`
//! makes the CPE open a session every `ReportingInterval` seconds whose Inform carries the
//! single event `14 HEARTBEAT`.
//!
//! | Rule | Here |
//! |---|---|
//! | When | every `ReportingInterval` (≥ 30) seconds while `Enable`, at `InitiationTime` plus or minus a multiple of it, like periodic informs |
//! | Unknown `InitiationTime`, or no wall clock | a phase the CPE picks at random (from the session's seed), then every `ReportingInterval` from it |
//! | The Inform | `14 HEARTBEAT` alone, never combined with other events; forced parameters and the `InformParameter` rows that match it, no changed parameters |
//! | The session | the ACS may send requests as in any session; the CPE sends none of its own (a TransferComplete needs `7 TRANSFER COMPLETE` in its session's Inform) |
//! | Other events pending | their own session right after the heartbeat's |
//! | Due during a session | pending; its session starts when the current one ends |
//! | Failed | kept and retried with the usual wait (FACTS §5: retried, kept across a reboot), at most one pending however many intervals pass |
//! | Due while another session is being retried | waits for that session to succeed (as icwmp does) |
//! | `Enable` turned off | the pending heartbeat is dropped |
//!
//! Sources: the TR-181 descriptions of `HeartbeatPolicy.` (the timing), the event table of
//! FACTS §5 (retry and reboot), and the behaviour of icwmp (the single event, the forced
//! parameters only, waiting for a session being retried). The Annex O text itself was not at
//! hand.

use std::time::Duration;

use super::{Session, add_duration};
use crate::codec::EventCode;

impl Session {
    /// (Re)arms the heartbeat timer; `fired` when it just went off, so that a phase the CPE
    /// chose at random is kept rather than drawn again.
    pub(super) fn schedule_heartbeat(&mut self, fired: bool) {
        let settings = &self.settings;
        if !settings.heartbeat_enable {
            self.heartbeat_at = None;
            return;
        }
        let interval = settings.heartbeat_interval.max(30);
        let phased = settings
            .heartbeat_time
            .is_some_and(|t| !t.is_unknown() && !t.is_relative())
            && self.wall_micros().is_some();
        self.heartbeat_at = Some(match self.heartbeat_at {
            _ if phased => self.phased_wakeup(interval, settings.heartbeat_time),
            Some(at) if fired => {
                add_duration(at, Duration::from_secs(u64::from(interval))).max(self.now)
            }
            _ => {
                let offset = self.rng.next_u64() % u64::from(interval);
                add_duration(self.now, Duration::from_secs(offset.saturating_add(1)))
            }
        });
    }

    /// The heartbeat timer went off: `14 HEARTBEAT` is pending (once).
    pub(super) fn on_heartbeat_timer(&mut self) {
        if self.state.add_event(&EventCode::Heartbeat, "") {
            self.dirty = true;
        }
        self.schedule_heartbeat(true);
    }

    /// The heartbeat settings changed: rearm, and drop a pending heartbeat once disabled.
    pub(super) fn on_heartbeat_settings(&mut self) {
        if !self.settings.heartbeat_enable && self.state.has_event(&EventCode::Heartbeat) {
            self.state
                .events
                .retain(|e| e.event_code() != EventCode::Heartbeat);
            self.dirty = true;
        }
        self.heartbeat_at = None;
        self.schedule_heartbeat(false);
    }

    /// Whether the next session is a heartbeat session: a heartbeat is pending, and neither a
    /// connection request nor another session being retried goes first.
    pub(super) fn heartbeat_next(&self) -> bool {
        if !self.state.has_event(&EventCode::Heartbeat) {
            return false;
        }
        let others = self
            .state
            .events
            .iter()
            .any(|e| e.event_code() != EventCode::Heartbeat)
            || !self.state.transfer_completes.is_empty()
            || !self.changed.is_empty()
            || self.has_cpe_requests();
        !others || !(self.other_failed || self.state.has_event(&EventCode::ConnectionRequest))
    }
}

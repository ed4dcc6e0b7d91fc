//! Device-gateway association (TR-069 Annex F, TR-111 Part 1): a gateway lists the LAN devices
//! that gave their identity in DHCP option 125 in `Device.ManagementServer.ManageableDevice.`,
//! and an ACS that turns on Active Notification for `ManageableDeviceNumberOfEntries` hears of
//! devices coming and going, at most once every `ManageableDeviceNotificationLimit` seconds.
//!
//! | Rule | Here |
//! |---|---|
//! | The rows | the HAL's discovered rows ([`hal::traits::Tables::discover`]), not this crate |
//! | Notification of the count | off by default (TR-181 marks no `activeNotify` on it); the ACS sets it with SetParameterAttributes |
//! | A change within the limit of the last notification of the count | held: no session for it; when the limit has passed, `4 VALUE CHANGE` with the count's value then |
//! | Several changes while held | one notification |
//! | A session for another reason while held | carries the count (as any changed parameter); that is the notification, and the limit counts from it |
//! | The limit changed while held | the held notification is due at the last one plus the new limit |
//! | Notification turned off while held | nothing is sent when the limit passes |
//! | After a restart | no notification is remembered: the first change is notified at once |
//!
//! `ManageableDeviceNotificationLimit` is TR-181's text ("the minimum time, in seconds,
//! between Active Notifications resulting from changes to ManageableDeviceNumberOfEntries");
//! the Annex F text itself was not at hand.

use std::time::Instant;

use super::{Session, add_secs};
use crate::codec::EventCode;

/// The parameter whose active notifications the limit spaces.
pub(super) const COUNT: &str = "Device.ManagementServer.ManageableDeviceNumberOfEntries";

impl Session {
    /// An active change of the count: whether to hold its notification (the limit has not
    /// passed since the last one); if so, when it is due.
    pub(super) fn hold_manageable_change(&mut self) -> bool {
        self.manageable_held_until = self.manageable_due();
        self.manageable_held_until.is_some()
    }

    /// When a held notification of the count may go: the last one plus the limit, if later
    /// than now.
    fn manageable_due(&self) -> Option<Instant> {
        let limit = self.settings.manageable_device_notification_limit;
        let due = add_secs(self.manageable_notified_at?, u64::from(limit));
        (due > self.now).then_some(due)
    }

    /// The limit passed: the held change of the count, if still waiting and still active,
    /// starts a session.
    pub(super) fn on_manageable_timer(&mut self) {
        self.manageable_held_until = None;
        if self.changed.iter().any(|p| p == COUNT) && self.notification_of(COUNT) == 2 {
            self.state.add_event(&EventCode::ValueChange, "");
            self.dirty = true;
        }
    }

    /// The limit changed: a held notification is due at the last one plus the new limit
    /// (now, if that has passed).
    pub(super) fn on_manageable_settings(&mut self) {
        if self.manageable_held_until.is_some() {
            self.manageable_held_until = Some(self.manageable_due().unwrap_or(self.now));
        }
    }

    /// An Inform that carried the count reached the ACS: the limit counts from now.
    pub(super) fn on_manageable_informed(&mut self, sent_changed: &[String]) {
        if sent_changed.iter().any(|p| p == COUNT) {
            self.manageable_notified_at = Some(self.now);
            self.manageable_held_until = None;
        }
    }
}

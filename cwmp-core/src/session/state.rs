//! The state a session keeps across sessions and reboots ([`PersistedState`]), and the
//! retention rules of TR-069 events (FACTS §5).
//!
//! | Event | Kept after a failed session | Kept across a reboot |
//! |---|---|---|
//! | `0 BOOTSTRAP`, `2 PERIODIC`, `3 SCHEDULED`, `5 KICKED`, `7 TRANSFER COMPLETE`, `9`–`14`, `M …` | yes | yes |
//! | `1 BOOT`, `4 VALUE CHANGE`, `8 DIAGNOSTICS COMPLETE` | yes | no |
//! | `6 CONNECTION REQUEST` | no | no |
//!
//! Events are removed once an InformResponse acknowledges the Inform that carried them; `7
//! TRANSFER COMPLETE` and the `M Download`/`M Upload`/`M ScheduleDownload` of a transfer are
//! not stored as events at all but derived from the pending [`PendingTransferComplete`]s, so
//! they last until the TransferCompleteResponse (FACTS §10).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tr181_model::lenient::{Entries, Lenient, LenientList, keep_read, keep_read_values};

use super::SessionLimits;
use crate::codec::{EventCode, Notification};

/// One pending Inform event: the code as on the wire and its command key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingEvent {
    /// The event code (`1 BOOT`, `M Reboot`, ...).
    pub code: String,
    /// The command key (for `M …` codes), else empty.
    pub command_key: String,
}

impl PendingEvent {
    /// An event.
    #[must_use]
    pub fn new(code: &EventCode, command_key: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            command_key: command_key.into(),
        }
    }

    /// The typed code.
    #[must_use]
    pub fn event_code(&self) -> EventCode {
        EventCode::from_wire(&self.code)
    }

    /// Whether the event is kept when a session fails (all but `6 CONNECTION REQUEST`).
    #[must_use]
    pub fn survives_failed_session(&self) -> bool {
        self.event_code() != EventCode::ConnectionRequest
    }

    /// Whether the event is kept across a reboot.
    #[must_use]
    pub fn survives_reboot(&self) -> bool {
        !matches!(
            self.event_code(),
            EventCode::Boot
                | EventCode::ValueChange
                | EventCode::ConnectionRequest
                | EventCode::DiagnosticsComplete
        )
    }
}

/// The attributes of one parameter (SetParameterAttributes), when not the default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParameterAttributes {
    /// The notification value (0–6, [`Notification`]).
    pub notification: u8,
    /// The access list (`Subscriber` is the only standard entry).
    pub access_list: Vec<String>,
}

impl ParameterAttributes {
    /// The typed notification.
    #[must_use]
    pub fn notification(&self) -> Notification {
        notification_from_u8(self.notification)
    }
}

pub(crate) fn notification_from_u8(n: u8) -> Notification {
    match n {
        1 => Notification::Passive,
        2 => Notification::Active,
        3 => Notification::PassiveLightweight,
        4 => Notification::PassiveAndPassiveLightweight,
        5 => Notification::ActiveLightweight,
        6 => Notification::PassiveAndActiveLightweight,
        _ => Notification::Off,
    }
}

pub(crate) fn notification_to_u8(n: Notification) -> u8 {
    match n {
        Notification::Off => 0,
        Notification::Passive => 1,
        Notification::Active => 2,
        Notification::PassiveLightweight => 3,
        Notification::PassiveAndPassiveLightweight => 4,
        Notification::ActiveLightweight => 5,
        Notification::PassiveAndActiveLightweight => 6,
    }
}

/// A ScheduleInform waiting for its time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScheduledInform {
    /// The ACS's command key (`M ScheduleInform`).
    pub command_key: String,
    /// Seconds left when the state was taken (time without power does not count).
    pub remaining_secs: u64,
}

/// Which RPC a transfer came from; decides its `M …` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::exhaustive_enums)] // The three transfer RPCs of CWMP.
pub enum TransferOrigin {
    /// `Download` (`M Download`).
    Download,
    /// `ScheduleDownload` (`M ScheduleDownload`).
    ScheduleDownload,
    /// `Upload` (`M Upload`).
    Upload,
}

impl TransferOrigin {
    /// The method event of a completion.
    #[must_use]
    pub fn event_code(self) -> EventCode {
        match self {
            Self::Download => EventCode::MDownload,
            Self::ScheduleDownload => EventCode::MScheduleDownload,
            Self::Upload => EventCode::MUpload,
        }
    }
}

/// A transfer the ACS asked for that has not completed (GetAllQueuedTransfers).
///
/// A scheduled download keeps the file server's credentials until it starts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TransferRecord {
    /// The ACS's command key.
    pub command_key: String,
    /// Which RPC.
    pub origin: TransferOrigin,
    /// The CWMP `FileType`.
    pub file_type: String,
    /// The file size the ACS announced (0: unknown).
    pub file_size: u32,
    /// The target file name.
    pub target_file_name: String,
    /// The engine's transfer number once started; `None` while it waits for its window.
    pub transfer_id: Option<u32>,
    /// For a ScheduleDownload not yet started: seconds until its window opens.
    pub start_in_secs: Option<u64>,
    /// For a ScheduleDownload not yet started: the file URL.
    pub url: String,
    /// For a ScheduleDownload not yet started: the user name.
    pub username: String,
    /// For a ScheduleDownload not yet started: the password.
    pub password: String,
}

impl std::fmt::Debug for TransferRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferRecord")
            .field("command_key", &self.command_key)
            .field("origin", &self.origin)
            .field("file_type", &self.file_type)
            .field("transfer_id", &self.transfer_id)
            .field("start_in_secs", &self.start_in_secs)
            .field("url", &self.url)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A TransferComplete waiting for the ACS's TransferCompleteResponse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingTransferComplete {
    /// The engine notice it came from (acknowledged when the ACS confirms), if any.
    pub notice: Option<u64>,
    /// The engine's transfer number, if any (to drop the matching [`TransferRecord`]).
    pub transfer_id: Option<u32>,
    /// The command key.
    pub command_key: String,
    /// Which RPC asked for the transfer.
    pub origin: TransferOrigin,
    /// 0 on success, else 9001–9019.
    pub fault_code: u32,
    /// The fault text (empty on success).
    pub fault_string: String,
    /// `StartTime` (`0001-01-01T00:00:00Z` when unknown).
    pub start_time: String,
    /// `CompleteTime`.
    pub complete_time: String,
}

/// The kind of a ChangeDUState operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::exhaustive_enums)] // The three operation types of TR-069 ChangeDUState.
pub enum DuOperationKind {
    /// `InstallOpStruct`.
    Install,
    /// `UpdateOpStruct`.
    Update,
    /// `UninstallOpStruct`.
    Uninstall,
}

/// The outcome of one deployment-unit operation (`OpResultStruct`; with the operation for
/// `AutonOpResultStruct`), as text ready for the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DuResult {
    /// `UUID`.
    pub uuid: String,
    /// `DeploymentUnitRef`.
    pub deployment_unit_ref: String,
    /// `Version`.
    pub version: String,
    /// `CurrentState`: `Installed`, `Uninstalled` or `Failed`.
    pub current_state: String,
    /// `Resolved`.
    pub resolved: bool,
    /// `ExecutionUnitRefList`.
    pub execution_unit_ref_list: String,
    /// `StartTime`.
    pub start_time: String,
    /// `CompleteTime`.
    pub complete_time: String,
    /// `FaultCode`: 0, or one of the DU fault codes of the XSD.
    pub fault_code: u32,
    /// `FaultString`.
    pub fault_string: String,
    /// `OperationPerformed` (`Install`, `Update`, `Uninstall`).
    pub operation: String,
}

/// One operation of a ChangeDUState as the CPE works through it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DuOperation {
    /// Install, Update or Uninstall.
    pub kind: DuOperationKind,
    /// `UUID` (may be empty for Install and Update).
    pub uuid: String,
    /// `Version` (Update, Uninstall; may be empty).
    pub version: String,
    /// `URL` (Install, Update).
    pub url: String,
    /// `Username` for the file server.
    pub username: String,
    /// `Password` for the file server (cleared once the command started).
    pub password: String,
    /// `ExecutionEnvRef` (Install, Uninstall; may be empty).
    pub execution_env_ref: String,
    /// The command running for it, until it completes.
    pub running: Option<String>,
    /// The `DUStateChange!` arguments the device reported while it ran.
    pub event: Option<Vec<(String, String)>>,
    /// The result once done.
    pub result: Option<DuResult>,
}

impl std::fmt::Debug for DuOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuOperation")
            .field("kind", &self.kind)
            .field("uuid", &self.uuid)
            .field("version", &self.version)
            .field("url", &self.url)
            .field("password", &"<redacted>")
            .field("running", &self.running)
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

/// A ChangeDUState in progress or waiting for the ACS's DUStateChangeCompleteResponse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingDuChange {
    /// The session's number for it.
    pub id: u64,
    /// The ACS's command key (`M ChangeDUState`).
    pub command_key: String,
    /// The operations, in order.
    pub operations: Vec<DuOperation>,
    /// Engine notices to acknowledge once the ACS has the results.
    pub notices: Vec<u64>,
}

impl PendingDuChange {
    /// Whether every operation has its result.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.operations.iter().all(|op| op.result.is_some())
    }
}

/// A deployment-unit change the device made on its own, waiting for the ACS's
/// AutonomousDUStateChangeCompleteResponse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingAutonomousDuChange {
    /// The engine notice it came from.
    pub notice: u64,
    /// The result.
    pub result: DuResult,
}

/// An AutonomousTransferComplete waiting for the ACS's answer (the fields of the RPC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingAutonomousTransfer {
    /// The session's number for it.
    pub id: u64,
    /// `AnnounceURL`.
    pub announce_url: String,
    /// `TransferURL`.
    pub transfer_url: String,
    /// `IsDownload`.
    pub is_download: bool,
    /// `FileType`.
    pub file_type: String,
    /// `FileSize`.
    pub file_size: u32,
    /// `TargetFileName`.
    pub target_file_name: String,
    /// `FaultCode` (0 on success).
    pub fault_code: u32,
    /// `FaultString`.
    pub fault_string: String,
    /// `StartTime`.
    pub start_time: String,
    /// `CompleteTime`.
    pub complete_time: String,
}

/// A RequestDownload waiting for the ACS's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingRequestDownload {
    /// The session's number for it.
    pub id: u64,
    /// `FileType`.
    pub file_type: String,
    /// `FileTypeArg` name/value pairs.
    pub args: Vec<(String, String)>,
}

/// Everything a session keeps across sessions and reboots. The driver stores it as JSON
/// (serde_json) whenever [`Event::StateChanged`](super::Event::StateChanged) comes out, and
/// hands it back to [`Session::new`](super::Session::new) after a restart, which then applies
/// the reboot rules of the [module table](self) and holds every list to the bound a running
/// session keeps it in ([`Session::dropped_on_restore`](super::Session::dropped_on_restore)
/// counts what that drops).
///
/// Each entry of its lists and of `attributes` is read on its own
/// ([`tr181_model::lenient`]): one of the wrong JSON type (an event code that is a number, a
/// TransferComplete without its fault code) is dropped alone, counted in
/// [`malformed_on_load`](Self::malformed_on_load) and then in
/// [`Session::malformed_on_restore`](super::Session::malformed_on_restore). A document that
/// is not JSON, or whose other fields have the wrong type, still fails to read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StateRead")]
#[non_exhaustive]
pub struct PersistedState {
    /// Pending Inform events.
    pub events: Vec<PendingEvent>,
    /// Unsuccessful session attempts since the last successful one (the Inform's
    /// `RetryCount`).
    pub retry_count: u32,
    /// An Inform with `0 BOOTSTRAP` has been acknowledged for the current ACS URL.
    pub bootstrapped: bool,
    /// The ACS URL of the last session (a change means a new bootstrap).
    pub acs_url: String,
    /// Non-default parameter attributes, by full parameter path.
    pub attributes: BTreeMap<String, ParameterAttributes>,
    /// Pending ScheduleInform requests.
    pub scheduled_informs: Vec<ScheduledInform>,
    /// Transfers queued or running.
    pub transfers: Vec<TransferRecord>,
    /// TransferCompletes not yet confirmed by the ACS.
    pub transfer_completes: Vec<PendingTransferComplete>,
    /// ChangeDUState requests running or waiting for the DUStateChangeCompleteResponse.
    #[serde(default)]
    pub du_changes: Vec<PendingDuChange>,
    /// The number of the last ChangeDUState.
    #[serde(default)]
    pub last_du_change: u64,
    /// Autonomous deployment-unit changes not yet confirmed by the ACS.
    #[serde(default)]
    pub autonomous_du_changes: Vec<PendingAutonomousDuChange>,
    /// AutonomousTransferCompletes not yet confirmed by the ACS.
    #[serde(default)]
    pub autonomous_transfers: Vec<PendingAutonomousTransfer>,
    /// RequestDownloads not yet answered by the ACS.
    #[serde(default)]
    pub request_downloads: Vec<PendingRequestDownload>,
    /// The number of the last AutonomousTransferComplete or RequestDownload.
    #[serde(default)]
    pub last_request: u64,
    /// Parameters waiting for the next UDP lightweight notification (Annex M), oldest first.
    /// Only the names: a notification carries the values current when it is sent.
    #[serde(default)]
    pub lightweight_changed: Vec<String>,
    /// An active lightweight change is waiting to be sent (or was being sent), so the queue
    /// goes at once after a restart instead of at the next trigger.
    #[serde(default)]
    pub lightweight_due: bool,
    /// Entries dropped on reading, being of the wrong JSON type.
    #[serde(skip)]
    pub(super) malformed: usize,
}

/// [`PersistedState`] as read: each entry of a list or of `attributes` on its own
/// ([`Lenient`]).
#[derive(Deserialize)]
struct StateRead {
    events: LenientList<PendingEvent>,
    retry_count: u32,
    bootstrapped: bool,
    acs_url: String,
    attributes: Entries<String, Lenient<ParameterAttributes>>,
    scheduled_informs: LenientList<ScheduledInform>,
    transfers: LenientList<TransferRecord>,
    transfer_completes: LenientList<PendingTransferComplete>,
    #[serde(default)]
    du_changes: LenientList<PendingDuChange>,
    #[serde(default)]
    last_du_change: u64,
    #[serde(default)]
    autonomous_du_changes: LenientList<PendingAutonomousDuChange>,
    #[serde(default)]
    autonomous_transfers: LenientList<PendingAutonomousTransfer>,
    #[serde(default)]
    request_downloads: LenientList<PendingRequestDownload>,
    #[serde(default)]
    last_request: u64,
    #[serde(default)]
    lightweight_changed: LenientList<String>,
    #[serde(default)]
    lightweight_due: bool,
}

impl From<StateRead> for PersistedState {
    fn from(read: StateRead) -> Self {
        let mut malformed = 0;
        Self {
            events: keep_read(read.events, &mut malformed),
            retry_count: read.retry_count,
            bootstrapped: read.bootstrapped,
            acs_url: read.acs_url,
            attributes: keep_read_values(read.attributes, &mut malformed),
            scheduled_informs: keep_read(read.scheduled_informs, &mut malformed),
            transfers: keep_read(read.transfers, &mut malformed),
            transfer_completes: keep_read(read.transfer_completes, &mut malformed),
            du_changes: keep_read(read.du_changes, &mut malformed),
            last_du_change: read.last_du_change,
            autonomous_du_changes: keep_read(read.autonomous_du_changes, &mut malformed),
            autonomous_transfers: keep_read(read.autonomous_transfers, &mut malformed),
            request_downloads: keep_read(read.request_downloads, &mut malformed),
            last_request: read.last_request,
            lightweight_changed: keep_read(read.lightweight_changed, &mut malformed),
            lightweight_due: read.lightweight_due,
            malformed,
        }
    }
}

impl PersistedState {
    /// How many entries of the document this state was read from were dropped as malformed
    /// (of the wrong JSON type); 0 for a state not read.
    #[must_use]
    pub fn malformed_on_load(&self) -> usize {
        self.malformed
    }

    /// Adds an event unless the same code (numbered codes) or the same code and command key
    /// (`M …` codes) is pending already. Returns whether it was added.
    pub(crate) fn add_event(&mut self, code: &EventCode, command_key: &str) -> bool {
        let multiple = code.is_multiple();
        let text = code.as_str();
        let present = self
            .events
            .iter()
            .any(|e| e.code == text && (!multiple || e.command_key == command_key));
        if present {
            return false;
        }
        let key = if multiple { command_key } else { "" };
        self.events.push(PendingEvent::new(code, key));
        // Held to an Inform's worth, the oldest `M …` or vendor event going first: each of
        // the fifteen numbered codes of TR-069 is pending at most once, so they always fit,
        // while the others come once per command key or vendor code.
        if self.events.len() > super::MAX_INFORM_EVENTS {
            let oldest = self.events.iter().position(|e| {
                e.event_code().is_multiple() || matches!(e.event_code(), EventCode::Other(_))
            });
            self.events.remove(oldest.unwrap_or(0));
        }
        true
    }

    /// Whether an event with `code` is pending.
    pub(crate) fn has_event(&self, code: &EventCode) -> bool {
        let text = code.as_str();
        self.events.iter().any(|e| e.code == text)
    }

    /// Applies the reboot rules.
    pub(crate) fn after_reboot(&mut self) {
        self.events.retain(PendingEvent::survives_reboot);
    }

    /// Holds restored lists to the bounds a running session keeps them in, and returns how
    /// many entries it dropped. A state this session saved is within them; one read back from
    /// a file that was garbled yet still parses, or written for larger limits, must not make
    /// the session hold more than a network peer could. Events are held as running holds
    /// them (each once, the oldest `M …` or vendor events dropped first). What a running
    /// session refuses once full (attributes, scheduled informs, transfers, ChangeDUStates,
    /// RequestDownloads) keeps its oldest entries; what it drops the oldest of (autonomous
    /// reports) keeps its newest. TransferCompletes share the transfers' slots and go first,
    /// so that a result is kept before a transfer still queued.
    pub(crate) fn bound(&mut self, limits: &SessionLimits) -> usize {
        let before = self.entries();
        // Each event once and at most an Inform's worth, as `add_event` keeps them.
        for event in std::mem::take(&mut self.events) {
            self.add_event(&event.event_code(), &event.command_key);
        }
        while self.attributes.len() > limits.max_attributes {
            self.attributes.pop_last();
        }
        for attributes in self.attributes.values_mut() {
            attributes
                .access_list
                .truncate(limits.codec.max_array_entries);
        }
        self.scheduled_informs
            .truncate(limits.max_scheduled_informs);
        self.transfer_completes.truncate(limits.max_transfers);
        self.transfers.truncate(
            limits
                .max_transfers
                .saturating_sub(self.transfer_completes.len()),
        );
        self.du_changes.truncate(limits.max_transfers);
        for change in &mut self.du_changes {
            change.operations.truncate(super::du::MAX_OPERATIONS);
        }
        keep_newest(&mut self.autonomous_du_changes, super::du::MAX_AUTONOMOUS);
        keep_newest(
            &mut self.autonomous_transfers,
            super::requests::MAX_AUTONOMOUS_TRANSFERS,
        );
        self.request_downloads
            .truncate(super::requests::MAX_REQUEST_DOWNLOADS);
        before.saturating_sub(self.entries())
    }

    /// The entries of the bounded lists (access lists and operations of ChangeDUStates
    /// included).
    fn entries(&self) -> usize {
        let operations: usize = self.du_changes.iter().map(|c| c.operations.len()).sum();
        let access: usize = self.attributes.values().map(|a| a.access_list.len()).sum();
        [
            self.events.len(),
            self.attributes.len(),
            access,
            self.scheduled_informs.len(),
            self.transfers.len(),
            self.transfer_completes.len(),
            self.du_changes.len(),
            operations,
            self.autonomous_du_changes.len(),
            self.autonomous_transfers.len(),
            self.request_downloads.len(),
        ]
        .iter()
        .fold(0, |sum, n| sum.saturating_add(*n))
    }

    /// Applies the failed-session rules.
    pub(crate) fn after_failed_session(&mut self) {
        self.events.retain(PendingEvent::survives_failed_session);
    }
}

/// Drops the oldest entries of `list` beyond `max`.
fn keep_newest<T>(list: &mut Vec<T>, max: usize) {
    let excess = list.len().saturating_sub(max);
    list.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_rules_follow_the_table() {
        let mut state = PersistedState::default();
        for code in [
            EventCode::Bootstrap,
            EventCode::Boot,
            EventCode::Periodic,
            EventCode::ValueChange,
            EventCode::ConnectionRequest,
            EventCode::DiagnosticsComplete,
        ] {
            assert!(state.add_event(&code, ""));
        }
        assert!(state.add_event(&EventCode::MReboot, "k1"));
        assert!(state.add_event(&EventCode::MReboot, "k2"));
        assert!(!state.add_event(&EventCode::MReboot, "k2"));
        assert!(!state.add_event(&EventCode::Boot, "x"));

        let mut failed = state.clone();
        failed.after_failed_session();
        assert!(!failed.has_event(&EventCode::ConnectionRequest));
        assert_eq!(failed.events.len(), 7);

        state.after_reboot();
        let codes: Vec<&str> = state.events.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["0 BOOTSTRAP", "2 PERIODIC", "M Reboot", "M Reboot"]);
    }

    #[test]
    fn pending_events_are_held_to_an_inform_dropping_the_oldest_method_events() {
        let mut state = PersistedState::default();
        assert!(state.add_event(&EventCode::Boot, ""));
        for n in 0..100 {
            assert!(state.add_event(&EventCode::MReboot, &format!("k{n}")));
        }
        assert!(state.add_event(&EventCode::Other("X 00D09E Vendor".into()), ""));
        assert!(state.add_event(&EventCode::Periodic, ""));
        assert_eq!(state.events.len(), 64);
        assert!(state.has_event(&EventCode::Boot) && state.has_event(&EventCode::Periodic));
        let keys: Vec<&str> = state
            .events
            .iter()
            .filter(|e| e.code == "M Reboot")
            .map(|e| e.command_key.as_str())
            .collect();
        assert_eq!(keys.len(), 61);
        assert_eq!(keys.first(), Some(&"k39"), "the oldest went first");
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut state = PersistedState::default();
        state.add_event(&EventCode::MDownload, "dl");
        state.attributes.insert(
            "Device.DeviceInfo.SoftwareVersion".into(),
            ParameterAttributes {
                notification: 2,
                access_list: vec!["Subscriber".into()],
            },
        );
        let json = serde_json::to_string(&state).unwrap();
        let back: PersistedState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        assert_eq!(
            back.attributes.values().next().unwrap().notification(),
            Notification::Active
        );
    }
}

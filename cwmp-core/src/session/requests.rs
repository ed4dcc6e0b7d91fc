//! The CPE's own requests besides TransferComplete, each kept (persisted) until the ACS answers
//! it, and each with the Inform event that announces it:
//!
//! | Request | Event | Source |
//! |---|---|---|
//! | DUStateChangeComplete | `11 DU STATE CHANGE COMPLETE` + `M ChangeDUState` | a finished ChangeDUState ([`du`](super::du)) |
//! | AutonomousDUStateChangeComplete | `12 AUTONOMOUS DU STATE CHANGE COMPLETE` | a `DUStateChange!` nobody asked for |
//! | AutonomousTransferComplete | `10 AUTONOMOUS TRANSFER COMPLETE` | [`Input::AutonomousTransferComplete`](super::Input) |
//! | RequestDownload | `9 REQUEST DOWNLOAD` | [`Input::RequestDownload`](super::Input) |
//!
//! They go after the pending TransferCompletes, one per POST, never under HoldRequests. A fault
//! from the ACS keeps the request for a later session (after a retry wait), as for a
//! TransferComplete.

use super::state::{PendingAutonomousTransfer, PendingRequestDownload};
use super::{Sent, Session, SessionError};
use crate::codec::{
    Arg, AutonomousTransferComplete, Body, EventCode, RequestDownload, TransferFault,
};

/// Most autonomous transfers kept for the ACS (the oldest is dropped beyond).
pub(super) const MAX_AUTONOMOUS_TRANSFERS: usize = 64;
/// Most RequestDownloads waiting (beyond: [`SessionError::QueueFull`]).
pub(super) const MAX_REQUEST_DOWNLOADS: usize = 16;

impl Session {
    /// Queues an AutonomousTransferComplete.
    pub(super) fn queue_autonomous_transfer(&mut self, transfer: AutonomousTransferComplete) {
        self.state.last_request = self.state.last_request.saturating_add(1);
        if self.state.autonomous_transfers.len() >= MAX_AUTONOMOUS_TRANSFERS {
            self.state.autonomous_transfers.remove(0);
        }
        self.state
            .autonomous_transfers
            .push(PendingAutonomousTransfer {
                id: self.state.last_request,
                announce_url: transfer.announce_url,
                transfer_url: transfer.transfer_url,
                is_download: transfer.is_download,
                file_type: transfer.file_type,
                file_size: transfer.file_size,
                target_file_name: transfer.target_file_name,
                fault_code: transfer.fault_struct.fault_code,
                fault_string: transfer.fault_struct.fault_string,
                start_time: transfer.start_time,
                complete_time: transfer.complete_time,
            });
        self.dirty = true;
    }

    /// Queues a RequestDownload.
    pub(super) fn queue_request_download(
        &mut self,
        file_type: String,
        args: Vec<(String, String)>,
    ) -> Result<(), SessionError> {
        if self.state.request_downloads.len() >= MAX_REQUEST_DOWNLOADS {
            return Err(SessionError::QueueFull);
        }
        self.state.last_request = self.state.last_request.saturating_add(1);
        self.state.request_downloads.push(PendingRequestDownload {
            id: self.state.last_request,
            file_type,
            args,
        });
        self.dirty = true;
        Ok(())
    }

    /// Whether a CPE request other than TransferComplete waits for the ACS.
    pub(super) fn has_cpe_requests(&self) -> bool {
        self.has_du_reports()
            || !self.state.autonomous_transfers.is_empty()
            || !self.state.request_downloads.is_empty()
    }

    /// The Inform events of the waiting requests.
    pub(super) fn cpe_request_events(&self) -> Vec<(EventCode, String)> {
        let mut events = self.du_events();
        if !self.state.autonomous_transfers.is_empty() {
            events.push((EventCode::AutonomousTransferComplete, String::new()));
        }
        if !self.state.request_downloads.is_empty() {
            events.push((EventCode::RequestDownload, String::new()));
        }
        events
    }

    /// The next request to send, skipping those the ACS refused in this session.
    pub(super) fn next_cpe_request(&self, refused: &[Sent]) -> Option<(Body, Sent)> {
        if let Some(report) = self.next_du_report(refused) {
            return Some(report);
        }
        let transfer = self
            .state
            .autonomous_transfers
            .iter()
            .find(|t| !refused.contains(&Sent::AutonomousTransferComplete(t.id)));
        if let Some(t) = transfer {
            let body = Body::AutonomousTransferComplete(AutonomousTransferComplete {
                announce_url: t.announce_url.clone(),
                transfer_url: t.transfer_url.clone(),
                is_download: t.is_download,
                file_type: t.file_type.clone(),
                file_size: t.file_size,
                target_file_name: t.target_file_name.clone(),
                fault_struct: TransferFault {
                    fault_code: t.fault_code,
                    fault_string: t.fault_string.clone(),
                },
                start_time: t.start_time.clone(),
                complete_time: t.complete_time.clone(),
            });
            return Some((body, Sent::AutonomousTransferComplete(t.id)));
        }
        let request = self
            .state
            .request_downloads
            .iter()
            .find(|r| !refused.contains(&Sent::RequestDownload(r.id)))?;
        let body = Body::RequestDownload(RequestDownload {
            file_type: request.file_type.clone(),
            file_type_arg: request
                .args
                .iter()
                .map(|(name, value)| Arg {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        });
        Some((body, Sent::RequestDownload(request.id)))
    }

    /// The ACS answered `sent` (or it could not be encoded): forget it.
    pub(super) fn on_cpe_request_done(&mut self, sent: &Sent) {
        match sent {
            Sent::AutonomousTransferComplete(id) => {
                self.state.autonomous_transfers.retain(|t| t.id != *id);
                self.dirty = true;
            }
            Sent::RequestDownload(id) => {
                self.state.request_downloads.retain(|r| r.id != *id);
                self.dirty = true;
            }
            _ => self.on_du_report_acknowledged(sent),
        }
    }
}

/// Whether `sent` is one of these requests.
pub(super) fn is_cpe_request(sent: &Sent) -> bool {
    matches!(
        sent,
        Sent::DuStateChangeComplete(_)
            | Sent::AutonomousDuStateChangeComplete(_)
            | Sent::AutonomousTransferComplete(_)
            | Sent::RequestDownload(_)
    )
}

/// Whether `body` is the ACS's answer to `sent`.
pub(super) fn answers(sent: &Sent, body: &Body) -> bool {
    matches!(
        (sent, body),
        (
            Sent::DuStateChangeComplete(_),
            Body::DuStateChangeCompleteResponse
        ) | (
            Sent::AutonomousDuStateChangeComplete(_),
            Body::AutonomousDuStateChangeCompleteResponse
        ) | (
            Sent::AutonomousTransferComplete(_),
            Body::AutonomousTransferCompleteResponse
        ) | (Sent::RequestDownload(_), Body::RequestDownloadResponse)
    )
}

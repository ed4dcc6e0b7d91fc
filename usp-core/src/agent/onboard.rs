//! Onboarding: the OnBoardRequest the agent sends by itself to every enabled controller row
//! whose `OnBoardingComplete` is false (TR-181 `Device.LocalAgent.Controller.{i}.`; TR-369
//! R-NOT.5/6/6a).
//!
//! Each time the agent sees the controller table ([`Agent::load_subscriptions`], the `Booted`
//! notice, a change-log batch touching the table) it compares the rows with the procedures it
//! runs, keyed by row:
//!
//! - a row that is `Enable`d, has an `EndpointID` and `OnBoardingComplete` false, and has no
//!   procedure (it just appeared, was enabled, its `OnBoardingComplete` went to false, or the
//!   agent started) gets an OnBoardRequest at once: `send_resp` set, retried per the
//!   controller's NotifRetry backoff until its NotifyResp, never expiring. An unanswered
//!   OnBoardRequest to that controller already queued (restored after a restart) is adopted
//!   instead of sending a second one;
//! - a row whose procedure runs keeps it: one OnBoardRequest per state, however often the
//!   table is re-read;
//! - a procedure whose row is gone, disabled, onboarded (`OnBoardingComplete` true) or names
//!   another `EndpointID` ends, and so do the retries of its unanswered OnBoardRequest.
//!
//! When the NotifyResp comes, `OnBoardingRestartTime` seconds later (counted from that
//! answer, re-read at every look at the table) the OnBoardRequest is sent again, as long as
//! the row stays as it is; 0 sends none. `Controller.{i}.SendOnBoardRequest()` sets
//! `OnBoardingComplete` to false and restarts the procedure at once (see `commands.rs`), the
//! same procedure, so the table change that follows sends nothing more.
//!
//! What an OnBoardRequest carries (`ManufacturerOUI`, `ProductClass`, `SerialNumber` of
//! `Device.DeviceInfo.`) is read from the store with the table and kept for the restarts,
//! which come from [`Agent::handle_timeout`] without a store.

use std::format;
use std::string::{String, ToString};
use std::time::{Duration, Instant};
use std::vec::Vec;

use hal::engine::GetRequest;
use tr181_model::schema::Protocol;
use tr181_model::store::Store;

use super::engine::{DeviceUpdate, EngineRequest, EngineResult};
use super::session::CONTROLLERS;
use super::{Agent, AgentEvent, Pending, param_text};
use crate::usp::{self, body::MsgBody, notify, request::ReqType};

/// Where the device's identity is.
const DEVICE_INFO: &str = "Device.DeviceInfo.";
/// The identity parameters an OnBoardRequest carries, in its field order.
const IDENTITY: [&str; 3] = ["ManufacturerOUI", "ProductClass", "SerialNumber"];

/// `ManufacturerOUI`, `ProductClass` and `SerialNumber`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Identity([String; 3]);

impl Identity {
    fn read(store: &Store) -> Self {
        Self(IDENTITY.map(|name| param_text(store, DEVICE_INFO, name)))
    }
}

/// One controller row's onboarding procedure.
#[derive(Clone, Debug)]
pub(crate) struct Procedure {
    /// The row's `EndpointID`.
    controller: String,
    /// `OnBoardingRestartTime`, seconds; 0 never restarts.
    restart: u32,
    identity: Identity,
    phase: Phase,
}

/// Where a procedure stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// `SendOnBoardRequest()` is reading what to send: the table change it makes sends
    /// nothing.
    Commanded,
    /// This OnBoardRequest (`msg_id`) is out, retried until answered.
    Sent(String),
    /// Answered at this instant; sent again `restart` seconds later.
    Answered(Instant),
}

impl Procedure {
    /// A procedure about to send (or waiting for a command's values).
    fn commanded(controller: String) -> Self {
        Self {
            controller,
            restart: 0,
            identity: Identity::default(),
            phase: Phase::Commanded,
        }
    }

    /// When the OnBoardRequest goes out again, if it does.
    fn restart_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Answered(at) if self.restart > 0 => {
                at.checked_add(Duration::from_secs(u64::from(self.restart)))
            }
            _ => None,
        }
    }
}

/// Whether `msg` is an OnBoardRequest Notify.
pub(crate) fn is_onboard_request(msg: &usp::Msg) -> bool {
    matches!(
        msg.body.as_ref().and_then(|b| b.msg_body.as_ref()),
        Some(MsgBody::Request(usp::Request {
            req_type: Some(ReqType::Notify(usp::Notify {
                notification: Some(notify::Notification::OnBoardReq(_)),
                ..
            })),
        }))
    )
}

impl Agent {
    /// Compares the controller table with the running procedures: starts, keeps and ends
    /// them (see the [module docs](self)).
    pub(crate) fn reload_onboarding(&mut self, now: Instant, store: &Store) {
        let identity = Identity::read(store);
        let rows = store
            .instances(CONTROLLERS, Protocol::Usp, true)
            .unwrap_or_default();
        let mut old = core::mem::take(&mut self.onboarding);
        let mut start = Vec::new();
        for info in rows {
            let row = info.path;
            let text = |name: &str| param_text(store, &row, name);
            let controller = text("EndpointID");
            let wanted = text("Enable") == "true"
                && text("OnBoardingComplete") == "false"
                && !controller.is_empty();
            let running = old.remove(&row);
            let procedure = match running {
                // A command reads what to send: its own table change must not end it.
                Some(p) if p.phase == Phase::Commanded => p,
                Some(p) if wanted && p.controller == controller => p,
                other => {
                    if let Some(ended) = other {
                        self.end_onboarding(ended);
                    }
                    if !wanted {
                        continue;
                    }
                    // Commanded only until it is sent, below.
                    start.push(row.clone());
                    Procedure::commanded(controller)
                }
            };
            let procedure = Procedure {
                restart: text("OnBoardingRestartTime").parse().unwrap_or(0),
                identity: identity.clone(),
                ..procedure
            };
            self.onboarding.insert(row, procedure);
        }
        for (_, ended) in old {
            self.end_onboarding(ended);
        }
        for row in start {
            self.send_onboarding(now, &row, false);
        }
    }

    /// Sends the OnBoardRequest of `row`'s procedure. Unless `again`, an unanswered
    /// OnBoardRequest already queued for that controller is adopted instead; with `again` it
    /// is replaced.
    fn send_onboarding(&mut self, now: Instant, row: &str, again: bool) {
        let Some(procedure) = self.onboarding.get(row) else {
            return;
        };
        let controller = procedure.controller.clone();
        let [oui, product_class, serial] = procedure.identity.0.clone();
        let queued = self
            .unacknowledged
            .iter()
            .find(|u| u.controller == controller && is_onboard_request(&u.msg))
            .map(|u| u.msg_id.clone());
        let msg_id = match queued {
            Some(msg_id) if !again => msg_id,
            queued => {
                if let Some(msg_id) = queued {
                    self.forget_notify(&msg_id);
                }
                self.send_onboard_request(now, &controller, &oui, &product_class, &serial)
            }
        };
        if let Some(procedure) = self.onboarding.get_mut(row) {
            procedure.phase = Phase::Sent(msg_id);
        }
    }

    /// Ends a procedure: its unanswered OnBoardRequest is no longer retried.
    fn end_onboarding(&mut self, procedure: Procedure) {
        if let Phase::Sent(msg_id) = procedure.phase {
            self.forget_notify(&msg_id);
        }
    }

    /// Stops retrying the Notify `msg_id`.
    fn forget_notify(&mut self, msg_id: &str) {
        let before = self.unacknowledged.len();
        self.unacknowledged.retain(|u| u.msg_id != msg_id);
        if self.unacknowledged.len() != before {
            self.push_event(AgentEvent::NotificationsChanged);
        }
    }

    /// A NotifyResp answered the Notify `msg_id` of `controller`: if it was an OnBoardRequest,
    /// its procedure waits for `OnBoardingRestartTime`.
    pub(crate) fn onboarding_answered(&mut self, controller: &str, msg_id: &str) {
        let Some(now) = self.now else {
            return;
        };
        for (_, procedure) in self.onboarding.iter_mut() {
            if procedure.controller == controller
                && matches!(&procedure.phase, Phase::Sent(m) if m == msg_id)
            {
                procedure.phase = Phase::Answered(now);
            }
        }
    }

    /// Whether a procedure runs for `controller` (a restored OnBoardRequest to it would be a
    /// second one).
    pub(crate) fn onboarding_runs(&self, controller: &str) -> bool {
        self.onboarding.values().any(|p| p.controller == controller)
    }

    /// Sends again the OnBoardRequests whose `OnBoardingRestartTime` ran out.
    pub(crate) fn onboarding_timers(&mut self, now: Instant) {
        let due: Vec<String> = self
            .onboarding
            .iter()
            .filter(|(_, p)| p.restart_at().is_some_and(|at| at <= now))
            .map(|(row, _)| row.clone())
            .collect();
        for row in due {
            self.send_onboarding(now, &row, true);
        }
    }

    /// The next `OnBoardingRestartTime` restart.
    pub(crate) fn onboarding_deadline(&self) -> Option<Instant> {
        self.onboarding
            .values()
            .filter_map(Procedure::restart_at)
            .min()
    }

    /// `SendOnBoardRequest()` completed on `rows`: sets their `OnBoardingComplete` to false
    /// and reads the row's `EndpointID` and the device's identity (its own requests); the
    /// answer restarts the procedure ([`Agent::onboard_values`]).
    pub(crate) fn onboard_commanded(&mut self, rows: Vec<String>) {
        if rows.is_empty() {
            return;
        }
        let sets = rows
            .iter()
            .map(|row| (format!("{row}OnBoardingComplete"), "false".to_string()))
            .collect();
        self.internal(EngineRequest::DeviceUpdate(DeviceUpdate::setting(sets)));
        for row in rows {
            let mut paths = Vec::with_capacity(IDENTITY.len().saturating_add(1));
            paths.push(format!("{row}EndpointID"));
            paths.extend(IDENTITY.map(|name| format!("{DEVICE_INFO}{name}")));
            let request = EngineRequest::Get(GetRequest::new(paths));
            let principal = self.own_principal();
            match self.onboarding.get_mut(&row) {
                Some(procedure) => procedure.phase = Phase::Commanded,
                None => {
                    let procedure = Procedure::commanded(String::new());
                    self.onboarding.insert(row.clone(), procedure);
                }
            }
            self.request(principal, Pending::OnBoard { row }, request);
        }
    }

    /// The values `SendOnBoardRequest()` read for `row`: sends its OnBoardRequest.
    pub(crate) fn onboard_values(&mut self, row: &str, result: &EngineResult) {
        let values = match result {
            EngineResult::Get(Ok(response)) => {
                let value = |path: &str| {
                    response
                        .params()
                        .find(|p| p.path() == path)
                        .map(|p| p.value().canonical_text())
                        .unwrap_or_default()
                };
                let controller = value(&format!("{row}EndpointID"));
                let identity = IDENTITY.map(|name| value(&format!("{DEVICE_INFO}{name}")));
                Ok((controller, Identity(identity)))
            }
            EngineResult::Get(Err(e)) => Err(e.to_string()),
            _ => Err("unexpected engine result".into()),
        };
        let (Ok((controller, identity)), Some(now)) = (values, self.now) else {
            let reason = "SendOnBoardRequest(): the values to send could not be read".into();
            self.onboarding.remove(row);
            return self.push_event(AgentEvent::InternalRequestFailed { reason });
        };
        if controller.is_empty() {
            self.onboarding.remove(row);
            let reason = "SendOnBoardRequest(): the controller has no EndpointID".into();
            return self.push_event(AgentEvent::InternalRequestFailed { reason });
        }
        let procedure = self.onboarding.remove(row);
        let procedure = Procedure {
            controller,
            identity,
            ..procedure.unwrap_or_else(|| Procedure::commanded(String::new()))
        };
        self.onboarding.insert(row.to_string(), procedure);
        self.send_onboarding(now, row, true);
    }
}

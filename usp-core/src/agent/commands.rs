//! The agent's own commands: `Device.LocalAgent.Controller.{i}.SendOnBoardRequest()` and
//! `Device.LocalAgent.Controller.{i}.E2ESession.Reset()`.
//!
//! The Operate goes to the engine like any other, which resolves the path (wildcards and
//! searches included), checks the `execute` right and reports each command done without a
//! HAL call (see `hal::engine`'s operate docs). The agent, having sent the OperateResp,
//! carries out each command done:
//!
//! - SendOnBoardRequest(): sets the row's `OnBoardingComplete` to false and reads the row's
//!   `EndpointID` and the device's `ManufacturerOUI`, `ProductClass` and `SerialNumber` (its
//!   own requests), then sends that controller an OnBoardRequest
//!   ([`Agent::send_onboard_request`]): with `send_resp`, retried until answered.
//! - E2ESession.Reset(): see [`Agent::reset_session`].

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use hal::engine::{GetRequest, OperateOutcome, OperateResponse};

use super::engine::{DeviceUpdate, EngineRequest, EngineResult};
use super::{Agent, AgentEvent, Pending};

const CONTROLLERS: &str = "Device.LocalAgent.Controller.";
const ONBOARD: &str = "SendOnBoardRequest()";
const RESET: &str = "E2ESession.Reset()";
const OUI: &str = "Device.DeviceInfo.ManufacturerOUI";
const PRODUCT_CLASS: &str = "Device.DeviceInfo.ProductClass";
const SERIAL_NUMBER: &str = "Device.DeviceInfo.SerialNumber";

/// The controller row (`Device.LocalAgent.Controller.2.`) of the path of a command `name`
/// of that row.
fn controller_row<'a>(command: &'a str, name: &str) -> Option<&'a str> {
    let row = command.strip_suffix(name)?;
    let instance = row.strip_prefix(CONTROLLERS)?.strip_suffix('.')?;
    (!instance.is_empty() && instance.bytes().all(|b| b.is_ascii_digit())).then_some(row)
}

impl Agent {
    /// Carries out the agent's own commands an Operate completed.
    pub(crate) fn agent_commands(&mut self, response: &OperateResponse) {
        let done = || {
            response
                .results
                .iter()
                .filter(|r| matches!(r.outcome, OperateOutcome::Done(_)))
        };
        let resets: Vec<String> = done()
            .filter_map(|r| controller_row(&r.path, RESET))
            .filter_map(|row| self.controller_of_row(row))
            .collect();
        if let Some(now) = self.now {
            for controller in resets {
                self.reset_session(now, &controller);
            }
        }
        let rows: Vec<String> = done()
            .filter_map(|r| controller_row(&r.path, ONBOARD))
            .map(ToString::to_string)
            .collect();
        if rows.is_empty() {
            return;
        }
        let sets = rows
            .iter()
            .map(|row| (format!("{row}OnBoardingComplete"), "false".to_string()))
            .collect();
        self.internal(EngineRequest::DeviceUpdate(DeviceUpdate::setting(sets)));
        for row in rows {
            let paths: [String; 4] = [
                format!("{row}EndpointID"),
                OUI.into(),
                PRODUCT_CLASS.into(),
                SERIAL_NUMBER.into(),
            ];
            let request = GetRequest::new(paths);
            let principal = self.own_principal();
            self.request(principal, Pending::OnBoard, EngineRequest::Get(request));
        }
    }

    /// The values read for an OnBoardRequest: sends it.
    pub(crate) fn onboard_values(&mut self, result: &EngineResult) {
        let EngineResult::Get(Ok(response)) = result else {
            let reason = match result {
                EngineResult::Get(Err(e)) => e.to_string(),
                _ => "unexpected engine result".into(),
            };
            return self.push_event(AgentEvent::InternalRequestFailed { reason });
        };
        let value = |wanted: &dyn Fn(&str) -> bool| {
            response
                .params()
                .find(|p| wanted(&p.path))
                .map(|p| p.value.canonical_text())
                .unwrap_or_default()
        };
        let controller = value(&|p| p.starts_with(CONTROLLERS) && p.ends_with(".EndpointID"));
        let oui = value(&|p| p == OUI);
        let product_class = value(&|p| p == PRODUCT_CLASS);
        let serial = value(&|p| p == SERIAL_NUMBER);
        let (Some(now), false) = (self.now, controller.is_empty()) else {
            let reason = "SendOnBoardRequest(): the controller has no EndpointID".into();
            return self.push_event(AgentEvent::InternalRequestFailed { reason });
        };
        self.send_onboard_request(now, &controller, &oui, &product_class, &serial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_rows() {
        assert_eq!(
            controller_row(
                "Device.LocalAgent.Controller.12.SendOnBoardRequest()",
                ONBOARD
            ),
            Some("Device.LocalAgent.Controller.12.")
        );
        assert_eq!(
            controller_row("Device.LocalAgent.Controller.3.E2ESession.Reset()", RESET),
            Some("Device.LocalAgent.Controller.3.")
        );
        assert_eq!(
            controller_row(
                "Device.LocalAgent.Controller..SendOnBoardRequest()",
                ONBOARD
            ),
            None
        );
        assert_eq!(
            controller_row(
                "Device.LocalAgent.Controller.1.MTP.2.SendOnBoardRequest()",
                ONBOARD
            ),
            None
        );
        assert_eq!(controller_row("Device.Reboot()", ONBOARD), None);
    }
}

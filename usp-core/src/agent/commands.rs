//! The agent's own commands: `Device.LocalAgent.Controller.{i}.SendOnBoardRequest()` and
//! `Device.LocalAgent.Controller.{i}.E2ESession.Reset()`.
//!
//! The Operate goes to the engine like any other, which resolves the path (wildcards and
//! searches included), checks the `execute` right and reports each command done without a
//! HAL call (see `hal::engine`'s operate docs). The agent, having sent the OperateResp,
//! carries out each command done:
//!
//! - SendOnBoardRequest(): sets the row's `OnBoardingComplete` to false and restarts the
//!   row's onboarding procedure at once (`onboard.rs`): an OnBoardRequest with `send_resp`,
//!   retried until answered.
//! - E2ESession.Reset(): see [`Agent::reset_session`].

use std::string::{String, ToString};
use std::vec::Vec;

use hal::engine::{OperateOutcome, OperateResponse};

use super::Agent;
use super::session::CONTROLLERS;

const ONBOARD: &str = "SendOnBoardRequest()";
const RESET: &str = "E2ESession.Reset()";

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
        self.onboard_commanded(rows);
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

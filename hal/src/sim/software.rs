//! Software modules of the simulated device: deployment units that `InstallDU()`,
//! `DeploymentUnit.{i}.Update()` and `DeploymentUnit.{i}.Uninstall()` really install, update
//! and remove.
//!
//! The commands run asynchronously and finish at [`SimDevice::run_jobs`](super::SimDevice).
//! Each finished one changes the simulated units, which the device reports as the rows of
//! `Device.SoftwareModules.DeploymentUnit.{i}.` and `ExecutionUnit.{i}.` (one execution unit
//! per deployment unit, numbered by the device), then raises `DUStateChange!` with the
//! outcome, as TR-181 describes it, before completing the command.
//!
//! | Case | Outcome |
//! |---|---|
//! | Install, Update | version `1.0`, then one major version more per update |
//! | a URL containing `fail` | fault 9015 (file server unreachable), command fails |
//! | Install of a UUID already installed | fault 9026 (duplicate deployment unit), command fails |
//! | Update or Uninstall of a unit that is gone | fault 9028 (unknown deployment unit) |

use std::boxed::Box;
use std::string::{String, ToString};
use std::vec::Vec;

use tr181_model::value::{DateTime, Value};

use crate::error::HalError;
use crate::traits::{CommandCall, DiscoveredRow};
use crate::transfer::TransferFault;

/// The deployment-unit table.
pub(super) const DU_TABLE: &str = "Device.SoftwareModules.DeploymentUnit.";
/// The execution-unit table.
pub(super) const EU_TABLE: &str = "Device.SoftwareModules.ExecutionUnit.";
/// The event a finished change raises.
pub(super) const DU_STATE_CHANGE: &str = "Device.SoftwareModules.DUStateChange!";
const INSTALL: &str = "Device.SoftwareModules.InstallDU()";
const UPDATE: &str = "Device.SoftwareModules.DeploymentUnit.{i}.Update()";
const UNINSTALL: &str = "Device.SoftwareModules.DeploymentUnit.{i}.Uninstall()";

/// Whether the schema command path is one of the software-module commands.
pub(super) fn is_du_command(schema: &str) -> bool {
    matches!(schema, INSTALL | UPDATE | UNINSTALL)
}

/// One installed deployment unit and its execution unit.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Unit {
    number: u32,
    uuid: String,
    name: String,
    url: String,
    version: u32,
    eu: u32,
}

/// The installed units.
#[derive(Debug, Default)]
pub(super) struct Software {
    units: Vec<Unit>,
    next_number: u32,
}

/// Why a change failed: its DU fault code, the command's error and the unit concerned.
struct Failure {
    code: u32,
    error: HalError,
    unit: Option<Unit>,
}

impl Software {
    /// Applies a finished software-module command at `now`.
    /// Returns the command's result and the `DUStateChange!` arguments.
    pub(super) fn finish(
        &mut self,
        call: &CommandCall,
        schema: &str,
        now: Option<DateTime>,
    ) -> (Result<(), HalError>, Vec<(String, String)>) {
        let text = |name: &str| {
            call.arg(name)
                .map(Value::canonical_text)
                .unwrap_or_default()
        };
        let url = text("URL");
        let time = now.map(|t| t.to_string()).unwrap_or_default();
        let target = instance_of(&call.path);
        let index = target.and_then(|n| self.units.iter().position(|u| u.number == n));
        let (operation, outcome) = match schema {
            INSTALL => ("Install", self.install(&url, &text("UUID"))),
            UPDATE => ("Update", self.update(index, &url)),
            _ => ("Uninstall", self.uninstall(index)),
        };
        let mut args = std::vec![
            ("OperationPerformed".to_string(), operation.to_string()),
            ("StartTime".to_string(), time.clone()),
            ("CompleteTime".to_string(), time),
        ];
        match outcome {
            Ok((unit, state)) => {
                args.extend(unit_args(&unit, state));
                args.push(("Fault.FaultCode".into(), "0".into()));
                args.push(("Fault.FaultString".into(), String::new()));
                (Ok(()), args)
            }
            Err(failure) => {
                let Failure { code, error, unit } = *failure;
                let state = if operation == "Install" {
                    "Failed"
                } else {
                    "Installed"
                };
                match unit {
                    Some(unit) => args.extend(unit_args(&unit, state)),
                    None => args.push(("CurrentState".into(), state.into())),
                }
                args.push(("Fault.FaultCode".into(), code.to_string()));
                args.push(("Fault.FaultString".into(), error.to_string()));
                (Err(error), args)
            }
        }
    }

    fn install(&mut self, url: &str, uuid: &str) -> Result<(Unit, &'static str), Box<Failure>> {
        if url.contains("fail") {
            return Err(unreachable(url));
        }
        if !uuid.is_empty() && self.units.iter().any(|u| u.uuid == uuid) {
            let refused = HalError::Refused {
                path: INSTALL.into(),
                reason: std::format!("deployment unit {uuid} is installed already"),
            };
            return Err(Box::new(Failure {
                code: 9026,
                error: refused,
                unit: None,
            }));
        }
        self.next_number = self.next_number.saturating_add(1);
        let number = self.next_number;
        let unit = Unit {
            number,
            uuid: if uuid.is_empty() {
                std::format!("6e3f0c1a-5d2b-5c4e-8f00-{number:012x}")
            } else {
                uuid.into()
            },
            name: url
                .rsplit('/')
                .next()
                .and_then(|file| file.split('.').next())
                .unwrap_or("unit")
                .into(),
            url: url.into(),
            version: 1,
            eu: number,
        };
        self.units.push(unit.clone());
        Ok((unit, "Installed"))
    }

    fn update(
        &mut self,
        index: Option<usize>,
        url: &str,
    ) -> Result<(Unit, &'static str), Box<Failure>> {
        let unit = index
            .and_then(|i| self.units.get_mut(i))
            .ok_or_else(unknown)?;
        let url = if url.is_empty() {
            unit.url.clone()
        } else {
            url.into()
        };
        if url.contains("fail") {
            return Err(Box::new(Failure {
                unit: Some(unit.clone()),
                ..*unreachable(&url)
            }));
        }
        unit.url = url;
        unit.version = unit.version.saturating_add(1);
        Ok((unit.clone(), "Installed"))
    }

    fn uninstall(&mut self, index: Option<usize>) -> Result<(Unit, &'static str), Box<Failure>> {
        let index = index.ok_or_else(unknown)?;
        let unit = self.units.remove(index);
        Ok((unit, "Uninstalled"))
    }

    /// The rows of `table` (a deployment- or execution-unit table), numbered by the device.
    pub(super) fn rows(&self, table: &str) -> Vec<DiscoveredRow> {
        let text = |s: &str| Value::String(s.into());
        self.units
            .iter()
            .map(|u| {
                if table == DU_TABLE {
                    DiscoveredRow::numbered(
                        u.number,
                        std::vec![
                            ("UUID".into(), text(&u.uuid)),
                            ("DUID".into(), text(&u.number.to_string())),
                            ("Name".into(), text(&u.name)),
                            ("Status".into(), text("Installed")),
                            ("Resolved".into(), Value::Boolean(true)),
                            ("URL".into(), text(&u.url)),
                            ("Version".into(), text(&version(u))),
                            ("ExecutionUnitList".into(), text(&eu_path(u))),
                        ],
                    )
                } else {
                    DiscoveredRow::numbered(
                        u.eu,
                        std::vec![
                            ("EUID".into(), text(&u.eu.to_string())),
                            ("Name".into(), text(&u.name)),
                            ("Status".into(), text("Idle")),
                            ("Version".into(), text(&version(u))),
                        ],
                    )
                }
            })
            .collect()
    }
}

fn version(unit: &Unit) -> String {
    std::format!("{}.0", unit.version)
}

fn eu_path(unit: &Unit) -> String {
    std::format!("{EU_TABLE}{}", unit.eu)
}

/// The `DUStateChange!` arguments that describe `unit`.
fn unit_args(unit: &Unit, state: &str) -> Vec<(String, String)> {
    std::vec![
        ("UUID".into(), unit.uuid.clone()),
        (
            "DeploymentUnitRef".into(),
            std::format!("{DU_TABLE}{}", unit.number)
        ),
        ("Version".into(), version(unit)),
        ("CurrentState".into(), state.into()),
        ("Resolved".into(), "true".into()),
        (
            "ExecutionUnitRefList".into(),
            if state == "Uninstalled" {
                String::new()
            } else {
                eu_path(unit)
            }
        ),
    ]
}

fn unreachable(url: &str) -> Box<Failure> {
    Box::new(Failure {
        code: 9015,
        error: HalError::Transfer {
            fault: TransferFault::ContactServer,
            reason: std::format!("cannot reach {url}"),
        },
        unit: None,
    })
}

fn unknown() -> Box<Failure> {
    Box::new(Failure {
        code: 9028,
        error: HalError::Refused {
            path: DU_TABLE.into(),
            reason: "no such deployment unit".into(),
        },
        unit: None,
    })
}

/// The instance number before the command name (`…DeploymentUnit.3.Update()` → 3).
fn instance_of(path: &str) -> Option<u32> {
    let object = path.get(..path.rfind('.')?)?;
    object.rsplit('.').next()?.parse().ok()
}

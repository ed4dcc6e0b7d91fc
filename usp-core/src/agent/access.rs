//! `Device.LocalAgent.ControllerTrust` as the engine's [`AccessControl`].
//!
//! See [`ControllerTrust`] for the rules.

use std::format;
use std::string::String;
use std::vec::Vec;

use hal::Principal;
use hal::engine::{AccessControl, Permissions, Target};
use tr181_model::schema::Protocol;
use tr181_model::store::Store;

use super::param_text;
use super::subscriptions::covers;

const CONTROLLERS: &str = "Device.LocalAgent.Controller.";
const TRUST: &str = "Device.LocalAgent.ControllerTrust.";
const ROLES: &str = "Device.LocalAgent.ControllerTrust.Role.";

/// USP ControllerTrust roles and permissions, read from the store on every check.
///
/// A USP principal's roles are its [`Principal::roles`] when the agent configured some, else
/// the `AssignedRole` and `InheritedRole` of the `Device.LocalAgent.Controller.{i}.` row whose
/// `EndpointID` is the principal's id; a controller without a row gets
/// `ControllerTrust.UntrustedRole`. For each enabled role, the enabled `Permission.{i}.` rows
/// whose `Targets` cover the item are considered and the one with the highest `Order` wins;
/// the winners of all roles are OR-ed (TR-369 "Theory of Operations"). The string used
/// depends on the item: `Param`, `Obj`, `InstantiatedObj` or `CommandEvent` (`rwxn`, `-` for
/// "no"). No matching permission means no right. `SecuredRoles` decides
/// [`AccessControl::reads_secured`].
///
/// A CWMP principal (the ACS) is allowed everything: ControllerTrust is USP's. The agent's own
/// Endpoint ID (used for its internal requests) is allowed everything too; left empty, it is
/// the store's `Device.LocalAgent.EndpointID` (for a driver that learns it only once the
/// engine has loaded the store).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControllerTrust {
    /// The agent's own Endpoint ID, allowed everything; empty: the store's.
    pub agent_endpoint_id: String,
}

impl ControllerTrust {
    /// The policy for the agent `agent_endpoint_id`.
    pub fn new(agent_endpoint_id: impl Into<String>) -> Self {
        Self {
            agent_endpoint_id: agent_endpoint_id.into(),
        }
    }

    /// The role paths (`Device.LocalAgent.ControllerTrust.Role.1.`) of `principal`.
    #[must_use]
    pub fn roles(&self, principal: &Principal, store: &Store) -> Vec<String> {
        let mut roles: Vec<String> = principal.roles.iter().map(|r| normalise(r)).collect();
        if !roles.is_empty() {
            return roles;
        }
        let rows = store
            .instances(CONTROLLERS, Protocol::Usp, true)
            .unwrap_or_default();
        let row = rows
            .iter()
            .find(|row| param_text(store, &row.path, "EndpointID") == principal.id);
        match row {
            Some(row) => {
                for name in ["AssignedRole", "InheritedRole"] {
                    roles.extend(list(&param_text(store, &row.path, name)));
                }
            }
            None => roles.extend(list(&param_text(store, TRUST, "UntrustedRole"))),
        }
        roles
    }
}

impl ControllerTrust {
    /// Whether `principal` is the agent itself.
    fn is_agent(&self, principal: &Principal, store: &Store) -> bool {
        if self.agent_endpoint_id.is_empty() {
            let own = param_text(store, "Device.LocalAgent.", "EndpointID");
            !own.is_empty() && principal.id == own
        } else {
            principal.id == self.agent_endpoint_id
        }
    }
}

/// A role reference with its trailing dot (references may leave it out).
pub(super) fn normalise(role: &str) -> String {
    if role.ends_with('.') {
        role.into()
    } else {
        format!("{role}.")
    }
}

/// The items of a list parameter (`Role.1, Role.2`), trimmed, the empty ones left out.
pub(super) fn items(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn list(text: &str) -> Vec<String> {
    items(text).map(normalise).collect()
}

impl AccessControl for ControllerTrust {
    fn permissions(
        &self,
        principal: &Principal,
        path: &str,
        target: Target,
        store: &Store,
    ) -> Permissions {
        if principal.protocol == Protocol::Cwmp || self.is_agent(principal, store) {
            return Permissions::ALL;
        }
        let column = match target {
            Target::Parameter => "Param",
            Target::Object => "Obj",
            Target::Instance => "InstantiatedObj",
            Target::Command | Target::Event => "CommandEvent",
        };
        let mut granted = Permissions::NONE;
        for role in self.roles(principal, store) {
            if !role.starts_with(ROLES) || param_text(store, &role, "Enable") != "true" {
                continue;
            }
            let permissions = store
                .instances(&format!("{role}Permission."), Protocol::Usp, true)
                .unwrap_or_default();
            let best = permissions
                .iter()
                .filter(|p| param_text(store, &p.path, "Enable") == "true")
                .filter(|p| {
                    param_text(store, &p.path, "Targets")
                        .split(',')
                        .map(str::trim)
                        .any(|t| !t.is_empty() && target_covers(t, path, store))
                })
                .max_by_key(|p| {
                    param_text(store, &p.path, "Order")
                        .parse::<u32>()
                        .unwrap_or(0)
                });
            if let Some(best) = best {
                let rights = Permissions::from_rwxn(&param_text(store, &best.path, column))
                    .unwrap_or(Permissions::NONE);
                granted = granted.union(rights);
            }
        }
        granted
    }

    fn reads_secured(&self, principal: &Principal, store: &Store) -> bool {
        let secured = list(&param_text(store, TRUST, "SecuredRoles"));
        self.roles(principal, store)
            .iter()
            .any(|role| secured.contains(role))
    }
}

/// Whether a permission target covers `path`. Targets are object paths (covering everything
/// below) or item paths, with instance numbers, `*` or search expressions.
fn target_covers(target: &str, path: &str, store: &Store) -> bool {
    // `Device.WiFi.` covers the table itself (`Device.WiFi.SSID.`) and the object path
    // `Device.WiFi.` given without its last part.
    covers(target, path, store) || (target.ends_with('.') && target.starts_with(path))
}

#[cfg(test)]
mod tests {
    use tr181_model::store::Origin;

    use super::*;

    fn store() -> Store {
        let mut store = Store::new();
        let mut txn = store.transaction(Origin::Device);
        txn.add(
            "Device.LocalAgent.ControllerTrust.Role.",
            &[("Enable", "true"), ("Name", "reader")],
        )
        .unwrap();
        txn.add(
            "Device.LocalAgent.ControllerTrust.Role.1.Permission.",
            &[
                ("Enable", "true"),
                ("Order", "1"),
                ("Targets", "Device."),
                ("Param", "r--n"),
                ("Obj", "r---"),
                ("InstantiatedObj", "r---"),
                ("CommandEvent", "r---"),
            ],
        )
        .unwrap();
        txn.add(
            "Device.LocalAgent.ControllerTrust.Role.1.Permission.",
            &[
                ("Enable", "true"),
                ("Order", "2"),
                ("Targets", "Device.WiFi.SSID.*.SSID"),
                ("Param", "rw-n"),
            ],
        )
        .unwrap();
        txn.set(
            "Device.LocalAgent.ControllerTrust.UntrustedRole",
            "Device.LocalAgent.ControllerTrust.Role.1",
        )
        .unwrap();
        txn.add(
            "Device.LocalAgent.Controller.",
            &[("EndpointID", "self::nobody")],
        )
        .unwrap();
        txn.commit().unwrap();
        store
    }

    #[test]
    fn order_decides_inside_a_role_and_untrusted_role_applies() {
        let store = store();
        let trust = ControllerTrust::new("os::agent");
        let unknown = Principal::controller("self::stranger", Vec::new());
        let p = |path| trust.permissions(&unknown, path, Target::Parameter, &store);
        assert_eq!(p("Device.DeviceInfo.UpTime"), Permissions::READ_ONLY);
        assert!(p("Device.WiFi.SSID.1.SSID").write, "higher Order wins");
        assert!(!p("Device.WiFi.SSID.1.Enable").write);
        // A known controller without roles gets nothing.
        let known = Principal::controller("self::nobody", Vec::new());
        assert_eq!(
            trust.permissions(
                &known,
                "Device.DeviceInfo.UpTime",
                Target::Parameter,
                &store
            ),
            Permissions::NONE
        );
        // The ACS and the agent itself are not subject to ControllerTrust.
        let acs = Principal::acs("https://acs");
        assert_eq!(
            trust.permissions(&acs, "Device.", Target::Object, &store),
            Permissions::ALL
        );
        assert!(!trust.reads_secured(&unknown, &store));
        // Without an agent Endpoint ID, the store's is the agent's.
        let mut store = store;
        let mut txn = store.transaction(Origin::Device);
        txn.set("Device.LocalAgent.EndpointID", "os::agent")
            .unwrap();
        txn.commit().unwrap();
        let from_store = ControllerTrust::default();
        let agent = Principal::controller("os::agent", Vec::new());
        for (policy, principal, all) in [
            (&from_store, &agent, true),
            (&from_store, &unknown, false),
            (&trust, &agent, true),
        ] {
            let granted = policy.permissions(principal, "Device.", Target::Object, &store);
            assert_eq!(granted == Permissions::ALL, all, "{principal:?}");
        }
    }
}

//! The agent's ControllerTrust: its CA certificates as `Device.Security.Certificate.{i}.`
//! rows, and the factory defaults of `Device.LocalAgent.ControllerTrust.` that the engine's
//! access policy ([`usp_core::agent::ControllerTrust`]) reads.
//!
//! Factory defaults (the first start, one after a factory reset, or the first with a store
//! saved before ControllerTrust was enforced: whenever the store has no role), which keep
//! every controller allowed everything as before, until an operator narrows them:
//!
//! - `Role.1.` "Full Access": one permission, `Device.`, `rwxn` on everything;
//! - `UntrustedRole` (controllers without a `Controller.{i}.` row) and `SecuredRoles` (who
//!   reads passwords back) are that role;
//! - every controller row then in the store (the simulated device's, those the configuration
//!   adds) gets it as `AssignedRole`; rows a controller adds later have the roles it gives;
//! - one `Credential.{i}.` per CA certificate of `[tls] ca_file`: enabled, `MTP-and-USP`, that
//!   role. A controller whose certificate one of them validated inherits it
//!   (`Controller.{i}.InheritedRole`), so changing the credential's `Role` changes what such
//!   controllers may do.
//!
//! The certificate rows follow the CA file at every start: a row per readable CA certificate
//! (identified by `Issuer` and `SerialNumber`), rows of certificates no longer in the file
//! deleted. A CA added to the file later gets a row but no credential (an operator adds one).

use hal::Engine;
use tr181_model::Error;
use tr181_model::schema::Protocol;
use tr181_model::store::Transaction;

use crate::mtp::text;
use crate::tls::Trust;

const CERTIFICATES: &str = "Device.Security.Certificate.";
const TRUST: &str = "Device.LocalAgent.ControllerTrust.";

/// Makes the certificate rows those of the CA certificates of `trust` (none without one).
pub(crate) fn sync_certificates(
    txn: &mut Transaction<'_>,
    trust: Option<&Trust>,
) -> Result<(), Error> {
    let cas: Vec<_> = trust
        .map(Trust::cas)
        .unwrap_or_default()
        .iter()
        .filter_map(|ca| ca.info.clone())
        .collect();
    let rows = txn
        .instances(CERTIFICATES, Protocol::Usp, true)
        .unwrap_or_default();
    let mut present = Vec::new();
    for row in rows {
        let id = (
            text(txn, &format!("{}Issuer", row.path)),
            text(txn, &format!("{}SerialNumber", row.path)),
        );
        if cas
            .iter()
            .any(|ca| (&ca.issuer, &ca.serial_number) == (&id.0, &id.1))
        {
            present.push(id);
        } else {
            txn.delete(&row.path)?;
        }
    }
    for ca in cas {
        if present.contains(&(ca.issuer.clone(), ca.serial_number.clone())) {
            continue;
        }
        txn.add(
            CERTIFICATES,
            &[
                ("Enable", "true"),
                ("SerialNumber", &ca.serial_number),
                ("Issuer", &ca.issuer),
                ("Subject", &ca.subject),
                ("NotBefore", &ca.not_before),
                ("NotAfter", &ca.not_after),
                ("SignatureAlgorithm", &ca.signature_algorithm),
            ],
        )?;
    }
    Ok(())
}

/// Whether the store has no `ControllerTrust.Role.{i}.` row: [`seed`] is due.
pub(crate) fn unseeded(engine: &Engine) -> bool {
    engine.read(|store| {
        store
            .instances(&format!("{TRUST}Role."), Protocol::Usp, true)
            .map_or(true, |rows| rows.is_empty())
    })
}

/// Writes the factory defaults of the [module docs](self) into a store without roles, after
/// [`sync_certificates`] and the MTP seed (which may add controller rows).
pub(crate) fn seed(txn: &mut Transaction<'_>) -> Result<(), Error> {
    let role = txn.add(
        &format!("{TRUST}Role."),
        &[("Enable", "true"), ("Name", "Full Access")],
    )?;
    let role = format!("{TRUST}Role.{role}");
    txn.add(
        &format!("{role}.Permission."),
        &[
            ("Enable", "true"),
            ("Order", "1"),
            ("Targets", "Device."),
            ("Param", "rwxn"),
            ("Obj", "rwxn"),
            ("InstantiatedObj", "rwxn"),
            ("CommandEvent", "rwxn"),
        ],
    )?;
    txn.set(&format!("{TRUST}UntrustedRole"), &role)?;
    txn.set(&format!("{TRUST}SecuredRoles"), &role)?;
    let store = &**txn;
    let controllers = store
        .instances("Device.LocalAgent.Controller.", Protocol::Usp, true)
        .unwrap_or_default();
    let unassigned: Vec<String> = controllers
        .into_iter()
        .map(|row| format!("{}AssignedRole", row.path))
        .filter(|assigned| text(store, assigned).is_empty())
        .collect();
    let certificates: Vec<String> = store
        .instances(CERTIFICATES, Protocol::Usp, true)
        .unwrap_or_default()
        .into_iter()
        .map(|row| row.path)
        .collect();
    for assigned in unassigned {
        txn.set(&assigned, &role)?;
    }
    for certificate in certificates {
        let certificate = certificate.trim_end_matches('.');
        txn.add(
            &format!("{TRUST}Credential."),
            &[
                ("Enable", "true"),
                ("Role", &role),
                ("Credential", certificate),
                ("AllowedUses", "MTP-and-USP"),
            ],
        )?;
    }
    Ok(())
}

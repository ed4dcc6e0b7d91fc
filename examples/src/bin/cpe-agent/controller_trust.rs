//! The agent's ControllerTrust: its CA certificates as `Device.LocalAgent.Certificate.{i}.`
//! rows (which TR-181 has credentials reference) and `Device.Security.Certificate.{i}.` rows
//! (the device's view, with subject, dates and algorithm), and the factory defaults of `Device.LocalAgent.ControllerTrust.` that the engine's
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
//! - one `Credential.{i}.` per CA certificate of `[tls] ca_file` (its `Credential` the CA's
//!   `Device.LocalAgent.Certificate.{i}.` row): enabled, `MTP-and-USP`, that role. A controller whose certificate one of them validated inherits it
//!   (`Controller.{i}.InheritedRole`), so changing the credential's `Role` changes what such
//!   controllers may do.
//!
//! The certificate rows follow the CA file at every start and every reload of the trust
//! (`tls.rs`): a row per readable CA certificate
//! (identified by `Issuer` and `SerialNumber`) in each table, rows of certificates no longer
//! in the file deleted (the `Device.LocalAgent.Certificate.{i}.` rows of controllers trusted
//! on first use are kept). A CA added to the file later gets rows but no credential (an
//! operator adds one). A credential that names a `Device.Security.Certificate.{i}.` row, as
//! versions before the LocalAgent rows wrote them, is pointed at the LocalAgent row of the
//! same certificate at start.

use hal::Engine;
use tr181_model::Error;
use tr181_model::schema::Protocol;
use tr181_model::store::{Store, Transaction};
use usp_core::agent::FINGERPRINT_ALIAS;

use crate::mtp::text;
use crate::tls::Trust;
use crate::x509::CertificateInfo;

/// The device's view of its installed certificates.
const SECURITY_CERTIFICATES: &str = "Device.Security.Certificate.";
/// The certificates that controller credentials reference (TR-181).
const CERTIFICATES: &str = "Device.LocalAgent.Certificate.";
const TRUST: &str = "Device.LocalAgent.ControllerTrust.";

/// Makes the certificate rows those of the CA certificates of `trust` (none without one), in
/// both tables, and points the credentials that name a `Device.Security.Certificate.{i}.`
/// row (a store of an older version) at the `Device.LocalAgent.Certificate.{i}.` row of the
/// same certificate.
pub(crate) fn sync_certificates(
    txn: &mut Transaction<'_>,
    trust: Option<&Trust>,
) -> Result<(), Error> {
    let cas: Vec<_> = trust
        .map(Trust::cas)
        .iter()
        .flat_map(|cas| cas.iter())
        .filter_map(|ca| ca.info.clone())
        .collect();
    sync_cas(txn, &cas)
}

/// [`sync_certificates`] with the fields of the CA certificates.
fn sync_cas(txn: &mut Transaction<'_>, cas: &[CertificateInfo]) -> Result<(), Error> {
    sync_table(txn, SECURITY_CERTIFICATES, cas, |ca| {
        vec![
            ("Subject", ca.subject.as_str()),
            ("NotBefore", &ca.not_before),
            ("NotAfter", &ca.not_after),
            ("SignatureAlgorithm", &ca.signature_algorithm),
        ]
    })?;
    sync_table(txn, CERTIFICATES, cas, |_| Vec::new())?;
    let credentials = txn
        .instances(&format!("{TRUST}Credential."), Protocol::Usp, true)
        .unwrap_or_default();
    for credential in credentials {
        let reference = format!("{}Credential", credential.path);
        let named = text(txn, &reference);
        let Some(old) = named.strip_prefix(SECURITY_CERTIFICATES) else {
            continue;
        };
        let old = format!("{SECURITY_CERTIFICATES}{}.", old.trim_end_matches('.'));
        let row = ca_rows(txn)
            .into_iter()
            .find(|row| id(txn, row) == id(txn, &old));
        if let Some(row) = row {
            txn.set(&reference, row.trim_end_matches('.'))?;
        }
    }
    Ok(())
}

/// Makes the rows of `table` that the CA certificates own those of `cas`: a row per CA
/// (`Enable`, `SerialNumber`, `Issuer` and the `more` of it), rows of CAs no longer there
/// deleted. In `Device.LocalAgent.Certificate.` the rows of certificates trusted on first use
/// are not the CAs' (and a CA whose `Issuer` and `SerialNumber` such a row took gets none:
/// they are the table's unique key).
fn sync_table(
    txn: &mut Transaction<'_>,
    table: &str,
    cas: &[CertificateInfo],
    more: impl Fn(&CertificateInfo) -> Vec<(&str, &str)>,
) -> Result<(), Error> {
    let rows = txn
        .instances(table, Protocol::Usp, true)
        .unwrap_or_default();
    let mut present = Vec::new();
    for row in rows {
        let row_id = id(txn, &row.path);
        let listed = cas
            .iter()
            .any(|ca| (&ca.issuer, &ca.serial_number) == (&row_id.0, &row_id.1));
        if listed || !is_ca_row(txn, &row.path) {
            present.push(row_id);
        } else {
            txn.delete(&row.path)?;
        }
    }
    for ca in cas {
        let ca_id = (ca.issuer.clone(), ca.serial_number.clone());
        if present.contains(&ca_id) {
            continue;
        }
        present.push(ca_id);
        let mut params = vec![
            ("Enable", "true"),
            ("SerialNumber", ca.serial_number.as_str()),
            ("Issuer", &ca.issuer),
        ];
        params.extend(more(ca));
        txn.add(table, &params)?;
    }
    Ok(())
}

/// A certificate row's `Issuer` and `SerialNumber`.
fn id(store: &Store, row: &str) -> (String, String) {
    (
        text(store, &format!("{row}Issuer")),
        text(store, &format!("{row}SerialNumber")),
    )
}

/// Whether certificate row `row` is a CA's: not one of a certificate trusted on first use.
fn is_ca_row(store: &Store, row: &str) -> bool {
    !text(store, &format!("{row}Alias")).starts_with(FINGERPRINT_ALIAS)
}

/// The paths of the CAs' `Device.LocalAgent.Certificate.{i}.` rows.
fn ca_rows(store: &Store) -> Vec<String> {
    store
        .instances(CERTIFICATES, Protocol::Usp, true)
        .unwrap_or_default()
        .into_iter()
        .map(|row| row.path)
        .filter(|row| is_ca_row(store, row))
        .collect()
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
    let certificates = ca_rows(store);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tr181_model::store::Origin;

    use super::*;

    fn ca(issuer: &str, serial_number: &str) -> CertificateInfo {
        CertificateInfo {
            serial_number: serial_number.into(),
            issuer: issuer.into(),
            subject: issuer.into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2036-01-01T00:00:00Z".into(),
            signature_algorithm: "ecdsa-with-SHA256".into(),
        }
    }

    /// `(Issuer, SerialNumber, Alias)` of each row of `table`.
    fn rows(store: &Store, table: &str) -> Vec<(String, String, String)> {
        let rows = store.instances(table, Protocol::Usp, true).unwrap();
        rows.iter()
            .map(|row| {
                let (issuer, serial) = id(store, &row.path);
                (issuer, serial, text(store, &format!("{}Alias", row.path)))
            })
            .collect()
    }

    #[test]
    fn cas_get_rows_in_both_tables_and_old_credentials_follow() {
        let (operator, other) = (ca("CN=Operator CA", "01AB"), ca("CN=Other CA", "02"));
        let mut store = Store::new();
        // A store of an older version: a Security row, a credential naming it, and the row
        // of a controller trusted on first use.
        let mut txn = store.transaction(Origin::Device);
        sync_table(
            &mut txn,
            SECURITY_CERTIFICATES,
            std::slice::from_ref(&operator),
            |_| Vec::new(),
        )
        .unwrap();
        let learnt = [
            ("Enable", "true"),
            ("Issuer", "CN=stranger"),
            ("SerialNumber", "5E1F"),
            ("Alias", "cpe-sha256-aa11"),
        ];
        txn.add(CERTIFICATES, &learnt).unwrap();
        let credential = format!("{TRUST}Credential.");
        let old = [
            ("Enable", "true"),
            ("Credential", "Device.Security.Certificate.1"),
        ];
        txn.add(&credential, &old).unwrap();
        txn.commit().unwrap();

        let mut txn = store.transaction(Origin::Device);
        sync_cas(&mut txn, &[other.clone(), operator.clone()]).unwrap();
        txn.commit().unwrap();
        let security = rows(&store, SECURITY_CERTIFICATES);
        let local = rows(&store, CERTIFICATES);
        assert_eq!(security.len(), 2);
        assert_eq!(local.len(), 3);
        for info in [&operator, &other] {
            let key = (info.issuer.clone(), info.serial_number.clone());
            assert!(security.iter().any(|(i, s, _)| (i, s) == (&key.0, &key.1)));
            assert!(local.iter().any(|(i, s, _)| (i, s) == (&key.0, &key.1)));
        }
        // The credential names the operator CA's LocalAgent row now.
        let named = text(&store, &format!("{credential}1.Credential"));
        let named = store
            .instances(CERTIFICATES, Protocol::Usp, true)
            .unwrap()
            .into_iter()
            .find(|row| row.path.trim_end_matches('.') == named)
            .unwrap();
        assert_eq!(
            id(&store, &named.path),
            (operator.issuer, operator.serial_number)
        );

        // The operator CA leaves the file: its rows go, the learnt certificate's stays.
        let mut txn = store.transaction(Origin::Device);
        sync_cas(&mut txn, &[other]).unwrap();
        txn.commit().unwrap();
        assert_eq!(rows(&store, SECURITY_CERTIFICATES).len(), 1);
        let local = rows(&store, CERTIFICATES);
        assert_eq!(local.len(), 2);
        assert!(local.iter().any(|(_, _, alias)| alias == "cpe-sha256-aa11"));
        assert!(
            !local
                .iter()
                .any(|(issuer, _, _)| issuer == "CN=Operator CA")
        );
    }
}

//! The agent's side of `Device.LocalAgent.ControllerTrust.`: challenges and credentials, the
//! two ways a controller earns roles (TR-369 "Authentication and Authorization"; the access
//! policy that reads the roles is [`ControllerTrust`](super::ControllerTrust)).
//!
//! # Challenges
//!
//! `RequestChallenge(ChallengeRef, RequestExpiration)` and `ChallengeResponse(ChallengeID,
//! Value)` are Operates like any other: the engine resolves them, checks the `execute` right
//! and the arguments and reports them done; the agent then carries them out, before it
//! answers (see `commands.rs` for the other agent-owned commands).
//!
//! - RequestChallenge: `ChallengeRef` must name an enabled `Challenge.{i}.` row (else 7012
//!   "Invalid value") that is not locked out (7002). A controller has at most one challenge
//!   outstanding: a request for another row while one is open is denied (7002), one for the
//!   same row replaces it. The answer carries the row's `Instruction`, `InstructionType` and
//!   `ValueType` and a new random `ChallengeID`; the challenge expires after
//!   `RequestExpiration` seconds (default 900, 0 never). At most
//!   [`AgentConfig::max_challenges`](super::AgentConfig::max_challenges) challenges are open;
//!   beyond, the oldest is dropped.
//! - ChallengeResponse: the `ChallengeID` must be one handed to this controller and not
//!   expired (else 7004 "Invalid arguments", as the XML allows for an ID the agent does not
//!   recognise); while the row is locked out the answer is 7002. `Value` is compared with the
//!   row's `Value` in constant time. A wrong value counts a failure (7012) and the challenge
//!   stays open; once `Retries` failures (at least one) are counted in a row and
//!   `LockoutPeriod` is not 0, the row is locked for `LockoutPeriod` seconds, after which
//!   the count starts over. The right value closes the challenge, resets the count and grants
//!   the row's `Role`s: appended (without duplicates) to the controller's
//!   `Controller.{i}.AssignedRole`, so they last until someone changes that parameter. A
//!   controller without a `Controller.{i}.` row (accepted as unknown) has them in the agent's
//!   own record instead, passed in its [`Principal`](hal::Principal) until the agent stops.
//!
//! Failure counts and lockouts are per row, not per controller, as the XML words them.
//! Expiry and lockout use the agent's monotonic `now`; they need no timer of their own, the
//! next command checks them.
//!
//! # Credentials
//!
//! An MTP that authenticated the peer's certificate says which CA validated it
//! ([`Mtp::validated_by`](super::Mtp::validated_by): the CA's `Issuer` and `SerialNumber` as
//! its `Device.LocalAgent.Certificate.{i}.` row shows them, the table TR-181 names for
//! `ControllerTrust.Credential.{i}.Credential`; the driver writes a row per CA it trusts).
//! On each Record from such an MTP, the controller's `Controller.{i}.InheritedRole` becomes
//! the `Role`s of the enabled `ControllerTrust.Credential.{i}.` rows whose `Credential` is an
//! enabled certificate row of that `Issuer` and `SerialNumber` and whose `AllowedUses` is `MTP-and-USP` or `MTP-and-broker` (`MTP-only` rows grant nothing).
//! It is set again whenever those rows change. A Record on an MTP that validated no
//! certificate (plain TCP, a broker) leaves it as it is, so that a controller reachable over
//! both keeps what its certificate earned. A controller without a row has its inherited roles
//! in the agent's own record, as for challenges.
//!
//! # Trust on first use
//!
//! TR-369 lets an agent accept controllers whose certificate is self-signed or of a CA it does
//! not trust, as a policy (`ControllerTrust.TOFUAllowed`): such a controller MUST get an
//! "untrusted" role on first use (R-SEC.6), some external entity must be able to change its
//! role (R-SEC.7: a trusted controller setting its `AssignedRole`, or a challenge), and the
//! agent MUST keep the association of the accepted certificate with the Endpoint ID
//! (R-SEC.8), so that later uses are recognised rather than each being a first use
//! (TR-369 "Self-Signed Certificates" and "Assigning Controller Roles", in the
//! BroadbandForum/usp repository's `specification/security/index.md`).
//!
//! The MTP (the driver's TLS verifier) accepts such a certificate only while `TOFUAllowed` is
//! true, and says so with [`Mtp::first_use`](super::Mtp::first_use): the certificate's
//! `Issuer` and `SerialNumber`. On each Record from such an MTP the agent decides:
//!
//! - `TOFUAllowed` false (changed since the handshake): the Record is ignored
//!   ([`IgnoreReason::Untrusted`](super::IgnoreReason::Untrusted)).
//! - The sender has a `Controller.{i}.` row: the certificate must be one its `Credential`
//!   names (a `Device.LocalAgent.Certificate.{i}.` row of that issuer, serial number and
//!   fingerprint, see [`CertificateId`]),
//!   else the Record is ignored: a self-signed certificate cannot take over a known
//!   controller's Endpoint ID and roles. The controller then has its row's roles.
//! - No row, but a controller the agent is configured with
//!   ([`AgentConfig::controllers`](super::AgentConfig::controllers)): ignored too, its
//!   identity is not the first comer's to take.
//! - No row (first use): the agent writes, as the device, a
//!   `Device.LocalAgent.Certificate.{i}.` row for the certificate (`Enable`, `SerialNumber`,
//!   `Issuer`, `Alias` from the fingerprint; unless one exists) and an enabled `Controller.{i}.` row with the sender's
//!   `EndpointID` and `UntrustedRole` as its `AssignedRole`; once both are in the store, the
//!   row's `Credential` is set to the certificate's row. Until then the controller has
//!   `UntrustedRole`, as any controller without a row. From then on it is a known controller
//!   (onboarded like any enabled row whose `OnBoardingComplete` is false), recognised by its
//!   certificate, whose roles grow like any other's (a challenge, another controller).
//!
//! A refused Record gets no answer. The agent remembers at most
//! [`AgentConfig::max_routes`](super::AgentConfig::max_routes) controllers whose rows are
//! being written.
//!
//! # Banned controllers
//!
//! A controller holding `ControllerTrust.BannedRole` (by `AssignedRole`, or inherited: a
//! credential whose `Role` is the banned role bans every controller its CA validated) gets
//! nothing sent to it, and its Records are ignored
//! ([`IgnoreReason::Banned`](super::IgnoreReason::Banned)), as the XML recommends. Its
//! roles are the ones [`ControllerTrust`](super::ControllerTrust) would use: the configured
//! ones, else its row's, else the agent's own record, else `UntrustedRole`.

use std::format;
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Vec;

use hal::engine::{OperateOutcome, OperateResponse};
use hal::{EngineError, HalError};
use subtle::ConstantTimeEq as _;
use tr181_model::schema::{BaseType, Protocol};
use tr181_model::store::Store;
use tr181_model::value::Value;

use super::access::{items, normalise};
use super::session::CONTROLLERS;
use super::{Agent, DeviceUpdate, EngineRequest, param_text};

/// `Device.LocalAgent.ControllerTrust.`
pub(crate) const TRUST: &str = "Device.LocalAgent.ControllerTrust.";
/// `Device.LocalAgent.Certificate.`: the certificates of controllers (`Controller.{i}.Credential`)
/// and of CAs (`ControllerTrust.Credential.{i}.Credential`).
pub(crate) const CERTIFICATES: &str = "Device.LocalAgent.Certificate.";
const REQUEST_CHALLENGE: &str = "Device.LocalAgent.ControllerTrust.RequestChallenge()";
const CHALLENGE_RESPONSE: &str = "Device.LocalAgent.ControllerTrust.ChallengeResponse()";
const CHALLENGES: &str = "Device.LocalAgent.ControllerTrust.Challenge.";
const CREDENTIALS: &str = "Device.LocalAgent.ControllerTrust.Credential.";
/// `RequestExpiration`'s default.
const DEFAULT_EXPIRATION: Duration = Duration::from_secs(900);

/// A certificate as its `Device.LocalAgent.Certificate.{i}.` row names it: `Issuer` and `SerialNumber`, which
/// together identify an X.509 certificate that a CA issued. The driver fills the rows and
/// names the CA that validated a peer ([`Mtp::validated_by`](super::Mtp::validated_by)) with
/// the same text.
///
/// The issuer and serial number of a certificate trusted on first use
/// ([`Mtp::first_use`](super::Mtp::first_use)) are its holder's to choose (self-signed, or of
/// an unknown CA): anyone can make another with the same. Such a certificate is also named
/// by its [`fingerprint`](Self::fingerprint), which its row keeps in its `Alias`
/// (`cpe-sha256-<fingerprint>`, an agent-assigned alias as TR-181 wants them), so that only
/// the same certificate is recognised later.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct CertificateId {
    /// The row's `Issuer`.
    pub issuer: String,
    /// The row's `SerialNumber`.
    pub serial_number: String,
    /// A digest of the whole certificate, as text (the reference agent: the first 24 bytes of
    /// its SHA-256, in lower-case hex), at most [`MAX_FINGERPRINT`] bytes; empty when not
    /// known (a CA's).
    pub fingerprint: String,
}

/// The longest [`CertificateId::fingerprint`]: what the row's `Alias` (at most 64
/// characters) holds after `cpe-sha256-`.
pub const MAX_FINGERPRINT: usize = 53;
/// The prefix of the `Alias` of a `Device.LocalAgent.Certificate.{i}.` row that holds its
/// fingerprint: the row of a certificate trusted on first use (the driver's CA rows have
/// none).
pub const FINGERPRINT_ALIAS: &str = "cpe-sha256-";

impl CertificateId {
    /// The certificate of `issuer` with `serial_number`.
    pub fn new(issuer: impl Into<String>, serial_number: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            serial_number: serial_number.into(),
            fingerprint: String::new(),
        }
    }

    /// Sets the [`fingerprint`](Self::fingerprint), cut to [`MAX_FINGERPRINT`] bytes (on a
    /// character boundary).
    #[must_use]
    pub fn with_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        let mut fingerprint = fingerprint.into();
        let mut end = fingerprint.len().min(MAX_FINGERPRINT);
        while !fingerprint.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        fingerprint.truncate(end);
        self.fingerprint = fingerprint;
        self
    }
}

/// Whether `command` (an Operate's path) is one of the challenge commands, whose input
/// arguments the agent needs once the engine has checked them.
pub(crate) fn is_challenge_command(command: &str) -> bool {
    command == REQUEST_CHALLENGE || command == CHALLENGE_RESPONSE
}

/// A `ControllerTrust.Challenge.{i}.` row.
#[derive(Clone, Debug)]
struct ChallengeRow {
    enabled: bool,
    roles: Vec<String>,
    /// `Value`, decoded.
    value: Vec<u8>,
    value_type: String,
    /// `Instruction`, as base64 text.
    instruction: String,
    instruction_type: String,
    retries: u32,
    lockout: Duration,
}

/// A `Device.LocalAgent.Controller.{i}.` row, as far as roles go.
#[derive(Clone, Debug)]
struct ControllerRow {
    endpoint: String,
    path: String,
    assigned: Vec<String>,
    inherited: Vec<String>,
    /// `Credential`, normalised: the certificate rows it may present.
    credentials: Vec<String>,
}

/// An outstanding challenge.
#[derive(Clone, Debug)]
struct Open {
    id: String,
    controller: String,
    /// The `Challenge.{i}.` row.
    row: String,
    expires: Option<Instant>,
}

/// The failed responses of one challenge row.
#[derive(Clone, Copy, Debug, Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

/// The roles the agent keeps for a controller without a row.
#[derive(Clone, Debug, Default)]
struct OwnRoles {
    granted: Vec<String>,
    inherited: Vec<String>,
}

/// ControllerTrust as read from the store, and the challenges handed out.
///
/// Small tables (a few rows each, bounded by the store or by the agent's limits) kept in
/// `Vec`s searched in order: each map type would cost the router build kilobytes of code.
#[derive(Debug, Default)]
pub(crate) struct Trust {
    /// Challenge rows by path.
    challenges: Vec<(String, ChallengeRow)>,
    /// Enabled credentials that authenticate controllers: the certificate and its roles.
    credentials: Vec<(CertificateId, Vec<String>)>,
    controllers: Vec<ControllerRow>,
    /// Oldest first.
    open: Vec<Open>,
    /// Failures by challenge row.
    failures: Vec<(String, Failures)>,
    /// Controllers without a row.
    own: Vec<(String, OwnRoles)>,
    /// `BannedRole` (normalised), if set.
    banned: Option<String>,
    /// `UntrustedRole`, the roles of a controller the agent knows nothing of.
    untrusted: Vec<String>,
    /// `TOFUAllowed`.
    tofu_allowed: bool,
    /// The `Device.LocalAgent.Certificate.{i}.` rows: path and certificate.
    certificates: Vec<(String, CertificateId)>,
    /// Controllers trusted on first use whose rows are being written, with their certificate;
    /// oldest first.
    learning: Vec<(String, CertificateId)>,
}

impl Trust {
    /// Re-reads the challenge, credential, certificate and controller rows. Challenges of rows
    /// gone or disabled are closed.
    fn load(&mut self, store: &Store) {
        let rows = |table: &str| {
            store
                .instances(table, Protocol::Usp, true)
                .unwrap_or_default()
                .into_iter()
                .map(|row| row.path)
        };
        let text = |row: &str, name: &str| param_text(store, row, name);
        self.challenges = rows(CHALLENGES)
            .map(|row| {
                let value = match store.value(&format!("{row}Value")) {
                    Ok(Value::Base64(bytes)) => bytes.clone(),
                    _ => Vec::new(),
                };
                let challenge = ChallengeRow {
                    enabled: text(&row, "Enable") == "true",
                    roles: list(&text(&row, "Role")),
                    value,
                    value_type: text(&row, "ValueType"),
                    instruction: text(&row, "Instruction"),
                    instruction_type: text(&row, "InstructionType"),
                    retries: text(&row, "Retries").parse().unwrap_or(0),
                    lockout: Duration::from_secs(text(&row, "LockoutPeriod").parse().unwrap_or(0)),
                };
                (row, challenge)
            })
            .collect();
        self.certificates = rows(CERTIFICATES)
            .map(|row| {
                let alias = text(&row, "Alias");
                let fingerprint = alias.strip_prefix(FINGERPRINT_ALIAS).unwrap_or_default();
                let id = CertificateId::new(text(&row, "Issuer"), text(&row, "SerialNumber"))
                    .with_fingerprint(fingerprint);
                (row, id)
            })
            .collect();
        self.credentials = rows(CREDENTIALS)
            .filter(|row| text(row, "Enable") == "true")
            .filter(|row| {
                matches!(
                    text(row, "AllowedUses").as_str(),
                    "MTP-and-USP" | "MTP-and-broker"
                )
            })
            .filter_map(|row| {
                let reference = normalise(&text(&row, "Credential"));
                let (path, certificate) = self
                    .certificates
                    .iter()
                    .find(|(path, _)| *path == reference)?;
                // A CA is named by issuer and serial number only (`Mtp::validated_by`).
                let ca = CertificateId::new(&*certificate.issuer, &*certificate.serial_number);
                (text(path, "Enable") == "true").then(|| (ca, list(&text(&row, "Role"))))
            })
            .collect();
        self.controllers = rows(CONTROLLERS)
            .map(|row| ControllerRow {
                endpoint: text(&row, "EndpointID"),
                assigned: list(&text(&row, "AssignedRole")),
                inherited: list(&text(&row, "InheritedRole")),
                credentials: items(&text(&row, "Credential")).map(normalise).collect(),
                path: row,
            })
            .filter(|row| !row.endpoint.is_empty())
            .collect();
        let banned = text(TRUST, "BannedRole");
        self.banned = (!banned.trim().is_empty()).then(|| normalise(banned.trim()));
        self.untrusted = list(&text(TRUST, "UntrustedRole"));
        self.tofu_allowed = text(TRUST, "TOFUAllowed") == "true";
        let open = core::mem::take(&mut self.open);
        self.open = open
            .into_iter()
            .filter(|open| self.challenge(&open.row).is_some_and(|row| row.enabled))
            .collect();
        let failures = core::mem::take(&mut self.failures);
        self.failures = failures
            .into_iter()
            .filter(|(row, _)| self.challenge(row).is_some())
            .collect();
    }

    /// Challenge row `row`.
    fn challenge(&self, row: &str) -> Option<&ChallengeRow> {
        self.challenges
            .iter()
            .find(|(path, _)| path == row)
            .map(|(_, challenge)| challenge)
    }

    /// The row of the controller `endpoint`.
    fn controller_mut(&mut self, endpoint: &str) -> Option<&mut ControllerRow> {
        self.controllers.iter_mut().find(|c| c.endpoint == endpoint)
    }

    /// The failures of challenge row `row`, counted from none.
    fn failures_mut(&mut self, row: &str) -> Option<&mut Failures> {
        if !self.failures.iter().any(|(r, _)| r == row) {
            self.failures.push((row.into(), Failures::default()));
        }
        self.failures
            .iter_mut()
            .find(|(r, _)| r == row)
            .map(|(_, failures)| failures)
    }

    /// The roles kept for `controller`, which has no row: a new record when there is none,
    /// the oldest record dropped beyond `max`.
    fn own_mut(&mut self, controller: &str, max: usize) -> Option<&mut OwnRoles> {
        if !self.own.iter().any(|(c, _)| c == controller) {
            if self.own.len() >= max.max(1) {
                self.own.remove(0);
            }
            self.own.push((controller.into(), OwnRoles::default()));
        }
        self.own
            .iter_mut()
            .find(|(c, _)| c == controller)
            .map(|(_, own)| own)
    }

    /// The path of the `Device.LocalAgent.Certificate.{i}.` row of `certificate`.
    fn certificate_row(&self, certificate: &CertificateId) -> Option<&str> {
        self.certificates
            .iter()
            .find(|(_, id)| id == certificate)
            .map(|(path, _)| path.as_str())
    }

    /// The roles inherited through a certificate that `ca` validated.
    fn inherited(&self, ca: &CertificateId) -> Vec<String> {
        let mut roles = Vec::new();
        for (_, granted) in self.credentials.iter().filter(|(id, _)| id == ca) {
            merge(&mut roles, granted);
        }
        roles
    }

    /// Forgets expired challenges and lockouts that ended.
    fn expire(&mut self, now: Instant) {
        self.open
            .retain(|open| open.expires.is_none_or(|at| at > now));
        for (_, failures) in &mut self.failures {
            if failures.locked_until.is_some_and(|until| until <= now) {
                *failures = Failures::default();
            }
        }
    }

    /// Whether challenge `row` is locked out.
    fn locked(&self, row: &str) -> bool {
        self.failures
            .iter()
            .any(|(r, f)| r == row && f.locked_until.is_some())
    }
}

/// The items of a list parameter, as written (`Role.1` and `Role.1.` name the same row).
fn list(text: &str) -> Vec<String> {
    items(text).map(String::from).collect()
}

/// Parameters as owned (name, value) pairs.
fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(name, value)| ((*name).to_string(), (*value).to_string()))
        .collect()
}

/// Appends the roles of `more` that `roles` lacks.
fn merge(roles: &mut Vec<String>, more: &[String]) {
    for role in more {
        if !roles.iter().any(|r| normalise(r) == normalise(role)) {
            roles.push(role.clone());
        }
    }
}

/// The text of input argument `name`.
fn arg<'a>(input: &'a [(String, String)], name: &str) -> Option<&'a str> {
    input
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// 7002 "Request denied".
fn denied(path: &str, reason: &str) -> OperateOutcome {
    OperateOutcome::Failed(EngineError::Hal(HalError::Refused {
        path: path.into(),
        reason: reason.into(),
    }))
}

/// 7012 "Invalid value".
fn invalid(path: &str, reason: &str) -> OperateOutcome {
    OperateOutcome::Failed(EngineError::Hal(HalError::InvalidValue {
        path: path.into(),
        reason: reason.into(),
    }))
}

impl Agent {
    /// Whether `controller` holds `BannedRole`.
    pub(crate) fn is_banned(&self, controller: &str) -> bool {
        let Some(banned) = &self.trust.banned else {
            return false;
        };
        let holds = |roles: &[String]| roles.iter().any(|role| normalise(role) == *banned);
        let principal = self.principal_of(controller);
        if !principal.roles.is_empty() {
            return holds(&principal.roles);
        }
        match self
            .trust
            .controllers
            .iter()
            .find(|c| c.endpoint == controller)
        {
            Some(row) => holds(&row.assigned) || holds(&row.inherited),
            None => holds(&self.trust.untrusted),
        }
    }

    /// Re-reads ControllerTrust from the store, links the rows of controllers learnt on first
    /// use to their certificate's row, and sets again the inherited roles of the controllers
    /// whose last Record came on an MTP that validated a certificate.
    pub(crate) fn reload_trust(&mut self, store: &Store) {
        self.trust.load(store);
        self.link_learnt();
        let validated: Vec<(String, Arc<CertificateId>)> = self
            .routes
            .iter()
            .filter_map(|(c, mtp)| Some((c.clone(), mtp.validated_by.clone()?)))
            .collect();
        for (controller, ca) in validated {
            self.inherit_roles(&controller, Some(&ca));
        }
    }

    /// The roles the agent keeps for `controller` when it has no row: granted by challenges
    /// and inherited from a credential.
    pub(crate) fn own_roles(&self, controller: &str) -> Vec<String> {
        self.trust
            .own
            .iter()
            .find(|(c, _)| c == controller)
            .map(|(_, own)| {
                let mut roles = own.granted.clone();
                merge(&mut roles, &own.inherited);
                roles
            })
            .unwrap_or_default()
    }

    /// A Record from `controller` on an MTP that validated its certificate with `ca`: its
    /// inherited roles become those of the credentials of `ca`.
    pub(crate) fn inherit_roles(&mut self, controller: &str, ca: Option<&CertificateId>) {
        let Some(ca) = ca else {
            return;
        };
        let roles = self.trust.inherited(ca);
        match self.trust.controller_mut(controller) {
            Some(row) => {
                if row.inherited == roles {
                    return;
                }
                row.inherited.clone_from(&roles);
                let set = (format!("{}InheritedRole", row.path), roles.join(","));
                self.internal(EngineRequest::DeviceUpdate(DeviceUpdate::setting(
                    std::vec![set],
                )));
            }
            None => {
                if let Some(own) = self.trust.own_mut(controller, self.config.max_routes) {
                    own.inherited = roles;
                }
            }
        }
    }

    /// Whether `controller`, whose certificate the MTP accepted on first use, may speak; on
    /// its first use, writes its rows (see the [module docs](self)).
    pub(crate) fn trust_on_first_use(
        &mut self,
        controller: &str,
        certificate: &CertificateId,
    ) -> bool {
        if !self.trust.tofu_allowed {
            return false;
        }
        let learning = |c: &String, id: &CertificateId| c == controller && id == certificate;
        if self.trust.learning.iter().any(|(c, id)| learning(c, id)) {
            return true;
        }
        let certificate_row = self.trust.certificate_row(certificate);
        if let Some(row) = self
            .trust
            .controllers
            .iter()
            .find(|c| c.endpoint == controller)
        {
            return certificate_row.is_some_and(|path| row.credentials.iter().any(|c| c == path));
        }
        let configured = self
            .config
            .controllers
            .iter()
            .any(|c| c.endpoint_id == controller);
        if configured || self.trust.learning.iter().any(|(c, _)| c == controller) {
            // Not a first use: configured, or another certificate was first.
            return false;
        }
        let mut adds = Vec::new();
        if certificate_row.is_none() {
            let mut row = owned(&[
                ("Enable", "true"),
                ("SerialNumber", certificate.serial_number.as_str()),
                ("Issuer", certificate.issuer.as_str()),
            ]);
            if !certificate.fingerprint.is_empty() {
                let alias = format!("{FINGERPRINT_ALIAS}{}", certificate.fingerprint);
                row.push(("Alias".into(), alias));
            }
            adds.push((CERTIFICATES.to_string(), row));
        }
        let untrusted = self.trust.untrusted.join(",");
        let row = [
            ("EndpointID", controller),
            ("Enable", "true"),
            ("AssignedRole", untrusted.as_str()),
        ];
        adds.push((CONTROLLERS.to_string(), owned(&row)));
        if self.trust.learning.len() >= self.config.max_routes.max(1) {
            self.trust.learning.remove(0);
        }
        self.trust
            .learning
            .push((controller.into(), certificate.clone()));
        self.internal(EngineRequest::DeviceUpdate(DeviceUpdate::adding(adds)));
        true
    }

    /// Sets the `Credential` of the rows of controllers learnt on first use, once their row
    /// and their certificate's are in the store; a controller whose row names its
    /// certificate is learnt.
    fn link_learnt(&mut self) {
        let learning = core::mem::take(&mut self.trust.learning);
        let mut sets = Vec::new();
        for (controller, certificate) in learning {
            let certificate_row = self.trust.certificate_row(&certificate);
            let row = self
                .trust
                .controllers
                .iter()
                .find(|c| c.endpoint == controller);
            match (row, certificate_row) {
                (Some(row), Some(path)) if row.credentials.iter().any(|c| c == path) => continue,
                (Some(row), Some(path)) => {
                    let mut credentials: Vec<&str> =
                        row.credentials.iter().map(String::as_str).collect();
                    credentials.push(path);
                    let list: Vec<&str> = credentials
                        .iter()
                        .map(|c| c.trim_end_matches('.'))
                        .collect();
                    sets.push((format!("{}Credential", row.path), list.join(",")));
                }
                _ => {}
            }
            self.trust.learning.push((controller, certificate));
        }
        if !sets.is_empty() {
            self.internal(EngineRequest::DeviceUpdate(DeviceUpdate::setting(sets)));
        }
    }

    /// Carries out the challenge command an Operate from `controller` completed, whose input
    /// arguments were `input`: its real outcome, in place of the engine's (the command's path
    /// names no instance, so it is the Operate's one result). `None` when `response` holds no
    /// challenge command done.
    pub(crate) fn challenge_command<'r>(
        &mut self,
        controller: &str,
        input: &[(String, String)],
        response: &'r OperateResponse,
    ) -> Option<(&'r str, OperateOutcome)> {
        let result = response.results.iter().find(|r| {
            is_challenge_command(&r.path) && matches!(r.outcome, OperateOutcome::Done(_))
        })?;
        let now = self.now?;
        self.trust.expire(now);
        let outcome = if result.path == REQUEST_CHALLENGE {
            self.request_challenge(now, controller, input)
        } else {
            self.challenge_response(now, controller, input)
        };
        Some((&result.path, outcome))
    }

    fn request_challenge(
        &mut self,
        now: Instant,
        controller: &str,
        input: &[(String, String)],
    ) -> OperateOutcome {
        let row = normalise(arg(input, "ChallengeRef").unwrap_or_default().trim());
        let Some(challenge) = self.trust.challenge(&row).filter(|c| c.enabled) else {
            return invalid(REQUEST_CHALLENGE, "no such enabled challenge");
        };
        if self.trust.locked(&row) {
            return denied(REQUEST_CHALLENGE, "the challenge is locked out");
        }
        let other = self
            .trust
            .open
            .iter()
            .any(|open| open.controller == controller && open.row != row);
        if other {
            return denied(REQUEST_CHALLENGE, "another challenge is outstanding");
        }
        let expiration = match arg(input, "RequestExpiration") {
            Some(text) => Duration::from_secs(text.trim().parse().unwrap_or(0)),
            None => DEFAULT_EXPIRATION,
        };
        let outputs = [
            ("Instruction", challenge.instruction.clone()),
            ("InstructionType", challenge.instruction_type.clone()),
            ("ValueType", challenge.value_type.clone()),
        ];
        let id = format!("{:016x}", self.rng.next_u64());
        self.trust.open.retain(|open| open.controller != controller);
        if self.trust.open.len() >= self.config.max_challenges.max(1) {
            self.trust.open.remove(0);
        }
        self.trust.open.push(Open {
            id: id.clone(),
            controller: controller.into(),
            row,
            expires: (!expiration.is_zero())
                .then(|| now.checked_add(expiration))
                .flatten(),
        });
        let mut output: Vec<(String, Value)> = outputs
            .into_iter()
            .map(|(name, text)| (name.to_string(), Value::String(text)))
            .collect();
        output.push(("ChallengeID".into(), Value::String(id)));
        OperateOutcome::Done(output)
    }

    fn challenge_response(
        &mut self,
        now: Instant,
        controller: &str,
        input: &[(String, String)],
    ) -> OperateOutcome {
        let id = arg(input, "ChallengeID").unwrap_or_default();
        let Some(index) = self
            .trust
            .open
            .iter()
            .position(|open| open.id == id && open.controller == controller)
        else {
            // 7004, which the XML names for a ChallengeID the agent does not recognise.
            return OperateOutcome::Failed(EngineError::InvalidArguments {
                path: CHALLENGE_RESPONSE.into(),
                reason: "unknown or expired ChallengeID",
                command: false,
            });
        };
        let Some(row) = self.trust.open.get(index).map(|open| open.row.clone()) else {
            return denied(CHALLENGE_RESPONSE, "unknown challenge");
        };
        if self.trust.locked(&row) {
            return denied(CHALLENGE_RESPONSE, "the challenge is locked out");
        }
        let Some(challenge) = self.trust.challenge(&row) else {
            return denied(CHALLENGE_RESPONSE, "unknown challenge");
        };
        let given =
            arg(input, "Value").and_then(|text| Value::parse_scalar(text, BaseType::Base64).ok());
        let right = match &given {
            // In time that depends on the lengths only.
            Some(Value::Base64(bytes)) => bool::from(bytes.as_slice().ct_eq(&challenge.value)),
            _ => false,
        };
        if !right {
            let (retries, lockout) = (challenge.retries.max(1), challenge.lockout);
            if let Some(failures) = self.trust.failures_mut(&row) {
                failures.count = failures.count.saturating_add(1);
                if failures.count >= retries && !lockout.is_zero() {
                    failures.locked_until = now.checked_add(lockout);
                }
            }
            return invalid(CHALLENGE_RESPONSE, "wrong challenge value");
        }
        let roles = challenge.roles.clone();
        self.trust.open.remove(index);
        self.trust.failures.retain(|(r, _)| *r != row);
        self.grant(controller, &roles);
        OperateOutcome::Done(Vec::new())
    }

    /// Appends `roles` to `controller`'s `AssignedRole` (or to the agent's own record).
    fn grant(&mut self, controller: &str, roles: &[String]) {
        match self.trust.controller_mut(controller) {
            Some(row) => {
                let before = row.assigned.len();
                merge(&mut row.assigned, roles);
                if row.assigned.len() == before {
                    return;
                }
                let set = (format!("{}AssignedRole", row.path), row.assigned.join(","));
                self.internal(EngineRequest::DeviceUpdate(DeviceUpdate::setting(
                    std::vec![set],
                )));
            }
            None => {
                if let Some(own) = self.trust.own_mut(controller, self.config.max_routes) {
                    merge(&mut own.granted, roles);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_roles_skips_duplicates_with_or_without_the_dot() {
        let mut roles = std::vec!["Device.LocalAgent.ControllerTrust.Role.1".to_string()];
        merge(
            &mut roles,
            &[
                "Device.LocalAgent.ControllerTrust.Role.1.".into(),
                "Device.LocalAgent.ControllerTrust.Role.2".into(),
            ],
        );
        assert_eq!(
            roles,
            [
                "Device.LocalAgent.ControllerTrust.Role.1",
                "Device.LocalAgent.ControllerTrust.Role.2"
            ]
        );
    }
}

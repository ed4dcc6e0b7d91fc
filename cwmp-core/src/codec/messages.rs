//! The arguments of every CWMP RPC (cwmp-1-0 … cwmp-1-4 XSD) and their structures.
//!
//! Field and type names follow the XSD element names in Rust case; each field documents its
//! element. Strings keep the XSD `maxLength` (checked on decode unless
//! [`Limits::xsd_lengths`](crate::codec::Limits::xsd_lengths) is off, and always on encode).
//! `xs:dateTime` values stay strings, because devices send malformed ones (FACTS §4); the
//! unknown time is [`UNKNOWN_TIME`].
//!
//! The structs are exhaustive on purpose: the CWMP schemas are frozen at 1.4, and the session
//! layer builds these values with struct literals.

use std::num::NonZeroU32;

use crate::codec::decode::{El, Fail, Ns, Parser};
use crate::codec::encode::Writer;
use crate::codec::xml::{Spec, Xml, int_enum, str_enum, xml_struct};
use crate::error::{CodecError, EncodeProblem};

/// The CWMP "unknown time" (TR-069 Table 12), used for example in a `DownloadResponse` whose
/// transfer has not finished.
pub const UNKNOWN_TIME: &str = "0001-01-01T00:00:00Z";

const S32: Spec = Spec::text(32);
const S64: Spec = Spec::text(64);
const S256: Spec = Spec::text(256);
const S1024: Spec = Spec::text(1024);
const ANY: Spec = Spec::ANY;
const OPT: Spec = Spec::ANY.optional();

/// cwmp:Fault `FaultCode` (1-2 schema): CPE 9000–9899, ACS 8000–8899.
const FAULT_CODES: Spec = Spec::ANY.ranges(&[(8000, 8899), (9000, 9899)]);
/// `SetParameterValuesFault/FaultCode`: CPE codes only.
const CPE_FAULT_CODES: Spec = Spec::ANY.ranges(&[(9000, 9899)]);
/// `TransferCompleteFaultStruct/FaultCode` (1-2 schema).
const TRANSFER_FAULT_CODES: Spec = Spec::ANY.ranges(&[
    (0, 0),
    (9001, 9002),
    (9010, 9012),
    (9014, 9020),
    (9033, 9899),
]);
/// `DeploymentUnitFaultStruct/FaultCode` (1-2 schema).
const DU_FAULT_CODES: Spec = Spec::ANY.ranges(&[
    (0, 0),
    (9001, 9001),
    (9003, 9003),
    (9012, 9013),
    (9015, 9018),
    (9022, 9899),
]);

const PARAMETER_VALUES: Spec = Spec::array("ParameterValueStruct", "cwmp:ParameterValueStruct");
const PARAMETER_NAMES: Spec = Spec::strings(256).items(1, usize::MAX);
const ACCESS_LIST: Spec = Spec::strings(64);

// ---------------------------------------------------------------------------------------------
// Enumerations

int_enum! {
    /// `Status` of the Set/Add/Delete/Download/Upload responses.
    pub enum Status: "Status (0 or 1)" {
        /// 0: the change was applied (transfer completed).
        Applied = 0,
        /// 1: validated and committed but applied later, for example after a reboot (transfer
        /// not yet completed).
        Pending = 1,
    }
}

int_enum! {
    /// Notification attribute of a parameter (FACTS §9).
    pub enum Notification: "Notification (0-6)" {
        /// 0: off.
        Off = 0,
        /// 1: passive, in the next Inform.
        Passive = 1,
        /// 2: active, start a session now ("4 VALUE CHANGE").
        Active = 2,
        /// 3: passive lightweight (1.4).
        PassiveLightweight = 3,
        /// 4: passive and passive lightweight (1.4).
        PassiveAndPassiveLightweight = 4,
        /// 5: active lightweight (1.4).
        ActiveLightweight = 5,
        /// 6: passive and active lightweight (1.4).
        PassiveAndActiveLightweight = 6,
    }
}

int_enum! {
    /// `State` of a queued transfer.
    pub enum TransferState: "TransferState (1-3)" {
        /// 1: not yet started.
        NotYetStarted = 1,
        /// 2: in progress.
        InProgress = 2,
        /// 3: completed, finishing cleanup.
        Completed = 3,
    }
}

int_enum! {
    /// `State` of an option (deprecated `GetOptions`).
    pub enum OptionState: "option State (0-3)" {
        /// 0: disabled and not set up.
        DisabledNotSetup = 0,
        /// 1: enabled and not set up.
        EnabledNotSetup = 1,
        /// 2: disabled and set up.
        DisabledSetup = 2,
        /// 3: enabled and set up.
        EnabledSetup = 3,
    }
}

int_enum! {
    /// `Mode` of an option (deprecated `GetOptions`).
    pub enum OptionMode: "option Mode (0-2)" {
        /// 0: disabled.
        Disabled = 0,
        /// 1: enabled with expiration.
        EnabledWithExpiration = 1,
        /// 2: enabled without expiration.
        EnabledWithoutExpiration = 2,
    }
}

int_enum! {
    /// `IsTransferable` of an option (deprecated `GetOptions`).
    pub enum Transferable: "IsTransferable (0 or 1)" {
        /// 0: non-transferable.
        No = 0,
        /// 1: transferable.
        Yes = 1,
    }
}

str_enum! {
    /// `CurrentState` of a deployment unit.
    pub enum DeploymentUnitState: "DeploymentUnitState" {
        /// `Installed`.
        Installed = "Installed",
        /// `Uninstalled`.
        Uninstalled = "Uninstalled",
        /// `Failed`.
        Failed = "Failed",
    }
}

/// The `xsi:type` of a parameter value: the TR-069 data types, or any other type name.
///
/// Decoding resolves the prefix, so `xs:int` and `ns7:int` (bound to the XML Schema namespace)
/// both read as [`Int`](Self::Int); `soap-enc:` types are accepted too, as are the prefixes
/// `xsd:`/`xs:` when a sloppy peer forgot to declare them. A missing `xsi:type` is `None` in
/// [`ParameterValue::value_type`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueType {
    /// `xsd:base64Binary` (also read from `xsd:base64` and `soap-enc:base64`).
    Base64,
    /// `xsd:boolean`.
    Boolean,
    /// `xsd:dateTime`.
    DateTime,
    /// `xsd:decimal`.
    Decimal,
    /// `xsd:hexBinary`.
    HexBinary,
    /// `xsd:int`.
    Int,
    /// `xsd:long`.
    Long,
    /// `xsd:string`.
    String,
    /// `xsd:unsignedInt`.
    UnsignedInt,
    /// `xsd:unsignedLong`.
    UnsignedLong,
    /// Any other type, exactly as the `xsi:type` attribute spelled it (a QName such as
    /// `xsd:anyURI` or `cwmp:X_VENDOR_Type`). The encoder writes it back verbatim, so its
    /// prefix should be one of the canonical ones (`xsd`, `soap-enc`, `cwmp`).
    Other(String),
}

impl ValueType {
    /// The `xsi:type` value the encoder writes.
    #[must_use]
    pub fn xsi_type(&self) -> &str {
        match self {
            Self::Base64 => "xsd:base64Binary",
            Self::Boolean => "xsd:boolean",
            Self::DateTime => "xsd:dateTime",
            Self::Decimal => "xsd:decimal",
            Self::HexBinary => "xsd:hexBinary",
            Self::Int => "xsd:int",
            Self::Long => "xsd:long",
            Self::String => "xsd:string",
            Self::UnsignedInt => "xsd:unsignedInt",
            Self::UnsignedLong => "xsd:unsignedLong",
            Self::Other(raw) => raw,
        }
    }

    fn from_local(local: &[u8]) -> Option<Self> {
        Some(match local {
            b"base64Binary" | b"base64" => Self::Base64,
            b"boolean" => Self::Boolean,
            b"dateTime" => Self::DateTime,
            b"decimal" => Self::Decimal,
            b"hexBinary" => Self::HexBinary,
            b"int" => Self::Int,
            b"long" => Self::Long,
            b"string" => Self::String,
            b"unsignedInt" => Self::UnsignedInt,
            b"unsignedLong" => Self::UnsignedLong,
            _ => return None,
        })
    }

    /// Whether this is an [`Other`](Self::Other) that the encoder's canonical prefixes would
    /// read back as a known type (`xsd:string` read where `xsd` was bound elsewhere).
    fn reads_as_known_type(&self) -> bool {
        let Self::Other(raw) = self else {
            return false;
        };
        raw.split_once(':').is_some_and(|(prefix, local)| {
            matches!(prefix, "xsd" | "xs" | "soap-enc")
                && Self::from_local(local.as_bytes()).is_some()
        })
    }

    /// Classifies a raw `xsi:type` value in the scope of the element just read.
    fn resolve(p: &Parser<'_>, raw: &[u8]) -> Self {
        let (ns, local) = p.resolve_qname(raw);
        let schema = match ns {
            Ns::Xsd | Ns::SoapEnc => true,
            Ns::Unknown => raw.starts_with(b"xsd:") || raw.starts_with(b"xs:"),
            _ => false,
        };
        schema
            .then(|| Self::from_local(local))
            .flatten()
            .unwrap_or_else(|| {
                // Kept as the attribute's text, references resolved (`&gt;` is `>`), so that
                // the encoder's escaping writes back the same value.
                let text = String::from_utf8_lossy(raw);
                Self::Other(
                    quick_xml::escape::unescape(&text)
                        .map_or_else(|_| text.to_string(), std::borrow::Cow::into_owned),
                )
            })
    }
}

/// An event code of the Inform (`EventStruct/EventCode`, FACTS §5).
///
/// Unknown codes keep their text in [`Other`](Self::Other), so every code round-trips.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventCode {
    /// `0 BOOTSTRAP`.
    Bootstrap,
    /// `1 BOOT`.
    Boot,
    /// `2 PERIODIC`.
    Periodic,
    /// `3 SCHEDULED`.
    Scheduled,
    /// `4 VALUE CHANGE`.
    ValueChange,
    /// `5 KICKED`.
    Kicked,
    /// `6 CONNECTION REQUEST`.
    ConnectionRequest,
    /// `7 TRANSFER COMPLETE`.
    TransferComplete,
    /// `8 DIAGNOSTICS COMPLETE`.
    DiagnosticsComplete,
    /// `9 REQUEST DOWNLOAD`.
    RequestDownload,
    /// `10 AUTONOMOUS TRANSFER COMPLETE`.
    AutonomousTransferComplete,
    /// `11 DU STATE CHANGE COMPLETE`.
    DuStateChangeComplete,
    /// `12 AUTONOMOUS DU STATE CHANGE COMPLETE`.
    AutonomousDuStateChangeComplete,
    /// `13 WAKEUP`.
    Wakeup,
    /// `14 HEARTBEAT`.
    Heartbeat,
    /// `M Reboot`.
    MReboot,
    /// `M ScheduleInform`.
    MScheduleInform,
    /// `M Download`.
    MDownload,
    /// `M ScheduleDownload`.
    MScheduleDownload,
    /// `M Upload`.
    MUpload,
    /// `M ChangeDUState`.
    MChangeDuState,
    /// Any other code (`M X_…`, `X <OUI> …`, future codes), verbatim.
    Other(String),
}

const EVENT_CODES: [(EventCode, &str); 21] = [
    (EventCode::Bootstrap, "0 BOOTSTRAP"),
    (EventCode::Boot, "1 BOOT"),
    (EventCode::Periodic, "2 PERIODIC"),
    (EventCode::Scheduled, "3 SCHEDULED"),
    (EventCode::ValueChange, "4 VALUE CHANGE"),
    (EventCode::Kicked, "5 KICKED"),
    (EventCode::ConnectionRequest, "6 CONNECTION REQUEST"),
    (EventCode::TransferComplete, "7 TRANSFER COMPLETE"),
    (EventCode::DiagnosticsComplete, "8 DIAGNOSTICS COMPLETE"),
    (EventCode::RequestDownload, "9 REQUEST DOWNLOAD"),
    (
        EventCode::AutonomousTransferComplete,
        "10 AUTONOMOUS TRANSFER COMPLETE",
    ),
    (
        EventCode::DuStateChangeComplete,
        "11 DU STATE CHANGE COMPLETE",
    ),
    (
        EventCode::AutonomousDuStateChangeComplete,
        "12 AUTONOMOUS DU STATE CHANGE COMPLETE",
    ),
    (EventCode::Wakeup, "13 WAKEUP"),
    (EventCode::Heartbeat, "14 HEARTBEAT"),
    (EventCode::MReboot, "M Reboot"),
    (EventCode::MScheduleInform, "M ScheduleInform"),
    (EventCode::MDownload, "M Download"),
    (EventCode::MScheduleDownload, "M ScheduleDownload"),
    (EventCode::MUpload, "M Upload"),
    (EventCode::MChangeDuState, "M ChangeDUState"),
];

impl EventCode {
    /// The code as written on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        if let Self::Other(s) = self {
            return s;
        }
        EVENT_CODES
            .iter()
            .find(|(code, _)| code == self)
            .map_or("", |(_, s)| s)
    }

    /// The code for a wire string (exact match; anything else is [`Other`](Self::Other)).
    #[must_use]
    pub fn from_wire(s: &str) -> Self {
        EVENT_CODES
            .iter()
            .find(|(_, text)| *text == s)
            .map_or_else(|| Self::Other(s.to_owned()), |(code, _)| code.clone())
    }

    /// Whether this is a method-specific "M …" code, which may appear several times in one
    /// Inform (once per CommandKey); the numbered codes appear at most once.
    #[must_use]
    pub fn is_multiple(&self) -> bool {
        self.as_str().starts_with("M ")
    }
}

impl Xml for EventCode {
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, _spec: &Spec) -> Result<Self, Fail> {
        let text = p.text(el)?;
        p.check_len(&text, 64)?;
        Ok(Self::from_wire(&text))
    }

    fn write(&self, w: &mut Writer<'_>, tag: &'static str, _spec: &Spec) -> Result<(), CodecError> {
        w.text_element(tag, self.as_str(), 64)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared structures

/// `ParameterValueStruct`: a parameter name, its value as text, and the value's `xsi:type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterValue {
    /// `Name` (≤ 256).
    pub name: String,
    /// `Value`, as text (formatting and parsing by type belong to the data model).
    pub value: String,
    /// The `xsi:type` of `Value`; `None` when the peer sent none (the encoder then writes
    /// none; the schema type is `xs:anySimpleType`).
    pub value_type: Option<ValueType>,
}

impl ParameterValue {
    /// A value with an `xsi:type`.
    #[must_use]
    pub fn new(name: impl Into<String>, value: impl Into<String>, value_type: ValueType) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            value_type: Some(value_type),
        }
    }
}

impl Xml for ParameterValue {
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, _spec: &Spec) -> Result<Self, Fail> {
        let mut name = None;
        let mut value = None;
        if !el.is_empty() {
            while let Some(child) = p.child()? {
                match child.local() {
                    b"Name" => String::read_into(&mut name, p, child, "Name", &S256)
                        .map_err(|e| e.at("Name"))?,
                    b"Value" => {
                        if value.is_some() {
                            return Err(p
                                .fail(CodecError::DuplicateElement { name: "Value" })
                                .at("Value"));
                        }
                        let ty = p.xsi_type(&child, ValueType::resolve);
                        let text = p.text(child).map_err(|e| e.at("Value"))?;
                        value = Some((text.into_owned(), ty));
                    }
                    _ => p.skip(child)?,
                }
            }
        }
        let name = name.ok_or_else(|| p.fail(CodecError::MissingElement { name: "Name" }))?;
        let (value, value_type) =
            value.ok_or_else(|| p.fail(CodecError::MissingElement { name: "Value" }))?;
        Ok(Self {
            name,
            value,
            value_type,
        })
    }

    fn write(&self, w: &mut Writer<'_>, tag: &'static str, _spec: &Spec) -> Result<(), CodecError> {
        w.open(tag);
        w.text_element("Name", &self.name, 256)?;
        match &self.value_type {
            Some(ty) => {
                if ty.reads_as_known_type() {
                    return Err(CodecError::InvalidForEncoding {
                        element: "Value",
                        problem: EncodeProblem::KnownName,
                    });
                }
                w.open_attr("Value", "xsi:type", ty.xsi_type())?;
            }
            None => w.open("Value"),
        }
        w.text("Value", &self.value)?;
        w.close("Value");
        w.close(tag);
        Ok(())
    }
}

xml_struct! {
    /// `ParameterInfoStruct` of `GetParameterNamesResponse`.
    pub struct ParameterInfo {
        /// `Name` (≤ 256); ends with "." for an object.
        pub name: String => "Name", S256;
        /// `Writable`.
        pub writable: bool => "Writable", ANY;
    }
}

xml_struct! {
    /// `SetParameterAttributesStruct`.
    pub struct SetParameterAttributesStruct {
        /// `Name` (≤ 256).
        pub name: String => "Name", S256;
        /// `NotificationChange`: whether to apply `notification`.
        pub notification_change: bool => "NotificationChange", ANY;
        /// `Notification`.
        pub notification: Notification => "Notification", ANY;
        /// `AccessListChange`: whether to apply `access_list`.
        pub access_list_change: bool => "AccessListChange", ANY;
        /// `AccessList` (entries ≤ 64; the schema knows only `Subscriber`).
        pub access_list: Vec<String> => "AccessList", ACCESS_LIST;
    }
}

xml_struct! {
    /// `ParameterAttributeStruct` of `GetParameterAttributesResponse`.
    pub struct ParameterAttribute {
        /// `Name` (≤ 256).
        pub name: String => "Name", S256;
        /// `Notification`.
        pub notification: Notification => "Notification", ANY;
        /// `AccessList` (entries ≤ 64).
        pub access_list: Vec<String> => "AccessList", ACCESS_LIST;
    }
}

xml_struct! {
    /// `DeviceIdStruct` of the Inform.
    pub struct DeviceId {
        /// `Manufacturer` (≤ 64).
        pub manufacturer: String => "Manufacturer", S64;
        /// `OUI`: six upper-case hex digits in the schema; real CPEs send lower case, which
        /// decodes unchanged.
        pub oui: String => "OUI", Spec::text(6);
        /// `ProductClass` (≤ 64).
        pub product_class: String => "ProductClass", S64;
        /// `SerialNumber` (≤ 64).
        pub serial_number: String => "SerialNumber", S64;
    }
}

xml_struct! {
    /// `EventStruct` of the Inform.
    pub struct Event {
        /// `EventCode` (≤ 64).
        pub event_code: EventCode => "EventCode", ANY;
        /// `CommandKey` (≤ 32).
        pub command_key: String => "CommandKey", S32;
    }
}

xml_struct! {
    /// `FaultStruct` of `TransferComplete` / `AutonomousTransferComplete`.
    pub struct TransferFault {
        /// `FaultCode`: 0 for success, else 9001, 9002, 9010–9020 or an extension/vendor code.
        pub fault_code: u32 => "FaultCode", TRANSFER_FAULT_CODES;
        /// `FaultString` (≤ 256).
        pub fault_string: String => "FaultString", S256;
    }
}

xml_struct! {
    /// `QueuedTransferStruct` of `GetQueuedTransfersResponse`.
    pub struct QueuedTransfer {
        /// `CommandKey` (≤ 32).
        pub command_key: String => "CommandKey", S32;
        /// `State`.
        pub state: TransferState => "State", ANY;
    }
}

xml_struct! {
    /// `AllQueuedTransferStruct` of `GetAllQueuedTransfersResponse`.
    pub struct AllQueuedTransfer {
        /// `CommandKey` (≤ 32).
        pub command_key: String => "CommandKey", S32;
        /// `State`.
        pub state: TransferState => "State", ANY;
        /// `IsDownload`.
        pub is_download: bool => "IsDownload", ANY;
        /// `FileType` (≤ 64).
        pub file_type: String => "FileType", S64;
        /// `FileSize`.
        pub file_size: u32 => "FileSize", ANY;
        /// `TargetFileName` (≤ 256).
        pub target_file_name: String => "TargetFileName", S256;
    }
}

xml_struct! {
    /// `OptionStruct` of `GetOptionsResponse` (deprecated).
    pub struct OptionStruct {
        /// `OptionName` (≤ 64).
        pub option_name: String => "OptionName", S64;
        /// `VoucherSN`.
        pub voucher_sn: u32 => "VoucherSN", ANY;
        /// `State`.
        pub state: OptionState => "State", ANY;
        /// `Mode`.
        pub mode: OptionMode => "Mode", ANY;
        /// `StartDate` (dateTime).
        pub start_date: String => "StartDate", ANY;
        /// `ExpirationDate` (dateTime, optional).
        pub expiration_date: Option<String> => "ExpirationDate", ANY;
        /// `IsTransferable`.
        pub is_transferable: Transferable => "IsTransferable", ANY;
    }
}

xml_struct! {
    /// `ArgStruct` of `RequestDownload`.
    pub struct Arg {
        /// `Name` (≤ 64).
        pub name: String => "Name", S64;
        /// `Value` (≤ 256).
        pub value: String => "Value", S256;
    }
}

xml_struct! {
    /// `TimeWindowStruct` of `ScheduleDownload`.
    pub struct TimeWindow {
        /// `WindowStart`: seconds from the request.
        pub window_start: u32 => "WindowStart", ANY;
        /// `WindowEnd`: seconds from the request.
        pub window_end: u32 => "WindowEnd", ANY;
        /// `WindowMode` (≤ 64), such as `1 At Any Time`.
        pub window_mode: String => "WindowMode", S64;
        /// `UserMessage` (≤ 256).
        pub user_message: String => "UserMessage", S256;
        /// `MaxRetries` (-1 for CPE-chosen).
        pub max_retries: i32 => "MaxRetries", ANY;
    }
}

xml_struct! {
    /// `InstallOpStruct` of `ChangeDUState`.
    pub struct InstallOp {
        /// `URL` (≤ 1024).
        pub url: String => "URL", S1024;
        /// `UUID` (optional).
        pub uuid: Option<String> => "UUID", ANY;
        /// `Username` (≤ 256, optional).
        pub username: Option<String> => "Username", S256;
        /// `Password` (≤ 256, optional).
        pub password: Option<String> => "Password", S256;
        /// `ExecutionEnvRef` (≤ 256, optional).
        pub execution_env_ref: Option<String> => "ExecutionEnvRef", S256;
    }
}

xml_struct! {
    /// `UpdateOpStruct` of `ChangeDUState`.
    pub struct UpdateOp {
        /// `UUID` (optional).
        pub uuid: Option<String> => "UUID", ANY;
        /// `Version` (≤ 32, optional).
        pub version: Option<String> => "Version", S32;
        /// `URL` (≤ 1024, optional).
        pub url: Option<String> => "URL", S1024;
        /// `Username` (≤ 256, optional).
        pub username: Option<String> => "Username", S256;
        /// `Password` (≤ 256, optional).
        pub password: Option<String> => "Password", S256;
    }
}

xml_struct! {
    /// `UninstallOpStruct` of `ChangeDUState`.
    pub struct UninstallOp {
        /// `UUID`.
        pub uuid: String => "UUID", ANY;
        /// `Version` (≤ 32, optional).
        pub version: Option<String> => "Version", S32;
        /// `ExecutionEnvRef` (≤ 256, optional).
        pub execution_env_ref: Option<String> => "ExecutionEnvRef", S256;
    }
}

/// One `Operations` entry of `ChangeDUState`; the schema type is abstract and the entry's
/// `xsi:type` (`cwmp:InstallOpStruct`, …) names the concrete one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DuOperation {
    /// `InstallOpStruct`.
    Install(InstallOp),
    /// `UninstallOpStruct`.
    Uninstall(UninstallOp),
    /// `UpdateOpStruct`.
    Update(UpdateOp),
}

#[derive(Clone, Copy)]
enum OpKind {
    Install,
    Uninstall,
    Update,
}

impl Xml for DuOperation {
    fn read<'a>(p: &mut Parser<'a>, el: El<'a>, _spec: &Spec) -> Result<Self, Fail> {
        let kind = p.with_attr(&el, Ns::Xsi, b"type", |p, raw| {
            match p.resolve_qname(raw).1 {
                b"InstallOpStruct" => Some(OpKind::Install),
                b"UpdateOpStruct" => Some(OpKind::Update),
                b"UninstallOpStruct" => Some(OpKind::Uninstall),
                _ => None,
            }
            .ok_or_else(|| String::from_utf8_lossy(raw).into_owned())
        });
        match kind {
            None => Err(p.fail(CodecError::MissingAttribute { name: "xsi:type" })),
            Some(Err(found)) => Err(p.invalid(
                "InstallOpStruct, UpdateOpStruct or UninstallOpStruct",
                &found,
            )),
            Some(Ok(OpKind::Install)) => InstallOp::read_children(p, el).map(Self::Install),
            Some(Ok(OpKind::Update)) => UpdateOp::read_children(p, el).map(Self::Update),
            Some(Ok(OpKind::Uninstall)) => UninstallOp::read_children(p, el).map(Self::Uninstall),
        }
    }

    fn write(&self, w: &mut Writer<'_>, tag: &'static str, _spec: &Spec) -> Result<(), CodecError> {
        match self {
            Self::Install(op) => {
                w.open_attr(tag, "xsi:type", "cwmp:InstallOpStruct")?;
                op.write_children(w)?;
            }
            Self::Update(op) => {
                w.open_attr(tag, "xsi:type", "cwmp:UpdateOpStruct")?;
                op.write_children(w)?;
            }
            Self::Uninstall(op) => {
                w.open_attr(tag, "xsi:type", "cwmp:UninstallOpStruct")?;
                op.write_children(w)?;
            }
        }
        w.close(tag);
        Ok(())
    }
}

xml_struct! {
    /// `DeploymentUnitFaultStruct` of an operation result.
    pub struct DeploymentUnitFault {
        /// `FaultCode`: 0 for success.
        pub fault_code: u32 => "FaultCode", DU_FAULT_CODES;
        /// `FaultString` (optional in the schema; empty when absent, always written).
        pub fault_string: String => "FaultString", OPT;
    }
}

xml_struct! {
    /// `OpResultStruct` of `DUStateChangeComplete`.
    pub struct OpResult {
        /// `UUID`.
        pub uuid: String => "UUID", ANY;
        /// `DeploymentUnitRef`.
        pub deployment_unit_ref: String => "DeploymentUnitRef", ANY;
        /// `Version` (≤ 32).
        pub version: String => "Version", S32;
        /// `CurrentState`.
        pub current_state: DeploymentUnitState => "CurrentState", ANY;
        /// `Resolved`.
        pub resolved: bool => "Resolved", ANY;
        /// `ExecutionUnitRefList`.
        pub execution_unit_ref_list: String => "ExecutionUnitRefList", ANY;
        /// `StartTime` (dateTime).
        pub start_time: String => "StartTime", ANY;
        /// `CompleteTime` (dateTime).
        pub complete_time: String => "CompleteTime", ANY;
        /// `Fault`.
        pub fault: DeploymentUnitFault => "Fault", ANY;
    }
}

xml_struct! {
    /// `AutonOpResultStruct` of `AutonomousDUStateChangeComplete`: an [`OpResult`] plus the
    /// operation performed.
    pub struct AutonomousOpResult {
        /// `UUID`.
        pub uuid: String => "UUID", ANY;
        /// `DeploymentUnitRef`.
        pub deployment_unit_ref: String => "DeploymentUnitRef", ANY;
        /// `Version` (≤ 32).
        pub version: String => "Version", S32;
        /// `CurrentState`.
        pub current_state: DeploymentUnitState => "CurrentState", ANY;
        /// `Resolved`.
        pub resolved: bool => "Resolved", ANY;
        /// `ExecutionUnitRefList`.
        pub execution_unit_ref_list: String => "ExecutionUnitRefList", ANY;
        /// `StartTime` (dateTime).
        pub start_time: String => "StartTime", ANY;
        /// `CompleteTime` (dateTime).
        pub complete_time: String => "CompleteTime", ANY;
        /// `Fault`.
        pub fault: DeploymentUnitFault => "Fault", ANY;
        /// `OperationPerformed`: `Install`, `Update`, `Uninstall` or a vendor string.
        pub operation_performed: String => "OperationPerformed", ANY;
    }
}

impl AutonomousOpResult {
    /// The autonomous form of `result`, with the operation performed.
    #[must_use]
    pub fn new(result: OpResult, operation_performed: String) -> Self {
        Self {
            uuid: result.uuid,
            deployment_unit_ref: result.deployment_unit_ref,
            version: result.version,
            current_state: result.current_state,
            resolved: result.resolved,
            execution_unit_ref_list: result.execution_unit_ref_list,
            start_time: result.start_time,
            complete_time: result.complete_time,
            fault: result.fault,
            operation_performed,
        }
    }
}

xml_struct! {
    /// `Fault` in the `detail` of a SOAP fault: the CWMP fault code and, for
    /// `SetParameterValues`, one entry per rejected parameter.
    pub struct CwmpFault {
        /// `FaultCode`: 9000–9899 (CPE) or 8000–8899 (ACS).
        pub fault_code: u32 => "FaultCode", FAULT_CODES;
        /// `FaultString` (optional in the schema; empty when absent, always written).
        pub fault_string: String => "FaultString", OPT;
        /// `SetParameterValuesFault` entries (repeated element).
        pub set_parameter_values_fault: Vec<SetParameterValuesFault> =>
            "SetParameterValuesFault", Spec::repeated(0);
    }
}

xml_struct! {
    /// `SetParameterValuesFault` of a [`CwmpFault`].
    pub struct SetParameterValuesFault {
        /// `ParameterName`.
        pub parameter_name: String => "ParameterName", ANY;
        /// `FaultCode` (9000–9899).
        pub fault_code: u32 => "FaultCode", CPE_FAULT_CODES;
        /// `FaultString` (optional in the schema; empty when absent, always written).
        pub fault_string: String => "FaultString", OPT;
    }
}

// ---------------------------------------------------------------------------------------------
// CPE methods (the ACS calls them)

xml_struct! {
    /// `GetRPCMethodsResponse`.
    pub struct GetRpcMethodsResponse {
        /// `MethodList` (names ≤ 64, at least one).
        pub method_list: Vec<String> => "MethodList", Spec::strings(64).items(1, usize::MAX);
    }
}

xml_struct! {
    /// `SetParameterValues`.
    pub struct SetParameterValues {
        /// `ParameterList`.
        pub parameter_list: Vec<ParameterValue> => "ParameterList", PARAMETER_VALUES;
        /// `ParameterKey` (≤ 32).
        pub parameter_key: String => "ParameterKey", S32;
    }
}

xml_struct! {
    /// `SetParameterValuesResponse`.
    pub struct SetParameterValuesResponse {
        /// `Status`.
        pub status: Status => "Status", ANY;
    }
}

xml_struct! {
    /// `GetParameterValues`.
    pub struct GetParameterValues {
        /// `ParameterNames` (each ≤ 256, at least one; a name ending in "." is a partial path).
        pub parameter_names: Vec<String> => "ParameterNames", PARAMETER_NAMES;
    }
}

xml_struct! {
    /// `GetParameterValuesResponse`.
    pub struct GetParameterValuesResponse {
        /// `ParameterList`.
        pub parameter_list: Vec<ParameterValue> => "ParameterList", PARAMETER_VALUES;
    }
}

xml_struct! {
    /// `GetParameterNames`.
    pub struct GetParameterNames {
        /// `ParameterPath` (≤ 256).
        pub parameter_path: String => "ParameterPath", S256;
        /// `NextLevel`.
        pub next_level: bool => "NextLevel", ANY;
    }
}

xml_struct! {
    /// `GetParameterNamesResponse`.
    pub struct GetParameterNamesResponse {
        /// `ParameterList`.
        pub parameter_list: Vec<ParameterInfo> => "ParameterList",
            Spec::array("ParameterInfoStruct", "cwmp:ParameterInfoStruct");
    }
}

xml_struct! {
    /// `SetParameterAttributes`.
    pub struct SetParameterAttributes {
        /// `ParameterList` (at least one).
        pub parameter_list: Vec<SetParameterAttributesStruct> => "ParameterList",
            Spec::array("SetParameterAttributesStruct", "cwmp:SetParameterAttributesStruct")
                .items(1, usize::MAX);
    }
}

xml_struct! {
    /// `GetParameterAttributes`.
    pub struct GetParameterAttributes {
        /// `ParameterNames` (each ≤ 256, at least one).
        pub parameter_names: Vec<String> => "ParameterNames", PARAMETER_NAMES;
    }
}

xml_struct! {
    /// `GetParameterAttributesResponse`.
    pub struct GetParameterAttributesResponse {
        /// `ParameterList`.
        pub parameter_list: Vec<ParameterAttribute> => "ParameterList",
            Spec::array("ParameterAttributeStruct", "cwmp:ParameterAttributeStruct");
    }
}

xml_struct! {
    /// `AddObject`.
    pub struct AddObject {
        /// `ObjectName` (≤ 256, ends with ".").
        pub object_name: String => "ObjectName", S256;
        /// `ParameterKey` (≤ 32).
        pub parameter_key: String => "ParameterKey", S32;
    }
}

xml_struct! {
    /// `AddObjectResponse`.
    pub struct AddObjectResponse {
        /// `InstanceNumber` (≥ 1).
        pub instance_number: NonZeroU32 => "InstanceNumber", ANY;
        /// `Status`.
        pub status: Status => "Status", ANY;
    }
}

xml_struct! {
    /// `DeleteObject`.
    pub struct DeleteObject {
        /// `ObjectName` (≤ 256, ends with ".").
        pub object_name: String => "ObjectName", S256;
        /// `ParameterKey` (≤ 32).
        pub parameter_key: String => "ParameterKey", S32;
    }
}

xml_struct! {
    /// `DeleteObjectResponse`.
    pub struct DeleteObjectResponse {
        /// `Status`.
        pub status: Status => "Status", ANY;
    }
}

xml_struct! {
    /// `Download`.
    pub struct Download {
        /// `CommandKey` (≤ 32).
        pub command_key: String => "CommandKey", S32;
        /// `FileType` (≤ 64), such as `1 Firmware Upgrade Image`.
        pub file_type: String => "FileType", S64;
        /// `URL` (≤ 256).
        pub url: String => "URL", S256;
        /// `Username` (≤ 256).
        pub username: String => "Username", S256;
        /// `Password` (≤ 256).
        pub password: String => "Password", S256;
        /// `FileSize`.
        pub file_size: u32 => "FileSize", ANY;
        /// `TargetFileName` (≤ 256).
        pub target_file_name: String => "TargetFileName", S256;
        /// `DelaySeconds`.
        pub delay_seconds: u32 => "DelaySeconds", ANY;
        /// `SuccessURL` (≤ 256).
        pub success_url: String => "SuccessURL", S256;
        /// `FailureURL` (≤ 256).
        pub failure_url: String => "FailureURL", S256;
    }
}

xml_struct! {
    /// `DownloadResponse`.
    pub struct DownloadResponse {
        /// `Status`.
        pub status: Status => "Status", ANY;
        /// `StartTime` (dateTime; [`UNKNOWN_TIME`] while pending).
        pub start_time: String => "StartTime", ANY;
        /// `CompleteTime` (dateTime; [`UNKNOWN_TIME`] while pending).
        pub complete_time: String => "CompleteTime", ANY;
    }
}

xml_struct! {
    /// `Reboot`.
    pub struct Reboot {
        /// `CommandKey` (≤ 32).
        pub command_key: String => "CommandKey", S32;
    }
}

xml_struct! {
    /// `GetQueuedTransfersResponse`.
    pub struct GetQueuedTransfersResponse {
        /// `TransferList` (≤ 16 entries).
        pub transfer_list: Vec<QueuedTransfer> => "TransferList",
            Spec::array("QueuedTransferStruct", "cwmp:QueuedTransferStruct").items(0, 16);
    }
}

xml_struct! {
    /// `ScheduleInform`.
    pub struct ScheduleInform {
        /// `DelaySeconds`.
        pub delay_seconds: u32 => "DelaySeconds", ANY;
        /// `CommandKey` (≤ 32).
        pub command_key: String => "CommandKey", S32;
    }
}

xml_struct! {
    /// `SetVouchers` (deprecated).
    pub struct SetVouchers {
        /// `VoucherList`: base64 vouchers (at least one).
        pub voucher_list: Vec<String> => "VoucherList",
            Spec::array("base64", "soap-enc:base64").items(1, usize::MAX);
    }
}

xml_struct! {
    /// `GetOptions` (deprecated).
    pub struct GetOptions {
        /// `OptionName` (≤ 64).
        pub option_name: String => "OptionName", S64;
    }
}

xml_struct! {
    /// `GetOptionsResponse` (deprecated).
    pub struct GetOptionsResponse {
        /// `OptionList`.
        pub option_list: Vec<OptionStruct> => "OptionList",
            Spec::array("OptionStruct", "cwmp:OptionStruct");
    }
}

xml_struct! {
    /// `Upload`.
    pub struct Upload {
        /// `CommandKey` (≤ 32).
        pub command_key: String => "CommandKey", S32;
        /// `FileType` (≤ 64), such as `1 Vendor Configuration File`.
        pub file_type: String => "FileType", S64;
        /// `URL` (≤ 256).
        pub url: String => "URL", S256;
        /// `Username` (≤ 256).
        pub username: String => "Username", S256;
        /// `Password` (≤ 256).
        pub password: String => "Password", S256;
        /// `DelaySeconds`.
        pub delay_seconds: u32 => "DelaySeconds", ANY;
    }
}

xml_struct! {
    /// `UploadResponse`.
    pub struct UploadResponse {
        /// `Status`.
        pub status: Status => "Status", ANY;
        /// `StartTime` (dateTime).
        pub start_time: String => "StartTime", ANY;
        /// `CompleteTime` (dateTime).
        pub complete_time: String => "CompleteTime", ANY;
    }
}

xml_struct! {
    /// `GetAllQueuedTransfersResponse`.
    pub struct GetAllQueuedTransfersResponse {
        /// `TransferList` (≤ 16 entries).
        pub transfer_list: Vec<AllQueuedTransfer> => "TransferList",
            Spec::array("AllQueuedTransferStruct", "cwmp:AllQueuedTransferStruct").items(0, 16);
    }
}

xml_struct! {
    /// `ScheduleDownload`.
    pub struct ScheduleDownload {
        /// `CommandKey` (≤ 32).
        pub command_key: String => "CommandKey", S32;
        /// `FileType` (≤ 64).
        pub file_type: String => "FileType", S64;
        /// `URL` (≤ 256).
        pub url: String => "URL", S256;
        /// `Username` (≤ 256).
        pub username: String => "Username", S256;
        /// `Password` (≤ 256).
        pub password: String => "Password", S256;
        /// `FileSize`.
        pub file_size: u32 => "FileSize", ANY;
        /// `TargetFileName` (≤ 256).
        pub target_file_name: String => "TargetFileName", S256;
        /// `TimeWindowList` (one or two windows).
        pub time_window_list: Vec<TimeWindow> => "TimeWindowList",
            Spec::array("TimeWindowStruct", "cwmp:TimeWindowStruct").items(1, 2);
    }
}

xml_struct! {
    /// `CancelTransfer`.
    pub struct CancelTransfer {
        /// `CommandKey` (≤ 32).
        pub command_key: String => "CommandKey", S32;
    }
}

xml_struct! {
    /// `ChangeDUState`.
    pub struct ChangeDuState {
        /// `Operations` (repeated element, at least one).
        pub operations: Vec<DuOperation> => "Operations", Spec::repeated(1);
        /// `CommandKey` (≤ 32, optional).
        pub command_key: Option<String> => "CommandKey", S32;
    }
}

// ---------------------------------------------------------------------------------------------
// ACS methods (the CPE calls them)

xml_struct! {
    /// `Inform`.
    pub struct Inform {
        /// `DeviceId`.
        pub device_id: DeviceId => "DeviceId", ANY;
        /// `Event` (≤ 64 entries).
        pub event: Vec<Event> => "Event",
            Spec::array("EventStruct", "cwmp:EventStruct").items(0, 64);
        /// `MaxEnvelopes` (1; ignored on receipt).
        pub max_envelopes: u32 => "MaxEnvelopes", ANY;
        /// `CurrentTime` (dateTime, as sent).
        pub current_time: String => "CurrentTime", ANY;
        /// `RetryCount`.
        pub retry_count: u32 => "RetryCount", ANY;
        /// `ParameterList`.
        pub parameter_list: Vec<ParameterValue> => "ParameterList", PARAMETER_VALUES;
    }
}

xml_struct! {
    /// `InformResponse`.
    pub struct InformResponse {
        /// `MaxEnvelopes` (1).
        pub max_envelopes: u32 => "MaxEnvelopes", ANY;
    }
}

xml_struct! {
    /// `TransferComplete`.
    pub struct TransferComplete {
        /// `CommandKey` (≤ 32).
        pub command_key: String => "CommandKey", S32;
        /// `FaultStruct`.
        pub fault_struct: TransferFault => "FaultStruct", ANY;
        /// `StartTime` (dateTime).
        pub start_time: String => "StartTime", ANY;
        /// `CompleteTime` (dateTime).
        pub complete_time: String => "CompleteTime", ANY;
    }
}

xml_struct! {
    /// `AutonomousTransferComplete`.
    pub struct AutonomousTransferComplete {
        /// `AnnounceURL` (≤ 1024).
        pub announce_url: String => "AnnounceURL", S1024;
        /// `TransferURL` (≤ 1024).
        pub transfer_url: String => "TransferURL", S1024;
        /// `IsDownload`.
        pub is_download: bool => "IsDownload", ANY;
        /// `FileType` (≤ 64).
        pub file_type: String => "FileType", S64;
        /// `FileSize`.
        pub file_size: u32 => "FileSize", ANY;
        /// `TargetFileName` (≤ 256).
        pub target_file_name: String => "TargetFileName", S256;
        /// `FaultStruct`.
        pub fault_struct: TransferFault => "FaultStruct", ANY;
        /// `StartTime` (dateTime).
        pub start_time: String => "StartTime", ANY;
        /// `CompleteTime` (dateTime).
        pub complete_time: String => "CompleteTime", ANY;
    }
}

xml_struct! {
    /// `Kicked` (deprecated).
    pub struct Kicked {
        /// `Command` (≤ 32).
        pub command: String => "Command", S32;
        /// `Referer` (≤ 64).
        pub referer: String => "Referer", S64;
        /// `Arg` (≤ 256).
        pub arg: String => "Arg", S256;
        /// `Next` (≤ 1024).
        pub next: String => "Next", S1024;
    }
}

xml_struct! {
    /// `KickedResponse` (deprecated).
    pub struct KickedResponse {
        /// `NextURL` (≤ 1024).
        pub next_url: String => "NextURL", S1024;
    }
}

xml_struct! {
    /// `RequestDownload`.
    pub struct RequestDownload {
        /// `FileType` (≤ 64).
        pub file_type: String => "FileType", S64;
        /// `FileTypeArg` (≤ 16 entries).
        pub file_type_arg: Vec<Arg> => "FileTypeArg",
            Spec::array("ArgStruct", "cwmp:ArgStruct").items(0, 16);
    }
}

xml_struct! {
    /// `DUStateChangeComplete`.
    pub struct DuStateChangeComplete {
        /// `Results` (repeated element, at least one).
        pub results: Vec<OpResult> => "Results", Spec::repeated(1);
        /// `CommandKey` (≤ 32, optional).
        pub command_key: Option<String> => "CommandKey", S32;
    }
}

xml_struct! {
    /// `AutonomousDUStateChangeComplete`.
    pub struct AutonomousDuStateChangeComplete {
        /// `Results` (repeated element, at least one).
        pub results: Vec<AutonomousOpResult> => "Results", Spec::repeated(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_round_trip_as_text() {
        for (code, text) in &EVENT_CODES {
            assert_eq!(code.as_str(), *text);
            assert_eq!(&EventCode::from_wire(text), code);
        }
        assert_eq!(
            EventCode::from_wire("X 00D09E BOOT"),
            EventCode::Other("X 00D09E BOOT".into())
        );
        assert!(EventCode::MDownload.is_multiple());
        assert!(!EventCode::Boot.is_multiple());
    }

    #[test]
    fn int_enums() {
        for v in 0..=6 {
            assert_eq!(
                Notification::from_value(v).map(Notification::value),
                Some(v)
            );
        }
        assert_eq!(Notification::from_value(7), None);
        assert_eq!(Status::from_value(1), Some(Status::Pending));
        assert_eq!(TransferState::from_value(0), None);
        assert_eq!(
            DeploymentUnitState::from_wire("Failed"),
            Some(DeploymentUnitState::Failed)
        );
        assert_eq!(DeploymentUnitState::Installed.as_str(), "Installed");
    }

    #[test]
    fn value_type_names() {
        assert_eq!(ValueType::Base64.xsi_type(), "xsd:base64Binary");
        assert_eq!(ValueType::Other("cwmp:X".into()).xsi_type(), "cwmp:X");
        assert_eq!(ValueType::from_local(b"base64"), Some(ValueType::Base64));
        assert_eq!(ValueType::from_local(b"anyURI"), None);
    }

    /// A declared `soap-enc:arrayType` size pre-sizes the list exactly, but a false one never
    /// reserves more than the rest of the input could hold, nor beyond `max_array_entries`.
    #[test]
    fn array_type_presizes_within_bounds() {
        let entry = "<ParameterValueStruct><Name>a</Name><Value>1</Value></ParameterValueStruct>";
        let decode = |declared: &str, entries: usize, limits: crate::codec::Limits| {
            let xml = format!(
                r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Body><cwmp:GetParameterValuesResponse><ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[{declared}]">{}</ParameterList></cwmp:GetParameterValuesResponse></soap-env:Body></soap-env:Envelope>"#,
                entry.repeat(entries)
            );
            let envelope = crate::codec::Envelope::decode(xml.as_bytes(), &limits).unwrap();
            let crate::codec::Body::GetParameterValuesResponse(response) = envelope.body else {
                panic!("not a GetParameterValuesResponse: {envelope:?}");
            };
            assert_eq!(response.parameter_list.len(), entries);
            response.parameter_list.capacity()
        };
        let limits = crate::codec::Limits::default();
        assert_eq!(decode("0040", 40, limits), 40, "padded size, exact");
        // What follows the start tag of one entry is under 200 bytes: at most 50 `<a/>`s.
        assert!(decode("4000", 1, limits) <= 50);
        assert_eq!(decode("3", 0, limits.with_max_array_entries(2)), 2);
        assert_eq!(decode("2,2", 0, limits), 0, "two dimensions: no hint");
        assert_eq!(decode("x", 0, limits), 0, "no number: no hint");
    }

    /// The decoder caches `xsi:type` lookups per namespace scope: a rebound prefix must not
    /// reuse an entry, and attribute lists beyond the cache's size still resolve.
    #[test]
    fn xsi_types_follow_their_namespace_scope() {
        let pvs = |extra: &str, name: &str, ty: &str| {
            format!(
                "<ParameterValueStruct{extra}><Name>{name}</Name>\
                 <Value xsi:type=\"{ty}\">1</Value></ParameterValueStruct>"
            )
        };
        let mut list = pvs("", "a", "xsd:int") + &pvs("", "b", "xsd:string");
        list += &pvs(r#" xmlns:xsd="urn:vendor""#, "c", "xsd:int");
        list += &pvs("", "d", "xsd:int");
        for i in 0..20 {
            list += &pvs("", &format!("e{i}"), &format!("cwmp:X_{i}"));
        }
        list += &pvs("", "f", "xsd:string");
        list += &pvs("", "g", "xsd:int");
        let xml = format!(
            r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Body><cwmp:GetParameterValuesResponse><ParameterList>{list}</ParameterList></cwmp:GetParameterValuesResponse></soap-env:Body></soap-env:Envelope>"#
        );
        let envelope =
            crate::codec::Envelope::decode(xml.as_bytes(), &crate::codec::Limits::default())
                .unwrap();
        let crate::codec::Body::GetParameterValuesResponse(response) = envelope.body else {
            panic!("not a GetParameterValuesResponse: {envelope:?}");
        };
        let types: Vec<_> = response
            .parameter_list
            .into_iter()
            .map(|p| p.value_type)
            .collect();
        let mut expected = vec![
            Some(ValueType::Int),
            Some(ValueType::String),
            Some(ValueType::Other("xsd:int".into())),
            Some(ValueType::Int),
        ];
        expected.extend((0..20).map(|i| Some(ValueType::Other(format!("cwmp:X_{i}")))));
        expected.extend([Some(ValueType::String), Some(ValueType::Int)]);
        assert_eq!(types, expected);
    }
}

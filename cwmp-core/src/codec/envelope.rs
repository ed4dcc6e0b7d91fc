//! The SOAP envelope: header entries, the body (one RPC or a fault), and the fault structure.

use crate::codec::decode::{El, Fail, Ns, Parser};
use crate::codec::encode::{Writer, is_ncname};
use crate::codec::limits::Limits;
use crate::codec::messages::{
    AddObject, AddObjectResponse, AutonomousDuStateChangeComplete, AutonomousTransferComplete,
    CancelTransfer, ChangeDuState, CwmpFault, DeleteObject, DeleteObjectResponse, Download,
    DownloadResponse, DuStateChangeComplete, GetAllQueuedTransfersResponse, GetOptions,
    GetOptionsResponse, GetParameterAttributes, GetParameterAttributesResponse, GetParameterNames,
    GetParameterNamesResponse, GetParameterValues, GetParameterValuesResponse,
    GetQueuedTransfersResponse, GetRpcMethodsResponse, Inform, InformResponse, Kicked,
    KickedResponse, Reboot, RequestDownload, ScheduleDownload, ScheduleInform,
    SetParameterAttributes, SetParameterValues, SetParameterValuesResponse, SetVouchers,
    TransferComplete, Upload, UploadResponse,
};
use crate::codec::version::{CwmpNamespace, CwmpVersion};
use crate::codec::xml::{Spec, Xml, parse_bool};
use crate::error::{CodecError, DecodeError, EncodeProblem, shorten};

/// One CWMP SOAP envelope: the namespace it uses, its header entries and its body.
///
/// ```
/// use cwmp_core::codec::{Body, CwmpNamespace, Envelope, Limits, Reboot};
///
/// let env = Envelope::new(
///     CwmpNamespace::V1_0,
///     Body::Reboot(Reboot { command_key: "reboot-1".into() }),
/// )
/// .with_id("42");
/// let mut wire = Vec::new();
/// env.encode(&mut wire)?;
/// assert_eq!(Envelope::decode(&wire, &Limits::default())?, env);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The CWMP namespace of the RPC. Decoding takes it from the body's element (or the
    /// `detail/Fault` of a fault), else from the header entries, else from a declaration on
    /// the `Envelope` element.
    pub namespace: CwmpNamespace,
    /// The header entries.
    pub header: Header,
    /// The body.
    pub body: Body,
}

impl Envelope {
    /// An envelope without header entries.
    #[must_use]
    pub fn new(namespace: CwmpNamespace, body: Body) -> Self {
        Self {
            namespace,
            header: Header::default(),
            body,
        }
    }

    /// Sets the `cwmp:ID` header.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.header.id = Some(id.into());
        self
    }

    /// Decodes an envelope from the bytes of an HTTP body.
    ///
    /// The size bound is checked before parsing, then UTF-8 (a leading BOM is skipped), then
    /// the XML is streamed with every [`Limits`] bound applied.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`], whose [`cpe_fault`](DecodeError::cpe_fault) /
    /// [`acs_fault`](DecodeError::acs_fault) give the CWMP fault to answer with.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        crate::codec::decode::decode::<false>(input, limits)
    }

    /// Decodes an envelope as a CPE reads it: as [`decode`](Self::decode), except that an RPC
    /// only a CPE sends (`Inform`, `TransferComplete`, the responses to the ACS's methods, …)
    /// is skipped like an unknown one and comes back as [`Body::Unknown`], which a CPE
    /// answers as any method it does not have (fault 9000). A CPE's program then holds no
    /// reader for those RPCs.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode).
    pub fn decode_for_cpe(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        crate::codec::decode::decode::<true>(input, limits)
    }

    /// Appends the envelope as XML to `out`. On error nothing is appended.
    ///
    /// # Errors
    ///
    /// [`CodecError::InvalidForEncoding`] if a value cannot be written as schema-valid XML: a
    /// string over its XSD `maxLength`, an array outside its `minOccurs`/`maxOccurs`, a fault
    /// code outside its range, a character XML cannot carry, or a
    /// [`Body::Unknown`] name that is not an `NCName`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        let result = write_envelope(self, &mut Writer::new(out));
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

/// The SOAP header entries CWMP defines.
///
/// `ID` and `HoldRequests` are written with `soap-env:mustUnderstand="1"` (fixed by the XSD),
/// as is `UseCWMPVersion`. Unknown header entries are skipped on decode unless they carry
/// `mustUnderstand="1"`, which fails the message ([`CodecError::MustUnderstand`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// `cwmp:ID`: correlates a request and its response (any string).
    pub id: Option<String>,
    /// `cwmp:HoldRequests` (ACS → CPE): the CPE must not send requests in its next POST.
    pub hold_requests: Option<bool>,
    /// `cwmp:NoMoreRequests`: deprecated since Amendment 1 and absent from every schema;
    /// decoded because real CPEs still send it, ignored by the encoder (never sent).
    pub no_more_requests: Option<bool>,
    /// `cwmp:SessionTimeout` (CPE → ACS in the Inform, CWMP 1.3): seconds.
    pub session_timeout: Option<u32>,
    /// `cwmp:SupportedCWMPVersions` (CPE → ACS in the Inform, CWMP 1.4).
    pub supported_cwmp_versions: Option<Vec<CwmpVersion>>,
    /// `cwmp:UseCWMPVersion` (ACS → CPE in the InformResponse, CWMP 1.4).
    pub use_cwmp_version: Option<CwmpVersion>,
}

impl Header {
    /// Whether there is any entry the encoder writes.
    fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.hold_requests.is_none()
            && self.session_timeout.is_none()
            && self.supported_cwmp_versions.is_none()
            && self.use_cwmp_version.is_none()
    }
}

/// The `faultcode` of a SOAP fault (a QName in the SOAP envelope namespace).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SoapFaultCode {
    /// `Client`: the message was wrong.
    Client,
    /// `MustUnderstand`.
    MustUnderstand,
    /// `Server`: the receiver failed.
    Server,
    /// `VersionMismatch`.
    VersionMismatch,
    /// Any other value, verbatim.
    Other(String),
}

impl SoapFaultCode {
    /// The fault code type of a CWMP fault code (FACTS §11): `Client` for 9003, 9005–9008,
    /// 9021–9023, 9025, 9026, 9028–9032 and 8003; `Server` otherwise. The split of 9021–9032
    /// and of the ACS codes is from memory of TR-069 Amendment 3 and should be re-checked.
    #[must_use]
    pub fn for_cwmp_code(code: u32) -> Self {
        match code {
            9003 | 9005..=9008 | 9021..=9023 | 9025 | 9026 | 9028..=9032 | 8003 => Self::Client,
            _ => Self::Server,
        }
    }

    fn local(&self) -> Option<&'static str> {
        Some(match self {
            Self::Client => "Client",
            Self::MustUnderstand => "MustUnderstand",
            Self::Server => "Server",
            Self::VersionMismatch => "VersionMismatch",
            Self::Other(_) => return None,
        })
    }

    fn from_wire(text: &str) -> Self {
        let t = text.trim();
        let local = t.rsplit_once(':').map_or(t, |(_, l)| l);
        match local {
            "Client" => Self::Client,
            "MustUnderstand" => Self::MustUnderstand,
            "Server" => Self::Server,
            "VersionMismatch" => Self::VersionMismatch,
            _ => Self::Other(text.to_owned()),
        }
    }
}

/// A SOAP fault, carrying the CWMP fault in its `detail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// `faultcode`.
    pub faultcode: SoapFaultCode,
    /// `faultstring` (`CWMP fault` for CWMP faults).
    pub faultstring: String,
    /// `detail/cwmp:Fault`; `None` for a bare SOAP fault.
    pub detail: Option<CwmpFault>,
}

impl Fault {
    /// A CWMP fault: `faultcode` from [`SoapFaultCode::for_cwmp_code`], `faultstring`
    /// `CWMP fault`, and `detail` with `code` and `string`.
    #[must_use]
    pub fn cwmp(code: u32, string: impl Into<String>) -> Self {
        Self {
            faultcode: SoapFaultCode::for_cwmp_code(code),
            faultstring: "CWMP fault".to_owned(),
            detail: Some(CwmpFault {
                fault_code: code,
                fault_string: string.into(),
                set_parameter_values_fault: Vec::new(),
            }),
        }
    }

    /// The CWMP fault code, if there is a detail.
    #[must_use]
    pub fn code(&self) -> Option<u32> {
        self.detail.as_ref().map(|d| d.fault_code)
    }
}

/// The standard name of a CWMP fault code (FACTS §11), for `FaultString`.
#[must_use]
pub fn fault_name(code: u32) -> Option<&'static str> {
    Some(match code {
        9000 | 8000 => "Method not supported",
        9001 | 8001 => "Request denied (no reason specified)",
        9002 | 8002 => "Internal error",
        9003 | 8003 => "Invalid arguments",
        9004 | 8004 => "Resources exceeded",
        9005 => "Invalid parameter name",
        9006 => "Invalid parameter type",
        9007 => "Invalid parameter value",
        9008 => "Attempt to set a non-writable parameter",
        9009 => "Notification request rejected",
        9010 => "File transfer failure",
        9011 => "Upload failure",
        9012 => "File transfer server authentication failure",
        9013 => "Unsupported protocol for file transfer",
        9014 => "File transfer failure: unable to join multicast group",
        9015 => "File transfer failure: unable to contact file server",
        9016 => "File transfer failure: unable to access file",
        9017 => "File transfer failure: unable to complete download",
        9018 => "File transfer failure: file corrupted",
        9019 => "File transfer failure: file authentication failure",
        9020 => "File transfer failure: unable to complete download within specified time windows",
        9021 => "Cancelation of file transfer not permitted in current transfer state",
        9022 => "Invalid UUID format",
        9023 => "Unknown Execution Environment",
        9024 => "Disabled Execution Environment",
        9025 => "Deployment Unit to Execution Environment mismatch",
        9026 => "Duplicate Deployment Unit",
        9027 => "System resources exceeded",
        9028 => "Unknown Deployment Unit",
        9029 => "Invalid Deployment Unit state",
        9030 => "Invalid Deployment Unit update: downgrade not permitted",
        9031 => "Invalid Deployment Unit update: version not specified",
        9032 => "Invalid Deployment Unit update: version already exists",
        8005 => "Retry request",
        8006 => "ACS version incompatible with CPE",
        _ => return None,
    })
}

/// Declares [`Body`] with its readers and writers from the list of RPC elements.
macro_rules! body {
    (
        with_arguments { $( $(#[$dm:meta])* $dv:ident($dt:ty) = $dn:literal, )* }
        without_arguments { $( $(#[$um:meta])* $uv:ident = $un:literal, )* }
    ) => {
        /// The body of an envelope: one RPC request or response of either direction, a SOAP
        /// fault, or an RPC this codec does not know.
        ///
        /// Variants with arguments come first, then those without, each group in alphabetical
        /// order. The set is complete for cwmp-1-0 … cwmp-1-4 (the CWMP schemas are frozen),
        /// so the enum is exhaustive and a session can match every message.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Body {
            $( $(#[$dm])* $dv($dt), )*
            $( $(#[$um])* $uv, )*
            /// A SOAP fault (`soap-env:Fault`).
            Fault(Fault),
            /// An RPC element this codec does not know (in a CWMP namespace or any other),
            /// with its local name; its content is skipped. The session answers fault 9000
            /// (CPE) or 8000 (ACS). The encoder writes it as an empty element in the CWMP
            /// namespace, and refuses a name this codec knows (which would decode as that RPC).
            Unknown {
                /// The element's local name.
                name: String,
            },
        }

        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy)]
        enum Rpc { $( $dv, )* $( $uv, )* }

        impl Rpc {
            /// The RPCs only a CPE sends, which a CPE never reads.
            const fn sent_by_cpe_only(self) -> bool {
                matches!(
                    self,
                    Self::AddObjectResponse
                        | Self::AutonomousDuStateChangeComplete
                        | Self::AutonomousTransferComplete
                        | Self::CancelTransferResponse
                        | Self::ChangeDuStateResponse
                        | Self::DeleteObjectResponse
                        | Self::DownloadResponse
                        | Self::DuStateChangeComplete
                        | Self::FactoryResetResponse
                        | Self::GetAllQueuedTransfersResponse
                        | Self::GetOptionsResponse
                        | Self::GetParameterAttributesResponse
                        | Self::GetParameterNamesResponse
                        | Self::GetParameterValuesResponse
                        | Self::GetQueuedTransfersResponse
                        | Self::Inform
                        | Self::Kicked
                        | Self::RebootResponse
                        | Self::RequestDownload
                        | Self::ScheduleDownloadResponse
                        | Self::ScheduleInformResponse
                        | Self::SetParameterAttributesResponse
                        | Self::SetParameterValuesResponse
                        | Self::SetVouchersResponse
                        | Self::TransferComplete
                        | Self::UploadResponse
                )
            }

            fn from_local(local: &[u8]) -> Option<Self> {
                $( if local == $dn.as_bytes() { return Some(Self::$dv); } )*
                $( if local == $un.as_bytes() { return Some(Self::$uv); } )*
                None
            }
        }

        impl Body {
            /// The RPC element name (`Inform`, `GetRPCMethodsResponse`, `Fault`, …).
            #[must_use]
            pub fn name(&self) -> &str {
                match self {
                    $( Self::$dv(_) => $dn, )*
                    $( Self::$uv => $un, )*
                    Self::Fault(_) => "Fault",
                    Self::Unknown { name } => name,
                }
            }

            /// Reads a known RPC element; when `CPE`, one only a CPE sends as an unknown one
            /// (the guards are constants, so that the CPE's reader holds none of their code).
            fn read_rpc<'a, const CPE: bool>(
                p: &mut Parser<'a>,
                el: El<'a>,
                rpc: Rpc,
            ) -> Result<Self, Fail> {
                match rpc {
                    $( Rpc::$dv if !(CPE && Rpc::$dv.sent_by_cpe_only()) => <$dt>::read_children(p, el)
                        .map(Self::$dv)
                        .map_err(|e| e.at($dn)), )*
                    $( Rpc::$uv if !(CPE && Rpc::$uv.sent_by_cpe_only()) => {
                        p.skip(el).map(|()| Self::$uv)
                    } )*
                    _ => read_unknown(p, el),
                }
            }

            /// Writes the RPC element (or the fault).
            fn write_rpc(&self, w: &mut Writer<'_>) -> Result<(), CodecError> {
                match self {
                    $( Self::$dv(v) => {
                        w.open(concat!("cwmp:", $dn));
                        v.write_children(w)?;
                        w.close(concat!("cwmp:", $dn));
                    } )*
                    $( Self::$uv => {
                        w.open(concat!("cwmp:", $un));
                        w.close(concat!("cwmp:", $un));
                    } )*
                    Self::Fault(f) => write_fault(f, w)?,
                    Self::Unknown { name } => {
                        if !is_ncname(name) {
                            return Err(CodecError::InvalidForEncoding {
                                element: "Body",
                                problem: EncodeProblem::InvalidName,
                            });
                        }
                        // A known RPC's name (an `Inform` read from a foreign namespace) would
                        // come back as that RPC: the typed variant must be used instead.
                        if name == "Fault" || Rpc::from_local(name.as_bytes()).is_some() {
                            return Err(CodecError::InvalidForEncoding {
                                element: "Body",
                                problem: EncodeProblem::KnownName,
                            });
                        }
                        w.raw("<cwmp:");
                        w.raw(name);
                        w.raw("></cwmp:");
                        w.raw(name);
                        w.raw(">");
                    }
                }
                Ok(())
            }
        }

        $( impl From<$dt> for Body {
            fn from(value: $dt) -> Self {
                Self::$dv(value)
            }
        } )*
    };
}

body! {
    with_arguments {
        /// `AddObject` (ACS → CPE).
        AddObject(AddObject) = "AddObject",
        /// `AddObjectResponse` (CPE → ACS).
        AddObjectResponse(AddObjectResponse) = "AddObjectResponse",
        /// `AutonomousDUStateChangeComplete` (CPE → ACS, 1.2).
        AutonomousDuStateChangeComplete(AutonomousDuStateChangeComplete) =
            "AutonomousDUStateChangeComplete",
        /// `AutonomousTransferComplete` (CPE → ACS, 1.1).
        AutonomousTransferComplete(AutonomousTransferComplete) = "AutonomousTransferComplete",
        /// `CancelTransfer` (ACS → CPE, 1.2).
        CancelTransfer(CancelTransfer) = "CancelTransfer",
        /// `ChangeDUState` (ACS → CPE, 1.2).
        ChangeDuState(ChangeDuState) = "ChangeDUState",
        /// `DeleteObject` (ACS → CPE).
        DeleteObject(DeleteObject) = "DeleteObject",
        /// `DeleteObjectResponse` (CPE → ACS).
        DeleteObjectResponse(DeleteObjectResponse) = "DeleteObjectResponse",
        /// `Download` (ACS → CPE).
        Download(Download) = "Download",
        /// `DownloadResponse` (CPE → ACS).
        DownloadResponse(DownloadResponse) = "DownloadResponse",
        /// `DUStateChangeComplete` (CPE → ACS, 1.2).
        DuStateChangeComplete(DuStateChangeComplete) = "DUStateChangeComplete",
        /// `GetAllQueuedTransfersResponse` (CPE → ACS, 1.1).
        GetAllQueuedTransfersResponse(GetAllQueuedTransfersResponse) =
            "GetAllQueuedTransfersResponse",
        /// `GetOptions` (ACS → CPE, deprecated).
        GetOptions(GetOptions) = "GetOptions",
        /// `GetOptionsResponse` (CPE → ACS, deprecated).
        GetOptionsResponse(GetOptionsResponse) = "GetOptionsResponse",
        /// `GetParameterAttributes` (ACS → CPE).
        GetParameterAttributes(GetParameterAttributes) = "GetParameterAttributes",
        /// `GetParameterAttributesResponse` (CPE → ACS).
        GetParameterAttributesResponse(GetParameterAttributesResponse) =
            "GetParameterAttributesResponse",
        /// `GetParameterNames` (ACS → CPE).
        GetParameterNames(GetParameterNames) = "GetParameterNames",
        /// `GetParameterNamesResponse` (CPE → ACS).
        GetParameterNamesResponse(GetParameterNamesResponse) = "GetParameterNamesResponse",
        /// `GetParameterValues` (ACS → CPE).
        GetParameterValues(GetParameterValues) = "GetParameterValues",
        /// `GetParameterValuesResponse` (CPE → ACS).
        GetParameterValuesResponse(GetParameterValuesResponse) = "GetParameterValuesResponse",
        /// `GetQueuedTransfersResponse` (CPE → ACS, deprecated).
        GetQueuedTransfersResponse(GetQueuedTransfersResponse) = "GetQueuedTransfersResponse",
        /// `GetRPCMethodsResponse` (either direction).
        GetRpcMethodsResponse(GetRpcMethodsResponse) = "GetRPCMethodsResponse",
        /// `Inform` (CPE → ACS).
        Inform(Inform) = "Inform",
        /// `InformResponse` (ACS → CPE).
        InformResponse(InformResponse) = "InformResponse",
        /// `Kicked` (CPE → ACS, deprecated).
        Kicked(Kicked) = "Kicked",
        /// `KickedResponse` (ACS → CPE, deprecated).
        KickedResponse(KickedResponse) = "KickedResponse",
        /// `Reboot` (ACS → CPE).
        Reboot(Reboot) = "Reboot",
        /// `RequestDownload` (CPE → ACS).
        RequestDownload(RequestDownload) = "RequestDownload",
        /// `ScheduleDownload` (ACS → CPE, 1.2).
        ScheduleDownload(ScheduleDownload) = "ScheduleDownload",
        /// `ScheduleInform` (ACS → CPE).
        ScheduleInform(ScheduleInform) = "ScheduleInform",
        /// `SetParameterAttributes` (ACS → CPE).
        SetParameterAttributes(SetParameterAttributes) = "SetParameterAttributes",
        /// `SetParameterValues` (ACS → CPE).
        SetParameterValues(SetParameterValues) = "SetParameterValues",
        /// `SetParameterValuesResponse` (CPE → ACS).
        SetParameterValuesResponse(SetParameterValuesResponse) = "SetParameterValuesResponse",
        /// `SetVouchers` (ACS → CPE, deprecated).
        SetVouchers(SetVouchers) = "SetVouchers",
        /// `TransferComplete` (CPE → ACS).
        TransferComplete(TransferComplete) = "TransferComplete",
        /// `Upload` (ACS → CPE).
        Upload(Upload) = "Upload",
        /// `UploadResponse` (CPE → ACS).
        UploadResponse(UploadResponse) = "UploadResponse",
    }
    without_arguments {
        /// `AutonomousDUStateChangeCompleteResponse` (ACS → CPE, 1.2).
        AutonomousDuStateChangeCompleteResponse = "AutonomousDUStateChangeCompleteResponse",
        /// `AutonomousTransferCompleteResponse` (ACS → CPE, 1.1).
        AutonomousTransferCompleteResponse = "AutonomousTransferCompleteResponse",
        /// `CancelTransferResponse` (CPE → ACS, 1.2).
        CancelTransferResponse = "CancelTransferResponse",
        /// `ChangeDUStateResponse` (CPE → ACS, 1.2).
        ChangeDuStateResponse = "ChangeDUStateResponse",
        /// `DUStateChangeCompleteResponse` (ACS → CPE, 1.2).
        DuStateChangeCompleteResponse = "DUStateChangeCompleteResponse",
        /// `FactoryReset` (ACS → CPE).
        FactoryReset = "FactoryReset",
        /// `FactoryResetResponse` (CPE → ACS).
        FactoryResetResponse = "FactoryResetResponse",
        /// `GetAllQueuedTransfers` (ACS → CPE, 1.1).
        GetAllQueuedTransfers = "GetAllQueuedTransfers",
        /// `GetQueuedTransfers` (ACS → CPE, deprecated).
        GetQueuedTransfers = "GetQueuedTransfers",
        /// `GetRPCMethods` (either direction).
        GetRpcMethods = "GetRPCMethods",
        /// `RebootResponse` (CPE → ACS).
        RebootResponse = "RebootResponse",
        /// `RequestDownloadResponse` (ACS → CPE).
        RequestDownloadResponse = "RequestDownloadResponse",
        /// `ScheduleDownloadResponse` (CPE → ACS, 1.2).
        ScheduleDownloadResponse = "ScheduleDownloadResponse",
        /// `ScheduleInformResponse` (CPE → ACS).
        ScheduleInformResponse = "ScheduleInformResponse",
        /// `SetParameterAttributesResponse` (CPE → ACS).
        SetParameterAttributesResponse = "SetParameterAttributesResponse",
        /// `SetVouchersResponse` (CPE → ACS, deprecated).
        SetVouchersResponse = "SetVouchersResponse",
        /// `TransferCompleteResponse` (ACS → CPE).
        TransferCompleteResponse = "TransferCompleteResponse",
    }
}

impl From<Fault> for Body {
    fn from(value: Fault) -> Self {
        Self::Fault(value)
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

const SOAP_ENV_DECLS: &str = concat!(
    "<soap-env:Envelope",
    " xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"",
    " xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\"",
    " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"",
    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
    " xmlns:cwmp=\""
);

/// Reads the envelope; `CPE`: as a CPE reads it ([`Envelope::decode_for_cpe`]).
pub(crate) fn read_envelope<const CPE: bool>(p: &mut Parser<'_>) -> Result<Envelope, Fail> {
    let root = p.root()?;
    if p.ns(&root) != Ns::SoapEnv || root.local() != b"Envelope" {
        return Err(p.fail(CodecError::NotEnvelope));
    }
    let declared = p.declared_cwmp_namespace();
    let envelope =
        read_envelope_children::<CPE>(p, root, declared).map_err(|e| e.at("Envelope"))?;
    p.finish()?;
    Ok(envelope)
}

fn read_envelope_children<'a, const CPE: bool>(
    p: &mut Parser<'a>,
    root: El<'a>,
    declared: Option<CwmpNamespace>,
) -> Result<Envelope, Fail> {
    let mut header: Option<(Header, Option<CwmpNamespace>)> = None;
    let mut body: Option<(Body, Option<CwmpNamespace>)> = None;
    if !root.is_empty() {
        while let Some(child) = p.child()? {
            let soap = p.ns(&child) == Ns::SoapEnv;
            if soap && child.local() == b"Header" {
                if header.is_some() {
                    return Err(p.fail(CodecError::DuplicateElement { name: "Header" }));
                }
                header = Some(read_header(p, child).map_err(|e| e.at("Header"))?);
            } else if soap && child.local() == b"Body" {
                if body.is_some() {
                    return Err(p.fail(CodecError::DuplicateElement { name: "Body" }));
                }
                body = Some(read_body::<CPE>(p, child).map_err(|e| e.at("Body"))?);
            } else {
                p.skip(child)?;
            }
        }
    }
    let (body, body_ns) =
        body.ok_or_else(|| p.fail(CodecError::MissingElement { name: "Body" }))?;
    let (header, header_ns) = header.unwrap_or_default();
    let namespace = body_ns
        .or(header_ns)
        .or(declared)
        .ok_or_else(|| p.fail(CodecError::NoCwmpNamespace))?;
    Ok(Envelope {
        namespace,
        header,
        body,
    })
}

#[derive(Clone, Copy)]
enum HeaderEntry {
    HoldRequests,
    Id,
    NoMoreRequests,
    SessionTimeout,
    SupportedCwmpVersions,
    UseCwmpVersion,
}

fn read_header<'a>(
    p: &mut Parser<'a>,
    el: El<'a>,
) -> Result<(Header, Option<CwmpNamespace>), Fail> {
    let mut header = Header::default();
    let mut namespace = None;
    if el.is_empty() {
        return Ok((header, namespace));
    }
    while let Some(child) = p.child()? {
        let entry = match p.ns(&child) {
            Ns::Cwmp(ns) => {
                namespace.get_or_insert(ns);
                match child.local() {
                    b"ID" => Some(HeaderEntry::Id),
                    b"HoldRequests" => Some(HeaderEntry::HoldRequests),
                    b"NoMoreRequests" => Some(HeaderEntry::NoMoreRequests),
                    b"SessionTimeout" => Some(HeaderEntry::SessionTimeout),
                    b"SupportedCWMPVersions" => Some(HeaderEntry::SupportedCwmpVersions),
                    b"UseCWMPVersion" => Some(HeaderEntry::UseCwmpVersion),
                    _ => None,
                }
            }
            _ => None,
        };
        let Some(entry) = entry else {
            let must_understand = p
                .with_attr(&child, Ns::SoapEnv, b"mustUnderstand", |_, v| {
                    matches!(v.trim_ascii(), b"1" | b"true")
                })
                .unwrap_or(false);
            if must_understand {
                return Err(p.fail(CodecError::MustUnderstand {
                    name: shorten(&String::from_utf8_lossy(child.local())),
                }));
            }
            p.skip(child)?;
            continue;
        };
        read_header_entry(p, child, entry, &mut header)?;
    }
    Ok((header, namespace))
}

fn read_header_entry<'a>(
    p: &mut Parser<'a>,
    el: El<'a>,
    entry: HeaderEntry,
    header: &mut Header,
) -> Result<(), Fail> {
    let name = match entry {
        HeaderEntry::HoldRequests => "HoldRequests",
        HeaderEntry::Id => "ID",
        HeaderEntry::NoMoreRequests => "NoMoreRequests",
        HeaderEntry::SessionTimeout => "SessionTimeout",
        HeaderEntry::SupportedCwmpVersions => "SupportedCWMPVersions",
        HeaderEntry::UseCwmpVersion => "UseCWMPVersion",
    };
    let result = (|| {
        let present = match entry {
            HeaderEntry::HoldRequests => header.hold_requests.is_some(),
            HeaderEntry::Id => header.id.is_some(),
            HeaderEntry::NoMoreRequests => header.no_more_requests.is_some(),
            HeaderEntry::SessionTimeout => header.session_timeout.is_some(),
            HeaderEntry::SupportedCwmpVersions => header.supported_cwmp_versions.is_some(),
            HeaderEntry::UseCwmpVersion => header.use_cwmp_version.is_some(),
        };
        if present {
            return Err(p.fail(CodecError::DuplicateElement { name }));
        }
        match entry {
            HeaderEntry::Id => {
                // The parser keeps the ID for a later error's `id`, borrowed when it can be.
                let id = p.text(el)?;
                header.id = Some(id.clone().into_owned());
                p.id = Some(id);
            }
            HeaderEntry::HoldRequests => {
                header.hold_requests = Some(bool::read(p, el, &Spec::ANY)?)
            }
            HeaderEntry::NoMoreRequests => {
                let text = p.text(el)?;
                header.no_more_requests =
                    Some(parse_bool(&text).ok_or_else(|| p.invalid("boolean", &text))?);
            }
            HeaderEntry::SessionTimeout => {
                header.session_timeout = Some(u32::read(p, el, &Spec::ANY)?);
            }
            HeaderEntry::SupportedCwmpVersions => {
                let text = p.text(el)?;
                let list = CwmpVersion::parse_list(&text)
                    .map_err(|_| p.invalid("CWMP version list", &text))?;
                header.supported_cwmp_versions = Some(list);
            }
            HeaderEntry::UseCwmpVersion => {
                let text = p.text(el)?;
                let version = text
                    .trim()
                    .parse()
                    .map_err(|_| p.invalid("CWMP version", &text))?;
                header.use_cwmp_version = Some(version);
            }
        }
        Ok(())
    })();
    result.map_err(|e: Fail| e.at(name))
}

fn read_body<'a, const CPE: bool>(
    p: &mut Parser<'a>,
    el: El<'a>,
) -> Result<(Body, Option<CwmpNamespace>), Fail> {
    if el.is_empty() {
        return Err(p.fail(CodecError::EmptyBody));
    }
    let first = p.child()?.ok_or_else(|| p.fail(CodecError::EmptyBody))?;
    let result = match p.ns(&first) {
        Ns::SoapEnv if first.local() == b"Fault" => {
            let (fault, ns) = read_fault(p, first).map_err(|e| e.at("Fault"))?;
            (Body::Fault(fault), ns)
        }
        ns => {
            let cwmp = match ns {
                Ns::Cwmp(n) => Some(n),
                _ => None,
            };
            match cwmp.and_then(|_| Rpc::from_local(first.local())) {
                Some(rpc) => (Body::read_rpc::<CPE>(p, first, rpc)?, cwmp),
                None => (read_unknown(p, first)?, cwmp),
            }
        }
    };
    if let Some(extra) = p.child()? {
        return Err(p.fail(CodecError::UnexpectedElement {
            name: shorten(&String::from_utf8_lossy(extra.local())),
        }));
    }
    Ok(result)
}

/// Skips an RPC element this reader does not know, keeping its name.
fn read_unknown<'a>(p: &mut Parser<'a>, el: El<'a>) -> Result<Body, Fail> {
    let name = String::from_utf8_lossy(el.local()).into_owned();
    p.skip(el)?;
    Ok(Body::Unknown { name })
}

fn read_fault<'a>(p: &mut Parser<'a>, el: El<'a>) -> Result<(Fault, Option<CwmpNamespace>), Fail> {
    let mut faultcode = None;
    let mut faultstring = None;
    let mut detail = None;
    let mut namespace = None;
    if !el.is_empty() {
        while let Some(child) = p.child()? {
            match child.local() {
                b"faultcode" => {
                    let text = p.text(child).map_err(|e| e.at("faultcode"))?;
                    faultcode = Some(SoapFaultCode::from_wire(&text));
                }
                b"faultstring" => {
                    faultstring =
                        Some(String::read(p, child, &Spec::ANY).map_err(|e| e.at("faultstring"))?);
                }
                b"detail" => {
                    if child.is_empty() {
                        continue;
                    }
                    while let Some(entry) = p.child()? {
                        let ns = p.ns(&entry);
                        if entry.local() == b"Fault" && detail.is_none() {
                            if let Ns::Cwmp(n) = ns {
                                namespace = Some(n);
                            }
                            detail = Some(
                                CwmpFault::read_children(p, entry)
                                    .map_err(|e| e.at("Fault").at("detail"))?,
                            );
                        } else {
                            p.skip(entry)?;
                        }
                    }
                }
                _ => p.skip(child)?,
            }
        }
    }
    let fault = Fault {
        faultcode: faultcode
            .ok_or_else(|| p.fail(CodecError::MissingElement { name: "faultcode" }))?,
        faultstring: faultstring.unwrap_or_default(),
        detail,
    };
    Ok((fault, namespace))
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn write_envelope(env: &Envelope, w: &mut Writer<'_>) -> Result<(), CodecError> {
    w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.raw(SOAP_ENV_DECLS);
    w.raw(env.namespace.uri());
    w.raw("\">");
    write_header(&env.header, w)?;
    w.open("soap-env:Body");
    env.body.write_rpc(w)?;
    w.close("soap-env:Body");
    w.close("soap-env:Envelope");
    Ok(())
}

fn write_header(h: &Header, w: &mut Writer<'_>) -> Result<(), CodecError> {
    if h.is_empty() {
        return Ok(());
    }
    w.open("soap-env:Header");
    if let Some(id) = &h.id {
        w.raw("<cwmp:ID soap-env:mustUnderstand=\"1\">");
        w.text("ID", id)?;
        w.close("cwmp:ID");
    }
    if let Some(hold) = h.hold_requests {
        w.raw("<cwmp:HoldRequests soap-env:mustUnderstand=\"1\">");
        w.raw(if hold { "true" } else { "false" });
        w.close("cwmp:HoldRequests");
    }
    if let Some(timeout) = h.session_timeout {
        w.plain_element("cwmp:SessionTimeout", &timeout.to_string());
    }
    if let Some(versions) = &h.supported_cwmp_versions {
        w.plain_element(
            "cwmp:SupportedCWMPVersions",
            &CwmpVersion::format_list(versions),
        );
    }
    if let Some(version) = h.use_cwmp_version {
        w.raw("<cwmp:UseCWMPVersion soap-env:mustUnderstand=\"1\">");
        w.raw(&version.to_string());
        w.close("cwmp:UseCWMPVersion");
    }
    w.close("soap-env:Header");
    Ok(())
}

fn write_fault(f: &Fault, w: &mut Writer<'_>) -> Result<(), CodecError> {
    w.open("soap-env:Fault");
    w.open("faultcode");
    match f.faultcode.local() {
        Some(local) => {
            w.raw("soap-env:");
            w.raw(local);
        }
        None => {
            if let SoapFaultCode::Other(raw) = &f.faultcode {
                w.text("faultcode", raw)?;
            }
        }
    }
    w.close("faultcode");
    w.text_element("faultstring", &f.faultstring, usize::MAX)?;
    if let Some(detail) = &f.detail {
        w.open("detail");
        detail.write(w, "cwmp:Fault", &Spec::ANY)?;
        w.close("detail");
    }
    w.close("soap-env:Fault");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soap_fault_codes() {
        assert_eq!(SoapFaultCode::for_cwmp_code(9003), SoapFaultCode::Client);
        assert_eq!(SoapFaultCode::for_cwmp_code(9002), SoapFaultCode::Server);
        assert_eq!(SoapFaultCode::for_cwmp_code(9007), SoapFaultCode::Client);
        assert_eq!(SoapFaultCode::for_cwmp_code(8005), SoapFaultCode::Server);
        assert_eq!(
            SoapFaultCode::from_wire("SOAP-ENV:Client"),
            SoapFaultCode::Client
        );
        assert_eq!(SoapFaultCode::from_wire(" Server "), SoapFaultCode::Server);
        assert_eq!(
            SoapFaultCode::from_wire("env:Receiver"),
            SoapFaultCode::Other("env:Receiver".into())
        );
    }

    #[test]
    fn fault_names() {
        assert_eq!(fault_name(9000), Some("Method not supported"));
        assert_eq!(fault_name(8006), Some("ACS version incompatible with CPE"));
        assert_eq!(fault_name(9899), None);
        let f = Fault::cwmp(9005, "Invalid parameter name");
        assert_eq!(f.code(), Some(9005));
        assert_eq!(f.faultcode, SoapFaultCode::Client);
    }

    #[test]
    fn body_names() {
        assert_eq!(Body::GetRpcMethods.name(), "GetRPCMethods");
        assert_eq!(
            Body::Unknown {
                name: "X_Foo".into()
            }
            .name(),
            "X_Foo"
        );
        assert_eq!(Body::Fault(Fault::cwmp(9000, "")).name(), "Fault");
    }

    #[test]
    fn empty_header_is_not_written() {
        let env = Envelope::new(CwmpNamespace::V1_2, Body::GetRpcMethods);
        let mut out = Vec::new();
        env.encode(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("Header"));
        assert!(text.contains("<cwmp:GetRPCMethods></cwmp:GetRPCMethods>"));
    }

    #[test]
    fn failed_encode_appends_nothing() {
        let env = Envelope::new(
            CwmpNamespace::V1_0,
            Body::Reboot(Reboot {
                command_key: "x".repeat(33),
            }),
        );
        let mut out = b"keep".to_vec();
        assert!(env.encode(&mut out).is_err());
        assert_eq!(out, b"keep");
    }
}

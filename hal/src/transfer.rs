//! The file-transfer description that CWMP `Download`/`Upload` and USP
//! `Device.DeviceInfo.FirmwareImage.{i}.Download()` all map to, and the result reported when
//! a transfer ends. USP `VendorConfigFile.{i}.Backup()` and `VendorLogFile.{i}.Upload()` are
//! uploads ([`FileTransfer::upload`]) of [`FileType::VendorConfiguration`] and
//! [`FileType::VendorLog`] with their `URL`, `Username` and `Password` only.
//!
//! | [`FileTransfer`] field | CWMP `Download` argument | USP `FirmwareImage.{i}.Download()` input |
//! |---|---|---|
//! | `command_key` | `CommandKey` | the Operate `command_key` |
//! | `file_type` | `FileType` (`1 Firmware Upgrade Image`, ...) | always [`FileType::FirmwareImage`] |
//! | `url`, `username`, `password` | `URL`, `Username`, `Password` | `URL`, `Username`, `Password` |
//! | `file_size` | `FileSize` (0 = unknown) | `FileSize` |
//! | `target_file_name` | `TargetFileName` | — |
//! | `delay_seconds` | `DelaySeconds` | — |
//! | `checksum` | — | `CheckSumAlgorithm`, `CheckSum` |
//! | `firmware_image` | — (the device picks the inactive bank) | the `{i}` of the command path |
//! | `auto_activate` | `true` (CWMP activates by rebooting) | `AutoActivate` |

use std::fmt;
use std::string::String;

use serde::{Deserialize, Serialize};
use tr181_model::value::DateTime;

/// Which way a file goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::exhaustive_enums)] // A file goes to or from the device.
pub enum Direction {
    /// From the server to the device.
    Download,
    /// From the device to the server.
    Upload,
}

/// What the file is (CWMP `FileType`; TR-069 A.3.2.8 and A.4.1.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FileType {
    /// `1 Firmware Upgrade Image`.
    FirmwareImage,
    /// `2 Web Content`.
    WebContent,
    /// `3 Vendor Configuration File` (download) or `1 Vendor Configuration File` (upload).
    VendorConfiguration,
    /// `2 Vendor Log File` (upload).
    VendorLog,
    /// Any other type, including `X <OUI> <name>` vendor types, as sent.
    Other(String),
}

impl FileType {
    /// Parses a CWMP `FileType` string for `direction`.
    pub fn from_cwmp(text: &str, direction: Direction) -> Self {
        match (direction, text) {
            (Direction::Download, "1 Firmware Upgrade Image") => Self::FirmwareImage,
            (Direction::Download, "2 Web Content") => Self::WebContent,
            (Direction::Download, "3 Vendor Configuration File")
            | (Direction::Upload, "1 Vendor Configuration File") => Self::VendorConfiguration,
            (Direction::Upload, "2 Vendor Log File") => Self::VendorLog,
            _ => Self::Other(text.into()),
        }
    }

    /// The CWMP `FileType` string for `direction`.
    pub fn to_cwmp(&self, direction: Direction) -> &str {
        match (self, direction) {
            (Self::FirmwareImage, _) => "1 Firmware Upgrade Image",
            (Self::WebContent, _) => "2 Web Content",
            (Self::VendorConfiguration, Direction::Download) => "3 Vendor Configuration File",
            (Self::VendorConfiguration, Direction::Upload) => "1 Vendor Configuration File",
            (Self::VendorLog, _) => "2 Vendor Log File",
            (Self::Other(text), _) => text,
        }
    }
}

/// A checksum the downloaded file must match (USP `CheckSumAlgorithm` + `CheckSum`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checksum {
    /// `SHA-1`, `SHA-224`, `SHA-256`, `SHA-384` or `SHA-512`.
    pub algorithm: String,
    /// The expected digest, as hex text.
    pub value: String,
}

impl Checksum {
    /// A checksum.
    pub fn new(algorithm: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            algorithm: algorithm.into(),
            value: value.into(),
        }
    }
}

/// A file transfer to perform; see the [module docs](self) for where each field comes from.
///
/// `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileTransfer {
    /// Download or upload.
    pub direction: Direction,
    /// What the file is.
    pub file_type: FileType,
    /// The file's URL.
    pub url: String,
    /// HTTP user name, empty for none.
    pub username: String,
    /// HTTP password, empty for none.
    pub password: String,
    /// The size in bytes, when the server told it.
    pub file_size: Option<u64>,
    /// The file name to store it under, empty to let the device choose.
    pub target_file_name: String,
    /// Seconds to wait before starting (CWMP `DelaySeconds`).
    pub delay_seconds: u32,
    /// The checksum to verify, if any.
    pub checksum: Option<Checksum>,
    /// The firmware bank (`FirmwareImage.{i}` instance number) to write, `None` to let the
    /// device choose.
    pub firmware_image: Option<u32>,
    /// Activate the image once written (CWMP always does, by rebooting).
    pub auto_activate: bool,
    /// The controller's tag, returned in the result.
    pub command_key: String,
}

impl FileTransfer {
    /// A download of `file_type` from `url`, with every optional field empty and
    /// `auto_activate` set (CWMP semantics).
    pub fn download(file_type: FileType, url: impl Into<String>) -> Self {
        Self {
            direction: Direction::Download,
            file_type,
            url: url.into(),
            username: String::new(),
            password: String::new(),
            file_size: None,
            target_file_name: String::new(),
            delay_seconds: 0,
            checksum: None,
            firmware_image: None,
            auto_activate: true,
            command_key: String::new(),
        }
    }

    /// An upload of `file_type` to `url`.
    pub fn upload(file_type: FileType, url: impl Into<String>) -> Self {
        Self {
            direction: Direction::Upload,
            auto_activate: false,
            ..Self::download(file_type, url)
        }
    }
}

impl fmt::Debug for FileTransfer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileTransfer")
            .field("direction", &self.direction)
            .field("file_type", &self.file_type)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("file_size", &self.file_size)
            .field("target_file_name", &self.target_file_name)
            .field("delay_seconds", &self.delay_seconds)
            .field("checksum", &self.checksum)
            .field("firmware_image", &self.firmware_image)
            .field("auto_activate", &self.auto_activate)
            .field("command_key", &self.command_key)
            .finish()
    }
}

/// How a transfer failed (TR-069 Table 55, the 9010–9019 and 9001/9002 transfer faults).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TransferFault {
    /// 9002 Internal error.
    Internal,
    /// 9010 Download failure / 9011 Upload failure (by direction; [`Self::cwmp_fault`] gives
    /// 9010).
    Failure,
    /// 9012 File transfer server authentication failure.
    Authentication,
    /// 9013 Unsupported protocol for file transfer.
    UnsupportedProtocol,
    /// 9015 Unable to contact file server.
    ContactServer,
    /// 9016 Unable to access file.
    AccessFile,
    /// 9017 Unable to complete download.
    Incomplete,
    /// 9018 File corrupted (or checksum mismatch).
    Corrupted,
    /// 9019 File authentication failure.
    FileAuthentication,
}

impl TransferFault {
    /// The CWMP fault code (for uploads, 9010 becomes 9011: see [`Self::cwmp_fault_for`]).
    pub fn cwmp_fault(self) -> u16 {
        self.cwmp_fault_for(Direction::Download)
    }

    /// The CWMP fault code of this fault in a transfer going `direction`.
    pub fn cwmp_fault_for(self, direction: Direction) -> u16 {
        match self {
            Self::Internal => 9002,
            Self::Failure => match direction {
                Direction::Download => 9010,
                Direction::Upload => 9011,
            },
            Self::Authentication => 9012,
            Self::UnsupportedProtocol => 9013,
            Self::ContactServer => 9015,
            Self::AccessFile => 9016,
            Self::Incomplete => 9017,
            Self::Corrupted => 9018,
            Self::FileAuthentication => 9019,
        }
    }
}

/// The engine's number for one file transfer, unique across restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransferId(pub u32);

/// How a transfer ended: CWMP `TransferComplete`, or the completion of a USP `Download()`,
/// `Backup()` or `Upload()`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TransferResult {
    /// The transfer.
    pub id: TransferId,
    /// The transfer's command key.
    pub command_key: String,
    /// Download or upload.
    pub direction: Direction,
    /// `None` on success; else the fault and its message.
    pub fault: Option<(TransferFault, String)>,
    /// When the transfer started (`None`: unknown, CWMP `0001-01-01T00:00:00Z`).
    pub start_time: Option<DateTime>,
    /// When it ended.
    pub complete_time: Option<DateTime>,
}

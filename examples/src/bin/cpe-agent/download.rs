//! Real file transfers for the simulated device, crash-safe.
//!
//! [`Downloads`] wraps the simulated device's [`Lifecycle`]: a `Download` of an `http://` or
//! `https://` URL (CWMP Download, USP `FirmwareImage.{i}.Download()`) is fetched for real
//! (HTTP/1.1, Basic credentials when given, Digest when the server challenges for it, a size
//! bound, an idle timeout) into `<state_dir>/downloads/`; everything else goes to the
//! simulated device. `https://` servers
//! are checked against the agent's CA certificates ([`Trust`]); a server whose certificate is
//! refused, or a TLS URL with no CA certificates to check it with, fails the download with
//! fault 9012 (TR-069: "File transfer server authentication failure"), as does an HTTP 401
//! or 403.
//!
//! An `Upload` (CWMP Upload, USP `VendorConfigFile.{i}.Backup()` and
//! `VendorLogFile.{i}.Upload()`) is sent the same way, by HTTP PUT (TR-069 3.4.3), with the
//! same trust, credentials and timeouts. The agent has one file of each kind, declared in its
//! factory defaults as `VendorConfigFile.1` and `VendorLogFile.1` ([`UploadFile`]): the
//! configuration is the engine's persisted store section (the JSON the agent restores its
//! data model from at boot), the log the agent's recent log lines ([`crate::log::recent`]).
//! Every upload failure other than 9012 and 9013 is fault 9011 ("Upload failure"). Both
//! directions wait `DelaySeconds` before they start.
//!
//! Every transfer is written to a journal (`<state_dir>/downloads.json`, temporary file +
//! rename) when it is asked for, its start time when it starts, and its outcome before it is
//! reported.
//!
//! Downloads resume ([`Resume`], RFC 9110 §14.2 `Range` and §13.1.5 `If-Range`). From the
//! first GET on, the journal entry holds the request, the bytes of the partial file
//! (`<file>.part`, synced before they are counted), the size the server gave and its strong
//! validator; it is rewritten at most every [`PROGRESS_INTERVAL`] while the body comes, when
//! the line goes quiet and before a retry. A piece cut short (the connection dropped, the
//! server silent or unreachable) is followed by up to [`RETRIES`] more, after [`hal::retry`]
//! waits, and a download the process died during is started again by [`Downloads::recover`]
//! with its first start time; each asks for the rest with `Range: bytes=N-` and `If-Range`. A
//! 206 whose `Content-Range` starts at byte N and agrees with the size known continues the
//! file; a 200 starts it over; a 416 or another `Content-Range` starts it over on the next
//! GET. The validator is a strong `ETag`, or, from a server that gives no `ETag`, a
//! `Last-Modified` date a second or more before the response's `Date` (RFC 9110 §8.8.2.2);
//! with neither the rest is never asked for. The size bound and the server's size hold across
//! the pieces, `FileSize` is checked on the whole file. A journal entry whose partial file is
//! shorter than it says, or beyond the size it or `FileSize` allows, starts over; a new
//! transfer replaces any entry of its id, so it never takes another's partial file. Uploads
//! are not resumed or retried: an HTTP PUT cannot resume in general.
//!
//! After a crash, [`Downloads::recover`] reports each other journalled transfer again:
//! with its recorded outcome, or, when it was cut short before its download started, with
//! fault 9017 (TR-069: "Download failure: unable to complete download"), 9011 for an
//! upload. The engine ignores reports of
//! transfers it has already finished, so a report is only dropped from the journal once the
//! engine has persisted the result ([`Downloads::reported`] before
//! `Engine::handle_device_inputs`, [`Downloads::forget`] after): nothing is lost between the
//! two.
//!
//! The engine persists a transfer before it asks for it here, so a crash between the two
//! leaves a transfer the engine holds as running and the journal never saw. `recover` reports
//! those too (`Engine::running_transfers`), as it does the simulated device's transfers,
//! whose jobs die with the process: 9017, or 9011 for an upload. The engine forgets them only
//! once it has persisted the result, so a crash during recovery repeats it.

use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use cwmp_core::session::ClientAuth;
use hal::HalError;
use hal::feed::{DeviceSink, TransferReporter};
use hal::retry::Rng;
use hal::traits::{BootReport, Lifecycle, Section, Storage};
use hal::transfer::{Direction, FileTransfer, FileType, TransferFault, TransferId};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::{StatusCode, Uri};
use tr181_model::lenient::{LenientList, keep_read};
use tr181_model::store::Transaction;
use tr181_model::value::DateTime;

use crate::device::wall_clock;
use crate::http1::{Conn, ResponseHead};
use crate::log::RECENT_BYTES;
use crate::tls::{self, ConnectError, Io, Trust};

/// The journal file in the state directory.
const JOURNAL_FILE: &str = "downloads.json";
/// The directory of downloaded files in the state directory.
const DOWNLOAD_DIR: &str = "downloads";
/// Largest file fetched when the request gives no `FileSize`.
const MAX_DOWNLOAD: u64 = 64 * 1024 * 1024;
/// A server silent for this long fails the download (9017) or the upload (9011).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Pieces a download may take after its first, each asking for the rest of the file once the
/// connection dropped or the server went silent.
const RETRIES: u32 = 4;
/// The shortest wait before such a piece, in milliseconds; the window doubles with each
/// ([`hal::retry::wait_ms`]).
const RETRY_WAIT_MS: u64 = 1000;
/// A download's progress is journalled at most this often (flash wears).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// `Device.DeviceInfo.VendorConfigFile.1.Name`: what a configuration upload sends.
const CONFIG_FILE: &str = "cpe-agent-store.json";
/// `Device.DeviceInfo.VendorLogFile.1.Name`: what a log upload sends.
const LOG_FILE: &str = "cpe-agent.log";

/// A failed transfer: the fault and its message.
type Failure = (TransferFault, String);

/// One journalled transfer.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    /// The engine's transfer id.
    id: u32,
    /// When it started (Unix seconds), if it did and the clock was set.
    start: Option<i64>,
    /// The outcome once known: `None` inside means success.
    outcome: Option<Option<Failure>>,
    /// A download under way: how far it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<Resume>,
}

/// How far a download got, in its journal entry: what asking for the rest needs (RFC 9110
/// §14.2 `Range`, §13.1.5 `If-Range`). The partial file holds `written` bytes, synced before
/// this was saved. It keeps the request's fields that fetching reads, not the whole
/// [`FileTransfer`] (whose serde code would weigh on the router build).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Resume {
    /// The request's `URL`, `Username`, `Password`, `FileSize` and `TargetFileName`.
    url: String,
    username: String,
    password: String,
    file_size: Option<u64>,
    target_file_name: String,
    /// Bytes written to the partial file.
    written: u64,
    /// The whole file's size, when the server said (`Content-Length` of a 200, or
    /// `Content-Range` of a 206).
    total: Option<u64>,
    /// The strong validator of the bytes written, for `If-Range`: a strong `ETag` or a
    /// strong `Last-Modified` date, as the server sent it (RFC 9110 §13.1.5 tells them apart
    /// by the `"` an entity tag starts with). Without one the rest is never asked for: the
    /// file starts over.
    validator: Option<String>,
}

impl Resume {
    /// A download of `transfer` from its first byte.
    fn new(transfer: &FileTransfer) -> Self {
        Self {
            url: transfer.url.clone(),
            username: transfer.username.clone(),
            password: transfer.password.clone(),
            file_size: transfer.file_size,
            target_file_name: transfer.target_file_name.clone(),
            written: 0,
            total: None,
            validator: None,
        }
    }

    /// The download again, with the fields fetching reads (its file type is not one).
    fn transfer(&self) -> FileTransfer {
        let mut transfer = FileTransfer::download(FileType::Other(String::new()), &self.url);
        transfer.username.clone_from(&self.username);
        transfer.password.clone_from(&self.password);
        transfer.file_size = self.file_size;
        transfer.target_file_name.clone_from(&self.target_file_name);
        transfer
    }

    /// The `Range` and `If-Range` values asking for the rest, if it may be asked for.
    fn range(&self) -> Option<(String, &str)> {
        let validator = self.validator.as_deref().filter(|_| self.written > 0)?;
        Some((format!("bytes={}-", self.written), validator))
    }
}

/// The journal's entries, each read on its own: one of the wrong JSON type is dropped (and
/// logged), the others kept.
fn read_journal(bytes: &[u8]) -> serde_json::Result<Vec<Entry>> {
    let read: LenientList<Entry> = serde_json::from_slice(bytes)?;
    let mut malformed = 0;
    let entries = keep_read(read, &mut malformed);
    if malformed > 0 {
        tracing::warn!(
            malformed,
            "download journal entries of the wrong type dropped"
        );
    }
    Ok(entries)
}

/// The journal: transfers asked for whose result the engine may not have persisted yet.
#[derive(Debug, Default)]
struct Journal {
    path: PathBuf,
    entries: Vec<Entry>,
}

impl Journal {
    /// Records `update` on transfer `id`'s entry, and saves.
    fn update(&mut self, id: u32, update: impl FnOnce(&mut Entry)) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.id == id) {
            update(entry);
        }
        self.save();
    }

    fn save(&self) {
        let write = || -> std::io::Result<()> {
            let json = serde_json::to_vec(&self.entries).map_err(std::io::Error::other)?;
            let temporary = self.path.with_extension("json.tmp");
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)
        };
        if let Err(error) = write() {
            tracing::error!(%error, path = %self.path.display(), "cannot save the download journal");
        }
    }
}

/// The wrapper; see the [module docs](self).
pub(crate) struct Downloads {
    inner: Arc<dyn Lifecycle>,
    dir: PathBuf,
    journal: Arc<Mutex<Journal>>,
    /// The CA certificates `https://` servers are checked against.
    trust: Option<Trust>,
    /// The flash the configuration upload reads the persisted store from.
    storage: Arc<dyn Storage>,
}

impl Downloads {
    /// Wraps `inner`, with the journal and the files in `state_dir`, checking `https://`
    /// servers against `trust`; configuration uploads send the store `storage` holds.
    pub(crate) fn new(
        inner: Arc<dyn Lifecycle>,
        storage: Arc<dyn Storage>,
        state_dir: &Path,
        trust: Option<Trust>,
    ) -> Self {
        let path = state_dir.join(JOURNAL_FILE);
        let entries = match std::fs::read(&path) {
            Ok(bytes) => read_journal(&bytes).unwrap_or_else(|error| {
                tracing::warn!(%error, path = %path.display(), "invalid download journal");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        };
        Self {
            inner,
            dir: state_dir.join(DOWNLOAD_DIR),
            journal: Arc::new(Mutex::new(Journal { path, entries })),
            trust,
            storage,
        }
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resumes every journalled download the previous run ended during (once its GETs
    /// began), and reports to the engine through `sink` every other journalled transfer (its
    /// recorded outcome, or 9017 (9011 for an upload) when the previous run ended during the
    /// transfer) and every other transfer of `running` (the engine's running transfers at
    /// start: 9017, or 9011 for an upload). Returns how many were reported.
    ///
    /// Journalled transfers the engine does not run are forgotten: the engine persisted their
    /// result before the previous run ended (or the journal is garbled) and would ignore a
    /// report. So the journal holds at most the engine's running transfers, whatever the file.
    pub(crate) fn recover(&self, sink: &DeviceSink, running: &[(TransferId, Direction)]) -> usize {
        let interrupted = |direction| {
            let fault = match direction {
                Direction::Download => TransferFault::Incomplete,
                Direction::Upload => TransferFault::Failure,
            };
            (
                fault,
                "the transfer was interrupted by a restart".to_owned(),
            )
        };
        let direction = |id: u32| {
            running
                .iter()
                .find(|(running, _)| running.0 == id)
                .map(|(_, direction)| *direction)
        };
        let mut journal = self.journal();
        journal.entries.retain(|e| direction(e.id).is_some());
        let mut resumed = Vec::new();
        for entry in &mut journal.entries {
            if let (None, Some(Direction::Download), Some(resume)) =
                (&entry.outcome, direction(entry.id), &entry.resume)
            {
                tracing::info!(id = entry.id, "download resumed after a restart");
                resumed.push((TransferId(entry.id), entry.start, resume.clone()));
                continue;
            }
            let outcome = entry.outcome.clone().unwrap_or_else(|| {
                let direction = direction(entry.id).unwrap_or(Direction::Download);
                tracing::warn!(
                    id = entry.id,
                    ?direction,
                    "a transfer was interrupted by a restart"
                );
                Some(interrupted(direction))
            });
            entry.outcome = Some(outcome.clone());
            sink.transfer_reporter(TransferId(entry.id))
                .complete(unix_time(entry.start), outcome.map_or(Ok(()), Err));
        }
        journal.save();
        let mut unjournalled = 0;
        for (id, direction) in running {
            if journal.entries.iter().any(|e| e.id == id.0) {
                continue;
            }
            tracing::warn!(
                id = id.0,
                ?direction,
                "a transfer was interrupted by a restart"
            );
            // The engine has the start time it recorded.
            sink.transfer_reporter(*id)
                .complete(None, Err(interrupted(*direction)));
            unjournalled += 1;
        }
        let reported = journal.entries.len().saturating_sub(resumed.len());
        drop(journal);
        for (id, start, resume) in resumed {
            let transfer = resume.transfer();
            let reporter = sink.transfer_reporter(id);
            self.spawn(id, transfer, None, Some((start, resume)), reporter);
        }
        reported.saturating_add(unjournalled)
    }

    /// The transfers reported so far (call before `Engine::handle_device_inputs`).
    pub(crate) fn reported(&self) -> Vec<u32> {
        self.journal()
            .entries
            .iter()
            .filter(|e| e.outcome.is_some())
            .map(|e| e.id)
            .collect()
    }

    /// Drops `ids` from the journal (call once the engine has persisted their results).
    pub(crate) fn forget(&self, ids: &[u32]) {
        if ids.is_empty() {
            return;
        }
        let mut journal = self.journal();
        journal.entries.retain(|e| !ids.contains(&e.id));
        journal.save();
    }
}

#[async_trait]
impl Lifecycle for Downloads {
    fn factory_defaults(&self, txn: &mut Transaction<'_>) -> Result<(), tr181_model::Error> {
        self.inner.factory_defaults(txn)?;
        // The files uploads send ([`UploadFile`]).
        txn.add(
            "Device.DeviceInfo.VendorConfigFile.",
            &[
                ("Name", CONFIG_FILE),
                (
                    "Description",
                    "the persisted data model, as restored at boot",
                ),
                ("UseForBackupRestore", "true"),
            ],
        )?;
        txn.add(
            "Device.DeviceInfo.VendorLogFile.",
            &[
                ("Name", LOG_FILE),
                ("MaximumSize", &RECENT_BYTES.to_string()),
                ("Persistent", "false"),
            ],
        )?;
        Ok(())
    }

    fn boot_report(&self) -> BootReport {
        self.inner.boot_report()
    }

    async fn reboot(&self) -> Result<(), HalError> {
        self.inner.reboot().await
    }

    async fn factory_reset(&self) -> Result<(), HalError> {
        self.inner.factory_reset().await
    }

    async fn transfer(
        &self,
        id: TransferId,
        transfer: &FileTransfer,
        reporter: TransferReporter,
    ) -> Result<(), HalError> {
        let upload = match transfer.direction {
            Direction::Download => None,
            Direction::Upload => Some(UploadFile::of(&transfer.file_type).ok_or_else(|| {
                HalError::InvalidArguments {
                    path: "Upload".into(),
                    reason: format!(
                        "no {:?} file to upload",
                        transfer.file_type.to_cwmp(Direction::Upload)
                    ),
                }
            })?),
        };
        if !transfer.url.starts_with("http://") && !transfer.url.starts_with("https://") {
            return Err(HalError::Transfer {
                fault: TransferFault::UnsupportedProtocol,
                reason: format!(
                    "only http:// and https:// transfers are supported: {}",
                    transfer.url
                ),
            });
        }
        {
            let mut journal = self.journal();
            // A transfer of an id the journal holds is a new one: it starts afresh.
            journal.entries.retain(|e| e.id != id.0);
            journal.entries.push(Entry {
                id: id.0,
                start: None,
                outcome: None,
                resume: None,
            });
            journal.save();
        }
        self.spawn(id, transfer.clone(), upload, None, reporter);
        Ok(())
    }

    async fn activate(&self, image: u32) -> Result<(), HalError> {
        self.inner.activate(image).await
    }
}

impl Downloads {
    /// Runs transfer `id` in a task of its own, which journals and reports its outcome:
    /// `upload` sends that file; else the download starts after its delay, or, `resumed`
    /// after a restart, goes on from where its journal entry says with the start time it
    /// had.
    fn spawn(
        &self,
        id: TransferId,
        transfer: FileTransfer,
        upload: Option<UploadFile>,
        resumed: Option<(Option<i64>, Resume)>,
        reporter: TransferReporter,
    ) {
        let name = match transfer.target_file_name.rsplit('/').next() {
            Some(name) if !name.is_empty() && name != ".." => format!("{}-{name}", id.0),
            _ => format!("{}.bin", id.0),
        };
        let path = self.dir.join(name);
        let journal = self.journal.clone();
        let (trust, storage) = (self.trust.clone(), self.storage.clone());
        tokio::spawn(async move {
            let lock = || journal.lock().unwrap_or_else(PoisonError::into_inner);
            let what = upload.map_or("download", |_| "upload");
            let (start, resume) = match resumed {
                Some((start, resume)) => (start, resume),
                None => {
                    tokio::time::sleep(Duration::from_secs(transfer.delay_seconds.into())).await;
                    let start = wall_clock().and_then(|time| time.unix_seconds());
                    lock().update(id.0, |entry| entry.start = start);
                    tracing::info!(id = id.0, url = %transfer.url, "{what} started");
                    (start, Resume::new(&transfer))
                }
            };
            let result = match upload {
                None => fetch(id.0, &journal, trust.as_ref(), &path, resume).await,
                Some(file) => send(file, &*storage, &transfer, trust.as_ref()).await,
            };
            match &result {
                Ok(size) => tracing::info!(id = id.0, size, "{what} done"),
                Err((fault, reason)) => tracing::warn!(id = id.0, ?fault, reason, "{what} failed"),
            }
            let outcome = result.err();
            lock().update(id.0, |entry| entry.outcome = Some(outcome.clone()));
            reporter.complete(unix_time(start), outcome.map_or(Ok(()), Err));
        });
    }
}

fn unix_time(seconds: Option<i64>) -> Option<DateTime> {
    seconds.and_then(DateTime::from_unix_seconds)
}

/// The file an upload sends; see the [module docs](self).
#[derive(Clone, Copy, Debug)]
enum UploadFile {
    /// `VendorConfigFile.1`: the persisted store section.
    Configuration,
    /// `VendorLogFile.1`: the recent log lines.
    Log,
}

impl UploadFile {
    /// The file of an upload of `file_type`: `1 Vendor Configuration File`,
    /// `2 Vendor Log File`, or their `3 ...`/`4 ... <instance>` forms (the agent has one of
    /// each); `None` for any other type.
    fn of(file_type: &FileType) -> Option<Self> {
        match file_type {
            FileType::VendorConfiguration => Some(Self::Configuration),
            FileType::VendorLog => Some(Self::Log),
            FileType::Other(text) if text.starts_with("3 Vendor Configuration File") => {
                Some(Self::Configuration)
            }
            FileType::Other(text) if text.starts_with("4 Vendor Log File") => Some(Self::Log),
            _ => None,
        }
    }
}

/// PUTs `file` to `transfer.url`, checking an `https://` server against `trust`; returns the
/// size. Every failure but 9012 and 9013 is 9011 (TR-069's upload faults).
async fn send(
    file: UploadFile,
    storage: &dyn Storage,
    transfer: &FileTransfer,
    trust: Option<&Trust>,
) -> Result<u64, Failure> {
    let (body, content_type) = match file {
        UploadFile::Configuration => {
            let store = storage
                .load(Section::Store)
                .await
                .map_err(|e| (TransferFault::Internal, e.to_string()))?;
            (store.unwrap_or_default(), "application/json")
        }
        UploadFile::Log => (crate::log::recent(), "text/plain; charset=utf-8"),
    };
    let sent = async {
        let headers = [("Content-Type", content_type)];
        let headers = if body.is_empty() { &[][..] } else { &headers };
        let (_, head) = request(transfer, trust, "PUT", headers, &body).await?;
        if !status(&head).is_success() {
            return Err((TransferFault::AccessFile, status(&head).to_string()));
        }
        Ok(u64::try_from(body.len()).unwrap_or(u64::MAX))
    };
    sent.await.map_err(|(fault, reason)| match fault {
        TransferFault::Authentication | TransferFault::Internal => (fault, reason),
        _ => (TransferFault::Failure, reason),
    })
}

/// Sends `method` with `headers` and `body` to `transfer.url`, checking an `https://` server
/// against `trust`, and reads the response head: the connection (its body next) and the head.
/// Credentials, when given, go as Basic; a server that answers 401 with
/// a Digest challenge gets the request once more, on a new connection, with the answer to it
/// (TR-069 asks for both schemes on file transfers; cwmp-core's [`ClientAuth`], as for the
/// ACS). HTTP 401 and 403 are then 9012.
async fn request(
    transfer: &FileTransfer,
    trust: Option<&Trust>,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(Conn<Box<dyn Io>>, ResponseHead), Failure> {
    let uri: Uri = transfer
        .url
        .parse()
        .map_err(|e| (TransferFault::AccessFile, format!("{e}")))?;
    let authority = uri
        .authority()
        .ok_or_else(|| (TransferFault::AccessFile, "the URL has no host".to_owned()))?
        .to_string();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut authorization = (!transfer.username.is_empty()).then(|| {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", transfer.username, transfer.password));
        format!("Basic {token}")
    });
    let mut digest: Option<ClientAuth> = None;
    loop {
        let mut all = vec![("Host", authority.as_str())];
        all.extend(authorization.as_deref().map(|a| ("Authorization", a)));
        all.extend_from_slice(headers);
        let (conn, head) = exchange(&uri, trust, method, target, &all, body).await?;
        let status = status(&head);
        if status == StatusCode::UNAUTHORIZED && authorization.is_some() && digest.is_none() {
            let challenges = head
                .headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("WWW-Authenticate"))
                .map(|(_, value)| value.as_str());
            // Basic was sent already: only a Digest challenge is worth another request.
            if let Ok(mut auth) = ClientAuth::from_challenges(challenges, false) {
                let cnonce = format!("{:016x}", u64::from_le_bytes(tls::random_bytes()));
                authorization = Some(auth.authorization(
                    method,
                    &transfer.username,
                    &transfer.password,
                    target,
                    &cnonce,
                ));
                digest = Some(auth);
                continue;
            }
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err((TransferFault::Authentication, status.to_string()));
        }
        return Ok((conn, head));
    }
}

/// The status of `head` (502 Bad Gateway if it is no status code).
fn status(head: &ResponseHead) -> StatusCode {
    StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY)
}

/// One exchange on a new connection to `uri`: the request, and the response head.
async fn exchange(
    uri: &Uri,
    trust: Option<&Trust>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(Conn<Box<dyn Io>>, ResponseHead), Failure> {
    let connect = tokio::time::timeout(IDLE_TIMEOUT, tls::connect(uri, trust))
        .await
        .map_err(|_| {
            let silent = "the server went silent during the connection".to_owned();
            (TransferFault::ContactServer, silent)
        })?;
    let io = connect.map_err(|error| {
        let fault = match error {
            ConnectError::Certificate(_) | ConnectError::NoTrust => TransferFault::Authentication,
            ConnectError::Handshake(_) | ConnectError::Tcp(_) => TransferFault::ContactServer,
            ConnectError::Url(_) => TransferFault::AccessFile,
        };
        (fault, error.to_string())
    })?;
    let mut conn = Conn::new(io);
    let sent = async {
        conn.send_request(method, target, headers, body).await?;
        conn.read_response_head().await
    };
    let head = tokio::time::timeout(IDLE_TIMEOUT, sent)
        .await
        .map_err(|_| {
            (
                TransferFault::ContactServer,
                "the server went silent".into(),
            )
        })?
        .map_err(|e| (TransferFault::ContactServer, e.to_string()))?;
    Ok((conn, head))
}

/// GETs `resume.url` into `path` (through `path.part`), checking an `https://`
/// server against `trust`, from where `resume` says; returns the size. A piece cut short
/// (the connection dropped, the server went silent or could not be reached) is followed by
/// up to [`RETRIES`] more, each asking for the rest.
async fn fetch(
    id: u32,
    journal: &Mutex<Journal>,
    trust: Option<&Trust>,
    path: &Path,
    resume: Resume,
) -> Result<u64, Failure> {
    let parent = path.parent().unwrap_or(path);
    std::fs::create_dir_all(parent).map_err(internal)?;
    let mut partial =
        Partial::open(path.with_extension("part"), resume, id, journal).map_err(internal)?;
    // From now on a restart resumes the download.
    partial.save()?;
    let mut rng = Rng::new(tls::random_seed());
    let mut retry = 0;
    loop {
        match fetch_piece(trust, &mut partial).await {
            Ok(()) => return partial.finish(path),
            Err((TransferFault::ContactServer | TransferFault::Incomplete, reason))
                if retry < RETRIES =>
            {
                retry += 1;
                partial.save()?;
                let wait = hal::retry::wait_ms(RETRY_WAIT_MS, 2000, retry, rng.next_u64());
                tracing::info!(id, reason, "download cut short; asking for the rest");
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            Err(failure) => return Err(failure),
        }
    }
}

/// 9002, for a local file that cannot be written.
fn internal(error: std::io::Error) -> Failure {
    (TransferFault::Internal, error.to_string())
}

/// One GET into `partial`: of the rest of the file when it may be asked for, else (or when
/// the server answers with the whole file) of all of it.
async fn fetch_piece(trust: Option<&Trust>, partial: &mut Partial<'_>) -> Result<(), Failure> {
    let range = partial.resume.range();
    let headers: Vec<(&str, &str)> = range
        .iter()
        .flat_map(|(bytes, validator)| [("Range", bytes.as_str()), ("If-Range", *validator)])
        .collect();
    let transfer = partial.resume.transfer();
    let (mut conn, head) = request(&transfer, trust, "GET", &headers, &[]).await?;
    let resuming = range.is_some();
    match status(&head) {
        StatusCode::OK => {
            let total = head.header("content-length").and_then(|n| n.parse().ok());
            partial.restart(total, validator(&head))?;
        }
        StatusCode::PARTIAL_CONTENT if resuming => {
            partial.resume_at(head.header("content-range"))?;
        }
        StatusCode::RANGE_NOT_SATISFIABLE if resuming => {
            partial.restart(None, None)?;
            return Err((
                TransferFault::Incomplete,
                "the rest was refused (416)".into(),
            ));
        }
        status => return Err((TransferFault::AccessFile, status.to_string())),
    }
    loop {
        let chunk = {
            let read = tokio::time::timeout(IDLE_TIMEOUT, conn.read_chunk());
            tokio::pin!(read);
            loop {
                tokio::select! {
                    chunk = &mut read => break chunk,
                    // A quiet line: what came is journalled.
                    () = tokio::time::sleep(PROGRESS_INTERVAL), if partial.unsaved => {
                        partial.save()?;
                    }
                }
            }
        };
        let chunk = chunk
            .map_err(|_| (TransferFault::Incomplete, "the server went silent".into()))?
            .map_err(|e| (TransferFault::Incomplete, e.to_string()))?;
        let Some(data) = chunk else {
            break;
        };
        partial.write(&data)?;
    }
    match partial.resume.total {
        Some(total) if partial.resume.written < total => Err((
            TransferFault::Incomplete,
            format!("got {} of {total} bytes", partial.resume.written),
        )),
        _ => Ok(()),
    }
}

/// The validator `If-Range` may carry for the body of `head` (RFC 9110 §13.1.5), as the
/// server sent it: a strong `ETag`; with no `ETag` at all, a `Last-Modified` date that is
/// strong (§8.8.2.2: the response's `Date`, from the same server's clock, is at least one
/// second later, so the file cannot have changed again within that second).
fn validator(head: &ResponseHead) -> Option<String> {
    if let Some(tag) = head.header("etag") {
        return tag.starts_with('"').then(|| tag.to_owned());
    }
    let modified = head.header("last-modified")?;
    let date = httpdate::parse_http_date(head.header("date")?).ok()?;
    let changeable_until = httpdate::parse_http_date(modified)
        .ok()?
        .checked_add(Duration::from_secs(1))?;
    (changeable_until <= date).then(|| modified.to_owned())
}

/// A 206's `Content-Range` (RFC 9110 §14.4): `bytes first-last/complete`, the complete
/// length `None` when `*`.
fn content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let (range, complete) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let complete = match complete {
        "*" => None,
        length => Some(length.parse().ok()?),
    };
    Some((first.parse().ok()?, last.parse().ok()?, complete))
}

/// A download's partial file and how far it got ([`Resume`]), journalled at most every
/// [`PROGRESS_INTERVAL`] while bytes come, when the line goes quiet and before a retry; the
/// file is synced first, so the journal never counts bytes the flash may not hold.
struct Partial<'a> {
    file: std::fs::File,
    path: PathBuf,
    resume: Resume,
    /// The largest file accepted: the request's `FileSize`, else [`MAX_DOWNLOAD`].
    limit: u64,
    id: u32,
    journal: &'a Mutex<Journal>,
    /// When the progress was last journalled, and whether bytes came since.
    saved: Instant,
    unsaved: bool,
}

impl<'a> Partial<'a> {
    /// Opens `path` for `resume`: cut back to the bytes it says were written, or emptied
    /// when those are beyond the transfer's limits or more than the file holds.
    fn open(
        path: PathBuf,
        resume: Resume,
        id: u32,
        journal: &'a Mutex<Journal>,
    ) -> std::io::Result<Self> {
        let limit = resume.file_size.filter(|n| *n > 0).unwrap_or(MAX_DOWNLOAD);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        let fits = resume.written <= resume.total.unwrap_or(limit).min(limit)
            && resume.written <= file.metadata()?.len();
        let written = if fits { resume.written } else { 0 };
        file.set_len(written)?;
        file.seek(SeekFrom::Start(written))?;
        let resume = if fits {
            resume
        } else {
            Resume::new(&resume.transfer())
        };
        Ok(Self {
            file,
            path,
            resume,
            limit,
            id,
            journal,
            saved: Instant::now(),
            unsaved: false,
        })
    }

    /// Empties the file for a whole body of `total` bytes (if known), whose validator is
    /// `validator`, and journals that.
    fn restart(&mut self, total: Option<u64>, validator: Option<String>) -> Result<(), Failure> {
        if total.is_some_and(|total| total > self.limit) {
            return Err(self.too_large());
        }
        self.file.set_len(0).map_err(internal)?;
        self.file.seek(SeekFrom::Start(0)).map_err(internal)?;
        self.resume.written = 0;
        self.resume.total = total;
        self.resume.validator = validator;
        self.save()
    }

    /// Takes the `Content-Range` of a 206: it must start at the first byte not written and
    /// agree with the size known. Else the file starts over (with a failure, to retry).
    fn resume_at(&mut self, range: Option<&str>) -> Result<(), Failure> {
        let written = self.resume.written;
        match range.and_then(content_range) {
            Some((first, last, complete))
                if first == written
                    && last >= first
                    && complete.is_none_or(|length| {
                        length > last && self.resume.total.is_none_or(|total| total == length)
                    }) =>
            {
                if complete.is_some_and(|length| length > self.limit) {
                    return Err(self.too_large());
                }
                self.resume.total = complete.or(self.resume.total);
                Ok(())
            }
            _ => {
                self.restart(None, None)?;
                let reason = format!("206 with Content-Range {range:?} for bytes {written}-");
                Err((TransferFault::Incomplete, reason))
            }
        }
    }

    /// Appends `data`, refused beyond the size the server gave or the limit.
    fn write(&mut self, data: &[u8]) -> Result<(), Failure> {
        let written = u64::try_from(data.len())
            .ok()
            .and_then(|n| self.resume.written.checked_add(n))
            .filter(|n| *n <= self.limit)
            .ok_or_else(|| self.too_large())?;
        if self.resume.total.is_some_and(|total| written > total) {
            return Err((TransferFault::Failure, "more than the server said".into()));
        }
        self.file.write_all(data).map_err(internal)?;
        self.resume.written = written;
        self.unsaved = true;
        if self.saved.elapsed() >= PROGRESS_INTERVAL {
            self.save()?;
        }
        Ok(())
    }

    /// Syncs the file and journals how far it got.
    fn save(&mut self) -> Result<(), Failure> {
        self.file.sync_data().map_err(internal)?;
        let resume = self.resume.clone();
        self.journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .update(self.id, |entry| entry.resume = Some(resume));
        self.saved = Instant::now();
        self.unsaved = false;
        Ok(())
    }

    /// Checks the whole file against the request's `FileSize` and moves it to `path`; its
    /// size.
    fn finish(self, path: &Path) -> Result<u64, Failure> {
        let size = self.resume.written;
        if self.resume.file_size.is_some_and(|n| n > 0 && n != size) {
            return Err((TransferFault::Incomplete, format!("got {size} bytes")));
        }
        self.file.sync_all().map_err(internal)?;
        std::fs::rename(&self.path, path).map_err(internal)?;
        Ok(size)
    }

    fn too_large(&self) -> Failure {
        (
            TransferFault::Failure,
            format!("larger than {} bytes", self.limit),
        )
    }
}

#[cfg(test)]
mod tests {
    use hal::engine::AllowAll;
    use hal::sim::SimDevice;
    use hal::{Engine, EngineConfig};

    use super::*;

    fn head(fields: &[(&str, &str)]) -> ResponseHead {
        let headers = fields.iter().map(|(n, v)| ((*n).into(), (*v).into()));
        ResponseHead {
            status: 200,
            headers: headers.collect(),
        }
    }

    /// RFC 9110 §13.1.5: `If-Range` carries a strong validator only, an entity tag when
    /// there is one; a date is strong when the response's `Date` is a second later or more
    /// (§8.8.2.2), in any of the three HTTP date formats (§5.6.7).
    #[test]
    fn only_strong_validators_are_kept_for_if_range() {
        let modified = ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT");
        let later = ("date", "Sun, 06 Nov 1994 08:49:38 GMT");
        let strong = validator(&head(&[("etag", "\"a\""), modified, later]));
        assert_eq!(strong.as_deref(), Some("\"a\""));
        assert_eq!(
            validator(&head(&[("etag", "W/\"a\""), modified, later])),
            None
        );
        let strong = validator(&head(&[modified, later]));
        assert_eq!(strong.as_deref(), Some(modified.1));
        for date in [
            "Sunday, 06-Nov-94 08:49:38 GMT",
            "Sun Nov  6 08:49:38 1994",
            "Mon, 07 Nov 1994 00:00:00 GMT",
        ] {
            let strong = validator(&head(&[modified, ("date", date)]));
            assert_eq!(strong.as_deref(), Some(modified.1), "{date}");
        }
        for date in [modified.1, "Sun, 06 Nov 1994 08:49:36 GMT", "yesterday"] {
            assert_eq!(
                validator(&head(&[modified, ("date", date)])),
                None,
                "{date}"
            );
        }
        assert_eq!(validator(&head(&[modified])), None);
        assert_eq!(validator(&head(&[("last-modified", "1994"), later])), None);
    }

    #[test]
    fn content_ranges_are_read_per_rfc_9110() {
        assert_eq!(content_range("bytes 5-9/10"), Some((5, 9, Some(10))));
        assert_eq!(content_range("bytes 5-9/*"), Some((5, 9, None)));
        for bad in [
            "bytes */10",
            "items 5-9/10",
            "bytes 5-9",
            "bytes 5-x/10",
            "",
        ] {
            assert_eq!(content_range(bad), None, "{bad}");
        }
    }

    /// A partial file resumes from what the journal says only when that fits the transfer's
    /// limits and the file: else it starts over; a 206 for other bytes starts it over too.
    #[test]
    fn a_partial_file_resumes_only_where_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1-fw.part");
        let journal = Mutex::new(Journal::default());
        let mut transfer = FileTransfer::download(FileType::FirmwareImage, "http://h/fw");
        transfer.file_size = Some(10);
        let resume = |written, total| Resume {
            written,
            total,
            validator: Some("\"a\"".into()),
            ..Resume::new(&transfer)
        };
        let open = |resume| Partial::open(path.clone(), resume, 1, &journal).unwrap();
        std::fs::write(&path, b"0123456").unwrap();
        let partial = open(resume(4, Some(10)));
        assert_eq!(partial.resume.range().unwrap().0, "bytes=4-");
        assert_eq!(std::fs::read(&path).unwrap(), b"0123");
        drop(partial);
        // More than the file holds, more than FileSize, more than the server said.
        let cases: [(&[u8], u64, Option<u64>); 3] = [
            (b"0123", 5, Some(10)),
            (b"0123456789ab", 11, None),
            (b"0123456789ab", 3, Some(2)),
        ];
        for (file, written, total) in cases {
            std::fs::write(&path, file).unwrap();
            let partial = open(resume(written, total));
            assert!(partial.resume.range().is_none());
            assert_eq!(std::fs::read(&path).unwrap(), b"", "{written}");
        }
        std::fs::write(&path, b"0123").unwrap();
        let mut partial = open(resume(4, Some(10)));
        assert!(partial.resume_at(Some("bytes 4-9/11")).is_err());
        assert_eq!((partial.resume.written, partial.resume.total), (0, None));
        let mut partial = open(resume(0, None));
        partial.write(b"0123").unwrap();
        partial.resume.validator = Some("\"a\"".into());
        assert!(partial.resume_at(Some("bytes 4-9/10")).is_ok());
        assert!(partial.write(b"4567890").is_err());
    }

    /// One entry of the wrong JSON type costs itself only: the journal's other entries
    /// are read.
    #[test]
    fn a_malformed_journal_entry_is_dropped_alone() {
        let text = br#"[{"id":7,"start":null,"outcome":null},{"id":"8","start":null},
            {"id":9,"start":1700000000,"outcome":{"Some":1}},{"id":10,"start":5}]"#;
        let ids: Vec<u32> = read_journal(text).unwrap().iter().map(|e| e.id).collect();
        assert_eq!(ids, [7, 10]);
        assert!(read_journal(b"[{\"id\":7,").is_err());
    }

    /// A journal far longer than the engine's running transfers (garbled, or left over)
    /// keeps, and reports, only the downloads the engine still runs.
    #[tokio::test]
    async fn the_journal_keeps_only_the_transfers_the_engine_runs() {
        let state = tempfile::tempdir().unwrap();
        let entries: Vec<Entry> = (1..=10_000)
            .map(|id| Entry {
                id,
                start: None,
                outcome: Some(None),
                resume: None,
            })
            .collect();
        let path = state.path().join(JOURNAL_FILE);
        std::fs::write(&path, serde_json::to_vec(&entries).unwrap()).unwrap();
        let sim = SimDevice::new("SIM0042");
        let engine = Engine::new(sim.hal(), Arc::new(AllowAll), EngineConfig::default());
        engine.start().await.unwrap();
        let hal = sim.hal();
        let downloads = Downloads::new(hal.lifecycle, hal.storage, state.path(), None);
        let running = [
            (TransferId(7), Direction::Download),
            (TransferId(20_000), Direction::Upload),
        ];
        assert_eq!(downloads.recover(&engine.sink(), &running), 2);
        assert_eq!(downloads.reported(), [7]);
        let saved: Vec<Entry> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved.len(), 1);
    }
}

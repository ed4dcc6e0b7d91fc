//! Real file transfers for the simulated device, crash-safe.
//!
//! [`Downloads`] wraps the simulated device's [`Lifecycle`]: a `Download` of an `http://` or
//! `https://` URL (CWMP Download, USP `FirmwareImage.{i}.Download()`) is fetched for real
//! (HTTP/1.1, Basic credentials when given, Digest when the server challenges for it, a size
//! bound, an idle timeout) into `<state_dir>/downloads/`; everything else goes to the
//! simulated device. `https://` servers
//! are checked against the agent's CA certificates ([`Trust`]); a server whose certificate is
//! refused, or a TLS URL with no CA file configured, fails the download with fault 9012
//! (TR-069: "File transfer server authentication failure"), as does an HTTP 401 or 403.
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
//! reported. After a crash, [`Downloads::recover`] reports each journalled transfer again:
//! with its recorded outcome, or, when it was cut short, with fault 9017 (TR-069: "Download
//! failure: unable to complete download"), 9011 for an upload. The engine ignores reports of
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

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use cwmp_core::session::ClientAuth;
use hal::HalError;
use hal::feed::{DeviceSink, TransferReporter};
use hal::traits::{BootReport, Lifecycle, Section, Storage};
use hal::transfer::{Direction, FileTransfer, FileType, TransferFault, TransferId};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::http::{StatusCode, Uri};
use tr181_model::lenient::{Lenient, keep_read};
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
}

/// The journal's entries, each read on its own: one of the wrong JSON type is dropped (and
/// logged), the others kept.
fn read_journal(bytes: &[u8]) -> serde_json::Result<Vec<Entry>> {
    let read: Vec<Lenient<Entry>> = serde_json::from_slice(bytes)?;
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

    /// Reports to the engine through `sink` every journalled transfer (its recorded outcome,
    /// or 9017 (9011 for an upload) when the previous run ended during the transfer) and every
    /// other transfer of `running` (the engine's running transfers at start: 9017, or 9011
    /// for an upload). Returns how many.
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
        for entry in &mut journal.entries {
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
        journal.entries.len().saturating_add(unjournalled)
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
            journal.entries.push(Entry {
                id: id.0,
                start: None,
                outcome: None,
            });
            journal.save();
        }
        let name = match transfer.target_file_name.rsplit('/').next() {
            Some(name) if !name.is_empty() && name != ".." => format!("{}-{name}", id.0),
            _ => format!("{}.bin", id.0),
        };
        let path = self.dir.join(name);
        let (transfer, journal) = (transfer.clone(), self.journal.clone());
        let (trust, storage) = (self.trust.clone(), self.storage.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(transfer.delay_seconds.into())).await;
            let start = wall_clock().and_then(|time| time.unix_seconds());
            let lock = || journal.lock().unwrap_or_else(PoisonError::into_inner);
            lock().update(id.0, |entry| entry.start = start);
            let what = upload.map_or("download", |_| "upload");
            tracing::info!(id = id.0, url = %transfer.url, "{what} started");
            let result = match upload {
                None => fetch(&transfer, trust.as_ref(), &path).await,
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
        Ok(())
    }

    async fn activate(&self, image: u32) -> Result<(), HalError> {
        self.inner.activate(image).await
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
        let (_, status) = request(transfer, trust, "PUT", content_type, &body).await?;
        if !status.is_success() {
            return Err((TransferFault::AccessFile, status.to_string()));
        }
        Ok(u64::try_from(body.len()).unwrap_or(u64::MAX))
    };
    sent.await.map_err(|(fault, reason)| match fault {
        TransferFault::Authentication | TransferFault::Internal => (fault, reason),
        _ => (TransferFault::Failure, reason),
    })
}

/// Sends `method` with `body` (of `content_type`, when not empty) to `transfer.url`, checking
/// an `https://` server against `trust`, and reads the response head: the connection (its body
/// next) and the status. Credentials, when given, go as Basic; a server that answers 401 with
/// a Digest challenge gets the request once more, on a new connection, with the answer to it
/// (TR-069 asks for both schemes on file transfers; cwmp-core's [`ClientAuth`], as for the
/// ACS). HTTP 401 and 403 are then 9012.
async fn request(
    transfer: &FileTransfer,
    trust: Option<&Trust>,
    method: &str,
    content_type: &str,
    body: &[u8],
) -> Result<(Conn<Box<dyn Io>>, StatusCode), Failure> {
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
        let mut headers = vec![("Host", authority.as_str())];
        headers.extend(authorization.as_deref().map(|a| ("Authorization", a)));
        if !body.is_empty() {
            headers.push(("Content-Type", content_type));
        }
        let (conn, head) = exchange(&uri, trust, method, target, &headers, body).await?;
        let status = StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY);
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
        return Ok((conn, status));
    }
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

/// GETs `transfer.url` into `path` (through `path.part`), checking an `https://` server
/// against `trust`; returns the size.
async fn fetch(
    transfer: &FileTransfer,
    trust: Option<&Trust>,
    path: &Path,
) -> Result<u64, Failure> {
    let failure = |fault: TransferFault| move |e: &dyn std::fmt::Display| (fault, e.to_string());
    let (mut conn, status) = request(transfer, trust, "GET", "", &[]).await?;
    if status != StatusCode::OK {
        return Err((TransferFault::AccessFile, status.to_string()));
    }
    let limit = transfer
        .file_size
        .filter(|n| *n > 0)
        .unwrap_or(MAX_DOWNLOAD);
    let parent = path.parent().unwrap_or(path);
    std::fs::create_dir_all(parent).map_err(|e| failure(TransferFault::Internal)(&e))?;
    let partial = path.with_extension("part");
    let mut file =
        std::fs::File::create(&partial).map_err(|e| failure(TransferFault::Internal)(&e))?;
    let mut size: u64 = 0;
    loop {
        let data = tokio::time::timeout(IDLE_TIMEOUT, conn.read_chunk())
            .await
            .map_err(|_| (TransferFault::Incomplete, "the server went silent".into()))?;
        let Some(data) = data.map_err(|e| failure(TransferFault::Incomplete)(&e))? else {
            break;
        };
        size = size.saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        if size > limit {
            return Err((TransferFault::Failure, format!("larger than {limit} bytes")));
        }
        file.write_all(&data)
            .map_err(|e| failure(TransferFault::Internal)(&e))?;
    }
    if transfer.file_size.is_some_and(|n| n > 0 && n != size) {
        return Err((TransferFault::Incomplete, format!("got {size} bytes")));
    }
    file.sync_all()
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| failure(TransferFault::Internal)(&e))?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use hal::engine::AllowAll;
    use hal::sim::SimDevice;
    use hal::{Engine, EngineConfig};

    use super::*;

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

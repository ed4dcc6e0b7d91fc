//! Bulk data delivery (`Device.BulkData.Profile.{i}.`): runs each enabled profile on its
//! schedule with [`hal::bulkdata`] and sends the report.
//!
//! - `HTTP` (TR-069 Annex N, TR-369 Annex A.1): a POST (or PUT, per `HTTP.Method`) of the
//!   report to `HTTP.URL` with its `RequestURIParameter` query, the headers `Content-Type`,
//!   `BBF-Report-Format` and, with `UseDateHeader`, `Date`. The body is compressed per
//!   `HTTP.Compression` ([`content_coding`]: `GZIP` with `Content-Encoding: gzip`,
//!   `Deflate` with `Content-Encoding: deflate`) once, when the report is made: retained
//!   reports are kept (and persisted) as collections, not bodies, and join the next report,
//!   which is compressed as a whole. When the collector answers 401
//!   and `HTTP.Username` is set, the request again with the answer to its challenge (Digest,
//!   RFC 7616 / 2617; Basic only over `https://`, and only to the origin of `HTTP.URL`). A
//!   307 or 308 answer sends it again to the `Location` (at most 5 times, never from
//!   `https://` to `http://`); a 2xx answer delivers it; anything else fails it (a 301, 302
//!   or 303 too: see `Delivery::attempt`), retried per
//!   `RetryEnable` / `RetryMinimumWaitInterval` / `RetryIntervalMultiplier` until the next
//!   report is due, then kept for the next interval per `NumberOfRetainedFailedReports`.
//! - `MQTT` (TR-369 Annex A, "MQTT Bulk Data Collection"): a PUBLISH of the report to
//!   `MQTT.PublishTopic` on the open connection of the `Device.MQTT.Client.{i}.` row that
//!   `MQTT.Reference` names, which the client row's task keeps whether or not a USP MTP runs
//!   on it ([`Connections`]: no second connection to the broker), at `PublishQoS` lowered to the broker's Maximum QoS, retained
//!   per `PublishRetain` unless the broker said Retain Available 0, with the `Content-Type`
//!   value as the MQTT 5 Content Type (R-BULK.8a). It is delivered once the broker
//!   acknowledges it: its PUBACK at QoS 1, its PUBCOMP at QoS 2; at QoS 0, which has no
//!   acknowledgement, once written to the connection. A client row that is not connected
//!   (disabled, the broker away, or no row referenced), a `PublishTopic` that is no topic
//!   name, a refusal (an MQTT 5 reason code), a connection lost before the acknowledgement
//!   (the MQTT client does not send the report again on its next connection) or no
//!   acknowledgement by the next report's time fails the report, kept for the next interval
//!   per `NumberOfRetainedFailedReports`.
//! - `USPEventNotif`: the report is the `Data` of the profile's `Push!` event, raised on the
//!   device's sink; the USP agent notifies the owner's subscriptions (NotifRetry is theirs).
//!
//! The profiles are read again whenever the store changes; a profile whose
//! `ReportingInterval` or `TimeReference` changed starts a new interval at once.
//! `Profile.{i}.ForceCollection()` ([`ForceCollection`], wrapping the device's commands) makes
//! a report at once, enabled or not, leaving the schedule as it is. Reports are read with the
//! rights of the profile's `Controller` (the agent's own when it has none).
//!
//! The retained reports of the profiles with `HTTP.PersistAcrossReboot` are saved in the
//! device's flash ([`Section::BulkData`](hal::traits::Section::BulkData), through
//! [`bulkdata::saved`]) whenever they change or such a profile goes away (deleted, disabled,
//! `PersistAcrossReboot` false), and restored at start ([`bulkdata::restore`]): they go out
//! with the first report after the restart. A crash between a delivery and the save after it
//! sends them once more. `MQTT` profiles keep theirs in memory only: TR-181 gives
//! `PersistAcrossReboot` to `HTTP.` alone.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use cwmp_core::session::ClientAuth;
use hal::bulkdata::{self, Collection, Limits, Method, Profile, Retained, Stamp, Transport};
use hal::feed::{CallId, CommandReporter};
use hal::retry::Rng;
use hal::traits::{CommandCall, Commands, Invoked};
use hal::{Engine, HalError, Principal};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::Uri;
use tr181_model::value::DateTime;

use crate::acs_client::AcsClient;
use crate::content_coding;
use crate::device::{DeviceEvent, wall_clock};
use crate::mqtt::Connections;
use crate::tls::{self, Trust};

/// Longest one HTTP attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most redirects one HTTP attempt follows (as the CWMP session towards the ACS).
const MAX_REDIRECTS: usize = 5;

/// A running profile.
struct Running {
    profile: Profile,
    /// The end of the current reporting interval.
    next: Instant,
    /// Its failed reports, shared with a delivery in progress.
    retained: Arc<Mutex<Retained>>,
}

impl Running {
    fn retained(&self) -> MutexGuard<'_, Retained> {
        lock(&self.retained)
    }
}

/// The retained reports of a profile, locked (a panic elsewhere leaves them as they were).
fn lock(retained: &Mutex<Retained>) -> MutexGuard<'_, Retained> {
    retained.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running profiles, by row.
type Profiles = BTreeMap<String, Running>;

/// The revision of each profile that persists its retained reports and retains some.
type Revisions = Vec<(String, u64)>;

/// The [`Revisions`] the flash holds; `None` when unknown (at start, after a failed save).
type Saved = Option<Revisions>;

/// How many `ForceCollection()` calls may wait for the task.
const FORCED_QUEUE: usize = 16;

/// The device's commands plus `Device.BulkData.Profile.{i}.ForceCollection()`, which hands
/// the profile to the bulk data task.
pub(crate) struct ForceCollection {
    inner: Arc<dyn Commands>,
    forced: mpsc::Sender<String>,
}

impl ForceCollection {
    /// Wraps `inner`; the receiver goes to [`serve`].
    pub(crate) fn new(inner: Arc<dyn Commands>) -> (Self, mpsc::Receiver<String>) {
        let (forced, rx) = mpsc::channel(FORCED_QUEUE);
        (Self { inner, forced }, rx)
    }
}

#[async_trait]
impl Commands for ForceCollection {
    async fn invoke(
        &self,
        call: &CommandCall,
        reporter: CommandReporter,
    ) -> Result<Invoked, HalError> {
        let profile = call
            .path
            .strip_suffix("ForceCollection()")
            .filter(|row| row.starts_with(bulkdata::PROFILES));
        let Some(profile) = profile else {
            return self.inner.invoke(call, reporter).await;
        };
        self.forced
            .try_send(profile.to_owned())
            .map_err(|_| HalError::Failed {
                path: call.path.clone(),
                reason: "too many collections waiting".into(),
            })?;
        Ok(Invoked::Done(Vec::new()))
    }

    async fn cancel(&self, call: CallId) -> Result<(), HalError> {
        self.inner.cancel(call).await
    }
}

/// How reports leave the agent: the TLS trust for HTTP, the MQTT clients' connections.
struct Senders {
    trust: Option<Trust>,
    mqtt: Connections,
    /// Told when a delivery ends: its retained reports may have changed.
    delivered: Arc<Notify>,
}

/// The bulk data task: runs until `shutdown`, re-reading the profiles on every `events` and
/// reporting at once for each profile `forced` names.
pub(crate) async fn serve(
    engine: Arc<Engine>,
    agent: String,
    trust: Option<Trust>,
    mqtt: Connections,
    mut events: mpsc::Receiver<DeviceEvent>,
    mut forced: mpsc::Receiver<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let booted = Instant::now();
    let stamp = move |wall: Option<i64>| {
        let uptime = Instant::now().saturating_duration_since(booted).as_millis();
        Stamp::new(
            wall.map(|w| w / 1000),
            u64::try_from(uptime).unwrap_or(u64::MAX),
        )
    };
    let limits = Limits::DEFAULT;
    let delivered = Arc::default();
    let senders = Senders {
        trust,
        mqtt,
        delivered,
    };
    let mut running = Profiles::new();
    refresh(&engine, &limits, &mut running).await;
    let mut saved = restore(&engine, &limits, &running).await;
    loop {
        save(&engine, &limits, &running, &mut saved).await;
        let next = running.values().map(|r| r.next).min();
        let due = async {
            match next {
                Some(next) => tokio::time::sleep_until(next).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            () = senders.delivered.notified() => {}
            event = events.recv() => {
                if event.is_none() {
                    return;
                }
                refresh(&engine, &limits, &mut running).await;
            }
            Some(row) = forced.recv() => {
                let wall = wall_micros();
                if let Some(run) = running.get(&row) {
                    report(&engine, &agent, &senders, run, stamp(wall), &limits).await;
                    continue;
                }
                // A disabled profile: read as it is, with nothing retained.
                match engine.read(|store| bulkdata::profile(store, row, &limits)) {
                    Ok(profile) => {
                        let next = Instant::now() + profile.next_report(wall);
                        let run = Running { profile, next, retained: Arc::default() };
                        report(&engine, &agent, &senders, &run, stamp(wall), &limits).await;
                    }
                    Err(error) => tracing::warn!(%error, "ForceCollection() made no report"),
                }
            }
            () = due => {
                let now = Instant::now();
                for run in running.values_mut().filter(|r| r.next <= now) {
                    let wall = wall_micros();
                    run.next = now + run.profile.next_report(wall);
                    report(&engine, &agent, &senders, run, stamp(wall), &limits).await;
                }
            }
        }
    }
}

/// The wall clock in Unix microseconds, if known.
fn wall_micros() -> Option<i64> {
    wall_clock().and_then(|t| t.unix_micros())
}

/// Restores the retained reports the flash holds into the `running` profiles that persist
/// them; what the flash holds now is unknown.
async fn restore(engine: &Engine, limits: &Limits, running: &Profiles) -> Saved {
    let bytes = match engine.load_bulk_data().await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Some(Vec::new()),
        Err(error) => {
            tracing::warn!(%error, "saved bulk data reports dropped");
            return None;
        }
    };
    let profiles = running.values().map(|run| &run.profile);
    match bulkdata::restore(&bytes, profiles, limits) {
        Ok(restored) => {
            if restored.malformed > 0 {
                let error = format!("{} entries of the wrong shape", restored.malformed);
                tracing::warn!(%error, "saved bulk data reports dropped");
            }
            for (path, retained) in restored.retained {
                if let Some(run) = running.get(&path) {
                    *run.retained() = retained;
                }
            }
        }
        Err(error) => tracing::warn!(%error, "saved bulk data reports dropped"),
    }
    None
}

/// Saves the retained reports of the profiles that persist them when they changed since
/// `saved`, removing the section when none are left.
async fn save(engine: &Engine, limits: &Limits, running: &Profiles, saved: &mut Saved) {
    let Some((now, bytes)) = changed(limits, running, saved.as_deref()) else {
        return;
    };
    match engine.save_bulk_data(bytes.as_deref()).await {
        Ok(()) => *saved = Some(now),
        Err(error) => tracing::warn!(%error, "cannot save the retained bulk data reports"),
    }
}

/// What to save when the retained reports of the profiles that persist them are not those
/// `saved`: their revisions and the section ([`bulkdata::saved`]).
fn changed(
    limits: &Limits,
    running: &Profiles,
    saved: Option<&[(String, u64)]>,
) -> Option<(Revisions, Option<Vec<u8>>)> {
    let persisting: Vec<_> = running
        .values()
        .filter(|run| run.profile.persists())
        .map(|run| (&run.profile, run.retained()))
        .collect();
    let now: Revisions = persisting
        .iter()
        .filter(|(_, retained)| retained.failed().len() > 0)
        .map(|(profile, retained)| (profile.path.clone(), retained.revision()))
        .collect();
    if saved == Some(now.as_slice()) {
        return None;
    }
    let bytes = bulkdata::saved(persisting.iter().map(|(p, r)| (*p, &**r)), limits);
    Some((now, bytes))
}

/// Writes the device-maintained values and re-reads the profiles, keeping the schedule and
/// the retained reports of those whose timing did not change.
async fn refresh(engine: &Engine, limits: &Limits, running: &mut Profiles) {
    let sets = engine.read(bulkdata::upkeep);
    if !sets.is_empty() {
        if let Err(error) = crate::device::set_as_device(engine, sets).await {
            tracing::warn!(%error, "cannot update Device.BulkData.");
        }
    }
    let mut old = std::mem::take(running);
    for profile in engine.read(|store| bulkdata::profiles(store, limits)) {
        let profile = match profile {
            Ok(profile) => profile,
            Err(error) => {
                tracing::debug!(%error, "bulk data profile not run");
                continue;
            }
        };
        let (next, retained) = match old.remove(&profile.path) {
            Some(run)
                if run.profile.interval == profile.interval
                    && run.profile.time_reference == profile.time_reference =>
            {
                (run.next, run.retained)
            }
            kept => (
                Instant::now() + profile.next_report(wall_micros()),
                kept.map(|run| run.retained).unwrap_or_default(),
            ),
        };
        let run = Running {
            profile,
            next,
            retained,
        };
        running.insert(run.profile.path.clone(), run);
    }
}

/// Collects and sends one report of `run`.
async fn report(
    engine: &Arc<Engine>,
    agent: &str,
    senders: &Senders,
    run: &Running,
    stamp: Stamp,
    limits: &Limits,
) {
    let profile = &run.profile;
    let owner = if profile.controller.is_empty() {
        agent
    } else {
        &profile.controller
    };
    let principal = Principal::controller(owner, Vec::new());
    let collected = match bulkdata::collect(engine, &principal, profile, stamp, limits).await {
        Ok(collected) => collected,
        Err(error) => {
            tracing::warn!(%error, "bulk data collection failed");
            return;
        }
    };
    let (collected, body, carried) = match make(run, collected, limits).await {
        Ok(made) => made,
        Err(error) => {
            tracing::warn!(%error, "bulk data report not made");
            return;
        }
    };
    match (&profile.transport, body) {
        (Transport::UspEventNotif, Body::Text(data)) => {
            let args = vec![("Data".to_owned(), data)];
            engine.sink().event(profile.push_event(), args);
        }
        (Transport::Http(http), Body::Coded(body)) => {
            let query = match bulkdata::request_query(engine, &principal, http).await {
                Ok(query) => query,
                Err(error) => {
                    tracing::warn!(%error, "bulk data Request-URI parameters not read");
                    String::new()
                }
            };
            let delivery = Delivery {
                profile: profile.clone(),
                url: with_query(&http.url, &query),
                body,
                trust: senders.trust.clone(),
            };
            deliver(
                senders,
                run,
                (collected, carried),
                Box::pin(async move { delivery.send().await }),
            );
        }
        (Transport::Mqtt(mqtt), Body::Text(data)) => {
            let (connections, mqtt) = (senders.mqtt.clone(), mqtt.clone());
            let content_type = profile.content_type();
            let body = data.into_bytes();
            let publish = async move {
                let (client, topic) = (&mqtt.client, &mqtt.topic);
                (connections.publish(client, topic, body, mqtt.qos, mqtt.retain, content_type))
                    .await
            };
            deliver(senders, run, (collected, carried), Box::pin(publish));
        }
        _ => {}
    }
}

/// A made report's body as its transport takes it.
enum Body {
    /// `Push!`'s `Data`, or the MQTT payload: the report as encoded.
    Text(String),
    /// The HTTP body: the report in the profile's `Compression`.
    Coded(Vec<u8>),
}

/// Makes the report of `run` with `collected` (and the retained reports before it), and for
/// HTTP compresses it: both take milliseconds for a report of thousands of values, so they
/// run on tokio's blocking pool rather than on the agent's one runtime thread, where every
/// protocol waits while they run. Gives `collected` back with the body and
/// [`Report::carried`](bulkdata::Report::carried).
async fn make(
    run: &Running,
    collected: Collection,
    limits: &Limits,
) -> Result<(Collection, Body, u64), String> {
    let (profile, retained, limits) = (run.profile.clone(), run.retained.clone(), *limits);
    let work = move || {
        let report = lock(&retained).report(&profile, &collected, &limits);
        let report = report.map_err(|error| error.to_string())?;
        let body = match &profile.transport {
            Transport::Http(http) => Body::Coded(content_coding::encode(
                http.compression,
                report.body.into_bytes(),
            )),
            _ => Body::Text(report.body),
        };
        Ok((collected, body, report.carried))
    };
    let made = tokio::task::spawn_blocking(work).await;
    made.map_err(|error| error.to_string())?
}

/// A report on its way: delivered, or why not.
type Sending = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Sends a report of `run` in the background, bounded by the next report's time: delivered,
/// the retained reports it `carried` went with it; failed, `collected` is kept for the next
/// interval. Either way the task is told, to save what persists. (A report made meanwhile
/// does not carry this one's `collected`: it goes with the one after.)
/// (One task type for every protocol: each spawned type weighs on the router build.)
fn deliver(
    senders: &Senders,
    run: &Running,
    (collected, carried): (Collection, u64),
    send: Sending,
) {
    let delivered = senders.delivered.clone();
    let retained = run.retained.clone();
    let deadline = run.next;
    let profile = run.profile.clone();
    tokio::spawn(async move {
        let sent = tokio::time::timeout_at(deadline, send).await;
        let mut retained = lock(&retained);
        match sent.unwrap_or_else(|_| Err("the next report is due".to_owned())) {
            Ok(()) => retained.delivered(carried),
            Err(error) => {
                tracing::warn!(
                    profile = %profile.path,
                    error,
                    "bulk data report not delivered: kept for the next interval"
                );
                retained.failed_with(&profile, collected);
            }
        }
        drop(retained);
        delivered.notify_one();
    });
}

/// `url` with the Request-URI parameters `query` (`?a=b&...`) appended.
fn with_query(url: &str, query: &str) -> String {
    match query.strip_prefix('?') {
        Some(rest) if url.contains('?') => format!("{url}&{rest}"),
        _ => format!("{url}{query}"),
    }
}

/// One HTTP report on its way.
struct Delivery {
    profile: Profile,
    url: String,
    /// The report in the profile's `Compression`, coded once for every attempt.
    body: Vec<u8>,
    trust: Option<Trust>,
}

impl Delivery {
    /// Sends it, retrying per the profile; the last attempt's error when none went through
    /// (the caller bounds the whole by the next report's time).
    async fn send(&self) -> Result<(), String> {
        let Transport::Http(http) = &self.profile.transport else {
            return Err("not an HTTP profile".to_owned());
        };
        let mut rng = Rng::new(tls::random_seed());
        let mut auth = None;
        let mut retry = 0;
        loop {
            let error = match self.attempt(http, &mut auth, &mut rng).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            retry += 1;
            let Some(wait) = http.retry_wait_ms(retry, rng.next_u64()) else {
                return Err(error);
            };
            tracing::info!(%error, url = %self.url, "bulk data POST failed");
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    /// One attempt: the request, and when the collector answers 401 and the profile has a
    /// `Username`, the request again with the answer to its challenge (the session's
    /// [`ClientAuth`]: Digest, or Basic over `https://` only, as for the ACS). `auth` keeps
    /// the challenge for the retries.
    ///
    /// Redirects (RFC 9110 §15.4): a 307 or 308 is followed, at most [`MAX_REDIRECTS`] times,
    /// with the same method and body to its `Location` (resolved against the request's URL),
    /// but not from `https://` to `http://`. The credentials go to the origin of `HTTP.URL`
    /// only: elsewhere a 401 fails the attempt. Any other 3xx fails it: after a 301 or 302 a
    /// client may change a POST into a GET, and after a 303 it is meant to GET another
    /// resource, neither of which delivers a report; so the collector's intent is unknown and
    /// the report is retained rather than counted delivered (a collector that moved answers
    /// 307 or 308, which exist for this).
    async fn attempt(
        &self,
        http: &bulkdata::HttpSettings,
        auth: &mut Option<ClientAuth>,
        rng: &mut Rng,
    ) -> Result<(), String> {
        let method = match http.method {
            Method::Put => "PUT",
            _ => "POST",
        };
        let mut url = self.url.clone();
        let mut client = AcsClient::new(self.trust.clone());
        let mut challenged = false;
        let mut redirects = 0;
        loop {
            let at_home = same_origin(&url, &self.url);
            let mut headers = vec![
                (
                    "Content-Type".to_owned(),
                    self.profile.content_type().to_owned(),
                ),
                (
                    "BBF-Report-Format".to_owned(),
                    self.profile.report_format().to_owned(),
                ),
            ];
            if let Some(coding) = http.compression.content_encoding() {
                headers.push(("Content-Encoding".to_owned(), coding.to_owned()));
            }
            if let Some(now) = wall_clock().filter(|_| http.use_date_header) {
                headers.push(("Date".to_owned(), http_date(&now)));
            }
            if let Some(auth) = auth.as_mut().filter(|_| at_home) {
                let target = (url.parse::<Uri>().ok())
                    .and_then(|uri| uri.path_and_query().map(|p| p.as_str().to_owned()))
                    .unwrap_or_else(|| "/".to_owned());
                let cnonce = format!("{:016x}", rng.next_u64());
                let value =
                    auth.authorization(method, &http.username, &http.password, &target, &cnonce);
                headers.push(("Authorization".to_owned(), value));
            }
            let exchange = client.send(method, &url, &headers, &self.body);
            let (status, answer, _) = tokio::time::timeout(ATTEMPT_TIMEOUT, exchange)
                .await
                .map_err(|_| "the collector did not answer".to_owned())??;
            let field = |wanted: &'static str| {
                (answer.iter())
                    .filter(move |(name, _)| name.eq_ignore_ascii_case(wanted))
                    .map(|(_, value)| value.as_str())
            };
            // Where a 307 or 308 points, when it may be followed.
            let moved = (matches!(status, 307 | 308) && redirects < MAX_REDIRECTS)
                .then(|| field("Location").next())
                .flatten()
                .and_then(|location| resolve(&url, location.trim()))
                .filter(|next| is_https(next) || !is_https(&url));
            match (status, moved) {
                (401, _) if at_home && !http.username.is_empty() && !challenged => {
                    challenged = true;
                    let picked =
                        ClientAuth::from_challenges(field("WWW-Authenticate"), is_https(&url))
                            .map_err(|e| {
                                format!("cannot answer the collector's challenge: {e:?}")
                            })?;
                    *auth = Some(picked);
                }
                (200..=299, _) => return Ok(()),
                (_, Some(next)) => {
                    redirects += 1;
                    challenged = false;
                    url = next;
                }
                _ => return Err(format!("the collector answered {status}")),
            }
        }
    }
}

/// Whether `url` is an `https://` one.
fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// Whether URLs `a` and `b` have the same origin (scheme and authority, compared without
/// regard to case).
fn same_origin(a: &str, b: &str) -> bool {
    match (a.parse::<Uri>(), b.parse::<Uri>()) {
        (Ok(a), Ok(b)) => {
            a.scheme().is_some() && a.scheme() == b.scheme() && a.authority() == b.authority()
        }
        _ => false,
    }
}

/// The `http://` or `https://` URL a `Location` value `reference` names, resolved against
/// the request's `base` (RFC 9110 §10.2.2, RFC 3986 §5.2.2), without a fragment; `None` for
/// another scheme. (Neither `http` nor ureq-proto, whose resolution is private, resolves
/// references; the `url` crate would bring IDNA tables to the router build.)
fn resolve(base: &str, reference: &str) -> Option<String> {
    let reference = reference.split('#').next().unwrap_or_default();
    // RFC 3986 §4.2: a relative reference has no `:` before its first `/` or `?`.
    let scheme = reference.split_once(':').map(|(scheme, _)| scheme);
    if scheme.is_some_and(|scheme| !scheme.is_empty() && !scheme.contains(['/', '?'])) {
        let http = reference
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        return (http || is_https(reference)).then(|| reference.to_owned());
    }
    let (scheme, rest) = base.split('#').next()?.split_once("://")?;
    if let Some(network_path) = reference.strip_prefix("//") {
        return Some(format!("{scheme}://{network_path}"));
    }
    let (authority, base_path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (base_path, base_query) = match base_path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (base_path, None),
    };
    let (path, query) = match reference.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (reference, None),
    };
    let (path, query) = if path.is_empty() {
        (base_path.to_owned(), query.or(base_query))
    } else if path.starts_with('/') {
        (remove_dot_segments(path), query)
    } else {
        // RFC 3986 §5.2.3: the base path up to its last `/`, or `/` when it is empty.
        let directory = (base_path.rfind('/'))
            .and_then(|end| base_path.get(..=end))
            .unwrap_or("/");
        (remove_dot_segments(&format!("{directory}{path}")), query)
    };
    let path = if path.is_empty() { "/" } else { &path };
    Some(match query {
        Some(query) => format!("{scheme}://{authority}{path}?{query}"),
        None => format!("{scheme}://{authority}{path}"),
    })
}

/// `path` (absolute) without its `.` and `..` segments (RFC 3986 §5.2.4).
fn remove_dot_segments(path: &str) -> String {
    let mut kept = String::new();
    let mut segments = path.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        match segment {
            "." => {}
            ".." => kept.truncate(kept.rfind('/').unwrap_or(0)),
            _ => {
                kept.push('/');
                kept.push_str(segment);
                continue;
            }
        }
        // A path ending in a dot segment ends with `/`.
        if segments.peek().is_none() {
            kept.push('/');
        }
    }
    kept
}

/// `time` as an HTTP date (RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(time: &DateTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let seconds = time.unix_seconds().unwrap_or(0);
    let weekday = usize::try_from(seconds.div_euclid(86_400).rem_euclid(7)).unwrap_or(0);
    // The canonical text is `YYYY-MM-DDThh:mm:ss[.f]Z`.
    let text = time.to_string();
    let field = |range: std::ops::Range<usize>| text.get(range).unwrap_or("00");
    let month = field(5..7).parse::<usize>().unwrap_or(1);
    format!(
        "{}, {} {} {} {} GMT",
        DAYS.get(weekday).unwrap_or(&"Thu"),
        field(8..10),
        MONTHS.get(month.saturating_sub(1)).unwrap_or(&"Jan"),
        field(0..4),
        field(11..19),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdates() {
        let time = DateTime::parse("1994-11-06T08:49:37Z").unwrap();
        assert_eq!(http_date(&time), "Sun, 06 Nov 1994 08:49:37 GMT");
        let time = DateTime::parse("2026-11-26T00:00:00.25Z").unwrap();
        assert_eq!(http_date(&time), "Thu, 26 Nov 2026 00:00:00 GMT");
    }

    #[test]
    fn locations_resolve_as_rfc_3986_says() {
        // RFC 3986 §5.4.1 and §5.4.2, on the base of §5.4 (only HTTP URLs are kept).
        let base = "http://a/b/c/d;p?q";
        for (reference, resolved) in [
            ("g:h", None),
            ("g", Some("http://a/b/c/g")),
            ("./g", Some("http://a/b/c/g")),
            ("g/", Some("http://a/b/c/g/")),
            ("/g", Some("http://a/g")),
            ("//g", Some("http://g")),
            ("?y", Some("http://a/b/c/d;p?y")),
            ("g?y", Some("http://a/b/c/g?y")),
            ("#s", Some("http://a/b/c/d;p?q")),
            ("g#s", Some("http://a/b/c/g")),
            (";x", Some("http://a/b/c/;x")),
            ("", Some("http://a/b/c/d;p?q")),
            (".", Some("http://a/b/c/")),
            ("./", Some("http://a/b/c/")),
            ("..", Some("http://a/b/")),
            ("../", Some("http://a/b/")),
            ("../g", Some("http://a/b/g")),
            ("../..", Some("http://a/")),
            ("../../", Some("http://a/")),
            ("../../g", Some("http://a/g")),
            ("../../../g", Some("http://a/g")),
            ("/./g", Some("http://a/g")),
            ("/../g", Some("http://a/g")),
            ("g.", Some("http://a/b/c/g.")),
            ("..g", Some("http://a/b/c/..g")),
            ("./../g", Some("http://a/b/g")),
            ("./g/.", Some("http://a/b/c/g/")),
            ("g/./h", Some("http://a/b/c/g/h")),
            ("g/../h", Some("http://a/b/c/h")),
            ("g;x=1/../y", Some("http://a/b/c/y")),
            ("g?y/./x", Some("http://a/b/c/g?y/./x")),
            ("HTTPS://c:8443/x", Some("HTTPS://c:8443/x")),
            ("ftp://c/x", None),
        ] {
            assert_eq!(resolve(base, reference).as_deref(), resolved, "{reference}");
        }
        assert_eq!(resolve("http://a", "g").as_deref(), Some("http://a/g"));
        assert_eq!(resolve("http://a?q", "").as_deref(), Some("http://a/?q"));
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        let home = "http://Collector:8080/bulk";
        assert!(same_origin("HTTP://collector:8080/other?x", home));
        assert!(!same_origin("http://collector:8081/bulk", home));
        assert!(!same_origin("https://collector:8080/bulk", home));
        assert!(!same_origin("/bulk", "/bulk"), "no origin");
    }

    #[test]
    fn request_uri_parameters_join_the_url_query() {
        assert_eq!(with_query("http://c/x", "?a=1&b=2"), "http://c/x?a=1&b=2");
        assert_eq!(with_query("http://c/x?k=v", "?a=1"), "http://c/x?k=v&a=1");
        assert_eq!(with_query("http://c/x", ""), "http://c/x");
    }
}

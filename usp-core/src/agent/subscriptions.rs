//! Subscriptions (`Device.LocalAgent.Subscription.{i}.`) and notifications: matching the
//! store's change log and the engine's notices against each subscription's `ReferenceList`,
//! building Notify Msgs, NotifRetry with the TR-369 backoff, `NotifExpiration` and
//! `TimeToLive`.
//!
//! The subscription rows live in the data model, where controllers Add, Set and Delete them
//! with ordinary messages; the agent re-reads the table from the store whenever the change
//! log touches it. Monotonic deadlines (`TimeToLive`, `NotifExpiration`, retries) count from
//! the `now` at which the agent first saw the row or sent the Notify.

use std::collections::BTreeMap;
use std::format;
use std::string::{String, ToString};
use std::time::{Duration, Instant};
use std::vec::Vec;

use hal::engine::{
    CommandFailure, Notice, NoticeId, OperationComplete, Permissions, SetRequest, Target,
};
use tr181_model::path::Path;
use tr181_model::schema::Protocol;
use tr181_model::store::{Change, ChangeRecord, Resolved, Store};

use super::engine::{DeviceUpdate, EngineRequest};
use super::{Agent, AgentEvent, Pending, param_text};
use crate::usp::{self, notify};

/// The subscription table.
pub(crate) const TABLE: &str = "Device.LocalAgent.Subscription.";

/// What a subscription is for (`NotifType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotifType {
    Event,
    ObjectCreation,
    ObjectDeletion,
    OperationComplete,
    ValueChange,
}

impl NotifType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "ValueChange" => Self::ValueChange,
            "ObjectCreation" => Self::ObjectCreation,
            "ObjectDeletion" => Self::ObjectDeletion,
            "OperationComplete" => Self::OperationComplete,
            "Event" => Self::Event,
            _ => return None,
        })
    }

    const fn target(self) -> Target {
        match self {
            Self::ValueChange => Target::Parameter,
            Self::ObjectCreation => Target::Object,
            Self::ObjectDeletion => Target::Instance,
            Self::OperationComplete => Target::Command,
            Self::Event => Target::Event,
        }
    }
}

/// One row of the subscription table, as the agent uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) row: String,
    pub(crate) id: String,
    pub(crate) recipient: String,
    pub(crate) enable: bool,
    pub(crate) notif_type: Option<NotifType>,
    pub(crate) references: Vec<String>,
    pub(crate) persistent: bool,
    pub(crate) time_to_live: u32,
    pub(crate) notif_retry: bool,
    pub(crate) notif_expiration: u32,
    /// `TriggerAction` is `Notify` or `NotifyAndConfig`.
    pub(crate) notify: bool,
    /// `TriggerConfigSettings` when `TriggerAction` is `Config` or `NotifyAndConfig`.
    pub(crate) config: Vec<(String, String)>,
    /// When the agent first saw the row (`TimeToLive` counts from here).
    pub(crate) seen: Instant,
}

impl Subscription {
    /// When the row removes itself, if it has a `TimeToLive`.
    pub(crate) fn expires(&self) -> Option<Instant> {
        (self.time_to_live > 0)
            .then(|| {
                self.seen
                    .checked_add(Duration::from_secs(u64::from(self.time_to_live)))
            })
            .flatten()
    }
}

/// Reads the subscription table, keeping `seen` of rows already known.
pub(crate) fn load(store: &Store, now: Instant, known: &[Subscription]) -> Vec<Subscription> {
    let Ok(rows) = store.instances(TABLE, Protocol::Usp, true) else {
        return Vec::new();
    };
    rows.into_iter()
        .map(|info| {
            let row = info.path;
            let seen = known.iter().find(|s| s.row == row).map_or(now, |s| s.seen);
            Subscription {
                id: param_text(store, &row, "ID"),
                recipient: param_text(store, &row, "Recipient"),
                enable: param_text(store, &row, "Enable") == "true",
                notif_type: NotifType::parse(&param_text(store, &row, "NotifType")),
                references: split_list(&param_text(store, &row, "ReferenceList")),
                persistent: param_text(store, &row, "Persistent") == "true",
                time_to_live: param_text(store, &row, "TimeToLive").parse().unwrap_or(0),
                notif_retry: param_text(store, &row, "NotifRetry") == "true",
                notif_expiration: param_text(store, &row, "NotifExpiration")
                    .parse()
                    .unwrap_or(0),
                notify: !matches!(param_text(store, &row, "TriggerAction").as_str(), "Config"),
                config: match param_text(store, &row, "TriggerAction").as_str() {
                    "Config" | "NotifyAndConfig" => {
                        config_settings(&param_text(store, &row, "TriggerConfigSettings"))
                    }
                    _ => Vec::new(),
                },
                seen,
                row,
            }
        })
        .collect()
}

/// Splits a TR-106 comma-separated list, keeping commas inside `[...]` search expressions.
fn split_list(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0_u32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '[' => depth = depth.saturating_add(1),
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                push_item(&mut out, &current);
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    push_item(&mut out, &current);
    out
}

fn push_item(out: &mut Vec<String>, item: &str) {
    let item = item.trim();
    if !item.is_empty() {
        out.push(item.to_string());
    }
}

/// Parses `TriggerConfigSettings`: a comma-separated list of `<Parameter Name>=<Value>`,
/// string values in double quotes (which may hold commas), other values bare.
fn config_settings(text: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut quoted = false;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.push(core::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
        .iter()
        .filter_map(|item| {
            let (name, value) = item.split_once('=')?;
            let name = name.trim();
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (!name.is_empty()).then(|| (name.to_string(), value.to_string()))
        })
        .collect()
}

/// Splits a path at its dots, keeping dots inside `[...]` whole.
fn segments(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0_u32;
    let mut start = 0;
    for (index, c) in path.char_indices() {
        match c {
            '[' => depth = depth.saturating_add(1),
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                out.push(path.get(start..index).unwrap_or_default());
                start = index.saturating_add(1);
            }
            _ => {}
        }
    }
    out.push(path.get(start..).unwrap_or_default());
    out
}

/// Whether `reference` covers the instance path `path` by its shape alone: instance numbers
/// equal, `*`, `{i}` and search expressions match any instance. An object reference (ending in
/// `.`) covers everything below it.
fn covers_by_shape(reference: &str, path: &str) -> bool {
    let wanted = segments(reference);
    let given = segments(path);
    let prefix = reference.ends_with('.');
    // An object reference ends with an empty segment after its last dot.
    let wanted: &[&str] = if prefix {
        wanted.split_last().map_or(&[], |(_, rest)| rest)
    } else {
        &wanted
    };
    if given.len() < wanted.len() || (!prefix && given.len() != wanted.len()) {
        return false;
    }
    wanted.iter().zip(given.iter()).all(|(w, g)| {
        w == g
            || ((*w == "*" || *w == "{i}" || w.starts_with('['))
                && !g.is_empty()
                && g.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Whether `reference` covers `path`. References with search expressions or reference
/// follows are resolved on the current store; an item no longer in the store (a deleted row)
/// falls back to the shape, a search then matching any instance.
pub(crate) fn covers(reference: &str, path: &str, store: &Store) -> bool {
    if !reference.contains(['[', '+', '#']) {
        return covers_by_shape(reference, path);
    }
    if !covers_by_shape(reference, path) {
        return false;
    }
    let Ok(parsed) = Path::parse(reference, store.limits()) else {
        return false;
    };
    let Ok(found) = store.resolve(&parsed, Protocol::Usp) else {
        return false;
    };
    let mut buf = String::new();
    let resolved = found.iter().any(|item| {
        buf.clear();
        found.write_path(item, &mut buf);
        match item {
            Resolved::Object { .. } | Resolved::Table { .. } => path.starts_with(buf.as_str()),
            _ => buf == path,
        }
    });
    resolved || !exists(store, path)
}

/// Whether the object part of `path` is still in the store.
fn exists(store: &Store, path: &str) -> bool {
    let object = super::messages::object_of(path);
    store.instances(object, Protocol::Usp, true).is_ok()
}

/// NotifRetry backoff (TR-369 R-NOT.1): retry `n` waits a random time in
/// `[m·(k/1000)^(n-1), m·(k/1000)^n]`, the exponent capped at 10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// `m`, `USPNotifRetryMinimumWaitInterval`. Default 5 s.
    pub min_wait: Duration,
    /// `k`, `USPNotifRetryIntervalMultiplier` in thousandths. Default 2000 (×2).
    pub multiplier: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_wait: Duration::from_secs(5),
            multiplier: 2000,
        }
    }
}

impl RetryPolicy {
    /// Sets the minimum wait and the multiplier (thousandths).
    #[must_use]
    pub const fn new(min_wait: Duration, multiplier: u32) -> Self {
        Self {
            min_wait,
            multiplier,
        }
    }

    /// The bounds `[low, high]` of the wait before retry `attempt` (1-based), in milliseconds
    /// ([`hal::retry::window_ms`]). Unlike CWMP, a multiplier below 1000 counts as 1000, so the
    /// wait never shrinks from one retry to the next.
    #[must_use]
    pub fn bounds_ms(&self, attempt: u32) -> (u64, u64) {
        hal::retry::window_ms(self.min_wait_ms(), self.floored_multiplier(), attempt)
    }

    /// The wait before retry `attempt`, with `random` picking inside the bounds.
    #[must_use]
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        Duration::from_millis(hal::retry::wait_ms(
            self.min_wait_ms(),
            self.floored_multiplier(),
            attempt,
            random,
        ))
    }

    fn min_wait_ms(&self) -> u64 {
        u64::try_from(self.min_wait.as_millis()).unwrap_or(u64::MAX)
    }

    fn floored_multiplier(&self) -> u32 {
        self.multiplier.max(1000)
    }
}

pub(crate) use hal::retry::Rng;

/// A Notify sent with `send_resp` and not yet answered.
#[derive(Clone, Debug)]
pub(crate) struct Unacknowledged {
    pub(crate) msg_id: String,
    pub(crate) controller: String,
    pub(crate) msg: usp::Msg,
    pub(crate) attempt: u32,
    pub(crate) next: Instant,
    /// `NotifExpiration`; `None` retries forever (OnBoardRequest, or 0).
    pub(crate) expires: Option<Instant>,
}

impl Agent {
    /// Re-reads the subscription table.
    pub(crate) fn reload_subscriptions(&mut self, now: Instant, store: &Store) {
        self.subscriptions = load(store, now, &self.subscriptions);
    }

    /// Feeds the store's change log to the subscriptions; see [`Agent::handle_changes`].
    pub(crate) fn changes(&mut self, now: Instant, changes: &[ChangeRecord], store: &Store) {
        self.now = Some(now);
        let touches = |table: &str| {
            changes.iter().any(|record| {
                let (Change::ValueChanged { path, .. }
                | Change::ObjectCreated { path, .. }
                | Change::ObjectDeleted { path }) = &record.change
                else {
                    return false;
                };
                path.starts_with(table)
            })
        };
        let subscriptions = touches(TABLE);
        let controllers = touches(super::session::CONTROLLERS);
        let trust = touches(super::trust::TRUST) || touches(super::trust::CERTIFICATES);
        if subscriptions {
            self.reload_subscriptions(now, store);
        }
        if controllers {
            self.reload_controllers(now, store);
        } else if trust {
            self.reload_trust(store);
        }
        for record in changes {
            if record.seq <= self.last_seq {
                continue;
            }
            self.last_seq = record.seq;
            let (kind, path, notification) = match &record.change {
                Change::ValueChanged { path, new, .. } => (
                    NotifType::ValueChange,
                    path,
                    notify::Notification::ValueChange(notify::ValueChange {
                        param_path: path.clone(),
                        param_value: new.canonical_text(),
                    }),
                ),
                Change::ObjectCreated { path, keys } => (
                    NotifType::ObjectCreation,
                    path,
                    notify::Notification::ObjCreation(notify::ObjectCreation {
                        obj_path: path.clone(),
                        unique_keys: keys
                            .iter()
                            .map(|(n, v)| ((*n).to_string(), v.canonical_text()))
                            .collect(),
                    }),
                ),
                Change::ObjectDeleted { path } => (
                    NotifType::ObjectDeletion,
                    path,
                    notify::Notification::ObjDeletion(notify::ObjectDeletion {
                        obj_path: path.clone(),
                    }),
                ),
                _ => continue,
            };
            self.notify_matching(now, kind, path, &notification, store);
        }
        self.expire_subscriptions(now);
        self.refresh_periodic(now, store);
    }

    /// Sends `notification` to every enabled subscription of `kind` whose references cover
    /// `path` and whose recipient may be notified about it.
    fn notify_matching(
        &mut self,
        now: Instant,
        kind: NotifType,
        path: &str,
        notification: &notify::Notification,
        store: &Store,
    ) {
        for target in self.targets(kind, path, store) {
            self.notify_target(now, target, notification.clone());
        }
    }

    /// Every enabled subscription of `kind` whose references cover `path` and whose
    /// recipient may be notified about it.
    pub(crate) fn targets(&self, kind: NotifType, path: &str, store: &Store) -> Vec<Recipient> {
        self.subscriptions
            .iter()
            .filter(|s| s.enable && s.notif_type == Some(kind) && !s.recipient.is_empty())
            .filter(|s| s.references.iter().any(|r| covers(r, path, store)))
            .filter(|s| self.may_notify(&s.recipient, path, kind.target(), store))
            .map(|s| Recipient {
                controller: s.recipient.clone(),
                subscription_id: s.id.clone(),
                notif_retry: s.notif_retry,
                notif_expiration: s.notif_expiration,
                notify: s.notify,
                config: s.config.clone(),
            })
            .collect()
    }

    /// Carries out one subscription's `TriggerAction`: sends `notification`, applies its
    /// `TriggerConfigSettings` (all or nothing, with the recipient controller's rights, so a
    /// subscription cannot write what its owner may not), or both.
    pub(crate) fn notify_target(
        &mut self,
        now: Instant,
        target: Recipient,
        notification: notify::Notification,
    ) {
        if !target.config.is_empty() {
            let principal = self.principal_of(&target.controller);
            let request = SetRequest::from_parameters(target.config.iter().cloned());
            self.request(principal, Pending::Internal, EngineRequest::Set(request));
        }
        if !target.notify {
            return;
        }
        let expires = (target.notif_retry && target.notif_expiration > 0)
            .then(|| now.checked_add(Duration::from_secs(u64::from(target.notif_expiration))))
            .flatten();
        self.send_notify(
            now,
            &target.controller,
            &target.subscription_id,
            target.notif_retry,
            expires,
            notification,
        );
    }

    /// The `ParameterMap` of `controller`'s `Device.Boot!` event: a JSON object of the
    /// parameters its enabled `BootParameter.{i}.ParameterName` patterns (wildcards and
    /// search expressions allowed) match now and it may read. Patterns that match nothing are
    /// left out.
    fn boot_parameters(&self, controller: &str, store: &Store) -> String {
        let mut params = BTreeMap::new();
        let principal = self.principal_of(controller);
        let rows = store
            .instances(super::session::CONTROLLERS, Protocol::Usp, true)
            .unwrap_or_default();
        let Some(row) = rows
            .into_iter()
            .find(|r| param_text(store, &r.path, "EndpointID") == controller)
        else {
            return json_object(&params);
        };
        let boot = format!("{}BootParameter.", row.path);
        for entry in store
            .instances(&boot, Protocol::Usp, true)
            .unwrap_or_default()
        {
            if param_text(store, &entry.path, "Enable") != "true" {
                continue;
            }
            let pattern = param_text(store, &entry.path, "ParameterName");
            let Ok(parsed) = Path::parse(&pattern, store.limits()) else {
                continue;
            };
            let Ok(found) = store.resolve(&parsed, Protocol::Usp) else {
                continue;
            };
            for item in &found {
                let Resolved::Parameter { value, .. } = item else {
                    continue;
                };
                let path = found.path(item);
                let readable = self.access.as_ref().is_none_or(|access| {
                    access
                        .permissions(&principal, &path, Target::Parameter, store)
                        .read
                });
                if readable {
                    params.insert(path, value.canonical_text());
                }
            }
        }
        json_object(&params)
    }

    /// Whether the access policy gives `controller` the notify right on `path`.
    fn may_notify(&self, controller: &str, path: &str, target: Target, store: &Store) -> bool {
        let Some(access) = &self.access else {
            return true;
        };
        let principal = self.principal_of(controller);
        let permissions: Permissions = access.permissions(&principal, path, target, store);
        permissions.notify
    }

    /// Builds and sends a Notify; with `send_resp` keeps it for retries until its NotifyResp.
    /// Returns its `msg_id`.
    pub(crate) fn send_notify(
        &mut self,
        now: Instant,
        controller: &str,
        subscription_id: &str,
        send_resp: bool,
        expires: Option<Instant>,
        notification: notify::Notification,
    ) -> String {
        let msg_id = self.next_msg_id("notify");
        let msg = crate::codec::request_msg(
            msg_id.clone(),
            usp::request::ReqType::Notify(usp::Notify {
                subscription_id: subscription_id.into(),
                send_resp,
                notification: Some(notification),
            }),
        );
        let sent = self.transmit_msg(controller, &msg);
        if !sent {
            self.push_event(AgentEvent::NotifyUndeliverable {
                controller: controller.into(),
            });
        }
        if send_resp {
            self.keep_for_retry(now, controller.into(), msg_id.clone(), msg, expires);
        }
        msg_id
    }

    /// Keeps a sent Notify for retries until its NotifyResp (the oldest is dropped beyond
    /// `max_unacknowledged`); the first retry comes after the first backoff interval.
    pub(crate) fn keep_for_retry(
        &mut self,
        now: Instant,
        controller: String,
        msg_id: String,
        msg: usp::Msg,
        expires: Option<Instant>,
    ) {
        if self.unacknowledged.len() >= self.config.max_unacknowledged.max(1) {
            self.unacknowledged.remove(0);
            self.dropped_notifications = self.dropped_notifications.saturating_add(1);
        }
        let delay = self.config.retry.delay(1, self.rng.next_u64());
        self.unacknowledged.push(Unacknowledged {
            msg_id,
            controller,
            msg,
            attempt: 1,
            next: now.checked_add(delay).unwrap_or(now),
            expires,
        });
        self.push_event(AgentEvent::NotificationsChanged);
    }

    /// A NotifyResp arrived for `msg_id` from `controller`.
    pub(crate) fn notify_acknowledged(&mut self, controller: &str, msg_id: &str) {
        let before = self.unacknowledged.len();
        self.unacknowledged
            .retain(|u| !(u.msg_id == msg_id && u.controller == controller));
        if self.unacknowledged.len() != before {
            self.push_event(AgentEvent::NotifyAcknowledged {
                controller: controller.into(),
                msg_id: msg_id.into(),
            });
            self.push_event(AgentEvent::NotificationsChanged);
            self.onboarding_answered(controller, msg_id);
        }
    }

    /// Retries due Notifies, drops expired ones, removes subscriptions whose `TimeToLive`
    /// ran out.
    pub(crate) fn timers(&mut self, now: Instant) {
        let mut due = Vec::new();
        let mut kept = Vec::with_capacity(self.unacknowledged.len());
        for mut pending in core::mem::take(&mut self.unacknowledged) {
            if pending.expires.is_some_and(|at| at <= now) {
                self.push_event(AgentEvent::NotifyExpired {
                    controller: pending.controller.clone(),
                    msg_id: pending.msg_id.clone(),
                });
                self.push_event(AgentEvent::NotificationsChanged);
                continue;
            }
            if pending.next <= now {
                pending.attempt = pending.attempt.saturating_add(1);
                let delay = self
                    .config
                    .retry
                    .delay(pending.attempt, self.rng.next_u64());
                pending.next = now.checked_add(delay).unwrap_or(now);
                due.push((pending.controller.clone(), pending.msg.clone()));
            }
            kept.push(pending);
        }
        self.unacknowledged = kept;
        for (controller, msg) in due {
            self.transmit_msg(&controller, &msg);
        }
        self.expire_subscriptions(now);
    }

    fn expire_subscriptions(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .subscriptions
            .iter()
            .filter(|s| s.expires().is_some_and(|at| at <= now))
            .map(|s| s.row.clone())
            .collect();
        if expired.is_empty() {
            return;
        }
        self.subscriptions.retain(|s| !expired.contains(&s.row));
        self.internal(EngineRequest::DeviceUpdate(DeviceUpdate::deleting(expired)));
    }

    /// The earliest deadline of the subscription machinery.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let retries = self
            .unacknowledged
            .iter()
            .map(|u| u.expires.map_or(u.next, |e| e.min(u.next)));
        let ttl = self.subscriptions.iter().filter_map(Subscription::expires);
        retries.chain(ttl).min()
    }

    /// Turns an engine notice into notifications; see [`Agent::handle_notice`].
    pub(crate) fn notice(&mut self, now: Instant, id: NoticeId, notice: &Notice, store: &Store) {
        self.now = Some(now);
        match notice {
            Notice::Booted(info) => {
                // Non-persistent subscriptions do not survive a boot.
                self.reload_subscriptions(now, store);
                self.reload_controllers(now, store);
                let gone: Vec<String> = self
                    .subscriptions
                    .iter()
                    .filter(|s| !s.persistent)
                    .map(|s| s.row.clone())
                    .collect();
                self.subscriptions.retain(|s| s.persistent);
                if !gone.is_empty() {
                    self.internal(EngineRequest::DeviceUpdate(DeviceUpdate::deleting(gone)));
                }
                // ParameterMap depends on the recipient's BootParameter table.
                for target in self.targets(NotifType::Event, "Device.Boot!", store) {
                    let params = [
                        ("Cause", info.cause.as_str().to_string()),
                        ("CommandKey", info.command_key.clone()),
                        ("FirmwareUpdated", info.firmware_updated.to_string()),
                        (
                            "ParameterMap",
                            self.boot_parameters(&target.controller, store),
                        ),
                    ];
                    let event = notify::Event {
                        obj_path: "Device.".into(),
                        event_name: "Boot!".into(),
                        params: params
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), v))
                            .collect(),
                    };
                    self.notify_target(now, target, notify::Notification::Event(event));
                }
            }
            Notice::Event { path, args } => {
                let (object, name) = split_item(path);
                let event = notify::Event {
                    obj_path: object.into(),
                    event_name: name.into(),
                    params: args.iter().cloned().collect(),
                };
                let notification = notify::Notification::Event(event);
                // A bulk data profile's `Push!` goes only to the controller that owns it
                // (`Profile.{i}.Controller`), whatever the other subscriptions.
                let owner = (name == hal::bulkdata::PUSH_EVENT
                    && object.starts_with(hal::bulkdata::PROFILES))
                .then(|| param_text(store, object, "Controller"))
                .filter(|owner| !owner.is_empty());
                for target in self.targets(NotifType::Event, path, store) {
                    if owner
                        .as_ref()
                        .is_none_or(|owner| *owner == target.controller)
                    {
                        self.notify_target(now, target, notification.clone());
                    }
                }
            }
            Notice::OperationComplete(done) => {
                let notification = operation_complete(done);
                self.notify_matching(
                    now,
                    NotifType::OperationComplete,
                    &done.command,
                    &notification,
                    store,
                );
            }
            // Nothing to notify (a CWMP TransferComplete, progress): acknowledged all the same,
            // or the engine, waiting for every stack, would keep it (and redeliver it at every
            // boot).
            _ => {}
        }
        if notice.is_persistent() {
            self.internal(EngineRequest::Acknowledge(id));
        }
        self.refresh_periodic(now, store);
    }
}

/// A subscription to notify.
#[derive(Clone, Debug)]
pub(crate) struct Recipient {
    pub(crate) controller: String,
    subscription_id: String,
    notif_retry: bool,
    notif_expiration: u32,
    notify: bool,
    config: Vec<(String, String)>,
}

/// A JSON object of string members (TR-106 `JSONObject`), keys in order.
fn json_object(members: &BTreeMap<String, String>) -> String {
    let mut out = String::from("{");
    for (index, (key, value)) in members.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        json_string(&mut out, key);
        out.push(':');
        json_string(&mut out, value);
    }
    out.push('}');
    out
}

fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `Device.IP.Diagnostics.IPPing()` → (`Device.IP.Diagnostics.`, `IPPing()`).
fn split_item(path: &str) -> (&str, &str) {
    let object = super::messages::object_of(path);
    (object, path.get(object.len()..).unwrap_or_default())
}

fn operation_complete(done: &OperationComplete) -> notify::Notification {
    use notify::operation_complete::{CommandFailure as Failed, OperationResp, OutputArgs};
    let (object, name) = split_item(&done.command);
    let resp = match &done.result {
        Ok(output) => OperationResp::ReqOutputArgs(OutputArgs {
            output_args: output.iter().cloned().collect::<BTreeMap<_, _>>(),
        }),
        Err(CommandFailure {
            usp_error, message, ..
        }) => OperationResp::CmdFailure(Failed {
            err_code: *usp_error,
            err_msg: message.clone(),
        }),
    };
    notify::Notification::OperComplete(notify::OperationComplete {
        obj_path: object.into(),
        command_name: name.into(),
        command_key: done.command_key.clone(),
        operation_resp: Some(resp),
    })
}

/// The OnBoardRequest notification (not subscribable; see [`Agent::send_onboard_request`]).
pub(crate) fn onboard(
    oui: &str,
    product_class: &str,
    serial: &str,
    versions: &str,
) -> notify::Notification {
    notify::Notification::OnBoardReq(notify::OnBoardRequest {
        oui: oui.into(),
        product_class: product_class.into(),
        serial_number: serial.into(),
        agent_supported_protocol_versions: versions.into(),
    })
}

#[cfg(test)]
mod tests {
    use std::vec;

    use super::*;

    #[test]
    fn lists_keep_search_expressions_whole() {
        assert_eq!(
            split_list("Device.WiFi.SSID.[Enable==true&&Name==\"a,b\"].SSID, Device.Time."),
            vec![
                "Device.WiFi.SSID.[Enable==true&&Name==\"a,b\"].SSID".to_string(),
                "Device.Time.".to_string()
            ]
        );
    }

    #[test]
    fn json_objects_escape() {
        let members: BTreeMap<String, String> = [
            ("Device.A".to_string(), "x\"y\\z".to_string()),
            ("Device.B".to_string(), "line\nnext\u{1}".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            json_object(&members),
            r#"{"Device.A":"x\"y\\z","Device.B":"line\nnext\u0001"}"#
        );
        assert_eq!(json_object(&BTreeMap::new()), "{}");
    }

    #[test]
    fn trigger_config_settings() {
        assert_eq!(
            config_settings(
                r#"Device.WiFi.SSID.1.SSID="a,b", Device.WiFi.SSID.1.Enable=false,junk,=x"#
            ),
            vec![
                ("Device.WiFi.SSID.1.SSID".to_string(), "a,b".to_string()),
                ("Device.WiFi.SSID.1.Enable".to_string(), "false".to_string()),
            ]
        );
        assert!(config_settings("").is_empty());
    }

    #[test]
    fn shapes() {
        assert!(covers_by_shape("Device.WiFi.", "Device.WiFi.SSID.1.SSID"));
        assert!(covers_by_shape(
            "Device.WiFi.SSID.*.SSID",
            "Device.WiFi.SSID.2.SSID"
        ));
        assert!(!covers_by_shape(
            "Device.WiFi.SSID.*.SSID",
            "Device.WiFi.SSID.2.Enable"
        ));
        assert!(!covers_by_shape(
            "Device.WiFi.SSID.1.",
            "Device.WiFi.SSID.2.SSID"
        ));
        assert!(covers_by_shape(
            "Device.WiFi.SSID.[Stats.BytesSent>1].",
            "Device.WiFi.SSID.2.Name"
        ));
        assert!(covers_by_shape("Device.Boot!", "Device.Boot!"));
        assert!(!covers_by_shape(
            "Device.WiFi.SSID.1.SSID",
            "Device.WiFi.SSID.1."
        ));
    }

    #[test]
    fn backoff_follows_r_not_1() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.bounds_ms(1), (5_000, 10_000));
        assert_eq!(policy.bounds_ms(2), (10_000, 20_000));
        assert_eq!(policy.bounds_ms(10), (2_560_000, 5_120_000));
        assert_eq!(
            policy.bounds_ms(11),
            (2_560_000, 5_120_000),
            "capped at retry 10"
        );
        let mut rng = Rng::new(7);
        for attempt in 1..12 {
            let (low, high) = policy.bounds_ms(attempt);
            let d = u64::try_from(policy.delay(attempt, rng.next_u64()).as_millis()).unwrap();
            assert!((low..=high).contains(&d));
        }
    }
}

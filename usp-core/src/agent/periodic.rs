//! `Device.LocalAgent.Periodic!`: the event a controller gets every
//! `Controller.{i}.PeriodicNotifInterval` seconds while it has an enabled `Event` subscription
//! covering it, the boundaries aligned on `Controller.{i}.PeriodicNotifTime`.
//!
//! The alignment needs the wall clock ([`Agent::set_wall_clock`]); without it, or when
//! `PeriodicNotifTime` is the Unknown Time (or a time relative to boot, which has no fixed
//! instant either), the first event comes one interval after the agent first saw the
//! subscription, as the parameter's description allows. Between alignments the schedule runs
//! on the monotonic `now`: an interval ends exactly one interval after the previous one, and
//! a late `handle_timeout` skips the boundaries it missed instead of sending a burst.
//!
//! What to send is worked out whenever the agent sees the store (change log, notices,
//! [`Agent::load_subscriptions`]), access control included, since `handle_timeout` has no
//! store; so a change of rights takes effect from the next store input.

use std::string::{String, ToString};
use std::time::{Duration, Instant};
use std::vec::Vec;

use litemap::LiteMap;
use tr181_model::schema::Protocol;
use tr181_model::store::Store;
use tr181_model::value::DateTime;

use super::subscriptions::{NotifType, Recipient};
use super::{Agent, param_text};
use crate::usp::notify;

/// The event's path.
pub(crate) const EVENT: &str = "Device.LocalAgent.Periodic!";

/// One controller's periodic schedule.
#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    /// `PeriodicNotifInterval`, not zero.
    interval: Duration,
    /// `PeriodicNotifTime` in Unix microseconds; `None` when unknown or relative to boot.
    reference: Option<i64>,
    /// The subscriptions to notify.
    targets: Vec<Recipient>,
    /// The next boundary.
    next: Instant,
}

/// A controller's `PeriodicNotifInterval` and `PeriodicNotifTime`, by Endpoint ID.
fn settings(store: &Store) -> LiteMap<String, (Duration, Option<i64>)> {
    let rows = store
        .instances(super::session::CONTROLLERS, Protocol::Usp, true)
        .unwrap_or_default();
    let mut settings = LiteMap::new();
    for info in rows {
        let row = info.path;
        // 0 is outside the range (at least 1): no schedule rather than one every second.
        let Some(interval) = param_text(store, &row, "PeriodicNotifInterval")
            .parse::<u64>()
            .ok()
            .filter(|&i| i > 0)
        else {
            continue;
        };
        let reference = DateTime::parse(&param_text(store, &row, "PeriodicNotifTime"))
            .and_then(|t| t.unix_micros());
        let controller = param_text(store, &row, "EndpointID");
        settings.insert(controller, (Duration::from_secs(interval), reference));
    }
    settings
}

impl Agent {
    /// Re-reads which controllers get `Periodic!`, at which interval and phase; keeps the
    /// running schedule of a controller whose interval and reference are unchanged.
    pub(crate) fn refresh_periodic(&mut self, now: Instant, store: &Store) {
        let mut targets: LiteMap<String, Vec<Recipient>> = LiteMap::new();
        for target in self.targets(NotifType::Event, EVENT, store) {
            targets
                .entry(target.controller.clone())
                .or_default()
                .push(target);
        }
        if targets.is_empty() {
            self.periodic.clear();
            return;
        }
        let settings = settings(store);
        let mut old = core::mem::take(&mut self.periodic);
        for (controller, targets) in targets {
            let Some(&(interval, reference)) = settings.get(&controller) else {
                continue;
            };
            let next = match old.remove(&controller) {
                Some(s) if s.interval == interval && s.reference == reference => s.next,
                _ => self.first_boundary(now, interval, reference),
            };
            let schedule = Schedule {
                interval,
                reference,
                targets,
                next,
            };
            self.periodic.insert(controller, schedule);
        }
    }

    /// The first boundary after `now`: aligned on `reference` when it and the wall clock are
    /// known, else one interval away.
    fn first_boundary(&self, now: Instant, interval: Duration, reference: Option<i64>) -> Instant {
        let wall = self
            .wall_at(now)
            .and_then(|w| w.unix_micros())
            .zip(reference);
        let period = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
        let wait = match wall {
            // In (0, interval]: a boundary exactly at `now` counts as the next one's start.
            Some((wall, reference)) => {
                let phase = wall.saturating_sub(reference).rem_euclid(period.max(1));
                let micros = u64::try_from(period.saturating_sub(phase)).unwrap_or(0);
                Duration::from_micros(micros)
            }
            None => interval,
        };
        now.checked_add(wait).unwrap_or(now)
    }

    /// Re-aligns the schedules that have a time reference (after the wall clock was first
    /// learnt or stepped); the others keep their phase.
    pub(crate) fn realign_periodic(&mut self, now: Instant) {
        let firsts: Vec<(String, Instant)> = self
            .periodic
            .iter()
            .filter(|(_, s)| s.reference.is_some())
            .map(|(c, s)| (c.clone(), self.first_boundary(now, s.interval, s.reference)))
            .collect();
        for (controller, next) in firsts {
            if let Some(schedule) = self.periodic.get_mut(&controller) {
                schedule.next = next;
            }
        }
    }

    /// Sends the `Periodic!` events that are due.
    pub(crate) fn periodic_timers(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (_, schedule) in self.periodic.iter_mut() {
            if schedule.next > now {
                continue;
            }
            // Skip the boundaries a late call missed: the next one is after `now`.
            let late = now.saturating_duration_since(schedule.next).as_micros();
            let period = schedule.interval.as_micros().max(1);
            let steps = u32::try_from(late / period)
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            let step = schedule.interval.saturating_mul(steps);
            schedule.next = schedule.next.checked_add(step).unwrap_or(now);
            due.extend(schedule.targets.iter().cloned());
        }
        for target in due {
            let event = notify::Event {
                obj_path: "Device.LocalAgent.".to_string(),
                event_name: "Periodic!".to_string(),
                params: Default::default(),
            };
            self.notify_target(now, target, notify::Notification::Event(event));
        }
    }

    /// The next `Periodic!` boundary.
    pub(crate) fn periodic_deadline(&self) -> Option<Instant> {
        self.periodic.values().map(|s| s.next).min()
    }
}

//! Fault injection for the simulated device: make a chosen HAL call fail, or be slow.
//!
//! A [`Fault`] names the [`HalCall`] it hits and after how many occurrences. For
//! [`HalCall::Apply`] an occurrence is one *parameter* applied (so "fail on the 3rd parameter"
//! works across objects); for every other call it is one call. A fault fires once unless made
//! [`Fault::persistent`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use std::vec::Vec;

use crate::error::HalError;

/// The HAL calls a fault can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HalCall {
    /// `Parameters::read`.
    Read,
    /// `Parameters::apply`, counted per parameter.
    Apply,
    /// `Tables::added`.
    Added,
    /// `Tables::deleted`.
    Deleted,
    /// `Tables::discover`.
    Discover,
    /// `Commands::invoke`.
    Invoke,
    /// `Lifecycle::transfer`.
    Transfer,
    /// `Lifecycle::reboot`.
    Reboot,
    /// `Lifecycle::factory_reset`.
    FactoryReset,
    /// `Lifecycle::activate`.
    Activate,
    /// `Storage::save`.
    Save,
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultAction {
    /// The call fails with this error.
    Fail(HalError),
    /// The call takes this long (wall time, on a helper thread) and then proceeds.
    Delay(Duration),
}

/// One injected fault.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    /// The call it hits.
    pub call: HalCall,
    /// It fires on occurrence number `nth` (1-based) after being armed.
    pub nth: u32,
    /// What it does.
    pub action: FaultAction,
    /// It fires on every occurrence from `nth` on, not just once.
    pub persistent: bool,
}

impl Fault {
    /// Occurrence `nth` of `call` fails with `error`.
    pub fn fail(call: HalCall, nth: u32, error: HalError) -> Self {
        Self {
            call,
            nth: nth.max(1),
            action: FaultAction::Fail(error),
            persistent: false,
        }
    }

    /// Occurrence `nth` of `call` is delayed by `delay`.
    pub fn delay(call: HalCall, nth: u32, delay: Duration) -> Self {
        Self {
            call,
            nth: nth.max(1),
            action: FaultAction::Delay(delay),
            persistent: false,
        }
    }

    /// Fires on every occurrence from `nth` on.
    pub fn persistent(mut self) -> Self {
        self.persistent = true;
        self
    }
}

#[derive(Debug)]
struct Armed {
    fault: Fault,
    seen: u32,
    spent: bool,
}

/// The armed faults of a simulated device.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    armed: Mutex<Vec<Armed>>,
}

impl Faults {
    pub(crate) fn inject(&self, fault: Fault) {
        self.lock().push(Armed {
            fault,
            seen: 0,
            spent: false,
        });
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Armed>> {
        self.armed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one occurrence of `call`; the action of a fault that fires on it.
    pub(crate) fn tick(&self, call: HalCall) -> Option<FaultAction> {
        let mut fired = None;
        for armed in self
            .lock()
            .iter_mut()
            .filter(|a| a.fault.call == call && !a.spent)
        {
            armed.seen = armed.seen.saturating_add(1);
            let hit = if armed.fault.persistent {
                armed.seen >= armed.fault.nth
            } else {
                armed.seen == armed.fault.nth
            };
            if hit {
                armed.spent = !armed.fault.persistent;
                fired.get_or_insert_with(|| armed.fault.action.clone());
            }
        }
        fired
    }
}

/// A runtime-agnostic sleep: a helper thread wakes the task when the time is up.
pub(crate) struct Sleep {
    duration: Duration,
    shared: Arc<Mutex<(bool, Option<Waker>)>>,
    started: bool,
}

impl Sleep {
    pub(crate) fn new(duration: Duration) -> Self {
        Self {
            duration,
            shared: Arc::new(Mutex::new((false, None))),
            started: false,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            if shared.0 {
                return Poll::Ready(());
            }
            shared.1 = Some(cx.waker().clone());
        }
        if !self.started {
            self.started = true;
            let shared = self.shared.clone();
            let duration = self.duration;
            std::thread::spawn(move || {
                std::thread::sleep(duration);
                let waker = {
                    let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    shared.0 = true;
                    shared.1.take()
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
            });
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_fires_once_on_its_occurrence() {
        let faults = Faults::default();
        let error = HalError::Timeout { path: "x".into() };
        faults.inject(Fault::fail(HalCall::Apply, 2, error.clone()));
        assert_eq!(faults.tick(HalCall::Read), None);
        assert_eq!(faults.tick(HalCall::Apply), None);
        assert_eq!(faults.tick(HalCall::Apply), Some(FaultAction::Fail(error)));
        assert_eq!(faults.tick(HalCall::Apply), None);
    }
}

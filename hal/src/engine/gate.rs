//! A runtime-agnostic async lock that serialises the engine's mutating operations.
//!
//! The store itself sits in a `std::sync::Mutex` that is only ever held for short, synchronous
//! stretches. A Set, Add or Delete, however, must keep other writers out from the moment it
//! validates against the store, across the HAL calls it awaits, until it commits, so that the
//! commit replays exactly what was validated. This gate provides that without tying the crate
//! to an executor: waiters park their `Waker` and every release wakes them all (there are few).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
struct State {
    locked: bool,
    waiters: VecDeque<Waker>,
}

/// The gate; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    state: Mutex<State>,
}

impl Gate {
    /// Waits until the gate is free and takes it.
    pub(crate) fn enter(&self) -> Enter<'_> {
        Enter { gate: self }
    }
}

/// The future of [`Gate::enter`].
#[derive(Debug)]
pub(crate) struct Enter<'a> {
    gate: &'a Gate,
}

impl<'a> Future for Enter<'a> {
    type Output = Guard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Guard<'a>> {
        let mut state = self
            .gate
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if state.locked {
            if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                state.waiters.push_back(cx.waker().clone());
            }
            Poll::Pending
        } else {
            state.locked = true;
            Poll::Ready(Guard { gate: self.gate })
        }
    }
}

/// Holding the gate; dropping it lets the next one in.
#[derive(Debug)]
pub(crate) struct Guard<'a> {
    gate: &'a Gate,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let waiters: VecDeque<Waker> = {
            let mut state = self
                .gate
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.locked = false;
            core::mem::take(&mut state.waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(Mutex<bool>);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            *self.0.lock().unwrap() = true;
        }
    }

    #[test]
    fn second_waiter_is_woken_on_release() {
        let gate = Gate::default();
        let flag = Arc::new(Flag(Mutex::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut first = Box::pin(gate.enter());
        let Poll::Ready(guard) = first.as_mut().poll(&mut cx) else {
            panic!("free gate must be entered at once");
        };
        let mut second = Box::pin(gate.enter());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        drop(guard);
        assert!(*flag.0.lock().unwrap());
        assert!(second.as_mut().poll(&mut cx).is_ready());
    }
}

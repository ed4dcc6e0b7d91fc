//! The device-to-engine direction: device events, the value-change feed, discovered-table hints,
//! command progress and completion, transfer completion and the network-up signal.
//!
//! The hardware pushes [`DeviceInput`]s into a [`DeviceSink`] (cheap to clone, usable from any
//! thread or interrupt-style callback: it only locks a queue briefly). The sink calls the
//! driver's waker; the driver then runs
//! [`Engine::handle_device_inputs`](crate::engine::Engine::handle_device_inputs), which applies
//! the inputs to the store (so notifications are event-driven, not polled) and turns them into
//! [`Notice`](crate::engine::Notice)s. The queue is bounded; when full the oldest input is
//! dropped and counted ([`DeviceSink::dropped`]).

use std::collections::VecDeque;
use std::fmt;
use std::string::String;
use std::sync::{Arc, Mutex, PoisonError};
use std::vec::Vec;

use tr181_model::value::{DateTime, Value};

use crate::error::HalError;
use crate::transfer::{TransferFault, TransferId};

/// The engine's number for one command invocation.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct CallId(pub u32);

/// One thing the hardware tells the engine.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum DeviceInput {
    /// Parameters of object instance `object` changed in the hardware.
    ValueChanged {
        /// The object instance path (`Device.WiFi.Radio.1.`).
        object: String,
        /// New values by relative name.
        values: Vec<(String, Value)>,
    },
    /// The rows of a discovered table changed; the engine calls
    /// [`Tables::discover`](crate::traits::Tables::discover) for it.
    TableChanged {
        /// The table's instance path (`Device.Hosts.Host.`).
        table: String,
    },
    /// A data-model event fired (`Device.LocalAgent.TransferComplete!` or a vendor event).
    Event {
        /// The event path (`Device.X_ACME-COM_Button.Pressed!`).
        path: String,
        /// Its arguments by relative name, as text.
        args: Vec<(String, String)>,
    },
    /// An asynchronous command made progress.
    Progress {
        /// The invocation.
        call: CallId,
        /// Percent done, 0–100.
        percent: u8,
    },
    /// An asynchronous command finished.
    CommandDone {
        /// The invocation.
        call: CallId,
        /// Output arguments by relative name, or why it failed.
        result: Result<Vec<(String, Value)>, HalError>,
    },
    /// A file transfer finished.
    TransferDone {
        /// The transfer.
        id: TransferId,
        /// When it really started (after any delay), if known.
        start_time: Option<DateTime>,
        /// `Ok` or the fault with a message.
        result: Result<(), (TransferFault, String)>,
    },
    /// A WAN/management interface came up: reconnect backoff may restart early.
    NetworkUp,
}

type Waker = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Queue {
    inputs: VecDeque<DeviceInput>,
    capacity: usize,
    dropped: u32,
    waker: Option<Waker>,
}

/// The handle through which the hardware feeds the engine; see the [module docs](self).
#[derive(Clone)]
pub struct DeviceSink {
    queue: Arc<Mutex<Queue>>,
}

impl fmt::Debug for DeviceSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceSink { .. }")
    }
}

impl DeviceSink {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queue: Arc::new(Mutex::new(Queue {
                capacity: capacity.max(1),
                ..Queue::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an input and wakes the driver.
    pub fn push(&self, input: DeviceInput) {
        let waker = {
            let mut queue = self.lock();
            if queue.inputs.len() >= queue.capacity {
                queue.inputs.pop_front();
                queue.dropped = queue.dropped.saturating_add(1);
            }
            queue.inputs.push_back(input);
            queue.waker.clone()
        };
        if let Some(waker) = waker {
            waker();
        }
    }

    /// Parameters of `object` changed (the value-change feed).
    pub fn value_changed(&self, object: impl Into<String>, values: Vec<(String, Value)>) {
        self.push(DeviceInput::ValueChanged {
            object: object.into(),
            values,
        });
    }

    /// The rows of discovered table `table` changed.
    pub fn table_changed(&self, table: impl Into<String>) {
        self.push(DeviceInput::TableChanged {
            table: table.into(),
        });
    }

    /// A data-model event fired.
    pub fn event(&self, path: impl Into<String>, args: Vec<(String, String)>) {
        self.push(DeviceInput::Event {
            path: path.into(),
            args,
        });
    }

    /// A management interface came up.
    pub fn network_up(&self) {
        self.push(DeviceInput::NetworkUp);
    }

    /// Sets the function called after every push (e.g. to notify the driver's task). It must
    /// be quick and must not call back into the sink.
    pub fn set_waker(&self, waker: impl Fn() + Send + Sync + 'static) {
        self.lock().waker = Some(Arc::new(waker));
    }

    /// How many inputs were dropped because the queue was full.
    pub fn dropped(&self) -> u32 {
        self.lock().dropped
    }

    /// Whether inputs are waiting.
    pub fn is_empty(&self) -> bool {
        self.lock().inputs.is_empty()
    }

    pub(crate) fn drain(&self) -> Vec<DeviceInput> {
        self.lock().inputs.drain(..).collect()
    }

    /// A reporter for asynchronous command `call`.
    pub fn command_reporter(&self, call: CallId) -> CommandReporter {
        CommandReporter {
            sink: self.clone(),
            call,
        }
    }

    /// A reporter for transfer `id` (e.g. rebuilt after a reboot).
    pub fn transfer_reporter(&self, id: TransferId) -> TransferReporter {
        TransferReporter {
            sink: self.clone(),
            id,
        }
    }
}

/// Reports progress and completion of one asynchronous command.
#[derive(Clone, Debug)]
pub struct CommandReporter {
    sink: DeviceSink,
    call: CallId,
}

impl CommandReporter {
    /// The invocation reported on.
    pub fn call(&self) -> CallId {
        self.call
    }

    /// Percent done.
    pub fn progress(&self, percent: u8) {
        self.sink.push(DeviceInput::Progress {
            call: self.call,
            percent: percent.min(100),
        });
    }

    /// The command finished.
    pub fn complete(&self, result: Result<Vec<(String, Value)>, HalError>) {
        self.sink.push(DeviceInput::CommandDone {
            call: self.call,
            result,
        });
    }
}

/// Reports the end of one file transfer.
#[derive(Clone, Debug)]
pub struct TransferReporter {
    sink: DeviceSink,
    id: TransferId,
}

impl TransferReporter {
    /// The transfer reported on.
    pub fn id(&self) -> TransferId {
        self.id
    }

    /// The transfer finished.
    pub fn complete(
        &self,
        start_time: Option<DateTime>,
        result: Result<(), (TransferFault, String)>,
    ) {
        self.sink.push(DeviceInput::TransferDone {
            id: self.id,
            start_time,
            result,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn bounded_queue_drops_oldest_and_wakes() {
        let sink = DeviceSink::new(2);
        let woken = Arc::new(AtomicU32::new(0));
        let counter = woken.clone();
        sink.set_waker(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        sink.network_up();
        sink.table_changed("Device.Hosts.Host.");
        sink.event("Device.Boot!", Vec::new());
        assert_eq!(sink.dropped(), 1);
        assert_eq!(woken.load(Ordering::Relaxed), 3);
        let inputs = sink.drain();
        assert_eq!(inputs.len(), 2);
        assert!(matches!(inputs[0], DeviceInput::TableChanged { .. }));
        assert!(sink.is_empty());
    }
}

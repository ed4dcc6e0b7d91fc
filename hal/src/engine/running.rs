//! The transfers the engine holds as running, for a driver's recovery after a restart.

use crate::transfer::{Direction, TransferId};

use super::Engine;

impl Engine {
    /// The transfers recorded as running: persisted before the hardware was asked to start
    /// them, dropped once their result came in (ordered by id).
    ///
    /// After a restart these are the transfers whose end the engine has not heard of. A
    /// hardware layer that cannot resume them (its process died with them) reports each one
    /// failed through [`DeviceSink::transfer_reporter`](crate::feed::DeviceSink::transfer_reporter);
    /// the engine then delivers its `TransferComplete` or `OperationComplete` as for any other.
    pub fn running_transfers(&self) -> Vec<(TransferId, Direction)> {
        let mut running: Vec<_> = self
            .state()
            .transfers
            .running
            .iter()
            .map(|t| (t.id, t.direction))
            .collect();
        running.sort_unstable_by_key(|(id, _)| *id);
        running
    }
}

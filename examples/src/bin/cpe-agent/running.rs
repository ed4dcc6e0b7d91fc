//! The diagnostic tests the agent runs itself ([`crate::reachability`], [`crate::throughput`]):
//! each a tokio task, listed by its call so that a cancel (`Request.{i}.Cancel()`, a CWMP input
//! written) can abort it, at most [`MAX_RUNNING`] of one kind at once; and the name lookup
//! they share, held to their `ProtocolVersion` ([`resolve`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hal::HalError;
use hal::feed::{CallId, CommandReporter};
use hal::traits::{CommandCall, Invoked};
use tokio::task::AbortHandle;
use tr181_model::value::Value;

/// Most tests of one kind running at once.
const MAX_RUNNING: usize = 4;

/// The tests of one kind running, by call, each ended by its abort handle.
#[derive(Default)]
pub(crate) struct Running {
    tests: Arc<Mutex<Vec<(CallId, AbortHandle)>>>,
}

impl Running {
    /// Runs `test` for `call` as a task; its outputs go to `reporter` when it ends, unless it
    /// was cancelled. Refused when [`MAX_RUNNING`] tests run already.
    pub(crate) fn start(
        &self,
        call: &CommandCall,
        reporter: CommandReporter,
        test: impl Future<Output = Vec<(String, Value)>> + Send + 'static,
    ) -> Result<Invoked, HalError> {
        let mut running = lock(&self.tests);
        if running.len() >= MAX_RUNNING {
            return Err(HalError::Refused {
                path: call.path.clone(),
                reason: format!("{MAX_RUNNING} such tests are running"),
            });
        }
        let id = call.id;
        let tests = self.tests.clone();
        // The task reports only while it is still listed, so that a test cancelled as it ends
        // reports nothing; listing it before the task can look keeps the report.
        // Boxed as the MTP tasks are, so that the binary has one task type for all.
        let task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            let outputs = test.await;
            if take(&tests, id).is_some() {
                reporter.complete(Ok(outputs));
            }
        });
        let task = tokio::spawn(task);
        running.push((id, task.abort_handle()));
        Ok(Invoked::Running)
    }

    /// Stops test `call` (its connections and sockets close with it); false when it is not
    /// one of these (running).
    pub(crate) fn cancel(&self, call: CallId) -> bool {
        take(&self.tests, call).map(|task| task.abort()).is_some()
    }
}

/// The running tests, locked (a panic elsewhere leaves them as they were).
fn lock(tests: &Mutex<Vec<(CallId, AbortHandle)>>) -> MutexGuard<'_, Vec<(CallId, AbortHandle)>> {
    tests.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes test `call` off the running ones: its abort handle, if it was there.
fn take(tests: &Mutex<Vec<(CallId, AbortHandle)>>, call: CallId) -> Option<AbortHandle> {
    let mut tests = lock(tests);
    let index = tests.iter().position(|(id, _)| *id == call)?;
    Some(tests.swap_remove(index).1)
}

/// Which addresses a test's `ProtocolVersion` allows.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    /// The family `ProtocolVersion` names: `IPv4`, `IPv6`, else either (`Any`).
    pub(crate) fn of(protocol_version: &str) -> Self {
        match protocol_version {
            "IPv4" => Self::V4,
            "IPv6" => Self::V6,
            _ => Self::Any,
        }
    }

    fn allows(self, address: &SocketAddr) -> bool {
        match self {
            Self::Any => true,
            Self::V4 => address.is_ipv4(),
            Self::V6 => address.is_ipv6(),
        }
    }
}

/// The first address of `host` (with `port`) that `family` allows; `None` when the lookup
/// fails, gives none of the family, or takes longer than `bound`.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    family: Family,
    bound: Duration,
) -> Option<SocketAddr> {
    let mut addresses = tokio::time::timeout(bound, tokio::net::lookup_host((host, port)))
        .await
        .ok()?
        .ok()?;
    addresses.find(|address| family.allows(address))
}

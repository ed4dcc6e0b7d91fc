//! Hardware abstraction traits for CPE firmware, and the protocol-neutral engine that executes
//! CWMP (TR-069) and USP (TR-369) requests on the one TR-181 model of
//! [`tr181_model`].
//!
//! # Scope
//!
//! - [`traits`]: what a vendor implements, batched per object instance: live parameters and
//!   applying changes ([`traits::Parameters`]), table hooks and discovered rows
//!   ([`traits::Tables`]), commands ([`traits::Commands`]), factory defaults, reboot, factory
//!   reset, file transfers and firmware activation ([`traits::Lifecycle`]), persistence
//!   ([`traits::Storage`]) and the wall clock ([`traits::Clock`]). All are `#[async_trait]`,
//!   `Send + Sync + 'static`, held as `Arc<dyn ...>` in a [`Hal`].
//! - [`feed`]: the other direction — device events, the value-change feed, command and
//!   transfer completion, the network-up signal — pushed into a [`feed::DeviceSink`].
//! - [`engine`]: the request/response vocabulary shared by both protocol crates (Get with depth,
//!   names, instances, supported model, Set with `allow_partial`/`required`, Add, Delete,
//!   Operate) and the [`Engine`] that executes it with access control ([`engine::Principal`],
//!   [`engine::AccessControl`]), atomic writes across store and hardware, and notices.
//! - [`transfer`]: the file-transfer description CWMP `Download` and USP
//!   `FirmwareImage.{i}.Download()` both map to.
//! - [`bulkdata`]: TR-181 Bulk Data collection: the enabled profiles, collection through the
//!   engine, the JSON and CSV reports, their schedule and the retained failed reports.
//! - [`retry`]: the randomised exponential back-offs of TR-069 session retry, TR-369
//!   NotifRetry / E2E session retry and the MTPs' reconnects (WebSocket, MQTT, STOMP, XMPP).
//! - [`sim`] (feature `sim`, on by default): a simulated gateway implementing every trait,
//!   with persistence in a directory (a file per section) and fault injection.
//!
//! # Not in scope
//!
//! Wire formats, sessions, subscriptions and notification policy (the `cwmp-core` and
//! `usp-core` crates); sockets, TLS and timers (the driver in `examples`). Protocol crates
//! never call the HAL: they hand the engine's requests to their driver, which awaits the
//! engine. The engine reads no clock (time comes from [`traits::Clock`]) and spawns nothing:
//! asynchronous work reports back through the [`feed::DeviceSink`], and the driver calls
//! [`Engine::handle_device_inputs`] when the sink's waker fires.
//!
//! # Errors
//!
//! [`HalError`] for the hardware layer, [`EngineError`] for requests (wrapping the model's
//! [`tr181_model::Error`] and `HalError`); every variant maps to a CWMP fault and a USP error
//! code (`cwmp_fault()`, `usp_error()`).
//!
//! # Features
//!
//! - `sim` (default): the [`sim`] module; it enables every TR-181 group of `tr181-model`
//!   (`full`). A router build uses `default-features = false` and picks the groups it needs
//!   on `tr181-model` directly.
//!
//! # A tiny device from scratch
//!
//! A device with a factory configuration, a live `UpTime` and a reboot, in memory:
//!
//! ```
//! use std::sync::Arc;
//!
//! use async_trait::async_trait;
//! use hal::engine::{AllowAll, GetRequest, Principal};
//! use hal::traits::{Lifecycle, MemoryStorage, Parameters};
//! use hal::{Engine, EngineConfig, Hal, HalError};
//! use tr181_model::store::Transaction;
//! use tr181_model::value::Value;
//!
//! struct Tiny;
//!
//! #[async_trait]
//! impl Lifecycle for Tiny {
//!     fn factory_defaults(&self, txn: &mut Transaction<'_>) -> Result<(), tr181_model::Error> {
//!         txn.set("Device.DeviceInfo.Manufacturer", "Tiny Co")?;
//!         txn.set("Device.DeviceInfo.SoftwareVersion", "0.1.0")
//!     }
//!
//!     async fn reboot(&self) -> Result<(), HalError> {
//!         Ok(()) // ask the init system to reboot
//!     }
//! }
//!
//! #[async_trait]
//! impl Parameters for Tiny {
//!     fn is_live(&self, object: &str, name: &str) -> bool {
//!         object == "Device.DeviceInfo." && name == "UpTime"
//!     }
//!
//!     async fn read(&self, _: &str, _: &[&'static str]) -> Result<Vec<(String, Value)>, HalError> {
//!         Ok(vec![("UpTime".into(), Value::UnsignedInt(1234))]) // from /proc/uptime
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tiny = Arc::new(Tiny);
//! let hal = Hal::new(tiny.clone(), Arc::new(MemoryStorage::new())).with_parameters(tiny);
//! let engine = Engine::new(hal, Arc::new(AllowAll), EngineConfig::default());
//! engine.start().await?;
//!
//! let acs = Principal::acs("https://acs.example.net/cwmp");
//! let request = GetRequest::new(["Device.DeviceInfo."]).with_max_depth(1);
//! let got = engine.get(&acs, &request).await?;
//! assert_eq!(got.value("Device.DeviceInfo.UpTime"), Some(&Value::UnsignedInt(1234)));
//! assert_eq!(got.value("Device.DeviceInfo.Manufacturer").map(Value::canonical_text).as_deref(), Some("Tiny Co"));
//! engine.reboot(&acs, "cmd-1").await?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bulkdata;
pub mod engine;
pub mod error;
pub mod feed;
pub mod retry;
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;
pub mod traits;
pub mod transfer;

pub use engine::{Engine, EngineConfig, Principal};
pub use error::{EngineError, HalError};
pub use traits::Hal;

//! The TR-181 `Device:2` data model, shared by the CWMP (TR-069) and the USP (TR-369) stack.
//!
//! This crate knows the model and nothing of the wire: it holds what a CPE needs to answer
//! either protocol from one set of data.
//!
//! | Module | What it holds |
//! |---|---|
//! | [`schema`] | every object, parameter, command and event of `Device:2.19`, generated from the Broadband Forum XML, for both model variants |
//! | [`keys`] | typed keys: one unit struct per object, one `Key<T>` constant per parameter |
//! | [`value`] | TR-106 values, their canonical text, validation against a parameter's syntax |
//! | [`path`] | the one parser for CWMP and USP paths, search expressions and reference following |
//! | [`store`] | the instance tree: numbering, unique keys, transactions, change log, resolver |
//!
//! Errors of every module are one [`Error`], which maps onto CWMP fault codes
//! ([`Error::cwmp_fault`]) and USP error codes ([`Error::usp_error`]). Input from the network
//! is bounded by [`Limits`].
//!
//! # Worked example
//!
//! The device populates the store, a controller changes it atomically, and a USP search finds
//! the changed row:
//!
//! ```
//! use tr181_model::keys::{DeviceInfo, WiFiSSID};
//! use tr181_model::path::Path;
//! use tr181_model::schema::Protocol;
//! use tr181_model::store::{Origin, Resolved, Store};
//! use tr181_model::Error;
//!
//! let mut store = Store::new();
//!
//! // The device side (the HAL) may write read-only parameters and add rows.
//! let mut txn = store.transaction(Origin::Device);
//! txn.set_key(DeviceInfo::SOFTWARE_VERSION, "4.2.1".to_owned())?;
//! let guest = txn.add("Device.WiFi.SSID.", &[("SSID", "guest")])?;
//! txn.add("Device.WiFi.SSID.", &[("SSID", "home")])?;
//! txn.commit()?;
//! assert_eq!(store.get(DeviceInfo::SOFTWARE_VERSION)?, "4.2.1");
//!
//! // A controller's changes are all or nothing: one refused write discards the transaction.
//! let mut txn = store.transaction(Origin::Controller(Protocol::Cwmp));
//! txn.set(&format!("Device.WiFi.SSID.{guest}.Enable"), "true")?;
//! let refused = txn.set("Device.DeviceInfo.SoftwareVersion", "6.6.6");
//! assert!(matches!(refused, Err(Error::NotWritable { .. })));
//! assert_eq!(refused.unwrap_err().cwmp_fault(), 9008);
//! txn.rollback();
//! assert!(!store.get(WiFiSSID::ENABLE.at(&[guest])?)?);
//!
//! let mut txn = store.transaction(Origin::Controller(Protocol::Usp));
//! txn.set(&format!("Device.WiFi.SSID.{guest}.Enable"), "true")?;
//! txn.commit()?;
//!
//! // A USP search expression resolves against the current values.
//! let path: Path = r#"Device.WiFi.SSID.[Enable==true].SSID"#.parse()?;
//! let found = store.resolve(&path, Protocol::Usp)?;
//! let [ssid @ Resolved::Parameter { value, .. }] = found.items() else { panic!("one match") };
//! // Results carry no path text; it is written when needed.
//! assert_eq!(found.path(ssid), format!("Device.WiFi.SSID.{guest}.SSID"));
//! assert_eq!(value.canonical_text(), "guest");
//! # Ok::<(), Error>(())
//! ```
//!
//! # Features
//!
//! One cargo feature per top-level object group of `Device:2` (`wifi`, `ip`, `dhcpv4`,
//! `localagent`, … ; see `Cargo.toml`), all enabled by `full`, the default. The root object
//! `Device.` is always present. A device without DSL or DOCSIS can leave those groups out of
//! its binary.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod generated;
pub mod key;
pub mod lenient;
mod limits;
pub mod path;
pub mod schema;
pub mod store;
pub mod value;

pub use error::{Error, ValueRule};
pub use generated::keys;
pub use limits::Limits;

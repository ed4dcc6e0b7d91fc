//! Facts of the USP Message Transfer Protocol bindings (TR-369 "Message Transfer Protocols"), as
//! constants and pure helpers for the driver that owns the sockets.
//!
//! Every MTP carries one binary protobuf Record per transport message (WebSocket binary
//! message, MQTT PUBLISH payload, STOMP SEND body, UDS type-3 TLV). After connecting, an Agent
//! sends the Connect Record of that MTP (R-MTP.6; see
//! [`RecordBuilder`](crate::codec::RecordBuilder)), and after a Disconnect Record a Connect
//! Record must come before any other (R-MTP.8). Since USP 1.2, errors go back as Error Records
//! (R-MTP.5). CoAP was obsoleted in USP 1.3 and is not covered.

pub mod mqtt;
pub mod stomp;
pub mod uds;
pub mod websocket;

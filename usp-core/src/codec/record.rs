//! Building Records.

use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::usp::Msg;
use crate::usp_record::{
    DisconnectRecord, MqttConnectRecord, NoSessionContextRecord, Record, SessionContextRecord,
    StompConnectRecord, UdsConnectRecord, WebSocketConnectRecord,
    mqtt_connect_record::MqttVersion,
    record::{PayloadSecurity, RecordType},
    stomp_connect_record::StompVersion,
};

/// The `version` [`RecordBuilder`] writes unless told otherwise: USP 1.4, the newest version
/// whose schema the Broadband Forum has published in the snapshot this crate was checked
/// against. Our 1.5 types read and write 1.4 Records unchanged.
pub const DEFAULT_RECORD_VERSION: &str = "1.4";

/// Builds Records with the same addressing: `version`, `to_id`, `from_id` and, for USP 1.5
/// brokers and proxies, `originator_id` and `destination_id`.
///
/// Records are built `PLAINTEXT` without a signature; set `mac_signature` and `sender_cert` on
/// the result if needed.
///
/// ```
/// use usp_core::codec::RecordBuilder;
/// use usp_core::usp_record::{mqtt_connect_record::MqttVersion, record::RecordType};
///
/// let agent = RecordBuilder::new("self::controller", "os::012345-CPE1");
/// let connect = agent.mqtt_connect(MqttVersion::V5, "usp/agent/os::012345-CPE1");
/// assert!(matches!(connect.record_type, Some(RecordType::MqttConnect(_))));
/// let bye = agent.disconnect("session context not allowed", 7106);
/// assert_eq!(bye.version, "1.4");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBuilder {
    version: String,
    to_id: String,
    from_id: String,
    originator_id: String,
    destination_id: String,
}

impl RecordBuilder {
    /// Records from `from_id` to `to_id`, with version [`DEFAULT_RECORD_VERSION`].
    #[must_use]
    pub fn new(to_id: impl Into<String>, from_id: impl Into<String>) -> Self {
        Self {
            version: DEFAULT_RECORD_VERSION.into(),
            to_id: to_id.into(),
            from_id: from_id.into(),
            originator_id: String::new(),
            destination_id: String::new(),
        }
    }

    /// Sets the `version` ("major.minor") written into each Record.
    #[must_use]
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets `originator_id` (USP 1.5, field 14): the Endpoint that first sent the Msg, when a
    /// broker or proxy forwards it.
    #[must_use]
    pub fn with_originator_id(mut self, id: impl Into<String>) -> Self {
        self.originator_id = id.into();
        self
    }

    /// Sets `destination_id` (USP 1.5, field 15): the final Endpoint, when `to_id` is a broker
    /// or proxy on the way.
    #[must_use]
    pub fn with_destination_id(mut self, id: impl Into<String>) -> Self {
        self.destination_id = id.into();
        self
    }

    /// A `no_session_context` Record carrying `msg`.
    #[must_use]
    pub fn no_session(&self, msg: &Msg) -> Record {
        let mut payload = Vec::new();
        super::encode_msg(msg, &mut payload);
        self.no_session_payload(Bytes::from(payload))
    }

    /// A `no_session_context` Record carrying an already encoded Msg.
    #[must_use]
    pub fn no_session_payload(&self, payload: Bytes) -> Record {
        self.build(RecordType::NoSessionContext(NoSessionContextRecord {
            payload,
        }))
    }

    /// A `session_context` Record carrying `context` (ids, SAR states and payloads), as the E2E
    /// session layer fills it in.
    #[must_use]
    pub fn session(&self, context: SessionContextRecord) -> Record {
        self.build(RecordType::SessionContext(context))
    }

    /// A `websocket_connect` Record, sent by an Agent once its WebSocket is up (R-MTP.6).
    #[must_use]
    pub fn websocket_connect(&self) -> Record {
        self.build(RecordType::WebsocketConnect(WebSocketConnectRecord {}))
    }

    /// An `mqtt_connect` Record; `subscribed_topic` is the sender's reply-to topic (no
    /// wildcards).
    #[must_use]
    pub fn mqtt_connect(
        &self,
        version: MqttVersion,
        subscribed_topic: impl Into<String>,
    ) -> Record {
        self.build(RecordType::MqttConnect(MqttConnectRecord {
            version: version as i32,
            subscribed_topic: subscribed_topic.into(),
        }))
    }

    /// A `stomp_connect` Record; `subscribed_destination` is where the sender receives.
    #[must_use]
    pub fn stomp_connect(
        &self,
        version: StompVersion,
        subscribed_destination: impl Into<String>,
    ) -> Record {
        self.build(RecordType::StompConnect(StompConnectRecord {
            version: version as i32,
            subscribed_destination: subscribed_destination.into(),
        }))
    }

    /// A `uds_connect` Record, sent after the Unix domain socket handshake.
    #[must_use]
    pub fn uds_connect(&self) -> Record {
        self.build(RecordType::UdsConnect(UdsConnectRecord {}))
    }

    /// A `disconnect` Record with a reason text and a USP error code (`reason_code`, `fixed32`
    /// on the wire), for instance 7105 to end a session context or 7106 to refuse one.
    #[must_use]
    pub fn disconnect(&self, reason: impl Into<String>, reason_code: u32) -> Record {
        self.build(RecordType::Disconnect(DisconnectRecord {
            reason: reason.into(),
            reason_code,
        }))
    }

    fn build(&self, record_type: RecordType) -> Record {
        Record {
            version: self.version.clone(),
            to_id: self.to_id.clone(),
            from_id: self.from_id.clone(),
            originator_id: self.originator_id.clone(),
            destination_id: self.destination_id.clone(),
            payload_security: PayloadSecurity::Plaintext as i32,
            mac_signature: Vec::new(),
            sender_cert: Vec::new(),
            record_type: Some(record_type),
        }
    }
}

/// The bytes a Record's `mac_signature` covers, HMAC or signature (TR-369 R-E2E.32/32.1): the
/// Record's non-payload fields other than `mac_signature` (`sender_cert` included) in
/// field-number order, then the session context's; integers big-endian, enums as `uint32`,
/// strings as UTF-8, bytes as they are. The payloads are not covered.
#[must_use]
pub fn integrity_input(record: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(record.version.as_bytes());
    out.extend_from_slice(record.to_id.as_bytes());
    out.extend_from_slice(record.from_id.as_bytes());
    out.extend_from_slice(&enum_bytes(record.payload_security));
    out.extend_from_slice(&record.sender_cert);
    out.extend_from_slice(record.originator_id.as_bytes());
    out.extend_from_slice(record.destination_id.as_bytes());
    let Some(RecordType::SessionContext(context)) = &record.record_type else {
        return out;
    };
    for id in [
        context.session_id,
        context.sequence_id,
        context.expected_id,
        context.retransmit_id,
    ] {
        out.extend_from_slice(&id.to_be_bytes());
    }
    out.extend_from_slice(&enum_bytes(context.payload_sar_state));
    out.extend_from_slice(&enum_bytes(context.payloadrec_sar_state));
    out
}

/// An enum as `uint32`, big-endian (decoded enums are never negative).
fn enum_bytes(value: i32) -> [u8; 4] {
    value.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integrity_input_follows_field_numbers() {
        let context = SessionContextRecord {
            session_id: 2,
            sequence_id: 3,
            expected_id: 4,
            retransmit_id: 0,
            payload_sar_state: 1,
            payloadrec_sar_state: 3,
            payload: alloc::vec![Bytes::from_static(b"not covered")],
        };
        let record = Record {
            version: "1.3".into(),
            to_id: "a".into(),
            from_id: "b".into(),
            payload_security: 1,
            mac_signature: alloc::vec![9; 32],
            record_type: Some(RecordType::SessionContext(context)),
            ..Record::default()
        };
        let mut expected = b"1.3ab".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 1]);
        for id in [2_u64, 3, 4, 0] {
            expected.extend_from_slice(&id.to_be_bytes());
        }
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 3]);
        assert_eq!(integrity_input(&record), expected);
    }
}

//! STUN codec properties: `decode(encode(m)) == m` for every attribute the codec knows, signed
//! messages verify in the style they were signed, and arbitrary bytes never panic and, when they
//! decode, re-encode to something that decodes to the same message.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::{IpAddr, SocketAddr};

use cwmp_core::connreq::stun::message::{
    Attribute, IntegrityStyle, Message, MessageType, is_stun, verify_integrity,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
    .prop_flat_map(|ip| any::<u16>().prop_map(move |port| SocketAddr::new(ip, port)))
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        addr().prop_map(Attribute::MappedAddress),
        addr().prop_map(Attribute::XorMappedAddress),
        vec(any::<u8>(), 0..40).prop_map(Attribute::Username),
        (300u16..700, "[ -~é]{0,20}")
            .prop_map(|(code, reason)| Attribute::ErrorCode { code, reason }),
        vec(any::<u16>(), 0..6).prop_map(Attribute::UnknownAttributes),
        Just(Attribute::ConnectionRequestBinding),
        Just(Attribute::BindingChange),
        (0x8030u16..0xC000, vec(any::<u8>(), 0..30))
            .prop_map(|(kind, value)| Attribute::Other { kind, value }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![
            Just(MessageType::BINDING_REQUEST),
            Just(MessageType::BINDING_RESPONSE),
            Just(MessageType::BINDING_ERROR_RESPONSE),
            (0u16..0x4000).prop_map(|raw| MessageType::from_raw(raw).unwrap()),
        ],
        any::<[u8; 16]>(),
        vec(attribute(), 0..8),
        any::<bool>(),
    )
        .prop_map(|(kind, id, attributes, fingerprint)| {
            let m = attributes
                .into_iter()
                .fold(Message::new(kind, id), Message::with);
            if fingerprint {
                m.with(Attribute::Fingerprint)
            } else {
                m
            }
        })
}

proptest! {
    #[test]
    fn round_trip(m in message(), key in vec(any::<u8>(), 0..30), classic in any::<bool>()) {
        let bytes = m.encode().unwrap();
        prop_assert!(is_stun(&bytes));
        prop_assert_eq!(&Message::decode(&bytes).unwrap(), &m);
        if m.attributes.last() == Some(&Attribute::Fingerprint) {
            // Nothing but FINGERPRINT may follow MESSAGE-INTEGRITY.
            prop_assert!(m.encode_with_integrity(&key, IntegrityStyle::Rfc5389).is_err());
            return Ok(());
        }
        let style = if classic { IntegrityStyle::Rfc3489 } else { IntegrityStyle::Rfc5389 };
        let signed = m.encode_with_integrity(&key, style).unwrap();
        let decoded = Message::decode(&signed).unwrap();
        prop_assert_eq!(&decoded.attributes[..m.attributes.len()], &m.attributes[..]);
        let verified = verify_integrity(&signed, &key).unwrap();
        // The styles coincide when the signed text is a multiple of 64 bytes already.
        prop_assert!(verified == style || (signed.len() - 24) % 64 == 0);
    }

    #[test]
    fn arbitrary_bytes(bytes in vec(any::<u8>(), 0..200)) {
        if let Ok(m) = Message::decode(&bytes) {
            let again = m.encode().unwrap();
            prop_assert_eq!(Message::decode(&again).unwrap(), m);
        }
    }

    #[test]
    fn arbitrary_attributes_after_a_valid_header(body in vec(any::<u8>(), 0..30).prop_map(|mut b| { b.truncate(b.len() / 4 * 4); b })) {
        let mut bytes = vec![0x01, 0x01];
        bytes.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        bytes.extend_from_slice(&[9; 12]);
        bytes.extend_from_slice(&body);
        prop_assert!(is_stun(&bytes));
        if let Ok(m) = Message::decode(&bytes) {
            prop_assert_eq!(Message::decode(&m.encode().unwrap()).unwrap(), m);
        }
    }
}

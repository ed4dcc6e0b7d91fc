//! Hostile input: every attack ends in a typed error with the right fault code, without a
//! panic (how fast the worst cases go is the codec bench's `cwmp worst case`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod attacks;

use cwmp_core::codec::*;
use cwmp_core::error::{EncodeProblem, Limit};
use cwmp_core::{CodecError, DecodeError};
use proptest::prelude::*;

fn wrap(body: &str) -> String {
    attacks::envelope("req-9", body)
}

fn decode(input: impl AsRef<[u8]>) -> Result<Envelope, DecodeError> {
    Envelope::decode(input.as_ref(), &Limits::default())
}

fn err(input: impl AsRef<[u8]>) -> DecodeError {
    match decode(input) {
        Ok(env) => panic!("decoded: {env:?}"),
        Err(e) => e,
    }
}

fn assert_limit(e: &DecodeError, limit: Limit) {
    assert!(
        matches!(e.kind(), CodecError::LimitExceeded { limit: l, .. } if *l == limit),
        "{e}"
    );
    assert_eq!((e.cpe_fault(), e.acs_fault()), (9004, 8004), "{e}");
}

fn assert_invalid(e: &DecodeError) {
    assert_eq!((e.cpe_fault(), e.acs_fault()), (9003, 8003), "{e}");
}

fn inform_with(params: &str) -> String {
    wrap(&format!(
        "<cwmp:Inform><DeviceId><Manufacturer>M</Manufacturer><OUI>00D09E</OUI>\
         <ProductClass>P</ProductClass><SerialNumber>S</SerialNumber></DeviceId>\
         <Event soap-enc:arrayType=\"cwmp:EventStruct[0]\"></Event><MaxEnvelopes>1</MaxEnvelopes>\
         <CurrentTime>2024-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount>{params}</cwmp:Inform>"
    ))
}

#[test]
fn doctype_is_refused() {
    let e = err(format!(
        "<?xml version=\"1.0\"?><!DOCTYPE soap-env:Envelope>{}",
        wrap("<cwmp:GetRPCMethods/>")
    ));
    assert_eq!(e.kind(), &CodecError::DocType);
    assert_invalid(&e);
}

#[test]
fn billion_laughs_is_refused_before_any_expansion() {
    let input = attacks::billion_laughs("req-9");
    let e = err(input);
    assert_eq!(e.kind(), &CodecError::DocType);
}

#[test]
fn external_entity_is_refused() {
    let e = err(format!(
        "<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}",
        wrap("<cwmp:Reboot><CommandKey>&xxe;</CommandKey></cwmp:Reboot>")
    ));
    assert_eq!(e.kind(), &CodecError::DocType);
    // Without the DOCTYPE the reference is simply unknown.
    let e = err(wrap(
        "<cwmp:Reboot><CommandKey>&xxe;</CommandKey></cwmp:Reboot>",
    ));
    assert_eq!(e.kind(), &CodecError::UnknownEntity { name: "xxe".into() });
    assert_eq!(e.id(), Some("req-9"), "the ID survives the failure");
    assert_eq!(e.path(), "Envelope/Body/Reboot/CommandKey");
    assert_invalid(&e);
}

#[test]
fn processing_instructions_are_refused() {
    let e = err(wrap("<?evil data?><cwmp:GetRPCMethods/>"));
    assert_eq!(e.kind(), &CodecError::ProcessingInstruction);
    assert_invalid(&e);
}

#[test]
fn deep_nesting_stops_at_the_depth_limit() {
    let n = 10_000;
    let body = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
    let e = err(wrap(&format!("<cwmp:X_Deep>{body}</cwmp:X_Deep>")));
    assert_limit(&e, Limit::Depth);
    assert!(
        e.offset() < 200 + 32 * 3 + attacks::head("req-9").len() as u64,
        "stopped early: {}",
        e.offset()
    );
    // Unclosed nesting, and nesting inside a known RPC, too.
    assert_limit(
        &err(format!("{}{}", attacks::head("req-9"), "<a>".repeat(n))),
        Limit::Depth,
    );
    let e = err(wrap(&format!(
        "<cwmp:Reboot><CommandKey>{body}</CommandKey></cwmp:Reboot>"
    )));
    assert!(matches!(
        e.kind(),
        CodecError::UnexpectedElement { .. } | CodecError::LimitExceeded { .. }
    ));
}

#[test]
fn depth_limit_is_configurable() {
    let input = wrap("<cwmp:GetRPCMethods/>");
    assert!(decode(&input).is_ok());
    let tight = Limits::default().with_max_depth(2);
    let e = Envelope::decode(input.as_bytes(), &tight).unwrap_err();
    assert_limit(&e, Limit::Depth);
}

#[test]
fn oversized_body_is_refused_before_parsing() {
    // Not even XML: the size check comes first.
    let big = vec![b'x'; 1024 * 1024 + 1];
    let e = err(&big);
    assert_limit(&e, Limit::BodySize);
    assert_eq!(e.offset(), 0);
    // Exactly at the limit is parsed.
    let small = wrap("<cwmp:GetRPCMethods/>");
    let pad = 1024 * 1024 - small.len() - "<!---->".len();
    let at = format!("<!--{}-->{small}", "p".repeat(pad));
    assert_eq!(at.len(), 1024 * 1024);
    assert_eq!(decode(&at).unwrap().body, Body::GetRpcMethods);
    let e = err(format!("<!--{}-->{small}", "p".repeat(pad + 1)));
    assert_limit(&e, Limit::BodySize);
}

#[test]
fn huge_array_type_declaration_presizes_only_within_the_input() {
    let input = wrap(
        "<cwmp:GetParameterValues><ParameterNames soap-enc:arrayType=\"xsd:string[1000000000]\">\
         <string>Device.A</string><string>Device.B</string></ParameterNames></cwmp:GetParameterValues>",
    );
    let env = decode(&input).unwrap();
    let Body::GetParameterValues(gpv) = env.body else {
        panic!()
    };
    assert_eq!(gpv.parameter_names, ["Device.A", "Device.B"]);
    assert!(
        gpv.parameter_names.capacity() < 64,
        "capacity {}",
        gpv.parameter_names.capacity()
    );
}

#[test]
fn array_entries_are_bounded() {
    let entries = "<string>Device.</string>".repeat(4097);
    let e = err(wrap(&format!(
        "<cwmp:GetParameterValues><ParameterNames>{entries}</ParameterNames></cwmp:GetParameterValues>"
    )));
    assert_limit(&e, Limit::ArrayEntries);
    assert_eq!(e.id(), Some("req-9"));
    let ok = "<string>Device.</string>".repeat(4096);
    assert!(decode(wrap(&format!(
        "<cwmp:GetParameterValues><ParameterNames>{ok}</ParameterNames></cwmp:GetParameterValues>"
    )))
    .is_ok());
}

#[test]
fn xsd_max_occurs_is_enforced() {
    let events = "<EventStruct><EventCode>1 BOOT</EventCode><CommandKey/></EventStruct>".repeat(65);
    let input = inform_with("<ParameterList/>").replace(
        "<Event soap-enc:arrayType=\"cwmp:EventStruct[0]\"></Event>",
        &format!("<Event>{events}</Event>"),
    );
    let e = err(&input);
    assert_eq!(e.kind(), &CodecError::TooManyEntries { max: 64 });
    assert_invalid(&e);
    let lax = Limits::default().with_xsd_lengths(false);
    assert!(Envelope::decode(input.as_bytes(), &lax).is_ok());
}

#[test]
fn attribute_count_is_bounded() {
    let attrs: String = (0..60_000).map(|i| format!(" a{i}=\"x\"")).collect();
    let input = format!(
        "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"{attrs}/>"
    );
    assert!(input.len() < 1024 * 1024);
    assert_limit(&err(&input), Limit::Attributes);
    let e = err(wrap(&format!("<cwmp:GetRPCMethods{}/>", &attrs[..400])));
    assert_limit(&e, Limit::Attributes);
}

#[test]
fn names_and_text_are_bounded() {
    let long_name = "X".repeat(300);
    assert_limit(
        &err(wrap(&format!("<cwmp:{long_name}/>"))),
        Limit::NameLength,
    );
    let long_attr = format!("<cwmp:GetRPCMethods {long_name}=\"1\"/>");
    assert_limit(&err(wrap(&long_attr)), Limit::NameLength);
    let text = "v".repeat(64 * 1024 + 1);
    let e = err(inform_with(&format!(
        "<ParameterList><ParameterValueStruct><Name>Device.A</Name><Value>{text}</Value>\
         </ParameterValueStruct></ParameterList>"
    )));
    assert_limit(&e, Limit::TextLength);
    // Split into pieces (text, CDATA, text) it is still one value, still bounded.
    let half = "v".repeat(40 * 1024);
    let e = err(inform_with(&format!(
        "<ParameterList><ParameterValueStruct><Name>Device.A</Name>\
         <Value>{half}<![CDATA[{half}]]></Value></ParameterValueStruct></ParameterList>"
    )));
    assert_limit(&e, Limit::TextLength);
}

#[test]
fn invalid_utf8_is_refused() {
    let mut input = wrap("<cwmp:Reboot><CommandKey>k</CommandKey></cwmp:Reboot>").into_bytes();
    let at = input.iter().position(|&b| b == b'k').unwrap();
    input[at] = 0xff;
    let e = err(&input);
    assert_eq!(e.kind(), &CodecError::InvalidUtf8 { valid_up_to: at });
    assert_invalid(&e);
    // Latin-1 bytes as a careless CPE might send them.
    let e = err(b"<a>caf\xe9</a>");
    assert!(matches!(
        e.kind(),
        CodecError::InvalidUtf8 { valid_up_to: 6 }
    ));
}

#[test]
fn every_truncation_of_a_valid_envelope_fails_cleanly() {
    let mut full = Vec::new();
    let body = Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![ParameterValue::new("Device.A", "x & y", ValueType::String)],
        parameter_key: "k".into(),
    });
    Envelope::new(CwmpNamespace::V1_2, body)
        .with_id("t")
        .encode(&mut full)
        .unwrap();
    assert!(decode(&full).is_ok());
    let header_end = full
        .windows(18)
        .position(|w| w == b"</soap-env:Header>")
        .unwrap();
    for cut in 0..full.len() {
        let e = err(&full[..cut]);
        assert_invalid(&e);
        if cut > header_end {
            assert_eq!(e.id(), Some("t"), "cut at {cut}: {e}");
        }
    }
}

#[test]
fn xsd_max_length_is_enforced_in_characters() {
    let key = |k: &str| {
        wrap(&format!(
            "<cwmp:Reboot><CommandKey>{k}</CommandKey></cwmp:Reboot>"
        ))
    };
    assert!(
        decode(key(&"é".repeat(32))).is_ok(),
        "32 two-byte characters fit"
    );
    let e = err(key(&"é".repeat(33)));
    assert_eq!(e.kind(), &CodecError::TooLong { max: 32, len: 33 });
    assert_eq!(e.path(), "Envelope/Body/Reboot/CommandKey");
    assert_invalid(&e);
    let e = err(inform_with("<ParameterList/>").replace("00D09E", "00D09E0"));
    assert_eq!(e.kind(), &CodecError::TooLong { max: 6, len: 7 });
    assert_eq!(e.path(), "Envelope/Body/Inform/DeviceId/OUI");
    let name = "N".repeat(257);
    let e = err(inform_with(&format!(
        "<ParameterList><ParameterValueStruct><Name>{name}</Name><Value/></ParameterValueStruct></ParameterList>"
    )));
    assert_eq!(e.kind(), &CodecError::TooLong { max: 256, len: 257 });
    assert_eq!(
        e.path(),
        "Envelope/Body/Inform/ParameterList/ParameterValueStruct/Name"
    );
    let lax = Limits::default().with_xsd_lengths(false);
    assert!(Envelope::decode(key(&"k".repeat(100)).as_bytes(), &lax).is_ok());
}

#[test]
fn the_encoder_refuses_what_the_schema_forbids() {
    let encode = |body: Body| {
        let mut out = Vec::new();
        Envelope::new(CwmpNamespace::V1_2, body)
            .encode(&mut out)
            .map(|()| out)
    };
    let e = encode(Body::Reboot(Reboot {
        command_key: "k".repeat(33),
    }))
    .unwrap_err();
    assert_eq!(e.cpe_fault(), 9002);
    let e = encode(Body::Reboot(Reboot {
        command_key: "bell\u{7}".into(),
    }))
    .unwrap_err();
    assert!(matches!(
        e,
        CodecError::InvalidForEncoding {
            element: "CommandKey",
            ..
        }
    ));
    let e = encode(Body::GetParameterValues(GetParameterValues {
        parameter_names: vec![],
    }))
    .unwrap_err();
    assert!(matches!(
        e,
        CodecError::InvalidForEncoding {
            element: "ParameterNames",
            ..
        }
    ));
    let e = encode(Body::Fault(Fault::cwmp(7005, "no such code"))).unwrap_err();
    assert!(matches!(
        e,
        CodecError::InvalidForEncoding {
            element: "FaultCode",
            ..
        }
    ));
    let e = encode(Body::Unknown { name: "a b".into() }).unwrap_err();
    assert!(matches!(
        e,
        CodecError::InvalidForEncoding {
            element: "Body",
            ..
        }
    ));
    // Found by the cwmp_roundtrip fuzz target: an `Inform` in a foreign namespace decodes as
    // `Unknown`, and writing it back as `cwmp:Inform` would change what it is.
    let foreign = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><ID xmlns="urn:dslforum-org:cwmp-1-0" s:mustUnderstand="1">1</ID></s:Header><s:Body><Inform xmlns="urn:example:not-cwmp"><A/></Inform></s:Body></s:Envelope>"#;
    let envelope = Envelope::decode(foreign, &Limits::default()).unwrap();
    assert_eq!(
        envelope.body,
        Body::Unknown {
            name: "Inform".into()
        }
    );
    let e = envelope.encode(&mut Vec::new()).unwrap_err();
    assert!(matches!(
        e,
        CodecError::InvalidForEncoding {
            problem: EncodeProblem::KnownName,
            ..
        }
    ));
    // An unknown `xsi:type` keeps its text with references resolved, so that writing it back
    // (escaped) reads the same (also found by the fuzz target).
    let escaped = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><s:Body><cwmp:SetParameterValues><ParameterList><ParameterValueStruct><Name>Device.X</Name><Value i:type="cwmp:A&amp;B>C">1</Value></ParameterValueStruct></ParameterList><ParameterKey/></cwmp:SetParameterValues></s:Body></s:Envelope>"#;
    let envelope = Envelope::decode(escaped, &Limits::default()).unwrap();
    let Body::SetParameterValues(spv) = &envelope.body else {
        panic!("a SetParameterValues");
    };
    assert_eq!(
        spv.parameter_list[0].value_type,
        Some(ValueType::Other("cwmp:A&B>C".into()))
    );
    let mut bytes = Vec::new();
    envelope.encode(&mut bytes).unwrap();
    assert_eq!(
        Envelope::decode(&bytes, &Limits::default()).unwrap(),
        envelope
    );
    // Likewise `xsd:string` read where `xsd` meant another namespace is an `Other` type that
    // the canonical `xsd` prefix would turn into `String`.
    let value = ParameterValue {
        name: "Device.X".into(),
        value: String::new(),
        value_type: Some(ValueType::Other("xsd:string".into())),
    };
    let e = encode(Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![value],
        parameter_key: String::new(),
    }))
    .unwrap_err();
    assert!(matches!(
        e,
        CodecError::InvalidForEncoding {
            element: "Value",
            problem: EncodeProblem::KnownName,
        }
    ));
}

#[test]
fn structure_violations_are_invalid_arguments() {
    let cases: Vec<(String, CodecError)> = vec![
        (wrap("<cwmp:GetRPCMethods/><cwmp:GetRPCMethods/>"), CodecError::UnexpectedElement { name: "GetRPCMethods".into() }),
        (wrap(""), CodecError::EmptyBody),
        (format!("{}trailing", wrap("<cwmp:GetRPCMethods/>")), CodecError::TrailingData),
        (format!("{}<x/>", wrap("<cwmp:GetRPCMethods/>")), CodecError::TrailingData),
        ("<Envelope><Body/></Envelope>".into(), CodecError::NotEnvelope),
        (
            "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body/></e:Envelope>".into(),
            CodecError::NotEnvelope,
        ),
        (wrap("<cwmp:Reboot/>"), CodecError::MissingElement { name: "CommandKey" }),
        (
            wrap("<cwmp:Reboot><CommandKey/><CommandKey/></cwmp:Reboot>"),
            CodecError::DuplicateElement { name: "CommandKey" },
        ),
        (
            wrap("<cwmp:ScheduleInform><DelaySeconds>-1</DelaySeconds><CommandKey/></cwmp:ScheduleInform>"),
            CodecError::InvalidValue { expected: "unsignedInt", found: "-1".into() },
        ),
        (
            wrap("<cwmp:GetParameterNames><ParameterPath/><NextLevel>maybe</NextLevel></cwmp:GetParameterNames>"),
            CodecError::InvalidValue { expected: "boolean", found: "maybe".into() },
        ),
        (
            wrap("<cwmp:Reboot>text<CommandKey/></cwmp:Reboot>"),
            CodecError::UnexpectedText,
        ),
        (
            wrap("<cwmp:ChangeDUState><Operations><URL>u</URL></Operations></cwmp:ChangeDUState>"),
            CodecError::MissingAttribute { name: "xsi:type" },
        ),
    ];
    for (input, kind) in cases {
        let e = err(&input);
        assert_eq!(e.kind(), &kind, "{input}");
        assert_invalid(&e);
    }
}

#[test]
fn unknown_mandatory_header_fails_but_keeps_the_id() {
    let input = attacks::head("req-9").replace(
        "</soap-env:Header>",
        "<v:X_Secret xmlns:v=\"urn:v\" soap-env:mustUnderstand=\"1\">1</v:X_Secret></soap-env:Header>",
    ) + "<cwmp:GetRPCMethods/>" + attacks::TAIL;
    let e = err(&input);
    assert_eq!(
        e.kind(),
        &CodecError::MustUnderstand {
            name: "X_Secret".into()
        }
    );
    assert_eq!(e.id(), Some("req-9"));
    assert_invalid(&e);
}

#[test]
fn unknown_rpc_is_a_value_not_an_error() {
    let env = decode(wrap(
        "<cwmp:X_ACME_Reset><Force>true</Force></cwmp:X_ACME_Reset>",
    ))
    .unwrap();
    assert_eq!(env.header.id.as_deref(), Some("req-9"));
    assert_eq!(
        env.body,
        Body::Unknown {
            name: "X_ACME_Reset".into()
        }
    );
    // A known name in a foreign namespace is unknown too (matching is by URI + local name).
    let env = decode(wrap("<v:Reboot xmlns:v=\"urn:vendor\"/>")).unwrap();
    assert_eq!(
        env.body,
        Body::Unknown {
            name: "Reboot".into()
        }
    );
}

#[test]
fn errors_carry_the_id_once_the_header_is_read() {
    let e = err(wrap(
        "<cwmp:GetParameterNames><ParameterPath/><NextLevel>2</NextLevel></cwmp:GetParameterNames>",
    ));
    assert_eq!(e.id(), Some("req-9"));
    assert_eq!(e.path(), "Envelope/Body/GetParameterNames/NextLevel");
    assert!(e.to_string().contains("GetParameterNames/NextLevel"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/hostile.txt"),
        )),
        ..ProptestConfig::default()
    })]

    /// Arbitrary corruption of a valid envelope never panics, and a failure is typed.
    #[test]
    fn corrupted_envelopes_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = inform_with(
            "<ParameterList soap-enc:arrayType=\"cwmp:ParameterValueStruct[1]\"><ParameterValueStruct>\
             <Name>Device.A</Name><Value xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:type=\"xsd:string\">v &amp; w</Value></ParameterValueStruct></ParameterList>",
        ).into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() / 2));
        if let Err(e) = decode(&bytes) {
            prop_assert!(matches!(e.cpe_fault(), 9003 | 9004));
        }
    }

    /// Random bytes never panic.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }
}

#[test]
fn worst_case_inputs_end_as_they_should() {
    // Each is under a megabyte and ends in its own way: the decoder walks all of it (the
    // codec bench times them, `cwmp worst case`).
    let [(_, flat), (_, comments), (_, escapes)] = attacks::worst_cases("req-9");
    for input in [&flat, &comments, &escapes] {
        assert!(input.len() <= 1024 * 1024);
    }
    let flat = decode(&flat).unwrap().body;
    assert!(matches!(&flat, Body::Unknown { name } if name == "X_Flat"));
    let comments_error = err(&comments);
    assert_eq!(comments_error.kind(), &CodecError::EmptyBody);
    assert_eq!(comments_error.cpe_fault(), 9003);
    // Found empty only once the last comment was read: at the body's end.
    assert!(comments_error.offset() > comments.len() as u64 - 64);
    let Body::GetParameterValues(get) = decode(&escapes).unwrap().body else {
        panic!("not a GetParameterValues");
    };
    assert_eq!(get.parameter_names.len(), 4000);
    assert!(get.parameter_names.iter().all(|name| name == "&&&&&&&&&&"));
}

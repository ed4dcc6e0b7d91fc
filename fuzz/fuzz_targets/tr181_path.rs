//! Every path form and search expression: parsing never panics, stays within the limits, and
//! whatever parses prints back to text that parses to the same path. Each dot-separated piece
//! is also tried as a CWMP instance alias (`[alias]`): one that is accepted is a valid Alias
//! and equals the same unique key written as a search expression.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tr181_model::Limits;
use tr181_model::path::{InstancePath, Literal, Path, Segment, instance_alias, is_alias};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::DEFAULT;
    let _ = InstancePath::split(text, &limits);
    let _ = Path::parse_reference(text, &limits);
    if let Ok(path) = Path::parse(text, &limits) {
        let printed = path.to_string();
        assert_eq!(
            Path::parse(&printed, &limits).as_ref(),
            Ok(&path),
            "{printed}"
        );
        let _ = path.schema_path();
    }
    for piece in text.split('.') {
        let Some(alias) = instance_alias(piece) else {
            continue;
        };
        assert!(is_alias(alias) && piece.len() == alias.len() + 2, "{piece}");
        let search = format!(
            "Device.T.[Alias==\"{}\"].",
            alias.replace('%', "%25").replace('"', "%22")
        );
        let parsed = Path::parse(&search, &limits);
        let key = match parsed.as_ref().map(|p| p.segments.last()) {
            Ok(Some(Segment::Filter(filter))) => filter.terms.first().map(|t| &t.value),
            _ => None,
        };
        assert_eq!(key, Some(&Literal::String(alias.to_owned())), "{search}");
    }
});

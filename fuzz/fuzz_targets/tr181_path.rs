//! Every path form and search expression: parsing never panics, stays within the limits, and
//! whatever parses prints back to text that parses to the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tr181_model::Limits;
use tr181_model::path::{InstancePath, Path};

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
});

//! TR-106 value parsing for every base type, plain and as a list: never panics, and a parsed
//! value's canonical text parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tr181_model::schema::{BaseType, ListFacet, Syntax};
use tr181_model::value::{Value, validate};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let base = BaseType::ALL[usize::from(selector) % BaseType::ALL.len()];
    // Up to 8 items, as many list parameters of the model have.
    let list = (selector & 0x80 != 0).then_some(ListFacet::new(0, Some(8), None));
    let syntax = match list {
        Some(list) => Syntax::of(base)
            .with_list(list)
            .expect("the model has lists of up to 8 items"),
        None => Syntax::of(base),
    };
    if let Ok(value) = Value::parse(text, &syntax) {
        let _ = validate(&value, &syntax);
        let canonical = value.canonical_text();
        // String list items may not hold commas, so lists of strings are not round-trippable.
        if list.is_none() || base != BaseType::String {
            assert_eq!(
                Value::parse(&canonical, &syntax).as_ref(),
                Ok(&value),
                "{canonical}"
            );
        }
    }
});

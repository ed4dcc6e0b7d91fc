//! Hostile XML shared by the codec's and the session's hostile suites.

/// The end of every envelope [`head`] starts.
pub(crate) const TAIL: &str = "</soap-env:Body></soap-env:Envelope>";

/// A SOAP envelope up to the open Body, with the CWMP `ID` header `id`.
pub(crate) fn head(id: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">{id}</cwmp:ID></soap-env:Header><soap-env:Body>"#
    )
}

/// A SOAP envelope with the CWMP `ID` header `id` around `body`.
pub(crate) fn envelope(id: &str, body: &str) -> String {
    format!("{}{body}{TAIL}", head(id))
}

/// The billion-laughs attack: a DOCTYPE whose nine nested entities expand `&lol9;` to 10^9
/// "lol"s, before an envelope (ID `id`) whose Reboot CommandKey uses it.
pub(crate) fn billion_laughs(id: &str) -> String {
    let mut dtd = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&{prev};").repeat(10)
        ));
    }
    dtd.push_str("]>");
    dtd + &envelope(
        id,
        "<cwmp:Reboot><CommandKey>&lol9;</CommandKey></cwmp:Reboot>",
    )
}

/// The cheapest-to-send, costliest-to-parse shapes, each under a megabyte and named: a flat
/// body of 250,000 empty elements, 140,000 empty comments, and 4,000 parameter names of ten
/// escapes each. The hostile suite checks how each ends; the codec bench times them (a
/// quadratic step would show there, not as a wall-clock assertion in a test).
#[allow(dead_code)] // The codec suite and the codec bench use it, the session suite does not.
pub(crate) fn worst_cases(id: &str) -> [(&'static str, String); 3] {
    [
        (
            "250k empty elements",
            envelope(
                id,
                &format!("<cwmp:X_Flat>{}</cwmp:X_Flat>", "<a/>".repeat(250_000)),
            ),
        ),
        ("140k comments", envelope(id, &"<!---->".repeat(140_000))),
        (
            "4k names of escapes",
            envelope(
                id,
                &format!(
                    "<cwmp:GetParameterValues><ParameterNames>{}</ParameterNames></cwmp:GetParameterValues>",
                    "<string>&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;</string>"
                        .repeat(4000)
                ),
            ),
        ),
    ]
}

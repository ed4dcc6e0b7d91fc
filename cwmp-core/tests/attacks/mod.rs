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

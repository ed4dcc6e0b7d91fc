//! MQTT binding (MQTT 5.0 required, 3.1.1 optional).
//!
//! - CONNECT (v5) carries the User Property [`USER_PROPERTY_ENDPOINT_ID`] and sets Request
//!   Response Information to 1. CONNACK may carry Response Information, which becomes the
//!   Endpoint's reply-to topic (R-MQTT.21), User Properties [`USER_PROPERTY_SUBSCRIBE_TOPIC`] to
//!   subscribe to, and an assigned ClientId to store. See [`own_reply_topic`].
//! - Without any topic to subscribe to, the Agent disconnects and treats the MTP as disabled
//!   (R-MQTT.16/17).
//! - PUBLISH carries the Record as payload, QoS 0 or 1. In v5 the Response Topic property is the
//!   sender's reply-to topic and the Content Type is [`CONTENT_TYPE`] (accept
//!   [`CONTENT_TYPE_LEGACY`] too, see [`is_usp_content_type`]). In v3.1.1 the reply-to topic is
//!   appended to the topic name ([`v311_publish_topic`], [`v311_split_reply_to`]).
//! - Answer on the reply-to topic of the request ([`reply_topic`]). An unparsable payload is
//!   dropped silently.
//! - The Connect Record is `mqtt_connect{version, subscribed_topic}`.
//! - TR-181 has the Agent subscribe to its reply-to topic only when no subscription of its MQTT
//!   client already covers it ([`filter_matches`]).

use alloc::string::String;

use crate::usp_record::mqtt_connect_record::MqttVersion;

/// The MQTT 5 Content Type of a PUBLISH carrying a USP Record (R-MQTT.27).
pub const CONTENT_TYPE: &str = "usp.msg";
/// The Content Type older peers send; receivers accept it too (R-MQTT.27a).
pub const CONTENT_TYPE_LEGACY: &str = "application/vnd.bbf.usp.msg";
/// CONNECT User Property naming the sender's Endpoint ID (R-MQTT.13).
pub const USER_PROPERTY_ENDPOINT_ID: &str = "usp-endpoint-id";
/// CONNACK User Property naming a topic (filter) to subscribe to.
pub const USER_PROPERTY_SUBSCRIBE_TOPIC: &str = "subscribe-topic";
/// What MQTT 3.1.1 senders append to the topic name, followed by their escaped reply-to topic.
pub const V311_REPLY_TO_MARKER: &str = "/reply-to=";

/// Whether a received MQTT 5 Content Type marks a USP Record.
#[must_use]
pub fn is_usp_content_type(content_type: &str) -> bool {
    content_type == CONTENT_TYPE || content_type == CONTENT_TYPE_LEGACY
}

/// Whether `topic` can serve as a reply-to topic: not empty and without the wildcards `+` and
/// `#` (a topic name, not a filter).
#[must_use]
pub fn is_valid_reply_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#'])
}

/// The topic name an MQTT 3.1.1 sender publishes to: `topic` + `/reply-to=` + `reply_to` with
/// every `/` written as `%2F` (R-MQTT.24).
///
/// ```
/// use usp_core::mtp::mqtt::v311_publish_topic;
/// assert_eq!(
///     v311_publish_topic("usp/agent", "usp/ctrl/1"),
///     "usp/agent/reply-to=usp%2Fctrl%2F1"
/// );
/// ```
#[must_use]
pub fn v311_publish_topic(topic: &str, reply_to: &str) -> String {
    let mut name =
        String::with_capacity(topic.len() + V311_REPLY_TO_MARKER.len() + reply_to.len() * 3);
    name.push_str(topic);
    name.push_str(V311_REPLY_TO_MARKER);
    for c in reply_to.chars() {
        if c == '/' {
            name.push_str("%2F");
        } else {
            name.push(c);
        }
    }
    name
}

/// Splits an MQTT 3.1.1 topic name at its last `/reply-to=` into the topic and the sender's
/// reply-to topic, with `%2F` turned back into `/` (R-MQTT.25). `None` if there is no marker.
///
/// ```
/// use usp_core::mtp::mqtt::v311_split_reply_to;
/// assert_eq!(
///     v311_split_reply_to("usp/agent/reply-to=usp%2Fctrl%2F1"),
///     Some(("usp/agent", "usp/ctrl/1".to_string()))
/// );
/// ```
#[must_use]
pub fn v311_split_reply_to(topic_name: &str) -> Option<(&str, String)> {
    let at = topic_name.rfind(V311_REPLY_TO_MARKER)?;
    let topic = topic_name.get(..at)?;
    let escaped = topic_name.get(at + V311_REPLY_TO_MARKER.len()..)?;
    Some((topic, escaped.replace("%2F", "/").replace("%2f", "/")))
}

/// Where to send the answer to a received PUBLISH: its Response Topic property in MQTT 5
/// (R-MQTT.26), the `/reply-to=` suffix of its topic name in MQTT 3.1.1 (R-MQTT.25). `None` when
/// the sender gave none (the Record cannot be answered).
#[must_use]
pub fn reply_topic(
    version: MqttVersion,
    topic_name: &str,
    response_topic: Option<&str>,
) -> Option<String> {
    match version {
        MqttVersion::V5 => response_topic.filter(|t| !t.is_empty()).map(String::from),
        MqttVersion::V311 => v311_split_reply_to(topic_name).map(|(_, reply_to)| reply_to),
    }
}

/// The Endpoint's own reply-to topic after CONNACK: the Response Information the server
/// assigned (R-MQTT.21), else the configured one (`ResponseTopicConfigured`).
#[must_use]
pub fn own_reply_topic<'a>(
    connack_response_information: Option<&'a str>,
    configured: Option<&'a str>,
) -> Option<&'a str> {
    connack_response_information
        .filter(|t| !t.is_empty())
        .or_else(|| configured.filter(|t| !t.is_empty()))
}

/// Whether the MQTT topic filter `filter` (with the wildcards `+` and `#`) matches the topic
/// name `topic` (MQTT 3.1.1 and 5.0 section 4.7): `+` matches one level, a trailing `#` any
/// number of levels including its parent, and a leading wildcard never matches a topic name
/// starting with `$`.
///
/// ```
/// use usp_core::mtp::mqtt::filter_matches;
/// assert!(filter_matches("usp/+/agent/#", "usp/x/agent"));
/// assert!(!filter_matches("usp/+", "usp/x/agent"));
/// ```
#[must_use]
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut names = topic.split('/');
    for level in filter.split('/') {
        match (level, names.next()) {
            ("#", _) => return true,
            (_, None) => return false,
            ("+", Some(_)) => {}
            (level, Some(name)) if level == name => {}
            _ => return false,
        }
    }
    names.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_topic_by_version() {
        assert_eq!(
            reply_topic(MqttVersion::V5, "usp/agent", Some("usp/ctrl")).as_deref(),
            Some("usp/ctrl")
        );
        assert_eq!(reply_topic(MqttVersion::V5, "usp/agent", None), None);
        assert_eq!(
            reply_topic(MqttVersion::V311, "a/reply-to=x/reply-to=b%2Fc", None).as_deref(),
            Some("b/c")
        );
        assert_eq!(reply_topic(MqttVersion::V311, "usp/agent", None), None);
    }

    #[test]
    fn own_reply_topic_prefers_connack() {
        assert_eq!(own_reply_topic(Some("srv"), Some("cfg")), Some("srv"));
        assert_eq!(own_reply_topic(Some(""), Some("cfg")), Some("cfg"));
        assert_eq!(own_reply_topic(None, None), None);
    }

    #[test]
    fn content_types_and_topics() {
        assert!(is_usp_content_type("usp.msg"));
        assert!(is_usp_content_type("application/vnd.bbf.usp.msg"));
        assert!(!is_usp_content_type("application/json"));
        assert!(is_valid_reply_topic("usp/ctrl"));
        assert!(!is_valid_reply_topic("usp/+/x"));
        assert!(!is_valid_reply_topic("usp/#"));
        assert!(!is_valid_reply_topic(""));
    }

    #[test]
    fn filters_match_by_level() {
        assert!(filter_matches("usp/agent", "usp/agent"));
        assert!(!filter_matches("usp/agent", "usp/agent/x"));
        assert!(filter_matches("usp/#", "usp"));
        assert!(filter_matches("usp/#", "usp/agent/reply-to=x"));
        assert!(filter_matches("#", "usp/agent"));
        assert!(filter_matches("+/agent", "usp/agent"));
        assert!(filter_matches("usp/+", "usp/"));
        assert!(!filter_matches("usp/+", "usp"));
        assert!(!filter_matches("usp/+/x", "usp/agent/y"));
        assert!(!filter_matches("#", "$SYS/broker"));
        assert!(filter_matches("$SYS/#", "$SYS/broker"));
        assert!(!filter_matches("usp/agent2", "usp/agent"));
    }
}

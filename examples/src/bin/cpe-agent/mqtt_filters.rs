//! The topic filters the MQTT MTP holds at its broker, followed on the open connection: the
//! enabled `Device.MQTT.Client.{i}.Subscription.{i}.` rows, the agent's own topic (unless a
//! row's filter covers it, as TR-181 asks) and the topics the broker named in CONNACK.
//!
//! [`Filters::change`] turns a change of the rows into the SUBSCRIBE and UNSUBSCRIBE packets
//! that bring the broker there, and each row's `Status` follows the SUBACK or UNSUBACK of its
//! filter ([`Filters::status`]): `Subscribing`, `Subscribed`, `Error` when refused,
//! `Unsubscribing`, `Unsubscribed`. rumqttc names a packet's id only once it sends the packet,
//! in the order the requests were queued, so the queued requests wait in that order for their
//! id ([`Filters::sent`]) and the acknowledgements are matched by id ([`Filters::acked`]).
//!
//! A client holds a handful of filters: they are kept in vectors, searched in turn (smaller
//! code than maps of their own, for the router build).

use usp_core::mtp::mqtt::{self as facts, filter_matches};

use crate::mqtt::{Subscription, Version};

/// The QoS of the filters the agent subscribes to for itself (its own topic, CONNACK's).
const OWN_QOS: u8 = 1;

/// Where a topic filter stands with the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// SUBSCRIBE queued or sent, no SUBACK yet.
    Subscribing,
    /// The SUBACK granted it.
    Subscribed,
    /// The SUBACK refused it, or rumqttc did not take the SUBSCRIBE.
    Refused,
    /// UNSUBSCRIBE queued or sent, no UNSUBACK yet.
    Unsubscribing,
    /// The UNSUBACK refused it, or rumqttc did not take the UNSUBSCRIBE.
    UnsubscribeFailed,
    /// The UNSUBACK came: the filter leaves the list.
    Unsubscribed,
}

/// A topic filter the agent asked the broker for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Filter {
    qos: u8,
    state: State,
}

/// The filters of one connection and the requests in flight for them; see the
/// [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Filters {
    /// Each topic filter the agent asked for, once; an unsubscribed filter leaves the list.
    filters: Vec<(String, Filter)>,
    /// The requests handed to rumqttc and not yet sent, oldest first.
    queued: Vec<Request>,
    /// The requests sent, with their packet id.
    sent: Vec<(u16, Request)>,
}

/// A SUBSCRIBE or an UNSUBSCRIBE.
#[derive(Debug)]
struct Request {
    subscribe: bool,
    filters: Vec<String>,
}

/// What [`Filters::change`] asks to send.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Topic filters to UNSUBSCRIBE (one packet each: rumqttc sends one filter per packet).
    pub(crate) unsubscribe: Vec<String>,
    /// Topic filters to SUBSCRIBE, with their QoS, in one packet.
    pub(crate) subscribe: Vec<(String, u8)>,
}

impl Filters {
    /// Brings the filters to `wanted` (each topic filter once, with its QoS; see [`wanted`])
    /// and returns the packets that do it: the caller hands each to rumqttc and reports it
    /// with [`Self::requested`], in the order it queued them.
    pub(crate) fn change(&mut self, wanted: &[(String, u8)]) -> Changes {
        let mut changes = Changes::default();
        self.filters.retain_mut(|(topic, filter)| {
            if wanted.iter().any(|(t, _)| t == topic) {
                return true;
            }
            match filter.state {
                // Never granted: nothing to undo.
                State::Refused | State::Unsubscribed => false,
                State::Unsubscribing => true,
                State::Subscribing | State::Subscribed | State::UnsubscribeFailed => {
                    filter.state = State::Unsubscribing;
                    changes.unsubscribe.push(topic.clone());
                    true
                }
            }
        });
        for (topic, qos) in wanted {
            let asked = Filter {
                qos: *qos,
                state: State::Subscribing,
            };
            match self.get_mut(topic) {
                Some(f)
                    if f.qos == *qos
                        && matches!(f.state, State::Subscribing | State::Subscribed) =>
                {
                    continue;
                }
                Some(filter) => *filter = asked,
                None => self.filters.push((topic.clone(), asked)),
            }
            changes.subscribe.push((topic.clone(), *qos));
        }
        changes
    }

    fn get(&self, topic: &str) -> Option<&Filter> {
        self.filters
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, f)| f)
    }

    fn get_mut(&mut self, topic: &str) -> Option<&mut Filter> {
        self.filters
            .iter_mut()
            .find(|(t, _)| t == topic)
            .map(|(_, f)| f)
    }

    /// What the broker still holds of these filters when it keeps the session of the lost
    /// connection: those it granted. Those in flight are unknown: asked for again, or (the
    /// filters being left) unsubscribed from again.
    pub(crate) fn kept(mut self) -> Self {
        self.queued.clear();
        self.sent.clear();
        self.filters.retain_mut(|(_, filter)| match filter.state {
            State::Subscribed => true,
            State::Unsubscribing | State::UnsubscribeFailed => {
                filter.state = State::UnsubscribeFailed;
                true
            }
            State::Subscribing | State::Refused | State::Unsubscribed => false,
        });
        self
    }

    /// What a kept session holds of these filters, to save for the agent's next start
    /// ([`Self::from_saved`]): each filter the broker may hold, with its QoS, and whether the
    /// agent was leaving it. Those never granted are left out (a SUBSCRIBE of them again
    /// only replaces them).
    pub(crate) fn saved(&self) -> Vec<(String, u8, bool)> {
        let filters = self.filters.iter();
        filters
            .filter_map(|(topic, f)| match f.state {
                State::Subscribed => Some((topic.clone(), f.qos, false)),
                State::Unsubscribing | State::UnsubscribeFailed => {
                    Some((topic.clone(), f.qos, true))
                }
                State::Subscribing | State::Refused | State::Unsubscribed => None,
            })
            .collect()
    }

    /// The filters a kept session holds, as [`Self::saved`] saved them: as [`Self::kept`]
    /// would have left them.
    pub(crate) fn from_saved(saved: Vec<(String, u8, bool)>) -> Self {
        let filters = (saved.into_iter())
            .map(|(topic, qos, leaving)| {
                let state = if leaving {
                    State::UnsubscribeFailed
                } else {
                    State::Subscribed
                };
                (topic, Filter { qos, state })
            })
            .collect();
        Self {
            filters,
            ..Self::default()
        }
    }

    /// The SUBSCRIBE (`subscribe`) or UNSUBSCRIBE of `filters` was handed to rumqttc
    /// (`queued`), or rumqttc refused it.
    pub(crate) fn requested(&mut self, subscribe: bool, filters: Vec<String>, queued: bool) {
        if queued {
            self.queued.push(Request { subscribe, filters });
            return;
        }
        for topic in &filters {
            if let Some(filter) = self.get_mut(topic) {
                filter.state = match filter.state {
                    State::Subscribing => State::Refused,
                    State::Unsubscribing => State::UnsubscribeFailed,
                    other => other,
                };
            }
        }
    }

    /// rumqttc sent the oldest queued request as packet `pkid`.
    pub(crate) fn sent(&mut self, pkid: u16) {
        if !self.queued.is_empty() {
            let request = self.queued.remove(0);
            self.sent.push((pkid, request));
        }
    }

    /// The SUBACK or UNSUBACK of packet `pkid` came: per topic filter, whether the broker
    /// did it (`None`: all done, as a 3.1.1 UNSUBACK says). Returns the filters now
    /// unsubscribed. An acknowledgement for a filter that changed since is left alone.
    pub(crate) fn acked(&mut self, pkid: u16, results: Option<&[bool]>) -> Vec<String> {
        let mut left = Vec::new();
        let Some(at) = self.sent.iter().position(|(id, _)| *id == pkid) else {
            return left;
        };
        let (_, request) = self.sent.swap_remove(at);
        for (i, topic) in request.filters.into_iter().enumerate() {
            let done = results.is_none_or(|r| r.get(i).copied().unwrap_or(false));
            let Some(filter) = self.get_mut(&topic) else {
                continue;
            };
            match (request.subscribe, filter.state, done) {
                (true, State::Subscribing, true) => filter.state = State::Subscribed,
                (true, State::Subscribing, false) => filter.state = State::Refused,
                (false, State::Unsubscribing, true) => filter.state = State::Unsubscribed,
                (false, State::Unsubscribing, false) => filter.state = State::UnsubscribeFailed,
                _ => continue,
            }
            if filter.state == State::Unsubscribed {
                left.push(topic);
            }
        }
        self.filters.retain(|(_, f)| f.state != State::Unsubscribed);
        left
    }

    /// The `Status` of the `Subscription.{i}.` row `row`.
    pub(crate) fn status(&self, row: &Subscription) -> &'static str {
        let state = self.get(&row.topic).map(|f| f.state);
        match (row.enable && !row.topic.is_empty(), state) {
            (true, Some(State::Subscribing)) => "Subscribing",
            (true, Some(State::Subscribed)) => "Subscribed",
            (true, Some(State::Refused)) => "Error",
            (false, Some(State::Unsubscribing)) => "Unsubscribing",
            (false, Some(State::UnsubscribeFailed)) => "Error",
            _ => "Unsubscribed",
        }
    }
}

/// The topic filters the agent wants, each with its QoS: the enabled rows of `subscriptions`
/// (the highest QoS when rows share a filter), the filter of `own_topic` unless a row covers
/// it ([`own_filter`]) or it is empty (no USP MTP on the client), and `extra` (the CONNACK's
/// topics).
pub(crate) fn wanted(
    version: Version,
    own_topic: &str,
    subscriptions: &[Subscription],
    extra: &[String],
) -> Vec<(String, u8)> {
    let rows: Vec<&Subscription> = (subscriptions.iter())
        .filter(|s| s.enable && !s.topic.is_empty())
        .collect();
    let mut wanted: Vec<(String, u8)> = Vec::new();
    let mut want = |topic: &str, qos: u8| match wanted.iter_mut().find(|(t, _)| t == topic) {
        Some((_, held)) => *held = (*held).max(qos),
        None => wanted.push((topic.to_owned(), qos)),
    };
    for row in &rows {
        want(&row.topic, row.qos);
    }
    let own = own_filter(version, own_topic, &rows).filter(|_| !own_topic.is_empty());
    if let Some(own) = own {
        want(&own, OWN_QOS);
    }
    for topic in extra {
        want(topic, OWN_QOS);
    }
    wanted
}

/// The topic filter of the agent's own topic, or `None` when the filter of one of the enabled
/// `subscriptions` already covers it (TR-181 `ResponseTopicConfigured`). In 3.1.1 senders
/// append `/reply-to=…` to the topic, so the filter must match that too: `topic/#`, which
/// also matches the topic itself.
fn own_filter(
    version: Version,
    own_topic: &str,
    subscriptions: &[&Subscription],
) -> Option<String> {
    let (names, own) = match version {
        Version::V311 => (
            vec![
                own_topic.to_owned(),
                facts::v311_publish_topic(own_topic, "x"),
            ],
            format!("{own_topic}/#"),
        ),
        Version::V5 => (vec![own_topic.to_owned()], own_topic.to_owned()),
    };
    let covered =
        (subscriptions.iter()).any(|s| names.iter().all(|name| filter_matches(&s.topic, name)));
    (!covered).then_some(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(n: u8, topic: &str, enable: bool) -> Subscription {
        Subscription {
            row: format!("Device.MQTT.Client.1.Subscription.{n}."),
            enable,
            topic: topic.into(),
            qos: n % 3,
        }
    }

    #[test]
    fn a_subscription_covering_the_own_topic_replaces_its_filter() {
        let own = |version, topic: &str| own_filter(version, "usp/agent", &[&sub(1, topic, true)]);
        assert_eq!(
            own_filter(Version::V5, "usp/agent", &[]).as_deref(),
            Some("usp/agent")
        );
        assert_eq!(own(Version::V5, "usp/+"), None);
        assert_eq!(own(Version::V5, "usp/agent"), None);
        assert_eq!(own(Version::V5, "usp/other").as_deref(), Some("usp/agent"));
        // 3.1.1: the filter must take the `/reply-to=` names as well.
        assert_eq!(
            own(Version::V311, "usp/agent").as_deref(),
            Some("usp/agent/#")
        );
        assert_eq!(own(Version::V311, "usp/agent/#"), None);
        assert_eq!(own(Version::V311, "#"), None);
    }

    #[test]
    fn the_wanted_filters_merge_rows_own_topic_and_connack_topics() {
        let rows = [
            sub(1, "a/+", true),
            sub(2, "a/+", true),
            sub(3, "off", false),
            sub(4, "", true),
        ];
        let wanted = wanted(Version::V5, "usp/agent", &rows, &["a/+".into(), "b".into()]);
        let expected = [("a/+", 2), ("usp/agent", 1), ("b", 1)];
        let expected: Vec<(String, u8)> = (expected.iter())
            .map(|(t, q)| ((*t).to_owned(), *q))
            .collect();
        assert_eq!(wanted, expected);
    }

    /// `filters` asked for `wanted`, every request queued and sent in order from packet id
    /// `first`; returns the changes.
    fn change_and_send(filters: &mut Filters, wanted: &[(&str, u8)], first: u16) -> Changes {
        let wanted: Vec<(String, u8)> = (wanted.iter())
            .map(|(t, q)| ((*t).to_owned(), *q))
            .collect();
        let changes = filters.change(&wanted);
        let mut pkid = first;
        for topic in &changes.unsubscribe {
            filters.requested(false, vec![topic.clone()], true);
            filters.sent(pkid);
            pkid += 1;
        }
        if !changes.subscribe.is_empty() {
            let topics = changes.subscribe.iter().map(|(t, _)| t.clone()).collect();
            filters.requested(true, topics, true);
            filters.sent(pkid);
        }
        changes
    }

    #[test]
    fn row_changes_become_subscribes_and_unsubscribes_with_their_statuses() {
        let mut filters = Filters::default();
        let a = sub(1, "a", true);
        let b = sub(2, "b", true);
        let changes = change_and_send(&mut filters, &[("a", 1), ("b", 2)], 1);
        assert_eq!(changes.subscribe, [("a".into(), 1), ("b".into(), 2)]);
        assert!(changes.unsubscribe.is_empty());
        assert_eq!(filters.status(&a), "Subscribing");
        // The broker grants a and refuses b.
        assert!(filters.acked(1, Some(&[true, false])).is_empty());
        assert_eq!(filters.status(&a), "Subscribed");
        assert_eq!(filters.status(&b), "Error");
        // An acknowledgement of no request changes nothing.
        assert!(filters.acked(1, Some(&[false, false])).is_empty());
        assert_eq!(filters.status(&a), "Subscribed");

        // a disabled, b's QoS lowered (tried again), c added: one UNSUBSCRIBE, one SUBSCRIBE.
        let changes = change_and_send(&mut filters, &[("b", 1), ("c", 0)], 2);
        assert_eq!(changes.unsubscribe, ["a"]);
        assert_eq!(changes.subscribe, [("b".into(), 1), ("c".into(), 0)]);
        let a_off = sub(1, "a", false);
        assert_eq!(filters.status(&a_off), "Unsubscribing");
        assert_eq!(filters.acked(2, None), ["a"]);
        assert_eq!(filters.status(&a_off), "Unsubscribed");
        filters.acked(3, Some(&[true, true]));
        assert_eq!(filters.status(&b), "Subscribed");
        // Nothing to do when nothing changed.
        assert_eq!(
            change_and_send(&mut filters, &[("b", 1), ("c", 0)], 4),
            Changes::default()
        );
        // A refused UNSUBSCRIBE is an error for the disabled row, tried again later.
        let changes = change_and_send(&mut filters, &[("b", 1)], 4);
        assert_eq!(changes.unsubscribe, ["c"]);
        filters.acked(4, Some(&[false]));
        assert_eq!(filters.status(&sub(3, "c", false)), "Error");
        let changes = change_and_send(&mut filters, &[("b", 1)], 5);
        assert_eq!(changes.unsubscribe, ["c"]);
    }

    #[test]
    fn a_filter_wanted_again_while_leaving_is_subscribed_anew() {
        let mut filters = Filters::default();
        let a = sub(1, "a", true);
        change_and_send(&mut filters, &[("a", 1)], 1);
        filters.acked(1, Some(&[true]));
        change_and_send(&mut filters, &[], 2);
        let changes = change_and_send(&mut filters, &[("a", 1)], 3);
        assert_eq!(changes.subscribe, [("a".into(), 1)]);
        // The UNSUBACK of the old request leaves the new SUBSCRIBE alone.
        assert!(filters.acked(2, None).is_empty());
        assert_eq!(filters.status(&a), "Subscribing");
        filters.acked(3, Some(&[true]));
        assert_eq!(filters.status(&a), "Subscribed");
    }

    #[test]
    fn a_kept_session_keeps_the_granted_filters() {
        let mut filters = Filters::default();
        change_and_send(&mut filters, &[("a", 1), ("b", 1)], 1);
        filters.acked(1, Some(&[true, true]));
        // b leaves, c comes; the connection is lost before any answer.
        change_and_send(&mut filters, &[("a", 1), ("c", 1)], 2);
        let mut kept = filters.kept();
        // Held: a (granted); b may still be held; c is unknown.
        let changes = change_and_send(&mut kept, &[("a", 1), ("c", 1)], 1);
        assert_eq!(changes.unsubscribe, ["b"]);
        assert_eq!(changes.subscribe, [("c".into(), 1)]);
        assert_eq!(kept.status(&sub(1, "a", true)), "Subscribed");
    }

    #[test]
    fn a_request_rumqttc_refuses_marks_its_filters() {
        let mut filters = Filters::default();
        let a = sub(1, "a", true);
        let wanted = [("a".to_owned(), 1)];
        let changes = filters.change(&wanted);
        filters.requested(true, vec![changes.subscribe[0].0.clone()], false);
        assert_eq!(filters.status(&a), "Error");
        // Tried again on the next change; a packet id no request waits for is ignored.
        assert_eq!(filters.change(&wanted).subscribe.len(), 1);
        filters.sent(9);
        assert!(filters.acked(9, None).is_empty());
    }
}

//! `Device.MQTT.Client.{i}.Stats.` as live values. The MQTT MTP counts into its client's
//! [`ClientStats`] (a short lock per packet, no store write), and [`StatsParameters`], the
//! HAL's [`Parameters`] with these added, hands the counts to the engine when a Get reads
//! them: the store is written on a Get, never per PUBLISH.
//!
//! The counts start at zero when the agent starts and are kept across restarts of the MTP.
//! `MQTTMessagesSent` counts the packets rumqttc reports sending: every one but CONNECT.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use hal::HalError;
use hal::traits::{Applied, ApplyError, ParamChange, Parameters};
use tr181_model::value::{DateTime, Value};

use crate::device::wall_clock;

/// The schema path of the live object.
const STATS: &str = "Device.MQTT.Client.{i}.Stats.";
const CLIENTS: &str = "Device.MQTT.Client.";

/// Every MQTT client row's counts, by row (`Device.MQTT.Client.1.`).
#[derive(Default)]
pub(crate) struct MqttStats {
    clients: Mutex<BTreeMap<String, Arc<ClientStats>>>,
}

impl MqttStats {
    /// The counts of client row `row` (with its trailing dot), created at zero.
    pub(crate) fn client(&self, row: &str) -> Arc<ClientStats> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.entry(row.to_owned()).or_default().clone()
    }

    /// The counts of client row `row`, if its MTP ever ran.
    fn snapshot(&self, row: &str) -> Option<Counts> {
        let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.get(row).map(|stats| stats.snapshot())
    }
}

/// One client's counts.
#[derive(Default)]
pub(crate) struct ClientStats {
    counts: Mutex<Counts>,
}

/// The values of `Stats.`; the times are `None` until the event first happens (the stored
/// value, the unknown time, stays).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Counts {
    connected: Option<DateTime>,
    last_publish_sent: Option<DateTime>,
    last_publish_received: Option<DateTime>,
    publish_sent: u64,
    publish_received: u64,
    subscribe_sent: u64,
    unsubscribe_sent: u64,
    messages_sent: u64,
    messages_received: u64,
    connection_errors: u32,
    publish_errors: u32,
}

impl ClientStats {
    fn update(&self, change: impl FnOnce(&mut Counts)) {
        change(&mut self.counts.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn snapshot(&self) -> Counts {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A packet from the broker: a CONNACK, a PUBLISH or another.
    pub(crate) fn received(&self, connack: bool, publish: bool) {
        let now = (connack || publish).then(wall_clock).flatten();
        self.update(|c| {
            c.messages_received = c.messages_received.saturating_add(1);
            if connack {
                c.connected = now.or(c.connected);
            }
            if publish {
                c.publish_received = c.publish_received.saturating_add(1);
                c.last_publish_received = now.or(c.last_publish_received);
            }
        });
    }

    /// A packet rumqttc reports sending.
    pub(crate) fn sent(&self, packet: &rumqttc::Outgoing) {
        use rumqttc::Outgoing;
        if matches!(packet, Outgoing::AwaitAck(_)) {
            return;
        }
        let now = matches!(packet, Outgoing::Publish(_))
            .then(wall_clock)
            .flatten();
        self.update(|c| {
            c.messages_sent = c.messages_sent.saturating_add(1);
            match packet {
                Outgoing::Publish(_) => {
                    c.publish_sent = c.publish_sent.saturating_add(1);
                    c.last_publish_sent = now.or(c.last_publish_sent);
                }
                Outgoing::Subscribe(_) => c.subscribe_sent = c.subscribe_sent.saturating_add(1),
                Outgoing::Unsubscribe(_) => {
                    c.unsubscribe_sent = c.unsubscribe_sent.saturating_add(1);
                }
                _ => {}
            }
        });
    }

    /// A failed or lost connection.
    pub(crate) fn connection_error(&self) {
        self.update(|c| c.connection_errors = c.connection_errors.saturating_add(1));
    }

    /// A PUBLISH rumqttc did not take.
    pub(crate) fn publish_error(&self) {
        self.update(|c| c.publish_errors = c.publish_errors.saturating_add(1));
    }
}

impl Counts {
    /// The value of parameter `name` of `Stats.`; `None` leaves the stored one.
    fn value(&self, name: &str) -> Option<Value> {
        let value = match name {
            "BrokerConnectionEstablished" => Value::DateTime(self.connected?),
            "LastPublishMessageSent" => Value::DateTime(self.last_publish_sent?),
            "LastPublishMessageReceived" => Value::DateTime(self.last_publish_received?),
            "PublishSent" => Value::UnsignedLong(self.publish_sent),
            "PublishReceived" => Value::UnsignedLong(self.publish_received),
            "SubscribeSent" => Value::UnsignedLong(self.subscribe_sent),
            "UnSubscribeSent" => Value::UnsignedLong(self.unsubscribe_sent),
            "MQTTMessagesSent" => Value::UnsignedLong(self.messages_sent),
            "MQTTMessagesReceived" => Value::UnsignedLong(self.messages_received),
            "ConnectionErrors" => Value::UnsignedInt(self.connection_errors),
            "PublishErrors" => Value::UnsignedInt(self.publish_errors),
            _ => return None,
        };
        Some(value)
    }
}

/// The HAL's live parameters with the MQTT clients' `Stats.` added.
pub(crate) struct StatsParameters {
    inner: Arc<dyn Parameters>,
    stats: Arc<MqttStats>,
}

impl StatsParameters {
    /// `inner` with `stats` served as `Device.MQTT.Client.{i}.Stats.`.
    pub(crate) fn new(inner: Arc<dyn Parameters>, stats: Arc<MqttStats>) -> Self {
        Self { inner, stats }
    }
}

#[async_trait]
impl Parameters for StatsParameters {
    fn is_live(&self, object: &str, name: &str) -> bool {
        object == STATS || self.inner.is_live(object, name)
    }

    async fn read(
        &self,
        object: &str,
        names: &[&'static str],
    ) -> Result<Vec<(String, Value)>, HalError> {
        let client = object
            .strip_suffix("Stats.")
            .filter(|row| row.starts_with(CLIENTS));
        let Some(client) = client else {
            return self.inner.read(object, names).await;
        };
        let Some(counts) = self.stats.snapshot(client) else {
            return Ok(Vec::new());
        };
        let values = names.iter().filter_map(|name| {
            let value = counts.value(name)?;
            Some(((*name).to_owned(), value))
        });
        Ok(values.collect())
    }

    async fn apply(&self, object: &str, changes: &[ParamChange]) -> Result<Applied, ApplyError> {
        self.inner.apply(object, changes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn counts_are_read_as_the_client_rows_stats() {
        let stats = Arc::new(MqttStats::default());
        let live = StatsParameters::new(Arc::new(hal::traits::NoHardware), stats.clone());
        assert!(live.is_live(STATS, "PublishSent"));
        assert!(!live.is_live("Device.MQTT.Client.{i}.", "Status"));
        let object = "Device.MQTT.Client.1.Stats.";
        // Never connected: nothing read, the stored values stay.
        assert_eq!(live.read(object, &["PublishSent"]).await.unwrap(), []);

        let client = stats.client("Device.MQTT.Client.1.");
        client.received(true, false);
        client.sent(&rumqttc::Outgoing::Subscribe(1));
        client.sent(&rumqttc::Outgoing::Publish(2));
        client.sent(&rumqttc::Outgoing::AwaitAck(2));
        client.received(false, true);
        client.received(false, false);
        client.connection_error();
        client.publish_error();
        let names = [
            "PublishSent",
            "PublishReceived",
            "SubscribeSent",
            "UnSubscribeSent",
            "MQTTMessagesSent",
            "MQTTMessagesReceived",
            "ConnectionErrors",
            "PublishErrors",
        ];
        let read = live.read(object, &names).await.unwrap();
        let expected = [
            Value::UnsignedLong(1),
            Value::UnsignedLong(1),
            Value::UnsignedLong(1),
            Value::UnsignedLong(0),
            Value::UnsignedLong(2),
            Value::UnsignedLong(3),
            Value::UnsignedInt(1),
            Value::UnsignedInt(1),
        ];
        let expected: Vec<_> = (names.iter().zip(expected))
            .map(|(name, value)| ((*name).to_owned(), value))
            .collect();
        assert_eq!(read, expected);
        let times = ["BrokerConnectionEstablished", "LastPublishMessageSent"];
        let read = live.read(object, &times).await.unwrap();
        assert_eq!(read.len(), 2, "{read:?}");
        // Another client's row has no counts.
        let other = live.read("Device.MQTT.Client.2.Stats.", &names).await;
        assert_eq!(other.unwrap(), []);
    }
}

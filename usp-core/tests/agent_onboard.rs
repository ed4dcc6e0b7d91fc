//! Onboarding against the simulated device, on a virtual clock: the agent sends an
//! OnBoardRequest by itself to every enabled controller row whose `OnBoardingComplete` is
//! false (TR-181 `Device.LocalAgent.Controller.{i}.`, TR-369 R-NOT.5/6/6a), retries it per
//! NotifRetry until answered, restarts it per `OnBoardingRestartTime`, and stops when the row
//! is onboarded or disabled.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use hal::engine::AllowAll;
use harness::{CTRL, Harness, ONBOARDED};
use usp_core::agent::{ControllerConfig, Mtp, MtpKind};
use usp_core::usp::notify::Notification;

const ENABLE: &str = "Device.LocalAgent.Controller.1.Enable";
const RESTART: &str = "Device.LocalAgent.Controller.1.OnBoardingRestartTime";

/// The `msg_id`s of the OnBoardRequests sent so far, checking each is one as R-NOT.5 wants.
fn onboard_requests(h: &Harness) -> Vec<String> {
    h.notifies()
        .into_iter()
        .filter_map(|(msg_id, notify)| {
            let Some(Notification::OnBoardReq(req)) = notify.notification else {
                return None;
            };
            assert!(notify.send_resp, "R-NOT.5: always send_resp");
            assert_eq!(notify.subscription_id, "");
            assert_eq!(
                (
                    req.oui.as_str(),
                    req.product_class.as_str(),
                    req.serial_number.as_str(),
                    req.agent_supported_protocol_versions.as_str()
                ),
                ("00D09E", "HG", "SIM0001", "1.0,1.1,1.2,1.3,1.4,1.5")
            );
            Some(msg_id)
        })
        .collect()
}

/// The agent re-reads its configuration as at a start.
fn reload(h: &mut Harness) {
    let now = h.now;
    let agent = &mut h.agent;
    h.engine.read(|store| agent.load_subscriptions(now, store));
}

#[tokio::test]
async fn the_factory_device_onboards_its_controller_at_start_once() {
    let mut h = Harness::not_onboarded().await;
    assert_eq!(h.value(ONBOARDED), "false", "the schema's default");
    let sent = onboard_requests(&h);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(h.sent.iter().all(|s| s.to == CTRL));
    // Seeing the table again, or a change elsewhere in the row, sends no second one.
    reload(&mut h);
    h.drive().await;
    h.device_set("Device.LocalAgent.Controller.1.PeriodicNotifInterval", "60")
        .await;
    h.drive().await;
    assert_eq!(onboard_requests(&h), sent);
}

#[tokio::test]
async fn retried_per_notif_retry_until_answered_then_restarted() {
    let mut h = Harness::not_onboarded().await;
    let first = onboard_requests(&h);
    // The first retry waits 5 to 10 s (USPNotifRetryMinimumWaitInterval 5, ×2).
    h.advance(Duration::from_millis(4_900)).await;
    assert_eq!(onboard_requests(&h).len(), 1);
    h.advance(Duration::from_millis(5_200)).await;
    let retried = onboard_requests(&h);
    assert_eq!(
        retried,
        [first[0].clone(), first[0].clone()],
        "the same Msg again"
    );
    // Never expires: still retried a day later.
    for _ in 0..24 {
        h.advance(Duration::from_secs(3600)).await;
    }
    assert!(onboard_requests(&h).len() > 10);

    // The controller answers; OnBoardingRestartTime counts from the answer.
    h.device_set(RESTART, "600").await;
    h.notify_resp(&first[0], "").await;
    let answered = h.now;
    let count = onboard_requests(&h).len();
    assert_eq!(h.timeout, Some(answered + Duration::from_secs(600)));
    h.advance(Duration::from_secs(599)).await;
    assert_eq!(onboard_requests(&h).len(), count, "no retry once answered");
    h.advance(Duration::from_secs(1)).await;
    let again = onboard_requests(&h);
    assert_eq!(again.len(), count + 1);
    let second = again.last().unwrap().clone();
    assert_ne!(second, first[0], "a new OnBoardRequest");

    // With OnBoardingRestartTime 0, one answered OnBoardRequest ends it.
    h.device_set(RESTART, "0").await;
    h.notify_resp(&second, "").await;
    assert_eq!(h.timeout, None);
}

#[tokio::test]
async fn onboarding_complete_cancels_and_false_starts_again() {
    let mut h = Harness::not_onboarded().await;
    h.device_set(RESTART, "30").await;
    let first = onboard_requests(&h);
    // The controller sets OnBoardingComplete without answering: the retries stop.
    h.device_set(ONBOARDED, "true").await;
    h.drive().await;
    assert_eq!(h.timeout, None);
    h.advance(Duration::from_secs(3600)).await;
    assert_eq!(onboard_requests(&h), first);
    // Set back to false: a new state, a new OnBoardRequest.
    h.device_set(ONBOARDED, "false").await;
    h.drive().await;
    let sent = onboard_requests(&h);
    assert_eq!(sent.len(), 2);
    // Onboarded while waiting for the restart: the restart timer is cancelled too.
    h.notify_resp(&sent[1], "").await;
    assert_eq!(h.timeout, Some(h.now + Duration::from_secs(30)));
    h.device_set(ONBOARDED, "true").await;
    h.drive().await;
    assert_eq!(h.timeout, None);
}

#[tokio::test]
async fn a_disabled_row_gets_nothing() {
    let mut h = Harness::new().await;
    h.device_set(ENABLE, "false").await;
    h.device_set(ONBOARDED, "false").await;
    h.drive().await;
    assert!(onboard_requests(&h).is_empty());
    assert_eq!(h.timeout, None);
    // Enabled: onboarded now.
    h.device_set(ENABLE, "true").await;
    h.drive().await;
    assert_eq!(onboard_requests(&h).len(), 1);
    // Disabled again before the answer: no more retries.
    h.device_set(ENABLE, "false").await;
    h.drive().await;
    assert_eq!(h.timeout, None);
    h.advance(Duration::from_secs(3600)).await;
    assert_eq!(onboard_requests(&h).len(), 1);
}

#[tokio::test]
async fn a_new_row_is_onboarded() {
    let second = "self::second";
    let config = harness::config().with_controller(
        ControllerConfig::new(second).with_mtp(Mtp::new(MtpKind::Mqtt, "second/reply")),
    );
    let mut h = Harness::with(Arc::new(AllowAll), config).await;
    assert!(onboard_requests(&h).is_empty());
    h.engine
        .device_update(|txn| {
            txn.add(
                "Device.LocalAgent.Controller.",
                &[("EndpointID", second), ("Enable", "true")],
            )
            .map(|_| ())
        })
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
    assert_eq!(onboard_requests(&h).len(), 1);
    assert!(h.sent.iter().all(|s| s.to == second));
    // Deleted unanswered: no more retries.
    h.engine
        .device_update(|txn| txn.delete("Device.LocalAgent.Controller.2."))
        .await
        .unwrap();
    h.sync_changes();
    h.drive().await;
    assert_eq!(h.timeout, None);
}

#[tokio::test]
async fn a_restored_onboard_request_is_adopted_not_doubled() {
    // Before a restart: the OnBoardRequest left unanswered is saved.
    let before = Harness::not_onboarded().await;
    let saved = before.agent.save_notifications(before.now);
    let old = onboard_requests(&before);

    // Restored while the procedure runs (it started with the store): dropped.
    let mut h = Harness::not_onboarded().await;
    assert_eq!(h.agent.restore_notifications(h.now, &saved).unwrap(), 0);
    h.drive().await;
    assert_eq!(onboard_requests(&h).len(), 1);

    // Restored first, then the row asks for onboarding: the restored one is the procedure's.
    let mut h = Harness::new().await;
    assert_eq!(h.agent.restore_notifications(h.now, &saved).unwrap(), 1);
    h.drive().await;
    assert_eq!(onboard_requests(&h), old, "sent again as it was");
    h.device_set(RESTART, "60").await;
    h.device_set(ONBOARDED, "false").await;
    h.drive().await;
    assert_eq!(onboard_requests(&h), old, "adopted, not sent twice");
    h.notify_resp(&old[0], "").await;
    assert_eq!(h.timeout, Some(h.now + Duration::from_secs(60)));
}

#[tokio::test]
async fn send_onboard_request_replaces_the_unanswered_one() {
    let mut h = Harness::not_onboarded().await;
    let first = onboard_requests(&h);
    let command = "Device.LocalAgent.Controller.1.SendOnBoardRequest()";
    h.request("o", harness::operate(command)).await;
    let sent = onboard_requests(&h);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_ne!(sent[1], first[0]);
    // Only the new one is retried, and its answer ends the retries.
    h.notify_resp(&sent[1], "").await;
    assert_eq!(h.timeout, None);
    h.advance(Duration::from_secs(3600)).await;
    assert_eq!(onboard_requests(&h).len(), 2);
    assert_eq!(h.value(ONBOARDED), "false");
}

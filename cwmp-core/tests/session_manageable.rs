//! Device-gateway association (TR-069 Annex F): LAN devices that gave DHCP option 125 become
//! `ManageableDevice` rows, and the active notifications of `ManageableDeviceNumberOfEntries`
//! are at least `ManageableDeviceNotificationLimit` seconds apart; a change within the limit is
//! held and notified once the limit has passed.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{
    Body, Notification, ParameterValue, SetParameterAttributes, SetParameterValues, ValueType,
};
use cwmp_core::session::{Input, SessionConfig};
use hal::sim::{Client, DeviceIdentity};
use support::{Cpe, ScriptedAcs, attribute, codes, param};

const COUNT: &str = "Device.ManagementServer.ManageableDeviceNumberOfEntries";

/// A CPE whose ACS turned on Active Notification of the count, with a limit of `limit`
/// seconds; returns after the first session.
async fn boot_with_limit(limit: &str) -> (Cpe, ScriptedAcs) {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(Body::SetParameterAttributes(SetParameterAttributes {
        parameter_list: vec![attribute(COUNT, Notification::Active)],
    }));
    acs.push(Body::SetParameterValues(SetParameterValues {
        parameter_list: vec![ParameterValue::new(
            "Device.ManagementServer.ManageableDeviceNotificationLimit",
            limit,
            ValueType::UnsignedInt,
        )],
        parameter_key: "limit".into(),
    }));
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert_eq!(acs.informs().len(), 1);
    (cpe, acs)
}

/// A set-top box with serial `serial` joins the LAN and gives option 125.
async fn stb_joins(cpe: &mut Cpe, n: u8, serial: &str) {
    let mac = format!("AA:BB:CC:00:01:{n:02X}");
    let ip = format!("192.168.1.{}", 100 + u16::from(n));
    cpe.sim.connect_client(
        Client::wired(&mac, &ip, serial)
            .with_identity(DeviceIdentity::new("00D09F", serial, "STB")),
    );
    cpe.sync().await;
}

/// When (seconds since boot) each Inform after the first came, with its count.
fn notified(acs: &ScriptedAcs) -> Vec<(u64, Option<String>)> {
    acs.informs()
        .iter()
        .skip(1)
        .map(|(at, inform)| {
            assert!(codes(inform).iter().any(|c| c == "4 VALUE CHANGE"));
            (at.as_secs(), param(inform, COUNT).map(str::to_owned))
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn changes_within_the_limit_are_held_and_notified_once_it_has_passed() {
    let (mut cpe, mut acs) = boot_with_limit("600").await;
    let start = cpe.elapsed().as_secs();

    // The first change is notified at once.
    stb_joins(&mut cpe, 1, "STB0001").await;
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert_eq!(notified(&acs), [(start, Some("1".into()))]);

    // Two more within the limit: held, then one notification when it has passed.
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    stb_joins(&mut cpe, 2, "STB0002").await;
    cpe.run(&mut acs, Duration::from_secs(200)).await;
    stb_joins(&mut cpe, 3, "STB0003").await;
    cpe.run(&mut acs, Duration::from_secs(200)).await;
    assert_eq!(notified(&acs).len(), 1, "held within the limit");
    cpe.run(&mut acs, Duration::from_secs(400)).await;
    assert_eq!(
        notified(&acs),
        [(start, Some("1".into())), (start + 600, Some("3".into()))]
    );

    // A device leaving after the limit: at once again.
    let mac = "AA:BB:CC:00:01:02";
    cpe.run(&mut acs, Duration::from_secs(600)).await;
    cpe.sim.disconnect_client(mac);
    cpe.sync().await;
    let left_at = cpe.elapsed().as_secs();
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert_eq!(notified(&acs).last(), Some(&(left_at, Some("2".into()))));
    assert_eq!(notified(&acs).len(), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn a_session_for_another_reason_carries_the_held_change() {
    let (mut cpe, mut acs) = boot_with_limit("600").await;
    stb_joins(&mut cpe, 1, "STB0001").await;
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    stb_joins(&mut cpe, 2, "STB0002").await;
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    assert_eq!(acs.informs().len(), 2, "held");

    // A connection request's session carries the count: nothing is left for the limit.
    cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 3);
    assert_eq!(
        codes(&informs[2].1),
        ["4 VALUE CHANGE", "6 CONNECTION REQUEST"]
    );
    assert_eq!(param(&informs[2].1, COUNT), Some("2"));
    cpe.run(&mut acs, Duration::from_secs(1000)).await;
    assert_eq!(acs.informs().len(), 3, "no session when the limit passes");
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_limit_every_change_is_notified_at_once() {
    let (mut cpe, mut acs) = boot_with_limit("0").await;
    let start = cpe.elapsed().as_secs();
    stb_joins(&mut cpe, 1, "STB0001").await;
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    stb_joins(&mut cpe, 2, "STB0002").await;
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    assert_eq!(
        notified(&acs),
        [(start, Some("1".into())), (start + 10, Some("2".into()))]
    );
}

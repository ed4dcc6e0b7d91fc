//! HoldRequests and MaxEnvelopes: with HoldRequests the CPE's next POST carries no request
//! (its TransferComplete waits for an empty ACS response); the ACS's `MaxEnvelopes` is
//! ignored and every POST carries at most one envelope.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::codec::{Body, Download, GetParameterValues};
use cwmp_core::session::SessionConfig;
use support::{Cpe, ScriptedAcs, codes};

fn download(key: &str, url: &str) -> Body {
    Body::Download(Download {
        command_key: key.into(),
        file_type: "1 Firmware Upgrade Image".into(),
        url: url.into(),
        username: String::new(),
        password: String::new(),
        file_size: 1024,
        target_file_name: String::new(),
        delay_seconds: 0,
        success_url: String::new(),
        failure_url: String::new(),
    })
}

fn kind(body: Option<&Body>) -> &str {
    body.map_or("(empty)", Body::name)
}

#[tokio::test(flavor = "current_thread")]
async fn hold_requests_delays_the_transfer_complete() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(download("dl-1", "https://fw.example.net/a.bin"));
    cpe.run(&mut acs, Duration::from_secs(5)).await;
    assert_eq!(cpe.sim.run_jobs(), 1);

    let first = acs.received.len();
    acs.hold_on_inform = true;
    acs.hold_with_requests = true;
    acs.max_envelopes = 5;
    acs.push(Body::GetParameterValues(GetParameterValues {
        parameter_names: vec!["Device.DeviceInfo.SoftwareVersion".into()],
    }));
    cpe.sync().await;
    cpe.run(&mut acs, Duration::from_secs(5)).await;

    let session: Vec<&str> = acs.received[first..]
        .iter()
        .map(|r| kind(r.envelope.as_ref().map(|e| &e.body)))
        .collect();
    assert_eq!(
        session,
        [
            "Inform",
            "(empty)",
            "GetParameterValuesResponse",
            "TransferComplete",
            "(empty)"
        ],
        "no request while HoldRequests is in force"
    );
    let informs = acs.informs();
    assert_eq!(
        codes(&informs[1].1),
        ["7 TRANSFER COMPLETE", "M Download:dl-1"]
    );
    // One envelope per POST, and MaxEnvelopes = 1 in every Inform.
    for received in &acs.received {
        let text = String::from_utf8(received.request.body.clone()).unwrap();
        assert!(text.matches(":Envelope ").count() <= 1);
    }
    assert!(informs.iter().all(|(_, i)| i.max_envelopes == 1));
}

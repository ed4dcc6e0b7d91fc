//! Connection requests: the ACS's authenticated GET (Digest, checked by `ConnReqServer`)
//! starts a session with `6 CONNECTION REQUEST`; several requests before it give one
//! session; unauthenticated and rate-limited ones start nothing.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cwmp_core::connreq::{ConnReqConfig, ConnReqRequest, ConnReqServer};
use cwmp_core::session::{Input, SessionConfig};
use md5::{Digest, Md5};
use support::{Cpe, ScriptedAcs, codes};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ACS side of Digest (MD5), computed independently of the crate.
fn acs_authorization(challenge: &str, user: &str, password: &str, uri: &str, nc: u32) -> String {
    let field = |name: &str| {
        let start = challenge.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = challenge[start..].find('"').unwrap() + start;
        challenge[start..end].to_owned()
    };
    let (realm, nonce) = (field("realm"), field("nonce"));
    let ha1 = hex(&Md5::digest(format!("{user}:{realm}:{password}")));
    let ha2 = hex(&Md5::digest(format!("GET:{uri}")));
    let nc = format!("{nc:08x}");
    let response = hex(&Md5::digest(format!(
        "{ha1}:{nonce}:{nc}:0a4f113b:auth:{ha2}"
    )));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"0a4f113b\", response=\"{response}\""
    )
}

#[tokio::test(flavor = "current_thread")]
async fn authenticated_connection_request_starts_one_session() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    cpe.run(&mut acs, Duration::from_secs(100)).await;
    assert_eq!(acs.informs().len(), 1);

    let mut server = ConnReqServer::new(
        ConnReqConfig::new("cr-user", "cr-pass").with_rate_limit(3, Duration::from_secs(60)),
        7,
    );
    let now = cpe.now;
    let challenge = server.handle_request(now, &ConnReqRequest::new("GET", "/cr", &[]));
    assert_eq!(challenge.status, 401);
    assert!(!challenge.accepted);
    let md5 = &challenge
        .headers
        .iter()
        .find(|(_, v)| v.contains("algorithm=MD5"))
        .unwrap()
        .1;
    // A wrong password starts nothing.
    let bad = acs_authorization(md5, "cr-user", "guess", "/cr", 1);
    let headers = [("Authorization", bad.as_str())];
    assert!(
        !server
            .handle_request(now, &ConnReqRequest::new("GET", "/cr", &headers))
            .accepted
    );
    // Two good requests before the session: one session.
    for nc in [2, 3] {
        let good = acs_authorization(md5, "cr-user", "cr-pass", "/cr", nc);
        let headers = [("Authorization", good.as_str())];
        let answer = server.handle_request(now, &ConnReqRequest::new("GET", "/cr", &headers));
        assert_eq!((answer.status, answer.accepted), (200, true));
        cpe.session.handle_input(Input::ConnectionRequest).unwrap();
    }
    // Rate limit: the 4th accepted request within 60 s is refused with 503.
    let third = acs_authorization(md5, "cr-user", "cr-pass", "/cr", 4);
    let headers = [("Authorization", third.as_str())];
    assert!(
        server
            .handle_request(now, &ConnReqRequest::new("GET", "/cr", &headers))
            .accepted
    );
    let fourth = acs_authorization(md5, "cr-user", "cr-pass", "/cr", 5);
    let headers = [("Authorization", fourth.as_str())];
    assert_eq!(
        server
            .handle_request(now, &ConnReqRequest::new("GET", "/cr", &headers))
            .status,
        503
    );

    cpe.run(&mut acs, Duration::from_secs(100)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 2);
    assert_eq!(informs[1].0, Duration::from_secs(100), "at once");
    assert_eq!(codes(&informs[1].1), ["6 CONNECTION REQUEST"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_request_during_a_session_gets_its_own_session_after_it() {
    let mut cpe = Cpe::boot(SessionConfig::default()).await;
    let mut acs = ScriptedAcs::new();
    acs.push(cwmp_core::codec::Body::GetRpcMethods);
    // Drive until the Inform went out, then the CR arrives mid-session.
    loop {
        match cpe.session.poll_output() {
            cwmp_core::session::Output::EngineRequest {
                id,
                principal,
                request,
            } => {
                let result = request.execute(&cpe.engine, &principal).await;
                cpe.session.respond(id, result).unwrap();
            }
            cwmp_core::session::Output::Transmit(request) => {
                // Put the request back by answering it through the scripted ACS in `run`:
                // here we only note that the session is under way.
                assert!(cpe.session.in_session());
                cpe.session.handle_input(Input::ConnectionRequest).unwrap();
                // Answer the Inform like the ACS would.
                let env =
                    cwmp_core::codec::Envelope::decode(&request.body, &Default::default()).unwrap();
                let mut response = cwmp_core::codec::Envelope::new(
                    env.namespace,
                    cwmp_core::codec::Body::InformResponse(cwmp_core::codec::InformResponse {
                        max_envelopes: 1,
                    }),
                );
                response.header.id = env.header.id;
                let mut body = Vec::new();
                response.encode(&mut body).unwrap();
                cpe.session
                    .handle_input(Input::HttpResponse(cwmp_core::session::HttpResponse::new(
                        200,
                        &[],
                        &body,
                    )))
                    .unwrap();
                break;
            }
            _ => {}
        }
    }
    cpe.run(&mut acs, Duration::from_secs(10)).await;
    let informs = acs.informs();
    assert_eq!(informs.len(), 1, "the first Inform was answered by hand");
    assert_eq!(codes(&informs[0].1), ["6 CONNECTION REQUEST"]);
    assert_eq!(cpe.ends().len(), 2);
}
